//! bench/operator: the real `vigil operator` binary against the fake API server of
//! operator/tests/common (loopback HTTP; LIST + WATCH with resourceVersions, 410 Gone
//! after a compaction), with N MonitoredModels + N DriftPolicies in 20 namespaces.
//!
//! Per N it prints: the seconds until every object has a current status
//! (`status.observedGeneration == metadata.generation`), the API requests per object
//! that took, by verb and resource; the operator's steady RSS; its peak RSS while every
//! watch relists after a compaction; the reconciles and requests per object in a quiet
//! window; and the CPU seconds the process used. See bench/operator/README.md.
//!
//!     cargo build --release --bin vigil --example operator_bench
//!     target/release/examples/operator_bench [--sizes 100,1000] [--quiet-seconds 30]

#![allow(clippy::panic)]

#[path = "../../operator/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{FakeApi, Recorded};
use serde_json::{json, Value};

const NAMESPACES: usize = 20;
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/vigil-system/leases";

#[derive(Clone)]
struct Options {
    sizes: Vec<usize>,
    quiet: Duration,
    concurrency: u16,
    vigil: PathBuf,
}

fn options() -> Options {
    let mut options = Options {
        sizes: vec![100, 1000],
        quiet: Duration::from_secs(30),
        concurrency: 16,
        // target/release/examples/operator_bench -> target/release/vigil
        vigil: std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.parent()?.join("vigil")))
            .unwrap_or_else(|| PathBuf::from("vigil")),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--sizes" => {
                options.sizes = value
                    .split(',')
                    .map(|n| n.parse().expect("--sizes: numbers, e.g. 100,1000"))
                    .collect()
            }
            "--quiet-seconds" => {
                options.quiet = Duration::from_secs(value.parse().expect("--quiet-seconds"))
            }
            "--concurrency" => options.concurrency = value.parse().expect("--concurrency"),
            "--vigil" => options.vigil = PathBuf::from(value),
            other => {
                panic!("unknown flag {other} (--sizes, --quiet-seconds, --concurrency, --vigil)")
            }
        }
    }
    options
}

fn namespace(i: usize) -> String {
    format!("team-{:02}", i % NAMESPACES)
}

fn models_path(ns: &str) -> String {
    format!("/apis/vigil.dev/v1alpha1/namespaces/{ns}/monitoredmodels")
}

fn policies_path(ns: &str) -> String {
    format!("/apis/vigil.dev/v1alpha1/namespaces/{ns}/driftpolicies")
}

/// N models (the Adult-like model of the operator tests) and one policy each.
fn populate(api: &FakeApi, n: usize) {
    let model = serde_json::to_value(common::model_yaml(false)).expect("model");
    for i in 0..n {
        let (ns, name) = (namespace(i), format!("model-{i:05}"));
        let mut m = model.clone();
        m["metadata"] = json!({"name": name, "namespace": ns});
        api.put(&m);
        api.put(&json!({
            "apiVersion": "vigil.dev/v1alpha1", "kind": "DriftPolicy",
            "metadata": {"name": format!("{name}-drift"), "namespace": ns},
            "spec": {"modelRef": {"name": name}}
        }));
    }
}

/// Objects whose status is current (observedGeneration = generation), of 2N.
fn current(api: &FakeApi) -> usize {
    (0..NAMESPACES)
        .map(namespace)
        .flat_map(|ns| [models_path(&ns), policies_path(&ns)])
        .map(|collection| {
            api.names(&collection)
                .iter()
                .filter_map(|name| api.get::<Value>(&collection, name))
                .filter(|o| {
                    let generation = &o["metadata"]["generation"];
                    !generation.is_null() && o["status"]["observedGeneration"] == *generation
                })
                .count()
        })
        .sum()
}

