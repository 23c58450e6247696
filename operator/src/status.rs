//! Pure status transitions of a MonitoredModel: conditions, promotion,
//! rollback and pinning, history. The controller feeds observations in and
//! applies what comes out; nothing here does IO or reads a clock.

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use vigil_core::train::promotion::{self, PromotionSpec};
use vigil_core::train::report::TrainSummary;

use crate::crd::{Action, Candidate, HistoryEntry, MonitoredModelStatus, TrainingRun};

/// Bound of `status.history`.
pub const HISTORY_LIMIT: usize = 20;

pub mod condition {
    pub const READY: &str = "Ready";
    pub const MODEL_AVAILABLE: &str = "ModelAvailable";
    pub const TRAINING: &str = "Training";
    pub const DRIFTED: &str = "Drifted";
    pub const DEGRADED: &str = "Degraded";
}

/// An Event the controller should publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventNote {
    /// `Normal` or `Warning`.
    pub warning: bool,
    /// CamelCase reason (`ModelPromoted`, `PromotionRejected`, …).
    pub reason: &'static str,
    pub note: String,
}

/// Kubernetes' time type, to the second (as the API server stores it).
pub fn k8s_time(time: DateTime<Utc>) -> Time {
    Time(
        k8s_openapi::jiff::Timestamp::from_second(time.timestamp())
            .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
    )
}

pub fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Sets a condition; `lastTransitionTime` moves only when the status changes.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: DateTime<Utc>,
) {
    let status = if status { "True" } else { "False" }.to_string();
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => {
            if existing.status != status {
                existing.last_transition_time = k8s_time(now);
            }
            existing.status = status;
            existing.reason = reason.into();
            existing.message = message.into();
            existing.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: type_.into(),
            status,
            reason: reason.into(),
            message: message.into(),
            observed_generation: generation,
            last_transition_time: k8s_time(now),
        }),
    }
}

/// `Ready=False` and `Degraded=True`, reason `InvalidSpec`: what an invalid spec shows.
pub fn set_invalid_spec(
    conditions: &mut Vec<Condition>,
    message: &str,
    generation: Option<i64>,
    now: DateTime<Utc>,
) {
    let message = format!("invalid spec: {message}");
    for (type_, value) in [(condition::READY, false), (condition::DEGRADED, true)] {
        set_condition(
            conditions,
            type_,
            value,
            "InvalidSpec",
            &message,
            generation,
            now,
        );
    }
}

fn push_history(status: &mut MonitoredModelStatus, entry: HistoryEntry) {
    status.history.push(entry);
    let excess = status.history.len().saturating_sub(HISTORY_LIMIT);
    status.history.drain(..excess);
}

/// Records a finished training Job and applies the promotion gates.
/// `approved` is the version named by the approval annotation, if any.
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
        TrainSummary::Failed { reason, message } => {
            run.outcome = "Failed".into();
            run.message = Some(format!("{reason}: {message}"));
            events.push(EventNote {
                warning: true,
                reason: "TrainingFailed",
                note: format!("{reason}: {message}"),
            });
        }
        TrainSummary::Succeeded {
            version, metrics, ..
        } => {
            run.outcome = "Succeeded".into();
            run.version = Some(version.clone());
            events.push(EventNote {
                warning: false,
                reason: "TrainingSucceeded",
                note: format!("trained {version}"),
            });
            if let Some(decision) = promotion::decide(&promotion.gates, summary) {
                let reason = decision.reason();
                let candidate = Candidate {
                    version: version.clone(),
                    passed: decision.passed,
                    gates: decision.gates.clone(),
                    metrics: metrics.clone(),
                };
                let action = match (decision.passed, promotion.auto) {
                    (true, true) => Action::Promoted,
                    (true, false) => Action::AwaitingApproval,
                    (false, _) => Action::Rejected,
                };
                push_history(
                    status,
                    HistoryEntry {
                        version: version.clone(),
                        action,
                        time: rfc3339(now),
                        reason: reason.clone(),
                        metrics: Some(metrics.clone()),
                    },
                );
                match action {
                    Action::Promoted => {
                        status.promoted_version = Some(version.clone());
                        status.latest_candidate = None;
                        events.push(EventNote {
                            warning: false,
                            reason: "ModelPromoted",
                            note: format!("{version}: {reason}"),
                        });
                    }
                    _ => {
                        status.latest_candidate = Some(candidate);
                        events.push(EventNote {
                            warning: action == Action::Rejected,
                            reason: if action == Action::Rejected {
                                "PromotionRejected"
                            } else {
                                "AwaitingApproval"
                            },
                            note: format!("{version}: {reason}"),
                        });
                    }
                }
            }
        }
    }
    status.last_training = Some(run);
    events
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
    push_history(
        status,
        HistoryEntry {
            version: candidate.version.clone(),
            action: Action::Promoted,
            time: rfc3339(now),
            reason: "approved".into(),
            metrics: Some(candidate.metrics),
        },
    );
    vec![EventNote {
        warning: false,
        reason: "ModelPromoted",
        note: format!("{}: approved", candidate.version),
    }]
}

