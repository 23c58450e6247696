//! Realized performance from labelled rows, each metric with a 95 % confidence
//! interval:
//!
//! * accuracy, precision, recall: Wilson score intervals (as `statsmodels`
//!   `proportion_confint(count, nobs, alpha=0.05, method="wilson")`) over the rows the
//!   proportion counts (all rows, predicted positives, actual positives);
//! * F1 and ROC AUC: `value ± z·SE` with NannyML's standard errors measured on the
//!   window itself ([`super::sampling`]: observation-level F1; the spread of the
//!   minority class's placements among the majority class), clipped to [0, 1];
//! * log loss (scikit-learn's, probabilities clipped to [ε, 1 − ε]): mean ± z·SE of the
//!   per-row losses, SE = population std / √n.
//!
//! Below `min_labeled_samples` labelled rows nothing is computed: the result says
//! [`RealizedPerformance::InsufficientLabels`] instead of a number.

use serde::{Deserialize, Serialize};

use super::metric::{population_std, ratio_or_zero, Confusion, LabelledRow, Metric};
use super::sampling::component;
use crate::stats::pairwise_sum;
use crate::train::evaluation::roc_auc;

/// `scipy.stats.norm.isf(0.025)`: intervals are 95 %.
pub const Z_95: f64 = 1.959963984540054;

/// A closed interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub lower: f64,
    pub upper: f64,
}

/// One realized metric.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RealizedMetric {
    pub metric: Metric,
    /// None when undefined on these rows (e.g. precision with no positive prediction,
    /// ROC AUC with one class).
    pub value: Option<f64>,
    /// The standard error behind a normal interval (None for Wilson intervals).
    pub standard_error: Option<f64>,
    pub interval: Option<Interval>,
}

/// Why no realized metric was computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RealizedRefusal {
    InsufficientLabels,
}

/// Realized performance of a window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum RealizedPerformance {
    #[serde(rename_all = "camelCase")]
    Measured {
        labelled: usize,
        confusion: Confusion,
        metrics: Vec<RealizedMetric>,
    },
    #[serde(rename_all = "camelCase")]
    InsufficientLabels {
        labelled: usize,
        min_labeled_samples: usize,
    },
}

impl RealizedPerformance {
    pub fn get(&self, metric: Metric) -> Option<&RealizedMetric> {
        match self {
            RealizedPerformance::Measured { metrics, .. } => {
                metrics.iter().find(|m| m.metric == metric)
            }
            RealizedPerformance::InsufficientLabels { .. } => None,
        }
    }

    pub fn value(&self, metric: Metric) -> Option<f64> {
        self.get(metric).and_then(|m| m.value)
    }
}

/// Realized metrics of `rows` (every row labelled), [`Metric::REALIZED`] plus
/// specificity and the confusion cells (without intervals).
pub fn realize(rows: &[LabelledRow], min_labeled_samples: usize) -> RealizedPerformance {
    let n = rows.len();
    if n < min_labeled_samples.max(1) {
        return RealizedPerformance::InsufficientLabels {
            labelled: n,
            min_labeled_samples,
        };
    }
    let c = Confusion::of(rows);
    let (tp, tn, fp, fn_) = (
        c.true_positive,
        c.true_negative,
        c.false_positive,
        c.false_negative,
    );
    let proportion = |metric, count: usize, nobs: usize| RealizedMetric {
        metric,
        value: (nobs > 0).then(|| ratio_or_zero(count, nobs)),
        standard_error: None,
        interval: (nobs > 0).then(|| wilson(count, nobs)),
    };
    let normal = |metric, value: Option<f64>, se: f64, max: f64| RealizedMetric {
        metric,
        value,
        standard_error: value.map(|_| se),
        interval: value.map(|v| Interval {
            lower: (v - Z_95 * se).max(0.0),
            upper: (v + Z_95 * se).min(max),
        }),
    };
    let f1 = (tp + fp + fn_ > 0).then(|| ratio_or_zero(2 * tp, 2 * tp + fp + fn_));
    let f1_se = component(Metric::F1, rows).sampling_error(Metric::F1, n);
    let scores: Vec<f64> = rows.iter().map(|r| r.score).collect();
    let labels: Vec<bool> = rows.iter().map(|r| r.label).collect();
    let auc = roc_auc(&scores, &labels);
    let auc_se = component(Metric::RocAuc, rows).sampling_error(Metric::RocAuc, n);
    let losses: Vec<f64> = rows.iter().map(log_loss_term).collect();
    let log_loss = pairwise_sum(&losses) / n as f64;
    let log_loss_se = population_std(&losses) / (n as f64).sqrt();
    let mut metrics = vec![
        proportion(Metric::Accuracy, tp + tn, n),
        proportion(Metric::Precision, tp, tp + fp),
        proportion(Metric::Recall, tp, tp + fn_),
        normal(Metric::F1, f1, f1_se, 1.0),
        normal(Metric::RocAuc, auc, auc_se, 1.0),
        normal(Metric::LogLoss, Some(log_loss), log_loss_se, f64::INFINITY),
        proportion(Metric::Specificity, tn, tn + fp),
    ];
    for cell in [
        Metric::TruePositive,
        Metric::TrueNegative,
        Metric::FalsePositive,
        Metric::FalseNegative,
    ] {
        metrics.push(RealizedMetric {
            metric: cell,
            value: c.cell(cell).map(|v| v as f64),
            standard_error: None,
            interval: None,
        });
    }
    RealizedPerformance::Measured {
        labelled: n,
        confusion: c,
        metrics,
    }
}

/// One row's log loss, as scikit-learn 1.5 (`-xlogy(y, clip(p, eps, 1 - eps))`).
fn log_loss_term(row: &LabelledRow) -> f64 {
    let eps = f64::EPSILON;
    let p = if row.label {
        row.score
    } else {
        1.0 - row.score
    };
    -p.clamp(eps, 1.0 - eps).ln()
}

/// The Wilson score interval, operation for operation as statsmodels computes it.
fn wilson(count: usize, nobs: usize) -> Interval {
    let (count, nobs) = (count as f64, nobs as f64);
    let q = count / nobs;
    let crit2 = Z_95 * Z_95;
    let denom = 1.0 + crit2 / nobs;
    let center = (q + crit2 / (2.0 * nobs)) / denom;
    let dist = Z_95 * (q * (1.0 - q) / nobs + crit2 / (4.0 * (nobs * nobs))).sqrt() / denom;
    Interval {
        lower: center - dist,
        upper: center + dist,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_few_labels_give_no_number() {
        let rows = [LabelledRow {
            score: 0.9,
            predicted: true,
            label: true,
        }; 5];
        assert_eq!(
            realize(&rows, 10),
            RealizedPerformance::InsufficientLabels {
                labelled: 5,
                min_labeled_samples: 10
            }
        );
        let one_class = realize(&rows, 1);
        assert_eq!(one_class.value(Metric::Accuracy), Some(1.0));
        assert_eq!(one_class.value(Metric::RocAuc), None);
        assert_eq!(one_class.value(Metric::Specificity), None);
    }

    #[test]
    fn wilson_interval_of_a_known_case() {
        // proportion_confint(7, 10, alpha=0.05, method="wilson")
        let i = wilson(7, 10);
        assert!((i.lower - 0.396_778_147_461_145_37).abs() < 1e-15, "{i:?}");
        assert!((i.upper - 0.892_208_732_593_698_9).abs() < 1e-15, "{i:?}");
    }
}
