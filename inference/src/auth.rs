//! Bearer tokens: the admin token of the control and data endpoints (`/model/reload`,
//! `/logs`), and the feedback token of `/feedback`, kept apart so that the label producer
//! holds a credential that can do nothing else.

use axum::http::{header, HeaderMap};

use crate::error::AppError;

/// A bearer token. Compared in constant time; never printed.
#[derive(Clone)]
pub struct BearerToken(String);

impl BearerToken {
    /// `None` for an empty token (which would let anyone in).
    pub fn new(token: &str) -> Option<BearerToken> {
        let token = token.trim();
        (!token.is_empty()).then(|| BearerToken(token.to_string()))
    }

    fn matches(&self, presented: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), presented.as_bytes());
        let mut diff = a.len() ^ b.len();
        for (i, x) in a.iter().enumerate() {
            diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
        }
        diff == 0
    }

    /// Ok when `headers` bear this token.
    fn check(&self, headers: &HeaderMap) -> Result<(), AppError> {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(AppError::Unauthorized)?;
        if self.matches(presented.trim()) {
            Ok(())
        } else {
            Err(AppError::Unauthorized)
        }
    }
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// Admin endpoints: the admin token is required; without one configured they are off (403).
pub fn authorize_admin(token: Option<&BearerToken>, headers: &HeaderMap) -> Result<(), AppError> {
    let Some(token) = token else {
        return Err(AppError::Forbidden(
            "admin endpoints are disabled: no admin token is configured \
             (set VIGIL_ADMIN_TOKEN or --admin-token-file)"
                .into(),
        ));
    };
    token.check(headers)
}

/// `/feedback`: the feedback token is required when one is configured. Without one the
/// endpoint is open, as it is for a local server; `vigil serve` warns about that at start,
/// and the operator wires a token when the MonitoredModel names its Secret.
pub fn authorize_feedback(
    token: Option<&BearerToken>,
    headers: &HeaderMap,
) -> Result<(), AppError> {
    token.map_or(Ok(()), |token| token.check(headers))
}
