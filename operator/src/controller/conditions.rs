//! Conditions of both kinds, in the Kubernetes shape, as kstatus, Flux,
//! Argo CD and `kubectl wait` read them.
//!
//! The contract (docs/operator.md, "Conditions"), every condition with the
//! `observedGeneration` it was computed from:
//! - `Ready` True when the current generation is fully reconciled and healthy;
//! - `Reconciling` True while the operator works towards the spec;
//! - `Stalled` True when progress needs a change from the user;
//! - `Degraded` True, with a specific reason and a message saying what to do,
//!   for every failure;
//! - and the kind's own: `ModelAvailable`, `Training`, `Drifted`.
//!
//! `lastTransitionTime` moves only when a condition's status does.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use crate::crd::CheckVerdict;
use crate::time::k8s_time;

/// The condition types, serialised as their names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionType {
    Ready,
    Reconciling,
    Stalled,
    Degraded,
    ModelAvailable,
    Training,
    Drifted,
}

impl ConditionType {
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionType::Ready => "Ready",
            ConditionType::Reconciling => "Reconciling",
            ConditionType::Stalled => "Stalled",
            ConditionType::Degraded => "Degraded",
            ConditionType::ModelAvailable => "ModelAvailable",
            ConditionType::Training => "Training",
            ConditionType::Drifted => "Drifted",
        }
    }
}

/// Every condition reason either controller writes (and the reason of the
/// Event that announces it, where there is one). docs/operator.md lists what
/// each means and what to do about it.
pub mod reason {
    // Neutral: the condition's normal value.
    pub const AS_EXPECTED: &str = "AsExpected";
    pub const RECONCILED: &str = "Reconciled";
    pub const IDLE: &str = "Idle";

    // Ready / Reconciling of a model.
    pub const SERVING: &str = "Serving";
    pub const ROLLING_OUT: &str = "RollingOut";
    pub const NO_MODEL: &str = "NoModel";
    pub const TRAINING: &str = "Training";
    pub const RUNNING: &str = "Running";

    // Ready / Reconciling of a policy.
    pub const SCHEDULED: &str = "Scheduled";
    pub const CHECKING: &str = "Checking";
    pub const WAITING_FOR_MODEL: &str = "WaitingForModel";

    // Drifted.
    pub const WARNING: &str = "Warning";
    pub const CRITICAL: &str = "Critical";
    pub const NO_DRIFT: &str = "NoDrift";
    pub const NOT_CHECKED: &str = "NotChecked";

    // Stalled and Degraded: the spec or the object.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    pub const INVALID_OBJECT: &str = "InvalidObject";
    pub const MODEL_NOT_FOUND: &str = "ModelNotFound";
    pub const MODEL_INVALID: &str = "ModelInvalid";

    // Degraded: the API server refused a write.
    pub const APPLY_REJECTED: &str = "ApplyRejected";
    pub const FORBIDDEN: &str = "Forbidden";
    pub const QUOTA_EXCEEDED: &str = "QuotaExceeded";

    // Degraded: a Pod cannot start or was stopped.
    pub const UNSCHEDULABLE: &str = "Unschedulable";
    pub const VOLUME_NOT_BOUND: &str = "VolumeNotBound";
    pub const IMAGE_PULL_FAILED: &str = "ImagePullFailed";
    pub const CONTAINER_CONFIG_ERROR: &str = "ContainerConfigError";
    pub const CRASH_LOOP: &str = "CrashLoopBackOff";
    pub const OOM_KILLED: &str = "OOMKilled";
    pub const CONTAINER_FAILED: &str = "ContainerFailed";
    pub const DEADLINE_EXCEEDED: &str = "DeadlineExceeded";
    pub const JOB_LOST: &str = "JobLost";

    // Degraded: what a job reported, and rollouts.
    pub const TRAINING_FAILED: &str = "TrainingFailed";
    pub const CHECK_FAILED: &str = "CheckFailed";
    pub const DRIFT_CHECK_FAILED: &str = "DriftCheckFailed";
    pub const ROLLOUT_FAILED: &str = "RolloutFailed";
    pub const PINNED_VERSION_FAILED: &str = "PinnedVersionFailed";
}

