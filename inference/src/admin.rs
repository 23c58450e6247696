//! Control and data endpoints: `/model/reload`, `/logs` (bearer token), `/feedback` (open).

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use vigil_core::data::prediction_log::read_window;
use vigil_core::wire::{FeedbackRecord, FeedbackRequest, PredictionRecord};

use crate::error::{AppError, Problem};
use crate::extract::Json;
use crate::AppState;

/// Default and largest page of `/logs`.
pub const DEFAULT_LOGS_LIMIT: usize = 100;
pub const MAX_LOGS_LIMIT: usize = 1000;
/// Widest window `/logs` reads, so one call cannot pull a month of logs into memory.
pub const MAX_LOGS_WINDOW_HOURS: i64 = 24;

/// The admin bearer token. Compared in constant time.
#[derive(Clone)]
pub struct AdminToken(String);

impl AdminToken {
    /// `None` for an empty token (which would let anyone in).
    pub fn new(token: &str) -> Option<AdminToken> {
        let token = token.trim();
        (!token.is_empty()).then(|| AdminToken(token.to_string()))
    }

    fn matches(&self, presented: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), presented.as_bytes());
        let mut diff = a.len() ^ b.len();
        for (i, x) in a.iter().enumerate() {
            diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
        }
        diff == 0
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), AppError> {
    let Some(token) = &state.config.admin_token else {
        return Err(AppError::Forbidden(
            "admin endpoints are disabled: no admin token is configured \
             (set VIGIL_ADMIN_TOKEN or --admin-token-file)"
                .into(),
        ));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(AppError::Unauthorized)?;
    if token.matches(presented.trim()) {
        Ok(())
    } else {
        Err(AppError::Unauthorized)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReloadRequest {
    /// Version to load; the newest in the store when absent.
    #[serde(default)]
    pub version: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ReloadResponse {
    pub status: &'static str,
    pub model_version: String,
    pub previous_version: Option<String>,
}

/// `POST /model/reload` with an optional body `{"version": "..."}` or `?version=`.
pub async fn reload(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ReloadRequest>, axum::extract::rejection::QueryRejection>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json2<ReloadResponse>, AppError> {
    authorize(&state, &headers)?;
    let Query(query) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let body = body.map_err(AppError::from_bytes_rejection)?;
    let from_body = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let request: ReloadRequest =
            serde_json::from_slice(&body).map_err(|e| AppError::from_json(&e))?;
        request.version
    };
    let version = from_body.or(query.version);
    let outcome = state.reload(version).await?;
    Ok(Json2(outcome))
}

/// A JSON response.
pub struct Json2<T>(pub T);

impl<T: Serialize> IntoResponse for Json2<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
            Err(e) => AppError::BadRequest(e.to_string()).into_response(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    since: Option<String>,
    until: Option<String>,
    limit: Option<usize>,
    /// Records to skip: the `next_offset` of the previous page.
    offset: Option<usize>,
}

#[derive(Serialize)]
struct LogsPage {
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    offset: usize,
    count: usize,
    /// Offset of the next page, or null on the last page.
    next_offset: Option<usize>,
    records: Vec<PredictionRecord>,
}

fn parse_time(field: &str, text: &str) -> Result<DateTime<Utc>, AppError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            AppError::invalid(vec![Problem::new(
                field,
                format!(
                    "`{}` is not an RFC 3339 time: {e}",
                    vigil_core::text::shorten(text, 40)
                ),
                "invalid_time",
            )])
        })
}

/// `GET /logs?since=&until=&limit=&offset=`: prediction records in the store, oldest first.
/// Records still in the server's buffer appear after the next flush.
pub async fn logs(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<LogsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    authorize(&state, &headers)?;
    let Query(query) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let until = match &query.until {
        Some(t) => parse_time("until", t)?,
        None => Utc::now(),
    };
    let since = match &query.since {
        Some(t) => parse_time("since", t)?,
        None => until - Duration::hours(1),
    };
    if since > until {
        return Err(AppError::invalid(vec![Problem::new(
            "since",
            "is after `until`",
            "invalid_window",
        )]));
    }
    if until - since > Duration::hours(MAX_LOGS_WINDOW_HOURS) {
        return Err(AppError::invalid(vec![Problem::new(
            "since",
            format!(
                "window is longer than {MAX_LOGS_WINDOW_HOURS} h; page through shorter windows"
            ),
            "invalid_window",
        )]));
    }
    let limit = query.limit.unwrap_or(DEFAULT_LOGS_LIMIT);
    if limit == 0 || limit > MAX_LOGS_LIMIT {
        return Err(AppError::invalid(vec![Problem::new(
            "limit",
            format!("must be between 1 and {MAX_LOGS_LIMIT}"),
            "out_of_range",
        )]));
    }
    let offset = query.offset.unwrap_or(0);
    let records: Vec<PredictionRecord> = read_window(&state.store, since, until)
        .await
        .map_err(|e| AppError::Store(e.to_string()))?;
    let total = records.len();
    let page: Vec<_> = records.into_iter().skip(offset).take(limit).collect();
    let next_offset = (offset + page.len() < total).then_some(offset + page.len());
    Ok(Json2(LogsPage {
        since,
        until,
        offset,
        count: page.len(),
        next_offset,
        records: page,
    })
    .into_response())
}

/// `POST /feedback {"request_id": "...", "label": "<class>"}`: 202 once buffered.
pub async fn feedback(
    State(state): State<AppState>,
    Json(request): Json<FeedbackRequest>,
) -> Result<Response, AppError> {
    let model = state.model()?;
    let mut problems = Vec::new();
    let id_len = request.request_id.chars().count();
    if id_len == 0 || id_len > crate::parse::MAX_REQUEST_ID_CHARS {
        problems.push(Problem::new(
            "request_id",
            format!(
                "must be 1 to {} characters long",
                crate::parse::MAX_REQUEST_ID_CHARS
            ),
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
    Ok((
        StatusCode::ACCEPTED,
        Json2(serde_json::json!({"status": "accepted"})),
    )
        .into_response())
}
