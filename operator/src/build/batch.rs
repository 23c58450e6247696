//! The batch children: training Jobs and CronJobs, and a DriftPolicy's check
//! CronJob; each Pod gets its configuration as JSON and leaves its result in
//! the termination message.

use k8s_openapi::api::core::v1::{EnvVarSource, ObjectFieldSelector, SecretKeySelector};

use crate::observe::JOB_NAME_LABEL;
use vigil_core::drift::rules::NotifySpec;

use super::pod::job_pod;
use super::*;

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
        active_deadline_seconds: Some(TRAINING_DEADLINE_SECONDS),
        // Keep finished Jobs a day for `kubectl logs`; the result is in status already.
        ttl_seconds_after_finished: Some(86_400),
        template: training_pod(model, config, image)?,
        ..JobSpec::default()
    })
}

/// A one-off training Job (first model, drift retrain, manual).
pub fn build_training_job(
    model: &MonitoredModel,
    name: &str,
    trigger: TrainingTrigger,
    attempt: Option<i32>,
    config: &TrainJobConfig,
    image: &str,
) -> Result<Job, BuildError> {
    let mut metadata = metadata(model, name.to_string(), Component::Training)?;
    let mut annotations: BTreeMap<String, String> =
        [(TRIGGER_ANNOTATION.to_string(), trigger.as_str().to_string())].into();
    if let Some(attempt) = attempt {
        annotations.insert(ATTEMPT_ANNOTATION.into(), attempt.to_string());
    }
    metadata.annotations = Some(annotations);
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
                        [(TRIGGER_ANNOTATION.to_string(), "Schedule".to_string())]
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
    let shards = policy.spec.parallelism.filter(|&n| n > 1);
    let template = with_notify_urls(
        job_pod(model, labels.clone(), "drift", json, None, image),
        &config.policy.actions.notify,
    );
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
                    active_deadline_seconds: Some(
                        policy
                            .spec
                            .active_deadline_seconds
                            .unwrap_or(CHECK_DEADLINE_SECONDS),
                    ),
                    ttl_seconds_after_finished: Some(86_400),
                    // Sharded: Pods 0..N−1 are the shards, Pod N the merge step,
                    // which starts with them and waits for their partials.
                    completion_mode: shards.map(|_| "Indexed".into()),
                    completions: shards.map(|n| n + 1),
                    parallelism: shards.map(|n| n + 1),
                    template: match shards {
                        Some(n) => sharded(template, n),
                        None => template,
                    },
                    ..JobSpec::default()
                }),
            },
            ..CronJobSpec::default()
        }),
        ..CronJob::default()
    })
}

/// The Pod of a check in `shards` shards: every step reads the window's end from
/// its Job's name (the CronJob names it after the scheduled minute), so that all
/// `shards + 1` Pods check the same window whenever each starts; the step itself
/// comes from `JOB_COMPLETION_INDEX`, which Kubernetes sets in an Indexed Job.
fn sharded(template: PodTemplateSpec, shards: i32) -> PodTemplateSpec {
    let vars = [
        EnvVar {
            name: "VIGIL_SHARDS".into(),
            value: Some(shards.to_string()),
            ..EnvVar::default()
        },
        EnvVar {
            name: "VIGIL_JOB_NAME".into(),
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: format!("metadata.labels['{JOB_NAME_LABEL}']"),
                    ..ObjectFieldSelector::default()
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        },
    ];
    with_env(template, vars)
}

/// Each notify target's secret (URL or routing key) as an environment variable from its Secret, by
/// reference: the check Pod sends the notifications, the operator never reads
/// a Secret. `optional`, so a missing Secret is a reported notification
/// failure, not a check that cannot start.
fn with_notify_urls(template: PodTemplateSpec, targets: &[NotifySpec]) -> PodTemplateSpec {
    let vars = targets.iter().enumerate().filter_map(|(i, target)| {
        let reference = target.secret_ref()?;
        Some(EnvVar {
            name: NotifySpec::secret_env(i),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: reference.name.clone(),
                    key: reference.key.clone(),
                    optional: Some(true),
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        })
    });
    with_env(template, vars)
}