/// The reason of a job that Kubernetes stopped (as `observe` reports it), as
/// opposed to a failure the job reported itself.
pub fn stopped_reason(text: &str) -> Option<&'static str> {
    [
        reason::OOM_KILLED,
        reason::DEADLINE_EXCEEDED,
        reason::CONTAINER_FAILED,
        reason::IMAGE_PULL_FAILED,
        reason::CONTAINER_CONFIG_ERROR,
        reason::UNSCHEDULABLE,
        reason::VOLUME_NOT_BOUND,
        reason::CRASH_LOOP,
        reason::JOB_LOST,
    ]
    .into_iter()
    .find(|r| *r == text)
}

/// One condition's value: status, reason and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    pub status: bool,
    pub reason: &'static str,
    pub message: String,
}

impl Value {
    pub fn yes(reason: &'static str, message: impl Into<String>) -> Value {
        Value {
            status: true,
            reason,
            message: message.into(),
        }
    }

    pub fn no(reason: &'static str, message: impl Into<String>) -> Value {
        Value {
            status: false,
            reason,
            message: message.into(),
        }
    }
}

/// The four kstatus conditions of one reconcile, decided together so that
/// they never contradict each other. `None` is the condition's normal value
/// (`Reconciling`, `Stalled`, `Degraded` False).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    pub ready: Value,
    pub reconciling: Option<Value>,
    pub stalled: Option<Value>,
    pub degraded: Option<Value>,
}

impl Health {
    /// Writes `Ready`, `Reconciling`, `Stalled` and `Degraded`.
    pub fn apply(
        &self,
        conditions: &mut Vec<Condition>,
        generation: Option<i64>,
        now: DateTime<Utc>,
    ) {
        let or = |value: &Option<Value>, neutral: &'static str, message: &str| {
            value.clone().unwrap_or_else(|| Value::no(neutral, message))
        };
        let values = [
            (ConditionType::Ready, self.ready.clone()),
            (
                ConditionType::Reconciling,
                or(
                    &self.reconciling,
                    reason::RECONCILED,
                    "the spec is acted on",
                ),
            ),
            (
                ConditionType::Stalled,
                or(&self.stalled, reason::AS_EXPECTED, "progressing"),
            ),
            (
                ConditionType::Degraded,
                or(&self.degraded, reason::AS_EXPECTED, "no failure"),
            ),
        ];
        for (type_, value) in values {
            set(conditions, type_, &value, generation, now);
        }
    }

    /// What a spec the operator cannot act on shows: `Stalled` and `Degraded`
    /// with `reason`, `Ready` False.
    pub fn blocked(reason: &'static str, message: String) -> Health {
        Health {
            ready: Value::no(reason, message.clone()),
            reconciling: None,
            stalled: Some(Value::yes(reason, message.clone())),
            degraded: Some(Value::yes(reason, message)),
        }
    }
}

/// Writes `health` and the kind's `own` conditions. Returns the Event that
/// announces the `Degraded` failure when it is `live` (observed in the world:
/// a Pod that cannot start, a refused write; failures with an Event of their
/// own are not live) and new (the old conditions do not say it yet).
pub fn write(
    conditions: &mut Vec<Condition>,
    health: &Health,
    own: Vec<(ConditionType, Value)>,
    live: bool,
    generation: Option<i64>,
    now: DateTime<Utc>,
) -> Option<crate::events::EventNote> {
    let old = conditions.clone();
    health.apply(conditions, generation, now);
    for (type_, value) in own {
        set(conditions, type_, &value, generation, now);
    }
    match &health.degraded {
        Some(d) if live && !holds(&old, ConditionType::Degraded, d) => Some(
            crate::events::EventNote::warning(d.reason, d.message.clone()),
        ),
        _ => None,
    }
}

