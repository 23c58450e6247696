//! The seam where a batch of a log becomes files: [`BatchFile`].
//!
//! A batch is made of the entries the writer received for one hour until it was
//! finalised (by size, by time or at shutdown). Each [`BatchFile`] of a log turns the
//! batch into one file: the log itself (JSON Lines + gzip, [`JsonLinesGz`]; another
//! format, e.g. Parquet, is another `BatchFile`), and any number of files written beside
//! it by observers that fold every logged record (e.g. window profiles for drift). A
//! `BatchFile` starts a [`BatchWriter`] per batch; the writer is fed the batch's entries
//! as they arrive, in slices of rows (so a big entry does not hold the writer task
//! long), does what it can of finishing in slices too, and finishes into the file's
//! bytes with the batch's [`BatchSummary`].
//! All of it runs in the log's writer task, off the request path.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use vigil_core::data::log_file::{BatchSummary, GzipLines};
use vigil_core::data::prediction_log::{batch_file_key, Timestamped, JSONL_GZ};
use vigil_core::wire::FeedbackRecord;

/// What a log buffers: an entry of one or more records sharing a time (a prediction
/// request's rows, or one feedback label).
pub trait LogEntry: Timestamped + Send + Sync + 'static {
    /// Records (rows) in the entry; the buffer is bounded in records.
    fn records(&self) -> usize;
}

/// An entry that can be written as JSON Lines, one line per record.
pub trait JsonLines {
    /// Appends the lines of records `rows` to `out`.
    fn write_json_lines(&self, rows: Range<usize>, out: &mut Vec<u8>);
}

/// Which batch a file belongs to: its log, hour, writer and sequence number.
#[derive(Clone, Copy, Debug)]
pub struct BatchId<'a> {
    /// The log's prefix (`logs`, `feedback`).
    pub prefix: &'a str,
    /// A time in the batch's hour (its partition).
    pub hour: DateTime<Utc>,
    pub writer: &'a str,
    pub seq: u64,
}

impl BatchId<'_> {
    /// The key of this batch's file with `extension` under the log's prefix:
    /// `<prefix>/dt=…/hr=…/<writer>-<seq>.<extension>`.
    pub fn key(&self, extension: &str) -> String {
        self.key_under(self.prefix, extension)
    }

    /// The same name under another prefix (a file beside the log, e.g. `profiles`).
    pub fn key_under(&self, prefix: &str, extension: &str) -> String {
        batch_file_key(prefix, self.hour, self.writer, self.seq, extension)
    }
}

/// A file made from every batch of a log.
pub trait BatchFile<E>: Send + Sync + 'static {
    /// Where the file of batch `id` goes.
    fn key(&self, id: &BatchId<'_>) -> String;
    /// A writer for a new batch.
    fn start(&self) -> Box<dyn BatchWriter<E>>;
}

/// One batch's file being made.
pub trait BatchWriter<E>: Send {
    /// Whether `entry` can join this batch's file; when a file of the open batch refuses
    /// it (a Parquet file holds one schema; a reload changed it), the batch is finished
    /// and the entry starts a new one.
    fn accepts(&self, _entry: &E) -> bool {
        true
    }
    /// Adds records `rows` of `entry` (every entry is added whole, in one or more slices).
    fn add(&mut self, entry: &E, rows: Range<usize>);
    /// Does a slice of the work of finishing the file, on the writer's task with a yield
    /// to the runtime after each slice, before [`BatchWriter::finish`] runs on a blocking
    /// thread; returns whether more is left. For work small in total that would be a
    /// burst on the core the requests share if done at once (a thread of its own does not
    /// help there: the kernel gives it the core for a whole time slice). None by default.
    fn finish_slice(&mut self) -> bool {
        false
    }
    /// The file's bytes; `summary` counts the batch's records and their time range.
    /// `None`: this batch has no such file (readers fall back to the log).
    fn finish(self: Box<Self>, summary: &BatchSummary) -> Result<Option<Bytes>, BatchFileError>;
}

/// A batch file that could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode a batch file: {0}")]
pub struct BatchFileError(pub String);

/// The files of every batch of a log: the log itself, written last, and the files beside
/// it, written first (so a batch's files are all in the store once its log file is).
pub struct BatchFiles<E> {
    pub log: Arc<dyn BatchFile<E>>,
    pub beside: Vec<Arc<dyn BatchFile<E>>>,
}

impl<E> Clone for BatchFiles<E> {
    fn clone(&self) -> Self {
        BatchFiles {
            log: Arc::clone(&self.log),
            beside: self.beside.clone(),
        }
    }
}

impl<E: LogEntry + JsonLines> BatchFiles<E> {
    /// JSON Lines + gzip and nothing beside.
    pub fn json_lines() -> BatchFiles<E> {
        BatchFiles {
            log: Arc::new(JsonLinesGz),
            beside: Vec::new(),
        }
    }
}

/// The log as gzip-compressed JSON Lines, compressed as entries arrive, a chunk of
/// [`COMPRESS_CHUNK_BYTES`] at a time.
pub struct JsonLinesGz;

/// Plain bytes gathered before they are compressed. A one-row request is one ~530-byte
/// line (Adult), and compressing line by line costs several times more than in chunks (the
/// deflate call's fixed cost); the chunk is the only plain text an open batch holds.
pub const COMPRESS_CHUNK_BYTES: usize = 32 * 1024;

impl<E: JsonLines + 'static> BatchFile<E> for JsonLinesGz {
    fn key(&self, id: &BatchId<'_>) -> String {
        id.key(JSONL_GZ)
    }

    fn start(&self) -> Box<dyn BatchWriter<E>> {
        Box::new(JsonLinesGzWriter {
            file: GzipLines::new(),
            lines: Vec::with_capacity(COMPRESS_CHUNK_BYTES + 4096),
        })
    }
}

struct JsonLinesGzWriter {
    file: GzipLines,
    /// Lines not compressed yet: compressed once they reach [`COMPRESS_CHUNK_BYTES`].
    lines: Vec<u8>,
}

impl<E: JsonLines> BatchWriter<E> for JsonLinesGzWriter {
    fn add(&mut self, entry: &E, rows: Range<usize>) {
        entry.write_json_lines(rows, &mut self.lines);
        if self.lines.len() >= COMPRESS_CHUNK_BYTES {
            self.file.write(&self.lines);
            self.lines.clear();
        }
    }

    /// Compresses the lines not compressed yet (up to a chunk).
    fn finish_slice(&mut self) -> bool {
        self.file.write(&self.lines);
        self.lines.clear();
        false
    }

    fn finish(self: Box<Self>, summary: &BatchSummary) -> Result<Option<Bytes>, BatchFileError> {
        let JsonLinesGzWriter { mut file, lines } = *self;
        file.write(&lines);
        Ok(Some(file.finish(summary)))
    }
}

impl LogEntry for FeedbackRecord {
    fn records(&self) -> usize {
        1
    }
}

impl JsonLines for FeedbackRecord {
    fn write_json_lines(&self, _rows: Range<usize>, out: &mut Vec<u8>) {
        // Serializing into memory cannot fail.
        let _ = serde_json::to_writer(&mut *out, self);
        out.push(b'\n');
    }
}
