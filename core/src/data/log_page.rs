//! A window of a log read one page at a time, in memory bounded by the page and one
//! batch file, never by the window.
//!
//! Records come in the order of the store: hour partitions oldest first, batch files by
//! key (writer, then sequence: one writer's files in the order written), lines in file
//! order. A batch file whose header ([`log_file::read_summary`]) puts all of it outside
//! the window is skipped after one small ranged read; files of older servers, without a
//! summary, are decoded and filtered. A page ends at `limit` records and names the
//! position of the next record as a [`Cursor`] (file and line), so the next page starts
//! there without reading anything before it.

use chrono::{DateTime, Utc};

use crate::data::log_file::{self, HEADER_PROBE_BYTES};
use crate::data::parquet_log::PARQUET_EXTENSION;
use crate::data::prediction_log::{partitions, LogError, LogRecord};
use crate::data::storage::Store;

/// Where a page starts: line `line` (0-based) of batch file `key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub key: String,
    pub line: usize,
}

/// A cursor that is not one this log hands out.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a cursor of this log; pass the `next_cursor` of the previous page")]
pub struct BadCursor(pub String);

impl Cursor {
    /// The cursor as text: `<key>:<line>` (opaque to clients).
    pub fn encode(&self) -> String {
        format!("{}:{}", self.key, self.line)
    }

    /// Parses a cursor of the log under `prefix`.
    pub fn decode(text: &str, prefix: &str) -> Result<Cursor, BadCursor> {
        let bad = || BadCursor(crate::text::shorten(text, 80));
        let (key, line) = text.rsplit_once(':').ok_or_else(bad)?;
        let line = line.parse().map_err(|_| bad())?;
        let rest = key
            .strip_prefix(prefix)
            .and_then(|k| k.strip_prefix("/dt="))
            .ok_or_else(bad)?;
        let parts: Vec<&str> = rest.split('/').collect();
        let well_formed = parts.len() == 3
            && parts[1].starts_with("hr=")
            && !parts[2].is_empty()
            && !key.contains("..")
            && key.chars().all(|c| c.is_ascii_graphic());
        if !well_formed {
            return Err(bad());
        }
        Ok(Cursor {
            key: key.to_string(),
            line,
        })
    }

    /// The partition (`<prefix>/dt=…/hr=…`) of the cursor's file.
    fn partition(&self) -> &str {
        self.key.rsplit_once('/').map_or("", |(p, _)| p)
    }
}

/// One page of a window.
#[derive(Debug)]
pub struct Page<T> {
    pub records: Vec<T>,
    /// Where the next page starts; `None` when this is the last.
    pub next: Option<Cursor>,
}

/// Up to `limit` records of log `T` with `since <= timestamp <= until`, from `start` (the
/// first record of the window when `None`). A `start` outside the window's partitions
/// gives an empty last page.
pub async fn read_page<T: LogRecord>(
    store: &Store,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    start: Option<&Cursor>,
    limit: usize,
) -> Result<Page<T>, LogError> {
    let mut records = Vec::with_capacity(limit.min(1024));
    for partition in partitions(T::PREFIX, since, until) {
        if start.is_some_and(|c| partition.as_str() < c.partition()) {
            continue;
        }
        for key in store.list(&partition).await? {
            let first_line = match start {
                Some(c) if key < c.key => continue,
                Some(c) if key == c.key => c.line,
                _ => 0,
            };
            if let Some(next) =
                read_file(store, &key, first_line, since, until, limit, &mut records).await?
            {
                return Ok(Page {
                    records,
                    next: Some(next),
                });
            }
        }
    }
    Ok(Page {
        records,
        next: None,
    })
}

