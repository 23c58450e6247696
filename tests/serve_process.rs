//! `vigil serve` as a real process: no prediction that got a 200 is lost on SIGTERM.
//!
//! Trains a tiny model with `vigil train`, serves it with a log flush interval of an hour
//! (so only the shutdown flush can write the records), drives it with concurrent
//! keep-alive clients, sends SIGTERM in the middle of the load, and compares the number
//! of 200 rows with the number of records in the store.

#![allow(clippy::panic)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const VIGIL: &str = env!("CARGO_BIN_EXE_vigil");

fn write_fixture(dir: &std::path::Path) -> (String, std::path::PathBuf) {
    let csv = dir.join("tiny.csv");
    let mut f = std::fs::File::create(&csv).expect("csv");
    writeln!(f, "x,color,size,y").expect("write");
    for i in 0..400 {
        let x = (i * 37) % 101;
        let y = if (x > 50) ^ (i % 10 == 0) {
            "yes"
        } else {
            "no"
        };
        let color = ["red", "green", "blue", ""][i % 4];
        writeln!(f, "{x},{color},{},{y}", ["S", "M", "L"][i % 3]).expect("write");
    }
    let store = format!("file://{}/store", dir.display());
    let config = dir.join("train.yaml");
    std::fs::write(
        &config,
        format!(
            r#"model: tiny
schema:
  target: {{name: y, classes: ["no", "yes"]}}
  features:
    - {{name: x, type: numeric, min: 0, max: 100}}
    - {{name: color, type: categorical, nullable: true}}
    - {{name: size, type: categorical}}
storage:
  uri: {store}
training:
  data: {{uri: {}, format: csv}}
  algorithm: logistic-regression
"#,
            csv.display()
        ),
    )
    .expect("config");
    (store, config)
}

/// The fixture's model trained by `vigil train` into `<dir>/store`; its store URI.
fn train_fixture(dir: &std::path::Path) -> String {
    let (store_uri, config) = write_fixture(dir);
    let train = Command::new(VIGIL)
        .args(["train", "--config"])
        .arg(&config)
        .arg("--termination-log")
        .arg(dir.join("termination"))
        .output()
        .expect("run vigil train");
    assert!(
        train.status.success(),
        "vigil train failed: {}",
        String::from_utf8_lossy(&train.stderr)
    );
    store_uri
}

/// One HTTP/1.1 request on a keep-alive connection; `None` when the connection is gone.
async fn post(stream: &mut TcpStream, path: &str, body: &str) -> Option<(u16, String)> {
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..header_end]).to_ascii_lowercase();
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))?
        .trim()
        .parse()
        .ok()?;
    while buffer.len() < header_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buffer[header_end..header_end + length]).into_owned();
    Some((status, body))
}

