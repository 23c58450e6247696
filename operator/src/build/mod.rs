//! Pure builders of every object a MonitoredModel (or its DriftPolicy) owns. Deterministic names,
//! owner references, `app.kubernetes.io/*` labels, Pods that meet the Pod
//! Security Standard "restricted", credentials only through Secret references.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, Job, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvFromSource, EnvVar,
    HTTPGetAction, PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec, PodTemplateSpec,
    Probe, ResourceRequirements, SeccompProfile, SecretEnvSource, SecurityContext, Service,
    ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{Resource, ResourceExt};
use vigil_core::data::storage::DEFAULT_PVC_ROOT;
use vigil_core::drift::DriftJobConfig;
use vigil_core::train::config::{Resources, TrainJobConfig};

use crate::crd::{DriftPolicy, MonitoredModel, TrainingTrigger};
use crate::observe::VERSION_LABEL;

pub mod batch;
pub mod pod;
pub mod serving;

pub use batch::{
    build_drift_cronjob, build_training_cronjob, build_training_job, drift_cronjob_name,
    train_job_config,
};
pub use serving::{build_pdb, build_service, build_serving_deployment};

pub const MANAGED_BY: &str = "vigil-operator";
/// The label that ties a drift Job (and its CronJob) to its DriftPolicy.
pub const POLICY_LABEL: &str = "vigil.dev/policy";
/// The annotation that says why a training Job runs.
pub const TRIGGER_ANNOTATION: &str = "vigil.dev/trigger";
/// The annotation that numbers the attempts of a first training.
pub const ATTEMPT_ANNOTATION: &str = "vigil.dev/attempt";
/// How long a training Job may run before Kubernetes stops it (2 h).
pub const TRAINING_DEADLINE_SECONDS: i64 = 7200;
/// How long a check Job may run before Kubernetes stops it (30 min).
pub const CHECK_DEADLINE_SECONDS: i64 = 1800;
/// How long a rollout may take before the Deployment controller reports
/// `ProgressDeadlineExceeded` and Vigil rolls back (10 min).
pub const PROGRESS_DEADLINE_SECONDS: i32 = 600;
pub const SERVE_PORT: i32 = 8080;
/// The container's Vigil binary.
const BINARY: &str = "/usr/local/bin/vigil";

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BuildError {
    #[error("MonitoredModel has no {0} yet (not read from the API server?)")]
    MissingMetadata(&'static str),
    #[error("cannot encode the job configuration: {0}")]
    Encode(String),
}

/// What a child object is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    Inference,
    Training,
    Drift,
}

impl Component {
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Inference => "inference",
            Component::Training => "training",
            Component::Drift => "drift",
        }
    }
}

/// The labels every owned object carries.
pub fn labels(model: &MonitoredModel, component: Component) -> BTreeMap<String, String> {
    [
        ("app.kubernetes.io/name", "vigil".to_string()),
        ("app.kubernetes.io/instance", model.name_any()),
        (
            "app.kubernetes.io/component",
            component.as_str().to_string(),
        ),
        ("app.kubernetes.io/managed-by", MANAGED_BY.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn selector_labels(model: &MonitoredModel, component: Component) -> BTreeMap<String, String> {
    let mut labels = labels(model, component);
    labels.remove("app.kubernetes.io/managed-by");
    labels
}

fn owner(model: &MonitoredModel) -> Result<OwnerReference, BuildError> {
    if model.meta().uid.is_none() {
        return Err(BuildError::MissingMetadata("uid"));
    }
    model
        .controller_owner_ref(&())
        .ok_or(BuildError::MissingMetadata("name"))
}

fn metadata(
    model: &MonitoredModel,
    name: String,
    component: Component,
) -> Result<ObjectMeta, BuildError> {
    Ok(ObjectMeta {
        name: Some(name),
        namespace: model.namespace(),
        labels: Some(labels(model, component)),
        owner_references: Some(vec![owner(model)?]),
        ..ObjectMeta::default()
    })
}

/// Name of the inference Deployment and Service.
pub fn serving_name(model: &MonitoredModel) -> String {
    format!("{}-inference", model.name_any())
}

/// Name of the training CronJob.
pub fn training_cronjob_name(model: &MonitoredModel) -> String {
    format!("{}-train", model.name_any())
}

/// Name of a one-off training Job; `suffix` makes it unique (e.g. a timestamp).
pub fn training_job_name(model: &MonitoredModel, suffix: &str) -> String {
    let name = format!("{}-train-{suffix}", model.name_any());
    // Job names become a label value on their Pods: at most 63 characters.
    name.chars()
        .take(63)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string()
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use serde_json::json;

    pub fn model() -> MonitoredModel {
        let mut model: MonitoredModel = serde_yaml::from_str(
            r#"
apiVersion: vigil.dev/v1alpha1
kind: MonitoredModel
metadata: {name: income, namespace: ml, uid: "1234"}
spec:
  schema:
    target: {name: y, classes: [a, b]}
    features: [{name: x, type: numeric}]
  storage: {uri: "s3://models/income", secretRef: {name: s3-credentials}}
  training:
    data: {uri: "s3://data/train.csv"}
    algorithm: logistic-regression
    schedule: "0 3 * * 0"
  serving:
    replicas: 2
    minAvailable: 1
    resources: {requests: {cpu: 250m}, limits: {memory: 256Mi}}
"#,
        )
        .expect("model");
        model.metadata.generation = Some(1);
        model
    }

    pub fn owner_json() -> serde_json::Value {
        json!([{"apiVersion": "vigil.dev/v1alpha1", "kind": "MonitoredModel", "name": "income", "uid": "1234", "controller": true}])
    }

    pub fn labels_json(component: &str) -> serde_json::Value {
        json!({"app.kubernetes.io/name": "vigil", "app.kubernetes.io/instance": "income",
               "app.kubernetes.io/component": component, "app.kubernetes.io/managed-by": "vigil-operator"})
    }

    pub fn restricted_container() -> serde_json::Value {
        json!({"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsNonRoot": true,
               "capabilities": {"drop": ["ALL"]}})
    }

    pub fn restricted_pod() -> serde_json::Value {
        json!({"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532,
               "seccompProfile": {"type": "RuntimeDefault"}})
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::model;
    use super::*;

    #[test]
    fn names_are_bounded_and_metadata_is_required() {
        let m = model();
        assert!(training_job_name(&m, &"x".repeat(100)).len() <= 63);
        let mut fresh = m.clone();
        fresh.metadata.uid = None;
        assert_eq!(
            build_service(&fresh).expect_err("no uid"),
            BuildError::MissingMetadata("uid")
        );
    }
}
