//! The profile of one prediction-log batch, folded where the batch is written
//! (`vigil serve`) and filed beside it:
//!
//! ```text
//! logs/dt=YYYY-MM-DD/hr=HH/<writer>-<seq>.jsonl.gz              the batch
//! profiles/dt=YYYY-MM-DD/hr=HH/<writer>-<seq>.profile.json.gz   its profile
//! ```
//! A scheduled check merges the profiles of the batches inside its window instead of
//! decoding them; a batch without a profile (an older server, a failed write) is read
//! from the log. Besides the column profiles a batch profile keeps each row's
//! request-id hash and predicted class, so that labels arriving later can be joined
//! and duplicate ids counted across batches.

use chrono::{DateTime, Utc};

use crate::data::parquet_log::PARQUET_EXTENSION;
use crate::data::prediction_log::{JSONL_GZ, LOGS_PREFIX};
use crate::data::schema::{FeatureSchema, FeatureSpec, Value};
use crate::wire::PredictionRecord;

use super::super::sketch::{hash_str, IdSampler};
use super::file::schema_fingerprint;
use super::{ColumnProfile, PredictionProfile, WindowProfile};

/// Where batch profiles go in a model's store.
pub const PROFILES_PREFIX: &str = "profiles";

/// Distinct values a batch keeps as exact counts per numeric column (and the score);
/// a column with more is written as its KLL sketch.
pub const BATCH_MAX_DISTINCT: usize = 2048;

/// The profile key of a log batch key (`logs/…/<name>.<ext>` →
/// `profiles/…/<name>.profile.json.gz`); `None` for a key outside the log.
pub fn profile_key(log_key: &str) -> Option<String> {
    let rest = log_key.strip_prefix(LOGS_PREFIX)?.strip_prefix('/')?;
    let (dir, file) = rest.rsplit_once('/')?;
    // Strip the log's extension, not everything after the first dot: writer names (Pod
    // names) may hold dots, and two writers must not share a profile.
    let stem = [JSONL_GZ, PARQUET_EXTENSION]
        .iter()
        .find_map(|ext| file.strip_suffix(ext)?.strip_suffix('.'))
        .or_else(|| file.split('.').next())
        .filter(|s| !s.is_empty())?;
    Some(format!("{PROFILES_PREFIX}/{dir}/{stem}.profile.json.gz"))
}

/// What a batch profile file holds.
#[derive(Clone, Debug)]
pub struct BatchProfile {
    /// [`schema_fingerprint`] of the schema the rows were folded by.
    pub schema: String,
    /// The rows' profile (ids included); no labels: they arrive later.
    pub profile: WindowProfile,
    /// Per row: the request id's hash and the predicted class (`u16::MAX`: unknown).
    pub requests: Vec<(u64, u16)>,
}

/// One logged prediction, as the server holds it: features in schema order.
#[derive(Clone, Copy, Debug)]
pub struct LoggedRow<'a> {
    pub request_id: &'a str,
    pub timestamp: DateTime<Utc>,
    pub values: &'a [Value],
    pub class: Option<usize>,
    pub probabilities: &'a [f64],
}

/// Folds the rows of one batch into its [`BatchProfile`]. Row at a time
/// ([`observe`](Self::observe), [`observe_record`](Self::observe_record)) or, as the
/// server folds a request, column at a time ([`columns_mut`](Self::columns_mut) for the
/// features, then [`observe_prediction`](Self::observe_prediction) per row).
pub struct BatchProfiler {
    schema: FeatureSchema,
    profile: WindowProfile,
    requests: Vec<(u64, u16)>,
}

impl BatchProfiler {
    /// A profiler as the server uses it: [`BATCH_MAX_DISTINCT`] exact values a column.
    pub fn new(schema: &FeatureSchema) -> Self {
        BatchProfiler::with_max_distinct(schema, BATCH_MAX_DISTINCT)
    }

