//! The conditions of a MonitoredModel, decided together from what the plan
//! observed (`ModelFacts`), and the model's view of its DriftPolicies. Pure.
//!
//! `health` is public so that tools and tests (the Argo CD health check's
//! test among them) can build the conditions of any scenario.

use chrono::{DateTime, Utc};
use kube::ResourceExt;
use vigil_core::performance::{Metric, PerformanceBrief};

use super::training::TrainingView;
use crate::apply::Rejection;
use crate::build::serving_name;
use crate::controller::conditions::{
    drifted, reason, set_invalid_spec, write, ConditionType, Health, Value,
};
use crate::crd::{
    CheckVerdict, DriftPolicy, DriftStatus, MonitoredModel, MonitoredModelStatus,
    PerformanceGlance, TrainingOutcome,
};
use crate::events::EventNote;
use crate::observe::{PodProblem, Rollout};

/// What the conditions are computed from, besides the status itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelFacts {
    /// The version the Deployment must serve now.
    pub target: Option<String>,
    /// The Deployment's rollout as observed.
    pub rollout: Option<Rollout>,
    /// Why inference Pods of the target do not run, while it rolls out.
    pub inference_problem: Option<PodProblem>,
    /// The training Jobs.
    pub training: TrainingView,
    /// Whether `serving.pinnedVersion` is set.
    pub pinned: bool,
    /// When a failed first training is tried again (RFC 3339).
    pub retry_at: Option<String>,
    /// A write of a child the API server refused.
    pub rejected: Option<Rejection>,
}

impl ModelFacts {
    fn rolled_out(&self, status: &MonitoredModelStatus) -> bool {
        matches!((&self.rollout, &self.target), (Some(Rollout::Complete { version }), Some(t))
            if version == t && status.serving_version.as_ref() == Some(t))
    }
}

fn no_model_why(status: &MonitoredModelStatus, facts: &ModelFacts) -> String {
    match &status.last_training {
        Some(run) if run.outcome == TrainingOutcome::Failed => format!(
            "training failed: {}",
            run.message.clone().unwrap_or_default()
        ),
        Some(run)
            if run.outcome == TrainingOutcome::Running || facts.training.running.is_some() =>
        {
            format!("waiting for training Job {}", run.job)
        }
        _ => match &status.desired_version {
            Some(v) => format!("version {v} is rolling out"),
            None => "no version has been promoted yet".into(),
        },
    }
}

/// The failure a user must act on, most important first.
fn degraded(status: &MonitoredModelStatus, facts: &ModelFacts) -> Option<Value> {
    if let Some(r) = &facts.rejected {
        return Some(Value::yes(r.reason, r.to_string()));
    }
    if let Some(failed) = status
        .failed_rollout
        .as_ref()
        .filter(|f| Some(&f.version) == status.desired_version.as_ref())
    {
        let now = match &status.serving_version {
            Some(good) if *good != failed.version => format!("serving {good}"),
            _ => "no earlier version to roll back to".into(),
        };
        return Some(if facts.pinned {
            Value::yes(
                reason::PINNED_VERSION_FAILED,
                format!(
                    "spec.serving.pinnedVersion {} did not become ready: {}; {now}: change or clear the pin",
                    failed.version, failed.message
                ),
            )
        } else {
            Value::yes(
                reason::ROLLOUT_FAILED,
                format!(
                    "version {} did not become ready: {}; {now}",
                    failed.version, failed.message
                ),
            )
        });
    }
    if let Some(p) = &facts.inference_problem {
        return Some(Value::yes(p.reason, p.describe("inference")));
    }
    if let Some(p) = &facts.training.problem {
        return Some(Value::yes(p.reason, p.describe("training")));
    }
    if let Some(run) = status
        .last_training
        .as_ref()
        .filter(|r| r.outcome == TrainingOutcome::Failed)
    {
        let mut message = format!(
            "training Job {} failed: {}",
            run.job,
            run.message.clone().unwrap_or_default()
        );
        match &facts.retry_at {
            Some(at) => message.push_str(&format!(
                "; retrying at {at} (or annotate vigil.dev/train-request)"
            )),
            None => message.push_str(&format!(
                "; {} keeps serving until a training succeeds",
                status.serving_version.as_deref().unwrap_or("nothing")
            )),
        }
        let why = run.reason.as_deref().unwrap_or(reason::TRAINING_FAILED);
        let why = super::promotion::failure_reason(why);
        return Some(Value::yes(why, message));
    }
    if let Some(d) = status
        .drift
        .as_ref()
        .filter(|d| d.verdict == CheckVerdict::Failed)
    {
        return Some(Value::yes(
            reason::DRIFT_CHECK_FAILED,
            format!(
                "the last check of DriftPolicy {} failed: see its status",
                d.policy
            ),
        ));
    }
    None
}