/// `LIST monitoredmodels`, `PATCH monitoredmodels/status`, `WATCH jobs`, …
fn verb_and_resource(request: &Recorded) -> String {
    let parts: Vec<&str> = request.path.trim_matches('/').split('/').collect();
    // api/v1/… or apis/group/version/…, then an optional namespaces/<ns>.
    let mut rest = match parts.first() {
        Some(&"api") => &parts[2.min(parts.len())..],
        _ => &parts[3.min(parts.len())..],
    };
    if rest.first() == Some(&"namespaces") && rest.len() > 2 {
        rest = &rest[2..];
    }
    let resource = rest.first().copied().unwrap_or("?");
    let named = rest.len() > 1;
    let sub = rest.get(2).map(|s| format!("/{s}")).unwrap_or_default();
    let verb = match request.method.as_str() {
        "GET" if request.is_watch() => "WATCH",
        "GET" if named => "GET",
        "GET" => "LIST",
        other => other,
    };
    format!("{verb} {resource}{sub}")
}

fn by_verb(requests: &[Recorded]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in requests.iter().filter(|r| !r.path.starts_with(LEASES)) {
        *counts.entry(verb_and_resource(r)).or_insert(0) += 1;
    }
    counts
}

fn kubeconfig(dir: &Path, server: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: fake, cluster: {{server: \"{server}\"}}}}]\n\
             users: [{{name: bench, user: {{token: not-a-secret}}}}]\n\
             contexts: [{{name: fake, context: {{cluster: fake, user: bench}}}}]\ncurrent-context: fake\n"
        ),
    )
    .expect("kubeconfig");
    path
}

struct Operator {
    child: Child,
    metrics: String,
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(api: &FakeApi, options: &Options, dir: &Path) -> Operator {
    let server = api.serve_http();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(&options.vigil)
        .args(["operator", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--leader-election", "false", "--image", "vigil:bench"])
        .args([
            "--max-concurrent-reconciles",
            &options.concurrency.to_string(),
        ])
        .env("KUBECONFIG", kubeconfig(dir, &format!("http://{server}")))
        .env("RUST_LOG", "warn")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("VIGIL_WATCH_NAMESPACE")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("operator.log")).expect("log"))
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", options.vigil.display()));
    Operator {
        child,
        metrics: format!("http://127.0.0.1:{port}/metrics"),
    }
}

/// A `/proc/<pid>/status` field in KiB (VmRSS, VmHWM).
fn proc_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// User + system CPU seconds of the process.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("stat") + 2..]
        .split(' ')
        .collect();
    let ticks: f64 =
        fields[11].parse::<f64>().unwrap_or(0.0) + fields[12].parse::<f64>().unwrap_or(0.0);
    ticks / 100.0
}

