//! A scheduled check too large for one Pod, as an Indexed Job: shard `i` of `n` merges
//! every `n`-th batch of the window (by position in the sorted key list, so the shards
//! split it evenly without talking to each other), joins the labels of its rows and
//! writes its partial profile; the merge step reads the `n` partials, adds them up and
//! assesses the sum like a one-Pod check would (the same report, the same summary).
//!
//! ```text
//! reports/drift/partials/<window end>/<i>-of-<n>.profile.json.gz
//! ```
//! Every step must see the same window: they take its end from `--window-end`, or
//! from the name of the CronJob's Job ([`scheduled_time_of_job`]), not from their own
//! clocks. The merge step of the operator's Indexed Job starts with the shards and
//! waits for their partials ([`await_partials`]).

use std::time::Duration;

use chrono::{DateTime, Utc};
use vigil_core::data::storage::Store;
use vigil_core::drift::profile::{
    decode_profile, encode_profile, schema_fingerprint, BatchProfile,
};
use vigil_core::drift::report::DRIFT_REPORTS_PREFIX;
use vigil_core::drift::{DriftJobConfig, WindowProfile};

use super::scheduled::Check;
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

/// The scheduled time of a CronJob's Job, from its name: the cronjob controller
/// names it `<cronjob>-<scheduled time in minutes since the Unix epoch>`, the same in
/// every Pod of the Job, so the steps of a sharded check agree on the window without
/// clocks. A name without that suffix (a Job created by hand) is an `InvalidConfig`
/// naming the option it came from, as is a minute before 2000 (`…-manual-1`).
pub fn scheduled_time_of_job(job: &str) -> Result<DateTime<Utc>, DriftError> {
    let invalid = |why: &str| {
        DriftError::InvalidConfig(format!(
            "--window-end-from-job (VIGIL_JOB_NAME) `{job}` {why}: a CronJob names its Jobs \
             `<cronjob>-<scheduled time in minutes since the Unix epoch>`; name a Job created \
             by hand that way or give it --window-end (VIGIL_WINDOW_END)"
        ))
    };
    let minutes = job.rsplit_once('-').map_or("", |(_, suffix)| suffix);
    if minutes.is_empty() || !minutes.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("does not end in a scheduled minute"));
    }
    let time = minutes
        .parse::<i64>()
        .ok()
        .and_then(|m| m.checked_mul(60))
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .ok_or_else(|| invalid("ends in a minute out of range"))?;
    if time < DateTime::from_timestamp(946_684_800, 0).unwrap_or_default() {
        return Err(invalid(&format!(
            "ends in minute {minutes} ({}), before 2000: not a scheduled minute",
            time.format("%Y-%m-%dT%H:%M:%SZ")
        )));
    }
    Ok(time)
}

/// How the merge step waits for the shards' partials: it looks every `first`,
/// doubling up to `max`, until all are there; the Job's `activeDeadlineSeconds`
/// bounds the wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartialsWait {
    pub first: Duration,
    pub max: Duration,
}

impl Default for PartialsWait {
    /// Every 2 s, then up to every 10 s.
    fn default() -> PartialsWait {
        PartialsWait {
            first: Duration::from_secs(2),
            max: Duration::from_secs(10),
        }
    }
}

/// Waits until the `count` partials of the window ending at `until` are in the store
/// (a store error ends the wait with it); logs what it waits for when that changes.
pub async fn await_partials(
    config: &DriftJobConfig,
    until: DateTime<Utc>,
    count: usize,
    wait: PartialsWait,
) -> Result<(), DriftError> {
    Shard::new(0, count)?;
    let store = Store::open(&config.storage.uri)?;
    let mut missing: Vec<usize> = (0..count).collect();
    let mut delay = wait.first;
    let mut reported = None;
    loop {
        let mut still = Vec::with_capacity(missing.len());
        for index in missing {
            if !store.exists(&partial_key(until, index, count)).await? {
                still.push(index);
            }
        }
        missing = still;
        let Some(&first) = missing.first() else {
            tracing::info!(shards = count, "every shard's partial is there: merging");
            return Ok(());
        };
        if reported != Some(missing.len()) {
            tracing::info!(
                missing = missing.len(),
                shards = count,
                next = %store.uri_of(&partial_key(until, first, count)),
                "waiting for the shards' partials"
            );
            reported = Some(missing.len());
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(wait.max);
    }
}

/// What a shard did.
#[derive(Clone, Debug)]
pub struct ShardOutcome {
    pub partial_uri: String,
    pub batches: usize,
    pub rows: u64,
}

impl ShardOutcome {
    /// One line for the log and the shard Pod's termination message: plain text, so
    /// that nothing takes it for a check's result (only the merge step reports one).
    pub fn describe(&self, shard: Shard) -> String {
        format!(
            "drift shard {} of {}: {} rows from {} batches -> {}",
            shard.index, shard.count, self.rows, self.batches, self.partial_uri
        )
    }
}

/// Shard `shard` of the check of the window ending at `until`: writes its partial.
pub async fn check_shard(
    config: &DriftJobConfig,
    until: DateTime<Utc>,
    shard: Shard,
    progress: &(dyn Fn(Stage) + Send + Sync),
) -> Result<ShardOutcome, DriftError> {
    let mut check = Check::start(config, until, progress).await?;
    progress(Stage::ReadWindow);
    let labels = check.labels().await?;
    let schema = &check.model.schema;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_ends_at_the_minute_the_cronjob_names_its_job_after() {
        // The cronjob controller's name for the run scheduled at 2026-11-28T18:00:00Z
        // (1795888800 s since the epoch, minute 29931480).
        let end = scheduled_time_of_job("income-drift-check-29931480").expect("scheduled");
        assert_eq!(end.to_rfc3339(), "2026-11-28T18:00:00+00:00");
        assert_eq!(
            partial_key(end, 1, 3),
            "reports/drift/partials/20261128T180000Z/1-of-3.profile.json.gz"
        );
        for (name, why) in [
            (
                "income-drift-check-manual-xyz",
                "does not end in a scheduled minute",
            ),
            ("income-drift-check", "does not end in a scheduled minute"),
            ("income-drift-check-", "does not end in a scheduled minute"),
            ("29931480", "does not end in a scheduled minute"),
            ("check-+29931480", "does not end in a scheduled minute"),
            ("check-99999999999999999999", "out of range"),
            ("check-manual-1", "before 2000"),
        ] {
            let err = scheduled_time_of_job(name).expect_err(name).to_string();
            assert!(
                err.starts_with(&format!("--window-end-from-job (VIGIL_JOB_NAME) `{name}`")),
                "{err}"
            );
            assert!(err.contains(why), "{name}: {err}");
            assert!(err.contains("--window-end (VIGIL_WINDOW_END)"), "{err}");
        }
    }
}
