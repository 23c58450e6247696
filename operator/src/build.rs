//! Pure builders of every object a MonitoredModel owns. Deterministic names,
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

use crate::crd::{DriftPolicy, MonitoredModel};
use crate::jobs::POLICY_LABEL;

pub const MANAGED_BY: &str = "vigil-operator";
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

fn resources(spec: Option<&Resources>) -> Option<ResourceRequirements> {
    let spec = spec?;
    let quantities = |m: &BTreeMap<String, String>| {
        (!m.is_empty()).then(|| {
            m.iter()
                .map(|(k, v)| (k.clone(), Quantity(v.clone())))
                .collect()
        })
    };
    Some(ResourceRequirements {
        requests: quantities(&spec.requests),
        limits: quantities(&spec.limits),
        ..ResourceRequirements::default()
    })
}

fn default_resources() -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(
            [("cpu", "100m"), ("memory", "128Mi")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                .collect(),
        ),
        ..ResourceRequirements::default()
    }
}

/// Pod Security Standard "restricted".
fn pod_security() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(65532),
        run_as_group: Some(65532),
        fs_group: Some(65532),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..SeccompProfile::default()
        }),
        ..PodSecurityContext::default()
    }
}

fn container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Capabilities::default()
        }),
        ..SecurityContext::default()
    }
}

fn credentials(model: &MonitoredModel) -> Option<Vec<EnvFromSource>> {
    let secret = model.spec.storage.secret_ref.as_ref()?;
    Some(vec![EnvFromSource {
        secret_ref: Some(SecretEnvSource {
            name: secret.name.clone(),
            optional: Some(false),
        }),
        ..EnvFromSource::default()
    }])
}

fn env(pairs: &[(&str, String)]) -> Vec<EnvVar> {
    pairs
        .iter()
        .map(|(name, value)| EnvVar {
            name: name.to_string(),
            value: Some(value.clone()),
            ..EnvVar::default()
        })
        .collect()
}

/// The claim of a `pvc://claim/path` URI.
fn claim_of(uri: &str) -> Option<&str> {
    uri.strip_prefix("pvc://")?
        .split('/')
        .next()
        .filter(|claim| !claim.is_empty())
}

/// `/tmp` (the only writable path of the read-only root) and every
/// PersistentVolumeClaim a `pvc://` URI names, mounted where the store looks
/// for it (`/mnt/vigil/<claim>`).
fn volumes(uris: &[&str]) -> (Vec<Volume>, Vec<VolumeMount>) {
    let mut volumes = vec![Volume {
        name: "tmp".into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    }];
    let mut mounts = vec![VolumeMount {
        name: "tmp".into(),
        mount_path: "/tmp".into(),
        ..VolumeMount::default()
    }];
    let mut claims: Vec<&str> = uris.iter().filter_map(|uri| claim_of(uri)).collect();
    claims.sort_unstable();
    claims.dedup();
    for (i, claim) in claims.into_iter().enumerate() {
        let name = format!("pvc-{i}");
        volumes.push(Volume {
            name: name.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.into(),
                read_only: None,
            }),
            ..Volume::default()
        });
        mounts.push(VolumeMount {
            name,
            mount_path: format!("{DEFAULT_PVC_ROOT}/{claim}"),
            ..VolumeMount::default()
        });
    }
    (volumes, mounts)
}

fn http_probe(path: &str) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(10),
        ..Probe::default()
    }
}