async fn reconciles(url: &str) -> f64 {
    let Ok(response) = reqwest::get(url).await else {
        return 0.0;
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("vigil_operator_reconciles_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

struct Row {
    n: usize,
    converge: Option<f64>,
    requests: BTreeMap<String, usize>,
    steady_kib: u64,
    baseline_kib: u64,
    relist_peak_kib: u64,
    relist_seconds: f64,
    quiet_reconciles: f64,
    quiet_requests: usize,
    cpu: f64,
}

async fn measure(n: usize, options: &Options) -> Row {
    let api = FakeApi::new();
    populate(&api, n);
    let objects = 2 * n;
    let dir = tempfile::tempdir().expect("tempdir");
    let operator = start(&api, options, dir.path());
    let pid = operator.child.id();
    let started = Instant::now();
    let limit = Duration::from_secs(60 + n as u64 / 10);
    let mut converge = None;
    while started.elapsed() < limit {
        if current(&api) == objects {
            converge = Some(started.elapsed().as_secs_f64());
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let requests = by_verb(&api.take_requests());

    // Steady: a few seconds after the last status write.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let steady_kib = proc_kib(pid, "VmRSS");

    // Quiet window: nothing changes in the world.
    api.take_requests();
    let before = reconciles(&operator.metrics).await;
    tokio::time::sleep(options.quiet).await;
    let quiet_reconciles = reconciles(&operator.metrics).await - before;
    let quiet_requests = api
        .take_requests()
        .iter()
        .filter(|r| !r.path.starts_with(LEASES) && !r.is_watch())
        .count();

    // Relist: compaction ends every watch and refuses their resumption (410).
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    let relist_started = Instant::now();
    api.compact();
    let watched = by_verb(&api.requests())
        .keys()
        .filter(|k| k.starts_with("WATCH"))
        .count()
        .max(1);
    let mut relisted = 0;
    while relist_started.elapsed() < Duration::from_secs(60) {
        relisted = by_verb(&api.requests())
            .keys()
            .filter(|k| k.starts_with("LIST"))
            .count();
        if relisted >= watched {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let relist_seconds = relist_started.elapsed().as_secs_f64() - 5.0;
    let relist_peak_kib = proc_kib(pid, "VmHWM");
    if relisted < watched {
        eprintln!("N={n}: {relisted} of {watched} watched resources relisted within 60 s");
    }
    let cpu = cpu_seconds(pid);
    drop(operator);
    Row {
        n,
        converge,
        requests,
        steady_kib,
        baseline_kib: 0,
        relist_peak_kib,
        relist_seconds,
        quiet_reconciles,
        quiet_requests,
        cpu,
    }
}

fn print(rows: &[Row], options: &Options) {
    println!(
        "\n`vigil operator` against the fake API server: N MonitoredModels + N DriftPolicies in {NAMESPACES} namespaces, \
         --max-concurrent-reconciles {}, quiet window {} s\n",
        options.concurrency,
        options.quiet.as_secs()
    );
    println!("| N + N | all statuses current | requests / object to converge | steady RSS | RSS / object | relist peak RSS | reconciles / object, quiet | requests / object, quiet | CPU s |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let objects = (2 * r.n) as f64;
        let total: usize = r.requests.values().sum();
        println!(
            "| {n} + {n} | {converge} | {req:.2} | {rss:.1} MiB | {per:.1} KiB | {peak:.1} MiB ({ratio:.2}×, {rs:.1} s) | {qr:.2} | {qq:.2} | {cpu:.1} |",
            n = r.n,
            converge = r.converge.map_or("not within the limit".into(), |s| format!("{s:.1} s")),
            req = total as f64 / objects,
            rss = r.steady_kib as f64 / 1024.0,
            per = (r.steady_kib.saturating_sub(r.baseline_kib)) as f64 / objects,
            peak = r.relist_peak_kib as f64 / 1024.0,
            ratio = r.relist_peak_kib as f64 / r.steady_kib.max(1) as f64,
            rs = r.relist_seconds,
            qr = r.quiet_reconciles / objects,
            qq = r.quiet_requests as f64 / objects,
            cpu = r.cpu,
        );
    }
    for r in rows {
        println!("\nRequests to converge, N = {} (per object):\n", r.n);
        println!("| request | count | per object |\n|---|---|---|");
        for (what, count) in &r.requests {
            println!(
                "| {what} | {count} | {:.2} |",
                *count as f64 / (2 * r.n) as f64
            );
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let options = options();
    assert!(
        options.vigil.exists(),
        "{} not found: cargo build --release --bin vigil (or --vigil PATH)",
        options.vigil.display()
    );
    // The operator with nothing to do: what the per-object figure is measured from.
    let baseline = measure(
        0,
        &Options {
            quiet: Duration::from_secs(1),
            ..options.clone()
        },
    )
    .await;
    let mut rows = Vec::new();
    for &n in &options.sizes {
        eprintln!("N = {n} …");
        let mut row = measure(n, &options).await;
        row.baseline_kib = baseline.steady_kib;
        rows.push(row);
    }
    eprintln!(
        "baseline (no objects): {:.1} MiB",
        baseline.steady_kib as f64 / 1024.0
    );
    print(&rows, &options);
}
