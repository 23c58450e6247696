//! The Pods of every child: Pod Security "restricted", resources, the volumes
//! the store needs, credentials by reference, and what the user places.

use super::*;
use crate::crd::PodSettings;

pub(super) fn resources(spec: Option<&Resources>) -> Option<ResourceRequirements> {
    let spec = spec?;
    let quantities = |m: &BTreeMap<String, vigil_core::quantity::Quantity>| {
        (!m.is_empty()).then(|| {
            m.iter()
                .map(|(k, v)| (k.clone(), Quantity(v.to_string())))
                .collect()
        })
    };
    Some(ResourceRequirements {
        requests: quantities(&spec.requests),
        limits: quantities(&spec.limits),
        ..ResourceRequirements::default()
    })
}

pub(super) fn default_resources() -> ResourceRequirements {
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
pub(super) fn pod_security() -> PodSecurityContext {
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

pub(super) fn container_security() -> SecurityContext {
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

pub(super) fn credentials(model: &MonitoredModel) -> Option<Vec<EnvFromSource>> {
    let secret = model.spec.storage.secret_ref.as_ref()?;
    Some(vec![EnvFromSource {
        secret_ref: Some(SecretEnvSource {
            name: secret.name.clone(),
            optional: Some(false),
        }),
        ..EnvFromSource::default()
    }])
}

pub(super) fn env(pairs: &[(&str, String)]) -> Vec<EnvVar> {
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
pub(super) fn claim_of(uri: &str) -> Option<&str> {
    uri.strip_prefix("pvc://")?
        .split('/')
        .next()
        .filter(|claim| !claim.is_empty())
}

/// `/tmp` (the only writable path of the read-only root) and every
/// PersistentVolumeClaim a `pvc://` URI names, mounted where the store looks
/// for it (`/mnt/vigil/<claim>`).
pub(super) fn volumes(uris: &[&str]) -> (Vec<Volume>, Vec<VolumeMount>) {
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

pub(super) fn http_probe(path: &str) -> Probe {
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

/// The user's `spec.pods` on a Pod template: service account, node placement,
/// pull secrets, priority, extra labels, annotations and environment. Vigil's
/// own labels, annotations and `VIGIL_*` variables win (validation rejects a
/// spec that sets them).
pub(super) fn place(mut template: PodTemplateSpec, settings: &PodSettings) -> PodTemplateSpec {
    let meta = template.metadata.get_or_insert_with(ObjectMeta::default);
    let merge = |ours: &mut Option<BTreeMap<String, String>>, extra: &BTreeMap<String, String>| {
        if extra.is_empty() {
            return;
        }
        let mut all = extra.clone();
        all.extend(ours.take().unwrap_or_default());
        *ours = Some(all);
    };
    merge(&mut meta.labels, &settings.labels);
    merge(&mut meta.annotations, &settings.annotations);
    let Some(spec) = template.spec.as_mut() else {
        return template;
    };
    spec.service_account_name = settings.service_account_name.clone();
    spec.node_selector =
        (!settings.node_selector.is_empty()).then(|| settings.node_selector.clone());
    spec.tolerations = (!settings.tolerations.is_empty()).then(|| settings.tolerations.clone());
    spec.affinity = settings.affinity.clone();
    spec.image_pull_secrets =
        (!settings.image_pull_secrets.is_empty()).then(|| settings.image_pull_secrets.clone());
    spec.priority_class_name = settings.priority_class_name.clone();
    if !settings.env.is_empty() {
        for container in &mut spec.containers {
            container
                .env
                .get_or_insert_with(Vec::new)
                .extend(settings.env.iter().cloned());
        }
    }
    template
}

/// The Pod of a batch job (`vigil train` or `vigil drift`) reading its
/// configuration from `VIGIL_CONFIG_JSON` and leaving its result in the
/// termination message.
pub(super) fn job_pod(
    model: &MonitoredModel,
    labels: BTreeMap<String, String>,
    subcommand: &str,
    config_json: String,
    resources_spec: Option<&Resources>,
    image: &str,
) -> PodTemplateSpec {
    let (volumes, mounts) = volumes(&[&model.spec.storage.uri, &model.spec.training.data.uri]);
    let template = PodTemplateSpec {
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
    };
    place(template, &model.spec.pods)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::model;
    use super::super::*;
    use serde_json::json;

    #[test]
    fn pvc_stores_and_data_are_mounted_where_the_store_reads_them() {
        let mut model = model();
        model.spec.storage.uri = "pvc://vigil-store/income".into();
        model.spec.training.data.uri = "pvc://datasets/adult/train.csv".into();
        let config = train_job_config(&model, None);
        let job = build_training_job(&model, "j", TrainingTrigger::Manual, None, &config, "vigil")
            .expect("job");
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

    #[test]
    fn spec_pods_reach_every_pod_and_vigil_keeps_its_own() {
        let mut model = model();
        model.spec.pods = serde_json::from_value(json!({
            "serviceAccountName": "income-irsa",
            "nodeSelector": {"pool": "ml"},
            "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "zone", "operator": "In", "values": ["a"]}]}]}}},
            "imagePullSecrets": [{"name": "regcred"}],
            "priorityClassName": "ml-high",
            "labels": {"team": "risk"},
            "annotations": {"sidecar.istio.io/inject": "false"},
            "env": [{"name": "AWS_REGION", "value": "eu-west-1"}]
        }))
        .expect("pod settings");
        let config = train_job_config(&model, None);
        let job = build_training_job(&model, "j", TrainingTrigger::Manual, None, &config, "vigil")
            .expect("job");
        let deployment = build_serving_deployment(&model, "v1", "vigil").expect("deployment");
        let templates = [
            serde_json::to_value(job.spec.expect("spec").template).expect("json"),
            serde_json::to_value(deployment.spec.expect("spec").template).expect("json"),
        ];
        for template in &templates {
            let spec = &template["spec"];
            assert_eq!(spec["serviceAccountName"], "income-irsa");
            assert_eq!(
                spec["automountServiceAccountToken"], false,
                "IRSA projects its own token"
            );
            assert_eq!(spec["nodeSelector"], json!({"pool": "ml"}));
            assert_eq!(spec["tolerations"][0]["key"], "gpu");
            assert_eq!(
                spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                    ["nodeSelectorTerms"][0]["matchExpressions"][0]["key"],
                "zone"
            );
            assert_eq!(spec["imagePullSecrets"], json!([{"name": "regcred"}]));
            assert_eq!(spec["priorityClassName"], "ml-high");
            let labels = &template["metadata"]["labels"];
            assert_eq!(labels["team"], "risk");
            assert_eq!(labels["app.kubernetes.io/instance"], "income");
            assert_eq!(
                template["metadata"]["annotations"],
                json!({"sidecar.istio.io/inject": "false"})
            );
            let env = spec["containers"][0]["env"].as_array().expect("env");
            assert_eq!(
                env.last(),
                Some(&json!({"name": "AWS_REGION", "value": "eu-west-1"}))
            );
            assert!(env
                .iter()
                .any(|e| e["name"].as_str().is_some_and(|n| n.starts_with("VIGIL_"))));
        }
        let mut reserved = model.spec.pods.clone();
        reserved
            .labels
            .insert("app.kubernetes.io/component".into(), "x".into());
        assert!(reserved
            .check()
            .expect_err("reserved")
            .0
            .contains("spec.pods.labels"));
        let mut reserved = model.spec.pods.clone();
        reserved.env.push(
            serde_json::from_value(json!({"name": "VIGIL_STORE", "value": "x"})).expect("env"),
        );
        assert_eq!(
            reserved.check(),
            Err(crate::crd::InvalidSpec(
                "spec.pods.env[1].name: `VIGIL_STORE` is set by Vigil (VIGIL_* is reserved)"
                    .to_string()
            ))
        );
    }
}
