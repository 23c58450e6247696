//! The window profile of every prediction-log batch, folded as the batch is encoded and
//! written beside it (`profiles/dt=…/hr=…/<writer>-<seq>.profile.json.gz`,
//! `vigil_core::drift::profile`), so that a scheduled drift check merges profiles instead
//! of decoding the log. Requests are folded a column at a time: a numeric column's
//! values go straight into its sketch, a categorical column's rows are counted by their
//! dictionary code and added once per distinct value.
//!
//! A batch whose rows were answered by models of two different schemas (a reload
//! between them) gets no profile: the check reads that batch from the log.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use vigil_core::data::log_file::BatchSummary;
use vigil_core::data::prediction_log::JSONL_GZ;
use vigil_core::drift::profile::{
    encode_profile, profile_key, BatchProfiler, ProfileFileEncoder, PROFILES_PREFIX,
};

use super::format::{BatchFile, BatchFileError, BatchId, BatchWriter};
use crate::columns::{Column, MISSING_CODE};
use crate::record::PredictionBatch;
use crate::served::LoadedModel;

/// Batch profiles beside the prediction log.
pub struct BatchProfiles;

impl BatchFile<PredictionBatch> for BatchProfiles {
    fn key(&self, id: &BatchId<'_>) -> String {
        // Named from the log key, exactly as the drift check looks it up.
        profile_key(&id.key(JSONL_GZ))
            .unwrap_or_else(|| id.key_under(PROFILES_PREFIX, "profile.json.gz"))
    }

    fn start(&self) -> Box<dyn BatchWriter<PredictionBatch>> {
        Box::new(ProfileWriter::Empty)
    }
}

enum ProfileWriter {
    Empty,
    Folding {
        /// The model of the batch's first entry: later entries of the same snapshot skip
        /// the schema comparison.
        model: Arc<LoadedModel>,
        profiler: Box<BatchProfiler>,
        /// Per categorical value code of the entry being folded: its rows.
        counts: Vec<u64>,
        request_id: String,
    },
    /// The batch's profile, being compressed a slice at a time.
    Compressing(ProfileFileEncoder),
    /// Rows of two schemas: no profile for this batch.
    Mixed,
}

/// JSON compressed in one slice of finishing: ~0.15 ms of deflate, a run no longer than
/// the writer's own between waits; 4 KiB slices took 7 % more CPU a request at c = 64
/// (bench/serve/README.md).
const COMPRESS_SLICE_BYTES: usize = 16 * 1024;

impl BatchWriter<PredictionBatch> for ProfileWriter {
    fn add(&mut self, entry: &PredictionBatch, rows: Range<usize>) {
        if let ProfileWriter::Empty = self {
            *self = ProfileWriter::Folding {
                model: Arc::clone(&entry.model),
                profiler: Box::new(BatchProfiler::new(&entry.model.artifact.schema)),
                counts: Vec::new(),
                request_id: String::new(),
            };
        }
        let ProfileWriter::Folding {
            model,
            profiler,
            counts,
            request_id,
        } = self
        else {
            return;
        };
        if !Arc::ptr_eq(model, &entry.model) {
            if profiler.schema() != &entry.model.artifact.schema {
                *self = ProfileWriter::Mixed;
                return;
            }
            *model = Arc::clone(&entry.model);
        }
        fold_features(profiler, counts, entry, rows.clone());
        for row in rows {
            request_id.clear();
            entry.request_id(row).push_to(request_id);
            profiler.observe_prediction(
                request_id,
                entry.timestamp,
                Some(entry.class(row)),
                entry.probabilities(row),
            );
        }
    }

    /// The profile's file, serialised in the first slice and compressed in the others.
    fn finish_slice(&mut self) -> bool {
        match self {
            ProfileWriter::Compressing(file) => file.compress(COMPRESS_SLICE_BYTES),
            ProfileWriter::Folding { .. } => {
                if let ProfileWriter::Folding { profiler, .. } =
                    std::mem::replace(self, ProfileWriter::Mixed)
                {
                    *self = ProfileWriter::Compressing(ProfileFileEncoder::new(&profiler.finish()));
                }
                true
            }
            ProfileWriter::Empty | ProfileWriter::Mixed => false,
        }
    }

    fn finish(self: Box<Self>, _: &BatchSummary) -> Result<Option<Bytes>, BatchFileError> {
        match *self {
            ProfileWriter::Folding { profiler, .. } => Ok(Some(encode_profile(&profiler.finish()))),
            ProfileWriter::Compressing(file) => Ok(Some(file.finish())),
            ProfileWriter::Empty | ProfileWriter::Mixed => Ok(None),
        }
    }
}

/// Folds rows `rows` of every feature column of `entry`.
fn fold_features(
    profiler: &mut BatchProfiler,
    counts: &mut Vec<u64>,
    entry: &PredictionBatch,
    rows: Range<usize>,
) {
    for ((spec, column), values) in profiler.columns_mut().zip(&entry.features.columns) {
        match values {
            Column::Numeric(v) => column.observe_numbers(spec, &v[rows.clone()]),
            Column::Categorical(c) => {
                counts.clear();
                counts.resize(c.dictionary.len() + 1, 0);
                let missing = c.dictionary.len();
                for &code in &c.codes[rows.clone()] {
                    let slot = if code == MISSING_CODE {
                        missing
                    } else {
                        code as usize
                    };
                    counts[slot] += 1;
                }
                let present = c.dictionary.iter().map(|d| Some(d.as_str()));
                column.observe_category_counts(
                    present
                        .chain(std::iter::once(None))
                        .zip(counts.iter().copied())
                        .filter(|(_, n)| *n > 0),
                );
            }
        }
    }
}
