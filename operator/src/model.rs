//! The MonitoredModel controller: fetch → validate → plan (pure: status and
//! every desired child) → apply → status.
//!
//! Annotations a user (or a pipeline) sets on a MonitoredModel:
//! - `vigil.dev/approve: <version>` promotes the waiting candidate of that
//!   version when `promotion.auto` is false;
//! - `vigil.dev/train-request: <any new value>` starts a training Job now.
//!
//! Annotations, not spec fields, because they are requests rather than desired
//! state: the operator never writes `spec`, and Argo CD can ignore them.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::ListParams;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use vigil_core::train::report::TrainSummary;

use crate::apply::{
    apply_child, apply_status, delete_child, reject_invalid_spec, termination_message, STALE_RETRY,
};
use crate::build::{
    build_pdb, build_service, build_serving_deployment, build_training_cronjob, build_training_job,
    serving_name, train_job_config, training_cronjob_name, training_job_name, BuildError,
    MANAGED_BY,
};
use crate::context::Context;
use crate::crd::{DriftPolicy, DriftStatus, MonitoredModel, MonitoredModelStatus, TrainingRun};
use crate::error::{Error, Result};
use crate::events::publish;
use crate::jobs::{created_at, job_state, newest, trigger, JobState};
use crate::status::{
    approve, condition, reconcile_serving, record_training, rfc3339, set_condition,
    set_invalid_spec, EventNote,
};

pub const APPROVE_ANNOTATION: &str = "vigil.dev/approve";
pub const TRAIN_REQUEST_ANNOTATION: &str = "vigil.dev/train-request";
const CONTROLLER: &str = "MonitoredModel";

/// What the API server holds for one MonitoredModel.
#[derive(Clone, Debug, Default)]
pub struct ModelWorld {
    pub deployment: Option<Deployment>,
    pub service: Option<Service>,
    pub pdb: Option<PodDisruptionBudget>,
    pub cronjob: Option<CronJob>,
    pub training_jobs: Vec<Job>,
    pub policies: Vec<DriftPolicy>,
    /// Termination message of the newest training Job, fetched only when that
    /// Job finished and its result is not in status yet.
    pub result: Option<String>,
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
}

/// Label selector of a model's training Jobs (one-off and scheduled).
pub fn training_selector(model: &str) -> String {
    format!(
        "app.kubernetes.io/instance={model},app.kubernetes.io/component=training,app.kubernetes.io/managed-by={MANAGED_BY}"
    )
}

/// The newest training Job when it has finished and its result is not recorded.
pub fn unrecorded_result<'a>(model: &MonitoredModel, jobs: &'a [Job]) -> Option<&'a Job> {
    let job = newest(jobs)?;
    let recorded = model
        .status
        .as_ref()
        .and_then(|s| s.last_training.as_ref())
        .is_some_and(|run| run.job == job.name_any() && run.outcome != "Running");
    (job_state(job).finished() && !recorded).then_some(job)
}

/// Cross-field checks the schema cannot express; the message names the field.
pub fn validate(model: &MonitoredModel) -> Result<(), String> {
    train_job_config(model, None)
        .check()
        .map_err(|e| e.to_string())?;
    model
        .spec
        .promotion
        .gates
        .check()
        .map_err(|e| e.to_string())?;
    vigil_core::data::storage::split_uri(&model.spec.storage.uri)
        .map_err(|e| format!("spec.storage.uri: {e}"))?;
    let serving = &model.spec.serving;
    if serving
        .pinned_version
        .as_deref()
        .is_some_and(|v| v.trim().is_empty())
    {
        return Err("spec.serving.pinnedVersion is empty: remove it to follow promotions".into());
    }
    let flush: vigil_core::span::Span = serving
        .logging
        .flush_interval
        .parse()
        .map_err(|e| format!("spec.serving.logging.flushInterval: {e}"))?;
    if flush > vigil_core::span::Span::from_hours(1) {
        return Err("spec.serving.logging.flushInterval must be at most 1h".into());
    }
    if let (Some(min), replicas) = (serving.min_available, serving.replicas) {
        if min > replicas {
            return Err(format!(
                "spec.serving.minAvailable ({min}) exceeds spec.serving.replicas ({replicas})"
            ));
        }
    }
    Ok(())
}

