//! JSON in: body extractors whose every rejection is our JSON error body (never axum's
//! plain text).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use crate::error::AppError;
use crate::json::Json;

/// The raw body of a JSON request: content type checked (absent is accepted, anything
/// but `application/json` or `*+json` is a 415), size limited (413), not empty (400).
/// Parsing is left to the handler, which needs the model's schema for it.
pub struct JsonBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(value) = req.headers().get(header::CONTENT_TYPE) {
            let text = value.to_str().unwrap_or("");
            let essence = text
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if essence != "application/json" && !essence.ends_with("+json") {
                return Err(AppError::UnsupportedMediaType(vigil_core::text::shorten(
                    text, 60,
                )));
            }
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(AppError::from_bytes_rejection)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(AppError::EmptyBody);
        }
        Ok(JsonBody(bytes))
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let JsonBody(bytes) = JsonBody::from_request(req, state).await?;
        serde_json::from_slice(&bytes)
            .map(Json)
            .map_err(|e| AppError::from_json(&e))
    }
}
