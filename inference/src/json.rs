//! JSON out: [`response`] is the one way the server answers with JSON (handlers return
//! [`Json`], errors and pre-built views call [`response`]). A leaf: the extractors that
//! read JSON bodies are in `extract`.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// `value` as an `application/json` response with `status`. Serialising our own
/// response types cannot fail; if one ever did, the answer is a 500 that says so.
pub fn response(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise a response");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"error":"the response could not be serialised","field":null,"problems":[]}"#,
            )
                .into_response()
        }
    }
}

/// A typed JSON body (for the small admin and feedback requests), and a 200 JSON answer.
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        response(StatusCode::OK, &self.0)
    }
}