/// The inference Deployment serving `version`.
pub fn build_serving_deployment(
    model: &MonitoredModel,
    version: &str,
    image: &str,
) -> Result<Deployment, BuildError> {
    let serving = &model.spec.serving;
    let (volumes, mounts) = volumes(&[&model.spec.storage.uri]);
    let container = Container {
        name: "inference".into(),
        image: Some(image.into()),
        command: Some(vec![BINARY.into()]),
        args: Some(vec!["serve".into()]),
        env: Some(env(&[
            ("VIGIL_STORE", model.spec.storage.uri.clone()),
            ("VIGIL_MODEL_VERSION", version.to_string()),
            ("VIGIL_LISTEN", format!("0.0.0.0:{SERVE_PORT}")),
            (
                "VIGIL_LOG_SAMPLE_RATE",
                serving.logging.sample_rate.to_string(),
            ),
            (
                "VIGIL_FLUSH_INTERVAL",
                serving.logging.flush_interval.clone(),
            ),
            ("VIGIL_LOG_FORMAT", "json".into()),
        ])),
        env_from: credentials(model),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: SERVE_PORT,
            ..ContainerPort::default()
        }]),
        liveness_probe: Some(http_probe("/health")),
        readiness_probe: Some(http_probe("/ready")),
        resources: Some(resources(serving.resources.as_ref()).unwrap_or_else(default_resources)),
        security_context: Some(container_security()),
        volume_mounts: Some(mounts),
        ..Container::default()
    };
    let mut pod_labels = labels(model, Component::Inference);
    pod_labels.insert("vigil.dev/version".into(), version.to_string());
    Ok(Deployment {
        metadata: metadata(model, serving_name(model), Component::Inference)?,
        spec: Some(DeploymentSpec {
            replicas: Some(serving.replicas),
            selector: LabelSelector {
                match_labels: Some(selector_labels(model, Component::Inference)),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    security_context: Some(pod_security()),
                    automount_service_account_token: Some(false),
                    termination_grace_period_seconds: Some(30),
                    volumes: Some(volumes),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    })
}

/// The Service in front of the inference Pods.
pub fn build_service(model: &MonitoredModel) -> Result<Service, BuildError> {
    Ok(Service {
        metadata: metadata(model, serving_name(model), Component::Inference)?,
        spec: Some(ServiceSpec {
            selector: Some(selector_labels(model, Component::Inference)),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: 80,
                target_port: Some(IntOrString::String("http".into())),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    })
}

/// The PodDisruptionBudget, when `serving.minAvailable` is set.
pub fn build_pdb(model: &MonitoredModel) -> Result<Option<PodDisruptionBudget>, BuildError> {
    let Some(min_available) = model.spec.serving.min_available else {
        return Ok(None);
    };
    Ok(Some(PodDisruptionBudget {
        metadata: metadata(model, serving_name(model), Component::Inference)?,
        spec: Some(PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(min_available)),
            selector: Some(LabelSelector {
                match_labels: Some(selector_labels(model, Component::Inference)),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }))
}

/// The configuration a training Pod receives (as JSON in `VIGIL_CONFIG_JSON`).
pub fn train_job_config(model: &MonitoredModel, served_version: Option<&str>) -> TrainJobConfig {
    TrainJobConfig {
        model: Some(model.name_any()),
        schema: model.spec.schema.clone(),
        storage: model.spec.storage.clone(),
        training: model.spec.training.clone(),
        served_version: served_version.map(str::to_string),
    }
}

/// The Pod of a batch job (`vigil train` or `vigil drift`) reading its
/// configuration from `VIGIL_CONFIG_JSON` and leaving its result in the
/// termination message.
fn job_pod(
    model: &MonitoredModel,
    labels: BTreeMap<String, String>,
    subcommand: &str,
    config_json: String,
    resources_spec: Option<&Resources>,
    image: &str,
) -> PodTemplateSpec {
    let (volumes, mounts) = volumes(&[&model.spec.storage.uri, &model.spec.training.data.uri]);
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: subcommand.into(),
                image: Some(image.into()),
                command: Some(vec![BINARY.into()]),
                args: Some(vec![subcommand.into()]),
                env: Some(env(&[
                    ("VIGIL_CONFIG_JSON", config_json),
                    ("VIGIL_LOG_FORMAT", "json".into()),
                ])),
                env_from: credentials(model),
                resources: Some(resources(resources_spec).unwrap_or_else(default_resources)),
                security_context: Some(container_security()),
                termination_message_policy: Some("FallbackToLogsOnError".into()),
                volume_mounts: Some(mounts),
                ..Container::default()
            }],
            restart_policy: Some("Never".into()),
            security_context: Some(pod_security()),
            automount_service_account_token: Some(false),
            volumes: Some(volumes),
            ..PodSpec::default()
        }),
    }
}

fn training_pod(
    model: &MonitoredModel,
    config: &TrainJobConfig,
    image: &str,
) -> Result<PodTemplateSpec, BuildError> {
    let json = serde_json::to_string(config).map_err(|e| BuildError::Encode(e.to_string()))?;
    Ok(job_pod(
        model,
        labels(model, Component::Training),
        "train",
        json,
        model.spec.training.resources.as_ref(),
        image,
    ))
}

fn training_job_spec(
    model: &MonitoredModel,
    config: &TrainJobConfig,
    image: &str,
) -> Result<JobSpec, BuildError> {
    Ok(JobSpec {
        backoff_limit: Some(1),
        // Keep finished Jobs a day for `kubectl logs`; the result is in status already.
        ttl_seconds_after_finished: Some(86_400),
        template: training_pod(model, config, image)?,
        ..JobSpec::default()
    })
}

/// A one-off training Job (first model, drift retrain, manual).
pub fn build_training_job(
    model: &MonitoredModel,
    name: String,
    trigger: &str,
    config: &TrainJobConfig,
    image: &str,
) -> Result<Job, BuildError> {
    let mut metadata = metadata(model, name, Component::Training)?;
    metadata.annotations = Some(
        [("vigil.dev/trigger".to_string(), trigger.to_string())]
            .into_iter()
            .collect(),
    );
    Ok(Job {
        metadata,
        spec: Some(training_job_spec(model, config, image)?),
        ..Job::default()
    })
}

/// The training CronJob, when `training.schedule` is set.
pub fn build_training_cronjob(
    model: &MonitoredModel,
    config: &TrainJobConfig,
    image: &str,
) -> Result<Option<CronJob>, BuildError> {
    let Some(schedule) = model.spec.training.schedule.clone() else {
        return Ok(None);
    };
    Ok(Some(CronJob {
        metadata: metadata(model, training_cronjob_name(model), Component::Training)?,
        spec: Some(CronJobSpec {
            schedule,
            concurrency_policy: Some("Forbid".into()),
            successful_jobs_history_limit: Some(3),
            failed_jobs_history_limit: Some(3),
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(model, Component::Training)),
                    annotations: Some(
                        [("vigil.dev/trigger".to_string(), "Schedule".to_string())]
                            .into_iter()
                            .collect(),
                    ),
                    ..ObjectMeta::default()
                }),
                spec: Some(training_job_spec(model, config, image)?),
            },
            ..CronJobSpec::default()
        }),
        ..CronJob::default()
    }))
}

