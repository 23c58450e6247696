//! Promotion gates: may a trained candidate replace the served version?
//!
//! A pure decision over the training summary, so the operator, the demo and
//! the tests all apply exactly the same rules and report the same numbers.

use serde::{Deserialize, Serialize};

use crate::train::evaluation::MetricName;
use crate::train::report::{ServedComparison, TrainSummary};

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
        name: MetricName::RocAuc,
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
    pub name: MetricName,
    /// The bound.
    pub value: f64,
}

/// Gates with a nonsensical bound (an unknown metric does not deserialize).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GatesError {
    #[error("promotion.gates.minMetric.value must be finite")]
    NonFiniteBound,
    #[error("promotion.gates.maxRegression must be ≥ 0, got {0}")]
    NegativeRegression(f64),
}

impl Gates {
    /// Rejects gates with a nonsensical bound.
    pub fn check(&self) -> Result<(), GatesError> {
        if !self.min_metric.value.is_finite() {
            return Err(GatesError::NonFiniteBound);
        }
        if !(self.max_regression.is_finite() && self.max_regression >= 0.0) {
            return Err(GatesError::NegativeRegression(self.max_regression));
        }
        Ok(())
    }

    /// The metric `minMetric` names.
    pub fn metric(&self) -> MetricName {
        self.min_metric.name
    }
}

/// The gates a candidate goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    MinMetric,
    MaxRegression,
    Validation,
}

impl Gate {
    pub const ALL: [Gate; 3] = [Gate::MinMetric, Gate::MaxRegression, Gate::Validation];

    pub fn as_str(self) -> &'static str {
        match self {
            Gate::MinMetric => "minMetric",
            Gate::MaxRegression => "maxRegression",
            Gate::Validation => "validation",
        }
    }
}

impl std::fmt::Display for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Gate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Gate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Gate, D::Error> {
        let name = String::deserialize(deserializer)?;
        Gate::ALL
            .into_iter()
            .find(|g| g.as_str() == name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown gate `{name}`")))
    }
}

/// In status a gate is one of its names.
#[cfg(feature = "schema")]
impl schemars::JsonSchema for Gate {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Gate".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "enum": Gate::ALL.map(Gate::as_str),
        })
    }
}

/// The outcome of one gate.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GateResult {
    /// `minMetric`, `maxRegression` or `validation`.
    pub gate: Gate,
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
    let metric = gates.metric();
    let candidate = metrics.get(metric);
    let mut results = vec![min_metric(gates, metric, candidate)];
    if let Some(served) = served {
        results.push(max_regression(gates, metric, candidate, served));
    }
    if gates.require_validation {
        results.push(validation(*validation_passed));
    }
    Some(PromotionDecision {
        version: version.clone(),
        passed: results.iter().all(|g| g.passed),
        gates: results,
    })
}

fn min_metric(gates: &Gates, metric: MetricName, candidate: Option<f64>) -> GateResult {
    let name = metric.as_str();
    let Some(value) = candidate else {
        return GateResult {
            gate: Gate::MinMetric,
            passed: false,
            detail: format!("{name} is not available for the candidate"),
        };
    };
    let bound = gates.min_metric.value;
    let (passed, op) = if metric.higher_is_better() {
        (value >= bound, if value >= bound { "≥" } else { "<" })
    } else {
        (value <= bound, if value <= bound { "≤" } else { ">" })
    };
    GateResult {
        gate: Gate::MinMetric,
        passed,
        detail: format!("{name} {value:.4} {op} {bound:.4}"),
    }
}

fn max_regression(
    gates: &Gates,
    metric: MetricName,
    candidate: Option<f64>,
    served: &ServedComparison,
) -> GateResult {
    let name = metric.as_str();
    let served_value = served.metrics.as_ref().and_then(|m| m.get(metric));
    match (candidate, served_value) {
        (Some(c), Some(s)) => {
            // Positive regression = the candidate is worse.
            let regression = if metric.higher_is_better() {
                s - c
            } else {
                c - s
            };
            let passed = regression <= gates.max_regression;
            GateResult {
                gate: Gate::MaxRegression,
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
            gate: Gate::MaxRegression,
            passed: true,
            detail: format!(
                "served {} not comparable ({}); gate skipped",
                served.version,
                served.error.as_deref().unwrap_or("metric unavailable")
            ),
        },
    }
}

fn validation(passed: bool) -> GateResult {
    GateResult {
        gate: Gate::Validation,
        passed,
        detail: if passed {
            "training data passed its hard checks".into()
        } else {
            "training data failed a hard check".into()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::model::Algorithm;
    use crate::train::report::{KeyMetrics, RowCounts};

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
                name: MetricName::RocAuc,
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
                name: MetricName::LogLoss,
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
        let unknown = serde_json::from_value::<Gates>(serde_json::json!({
            "minMetric": {"name": "auc", "value": 0.5}
        }))
        .expect_err("unknown metric");
        assert!(
            unknown.to_string().contains("unknown variant `auc`"),
            "{unknown}"
        );
        let g = Gates {
            max_regression: -0.1,
            ..Gates::default()
        };
        assert_eq!(g.check(), Err(GatesError::NegativeRegression(-0.1)));
        for metric in MetricName::ALL {
            let name = serde_json::to_value(metric).expect("json");
            assert_eq!(name, metric.as_str(), "serde and as_str agree");
        }
    }
}
