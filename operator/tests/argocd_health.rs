//! The Argo CD health checks of docs/argocd-cm.yaml, run with a Lua 5.1 interpreter (Argo CD
//! runs gopher-lua, Lua 5.1) against statuses the operator's own status code produces:
//! the two controllers' `plan` (on worlds that hold each scenario), their invalid-spec
//! paths, and `set_conditions` for what only the apply step learns (a refused write).
//!
//! Argo CD hands the script the object as the global `obj`, a table decoded from its JSON;
//! here the JSON becomes a Lua table literal. Without `lua5.1` the test prints "skipped", and
//! fails when `VIGIL_REQUIRE_LUA=1` (CI).

#![allow(clippy::panic)]

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use common::{at, model_yaml, trained, NS};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};
use vigil_operator::apply::Rejection;
use vigil_operator::controller::drift_policy::{self as policy, ModelLookup, PolicyWorld};
use vigil_operator::controller::monitored_model::{self as model, ModelWorld};
use vigil_operator::crd::{DriftPolicy, MonitoredModel, MonitoredModelStatus};

const V1: &str = "20261128-173000-aaaaaa";

/// The two scripts of docs/argocd-cm.yaml.
fn scripts() -> (String, String) {
    let docs = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs");
    let text =
        std::fs::read_to_string(format!("{docs}/argocd-cm.yaml")).expect("docs/argocd-cm.yaml");
    let data = &text[text.find("\ndata:\n").expect("a data: key") + 1..];
    let guide = std::fs::read_to_string(format!("{docs}/argocd.md")).expect("docs/argocd.md");
    assert!(
        guide.contains(data),
        "docs/argocd.md must show docs/argocd-cm.yaml's data: block as it is"
    );
    let cm: serde_yaml::Value = serde_yaml::from_str(&text).expect("yaml");
    let script = |kind: &str| {
        cm["data"][format!("resource.customizations.health.vigil.dev_{kind}").as_str()]
            .as_str()
            .unwrap_or_else(|| panic!("no health check for {kind}"))
            .to_string()
    };
    (script("MonitoredModel"), script("DriftPolicy"))
}

fn lua() -> Option<String> {
    vigil_testkit::LUA
        .find()
        .map(|path| path.display().to_string())
}

/// A JSON value as a Lua table constructor (null fields are absent, as in gopher-lua's decoding).
fn lua_literal(value: &Value) -> String {
    match value {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => lua_string(s),
        Value::Array(items) => format!(
            "{{{}}}",
            items.iter().map(lua_literal).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(fields) => format!(
            "{{{}}}",
            fields
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("[{}] = {}", lua_string(k), lua_literal(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn lua_string(text: &str) -> String {
    let mut out = String::from("\"");
    for byte in text.bytes() {
        match byte {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(byte as char);
            }
            0x20..=0x7e => out.push(byte as char),
            // Everything else (newlines, UTF-8 bytes) as a decimal escape: Lua strings are bytes.
            _ => out.push_str(&format!("\\{byte}")),
        }
    }
    out.push('"');
    out
}

/// (status, message) of the health check on `object`.
fn health(lua: &str, script: &str, object: &Value) -> (String, String) {
    let program = format!(
        "obj = {}\nlocal hs = (function()\n{script}\nend)()\nio.write(hs.status, \"\\n\", hs.message or \"\")\n",
        lua_literal(object)
    );
    // One file per run: the tests run in parallel.
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let file = std::env::temp_dir().join(format!(
        "vigil-argocd-{}-{}.lua",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&file, program).expect("write the program");
    let out = Command::new(lua).arg(&file).output().expect("run lua5.1");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "lua5.1 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let (status, message) = text.split_once('\n').unwrap_or((&text, ""));
    (status.to_string(), message.to_string())
}

fn with_status(model: &MonitoredModel, status: Option<MonitoredModelStatus>) -> Value {
    let mut model = model.clone();
    model.status = status;
    serde_json::to_value(&model).expect("json")
}

/// A Job as the Job controller leaves it; `finished` is Complete or Failed.
fn job(name: &str, created: &str, finished: Option<bool>, labels: Value) -> Job {
    let conditions = match finished {
        Some(ok) => json!([{"type": if ok { "Complete" } else { "Failed" }, "status": "True"}]),
        None => json!([]),
    };
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": NS, "creationTimestamp": created,
                     "labels": labels, "annotations": {"vigil.dev/trigger": "Initial"}},
        "spec": {"template": {"spec": {"containers": []}}},
        "status": {"conditions": conditions}
    }))
    .expect("job")
}

fn training_job(name: &str, created: &str, finished: Option<bool>) -> Job {
    job(
        name,
        created,
        finished,
        json!({"app.kubernetes.io/component": "training"}),
    )
}

/// The Pod of Job `job` as the kubelet leaves it: terminated with `message`, or in `waiting`.
fn pod(job: &str, state: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": format!("{job}-x7k2p"), "namespace": NS,
                     "labels": {"batch.kubernetes.io/job-name": job}},
        "status": {"containerStatuses": [{"name": "c", "image": "ghcr.io/acme/vigil:0.1",
            "imageID": "", "ready": false, "restartCount": 0, "state": state}]}
    }))
    .expect("pod")
}

