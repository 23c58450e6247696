//! `vigil operator` as a real process against a stateful fake API server on loopback
//! HTTP (operator/tests/common): the real client configuration (a kubeconfig), leader
//! election on a Lease, the controllers' LIST + WATCH of every resource, server-side
//! apply of children and status, health and metrics, and a graceful SIGTERM.
//!
//! The in-process controller tests call `reconcile` by hand; here nothing does: the
//! first reconcile comes from the controllers' initial LIST, every later one from a
//! watch event the fake streams when the operator or the test (playing the Job
//! controller and the kubelet) changes the world.

#![allow(clippy::panic)]

#[path = "../operator/tests/common/mod.rs"]
mod common;

use std::collections::BTreeSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{FakeApi, Recorded, JOBS};
use serde::Deserialize;
use serde_json::{json, Value};

const VIGIL: &str = env!("CARGO_BIN_EXE_vigil");

const MODELS: &str = "/apis/vigil.dev/v1alpha1/namespaces/ml/monitoredmodels";
const POLICIES: &str = "/apis/vigil.dev/v1alpha1/namespaces/ml/driftpolicies";
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/ml/deployments";
const CRONJOBS: &str = "/apis/batch/v1/namespaces/ml/cronjobs";
const PDBS: &str = "/apis/policy/v1/namespaces/ml/poddisruptionbudgets";
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/vigil-system/leases";
const VERSION: &str = "20261128-173000-aaaaaa";

fn write_kubeconfig(dir: &Path, server: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            r#"apiVersion: v1
kind: Config
clusters:
  - name: fake
    cluster: {{server: "{server}"}}
users:
  - name: test
    user: {{token: not-a-secret}}
contexts:
  - name: fake
    context: {{cluster: fake, user: test, namespace: default}}
current-context: fake
"#
        ),
    )
    .expect("kubeconfig");
    path
}

/// Writes the operator made, apart from renewing its Lease.
fn operator_writes(api: &FakeApi) -> Vec<Recorded> {
    api.requests()
        .into_iter()
        .filter(|r| r.is_write() && !r.path.starts_with(LEASES))
        .collect()
}