/// Adds the window's records of `key` from line `first_line` to `records` until it holds
/// `limit`; returns the position of the next record of the window when there is one.
/// (A Parquet batch file is decoded whole — one batch, as bounded as the writer's batch —
/// and its "lines" are its rows.)
async fn read_file<T: LogRecord>(
    store: &Store,
    key: &str,
    first_line: usize,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: usize,
    records: &mut Vec<T>,
) -> Result<Option<Cursor>, LogError> {
    // A file that is empty or unreadable at its head is read whole below, and fails there.
    if let Ok(head) = store.get_head(key, HEADER_PROBE_BYTES).await {
        if let Some(summary) = log_file::read_summary(&head) {
            if summary.latest < since || summary.earliest > until || summary.records <= first_line {
                return Ok(None);
            }
        }
    }
    let bytes = store.get(key).await?;
    let mut page = PageFill {
        key,
        since,
        until,
        limit,
        records,
    };
    if key.ends_with(&format!(".{PARQUET_EXTENSION}")) {
        let rows = T::decode_file(bytes, &store.uri_of(key))?;
        for (number, record) in rows.into_iter().enumerate().skip(first_line) {
            if let Some(next) = page.take(record, number) {
                return Ok(Some(next));
            }
        }
        return Ok(None);
    }
    let corrupt = |line: usize, message: String| LogError::Corrupt {
        uri: store.uri_of(key),
        line,
        message,
    };
    let mut lines =
        std::io::BufReader::with_capacity(64 * 1024, flate2::read::MultiGzDecoder::new(&bytes[..]));
    let skipped = log_file::skip_lines(&mut lines, first_line)
        .map_err(|e| corrupt(first_line, e.to_string()))?;
    let mut number = skipped;
    let mut line = String::new();
    loop {
        line.clear();
        let n = std::io::BufRead::read_line(&mut lines, &mut line)
            .map_err(|e| corrupt(number + 1, e.to_string()))?;
        if n == 0 {
            return Ok(None);
        }
        number += 1;
        if line.trim().is_empty() {
            continue;
        }
        let record: T = serde_json::from_str(&line).map_err(|e| corrupt(number, e.to_string()))?;
        if let Some(next) = page.take(record, number - 1) {
            return Ok(Some(next));
        }
    }
}

/// The page being filled from one file.
struct PageFill<'a, T> {
    key: &'a str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: usize,
    records: &'a mut Vec<T>,
}

