//! The prediction log and the feedback log, as seen by the server: a buffer bounded in
//! records, drained by one writer task per log into the batch files of
//! `vigil_core::data::prediction_log`.
//!
//! * A handler hands an entry (a request's answered rows, or one label) to
//!   [`LogSink::push`] and is done: serialising and compressing happen in the writer,
//!   off the request path, and *incrementally*: each entry is encoded into the open batch
//!   as it arrives, 128 rows at a time with a yield to the runtime in
//!   between, so no request ever waits behind the compression of a whole batch (the
//!   latency tail of encoding 5,000 records at once on a busy core). The writer takes
//!   every entry waiting, then lets entries gather for a millisecond (less once the
//!   buffer is half full), so that one-row requests are encoded a few dozen at a time
//!   rather than with a task switch each.
//! * Memory is bounded: at most `buffer` records wait to be encoded (an entry larger
//!   than the buffer takes all of it), plus the open batches (at most `flush_records`
//!   records, compressed but for a chunk of [`format::COMPRESS_CHUNK_BYTES`] each) and
//!   the batches of one flush being finished and written. The buffers of a small entry
//!   go back to its model's pool once encoded (`record::EntryPool`), so that one-row
//!   requests do not allocate and free some 25 vectors each.
//! * A batch is finalised when it holds `flush_records` records, every `flush_interval`,
//!   and at shutdown. A batch never spans two hours: every file sits in the partition of
//!   all its records, and its gzip header holds its record count and time range
//!   (`vigil_core::data::log_file`), so readers skip it without decompressing.
//! * The seam where a batch becomes files is [`format`]: a [`BatchFile`] for the log
//!   itself (JSON Lines + gzip, or Parquet: [`parquet`]) and any number beside it (the drift profiles of
//!   [`profile`]), fed every entry of the batch and finished with its summary. What a
//!   file can do of finishing in slices (compressing a profile, ~1 ms at once) is done
//!   on the writer's task, a slice per wake while it goes on taking entries: a burst on
//!   a thread of its own was the requests' p99, as the kernel gives that thread the core
//!   for a whole time slice. The rest (a Parquet file is encoded whole then) runs on a
//!   blocking thread rather than stopping the runtime's worker. Files beside the log are
//!   written first, the log file last.
//! * A failed write is counted and retried with backoff, holding the batch, so a slow or
//!   failing store pushes back: with `when_full = block` handlers wait for buffer space
//!   (and the request timeout bounds the wait); with `drop` the entry is dropped and its
//!   records counted, and the prediction is still answered.
//! * [`SinkHandle::shutdown`] closes the buffer, encodes and writes everything in it
//!   (retrying until its deadline), so with `block` every prediction answered with a 200
//!   is in the store once the server has exited.

pub mod format;
pub mod parquet;
pub mod profile;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use prometheus::{IntCounter, IntGauge};
use tokio::sync::{mpsc, oneshot, Notify, Semaphore, TryAcquireError};
use tokio::task::JoinHandle;
use vigil_core::data::storage::Store;

pub use format::{
    BatchFile, BatchFileError, BatchFiles, BatchId, BatchWriter, JsonLines, JsonLinesGz, LogEntry,
};

use crate::error::AppError;
use crate::metrics::Metrics;
use writer::{Queued, Writer, WriterMetrics};

/// What to do with a record when the buffer is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenFull {
    /// Wait for space: no record is ever lost, latency grows when the store is slow.
    Block,
    /// Drop the record and count it: latency stays flat, the log has gaps.
    Drop,
}

/// Settings shared by the prediction and feedback logs.
#[derive(Clone, Debug)]
pub struct SinkConfig {
    /// Writer name in batch keys (the Pod name); unique per replica.
    pub writer: String,
    pub flush_interval: Duration,
    pub flush_records: usize,
    /// Records the buffer holds before `when_full` applies.
    pub buffer: usize,
    pub when_full: WhenFull,
    /// How long shutdown keeps retrying a failing store before dropping what is left.
    pub shutdown_timeout: Duration,
}

impl Default for SinkConfig {
    fn default() -> Self {
        SinkConfig {
            writer: "vigil".into(),
            flush_interval: Duration::from_secs(10),
            flush_records: 5_000,
            buffer: 50_000,
            when_full: WhenFull::Block,
            shutdown_timeout: Duration::from_secs(20),
        }
    }
}

