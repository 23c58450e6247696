//! The Pods of every child: Pod Security "restricted", resources, the volumes
//! the store needs, credentials by reference, and what the user places.

use super::*;

pub(super) fn resources(spec: Option<&Resources>) -> Option<ResourceRequirements> {
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
}
