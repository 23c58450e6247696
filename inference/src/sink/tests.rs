//! The sink's guarantees, each with a test that fails when it is broken.

#![allow(clippy::unwrap_used)]

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use vigil_core::data::log_file::{self, BatchSummary, HEADER_PROBE_BYTES};
use vigil_core::data::prediction_log::Timestamped;
use vigil_core::data::storage::Store;

use super::*;

/// An entry of `rows` records at `t`, each line `{"n": <row>}`.
struct Rows {
    rows: usize,
    t: DateTime<Utc>,
}

impl Timestamped for Rows {
    fn timestamp(&self) -> DateTime<Utc> {
        self.t
    }
}

impl LogEntry for Rows {
    fn records(&self) -> usize {
        self.rows
    }
}

impl JsonLines for Rows {
    fn write_json_lines(&self, rows: Range<usize>, out: &mut Vec<u8>) {
        for row in rows {
            out.extend_from_slice(format!("{{\"n\":{row}}}\n").as_bytes());
        }
    }
}

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, h, m, 0)
        .single()
        .unwrap()
}

fn config(flush_records: usize, buffer: usize, when_full: WhenFull) -> SinkConfig {
    SinkConfig {
        writer: "w".into(),
        flush_interval: Duration::from_secs(3600),
        flush_records,
        buffer,
        when_full,
        shutdown_timeout: Duration::from_millis(300),
    }
}

/// The prediction log of `store` under `logs`, with `files` and `config`.
fn start_log(
    store: &Store,
    files: BatchFiles<Rows>,
    config: SinkConfig,
    metrics: &Metrics,
) -> (LogSink<Rows>, SinkHandle) {
    LogSink::start(
        "predictions",
        "logs",
        store.clone(),
        files,
        &config,
        metrics,
    )
}

/// JSON Lines + gzip with `beside` written beside it.
fn json_lines_with(beside: impl BatchFile<Rows>) -> BatchFiles<Rows> {
    BatchFiles {
        log: Arc::new(JsonLinesGz),
        beside: vec![Arc::new(beside)],
    }
}

/// Every file of the store with its lines and header summary.
async fn files(store: &Store, prefix: &str) -> Vec<(String, usize, Option<BatchSummary>)> {
    let mut out = Vec::new();
    for key in store.list(prefix).await.unwrap() {
        let bytes = store.get(&key).await.unwrap();
        let lines = log_file::lines(&bytes).count();
        let head = &bytes[..HEADER_PROBE_BYTES.min(bytes.len())];
        out.push((key, lines, log_file::read_summary(head)));
    }
    out
}

#[tokio::test]
async fn every_record_is_written_split_by_hour_with_its_summary() {
    let store = Store::open("memory://").unwrap();
    let metrics = Metrics::new().unwrap();
    let (sink, handle) = start_log(
        &store,
        BatchFiles::json_lines(),
        config(1000, 10_000, WhenFull::Block),
        &metrics,
    );
    for (rows, t) in [
        (300, at(10, 50)),
        (500, at(10, 59)),
        (7, at(11, 0)),
        (400, at(11, 30)),
    ] {
        sink.push(Rows { rows, t }).await.unwrap();
    }
    handle.shutdown().await;
    let files = files(&store, "logs").await;
    let lines: Vec<usize> = files.iter().map(|f| f.1).collect();
    assert_eq!(lines, vec![800, 407], "{files:?}");
    assert!(
        files[0].0.starts_with("logs/dt=2026-11-28/hr=10/w-"),
        "{files:?}"
    );
    assert!(
        files[1].0.starts_with("logs/dt=2026-11-28/hr=11/w-"),
        "{files:?}"
    );
    assert_eq!(
        files[1].2,
        Some(BatchSummary {
            records: 407,
            earliest: at(11, 0),
            latest: at(11, 30)
        })
    );
    let written = metrics
        .log_records_written
        .with_label_values(&["predictions"]);
    assert_eq!(written.get(), 1207);
    assert_eq!(
        metrics
            .log_buffer_depth
            .with_label_values(&["predictions"])
            .get(),
        0
    );
}

