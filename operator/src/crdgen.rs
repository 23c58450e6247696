//! The CRD manifests, as `vigil crd` prints them and `crds/` holds them.

use kube::CustomResourceExt;

use crate::crd::{DriftPolicy, MonitoredModel};

/// Every CRD as one multi-document YAML stream.
pub fn all_crds_yaml() -> Result<String, serde_yaml::Error> {
    let crds = [MonitoredModel::crd(), DriftPolicy::crd()];
    let mut out = String::new();
    for crd in &crds {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(crd)?);
    }
    Ok(out)
}
