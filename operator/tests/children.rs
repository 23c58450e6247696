//! What the operator writes into its children and how it reads its neighbours:
//! a field dropped from the spec disappears from every owned kind (server-side
//! apply of the whole intent, skipped only on an unchanged intent hash), and an
//! object that does not deserialize breaks nothing but itself.

#![allow(clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::scenario::*;
use common::{at, model_yaml, FakeApi, JOBS, NS};
use kube::core::DeserializeGuard;
use serde_json::{json, Value};
use vigil_core::train::config::Resources;
use vigil_operator::controller::{self, monitored_model};
use vigil_operator::crd::{DriftPolicy, MonitoredModel, MonitoredModelStatus};

fn container(object: &Value) -> Value {
    let template = if object["kind"] == "CronJob" {
        &object["spec"]["jobTemplate"]["spec"]["template"]
    } else {
        &object["spec"]["template"]
    };
    template["spec"]["containers"][0].clone()
}

fn config_of(cronjob: &Value) -> Value {
    let env = container(cronjob)["env"].clone();
    let json = env
        .as_array()
        .and_then(|e| e.iter().find(|e| e["name"] == "VIGIL_CONFIG_JSON"))
        .and_then(|e| e["value"].as_str())
        .expect("VIGIL_CONFIG_JSON")
        .to_string();
    serde_json::from_str(&json).expect("config")
}

/// The resourceVersion of every child of the model.
fn child_versions(api: &FakeApi) -> Vec<(String, Value)> {
    [
        (SERVICES, "income-inference"),
        (CRONJOBS, "income-train"),
        (JOBS, "income-train-initial"),
    ]
    .into_iter()
    .map(|(collection, name)| {
        let child: Value = api.get(collection, name).expect("child");
        (
            name.to_string(),
            child["metadata"]["resourceVersion"].clone(),
        )
    })
    .collect()
}

#[tokio::test]
async fn a_store_behind_the_server_repeats_only_applies_that_change_nothing() {
    let api = FakeApi::new();
    api.put(&model_yaml(true));
    // The stores as a watch still holds them: before the first reconcile's writes.
    let behind = api.stores();
    let first = reconcile_model(&api, at(17, 0)).await;
    assert!(lines(&first).contains(&format!("PATCH {JOBS}/income-train-initial")));
    let versions = child_versions(&api);

    let model: MonitoredModel = api.get(MODELS, "income").expect("model");
    monitored_model::reconcile(Arc::new(model), api.context_with(at(17, 1), behind))
        .await
        .expect("reconcile");
    let writes = api.take_writes();
    assert_eq!(
        lines(&writes),
        vec![
            format!("PATCH {SERVICES}/income-inference"),
            format!("PATCH {CRONJOBS}/income-train"),
        ],
        "the children the store does not hold yet are applied again; the Job the status \
         names is waited for, not started twice"
    );
    assert!(
        writes.iter().all(|w| w.code == 200),
        "nothing created: {writes:?}"
    );
    assert_eq!(
        child_versions(&api),
        versions,
        "the same intent applied again changes nothing on the server"
    );
    assert!(
        lines(&reconcile_model(&api, at(17, 2)).await).is_empty(),
        "once the store has caught up: no write"
    );
}

