//! Control and data endpoints, behind the bearer token: `/model/reload`, `/logs`.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use vigil_core::data::prediction_log::read_window;
use vigil_core::wire::PredictionRecord;

use crate::auth::authorize;
use crate::error::{AppError, Problem};
use crate::json::Json;
use crate::state::{AppState, ReloadResponse};

/// Default and largest page of `/logs`.
pub const DEFAULT_LOGS_LIMIT: usize = 100;
pub const MAX_LOGS_LIMIT: usize = 1000;
/// Widest window `/logs` reads, so one call cannot pull a month of logs into memory.
pub const MAX_LOGS_WINDOW_HOURS: i64 = 24;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReloadRequest {
    /// Version to load; the newest in the store when absent.
    #[serde(default)]
    pub version: Option<String>,
}

/// `POST /model/reload` with an optional body `{"version": "..."}` or `?version=`.
pub async fn reload(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ReloadRequest>, axum::extract::rejection::QueryRejection>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<ReloadResponse>, AppError> {
    authorize(state.config.admin_token.as_ref(), &headers)?;
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
    Ok(Json(outcome))
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

/// One page of `GET /logs`.
#[derive(Serialize)]
pub struct LogsPage {
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
) -> Result<Json<LogsPage>, AppError> {
    authorize(state.config.admin_token.as_ref(), &headers)?;
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
    Ok(Json(LogsPage {
        since,
        until,
        offset,
        count: page.len(),
        next_offset,
        records: page,
    }))
}
