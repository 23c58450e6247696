//! A finished training and its promotion: the run's outcome, the gates, the
//! candidate, approval, and the bounded history of decisions. Pure.

use chrono::{DateTime, Utc};
use vigil_core::train::promotion::{self, PromotionSpec};
use vigil_core::train::report::TrainSummary;

use crate::controller::conditions::{reason, stopped_reason};
use vigil_core::train::report::KeyMetrics;

use crate::crd::{
    Candidate, HistoryAction, HistoryEntry, MonitoredModelStatus, TrainingOutcome, TrainingRun,
};
use crate::events::{reason as event, EventNote};
use crate::time::rfc3339;

/// Bound of `status.history`.
pub const HISTORY_LIMIT: usize = 20;

/// Appends a decision about `version` to the bounded history.
pub fn record(
    status: &mut MonitoredModelStatus,
    version: &str,
    action: HistoryAction,
    reason: String,
    metrics: Option<KeyMetrics>,
    now: DateTime<Utc>,
) {
    status.history.push(HistoryEntry {
        version: version.to_string(),
        action,
        time: rfc3339(now),
        reason,
        metrics,
    });
    let excess = status.history.len().saturating_sub(HISTORY_LIMIT);
    status.history.drain(..excess);
}

/// The condition reason of a failed training: what stopped the Pod
/// (`OOMKilled`, `DeadlineExceeded`, …) or, when the job itself reported the
/// failure (bad data, failed validation), `TrainingFailed`.
pub fn failure_reason(summary_reason: &str) -> &'static str {
    stopped_reason(summary_reason).unwrap_or(reason::TRAINING_FAILED)
}

/// Records a finished training Job and applies the promotion gates.
pub fn record_training(
    status: &mut MonitoredModelStatus,
    run: TrainingRun,
    summary: &TrainSummary,
    promotion: &PromotionSpec,
    now: DateTime<Utc>,
) -> Vec<EventNote> {
    let mut events = Vec::new();
    let mut run = run;
    run.finished_at = Some(rfc3339(now));
    match summary {
        TrainSummary::Failed {
            reason: why,
            message,
        } => {
            run.outcome = TrainingOutcome::Failed;
            run.reason = Some(failure_reason(why).into());
            run.message = Some(format!("{why}: {message}"));
            events.push(EventNote::warning(
                event::TRAINING_FAILED,
                format!("Job {}: {why}: {message}", run.job),
            ));
        }
        TrainSummary::Succeeded { version, .. } => {
            run.outcome = TrainingOutcome::Succeeded;
            run.version = Some(version.clone());
            events.push(EventNote::normal(
                event::TRAINING_SUCCEEDED,
                format!("trained {version}"),
            ));
            events.extend(decide_promotion(status, summary, promotion, now));
        }
    }
    status.last_training = Some(run);
    events
}

/// The gates on a successful training: promoted, awaiting approval or rejected.
fn decide_promotion(
    status: &mut MonitoredModelStatus,
    summary: &TrainSummary,
    promotion: &PromotionSpec,
    now: DateTime<Utc>,
) -> Vec<EventNote> {
    let TrainSummary::Succeeded {
        version, metrics, ..
    } = summary
    else {
        return vec![];
    };
    let Some(decision) = promotion::decide(&promotion.gates, summary) else {
        return vec![];
    };
    let why = decision.reason();
    let action = match (decision.passed, promotion.auto) {
        (true, true) => HistoryAction::Promoted,
        (true, false) => HistoryAction::AwaitingApproval,
        (false, _) => HistoryAction::Rejected,
    };
    record(
        status,
        version,
        action,
        why.clone(),
        Some(metrics.clone()),
        now,
    );
    let note = format!("{version}: {why}");
    match action {
        HistoryAction::Promoted => {
            status.promoted_version = Some(version.clone());
            status.latest_candidate = None;
            vec![EventNote::normal(event::MODEL_PROMOTED, note)]
        }
        _ => {
            status.latest_candidate = Some(Candidate {
                version: version.clone(),
                passed: decision.passed,
                gates: decision.gates.clone(),
                metrics: metrics.clone(),
            });
            vec![if action == HistoryAction::Rejected {
                EventNote::warning(event::PROMOTION_REJECTED, note)
            } else {
                EventNote::normal(event::AWAITING_APPROVAL, note)
            }]
        }
    }
}

