//! Scenario helpers of the controller tests: the collections, fixtures of a
//! policy and a check, one reconcile by hand, and readers of what it wrote.

#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use serde_json::{json, Value};
use vigil_operator::controller::{drift_policy, monitored_model};
use vigil_operator::crd::{DriftPolicy, MonitoredModel};
use vigil_operator::metrics::Metrics;

use super::{model_yaml, FakeApi, Recorded, NS};

pub const MODELS: &str = "/apis/vigil.dev/v1alpha1/namespaces/ml/monitoredmodels";
pub const POLICIES: &str = "/apis/vigil.dev/v1alpha1/namespaces/ml/driftpolicies";
pub const CRONJOBS: &str = "/apis/batch/v1/namespaces/ml/cronjobs";
pub const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/ml/deployments";
pub const SERVICES: &str = "/api/v1/namespaces/ml/services";
pub const PDBS: &str = "/apis/policy/v1/namespaces/ml/poddisruptionbudgets";
pub const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/ml/events";

pub const V1: &str = "20261128-173000-aaaaaa";
pub const V2: &str = "20261128-183000-bbbbbb";
pub const V3: &str = "20261128-193000-cccccc";

pub fn policy_yaml(extra: &str) -> DriftPolicy {
    serde_yaml::from_str(&format!(
        r#"
apiVersion: vigil.dev/v1alpha1
kind: DriftPolicy
metadata: {{name: income-drift, namespace: {NS}}}
spec:
  modelRef: {{name: income}}
  schedule: "0 */6 * * *"
  window: 6h
{extra}
"#
    ))
    .expect("policy")
}

pub fn drift_result(verdict: &str, checked_at: &str) -> String {
    json!({
        "outcome": "succeeded", "verdict": verdict, "driftVerdict": verdict,
        "qualityPassed": true,
        "driftedFeatures": if verdict == "None" { json!([]) } else { json!(["age"]) },
        "driftedCount": if verdict == "None" { 0 } else { 1 },
        "top": [{"name": "age", "verdict": verdict, "psi": 0.83, "pValue": 3.8e-106}],
        "referenceRows": 10000, "currentRows": 5000, "modelVersion": V1,
        "checkedAt": checked_at,
        "reportUri": "s3://models/income/reports/drift/x.json",
        "htmlUri": "s3://models/income/reports/drift/x.html"
    })
    .to_string()
}

/// A drift Job as the policy's CronJob would create it.
pub fn put_drift_job(api: &FakeApi, name: &str, created: &str) {
    let job: Job = serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": NS, "creationTimestamp": created,
            "labels": {"app.kubernetes.io/name": "vigil", "app.kubernetes.io/instance": "income",
                       "app.kubernetes.io/component": "drift",
                       "app.kubernetes.io/managed-by": "vigil-operator",
                       "vigil.dev/policy": "income-drift"}},
        "spec": {"template": {"spec": {"containers": []}}}
    }))
    .expect("job");
    api.put(&job);
}

pub async fn reconcile_model(api: &FakeApi, now: chrono::DateTime<chrono::Utc>) -> Vec<Recorded> {
    let model: MonitoredModel = api.get(MODELS, "income").expect("model in the world");
    monitored_model::reconcile(Arc::new(model), api.context(now))
        .await
        .expect("reconcile");
    api.take_writes()
}

pub async fn reconcile_policy(api: &FakeApi, now: chrono::DateTime<chrono::Utc>) -> Vec<Recorded> {
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    reconcile_policy_into(api, now, &metrics).await
}

/// One policy reconcile that publishes to `metrics`.
pub async fn reconcile_policy_into(
    api: &FakeApi,
    now: chrono::DateTime<chrono::Utc>,
    metrics: &Arc<Metrics>,
) -> Vec<Recorded> {
    let policy: DriftPolicy = api
        .get(POLICIES, "income-drift")
        .expect("policy in the world");
    let ctx = api.context_of(now, api.stores(), metrics.clone());
    drift_policy::reconcile(Arc::new(policy), ctx)
        .await
        .expect("reconcile");
    api.take_writes()
}

pub fn lines(writes: &[Recorded]) -> Vec<String> {
    writes.iter().map(Recorded::line).collect()
}

