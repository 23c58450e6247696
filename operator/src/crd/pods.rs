//! `spec.pods`: where and as whom the Pods Vigil creates for a model run.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, EnvVar, LocalObjectReference, Toleration};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::InvalidSpec;

/// Settings of every Pod Vigil creates for the model: inference, training and
/// the DriftPolicies' checks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodSettings {
    /// ServiceAccount the Pods run as: bind it to a cloud role (IRSA on EKS,
    /// Workload Identity on GKE, Azure Workload Identity) to reach the store
    /// without static keys. Default: the namespace's `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub service_account_name: Option<String>,
    /// Node labels the Pods must run on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Taints the Pods tolerate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Node and Pod (anti-)affinity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Secrets to pull the image with (a private registry).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// PriorityClass of the Pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// Extra labels of the Pods (`app.kubernetes.io/*` and `vigil.dev/*` are Vigil's).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Extra annotations of the Pods (e.g. a sidecar injector's).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Extra environment of the containers (`VIGIL_*` names are Vigil's), e.g.
    /// `AWS_REGION` or a proxy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub env: Vec<EnvVar>,
}

impl PodSettings {
    /// What a user may not set, with the field path.
    pub fn check(&self) -> Result<(), InvalidSpec> {
        let reserved =
            |key: &str| key.starts_with("app.kubernetes.io/") || key.starts_with("vigil.dev/");
        if let Some(key) = self.labels.keys().find(|k| reserved(k)) {
            return Err(InvalidSpec(format!(
                "spec.pods.labels: `{key}` is set by Vigil (app.kubernetes.io/* and vigil.dev/* are reserved)"
            )));
        }
        if let Some(key) = self
            .annotations
            .keys()
            .find(|k| k.starts_with("vigil.dev/"))
        {
            return Err(InvalidSpec(format!(
                "spec.pods.annotations: `{key}` is set by Vigil"
            )));
        }
        if let Some((i, var)) = self
            .env
            .iter()
            .enumerate()
            .find(|(_, v)| v.name.starts_with("VIGIL_"))
        {
            return Err(InvalidSpec(format!(
                "spec.pods.env[{i}].name: `{}` is set by Vigil (VIGIL_* is reserved)",
                var.name
            )));
        }
        Ok(())
    }
}