/// Promotes the waiting candidate when the approval names it.
pub fn approve(
    status: &mut MonitoredModelStatus,
    approved: &str,
    now: DateTime<Utc>,
) -> Vec<EventNote> {
    let Some(candidate) = status.latest_candidate.clone() else {
        return vec![];
    };
    if candidate.version != approved || !candidate.passed {
        return vec![];
    }
    status.promoted_version = Some(candidate.version.clone());
    status.latest_candidate = None;
    record(
        status,
        &candidate.version,
        HistoryAction::Promoted,
        "approved".into(),
        Some(candidate.metrics),
        now,
    );
    vec![EventNote::normal(
        event::MODEL_PROMOTED,
        format!("{}: approved", candidate.version),
    )]
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;
    use vigil_core::train::model::Algorithm;
    use vigil_core::train::promotion::{Gates, MetricThreshold};
    use vigil_core::train::report::{KeyMetrics, RowCounts, ServedComparison};

    use crate::crd::TrainingTrigger;

    pub fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 17, minute, 0)
            .single()
            .expect("time")
    }

    pub fn run() -> TrainingRun {
        TrainingRun {
            job: "income-train-1".into(),
            trigger: TrainingTrigger::Initial,
            started_at: rfc3339(at(0)),
            finished_at: None,
            outcome: TrainingOutcome::Running,
            version: None,
            reason: None,
            message: None,
            attempt: None,
        }
    }

    fn metrics(auc: f64) -> KeyMetrics {
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

    pub fn success(version: &str, auc: f64, served: Option<(&str, f64)>) -> TrainSummary {
        TrainSummary::Succeeded {
            version: version.into(),
            algorithm: Algorithm::LogisticRegression,
            metrics: metrics(auc),
            served: served.map(|(v, a)| ServedComparison {
                version: v.into(),
                metrics: Some(metrics(a)),
                error: None,
            }),
            validation_passed: true,
            warnings: vec![],
            rows: RowCounts {
                train: 100,
                holdout: 20,
            },
            artifact_uri: "s3://m/models/x/model.json".into(),
            report_uri: "s3://m/reports/training/x.json".into(),
        }
    }

    pub fn promotion(auto: bool) -> PromotionSpec {
        PromotionSpec {
            auto,
            gates: Gates {
                min_metric: MetricThreshold {
                    name: vigil_core::train::evaluation::MetricName::RocAuc,
                    value: 0.85,
                },
                ..Gates::default()
            },
        }
    }

    #[test]
    fn gates_promote_or_reject() {
        let mut status = MonitoredModelStatus::default();
        let events = record_training(
            &mut status,
            run(),
            &success("v1", 0.90, None),
            &promotion(true),
            at(1),
        );
        assert_eq!(
            events.iter().map(|e| e.reason).collect::<Vec<_>>(),
            vec!["TrainingSucceeded", "ModelPromoted"]
        );
        assert_eq!(status.promoted_version.as_deref(), Some("v1"));
        let events = record_training(
            &mut status,
            run(),
            &success("v2", 0.87, Some(("v1", 0.90))),
            &promotion(true),
            at(2),
        );
        assert_eq!(events[1].reason, "PromotionRejected");
        assert_eq!(
            events[1].note,
            "v2: maxRegression: rocAuc 0.8700 vs served v1 0.9000: regression +0.0300 > 0.0100"
        );
        let candidate = status.latest_candidate.as_ref().expect("candidate");
        assert!(!candidate.passed);
        assert_eq!(status.promoted_version.as_deref(), Some("v1"));
    }

    #[test]
    fn manual_promotion_waits_for_approval() {
        let mut status = MonitoredModelStatus::default();
        let events = record_training(
            &mut status,
            run(),
            &success("v1", 0.90, None),
            &promotion(false),
            at(1),
        );
        assert_eq!(events[1].reason, "AwaitingApproval");
        assert_eq!(status.promoted_version, None);
        assert!(
            approve(&mut status, "v0", at(2)).is_empty(),
            "only the named candidate"
        );
        let events = approve(&mut status, "v1", at(2));
        assert_eq!(events[0].reason, "ModelPromoted");
        assert_eq!(status.promoted_version.as_deref(), Some("v1"));
    }

    #[test]
    fn failures_are_recorded_with_their_reason_and_history_is_bounded() {
        let mut status = MonitoredModelStatus::default();
        let failed = TrainSummary::Failed {
            reason: "ValidationFailed".into(),
            message: "minRows: 3 rows".into(),
        };
        let events = record_training(&mut status, run(), &failed, &promotion(true), at(1));
        assert_eq!(
            events,
            vec![EventNote::warning(
                "TrainingFailed",
                "Job income-train-1: ValidationFailed: minRows: 3 rows"
            )]
        );
        let last = status.last_training.as_ref().expect("run");
        assert_eq!(
            (
                last.outcome,
                last.reason.as_deref(),
                last.finished_at.as_deref()
            ),
            (
                TrainingOutcome::Failed,
                Some("TrainingFailed"),
                Some("2026-11-28T17:01:00Z")
            )
        );
        let oom = TrainSummary::Failed {
            reason: "OOMKilled".into(),
            message: "training Pod p: container train was OOMKilled".into(),
        };
        record_training(&mut status, run(), &oom, &promotion(true), at(1));
        assert_eq!(
            status
                .last_training
                .as_ref()
                .and_then(|r| r.reason.as_deref()),
            Some("OOMKilled")
        );
        for i in 0..30 {
            record_training(
                &mut status,
                run(),
                &success(&format!("v{i:02}"), 0.9, None),
                &promotion(true),
                at(2),
            );
        }
        assert_eq!(status.history.len(), HISTORY_LIMIT);
        assert_eq!(status.history[0].version, "v10");
    }
}