#[tokio::test]
async fn a_batch_is_finalised_at_flush_records() {
    let store = Store::open("memory://").unwrap();
    let metrics = Metrics::new().unwrap();
    let (sink, handle) = start_log(
        &store,
        BatchFiles::json_lines(),
        config(100, 10_000, WhenFull::Block),
        &metrics,
    );
    for _ in 0..25 {
        sink.push(Rows {
            rows: 10,
            t: at(10, 0),
        })
        .await
        .unwrap();
    }
    handle.shutdown().await;
    let lines: Vec<usize> = files(&store, "logs").await.iter().map(|f| f.1).collect();
    assert_eq!(lines, vec![100, 100, 50]);
}

/// A file beside the log that counts what it was given, and when it was written.
struct Beside {
    order: Arc<Mutex<Vec<String>>>,
}

struct BesideWriter {
    records: usize,
    slices: Vec<usize>,
}

impl BatchFile<Rows> for Beside {
    fn key(&self, id: &BatchId<'_>) -> String {
        self.order.lock().unwrap().push("beside".into());
        id.key_under("profiles", "txt")
    }
    fn start(&self) -> Box<dyn BatchWriter<Rows>> {
        Box::new(BesideWriter {
            records: 0,
            slices: Vec::new(),
        })
    }
}

impl BatchWriter<Rows> for BesideWriter {
    fn add(&mut self, _entry: &Rows, rows: Range<usize>) {
        self.records += rows.len();
        self.slices.push(rows.len());
    }
    fn finish(self: Box<Self>, summary: &BatchSummary) -> Result<Option<Bytes>, BatchFileError> {
        assert_eq!(
            self.records, summary.records,
            "every record reached the observer"
        );
        assert!(self.slices.iter().all(|n| *n <= 128), "{:?}", self.slices);
        Ok(Some(Bytes::from(format!(
            "{} records in {} slices",
            self.records,
            self.slices.len()
        ))))
    }
}

#[tokio::test]
async fn files_beside_the_log_see_every_record_in_slices() {
    let store = Store::open("memory://").unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let files = json_lines_with(Beside {
        order: Arc::clone(&order),
    });
    let (sink, handle) = start_log(
        &store,
        files,
        config(100_000, 100_000, WhenFull::Block),
        &Metrics::new().unwrap(),
    );
    sink.push(Rows {
        rows: 1000,
        t: at(10, 0),
    })
    .await
    .unwrap();
    sink.push(Rows {
        rows: 3,
        t: at(10, 1),
    })
    .await
    .unwrap();
    handle.shutdown().await;
    let keys = store.list("").await.unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    let profile = keys
        .iter()
        .find(|k| k.starts_with("profiles/dt=2026-11-28/hr=10/w-"))
        .unwrap();
    let text = store.get(profile).await.unwrap();
    assert_eq!(&text[..], b"1003 records in 9 slices");
    // The same batch name under both prefixes.
    let log = keys.iter().find(|k| k.starts_with("logs/")).unwrap();
    assert_eq!(
        log.trim_start_matches("logs/")
            .trim_end_matches(".jsonl.gz"),
        profile
            .trim_start_matches("profiles/")
            .trim_end_matches(".txt")
    );
}

/// The writer yields between slices: on a one-thread runtime, another task runs while a
/// 10,000-row entry is encoded, not only after it.
#[tokio::test(flavor = "current_thread")]
async fn encoding_a_large_entry_lets_other_tasks_run() {
    let store = Store::open("memory://").unwrap();
    let ticks = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    struct Probe {
        ticks: Arc<AtomicUsize>,
        seen: Arc<Mutex<Vec<usize>>>,
    }
    struct ProbeWriter(Arc<AtomicUsize>, Arc<Mutex<Vec<usize>>>);
    impl BatchFile<Rows> for Probe {
        fn key(&self, id: &BatchId<'_>) -> String {
            id.key_under("probe", "txt")
        }
        fn start(&self) -> Box<dyn BatchWriter<Rows>> {
            Box::new(ProbeWriter(Arc::clone(&self.ticks), Arc::clone(&self.seen)))
        }
    }
    impl BatchWriter<Rows> for ProbeWriter {
        fn add(&mut self, _: &Rows, _: Range<usize>) {
            self.1.lock().unwrap().push(self.0.load(Ordering::Relaxed));
        }
        fn finish(self: Box<Self>, _: &BatchSummary) -> Result<Option<Bytes>, BatchFileError> {
            Ok(Some(Bytes::new()))
        }
    }
    let files = json_lines_with(Probe {
        ticks: Arc::clone(&ticks),
        seen: Arc::clone(&seen),
    });
    let (sink, handle) = start_log(
        &store,
        files,
        config(100_000, 100_000, WhenFull::Block),
        &Metrics::new().unwrap(),
    );
    let ticker = {
        let ticks = Arc::clone(&ticks);
        tokio::spawn(async move {
            loop {
                ticks.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        })
    };
    sink.push(Rows {
        rows: 10_000,
        t: at(10, 0),
    })
    .await
    .unwrap();
    handle.shutdown().await;
    ticker.abort();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 79, "10,000 rows in slices of 128");
    let distinct: std::collections::BTreeSet<usize> = seen.iter().copied().collect();
    assert!(
        distinct.len() >= seen.len() / 3,
        "the ticker ran while the entry was encoded: {seen:?}"
    );
}

