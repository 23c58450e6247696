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
