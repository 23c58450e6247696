//! Whether a recorded check starts a retraining: the rule and its reasons. Pure.

use chrono::{DateTime, Utc};
use vigil_core::drift::rules::RetrainSpec;
use vigil_core::drift::{DriftSummary, Verdict};

use crate::time::rfc3339;

/// Why a check did or did not start a retraining.
#[derive(Clone, Debug, PartialEq)]
pub enum RetrainDecision {
    Trigger,
    NotConfigured,
    CheckFailed,
    BelowThreshold {
        verdict: Verdict,
        min_verdict: Verdict,
    },
    Cooldown {
        until: DateTime<Utc>,
    },
    TrainingRunning,
}

impl RetrainDecision {
    pub fn describe(&self) -> String {
        match self {
            RetrainDecision::Trigger => "retraining started".into(),
            RetrainDecision::NotConfigured => "no retrain: actions.retrain is not set".into(),
            RetrainDecision::CheckFailed => "no retrain: the check failed".into(),
            RetrainDecision::BelowThreshold {
                verdict,
                min_verdict,
            } => {
                format!("no retrain: drift verdict {verdict} is below actions.retrain.minVerdict {min_verdict}")
            }
            RetrainDecision::Cooldown { until } => {
                format!("retrain skipped: cooldown until {}", rfc3339(*until))
            }
            RetrainDecision::TrainingRunning => {
                "retrain skipped: a training Job is already running".into()
            }
        }
    }
}

/// The retrain rule: the statistical verdict reaches `minVerdict`, the cooldown since
/// the last triggered retraining has passed, and no training is running.
pub fn decide_retrain(
    spec: Option<&RetrainSpec>,
    summary: &DriftSummary,
    last_triggered: Option<DateTime<Utc>>,
    training_running: bool,
    now: DateTime<Utc>,
) -> RetrainDecision {
    let Some(spec) = spec else {
        return RetrainDecision::NotConfigured;
    };
    let DriftSummary::Succeeded { drift_verdict, .. } = summary else {
        return RetrainDecision::CheckFailed;
    };
    if !drift_verdict.is_drift() || drift_verdict.severity() < spec.min_verdict.severity() {
        return RetrainDecision::BelowThreshold {
            verdict: *drift_verdict,
            min_verdict: spec.min_verdict,
        };
    }
    if let Some(last) = last_triggered {
        let until = last + spec.cooldown.to_chrono();
        if now < until {
            return RetrainDecision::Cooldown { until };
        }
    }
    if training_running {
        return RetrainDecision::TrainingRunning;
    }
    RetrainDecision::Trigger
}
