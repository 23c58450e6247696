//! Confidence-based performance estimation (CBPE) for binary classifiers, as NannyML
//! 0.13.1 computes it (`nannyml.performance_estimation.confidence_based`):
//!
//! * fit on a labelled reference: the calibrator ([`super::calibration`]), the sampling
//!   error components ([`super::sampling`]) and, per metric, alert thresholds
//!   `nanmean ± 3·nanstd` of the metric realized on the reference chunks, clipped to
//!   the metric's range;
//! * estimate on any chunk of scored rows: the expected confusion matrix (each row
//!   counts its calibrated probability p as a hit and 1 − p as a miss), the metrics
//!   derived from it, the ROC AUC of the calibrated probabilities ranked by the raw
//!   scores, `value ± 3·sampling error` bounds, and an alert outside the thresholds.
//!
//! NannyML computes these with NumPy; sums here are NumPy's pairwise sums and cumulative
//! sums are sequential, as NumPy's are.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::calibration::{choose_calibrator, CalibrationDecision, Calibrator};
use super::chunk::Chunking;
use super::error::PerformanceError;
use super::metric::{nan_mean_std, ratio_or_zero, Confusion, LabelledRow, Metric, ScoredRow};
use super::sampling::{component, ErrorComponent};
use crate::stats::pairwise_sum;
use crate::train::evaluation::roc_auc;

/// NannyML's `SAMPLING_ERROR_RANGE`: bounds are this many sampling errors wide.
pub const SAMPLING_ERROR_RANGE: f64 = 3.0;
/// NannyML's default `StandardDeviationThreshold` multiplier.
pub const THRESHOLD_STD_MULTIPLIER: f64 = 3.0;
/// The smallest reference CBPE accepts: NannyML's 10 stratified splits need 2 test rows
/// (one of each class) in each.
pub const MIN_REFERENCE_ROWS: usize = 20;

/// The lower and upper alert thresholds of a metric (None: no threshold on that side).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Thresholds {
    pub lower: Option<f64>,
    pub upper: Option<f64>,
}

impl Thresholds {
    /// NannyML's `StandardDeviationThreshold` over per-chunk values, then its value limits.
    pub fn from_reference(values: &[f64], multiplier: f64, metric: Metric) -> Thresholds {
        let (mean, std) = nan_mean_std(values);
        let (min, max) = metric.limits();
        let finite = |v: f64| (!v.is_nan()).then_some(v);
        let mut lower = finite(mean - std * multiplier);
        let mut upper = finite(mean + std * multiplier);
        if let (Some(limit), Some(v)) = (min, lower) {
            if v <= limit {
                lower = Some(limit);
            }
        }
        if let (Some(limit), Some(v)) = (max, upper) {
            if v >= limit {
                upper = Some(limit);
            }
        }
        Thresholds { lower, upper }
    }

    /// Outside the thresholds (NaN never alerts).
    pub fn alerts(&self, value: f64) -> bool {
        self.lower.is_some_and(|l| value < l) || self.upper.is_some_and(|u| value > u)
    }
}

/// What to estimate and how to chunk.
#[derive(Clone, Debug, PartialEq)]
pub struct CbpeParams {
    pub chunking: Chunking,
    /// Subset of [`Metric::ESTIMATED`]; empty means all.
    pub metrics: Vec<Metric>,
    /// Alert thresholds are the reference mean ± this many standard deviations.
    pub threshold_std_multiplier: f64,
}

impl Default for CbpeParams {
    fn default() -> Self {
        CbpeParams {
            chunking: Chunking::Size(5000),
            metrics: Metric::ESTIMATED.to_vec(),
            threshold_std_multiplier: THRESHOLD_STD_MULTIPLIER,
        }
    }
}

/// One metric's estimate on one chunk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricEstimate {
    pub metric: Metric,
    /// None when the chunk cannot give one (e.g. no probability mass at all).
    pub value: Option<f64>,
    pub sampling_error: f64,
    pub lower_confidence: Option<f64>,
    pub upper_confidence: Option<f64>,
    pub thresholds: Thresholds,
    pub alert: bool,
}

/// The estimates of one chunk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkEstimate {
    pub index: usize,
    /// First row (inclusive) and end row (exclusive) of the chunk.
    pub start: usize,
    pub end: usize,
    pub estimates: Vec<MetricEstimate>,
}

impl ChunkEstimate {
    pub fn get(&self, metric: Metric) -> Option<&MetricEstimate> {
        self.estimates.iter().find(|e| e.metric == metric)
    }
}

