//! The decision of one MonitoredModel reconcile: the new status and every
//! desired child, from the spec, the old status and the observed world. Pure.

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::core::PartialObjectMeta;
use kube::ResourceExt;
use vigil_core::train::config::TrainJobConfig;

use super::promotion::approve;
use super::serving::{inference_problem, observe_rollout, reconcile_serving};
use super::status::{drift_status, set_conditions, ModelFacts};
use super::training::{next_training, observe_training, retry_at, TrainingStart, TrainingView};
use super::APPROVE_ANNOTATION;
use crate::build::{
    build_pdb, build_service, build_serving_deployment, build_training_cronjob, build_training_job,
    serving_name, train_job_config, BuildError,
};
use crate::crd::{DriftPolicy, MonitoredModel, MonitoredModelStatus, TrainingOutcome, TrainingRun};
use crate::events::{reason as event, EventNote};
use crate::observe::{rollout, Rollout};
use crate::time::rfc3339;

/// What the cluster holds for one MonitoredModel.
#[derive(Clone, Debug, Default)]
pub struct ModelWorld {
    /// Whole: its status is the rollout.
    pub deployment: Option<Deployment>,
    /// The other children as metadata: only their applied intent is compared.
    pub service: Option<PartialObjectMeta<Service>>,
    pub pdb: Option<PartialObjectMeta<PodDisruptionBudget>>,
    pub cronjob: Option<PartialObjectMeta<CronJob>>,
    /// The model's training Jobs (one-off and scheduled).
    pub training_jobs: Vec<Job>,
    /// The model's Pods: those of its training Jobs and the inference Pods.
    pub pods: Vec<Pod>,
    /// The DriftPolicies (that deserialize) whose `modelRef` names this model.
    pub policies: Vec<DriftPolicy>,
}

/// Everything the apply step writes.
#[derive(Clone, Debug)]
pub struct ModelPlan {
    pub status: MonitoredModelStatus,
    pub deployment: Option<Deployment>,
    pub service: Service,
    pub pdb: Option<PodDisruptionBudget>,
    pub cronjob: Option<CronJob>,
    pub start_training: Option<Job>,
    pub events: Vec<EventNote>,
    /// The Event announcing a new failure the conditions show (recomputed with
    /// the conditions when the apply step learns of a refused write).
    pub announce: Option<EventNote>,
    /// What the conditions were computed from (the apply step adds a refused write).
    pub facts: ModelFacts,
    /// Look again after this long although nothing changes (a retry backoff,
    /// a Pod watch that lags behind).
    pub requeue_after: Option<Duration>,
}

fn started_run(start: &TrainingStart, now: DateTime<Utc>) -> TrainingRun {
    TrainingRun {
        job: start.name.clone(),
        trigger: start.trigger,
        started_at: rfc3339(now),
        finished_at: None,
        outcome: TrainingOutcome::Running,
        version: None,
        reason: None,
        message: None,
        attempt: start.attempt,
    }
}

/// The Job of a training that starts now, recorded in status as running.
fn start_job(
    model: &MonitoredModel,
    start: &TrainingStart,
    (config, image): (&TrainJobConfig, &str),
    status: &mut MonitoredModelStatus,
    training: &mut TrainingView,
    events: &mut Vec<EventNote>,
    now: DateTime<Utc>,
) -> Result<Job, BuildError> {
    let run = started_run(start, now);
    let job = build_training_job(
        model,
        &start.name,
        start.trigger,
        start.attempt,
        config,
        image,
    )?;
    events.push(EventNote::normal(
        event::TRAINING_STARTED,
        format!("{} training in Job {}", run.trigger, run.job),
    ));
    training.running = Some(run.job.clone());
    status.last_training = Some(run);
    Ok(job)
}

/// The decision: new status and every desired child. Pure.
pub fn plan(
    model: &MonitoredModel,
    world: &ModelWorld,
    default_image: &str,
    now: DateTime<Utc>,
) -> Result<ModelPlan, BuildError> {
    let mut status = model.status.clone().unwrap_or_default();
    let mut training = observe_training(&mut status, model, &world.training_jobs, &world.pods, now);
    let mut events = std::mem::take(&mut training.events);

    if let Some(version) = model.annotations().get(APPROVE_ANNOTATION) {
        events.extend(approve(&mut status, version, now));
    }
    let pinned = model.spec.serving.pinned_version.as_deref();
    events.extend(reconcile_serving(&mut status, pinned, now));
    let observed = rollout(world.deployment.as_ref(), model.spec.serving.replicas);
    let (target, rollback) = observe_rollout(
        &mut status,
        observed.as_ref(),
        &world.pods,
        pinned.is_some(),
        now,
    );
    events.extend(rollback);

    let image = model.spec.serving.image.as_deref().unwrap_or(default_image);
    let config = train_job_config(model, status.serving_version.as_deref());
    let (start, retry) = next_training(&mut status, model, training.running.is_some(), now);
    let start_training = match &start {
        Some(start) => Some(start_job(
            model,
            start,
            (&config, image),
            &mut status,
            &mut training,
            &mut events,
            now,
        )?),
        None => None,
    };

    let deployment = target
        .as_deref()
        .map(|version| build_serving_deployment(model, version, image))
        .transpose()?;
    status.drift = drift_status(&world.policies);
    status.endpoint = model
        .namespace()
        .map(|ns| format!("http://{}.{ns}.svc", serving_name(model)));
    let rolling = !matches!(&observed, Some(Rollout::Complete { version }) if Some(version) == target.as_ref());
    let facts = ModelFacts {
        inference_problem: target
            .as_deref()
            .filter(|_| rolling)
            .and_then(|v| inference_problem(&world.pods, v)),
        target,
        rollout: observed,
        retry_at: retry.and_then(|_| retry_at(&status)),
        training,
        pinned: pinned.is_some(),
        rejected: None,
    };
    status.observed_generation = model.metadata.generation;
    let announce = set_conditions(&mut status, model, &facts, now);
    let requeue_after = [retry, facts.training.recheck].into_iter().flatten().min();
    Ok(ModelPlan {
        status,
        deployment,
        service: build_service(model)?,
        pdb: build_pdb(model)?,
        cronjob: build_training_cronjob(model, &config, image)?,
        start_training,
        events,
        announce,
        facts,
        requeue_after,
    })
}
