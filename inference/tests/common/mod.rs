//! A tiny model trained by the real training job on a generated CSV, and a server around it.
#![allow(dead_code, clippy::panic)]

use std::io::Write;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt;
use vigil_core::data::storage::Store;
use vigil_core::train::config::TrainJobConfig;
pub use vigil_core::train::model::Algorithm;
use vigil_inference::{app, AppState, Metrics, ServerConfig, Sinks};

pub const TOKEN: &str = "s3cret-token";

/// Writes `rows` rows of a 3-feature dataset: `x` numeric in [0, 100], `color`
/// categorical (nullable, red/green/blue or empty), `size` categorical (S/M/L).
/// `y` is `yes` mostly when x > 50.
pub fn write_csv(path: &std::path::Path, rows: usize) {
    let mut f = std::fs::File::create(path).expect("csv");
    writeln!(f, "x,color,size,y").expect("write");
    let colors = ["red", "green", "blue", ""];
    let sizes = ["S", "M", "L"];
    for i in 0..rows {
        let x = (i * 37) % 101;
        let noise = (i * 7) % 10 == 0;
        let y = if (x > 50) ^ noise { "yes" } else { "no" };
        writeln!(f, "{x},{},{},{y}", colors[i % 4], sizes[i % 3]).expect("write");
    }
}

pub fn train_config(csv: &str, store: &str) -> String {
    format!(
        r#"model: tiny
schema:
  target: {{name: y, classes: ["no", "yes"]}}
  features:
    - {{name: x, type: numeric, min: 0, max: 100}}
    - {{name: color, type: categorical, nullable: true}}
    - {{name: size, type: categorical, allowedValues: [S, M, L, XL]}}
storage:
  uri: {store}
training:
  data: {{uri: {csv}, format: csv}}
  algorithm: logistic-regression
  hyperparameters: {{maxIterations: 50}}
"#
    )
}

/// Trains one version into a fresh file store; returns the temp dir (keep it alive) and the URI.
pub async fn trained_store(algorithm: Algorithm) -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("tiny.csv");
    write_csv(&csv, 300);
    let uri = format!("file://{}/store", dir.path().display());
    let version = train_with(&uri, &csv.display().to_string(), 0, algorithm).await;
    (dir, uri, version)
}

/// Fits a logistic regression on the CSV's rows with the core pipeline and saves it as
/// version `now + offset_s` (what `vigil train` does, minus validation and evaluation).
pub async fn train_into(uri: &str, csv: &str, offset_s: i64) -> String {
    train_with(uri, csv, offset_s, Algorithm::LogisticRegression).await
}

/// [`train_into`] with `algorithm`.
pub async fn train_with(uri: &str, csv: &str, offset_s: i64, algorithm: Algorithm) -> String {
    use vigil_core::data::schema::Value as Cell;
    use vigil_core::train::artifact::{
        self, Lineage, ModelArtifact, ReferenceInfo, ReferenceSample,
    };
    use vigil_core::train::evaluation::Metrics as EvalMetrics;
    use vigil_core::train::model::{Hyperparameters, Model};
    use vigil_core::train::pipeline::{FeaturePipeline, PipelineSpec};
    use vigil_core::train::validation::ValidationReport;

    let config = TrainJobConfig::from_text(&train_config(csv, uri), "tiny.yaml").expect("config");
    let text = std::fs::read_to_string(csv).expect("csv");
    let mut columns: Vec<Vec<Cell>> = vec![Vec::new(); 3];
    let mut target = Vec::new();
    for line in text.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        for (i, spec) in config.schema.features.iter().enumerate() {
            columns[i].push(spec.parse(Some(cells[i])).expect("cell"));
        }
        target.push(usize::from(cells[3] == "yes"));
    }
    let frame = vigil_core::data::dataset::Frame { columns, target };
    let pipeline = FeaturePipeline::fit(&config.schema, &frame, &PipelineSpec::default());
    let x = pipeline.transform(&frame).expect("transform");
    let params = Hyperparameters::default().check(algorithm).expect("params");
    let rows = vigil_core::train::learn::SparseRows::from_dense(x.view());
    let model = Model::fit(&params, &rows, &frame.target, 2, &mut |_| {})
        .expect("fit")
        .model;
    let probabilities = model.predict_proba(x.view()).expect("predict");
    let now = chrono::Utc::now() + chrono::Duration::seconds(offset_s);
    let version = artifact::new_version(now, uri.as_bytes());
    let artifact = ModelArtifact {
        format_version: artifact::FORMAT_VERSION,
        version: version.clone(),
        model_name: Some("tiny".into()),
        created_at: now,
        vigil_version: vigil_core::VIGIL_VERSION.into(),
        schema: config.schema.clone(),
        pipeline: pipeline.clone(),
        model,
        metrics: EvalMetrics::compute(probabilities.view(), &frame.target),
        validation: ValidationReport {
            passed: true,
            rows: frame.n_rows(),
            checks: Vec::new(),
        },
        lineage: Lineage {
            data_uri: csv.into(),
            data_sha256: String::new(),
            rows_total: frame.n_rows(),
            rows_train: frame.n_rows(),
            rows_holdout: 0,
            algorithm,
            hyperparameters: Hyperparameters::default(),
            holdout: Default::default(),
            fit_seconds: 0.0,
        },
        reference: ReferenceInfo {
            file: artifact::REFERENCE_FILE.into(),
            rows: 0,
            sha256: String::new(),
        },
        holdout: None,
    };
    let reference = ReferenceSample {
        columns: config
            .schema
            .features
            .iter()
            .map(|f| f.name.clone())
            .zip(frame.columns.clone())
            .collect(),
        target: frame.target.clone(),
        probabilities: probabilities
            .rows()
            .into_iter()
            .map(|r| r.to_vec())
            .collect(),
    };
    let store = Store::open(uri).expect("store");
    artifact.save(&store, &reference, None).await.expect("save");
    version
}

pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub uri: String,
    pub version: String,
    pub state: AppState,
    pub sinks: Option<Sinks>,
    pub router: Router,
}

pub fn config() -> ServerConfig {
    let mut config = ServerConfig {
        admin_token: vigil_inference::BearerToken::new(TOKEN),
        max_batch: 50,
        max_body_bytes: 64 * 1024,
        ..ServerConfig::default()
    };
    config.sink.writer = "test-pod".into();
    config.sink.flush_interval = Duration::from_millis(50);
    config
}

pub async fn server_with(config: ServerConfig) -> TestServer {
    server_of(config, Algorithm::LogisticRegression).await
}

/// A server of a model trained with `algorithm`.
pub async fn server_of(config: ServerConfig, algorithm: Algorithm) -> TestServer {
    let (dir, uri, version) = trained_store(algorithm).await;
    let store = Store::open(&uri).expect("store");
    let (state, sinks) = AppState::start(store, config, Metrics::new().expect("metrics"));
    state.load(None).await.expect("model loads");
    let router = app(state.clone());
    TestServer {
        dir,
        uri,
        version,
        state,
        sinks: Some(sinks),
        router,
    }
}

pub async fn server() -> TestServer {
    server_with(config()).await
}

pub fn row(x: Value, color: Value, size: Value) -> Value {
    json!({"x": x, "color": color, "size": size})
}

pub fn good_request(id: &str) -> Value {
    json!({"request_id": id, "features": row(json!(42), json!("red"), json!("M"))})
}

impl TestServer {
    pub async fn call(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, value)
    }

    pub async fn post_raw(&self, path: &str, body: impl Into<Body>) -> (StatusCode, Value) {
        self.call(
            Request::post(path)
                .header("content-type", "application/json")
                .body(body.into())
                .expect("request"),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.post_raw(path, body.to_string()).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Request::get(path).body(Body::empty()).expect("request"))
            .await
    }

    pub async fn admin(&self, method: &str, path: &str, body: &str) -> (StatusCode, Value) {
        self.call(
            Request::builder()
                .method(method)
                .uri(path)
                .header("authorization", format!("Bearer {TOKEN}"))
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .expect("request"),
        )
        .await
    }

    pub async fn metrics_text(&self) -> String {
        match self.get("/metrics").await {
            (StatusCode::OK, Value::String(text)) => text,
            other => panic!("metrics: {other:?}"),
        }
    }

    /// Flushes the logs (stops the writers).
    pub async fn flush(&mut self) {
        if let Some(sinks) = self.sinks.take() {
            sinks.shutdown().await;
        }
    }
}

/// A server on a real socket (127.0.0.1, a free port) over a freshly trained store.
pub struct SocketServer {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub version: String,
    pub addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub async fn socket_server(config: ServerConfig) -> SocketServer {
    let (dir, uri, version) = trained_store(Algorithm::LogisticRegression).await;
    let store = Store::open(&uri).expect("store");
    let (state, sinks) = AppState::start(store.clone(), config, Metrics::new().expect("metrics"));
    state.load(None).await.expect("load");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(vigil_inference::serve(
        listener,
        state,
        sinks,
        async {
            let _ = stop_rx.await;
        },
        Duration::from_secs(5),
    ));
    SocketServer {
        dir,
        store,
        version,
        addr,
        stop,
        task,
    }
}

impl SocketServer {
    /// Stops the server gracefully (the logs flushed); returns the store and its dir.
    pub async fn stop(self) -> (Store, tempfile::TempDir) {
        self.stop.send(()).expect("stop");
        self.task.await.expect("join").expect("serve");
        (self.store, self.dir)
    }
}

/// The value of a metric line like `name{labels} value`.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.trim().parse().ok())
        })
        .unwrap_or_else(|| panic!("no series `{series}` in\n{text}"))
}
