//! Every failure a cluster can hand the operator, against the fake API server:
//! each becomes a condition with a specific reason and the message a user needs,
//! one Event per occurrence, and no write storm (the next reconcile over the
//! same world writes nothing).

#![allow(clippy::panic)]

mod common;

use std::sync::Arc;

use common::scenario::*;
use common::{at, finish_job, model_yaml, trained, FakeApi, Recorded, JOBS, NS};
use serde_json::{json, Value};
use vigil_operator::controller::{drift_policy, monitored_model};
use vigil_operator::crd::{DriftPolicy, MonitoredModel};

/// One reconcile with a context that keeps its backoff between calls.
async fn reconcile_with(
    api: &FakeApi,
    ctx: &Arc<vigil_operator::context::Context>,
) -> (String, Vec<Recorded>) {
    let model: MonitoredModel = api.get(MODELS, "income").expect("model");
    let action = monitored_model::reconcile(Arc::new(model), ctx.clone())
        .await
        .expect("a refusal is recorded, not an error");
    (format!("{action:?}"), api.take_writes())
}

fn status_lines(writes: &[Recorded]) -> Vec<String> {
    lines(writes)
        .into_iter()
        .filter(|l| l.ends_with("/status") || l.contains("/events"))
        .collect()
}

#[tokio::test]
async fn a_refused_write_is_degraded_with_one_event_and_backs_off() {
    let api = FakeApi::new();
    serving_model(&api);
    let refusal = "Deployment.apps \"income-inference\" is invalid: \
        spec.template.spec.containers[0].resources.requests: Invalid value: \"4\": must be less \
        than or equal to cpu limit of 1";
    api.inject(
        Some("PATCH"),
        "/deployments/income-inference",
        422,
        "Invalid",
        refusal,
        None,
    );
    let ctx = api.context(at(17, 0));

    let (action, writes) = reconcile_with(&api, &ctx).await;
    assert_eq!(action, "Action { requeue_after: Some(5s) }");
    assert_eq!(
        lines(&writes),
        vec![
            format!("PATCH {DEPLOYMENTS}/income-inference"),
            format!("PATCH {SERVICES}/income-inference"),
            format!("PATCH {CRONJOBS}/income-train"),
            format!("PATCH {MODELS}/income/status"),
            format!("POST {EVENTS}"),
        ],
        "the other children are still applied"
    );
    let message =
        format!("the API server refused Deployment income-inference (HTTP 422): {refusal}");
    let status = status_of(&api);
    assert_eq!(
        condition_of(&status, "Degraded"),
        ("True".into(), "ApplyRejected".into(), message.clone())
    );
    assert_eq!(
        condition(&status, "Stalled"),
        ("True".into(), "ApplyRejected".into())
    );
    assert_eq!(
        event_notes(&writes),
        vec![("ApplyRejected".into(), message)]
    );

    // The same refusal again: no status write, no Event, a longer wait.
    let (action, writes) = reconcile_with(&api, &ctx).await;
    assert_eq!(action, "Action { requeue_after: Some(10s) }");
    assert_eq!(
        status_lines(&writes),
        Vec::<String>::new(),
        "no write storm"
    );
    let text = ctx.metrics.render();
    assert!(
        text.contains(r#"vigil_operator_reconcile_failures_total{controller="MonitoredModel",reason="apply_rejected"} 2"#),
        "{text}"
    );

    // Fixed (say, by an admission policy change): the conditions clear.
    api.heal();
    let (action, _) = reconcile_with(&api, &ctx).await;
    assert_eq!(action, "Action { requeue_after: Some(600s) }");
    let status = status_of(&api);
    for type_ in ["Degraded", "Stalled"] {
        assert_eq!(condition(&status, type_).0, "False", "{type_}");
    }
}

#[tokio::test]
async fn a_quota_that_refuses_the_training_job_starts_nothing_until_it_allows() {
    let api = FakeApi::new();
    api.put(&model_yaml(true));
    let refusal = "jobs.batch \"income-train-initial\" is forbidden: exceeded quota: batch, \
        requested: count/jobs.batch=1, used: count/jobs.batch=10, limited: count/jobs.batch=10";
    api.inject(Some("PATCH"), "/jobs/", 403, "Forbidden", refusal, None);
    let ctx = api.context(at(17, 0));
    let (_, writes) = reconcile_with(&api, &ctx).await;
    let status = status_of(&api);
    assert_eq!(
        status["lastTraining"],
        Value::Null,
        "the training did not start"
    );
    assert_eq!(
        condition_of(&status, "Degraded"),
        (
            "True".into(),
            "QuotaExceeded".into(),
            format!("the API server refused Job income-train-initial (HTTP 403): {refusal}")
        )
    );
    assert_eq!(condition(&status, "Stalled").0, "False", "a quota frees up");
    assert_eq!(event_reasons(&writes), vec!["MonitoredModel:QuotaExceeded"]);
    let (_, writes) = reconcile_with(&api, &ctx).await;
    assert_eq!(
        status_lines(&writes),
        Vec::<String>::new(),
        "no write storm"
    );

    api.heal();
    let (_, writes) = reconcile_with(&api, &ctx).await;
    assert_eq!(
        event_reasons(&writes),
        vec!["MonitoredModel:TrainingStarted"]
    );
    assert!(api.get::<Value>(JOBS, "income-train-initial").is_some());
}

#[tokio::test]
async fn a_forbidden_check_cronjob_keeps_the_policy_from_ready() {
    let api = FakeApi::new();
    serving_model(&api);
    api.put(&policy_yaml(""));
    let refusal = "cronjobs.batch \"income-drift-check\" is forbidden: User \
        \"system:serviceaccount:vigil-system:vigil\" cannot patch resource \"cronjobs\" in API \
        group \"batch\" in the namespace \"ml\"";
    api.inject(
        Some("PATCH"),
        "/cronjobs/income-drift-check",
        403,
        "Forbidden",
        refusal,
        None,
    );
    let writes = reconcile_policy(&api, at(17, 0)).await;
    let status = policy_status_of(&api);
    let message =
        format!("the API server refused CronJob income-drift-check (HTTP 403): {refusal}");
    assert_eq!(
        condition_of(&status, "Degraded"),
        ("True".into(), "Forbidden".into(), message.clone())
    );
    assert_eq!(
        condition(&status, "Ready"),
        ("False".into(), "Forbidden".into())
    );
    assert_eq!(event_notes(&writes), vec![("Forbidden".into(), message)]);
    let writes = reconcile_policy(&api, at(17, 1)).await;
    assert_eq!(
        status_lines(&writes),
        Vec::<String>::new(),
        "no write storm"
    );
}

#[tokio::test]
async fn a_training_pod_that_cannot_start_says_why() {
    let unschedulable = |message: &str| {
        json!([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": message}])
    };
    let waiting =
        |reason: &str, message: &str| json!({"waiting": {"reason": reason, "message": message}});
    let cases = [
        (
            waiting("ImagePullBackOff", "Back-off pulling image \"ghcr.io/acme/vigil:0.1\""),
            json!([]),
            "ImagePullFailed",
            "ImagePullBackOff for ghcr.io/acme/vigil:0.1: Back-off pulling image \"ghcr.io/acme/vigil:0.1\"",
        ),
        (
            waiting("ErrImagePull", "failed to pull and unpack image \"ghcr.io/acme/vigil:0.1\": not found"),
            json!([]),
            "ImagePullFailed",
            "ErrImagePull for ghcr.io/acme/vigil:0.1: failed to pull and unpack image \"ghcr.io/acme/vigil:0.1\": not found",
        ),
        (
            waiting("CreateContainerConfigError", "secret \"s3-credentials\" not found"),
            json!([]),
            "ContainerConfigError",
            "CreateContainerConfigError in container train: secret \"s3-credentials\" not found",
        ),
        (
            Value::Null,
            unschedulable("0/3 nodes are available: 3 Insufficient memory."),
            "Unschedulable",
            "Unschedulable: 0/3 nodes are available: 3 Insufficient memory.",
        ),
        (
            Value::Null,
            unschedulable("0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims."),
            "VolumeNotBound",
            "Unschedulable: 0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims.",
        ),
    ];
    for (state, conditions, reason, detail) in cases {
        let api = FakeApi::new();
        api.put(&model_yaml(true));
        reconcile_model(&api, at(17, 0)).await;
        put_job_pod(&api, "income-train-initial", state, conditions);
        let writes = reconcile_model(&api, at(17, 2)).await;
        let message = format!("training Pod income-train-initial-x7k2p: {detail}");
        let status = status_of(&api);
        assert_eq!(
            condition_of(&status, "Degraded"),
            ("True".into(), reason.into(), message.clone()),
            "{reason}"
        );
        assert_eq!(
            condition(&status, "Reconciling"),
            ("True".into(), "Training".into()),
            "{reason}: the Job still runs"
        );
        assert_eq!(
            event_notes(&writes),
            vec![(reason.to_string(), message)],
            "{reason}"
        );
        assert_eq!(
            lines(&reconcile_model(&api, at(17, 3)).await),
            Vec::<String>::new(),
            "{reason}: no write storm"
        );
    }
}

fn fail_job(api: &FakeApi, job: &str, reason: &str, message: &str) {
    api.edit(JOBS, job, |j| {
        j["status"] = json!({"conditions": [{"type": "Failed", "status": "True",
            "reason": reason, "message": message}]});
    });
}

#[tokio::test]
async fn a_training_stopped_by_kubernetes_fails_with_the_reason() {
    let terminated = |state: Value| json!({"terminated": state});
    let cases = [
        (
            "DeadlineExceeded",
            json!({"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}),
            "DeadlineExceeded",
            "training Job income-train-initial ran longer than its activeDeadlineSeconds (7200 s): \
             Job was active longer than specified deadline; training Pod income-train-initial-x7k2p: \
             ImagePullBackOff for ghcr.io/acme/vigil:0.1: Back-off pulling image",
        ),
        (
            "BackoffLimitExceeded",
            terminated(json!({"exitCode": 137, "reason": "OOMKilled"})),
            "OOMKilled",
            "training Pod income-train-initial-x7k2p: container train was OOMKilled (exit code 137, \
             memory limit 512Mi): raise the memory limit",
        ),
        (
            "BackoffLimitExceeded",
            terminated(json!({"exitCode": 2, "reason": "Error",
                              "message": "error: unexpected argument '--x' found"})),
            "ContainerFailed",
            "training Pod income-train-initial-x7k2p: container train exited with code 2: error: \
             unexpected argument '--x' found",
        ),
    ];
    for (job_reason, state, reason, detail) in cases {
        let api = FakeApi::new();
        api.put(&model_yaml(true));
        reconcile_model(&api, at(17, 0)).await;
        put_job_pod(&api, "income-train-initial", state, json!([]));
        fail_job(
            &api,
            "income-train-initial",
            job_reason,
            "Job was active longer than specified deadline",
        );
        let writes = reconcile_model(&api, at(17, 10)).await;
        assert_eq!(
            event_notes(&writes),
            vec![(
                "TrainingFailed".to_string(),
                format!("Job income-train-initial: {reason}: {detail}")
            )],
            "{reason}"
        );
        let status = status_of(&api);
        assert_eq!(status["lastTraining"]["reason"], reason);
        let (value, got, message) = condition_of(&status, "Degraded");
        assert_eq!((value.as_str(), got.as_str()), ("True", reason));
        assert!(
            message.starts_with(&format!(
                "training Job income-train-initial failed: {reason}: {detail}; retrying at 2026-11-28T17:15:00Z"
            )),
            "{message}"
        );
        assert_eq!(
            lines(&reconcile_model(&api, at(17, 11)).await),
            Vec::<String>::new(),
            "{reason}: no write storm"
        );
    }
}

#[tokio::test]
async fn a_check_pod_that_cannot_start_or_a_check_past_its_deadline_is_degraded() {
    let api = FakeApi::new();
    serving_model(&api);
    api.put(&policy_yaml(""));
    reconcile_policy(&api, at(17, 0)).await;
    let cronjob: Value = api.get(CRONJOBS, "income-drift-check").expect("cronjob");
    assert_eq!(
        cronjob["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"], 1800,
        "checks have a default deadline"
    );
    put_drift_job(&api, "income-drift-29400000", "2026-11-28T18:00:00Z");
    put_job_pod(
        &api,
        "income-drift-29400000",
        json!({"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}),
        json!([]),
    );
    let writes = reconcile_policy(&api, at(18, 1)).await;
    let message = "check Pod income-drift-29400000-x7k2p: ImagePullBackOff for \
        ghcr.io/acme/vigil:0.1: Back-off pulling image";
    let status = policy_status_of(&api);
    assert_eq!(
        condition_of(&status, "Degraded"),
        ("True".into(), "ImagePullFailed".into(), message.to_string())
    );
    assert_eq!(
        condition(&status, "Reconciling"),
        ("True".into(), "Checking".into())
    );
    assert_eq!(
        event_notes(&writes),
        vec![("ImagePullFailed".into(), message.into())]
    );
    assert_eq!(
        lines(&reconcile_policy(&api, at(18, 2)).await),
        Vec::<String>::new()
    );

    fail_job(
        &api,
        "income-drift-29400000",
        "DeadlineExceeded",
        "Job was active longer than specified deadline",
    );
    let writes = reconcile_policy(&api, at(18, 31)).await;
    assert_eq!(event_reasons(&writes), vec!["DriftPolicy:DriftCheckFailed"]);
    let status = policy_status_of(&api);
    assert_eq!(status["lastCheck"]["verdict"], "Failed");
    assert_eq!(status["lastCheck"]["reason"], "DeadlineExceeded");
    assert_eq!(
        condition(&status, "Ready"),
        ("False".into(), "CheckFailed".into())
    );
    let (value, reason, message) = condition_of(&status, "Degraded");
    assert_eq!(
        (value.as_str(), reason.as_str()),
        ("True", "DeadlineExceeded")
    );
    assert!(
        message.starts_with("check Job income-drift-29400000 failed: DeadlineExceeded: check Job income-drift-29400000 ran longer than its activeDeadlineSeconds"),
        "{message}"
    );
    assert_eq!(
        lines(&reconcile_policy(&api, at(18, 32)).await),
        Vec::<String>::new()
    );
}

/// A model that serves `V1` (rolled out), the way the operator gets there.
async fn serving_v1(api: &FakeApi) {
    api.put(&model_yaml(true));
    reconcile_model(api, at(17, 0)).await;
    finish_job(api, "income-train-initial", true, &trained(V1, 0.90, None));
    reconcile_model(api, at(17, 30)).await;
    roll_out(api);
    reconcile_model(api, at(17, 31)).await;
    assert_eq!(status_of(api)["servingVersion"], V1);
}

fn stall_rollout(api: &FakeApi) {
    api.edit(DEPLOYMENTS, "income-inference", |d| {
        let generation = d["metadata"]["generation"].clone();
        d["status"] = json!({"observedGeneration": generation, "replicas": 2,
            "updatedReplicas": 1, "availableReplicas": 1, "conditions": [{
                "type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                "message": "ReplicaSet \"income-inference-5d8\" has timed out progressing."}]});
    });
}

fn history(api: &FakeApi) -> Vec<(String, String)> {
    status_of(api)["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| {
            (
                h["version"].as_str().unwrap_or_default().to_string(),
                h["action"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_version_that_does_not_roll_out_is_rolled_back_and_so_is_a_bad_pin() {
    let api = FakeApi::new();
    serving_v1(&api).await;
    api.edit(MODELS, "income", |m| {
        m["metadata"]["annotations"] = json!({"vigil.dev/train-request": "1"});
    });
    let writes = reconcile_model(&api, at(18, 0)).await;
    let job = writes
        .iter()
        .find(|w| w.path.starts_with(JOBS))
        .map(|w| w.path.trim_start_matches(&format!("{JOBS}/")).to_string())
        .expect("a manual training Job");
    finish_job(&api, &job, true, &trained(V2, 0.92, Some((V1, 0.90))));
    reconcile_model(&api, at(18, 30)).await;
    assert_eq!(deployment_version(&api), V2);
    let status = status_of(&api);
    assert_eq!(
        (
            status["servingVersion"].as_str(),
            status["desiredVersion"].as_str()
        ),
        (Some(V1), Some(V2))
    );

    // V2's Pods never become ready (a model that does not load): the Deployment gives up.
    api.put(&json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "income-inference-5d8-abcde", "namespace": NS,
            "creationTimestamp": "2026-11-28T18:31:00Z",
            "labels": {"app.kubernetes.io/name": "vigil", "app.kubernetes.io/instance": "income",
                       "app.kubernetes.io/component": "inference",
                       "app.kubernetes.io/managed-by": "vigil-operator", "vigil.dev/version": V2}},
        "status": {"containerStatuses": [{"name": "inference", "image": "vigil:test", "imageID": "",
            "ready": false, "restartCount": 5,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 2m40s"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}
    }));
    stall_rollout(&api);
    let writes = reconcile_model(&api, at(18, 45)).await;
    assert_eq!(deployment_version(&api), V1, "rolled back");
    assert_eq!(
        event_reasons(&writes),
        vec!["MonitoredModel:RolloutFailed", "MonitoredModel:RolledBack"]
    );
    let tail: Vec<(String, String)> = history(&api).split_off(history(&api).len() - 2);
    assert_eq!(
        tail,
        vec![
            (V2.to_string(), "RolloutFailed".to_string()),
            (V1.to_string(), "RolledBack".to_string())
        ]
    );
    let status = status_of(&api);
    let failure = status["failedRollout"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        failure,
        "ReplicaSet \"income-inference-5d8\" has timed out progressing.; inference Pod \
         income-inference-5d8-abcde: CrashLoopBackOff: container inference restarted 5 times, \
         last exit code 1"
    );
    assert_eq!(
        condition_of(&status, "Degraded"),
        (
            "True".into(),
            "RolloutFailed".into(),
            format!("version {V2} did not become ready: {failure}; serving {V1}")
        )
    );
    assert_eq!(condition(&status, "Stalled").0, "False");

    // Back on V1: ready again; the failure stays recorded and is not announced twice.
    roll_out(&api);
    let writes = reconcile_model(&api, at(18, 46)).await;
    assert!(
        event_reasons(&writes).is_empty(),
        "{:?}",
        event_reasons(&writes)
    );
    assert_eq!(
        condition(&status_of(&api), "Ready"),
        ("True".into(), "Serving".into())
    );
    assert_eq!(
        lines(&reconcile_model(&api, at(18, 47)).await),
        Vec::<String>::new()
    );

    // Pinning a version that does not load ends the same way, with the version named.
    let bad = "20261128-160000-000000";
    api.edit(MODELS, "income", |m| {
        m["spec"]["serving"] = json!({"pinnedVersion": bad});
        m["metadata"]["generation"] = json!(2);
    });
    reconcile_model(&api, at(19, 0)).await;
    assert_eq!(deployment_version(&api), bad);
    stall_rollout(&api);
    let writes = reconcile_model(&api, at(19, 15)).await;
    assert_eq!(deployment_version(&api), V1);
    assert_eq!(
        event_reasons(&writes),
        vec!["MonitoredModel:RolloutFailed", "MonitoredModel:RolledBack"]
    );
    let status = status_of(&api);
    let (value, reason, message) = condition_of(&status, "Stalled");
    assert_eq!(
        (value.as_str(), reason.as_str()),
        ("True", "PinnedVersionFailed")
    );
    assert!(
        message.starts_with(&format!(
            "spec.serving.pinnedVersion {bad} did not become ready"
        )) && message.ends_with(&format!("serving {V1}: change or clear the pin")),
        "{message}"
    );
    assert_eq!(condition(&status, "Degraded").1, "PinnedVersionFailed");
}

#[tokio::test]
async fn a_retrain_survives_a_lost_status_write_once_and_is_not_doubled() {
    let api = FakeApi::new();
    serving_model(&api);
    api.put(&policy_yaml(
        "  actions: {retrain: {minVerdict: Critical, cooldown: 12h}}",
    ));
    reconcile_policy(&api, at(17, 0)).await;
    put_drift_job(&api, "income-drift-29400000", "2026-11-28T18:00:00Z");
    finish_job(
        &api,
        "income-drift-29400000",
        true,
        &drift_result("Critical", "2026-11-28T18:00:30Z"),
    );
    // The status write of the pass that starts the retrain conflicts (someone
    // else wrote the policy in between).
    api.inject(Some("PATCH"), "/driftpolicies/income-drift/status", 409, "Conflict",
        "Operation cannot be fulfilled on driftpolicies.vigil.dev \"income-drift\": the object has been modified", Some(1));
    let policy: DriftPolicy = api.get(POLICIES, "income-drift").expect("policy");
    let action = drift_policy::reconcile(Arc::new(policy), api.context(at(18, 1)))
        .await
        .expect("a conflict is not a failure");
    assert_eq!(format!("{action:?}"), "Action { requeue_after: Some(1s) }");
    let writes = api.take_writes();
    assert!(
        lines(&writes).contains(&format!("PATCH {JOBS}/income-train-drift-29400000")),
        "{:?}",
        lines(&writes)
    );
    assert!(
        event_reasons(&writes).is_empty(),
        "nothing announced before it is recorded"
    );

    // The retry finds the Job named after the check: records it, creates nothing.
    let writes = reconcile_policy(&api, at(18, 2)).await;
    assert!(
        !lines(&writes)
            .iter()
            .any(|l| l.starts_with(&format!("PATCH {JOBS}"))),
        "{:?}",
        lines(&writes)
    );
    assert_eq!(
        event_reasons(&writes),
        vec![
            "DriftPolicy:DriftDetected",
            "DriftPolicy:RetrainTriggered",
            "MonitoredModel:DriftDetected",
            "MonitoredModel:RetrainTriggered"
        ]
    );
    let job: Value = api
        .get(JOBS, "income-train-drift-29400000")
        .expect("the Job");
    let status = policy_status_of(&api);
    assert_eq!(
        status["lastRetrainTriggered"], job["metadata"]["creationTimestamp"],
        "the cooldown counts from the Job's creation"
    );
    assert_eq!(status["lastCheck"]["retrain"], "retraining started");
    assert!(lines(&reconcile_policy(&api, at(18, 3)).await).is_empty());
    assert_eq!(
        api.names(JOBS)
            .iter()
            .filter(|n| n.contains("train"))
            .count(),
        1
    );
}

#[tokio::test]
async fn a_training_start_survives_a_lost_status_write_with_one_event() {
    let api = FakeApi::new();
    api.put(&model_yaml(true));
    api.inject(
        Some("PATCH"),
        "/monitoredmodels/income/status",
        409,
        "Conflict",
        "the object has been modified",
        Some(1),
    );
    let model: MonitoredModel = api.get(MODELS, "income").expect("model");
    let action = monitored_model::reconcile(Arc::new(model), api.context(at(17, 0)))
        .await
        .expect("a conflict is not a failure");
    assert_eq!(format!("{action:?}"), "Action { requeue_after: Some(1s) }");
    assert!(event_reasons(&api.take_writes()).is_empty());
    let writes = reconcile_model(&api, at(17, 0)).await;
    assert_eq!(
        event_reasons(&writes),
        vec!["MonitoredModel:TrainingStarted"]
    );
    assert_eq!(
        status_of(&api)["lastTraining"]["job"],
        "income-train-initial"
    );
    assert!(
        !lines(&writes)
            .iter()
            .any(|l| l.starts_with(&format!("PATCH {JOBS}"))),
        "the running Job is not applied again: {:?}",
        lines(&writes)
    );
    assert!(lines(&reconcile_model(&api, at(17, 1)).await).is_empty());
}
