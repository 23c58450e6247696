//! Cross-field checks of a MonitoredModel spec that the schema cannot express, and the
//! schema's own rules again for what reached the operator without the API server's
//! validation (an older CRD, a test); every message starts with the field path.

use vigil_core::train::config::ConfigError;

use crate::build::train_job_config;
use crate::crd::{InvalidSpec, MonitoredModel};

/// Cross-field checks the schema cannot express; the message names the field.
pub fn validate(model: &MonitoredModel) -> Result<(), InvalidSpec> {
    train_job_config(model, None).check().map_err(|e| match e {
        // Its messages name the field under the MonitoredModel's `spec`.
        ConfigError::Invalid(message) => format!("spec.{message}"),
        other => other.to_string(),
    })?;
    model
        .spec
        .promotion
        .gates
        .check()
        .map_err(|e| format!("spec.{e}"))?;
    vigil_core::data::storage::split_uri(&model.spec.storage.uri)
        .map_err(|e| format!("spec.storage.uri: {e}"))?;
    let serving = &model.spec.serving;
    for (field, resources) in [
        ("spec.serving.resources", &serving.resources),
        ("spec.training.resources", &model.spec.training.resources),
    ] {
        if let Some(resources) = resources {
            resources.check(field).map_err(|e| e.to_string())?;
        }
    }
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

/// A cron schedule as Kubernetes CronJobs take it, that runs at all.
pub fn check_schedule(field: &str, schedule: &str) -> Result<(), InvalidSpec> {
    let trimmed = schedule.trim_start();
    if trimmed.starts_with("TZ=") || trimmed.starts_with("CRON_TZ=") {
        // The API server refuses a CronJob whose schedule names a time zone.
        return Err(InvalidSpec(format!(
            "{field}: `{schedule}`: Kubernetes CronJobs do not take TZ= or CRON_TZ= in the \
             schedule; write it in the cluster's time zone (UTC on most clusters)"
        )));
    }
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
    use vigil_core::quantity::Quantity;

    #[test]
    fn schedules_are_cron_that_runs() {
        for good in [
            "0 3 * * 0",
            "*/15 * * * *",
            "@daily",
            "0 0 29 2 *",
            "0 9 * * MON-FRI",
        ] {
            assert_eq!(check_schedule("spec.schedule", good), Ok(()), "{good}");
        }
        for bad in [
            "every 6h",
            "0 3 * *",
            "61 * * * *",
            "0 0 31 2 *",
            "CRON_TZ=Europe/Paris 0 3 * * *",
            "TZ=UTC 0 3 * * *",
        ] {
            let err = check_schedule("spec.training.schedule", bad).expect_err(bad);
            assert!(
                err.0
                    .starts_with(&format!("spec.training.schedule: `{bad}`")),
                "{err}"
            );
        }
    }

    /// The sample model, changed by `edit`, validated.
    fn validated(edit: impl FnOnce(&mut MonitoredModel)) -> Result<(), InvalidSpec> {
        let text = include_str!("../../../../config/samples/adult-income.yaml");
        let document = serde_yaml::Deserializer::from_str(text)
            .map(|d| <serde_yaml::Value as serde::Deserialize>::deserialize(d).expect("yaml"))
            .find(|v| v["kind"] == "MonitoredModel")
            .expect("a MonitoredModel sample");
        let mut model: MonitoredModel = serde_yaml::from_value(document).expect("typed");
        edit(&mut model);
        validate(&model)
    }

    fn fails_with(edit: impl FnOnce(&mut MonitoredModel), start: &str) {
        let err = validated(edit).expect_err(start);
        assert!(
            err.0.starts_with(start),
            "`{err}` does not start with `{start}`"
        );
    }

    #[test]
    fn every_invalid_spec_names_its_field() {
        assert_eq!(validated(|_| {}), Ok(()));
        fails_with(
            |m| m.spec.training.holdout.fraction = 1.0,
            "spec.training.holdout.fraction must be between 0 and 1 (exclusive), got 1",
        );
        fails_with(
            |m| m.spec.training.holdout.fraction = 0.0,
            "spec.training.holdout.fraction",
        );
        fails_with(
            |m| m.spec.training.validation.min_rows = 0,
            "spec.training.validation.minRows must be ≥ 1",
        );
        fails_with(
            |m| m.spec.training.reference_rows = 0,
            "spec.training.referenceRows must be ≥ 1",
        );
        fails_with(
            |m| m.spec.training.hyperparameters.max_iterations = Some(0),
            "spec.training.hyperparameters: hyperparameter `maxIterations` = 0",
        );
        fails_with(
            |m| m.spec.promotion.gates.max_regression = -1.0,
            "spec.promotion.gates.maxRegression must be ≥ 0",
        );
        fails_with(
            |m| {
                let resources = m.spec.serving.resources.get_or_insert_default();
                resources
                    .requests
                    .insert("cpu".into(), Quantity::new("half"));
            },
            "spec.serving.resources.requests.cpu: `half` is not a Kubernetes quantity",
        );
        fails_with(
            |m| {
                let resources = m.spec.training.resources.get_or_insert_default();
                resources.requests.insert("memory".into(), Quantity::new("4Gi"));
                resources.limits.insert("memory".into(), Quantity::new("2Gi"));
            },
            "spec.training.resources.requests.memory (4Gi) exceeds spec.training.resources.limits.memory (2Gi)",
        );
        fails_with(
            |m| m.spec.serving.logging.flush_interval = "soon".into(),
            "spec.serving.logging.flushInterval: `soon` is not a duration",
        );
        fails_with(
            |m| m.spec.serving.logging.flush_interval = "2h".into(),
            "spec.serving.logging.flushInterval must be at most 1h",
        );
        fails_with(
            |m| m.spec.training.schedule = Some("TZ=UTC 0 3 * * *".into()),
            "spec.training.schedule: `TZ=UTC 0 3 * * *`",
        );
        fails_with(
            |m| m.spec.training.schedule = Some("0 3 * *".into()),
            "spec.training.schedule: `0 3 * *` is not a cron schedule",
        );
    }
}
