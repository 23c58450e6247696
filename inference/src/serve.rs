//! Running the server on a socket: the accept loop, graceful shutdown with a timeout,
//! then the final flush of the logs.
//!
//! The accept loop is ours rather than `axum::serve` because that one has neither a
//! header-read timeout nor a connection limit, and both are what keep a model server
//! alive when clients misbehave:
//! - a connection whose request header has not fully arrived `header_read_timeout` after
//!   the connection opened (or after its previous response) is closed: half-sent headers
//!   never hold a file descriptor for long;
//! - at most `max_connections` are served at once; one more is answered `503` with a JSON
//!   error and closed, so the server never reaches its file-descriptor limit (where
//!   accepting stops for everyone) and the client learns why.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use prometheus::{IntCounter, IntGauge};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::router::app;
use crate::state::{AppState, Sinks};

/// Refusals (503) written at once; beyond, an extra connection is closed without an answer.
const MAX_CONCURRENT_REFUSALS: usize = 64;

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
    let connections = Connections::new(&state);
    let app = app(state.clone());
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((stream, _)) => connections.take(stream, &app, &graceful),
            Err(e) => accept_failed(e).await,
        }
    }
    drop(listener);
    state.begin_shutdown();
    tracing::info!("shutting down: finishing requests in flight");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(shutdown_timeout) => {
            tracing::warn!(timeout_s = shutdown_timeout.as_secs_f64(), "shutdown timeout: dropping connections still open");
        }
    }
    sinks.shutdown().await;
    let logged =
        |counter: &prometheus::IntCounterVec| counter.with_label_values(&["predictions"]).get();
    tracing::info!(
        written = logged(&state.metrics.log_records_written),
        dropped = logged(&state.metrics.log_records_dropped),
        "prediction log flushed"
    );
    Ok(())
}

/// The connection limit and the per-connection settings, with their metrics.
struct Connections {
    open: Arc<Semaphore>,
    refusing: Arc<Semaphore>,
    header_read_timeout: Duration,
    open_gauge: IntGauge,
    refused_at_limit: IntCounter,
    header_timeouts: IntCounter,
}

impl Connections {
    fn new(state: &AppState) -> Connections {
        let metrics = &state.metrics;
        Connections {
            open: Arc::new(Semaphore::new(state.config.max_connections)),
            refusing: Arc::new(Semaphore::new(MAX_CONCURRENT_REFUSALS)),
            header_read_timeout: state.config.header_read_timeout,
            open_gauge: metrics.connections_open.clone(),
            refused_at_limit: metrics.connections_refused.with_label_values(&["limit"]),
            header_timeouts: metrics
                .connections_refused
                .with_label_values(&["header_timeout"]),
        }
    }

    /// Serves `stream` on its own task, or refuses it when the limit is reached.
    fn take(&self, stream: TcpStream, app: &Router, graceful: &GracefulShutdown) {
        let Ok(permit) = Arc::clone(&self.open).try_acquire_owned() else {
            self.refused_at_limit.inc();
            if let Ok(permit) = Arc::clone(&self.refusing).try_acquire_owned() {
                tokio::spawn(refuse(stream, permit));
            }
            return;
        };
        // Responses are written whole; Nagle's algorithm would only delay them.
        let _ = stream.set_nodelay(true);
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout);
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        let (open, header_timeouts) = (self.open_gauge.clone(), self.header_timeouts.clone());
        tokio::spawn(async move {
            open.inc();
            match connection.await {
                Err(e) if e.is_timeout() => header_timeouts.inc(),
                Err(e) => tracing::trace!(error = %e, "connection ended with an error"),
                Ok(()) => {}
            }
            open.dec();
            drop(permit);
        });
    }
}

/// Answers `503` and closes. What the client sent is read first (briefly), so that
/// closing with unread bytes does not reset the connection before the answer is read.
async fn refuse(mut stream: TcpStream, _permit: OwnedSemaphorePermit) {
    let mut request = [0u8; 8192];
    let _ = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut request)).await;
    let body = serde_json::json!({
        "error": "too many open connections; retry later",
        "field": null,
        "problems": [],
    })
    .to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let written = tokio::time::timeout(
        Duration::from_secs(1),
        stream.write_all(response.as_bytes()),
    )
    .await;
    if matches!(written, Ok(Ok(()))) {
        let _ = stream.shutdown().await;
    }
}

/// Accepting failed. A connection reset before it was accepted concerns only that client;
/// anything else (out of file descriptors above all) is logged and waited out, since
/// retrying at once would spin.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %error, "accepting a connection failed; retrying in 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}