/// A fitted estimator.
#[derive(Clone, Debug, PartialEq)]
pub struct Cbpe {
    chunking: Chunking,
    metrics: Vec<Metric>,
    calibrator: Calibrator,
    decision: CalibrationDecision,
    components: BTreeMap<Metric, ErrorComponent>,
    thresholds: BTreeMap<Metric, Thresholds>,
    reference_rows: usize,
}

impl Cbpe {
    /// Fits on a labelled reference. Refuses (typed) a reference with one class, a
    /// non-probability score, or fewer than [`MIN_REFERENCE_ROWS`] rows.
    pub fn fit(reference: &[LabelledRow], params: &CbpeParams) -> Result<Cbpe, PerformanceError> {
        validate_scores(reference.iter().map(|r| r.score))?;
        if reference.len() < MIN_REFERENCE_ROWS {
            return Err(PerformanceError::TooFewRows {
                what: "a CBPE reference",
                rows: reference.len(),
                min: MIN_REFERENCE_ROWS,
            });
        }
        let positives = reference.iter().filter(|r| r.label).count();
        if positives == 0 || positives == reference.len() {
            return Err(PerformanceError::SingleClassReference {
                class: if positives == 0 {
                    "negative"
                } else {
                    "positive"
                },
                rows: reference.len(),
            });
        }
        let metrics: Vec<Metric> = if params.metrics.is_empty() {
            Metric::ESTIMATED.to_vec()
        } else {
            Metric::ESTIMATED
                .into_iter()
                .filter(|m| params.metrics.contains(m))
                .collect()
        };
        let chunks = params.chunking.split(reference.len())?;
        let mut components = BTreeMap::new();
        let mut thresholds = BTreeMap::new();
        for &metric in &metrics {
            components.insert(metric, component(metric, reference));
            let realized: Vec<f64> = chunks
                .iter()
                .map(|c| realized_for_thresholds(metric, &reference[c.clone()]))
                .collect();
            thresholds.insert(
                metric,
                Thresholds::from_reference(&realized, params.threshold_std_multiplier, metric),
            );
        }
        let labels: Vec<bool> = reference.iter().map(|r| r.label).collect();
        let scores: Vec<f64> = reference.iter().map(|r| r.score).collect();
        let (calibrator, decision) = choose_calibrator(&labels, &scores)?;
        Ok(Cbpe {
            chunking: params.chunking,
            metrics,
            calibrator,
            decision,
            components,
            thresholds,
            reference_rows: reference.len(),
        })
    }

    pub fn calibration(&self) -> &CalibrationDecision {
        &self.decision
    }

    pub fn metrics(&self) -> &[Metric] {
        &self.metrics
    }

    pub fn chunking(&self) -> Chunking {
        self.chunking
    }

    pub fn reference_rows(&self) -> usize {
        self.reference_rows
    }

    /// The sampling error of `metric` over `rows` rows (NaN if not fitted).
    pub fn sampling_error(&self, metric: Metric, rows: usize) -> f64 {
        self.components
            .get(&metric)
            .map_or(f64::NAN, |c| c.sampling_error(metric, rows))
    }

    pub fn thresholds(&self, metric: Metric) -> Option<Thresholds> {
        self.thresholds.get(&metric).copied()
    }

    /// Estimates every chunk of `rows` (chunked as fitted).
    pub fn estimate(&self, rows: &[ScoredRow]) -> Result<Vec<ChunkEstimate>, PerformanceError> {
        self.chunking
            .split(rows.len())?
            .into_iter()
            .enumerate()
            .map(|(index, range)| self.estimate_range(index, range, rows))
            .collect()
    }

    /// Estimates `rows` as one chunk.
    pub fn estimate_chunk(&self, rows: &[ScoredRow]) -> Result<ChunkEstimate, PerformanceError> {
        self.estimate_range(0, 0..rows.len(), rows)
    }

    fn estimate_range(
        &self,
        index: usize,
        range: Range<usize>,
        rows: &[ScoredRow],
    ) -> Result<ChunkEstimate, PerformanceError> {
        let chunk = &rows[range.clone()];
        validate_scores(chunk.iter().map(|r| r.score))?;
        if chunk.is_empty() {
            return Err(PerformanceError::TooFewRows {
                what: "a CBPE chunk",
                rows: 0,
                min: 1,
            });
        }
        let calibrated: Vec<f64> = chunk
            .iter()
            .map(|r| self.calibrator.apply(r.score))
            .collect();
        let expected = ExpectedConfusion::of(chunk, &calibrated);
        let estimates = self
            .metrics
            .iter()
            .map(|&metric| {
                let value = match metric {
                    Metric::RocAuc => estimated_roc_auc(chunk, &calibrated),
                    m => expected.metric(m),
                };
                self.finish(metric, value, chunk.len())
            })
            .collect();
        Ok(ChunkEstimate {
            index,
            start: range.start,
            end: range.end,
            estimates,
        })
    }

