//! `vigil serve`: the inference server as a library.
//!
//! [`app`] builds the whole HTTP surface from an [`AppState`] and has no socket, so tests
//! drive it with `tower::ServiceExt::oneshot`; [`serve`] runs it on a listener with
//! graceful shutdown and a final flush of the prediction log.
//!
//! Routes (see [`openapi`] for the full contract):
//! `GET /health` (alias `/healthz`), `GET /ready`, `POST /predict`, `POST /predict/batch`,
//! `GET /metrics`, `GET /metrics/summary`, `POST /model/reload` (token),
//! `GET /logs` (token), `POST /feedback`, `GET /openapi.json`.

pub mod admin;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod model;
pub mod openapi;
pub mod parse;
pub mod predict;
pub mod sink;

use std::future::{Future, IntoFuture};
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::Utc;
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use vigil_core::data::prediction_log::{FEEDBACK_PREFIX, LOGS_PREFIX};
use vigil_core::data::storage::{Store, StoreError};
use vigil_core::train::artifact::ArtifactError;
use vigil_core::wire::FeedbackRecord;

pub use crate::admin::AdminToken;
pub use crate::error::{AppError, Problem};
pub use crate::metrics::Metrics;
pub use crate::model::{LoadedModel, ModelSlot};
pub use crate::predict::{OutOfRange, PendingPrediction};
pub use crate::sink::{SinkConfig, SinkHandle, WhenFull};

use crate::admin::{Json2, ReloadResponse};
use crate::error::ErrorKind;
use crate::sink::LogSink;

/// Everything that shapes the server's behaviour; the CLI fills it from flags.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Largest accepted request body (413 above).
    pub max_body_bytes: usize,
    /// Most rows in one `/predict/batch` (413 above).
    pub max_batch: usize,
    /// Longest a request may take (408 after).
    pub request_timeout: Duration,
    pub out_of_range: OutOfRange,
    /// Bearer token of `/model/reload` and `/logs`; those answer 403 without one.
    pub admin_token: Option<AdminToken>,
    /// Fraction of prediction requests logged (1.0 = all).
    pub log_sample_rate: f64,
    /// Version to load at start and on SIGHUP; the newest when `None`.
    pub pinned_version: Option<String>,
    pub sink: SinkConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: 2 * 1024 * 1024,
            max_batch: 1000,
            request_timeout: Duration::from_secs(10),
            out_of_range: OutOfRange::Reject,
            admin_token: None,
            log_sample_rate: 1.0,
            pinned_version: None,
            sink: SinkConfig::default(),
        }
    }
}

/// Shared state of all handlers. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: ServerConfig,
    pub store: Store,
    pub metrics: Metrics,
    pub slot: ModelSlot,
    pub predictions: LogSink<PendingPrediction>,
    pub feedback: LogSink<FeedbackRecord>,
    reload_lock: tokio::sync::Mutex<()>,
    requests: AtomicU64,
    shutting_down: AtomicBool,
    started: Instant,
    id_prefix: String,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The log writers of a running server; shut them down after the HTTP server stops.
pub struct Sinks {
    predictions: SinkHandle,
    feedback: SinkHandle,
}

impl Sinks {
    /// Writes every buffered record to the store and stops the writers.
    pub async fn shutdown(self) {
        tokio::join!(self.predictions.shutdown(), self.feedback.shutdown());
    }
}

// Handlers share the state across tasks and threads.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<AppState>();
    assert_send_sync::<LoadedModel>();
};

