//! The prediction log as Parquet (`vigil serve --prediction-log-format parquet`): each
//! batch is one file of one row group, `logs/dt=…/hr=…/<writer>-<seq>.parquet`, in the
//! columns of `vigil_core::data::parquet_log` — so users query their predictions with
//! pyarrow, DuckDB or Spark as they are, and the drift check and `GET /logs` read them
//! like the JSON Lines files.
//!
//! Rows are added from the request's columns as they arrive (a categorical value costs a
//! code per row: the request's dictionary is mapped to the batch's once per request); the
//! file is encoded when the batch finishes, on a blocking thread of the log's writer, off
//! the request path. A Parquet file has one schema: an entry answered by a model of
//! another schema (a reload changed it) finishes the open batch and starts the next one
//! ([`BatchWriter::accepts`]).

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use vigil_core::data::log_file::BatchSummary;
use vigil_core::data::parquet_log::{DictionaryCode, ParquetBatch, PARQUET_EXTENSION};

use super::format::{BatchFile, BatchFileError, BatchId, BatchWriter};
use crate::columns::{Column, MISSING_CODE};
use crate::record::PredictionBatch;
use crate::served::LoadedModel;

/// The prediction log as Parquet batch files.
pub struct ParquetLog {
    /// The rows a batch holds when it is finished by size (the log's `flush_records`):
    /// its columns are allocated for them at once, up to [`RESERVED_ROWS_MAX`], not grown
    /// by doubling (the copies of that growth were 3 % of the CPU of OIP requests at
    /// batch 1,000; bench/serve).
    pub batch_rows: usize,
}

/// Beyond this many rows a batch's columns grow as they fill: a large `flush_records`
/// reserves no more up front (and glibc grows allocations this large by remapping, not
/// copying).
const RESERVED_ROWS_MAX: usize = 20_000;

impl BatchFile<PredictionBatch> for ParquetLog {
    fn key(&self, id: &BatchId<'_>) -> String {
        id.key(PARQUET_EXTENSION)
    }

    fn start(&self) -> Box<dyn BatchWriter<PredictionBatch>> {
        Box::new(ParquetLogWriter {
            batch_rows: self.batch_rows.min(RESERVED_ROWS_MAX),
            open: None,
            dictionaries: Vec::new(),
            request_id: String::new(),
        })
    }
}

/// A snapshot's strings as codes of the open batch, looked up once per snapshot and
/// shared by its rows.
struct SnapshotCodes {
    version: DictionaryCode,
    classes: Vec<DictionaryCode>,
}

impl SnapshotCodes {
    fn of(model: &LoadedModel, batch: &mut ParquetBatch) -> SnapshotCodes {
        SnapshotCodes {
            version: batch.version_code(model.version()),
            classes: model
                .classes()
                .iter()
                .map(|c| batch.class_code(c))
                .collect(),
        }
    }
}

struct ParquetLogWriter {
    /// The rows a new batch's columns are allocated for.
    batch_rows: usize,
    /// The model of the batch's last entry (later entries of the same snapshot skip the
    /// schema comparison), its codes and the rows so far.
    open: Option<(Arc<LoadedModel>, SnapshotCodes, ParquetBatch)>,
    /// Per feature, the batch's code of every value of the entry's categorical
    /// dictionary; made when an entry's first slice arrives (every entry is added whole,
    /// from row 0).
    dictionaries: Vec<Vec<DictionaryCode>>,
    /// A row's request id as text (reused).
    request_id: String,
}

impl BatchWriter<PredictionBatch> for ParquetLogWriter {
    fn accepts(&self, entry: &PredictionBatch) -> bool {
        self.open.as_ref().is_none_or(|(model, _, batch)| {
            Arc::ptr_eq(model, &entry.model) || batch.schema() == &entry.model.artifact.schema
        })
    }

    fn add(&mut self, entry: &PredictionBatch, rows: Range<usize>) {
        let (model, codes, batch) = self.open.get_or_insert_with(|| {
            let mut batch =
                ParquetBatch::with_capacity(&entry.model.artifact.schema, self.batch_rows);
            let codes = SnapshotCodes::of(&entry.model, &mut batch);
            (Arc::clone(&entry.model), codes, batch)
        });
        if !Arc::ptr_eq(model, &entry.model) {
            // Same schema (the writer asked `accepts` first), a newer snapshot.
            *model = Arc::clone(&entry.model);
            *codes = SnapshotCodes::of(&entry.model, batch);
        }
        for row in rows.clone() {
            self.request_id.clear();
            entry.request_id(row).push_to(&mut self.request_id);
            batch.add_prediction(
                &self.request_id,
                entry.timestamp,
                codes.version,
                codes.classes[entry.class(row)],
                entry.probabilities(row),
                entry.latency_us,
            );
        }
        if rows.start == 0 {
            self.dictionaries = (entry.features.columns.iter().enumerate())
                .map(|(feature, column)| match column {
                    Column::Categorical(c) => (c.dictionary.iter())
                        .map(|value| batch.category_code(feature, value))
                        .collect(),
                    Column::Numeric(_) => Vec::new(),
                })
                .collect();
        }
        for (feature, column) in entry.features.columns.iter().enumerate() {
            match column {
                Column::Numeric(values) => batch.add_numbers(feature, &values[rows.clone()]),
                Column::Categorical(c) => {
                    let dictionary = &self.dictionaries[feature];
                    let values = (c.codes[rows.clone()].iter())
                        .map(|&code| (code != MISSING_CODE).then(|| dictionary[code as usize]));
                    batch.add_categories(feature, values);
                }
            }
        }
    }

    fn finish(self: Box<Self>, _: &BatchSummary) -> Result<Option<Bytes>, BatchFileError> {
        match self.open {
            Some((_, _, batch)) => batch
                .finish()
                .map(Some)
                .map_err(|e| BatchFileError(e.to_string())),
            // No entry: no file (and no record to lose).
            None => Ok(None),
        }
    }
}
