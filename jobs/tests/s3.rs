//! The `s3://` store for real, against a local S3-compatible server (moto) on
//! loopback. Skipped when `moto_server` is not installed, unless
//! `VIGIL_REQUIRE_S3=1` (CI sets it), in which case its absence fails.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use vigil_core::data::storage::{read_uri, Store, StoreError};
use vigil_core::train::artifact::{self, ModelArtifact};
use vigil_core::train::config::TrainJobConfig;
use vigil_jobs::train::train;

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_moto() -> Option<(Moto, u16)> {
    let binary = vigil_testkit::MOTO.find()?;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(binary)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let moto = Moto(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some((moto, port))
}

/// Creates a bucket with a bare HTTP request (moto does not check signatures).
fn create_bucket(port: u16, bucket: &str) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        stream,
        "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

#[tokio::test]
async fn s3_store_round_trip_and_training_to_s3() {
    let Some((_moto, port)) = start_moto() else {
        return;
    };
    std::env::set_var("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"));
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    std::env::set_var("AWS_REGION", "us-east-1");
    create_bucket(port, "vigil");

    let store = Store::open("s3://vigil/models/income").expect("open");
    store
        .put("a/one.json", Bytes::from_static(b"1"))
        .await
        .expect("put");
    store
        .put("a/two.json", Bytes::from_static(b"2"))
        .await
        .expect("put");
    store
        .put("b/three.json", Bytes::from_static(b"3"))
        .await
        .expect("put");
    assert_eq!(
        store.get("a/two.json").await.expect("get"),
        Bytes::from_static(b"2")
    );
    assert_eq!(
        store.list("a").await.expect("list"),
        vec!["a/one.json", "a/two.json"]
    );
    assert_eq!(store.list_dirs("").await.expect("dirs"), vec!["a", "b"]);
    assert!(matches!(
        store.put_new("a/one.json", Bytes::new()).await,
        Err(StoreError::AlreadyExists { .. })
    ));
    assert!(matches!(
        store.get("a/none.json").await,
        Err(StoreError::NotFound { .. })
    ));
    store.delete("a/one.json").await.expect("delete");
    assert!(!store.exists("a/one.json").await.expect("head"));
    assert_eq!(
        read_uri("s3://vigil/models/income/b/three.json")
            .await
            .expect("read by URI"),
        Bytes::from_static(b"3")
    );

    // Training data read from S3, artifact written to S3, loaded back.
    let csv: String = std::iter::once("x,c,y\n".to_string())
        .chain((0..60).map(|i| {
            format!(
                "{i},{},{}\n",
                if i % 2 == 0 { "a" } else { "b" },
                if i % 3 == 0 { "yes" } else { "no" }
            )
        }))
        .collect();
    Store::open("s3://vigil/datasets")
        .expect("open")
        .put("small.csv", Bytes::from(csv))
        .await
        .expect("upload data");
    let config = TrainJobConfig::from_text(
        r#"
schema:
  target: {name: y, classes: [no, yes]}
  features: [{name: x, type: numeric}, {name: c, type: categorical}]
storage: {uri: "s3://vigil/models/small"}
training:
  data: {uri: "s3://vigil/datasets/small.csv"}
  algorithm: decision-tree
  validation: {minRows: 10}
"#,
        "s3.yaml",
    )
    .expect("config");
    let outcome = train(&config, chrono::Utc::now(), &|_| {})
        .await
        .expect("trains against S3");
    let models = Store::open("s3://vigil/models/small").expect("open");
    let version = artifact::latest_version(&models).await.expect("version");
    assert_eq!(version, outcome.artifact.version);
    let loaded = ModelArtifact::load(&models, &version).await.expect("load");
    assert_eq!(loaded, outcome.artifact);
    loaded.load_reference(&models).await.expect("reference");

    // Parquet read from S3: the same model and metrics as the same rows from CSV.
    let parquet =
        std::fs::read(common::parquet_fixture("adult-head.zstd.parquet")).expect("fixture");
    Store::open("s3://vigil/datasets")
        .expect("open")
        .put("adult-head.zstd.parquet", Bytes::from(parquet))
        .await
        .expect("upload Parquet");
    let dir = tempfile::tempdir().expect("tempdir");
    let csv_rows = common::adult_head_csv(dir.path());
    let from_csv = common::trained(&common::adult_config(dir.path(), &csv_rows, None)).await;
    let s3_uri = "s3://vigil/datasets/adult-head.zstd.parquet";
    let from_s3 = common::trained(&common::adult_config(dir.path(), s3_uri, None)).await;
    common::assert_same_as_csv(&from_s3, &from_csv, s3_uri);
    assert_eq!(from_s3.artifact.lineage.data_uri, s3_uri);
}