impl<T: LogRecord> PageFill<'_, T> {
    /// Takes record `line` (0-based) of the file when it is in the window; once the page
    /// is full, the cursor of the next record of the window instead.
    fn take(&mut self, record: T, line: usize) -> Option<Cursor> {
        let t = record.timestamp();
        if t < self.since || t > self.until {
            return None;
        }
        if self.records.len() == self.limit {
            return Some(Cursor {
                key: self.key.to_string(),
                line,
            });
        }
        self.records.push(record);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::parquet_log::ParquetBatch;
    use crate::data::prediction_log::{batch_file_key, batch_key, encode_batch, LOGS_PREFIX};
    use crate::data::schema::FeatureSchema;
    use crate::data::schema::Value;
    use crate::wire::PredictionRecord;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, h, m, s)
            .single()
            .expect("time")
    }

    fn record(id: usize, time: DateTime<Utc>) -> PredictionRecord {
        PredictionRecord {
            request_id: format!("r{id}"),
            timestamp: time,
            model_version: "v1".into(),
            features: [("x".to_string(), Value::Number(id as f64))]
                .into_iter()
                .collect(),
            predicted_class: "a".into(),
            probabilities: vec![0.5, 0.5],
            latency_us: 1,
        }
    }

    /// Two writers, three hours, a record a second from 10:00 to 12:59:59 in files of 600.
    async fn store() -> Store {
        store_as(Format::JsonLines).await
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Format {
        JsonLines,
        Parquet,
    }

    async fn store_as(format: Format) -> Store {
        let store = Store::open("memory://").expect("store");
        let mut id = 0;
        for writer in ["pod-a", "pod-b"] {
            for hour in 10..13 {
                for file in 0..6u32 {
                    let batch: Vec<PredictionRecord> = (0..600u32)
                        .map(|i| {
                            id += 1;
                            let s = file * 600 + i;
                            record(id, at(hour, s / 60, s % 60))
                        })
                        .collect();
                    let seq = u64::from(hour * 10 + file);
                    let hour = batch[0].timestamp;
                    let (key, bytes) = match format {
                        Format::JsonLines => (
                            batch_key(LOGS_PREFIX, hour, writer, seq),
                            encode_batch(&batch),
                        ),
                        Format::Parquet => (
                            batch_file_key(LOGS_PREFIX, hour, writer, seq, PARQUET_EXTENSION),
                            parquet_file(&batch),
                        ),
                    };
                    store.put(&key, bytes).await.expect("put");
                }
            }
        }
        store
    }

    fn parquet_file(records: &[PredictionRecord]) -> bytes::Bytes {
        let schema: FeatureSchema = serde_yaml::from_str(
            "target: {name: y, classes: [a, b]}\nfeatures:\n  - {name: x, type: numeric}\n",
        )
        .expect("schema");
        let mut batch = ParquetBatch::new(&schema);
        for record in records {
            batch.add_record(record);
        }
        batch.finish().expect("parquet")
    }

    #[tokio::test]
    async fn parquet_files_page_like_json_lines() {
        let (json, parquet) = (
            store_as(Format::JsonLines).await,
            store_as(Format::Parquet).await,
        );
        let (since, until) = (at(10, 37, 30), at(11, 5, 0));
        let key = |r: &PredictionRecord| (r.request_id.clone(), r.timestamp);
        let from_json: Vec<_> = all_pages(&json, since, until, 97)
            .await
            .iter()
            .map(key)
            .collect();
        let from_parquet: Vec<_> = all_pages(&parquet, since, until, 97)
            .await
            .iter()
            .map(key)
            .collect();
        assert_eq!(from_json.len(), 2 * ((22 * 60 + 30) + (5 * 60 + 1)));
        assert_eq!(from_parquet, from_json);
        let first: Page<PredictionRecord> = read_page(&parquet, since, until, None, 1000)
            .await
            .expect("page");
        let next = first.next.expect("more");
        assert!(next.key.ends_with(".parquet"), "{}", next.key);
        let after: Page<PredictionRecord> = read_page(&parquet, since, until, Some(&next), 1)
            .await
            .expect("page");
        assert_eq!(key(&after.records[0]), from_json[1000]);
    }

    async fn all_pages(
        store: &Store,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Vec<PredictionRecord> {
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let page: Page<PredictionRecord> =
                read_page(store, since, until, cursor.as_ref(), limit)
                    .await
                    .expect("page");
            assert!(page.records.len() <= limit);
            all.extend(page.records);
            match page.next {
                Some(next) => cursor = Some(next),
                None => return all,
            }
        }
    }

    #[tokio::test]
    async fn pages_cover_the_window_exactly_once_in_store_order() {
        let store = store().await;
        let (since, until) = (at(10, 37, 30), at(11, 5, 0));
        let all = all_pages(&store, since, until, 97).await;
        // 10:37:30..=10:59:59 and 11:00:00..=11:05:00, per writer.
        let per_writer = (22 * 60 + 30) + (5 * 60 + 1);
        assert_eq!(all.len(), 2 * per_writer);
        assert!(all
            .iter()
            .all(|r| r.timestamp >= since && r.timestamp <= until));
        let ids: std::collections::HashSet<(String, DateTime<Utc>)> = all
            .iter()
            .map(|r| (r.request_id.clone(), r.timestamp))
            .collect();
        assert_eq!(ids.len(), all.len(), "no record twice");
        // Within an hour, pod-a's records come before pod-b's, each in time order.
        assert_eq!(all[0].timestamp, since);
        assert!(all[..22 * 60 + 30]
            .windows(2)
            .all(|w| w[0].timestamp < w[1].timestamp));
    }

    #[tokio::test]
    async fn a_page_after_a_cursor_starts_at_its_record() {
        let store = store().await;
        let (since, until) = (at(10, 0, 0), at(12, 59, 59));
        let first: Page<PredictionRecord> = read_page(&store, since, until, None, 1000)
            .await
            .expect("page");
        let next = first.next.expect("more");
        assert_eq!(next.line, 400, "line 1000 - 600 of the second file");
        let text = next.encode();
        let decoded = Cursor::decode(&text, LOGS_PREFIX).expect("decode");
        assert_eq!(decoded, next);
        let second: Page<PredictionRecord> = read_page(&store, since, until, Some(&decoded), 1)
            .await
            .expect("page");
        assert_eq!(second.records[0].timestamp, at(10, 16, 40));
        let last: Page<PredictionRecord> = read_page(&store, at(12, 59, 0), until, None, 120)
            .await
            .expect("page");
        assert_eq!(last.records.len(), 120);
        assert!(last.next.is_none(), "exactly the window: no further page");
    }

    #[test]
    fn cursors_are_checked() {
        for bad in [
            "",
            "logs/dt=2026-11-28/hr=10/pod-a-1.jsonl.gz",
            "logs/dt=2026-11-28/hr=10/pod-a-1.jsonl.gz:x",
            "feedback/dt=2026-11-28/hr=10/f.jsonl.gz:1",
            "logs/dt=2026-11-28/../../x:1",
            "logs/dt=2026-11-28:1",
        ] {
            assert!(Cursor::decode(bad, LOGS_PREFIX).is_err(), "{bad}");
        }
    }
}
