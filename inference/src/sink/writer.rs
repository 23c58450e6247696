//! The writer task of a log: encodes entries into the open batches as they arrive, in
//! small slices with a yield between them, and closes a batch when it is full, on every
//! flush interval and at shutdown; a closed batch's files are finished a slice per wake
//! while entries go on being encoded, then written.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus::{IntCounter, IntGauge};
use tokio::sync::{mpsc, oneshot, Notify, OwnedSemaphorePermit, Semaphore};
use vigil_core::data::log_file::BatchSummary;
use vigil_core::data::storage::Store;

use super::format::{BatchFiles, BatchId, BatchWriter, LogEntry};

/// Rows (or one-row entries) encoded between two yields to the runtime: 0.25–0.4 ms of
/// work with the JSON Lines log and its profile (2 µs an OIP row, 3 µs a `/predict`
/// entry), the longest a request that arrives meanwhile waits on a busy core. Yielding
/// every 32 did not move `/predict`'s p99 (bench/serve/README.md, 2026-12-07 13:11).
const SLICE_ROWS: usize = 128;
/// How long the writer lets entries gather after encoding what was waiting: ~30 one-row
/// requests at 30k req/s, a delay no reader of the log can see (batches span seconds).
const GATHER: Duration = Duration::from_millis(1);
/// Hours with an open batch at once; a record of another hour finalises them first.
/// (Predictions arrive in time order, so only an hour's turn opens a second one;
/// feedback carries the client's timestamps.)
const MAX_OPEN_HOURS: usize = 4;

/// An entry in the buffer with the buffer space it holds (released once encoded).
pub(super) struct Queued<E> {
    pub entry: E,
    pub _space: OwnedSemaphorePermit,
}

/// The counters of one log.
pub(super) struct WriterMetrics {
    pub depth: IntGauge,
    pub dropped: IntCounter,
    pub written: IntCounter,
    pub batches: IntCounter,
    pub errors: IntCounter,
}

pub(super) struct Writer<E> {
    pub name: &'static str,
    pub prefix: &'static str,
    pub store: Store,
    pub writer: String,
    pub seq: u64,
    pub files: BatchFiles<E>,
    pub flush_records: usize,
    pub shutdown_timeout: Duration,
    pub space: Arc<Semaphore>,
    /// The buffer's size in records (`space` when empty).
    pub capacity: usize,
    /// Notified by a push that leaves the buffer at least half full.
    pub half_full: Arc<Notify>,
    pub metrics: WriterMetrics,
    open: Vec<OpenBatch<E>>,
    open_records: usize,
    /// Batches taken out of `open`, oldest first, whose files are being finished a slice
    /// at a time between entries: at most one flush's batches.
    finishing: VecDeque<OpenBatch<E>>,
    /// Rows encoded since the writer last yielded.
    since_yield: usize,
}

/// A batch being encoded: one writer per file (beside files first, the log last).
struct OpenBatch<E> {
    hour: i64,
    files: Vec<Box<dyn BatchWriter<E>>>,
    summary: BatchSummary,
}

/// The writer's view of shutdown: until asked to stop, a failing store is retried for
/// as long as it fails (holding the batch pushes back on handlers); once asked, only
/// until the deadline. A retry loop watches the stop signal too, so a dead store never
/// keeps shutdown waiting past `shutdown_timeout`.
struct Shutdown {
    stop: oneshot::Receiver<()>,
    deadline: Option<tokio::time::Instant>,
}

impl Shutdown {
    fn begin(&mut self, timeout: Duration) {
        if self.deadline.is_none() {
            self.deadline = Some(tokio::time::Instant::now() + timeout);
        }
    }

    /// Waits `pause`, or less if stop is asked meanwhile (then the deadline runs).
    async fn pause(&mut self, pause: Duration, timeout: Duration) {
        if self.deadline.is_some() {
            tokio::time::sleep(pause).await;
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = &mut self.stop => self.begin(timeout),
        }
    }
}

/// Files of a finished batch, in the order they are written.
struct Finished {
    files: Vec<(String, bytes::Bytes)>,
    records: usize,
}

fn hour_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(3600)
}