/// A failing store holds the batch and the buffer fills: `block` waits, `drop` counts.
#[tokio::test]
async fn a_full_buffer_blocks_or_drops() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("file://{}", dir.path().display())).unwrap();
    std::fs::write(
        dir.path().join("logs"),
        b"a file, not a directory: every write fails",
    )
    .unwrap();
    for when_full in [WhenFull::Block, WhenFull::Drop] {
        let metrics = Metrics::new().unwrap();
        let (sink, handle) = start_log(
            &store,
            BatchFiles::json_lines(),
            config(10, 50, when_full),
            &metrics,
        );
        // 10 records make a batch the store refuses; the writer retries it, 50 more fill
        // the buffer.
        for i in 0..6 {
            sink.push(Rows {
                rows: 10,
                t: at(10, 0),
            })
            .await
            .unwrap();
            if i == 0 {
                // The writer takes the first batch (and starts retrying it) before the
                // rest arrive.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let next = tokio::time::timeout(
            Duration::from_millis(200),
            sink.push(Rows {
                rows: 5,
                t: at(10, 0),
            }),
        )
        .await;
        let dropped = metrics
            .log_records_dropped
            .with_label_values(&["predictions"]);
        match when_full {
            WhenFull::Block => assert!(next.is_err(), "a full buffer makes the push wait"),
            WhenFull::Drop => {
                assert!(matches!(next, Ok(Ok(()))));
                assert_eq!(dropped.get(), 5);
            }
        }
        assert_eq!(sink.queued(), 50);
        handle.shutdown().await;
        assert!(
            dropped.get() >= 60,
            "lost at the shutdown deadline are counted"
        );
        assert!(matches!(
            sink.push(Rows {
                rows: 1,
                t: at(10, 0)
            })
            .await,
            Err(AppError::ShuttingDown)
        ));
    }
}

/// A file of the open batch that refuses an entry (a Parquet file and a new schema)
/// finishes that batch; the entry starts the next one, and no record is lost.
#[tokio::test]
async fn an_entry_a_file_refuses_starts_a_new_batch() {
    /// Accepts entries of the size of the batch's first only.
    struct OneSize;
    struct OneSizeWriter(Option<usize>);
    impl BatchFile<Rows> for OneSize {
        fn key(&self, id: &BatchId<'_>) -> String {
            id.key_under("sizes", "txt")
        }
        fn start(&self) -> Box<dyn BatchWriter<Rows>> {
            Box::new(OneSizeWriter(None))
        }
    }
    impl BatchWriter<Rows> for OneSizeWriter {
        fn accepts(&self, entry: &Rows) -> bool {
            self.0.is_none_or(|rows| rows == entry.rows)
        }
        fn add(&mut self, entry: &Rows, _: Range<usize>) {
            self.0 = Some(entry.rows);
        }
        fn finish(self: Box<Self>, s: &BatchSummary) -> Result<Option<Bytes>, BatchFileError> {
            Ok(Some(Bytes::from(format!("{} records", s.records))))
        }
    }
    let store = Store::open("memory://").unwrap();
    let log_files = json_lines_with(OneSize);
    let (sink, handle) = start_log(
        &store,
        log_files,
        config(100_000, 100_000, WhenFull::Block),
        &Metrics::new().unwrap(),
    );
    for (rows, minute) in [(5, 0), (5, 1), (7, 2), (7, 3), (5, 4)] {
        sink.push(Rows {
            rows,
            t: at(10, minute),
        })
        .await
        .unwrap();
    }
    handle.shutdown().await;
    let lines: Vec<usize> = files(&store, "logs").await.iter().map(|f| f.1).collect();
    assert_eq!(lines, vec![10, 14, 5]);
    let mut sizes = Vec::new();
    for key in store.list("sizes").await.unwrap() {
        sizes.push(String::from_utf8(store.get(&key).await.unwrap().to_vec()).unwrap());
    }
    assert_eq!(sizes, ["10 records", "14 records", "5 records"]);
}

