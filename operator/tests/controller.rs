//! The controllers against a fake API server (tests/common): every request they
//! make is recorded; each test asserts the writes of one reconcile.

#![allow(clippy::panic)]

mod common;

use std::sync::Arc;

use common::scenario::*;
use common::{at, finish_job, model_yaml, trained, FakeApi, JOBS, NS};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::core::DeserializeGuard;
use serde_json::{json, Value};
use vigil_core::train::report::TrainSummary;
use vigil_operator::controller::{self, monitored_model};
use vigil_operator::crd::{DriftPolicy, HistoryAction, MonitoredModel};
use vigil_operator::metrics::Metrics;

#[tokio::test]
async fn model_lifecycle_create_idempotent_promote_reject_rollback() {
    let api = FakeApi::new();
    api.put(&model_yaml(true));

    // First reconcile: Service, training CronJob, the initial training Job, an Event, status.
    let writes = reconcile_model(&api, at(17, 0)).await;
    assert_eq!(
        lines(&writes),
        vec![
            format!("PATCH {SERVICES}/income-inference"),
            format!("PATCH {CRONJOBS}/income-train"),
            format!("PATCH {JOBS}/income-train-initial"),
            format!("PATCH {MODELS}/income/status"),
            format!("POST {EVENTS}"),
        ]
    );
    for apply in writes.iter().filter(|w| w.method == "PATCH") {
        assert!(
            apply.query.contains("fieldManager=vigil.dev%2Foperator")
                && apply.query.contains("force=true"),
            "server-side apply with our field manager: {}",
            apply.query
        );
    }
    assert_eq!(
        event_reasons(&writes),
        vec!["MonitoredModel:TrainingStarted"]
    );
    let status = status_of(&api);
    assert_eq!(status["lastTraining"]["job"], "income-train-initial");
    assert_eq!(status["lastTraining"]["trigger"], "Initial");
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(
        condition(&status, "Training"),
        ("True".into(), "Running".into())
    );
    assert_eq!(
        condition(&status, "Ready"),
        ("False".into(), "NoModel".into())
    );
    let job: Job = api.get(JOBS, "income-train-initial").expect("job");
    assert_eq!(
        job.metadata.owner_references.expect("owner")[0].kind,
        "MonitoredModel"
    );

    // Nothing changed: nothing is written.
    assert_eq!(
        lines(&reconcile_model(&api, at(17, 5)).await),
        Vec::<String>::new()
    );

    // The training Job succeeds: promotion, the Deployment serves v1.
    finish_job(&api, "income-train-initial", true, &trained(V1, 0.90, None));
    let writes = reconcile_model(&api, at(17, 30)).await;
    assert_eq!(
        event_reasons(&writes),
        vec![
            "MonitoredModel:TrainingSucceeded",
            "MonitoredModel:ModelPromoted"
        ]
    );
    assert!(lines(&writes).contains(&format!("PATCH {DEPLOYMENTS}/income-inference")));
    assert_eq!(served_version_of(&api), V1);
    // Observed, not desired: nothing serves v1 until the Deployment says so.
    let status = status_of(&api);
    assert_eq!(status["desiredVersion"], V1);
    assert_eq!(status["servingVersion"], Value::Null);
    assert_eq!(status["history"][0]["action"], "Promoted");
    assert_eq!(
        condition(&status, "ModelAvailable"),
        ("False".into(), "RollingOut".into())
    );
    assert_eq!(
        condition(&status, "Ready"),
        ("False".into(), "RollingOut".into())
    );
    assert_eq!(
        condition(&status, "Reconciling"),
        ("True".into(), "RollingOut".into())
    );
    assert_eq!(
        lines(&reconcile_model(&api, at(17, 31)).await),
        Vec::<String>::new()
    );

    // The Deployment becomes available: v1 serves, so scheduled trainings
    // compare with it from now on.
    api.edit(DEPLOYMENTS, "income-inference", |d| {
        d["status"] = json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1});
    });
    let writes = reconcile_model(&api, at(17, 32)).await;
    assert_eq!(
        lines(&writes),
        vec![
            format!("PATCH {CRONJOBS}/income-train"),
            format!("PATCH {MODELS}/income/status")
        ]
    );
    let status = status_of(&api);
    assert_eq!(status["servingVersion"], V1);
    assert_eq!(
        condition(&status, "Ready"),
        ("True".into(), "Serving".into())
    );
    assert_eq!(
        condition(&status, "ModelAvailable"),
        ("True".into(), "Serving".into())
    );
    for (type_, reason) in [
        ("Reconciling", "Reconciled"),
        ("Stalled", "AsExpected"),
        ("Degraded", "AsExpected"),
    ] {
        assert_eq!(
            condition(&status, type_),
            ("False".into(), reason.into()),
            "{type_}"
        );
    }
    for c in status["conditions"].as_array().expect("conditions") {
        assert_eq!(c["observedGeneration"], 1, "{c}");
    }

    // A manual training request; the candidate regresses: rejected, v1 stays.
    api.edit(MODELS, "income", |m| {
        m["metadata"]["annotations"] = json!({"vigil.dev/train-request": "2026-11-28 retry"});
    });
    let writes = reconcile_model(&api, at(18, 0)).await;
    let manual_job = writes
        .iter()
        .find(|w| w.path.starts_with(JOBS))
        .map(|w| w.path.trim_start_matches(&format!("{JOBS}/")).to_string())
        .expect("a manual training Job");
    assert!(
        manual_job.starts_with("income-train-manual-"),
        "{manual_job}"
    );
    assert_eq!(status_of(&api)["lastTraining"]["trigger"], "Manual");
    assert_eq!(
        lines(&reconcile_model(&api, at(18, 1)).await),
        Vec::<String>::new(),
        "one Job per request"
    );
    finish_job(
        &api,
        &manual_job,
        true,
        &trained(V2, 0.87, Some((V1, 0.90))),
    );
    let writes = reconcile_model(&api, at(18, 30)).await;
    assert_eq!(
        event_reasons(&writes),
        vec![
            "MonitoredModel:TrainingSucceeded",
            "MonitoredModel:PromotionRejected"
        ]
    );
    let rejection = writes
        .iter()
        .find(|w| {
            w.body
                .as_ref()
                .is_some_and(|b| b["reason"] == "PromotionRejected")
        })
        .and_then(|w| w.body.as_ref())
        .expect("event");
    assert_eq!(
        rejection["note"],
        format!(
            "{V2}: maxRegression: rocAuc 0.8700 vs served {V1} 0.9000: regression +0.0300 > 0.0100"
        )
    );
    assert!(
        !lines(&writes).iter().any(|l| l.contains("deployments")),
        "v1 keeps serving"
    );
    let status = status_of(&api);
    assert_eq!(status["latestCandidate"]["version"], V2);
    assert_eq!(status["latestCandidate"]["passed"], false);
    assert_eq!(status["history"][1]["action"], "Rejected");

    // A better candidate is promoted, then a pin rolls back to v1 and clearing it returns to v3.
    api.edit(MODELS, "income", |m| {
        m["metadata"]["annotations"] = json!({"vigil.dev/train-request": "again"});
    });
    let writes = reconcile_model(&api, at(19, 0)).await;
    let job3 = writes
        .iter()
        .find(|w| w.path.starts_with(JOBS))
        .map(|w| w.path.trim_start_matches(&format!("{JOBS}/")).to_string())
        .expect("job");
    finish_job(&api, &job3, true, &trained(V3, 0.91, Some((V1, 0.90))));
    reconcile_model(&api, at(19, 30)).await;
    assert_eq!(served_version_of(&api), V3);

    api.edit(MODELS, "income", |m| {
        m["spec"]["serving"] = json!({"pinnedVersion": V1});
        m["metadata"]["generation"] = json!(2);
    });
    let writes = reconcile_model(&api, at(20, 0)).await;
    assert_eq!(event_reasons(&writes), vec!["MonitoredModel:RolledBack"]);
    assert_eq!(served_version_of(&api), V1);
    let status = status_of(&api);
    assert_eq!(status["observedGeneration"], 2);
    let last = status["history"]
        .as_array()
        .expect("history")
        .last()
        .cloned()
        .expect("entry");
    assert_eq!(
        (last["version"].as_str(), last["action"].as_str()),
        (Some(V1), Some("RolledBack"))
    );

    api.edit(MODELS, "income", |m| {
        m["spec"]["serving"] = json!({});
        m["metadata"]["generation"] = json!(3);
    });
    let writes = reconcile_model(&api, at(20, 30)).await;
    assert_eq!(event_reasons(&writes), vec!["MonitoredModel:Unpinned"]);
    assert_eq!(served_version_of(&api), V3);
    let actions: Vec<HistoryAction> = serde_json::from_value::<MonitoredModel>(
        serde_json::to_value(api.get::<MonitoredModel>(MODELS, "income").expect("m")).expect("v"),
    )
    .expect("m")
    .status
    .expect("status")
    .history
    .iter()
    .map(|h| h.action)
    .collect();
    assert_eq!(
        actions,
        vec![
            HistoryAction::Promoted,
            HistoryAction::Rejected,
            HistoryAction::Promoted,
            HistoryAction::RolledBack,
            HistoryAction::Unpinned
        ]
    );
}

