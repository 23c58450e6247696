//! Promotion gates: may a trained candidate replace the served version?
//!
//! A pure decision over the training summary, so the operator, the demo and
//! the tests all apply exactly the same rules and report the same numbers.

use serde::{Deserialize, Serialize};

use crate::train::evaluation::{Metrics, METRIC_NAMES};
use crate::train::report::{KeyMetrics, TrainSummary};

/// `spec.promotion` of a MonitoredModel.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PromotionSpec {
    /// Promote a candidate that passes its gates without waiting for approval (default true).
    #[serde(default = "default_true")]
    pub auto: bool,
    /// The gates a candidate must pass.
    #[serde(default)]
    pub gates: Gates,
}

impl Default for PromotionSpec {
    fn default() -> Self {
        PromotionSpec {
            auto: true,
            gates: Gates::default(),
        }
    }
}

fn default_true() -> bool {
    true
}

/// Promotion gates.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Gates {
    /// The candidate's hold-out metric must reach this value (default rocAuc ≥ 0.5).
    #[serde(default = "default_min_metric")]
    pub min_metric: MetricThreshold,
    /// The candidate may be worse than the served version, on the same hold-out
    /// and the same metric, by at most this much (absolute; default 0.01).
    #[serde(default = "default_max_regression")]
    pub max_regression: f64,
    /// Training-data validation must have passed (no hard failure; default true).
    #[serde(default = "default_true")]
    pub require_validation: bool,
}

impl Default for Gates {
    fn default() -> Self {
        Gates {
            min_metric: default_min_metric(),
            max_regression: default_max_regression(),
            require_validation: true,
        }
    }
}

fn default_min_metric() -> MetricThreshold {
    MetricThreshold {
        name: "rocAuc".into(),
        value: 0.5,
    }
}

fn default_max_regression() -> f64 {
    0.01
}

/// A named metric and its bound (a minimum, or a maximum for `logLoss` and `ece`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricThreshold {
    /// One of accuracy, precision, recall, f1, rocAuc, logLoss, ece.
    pub name: String,
    /// The bound.
    pub value: f64,
}

impl Gates {
    /// Rejects gates that name an unknown metric or a nonsensical bound.
    pub fn check(&self) -> Result<(), String> {
        if !METRIC_NAMES.contains(&self.min_metric.name.as_str()) {
            return Err(format!(
                "promotion.gates.minMetric.name `{}` is not one of {}",
                self.min_metric.name,
                METRIC_NAMES.join(", ")
            ));
        }
        if !self.min_metric.value.is_finite() {
            return Err("promotion.gates.minMetric.value must be finite".into());
        }
        if !(self.max_regression.is_finite() && self.max_regression >= 0.0) {
            return Err(format!(
                "promotion.gates.maxRegression must be ≥ 0, got {}",
                self.max_regression
            ));
        }
        Ok(())
    }
}

/// The outcome of one gate.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GateResult {
    /// `minMetric`, `maxRegression` or `validation`.
    pub gate: String,
    pub passed: bool,
    /// The numbers, e.g. "rocAuc 0.9051 ≥ 0.8500".
    pub detail: String,
}

/// The decision on a candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromotionDecision {
    pub version: String,
    /// Every gate passed.
    pub passed: bool,
    pub gates: Vec<GateResult>,
}

impl PromotionDecision {
    /// One line: the failed gates, or that all passed.
    pub fn reason(&self) -> String {
        let failed: Vec<String> = self
            .gates
            .iter()
            .filter(|g| !g.passed)
            .map(|g| format!("{}: {}", g.gate, g.detail))
            .collect();
        if failed.is_empty() {
            let all: Vec<&str> = self.gates.iter().map(|g| g.detail.as_str()).collect();
            format!("all gates passed ({})", all.join("; "))
        } else {
            failed.join("; ")
        }
    }
}

fn metric(m: &KeyMetrics, name: &str) -> Option<f64> {
    match name {
        "accuracy" => Some(m.accuracy),
        "rocAuc" => m.roc_auc,
        "precision" => Some(m.precision),
        "recall" => Some(m.recall),
        "f1" => Some(m.f1),
        "logLoss" => Some(m.log_loss),
        "ece" => Some(m.ece),
        _ => None,
    }
}