/// The writer lets entries gather between wakes, but never while handlers wait for
/// space: a push that fills the buffer to half ends the wait. With a buffer of 2 and
/// 1,000 one-row entries, a writer that slept its whole `GATHER` at every fill would
/// take at least 500 ms (one fill a millisecond); woken at half full it takes a few ms.
#[tokio::test]
async fn a_small_buffer_wakes_the_gathering_writer() {
    let store = Store::open("memory://").unwrap();
    let (sink, handle) = start_log(
        &store,
        BatchFiles::json_lines(),
        config(100_000, 2, WhenFull::Block),
        &Metrics::new().unwrap(),
    );
    let started = std::time::Instant::now();
    for _ in 0..1_000 {
        sink.push(Rows {
            rows: 1,
            t: at(10, 0),
        })
        .await
        .unwrap();
    }
    let elapsed = started.elapsed();
    handle.shutdown().await;
    let written: usize = files(&store, "logs").await.iter().map(|f| f.1).sum();
    assert_eq!(written, 1_000);
    assert!(
        elapsed < Duration::from_millis(300),
        "1,000 pushes through a buffer of 2 took {elapsed:?}"
    );
}

/// A file beside the log whose finishing takes slices for as long as `hold` is set.
struct Held {
    hold: Arc<AtomicBool>,
    slices: Arc<AtomicUsize>,
}

impl BatchFile<Rows> for Held {
    fn key(&self, id: &BatchId<'_>) -> String {
        id.key_under("held", "txt")
    }
    fn start(&self) -> Box<dyn BatchWriter<Rows>> {
        Box::new(Held {
            hold: Arc::clone(&self.hold),
            slices: Arc::clone(&self.slices),
        })
    }
}

impl BatchWriter<Rows> for Held {
    fn add(&mut self, _: &Rows, _: Range<usize>) {}
    fn finish_slice(&mut self) -> bool {
        self.slices.fetch_add(1, Ordering::SeqCst);
        self.hold.load(Ordering::SeqCst)
    }
    fn finish(self: Box<Self>, _: &BatchSummary) -> Result<Option<Bytes>, BatchFileError> {
        Ok(Some(Bytes::from_static(b"held")))
    }
}

/// Waits (up to 5 s) for `done`.
async fn until<F: std::future::Future<Output = bool>>(what: &str, done: impl Fn() -> F) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !done().await {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A batch is finished a slice at a time between entries: while one is being finished,
/// the writer still takes and encodes new entries, and it is written once done.
#[tokio::test(flavor = "current_thread")]
async fn entries_are_taken_while_a_batch_is_finished() {
    let store = Store::open("memory://").unwrap();
    let hold = Arc::new(AtomicBool::new(true));
    let slices = Arc::new(AtomicUsize::new(0));
    let log_files = json_lines_with(Held {
        hold: Arc::clone(&hold),
        slices: Arc::clone(&slices),
    });
    let (sink, handle) = start_log(
        &store,
        log_files,
        config(2, 100, WhenFull::Block),
        &Metrics::new().unwrap(),
    );
    for m in [0, 1] {
        sink.push(Rows {
            rows: 1,
            t: at(10, m),
        })
        .await
        .unwrap();
    }
    until("the full batch is being finished", || async {
        slices.load(Ordering::SeqCst) > 0
    })
    .await;
    sink.push(Rows {
        rows: 1,
        t: at(10, 2),
    })
    .await
    .unwrap();
    until("the entry is taken", || async { sink.queued() == 0 }).await;
    assert!(
        store.list("").await.unwrap().is_empty(),
        "the batch is still being finished"
    );
    hold.store(false, Ordering::SeqCst);
    until("the batch is written", || async {
        !store.list("logs").await.unwrap().is_empty()
    })
    .await;
    handle.shutdown().await;
    let lines: Vec<usize> = files(&store, "logs").await.iter().map(|f| f.1).collect();
    assert_eq!(lines, vec![2, 1]);
    assert_eq!(store.list("held").await.unwrap().len(), 2);
}