fn lines(requests: &[Recorded]) -> String {
    requests
        .iter()
        .map(|r| format!("{} {} {}?{}", r.code, r.method, r.path, r.query))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The running operator: killed if the test fails before it stops it.
struct Operator {
    child: Option<Child>,
    log: PathBuf,
    /// `http://127.0.0.1:PORT` of /healthz, /readyz, /metrics.
    health: String,
    _dir: tempfile::TempDir,
}

/// Starts `vigil operator` against `api` (served over loopback HTTP), leader
/// election on, identity `test-1`.
fn start(api: &FakeApi) -> Operator {
    let server = api.serve_http();
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = write_kubeconfig(dir.path(), &format!("http://{server}"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let health = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("operator.log");
    let child = Command::new(VIGIL)
        .args(["operator", "--listen", &format!("127.0.0.1:{port}")])
        .args([
            "--leader-election",
            "true",
            "--lease-name",
            "vigil-operator",
        ])
        .args(["--lease-namespace", "vigil-system", "--identity", "test-1"])
        .args(["--image", "vigil:test"])
        .env("KUBECONFIG", &kubeconfig)
        .env("VIGIL_LOG_FORMAT", "json")
        // Nothing from the developer's machine: no cluster, every namespace, and no
        // proxy (kube reads HTTPS_PROXY for kubeconfig clusters, and without its
        // `http-proxy` feature the client then refuses to start, even with NO_PROXY).
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("VIGIL_WATCH_NAMESPACE")
        .env_remove("POD_NAME")
        .env_remove("POD_NAMESPACE")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start vigil operator");
    Operator {
        child: Some(child),
        log,
        health,
        _dir: dir,
    }
}

impl Operator {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `check` until it yields, failing after `within` or when the process exits.
    async fn until<T, F, Fut>(
        &mut self,
        api: &FakeApi,
        what: &str,
        within: Duration,
        mut check: F,
    ) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + within;
        loop {
            if let Some(value) = check().await {
                return value;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().expect("wait"));
            if exited.is_some() || Instant::now() > deadline {
                panic!(
                    "{what}: not within {within:?} (process exit: {exited:?})\nrequests:\n{}\noperator log:\n{}",
                    lines(&api.requests()),
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then the exit status (within 10 s).
    async fn stop(&mut self) -> std::process::ExitStatus {
        self.sigterm();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let child = self.child.as_mut().expect("running");
            if let Some(status) = child.try_wait().expect("wait") {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "vigil operator did not exit within 10 s of SIGTERM:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn sigterm(&self) {
        let pid = self.child.as_ref().expect("running").id();
        let kill = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(kill.success());
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn http_get(url: &str) -> Option<(u16, String)> {
    let response = reqwest::get(url).await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

/// The real watch → reconcile → server-side apply → status loop, end to end.
///
/// 1. With a MonitoredModel in the world, the operator takes the Lease, starts the
///    initial training Job (owned by the model), records it in status, and reports
///    ready with metrics.
/// 2. The Job completes (its Pod holds a successful `TrainSummary`): the watch on Jobs
///    wakes the model (the requeue is 10 minutes away), which promotes the version to
///    a serving Deployment and records it in status.
/// 3. Then the world is stable and so is the operator: no more writes.
/// 4. SIGTERM: the process exits 0 within 10 s and gives the Lease up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_process_trains_and_promotes_through_watches_against_a_fake_api_server() {
    let api = FakeApi::new();
    // Watches end every second: the operator must resume them from the last
    // resourceVersion it saw (the fake replays what it missed), not re-list.
    api.set_watch_cap(Duration::from_secs(1));
    api.put(&common::model_yaml(true));
    let model_uid = api.get::<Value>(MODELS, "income").expect("model")["metadata"]["uid"].clone();
    let mut operator = start(&api);
    let health = operator.health.clone();
    let started = Instant::now();

    // 1. Leader, initial training, status, health.
    let within = Duration::from_secs(20);
    operator
        .until(&api, "the Lease is held by test-1", within, || async {
            let lease: Value = api.get(LEASES, "vigil-operator")?;
            (lease["spec"]["holderIdentity"] == "test-1").then_some(())
        })
        .await;
    let job: Value = operator
        .until(&api, "the initial training Job", within, || async {
            api.get(JOBS, "income-train-initial")
        })
        .await;
    let owner = &job["metadata"]["ownerReferences"][0];
    assert_eq!(
        (
            &owner["kind"],
            &owner["name"],
            &owner["uid"],
            &owner["controller"]
        ),
        (
            &json!("MonitoredModel"),
            &json!("income"),
            &model_uid,
            &json!(true)
        ),
        "{job:#}"
    );
    operator
        .until(
            &api,
            "status.lastTraining.trigger Initial",
            within,
            || async {
                let model: Value = api.get(MODELS, "income")?;
                (model["status"]["lastTraining"]["trigger"] == "Initial").then_some(())
            },
        )
        .await;
    operator
        .until(&api, "/readyz 200", within, || async {
            (http_get(&format!("{health}/readyz")).await?.0 == 200).then_some(())
        })
        .await;
    operator
        .until(&api, "/metrics with reconciles", within, || async {
            let (code, text) = http_get(&format!("{health}/metrics")).await?;
            (code == 200 && text.contains("vigil_operator_reconciles_total")).then_some(())
        })
        .await;
    assert!(
        api.requests()
            .iter()
            .any(|r| r.is_watch() && r.path == "/apis/batch/v1/jobs"),
        "the operator watches Jobs in every namespace"
    );

    // 2. Play the kubelet and the Job controller: the Pod terminates with the
    //    result, then the Job completes. Only the watch on Jobs can wake the model.
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "income-train-initial-x7k2p", "namespace": "ml",
                     "labels": common::pod_labels(&job)},
        "status": {"containerStatuses": [{"name": "train", "image": "vigil:test", "imageID": "",
            "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "message": common::trained(VERSION, 0.90, None)}}}]}
    });
    api.put(&pod);
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    api.edit(JOBS, "income-train-initial", |j| {
        j["status"] = json!({"succeeded": 1, "completionTime": now,
            "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": now}]});
    });
    let finished = Instant::now();
    let within = Duration::from_secs(15);
    let served = operator
        .until(
            &api,
            "the Deployment serves the new version",
            within,
            || async {
                let deployment: Value = api.get(DEPLOYMENTS, "income-inference")?;
                let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
                    .as_array()?
                    .clone();
                env.iter()
                    .find(|e| e["name"] == "VIGIL_MODEL_VERSION")
                    .and_then(|e| e["value"].as_str().map(str::to_string))
            },
        )
        .await;
    assert_eq!(served, VERSION);
    // Play the Deployment controller: the new Pods are ready. Only now does
    // the model report the version as served (observed, not desired).
    let desired: Value = api.get(MODELS, "income").expect("model");
    assert_eq!(
        desired["status"]["servingVersion"],
        Value::Null,
        "{desired:#}"
    );
    api.edit(DEPLOYMENTS, "income-inference", |d| {
        let generation = d["metadata"]["generation"].clone();
        d["status"] = json!({"observedGeneration": generation, "replicas": 1,
                             "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1});
    });
    operator
        .until(&api, "status.servingVersion", within, || async {
            let model: Value = api.get(MODELS, "income")?;
            (model["status"]["servingVersion"] == VERSION).then_some(())
        })
        .await;
    let promoted_in = finished.elapsed();

    // 3. Quiet when nothing changes: once the writes settle, none for 2 s.
    let mut settled = operator_writes(&api).len();
    operator
        .until(&api, "the writes settle", Duration::from_secs(10), || {
            let before = settled;
            let api = api.clone();
            settled = operator_writes(&api).len();
            async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                (operator_writes(&api).len() == before).then_some(())
            }
        })
        .await;
    let writes = operator_writes(&api);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = operator_writes(&api);
    assert_eq!(
        later.len(),
        writes.len(),
        "writes over an unchanged world:\n{}",
        lines(&later[writes.len()..])
    );

    // 4. SIGTERM: a clean exit that releases the Lease.
    let status = operator.stop().await;
    let log = operator.log();
    assert!(status.success(), "exit {status}:\n{log}");
    let training_jobs = |r: &&Recorded| {
        r.method == "GET"
            && r.path == "/apis/batch/v1/jobs"
            && r.query.contains("managed-by%3Dvigil-operator")
    };
    let requests = api.requests();
    let (watches, lists): (Vec<&Recorded>, Vec<&Recorded>) = requests
        .iter()
        .filter(training_jobs)
        .partition(|r| r.is_watch());
    assert!(
        lists.len() == 1 && watches.len() >= 2,
        "one LIST of Jobs (shared by both controllers), then watches resumed from their resourceVersion:\n{}",
        lines(
            &requests
                .iter()
                .filter(training_jobs)
                .cloned()
                .collect::<Vec<_>>()
        )
    );
    let lease: Value = api.get(LEASES, "vigil-operator").expect("lease");
    assert!(
        lease["spec"]["holderIdentity"].is_null(),
        "the Lease is released on shutdown: {lease:#}"
    );
    // Structured logs, one JSON object per line.
    let first = log.lines().next().unwrap_or_default();
    assert!(
        serde_json::from_str::<Value>(first).is_ok(),
        "JSON logs: {first}"
    );
    check_rbac(&requests, false);
    eprintln!(
        "operator_process: promoted {promoted_in:?} after the Job completed; {} writes; {:?} in all",
        writes.len(),
        started.elapsed()
    );
}

/// What the API server authorizes a request as: (apiGroup, resource, verb), the
/// resource with its subresource (`monitoredmodels/status`). A server-side apply
/// that creates the object (201) is authorized as `create` too.
fn authorized_as(request: &Recorded) -> Vec<(String, String, String)> {
    let parts: Vec<&str> = request.path.trim_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => return vec![],
    };
    let rest = match rest {
        ["namespaces", _ns, rest @ ..] if !rest.is_empty() => rest,
        rest => rest,
    };
    let (resource, named) = match rest {
        [resource] => (resource.to_string(), false),
        [resource, _name] => (resource.to_string(), true),
        [resource, _name, sub] => (format!("{resource}/{sub}"), true),
        _ => return vec![],
    };
    let verb = match (request.method.as_str(), named) {
        ("GET", _) if request.is_watch() => "watch",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", _) => "delete",
        _ => return vec![],
    };
    let mut verbs = vec![verb];
    if request.method == "PATCH" && request.code == 201 {
        verbs.push("create");
    }
    verbs
        .into_iter()
        .map(|v| (group.to_string(), resource.clone(), v.to_string()))
        .collect()
}

/// The workload rules of charts/vigil/templates/rbac.yaml, expanded to
/// (apiGroup, resource, verb).
fn chart_rules() -> BTreeSet<(String, String, String)> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/charts/vigil/templates/rbac.yaml"
    ))
    .expect("rbac.yaml");
    let start = text
        .find("{{- define \"vigil.workloadRules\" -}}")
        .expect("the workload rules");
    let body = &text[start..];
    let body = &body[body.find('\n').expect("newline") + 1..body.find("{{- end }}").expect("end")];
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Rule {
        api_groups: Vec<String>,
        resources: Vec<String>,
        verbs: Vec<String>,
    }
    let rules: Vec<Rule> = serde_yaml::from_str(body).expect("rules are plain YAML");
    let mut out = BTreeSet::new();
    for rule in rules {
        for group in &rule.api_groups {
            for resource in &rule.resources {
                for verb in &rule.verbs {
                    out.insert((group.clone(), resource.clone(), verb.clone()));
                }
            }
        }
    }
    out
}

/// Verbs the chart grants that a process test cannot reach, and why.
const GRANTED_UNEXERCISED: &[(&str, &str, &str, &str)] = &[(
    "events.k8s.io",
    "events",
    "patch",
    "kube's Recorder patches an identical Event repeated within minutes into a series; \
         the controllers announce each occurrence once",
)];

/// Every request the operator made is allowed by the chart (no 403 on a
/// cluster); with `exhaustive`, every rule of the chart was also used (or is
/// explained above): the chart grants only what the code calls.
fn check_rbac(requests: &[Recorded], exhaustive: bool) {
    let used: BTreeSet<(String, String, String)> = requests
        .iter()
        .filter(|r| !r.path.starts_with(LEASES) && !r.path.contains("/leases"))
        .flat_map(authorized_as)
        .collect();
    let granted = chart_rules();
    let missing: Vec<_> = used.difference(&granted).collect();
    assert!(
        missing.is_empty(),
        "calls the chart does not grant: {missing:?}"
    );
    if exhaustive {
        let unused: Vec<_> = granted
            .difference(&used)
            .filter(|(g, r, v)| {
                !GRANTED_UNEXERCISED
                    .iter()
                    .any(|(eg, er, ev, _)| eg == g && er == r && ev == v)
            })
            .collect();
        assert!(
            unused.is_empty(),
            "the chart grants what no call uses: {unused:?}"
        );
    }
}

/// The flagship sample as kubectl sends it (YAML 1.1), or as serde_yaml reads
/// it when kubectl is missing (and `VIGIL_REQUIRE_KUBECTL` is not 1).
fn sample_as_kubectl_sends_it() -> Vec<Value> {
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/samples/adult-income.yaml"
    );
    let kubectl = Command::new("kubectl")
        .args([
            "label",
            "--local",
            "-o",
            "json",
            "vigil-process-test=1",
            "-f",
            sample,
        ])
        .output();
    match kubectl {
        Ok(out) if out.status.success() => serde_json::Deserializer::from_slice(&out.stdout)
            .into_iter::<Value>()
            .map(|d| d.expect("kubectl prints JSON"))
            .collect(),
        other => {
            assert!(
                std::env::var("VIGIL_REQUIRE_KUBECTL").as_deref() != Ok("1"),
                "VIGIL_REQUIRE_KUBECTL=1 but kubectl does not run: {other:?}"
            );
            eprintln!("skipped: kubectl's reading of the sample (kubectl not found); serde_yaml's instead");
            let text = std::fs::read_to_string(sample).expect("sample");
            serde_yaml::Deserializer::from_str(&text)
                .map(|d| {
                    serde_json::to_value(serde_yaml::Value::deserialize(d).expect("yaml"))
                        .expect("json")
                })
                .collect()
        }
    }
}

fn events_about(api: &FakeApi, name: &str, reason: &str) -> Vec<Value> {
    api.requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/events"))
        .filter_map(|r| r.body)
        .filter(|b| b["regarding"]["name"] == name && b["reason"] == reason)
        .collect()
}

fn condition(object: &Value, type_: &str) -> Option<(String, String, String)> {
    let c = object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)?;
    let text = |k: &str| c[k].as_str().unwrap_or_default().to_string();
    Some((text("status"), text("reason"), text("message")))
}

/// A cluster as a new user makes it: the flagship sample applied with kubectl,
/// a DriftPolicy left over from before the YAML 1.1 rename (it does not
/// deserialize), and a training Pod whose image does not pull. The real
/// process reports each where the user looks, keeps every other object
/// working, and makes only the calls the chart grants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_process_on_kubectl_yaml_with_a_bad_neighbour_and_an_image_that_does_not_pull() {
    let api = FakeApi::new();
    api.set_watch_cap(Duration::from_secs(1));
    for object in sample_as_kubectl_sends_it() {
        api.put(&object);
    }
    // `actions.retrain.on: Critical` as kubectl sent it before the rename.
    api.put(
        &json!({"apiVersion": "vigil.dev/v1alpha1", "kind": "DriftPolicy",
        "metadata": {"name": "legacy", "namespace": "ml"},
        "spec": {"modelRef": {"name": "income"},
                 "actions": {"retrain": {"cooldown": "12h", "true": "Critical"}}}}),
    );
    let mut operator = start(&api);
    let within = Duration::from_secs(20);

    // The sample trains; its policy waits for a version; the legacy policy says why it is stuck.
    let job: Value = operator
        .until(&api, "the initial training Job", within, || async {
            api.get(JOBS, "income-train-initial")
        })
        .await;
    operator
        .until(
            &api,
            "the sample policy waits for its model",
            within,
            || async {
                let policy: Value = api.get(POLICIES, "income-drift")?;
                (condition(&policy, "Ready")?.1 == "WaitingForModel").then_some(())
            },
        )
        .await;
    let legacy = operator
        .until(
            &api,
            "InvalidObject on the legacy policy",
            within,
            || async {
                let policy: Value = api.get(POLICIES, "legacy")?;
                let stalled = condition(&policy, "Stalled")?;
                (stalled.1 == "InvalidObject").then_some(stalled)
            },
        )
        .await;
    assert!(legacy.2.contains("Unknown field true"), "{legacy:?}");

    // The training Pod cannot pull its image.
    let pod = |state: Value| {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "income-train-initial-x7k2p", "namespace": "ml",
                         "labels": common::pod_labels(&job)},
            "status": {"containerStatuses": [{"name": "train", "image": "ghcr.io/acme/vigil:0.1",
                "imageID": "", "ready": false, "restartCount": 0, "state": state}]}})
    };
    api.put(&pod(json!({"waiting": {"reason": "ImagePullBackOff",
        "message": "Back-off pulling image \"ghcr.io/acme/vigil:0.1\""}})));
    let degraded = operator
        .until(
            &api,
            "Degraded ImagePullFailed on the model",
            within,
            || async {
                let model: Value = api.get(MODELS, "income")?;
                let degraded = condition(&model, "Degraded")?;
                (degraded.1 == "ImagePullFailed").then_some(degraded)
            },
        )
        .await;
    assert_eq!(
        degraded.2,
        "training Pod income-train-initial-x7k2p: ImagePullBackOff for ghcr.io/acme/vigil:0.1: \
         Back-off pulling image \"ghcr.io/acme/vigil:0.1\""
    );

    // Pulled after all: the training finishes, the version rolls out, the checks start.
    api.put(&pod(
        json!({"terminated": {"exitCode": 0, "message": common::trained(VERSION, 0.90, None)}}),
    ));
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    api.edit(JOBS, "income-train-initial", |j| {
        j["status"] = json!({"succeeded": 1, "completionTime": now,
            "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": now}]});
    });
    operator
        .until(&api, "the inference Deployment", within, || async {
            api.get::<Value>(DEPLOYMENTS, "income-inference")
                .map(|_| ())
        })
        .await;
    api.edit(DEPLOYMENTS, "income-inference", |d| {
        let generation = d["metadata"]["generation"].clone();
        d["status"] = json!({"observedGeneration": generation, "replicas": 2,
            "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2});
    });
    operator
        .until(&api, "the check CronJob", within, || async {
            api.get::<Value>(CRONJOBS, "income-drift-check").map(|_| ())
        })
        .await;
    operator
        .until(&api, "the model is Ready", within, || async {
            let model: Value = api.get(MODELS, "income")?;
            (condition(&model, "Ready")?.0 == "True").then_some(())
        })
        .await;

    // The spec drops its budget and schedule: those children go.
    api.edit(MODELS, "income", |m| {
        m["spec"]["serving"]
            .as_object_mut()
            .expect("serving")
            .remove("minAvailable");
        m["spec"]["training"]
            .as_object_mut()
            .expect("training")
            .remove("schedule");
        m["metadata"]["generation"] = json!(2);
    });
    operator
        .until(
            &api,
            "the PDB and the training CronJob are deleted",
            within,
            || async {
                (api.get::<Value>(PDBS, "income-inference").is_none()
                    && api.get::<Value>(CRONJOBS, "income-train").is_none())
                .then_some(())
            },
        )
        .await;

    // Quiet once settled: no write storm from the bad neighbour or anything else.
    let mut settled = operator_writes(&api).len();
    operator
        .until(&api, "the writes settle", Duration::from_secs(10), || {
            let before = settled;
            let api = api.clone();
            settled = operator_writes(&api).len();
            async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                (operator_writes(&api).len() == before).then_some(())
            }
        })
        .await;
    let writes = operator_writes(&api).len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        operator_writes(&api).len(),
        writes,
        "writes over an unchanged world"
    );
    assert_eq!(events_about(&api, "legacy", "InvalidObject").len(), 1);
    assert_eq!(events_about(&api, "income", "ImagePullFailed").len(), 1);
    assert!(events_about(&api, "income-drift", "InvalidObject").is_empty());

    let status = operator.stop().await;
    assert!(status.success(), "exit {status}:\n{}", operator.log());
    check_rbac(&api.requests(), true);
}