fn parse_training_result(job: &Job, message: Option<&str>) -> TrainSummary {
    match message {
        Some(text) => serde_json::from_str(text).unwrap_or_else(|e| TrainSummary::Failed {
            reason: "UnreadableResult".into(),
            message: format!("the training Pod's termination message is not a result: {e}"),
        }),
        None => TrainSummary::Failed {
            reason: "NoResult".into(),
            message: match job_state(job) {
                JobState::Failed(why) => format!("the Job failed without a result: {why}"),
                _ => "the training Pod left no termination message".into(),
            },
        },
    }
}

fn short_hash(text: &str) -> String {
    // FNV-1a: a stable, dependency-free name suffix for a request token.
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{:08x}", hash as u32)
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

/// The newest check of the DriftPolicies watching this model.
fn drift_status(policies: &[DriftPolicy]) -> Option<DriftStatus> {
    policies
        .iter()
        .filter_map(|p| {
            let status = p.status.as_ref()?;
            let check = status.last_check.as_ref()?;
            Some(DriftStatus {
                verdict: check.verdict.clone(),
                checked_at: check.checked_at.clone(),
                drifted_features: check.drifted_features.clone(),
                report_uri: check.report_uri.clone(),
                policy: p.name_any(),
                retrain: check.retrain.clone(),
            })
        })
        .max_by(|a, b| a.checked_at.cmp(&b.checked_at))
}

/// The decision: new status and every desired child. Pure.
pub fn plan(
    model: &MonitoredModel,
    world: &ModelWorld,
    default_image: &str,
    now: DateTime<Utc>,
) -> Result<ModelPlan, BuildError> {
    let mut status = model.status.clone().unwrap_or_default();
    let generation = model.metadata.generation;
    let mut events = Vec::new();

    let newest_job = newest(&world.training_jobs);
    if let Some(job) = newest_job {
        let run = TrainingRun {
            job: job.name_any(),
            trigger: trigger(job),
            started_at: created_at(job),
            finished_at: None,
            outcome: "Running".into(),
            version: None,
            message: None,
        };
        let known = status
            .last_training
            .as_ref()
            .is_some_and(|r| r.job == run.job);
        if job_state(job).finished() {
            if unrecorded_result(model, &world.training_jobs).is_some() {
                let started_at = match &status.last_training {
                    Some(r) if known => r.started_at.clone(),
                    _ => run.started_at.clone(),
                };
                let summary = parse_training_result(job, world.result.as_deref());
                events.extend(record_training(
                    &mut status,
                    TrainingRun { started_at, ..run },
                    &summary,
                    &model.spec.promotion,
                    now,
                ));
            }
        } else if !known {
            status.last_training = Some(run);
        }
    }

    if let Some(version) = model.annotations().get(APPROVE_ANNOTATION) {
        events.extend(approve(&mut status, version, now));
    }
    events.extend(reconcile_serving(
        &mut status,
        model.spec.serving.pinned_version.as_deref(),
        now,
    ));

    let image = model.spec.serving.image.as_deref().unwrap_or(default_image);
    let config = train_job_config(model, status.serving_version.as_deref());
    let training_running = newest_job.is_some_and(|j| !job_state(j).finished());
    let request = model
        .annotations()
        .get(TRAIN_REQUEST_ANNOTATION)
        .filter(|token| status.handled_train_request.as_ref() != Some(*token))
        .cloned();
    let start = if training_running {
        None
    } else if world.training_jobs.is_empty()
        && status.last_training.is_none()
        && status.promoted_version.is_none()
    {
        Some(("Initial", "initial".to_string()))
    } else {
        request.map(|token| {
            let suffix = format!("manual-{}", short_hash(&token));
            status.handled_train_request = Some(token);
            ("Manual", suffix)
        })
    };
    let start_training = match start {
        Some((trigger, suffix)) => {
            let name = training_job_name(model, &suffix);
            let job = build_training_job(model, name.clone(), trigger, &config, image)?;
            status.last_training = Some(TrainingRun {
                job: name.clone(),
                trigger: trigger.into(),
                started_at: rfc3339(now),
                finished_at: None,
                outcome: "Running".into(),
                version: None,
                message: None,
            });
            events.push(EventNote {
                warning: false,
                reason: "TrainingStarted",
                note: format!("{trigger} training in Job {name}"),
            });
            Some(job)
        }
        None => None,
    };

    let deployment = status
        .serving_version
        .as_deref()
        .map(|version| build_serving_deployment(model, version, image))
        .transpose()?;
    let service = build_service(model)?;
    let pdb = build_pdb(model)?;
    let cronjob = build_training_cronjob(model, &config, image)?;

    status.drift = drift_status(&world.policies);
    status.endpoint = model
        .namespace()
        .map(|ns| format!("http://{}.{ns}.svc", serving_name(model)));
    status.observed_generation = generation;
    set_conditions(
        &mut status,
        model,
        world,
        training_running || start_training.is_some(),
        now,
    );
    Ok(ModelPlan {
        status,
        deployment,
        service,
        pdb,
        cronjob,
        start_training,
        events,
    })
}

fn set_conditions(
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

async fn fetch(ctx: &Context, model: &MonitoredModel, namespace: &str) -> Result<ModelWorld> {
    let client = ctx.client.clone();
    let name = model.name_any();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), namespace);
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), namespace);
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    let policies: Api<DriftPolicy> = Api::namespaced(client.clone(), namespace);
    let serving = serving_name(model);
    let mut world = ModelWorld {
        deployment: deployments.get_opt(&serving).await?,
        service: services.get_opt(&serving).await?,
        pdb: pdbs.get_opt(&serving).await?,
        cronjob: cronjobs.get_opt(&training_cronjob_name(model)).await?,
        training_jobs: jobs
            .list(&ListParams::default().labels(&training_selector(&name)))
            .await?
            .items,
        policies: policies
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter(|p| p.spec.model_ref.name == name)
            .collect(),
        result: None,
    };
    if let Some(job) = unrecorded_result(model, &world.training_jobs) {
        let pods: Api<Pod> = Api::namespaced(client, namespace);
        world.result = termination_message(&pods, &job.name_any()).await?;
    }
    Ok(world)
}

