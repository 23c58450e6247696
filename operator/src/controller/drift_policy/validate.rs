//! Cross-field checks of a DriftPolicy spec, against its model's schema.

use crate::crd::{DriftPolicy, MonitoredModel};

pub fn validate(policy: &DriftPolicy, model: Option<&MonitoredModel>) -> Result<(), String> {
    policy.spec.policy.check().map_err(|e| e.to_string())?;
    if let Some(model) = model {
        policy
            .spec
            .policy
            .check_features(&model.spec.schema)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
