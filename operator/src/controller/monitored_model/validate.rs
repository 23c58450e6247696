//! Cross-field checks of a MonitoredModel spec that the schema cannot express.

use crate::build::train_job_config;
use crate::crd::{InvalidSpec, MonitoredModel};

/// Cross-field checks the schema cannot express; the message names the field.
pub fn validate(model: &MonitoredModel) -> Result<(), InvalidSpec> {
    train_job_config(model, None)
        .check()
        .map_err(|e| e.to_string())?;
    model
        .spec
        .promotion
        .gates
        .check()
        .map_err(|e| e.to_string())?;
    vigil_core::data::storage::split_uri(&model.spec.storage.uri)
        .map_err(|e| format!("spec.storage.uri: {e}"))?;
    let serving = &model.spec.serving;
    if serving
        .pinned_version
        .as_deref()
        .is_some_and(|v| v.trim().is_empty())
    {
        return Err(InvalidSpec(
            "spec.serving.pinnedVersion is empty: remove it to follow promotions".into(),
        ));
    }
    let flush: vigil_core::span::Span = serving
        .logging
        .flush_interval
        .parse()
        .map_err(|e| format!("spec.serving.logging.flushInterval: {e}"))?;
    if flush > vigil_core::span::Span::from_hours(1) {
        return Err(InvalidSpec(
            "spec.serving.logging.flushInterval must be at most 1h".into(),
        ));
    }
    if let Some(schedule) = &model.spec.training.schedule {
        check_schedule("spec.training.schedule", schedule)?;
    }
    model.spec.pods.check()?;
    if let (Some(min), replicas) = (serving.min_available, serving.replicas) {
        if min > replicas {
            return Err(InvalidSpec(format!(
                "spec.serving.minAvailable ({min}) exceeds spec.serving.replicas ({replicas})"
            )));
        }
    }
    Ok(())
}

/// A cron schedule as Kubernetes CronJobs read it, that runs at all.
pub fn check_schedule(field: &str, schedule: &str) -> Result<(), InvalidSpec> {
    match crate::schedule::longest_gap(schedule) {
        Some(_) => Ok(()),
        None => Err(InvalidSpec(format!(
            "{field}: `{schedule}` is not a cron schedule that runs (five fields: minute hour \
             day-of-month month day-of-week, e.g. `0 3 * * 0`; or @hourly, @daily, @weekly)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_are_cron_that_runs() {
        for good in ["0 3 * * 0", "*/15 * * * *", "@daily", "0 0 29 2 *"] {
            assert_eq!(check_schedule("spec.schedule", good), Ok(()), "{good}");
        }
        for bad in ["every 6h", "0 3 * *", "61 * * * *", "0 0 31 2 *"] {
            let err = check_schedule("spec.training.schedule", bad).expect_err(bad);
            assert!(
                err.0
                    .starts_with(&format!("spec.training.schedule: `{bad}`")),
                "{err}"
            );
        }
    }
}