impl AppState {
    /// Builds the state and starts the log writers (needs a Tokio runtime). No model is
    /// loaded yet: call [`AppState::load`] or [`AppState::spawn_initial_load`].
    pub fn start(store: Store, config: ServerConfig, metrics: Metrics) -> (AppState, Sinks) {
        let (predictions, predictions_handle) = LogSink::start(
            "predictions",
            LOGS_PREFIX,
            store.clone(),
            &config.sink,
            &metrics,
        );
        let (feedback, feedback_handle) = LogSink::start(
            "feedback",
            FEEDBACK_PREFIX,
            store.clone(),
            &config.sink,
            &metrics,
        );
        let id_prefix = format!("{}-{}", config.sink.writer, Utc::now().timestamp_millis());
        let inner = Inner {
            config,
            store,
            metrics,
            slot: ModelSlot::default(),
            predictions,
            feedback,
            reload_lock: tokio::sync::Mutex::new(()),
            requests: AtomicU64::new(0),
            shutting_down: AtomicBool::new(false),
            started: Instant::now(),
            id_prefix,
        };
        let sinks = Sinks {
            predictions: predictions_handle,
            feedback: feedback_handle,
        };
        (AppState(Arc::new(inner)), sinks)
    }

    /// The served model, or 503 before the first successful load.
    pub fn model(&self) -> Result<Arc<LoadedModel>, AppError> {
        self.slot.get().ok_or(AppError::NoModel)
    }

    /// A request id for rows that came without one: unique per writer and start.
    pub fn next_request_id(&self) -> String {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.id_prefix)
    }

    fn log_sampled(&self) -> bool {
        let rate = self.config.log_sample_rate;
        if rate >= 1.0 {
            return true;
        }
        if rate <= 0.0 {
            return false;
        }
        // Deterministic spread (golden-ratio sequence): exactly `rate` of requests over time.
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        ((n as f64) * 0.618_033_988_749_895).fract() < rate
    }

    /// Loads `version` (the newest when `None`) and swaps it in. Reloads are serialised,
    /// and run in their own task so a client that goes away cannot cancel one halfway.
    pub async fn reload(&self, version: Option<String>) -> Result<ReloadResponse, AppError> {
        let state = self.clone();
        tokio::spawn(async move {
            let _one_at_a_time = state.reload_lock.lock().await;
            state.load(version.as_deref()).await
        })
        .await
        .map_err(|e| AppError::ReloadFailed(format!("reload task failed: {e}")))?
    }

    /// Loads and installs a model now. A failure keeps the current model, is logged and
    /// counted (`vigil_model_reloads_total{result="failure"}`).
    pub async fn load(&self, version: Option<&str>) -> Result<ReloadResponse, AppError> {
        let previous = self.slot.get().map(|m| m.version().to_string());
        match model::load(&self.store, version).await {
            Ok(artifact) => {
                let loaded = Arc::new(LoadedModel::new(artifact, &self.metrics));
                let new_version = loaded.version().to_string();
                self.slot.swap(loaded);
                self.metrics.model_loaded.set(1);
                self.metrics.model_info.reset();
                self.metrics
                    .model_info
                    .with_label_values(&[new_version.as_str()])
                    .set(1);
                self.metrics
                    .model_reloads
                    .with_label_values(&["success"])
                    .inc();
                tracing::info!(version = %new_version, previous = ?previous, store = %self.store.root(), "model loaded");
                Ok(ReloadResponse {
                    status: "loaded",
                    model_version: new_version,
                    previous_version: previous,
                })
            }
            Err(e) => {
                self.metrics
                    .model_reloads
                    .with_label_values(&["failure"])
                    .inc();
                tracing::warn!(error = %e, requested = ?version, serving = ?previous, "model load failed; keeping the current model");
                let keeping = match &previous {
                    Some(v) => format!("{e} (still serving {v})"),
                    None => e.to_string(),
                };
                Err(match e {
                    ArtifactError::NoVersions { .. }
                    | ArtifactError::Store(StoreError::NotFound { .. }) => {
                        AppError::NotFound(format!("model reload failed: {keeping}"))
                    }
                    ArtifactError::Store(StoreError::InvalidUri { .. }) => {
                        AppError::invalid(vec![Problem::new("version", keeping, "invalid_version")])
                    }
                    ArtifactError::Store(_) => AppError::Store(keeping),
                    ArtifactError::Corrupt { .. } | ArtifactError::UnsupportedFormat { .. } => {
                        AppError::ReloadFailed(keeping)
                    }
                })
            }
        }
    }

    /// Loads the pinned (or newest) version in the background, retrying with backoff
    /// until one loads: a server may start before its first model is trained.
    pub fn spawn_initial_load(&self) -> tokio::task::JoinHandle<()> {
        let state = self.clone();
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(500);
            loop {
                if state.slot.get().is_some() {
                    return;
                }
                let result = {
                    let _one_at_a_time = state.reload_lock.lock().await;
                    if state.slot.get().is_some() {
                        return;
                    }
                    state.load(state.config.pinned_version.as_deref()).await
                };
                if result.is_ok() {
                    return;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        })
    }

    /// Marks the server as stopping: `/ready` answers 503 from now on.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
    }
}

