//! The served model's performance in a scheduled check (`policy.performance`): CBPE
//! fitted on the version's scored hold-out estimates the window from its scores, and
//! the `/feedback` labels that arrived so far realize it.
//!
//! Only the predictions of the assessed version count (its hold-out calibrates its
//! scores); others are counted and left out.
//!
//! Labels for predictions of earlier windows are matched against the version's stored
//! windows ([`super::history`], up to `maxLabelDelay` back), which are realized again;
//! this window is stored for the checks after it.
//!
//! **Reads.** The window's log batches, once, for each prediction's score, decision,
//! request id and time (the batch profiles hold no per-row scores); the labels that
//! arrived in the window; the earlier windows' files ([`super::history`]). **Holds.**
//! 41 bytes a prediction of the window (its score and decision, which CBPE's ROC-AUC
//! needs in full, and its scored-file row), and one entry per labelled request id of
//! the window ([`LabelJoin`]): never the log itself.

use vigil_core::data::schema::FeatureSchema;
use vigil_core::data::storage::Store;
use vigil_core::drift::profile::score_of;
use vigil_core::drift::rules::ModelPerformanceSpec;
use vigil_core::drift::sketch::hash_str;
use vigil_core::performance::{
    assess_window, CheckPerformance, JoinParams, LabelJoin, LabelRecord, LabelledRow,
    PredictionRecordRef, ScoredPrediction, ScoredRow, WindowState,
};
use vigil_core::train::artifact::{ModelArtifact, ScoredHoldout};
use vigil_core::wire::FeedbackRecord;

use super::history::History;
use super::window::{for_each_record, Span};
use super::DriftError;

/// The most distinct labelled request ids the join holds (about 100 bytes each).
pub const LABEL_BUDGET: usize = 2_000_000;

/// The window's performance, or why it was not estimated. Fails only when the store
/// cannot be read; everything about the model or the data is a refusal with a reason.
pub async fn assess(
    store: &Store,
    model: &ModelArtifact,
    spec: &ModelPerformanceSpec,
    span: Span,
    keys: &[String],
    feedback: &[FeedbackRecord],
) -> Result<CheckPerformance, DriftError> {
    let classes = model.schema.target.classes.len();
    if classes != 2 {
        return Ok(CheckPerformance::refused(
            "NotBinary",
            format!("CBPE estimates binary classifiers; this model has {classes} classes"),
        ));
    }
    let holdout = match model.load_holdout(store).await {
        Ok(Some(holdout)) => holdout_rows(&holdout),
        Ok(None) => {
            return Ok(CheckPerformance::refused(
                "NoHoldout",
                format!(
                    "version {} has no scored hold-out (it was trained before Vigil kept one); \
                     retrain to estimate its performance",
                    model.version
                ),
            ))
        }
        Err(e) => {
            return Ok(CheckPerformance::refused(
                "HoldoutUnavailable",
                e.to_string(),
            ))
        }
    };
    let max_label_delay = spec.max_label_delay.to_chrono();
    let mut join = LabelJoin::new(JoinParams {
        since: span.since,
        until: span.until,
        max_label_delay,
        label_budget: LABEL_BUDGET,
    });
    for label in feedback {
        let added = join.add_label(LabelRecord {
            request_id: &label.request_id,
            positive: positive(&model.schema, &label.label),
            timestamp: label.timestamp,
        });
        if let Err(e) = added {
            return Ok(e.into());
        }
    }
    let mut matcher = join.into_matcher();
    let positive_class = &model.schema.target.classes[1];
    let mut scores = Vec::new();
    let mut scored = Vec::new();
    let mut other_versions = 0;
    for_each_record(store, span, keys, |record| {
        // The hold-out calibrates this version's scores; a rollout's window also holds
        // the previous version's predictions (their labels then count as orphans).
        if record.model_version != model.version {
            other_versions += 1;
            return;
        }
        let row = ScoredRow {
            // NaN makes CBPE refuse, naming the row.
            score: score_of(&record.probabilities).unwrap_or(f64::NAN),
            predicted: &record.predicted_class == positive_class,
        };
        scores.push(row);
        scored.push(ScoredPrediction {
            id_hash: hash_str(&record.request_id),
            timestamp_ms: record.timestamp.timestamp_millis(),
            score: row.score,
            predicted: row.predicted,
        });
        matcher.add_prediction(PredictionRecordRef {
            request_id: &record.request_id,
            timestamp: record.timestamp,
            score: row.score,
            predicted: row.predicted,
        });
    })
    .await?;
    let (keyed, mut counts, pending) = matcher.finish_keyed();
    if scores.is_empty() && other_versions > 0 {
        return Ok(CheckPerformance::refused(
            "NoPredictionsOfVersion",
            format!(
                "the window's {other_versions} predictions were all made by other versions than {}",
                model.version
            ),
        ));
    }
    let mut history = History::load(store, &model.version, span, max_label_delay).await?;
    history
        .look_back(pending, max_label_delay, &mut counts)
        .await;
    let labelled: Vec<LabelledRow> = keyed.iter().map(|k| k.row).collect();
    let mut check = assess_window(
        spec,
        &holdout,
        &scores,
        &labelled,
        counts,
        &mut history.earlier,
    );
    if let CheckPerformance::Assessed {
        other_versions: left_out,
        window,
        ..
    } = &mut check
    {
        *left_out = other_versions;
        let current = WindowState {
            since: span.since,
            until: span.until,
            performance: window.clone(),
        };
        history
            .save(&current, &scored, &keyed, max_label_delay)
            .await?;
    }
    Ok(check)
}

/// Whether a label is the positive class; `None` when it names no class.
fn positive(schema: &FeatureSchema, label: &str) -> Option<bool> {
    schema.class_index(label).map(|c| c == 1)
}

fn holdout_rows(holdout: &ScoredHoldout) -> Vec<LabelledRow> {
    holdout
        .scores
        .iter()
        .zip(&holdout.predicted)
        .zip(&holdout.labels)
        .map(|((&score, &predicted), &label)| LabelledRow {
            score,
            predicted,
            label,
        })
        .collect()
}
