//! What a scheduled `vigil drift` Job receives: the same types the operator's
//! `DriftRules` spec embeds, so the CRD and the Job cannot disagree.

use serde::{Deserialize, Serialize};

use crate::data::storage::StorageSpec;

use super::rules::{DriftRules, RulesError};

/// Everything a scheduled `vigil drift` needs (YAML or JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DriftJobConfig {
    /// Name of the model (informational; lands in the report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The model's store.
    pub storage: StorageSpec,
    /// The version being served; omitted, the latest version in the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_version: Option<String>,
    /// The DriftRules spec.
    #[serde(default)]
    pub policy: DriftRules,
    /// Namespace and name of the DriftPolicy (informational; they name the
    /// model in notifications).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<String>,
}

/// A drift job configuration that does not parse or breaks the rules.
#[derive(Debug, thiserror::Error)]
pub enum DriftConfigError {
    #[error("config `{origin}` is invalid: {source}")]
    Parse {
        origin: String,
        #[source]
        source: serde_yaml::Error,
    },
    #[error(transparent)]
    Rules(#[from] RulesError),
}

impl DriftJobConfig {
    /// Parses YAML or JSON and checks the policy; the error names `origin`.
    pub fn from_text(text: &str, origin: &str) -> Result<Self, DriftConfigError> {
        let config: DriftJobConfig =
            serde_yaml::from_str(text).map_err(|source| DriftConfigError::Parse {
                origin: origin.to_string(),
                source,
            })?;
        config.policy.check()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_with_policy_defaults() {
        let c = DriftJobConfig::from_text("storage: {uri: out/store/x}\n", "c.yaml").expect("ok");
        assert_eq!(c.policy, DriftRules::default());
        let e = DriftJobConfig::from_text("storage: {uri: x}\npolicy: {window: 0s}\n", "c.yaml")
            .expect_err("empty window");
        assert!(e.to_string().contains("window"), "{e}");
        let e = DriftJobConfig::from_text("storge: {uri: x}\n", "c.yaml").expect_err("typo");
        assert!(e.to_string().contains("storge"), "{e}");
    }
}
