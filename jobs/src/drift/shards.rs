//! A scheduled check too large for one Pod, as an Indexed Job: shard `i` of `n` merges
//! every `n`-th batch of the window (by position in the sorted key list, so the shards
//! split it evenly without talking to each other), joins the labels of its rows and
//! writes its partial profile; the merge step reads the `n` partials, adds them up and
//! assesses the sum like a one-Pod check would (the same report, the same summary).
//!
//! ```text
//! reports/drift/partials/<window end>/<i>-of-<n>.profile.json.gz
//! ```
//! Every step must see the same window: they take its end from `--window-end`
//! (the Job's scheduled time), not from their own clocks.

use chrono::{DateTime, Utc};
use vigil_core::drift::profile::{
    decode_profile, encode_profile, schema_fingerprint, BatchProfile,
};
use vigil_core::drift::report::DRIFT_REPORTS_PREFIX;
use vigil_core::drift::{DriftJobConfig, WindowProfile};

use super::scheduled::{read_labels, Check};
use super::{report_stem, window, DriftError, DriftOutcome, Stage};

/// Which slice of a window a shard takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// `index` of `count`; the index must be below the count.
    pub fn new(index: usize, count: usize) -> Result<Shard, DriftError> {
        if count == 0 || index >= count {
            return Err(DriftError::InvalidConfig(format!(
                "shard {index} of {count}: the index must be below the number of shards"
            )));
        }
        Ok(Shard { index, count })
    }

    fn takes(&self, position: usize) -> bool {
        position % self.count == self.index
    }
}

/// Where shard `index` of `count` leaves its partial for the window ending at `until`.
pub fn partial_key(until: DateTime<Utc>, index: usize, count: usize) -> String {
    format!(
        "{DRIFT_REPORTS_PREFIX}/partials/{}/{index}-of-{count}.profile.json.gz",
        report_stem(until)
    )
}

/// What a shard did.
#[derive(Clone, Debug)]
pub struct ShardOutcome {
    pub partial_uri: String,
    pub batches: usize,
    pub rows: u64,
}

/// Shard `shard` of the check of the window ending at `until`: writes its partial.
pub async fn check_shard(
    config: &DriftJobConfig,
    until: DateTime<Utc>,
    shard: Shard,
    progress: &(dyn Fn(Stage) + Send + Sync),
) -> Result<ShardOutcome, DriftError> {
    let check = Check::start(config, until, progress).await?;
    progress(Stage::ReadWindow);
    let schema = &check.model.schema;
    let labels = read_labels(&check.store, schema, check.span).await?;
    let mine: Vec<String> = check
        .keys
        .iter()
        .enumerate()
        .filter(|(i, _)| shard.takes(*i))
        .map(|(_, k)| k.clone())
        .collect();
    let (profile, _) = window::read_window(
        &check.store,
        schema,
        check.span,
        &mine,
        &check.profiles,
        &labels,
    )
    .await?;
    progress(Stage::WriteReport);
    let key = partial_key(until, shard.index, shard.count);
    let rows = profile.rows;
    let partial = BatchProfile {
        schema: schema_fingerprint(schema),
        profile,
        requests: Vec::new(),
    };
    check.store.put(&key, encode_profile(&partial)).await?;
    Ok(ShardOutcome {
        partial_uri: check.store.uri_of(&key),
        batches: mine.len(),
        rows,
    })
}

/// The merge step: adds up the `count` partials of the window ending at `until` and
/// assesses them (a missing or foreign partial fails the check, naming it).
pub async fn merge_shards(
    config: &DriftJobConfig,
    until: DateTime<Utc>,
    count: usize,
    progress: &(dyn Fn(Stage) + Send + Sync),
) -> Result<DriftOutcome, DriftError> {
    Shard::new(0, count)?;
    let check = Check::start(config, until, progress).await?;
    progress(Stage::ReadWindow);
    let schema = &check.model.schema;
    let fingerprint = schema_fingerprint(schema);
    let mut total = WindowProfile::new(schema);
    for index in 0..count {
        let key = partial_key(until, index, count);
        let uri = check.store.uri_of(&key);
        let bytes = check.store.get(&key).await.map_err(|e| {
            DriftError::LogsUnavailable(vigil_core::data::prediction_log::LogError::Store(e))
        })?;
        let invalid = |message: String| DriftError::InvalidData {
            path: uri.clone(),
            message,
        };
        let partial = decode_profile(&bytes, &uri).map_err(|e| invalid(e.to_string()))?;
        if partial.schema != fingerprint {
            return Err(invalid(format!(
                "partial of schema {}, the served model's is {fingerprint}",
                partial.schema
            )));
        }
        total
            .merge(&partial.profile)
            .map_err(|e| invalid(e.to_string()))?;
    }
    let made_of = format!("{count} shard partials");
    check.finish(total, &made_of, progress).await
}
