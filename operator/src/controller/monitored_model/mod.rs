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

pub mod plan;
pub mod promotion;
pub mod serving;
pub mod status;
pub mod training;
pub mod validate;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use crate::apply::{
    apply_or_reject, apply_status, delete_child, reject_invalid_spec, Live, Rejection, STALE_RETRY,
};
use crate::build::{serving_name, training_cronjob_name};
use crate::context::Context;
use crate::controller::namespace_of;
use crate::crd::{InvalidSpec, MonitoredModel};
use crate::error::Result;
use crate::events::{publish, reason as event};
use crate::stores::lookup;

pub use plan::{plan, ModelPlan, ModelWorld};
pub use status::{health, invalid_status, set_conditions, ModelFacts};
pub use validate::validate;

pub const APPROVE_ANNOTATION: &str = "vigil.dev/approve";
pub const TRAIN_REQUEST_ANNOTATION: &str = "vigil.dev/train-request";
const CONTROLLER: &str = "MonitoredModel";
/// How long a reconcile over an unchanged world may wait: the watches wake the
/// controller on every change; this bounds a missed event.
const RESYNC: Duration = Duration::from_secs(600);

/// Everything from the reflector stores: no request.
fn fetch(ctx: &Context, model: &MonitoredModel, namespace: &str) -> ModelWorld {
    let name = model.name_any();
    let stores = &ctx.stores;
    let serving = serving_name(model);
    ModelWorld {
        deployment: lookup(&stores.deployments, namespace, &serving),
        service: lookup(&stores.services, namespace, &serving),
        pdb: lookup(&stores.pdbs, namespace, &serving),
        cronjob: lookup(
            &stores.training_cronjobs,
            namespace,
            &training_cronjob_name(model),
        ),
        training_jobs: stores.training_jobs(namespace, &name),
        pods: stores.model_pods(namespace, &name),
        policies: stores.policies_of(namespace, &name),
    }
}

/// Applies every child; the first refused write comes back (the others are
/// still applied: one bad child does not hold the rest).
async fn apply_children(
    ctx: &Context,
    namespace: &str,
    world: &ModelWorld,
    plan: &ModelPlan,
) -> Result<(Option<Rejection>, Option<Rejection>)> {
    let client = ctx.client.clone();
    let mut rejected = None;
    if let Some(deployment) = &plan.deployment {
        let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
        let live = world.deployment.as_ref().map(Live::Whole);
        rejected = rejected.or(apply_or_reject(&api, deployment, live).await?);
    }
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let live = world.service.as_ref().map(Live::Metadata);
    rejected = rejected.or(apply_or_reject(&services, &plan.service, live).await?);
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), namespace);
    match &plan.pdb {
        Some(pdb) => {
            let live = world.pdb.as_ref().map(Live::Metadata);
            rejected = rejected.or(apply_or_reject(&pdbs, pdb, live).await?)
        }
        None => drop(delete_child(&pdbs, world.pdb.as_ref()).await?),
    }
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), namespace);
    match &plan.cronjob {
        Some(cronjob) => {
            let live = world.cronjob.as_ref().map(Live::Metadata);
            rejected = rejected.or(apply_or_reject(&cronjobs, cronjob, live).await?)
        }
        None => drop(delete_child(&cronjobs, world.cronjob.as_ref()).await?),
    }
    let mut job_rejected = None;
    if let Some(job) = &plan.start_training {
        let jobs: Api<Job> = Api::namespaced(client, namespace);
        job_rejected = apply_or_reject(&jobs, job, None).await?;
    }
    Ok((rejected, job_rejected))
}

/// A refused write goes into the conditions; a refused training Job did not start.
fn record_rejection(
    model: &MonitoredModel,
    plan: &mut ModelPlan,
    children: Option<Rejection>,
    job: Option<Rejection>,
    now: chrono::DateTime<chrono::Utc>,
) {
    if job.is_some() {
        let old = model.status.clone().unwrap_or_default();
        plan.status.last_training = old.last_training;
        plan.status.handled_train_request = old.handled_train_request;
        plan.events.retain(|e| e.reason != event::TRAINING_STARTED);
        plan.facts.training.running = None;
    }
    plan.facts.rejected = children.or(job);
    // Decided again from the conditions the object had, so that an unchanged
    // refusal changes nothing (no write, no Event).
    plan.status.conditions = model
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    plan.announce = set_conditions(&mut plan.status, model, &plan.facts, now);
}

/// One reconcile of a MonitoredModel.
#[tracing::instrument(skip_all, fields(namespace = model.namespace(), name = %model.name_any()))]
pub async fn reconcile(model: Arc<MonitoredModel>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile(CONTROLLER);
    let namespace = namespace_of(model.as_ref(), "MonitoredModel")?;
    let now = ctx.now();
    let models: Api<MonitoredModel> = Api::namespaced(ctx.client.clone(), &namespace);
    if let Err(InvalidSpec(message)) = validate(&model) {
        let status = invalid_status(&model, &message, now);
        ctx.metrics
            .model_conditions(&namespace, &model.name_any(), &status.conditions);
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
    let world = fetch(&ctx, &model, &namespace);
    let mut plan = plan(&model, &world, &ctx.image, now)?;
    let (children, job) = apply_children(&ctx, &namespace, &world, &plan).await?;
    let rejected = children.is_some() || job.is_some();
    if rejected {
        record_rejection(&model, &mut plan, children, job, now);
    }
    // Events only once their decision is in status (a stale reconcile gets a conflict).
    match apply_status(&models, model.as_ref(), model.status.as_ref(), &plan.status).await {
        Err(e) if e.is_conflict() => return Ok(Action::requeue(STALE_RETRY)),
        Err(e) => return Err(e),
        Ok(Some(_)) => {
            for note in plan.events.iter().chain(&plan.announce) {
                publish(&ctx, model.as_ref(), note).await;
                ctx.metrics
                    .model_event(&namespace, &model.name_any(), note.reason);
            }
        }
        Ok(None) => {}
    }
    ctx.metrics.serving(
        &namespace,
        &model.name_any(),
        plan.status.serving_version.as_deref(),
    );
    ctx.metrics
        .model_conditions(&namespace, &model.name_any(), &plan.status.conditions);
    let key = format!("{namespace}/{}", model.name_any());
    if let Some(r) = &plan.facts.rejected {
        ctx.metrics.failure(CONTROLLER, r.metric_label());
        return Ok(Action::requeue(ctx.next_backoff(&key)));
    }
    ctx.reset_backoff(&key);
    Ok(Action::requeue(
        plan.requeue_after.map_or(RESYNC, |d| d.min(RESYNC)),
    ))
}