/// Counts every routed request by route template and status, times it, and counts errors
/// by kind. Handles are pre-resolved: a 200 costs two atomic adds and a histogram observe.
async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = state.metrics.route(
        request
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    );
    let response = next.run(request).await;
    route.duration.observe(started.elapsed().as_secs_f64());
    let status = response.status();
    if status == StatusCode::OK {
        route.ok.inc();
    } else {
        state
            .metrics
            .requests
            .with_label_values(&[route.route, status.as_str()])
            .inc();
        let kind = response
            .extensions()
            .get::<ErrorKind>()
            .map_or_else(|| status_kind(status), |k| k.0);
        if status.is_client_error() || status.is_server_error() {
            state
                .metrics
                .request_errors
                .with_label_values(&[route.route, kind])
                .inc();
            tracing::debug!(status = status.as_u16(), kind, "request failed");
        }
    }
    response
}

fn status_kind(status: StatusCode) -> &'static str {
    match status {
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        _ => "other",
    }
}

async fn health(State(state): State<AppState>) -> Response {
    let version = state.slot.get().map(|m| m.version().to_string());
    Json2(serde_json::json!({"status": "ok", "model_version": version})).into_response()
}

async fn ready(State(state): State<AppState>) -> Response {
    if state.shutting_down.load(Ordering::Relaxed) {
        return AppError::ShuttingDown.into_response();
    }
    match state.slot.get() {
        Some(m) => Json2(serde_json::json!({"status": "ready", "model_version": m.version()}))
            .into_response(),
        None => AppError::NoModel.into_response(),
    }
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    match state.metrics.render() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn metrics_summary(State(state): State<AppState>) -> Response {
    let m = &state.metrics;
    let model = state.slot.get();
    let by_class: serde_json::Map<String, serde_json::Value> = model
        .as_ref()
        .map(|model| {
            model
                .classes()
                .iter()
                .zip(&model.metrics.by_class)
                .map(|(c, counter)| (c.clone(), counter.get().into()))
                .collect()
        })
        .unwrap_or_default();
    let log = |name: &str| {
        serde_json::json!({
            "records_written": m.log_records_written.with_label_values(&[name]).get(),
            "records_dropped": m.log_records_dropped.with_label_values(&[name]).get(),
            "flush_errors": m.log_flush_errors.with_label_values(&[name]).get(),
            "batches_written": m.log_batches_written.with_label_values(&[name]).get(),
            "buffer_records": m.log_buffer_depth.with_label_values(&[name]).get(),
        })
    };
    let requests: u64 = metrics::ROUTES
        .iter()
        .map(|r| {
            let route = m.route(Some(r));
            route.duration.get_sample_count()
        })
        .sum();
    let predict = m.route(Some("/predict")).duration.clone();
    let confidence_count = m.confidence.get_sample_count();
    Json2(serde_json::json!({
        "model_version": model.as_ref().map(|m| m.version().to_string()),
        "model_loaded": model.is_some(),
        "model_loaded_at": model.as_ref().map(|m| m.loaded_at),
        "uptime_seconds": state.started.elapsed().as_secs_f64(),
        "requests": requests,
        "predict_mean_latency_seconds": if predict.get_sample_count() > 0 {
            predict.get_sample_sum() / predict.get_sample_count() as f64
        } else { 0.0 },
        "rows_predicted": m.rows.get(),
        "predictions_by_class": by_class,
        "mean_confidence": if confidence_count > 0 {
            m.confidence.get_sample_sum() / confidence_count as f64
        } else { 0.0 },
        "feedback_received": m.feedback.get(),
        "reloads": {
            "success": m.model_reloads.with_label_values(&["success"]).get(),
            "failure": m.model_reloads.with_label_values(&["failure"]).get(),
        },
        "prediction_log": log("predictions"),
        "feedback_log": log("feedback"),
    }))
    .into_response()
}

async fn openapi_json() -> Response {
    Json2(openapi::document()).into_response()
}

async fn not_found(State(state): State<AppState>, request: Request) -> Response {
    let error = AppError::NotFound(format!(
        "no route {} {}; see /openapi.json",
        request.method(),
        vigil_core::text::shorten(request.uri().path(), 80)
    ));
    let response = error.into_response();
    let route = &state.metrics.unmatched;
    route.duration.observe(0.0);
    state
        .metrics
        .requests
        .with_label_values(&[route.route, "404"])
        .inc();
    response
}

async fn method_not_allowed() -> Response {
    let mut response = AppError::BadRequest(String::new()).into_response();
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    *response.body_mut() = axum::body::Body::from(
        r#"{"error":"method not allowed on this route; see /openapi.json","field":null,"problems":[]}"#,
    );
    response
        .extensions_mut()
        .insert(ErrorKind("method_not_allowed"));
    response
}

/// The whole HTTP surface. No socket: serve it with [`serve`] or call it with `oneshot`.
pub fn app(state: AppState) -> Router {
    let timeout = state.config.request_timeout;
    let body_limit = state.config.max_body_bytes;
    Router::new()
        .route("/health", get(health))
        .route("/healthz", get(health))
        .route("/ready", get(ready))
        .route("/predict", post(predict::predict))
        .route("/predict/batch", post(predict::predict_batch))
        .route("/metrics", get(metrics_text))
        .route("/metrics/summary", get(metrics_summary))
        .route("/model/reload", post(admin::reload))
        .route("/logs", get(admin::logs))
        .route("/feedback", post(admin::feedback))
        .route("/openapi.json", get(openapi_json))
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .route_layer(middleware::from_fn_with_state(state.clone(), track))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                tracing::debug_span!(
                    "request",
                    method = %request.method(),
                    path = %request.uri().path(),
                )
            }),
        )
        .with_state(state)
}

