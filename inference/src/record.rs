//! The predictions of one request in the log buffer: columnar, sharing the model, and
//! written as [`PredictionRecord`] lines (one per row) off the request path.

use std::fmt;
use std::io::Write as _;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use vigil_core::data::prediction_log::Timestamped;
use vigil_core::data::schema::FeatureSchema;
use vigil_core::wire::PredictionRecord;

use crate::columns::{Column, Columns};
use crate::served::LoadedModel;
use crate::sink::{JsonLines, LogEntry};

/// The request ids of a request's rows.
#[derive(Clone, Debug, PartialEq)]
pub enum RequestIds {
    /// One per row, as sent (or generated).
    Each(Vec<String>),
    /// Derived from the request's id: the id itself for a one-row request, `<id>-<row>`
    /// (0-based) for row `row` of a longer one.
    Numbered(String),
}

/// Text of a log record written without allocating: a string, or a request id and a
/// row number (`<id>-<row>`).
#[derive(Clone, Copy, Debug)]
pub struct Text<'a> {
    base: &'a str,
    row: Option<usize>,
}

impl<'a> Text<'a> {
    pub fn plain(text: &'a str) -> Text<'a> {
        Text {
            base: text,
            row: None,
        }
    }

    /// Appends what [`Display`](fmt::Display) writes, without the formatting machinery:
    /// the log writers do it for every row (a copy and a number's digits).
    pub fn push_to(&self, out: &mut String) {
        out.push_str(self.base);
        if let Some(row) = self.row {
            out.push('-');
            out.push_str(itoa::Buffer::new().format(row));
        }
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.row {
            Some(row) => write!(f, "{}-{row}", self.base),
            None => f.write_str(self.base),
        }
    }
}

impl Serialize for Text<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.row {
            Some(_) => s.collect_str(self),
            None => s.serialize_str(self.base),
        }
    }
}

impl RequestIds {
    /// The id of `row` of a request of `rows` rows.
    pub fn get(&self, row: usize, rows: usize) -> Text<'_> {
        match self {
            RequestIds::Each(ids) => Text::plain(&ids[row]),
            RequestIds::Numbered(base) => Text {
                base,
                row: (rows > 1).then_some(row),
            },
        }
    }
}

/// The answered rows of one request, waiting in the log buffer. Every row shares the
/// request's model snapshot, timestamp and latency.
pub struct PredictionBatch {
    pub model: Arc<LoadedModel>,
    pub timestamp: DateTime<Utc>,
    /// Server-side latency of the request in microseconds.
    pub latency_us: u64,
    pub request_ids: RequestIds,
    /// The features as received (after type checks), in schema order.
    pub features: Columns,
    /// Per row, the index of the predicted class in the schema's classes.
    pub classes: Vec<u32>,
    /// Row-major, `rows × classes` probabilities in the schema's class order.
    pub probabilities: Vec<f64>,
}

impl PredictionBatch {
    pub fn rows(&self) -> usize {
        self.features.rows
    }

    pub fn request_id(&self, row: usize) -> Text<'_> {
        self.request_ids.get(row, self.rows())
    }

    /// The predicted class of `row`, as an index into the schema's classes.
    pub fn class(&self, row: usize) -> usize {
        self.classes[row] as usize
    }

    pub fn probabilities(&self, row: usize) -> &[f64] {
        let k = self.model.classes().len();
        &self.probabilities[row * k..(row + 1) * k]
    }

    /// `row` as the prediction log's record, with the batch's timestamp `timestamp`
    /// already formatted.
    pub fn record<'a>(
        &'a self,
        row: usize,
        timestamp: &'a str,
    ) -> PredictionRecord<Text<'a>, RowFeatures<'a>, &'a [f64], &'a str> {
        PredictionRecord {
            request_id: self.request_id(row),
            timestamp,
            model_version: Text::plain(self.model.version()),
            features: RowFeatures { batch: self, row },
            predicted_class: Text::plain(&self.model.classes()[self.class(row)]),
            probabilities: self.probabilities(row),
            latency_us: self.latency_us,
        }
    }
}

/// The features of one row, by name in schema order.
pub struct RowFeatures<'a> {
    batch: &'a PredictionBatch,
    row: usize,
}

impl Serialize for RowFeatures<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let specs = &self.batch.model.artifact.schema.features;
        let mut map = s.serialize_map(Some(specs.len()))?;
        for (i, spec) in specs.iter().enumerate() {
            map.serialize_entry(&spec.name, &self.batch.features.cell(i, self.row))?;
        }
        map.end()
    }
}

