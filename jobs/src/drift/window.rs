//! The live window of a scheduled check, as one [`WindowProfile`]: the batch profiles
//! `vigil serve` wrote beside its log batches are merged; a batch without a usable
//! profile (an older server, a failed write, another schema, or a batch that runs over
//! the window's edge) is decoded from the log and folded instead. Labels from
//! `/feedback` are joined by request-id hash either way. Fetches run concurrently and
//! decoding on the blocking pool (both cores); memory holds the merged profile and a
//! few batches in flight, whatever the window's length.
//!
//! [`exact_columns`] reads the window's log again for the features whose sketch-based
//! decision could flip (see `vigil_core::drift::assess::unstable`).

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};
use vigil_core::data::prediction_log::{list_batches, LogError, LogRecord, LOGS_PREFIX};
use vigil_core::data::schema::FeatureSchema;
use vigil_core::data::storage::Store;
use vigil_core::drift::profile::{
    decode_profile, profile_key, schema_fingerprint, score_of, BatchProfile, BatchProfiler,
    ColumnProfile, LabelProfile, PredictionProfile, WindowProfile, PROFILES_PREFIX,
};
use vigil_core::drift::sketch::{hash_str, FxHashMap, NumericSketch, DEFAULT_MAX_DISTINCT};
use vigil_core::wire::PredictionRecord;

use super::DriftError;

/// Batches fetched and decoded at once.
const IN_FLIGHT: usize = 8;

/// A window's `[since, until]`.
#[derive(Clone, Copy, Debug)]
pub struct Span {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl Span {
    fn holds(&self, t: DateTime<Utc>) -> bool {
        t >= self.since && t <= self.until
    }
}

/// Labels by request-id hash: the class index, `None` for a label that is not a class.
pub type Labels = FxHashMap<u64, Option<usize>>;

/// The labels of `feedback` (request id → label) for `schema`'s classes.
pub fn label_index(schema: &FeatureSchema, feedback: &HashMap<&str, &str>) -> Labels {
    feedback
        .iter()
        .map(|(id, label)| (hash_str(id), schema.class_index(label)))
        .collect()
}

/// What the window was made of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sources {
    pub from_profiles: usize,
    pub from_log: usize,
}

/// The log batch keys that may hold records of `span`, oldest first, and which of them
/// have a profile.
pub async fn batch_keys(
    store: &Store,
    span: Span,
) -> Result<(Vec<String>, HashSet<String>), DriftError> {
    let logs = list_batches(store, LOGS_PREFIX, span.since, span.until)
        .await
        .map_err(|e| DriftError::LogsUnavailable(e.into()))?;
    let profiles = list_batches(store, PROFILES_PREFIX, span.since, span.until)
        .await
        .map_err(|e| DriftError::LogsUnavailable(e.into()))?;
    Ok((logs, profiles.into_iter().collect()))
}

/// The profile of the records of `span` in the batches `keys`, labels joined.
pub async fn read_window(
    store: &Store,
    schema: &FeatureSchema,
    span: Span,
    keys: &[String],
    profiles: &HashSet<String>,
    labels: &Labels,
) -> Result<(WindowProfile, Sources), DriftError> {
    let fingerprint = schema_fingerprint(schema);
    let mut window = WindowProfile::new(schema);
    if !labels.is_empty() {
        window.labels = Some(LabelProfile::default());
    }
    let mut sources = Sources::default();
    let mut batches = stream::iter(keys)
        .map(|key| {
            let profile = profile_key(key).filter(|p| profiles.contains(p));
            batch_profile(store, schema, &fingerprint, span, key.clone(), profile)
        })
        .buffered(IN_FLIGHT);
    while let Some((batch, from_profile)) = batches.try_next().await? {
        if from_profile {
            sources.from_profiles += 1;
        } else {
            sources.from_log += 1;
        }
        join_labels(&batch, window.labels.as_mut(), labels, schema);
        window
            .merge(&batch.profile)
            .map_err(|e| DriftError::InvalidData {
                path: key_hint(keys),
                message: e.to_string(),
            })?;
    }
    window
        .predictions
        .get_or_insert_with(|| PredictionProfile::new(schema.target.classes.len()));
    window.ids.get_or_insert_with(Default::default);
    Ok((window, sources))
}

fn key_hint(keys: &[String]) -> String {
    keys.first().cloned().unwrap_or_default()
}

/// One batch's profile: its profile file when usable, else its log batch folded.
/// Returns whether it came from a profile.
async fn batch_profile(
    store: &Store,
    schema: &FeatureSchema,
    fingerprint: &str,
    span: Span,
    log_key: String,
    profile_key: Option<String>,
) -> Result<(BatchProfile, bool), DriftError> {
    if let Some(key) = profile_key {
        let uri = store.uri_of(&key);
        let bytes = store
            .get(&key)
            .await
            .map_err(|e| DriftError::LogsUnavailable(e.into()))?;
        let decoded = blocking(move || decode_profile(&bytes, &uri)).await?;
        match decoded {
            Ok(batch) if usable(&batch, fingerprint, span) => return Ok((batch, true)),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "unreadable batch profile; reading its log batch"),
        }
    }
    let uri = store.uri_of(&log_key);
    let bytes = store
        .get(&log_key)
        .await
        .map_err(|e| DriftError::LogsUnavailable(e.into()))?;
    let schema = schema.clone();
    let batch = blocking(move || fold_log_batch(&schema, bytes, &uri, span)).await??;
    Ok((batch, false))
}