    /// A profiler keeping up to `max_distinct` exact values a numeric column.
    pub fn with_max_distinct(schema: &FeatureSchema, max_distinct: usize) -> Self {
        let mut profile = WindowProfile::new(schema);
        profile.columns = schema
            .features
            .iter()
            .map(|f| ColumnProfile::with_max_distinct(f, max_distinct))
            .collect();
        let mut predictions = PredictionProfile::new(schema.target.classes.len());
        predictions.score = super::super::sketch::NumericSketch::with_max_distinct(max_distinct);
        profile.predictions = Some(predictions);
        profile.ids = Some(IdSampler::default());
        BatchProfiler {
            // Owned (a batch of thousands of rows clones it once), so that a server can
            // keep a profiler beside a batch whose model may be reloaded meanwhile.
            schema: schema.clone(),
            profile,
            requests: Vec::new(),
        }
    }

    /// Folds one row in (values in schema order; a missing tail counts as missing).
    pub fn observe(&mut self, row: LoggedRow<'_>) {
        for (i, (column, spec)) in self
            .profile
            .columns
            .iter_mut()
            .zip(&self.schema.features)
            .enumerate()
        {
            column.observe(spec, row.values.get(i));
        }
        self.observe_rest(row.request_id, row.timestamp, row.class, row.probabilities);
    }

    /// Folds a prediction record in (features by name).
    pub fn observe_record(&mut self, record: &PredictionRecord) {
        for (column, spec) in self.profile.columns.iter_mut().zip(&self.schema.features) {
            column.observe(spec, record.features.get(&spec.name));
        }
        let class = self.schema.class_index(&record.predicted_class);
        self.observe_rest(
            &record.request_id,
            record.timestamp,
            class,
            &record.probabilities,
        );
    }

    /// The schema rows are folded by.
    pub fn schema(&self) -> &FeatureSchema {
        &self.schema
    }

    /// The feature columns with their specs, to fold a request column at a time
    /// ([`ColumnProfile::observe_numbers`], [`ColumnProfile::observe_category_counts`]);
    /// every row must then be completed with [`observe_prediction`](Self::observe_prediction).
    pub fn columns_mut(&mut self) -> impl Iterator<Item = (&FeatureSpec, &mut ColumnProfile)> {
        self.schema
            .features
            .iter()
            .zip(self.profile.columns.iter_mut())
    }

    /// The prediction half of a row whose features were folded by column.
    pub fn observe_prediction(
        &mut self,
        request_id: &str,
        timestamp: DateTime<Utc>,
        class: Option<usize>,
        probabilities: &[f64],
    ) {
        self.observe_rest(request_id, timestamp, class, probabilities);
    }

    fn observe_rest(
        &mut self,
        request_id: &str,
        timestamp: DateTime<Utc>,
        class: Option<usize>,
        probabilities: &[f64],
    ) {
        let hash = hash_str(request_id);
        let class = class.filter(|&c| c < self.schema.target.classes.len());
        self.profile
            .observe_request(&self.schema, hash, timestamp, class, probabilities);
        let code = class
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or(u16::MAX);
        self.requests.push((hash, code));
    }

    pub fn rows(&self) -> u64 {
        self.profile.rows
    }

    pub fn finish(self) -> BatchProfile {
        BatchProfile {
            schema: schema_fingerprint(&self.schema),
            profile: self.profile,
            requests: self.requests,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_with_dots_keep_their_own_profiles() {
        assert_eq!(
            profile_key("logs/dt=2026-11-28/hr=17/income.v2-abc-000000000042.jsonl.gz").as_deref(),
            Some("profiles/dt=2026-11-28/hr=17/income.v2-abc-000000000042.profile.json.gz")
        );
        assert_eq!(
            profile_key("logs/dt=2026-11-28/hr=17/income.v2-abc-000000000042.parquet").as_deref(),
            Some("profiles/dt=2026-11-28/hr=17/income.v2-abc-000000000042.profile.json.gz")
        );
    }

    #[test]
    fn profiles_sit_beside_their_batches() {
        assert_eq!(
            profile_key("logs/dt=2026-11-28/hr=17/pod-a-000000000042.jsonl.gz").as_deref(),
            Some("profiles/dt=2026-11-28/hr=17/pod-a-000000000042.profile.json.gz")
        );
        assert_eq!(
            profile_key("logs/dt=2026-11-28/hr=17/pod-a-000000000042.parquet").as_deref(),
            Some("profiles/dt=2026-11-28/hr=17/pod-a-000000000042.profile.json.gz")
        );
        assert_eq!(profile_key("feedback/dt=2026-11-28/hr=17/x.jsonl.gz"), None);
    }
}
