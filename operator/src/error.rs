//! What can go wrong in a reconcile that is worth a retry.

use crate::build::BuildError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("cannot build the desired objects: {0}")]
    Build(#[from] BuildError),
    #[error("cannot encode {what}: {message}")]
    Encode { what: &'static str, message: String },
    #[error("{kind} {name} has no namespace (the CRDs are namespaced)")]
    NoNamespace { kind: &'static str, name: String },
}

impl Error {
    /// The API server refused a write made from a stale copy (HTTP 409).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Kube(kube::Error::Api(status)) if status.code == 409)
    }

    /// A bounded label for the failure metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(status)) if status.code == 409 => "conflict",
            Error::Kube(kube::Error::Api(status)) if status.code == 404 => "not_found",
            Error::Kube(kube::Error::Api(status)) if status.code == 403 => "forbidden",
            Error::Kube(kube::Error::Api(_)) => "api_error",
            Error::Kube(_) => "api_unreachable",
            Error::Build(_) => "build",
            Error::Encode { .. } => "encode",
            Error::NoNamespace { .. } => "no_namespace",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
