//! The decision of one DriftPolicy reconcile: the new status, the check
//! CronJob and a retraining Job. Pure.

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::ResourceExt;
use vigil_core::drift::{DriftJobConfig, DriftSummary};

use super::retrain::{decide_retrain, RetrainDecision};
use crate::build::{
    build_drift_cronjob, build_training_job, train_job_config, training_job_name, BuildError,
    MANAGED_BY, POLICY_LABEL,
};
use crate::controller::conditions::{condition, set_condition};
use crate::crd::{DriftCheck, DriftPolicy, DriftPolicyStatus, MonitoredModel};
use crate::events::EventNote;
use crate::observe::{created_at, job_state, newest, JobState};
use crate::time::{parse_time, rfc3339};

/// Bound of `status.history`.
pub const CHECK_HISTORY_LIMIT: usize = 10;

/// What the API server holds for one DriftPolicy.
#[derive(Clone, Debug, Default)]
pub struct PolicyWorld {
    pub model: Option<MonitoredModel>,
    pub cronjob: Option<CronJob>,
    pub drift_jobs: Vec<Job>,
    /// Whether a training Job of the model is running.
    pub training_running: bool,
    /// Termination message of the newest drift Job, fetched only when it
    /// finished and is not recorded yet.
    pub result: Option<String>,
}

#[derive(Clone, Debug)]
pub struct PolicyPlan {
    pub status: DriftPolicyStatus,
    pub cronjob: Option<CronJob>,
    /// A training Job for the model, when drift triggers one.
    pub retrain: Option<Job>,
    /// The check recorded in this pass (for webhooks and metrics).
    pub recorded: Option<DriftSummary>,
    /// Events about the policy, and about the model.
    pub events: Vec<EventNote>,
    pub model_events: Vec<EventNote>,
}

/// Label selector of a policy's check Jobs.
pub fn drift_selector(policy: &str) -> String {
    format!("{POLICY_LABEL}={policy},app.kubernetes.io/component=drift,app.kubernetes.io/managed-by={MANAGED_BY}")
}

/// The newest check Job when it has finished and is not recorded.
pub fn unrecorded_check<'a>(policy: &DriftPolicy, jobs: &'a [Job]) -> Option<&'a Job> {
    let job = newest(jobs)?;
    let recorded = policy
        .status
        .as_ref()
        .and_then(|s| s.last_check.as_ref())
        .is_some_and(|c| c.job == job.name_any());
    (job_state(job).finished() && !recorded).then_some(job)
}

fn parse_check_result(job: &Job, message: Option<&str>) -> DriftSummary {
    match message {
        Some(text) => serde_json::from_str(text).unwrap_or_else(|e| DriftSummary::Failed {
            reason: "UnreadableResult".into(),
            message: format!("the check Pod's termination message is not a result: {e}"),
        }),
        None => DriftSummary::Failed {
            reason: "NoResult".into(),
            message: match job_state(job) {
                JobState::Failed(why) => format!("the Job failed without a result: {why}"),
                _ => "the check Pod left no termination message".into(),
            },
        },
    }
}

fn check_of(job: &Job, summary: &DriftSummary) -> DriftCheck {
    match summary {
        DriftSummary::Succeeded {
            verdict,
            drifted_features,
            quality_failures,
            checked_at,
            report_uri,
            ..
        } => DriftCheck {
            job: job.name_any(),
            verdict: verdict.as_str().into(),
            checked_at: rfc3339(*checked_at),
            drifted_features: drifted_features.clone(),
            quality_failures: quality_failures.clone(),
            report_uri: Some(report_uri.clone()),
            message: None,
            retrain: None,
            notified: None,
        },
        DriftSummary::Failed { reason, message } => DriftCheck {
            job: job.name_any(),
            verdict: "Failed".into(),
            checked_at: created_at(job),
            drifted_features: vec![],
            quality_failures: vec![],
            report_uri: None,
            message: Some(format!("{reason}: {message}")),
            retrain: None,
            notified: None,
        },
    }
}

