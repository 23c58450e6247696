//! The HTTP handlers. Status and discovery endpoints are here (`/health`, `/ready`,
//! `/metrics`, `/metrics/summary`, `/openapi.json`, and the fallbacks); predictions,
//! feedback and the admin endpoints have a module each.

pub mod admin;
pub mod feedback;
pub mod predict;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::AppError;
use crate::json::Json;
use crate::metrics;
use crate::openapi;
use crate::state::AppState;

pub async fn health(State(state): State<AppState>) -> Json<serde_json::Value> {
    let version = state.slot.get().map(|m| m.version().to_string());
    Json(serde_json::json!({"status": "ok", "model_version": version}))
}

pub async fn ready(State(state): State<AppState>) -> Result<Json<serde_json::Value>, AppError> {
    if state.is_shutting_down() {
        return Err(AppError::ShuttingDown);
    }
    let model = state.slot.get().ok_or(AppError::NoModel)?;
    Ok(Json(
        serde_json::json!({"status": "ready", "model_version": model.version()}),
    ))
}

pub async fn metrics_text(State(state): State<AppState>) -> Response {
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

pub async fn metrics_summary(State(state): State<AppState>) -> Json<serde_json::Value> {
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
    Json(serde_json::json!({
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
}

pub async fn openapi_json(State(state): State<AppState>) -> Json<serde_json::Value> {
    let model = state.slot.get();
    Json(openapi::document(
        model.as_deref().map(|m| (m, state.config.out_of_range)),
    ))
}

/// Any path that is not a route: a 404 naming it, counted as `unmatched`.
pub async fn not_found(State(state): State<AppState>, request: Request) -> Response {
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

pub async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}
