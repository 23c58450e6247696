//! Evaluation metrics of a classifier on a labelled hold-out.
//!
//! Conventions: for binary models class 1 (the schema's second class) is the
//! positive class; for multiclass models precision, recall, F1 and ROC-AUC are
//! macro averages (ROC-AUC one-vs-rest). Calibration bins the positive-class
//! probability (binary) or the top-class confidence (multiclass) into 10
//! equal-width bins.

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

/// Probabilities are clipped to `[EPS, 1 - EPS]` for log loss, as scikit-learn does.
const LOG_LOSS_EPS: f64 = 1e-15;
const CALIBRATION_BINS: usize = 10;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    pub rows: usize,
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// `None` when the hold-out holds a single class (AUC is undefined).
    pub roc_auc: Option<f64>,
    pub log_loss: f64,
    /// `confusion[actual][predicted]`.
    pub confusion_matrix: Vec<Vec<usize>>,
    pub calibration: Calibration,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Calibration {
    /// Expected calibration error: Σ (bin rows / rows) · |accuracy − confidence|.
    pub ece: f64,
    pub bins: Vec<ReliabilityBin>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReliabilityBin {
    pub lower: f64,
    pub upper: f64,
    pub count: usize,
    /// Mean predicted probability in the bin.
    pub mean_predicted: f64,
    /// Observed frequency of the event in the bin.
    pub observed: f64,
}

/// The metrics a promotion gate may name, by their camelCase names (an enum in the
/// CRD schema, so that the API server rejects an unknown name).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MetricName {
    Accuracy,
    Precision,
    Recall,
    F1,
    RocAuc,
    LogLoss,
    Ece,
}

impl MetricName {
    pub const ALL: [MetricName; 7] = [
        MetricName::Accuracy,
        MetricName::Precision,
        MetricName::Recall,
        MetricName::F1,
        MetricName::RocAuc,
        MetricName::LogLoss,
        MetricName::Ece,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MetricName::Accuracy => "accuracy",
            MetricName::Precision => "precision",
            MetricName::Recall => "recall",
            MetricName::F1 => "f1",
            MetricName::RocAuc => "rocAuc",
            MetricName::LogLoss => "logLoss",
            MetricName::Ece => "ece",
        }
    }

    /// Whether a larger value is better (all but log loss and calibration error).
    pub fn higher_is_better(self) -> bool {
        !matches!(self, MetricName::LogLoss | MetricName::Ece)
    }
}

impl std::fmt::Display for MetricName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Metrics {
    /// Computes every metric from class probabilities (rows × classes) and true class indices.
    pub fn compute(probabilities: ArrayView2<f64>, actual: &[usize]) -> Metrics {
        let n_classes = probabilities.ncols();
        let rows = actual.len();
        let predicted: Vec<usize> = probabilities
            .rows()
            .into_iter()
            .map(|r| argmax(r.iter().copied()))
            .collect();
        let mut confusion = vec![vec![0usize; n_classes]; n_classes];
        for (&a, &p) in actual.iter().zip(&predicted) {
            confusion[a][p] += 1;
        }
        let correct: usize = (0..n_classes).map(|k| confusion[k][k]).sum();
        let (precision, recall, f1) = precision_recall_f1(&confusion);
        let (confidence, hit) = calibration_inputs(probabilities, actual, &predicted);
        Metrics {
            rows,
            accuracy: ratio(correct, rows),
            precision,
            recall,
            f1,
            roc_auc: overall_roc_auc(probabilities, actual),
            log_loss: log_loss(probabilities, actual),
            confusion_matrix: confusion,
            calibration: calibration(&confidence, &hit),
        }
    }
}

/// Of the positive class (binary), else macro averages over the classes.
fn precision_recall_f1(confusion: &[Vec<usize>]) -> (f64, f64, f64) {
    let n_classes = confusion.len();
    let per_class = |k: usize| {
        let tp = confusion[k][k];
        let predicted_k: usize = (0..n_classes).map(|a| confusion[a][k]).sum();
        let actual_k: usize = confusion[k].iter().sum();
        let precision = ratio(tp, predicted_k);
        let recall = ratio(tp, actual_k);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        (precision, recall, f1)
    };
    if n_classes == 2 {
        per_class(1)
    } else {
        let all: Vec<_> = (0..n_classes).map(per_class).collect();
        let mean =
            |f: fn(&(f64, f64, f64)) -> f64| all.iter().map(f).sum::<f64>() / n_classes as f64;
        (mean(|m| m.0), mean(|m| m.1), mean(|m| m.2))
    }
}

/// ROC-AUC of the positive class (binary), else the one-vs-rest macro average;
/// `None` when a class is absent from the hold-out.
fn overall_roc_auc(probabilities: ArrayView2<f64>, actual: &[usize]) -> Option<f64> {
    let n_classes = probabilities.ncols();
    let one_vs_rest = |k: usize| {
        let scores: Vec<f64> = probabilities.column(k).to_vec();
        let labels: Vec<bool> = actual.iter().map(|&a| a == k).collect();
        roc_auc(&scores, &labels)
    };
    if n_classes == 2 {
        one_vs_rest(1)
    } else {
        let aucs: Vec<f64> = (0..n_classes).filter_map(one_vs_rest).collect();
        (aucs.len() == n_classes).then(|| aucs.iter().sum::<f64>() / n_classes as f64)
    }
}

fn log_loss(probabilities: ArrayView2<f64>, actual: &[usize]) -> f64 {
    if actual.is_empty() {
        return 0.0;
    }
    -actual
        .iter()
        .enumerate()
        .map(|(i, &a)| {
            probabilities[[i, a]]
                .clamp(LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS)
                .ln()
        })
        .sum::<f64>()
        / actual.len() as f64
}

