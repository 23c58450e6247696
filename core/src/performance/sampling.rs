//! NannyML 0.13.1's sampling errors (`nannyml.sampling_error.binary_classification`):
//! a standard deviation measured once on the reference, scaled by the chunk size as
//! `std / sqrt(n * fraction)`. Each component repeats NumPy's arrays in NumPy's order so
//! the pairwise sums agree to the last bits.

use super::metric::{population_std, Confusion, LabelledRow, Metric};

/// The reference-side part of one metric's sampling error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ErrorComponent {
    /// The observation-level standard deviation on the reference.
    pub std: f64,
    /// The share of rows the metric is computed over (1 for accuracy and the cells).
    pub fraction: f64,
}

impl ErrorComponent {
    /// The sampling error of the metric on a chunk of `n` rows.
    pub fn sampling_error(&self, metric: Metric, n: usize) -> f64 {
        let n = n as f64;
        if metric.is_count() {
            // A count: the rate's standard error times the chunk size.
            self.std / n.sqrt() * n
        } else if metric == Metric::Accuracy {
            self.std / n.sqrt()
        } else {
            self.std / (n * self.fraction).sqrt()
        }
    }
}

/// The component of `metric` measured on the reference rows.
pub fn component(metric: Metric, reference: &[LabelledRow]) -> ErrorComponent {
    let n = reference.len() as f64;
    let c = Confusion::of(reference);
    let block = |ones: usize, zeros: usize, scale: f64| -> Vec<f64> {
        let mut v = vec![scale; ones];
        v.resize(ones + zeros, 0.0);
        v
    };
    match metric {
        Metric::Accuracy => {
            let correct: Vec<f64> = reference
                .iter()
                .map(|r| f64::from(u8::from(r.label == r.predicted)))
                .collect();
            ErrorComponent {
                std: population_std(&correct),
                fraction: 1.0,
            }
        }
        Metric::F1 => {
            let (tp, wrong) = (c.true_positive, c.false_negative + c.false_positive);
            let len = (tp + wrong) as f64;
            if tp + wrong == 0 {
                return ErrorComponent {
                    std: f64::NAN,
                    fraction: 0.0,
                };
            }
            let correcting = len / (wrong as f64 * 0.5 + tp as f64);
            let obs: Vec<f64> = block(tp, wrong, 1.0)
                .iter()
                .map(|v| v * correcting)
                .collect();
            ErrorComponent {
                std: population_std(&obs),
                fraction: len / n,
            }
        }
        Metric::Precision => ErrorComponent {
            std: population_std(&block(c.true_positive, c.false_positive, 1.0)),
            fraction: (c.true_positive + c.false_positive) as f64 / n,
        },
        Metric::Recall => ErrorComponent {
            std: population_std(&block(c.true_positive, c.false_negative, 1.0)),
            fraction: (c.true_positive + c.false_negative) as f64 / n,
        },
        Metric::Specificity => ErrorComponent {
            std: population_std(&block(c.true_negative, c.false_positive, 1.0)),
            fraction: (c.true_negative + c.false_positive) as f64 / n,
        },
        Metric::RocAuc => roc_auc_component(reference),
        cell => {
            let indicator: Vec<f64> = reference
                .iter()
                .map(|r| f64::from(u8::from(r.cell() == cell)))
                .collect();
            ErrorComponent {
                std: population_std(&indicator),
                fraction: 1.0,
            }
        }
    }
}

/// `auroc_sampling_error_components`: the spread of the minority class's placements
/// among the majority class, over the scores sorted ascending. NannyML's quirk is kept:
/// a minority row at rank 0 is dropped (`np.unique(ranks)[1:]`). Ties are taken in row
/// order (a stable sort; NumPy's default sort leaves them unspecified).
pub fn roc_auc_component(rows: &[LabelledRow]) -> ErrorComponent {
    let n = rows.len();
    let positives = rows.iter().filter(|r| r.label).count();
    let flip = positives as f64 / n as f64 > 0.5;
    let mut order: Vec<(f64, bool)> = rows
        .iter()
        .map(|r| {
            if flip {
                (1.0 - r.score, !r.label)
            } else {
                (r.score, r.label)
            }
        })
        .collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0));
    let minority = order.iter().filter(|r| r.1).count();
    let majority = (n - minority) as f64;
    let placements: Vec<f64> = order
        .iter()
        .enumerate()
        .filter(|(rank, r)| r.1 && *rank > 0)
        .enumerate()
        .map(|(i, (rank, _))| (rank - i) as f64 / majority)
        .collect();
    ErrorComponent {
        std: population_std(&placements),
        fraction: minority as f64 / n as f64,
    }
}
