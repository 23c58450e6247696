//! Cross-field checks of a DriftPolicy spec, against its model's schema.

use crate::controller::monitored_model::validate::check_schedule;
use crate::crd::{DriftPolicy, InvalidSpec, MonitoredModel};

pub fn validate(policy: &DriftPolicy, model: Option<&MonitoredModel>) -> Result<(), InvalidSpec> {
    policy
        .spec
        .rules
        .check()
        // The rules sit in `spec`: name the field where the user wrote it.
        .map_err(|e| e.to_string().replace("policy `", "`spec."))?;
    check_schedule("spec.schedule", &policy.spec.rules.schedule)?;
    if let Some(model) = model {
        policy
            .spec
            .rules
            .check_features(&model.spec.schema)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(edit: impl FnOnce(&mut DriftPolicy)) -> DriftPolicy {
        let mut policy: DriftPolicy = serde_json::from_value(serde_json::json!({
            "apiVersion": "vigil.dev/v1alpha1", "kind": "DriftPolicy",
            "metadata": {"name": "p", "namespace": "ml"},
            "spec": {"modelRef": {"name": "m"}}
        }))
        .expect("policy");
        edit(&mut policy);
        policy
    }

    fn fails_with(edit: impl FnOnce(&mut DriftPolicy), start: &str) {
        let err = validate(&policy(edit), None).expect_err(start);
        assert!(
            err.0.starts_with(start),
            "`{err}` does not start with `{start}`"
        );
    }

    #[test]
    fn every_invalid_spec_names_its_field() {
        assert_eq!(validate(&policy(|_| {}), None), Ok(()));
        fails_with(
            |p| p.spec.rules.schedule = "CRON_TZ=UTC 0 */6 * * *".into(),
            "spec.schedule: `CRON_TZ=UTC 0 */6 * * *`",
        );
        fails_with(
            |p| p.spec.rules.schedule = "hourly".into(),
            "spec.schedule: `hourly` is not a cron schedule",
        );
        fails_with(
            |p| p.spec.rules.window = vigil_core::span::Span::from_secs(0),
            "`spec.window` must be longer than 0s",
        );
        fails_with(
            |p| p.spec.rules.min_samples = 0,
            "`spec.minSamples` is 0; it must be ≥ 1",
        );
        fails_with(
            |p| p.spec.rules.tests.psi.bins = 1,
            "`spec.tests.psi.bins` is 1; it must be between 2 and 1000",
        );
    }
}