/// A batch of a few rows hands its buffers back to its model's [`EntryPool`] once the
/// writer is done with it.
impl Drop for PredictionBatch {
    fn drop(&mut self) {
        if self.rows() > POOL_ROWS {
            return;
        }
        let request_ids = match &mut self.request_ids {
            RequestIds::Each(ids) => std::mem::take(ids),
            RequestIds::Numbered(_) => Vec::new(),
        };
        let buffers = EntryBuffers {
            features: std::mem::take(&mut self.features),
            request_ids,
            classes: std::mem::take(&mut self.classes),
            probabilities: std::mem::take(&mut self.probabilities),
        };
        self.model
            .log_buffers
            .put(&self.model.artifact.schema, buffers);
    }
}

/// The vectors of a [`PredictionBatch`], empty, to fill with a request's rows.
pub struct EntryBuffers {
    pub features: Columns,
    pub request_ids: Vec<String>,
    pub classes: Vec<u32>,
    pub probabilities: Vec<f64>,
}

/// Entries of at most this many rows hand their buffers back.
const POOL_ROWS: usize = 16;
/// Buffers a pool keeps at most: the entries of a few milliseconds of one-row requests.
const POOL_ENTRIES: usize = 256;

/// The buffers of a model's logged requests of a few rows, handed back by the log writer
/// once it has encoded them, for the next request to fill. A logged one-row request is
/// some 25 small vectors (each column's values, codes and dictionary); allocated by the
/// handler and freed by the writer they cost more than the encoding of the entry, as
/// the allocator's per-thread cache holds a few freed chunks of a size and the rest go
/// through its slower bins. Bounded: at most [`POOL_ENTRIES`] sets of buffers, each of
/// an entry of at most [`POOL_ROWS`] rows.
#[derive(Default)]
pub struct EntryPool {
    free: Mutex<Vec<EntryBuffers>>,
}

impl EntryPool {
    /// Empty buffers for `rows` rows of `schema`'s features, recycled when there are.
    pub fn take(&self, schema: &FeatureSchema, rows: usize) -> EntryBuffers {
        let recycled = if rows <= POOL_ROWS {
            self.lock().pop()
        } else {
            None
        };
        recycled.unwrap_or_else(|| EntryBuffers {
            features: Columns::for_schema(schema, rows),
            request_ids: Vec::with_capacity(rows),
            classes: Vec::with_capacity(rows),
            probabilities: Vec::new(),
        })
    }

    /// Keeps `buffers`, emptied, if they are `schema`'s and the pool has room.
    fn put(&self, schema: &FeatureSchema, mut buffers: EntryBuffers) {
        if !buffers.features.fit(schema) {
            return;
        }
        buffers.features.clear();
        buffers.request_ids.clear();
        buffers.classes.clear();
        buffers.probabilities.clear();
        let mut free = self.lock();
        if free.len() < POOL_ENTRIES {
            free.push(buffers);
        }
    }