#[tokio::test]
async fn manual_promotion_waits_for_the_approve_annotation() {
    let api = FakeApi::new();
    api.put(&model_yaml(false));
    reconcile_model(&api, at(17, 0)).await;
    finish_job(&api, "income-train-initial", true, &trained(V1, 0.90, None));
    let writes = reconcile_model(&api, at(17, 30)).await;
    assert_eq!(
        event_reasons(&writes),
        vec![
            "MonitoredModel:TrainingSucceeded",
            "MonitoredModel:AwaitingApproval"
        ]
    );
    assert!(api
        .get::<Deployment>(DEPLOYMENTS, "income-inference")
        .is_none());
    api.edit(MODELS, "income", |m| {
        m["metadata"]["annotations"] = json!({"vigil.dev/approve": V1});
    });
    let writes = reconcile_model(&api, at(18, 0)).await;
    assert_eq!(event_reasons(&writes), vec!["MonitoredModel:ModelPromoted"]);
    assert_eq!(served_version_of(&api), V1);
    assert_eq!(
        lines(&reconcile_model(&api, at(18, 1)).await),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn failed_training_is_recorded_as_degraded() {
    let api = FakeApi::new();
    api.put(&model_yaml(true));
    reconcile_model(&api, at(17, 0)).await;
    let failure = serde_json::to_string(&TrainSummary::Failed {
        reason: "DataUnavailable".into(),
        message: "cannot read s3://data/adult.csv: 403 Forbidden".into(),
    })
    .expect("json");
    finish_job(&api, "income-train-initial", false, &failure);
    let writes = reconcile_model(&api, at(17, 10)).await;
    assert_eq!(
        event_reasons(&writes),
        vec!["MonitoredModel:TrainingFailed"]
    );
    let status = status_of(&api);
    assert_eq!(status["lastTraining"]["outcome"], "Failed");
    assert_eq!(
        condition(&status, "Degraded"),
        ("True".into(), "TrainingFailed".into())
    );
    assert_eq!(
        condition(&status, "Ready"),
        ("False".into(), "NoModel".into())
    );
    let message = status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Degraded"))
        .and_then(|c| c["message"].as_str())
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        message,
        "training Job income-train-initial failed: DataUnavailable: cannot read \
         s3://data/adult.csv: 403 Forbidden; retrying at 2026-11-28T17:15:00Z (or annotate \
         vigil.dev/train-request)"
    );
    // No crash loop: nothing until the backoff has passed…
    assert_eq!(
        lines(&reconcile_model(&api, at(17, 12)).await),
        Vec::<String>::new()
    );
    // …then the second attempt, and a longer wait after it fails too.
    let writes = reconcile_model(&api, at(17, 16)).await;
    assert_eq!(
        lines(&writes),
        vec![
            format!("PATCH {JOBS}/income-train-initial-2"),
            format!("PATCH {MODELS}/income/status"),
            format!("POST {EVENTS}"),
        ]
    );
    let status = status_of(&api);
    assert_eq!(status["lastTraining"]["attempt"], 2);
    assert_eq!(
        condition(&status, "Reconciling"),
        ("True".into(), "Training".into())
    );
    finish_job(&api, "income-train-initial-2", false, &failure);
    reconcile_model(&api, at(17, 20)).await;
    assert!(lines(&reconcile_model(&api, at(17, 29)).await).is_empty());
    let writes = reconcile_model(&api, at(17, 31)).await;
    assert!(
        lines(&writes).contains(&format!("PATCH {JOBS}/income-train-initial-3")),
        "{:?}",
        lines(&writes)
    );
}

#[tokio::test]
async fn invalid_spec_is_a_condition_and_an_event_and_waits() {
    let api = FakeApi::new();
    let mut model = model_yaml(true);
    model.spec.training.holdout.fraction = 1.5;
    api.put(&model);
    let ctx = api.context(at(17, 0));
    let stored: MonitoredModel = api.get(MODELS, "income").expect("model");
    let action = monitored_model::reconcile(Arc::new(stored), ctx)
        .await
        .expect("reconcile");
    assert_eq!(
        format!("{action:?}"),
        format!("{:?}", kube::runtime::controller::Action::await_change())
    );
    let writes = api.take_writes();
    assert_eq!(
        lines(&writes),
        vec![
            format!("PATCH {MODELS}/income/status"),
            format!("POST {EVENTS}")
        ]
    );
    assert_eq!(event_reasons(&writes), vec!["MonitoredModel:InvalidSpec"]);
    let status = status_of(&api);
    assert_eq!(
        condition(&status, "Ready"),
        ("False".into(), "InvalidSpec".into())
    );
    let message = status["conditions"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("training.holdout.fraction"), "{message}");
    assert_eq!(
        lines(&reconcile_model(&api, at(17, 1)).await),
        Vec::<String>::new(),
        "no Event storm"
    );
}

#[tokio::test]
async fn a_malformed_object_is_reported_not_retried() {
    let api = FakeApi::new();
    let raw = json!({"apiVersion": "vigil.dev/v1alpha1", "kind": "MonitoredModel",
        "metadata": {"name": "broken", "namespace": NS, "uid": "u1"},
        "spec": {"schema": 5}});
    let guard: DeserializeGuard<MonitoredModel> = serde_json::from_value(raw).expect("guard");
    assert!(guard.0.is_err());
    let action = controller::reconcile_model(Arc::new(guard), api.context(at(17, 0)))
        .await
        .expect("no error: nothing to retry");
    assert_eq!(
        format!("{action:?}"),
        format!("{:?}", kube::runtime::controller::Action::await_change())
    );
    let writes = api.take_writes();
    assert_eq!(event_reasons(&writes), vec!["MonitoredModel:InvalidObject"]);
}

#[tokio::test]
async fn api_errors_back_off_exponentially() {
    let api = FakeApi::new();
    api.put(&model_yaml(true));
    // Reads come from the stores; the first write is where the API server fails.
    api.fail("/services", 500);
    let ctx = api.context(at(17, 0));
    let model: MonitoredModel = api.get(MODELS, "income").expect("model");
    let error = monitored_model::reconcile(Arc::new(model.clone()), ctx.clone())
        .await
        .expect_err("the API server fails");
    assert_eq!(error.metric_label(), "api_error");
    assert_eq!(
        lines(&api.take_writes()),
        vec![format!("PATCH {SERVICES}/income-inference")],
        "nothing written after the failed apply: no Job, no status"
    );
    let guard = Arc::new(DeserializeGuard(Ok(model)));
    let delays: Vec<String> = (0..3)
        .map(|_| {
            format!(
                "{:?}",
                controller::error_policy(guard.clone(), &error, ctx.clone())
            )
        })
        .collect();
    assert_eq!(
        delays,
        ["5s", "10s", "20s"].map(|d| format!("Action {{ requeue_after: Some({d}) }}"))
    );
    let text = ctx.metrics.render();
    assert!(
        text.contains(r#"vigil_operator_reconcile_failures_total{controller="MonitoredModel",reason="api_error"} 3"#),
        "{text}"
    );
}

#[tokio::test]
async fn drift_triggers_a_retrain_once_per_cooldown() {
    let api = FakeApi::new();
    serving_model(&api);
    api.put(&policy_yaml(
        "  actions: {retrain: {minVerdict: Critical, cooldown: 12h}}",
    ));

    // The check CronJob, owned by the policy, checks the served version.
    let writes = reconcile_policy(&api, at(17, 0)).await;
    assert_eq!(
        lines(&writes),
        vec![
            format!("PATCH {CRONJOBS}/income-drift-check"),
            format!("PATCH {POLICIES}/income-drift/status")
        ]
    );
    let cronjob: CronJob = api.get(CRONJOBS, "income-drift-check").expect("cronjob");
    assert_eq!(
        cronjob.metadata.owner_references.expect("owner")[0].kind,
        "DriftPolicy"
    );
    let spec = cronjob.spec.expect("spec");
    assert_eq!(spec.schedule, "0 */6 * * *");
    let pod = spec
        .job_template
        .spec
        .expect("job")
        .template
        .spec
        .expect("pod");
    let config: Value = serde_json::from_str(
        pod.containers[0].env.as_ref().expect("env")[0]
            .value
            .as_deref()
            .expect("json"),
    )
    .expect("config JSON");
    assert_eq!(config["servedVersion"], V1);
    assert_eq!(config["policy"]["window"], "6h");
    assert_eq!(
        lines(&reconcile_policy(&api, at(17, 1)).await),
        Vec::<String>::new()
    );

    // A Critical check: retrain now, recorded on both resources.
    put_drift_job(&api, "income-drift-29400000", "2026-11-28T18:00:00Z");
    finish_job(
        &api,
        "income-drift-29400000",
        true,
        &drift_result("Critical", "2026-11-28T18:00:30Z"),
    );
    let writes = reconcile_policy(&api, at(18, 1)).await;
    assert!(
        lines(&writes).contains(&format!("PATCH {JOBS}/income-train-drift-29400000")),
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
    let policy: DriftPolicy = api.get(POLICIES, "income-drift").expect("policy");
    let status = policy.status.expect("status");
    assert_eq!(
        status.last_retrain_triggered.as_deref(),
        Some("2026-11-28T18:01:00Z")
    );
    let check = status.last_check.expect("check");
    assert_eq!(
        (check.verdict.as_str(), check.retrain.as_deref()),
        ("Critical", Some("retraining started"))
    );
    assert_eq!(check.drifted_features, vec!["age"]);

    // The model controller records the retraining and the verdict.
    reconcile_model(&api, at(18, 2)).await;
    let status = status_of(&api);
    assert_eq!(status["lastTraining"]["trigger"], "Drift");
    assert_eq!(status["drift"]["verdict"], "Critical");
    assert_eq!(status["drift"]["retrain"], "retraining started");
    assert_eq!(
        condition(&status, "Drifted"),
        ("True".into(), "Critical".into())
    );
    finish_job(
        &api,
        "income-train-drift-29400000",
        true,
        &trained(V2, 0.91, Some((V1, 0.90))),
    );
    reconcile_model(&api, at(18, 30)).await;

    // Another Critical check inside the cooldown: no retrain, and why.
    put_drift_job(&api, "income-drift-29400360", "2026-11-29T00:00:00Z");
    finish_job(
        &api,
        "income-drift-29400360",
        true,
        &drift_result("Critical", "2026-11-29T00:00:30Z"),
    );
    let writes = reconcile_policy(&api, at(23, 59)).await;
    assert!(
        !lines(&writes)
            .iter()
            .any(|l| l.starts_with(&format!("PATCH {JOBS}"))),
        "{:?}",
        lines(&writes)
    );
    assert_eq!(
        event_reasons(&writes),
        vec!["DriftPolicy:DriftDetected", "MonitoredModel:DriftDetected"]
    );
    let policy: DriftPolicy = api.get(POLICIES, "income-drift").expect("policy");
    let status = policy.status.expect("status");
    assert_eq!(
        status.last_check.expect("check").retrain.as_deref(),
        Some("retrain skipped: cooldown until 2026-11-29T06:01:00Z")
    );
    assert_eq!(status.history.len(), 2);
    reconcile_model(&api, at(23, 59)).await;
    assert_eq!(
        status_of(&api)["drift"]["retrain"],
        "retrain skipped: cooldown until 2026-11-29T06:01:00Z"
    );

    // A check below the threshold never retrains.
    put_drift_job(&api, "income-drift-29400720", "2026-11-29T06:00:00Z");
    finish_job(
        &api,
        "income-drift-29400720",
        true,
        &drift_result("Warning", "2026-11-29T06:00:30Z"),
    );
    let writes = reconcile_policy(&api, at(23, 59) + chrono::Duration::hours(7)).await;
    assert!(!lines(&writes)
        .iter()
        .any(|l| l.starts_with(&format!("PATCH {JOBS}"))));
    let policy: DriftPolicy = api.get(POLICIES, "income-drift").expect("policy");
    assert_eq!(
        policy
            .status
            .expect("s")
            .last_check
            .expect("c")
            .retrain
            .as_deref(),
        Some("no retrain: drift verdict Warning is below actions.retrain.minVerdict Critical")
    );
}

/// A check's result with `brief` as its model performance.
fn with_performance(verdict: &str, checked_at: &str, brief: Option<Value>) -> String {
    let mut result: Value = serde_json::from_str(&drift_result(verdict, checked_at)).expect("json");
    if let Some(brief) = brief {
        result["modelPerformance"] = brief;
    }
    result.to_string()
}

/// The series of the performance families, in exposition order.
fn performance_series(metrics: &Metrics) -> Vec<String> {
    metrics
        .render()
        .lines()
        .filter(|l| {
            [
                "vigil_estimated_performance",
                "vigil_realized_performance",
                "vigil_label_coverage",
                "vigil_concept_drift",
            ]
            .iter()
            .any(|f| l.starts_with(f))
        })
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn an_estimated_drop_lands_in_status_and_metrics_and_retrains_once_per_cooldown() {
    let api = FakeApi::new();
    serving_model(&api);
    api.put(&policy_yaml(
        "  actions: {retrain: {minVerdict: Critical, cooldown: 12h}}\n  performance: {retrainOnEstimatedDrop: true}",
    ));
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    reconcile_policy_into(&api, at(17, 0), &metrics).await;

    // No drift, but the estimated rocAuc left its band and realized departs from it.
    let brief = json!({
        "estimated": [
            {"metric": "rocAuc", "value": 0.71, "lower": 0.8, "upper": 0.95, "alert": true},
            {"metric": "accuracy", "value": 0.8, "lower": 0.78, "upper": 0.9}
        ],
        "realized": [
            {"metric": "rocAuc", "value": 0.62, "lower": 0.58, "upper": 0.66},
            {"metric": "accuracy", "value": 0.74, "lower": 0.71, "upper": 0.77}
        ],
        "labelCoverage": 0.4, "labelled": 2000, "estimatedDrop": true, "conceptDrift": true
    });
    put_drift_job(&api, "income-drift-29400000", "2026-11-28T18:00:00Z");
    finish_job(
        &api,
        "income-drift-29400000",
        true,
        &with_performance("None", "2026-11-28T18:00:30Z", Some(brief.clone())),
    );
    let writes = reconcile_policy_into(&api, at(18, 1), &metrics).await;
    assert!(
        lines(&writes).contains(&format!("PATCH {JOBS}/income-train-drift-29400000")),
        "{:?}",
        lines(&writes)
    );
    let drop = "estimated rocAuc 0.71 below 0.8 (policy income-drift)";
    let gap = "realized performance departs from the estimate in two checks in a row: \
               rocAuc realized 0.62, estimated 0.71; accuracy realized 0.74, estimated 0.8 \
               (policy income-drift)";
    let started = "estimated rocAuc 0.71 below 0.8 found by Job income-drift-29400000 \
                   (policy income-drift): training Job income-train-drift-29400000";
    let notes: Vec<(String, String)> = [
        ("EstimatedPerformanceDrop", drop),
        ("ConceptDrift", gap),
        ("RetrainTriggered", started),
    ]
    .map(|(r, n)| (r.to_string(), n.to_string()))
    .to_vec();
    assert_eq!(event_notes(&writes), [notes.clone(), notes].concat());
    assert_eq!(
        event_reasons(&writes),
        [
            "DriftPolicy:EstimatedPerformanceDrop",
            "DriftPolicy:ConceptDrift",
            "DriftPolicy:RetrainTriggered",
            "MonitoredModel:EstimatedPerformanceDrop",
            "MonitoredModel:ConceptDrift",
            "MonitoredModel:RetrainTriggered"
        ]
    );
    let status = policy_status_of(&api);
    assert_eq!(
        status["lastCheck"],
        json!({
            "job": "income-drift-29400000", "verdict": "None",
            "checkedAt": "2026-11-28T18:00:30Z",
            "reportUri": "s3://models/income/reports/drift/x.json",
            "retrain": "retraining started: estimated rocAuc 0.71 below 0.8",
            "modelPerformance": brief
        })
    );
    assert_eq!(status["history"], json!([status["lastCheck"]]));
    assert_eq!(status["lastRetrainTriggered"], "2026-11-28T18:01:00Z");
    let series = |metric: &str| {
        format!(r#"metric="{metric}",model="income",namespace="ml",policy="income-drift""#)
    };
    let (auc, acc) = (series("rocAuc"), series("accuracy"));
    let policy = r#"model="income",namespace="ml",policy="income-drift""#;
    assert_eq!(
        performance_series(&metrics),
        [
            format!("vigil_concept_drift{{{policy}}} 1"),
            format!("vigil_estimated_performance{{{acc}}} 0.8"),
            format!("vigil_estimated_performance{{{auc}}} 0.71"),
            format!("vigil_estimated_performance_alert{{{acc}}} 0"),
            format!("vigil_estimated_performance_alert{{{auc}}} 1"),
            format!("vigil_estimated_performance_lower{{{acc}}} 0.78"),
            format!("vigil_estimated_performance_lower{{{auc}}} 0.8"),
            format!("vigil_estimated_performance_upper{{{acc}}} 0.9"),
            format!("vigil_estimated_performance_upper{{{auc}}} 0.95"),
            format!("vigil_label_coverage{{{policy}}} 0.4"),
            format!("vigil_realized_performance{{{acc}}} 0.74"),
            format!("vigil_realized_performance{{{auc}}} 0.62"),
        ]
    );
    // Recorded once: the next pass writes and announces nothing.
    assert!(lines(&reconcile_policy_into(&api, at(18, 2), &metrics).await).is_empty());

    // The model shows the policy's metric at a glance, beside the verdict.
    reconcile_model(&api, at(18, 3)).await;
    let status = status_of(&api);
    assert_eq!(status["lastTraining"]["trigger"], "Drift");
    assert_eq!(
        status["drift"],
        json!({
            "verdict": "None", "checkedAt": "2026-11-28T18:00:30Z",
            "reportUri": "s3://models/income/reports/drift/x.json",
            "policy": "income-drift",
            "retrain": "retraining started: estimated rocAuc 0.71 below 0.8",
            "modelPerformance": {"metric": "rocAuc", "estimated": 0.71, "realized": 0.62,
                                 "labelCoverage": 0.4, "estimatedDrop": true,
                                 "conceptDrift": true}
        })
    );

    // Still below its band 6 hours later: warned again, but the cooldown holds.
    let mut still = brief.clone();
    still["conceptDrift"] = json!(false);
    put_drift_job(&api, "income-drift-29400360", "2026-11-29T00:00:00Z");
    finish_job(
        &api,
        "income-drift-29400360",
        true,
        &with_performance("None", "2026-11-29T00:00:30Z", Some(still)),
    );
    let writes = reconcile_policy_into(&api, at(23, 59), &metrics).await;
    assert!(
        !lines(&writes)
            .iter()
            .any(|l| l.starts_with(&format!("PATCH {JOBS}"))),
        "{:?}",
        lines(&writes)
    );
    assert_eq!(
        event_reasons(&writes),
        [
            "DriftPolicy:EstimatedPerformanceDrop",
            "MonitoredModel:EstimatedPerformanceDrop"
        ]
    );
    assert_eq!(
        policy_status_of(&api)["lastCheck"]["retrain"],
        "retrain skipped: cooldown until 2026-11-29T06:01:00Z"
    );
    assert!(
        performance_series(&metrics).contains(&format!("vigil_concept_drift{{{policy}}} 0")),
        "{:?}",
        performance_series(&metrics)
    );

    // A check that reports no performance (an older check image): no series stay behind,
    // and the status of the check has none.
    put_drift_job(&api, "income-drift-29400720", "2026-11-29T06:00:00Z");
    finish_job(
        &api,
        "income-drift-29400720",
        true,
        &with_performance("None", "2026-11-29T06:00:30Z", None),
    );
    let writes =
        reconcile_policy_into(&api, at(23, 59) + chrono::Duration::hours(7), &metrics).await;
    assert!(
        event_reasons(&writes).is_empty(),
        "{:?}",
        event_reasons(&writes)
    );
    assert_eq!(performance_series(&metrics), Vec::<String>::new());
    let status = policy_status_of(&api);
    assert_eq!(status["lastCheck"]["modelPerformance"], Value::Null);
    assert_eq!(
        status["lastCheck"]["retrain"],
        "no retrain: drift verdict None is below actions.retrain.minVerdict Critical, \
         and no estimated metric is outside its band"
    );
    assert_eq!(status["history"].as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn notification_outcome_comes_from_the_check_job_and_no_secret_is_read() {
    let api = FakeApi::new();
    serving_model(&api);
    api.put(&policy_yaml(
        "  actions:\n    notify:\n      - webhook: {urlSecretRef: {name: slack-hook, key: url}}\n        verdicts: [Critical]",
    ));
    reconcile_policy(&api, at(17, 0)).await;
    // The check Pod gets the URL from the Secret by reference.
    let cronjob: CronJob = api
        .get(
            "/apis/batch/v1/namespaces/ml/cronjobs",
            "income-drift-check",
        )
        .expect("cronjob");
    let env = serde_json::to_value(&cronjob).expect("json")["spec"]["jobTemplate"]["spec"]
        ["template"]["spec"]["containers"][0]["env"]
        .clone();
    assert!(
        env.as_array().expect("env").contains(&json!({
            "name": "VIGIL_NOTIFY_SECRET_0",
            "valueFrom": {"secretKeyRef": {"name": "slack-hook", "key": "url", "optional": true}}
        })),
        "{env}"
    );

    let mut result: Value =
        serde_json::from_str(&drift_result("Critical", "2026-11-28T18:00:30Z")).expect("json");
    result["notified"] = json!({"targets": 1, "sent": 0,
        "failures": ["webhook from secret slack-hook: the webhook answered HTTP 503"]});
    put_drift_job(&api, "income-drift-1", "2026-11-28T18:00:00Z");
    finish_job(&api, "income-drift-1", true, &result.to_string());
    let writes = reconcile_policy(&api, at(18, 1)).await;
    let notes = event_notes(&writes);
    assert!(
        notes.contains(&(
            "NotificationFailed".to_string(),
            "Job income-drift-1: notified 0 of 1 target(s); webhook from secret slack-hook: \
             the webhook answered HTTP 503"
                .to_string()
        )),
        "{notes:?}"
    );
    let status = policy_status_of(&api);
    assert_eq!(
        status["lastCheck"]["notified"],
        "notified 0 of 1 target(s); webhook from secret slack-hook: the webhook answered HTTP 503"
    );
    // Once per check: a second pass publishes nothing.
    let again = reconcile_policy(&api, at(18, 2)).await;
    assert!(event_notes(&again).is_empty(), "{:?}", event_notes(&again));
    assert!(
        !api.requests().iter().any(|r| r.path.contains("/secrets")),
        "the operator read a Secret"
    );
}

#[tokio::test]
async fn policy_waits_for_its_model_and_rejects_unknown_features() {
    let api = FakeApi::new();
    api.put(&policy_yaml(""));
    let writes = reconcile_policy(&api, at(17, 0)).await;
    assert_eq!(
        lines(&writes),
        vec![format!("PATCH {POLICIES}/income-drift/status")]
    );
    let policy: DriftPolicy = api.get(POLICIES, "income-drift").expect("policy");
    let ready = &policy.status.expect("status").conditions[0];
    assert_eq!(
        (ready.reason.as_str(), ready.status.as_str()),
        ("ModelNotFound", "False")
    );

    api.put(&model_yaml(true));
    api.put(&policy_yaml("  features: {include: [agee]}"));
    let writes = reconcile_policy(&api, at(17, 1)).await;
    assert_eq!(event_reasons(&writes), vec!["DriftPolicy:InvalidSpec"]);
    let policy: DriftPolicy = api.get(POLICIES, "income-drift").expect("policy");
    let message = policy.status.expect("status").conditions[0].message.clone();
    assert!(message.contains("`agee`"), "{message}");
    assert!(api.names(CRONJOBS).is_empty());
}

#[tokio::test]
async fn children_the_spec_no_longer_asks_for_are_deleted() {
    let api = FakeApi::new();
    let mut model = model_yaml(true);
    model.spec.serving.min_available = Some(1);
    api.put(&model);
    reconcile_model(&api, at(17, 0)).await;
    assert_eq!(api.names(CRONJOBS), vec!["income-train"]);
    assert_eq!(api.names(PDBS), vec!["income-inference"]);

    api.edit(MODELS, "income", |m| {
        m["spec"]["training"]
            .as_object_mut()
            .expect("training")
            .remove("schedule");
        m["spec"]["serving"] = json!({});
        m["metadata"]["generation"] = json!(2);
    });
    let writes = reconcile_model(&api, at(17, 5)).await;
    assert_eq!(
        lines(&writes),
        vec![
            format!("DELETE {PDBS}/income-inference"),
            format!("DELETE {CRONJOBS}/income-train"),
            format!("PATCH {MODELS}/income/status"),
        ]
    );
    assert!(api.names(CRONJOBS).is_empty() && api.names(PDBS).is_empty());
    assert_eq!(status_of(&api)["observedGeneration"], 2);
    assert_eq!(
        lines(&reconcile_model(&api, at(17, 6)).await),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_reconcile_on_a_stale_copy_decides_nothing_twice() {
    let api = FakeApi::new();
    api.put(&model_yaml(true));
    reconcile_model(&api, at(17, 0)).await;
    let before_result: MonitoredModel = api.get(MODELS, "income").expect("model");
    finish_job(&api, "income-train-initial", true, &trained(V1, 0.90, None));
    let writes = reconcile_model(&api, at(17, 30)).await;
    assert_eq!(
        event_reasons(&writes),
        vec![
            "MonitoredModel:TrainingSucceeded",
            "MonitoredModel:ModelPromoted"
        ]
    );

    // A watch event delivered with the copy from before the promotion was recorded.
    let action = monitored_model::reconcile(Arc::new(before_result), api.context(at(17, 31)))
        .await
        .expect("a conflict is not a failure");
    assert_eq!(format!("{action:?}"), "Action { requeue_after: Some(1s) }");
    let writes = api.take_writes();
    assert!(
        event_reasons(&writes).is_empty(),
        "no Event twice: {:?}",
        lines(&writes)
    );
    assert_eq!(status_of(&api)["history"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn deleting_the_model_stops_its_checks() {
    let api = FakeApi::new();
    serving_model(&api);
    api.put(&policy_yaml(""));
    reconcile_policy(&api, at(17, 0)).await;
    assert_eq!(api.names(CRONJOBS), vec!["income-drift-check"]);
    api.remove(MODELS, "income");
    let writes = reconcile_policy(&api, at(17, 5)).await;
    assert_eq!(
        lines(&writes),
        vec![
            format!("DELETE {CRONJOBS}/income-drift-check"),
            format!("PATCH {POLICIES}/income-drift/status"),
        ]
    );
    let policy: DriftPolicy = api.get(POLICIES, "income-drift").expect("policy");
    let ready = policy
        .status
        .expect("status")
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "ModelNotFound")
    );
}
