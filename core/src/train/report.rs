//! The training job's results: the compact [`TrainSummary`] it leaves in its
//! termination message (read by the operator; at most [`SUMMARY_LIMIT`] bytes) and the
//! full [`TrainingReport`] it writes to the store.

use serde::{Deserialize, Serialize};

use crate::text::cut_to_bytes;
use crate::train::evaluation::{MetricName, Metrics};
use crate::train::learn::Convergence;
use crate::train::model::Algorithm;
use crate::train::validation::ValidationReport;
use crate::wire::SUMMARY_LIMIT;

/// The headline numbers of an evaluation.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyMetrics {
    pub accuracy: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roc_auc: Option<f64>,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub log_loss: f64,
    pub ece: f64,
}

impl KeyMetrics {
    pub fn get(&self, metric: MetricName) -> Option<f64> {
        match metric {
            MetricName::Accuracy => Some(self.accuracy),
            MetricName::Precision => Some(self.precision),
            MetricName::Recall => Some(self.recall),
            MetricName::F1 => Some(self.f1),
            MetricName::RocAuc => self.roc_auc,
            MetricName::LogLoss => Some(self.log_loss),
            MetricName::Ece => Some(self.ece),
        }
    }
}

impl From<&Metrics> for KeyMetrics {
    fn from(m: &Metrics) -> Self {
        KeyMetrics {
            accuracy: m.accuracy,
            roc_auc: m.roc_auc,
            precision: m.precision,
            recall: m.recall,
            f1: m.f1,
            log_loss: m.log_loss,
            ece: m.calibration.ece,
        }
    }
}

/// The served version evaluated on the candidate's hold-out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServedComparison {
    pub version: String,
    /// Absent when the served version could not be evaluated; `error` says why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<KeyMetrics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Row counts of a training run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RowCounts {
    pub train: usize,
    pub holdout: usize,
}

/// What `vigil train` reports to the operator.
// Built once per job; boxing the large variant would only complicate serde.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum TrainSummary {
    #[serde(rename_all = "camelCase")]
    Succeeded {
        version: String,
        algorithm: Algorithm,
        metrics: KeyMetrics,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        served: Option<ServedComparison>,
        validation_passed: bool,
        /// Names of the soft checks that failed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        warnings: Vec<String>,
        rows: RowCounts,
        artifact_uri: String,
        report_uri: String,
    },
    #[serde(rename_all = "camelCase")]
    Failed {
        /// A stable reason: `InvalidConfig`, `DataUnavailable`, `InvalidData`,
        /// `ValidationFailed`, `FitFailed`, `StoreFailed`.
        reason: String,
        message: String,
    },
}

impl TrainSummary {
    /// JSON of at most [`SUMMARY_LIMIT`] bytes; a long failure message is shortened.
    pub fn to_termination_message(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        if json.len() <= SUMMARY_LIMIT {
            return json;
        }
        match self {
            TrainSummary::Failed { reason, message } => TrainSummary::Failed {
                reason: reason.clone(),
                message: format!("{}…", cut_to_bytes(message, SUMMARY_LIMIT - 200)),
            }
            .to_termination_message(),
            TrainSummary::Succeeded { .. } => json,
        }
    }
}

/// The full training report, `reports/training/<version>.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrainingReport {
    pub summary: TrainSummary,
    pub validation: ValidationReport,
    pub metrics: Metrics,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_metrics: Option<Metrics>,
    /// How the solver ended (logistic regression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convergence: Option<Convergence>,
    /// Seconds spent in each stage.
    pub timings: Vec<(String, f64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_failures_fit_the_termination_message() {
        let summary = TrainSummary::Failed {
            reason: "ValidationFailed".into(),
            message: "é".repeat(10_000),
        };
        let message = summary.to_termination_message();
        assert!(message.len() <= SUMMARY_LIMIT, "{}", message.len());
        let back: TrainSummary = serde_json::from_str(&message).expect("valid JSON");
        assert!(
            matches!(back, TrainSummary::Failed { reason, .. } if reason == "ValidationFailed")
        );
    }
}