/// Name of a DriftPolicy's check CronJob.
pub fn drift_cronjob_name(policy: &DriftPolicy) -> String {
    format!("{}-check", policy.name_any())
}

/// The CronJob running a DriftPolicy's checks, owned by the policy (deleting the
/// policy stops the checks). Its Jobs carry the policy label the controller maps
/// back to the policy.
pub fn build_drift_cronjob(
    policy: &DriftPolicy,
    model: &MonitoredModel,
    config: &DriftJobConfig,
    image: &str,
) -> Result<CronJob, BuildError> {
    if policy.meta().uid.is_none() {
        return Err(BuildError::MissingMetadata("uid"));
    }
    let owner = policy
        .controller_owner_ref(&())
        .ok_or(BuildError::MissingMetadata("name"))?;
    let mut labels = labels(model, Component::Drift);
    labels.insert(POLICY_LABEL.into(), policy.name_any());
    let json = serde_json::to_string(config).map_err(|e| BuildError::Encode(e.to_string()))?;
    Ok(CronJob {
        metadata: ObjectMeta {
            name: Some(drift_cronjob_name(policy)),
            namespace: policy.namespace(),
            labels: Some(labels.clone()),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: Some(CronJobSpec {
            schedule: config.policy.schedule.clone(),
            concurrency_policy: Some("Forbid".into()),
            // A check that missed its slot by more than this waits for the next one.
            starting_deadline_seconds: Some(600),
            successful_jobs_history_limit: Some(3),
            failed_jobs_history_limit: Some(3),
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels.clone()),
                    ..ObjectMeta::default()
                }),
                spec: Some(JobSpec {
                    // A failed check is recorded, not retried: the next one comes on schedule.
                    backoff_limit: Some(0),
                    ttl_seconds_after_finished: Some(86_400),
                    template: job_pod(model, labels, "drift", json, None, image),
                    ..JobSpec::default()
                }),
            },
            ..CronJobSpec::default()
        }),
        ..CronJob::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn model() -> MonitoredModel {
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

    fn owner_json() -> serde_json::Value {
        json!([{"apiVersion": "vigil.dev/v1alpha1", "kind": "MonitoredModel", "name": "income", "uid": "1234", "controller": true}])
    }

    fn labels_json(component: &str) -> serde_json::Value {
        json!({"app.kubernetes.io/name": "vigil", "app.kubernetes.io/instance": "income",
               "app.kubernetes.io/component": component, "app.kubernetes.io/managed-by": "vigil-operator"})
    }

    fn restricted_container() -> serde_json::Value {
        json!({"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsNonRoot": true,
               "capabilities": {"drop": ["ALL"]}})
    }

    fn restricted_pod() -> serde_json::Value {
        json!({"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532,
               "seccompProfile": {"type": "RuntimeDefault"}})
    }

    #[test]
    fn serving_deployment_is_built_whole() {
        let deployment =
            build_serving_deployment(&model(), "20261128-171500-ab12cd", "vigil:0.1.0")
                .expect("build");
        let selector = json!({"app.kubernetes.io/name": "vigil", "app.kubernetes.io/instance": "income",
                              "app.kubernetes.io/component": "inference"});
        let mut pod_labels = labels_json("inference");
        pod_labels["vigil.dev/version"] = json!("20261128-171500-ab12cd");
        assert_eq!(
            serde_json::to_value(&deployment).expect("json"),
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "income-inference", "namespace": "ml",
                             "labels": labels_json("inference"), "ownerReferences": owner_json()},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": selector},
                    "template": {
                        "metadata": {"labels": pod_labels},
                        "spec": {
                            "automountServiceAccountToken": false,
                            "terminationGracePeriodSeconds": 30,
                            "securityContext": restricted_pod(),
                            "volumes": [{"name": "tmp", "emptyDir": {}}],
                            "containers": [{
                                "name": "inference", "image": "vigil:0.1.0",
                                "command": ["/usr/local/bin/vigil"], "args": ["serve"],
                                "env": [
                                    {"name": "VIGIL_STORE", "value": "s3://models/income"},
                                    {"name": "VIGIL_MODEL_VERSION", "value": "20261128-171500-ab12cd"},
                                    {"name": "VIGIL_LISTEN", "value": "0.0.0.0:8080"},
                                    {"name": "VIGIL_LOG_SAMPLE_RATE", "value": "1"},
                                    {"name": "VIGIL_FLUSH_INTERVAL", "value": "10s"},
                                    {"name": "VIGIL_LOG_FORMAT", "value": "json"}
                                ],
                                "envFrom": [{"secretRef": {"name": "s3-credentials", "optional": false}}],
                                "ports": [{"name": "http", "containerPort": 8080}],
                                "livenessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10},
                                "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 10},
                                "resources": {"requests": {"cpu": "250m"}, "limits": {"memory": "256Mi"}},
                                "securityContext": restricted_container(),
                                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]
                            }]
                        }
                    }
                }
            })
        );
    }

    #[test]
    fn service_and_pdb_select_the_inference_pods() {
        let service =
            serde_json::to_value(build_service(&model()).expect("service")).expect("json");
        assert_eq!(
            service,
            json!({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "income-inference", "namespace": "ml",
                                "labels": labels_json("inference"), "ownerReferences": owner_json()},
                   "spec": {"selector": {"app.kubernetes.io/name": "vigil", "app.kubernetes.io/instance": "income",
                                         "app.kubernetes.io/component": "inference"},
                            "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})
        );
        let pdb =
            serde_json::to_value(build_pdb(&model()).expect("pdb").expect("some")).expect("json");
        assert_eq!(pdb["spec"]["minAvailable"], json!(1));
        let mut unbudgeted = model();
        unbudgeted.spec.serving.min_available = None;
        assert_eq!(build_pdb(&unbudgeted).expect("pdb"), None);
    }

    #[test]
    fn training_job_carries_its_config_and_no_credentials_in_clear() {
        let m = model();
        let config = train_job_config(&m, Some("v1"));
        let job = build_training_job(
            &m,
            training_job_name(&m, "20261128-171500"),
            "Drift",
            &config,
            "vigil:0.1.0",
        )
        .expect("job");
        let value = serde_json::to_value(&job).expect("json");
        assert_eq!(
            value["metadata"]["name"],
            json!("income-train-20261128-171500")
        );
        assert_eq!(
            value["metadata"]["annotations"],
            json!({"vigil.dev/trigger": "Drift"})
        );
        assert_eq!(value["metadata"]["labels"], labels_json("training"));
        assert_eq!(value["metadata"]["ownerReferences"], owner_json());
        let pod = &value["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], json!("Never"));
        assert_eq!(pod["securityContext"], restricted_pod());
        let container = &pod["containers"][0];
        assert_eq!(container["securityContext"], restricted_container());
        assert_eq!(
            container["envFrom"],
            json!([{"secretRef": {"name": "s3-credentials", "optional": false}}])
        );
        assert_eq!(
            container["resources"],
            json!({"requests": {"cpu": "100m", "memory": "128Mi"}})
        );
        let json_config = container["env"][0]["value"].as_str().expect("config env");
        let parsed = TrainJobConfig::from_text(json_config, "env").expect("the job can read it");
        assert_eq!(parsed, config);
        assert_eq!(parsed.served_version.as_deref(), Some("v1"));
    }

    #[test]
    fn cronjob_only_with_a_schedule() {
        let m = model();
        let config = train_job_config(&m, None);
        let cron = build_training_cronjob(&m, &config, "vigil:0.1.0")
            .expect("build")
            .expect("scheduled");
        let value = serde_json::to_value(&cron).expect("json");
        assert_eq!(value["metadata"]["name"], json!("income-train"));
        assert_eq!(value["spec"]["schedule"], json!("0 3 * * 0"));
        assert_eq!(value["spec"]["concurrencyPolicy"], json!("Forbid"));
        let mut unscheduled = m.clone();
        unscheduled.spec.training.schedule = None;
        assert_eq!(
            build_training_cronjob(&unscheduled, &config, "i").expect("build"),
            None
        );
    }

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

    #[test]
    fn pvc_stores_and_data_are_mounted_where_the_store_reads_them() {
        let mut model = model();
        model.spec.storage.uri = "pvc://vigil-store/income".into();
        model.spec.training.data.uri = "pvc://datasets/adult/train.csv".into();
        let config = train_job_config(&model, None);
        let job = build_training_job(&model, "j".into(), "Manual", &config, "vigil").expect("job");
        let pod = serde_json::to_value(job.spec.expect("spec").template.spec.expect("pod"))
            .expect("json");
        assert_eq!(
            pod["volumes"],
            json!([{"name": "tmp", "emptyDir": {}},
                   {"name": "pvc-0", "persistentVolumeClaim": {"claimName": "datasets"}},
                   {"name": "pvc-1", "persistentVolumeClaim": {"claimName": "vigil-store"}}])
        );
        assert_eq!(
            pod["containers"][0]["volumeMounts"],
            json!([{"name": "tmp", "mountPath": "/tmp"},
                   {"name": "pvc-0", "mountPath": "/mnt/vigil/datasets"},
                   {"name": "pvc-1", "mountPath": "/mnt/vigil/vigil-store"}])
        );
        let deployment = build_serving_deployment(&model, "v1", "vigil").expect("deployment");
        let pod = serde_json::to_value(deployment.spec.expect("spec").template.spec.expect("pod"))
            .expect("json");
        assert_eq!(
            pod["volumes"][1]["persistentVolumeClaim"]["claimName"],
            "vigil-store"
        );
        assert_eq!(
            pod["volumes"].as_array().map(Vec::len),
            Some(2),
            "the data claim is not needed to serve"
        );
    }
}