    fn finish(&self, metric: Metric, value: f64, rows: usize) -> MetricEstimate {
        let sampling_error = self.sampling_error(metric, rows);
        let thresholds = self.thresholds(metric).unwrap_or_default();
        let (min, max) = metric.limits();
        let defined = |v: f64| (!v.is_nan()).then_some(v);
        MetricEstimate {
            metric,
            value: defined(value),
            sampling_error,
            lower_confidence: defined(
                (value - SAMPLING_ERROR_RANGE * sampling_error)
                    .max(min.unwrap_or(f64::NEG_INFINITY)),
            ),
            upper_confidence: defined(
                (value + SAMPLING_ERROR_RANGE * sampling_error).min(max.unwrap_or(f64::INFINITY)),
            ),
            thresholds,
            alert: thresholds.alerts(value),
        }
    }
}

fn validate_scores(scores: impl Iterator<Item = f64>) -> Result<(), PerformanceError> {
    for (row, score) in scores.enumerate() {
        if !score.is_finite() {
            return Err(PerformanceError::NonFiniteScore { row });
        }
        if !(0.0..=1.0).contains(&score) {
            return Err(PerformanceError::ScoreOutOfRange { row, value: score });
        }
    }
    Ok(())
}

/// The confusion matrix expected from calibrated probabilities.
struct ExpectedConfusion {
    tp: f64,
    tn: f64,
    fp: f64,
    fn_: f64,
    /// The cells as NannyML reports them: `mean(cell) * n`.
    cells: [f64; 4],
    n: f64,
}

impl ExpectedConfusion {
    fn of(rows: &[ScoredRow], calibrated: &[f64]) -> ExpectedConfusion {
        let n = rows.len() as f64;
        let cell = |positive_prediction: bool, hit: bool| -> f64 {
            let terms: Vec<f64> = rows
                .iter()
                .zip(calibrated)
                .map(|(r, &p)| match (r.predicted == positive_prediction, hit) {
                    (false, _) => 0.0,
                    (true, true) => p,
                    (true, false) => 1.0 - p,
                })
                .collect();
            pairwise_sum(&terms)
        };
        let (tp, fp) = (cell(true, true), cell(true, false));
        let (fn_, tn) = (cell(false, true), cell(false, false));
        ExpectedConfusion {
            tp,
            tn,
            fp,
            fn_,
            cells: [tp, tn, fp, fn_].map(|s| s / n * n),
            n,
        }
    }

    fn metric(&self, metric: Metric) -> f64 {
        let ratio = |x: f64, d: f64| if d != 0.0 { x / d } else { 0.0 };
        match metric {
            Metric::Accuracy => (self.tp + self.tn) / self.n,
            Metric::F1 => ratio(self.tp, self.tp + 0.5 * (self.fp + self.fn_)),
            Metric::Precision => ratio(self.tp, self.tp + self.fp),
            Metric::Recall => ratio(self.tp, self.tp + self.fn_),
            Metric::Specificity => ratio(self.tn, self.tn + self.fp),
            Metric::TruePositive => self.cells[0],
            Metric::TrueNegative => self.cells[1],
            Metric::FalsePositive => self.cells[2],
            Metric::FalseNegative => self.cells[3],
            Metric::RocAuc | Metric::LogLoss => f64::NAN,
        }
    }
}

/// `estimate_roc_auc`: the ROC curve traced by ranking rows by raw score (descending)
/// and counting each calibrated probability as expected true positives; cumulative sums
/// rounded to 5 decimals, then the trapezoidal area. Tied scores have equal calibrated
/// probabilities, so their order does not change the curve.
fn estimated_roc_auc(rows: &[ScoredRow], calibrated: &[f64]) -> f64 {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| rows[b].score.total_cmp(&rows[a].score));
    let round5 = |v: f64| (v * 1e5).round_ties_even() / 1e5;
    let mut tps = Vec::with_capacity(rows.len() + 1);
    let mut fps = Vec::with_capacity(rows.len() + 1);
    tps.push(0.0);
    fps.push(0.0);
    let mut cumulative = 0.0;
    for (i, &k) in order.iter().enumerate() {
        cumulative += calibrated[k];
        tps.push(round5(cumulative));
        fps.push(round5((i + 1) as f64 - cumulative));
    }
    let (tp_total, fp_total) = (tps[tps.len() - 1], fps[fps.len() - 1]);
    let tpr: Vec<f64> = tps.iter().map(|v| v / tp_total).collect();
    let fpr: Vec<f64> = fps.iter().map(|v| v / fp_total).collect();
    let areas: Vec<f64> = (1..tpr.len())
        .map(|i| (fpr[i] - fpr[i - 1]) * (tpr[i] + tpr[i - 1]) / 2.0)
        .collect();
    pairwise_sum(&areas)
}