/// The producer side, shared by handlers.
pub struct LogSink<E> {
    tx: mpsc::UnboundedSender<Queued<E>>,
    /// Buffer space, in records.
    space: Arc<Semaphore>,
    capacity: usize,
    /// Wakes a writer that lets entries gather once the buffer is half full.
    half_full: Arc<Notify>,
    when_full: WhenFull,
    depth: IntGauge,
    dropped: IntCounter,
}

/// The writer side: shut it down to flush.
pub struct SinkHandle {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl SinkHandle {
    /// Closes the buffer, writes everything still in it and waits for the writer.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "log writer task failed");
        }
    }
}

impl<E: LogEntry> LogSink<E> {
    /// Starts the writer of log `name` (`predictions` or `feedback`) under `prefix`,
    /// making `files` of every batch.
    pub fn start(
        name: &'static str,
        prefix: &'static str,
        store: Store,
        files: BatchFiles<E>,
        config: &SinkConfig,
        metrics: &Metrics,
    ) -> (LogSink<E>, SinkHandle) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        let capacity = config.buffer.clamp(1, Semaphore::MAX_PERMITS);
        let space = Arc::new(Semaphore::new(capacity));
        let half_full = Arc::new(Notify::new());
        let depth = metrics.log_buffer_depth.with_label_values(&[name]);
        let dropped = metrics.log_records_dropped.with_label_values(&[name]);
        let writer = Writer::new(
            name,
            prefix,
            store,
            config.writer.clone(),
            files,
            config.flush_records,
            config.shutdown_timeout,
            Arc::clone(&space),
            capacity,
            Arc::clone(&half_full),
            WriterMetrics {
                depth: depth.clone(),
                dropped: dropped.clone(),
                written: metrics.log_records_written.with_label_values(&[name]),
                batches: metrics.log_batches_written.with_label_values(&[name]),
                errors: metrics.log_flush_errors.with_label_values(&[name]),
            },
        );
        let task = tokio::spawn(writer.run(rx, stop_rx, config.flush_interval));
        let sink = LogSink {
            tx,
            space,
            capacity,
            half_full,
            when_full: config.when_full,
            depth,
            dropped,
        };
        let handle = SinkHandle {
            stop: Some(stop_tx),
            task,
        };
        (sink, handle)
    }

    /// Hands an entry to the writer. With `block` waits for buffer space; with `drop`
    /// drops (and counts) the entry's records when the buffer is full. Fails only after
    /// shutdown.
    pub async fn push(&self, entry: E) -> Result<(), AppError> {
        let records = entry.records();
        // An entry larger than the whole buffer takes all of it.
        let want = u32::try_from(records.clamp(1, self.capacity)).unwrap_or(u32::MAX);
        let space = match Arc::clone(&self.space).try_acquire_many_owned(want) {
            Ok(space) => space,
            Err(TryAcquireError::Closed) => return Err(AppError::ShuttingDown),
            Err(TryAcquireError::NoPermits) => match self.when_full {
                WhenFull::Block => Arc::clone(&self.space)
                    .acquire_many_owned(want)
                    .await
                    .map_err(|_| AppError::ShuttingDown)?,
                WhenFull::Drop => {
                    self.dropped.inc_by(records as u64);
                    return Ok(());
                }
            },
        };
        self.depth.add(records as i64);
        self.tx
            .send(Queued {
                entry,
                _space: space,
            })
            .map_err(|_| {
                self.depth.sub(records as i64);
                AppError::ShuttingDown
            })?;
        if at_least_half_full(&self.space, self.capacity) {
            self.half_full.notify_one();
        }
        Ok(())
    }

    /// Records waiting for the writer (buffer only).
    pub fn queued(&self) -> usize {
        self.capacity - self.space.available_permits()
    }
}

/// Whether the buffer (`space` of `capacity` records) holds at least half its records:
/// where a push wakes the writer, and the writer stops letting entries gather.
fn at_least_half_full(space: &Semaphore, capacity: usize) -> bool {
    (capacity - space.available_permits()) * 2 >= capacity
}

#[cfg(test)]
mod tests;
