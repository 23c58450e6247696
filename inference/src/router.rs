//! The routes, and the layers around them (timeout, metrics, body limit, tracing).

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::handlers;
use crate::oip;
use crate::state::AppState;

/// The whole HTTP surface. No socket: serve it with [`serve`](crate::serve) or call it
/// with `oneshot`.
pub fn app(state: AppState) -> Router {
    let timeout = state.config.request_timeout;
    let body_limit = state.config.max_body_bytes;
    let router = Router::new()
        .route("/health", get(handlers::health))
        .route("/healthz", get(handlers::health))
        .route("/ready", get(handlers::ready))
        .route("/predict", post(handlers::predict::predict))
        .route("/predict/batch", post(handlers::predict::predict_batch))
        .route("/metrics", get(handlers::metrics_text))
        .route("/metrics/summary", get(handlers::metrics_summary))
        .route("/model/reload", post(handlers::admin::reload))
        .route("/logs", get(handlers::admin::logs))
        .route("/feedback", post(handlers::feedback::feedback))
        .route("/openapi.json", get(handlers::openapi_json))
        .route("/v2", get(oip::server_metadata))
        .route("/v2/health/live", get(oip::live))
        .route("/v2/health/ready", get(oip::ready))
        .route("/v2/models/{model}", get(oip::model_metadata))
        .route(
            "/v2/models/{model}/versions/{version}",
            get(oip::model_metadata),
        )
        .route("/v2/models/{model}/ready", get(oip::model_ready))
        .route(
            "/v2/models/{model}/versions/{version}/ready",
            get(oip::model_ready),
        )
        .route("/v2/models/{model}/infer", post(oip::infer))
        .route(
            "/v2/models/{model}/versions/{version}/infer",
            post(oip::infer),
        )
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .route_layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::middleware::track,
        ))
        .fallback(handlers::not_found)
        .layer(DefaultBodyLimit::max(body_limit));
    // A request's span is only worth its cost (the span, its callbacks and a wrapped
    // response body: 2–4 % of a one-row `/predict`'s CPU, bench/serve) when its debug
    // events are kept, ours or tower-http's; the filter is fixed at startup
    // (`telemetry::init`), so this is decided once.
    let traced = tracing::enabled!(tracing::Level::DEBUG)
        || tracing::enabled!(target: "tower_http::trace", tracing::Level::DEBUG);
    let router = if traced {
        router.layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                tracing::debug_span!(
                    "request",
                    method = %request.method(),
                    path = %request.uri().path(),
                )
            }),
        )
    } else {
        router
    };
    router.with_state(state)
}