pub fn event_reasons(writes: &[Recorded]) -> Vec<String> {
    writes
        .iter()
        .filter(|w| w.path == EVENTS)
        .map(|w| {
            let body = w.body.as_ref().expect("event body");
            format!(
                "{}:{}",
                body["regarding"]["kind"].as_str().unwrap_or_default(),
                body["reason"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

pub fn status_of(api: &FakeApi) -> Value {
    let model: MonitoredModel = api.get(MODELS, "income").expect("model");
    serde_json::to_value(model.status.expect("status")).expect("json")
}

pub fn condition(status: &Value, type_: &str) -> (String, String) {
    let c = status["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap_or_else(|| panic!("no condition {type_}"));
    (
        c["status"].as_str().unwrap_or_default().to_string(),
        c["reason"].as_str().unwrap_or_default().to_string(),
    )
}

pub fn served_version_of(api: &FakeApi) -> String {
    let deployment: Deployment = api
        .get(DEPLOYMENTS, "income-inference")
        .expect("deployment");
    let env = deployment
        .spec
        .expect("spec")
        .template
        .spec
        .expect("pod")
        .containers[0]
        .env
        .clone()
        .expect("env");
    env.iter()
        .find(|e| e.name == "VIGIL_MODEL_VERSION")
        .and_then(|e| e.value.clone())
        .expect("version env")
}

pub fn serving_model(api: &FakeApi) {
    let mut model = model_yaml(true);
    model.status = Some(vigil_operator::crd::MonitoredModelStatus {
        serving_version: Some(V1.into()),
        promoted_version: Some(V1.into()),
        ..Default::default()
    });
    api.put(&model);
}

pub const PODS: &str = "/api/v1/namespaces/ml/pods";

/// (status, reason, message) of a condition.
pub fn condition_of(status: &Value, type_: &str) -> (String, String, String) {
    let c = status["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap_or_else(|| panic!("no condition {type_}"));
    let text = |key: &str| c[key].as_str().unwrap_or_default().to_string();
    (text("status"), text("reason"), text("message"))
}

/// The status of the policy.
pub fn policy_status_of(api: &FakeApi) -> Value {
    let policy: DriftPolicy = api.get(POLICIES, "income-drift").expect("policy");
    serde_json::to_value(policy.status.expect("status")).expect("json")
}

/// The notes of the Events written, with their reasons.
pub fn event_notes(writes: &[Recorded]) -> Vec<(String, String)> {
    writes
        .iter()
        .filter(|w| w.path == EVENTS)
        .map(|w| {
            let body = w.body.as_ref().expect("event body");
            (
                body["reason"].as_str().unwrap_or_default().to_string(),
                body["note"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// A Pod of Job `job` (with the labels the Job controller gives it) whose
/// container is in `state` (`{"waiting": …}`, `{"terminated": …}`), and
/// `conditions` (e.g. PodScheduled False).
pub fn put_job_pod(api: &FakeApi, job: &str, state: Value, conditions: Value) {
    let job_object: Value = api.get(super::JOBS, job).expect("the Job");
    let mut status = json!({"conditions": conditions});
    if !state.is_null() {
        status["containerStatuses"] = json!([{"name": "train", "image": "ghcr.io/acme/vigil:0.1",
            "imageID": "", "ready": false, "restartCount": 0, "state": state}]);
    }
    api.put(&json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{job}-x7k2p"), "namespace": NS,
                     "labels": super::pod_labels(&job_object)},
        "spec": {"containers": [{"name": "train", "image": "ghcr.io/acme/vigil:0.1",
                                 "resources": {"limits": {"memory": "512Mi"}}}]},
        "status": status
    }));
}

/// Plays the Deployment controller: every replica of the current template is
/// updated and available.
pub fn roll_out(api: &FakeApi) {
    api.edit(DEPLOYMENTS, "income-inference", |d| {
        let generation = d["metadata"]["generation"].clone();
        let replicas = d["spec"]["replicas"].clone();
        d["status"] = json!({"observedGeneration": generation, "replicas": replicas,
            "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas});
    });
}

/// The version in the Deployment's Pod template.
pub fn deployment_version(api: &FakeApi) -> String {
    let deployment: Value = api
        .get(DEPLOYMENTS, "income-inference")
        .expect("deployment");
    deployment["spec"]["template"]["metadata"]["labels"]["vigil.dev/version"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
