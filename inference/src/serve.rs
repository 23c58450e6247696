//! Running the server on a socket: graceful shutdown with a timeout, then the final
//! flush of the logs.

use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::router::app;
use crate::state::{AppState, Sinks};

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
