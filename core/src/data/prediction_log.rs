//! The prediction log and the feedback log: their batch files and their
//! time-partitioned layout in the store. The records themselves are contracts, in
//! [`crate::wire`]; this module reads and writes any [`LogRecord`].
//!
//! ```text
//! logs/dt=YYYY-MM-DD/hr=HH/<writer>-<seq>.jsonl.gz      PredictionRecord per line
//! feedback/dt=YYYY-MM-DD/hr=HH/<writer>-<seq>.jsonl.gz  FeedbackRecord per line
//! ```
//! A batch file is gzip-compressed JSON Lines, written once, atomically, whose gzip
//! header holds its record count and time range ([`log_file`](crate::data::log_file));
//! the prediction log may be Parquet instead (`<writer>-<seq>.parquet`,
//! [`parquet_log`](crate::data::parquet_log)), read by [`LogRecord::decode_file`].
//! The partition is the UTC hour of the batch's records (a batch never spans two hours);
//! `<writer>` is the Pod name (unique per replica) and `<seq>` a zero-padded counter
//! that starts at the writer's start time, so names never collide and sort by time.
//! [`log_page`](crate::data::log_page) reads a window page by page in bounded memory.

use bytes::Bytes;
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};

use crate::data::log_file::{self, BatchSummary, GzipLines};
use crate::data::storage::{Store, StoreError};

pub const LOGS_PREFIX: &str = "logs";
pub const FEEDBACK_PREFIX: &str = "feedback";
/// The extension of a JSON Lines batch file.
pub const JSONL_GZ: &str = "jsonl.gz";

/// A record that knows its time: it is filed under the hour of its batch's first one.
pub trait Timestamped {
    fn timestamp(&self) -> DateTime<Utc>;
}

/// A record of one of the logs, read back from the store.
pub trait LogRecord: Timestamped + for<'de> Deserialize<'de> {
    /// The log's prefix in the store ([`LOGS_PREFIX`] or [`FEEDBACK_PREFIX`]).
    const PREFIX: &'static str;

    /// The records of one batch file of the log, in the order written; `uri` names the
    /// file in errors. Gzip JSON Lines unless the log has another format.
    fn decode_file(bytes: Bytes, uri: &str) -> Result<Vec<Self>, LogError>
    where
        Self: Sized,
    {
        decode_batch(&bytes, uri)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("log file `{uri}` line {line}: {message}")]
    Corrupt {
        uri: String,
        line: usize,
        message: String,
    },
}

/// The key of a JSON Lines batch file under `prefix` (`logs` or `feedback`).
pub fn batch_key(prefix: &str, hour: DateTime<Utc>, writer: &str, seq: u64) -> String {
    batch_file_key(prefix, hour, writer, seq, JSONL_GZ)
}

/// The key of batch `seq` of `writer` in the partition of `hour` under `prefix`, for a
/// file with `extension` (the log itself, or a file written beside it).
pub fn batch_file_key(
    prefix: &str,
    hour: DateTime<Utc>,
    writer: &str,
    seq: u64,
    extension: &str,
) -> String {
    format!(
        "{prefix}/dt={}/hr={}/{writer}-{seq:012}.{extension}",
        hour.format("%Y-%m-%d"),
        hour.format("%H")
    )
}

/// Gzip-compressed JSON Lines of the records, with their summary in the header.
pub fn encode_batch<T: Serialize + Timestamped>(records: &[T]) -> Bytes {
    // Serialise first, compress once: serde_json's many small writes straight
    // into the encoder cost ~10× more.
    let mut lines = Vec::with_capacity(records.len() * 256);
    let mut summary: Option<BatchSummary> = None;
    for record in records {
        // Serializing these records into memory cannot fail.
        let _ = serde_json::to_writer(&mut lines, record);
        lines.push(b'\n');
        let t = record.timestamp();
        match &mut summary {
            Some(s) => s.add(1, t),
            None => summary = Some(BatchSummary::new(1, t)),
        }
    }
    let mut file = GzipLines::new();
    file.write(&lines);
    file.finish(&summary.unwrap_or_else(|| BatchSummary::new(0, Utc::now())))
}