#[tokio::test]
async fn a_field_dropped_from_the_spec_leaves_every_child() {
    let api = FakeApi::new();
    let mut model = model_yaml(true);
    let quantities = |pairs: &[(&str, &str)]| -> BTreeMap<String, vigil_core::quantity::Quantity> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), (*v).into()))
            .collect()
    };
    let resources = Resources {
        requests: quantities(&[("cpu", "250m")]),
        limits: quantities(&[("memory", "512Mi")]),
    };
    model.spec.serving.resources = Some(resources.clone());
    model.spec.serving.replicas = 2;
    model.spec.serving.min_available = Some(1);
    model.spec.training.resources = Some(resources);
    model.status = Some(MonitoredModelStatus {
        serving_version: Some(V1.into()),
        promoted_version: Some(V1.into()),
        ..MonitoredModelStatus::default()
    });
    assert!(
        model.spec.storage.secret_ref.is_some(),
        "the fixture has credentials"
    );
    api.put(&model);
    api.put(&policy_yaml(
        "  activeDeadlineSeconds: 900\n  quality: {expectedRequestsPerHour: 100}",
    ));
    reconcile_model(&api, at(17, 0)).await;
    reconcile_policy(&api, at(17, 0)).await;
    let deployment: Value = api
        .get(DEPLOYMENTS, "income-inference")
        .expect("deployment");
    assert_eq!(
        container(&deployment)["resources"]["limits"],
        json!({"memory": "512Mi"})
    );
    assert!(container(&deployment)["envFrom"].is_array());
    assert!(deployment["metadata"]["annotations"]["vigil.dev/applied-hash"].is_string());
    let training: Value = api.get(CRONJOBS, "income-train").expect("training CronJob");
    assert_eq!(
        container(&training)["resources"]["limits"],
        json!({"memory": "512Mi"})
    );
    let check: Value = api
        .get(CRONJOBS, "income-drift-check")
        .expect("check CronJob");
    assert_eq!(
        check["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"],
        900
    );
    assert_eq!(
        config_of(&check)["policy"]["quality"]["expectedRequestsPerHour"],
        100.0
    );
    assert_eq!(api.names(PDBS), vec!["income-inference"]);

    // Drop the memory limits and the credentials; keep the rest.
    api.edit(MODELS, "income", |m| {
        for part in ["serving", "training"] {
            m["spec"][part]["resources"]
                .as_object_mut()
                .expect("resources")
                .remove("limits");
        }
        m["spec"]["storage"]
            .as_object_mut()
            .expect("storage")
            .remove("secretRef");
        m["metadata"]["generation"] = json!(2);
    });
    let writes = reconcile_model(&api, at(17, 5)).await;
    assert_eq!(
        lines(&writes),
        vec![
            format!("PATCH {DEPLOYMENTS}/income-inference"),
            format!("PATCH {CRONJOBS}/income-train"),
            format!("PATCH {MODELS}/income/status"),
        ],
        "desired ⊆ live still holds for both, yet both are applied: the intent changed"
    );
    let deployment: Value = api
        .get(DEPLOYMENTS, "income-inference")
        .expect("deployment");
    assert_eq!(
        container(&deployment)["resources"],
        json!({"requests": {"cpu": "250m"}})
    );
    assert_eq!(
        container(&deployment)["envFrom"],
        Value::Null,
        "{deployment:#}"
    );
    let training: Value = api.get(CRONJOBS, "income-train").expect("training CronJob");
    assert_eq!(
        container(&training)["resources"],
        json!({"requests": {"cpu": "250m"}})
    );
    assert_eq!(container(&training)["envFrom"], Value::Null);
    assert!(
        lines(&reconcile_model(&api, at(17, 6)).await).is_empty(),
        "the same intent: no write"
    );

    // Optional children go with their field: the PDB, the training CronJob.
    api.edit(MODELS, "income", |m| {
        m["spec"]["serving"]
            .as_object_mut()
            .expect("serving")
            .remove("minAvailable");
        m["spec"]["training"]
            .as_object_mut()
            .expect("training")
            .remove("schedule");
        m["metadata"]["generation"] = json!(3);
    });
    let writes = reconcile_model(&api, at(17, 10)).await;
    assert_eq!(
        lines(&writes),
        vec![
            format!("DELETE {PDBS}/income-inference"),
            format!("DELETE {CRONJOBS}/income-train"),
            format!("PATCH {MODELS}/income/status"),
        ]
    );

    // The check CronJob: the policy drops its deadline and a quality threshold.
    api.edit(POLICIES, "income-drift", |p| {
        p["spec"]
            .as_object_mut()
            .expect("spec")
            .remove("activeDeadlineSeconds");
        p["spec"].as_object_mut().expect("spec").remove("quality");
        p["metadata"]["generation"] = json!(2);
    });
    let writes = reconcile_policy(&api, at(17, 15)).await;
    assert_eq!(
        lines(&writes),
        vec![
            format!("PATCH {CRONJOBS}/income-drift-check"),
            format!("PATCH {POLICIES}/income-drift/status"),
        ]
    );
    let check: Value = api
        .get(CRONJOBS, "income-drift-check")
        .expect("check CronJob");
    assert_eq!(
        check["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"], 1800,
        "the default"
    );
    assert_eq!(
        config_of(&check)["policy"]["quality"].get("expectedRequestsPerHour"),
        None,
        "{:#}",
        config_of(&check)
    );
    assert_eq!(
        container(&check)["envFrom"],
        Value::Null,
        "the model dropped its credentials"
    );

    // Jobs are immutable and created once: one created now carries the new intent.
    api.edit(MODELS, "income", |m| {
        m["metadata"]["annotations"] = json!({"vigil.dev/train-request": "after"});
    });
    let writes = reconcile_model(&api, at(17, 20)).await;
    let job = writes
        .iter()
        .find(|w| w.path.starts_with(JOBS))
        .map(|w| w.path.trim_start_matches(&format!("{JOBS}/")).to_string())
        .expect("a training Job");
    let job: Value = api.get(JOBS, &job).expect("job");
    assert_eq!(container(&job)["envFrom"], Value::Null);
    assert_eq!(
        container(&job)["resources"],
        json!({"requests": {"cpu": "250m"}})
    );
}

