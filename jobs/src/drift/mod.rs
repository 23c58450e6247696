//! `vigil drift`: compare live traffic (scheduled mode, over the store) or a
//! dataset (ad-hoc mode, two files) with a reference, and report.
//!
//! Scheduled: the served version's artifact gives the schema and the reference
//! sample; the last `policy.window` of prediction logs is streamed batch by batch
//! into bounded sketches (memory does not grow with the window); ground-truth
//! labels from `feedback/` are joined by request id. The full report goes to
//! `reports/drift/<timestamp>.json` and `.html`, the compact summary to the caller.
//!
//! Ad-hoc: two CSV / JSON Lines files typed by a schema (or the model's), with
//! optional predictions by a model artifact; the same report into a directory.
//!
//! One module per mode ([`scheduled`], [`adhoc`]); [`files`] reads what ad-hoc checks read.

mod adhoc;
mod files;
mod history;
mod performance;
mod rows;
mod scheduled;
mod shards;
mod stream;
pub mod window;

use std::path::Path;

use chrono::{DateTime, Utc};
use vigil_core::data::prediction_log::LogError;
use vigil_core::data::storage::StoreError;
use vigil_core::drift::report::{DriftReport, DriftSummary};
use vigil_core::train::artifact::ArtifactError;

pub use adhoc::{check_files, AdhocInput};
pub use files::{load_model, read_policy, read_schema, read_table};
pub use scheduled::check_store;
pub use shards::{
    await_partials, check_shard, merge_shards, partial_key, scheduled_time_of_job, PartialsWait,
    Shard, ShardOutcome,
};
pub use stream::profile_file;
pub use vigil_core::drift::DriftJobConfig;

/// Parses a drift job configuration (YAML or JSON); `origin` names it in errors.
pub fn parse_config(text: &str, origin: &str) -> Result<DriftJobConfig, DriftError> {
    DriftJobConfig::from_text(text, origin).map_err(|e| DriftError::InvalidConfig(e.to_string()))
}

/// Reads a drift job configuration file.
pub fn read_config(path: &Path) -> Result<DriftJobConfig, DriftError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        DriftError::InvalidConfig(format!("cannot read config `{}`: {e}", path.display()))
    })?;
    parse_config(&text, &path.display().to_string())
}

#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    #[error("{0}")]
    InvalidConfig(String),
    #[error("cannot load the reference: {0}")]
    ReferenceUnavailable(#[source] ArtifactError),
    #[error("cannot read the prediction logs: {0}")]
    LogsUnavailable(#[source] LogError),
    #[error("`{path}` is unreadable: {message}")]
    InvalidData { path: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the report to `{path}`: {source}")]
    WriteReport {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl DriftError {
    /// Stable reason for the summary, status and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            DriftError::InvalidConfig(_) => "InvalidConfig",
            DriftError::ReferenceUnavailable(_) => "ReferenceUnavailable",
            DriftError::LogsUnavailable(_) => "LogsUnavailable",
            DriftError::InvalidData { .. } => "InvalidData",
            DriftError::Store(_) | DriftError::WriteReport { .. } => "StoreFailed",
        }
    }

    pub fn summary(&self) -> DriftSummary {
        DriftSummary::Failed {
            reason: self.reason().to_string(),
            message: self.to_string(),
        }
    }
}

/// Stages, for progress reporting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    LoadReference,
    ReadWindow,
    Assess,
    Performance,
    WriteReport,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::LoadReference,
        Stage::ReadWindow,
        Stage::Assess,
        Stage::Performance,
        Stage::WriteReport,
    ];

    pub fn describe(self) -> &'static str {
        match self {
            Stage::LoadReference => "loading the reference",
            Stage::ReadWindow => "reading the window",
            Stage::Assess => "testing for drift",
            Stage::Performance => "estimating the model's performance",
            Stage::WriteReport => "writing the report",
        }
    }
}

/// What a successful check produced.
#[derive(Clone, Debug)]
pub struct DriftOutcome {
    pub summary: DriftSummary,
    pub report: DriftReport,
    pub report_uri: String,
    pub html_uri: String,
}

/// The report file name of a check at `now`.
pub fn report_stem(now: DateTime<Utc>) -> String {
    now.format("%Y%m%dT%H%M%SZ").to_string()
}