/// `Ready`, `Reconciling`, `Stalled` and `Degraded` of a model.
pub fn health(status: &MonitoredModelStatus, model: &MonitoredModel, facts: &ModelFacts) -> Health {
    let deployment = serving_name(model);
    let failed = status
        .failed_rollout
        .as_ref()
        .filter(|f| Some(&f.version) == facts.target.as_ref());
    let ready = match &facts.target {
        None => Value::no(reason::NO_MODEL, no_model_why(status, facts)),
        Some(v) if facts.rolled_out(status) => Value::yes(
            reason::SERVING,
            format!("{} replica(s) serve {v}", model.spec.serving.replicas),
        ),
        Some(v) if failed.is_some() => Value::no(
            reason::ROLLOUT_FAILED,
            format!("Deployment {deployment} cannot roll out {v}"),
        ),
        Some(v) => Value::no(
            reason::ROLLING_OUT,
            format!("Deployment {deployment} is rolling out {v}"),
        ),
    };
    let reconciling = if ready.reason == reason::ROLLING_OUT {
        Some(Value::yes(reason::ROLLING_OUT, ready.message.clone()))
    } else {
        facts.training.running.as_ref().map(|job| {
            let trigger = status
                .last_training
                .as_ref()
                .map(|r| r.trigger.as_str())
                .unwrap_or("a");
            Value::yes(reason::TRAINING, format!("{trigger} training in Job {job}"))
        })
    };
    let degraded = degraded(status, facts);
    let stalled = degraded.clone().filter(|d| {
        d.reason == reason::PINNED_VERSION_FAILED
            || (d.reason == reason::APPLY_REJECTED
                && facts.rejected.as_ref().is_some_and(Rejection::stalls))
    });
    Health {
        ready,
        reconciling,
        stalled,
        degraded,
    }
}

/// Every condition of the model, and the Event that announces a new failure
/// observed in the world (a Pod that cannot start, a refused write). Failures
/// recorded with their own Event (a failed training, a failed rollout) are not
/// announced twice.
pub fn set_conditions(
    status: &mut MonitoredModelStatus,
    model: &MonitoredModel,
    facts: &ModelFacts,
    now: DateTime<Utc>,
) -> Option<EventNote> {
    let health = health(status, model, facts);
    let training = match &health.reconciling {
        Some(v) if v.reason == reason::TRAINING => Value::yes(reason::RUNNING, v.message.clone()),
        _ => match &facts.training.running {
            Some(job) => Value::yes(reason::RUNNING, format!("training in Job {job}")),
            None => Value::no(reason::IDLE, "no training Job is running"),
        },
    };
    let available = match (&status.serving_version, &status.desired_version) {
        (Some(v), _) => Value::yes(reason::SERVING, format!("serving {v}")),
        (None, Some(v)) => Value::no(reason::ROLLING_OUT, format!("version {v} is rolling out")),
        (None, None) => Value::no(reason::NO_MODEL, no_model_why(status, facts)),
    };
    let drift = status.drift.as_ref();
    let drifted = drifted(
        drift.map(|d| d.verdict),
        drift
            .map(|d| {
                format!(
                    "policy {} found {} drift in: {}",
                    d.policy,
                    d.verdict,
                    d.drifted_features.join(", ")
                )
            })
            .unwrap_or_default(),
        || {
            drift
                .map(|d| format!("last check by policy {}: {}", d.policy, d.verdict))
                .unwrap_or_default()
        },
    );
    let live = facts.rejected.is_some()
        || facts.inference_problem.is_some()
        || facts.training.problem.is_some();
    write(
        &mut status.conditions,
        &health,
        vec![
            (ConditionType::Training, training),
            (ConditionType::ModelAvailable, available),
            (ConditionType::Drifted, drifted),
        ],
        live,
        model.metadata.generation,
        now,
    )
}

