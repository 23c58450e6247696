//! The prediction log and the feedback log, as seen by the server: a bounded in-memory
//! buffer drained by one writer task into batch files of `vigil_core::data::prediction_log`.
//!
//! * A handler hands a record to [`LogSink::push`] and is done; serialising and compressing
//!   happen in the writer, off the request path.
//! * Memory is bounded: at most `buffer` records wait in the channel, plus the batch being
//!   written (at most `flush_records`).
//! * A batch is written when it reaches `flush_records`, every `flush_interval`, and at
//!   shutdown. A batch never spans two hours: it is split by the hour of its records, so
//!   every file sits in the partition of all its records.
//! * A failed write is counted and retried with backoff, holding the batch, so a slow or
//!   failing store pushes back: with `when_full = block` handlers wait for buffer space
//!   (and the request timeout bounds the wait); with `drop` the record is dropped and
//!   counted and the prediction is still answered.
//! * [`SinkHandle::shutdown`] closes the buffer, drains it and writes everything (retrying
//!   until its deadline), so with `block` every prediction answered with a 200 is in the
//!   store once the server has exited.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use prometheus::{IntCounter, IntGauge};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use vigil_core::data::prediction_log::{batch_key, Timestamped};
use vigil_core::data::storage::Store;

use crate::error::AppError;
use crate::metrics::Metrics;

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
pub struct LogSink<T> {
    tx: mpsc::Sender<T>,
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

impl<T> LogSink<T>
where
    T: Serialize + Timestamped + Send + Sync + 'static,
{
    /// Starts the writer of log `name` (`predictions` or `feedback`) under `prefix`.
    pub fn start(
        name: &'static str,
        prefix: &'static str,
        store: Store,
        config: &SinkConfig,
        metrics: &Metrics,
    ) -> (LogSink<T>, SinkHandle) {
        let (tx, rx) = mpsc::channel(config.buffer.max(1));
        let (stop_tx, stop_rx) = oneshot::channel();
        let depth = metrics.log_buffer_depth.with_label_values(&[name]);
        let dropped = metrics.log_records_dropped.with_label_values(&[name]);
        let writer = Writer {
            name,
            prefix,
            store,
            writer: config.writer.clone(),
            seq: u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0),
            flush_records: config.flush_records.max(1),
            shutdown_timeout: config.shutdown_timeout,
            depth: depth.clone(),
            dropped: dropped.clone(),
            written: metrics.log_records_written.with_label_values(&[name]),
            batches: metrics.log_batches_written.with_label_values(&[name]),
            errors: metrics.log_flush_errors.with_label_values(&[name]),
        };
        let task = tokio::spawn(writer.run(rx, stop_rx, config.flush_interval));
        let sink = LogSink {
            tx,
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

    /// Hands a record to the writer. With `block` waits for buffer space; with `drop`
    /// drops (and counts) the record when the buffer is full. Fails only after shutdown.
    pub async fn push(&self, record: T) -> Result<(), AppError> {
        match self.when_full {
            WhenFull::Block => match self.tx.try_send(record) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(record)) => self
                    .tx
                    .send(record)
                    .await
                    .map_err(|_| AppError::ShuttingDown)?,
                Err(mpsc::error::TrySendError::Closed(_)) => return Err(AppError::ShuttingDown),
            },
            WhenFull::Drop => match self.tx.try_send(record) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.dropped.inc();
                    return Ok(());
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return Err(AppError::ShuttingDown),
            },
        }
        self.depth.inc();
        Ok(())
    }

    /// Records waiting for the writer (buffer only).
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

struct Writer {
    name: &'static str,
    prefix: &'static str,
    store: Store,
    writer: String,
    seq: u64,
    flush_records: usize,
    shutdown_timeout: Duration,
    depth: IntGauge,
    dropped: IntCounter,
    written: IntCounter,
    batches: IntCounter,
    errors: IntCounter,
}