/// The decision: new status, the CronJob, a retraining Job. Pure.
pub fn plan(
    policy: &DriftPolicy,
    world: &PolicyWorld,
    default_image: &str,
    now: DateTime<Utc>,
) -> Result<PolicyPlan, BuildError> {
    let mut status = policy.status.clone().unwrap_or_default();
    let generation = policy.metadata.generation;
    let mut events = Vec::new();
    let mut model_events = Vec::new();
    let mut retrain = None;
    let mut recorded = None;
    let mut cronjob = None;
    let mut conditions = std::mem::take(&mut status.conditions);
    let set = |conditions: &mut Vec<_>, type_: &str, value: bool, reason: &str, message: String| {
        set_condition(conditions, type_, value, reason, &message, generation, now)
    };

    match &world.model {
        None => set(
            &mut conditions,
            condition::READY,
            false,
            "ModelNotFound",
            format!(
                "MonitoredModel {} does not exist in this namespace",
                policy.spec.model_ref.name
            ),
        ),
        Some(model) => {
            let image = model.spec.serving.image.as_deref().unwrap_or(default_image);
            let served = model
                .status
                .as_ref()
                .and_then(|s| s.serving_version.clone());
            match &served {
                Some(version) => {
                    let config = DriftJobConfig {
                        model: Some(model.name_any()),
                        storage: model.spec.storage.clone(),
                        served_version: Some(version.clone()),
                        policy: policy.spec.policy.clone(),
                    };
                    cronjob = Some(build_drift_cronjob(policy, model, &config, image)?);
                    set(
                        &mut conditions,
                        condition::READY,
                        true,
                        "Scheduled",
                        format!(
                            "checks of {version} run on `{}` over the last {}",
                            policy.spec.policy.schedule, policy.spec.policy.window
                        ),
                    );
                }
                None => set(
                    &mut conditions,
                    condition::READY,
                    false,
                    "WaitingForModel",
                    format!("MonitoredModel {} serves no version yet", model.name_any()),
                ),
            }

            if let Some(job) = unrecorded_check(policy, &world.drift_jobs) {
                let summary = parse_check_result(job, world.result.as_deref());
                let mut check = check_of(job, &summary);
                let last_triggered = status
                    .last_retrain_triggered
                    .as_deref()
                    .and_then(parse_time);
                let decision = decide_retrain(
                    policy.spec.policy.actions.retrain.as_ref(),
                    &summary,
                    last_triggered,
                    world.training_running,
                    now,
                );
                check.retrain = Some(decision.describe());
                if let Some(verdict) = summary.verdict().filter(|v| v.is_drift()) {
                    let note = EventNote {
                        warning: true,
                        reason: "DriftDetected",
                        note: format!(
                            "{verdict} drift (policy {}): {}",
                            policy.name_any(),
                            if check.drifted_features.is_empty() {
                                check.quality_failures.join("; ")
                            } else {
                                check.drifted_features.join(", ")
                            }
                        ),
                    };
                    events.push(note.clone());
                    model_events.push(note);
                }
                if let DriftSummary::Failed { reason, message } = &summary {
                    events.push(EventNote {
                        warning: true,
                        reason: "DriftCheckFailed",
                        note: format!("Job {}: {reason}: {message}", job.name_any()),
                    });
                }
                if decision == RetrainDecision::Trigger {
                    let suffix =
                        format!("drift-{}", job.name_any().rsplit('-').next().unwrap_or("0"));
                    let name = training_job_name(model, &suffix);
                    let config = train_job_config(model, served.as_deref());
                    retrain = Some(build_training_job(
                        model,
                        name.clone(),
                        "Drift",
                        &config,
                        image,
                    )?);
                    status.last_retrain_triggered = Some(rfc3339(now));
                    let note = EventNote {
                        warning: false,
                        reason: "RetrainTriggered",
                        note: format!(
                            "{} drift found by Job {} (policy {}): training Job {name}",
                            check.verdict,
                            job.name_any(),
                            policy.name_any()
                        ),
                    };
                    events.push(note.clone());
                    model_events.push(note);
                }
                status.history.push(check.clone());
                let excess = status.history.len().saturating_sub(CHECK_HISTORY_LIMIT);
                status.history.drain(..excess);
                status.last_check = Some(check);
                recorded = Some(summary);
            }
        }
    }

    match &status.last_check {
        Some(check) if check.verdict == "Warning" || check.verdict == "Critical" => set(
            &mut conditions,
            condition::DRIFTED,
            true,
            &check.verdict,
            format!("drifted: {}", check.drifted_features.join(", ")),
        ),
        Some(check) => set(
            &mut conditions,
            condition::DRIFTED,
            false,
            "NoDrift",
            format!("last verdict: {}", check.verdict),
        ),
        None => set(
            &mut conditions,
            condition::DRIFTED,
            false,
            "NotChecked",
            "no check has run yet".into(),
        ),
    }
    match &status.last_check {
        Some(check) if check.verdict == "Failed" => set(
            &mut conditions,
            condition::DEGRADED,
            true,
            "CheckFailed",
            check.message.clone().unwrap_or_default(),
        ),
        _ => set(
            &mut conditions,
            condition::DEGRADED,
            false,
            "AsExpected",
            "checks succeed".into(),
        ),
    }
    status.conditions = conditions;
    status.observed_generation = generation;
    Ok(PolicyPlan {
        status,
        cronjob,
        retrain,
        recorded,
        events,
        model_events,
    })
}
