//! The server's state: its configuration, the served model's slot, the log writers
//! and metrics, and loading (or reloading) a model into the slot.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::Serialize;
use vigil_core::data::prediction_log::{FEEDBACK_PREFIX, LOGS_PREFIX};
use vigil_core::data::storage::{Store, StoreError};
use vigil_core::train::artifact::ArtifactError;
use vigil_core::wire::FeedbackRecord;

use crate::auth::BearerToken;
use crate::error::{AppError, Problem};
use crate::metrics::Metrics;
use crate::record::PredictionBatch;
use crate::served::{self, LoadedModel, ModelSlot};
use crate::sink::parquet::ParquetLog;
use crate::sink::profile::BatchProfiles;
use crate::sink::{BatchFiles, LogSink, SinkConfig, SinkHandle};

/// What to do with a numeric value outside the schema's `min`/`max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutOfRange {
    /// 422, naming the field (the default: the schema is a contract).
    Reject,
    /// Predict anyway and count it in `vigil_feature_out_of_range_total`.
    Accept,
}

/// The file format of the prediction log's batches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PredictionLogFormat {
    /// Gzip-compressed JSON Lines, one record a line (`<writer>-<seq>.jsonl.gz`).
    #[default]
    JsonLines,
    /// One Parquet file of one row group a batch (`<writer>-<seq>.parquet`).
    Parquet,
}

/// Everything that shapes the server's behaviour; the CLI fills it from flags.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Largest accepted request body (413 above).
    pub max_body_bytes: usize,
    /// Most rows in one `/predict/batch` (413 above).
    pub max_batch: usize,
    /// Most rows in one Open Inference Protocol `infer` request (413 above).
    pub max_infer_batch: usize,
    /// Longest a request may take (408 after).
    pub request_timeout: Duration,
    /// A connection whose request header has not fully arrived this long after it opened
    /// (or after its previous response) is closed. Also closes idle keep-alive
    /// connections, so keep it above the idle timeout of a load balancer in front.
    pub header_read_timeout: Duration,
    /// Connections served at once; one more is answered 503 and closed.
    pub max_connections: usize,
    pub out_of_range: OutOfRange,
    /// Bearer token of `/model/reload` and `/logs`; those answer 403 without one.
    pub admin_token: Option<BearerToken>,
    /// Bearer token of `/feedback`; the endpoint is open without one.
    pub feedback_token: Option<BearerToken>,
    /// Fraction of prediction requests logged (1.0 = all).
    pub log_sample_rate: f64,
    /// The version to serve: loaded at start and on SIGHUP (`--version`,
    /// `VIGIL_MODEL_VERSION`); the newest in the store when `None`.
    pub model_version: Option<String>,
    pub sink: SinkConfig,
    pub prediction_log_format: PredictionLogFormat,
    /// Write each prediction-log batch's drift profile beside it (`profiles/…`), so that
    /// scheduled checks merge profiles instead of decoding the log.
    pub batch_profiles: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: 2 * 1024 * 1024,
            max_batch: 1000,
            max_infer_batch: 10_000,
            request_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            max_connections: 1024,
            out_of_range: OutOfRange::Reject,
            admin_token: None,
            feedback_token: None,
            log_sample_rate: 1.0,
            model_version: None,
            sink: SinkConfig::default(),
            prediction_log_format: PredictionLogFormat::JsonLines,
            batch_profiles: true,
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
    pub predictions: LogSink<PredictionBatch>,
    pub feedback: LogSink<FeedbackRecord>,
    reload_lock: tokio::sync::Mutex<()>,
    requests: AtomicU64,
    shutting_down: AtomicBool,
    pub(crate) started: Instant,
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

/// The prediction log's files: the log in its format, and the batch profiles beside it
/// when asked.
fn prediction_files(
    format: PredictionLogFormat,
    batch_profiles: bool,
    batch_rows: usize,
) -> BatchFiles<PredictionBatch> {
    let mut files = BatchFiles::json_lines();
    if format == PredictionLogFormat::Parquet {
        files.log = Arc::new(ParquetLog { batch_rows });
    }
    if batch_profiles {
        files.beside.push(Arc::new(BatchProfiles));
    }
    files
}

impl AppState {
    /// Builds the state and starts the log writers (needs a Tokio runtime). No model is
    /// loaded yet: call [`AppState::load`] or [`AppState::spawn_initial_load`].
    pub fn start(store: Store, config: ServerConfig, metrics: Metrics) -> (AppState, Sinks) {
        let (predictions, predictions_handle) = LogSink::start(
            "predictions",
            LOGS_PREFIX,
            store.clone(),
            prediction_files(
                config.prediction_log_format,
                config.batch_profiles,
                config.sink.flush_records,
            ),
            &config.sink,
            &metrics,
        );
        let (feedback, feedback_handle) = LogSink::start(
            "feedback",
            FEEDBACK_PREFIX,
            store.clone(),
            BatchFiles::json_lines(),
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

    pub(crate) fn log_sampled(&self) -> bool {
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
        match served::load(&self.store, version).await {
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
                Err(load_error(e, previous.as_deref()))
            }
        }
    }

    /// Loads the version to serve (or the newest) in the background, retrying with backoff
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
                    state.load(state.config.model_version.as_deref()).await
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

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }
}

/// What a failed load answers: the current model stays, and the message says which.
fn load_error(e: ArtifactError, serving: Option<&str>) -> AppError {
    let keeping = match serving {
        Some(v) => format!("{e} (still serving {v})"),
        None => e.to_string(),
    };
    match e {
        ArtifactError::NoVersions { .. } | ArtifactError::Store(StoreError::NotFound { .. }) => {
            AppError::NotFound(format!("model reload failed: {keeping}"))
        }
        ArtifactError::Store(StoreError::InvalidUri { .. }) => {
            AppError::invalid(vec![Problem::new("version", keeping, "invalid_version")])
        }
        ArtifactError::Store(_) => AppError::Store(keeping),
        ArtifactError::Corrupt { .. } | ArtifactError::UnsupportedFormat { .. } => {
            AppError::ReloadFailed(keeping)
        }
    }
}

/// The answer to a successful `POST /model/reload` (and the outcome of every load).
#[derive(Debug, Serialize)]
pub struct ReloadResponse {
    pub status: &'static str,
    pub model_version: String,
    pub previous_version: Option<String>,
}
