//! The DriftPolicy controller: keeps the check CronJob in place, records every
//! finished check from its termination message, decides on retraining (with
//! the cooldown) and notifies webhooks. fetch → validate → plan (pure) → apply.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::ListParams;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use vigil_core::drift::rules::RetrainSpec;
use vigil_core::drift::{DriftJobConfig, DriftSummary, Verdict};

use crate::apply::{
    apply_child, apply_status, delete_child, reject_invalid_spec, termination_message, STALE_RETRY,
};
use crate::build::{
    build_drift_cronjob, build_training_job, drift_cronjob_name, train_job_config,
    training_job_name, BuildError, MANAGED_BY,
};
use crate::context::Context;
use crate::crd::{DriftCheck, DriftPolicy, DriftPolicyStatus, MonitoredModel};
use crate::error::{Error, Result};
use crate::events::publish;
use crate::jobs::{created_at, job_state, newest, JobState, POLICY_LABEL};
use crate::model::training_selector;
use crate::notify;
use crate::status::{condition, rfc3339, set_condition, set_invalid_spec, EventNote};

const CONTROLLER: &str = "DriftPolicy";
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

pub fn validate(policy: &DriftPolicy, model: Option<&MonitoredModel>) -> Result<(), String> {
    policy.spec.rules.check().map_err(|e| e.to_string())?;
    if let Some(model) = model {
        policy
            .spec
            .rules
            .check_features(&model.spec.schema)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
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

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
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
                        policy: policy.spec.rules.clone(),
                    };
                    cronjob = Some(build_drift_cronjob(policy, model, &config, image)?);
                    set(
                        &mut conditions,
                        condition::READY,
                        true,
                        "Scheduled",
                        format!(
                            "checks of {version} run on `{}` over the last {}",
                            policy.spec.rules.schedule, policy.spec.rules.window
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
                    policy.spec.rules.actions.retrain.as_ref(),
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

/// The status of a policy whose spec is invalid.
pub fn invalid_status(
    policy: &DriftPolicy,
    message: &str,
    now: DateTime<Utc>,
) -> DriftPolicyStatus {
    let mut status = policy.status.clone().unwrap_or_default();
    status.observed_generation = policy.metadata.generation;
    set_invalid_spec(
        &mut status.conditions,
        message,
        policy.metadata.generation,
        now,
    );
    status
}

async fn fetch(ctx: &Context, policy: &DriftPolicy, namespace: &str) -> Result<PolicyWorld> {
    let client = ctx.client.clone();
    let models: Api<MonitoredModel> = Api::namespaced(client.clone(), namespace);
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), namespace);
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    let model = models.get_opt(&policy.spec.model_ref.name).await?;
    let mut world = PolicyWorld {
        cronjob: cronjobs.get_opt(&drift_cronjob_name(policy)).await?,
        drift_jobs: jobs
            .list(&ListParams::default().labels(&drift_selector(&policy.name_any())))
            .await?
            .items,
        ..PolicyWorld::default()
    };
    if let Some(job) = unrecorded_check(policy, &world.drift_jobs) {
        let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
        world.result = termination_message(&pods, &job.name_any()).await?;
        let training = jobs
            .list(&ListParams::default().labels(&training_selector(&policy.spec.model_ref.name)))
            .await?
            .items;
        world.training_running = training.iter().any(|j| !job_state(j).finished());
    }
    world.model = model;
    Ok(world)
}

/// Sends the recorded check to every webhook that asks for its verdict; the
/// outcome (never the URL) goes into the check's `notified`.
async fn notify_webhooks(
    ctx: &Context,
    policy: &DriftPolicy,
    namespace: &str,
    summary: &DriftSummary,
) -> Option<String> {
    let targets: Vec<_> = policy
        .spec
        .rules
        .actions
        .notify
        .iter()
        .filter(|t| notify::wanted(&t.verdicts, summary.verdict()))
        .collect();
    if targets.is_empty() {
        return None;
    }
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let payload = notify::payload(
        namespace,
        &policy.spec.model_ref.name,
        &policy.name_any(),
        summary,
    );
    let mut failures = Vec::new();
    for target in &targets {
        let reference = &target.webhook.url_secret_ref;
        let url = match secrets.get_opt(&reference.name).await {
            Ok(secret) => secret
                .and_then(|s| s.data)
                .and_then(|d| d.get(&reference.key).cloned())
                .and_then(|v| String::from_utf8(v.0).ok()),
            Err(e) => {
                failures.push(format!("secret {}: {e}", reference.name));
                continue;
            }
        };
        let Some(url) = url else {
            failures.push(format!(
                "secret {} has no key {}",
                reference.name, reference.key
            ));
            continue;
        };
        if let Err(e) = notify::send(&ctx.http, url.trim(), &payload).await {
            failures.push(format!("webhook from secret {}: {e}", reference.name));
        }
    }
    let sent = targets.len() - failures.len();
    let mut text = format!("notified {sent} of {} webhook(s)", targets.len());
    if !failures.is_empty() {
        tracing::warn!(policy = %policy.name_any(), failures = ?failures, "webhooks failed");
        text.push_str(&format!("; {}", failures.join("; ")));
    }
    Some(text)
}

/// One reconcile of a DriftPolicy.
#[tracing::instrument(skip_all, fields(namespace = policy.namespace(), name = %policy.name_any()))]
pub async fn reconcile(policy: Arc<DriftPolicy>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile(CONTROLLER);
    let namespace = policy.namespace().ok_or_else(|| Error::NoNamespace {
        kind: "DriftPolicy",
        name: policy.name_any(),
    })?;
    let now = ctx.now();
    let policies: Api<DriftPolicy> = Api::namespaced(ctx.client.clone(), &namespace);
    let world = fetch(&ctx, &policy, &namespace).await?;
    if let Err(message) = validate(&policy, world.model.as_ref()) {
        let status = invalid_status(&policy, &message, now);
        return reject_invalid_spec(
            &ctx,
            &policies,
            policy.as_ref(),
            policy.status.as_ref(),
            &status,
            message,
        )
        .await;
    }
    ctx.metrics.check_schedule(
        &namespace,
        &policy.spec.model_ref.name,
        &policy.name_any(),
        &policy.spec.rules.schedule,
    );
    let plan = plan(&policy, &world, &ctx.image, now)?;
    let cronjobs: Api<CronJob> = Api::namespaced(ctx.client.clone(), &namespace);
    match &plan.cronjob {
        Some(cronjob) => apply_child(&cronjobs, cronjob, world.cronjob.as_ref()).await?,
        // The model is gone: stop checking a store nobody serves from.
        None => delete_child(&cronjobs, world.cronjob.as_ref()).await?,
    };
    if let Some(job) = &plan.retrain {
        let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
        apply_child(&jobs, job, None).await?;
    }
    // The check is recorded first; only then are webhooks called and Events
    // published, so a reconcile on a stale copy (a conflict) repeats neither.
    let written = match apply_status(&policies, &policy, policy.status.as_ref(), &plan.status).await
    {
        Err(e) if e.is_conflict() => return Ok(Action::requeue(STALE_RETRY)),
        written => written?,
    };
    let Some(updated) = written else {
        return Ok(Action::requeue(std::time::Duration::from_secs(600)));
    };
    if let Some(summary) = &plan.recorded {
        ctx.metrics.drift_check(
            &namespace,
            &policy.spec.model_ref.name,
            &policy.name_any(),
            summary,
        );
        if let Some(notified) = notify_webhooks(&ctx, &policy, &namespace, summary).await {
            let mut status = plan.status.clone();
            for check in [status.last_check.as_mut(), status.history.last_mut()]
                .into_iter()
                .flatten()
            {
                check.notified = Some(notified.clone());
            }
            // Best effort: the webhooks were called whether or not this lands.
            if let Err(e) =
                apply_status(&policies, &updated, updated.status.as_ref(), &status).await
            {
                tracing::warn!(error = %e, "cannot record the webhook outcome");
            }
        }
    }
    for event in &plan.events {
        publish(&ctx, policy.as_ref(), event).await;
    }
    if let Some(model) = &world.model {
        for event in &plan.model_events {
            publish(&ctx, model, event).await;
            ctx.metrics
                .model_event(&namespace, &model.name_any(), event.reason);
        }
    }
    Ok(Action::requeue(std::time::Duration::from_secs(600)))
}
