//! `vigil serve`: flags → [`vigil_inference::ServerConfig`], signals, listener.
//!
//! SIGTERM / SIGINT: stop accepting, finish requests in flight (`--shutdown-timeout`),
//! flush the prediction and feedback logs, exit 0. SIGHUP: reload the model (the
//! `--version` given, else the newest) in the background; a failure keeps the old one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use vigil_core::data::storage::Store;
use vigil_core::span::Span;
use vigil_inference::{
    AppState, BearerToken, Metrics, OutOfRange, PredictionLogFormat, ServerConfig, SinkConfig,
    WhenFull,
};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Store of the model (file://, s3://, pvc://, or a path).
    #[arg(long, env = "VIGIL_STORE", default_value = "out/store/adult-income")]
    pub store: String,
    /// Model version to serve (also what SIGHUP reloads); default: the newest in the store.
    #[arg(long, env = "VIGIL_MODEL_VERSION")]
    pub version: Option<String>,
    /// Address to listen on.
    #[arg(long, env = "VIGIL_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Writer name in prediction-log file names; must be unique per replica (the Pod name).
    #[arg(long, env = "HOSTNAME", default_value = "vigil")]
    pub writer: String,
    /// Write buffered log records at least this often (e.g. 10s, 500ms, 1m; at most 1h).
    #[arg(long, env = "VIGIL_FLUSH_INTERVAL", default_value = "10s")]
    pub flush_interval: Span,
    /// Write a log batch as soon as it holds this many records.
    #[arg(long, env = "VIGIL_FLUSH_RECORDS", default_value_t = 5000)]
    pub flush_records: usize,
    /// Records the in-memory log buffer holds before `--when-full` applies.
    #[arg(long, env = "VIGIL_LOG_BUFFER", default_value_t = 50_000)]
    pub buffer: usize,
    /// When the log buffer is full: block (wait; nothing is lost) or drop (count and go on).
    #[arg(long, env = "VIGIL_WHEN_FULL", value_enum, default_value = "block")]
    pub when_full: WhenFullArg,
    /// File format of the prediction log: jsonl (gzip JSON Lines) or parquet (one file of
    /// one row group a batch, for pyarrow, DuckDB, Spark). The drift check and /logs read both.
    #[arg(
        long,
        env = "VIGIL_PREDICTION_LOG_FORMAT",
        value_enum,
        default_value = "jsonl"
    )]
    pub prediction_log_format: PredictionLogFormatArg,
    /// Write each prediction-log batch's drift profile beside it (profiles/…): scheduled
    /// drift checks then merge profiles instead of decoding the log.
    #[arg(long, env = "VIGIL_BATCH_PROFILES", default_value_t = true, action = clap::ArgAction::Set)]
    pub batch_profiles: bool,
    /// Fraction of prediction requests written to the log (1 = all).
    #[arg(long, env = "VIGIL_LOG_SAMPLE_RATE", default_value_t = 1.0)]
    pub log_sample_rate: f64,
    /// Values outside the schema's min/max: reject (422) or accept (predict and count).
    #[arg(long, env = "VIGIL_OUT_OF_RANGE", value_enum, default_value = "reject")]
    pub out_of_range: OutOfRangeArg,
    /// File holding the bearer token of /model/reload and /logs (a mounted Secret).
    /// VIGIL_ADMIN_TOKEN is used when no file is given. Without either, those endpoints answer 403.
    #[arg(long, env = "VIGIL_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// File holding the bearer token of /feedback (its own Secret: the label producer needs
    /// nothing else). VIGIL_FEEDBACK_TOKEN is used when no file is given. Without either,
    /// /feedback takes labels from anyone who can reach the server.
    #[arg(long, env = "VIGIL_FEEDBACK_TOKEN_FILE")]
    pub feedback_token_file: Option<PathBuf>,
    /// Largest request body in bytes (413 above).
    #[arg(long, env = "VIGIL_MAX_BODY_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Most rows in one /predict/batch (413 above).
    #[arg(long, env = "VIGIL_MAX_BATCH", default_value_t = 1000)]
    pub max_batch: usize,
    /// Most rows in one Open Inference Protocol infer request (413 above).
    #[arg(long, env = "VIGIL_MAX_INFER_BATCH", default_value_t = 10_000)]
    pub max_infer_batch: usize,
    /// Longest a request may take before a 408.
    #[arg(long, env = "VIGIL_REQUEST_TIMEOUT", default_value = "10s")]
    pub request_timeout: Span,
    /// Close a connection whose request header has not fully arrived this long after it
    /// opened or after its previous response (idle keep-alive connections too: keep it
    /// above the idle timeout of a load balancer in front).
    #[arg(long, env = "VIGIL_HEADER_READ_TIMEOUT", default_value = "30s")]
    pub header_read_timeout: Span,
    /// Connections served at once; one more is answered 503 and closed. Keep it below the
    /// file-descriptor limit (`ulimit -n`).
    #[arg(long, env = "VIGIL_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// On SIGTERM, how long requests in flight may take, and then how long the final log
    /// flush may retry a failing store.
    #[arg(long, env = "VIGIL_SHUTDOWN_TIMEOUT", default_value = "20s")]
    pub shutdown_timeout: Span,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PredictionLogFormatArg {
    Jsonl,
    Parquet,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum WhenFullArg {
    Block,
    Drop,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OutOfRangeArg {
    Reject,
    Accept,
}

/// Flags that cannot make a server.
#[derive(Debug, thiserror::Error)]
enum ArgsError {
    #[error("cannot read {which} token file `{path}`: {source}")]
    TokenFile {
        which: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the {0} token is empty")]
    EmptyToken(&'static str),
    #[error("--flush-interval must be at most 1h")]
    FlushInterval,
    #[error("--log-sample-rate must be between 0 and 1")]
    SampleRate,
    #[error("--max-batch, --max-infer-batch, --buffer, --flush-records and --max-connections must be at least 1")]
    ZeroSize,
}

/// The `which` token from `file`, else from the environment variable `var`; `None` when
/// neither is set.
fn bearer_token(
    which: &'static str,
    file: Option<&PathBuf>,
    var: &str,
) -> Result<Option<BearerToken>, ArgsError> {
    let text = match file {
        Some(path) => std::fs::read_to_string(path).map_err(|source| ArgsError::TokenFile {
            which,
            path: path.display().to_string(),
            source,
        })?,
        None => match std::env::var(var) {
            Ok(token) => token,
            Err(_) => return Ok(None),
        },
    };
    BearerToken::new(&text)
        .map(Some)
        .ok_or(ArgsError::EmptyToken(which))
}

fn config(args: &ServeArgs) -> Result<ServerConfig, ArgsError> {
    if args.flush_interval > Span::from_hours(1) {
        return Err(ArgsError::FlushInterval);
    }
    if !(0.0..=1.0).contains(&args.log_sample_rate) {
        return Err(ArgsError::SampleRate);
    }
    if args.max_batch == 0
        || args.max_infer_batch == 0
        || args.buffer == 0
        || args.flush_records == 0
        || args.max_connections == 0
    {
        return Err(ArgsError::ZeroSize);
    }
    Ok(ServerConfig {
        max_body_bytes: args.max_body_bytes,
        max_batch: args.max_batch,
        max_infer_batch: args.max_infer_batch,
        request_timeout: args.request_timeout.into(),
        header_read_timeout: args.header_read_timeout.into(),
        max_connections: args.max_connections,
        out_of_range: match args.out_of_range {
            OutOfRangeArg::Reject => OutOfRange::Reject,
            OutOfRangeArg::Accept => OutOfRange::Accept,
        },
        admin_token: bearer_token("admin", args.admin_token_file.as_ref(), "VIGIL_ADMIN_TOKEN")?,
        feedback_token: bearer_token(
            "feedback",
            args.feedback_token_file.as_ref(),
            "VIGIL_FEEDBACK_TOKEN",
        )?,
        log_sample_rate: args.log_sample_rate,
        model_version: args.version.clone(),
        sink: SinkConfig {
            writer: sanitize_writer(&args.writer),
            flush_interval: args.flush_interval.into(),
            flush_records: args.flush_records,
            buffer: args.buffer,
            when_full: match args.when_full {
                WhenFullArg::Block => WhenFull::Block,
                WhenFullArg::Drop => WhenFull::Drop,
            },
            shutdown_timeout: args.shutdown_timeout.into(),
        },
        prediction_log_format: match args.prediction_log_format {
            PredictionLogFormatArg::Jsonl => PredictionLogFormat::JsonLines,
            PredictionLogFormatArg::Parquet => PredictionLogFormat::Parquet,
        },
        batch_profiles: args.batch_profiles,
    })
}

/// Writer names become file names: keep them to a safe alphabet.
fn sanitize_writer(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    if clean.is_empty() {
        "vigil".into()
    } else {
        clean
    }
}

async fn terminate() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!(signal = "SIGTERM", "stopping"),
                _ = int.recv() => tracing::info!(signal = "SIGINT", "stopping"),
            }
        }
        _ => {
            tracing::error!("cannot install signal handlers; stop with SIGKILL");
            std::future::pending::<()>().await;
        }
    }
}

