//! The metrics, the rows they are computed from, and the confusion matrix.

use serde::{Deserialize, Serialize};

use crate::stats::pairwise_sum;

/// A scored prediction: the model's probability of the positive class and its decision.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoredRow {
    pub score: f64,
    pub predicted: bool,
}

/// A scored prediction with its ground truth.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LabelledRow {
    pub score: f64,
    pub predicted: bool,
    pub label: bool,
}

impl LabelledRow {
    /// The confusion-matrix cell this row falls in.
    pub fn cell(&self) -> Metric {
        match (self.label, self.predicted) {
            (true, true) => Metric::TruePositive,
            (false, false) => Metric::TrueNegative,
            (false, true) => Metric::FalsePositive,
            (true, false) => Metric::FalseNegative,
        }
    }

    pub fn scored(self) -> ScoredRow {
        ScoredRow {
            score: self.score,
            predicted: self.predicted,
        }
    }
}

/// A performance metric of a binary classifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Metric {
    RocAuc,
    F1,
    Precision,
    Recall,
    Specificity,
    Accuracy,
    TruePositive,
    TrueNegative,
    FalsePositive,
    FalseNegative,
    /// Realized only: CBPE has no estimate of it.
    LogLoss,
}

impl Metric {
    /// What CBPE estimates, in NannyML's order.
    pub const ESTIMATED: [Metric; 10] = [
        Metric::RocAuc,
        Metric::F1,
        Metric::Precision,
        Metric::Recall,
        Metric::Specificity,
        Metric::Accuracy,
        Metric::TruePositive,
        Metric::TrueNegative,
        Metric::FalsePositive,
        Metric::FalseNegative,
    ];

    /// What is realized from labels, with a confidence interval.
    pub const REALIZED: [Metric; 6] = [
        Metric::Accuracy,
        Metric::Precision,
        Metric::Recall,
        Metric::F1,
        Metric::RocAuc,
        Metric::LogLoss,
    ];

    /// The name in JSON, metrics labels and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::RocAuc => "rocAuc",
            Metric::F1 => "f1",
            Metric::Precision => "precision",
            Metric::Recall => "recall",
            Metric::Specificity => "specificity",
            Metric::Accuracy => "accuracy",
            Metric::TruePositive => "truePositive",
            Metric::TrueNegative => "trueNegative",
            Metric::FalsePositive => "falsePositive",
            Metric::FalseNegative => "falseNegative",
            Metric::LogLoss => "logLoss",
        }
    }

    /// The range a value can take (NannyML's threshold value limits).
    pub fn limits(self) -> (Option<f64>, Option<f64>) {
        match self {
            Metric::TruePositive
            | Metric::TrueNegative
            | Metric::FalsePositive
            | Metric::FalseNegative
            | Metric::LogLoss => (Some(0.0), None),
            _ => (Some(0.0), Some(1.0)),
        }
    }

    /// A confusion-matrix cell (a count, not a rate).
    pub fn is_count(self) -> bool {
        matches!(
            self,
            Metric::TruePositive
                | Metric::TrueNegative
                | Metric::FalsePositive
                | Metric::FalseNegative
        )
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counts of a realized confusion matrix.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Confusion {
    pub true_positive: usize,
    pub true_negative: usize,
    pub false_positive: usize,
    pub false_negative: usize,
}

impl Confusion {
    pub fn of(rows: &[LabelledRow]) -> Confusion {
        let mut c = Confusion::default();
        for r in rows {
            match r.cell() {
                Metric::TruePositive => c.true_positive += 1,
                Metric::TrueNegative => c.true_negative += 1,
                Metric::FalsePositive => c.false_positive += 1,
                _ => c.false_negative += 1,
            }
        }
        c
    }

    pub fn total(&self) -> usize {
        self.true_positive + self.true_negative + self.false_positive + self.false_negative
    }

    pub fn cell(&self, metric: Metric) -> Option<usize> {
        match metric {
            Metric::TruePositive => Some(self.true_positive),
            Metric::TrueNegative => Some(self.true_negative),
            Metric::FalsePositive => Some(self.false_positive),
            Metric::FalseNegative => Some(self.false_negative),
            _ => None,
        }
    }
}

/// `x / y` as scikit-learn's `zero_division` (0 when the denominator is 0).
pub(crate) fn ratio_or_zero(x: usize, y: usize) -> f64 {
    if y == 0 {
        0.0
    } else {
        x as f64 / y as f64
    }
}

/// `np.std(values)` (population, ddof 0) with NumPy's pairwise sums.
pub(crate) fn population_std(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = pairwise_sum(values) / n;
    let squares: Vec<f64> = values.iter().map(|v| (v - mean) * (v - mean)).collect();
    (pairwise_sum(&squares) / n).sqrt()
}

/// `(np.nanmean(values), np.nanstd(values))`: NaN entries count as absent but keep
/// their place (as zeros) in NumPy's pairwise sums.
pub(crate) fn nan_mean_std(values: &[f64]) -> (f64, f64) {
    let count = values.iter().filter(|v| !v.is_nan()).count() as f64;
    let zeroed: Vec<f64> = values
        .iter()
        .map(|&v| if v.is_nan() { 0.0 } else { v })
        .collect();
    let mean = pairwise_sum(&zeroed) / count;
    let squares: Vec<f64> = values
        .iter()
        .map(|&v| {
            if v.is_nan() {
                0.0
            } else {
                (v - mean) * (v - mean)
            }
        })
        .collect();
    (mean, (pairwise_sum(&squares) / count).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde() {
        for m in Metric::ESTIMATED.into_iter().chain([Metric::LogLoss]) {
            let json = serde_json::to_string(&m).expect("json");
            assert_eq!(json, format!("\"{}\"", m.as_str()));
            assert_eq!(serde_json::from_str::<Metric>(&json).expect("back"), m);
        }
    }

    #[test]
    fn nan_statistics_skip_missing_values() {
        let (mean, std) = nan_mean_std(&[1.0, f64::NAN, 3.0]);
        assert_eq!((mean, std), (2.0, 1.0));
        assert_eq!(population_std(&[1.0, 3.0]), 1.0);
    }
}