/// The metric realized on a reference chunk, as NannyML computes it for thresholds
/// (NaN where NannyML returns NaN: one class among labels or predictions).
fn realized_for_thresholds(metric: Metric, rows: &[LabelledRow]) -> f64 {
    let c = Confusion::of(rows);
    let labels_vary =
        c.true_positive + c.false_negative > 0 && c.true_negative + c.false_positive > 0;
    let predictions_vary =
        c.true_positive + c.false_positive > 0 && c.true_negative + c.false_negative > 0;
    let both_vary = labels_vary && predictions_vary;
    let (tp, fp, fn_) = (c.true_positive, c.false_positive, c.false_negative);
    match metric {
        Metric::Accuracy => ratio_or_zero(c.true_positive + c.true_negative, c.total()),
        Metric::Precision if both_vary => ratio_or_zero(tp, tp + fp),
        Metric::Recall if both_vary => ratio_or_zero(tp, tp + fn_),
        Metric::F1 if both_vary => ratio_or_zero(2 * tp, 2 * tp + fp + fn_),
        Metric::Specificity if c.true_negative + fp > 0 => {
            ratio_or_zero(c.true_negative, c.true_negative + fp)
        }
        Metric::RocAuc => {
            let scores: Vec<f64> = rows.iter().map(|r| r.score).collect();
            let labels: Vec<bool> = rows.iter().map(|r| r.label).collect();
            roc_auc(&scores, &labels).unwrap_or(f64::NAN)
        }
        cell => c.cell(cell).map_or(f64::NAN, |v| v as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize) -> Vec<LabelledRow> {
        (0..n)
            .map(|i| {
                let score = (i % 10) as f64 / 10.0 + 0.05;
                LabelledRow {
                    score,
                    predicted: score >= 0.5,
                    label: (i * 7 % 10) as f64 / 10.0 < score,
                }
            })
            .collect()
    }

    #[test]
    fn refuses_what_it_cannot_estimate() {
        let params = CbpeParams::default();
        let mut one_class = rows(100);
        one_class.iter_mut().for_each(|r| r.label = true);
        assert!(matches!(
            Cbpe::fit(&one_class, &params),
            Err(PerformanceError::SingleClassReference {
                class: "positive",
                ..
            })
        ));
        let mut nan = rows(100);
        nan[3].score = f64::NAN;
        assert_eq!(
            Cbpe::fit(&nan, &params),
            Err(PerformanceError::NonFiniteScore { row: 3 })
        );
        assert!(matches!(
            Cbpe::fit(&rows(10), &params),
            Err(PerformanceError::TooFewRows { rows: 10, .. })
        ));
        let cbpe = Cbpe::fit(&rows(100), &params).expect("fit");
        let bad = [ScoredRow {
            score: 1.5,
            predicted: true,
        }];
        assert!(matches!(
            cbpe.estimate_chunk(&bad),
            Err(PerformanceError::ScoreOutOfRange { row: 0, .. })
        ));
    }

    #[test]
    fn perfectly_confident_scores_estimate_perfect_accuracy() {
        let reference = rows(200);
        let cbpe = Cbpe::fit(&reference, &CbpeParams::default()).expect("fit");
        let certain: Vec<ScoredRow> = (0..50)
            .map(|i| ScoredRow {
                score: if i % 2 == 0 { 1.0 } else { 0.0 },
                predicted: i % 2 == 0,
            })
            .collect();
        let estimate = cbpe.estimate_chunk(&certain).expect("estimate");
        if !cbpe.calibration().calibrate {
            assert_eq!(
                estimate.get(Metric::Accuracy).and_then(|e| e.value),
                Some(1.0)
            );
            assert_eq!(
                estimate.get(Metric::TruePositive).and_then(|e| e.value),
                Some(25.0)
            );
        }
        let auc = estimate
            .get(Metric::RocAuc)
            .and_then(|e| e.value)
            .expect("auc");
        assert!((0.0..=1.0).contains(&auc));
    }

    #[test]
    fn thresholds_clip_to_the_metric_range() {
        let t = Thresholds::from_reference(&[0.9, 1.0, f64::NAN], 3.0, Metric::Accuracy);
        assert_eq!(t.upper, Some(1.0));
        assert!(t.lower.is_some_and(|l| l < 0.9));
        assert!(t.alerts(0.5) && !t.alerts(0.95) && !t.alerts(f64::NAN));
    }
}
