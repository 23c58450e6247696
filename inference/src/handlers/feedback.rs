//! `POST /feedback`: a ground-truth label for an earlier prediction, into the feedback log.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;
use vigil_core::wire::{FeedbackRecord, FeedbackRequest};

use crate::auth::authorize_feedback;
use crate::error::{AppError, Problem};
use crate::json::Json;
use crate::parse::MAX_REQUEST_ID_CHARS;
use crate::state::AppState;

/// `POST /feedback {"request_id": "...", "label": "<class>"}`: 202 once buffered. With a
/// feedback token configured, only its bearer may send labels (401 otherwise).
pub async fn feedback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(request): Json<FeedbackRequest>,
) -> Result<Response, AppError> {
    authorize_feedback(state.config.feedback_token.as_ref(), &headers)?;
    let model = state.model()?;
    let mut problems = Vec::new();
    let id_len = request.request_id.chars().count();
    if id_len == 0 || id_len > MAX_REQUEST_ID_CHARS {
        problems.push(Problem::new(
            "request_id",
            format!("must be 1 to {} characters long", MAX_REQUEST_ID_CHARS),
            "invalid_request_id",
        ));
    }
    if !model.classes().contains(&request.label) {
        problems.push(Problem::new(
            "label",
            format!(
                "`{}` is not a class of the model ({})",
                vigil_core::text::shorten(&request.label, 40),
                model.classes().join(", ")
            ),
            "unknown_class",
        ));
    }
    if !problems.is_empty() {
        return Err(AppError::invalid(problems));
    }
    state
        .feedback
        .push(FeedbackRecord {
            request_id: request.request_id,
            label: request.label,
            timestamp: request.timestamp.unwrap_or_else(Utc::now),
        })
        .await?;
    state.metrics.feedback.inc();
    Ok(crate::json::response(
        StatusCode::ACCEPTED,
        &serde_json::json!({"status": "accepted"}),
    ))
}