async fn apply(
    ctx: &Context,
    model: &MonitoredModel,
    namespace: &str,
    world: &ModelWorld,
    plan: &ModelPlan,
) -> Result<()> {
    let client = ctx.client.clone();
    if let Some(deployment) = &plan.deployment {
        let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
        apply_child(&api, deployment, world.deployment.as_ref()).await?;
    }
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    apply_child(&services, &plan.service, world.service.as_ref()).await?;
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), namespace);
    match &plan.pdb {
        Some(pdb) => apply_child(&pdbs, pdb, world.pdb.as_ref()).await?,
        None => delete_child(&pdbs, world.pdb.as_ref()).await?,
    };
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), namespace);
    match &plan.cronjob {
        Some(cronjob) => apply_child(&cronjobs, cronjob, world.cronjob.as_ref()).await?,
        None => delete_child(&cronjobs, world.cronjob.as_ref()).await?,
    };
    if let Some(job) = &plan.start_training {
        let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
        apply_child(&jobs, job, None).await?;
    }
    let models: Api<MonitoredModel> = Api::namespaced(client, namespace);
    // Events only once their decision is in status (a stale reconcile gets a conflict).
    if apply_status(&models, model, model.status.as_ref(), &plan.status)
        .await?
        .is_some()
    {
        for event in &plan.events {
            publish(ctx, model, event).await;
            ctx.metrics
                .model_event(namespace, &model.name_any(), event.reason);
        }
    }
    Ok(())
}

/// One reconcile of a MonitoredModel.
#[tracing::instrument(skip_all, fields(namespace = model.namespace(), name = %model.name_any()))]
pub async fn reconcile(model: Arc<MonitoredModel>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile(CONTROLLER);
    let namespace = model.namespace().ok_or_else(|| Error::NoNamespace {
        kind: "MonitoredModel",
        name: model.name_any(),
    })?;
    let now = ctx.now();
    if let Err(message) = validate(&model) {
        let status = invalid_status(&model, &message, now);
        ctx.metrics
            .model_conditions(&namespace, &model.name_any(), &status.conditions);
        let models: Api<MonitoredModel> = Api::namespaced(ctx.client.clone(), &namespace);
        return reject_invalid_spec(
            &ctx,
            &models,
            model.as_ref(),
            model.status.as_ref(),
            &status,
            message,
        )
        .await;
    }
    let world = fetch(&ctx, &model, &namespace).await?;
    let plan = plan(&model, &world, &ctx.image, now)?;
    match apply(&ctx, &model, &namespace, &world, &plan).await {
        Err(e) if e.is_conflict() => return Ok(Action::requeue(STALE_RETRY)),
        applied => applied?,
    }
    ctx.metrics.serving(
        &namespace,
        &model.name_any(),
        plan.status.serving_version.as_deref(),
    );
    ctx.metrics
        .model_conditions(&namespace, &model.name_any(), &plan.status.conditions);
    // Level-based: the watches wake us on change; the requeue only bounds
    // how long a missed event can go unnoticed.
    Ok(Action::requeue(std::time::Duration::from_secs(600)))
}