/// A profile covers its whole batch: usable when folded by this schema and every one
/// of its records lies in the window.
fn usable(batch: &BatchProfile, fingerprint: &str, span: Span) -> bool {
    let p = &batch.profile;
    batch.schema == fingerprint
        && p.first_seen.is_none_or(|t| span.holds(t))
        && p.last_seen.is_none_or(|t| span.holds(t))
}

/// The profile of a log batch's records inside `span`.
fn fold_log_batch(
    schema: &FeatureSchema,
    bytes: Bytes,
    uri: &str,
    span: Span,
) -> Result<BatchProfile, DriftError> {
    let records = PredictionRecord::decode_file(bytes, uri).map_err(DriftError::LogsUnavailable)?;
    let mut profiler = BatchProfiler::with_max_distinct(schema, DEFAULT_MAX_DISTINCT);
    for record in records.iter().filter(|r| span.holds(r.timestamp)) {
        profiler.observe_record(record);
    }
    Ok(profiler.finish())
}

/// Counts the labelled rows of a batch: predicted class against the label of its id.
fn join_labels(
    batch: &BatchProfile,
    profile: Option<&mut LabelProfile>,
    labels: &Labels,
    schema: &FeatureSchema,
) {
    let Some(profile) = profile else {
        return;
    };
    let classes = schema.target.classes.len();
    for (hash, predicted) in &batch.requests {
        let Some(actual) = labels.get(hash) else {
            continue;
        };
        match (usize::from(*predicted), actual) {
            (p, Some(a)) if p < classes => profile.observe(p, *a),
            _ => profile.unknown_labels += 1,
        }
    }
}

/// Runs CPU work on the blocking pool, at most one task a core at once: fetches run
/// `IN_FLIGHT` ahead, but a decoded log batch holds every record (~10 MB for 5,000
/// Adult rows), and more decodes than cores would only add memory (and a malloc arena
/// a blocking thread) without finishing sooner.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, DriftError> {
    static CORES: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    let cores = CORES.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    });
    // Never closed, so acquiring cannot fail; were it closed, run unbounded.
    let _permit = cores.acquire().await.ok();
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        DriftError::LogsUnavailable(LogError::Corrupt {
            uri: String::new(),
            line: 0,
            message: format!("decoding a batch failed: {e}"),
        })
    })
}

/// The exact distributions of the window's `features` (schema indices) and, with
/// `score`, of the predicted score, read from the log (every value kept: 16–34 bytes a
/// distinct value).
pub async fn exact_columns(
    store: &Store,
    schema: &FeatureSchema,
    span: Span,
    keys: &[String],
    features: &[usize],
    score: bool,
) -> Result<(Vec<NumericSketch>, Option<NumericSketch>), DriftError> {
    let mut columns: Vec<ColumnProfile> = features
        .iter()
        .map(|&i| ColumnProfile::with_max_distinct(&schema.features[i], usize::MAX))
        .collect();
    let mut scores = score.then(|| NumericSketch::with_max_distinct(usize::MAX));
    for_each_record(store, span, keys, |record| {
        for (column, &i) in columns.iter_mut().zip(features) {
            let spec = &schema.features[i];
            column.observe(spec, record.features.get(&spec.name));
        }
        if let (Some(scores), Some(s)) = (scores.as_mut(), score_of(&record.probabilities)) {
            scores.add(s);
        }
    })
    .await?;
    Ok((columns.into_iter().map(|c| c.numeric).collect(), scores))
}

/// Calls `f` on every record of `span` in the log batches `keys`, in their order
/// (oldest batch first, a batch's records as written); a few batches are in memory at
/// once.
pub async fn for_each_record(
    store: &Store,
    span: Span,
    keys: &[String],
    mut f: impl FnMut(&PredictionRecord),
) -> Result<(), DriftError> {
    let mut batches = stream::iter(keys)
        .map(|key| async move {
            let uri = store.uri_of(key);
            let bytes = store
                .get(key)
                .await
                .map_err(|e| DriftError::LogsUnavailable(e.into()))?;
            blocking(move || PredictionRecord::decode_file(bytes, &uri))
                .await?
                .map_err(DriftError::LogsUnavailable)
        })
        .buffered(IN_FLIGHT);
    while let Some(records) = batches.try_next().await? {
        records
            .iter()
            .filter(|r| span.holds(r.timestamp))
            .for_each(&mut f);
    }
    Ok(())
}