impl Writer {
    async fn run<T>(
        mut self,
        mut rx: mpsc::Receiver<T>,
        mut stop: oneshot::Receiver<()>,
        flush_interval: Duration,
    ) where
        T: Serialize + Timestamped + Send + Sync + 'static,
    {
        let mut batch: Vec<T> = Vec::new();
        let mut ticker = tokio::time::interval(flush_interval.max(Duration::from_millis(10)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            let room = self.flush_records.saturating_sub(batch.len()).max(1);
            tokio::select! {
                biased;
                _ = &mut stop => break,
                n = rx.recv_many(&mut batch, room) => {
                    if n == 0 {
                        break;
                    }
                    if batch.len() >= self.flush_records {
                        batch = self.flush(batch, None).await;
                    }
                }
                _ = ticker.tick() => {
                    if !batch.is_empty() {
                        batch = self.flush(batch, None).await;
                    }
                }
            }
        }
        // Shutdown: no new records; write what was accepted.
        rx.close();
        let deadline = tokio::time::Instant::now() + self.shutdown_timeout;
        loop {
            let room = self.flush_records.saturating_sub(batch.len()).max(1);
            let n = rx.recv_many(&mut batch, room).await;
            if !batch.is_empty() && (n == 0 || batch.len() >= self.flush_records) {
                batch = self.flush(batch, Some(deadline)).await;
            }
            if n == 0 {
                break;
            }
        }
        tracing::debug!(log = self.name, "log writer stopped");
    }

    /// Writes `batch` (split by hour) and returns the emptied vector for reuse. Retries
    /// until it succeeds or, at shutdown, until `deadline`; records still unwritten then
    /// are dropped and counted.
    async fn flush<T>(&mut self, batch: Vec<T>, deadline: Option<tokio::time::Instant>) -> Vec<T>
    where
        T: Serialize + Timestamped + Send + Sync + 'static,
    {
        let n = batch.len();
        let writer = self.writer.clone();
        let prefix = self.prefix;
        let first_seq = self.seq;
        // Serialising and compressing is CPU work: keep it off the async workers.
        let encoded = tokio::task::spawn_blocking(move || {
            let files: Vec<(String, bytes::Bytes, usize)> = {
                let mut by_hour: BTreeMap<i64, Vec<&T>> = BTreeMap::new();
                for record in &batch {
                    by_hour
                        .entry(record.timestamp().timestamp().div_euclid(3600))
                        .or_default()
                        .push(record);
                }
                by_hour
                    .values()
                    .enumerate()
                    .map(|(i, records)| {
                        let first = records.first().map_or_else(Utc::now, |r| r.timestamp());
                        (
                            batch_key(prefix, first, &writer, first_seq + i as u64),
                            vigil_core::data::prediction_log::encode_batch(records),
                            records.len(),
                        )
                    })
                    .collect()
            };
            let mut batch = batch;
            batch.clear();
            (files, batch)
        })
        .await;
        let (files, emptied) = match encoded {
            Ok(result) => result,
            Err(e) => {
                tracing::error!(log = self.name, error = %e, records = n, "encoding a log batch failed");
                self.errors.inc();
                self.dropped.inc_by(n as u64);
                self.depth.sub(n as i64);
                return Vec::new();
            }
        };
        self.seq += files.len() as u64;
        for (key, bytes, count) in files {
            let mut backoff = Duration::from_millis(100);
            loop {
                match self.store.put(&key, bytes.clone()).await {
                    Ok(()) => {
                        self.written.inc_by(count as u64);
                        self.batches.inc();
                        self.depth.sub(count as i64);
                        tracing::debug!(log = self.name, key = %key, records = count, "wrote log batch");
                        break;
                    }
                    Err(e) => {
                        self.errors.inc();
                        let give_up =
                            deadline.is_some_and(|d| tokio::time::Instant::now() + backoff > d);
                        if give_up {
                            tracing::error!(log = self.name, key = %key, records = count, error = %e,
                                "giving up on a log batch at shutdown; its records are lost");
                            self.dropped.inc_by(count as u64);
                            self.depth.sub(count as i64);
                            break;
                        }
                        tracing::warn!(log = self.name, key = %key, records = count, error = %e,
                            retry_in_ms = backoff.as_millis() as u64, "writing a log batch failed; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
        }
        emptied
    }
}