    /// Buffers in the pool.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<EntryBuffers>> {
        // A panic while the lock was held leaves a list of whole, empty buffers.
        self.free
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Timestamped for PredictionBatch {
    fn timestamp(&self) -> DateTime<Utc> {
        self.timestamp
    }
}

impl LogEntry for PredictionBatch {
    fn records(&self) -> usize {
        self.rows()
    }
}

impl JsonLines for PredictionBatch {
    /// The bytes `serde_json` writes for [`PredictionBatch::record`] (a test holds the two
    /// equal), without escaping the same text again for every row: the keys, the model
    /// version and the class names are escaped once per model ([`LogTemplate`]), the
    /// timestamp and the categorical values once per call; a row escapes only its request
    /// id (once per call too when the ids are numbered) and formats its numbers.
    fn write_json_lines(&self, rows: Range<usize>, out: &mut Vec<u8>) {
        let template = &self.model.log_template;
        // The text between the request id and the features (the timestamp as chrono's
        // serde writes it) is written for the first row and copied for the others.
        let mut after_id: Option<Range<usize>> = None;
        // Escaped once per call when values repeat; a single row (every `/predict`)
        // escapes its values in place rather than allocating their copies.
        let dictionaries: Vec<Vec<Vec<u8>>> = if rows.len() > 1 {
            self.features
                .columns
                .iter()
                .map(|column| match column {
                    Column::Categorical(c) => c
                        .dictionary
                        .iter()
                        .map(|d| serde_json::to_vec(d).unwrap_or_default())
                        .collect(),
                    Column::Numeric(_) => Vec::new(),
                })
                .collect()
        } else {
            Vec::new()
        };
        // A numbered id is `"<escaped id>-<row>"`: `-` and digits need no escaping.
        let numbered = match &self.request_ids {
            RequestIds::Numbered(base) if self.rows() > 1 => {
                let mut quoted = serde_json::to_vec(base).unwrap_or_default();
                quoted.pop();
                Some(quoted)
            }
            _ => None,
        };
        for row in rows {
            out.extend_from_slice(b"{\"request_id\":");
            match &numbered {
                Some(base) => {
                    out.extend_from_slice(base);
                    let _ = write!(out, "-{row}\"");
                }
                None => write_json(out, &self.request_id(row)),
            }
            match &after_id {
                Some(text) => out.extend_from_within(text.clone()),
                None => {
                    let start = out.len();
                    out.extend_from_slice(b",\"timestamp\":");
                    write_json(out, &self.timestamp);
                    out.extend_from_slice(template.model_version.as_bytes());
                    after_id = Some(start..out.len());
                }
            }
            for (i, (key, column)) in template
                .features
                .iter()
                .zip(&self.features.columns)
                .enumerate()
            {
                out.extend_from_slice(key.as_bytes());
                match column {
                    Column::Numeric(values) if values[row].is_nan() => {
                        out.extend_from_slice(b"null")
                    }
                    Column::Numeric(values) => write_json(out, &values[row]),
                    Column::Categorical(c) => match dictionaries.get(i) {
                        Some(escaped) => match escaped.get(c.codes[row] as usize) {
                            Some(value) => out.extend_from_slice(value),
                            None => out.extend_from_slice(b"null"),
                        },
                        None => write_json(out, &c.get(row)),
                    },
                }
            }
            out.extend_from_slice(template.classes[self.class(row)].as_bytes());
            for (j, p) in self.probabilities(row).iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                write_json(out, p);
            }
            out.extend_from_slice(b"],\"latency_us\":");
            write_json(out, &self.latency_us);
            out.extend_from_slice(b"}\n");
        }
    }
}

/// `value` as JSON, appended to `out` (into memory: cannot fail).
fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let _ = serde_json::to_writer(&mut *out, value);
}

/// The constant text of a model's log records, escaped once when the model is loaded.
#[derive(Debug)]
pub struct LogTemplate {
    /// `,"model_version":"<version>","features":{`
    model_version: String,
    /// Per feature, its key: `"<name>":`, with a leading comma after the first.
    features: Vec<String>,
    /// Per class, the text from the end of the features to the first probability:
    /// `},"predicted_class":"<class>","probabilities":[`
    classes: Vec<String>,
}

impl LogTemplate {
    pub fn new(schema: &FeatureSchema, version: &str) -> LogTemplate {
        let text = |value: &str| serde_json::to_string(value).unwrap_or_default();
        LogTemplate {
            model_version: format!(",\"model_version\":{},\"features\":{{", text(version)),
            features: schema
                .features
                .iter()
                .enumerate()
                .map(|(i, f)| format!("{}{}:", if i == 0 { "" } else { "," }, text(&f.name)))
                .collect(),
            classes: schema
                .target
                .classes
                .iter()
                .map(|c| format!("}},\"predicted_class\":{},\"probabilities\":[", text(c)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_id_pushed_is_the_one_displayed() {
        let numbered = RequestIds::Numbered("req-é\"7".into());
        let each = RequestIds::Each(vec!["a".into(), "b-9".into()]);
        let ids = [
            numbered.get(0, 1),
            numbered.get(0, 3),
            numbered.get(12_345, 20_000),
            numbered.get(usize::MAX, usize::MAX),
            each.get(1, 2),
        ];
        let mut pushed = String::from("before|");
        for id in ids {
            id.push_to(&mut pushed);
            pushed.push('|');
        }
        let displayed: String = ids.iter().map(|id| format!("{id}|")).collect();
        assert_eq!(pushed, format!("before|{displayed}"));
        assert_eq!(
            pushed,
            format!(
                "before|req-é\"7|req-é\"7-0|req-é\"7-12345|req-é\"7-{}|b-9|",
                usize::MAX
            )
        );
    }
}
