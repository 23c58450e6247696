//! End to end on a real cluster: the installed operator trains the Adult model
//! in a Job, serves it, runs a DriftPolicy's checks and honours a pin.
//!
//! Ignored unless asked for: it needs a cluster with the chart installed and the
//! `vigil` image loadable by the nodes. With kind (see README, "End to end on kind"):
//! `VIGIL_E2E_IMAGE=vigil:e2e cargo test -p vigil-operator --test e2e -- --ignored`.

#![allow(clippy::panic)]

use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, Client};
use serde::Deserialize;
use serde_json::{json, Value};
use vigil_operator::crd::{DriftPolicy, MonitoredModel};

const NS: &str = "vigil-e2e";

fn image() -> String {
    std::env::var("VIGIL_E2E_IMAGE").unwrap_or_else(|_| "vigil:e2e".into())
}

async fn apply<K>(api: &Api<K>, name: &str, object: Value)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(
        name,
        &PatchParams::apply("vigil-e2e").force(),
        &Patch::Apply(&object),
    )
    .await
    .unwrap_or_else(|e| panic!("apply {name}: {e}"));
}

/// Polls `check` every 2 s until it returns Some, or fails after `limit`.
async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn restricted_pod(args: &[&str]) -> Value {
    json!({
        "restartPolicy": "Never",
        "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "fsGroup": 65532,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "seed", "image": image(), "imagePullPolicy": "IfNotPresent",
            "command": ["/usr/local/bin/vigil"], "args": args,
            "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                                "capabilities": {"drop": ["ALL"]}},
            "volumeMounts": [{"name": "store", "mountPath": "/mnt/vigil/vigil-store"},
                             {"name": "tmp", "mountPath": "/tmp"}]
        }],
        "volumes": [{"name": "store", "persistentVolumeClaim": {"claimName": "vigil-store"}},
                    {"name": "tmp", "emptyDir": {}}]
    })
}

/// The complete Adult sample, pointed at the test's PersistentVolumeClaim.
fn adult_model() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/samples/adult-income.yaml"
    ))
    .expect("sample");
    let document = serde_yaml::Deserializer::from_str(&text)
        .next()
        .expect("first document");
    let mut model = serde_json::to_value(serde_yaml::Value::deserialize(document).expect("yaml"))
        .expect("json");
    model["metadata"] = json!({"name": "income", "namespace": NS});
    model["spec"]["storage"] = json!({"uri": "pvc://vigil-store/income"});
    model["spec"]["training"]["data"]["uri"] = json!("pvc://vigil-store/seed/adult.csv.gz");
    model["spec"]["training"]
        .as_object_mut()
        .expect("training")
        .remove("schedule");
    model["spec"]["serving"] = json!({"replicas": 1, "image": image()});
    model
}

#[tokio::test]
#[ignore = "needs a Kubernetes cluster with the operator installed (README: End to end on kind)"]
async fn adult_model_trains_serves_checks_and_pins() {
    let client = Client::try_default().await.expect("a kubeconfig");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    apply(
        &namespaces,
        NS,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
    )
    .await;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), NS);
    apply(&claims, "vigil-store", json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "vigil-store", "namespace": NS},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    })).await;

    // The image embeds the Adult data; the demo writes it (and runs the whole loop once) onto the claim.
    let jobs: Api<Job> = Api::namespaced(client.clone(), NS);
    apply(&jobs, "seed", json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "seed", "namespace": NS},
        "spec": {"backoffLimit": 0, "template": {"spec": restricted_pod(&["demo", "--dir", "/mnt/vigil/vigil-store/seed"])}}
    })).await;
    wait_for("the seed Job", Duration::from_secs(600), || async {
        let job = jobs.get("seed").await.ok()?;
        let status = job.status?;
        assert_eq!(
            status.failed.unwrap_or(0),
            0,
            "the seed Job failed: kubectl -n {NS} logs job/seed"
        );
        (status.succeeded.unwrap_or(0) > 0).then_some(())
    })
    .await;

    let models: Api<MonitoredModel> = Api::namespaced(client.clone(), NS);
    apply(&models, "income", adult_model()).await;
    let version = wait_for(
        "the model to be Ready",
        Duration::from_secs(900),
        || async {
            let status = models.get("income").await.ok()?.status?;
            let ready = status
                .conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            if let Some(run) = &status.last_training {
                assert_ne!(
                    run.outcome,
                    vigil_operator::crd::TrainingOutcome::Failed,
                    "training failed: {:?}",
                    run.message
                );
            }
            ready.then(|| status.serving_version.clone()).flatten()
        },
    )
    .await;

    let policies: Api<DriftPolicy> = Api::namespaced(client.clone(), NS);
    apply(&policies, "income-drift", json!({
        "apiVersion": "vigil.dev/v1alpha1", "kind": "DriftPolicy",
        "metadata": {"name": "income-drift", "namespace": NS},
        "spec": {"modelRef": {"name": "income"}, "schedule": "*/1 * * * *", "window": "1h", "minSamples": 10}
    })).await;
    let verdict = wait_for(
        "a recorded drift check",
        Duration::from_secs(300),
        || async {
            let status = models.get("income").await.ok()?.status?;
            status.drift.map(|d| d.verdict)
        },
    )
    .await;
    assert!(
        verdict != vigil_operator::crd::CheckVerdict::Failed,
        "{verdict}"
    );

    let mut pinned = adult_model();
    pinned["spec"]["serving"]["pinnedVersion"] = json!(version);
    apply(&models, "income", pinned).await;
    wait_for("the pin in history", Duration::from_secs(120), || async {
        let status = models.get("income").await.ok()?.status?;
        status
            .history
            .iter()
            .any(|h| {
                h.version == version
                    && matches!(h.action, vigil_operator::crd::HistoryAction::Pinned)
            })
            .then_some(())
    })
    .await;

    namespaces
        .delete(NS, &DeleteParams::default())
        .await
        .expect("clean up");
}