fn reload_on_sighup(state: AppState) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot install the SIGHUP handler; use POST /model/reload");
        return;
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!(signal = "SIGHUP", "reloading the model");
            // The outcome is logged and counted by `load`.
            let _ = state.reload(state.config.model_version.clone()).await;
        }
    });
}

pub async fn run(args: ServeArgs) -> ExitCode {
    let config = match config(&args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let store = match Store::open(&args.store) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let metrics = match Metrics::new() {
        Ok(metrics) => metrics,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let shutdown_timeout = config.sink.shutdown_timeout;
    if config.feedback_token.is_none() {
        tracing::warn!(
            "/feedback is open: anyone who can reach this server can send labels, which feed \
             realized performance and retraining; set --feedback-token-file (or \
             VIGIL_FEEDBACK_TOKEN) and restrict who can connect (docs/serving.md)"
        );
    }
    let (state, sinks) = AppState::start(store, config, metrics);
    state.spawn_initial_load();
    reload_on_sighup(state.clone());
    tracing::info!(listen = %args.listen, store = %args.store, writer = %state.config.sink.writer, "serving");
    match vigil_inference::serve(listener, state, sinks, terminate(), shutdown_timeout).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: server failed: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_names_are_safe_file_names() {
        assert_eq!(sanitize_writer("vigil-7d9/../x"), "vigil-7d9_.._x");
        assert_eq!(sanitize_writer(""), "vigil");
    }
}