/// What kubectl (YAML 1.1) made of `actions.retrain.on: Critical` before the rename.
fn legacy_policy() -> Value {
    json!({"apiVersion": "vigil.dev/v1alpha1", "kind": "DriftPolicy",
        "metadata": {"name": "legacy", "namespace": NS},
        "spec": {"modelRef": {"name": "income"},
                 "actions": {"retrain": {"cooldown": "12h", "true": "Critical"}}}})
}

#[tokio::test]
async fn a_policy_that_does_not_deserialize_breaks_nothing_but_itself() {
    let api = FakeApi::new();
    serving_model(&api);
    api.put(&policy_yaml(""));
    api.put(&legacy_policy());
    put_drift_job(&api, "income-drift-1", "2026-11-28T18:00:00Z");
    common::finish_job(
        &api,
        "income-drift-1",
        true,
        &drift_result("Warning", "2026-11-28T18:00:30Z"),
    );
    reconcile_policy(&api, at(18, 1)).await;
    // The model reads its policies from the store: the bad one is skipped.
    reconcile_model(&api, at(18, 2)).await;
    let status = status_of(&api);
    assert_eq!(status["drift"]["policy"], "income-drift");
    assert_eq!(status["drift"]["verdict"], "Warning");

    let guard: DeserializeGuard<DriftPolicy> = api.get(POLICIES, "legacy").expect("legacy");
    assert!(guard.0.is_err());
    let ctx = api.context(at(18, 3));
    let action = controller::reconcile_policy(Arc::new(guard.clone()), ctx.clone())
        .await
        .expect("nothing to retry");
    assert_eq!(
        format!("{action:?}"),
        format!("{:?}", kube::runtime::controller::Action::await_change())
    );
    let writes = api.take_writes();
    assert_eq!(
        lines(&writes),
        vec![
            format!("PATCH {POLICIES}/legacy/status"),
            format!("POST {EVENTS}")
        ]
    );
    assert_eq!(event_reasons(&writes), vec!["DriftPolicy:InvalidObject"]);
    let legacy: Value = api.get(POLICIES, "legacy").expect("legacy");
    let (value, reason, message) = condition_of(&legacy["status"], "Stalled");
    assert_eq!((value.as_str(), reason.as_str()), ("True", "InvalidObject"));
    assert!(message.contains("Unknown field true"), "{message}");
    assert_eq!(condition(&legacy["status"], "Degraded").1, "InvalidObject");
    assert_eq!(condition(&legacy["status"], "Ready").0, "False");
    // Announced once per generation, not on every wake-up.
    controller::reconcile_policy(Arc::new(guard), ctx)
        .await
        .expect("nothing to retry");
    assert!(api.take_writes().is_empty(), "no write storm");
}

#[tokio::test]
async fn a_model_that_does_not_deserialize_stalls_its_policy_without_deleting_its_checks() {
    let api = FakeApi::new();
    serving_model(&api);
    api.put(&policy_yaml(""));
    reconcile_policy(&api, at(17, 0)).await;
    assert_eq!(api.names(CRONJOBS), vec!["income-drift-check"]);
    api.edit(MODELS, "income", |m| {
        m["spec"]["serving"] = json!({"replicas": "two"});
    });
    let writes = reconcile_policy(&api, at(17, 5)).await;
    assert_eq!(
        lines(&writes),
        vec![format!("PATCH {POLICIES}/income-drift/status")],
        "the checks keep running on what the CronJob holds"
    );
    let status = policy_status_of(&api);
    assert_eq!(
        condition(&status, "Stalled"),
        ("True".into(), "ModelInvalid".into())
    );
    let model: DeserializeGuard<MonitoredModel> = api.get(MODELS, "income").expect("model");
    let writes = {
        controller::reconcile_model(Arc::new(model), api.context(at(17, 6)))
            .await
            .expect("nothing to retry");
        api.take_writes()
    };
    assert_eq!(event_reasons(&writes), vec!["MonitoredModel:InvalidObject"]);
    let raw: Value = api.get(MODELS, "income").expect("model");
    assert_eq!(
        condition(&raw["status"], "Stalled"),
        ("True".into(), "InvalidObject".into())
    );
}
