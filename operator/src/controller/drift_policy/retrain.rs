//! Whether a recorded check starts a retraining: the rule and its reasons. Pure.

use chrono::{DateTime, Utc};
use vigil_core::drift::{DriftRules, DriftSummary, Verdict};

use super::performance::estimated_drop;
use crate::time::rfc3339;

/// What in a check asks for a retraining.
#[derive(Clone, Debug, PartialEq)]
pub enum RetrainCause {
    /// The statistical drift verdict reached `actions.retrain.minVerdict`.
    Drift(Verdict),
    /// An estimated metric left its alert band (`performance.retrainOnEstimatedDrop`):
    /// which, in words (`estimated rocAuc 0.71 below 0.8`).
    EstimatedDrop(String),
}

/// Why a check did or did not start a retraining.
#[derive(Clone, Debug, PartialEq)]
pub enum RetrainDecision {
    Trigger(RetrainCause),
    NotConfigured,
    CheckFailed,
    BelowThreshold {
        verdict: Verdict,
        min_verdict: Verdict,
        /// `performance.retrainOnEstimatedDrop` is set, and no estimate left its band.
        watches_estimate: bool,
    },
    Cooldown {
        until: DateTime<Utc>,
    },
    TrainingRunning,
}

impl RetrainDecision {
    pub fn describe(&self) -> String {
        match self {
            RetrainDecision::Trigger(RetrainCause::Drift(_)) => "retraining started".into(),
            RetrainDecision::Trigger(RetrainCause::EstimatedDrop(why)) => {
                format!("retraining started: {why}")
            }
            RetrainDecision::NotConfigured => "no retrain: actions.retrain is not set".into(),
            RetrainDecision::CheckFailed => "no retrain: the check failed".into(),
            RetrainDecision::BelowThreshold {
                verdict,
                min_verdict,
                watches_estimate,
            } => {
                let estimate = if *watches_estimate {
                    ", and no estimated metric is outside its band"
                } else {
                    ""
                };
                format!("no retrain: drift verdict {verdict} is below actions.retrain.minVerdict {min_verdict}{estimate}")
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

/// What in `summary` asks for a retraining under `rules`, cooldown aside: the drift
/// verdict first, then (when the policy retrains on it) an estimated drop.
pub fn retrain_cause(rules: &DriftRules, summary: &DriftSummary) -> Option<RetrainCause> {
    let spec = rules.actions.retrain.as_ref()?;
    let DriftSummary::Succeeded {
        drift_verdict,
        model_performance,
        ..
    } = summary
    else {
        return None;
    };
    if drift_verdict.is_drift() && drift_verdict.severity() >= spec.min_verdict.severity() {
        return Some(RetrainCause::Drift(*drift_verdict));
    }
    if !rules.performance.retrain_on_estimated_drop {
        return None;
    }
    model_performance
        .as_ref()
        .and_then(estimated_drop)
        .map(RetrainCause::EstimatedDrop)
}

/// The retrain rule: the statistical verdict reaches `minVerdict` (or, with
/// `performance.retrainOnEstimatedDrop`, an estimate left its band), the cooldown since
/// the last triggered retraining has passed, and no training is running.
pub fn decide_retrain(
    rules: &DriftRules,
    summary: &DriftSummary,
    last_triggered: Option<DateTime<Utc>>,
    training_running: bool,
    now: DateTime<Utc>,
) -> RetrainDecision {
    let Some(spec) = &rules.actions.retrain else {
        return RetrainDecision::NotConfigured;
    };
    let DriftSummary::Succeeded { drift_verdict, .. } = summary else {
        return RetrainDecision::CheckFailed;
    };
    let Some(cause) = retrain_cause(rules, summary) else {
        return RetrainDecision::BelowThreshold {
            verdict: *drift_verdict,
            min_verdict: spec.min_verdict,
            watches_estimate: rules.performance.retrain_on_estimated_drop,
        };
    };
    if let Some(last) = last_triggered {
        let until = last + spec.cooldown.to_chrono();
        if now < until {
            return RetrainDecision::Cooldown { until };
        }
    }
    if training_running {
        return RetrainDecision::TrainingRunning;
    }
    RetrainDecision::Trigger(cause)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn rules(extra: Value) -> DriftRules {
        let mut spec =
            json!({"actions": {"retrain": {"minVerdict": "Critical", "cooldown": "12h"}}});
        if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        serde_json::from_value(spec).expect("rules")
    }

    /// A successful check of drift `verdict` whose rocAuc estimate is `auc` (band 0.8–0.95).
    fn check(verdict: &str, auc: f64) -> DriftSummary {
        serde_json::from_value(json!({
            "outcome": "succeeded", "verdict": verdict, "driftVerdict": verdict,
            "qualityPassed": true, "driftedCount": 0, "referenceRows": 10000,
            "currentRows": 5000, "checkedAt": "2026-11-28T18:00:00Z",
            "reportUri": "r", "htmlUri": "h",
            "modelPerformance": {
                "estimated": [{"metric": "rocAuc", "value": auc, "lower": 0.8, "upper": 0.95,
                               "alert": !(0.8..=0.95).contains(&auc)}],
                "labelCoverage": 0.0, "labelled": 0,
                "estimatedDrop": !(0.8..=0.95).contains(&auc)
            }
        }))
        .expect("summary")
    }

    fn now() -> DateTime<Utc> {
        "2026-11-28T18:05:00Z".parse().expect("time")
    }

    #[test]
    fn an_estimated_drop_warns_only_by_default() {
        let decision = decide_retrain(&rules(json!({})), &check("None", 0.71), None, false, now());
        assert_eq!(
            decision,
            RetrainDecision::BelowThreshold {
                verdict: Verdict::None,
                min_verdict: Verdict::Critical,
                watches_estimate: false
            }
        );
        assert_eq!(
            decision.describe(),
            "no retrain: drift verdict None is below actions.retrain.minVerdict Critical"
        );
    }

    #[test]
    fn an_estimated_drop_retrains_when_the_policy_says_so() {
        let rules = rules(json!({"performance": {"retrainOnEstimatedDrop": true}}));
        let decision = decide_retrain(&rules, &check("Warning", 0.71), None, false, now());
        assert_eq!(
            decision,
            RetrainDecision::Trigger(RetrainCause::EstimatedDrop(
                "estimated rocAuc 0.71 below 0.8".into()
            ))
        );
        assert_eq!(
            decision.describe(),
            "retraining started: estimated rocAuc 0.71 below 0.8"
        );
        // Inside the band: the verdict alone decides, and the reason says both.
        let inside = decide_retrain(&rules, &check("Warning", 0.85), None, false, now());
        assert_eq!(
            inside.describe(),
            "no retrain: drift verdict Warning is below actions.retrain.minVerdict Critical, \
             and no estimated metric is outside its band"
        );
    }

    #[test]
    fn the_drift_verdict_comes_first_and_the_cooldown_holds_for_both() {
        let rules = rules(json!({"performance": {"retrainOnEstimatedDrop": true}}));
        assert_eq!(
            decide_retrain(&rules, &check("Critical", 0.71), None, false, now()),
            RetrainDecision::Trigger(RetrainCause::Drift(Verdict::Critical))
        );
        let last = "2026-11-28T12:00:00Z".parse().ok();
        assert_eq!(
            decide_retrain(&rules, &check("None", 0.71), last, false, now()),
            RetrainDecision::Cooldown {
                until: "2026-11-29T00:00:00Z".parse().expect("time")
            }
        );
        assert_eq!(
            decide_retrain(&rules, &check("None", 0.71), None, true, now()),
            RetrainDecision::TrainingRunning
        );
    }

    #[test]
    fn without_a_brief_or_actions_retrain_nothing_starts() {
        let rules_on = rules(json!({"performance": {"retrainOnEstimatedDrop": true}}));
        let mut summary = check("None", 0.71);
        if let DriftSummary::Succeeded {
            model_performance, ..
        } = &mut summary
        {
            *model_performance = None;
        }
        assert_eq!(retrain_cause(&rules_on, &summary), None);
        let failed = DriftSummary::Failed {
            reason: "StoreFailed".into(),
            message: "503".into(),
        };
        assert_eq!(
            decide_retrain(&rules_on, &failed, None, false, now()),
            RetrainDecision::CheckFailed
        );
        assert_eq!(
            decide_retrain(
                &DriftRules::default(),
                &check("Critical", 0.71),
                None,
                false,
                now()
            ),
            RetrainDecision::NotConfigured
        );
    }
}