/// Decides the served version from the pin and the promoted version, and
/// records a rollback, pin or unpin when the served version changes.
pub fn reconcile_serving(
    status: &mut MonitoredModelStatus,
    pinned: Option<&str>,
    now: DateTime<Utc>,
) -> Vec<EventNote> {
    let target = pinned
        .map(str::to_string)
        .or_else(|| status.promoted_version.clone());
    if target == status.serving_version {
        return vec![];
    }
    let previous = status.serving_version.clone();
    status.serving_version = target.clone();
    let Some(version) = target else {
        return vec![];
    };
    let action = match (pinned, previous.as_deref()) {
        (Some(pin), Some(prev)) if pin < prev => Action::RolledBack,
        (Some(_), _) => Action::Pinned,
        // Following promotions again after a pin was cleared.
        (None, Some(prev))
            if status.history.last().is_some_and(|h| {
                h.version == prev && matches!(h.action, Action::Pinned | Action::RolledBack)
            }) =>
        {
            Action::Unpinned
        }
        // An ordinary promotion is already in the history.
        (None, _) => return vec![],
    };
    let reason = match (action, previous.as_deref()) {
        (Action::RolledBack, Some(prev)) => format!("serving.pinnedVersion rolls back from {prev}"),
        (Action::Pinned, _) => "serving.pinnedVersion pins it".to_string(),
        _ => "serving.pinnedVersion cleared; serving the promoted version".to_string(),
    };
    push_history(
        status,
        HistoryEntry {
            version: version.clone(),
            action,
            time: rfc3339(now),
            reason: reason.clone(),
            metrics: None,
        },
    );
    vec![EventNote {
        warning: false,
        reason: match action {
            Action::RolledBack => "RolledBack",
            Action::Pinned => "Pinned",
            _ => "Unpinned",
        },
        note: format!("{version}: {reason}"),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use vigil_core::train::model::Algorithm;
    use vigil_core::train::promotion::{Gates, MetricThreshold};
    use vigil_core::train::report::{KeyMetrics, RowCounts, ServedComparison};

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 17, minute, 0)
            .single()
            .expect("time")
    }

    fn run() -> TrainingRun {
        TrainingRun {
            job: "income-train-1".into(),
            trigger: "Initial".into(),
            started_at: rfc3339(at(0)),
            finished_at: None,
            outcome: "Running".into(),
            version: None,
            message: None,
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

    fn success(version: &str, auc: f64, served: Option<(&str, f64)>) -> TrainSummary {
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

    fn promotion(auto: bool) -> PromotionSpec {
        PromotionSpec {
            auto,
            gates: Gates {
                min_metric: MetricThreshold {
                    name: "rocAuc".into(),
                    value: 0.85,
                },
                ..Gates::default()
            },
        }
    }

    #[test]
    fn lifecycle_promote_reject_rollback_unpin() {
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
        assert!(reconcile_serving(&mut status, None, at(1)).is_empty());
        assert_eq!(status.serving_version.as_deref(), Some("v1"));

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
        assert_eq!(status.serving_version.as_deref(), Some("v1"));

        record_training(
            &mut status,
            run(),
            &success("v3", 0.91, Some(("v1", 0.90))),
            &promotion(true),
            at(3),
        );
        reconcile_serving(&mut status, None, at(3));
        assert_eq!(status.serving_version.as_deref(), Some("v3"));

        let events = reconcile_serving(&mut status, Some("v1"), at(4));
        assert_eq!(events[0].reason, "RolledBack");
        assert_eq!(status.serving_version.as_deref(), Some("v1"));
        assert!(
            reconcile_serving(&mut status, Some("v1"), at(5)).is_empty(),
            "idempotent"
        );

        let events = reconcile_serving(&mut status, None, at(6));
        assert_eq!(events[0].reason, "Unpinned");
        assert_eq!(status.serving_version.as_deref(), Some("v3"));
        let actions: Vec<Action> = status.history.iter().map(|h| h.action).collect();
        assert_eq!(
            actions,
            vec![
                Action::Promoted,
                Action::Rejected,
                Action::Promoted,
                Action::RolledBack,
                Action::Unpinned
            ]
        );
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
        reconcile_serving(&mut status, None, at(2));
        assert_eq!(status.serving_version.as_deref(), Some("v1"));
    }

    #[test]
    fn failures_are_recorded_and_history_is_bounded() {
        let mut status = MonitoredModelStatus::default();
        let failed = TrainSummary::Failed {
            reason: "ValidationFailed".into(),
            message: "minRows: 3 rows".into(),
        };
        let events = record_training(&mut status, run(), &failed, &promotion(true), at(1));
        assert_eq!(
            events,
            vec![EventNote {
                warning: true,
                reason: "TrainingFailed",
                note: "ValidationFailed: minRows: 3 rows".into()
            }]
        );
        let last = status.last_training.as_ref().expect("run");
        assert_eq!(
            (last.outcome.as_str(), last.finished_at.as_deref()),
            ("Failed", Some("2026-11-28T17:01:00Z"))
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

    #[test]
    fn condition_transition_time_moves_only_on_change() {
        let mut conditions = Vec::new();
        set_condition(
            &mut conditions,
            condition::READY,
            false,
            "Training",
            "first model",
            Some(1),
            at(1),
        );
        set_condition(
            &mut conditions,
            condition::READY,
            false,
            "Training",
            "still",
            Some(2),
            at(2),
        );
        assert_eq!(conditions[0].last_transition_time, k8s_time(at(1)));
        assert_eq!(conditions[0].message, "still");
        set_condition(
            &mut conditions,
            condition::READY,
            true,
            "Serving",
            "v1",
            Some(2),
            at(3),
        );
        assert_eq!(conditions[0].last_transition_time, k8s_time(at(3)));
        assert_eq!(conditions.len(), 1);
    }
}
