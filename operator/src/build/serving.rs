//! The inference Deployment, its Service and its PodDisruptionBudget.

use super::pod::{
    container_security, credentials, default_resources, env, http_probe, place, pod_security,
    resources, volumes,
};
use super::*;
use crate::crd::{LogFileFormat, ServingTokens};
use k8s_openapi::api::core::v1::{KeyToPath, SecretVolumeSource};

/// Where the inference Pod finds its token files: `<dir>/<admin|feedback>/token`.
const TOKENS_DIR: &str = "/var/run/secrets/vigil";

/// The inference Deployment serving `version`.
pub fn build_serving_deployment(
    model: &MonitoredModel,
    version: &str,
    image: &str,
) -> Result<Deployment, BuildError> {
    let serving = &model.spec.serving;
    let (mut volumes, mut mounts) = volumes(&[&model.spec.storage.uri]);
    let tokens = TokenMounts::of(serving.tokens.as_ref());
    volumes.extend(tokens.volumes);
    mounts.extend(tokens.mounts);
    let mut env_vars = env(&[
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
    ]);
    // Set only when not the default, so that upgrading the operator does not roll
    // every inference Deployment for an unchanged setting.
    if serving.logging.format != LogFileFormat::Jsonl {
        env_vars.extend(env(&[(
            "VIGIL_PREDICTION_LOG_FORMAT",
            serving.logging.format.as_arg().to_string(),
        )]));
    }
    env_vars.extend(tokens.env);
    let container = Container {
        name: "inference".into(),
        image: Some(image.into()),
        command: Some(vec![BINARY.into()]),
        args: Some(vec!["serve".into()]),
        env: Some(env_vars),
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
    pod_labels.insert(VERSION_LABEL.into(), version.to_string());
    Ok(Deployment {
        metadata: metadata(model, serving_name(model), Component::Inference)?,
        spec: Some(DeploymentSpec {
            replicas: Some(serving.replicas),
            progress_deadline_seconds: Some(
                serving
                    .progress_deadline_seconds
                    .unwrap_or(PROGRESS_DEADLINE_SECONDS),
            ),
            selector: LabelSelector {
                match_labels: Some(selector_labels(model, Component::Inference)),
                ..LabelSelector::default()
            },
            template: place(
                PodTemplateSpec {
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
                &model.spec.pods,
            ),
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    })
}

/// Where the inference Pod reads its tokens: each named Secret key mounted read-only as
/// a file (files, not environment variables, which `/proc/<pid>/environ` and crash dumps
/// show), and the `--*-token-file` variable pointing at it.
#[derive(Default)]
struct TokenMounts {
    volumes: Vec<Volume>,
    mounts: Vec<VolumeMount>,
    env: Vec<EnvVar>,
}

impl TokenMounts {
    fn of(tokens: Option<&ServingTokens>) -> TokenMounts {
        let mut out = TokenMounts::default();
        let Some(tokens) = tokens else { return out };
        for (which, variable, secret) in [
            ("admin", "VIGIL_ADMIN_TOKEN_FILE", &tokens.admin),
            ("feedback", "VIGIL_FEEDBACK_TOKEN_FILE", &tokens.feedback),
        ] {
            let Some(secret) = secret else { continue };
            let (name, dir) = (format!("{which}-token"), format!("{TOKENS_DIR}/{which}"));
            out.volumes.push(Volume {
                name: name.clone(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(secret.name.clone()),
                    items: Some(vec![KeyToPath {
                        key: secret.key.clone(),
                        path: "token".into(),
                        mode: None,
                    }]),
                    ..SecretVolumeSource::default()
                }),
                ..Volume::default()
            });
            out.mounts.push(VolumeMount {
                name,
                mount_path: dir.clone(),
                read_only: Some(true),
                ..VolumeMount::default()
            });
            out.env.extend(env(&[(variable, format!("{dir}/token"))]));
        }
        out
    }
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use serde_json::json;

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
                    "progressDeadlineSeconds": 600,
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

    /// Each named token is a read-only file from its own Secret, and the server is told
    /// where; the rest of the Pod is the same as without tokens.
    #[test]
    fn tokens_are_mounted_from_their_secrets() {
        let mut with_tokens = model();
        with_tokens.spec.serving.tokens = Some(ServingTokens {
            admin: Some(crate::crd::SecretKeyRef {
                name: "income-admin".into(),
                key: "token".into(),
            }),
            feedback: Some(crate::crd::SecretKeyRef {
                name: "income-labels".into(),
                key: "bearer".into(),
            }),
        });
        let pod = |model: &MonitoredModel| {
            let deployment = build_serving_deployment(model, "v1", "vigil:0.1.0").expect("build");
            serde_json::to_value(&deployment).expect("json")["spec"]["template"]["spec"].clone()
        };
        let (plain, tokened) = (pod(&model()), pod(&with_tokens));
        assert_eq!(
            tokened["volumes"],
            json!([
                {"name": "tmp", "emptyDir": {}},
                {"name": "admin-token", "secret": {"secretName": "income-admin",
                    "items": [{"key": "token", "path": "token"}]}},
                {"name": "feedback-token", "secret": {"secretName": "income-labels",
                    "items": [{"key": "bearer", "path": "token"}]}}
            ])
        );
        let container = &tokened["containers"][0];
        assert_eq!(
            container["volumeMounts"],
            json!([
                {"name": "tmp", "mountPath": "/tmp"},
                {"name": "admin-token", "mountPath": "/var/run/secrets/vigil/admin", "readOnly": true},
                {"name": "feedback-token", "mountPath": "/var/run/secrets/vigil/feedback", "readOnly": true}
            ])
        );
        let plain_env = plain["containers"][0]["env"]
            .as_array()
            .expect("env")
            .clone();
        let mut expected_env = plain_env;
        expected_env.extend([
            json!({"name": "VIGIL_ADMIN_TOKEN_FILE", "value": "/var/run/secrets/vigil/admin/token"}),
            json!({"name": "VIGIL_FEEDBACK_TOKEN_FILE", "value": "/var/run/secrets/vigil/feedback/token"}),
        ]);
        assert_eq!(container["env"], json!(expected_env));
        let (mut rest, mut plain_rest) = (tokened.clone(), plain.clone());
        for pod in [&mut rest, &mut plain_rest] {
            pod["volumes"] = json!(null);
            pod["containers"][0]["volumeMounts"] = json!(null);
            pod["containers"][0]["env"] = json!(null);
        }
        assert_eq!(rest, plain_rest);
    }

    /// `logging.format: parquet` adds the one variable; the default adds none (an
    /// operator upgrade does not roll Deployments that did not ask for it).
    #[test]
    fn a_parquet_log_is_asked_of_the_server_by_one_variable() {
        let mut parquet = model();
        parquet.spec.serving.logging.format = crate::crd::LogFileFormat::Parquet;
        let env = |model: &MonitoredModel| {
            let deployment = build_serving_deployment(model, "v1", "vigil:0.1.0").expect("build");
            serde_json::to_value(&deployment).expect("json")["spec"]["template"]["spec"]
                ["containers"][0]["env"]
                .as_array()
                .expect("env")
                .clone()
        };
        let mut expected = env(&model());
        expected.push(json!({"name": "VIGIL_PREDICTION_LOG_FORMAT", "value": "parquet"}));
        assert_eq!(env(&parquet), expected);
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
}