/// The newest check of the DriftPolicies watching this model.
pub fn drift_status(policies: &[DriftPolicy]) -> Option<DriftStatus> {
    policies
        .iter()
        .filter_map(|p| {
            let status = p.status.as_ref()?;
            let check = status.last_check.as_ref()?;
            Some(DriftStatus {
                verdict: check.verdict,
                checked_at: check.checked_at.clone(),
                drifted_features: check.drifted_features.clone(),
                report_uri: check.report_uri.clone(),
                policy: p.name_any(),
                retrain: check.retrain.clone(),
                model_performance: check
                    .model_performance
                    .as_ref()
                    .map(|b| performance_glance(b, &p.spec.rules.performance.metrics)),
            })
        })
        .max_by(|a, b| a.checked_at.cmp(&b.checked_at))
}

/// A check's performance at a glance: `rocAuc` when the policy names it (`metrics`),
/// else the first metric it names; values to 4 decimals.
pub fn performance_glance(brief: &PerformanceBrief, metrics: &[Metric]) -> PerformanceGlance {
    let metric = metrics
        .iter()
        .copied()
        .find(|&m| m == Metric::RocAuc)
        .or(metrics.first().copied())
        .unwrap_or(Metric::RocAuc);
    let round = |v: f64| (v * 1e4).round() / 1e4;
    PerformanceGlance {
        metric,
        estimated: brief.estimated(metric).map(|v| round(v.value)),
        realized: brief.realized(metric).map(|v| round(v.value)),
        label_coverage: round(brief.label_coverage),
        estimated_drop: brief.estimated_drop,
        concept_drift: brief.concept_drift,
        reason: brief.reason.clone(),
    }
}

/// The status of a model whose spec is invalid: the children are left alone.
pub fn invalid_status(
    model: &MonitoredModel,
    message: &str,
    now: DateTime<Utc>,
) -> MonitoredModelStatus {
    let mut status = model.status.clone().unwrap_or_default();
    status.observed_generation = model.metadata.generation;
    set_invalid_spec(
        &mut status.conditions,
        message,
        model.metadata.generation,
        now,
    );
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A policy whose last check reported `brief`, with `performance` in its spec.
    fn policy(name: &str, performance: serde_json::Value, brief: serde_json::Value) -> DriftPolicy {
        serde_json::from_value(json!({
            "apiVersion": "vigil.dev/v1alpha1", "kind": "DriftPolicy",
            "metadata": {"name": name, "namespace": "ml"},
            "spec": {"modelRef": {"name": "income"}, "performance": performance},
            "status": {"lastCheck": {
                "job": format!("{name}-check-1"), "verdict": "None",
                "checkedAt": "2026-11-28T18:00:30Z", "retrain": "retraining started: estimated rocAuc 0.7123 below 0.8",
                "modelPerformance": brief
            }}
        }))
        .expect("policy")
    }

    #[test]
    fn the_model_shows_one_metric_of_the_newest_check_rounded() {
        let brief = json!({
            "estimated": [
                {"metric": "accuracy", "value": 0.8312345, "lower": 0.78, "upper": 0.9},
                {"metric": "rocAuc", "value": 0.712345678, "lower": 0.8, "upper": 0.95, "alert": true}
            ],
            "realized": [{"metric": "rocAuc", "value": 0.69871, "lower": 0.66, "upper": 0.73}],
            "labelCoverage": 0.312345, "labelled": 1562, "estimatedDrop": true
        });
        let status = drift_status(&[policy(
            "income-drift",
            json!({"metrics": ["accuracy", "rocAuc"]}),
            brief,
        )]);
        assert_eq!(
            serde_json::to_value(status).expect("json"),
            json!({
                "verdict": "None", "checkedAt": "2026-11-28T18:00:30Z",
                "policy": "income-drift",
                "retrain": "retraining started: estimated rocAuc 0.7123 below 0.8",
                "modelPerformance": {"metric": "rocAuc", "estimated": 0.7123, "realized": 0.6987,
                                     "labelCoverage": 0.3123, "estimatedDrop": true}
            })
        );
    }

    #[test]
    fn without_roc_auc_the_first_metric_and_a_refusal_keeps_its_reason() {
        let refused = json!({"labelCoverage": 0.0, "labelled": 0, "reason": "NoHoldout"});
        let glance = drift_status(&[policy("p", json!({"metrics": ["f1", "accuracy"]}), refused)])
            .and_then(|d| d.model_performance);
        assert_eq!(
            glance,
            Some(PerformanceGlance {
                metric: Metric::F1,
                estimated: None,
                realized: None,
                label_coverage: 0.0,
                estimated_drop: false,
                concept_drift: false,
                reason: Some("NoHoldout".into()),
            })
        );
    }
}