async fn wait_ready(addr: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect(addr).await {
            let _ = s
                .write_all(b"GET /ready HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
                .await;
            let mut text = String::new();
            let _ = s.read_to_string(&mut text).await;
            if text.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("vigil serve did not become ready on {addr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_200_is_in_the_store_after_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store_uri = train_fixture(dir.path());

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let log = std::fs::File::create(dir.path().join("serve.log")).expect("log file");
    let mut child = Command::new(VIGIL)
        .args([
            "--log-format",
            "json",
            "serve",
            "--store",
            &store_uri,
            "--listen",
            &addr,
        ])
        .args([
            "--writer",
            "proc-test",
            "--flush-interval",
            "1h",
            "--flush-records",
            "100000",
        ])
        .args([
            "--buffer",
            "256",
            "--when-full",
            "block",
            "--shutdown-timeout",
            "20s",
        ])
        .env_remove("VIGIL_ADMIN_TOKEN")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start vigil serve");
    wait_ready(&addr).await;

    let started = Instant::now();
    let mut clients = Vec::new();
    for c in 0..16 {
        let addr = addr.clone();
        clients.push(tokio::spawn(async move {
            let mut ok_rows = 0u64;
            let mut n = 0u64;
            'connections: loop {
                let Ok(mut stream) = TcpStream::connect(&addr).await else {
                    break;
                };
                loop {
                    n += 1;
                    let single = format!(
                        r#"{{"request_id": "c{c}-{n}", "features": {{"x": {}, "color": "red", "size": "M"}}}}"#,
                        n % 100
                    );
                    let (path, body, rows) = if n % 10 == 0 {
                        let rows: Vec<String> = (0..5)
                            .map(|k| format!(r#"{{"request_id": "c{c}-{n}-{k}", "features": {{"x": {k}, "color": null, "size": "S"}}}}"#))
                            .collect();
                        ("/predict/batch", format!(r#"{{"requests": [{}]}}"#, rows.join(",")), 5)
                    } else {
                        ("/predict", single, 1)
                    };
                    match post(&mut stream, path, &body).await {
                        Some((200, _)) => ok_rows += rows,
                        Some((503, _)) => break 'connections,
                        Some((status, body)) => panic!("unexpected {status}: {body}"),
                        None => continue 'connections,
                    }
                    if started.elapsed() > Duration::from_secs(30) {
                        break 'connections;
                    }
                }
            }
            ok_rows
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let mut ok_rows = 0;
    for client in clients {
        ok_rows += client.await.expect("client");
    }
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "vigil serve did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let server_log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();
    assert!(status.success(), "exit {status}: {server_log}");

    let store = vigil_core::data::storage::Store::open(&store_uri).expect("store");
    let now = chrono::Utc::now();
    let records =
        vigil_core::data::prediction_log::read_window::<vigil_core::wire::PredictionRecord>(
            &store,
            now - chrono::Duration::hours(2),
            now,
        )
        .await
        .expect("read the log");
    assert!(
        ok_rows > 100,
        "too little load to prove anything: {ok_rows}"
    );
    assert_eq!(
        records.len() as u64,
        ok_rows,
        "200 rows vs records in the store; server log:\n{server_log}"
    );
    let ids: std::collections::HashSet<&str> =
        records.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids.len(), records.len(), "no record is written twice");
}

/// Starts `vigil serve` on `store_uri` with its log in `format` (`jsonl`, `parquet`),
/// sends `rows` rows in batches of 100 (a shifted `x` and more missing colours in the
/// second half), and stops it with SIGTERM (the shutdown flush writes what is left).
async fn serve_and_log(
    dir: &std::path::Path,
    store_uri: &str,
    profiles: bool,
    format: &str,
    rows: usize,
) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let log =
        std::fs::File::create(dir.join(format!("serve-{profiles}-{format}.log"))).expect("log");
    let mut child = Command::new(VIGIL)
        .args(["serve", "--store", store_uri, "--listen", &addr])
        .args(["--writer", "pod.a", "--flush-records", "500"])
        .args(["--batch-profiles", if profiles { "true" } else { "false" }])
        .args(["--prediction-log-format", format])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start vigil serve");
    wait_ready(&addr).await;
    let mut stream = TcpStream::connect(&addr).await.expect("connect");
    for start in (0..rows).step_by(100) {
        let requests: Vec<String> = (start..start + 100)
            .map(|i| {
                let shift = if i >= rows / 2 { 30 } else { 0 };
                let x = ((i * 37) % 70) + shift;
                let color = match i % (if shift > 0 { 3 } else { 5 }) {
                    0 => "null".to_string(),
                    k => format!("\"{}\"", ["red", "green", "blue", "red"][k % 4]),
                };
                format!(
                    r#"{{"request_id": "r-{i}", "features": {{"x": {x}, "color": {color}, "size": "{}"}}}}"#,
                    ["S", "M", "L"][i % 3]
                )
            })
            .collect();
        let body = format!(r#"{{"requests": [{}]}}"#, requests.join(","));
        let (status, text) = post(&mut stream, "/predict/batch", &body)
            .await
            .expect("answer");
        assert_eq!(status, 200, "{text}");
    }
    drop(stream);
    let pid = child.id().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(child.wait().expect("wait").success());
}

/// `vigil drift --config` on `store_uri`: the JSON summary and the report's description
/// of the current window.
fn drift_json(dir: &std::path::Path, store_uri: &str, name: &str) -> (serde_json::Value, String) {
    let config = dir.join(format!("drift-{name}.yaml"));
    std::fs::write(
        &config,
        format!(
            "model: tiny\nstorage:\n  uri: {store_uri}\npolicy:\n  window: 1h\n  minSamples: 100\n"
        ),
    )
    .expect("config");
    let out = Command::new(VIGIL)
        .args(["drift", "--json", "--config"])
        .arg(&config)
        .arg("--termination-log")
        .arg(dir.join(format!("termination-{name}")))
        .output()
        .expect("run vigil drift");
    assert!(
        out.status.success(),
        "vigil drift failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary JSON");
    let report_uri = summary["reportUri"]
        .as_str()
        .expect("reportUri")
        .to_string();
    let path = report_uri.strip_prefix("file://").unwrap_or(&report_uri);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("report")).expect("report JSON");
    for key in ["reportUri", "htmlUri", "checkedAt", "durationSeconds"] {
        summary.as_object_mut().expect("object").remove(key);
    }
    let description = report["current"]["description"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (summary, description)
}

/// The profiles `vigil serve` writes beside its log batches give the scheduled check
/// the verdict and statistics it gets by decoding the log (a second server, same rows,
/// without profiles), and the check reads no log batch where profiles exist. A third
/// server logs the same rows as Parquet, without profiles: decoding that log gives the
/// same check again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_over_served_profiles_equals_drift_over_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let with_uri = train_fixture(dir.path());
    let copy_of_models = |name: &str| {
        let root = dir.path().join(name);
        std::fs::create_dir_all(&root).expect("dir");
        let copied = Command::new("cp")
            .arg("-r")
            .arg(dir.path().join("store/models"))
            .arg(&root)
            .status()
            .expect("cp");
        assert!(copied.success());
        root
    };
    let without = copy_of_models("plain");
    let without_uri = format!("file://{}", without.display());
    let parquet = copy_of_models("parquet");
    let parquet_uri = format!("file://{}", parquet.display());

    serve_and_log(dir.path(), &with_uri, true, "jsonl", 3000).await;
    serve_and_log(dir.path(), &without_uri, false, "jsonl", 3000).await;
    serve_and_log(dir.path(), &parquet_uri, false, "parquet", 3000).await;
    let profiles = dir.path().join("store/profiles");
    let files = walk(&profiles);
    assert!(files >= 6, "3,000 rows in batches of 500: {files} profiles");
    assert_eq!(walk(&without.join("profiles")), 0);
    let parquet_files = walk(&parquet.join("logs"));
    assert_eq!(parquet_files, walk(&without.join("logs")));
    assert_eq!(
        walk_ending(&parquet.join("logs"), ".parquet"),
        parquet_files
    );

    let (a, described_a) = drift_json(dir.path(), &with_uri, "profiles");
    let (b, described_b) = drift_json(dir.path(), &without_uri, "log");
    let (c, described_c) = drift_json(dir.path(), &parquet_uri, "parquet");
    assert!(
        described_a.contains(&format!("({files} batch profiles, 0 log batches decoded)")),
        "{described_a}"
    );
    assert!(described_b.contains("log batches decoded"), "{described_b}");
    assert!(
        described_c.contains(&format!("{parquet_files} log batches decoded")),
        "{described_c}"
    );
    assert_ne!(a["verdict"], "None", "the second half is shifted: {a}");
    assert_eq!(a, b, "profiles and log give the same check");
    assert_eq!(
        c, b,
        "the Parquet log and the JSON Lines log give the same check"
    );
}

/// Files under `dir` whose name ends with `suffix`.
fn walk_ending(dir: &std::path::Path, suffix: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            if e.path().is_dir() {
                walk_ending(&e.path(), suffix)
            } else {
                usize::from(e.file_name().to_string_lossy().ends_with(suffix))
            }
        })
        .sum()
}

fn walk(dir: &std::path::Path) -> usize {
    walk_ending(dir, "")
}
