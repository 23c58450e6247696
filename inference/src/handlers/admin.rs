//! Control and data endpoints, behind the bearer token: `/model/reload`, `/logs`.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use vigil_core::data::log_page::{read_page, Cursor, Page};
use vigil_core::data::prediction_log::LOGS_PREFIX;
use vigil_core::wire::PredictionRecord;

use crate::auth::authorize_admin;
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
    authorize_admin(state.config.admin_token.as_ref(), &headers)?;
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
    /// Where the page starts: the `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// One page of `GET /logs`.
#[derive(Serialize)]
pub struct LogsPage {
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    count: usize,
    /// Where the next page starts (pass it as `cursor`), or null on the last page.
    next_cursor: Option<String>,
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

/// `GET /logs?since=&until=&limit=&cursor=`: prediction records in the store, hour
/// partitions oldest first, read one page at a time (memory bounded by the page and one
/// batch file, whatever the window holds). Records still in the server's buffer appear
/// after the next flush.
pub async fn logs(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<LogsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<LogsPage>, AppError> {
    authorize_admin(state.config.admin_token.as_ref(), &headers)?;
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
    let cursor = match &query.cursor {
        Some(text) => Some(Cursor::decode(text, LOGS_PREFIX).map_err(|e| {
            AppError::invalid(vec![Problem::new(
                "cursor",
                e.to_string(),
                "invalid_cursor",
            )])
        })?),
        None => None,
    };
    let page: Page<PredictionRecord> =
        read_page(&state.store, since, until, cursor.as_ref(), limit)
            .await
            .map_err(|e| AppError::Store(e.to_string()))?;
    Ok(Json(LogsPage {
        since,
        until,
        count: page.records.len(),
        next_cursor: page.next.map(|c| c.encode()),
        records: page.records,
    }))
}