impl<E: LogEntry> Writer<E> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &'static str,
        prefix: &'static str,
        store: Store,
        writer: String,
        files: BatchFiles<E>,
        flush_records: usize,
        shutdown_timeout: Duration,
        space: Arc<Semaphore>,
        capacity: usize,
        half_full: Arc<Notify>,
        metrics: WriterMetrics,
    ) -> Writer<E> {
        Writer {
            name,
            prefix,
            store,
            writer,
            seq: u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0),
            files,
            flush_records: flush_records.max(1),
            shutdown_timeout,
            space,
            capacity,
            half_full,
            metrics,
            open: Vec::new(),
            open_records: 0,
            finishing: VecDeque::new(),
            since_yield: 0,
        }
    }

    pub async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Queued<E>>,
        stop: oneshot::Receiver<()>,
        flush_interval: Duration,
    ) {
        let mut shutdown = Shutdown {
            stop,
            deadline: None,
        };
        let mut ticker = tokio::time::interval(flush_interval.max(Duration::from_millis(10)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        while shutdown.deadline.is_none() {
            tokio::select! {
                biased;
                _ = &mut shutdown.stop => break,
                queued = rx.recv() => {
                    let Some(queued) = queued else { break };
                    // This entry and what else waits, then let entries gather.
                    let mut next = Some(queued);
                    while let Some(queued) = next {
                        self.take(queued, &mut shutdown).await;
                        next = rx.try_recv().ok();
                    }
                    self.finish_slice(&mut shutdown).await;
                    if self.may_gather() {
                        tokio::select! {
                            _ = tokio::time::sleep(GATHER) => {}
                            _ = self.half_full.notified() => {}
                        }
                    }
                }
                _ = ticker.tick() => self.flush(&mut shutdown).await,
                () = std::future::ready(()), if !self.finishing.is_empty() => {
                    self.finish_slice(&mut shutdown).await;
                }
            }
        }
        // Shutdown: take no new entries; write everything accepted.
        shutdown.begin(self.shutdown_timeout);
        self.space.close();
        rx.close();
        while let Some(queued) = rx.recv().await {
            self.take(queued, &mut shutdown).await;
        }
        self.flush(&mut shutdown).await;
        self.finish_all(&mut shutdown).await;
        tracing::debug!(log = self.name, "log writer stopped");
    }

    /// Adds an entry, and writes the open batches once they hold `flush_records`.
    async fn take(&mut self, queued: Queued<E>, shutdown: &mut Shutdown) {
        self.add(queued, shutdown).await;
        if self.open_records >= self.flush_records {
            self.flush(shutdown).await;
        }
    }

    /// Whether to wait [`GATHER`] before taking entries again: while the buffer is less
    /// than half full, so that the writer wakes for a few dozen one-row entries at a time
    /// rather than after every request (a wake per request is a task switch each, and
    /// encoding entries back to back keeps the encoders' code and tables in the cache).
    /// With the buffer fuller, no wait; and a push that fills it to half ends the wait
    /// (`half_full`), so handlers never wait for space the writer could be freeing.
    fn may_gather(&self) -> bool {
        !super::at_least_half_full(&self.space, self.capacity)
    }

    /// Encodes an entry into the open batch of its hour, a slice of rows at a time.
    async fn add(&mut self, queued: Queued<E>, shutdown: &mut Shutdown) {
        let entry = &queued.entry;
        let records = entry.records();
        let t = entry.timestamp();
        let hour = hour_of(t);
        let mut open = self.open.iter().position(|b| b.hour == hour);
        if let Some(i) = open.filter(|&i| !self.open[i].files.iter().all(|f| f.accepts(entry))) {
            let batch = self.open.remove(i);
            self.open_records -= batch.summary.records;
            self.retire(vec![batch], shutdown).await;
            open = None;
        }
        let index = match open {
            Some(i) => i,
            None => {
                if self.open.len() == MAX_OPEN_HOURS {
                    self.flush(shutdown).await;
                }
                self.open.push(OpenBatch {
                    hour,
                    files: self
                        .files
                        .beside
                        .iter()
                        .chain(std::iter::once(&self.files.log))
                        .map(|f| f.start())
                        .collect(),
                    summary: BatchSummary::new(0, t),
                });
                self.open.len() - 1
            }
        };
        let mut start = 0;
        loop {
            let end = (start + SLICE_ROWS).min(records);
            for file in &mut self.open[index].files {
                file.add(entry, start..end);
            }
            self.since_yield += (end - start).max(1);
            if self.since_yield >= SLICE_ROWS {
                // Let requests run between slices; the writer is never the one in a hurry.
                self.since_yield = 0;
                tokio::task::yield_now().await;
            }
            if end >= records {
                break;
            }
            start = end;
        }
        self.open[index].summary.add(records, t);
        self.open_records += records;
        // `queued` (and the buffer space it holds) is released here.
    }

    /// Closes every open batch: its files are finished and written from here on, a
    /// slice between entries ([`Writer::finish_slice`]).
    async fn flush(&mut self, shutdown: &mut Shutdown) {
        let open = std::mem::take(&mut self.open);
        self.open_records = 0;
        self.retire(open, shutdown).await;
    }

    /// Queues `batches` to be finished, once the batches queued before them are written
    /// (they have had a whole batch's time to finish, so this seldom waits).
    async fn retire(&mut self, batches: Vec<OpenBatch<E>>, shutdown: &mut Shutdown) {
        self.finish_all(shutdown).await;
        self.finishing.extend(batches);
    }

    async fn finish_all(&mut self, shutdown: &mut Shutdown) {
        while !self.finishing.is_empty() {
            self.finish_slice(shutdown).await;
        }
    }

    /// One slice of the work of finishing the oldest batch queued, then a yield; once
    /// its files have none left, finishes and writes them. Retries a failing store
    /// with backoff, holding the batch (so the buffer fills and pushes back); at
    /// shutdown, only until its deadline, after which what is left is dropped and
    /// counted.
    async fn finish_slice(&mut self, shutdown: &mut Shutdown) {
        let Some(batch) = self.finishing.front_mut() else {
            return;
        };
        if batch.files.iter_mut().any(|file| file.finish_slice()) {
            tokio::task::yield_now().await;
            return;
        }
        let Some(batch) = self.finishing.pop_front() else {
            return;
        };
        if let Some(finished) = self.finish(batch).await {
            self.write(finished, shutdown).await;
        }
    }

    /// Encodes a batch's files, once their slices of finishing are done (compressing a
    /// profile: a burst on a thread of its own is the requests' p99, as the kernel gives
    /// that thread the core for a whole time slice). The rest runs on a blocking thread:
    /// a Parquet file is encoded whole there (a few ms for a full batch), which on the
    /// runtime's worker would stall every request behind it.
    async fn finish(&mut self, batch: OpenBatch<E>) -> Option<Finished> {
        let records = batch.summary.records;
        let id = BatchId {
            prefix: self.prefix,
            hour: batch.summary.earliest,
            writer: &self.writer,
            seq: self.seq,
        };
        self.seq += 1;
        let keys: Vec<String> = self
            .files
            .beside
            .iter()
            .chain(std::iter::once(&self.files.log))
            .map(|f| f.key(&id))
            .collect();
        let OpenBatch { files, summary, .. } = batch;
        let encode = move || {
            files
                .into_iter()
                .map(|writer| writer.finish(&summary))
                .collect::<Vec<_>>()
        };
        let encoded = match tokio::task::spawn_blocking(encode).await {
            Ok(encoded) => encoded,
            Err(e) => {
                // Only a panic in an encoder gets here: its records are lost, counted.
                tracing::error!(log = self.name, records, error = %e, "encoding a log batch failed; its records are lost");
                self.lost(records);
                return None;
            }
        };
        let n_files = keys.len();
        let mut files = Vec::with_capacity(n_files);
        for (i, (key, result)) in keys.into_iter().zip(encoded).enumerate() {
            match result {
                Ok(Some(bytes)) => files.push((key, bytes)),
                Ok(None) => {}
                Err(e) if i + 1 < n_files => {
                    // A file beside the log is lost; the log itself is still written.
                    tracing::error!(log = self.name, key = %key, error = %e, "cannot encode a file beside the log");
                    self.metrics.errors.inc();
                }
                Err(e) => {
                    tracing::error!(log = self.name, key = %key, records, error = %e, "cannot encode a log batch; its records are lost");
                    self.lost(records);
                    return None;
                }
            }
        }
        Some(Finished { files, records })
    }

    /// Counts a batch whose records cannot be written.
    fn lost(&self, records: usize) {
        self.metrics.errors.inc();
        self.metrics.dropped.inc_by(records as u64);
        self.metrics.depth.sub(records as i64);
    }

    async fn write(&mut self, finished: Finished, shutdown: &mut Shutdown) {
        let Finished { files, records } = finished;
        for (key, bytes) in files {
            let mut backoff = Duration::from_millis(100);
            loop {
                match self.store.put(&key, bytes.clone()).await {
                    Ok(()) => {
                        tracing::debug!(log = self.name, key = %key, records, "wrote a batch file");
                        break;
                    }
                    Err(e) => {
                        self.metrics.errors.inc();
                        let give_up = shutdown
                            .deadline
                            .is_some_and(|d| tokio::time::Instant::now() + backoff > d);
                        if give_up {
                            tracing::error!(log = self.name, key = %key, records, error = %e,
                                "giving up on a log batch at shutdown; its records are lost");
                            self.metrics.dropped.inc_by(records as u64);
                            self.metrics.depth.sub(records as i64);
                            return;
                        }
                        tracing::warn!(log = self.name, key = %key, records, error = %e,
                            retry_in_ms = backoff.as_millis() as u64, "writing a batch file failed; retrying");
                        shutdown.pause(backoff, self.shutdown_timeout).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
        }
        self.metrics.written.inc_by(records as u64);
        self.metrics.batches.inc();
        self.metrics.depth.sub(records as i64);
    }
}