/// The Deployment the operator built, rolled out by the Deployment controller.
fn rolled_out(deployment: &Deployment, replicas: i32) -> Deployment {
    let mut deployment = deployment.clone();
    deployment.metadata.generation = Some(1);
    deployment.status = Some(
        serde_json::from_value(json!({"observedGeneration": 1, "replicas": replicas,
            "updatedReplicas": replicas, "availableReplicas": replicas, "readyReplicas": replicas}))
        .expect("deployment status"),
    );
    deployment
}

fn plan(model: &MonitoredModel, world: &ModelWorld, now: DateTime<Utc>) -> MonitoredModelStatus {
    model::plan(model, world, "vigil:test", now)
        .expect("plan")
        .status
}

/// The model as the API server returns it once the operator has written `status`.
fn observed(model: &MonitoredModel, status: MonitoredModelStatus) -> MonitoredModel {
    let mut model = model.clone();
    model.status = Some(status);
    model
}

/// The shared fixture, as the API server returns it (a uid, a generation).
fn model() -> MonitoredModel {
    let mut model = model_yaml(true);
    model.metadata.generation = Some(1);
    model.metadata.uid = Some("0b7e7a39-model".into());
    model
}

#[test]
fn monitored_model_health_follows_the_operators_status() {
    let Some(lua) = lua() else { return };
    let (script, policy_script) = scripts();
    assert_eq!(
        script, policy_script,
        "both kinds share one health check (their conditions mean the same)"
    );
    let model = model();
    let mut cases: Vec<(&str, Value, &str, &str)> = Vec::new();

    cases.push((
        "never reconciled",
        with_status(&model, None),
        "Progressing",
        "Waiting for the Vigil operator to record a status",
    ));

    // First reconcile: the initial training Job starts.
    let training = plan(&model, &ModelWorld::default(), at(17, 0));
    cases.push((
        "first training running",
        with_status(&model, Some(training.clone())),
        "Progressing",
        "Training: Initial training in Job income-train-initial",
    ));

    // Its Pod cannot pull the image.
    let model_training = observed(&model, training.clone());
    let running = training_job("income-train-initial", "2026-11-28T17:00:00Z", None);
    let pulling = pod(
        "income-train-initial",
        json!({"waiting": {"reason": "ImagePullBackOff",
                           "message": "Back-off pulling image \"ghcr.io/acme/vigil:0.1\""}}),
    );
    let stuck = plan(
        &model_training,
        &ModelWorld {
            training_jobs: vec![running],
            pods: vec![pulling],
            ..ModelWorld::default()
        },
        at(17, 5),
    );
    cases.push((
        "the training Pod cannot pull its image",
        with_status(&model, Some(stuck)),
        "Degraded",
        "ImagePullFailed: training Pod income-train-initial-x7k2p: ImagePullBackOff for \
         ghcr.io/acme/vigil:0.1: Back-off pulling image \"ghcr.io/acme/vigil:0.1\"",
    ));

    let mut edited = model.clone();
    edited.metadata.generation = Some(2);
    cases.push((
        "spec edited, not yet observed",
        with_status(&edited, Some(training.clone())),
        "Progressing",
        "Waiting for the Vigil operator to observe generation 2",
    ));

    // The Job finished with a version: promoted, the Deployment rolls out.
    let job = training_job("income-train-initial", "2026-11-28T17:00:00Z", Some(true));
    let result = pod(
        "income-train-initial",
        json!({"terminated": {"exitCode": 0, "message": trained(V1, 0.90, None)}}),
    );
    let finished = ModelWorld {
        training_jobs: vec![job.clone()],
        pods: vec![result],
        ..ModelWorld::default()
    };
    let promoted = model::plan(&model_training, &finished, "vigil:test", at(17, 30)).expect("plan");
    let deployment = promoted
        .deployment
        .clone()
        .expect("a Deployment for the served version");
    cases.push((
        "promoted, rolling out",
        with_status(&model, Some(promoted.status.clone())),
        "Progressing",
        "RollingOut: Deployment income-inference is rolling out 20261128-173000-aaaaaa",
    ));

    let model_promoted = observed(&model, promoted.status.clone());
    let serving_world = ModelWorld {
        training_jobs: vec![job.clone()],
        deployment: Some(rolled_out(&deployment, model.spec.serving.replicas)),
        ..ModelWorld::default()
    };
    let serving = plan(&model_promoted, &serving_world, at(17, 31));
    cases.push((
        "serving",
        with_status(&model, Some(serving.clone())),
        "Healthy",
        "Serving: 1 replica(s) serve 20261128-173000-aaaaaa",
    ));

    // A later training fails: the served version stays, Ready stays True.
    let model_serving = observed(&model, serving.clone());
    let failed_world = ModelWorld {
        training_jobs: vec![
            job.clone(),
            training_job("income-train-manual-1", "2026-11-28T18:00:00Z", Some(false)),
        ],
        deployment: serving_world.deployment.clone(),
        ..ModelWorld::default()
    };
    let retrain_failed = plan(&model_serving, &failed_world, at(18, 10));
    cases.push((
        "a retraining failed while serving",
        with_status(&model, Some(retrain_failed)),
        "Healthy",
        "Serving: 1 replica(s) serve 20261128-173000-aaaaaa",
    ));

    // The first training fails: nothing is served.
    let first_failed = ModelWorld {
        training_jobs: vec![training_job(
            "income-train-initial",
            "2026-11-28T17:00:00Z",
            Some(false),
        )],
        ..ModelWorld::default()
    };
    let no_model = plan(&model_training, &first_failed, at(17, 20));
    cases.push((
        "the first training failed",
        with_status(&model, Some(no_model)),
        "Degraded",
        "TrainingFailed: training Job income-train-initial failed: NoResult: training Job \
         income-train-initial left no Pod with a result; retrying at 2026-11-28T17:25:00Z \
         (or annotate vigil.dev/train-request)",
    ));

    cases.push((
        "invalid spec",
        with_status(
            &model,
            Some(model::invalid_status(
                &model,
                "spec.serving.pinnedVersion is empty",
                at(17, 0),
            )),
        ),
        "Degraded",
        "InvalidSpec: invalid spec: spec.serving.pinnedVersion is empty",
    ));

    // A pin to a version whose Pods never become ready: rolled back, and Stalled
    // until the user changes the pin.
    let mut pinned = model_serving.clone();
    pinned.spec.serving.pinned_version = Some("20261128-170000-000000".into());
    let pinning = model::plan(&pinned, &serving_world, "vigil:test", at(18, 20)).expect("plan");
    let mut stuck_rollout = pinning.deployment.clone().expect("the pinned Deployment");
    stuck_rollout.metadata.generation = Some(2);
    stuck_rollout.status = Some(
        serde_json::from_value(json!({"observedGeneration": 2, "replicas": 2,
            "updatedReplicas": 1, "availableReplicas": 1, "conditions": [{
                "type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                "message": "ReplicaSet \"income-inference-5d8\" has timed out progressing."}]}))
        .expect("deployment status"),
    );
    let pinned = observed(&pinned, pinning.status);
    let failed_pin = plan(
        &pinned,
        &ModelWorld {
            deployment: Some(stuck_rollout),
            ..serving_world.clone()
        },
        at(18, 31),
    );
    cases.push((
        "a pinned version that does not load",
        with_status(&model, Some(failed_pin)),
        "Degraded",
        "PinnedVersionFailed: spec.serving.pinnedVersion 20261128-170000-000000 did not become \
         ready: ReplicaSet \"income-inference-5d8\" has timed out progressing.; serving \
         20261128-173000-aaaaaa: change or clear the pin",
    ));

    // What only the apply step learns: the API server refuses the new Deployment.
    let mut refused = promoted.status.clone();
    let facts = model::ModelFacts {
        rejected: Some(Rejection {
            kind: "Deployment".into(),
            name: "income-inference".into(),
            code: 403,
            reason: "QuotaExceeded",
            message: "exceeded quota: compute, requested: requests.cpu=100m, used: requests.cpu=4, limited: requests.cpu=4".into(),
        }),
        ..promoted.facts.clone()
    };
    model::set_conditions(&mut refused, &model, &facts, at(17, 31));
    cases.push((
        "a quota refuses the Deployment",
        with_status(&model, Some(refused)),
        "Degraded",
        "QuotaExceeded: the API server refused Deployment income-inference (HTTP 403): exceeded \
         quota: compute, requested: requests.cpu=100m, used: requests.cpu=4, limited: requests.cpu=4",
    ));

    assert_cases(&lua, &script, cases);
}

