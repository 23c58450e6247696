//! The layer every routed request passes: metrics by route template and status.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

use crate::error::ErrorKind;
use crate::state::AppState;

/// Counts every routed request by route template and status, times it, and counts errors
/// by kind. Handles are pre-resolved: a 200 costs two atomic adds and a histogram observe.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
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