/// Serves `state` on `listener` until `shutdown` resolves, then stops accepting, lets
/// requests in flight finish (at most `shutdown_timeout`), and flushes the logs: with
/// `when_full = block`, every prediction answered with a 200 is in the store when this
/// returns.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    sinks: Sinks,
    shutdown: impl Future<Output = ()> + Send + 'static,
    shutdown_timeout: Duration,
) -> std::io::Result<()> {
    let stopping = Arc::new(tokio::sync::Notify::new());
    let signal = {
        let stopping = Arc::clone(&stopping);
        let state = state.clone();
        async move {
            shutdown.await;
            state.begin_shutdown();
            tracing::info!("shutting down: finishing requests in flight");
            stopping.notify_one();
        }
    };
    let server = axum::serve(listener, app(state.clone())).with_graceful_shutdown(signal);
    let result = tokio::select! {
        result = server.into_future() => result,
        () = async {
            stopping.notified().await;
            tokio::time::sleep(shutdown_timeout).await;
        } => {
            tracing::warn!(timeout_s = shutdown_timeout.as_secs_f64(), "shutdown timeout: dropping connections still open");
            Ok(())
        }
    };
    sinks.shutdown().await;
    tracing::info!(
        written = state
            .metrics
            .log_records_written
            .with_label_values(&["predictions"])
            .get(),
        dropped = state
            .metrics
            .log_records_dropped
            .with_label_values(&["predictions"])
            .get(),
        "prediction log flushed"
    );
    result
}