fn assert_cases(lua: &str, script: &str, cases: Vec<(&str, Value, &str, &str)>) {
    let mut wrong = Vec::new();
    for (name, object, status, message) in &cases {
        let got = health(lua, script, object);
        if (got.0.as_str(), got.1.as_str()) != (*status, *message) {
            wrong.push(format!(
                "{name}: got {got:?}, want ({status:?}, {message:?})"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    for status in ["Progressing", "Healthy", "Degraded"] {
        assert!(cases.iter().any(|c| c.2 == status), "no case ends {status}");
    }
}

fn policy_yaml() -> DriftPolicy {
    let mut policy: DriftPolicy = serde_yaml::from_str(&format!(
        "apiVersion: vigil.dev/v1alpha1\nkind: DriftPolicy\nmetadata: {{name: income-drift, namespace: {NS}}}\nspec: {{modelRef: {{name: income}}, schedule: '0 */6 * * *'}}\n"
    ))
    .expect("policy");
    policy.metadata.generation = Some(1);
    policy.metadata.uid = Some("5c1d2e3f-policy".into());
    policy
}

#[test]
fn drift_policy_health_follows_the_operators_status() {
    let Some(lua) = lua() else { return };
    let (_, script) = scripts();
    let policy = policy_yaml();
    let as_json = |status| {
        let mut policy = policy.clone();
        policy.status = Some(status);
        serde_json::to_value(&policy).expect("json")
    };
    let plan = |world: &PolicyWorld| {
        policy::plan(&policy, world, "vigil:test", at(18, 0))
            .expect("plan")
            .status
    };
    let mut serving = model();
    serving.status = Some(MonitoredModelStatus {
        serving_version: Some(V1.into()),
        ..MonitoredModelStatus::default()
    });
    let found = |model: &MonitoredModel| ModelLookup::Found(Box::new(model.clone()));
    let check_labels =
        json!({"app.kubernetes.io/component": "drift", "vigil.dev/policy": "income-drift"});
    let running_check = job(
        "income-drift-29400000",
        "2026-11-28T18:00:00Z",
        None,
        check_labels.clone(),
    );
    let mut deadline = job(
        "income-drift-29400000",
        "2026-11-28T18:00:00Z",
        Some(false),
        check_labels,
    );
    if let Some(status) = deadline.status.as_mut() {
        for c in status.conditions.iter_mut().flatten() {
            c.reason = Some("DeadlineExceeded".into());
            c.message = Some("Job was active longer than specified deadline".into());
        }
    }
    let cases = vec![
        (
            "the model does not exist",
            as_json(plan(&PolicyWorld::default())),
            "Progressing",
            "ModelNotFound: MonitoredModel income does not exist in this namespace: create it or \
             fix spec.modelRef.name",
        ),
        (
            "the model does not deserialize",
            as_json(plan(&PolicyWorld {
                model: ModelLookup::Unreadable("unknown field `true`".into()),
                ..PolicyWorld::default()
            })),
            "Degraded",
            "ModelInvalid: MonitoredModel income cannot be read (unknown field `true`): fix the model",
        ),
        (
            "the model serves no version yet",
            as_json(plan(&PolicyWorld {
                model: found(&model()),
                ..PolicyWorld::default()
            })),
            "Progressing",
            "WaitingForModel: MonitoredModel income serves no version yet",
        ),
        (
            "checks scheduled",
            as_json(plan(&PolicyWorld {
                model: found(&serving),
                ..PolicyWorld::default()
            })),
            "Healthy",
            "Scheduled: checks of 20261128-173000-aaaaaa run on `0 */6 * * *` over the last 6h",
        ),
        (
            "a check runs",
            as_json(plan(&PolicyWorld {
                model: found(&serving),
                check_jobs: vec![running_check],
                ..PolicyWorld::default()
            })),
            "Progressing",
            "Checking: check Job income-drift-29400000 runs",
        ),
        (
            "a check ran out of time",
            as_json(plan(&PolicyWorld {
                model: found(&serving),
                check_jobs: vec![deadline],
                ..PolicyWorld::default()
            })),
            "Degraded",
            "DeadlineExceeded: check Job income-drift-29400000 failed: DeadlineExceeded: check Job \
             income-drift-29400000 ran longer than its activeDeadlineSeconds: Job was active longer \
             than specified deadline",
        ),
        (
            "invalid spec",
            as_json(policy::invalid_status(
                &policy,
                "features.include names unknown feature height",
                at(18, 0),
            )),
            "Degraded",
            "InvalidSpec: invalid spec: features.include names unknown feature height",
        ),
    ];
    assert_cases(&lua, &script, cases);
}

#[test]
fn lua_literals_escape_what_lua_would_misread() {
    let value = json!({"a": "quote \" backslash \\ newline \n é", "n": [1, 2.5, null], "z": null});
    assert_eq!(
        lua_literal(&value),
        r#"{["a"] = "quote \" backslash \\ newline \10 \195\169", ["n"] = {1, 2.5, nil}}"#
    );
}