/// Applies the gates to a successful training summary. `None` for a failed
/// training (there is no candidate to promote).
pub fn decide(gates: &Gates, summary: &TrainSummary) -> Option<PromotionDecision> {
    let TrainSummary::Succeeded {
        version,
        metrics,
        served,
        validation_passed,
        ..
    } = summary
    else {
        return None;
    };
    let name = gates.min_metric.name.as_str();
    let higher_is_better = Metrics::higher_is_better(name);
    let mut results = Vec::new();

    let candidate = metric(metrics, name);
    results.push(match candidate {
        None => GateResult {
            gate: "minMetric".into(),
            passed: false,
            detail: format!("{name} is not available for the candidate"),
        },
        Some(value) => {
            let bound = gates.min_metric.value;
            let (passed, op) = if higher_is_better {
                (value >= bound, if value >= bound { "≥" } else { "<" })
            } else {
                (value <= bound, if value <= bound { "≤" } else { ">" })
            };
            GateResult {
                gate: "minMetric".into(),
                passed,
                detail: format!("{name} {value:.4} {op} {bound:.4}"),
            }
        }
    });

    if let Some(served) = served {
        let served_value = served.metrics.as_ref().and_then(|m| metric(m, name));
        results.push(match (candidate, served_value) {
            (Some(c), Some(s)) => {
                // Positive regression = the candidate is worse.
                let regression = if higher_is_better { s - c } else { c - s };
                let passed = regression <= gates.max_regression;
                GateResult {
                    gate: "maxRegression".into(),
                    passed,
                    detail: format!(
                        "{name} {c:.4} vs served {} {s:.4}: regression {regression:+.4} {} {:.4}",
                        served.version,
                        if passed { "≤" } else { ">" },
                        gates.max_regression
                    ),
                }
            }
            // The served version could not be evaluated: nothing to regress against.
            _ => GateResult {
                gate: "maxRegression".into(),
                passed: true,
                detail: format!(
                    "served {} not comparable ({}); gate skipped",
                    served.version,
                    served.error.as_deref().unwrap_or("metric unavailable")
                ),
            },
        });
    }

    if gates.require_validation {
        results.push(GateResult {
            gate: "validation".into(),
            passed: *validation_passed,
            detail: if *validation_passed {
                "training data passed its hard checks".into()
            } else {
                "training data failed a hard check".into()
            },
        });
    }

    Some(PromotionDecision {
        version: version.clone(),
        passed: results.iter().all(|g| g.passed),
        gates: results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::model::Algorithm;
    use crate::train::report::{RowCounts, ServedComparison};

    fn key(auc: f64) -> KeyMetrics {
        KeyMetrics {
            accuracy: 0.85,
            roc_auc: Some(auc),
            precision: 0.7,
            recall: 0.6,
            f1: 0.65,
            log_loss: 0.32,
            ece: 0.01,
        }
    }

    fn summary(auc: f64, served_auc: Option<f64>) -> TrainSummary {
        TrainSummary::Succeeded {
            version: "v2".into(),
            algorithm: Algorithm::LogisticRegression,
            metrics: key(auc),
            served: served_auc.map(|s| ServedComparison {
                version: "v1".into(),
                metrics: Some(key(s)),
                error: None,
            }),
            validation_passed: true,
            warnings: vec![],
            rows: RowCounts {
                train: 10,
                holdout: 5,
            },
            artifact_uri: "a".into(),
            report_uri: "r".into(),
        }
    }

    fn gates(min: f64) -> Gates {
        Gates {
            min_metric: MetricThreshold {
                name: "rocAuc".into(),
                value: min,
            },
            ..Gates::default()
        }
    }

    #[test]
    fn a_good_candidate_passes_every_gate() {
        let decision = decide(&gates(0.85), &summary(0.905, Some(0.90))).expect("decision");
        assert!(decision.passed);
        assert_eq!(
            decision.reason(),
            "all gates passed (rocAuc 0.9050 ≥ 0.8500; rocAuc 0.9050 vs served v1 0.9000: regression -0.0050 ≤ 0.0100; training data passed its hard checks)"
        );
    }

    #[test]
    fn rejections_name_the_gate_and_numbers() {
        let decision = decide(&gates(0.95), &summary(0.905, None)).expect("decision");
        assert!(!decision.passed);
        assert_eq!(decision.reason(), "minMetric: rocAuc 0.9050 < 0.9500");

        let decision = decide(&gates(0.85), &summary(0.88, Some(0.905))).expect("decision");
        assert_eq!(
            decision.reason(),
            "maxRegression: rocAuc 0.8800 vs served v1 0.9050: regression +0.0250 > 0.0100"
        );
    }

    #[test]
    fn lower_is_better_metrics_invert_the_bound() {
        let g = Gates {
            min_metric: MetricThreshold {
                name: "logLoss".into(),
                value: 0.3,
            },
            ..Gates::default()
        };
        let decision = decide(&g, &summary(0.9, None)).expect("decision");
        assert_eq!(decision.reason(), "minMetric: logLoss 0.3200 > 0.3000");
    }

    #[test]
    fn failed_training_has_no_decision_and_bad_gates_are_rejected() {
        let failed = TrainSummary::Failed {
            reason: "ValidationFailed".into(),
            message: "x".into(),
        };
        assert!(decide(&Gates::default(), &failed).is_none());
        let mut g = Gates::default();
        g.min_metric.name = "auc".into();
        assert!(g
            .check()
            .expect_err("unknown")
            .contains("`auc` is not one of"));
    }
}
