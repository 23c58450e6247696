//! Vigil's domain: everything that does not need Kubernetes.
//!
//! - [`data`]: the feature schema, datasets, the object store and the prediction log;
//! - [`train`]: configuration, pipeline, models, evaluation, artifacts, promotion;
//! - [`drift`]: drift rules, window profiles, the assessment and its report;
//! - [`stats`]: the statistics, checked against SciPy.
//!
//! `inference`, `jobs` and `operator` build on it; nothing here imports them.

pub mod data;
pub mod drift;
pub mod stats;
pub mod train;

/// The version of Vigil that wrote an artifact or report.
pub const VIGIL_VERSION: &str = env!("CARGO_PKG_VERSION");