/// What calibration bins: the positive-class probability and whether the row is
/// positive (binary), else the top-class confidence and whether it was right.
fn calibration_inputs(
    probabilities: ArrayView2<f64>,
    actual: &[usize],
    predicted: &[usize],
) -> (Vec<f64>, Vec<bool>) {
    if probabilities.ncols() == 2 {
        (
            probabilities.column(1).to_vec(),
            actual.iter().map(|&a| a == 1).collect(),
        )
    } else {
        (
            predicted
                .iter()
                .enumerate()
                .map(|(i, &p)| probabilities[[i, p]])
                .collect(),
            predicted.iter().zip(actual).map(|(p, a)| p == a).collect(),
        )
    }
}

fn argmax(values: impl Iterator<Item = f64>) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, v) in values.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}

fn ratio(numerator: usize, denominator: usize) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

/// Area under the ROC curve via the Mann–Whitney U statistic with average
/// ranks for ties (equal to scikit-learn's trapezoidal `roc_auc_score`).
pub fn roc_auc(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their average.
        let average_rank = (i + j) as f64 / 2.0 + 1.0;
        let positives = order[i..=j].iter().filter(|&&k| positive[k]).count();
        rank_sum_pos += average_rank * positives as f64;
        i = j + 1;
    }
    let u = rank_sum_pos - (n_pos * (n_pos + 1)) as f64 / 2.0;
    Some(u / (n_pos as f64 * n_neg as f64))
}

fn calibration(confidence: &[f64], hit: &[bool]) -> Calibration {
    let mut sums = vec![(0usize, 0.0f64, 0usize); CALIBRATION_BINS];
    for (&c, &h) in confidence.iter().zip(hit) {
        let bin = ((c * CALIBRATION_BINS as f64) as usize).min(CALIBRATION_BINS - 1);
        sums[bin].0 += 1;
        sums[bin].1 += c;
        sums[bin].2 += usize::from(h);
    }
    let total = confidence.len().max(1) as f64;
    let mut ece = 0.0;
    let bins = sums
        .iter()
        .enumerate()
        .map(|(b, &(count, sum, hits))| {
            let mean_predicted = if count > 0 { sum / count as f64 } else { 0.0 };
            let observed = ratio(hits, count);
            ece += count as f64 / total * (observed - mean_predicted).abs();
            ReliabilityBin {
                lower: b as f64 / CALIBRATION_BINS as f64,
                upper: (b + 1) as f64 / CALIBRATION_BINS as f64,
                count,
                mean_predicted,
                observed,
            }
        })
        .collect();
    Calibration { ece, bins }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::report::KeyMetrics;
    use ndarray::array;

    #[test]
    fn binary_metrics_match_hand_computation() {
        // Values checked with scikit-learn 1.9: accuracy 0.6, precision 2/3,
        // recall 2/3, roc_auc 0.8333…, log_loss 0.5716…
        let p1 = [0.9, 0.8, 0.3, 0.6, 0.2];
        let probabilities =
            ndarray::Array2::from_shape_fn(
                (5, 2),
                |(i, k)| {
                    if k == 1 {
                        p1[i]
                    } else {
                        1.0 - p1[i]
                    }
                },
            );
        let actual = [1, 1, 1, 0, 0];
        let m = Metrics::compute(probabilities.view(), &actual);
        assert_eq!(m.confusion_matrix, vec![vec![1, 1], vec![1, 2]]);
        assert!((m.accuracy - 0.6).abs() < 1e-12);
        assert!((m.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.f1 - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.roc_auc.expect("auc") - 5.0 / 6.0).abs() < 1e-12);
        let expected_log_loss =
            -(0.9f64.ln() + 0.8f64.ln() + 0.3f64.ln() + 0.4f64.ln() + 0.8f64.ln()) / 5.0;
        assert!((m.log_loss - expected_log_loss).abs() < 1e-12);
        assert_eq!(m.calibration.bins.iter().map(|b| b.count).sum::<usize>(), 5);
    }

    #[test]
    fn ties_get_average_ranks() {
        assert_eq!(roc_auc(&[0.5, 0.5], &[true, false]), Some(0.5));
        assert_eq!(
            roc_auc(&[0.1, 0.5, 0.5, 0.9], &[false, true, false, true]),
            Some(0.875)
        );
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
    }

    #[test]
    fn multiclass_is_macro_averaged() {
        let probabilities = array![
            [0.8, 0.1, 0.1],
            [0.1, 0.8, 0.1],
            [0.1, 0.1, 0.8],
            [0.6, 0.3, 0.1]
        ];
        let m = Metrics::compute(probabilities.view(), &[0, 1, 2, 1]);
        assert!((m.accuracy - 0.75).abs() < 1e-12);
        // Class 0: P 1/2 R 1; class 1: P 1 R 1/2; class 2: P 1 R 1.
        assert!((m.precision - (0.5 + 1.0 + 1.0) / 3.0).abs() < 1e-12);
        assert!((m.recall - (1.0 + 0.5 + 1.0) / 3.0).abs() < 1e-12);
        assert!(m.roc_auc.is_some());
        assert_eq!(KeyMetrics::from(&m).get(MetricName::RocAuc), m.roc_auc);
    }

    #[test]
    fn a_perfectly_calibrated_bin_has_zero_error() {
        let c = calibration(&[0.25, 0.25, 0.25, 0.25], &[true, false, false, false]);
        assert!(c.ece.abs() < 1e-12);
        let c = calibration(&[0.95, 0.95], &[false, false]);
        assert!((c.ece - 0.95).abs() < 1e-12);
    }
}
