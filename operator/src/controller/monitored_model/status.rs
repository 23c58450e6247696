//! Pure status transitions of a MonitoredModel: conditions, promotion,
//! rollback and pinning, history. The controller feeds observations in and
//! applies what comes out; nothing here does IO or reads a clock.

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::Deployment;
use vigil_core::promotion::{self, PromotionSpec};
use vigil_core::report::TrainSummary;

use super::ModelWorld;
use crate::build::serving_name;
use crate::controller::conditions::{condition, set_condition, set_invalid_spec};
use crate::crd::{
    Candidate, HistoryAction, HistoryEntry, MonitoredModel, MonitoredModelStatus, TrainingRun,
};
use crate::events::EventNote;
use crate::time::rfc3339;

/// Bound of `status.history`.
pub const HISTORY_LIMIT: usize = 20;

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
                    (true, true) => HistoryAction::Promoted,
                    (true, false) => HistoryAction::AwaitingApproval,
                    (false, _) => HistoryAction::Rejected,
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
                    HistoryAction::Promoted => {
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
                            warning: action == HistoryAction::Rejected,
                            reason: if action == HistoryAction::Rejected {
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
            action: HistoryAction::Promoted,
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
        (Some(pin), Some(prev)) if pin < prev => HistoryAction::RolledBack,
        (Some(_), _) => HistoryAction::Pinned,
        // Following promotions again after a pin was cleared.
        (None, Some(prev))
            if status.history.last().is_some_and(|h| {
                h.version == prev
                    && matches!(h.action, HistoryAction::Pinned | HistoryAction::RolledBack)
            }) =>
        {
            HistoryAction::Unpinned
        }
        // An ordinary promotion is already in the history.
        (None, _) => return vec![],
    };
    let reason = match (action, previous.as_deref()) {
        (HistoryAction::RolledBack, Some(prev)) => {
            format!("serving.pinnedVersion rolls back from {prev}")
        }
        (HistoryAction::Pinned, _) => "serving.pinnedVersion pins it".to_string(),
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
            HistoryAction::RolledBack => "RolledBack",
            HistoryAction::Pinned => "Pinned",
            _ => "Unpinned",
        },
        note: format!("{version}: {reason}"),
    }]
}

fn deployment_ready(deployment: Option<&Deployment>, version: &str, replicas: i32) -> bool {
    let Some(deployment) = deployment else {
        return false;
    };
    let serves_version = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.as_ref())
        .and_then(|l| l.get("vigil.dev/version"))
        .is_some_and(|v| v == version);
    let status = deployment.status.clone().unwrap_or_default();
    let rolled_out = status.observed_generation >= deployment.metadata.generation
        && status.updated_replicas.unwrap_or(0) >= replicas
        && status.available_replicas.unwrap_or(0) >= replicas;
    serves_version && rolled_out
}

pub(super) fn set_conditions(
    status: &mut MonitoredModelStatus,
    model: &MonitoredModel,
    world: &ModelWorld,
    training: bool,
    now: DateTime<Utc>,
) {
    let generation = model.metadata.generation;
    let mut conditions = std::mem::take(&mut status.conditions);
    let mut set = |type_: &str, value: bool, reason: &str, message: String| {
        set_condition(
            &mut conditions,
            type_,
            value,
            reason,
            &message,
            generation,
            now,
        )
    };
    let last = status.last_training.as_ref();
    match last {
        Some(run) if training => set(
            condition::TRAINING,
            true,
            "Running",
            format!("{} training in Job {}", run.trigger, run.job),
        ),
        _ => set(
            condition::TRAINING,
            false,
            "Idle",
            "no training Job is running".into(),
        ),
    }
    match &status.serving_version {
        Some(version) => {
            set(
                condition::MODEL_AVAILABLE,
                true,
                "Serving",
                format!("serving {version}"),
            );
            let replicas = model.spec.serving.replicas;
            if deployment_ready(world.deployment.as_ref(), version, replicas) {
                set(
                    condition::READY,
                    true,
                    "Serving",
                    format!("{replicas} replica(s) serve {version}"),
                );
            } else {
                set(
                    condition::READY,
                    false,
                    "RollingOut",
                    format!(
                        "Deployment {} is rolling out {version}",
                        serving_name(model)
                    ),
                );
            }
        }
        None => {
            let why = match last {
                Some(run) if run.outcome == "Failed" => format!(
                    "training failed: {}",
                    run.message.clone().unwrap_or_default()
                ),
                Some(run) if run.outcome == "Running" => {
                    format!("waiting for training Job {}", run.job)
                }
                _ => "no version has been promoted yet".into(),
            };
            set(condition::MODEL_AVAILABLE, false, "NoModel", why.clone());
            set(condition::READY, false, "NoModel", why);
        }
    }
    match &status.drift {
        Some(d) if d.verdict == "Warning" || d.verdict == "Critical" => set(
            condition::DRIFTED,
            true,
            &d.verdict,
            format!(
                "policy {} found {} drift in: {}",
                d.policy,
                d.verdict,
                d.drifted_features.join(", ")
            ),
        ),
        Some(d) => set(
            condition::DRIFTED,
            false,
            "NoDrift",
            format!("last check by policy {}: {}", d.policy, d.verdict),
        ),
        None => set(
            condition::DRIFTED,
            false,
            "NotChecked",
            "no drift check has run".into(),
        ),
    }
    match (last, &status.drift) {
        (Some(run), _) if run.outcome == "Failed" => set(
            condition::DEGRADED,
            true,
            "TrainingFailed",
            format!(
                "Job {}: {}",
                run.job,
                run.message.clone().unwrap_or_default()
            ),
        ),
        (_, Some(d)) if d.verdict == "Failed" => set(
            condition::DEGRADED,
            true,
            "DriftCheckFailed",
            format!("the last check of policy {} failed", d.policy),
        ),
        _ => set(
            condition::DEGRADED,
            false,
            "AsExpected",
            "training and checks succeed".into(),
        ),
    }
    status.conditions = conditions;
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
    use chrono::TimeZone;
    use vigil_core::model::Algorithm;
    use vigil_core::promotion::{Gates, MetricThreshold};
    use vigil_core::report::{KeyMetrics, RowCounts, ServedComparison};

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
        let actions: Vec<HistoryAction> = status.history.iter().map(|h| h.action).collect();
        assert_eq!(
            actions,
            vec![
                HistoryAction::Promoted,
                HistoryAction::Rejected,
                HistoryAction::Promoted,
                HistoryAction::RolledBack,
                HistoryAction::Unpinned
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
}