/// Parses a batch file; `uri` is for messages.
pub fn decode_batch<T: for<'de> Deserialize<'de>>(
    bytes: &[u8],
    uri: &str,
) -> Result<Vec<T>, LogError> {
    let text = log_file::decompress(bytes).map_err(|e| LogError::Corrupt {
        uri: uri.to_string(),
        line: 0,
        message: e.to_string(),
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| LogError::Corrupt {
                uri: uri.to_string(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

/// The hour partitions (`<prefix>/dt=…/hr=…`) that may hold records in `[since, until]`.
pub fn partitions(prefix: &str, since: DateTime<Utc>, until: DateTime<Utc>) -> Vec<String> {
    let mut hour = since.duration_trunc(Duration::hours(1)).unwrap_or(since);
    let mut out = Vec::new();
    while hour <= until {
        out.push(format!(
            "{prefix}/dt={}/hr={}",
            hour.format("%Y-%m-%d"),
            hour.format("%H")
        ));
        hour += Duration::hours(1);
    }
    out
}

/// Batch file keys that may hold records in `[since, until]`, oldest first.
/// A batch is filed under the hour of its first record, so the hour before
/// `since` is included too (a batch started then may run into the window).
pub async fn list_batches(
    store: &Store,
    prefix: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    let mut keys = Vec::new();
    for partition in partitions(prefix, since - Duration::hours(1), until) {
        keys.extend(store.list(&partition).await?);
    }
    Ok(keys)
}

/// Every record of log `T` with `since <= timestamp <= until`, oldest first (records
/// of the same time in the order they were written).
pub async fn read_window<T: LogRecord>(
    store: &Store,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<T>, LogError> {
    let mut records = Vec::new();
    for key in list_batches(store, T::PREFIX, since, until).await? {
        let bytes = store.get(&key).await?;
        let batch = T::decode_file(bytes, &store.uri_of(&key))?;
        records.extend(batch.into_iter().filter(|r| {
            let t = r.timestamp();
            t >= since && t <= until
        }));
    }
    records.sort_by_key(|r| r.timestamp());
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::schema::Value;
    use crate::wire::{FeedbackRecord, PredictionRecord};
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, h, m, 0)
            .single()
            .expect("time")
    }

    fn record(id: &str, time: DateTime<Utc>) -> PredictionRecord {
        PredictionRecord {
            request_id: id.into(),
            timestamp: time,
            model_version: "v1".into(),
            features: [("age".to_string(), Value::Number(39.0))]
                .into_iter()
                .collect(),
            predicted_class: "<=50K".into(),
            probabilities: vec![0.9, 0.1],
            latency_us: 120,
        }
    }

    #[test]
    fn keys_are_partitioned_by_hour_and_sort_by_sequence() {
        assert_eq!(
            batch_key(LOGS_PREFIX, at(17, 15), "vigil-7d9-abc", 42),
            "logs/dt=2026-11-28/hr=17/vigil-7d9-abc-000000000042.jsonl.gz"
        );
        assert_eq!(
            partitions(LOGS_PREFIX, at(22, 30), at(23, 10)),
            vec!["logs/dt=2026-11-28/hr=22", "logs/dt=2026-11-28/hr=23"]
        );
    }

    #[tokio::test]
    async fn batches_round_trip_and_windows_filter() {
        let store = Store::open("memory://").expect("store");
        let first = vec![record("a", at(10, 50)), record("b", at(11, 5))];
        let second = vec![record("c", at(11, 40)), record("d", at(12, 1))];
        for (seq, batch) in [&first, &second].into_iter().enumerate() {
            let key = batch_key(LOGS_PREFIX, batch[0].timestamp, "pod", seq as u64);
            store.put(&key, encode_batch(batch)).await.expect("put");
        }
        let window: Vec<PredictionRecord> = read_window(&store, at(11, 0), at(11, 59))
            .await
            .expect("read");
        let ids: Vec<&str> = window.iter().map(|r| r.request_id.as_str()).collect();
        assert_eq!(ids, vec!["b", "c"]);
        assert_eq!(window[0], first[1]);
    }

    #[test]
    fn corrupt_batches_name_the_file_and_line() {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(b"{\"request_id\": 1}\n").expect("write");
        let bytes = encoder.finish().expect("gzip");
        let err = decode_batch::<FeedbackRecord>(&bytes, "s/x.jsonl.gz").expect_err("corrupt");
        assert!(
            err.to_string()
                .starts_with("log file `s/x.jsonl.gz` line 1:"),
            "{err}"
        );
    }
}
