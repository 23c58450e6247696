//! The bearer token of the control and data endpoints (`/model/reload`, `/logs`).

use axum::http::{header, HeaderMap};

use crate::error::AppError;

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

/// Lets a request through when it bears the configured token; without one configured,
/// admin endpoints are off (403).
pub fn authorize(token: Option<&AdminToken>, headers: &HeaderMap) -> Result<(), AppError> {
    let Some(token) = token else {
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
