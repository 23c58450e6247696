//! Conditions of both kinds, in the Kubernetes shape (kstatus): the types, and
//! setting one so that `lastTransitionTime` moves only when the status does.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use crate::time::k8s_time;

pub mod condition {
    pub const READY: &str = "Ready";
    pub const MODEL_AVAILABLE: &str = "ModelAvailable";
    pub const TRAINING: &str = "Training";
    pub const DRIFTED: &str = "Drifted";
    pub const DEGRADED: &str = "Degraded";
}

/// Sets a condition; `lastTransitionTime` moves only when the status changes.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: DateTime<Utc>,
) {
    let status = if status { "True" } else { "False" }.to_string();
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => {
            if existing.status != status {
                existing.last_transition_time = k8s_time(now);
            }
            existing.status = status;
            existing.reason = reason.into();
            existing.message = message.into();
            existing.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: type_.into(),
            status,
            reason: reason.into(),
            message: message.into(),
            observed_generation: generation,
            last_transition_time: k8s_time(now),
        }),
    }
}

/// `Ready=False` and `Degraded=True`, reason `InvalidSpec`: what an invalid spec shows.
pub fn set_invalid_spec(
    conditions: &mut Vec<Condition>,
    message: &str,
    generation: Option<i64>,
    now: DateTime<Utc>,
) {
    let message = format!("invalid spec: {message}");
    for (type_, value) in [(condition::READY, false), (condition::DEGRADED, true)] {
        set_condition(
            conditions,
            type_,
            value,
            "InvalidSpec",
            &message,
            generation,
            now,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 17, minute, 0)
            .single()
            .expect("time")
    }

    #[test]
    fn condition_transition_time_moves_only_on_change() {
        let mut conditions = Vec::new();
        set_condition(
            &mut conditions,
            condition::READY,
            false,
            "Training",
            "first model",
            Some(1),
            at(1),
        );
        set_condition(
            &mut conditions,
            condition::READY,
            false,
            "Training",
            "still",
            Some(2),
            at(2),
        );
        assert_eq!(conditions[0].last_transition_time, k8s_time(at(1)));
        assert_eq!(conditions[0].message, "still");
        set_condition(
            &mut conditions,
            condition::READY,
            true,
            "Serving",
            "v1",
            Some(2),
            at(3),
        );
        assert_eq!(conditions[0].last_transition_time, k8s_time(at(3)));
        assert_eq!(conditions.len(), 1);
    }
}
