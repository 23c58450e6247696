//! Vigil's domain: everything that does not need Kubernetes.
//!
//! Schema, datasets, the feature pipeline, models, evaluation, validation,
//! artifacts and storage. `inference`, `jobs` and `operator` build on it.

pub mod artifact;
pub mod config;
pub mod dataset;
pub mod drift;
pub mod evaluation;
pub mod model;
pub mod performance;
pub mod pipeline;
pub mod prediction_log;
pub mod promotion;
pub mod report;
pub mod schema;
pub mod split;
pub mod stats;
pub mod storage;
pub mod validation;

/// The version of Vigil that wrote an artifact or report.
pub const VIGIL_VERSION: &str = env!("CARGO_PKG_VERSION");