/// `template` with `vars` added to the environment of its (first and only) container.
fn with_env(
    mut template: PodTemplateSpec,
    vars: impl IntoIterator<Item = EnvVar>,
) -> PodTemplateSpec {
    if let Some(container) = template
        .spec
        .as_mut()
        .and_then(|spec| spec.containers.first_mut())
    {
        container.env.get_or_insert_with(Vec::new).extend(vars);
    }
    template
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn training_job_carries_its_config_and_no_credentials_in_clear() {
        let m = model();
        let config = train_job_config(&m, Some("v1"));
        let job = build_training_job(
            &m,
            &training_job_name(&m, "20261128-171500"),
            TrainingTrigger::Drift,
            None,
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

    /// config/samples/income-postgres.yaml: the database password reaches the
    /// container only as `PGPASSWORD` from its Secret; the config holds the query.
    #[test]
    fn training_from_postgres_takes_the_password_from_the_secret_only() {
        let mut m: MonitoredModel =
            serde_yaml::from_str(include_str!("../../../config/samples/income-postgres.yaml"))
                .expect("sample");
        m.metadata.uid = Some("1234".into());
        let config = train_job_config(&m, None);
        let job = build_training_job(
            &m,
            "income-warehouse-train-1",
            TrainingTrigger::Manual,
            None,
            &config,
            "vigil:0.1.0",
        )
        .expect("job");
        let value = serde_json::to_value(&job).expect("json");
        let container = &value["spec"]["template"]["spec"]["containers"][0];
        let env = container["env"].as_array().expect("env");
        let password: Vec<_> = env.iter().filter(|v| v["name"] == "PGPASSWORD").collect();
        assert_eq!(
            password,
            [
                &json!({"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {"name": "warehouse-trainer", "key": "password"}}})
            ]
        );
        let json_config = env[0]["value"].as_str().expect("config env");
        let parsed = TrainJobConfig::from_text(json_config, "env").expect("the job can read it");
        assert_eq!(
            parsed.training.data.uri,
            "postgres://vigil_trainer@warehouse.data.svc:5432/analytics"
        );
        assert!(parsed
            .training
            .data
            .query
            .as_deref()
            .is_some_and(|q| q.contains("FROM census.adult")));
        assert_eq!(parsed.training.data.max_rows, 1_000_000);
    }

    fn check_cronjob(parallelism: Option<i32>) -> serde_json::Value {
        let m = model();
        let mut policy: DriftPolicy = serde_yaml::from_str(
            r#"
apiVersion: vigil.dev/v1alpha1
kind: DriftPolicy
metadata: {name: income-drift, namespace: ml, uid: "5678"}
spec:
  modelRef: {name: income}
  schedule: "*/30 * * * *"
"#,
        )
        .expect("policy");
        policy.spec.parallelism = parallelism;
        let config = DriftJobConfig {
            model: Some(m.name_any()),
            storage: m.spec.storage.clone(),
            served_version: Some("v1".into()),
            policy: policy.spec.rules.clone(),
            namespace: policy.namespace(),
            policy_name: Some(policy.name_any()),
        };
        let cron = build_drift_cronjob(&policy, &m, &config, "vigil:0.1.0").expect("build");
        serde_json::to_value(&cron).expect("json")
    }

    /// `parallelism: 3`: an Indexed Job of four Pods started together, each told
    /// the number of shards and its Job's name (the window's end); the rest is
    /// the one-Pod check's.
    #[test]
    fn a_sharded_check_is_an_indexed_job_of_its_shards_and_the_merge_step() {
        let one = check_cronjob(None);
        let three = check_cronjob(Some(3));
        let job = &three["spec"]["jobTemplate"]["spec"];
        let config = one["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]
            [0]
        .clone();
        assert_eq!(config["name"], json!("VIGIL_CONFIG_JSON"));
        let mut pod = one["spec"]["jobTemplate"]["spec"]["template"].clone();
        pod["spec"]["containers"][0]["env"] = json!([
            config,
            {"name": "VIGIL_LOG_FORMAT", "value": "json"},
            {"name": "VIGIL_SHARDS", "value": "3"},
            {"name": "VIGIL_JOB_NAME", "valueFrom": {"fieldRef":
                {"fieldPath": "metadata.labels['batch.kubernetes.io/job-name']"}}},
        ]);
        assert_eq!(
            job,
            &json!({
                "backoffLimit": 0,
                "activeDeadlineSeconds": 1800,
                "ttlSecondsAfterFinished": 86400,
                "completionMode": "Indexed",
                "completions": 4,
                "parallelism": 4,
                "template": pod,
            })
        );
        let mut rest = three.clone();
        rest["spec"]["jobTemplate"]["spec"] = one["spec"]["jobTemplate"]["spec"].clone();
        assert_eq!(rest, one, "only the Job's spec differs");
    }

    #[test]
    fn one_shard_is_the_one_pod_check() {
        let one = check_cronjob(None);
        assert_eq!(check_cronjob(Some(1)), one);
        let job = &one["spec"]["jobTemplate"]["spec"];
        for field in ["completionMode", "completions", "parallelism"] {
            assert_eq!(job.get(field), None, "{field}");
        }
        let env = &job["template"]["spec"]["containers"][0]["env"];
        assert_eq!(env.as_array().map(Vec::len), Some(2), "{env}");
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
}
