//! Vigil's domain: everything that does not need Kubernetes.
//!
//! - [`data`]: the feature schema, datasets, the object store and the prediction log;
//! - [`train`]: configuration, pipeline, models, evaluation, artifacts, promotion;
//! - [`drift`]: drift rules, window profiles, the assessment and its report;
//! - [`stats`]: the statistics, checked against SciPy;
//! - [`wire`]: what other programs read (HTTP bodies, log records), [`span`] (the one
//!   duration type), [`quantity`] (Kubernetes resource quantities) and [`text`] (cutting
//!   text to a size).
//!
//! `inference`, `jobs` and `operator` build on it; nothing here imports them.

pub mod data;
pub mod drift;
pub mod performance;
pub mod quantity;
pub mod span;
pub mod stats;
pub mod text;
pub mod train;
pub mod wire;
pub mod word_map;

/// The version of Vigil that wrote an artifact or report.
pub const VIGIL_VERSION: &str = env!("CARGO_PKG_VERSION");