/// `Drifted` of a verdict: True with reason `Warning` / `Critical`, else False.
pub fn drifted(
    verdict: Option<CheckVerdict>,
    drift: String,
    other: impl FnOnce() -> String,
) -> Value {
    match verdict {
        Some(CheckVerdict::Critical) => Value::yes(reason::CRITICAL, drift),
        Some(CheckVerdict::Warning) => Value::yes(reason::WARNING, drift),
        Some(_) => Value::no(reason::NO_DRIFT, other()),
        None => Value::no(reason::NOT_CHECKED, "no drift check has run"),
    }
}

/// Sets one condition; `lastTransitionTime` moves only when the status changes.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: ConditionType,
    value: &Value,
    generation: Option<i64>,
    now: DateTime<Utc>,
) {
    let status = if value.status { "True" } else { "False" }.to_string();
    match conditions.iter_mut().find(|c| c.type_ == type_.as_str()) {
        Some(existing) => {
            if existing.status != status {
                existing.last_transition_time = k8s_time(now);
            }
            existing.status = status;
            existing.reason = value.reason.into();
            existing.message.clone_from(&value.message);
            existing.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: type_.as_str().into(),
            status,
            reason: value.reason.into(),
            message: value.message.clone(),
            observed_generation: generation,
            last_transition_time: k8s_time(now),
        }),
    }
}

/// The condition of `type_`, if set.
pub fn find(conditions: &[Condition], type_: ConditionType) -> Option<&Condition> {
    conditions.iter().find(|c| c.type_ == type_.as_str())
}

/// Whether `conditions` already say `value` for `type_` (status, reason and
/// message): how an Event is published once per occurrence, not per reconcile.
pub fn holds(conditions: &[Condition], type_: ConditionType, value: &Value) -> bool {
    find(conditions, type_).is_some_and(|c| {
        (c.status == "True") == value.status
            && c.reason == value.reason
            && c.message == value.message
    })
}

/// A spec that breaks a rule the schema cannot express: `Stalled`, `Degraded`
/// and `Ready` False with reason `InvalidSpec`; the other conditions stay.
pub fn set_invalid_spec(
    conditions: &mut Vec<Condition>,
    message: &str,
    generation: Option<i64>,
    now: DateTime<Utc>,
) {
    Health::blocked(reason::INVALID_SPEC, format!("invalid spec: {message}"))
        .apply(conditions, generation, now);
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
        let ready = ConditionType::Ready;
        set(
            &mut conditions,
            ready,
            &Value::no(reason::TRAINING, "first model"),
            Some(1),
            at(1),
        );
        set(
            &mut conditions,
            ready,
            &Value::no(reason::TRAINING, "still"),
            Some(2),
            at(2),
        );
        assert_eq!(conditions[0].last_transition_time, k8s_time(at(1)));
        assert_eq!(conditions[0].message, "still");
        assert_eq!(conditions[0].observed_generation, Some(2));
        set(
            &mut conditions,
            ready,
            &Value::yes(reason::SERVING, "v1"),
            Some(2),
            at(3),
        );
        assert_eq!(conditions[0].last_transition_time, k8s_time(at(3)));
        assert_eq!(conditions.len(), 1);
        assert!(holds(
            &conditions,
            ready,
            &Value::yes(reason::SERVING, "v1")
        ));
        assert!(!holds(
            &conditions,
            ready,
            &Value::yes(reason::SERVING, "v2")
        ));
    }

    #[test]
    fn health_writes_the_four_kstatus_conditions() {
        let mut conditions = Vec::new();
        set_invalid_spec(&mut conditions, "spec.x: bad", Some(3), at(1));
        let summary: Vec<(String, String, String, Option<i64>)> = conditions
            .iter()
            .map(|c| {
                (
                    c.type_.clone(),
                    c.status.clone(),
                    c.reason.clone(),
                    c.observed_generation,
                )
            })
            .collect();
        let row =
            |t: &str, s: &str, r: &str| (t.to_string(), s.to_string(), r.to_string(), Some(3));
        assert_eq!(
            summary,
            vec![
                row("Ready", "False", "InvalidSpec"),
                row("Reconciling", "False", "Reconciled"),
                row("Stalled", "True", "InvalidSpec"),
                row("Degraded", "True", "InvalidSpec"),
            ]
        );
        assert_eq!(conditions[2].message, "invalid spec: spec.x: bad");
    }
}
