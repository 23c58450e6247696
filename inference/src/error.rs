//! The one error type of the HTTP layer and the JSON body every error answers with.
//!
//! ```json
//! {"error": "invalid request: 2 problems", "field": "features.age",
//!  "problems": [{"field": "features.age", "problem": "is required but missing", "kind": "missing"}]}
//! ```
//! `field` is the first problem's field (or null); `problems` lists every problem found
//! (capped at [`MAX_PROBLEMS`]), each with a stable `kind` (the metric label).

use axum::extract::rejection::BytesRejection;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use vigil_core::data::schema::FieldError;

/// More problems than this in one request are counted but not listed.
pub const MAX_PROBLEMS: usize = 50;

/// One thing wrong with a request, named by its JSON path.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Problem {
    /// JSON path of the offending value: `features.age`, `requests[3].features.sex`, `request_id`.
    pub field: String,
    /// What is wrong, for people.
    pub problem: String,
    /// What is wrong, stable and bounded (`missing`, `unknown`, `wrong_type`, `out_of_range`, …).
    pub kind: &'static str,
}

impl Problem {
    pub fn new(field: impl Into<String>, problem: impl Into<String>, kind: &'static str) -> Self {
        Problem {
            field: field.into(),
            problem: problem.into(),
            kind,
        }
    }

    /// A schema problem of feature `error.field`, under the JSON path `prefix`.
    pub fn from_field(prefix: &str, error: &FieldError) -> Self {
        Problem {
            field: format!("{prefix}{}", error.field),
            problem: error.problem.to_string(),
            kind: error.problem.metric_label(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The body is not JSON at all (syntax, truncated, invalid UTF-8, nesting too deep).
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("request body is empty; send a JSON object")]
    EmptyBody,
    #[error("unsupported content type `{0}`; send application/json")]
    UnsupportedMediaType(String),
    /// JSON, but not what the schema asks for.
    #[error("invalid request: {}", summarize(.problems, *.total))]
    Invalid {
        problems: Vec<Problem>,
        total: usize,
    },
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or invalid bearer token")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed on this route; see /openapi.json")]
    MethodNotAllowed,
    #[error("no model is loaded yet")]
    NoModel,
    #[error("model reload failed: {0}")]
    ReloadFailed(String),
    #[error("store unavailable: {0}")]
    Store(String),
    #[error("server is shutting down")]
    ShuttingDown,
}

fn summarize(problems: &[Problem], total: usize) -> String {
    match problems.first() {
        Some(first) if total == 1 => format!("field `{}` {}", first.field, first.problem),
        Some(first) => format!(
            "{total} problems, first: field `{}` {}",
            first.field, first.problem
        ),
        None => "invalid request".to_string(),
    }
}

impl AppError {
    pub fn invalid(problems: Vec<Problem>) -> Self {
        let total = problems.len();
        AppError::Invalid {
            problems: problems.into_iter().take(MAX_PROBLEMS).collect(),
            total,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::MalformedJson(_) | AppError::EmptyBody | AppError::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::ReloadFailed(_) => StatusCode::CONFLICT,
            AppError::NoModel | AppError::Store(_) | AppError::ShuttingDown => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// Stable, bounded label for metrics and logs.
    pub fn metric_label(&self) -> &'static str {
        match self {
            AppError::MalformedJson(_) => "malformed_json",
            AppError::EmptyBody => "empty_body",
            AppError::UnsupportedMediaType(_) => "unsupported_media_type",
            AppError::Invalid { .. } => "invalid",
            AppError::PayloadTooLarge(_) => "payload_too_large",
            AppError::BadRequest(_) => "bad_request",
            AppError::Unauthorized => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::MethodNotAllowed => "method_not_allowed",
            AppError::NoModel => "no_model",
            AppError::ReloadFailed(_) => "reload_failed",
            AppError::Store(_) => "store",
            AppError::ShuttingDown => "shutting_down",
        }
    }

    /// Maps the rejection of axum's body extractor (length limit, read error) to our body.
    pub fn from_bytes_rejection(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge(format!(
                "request body is larger than the limit: {}",
                rejection.body_text()
            ))
        } else {
            AppError::BadRequest(format!(
                "cannot read request body: {}",
                rejection.body_text()
            ))
        }
    }

    /// Maps a serde_json error: broken JSON is a 400, well-formed JSON of the wrong shape a 422.
    pub fn from_json(error: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        match error.classify() {
            Category::Data => {
                AppError::invalid(vec![Problem::new("$", error.to_string(), "wrong_shape")])
            }
            Category::Syntax | Category::Eof | Category::Io => {
                AppError::MalformedJson(error.to_string())
            }
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: String,
    field: Option<&'a str>,
    problems: &'a [Problem],
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let problems: &[Problem] = match &self {
            AppError::Invalid { problems, .. } => problems,
            _ => &[],
        };
        let body = ErrorBody {
            error: self.to_string(),
            field: problems.first().map(|p| p.field.as_str()),
            problems,
        };
        let mut response = crate::json::response(status, &body);
        if matches!(self, AppError::Unauthorized) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
            .extensions_mut()
            .insert(ErrorKind(self.metric_label()));
        response
    }
}

/// Attached to error responses so the metrics layer can count errors by kind without
/// parsing bodies.
#[derive(Clone, Copy, Debug)]
pub struct ErrorKind(pub &'static str);
