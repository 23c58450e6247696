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
pub mod status;
pub mod validate;

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::ListParams;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use crate::apply::{
    apply_child, apply_status, delete_child, reject_invalid_spec, termination_message, STALE_RETRY,
};
use crate::build::{serving_name, training_cronjob_name};
use crate::context::Context;
use crate::crd::{DriftPolicy, MonitoredModel};
use crate::error::{Error, Result};
use crate::events::publish;

pub use plan::{plan, training_selector, unrecorded_result, ModelPlan, ModelWorld};
pub use status::invalid_status;
pub use validate::validate;

pub const APPROVE_ANNOTATION: &str = "vigil.dev/approve";
pub const TRAIN_REQUEST_ANNOTATION: &str = "vigil.dev/train-request";
const CONTROLLER: &str = "MonitoredModel";

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
    // Level-based: the watches wake us on change; the requeue only bounds
    // how long a missed event can go unnoticed.
    Ok(Action::requeue(std::time::Duration::from_secs(600)))
}
