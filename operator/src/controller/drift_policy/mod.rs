//! The DriftPolicy controller: keeps the check CronJob in place, records every
//! finished check from its termination message, decides on retraining (with
//! the cooldown) and notifies webhooks. fetch → validate → plan (pure) → apply.

pub mod plan;
pub mod retrain;
pub mod status;
pub mod validate;

use std::sync::Arc;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::ListParams;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use vigil_core::drift::DriftSummary;

use crate::apply::{
    apply_child, apply_status, delete_child, reject_invalid_spec, termination_message, STALE_RETRY,
};
use crate::build::drift_cronjob_name;
use crate::context::Context;
use crate::controller::monitored_model::training_selector;
use crate::crd::{DriftPolicy, MonitoredModel};
use crate::error::{Error, Result};
use crate::events::publish;
use crate::notify;
use crate::observe::job_state;

pub use plan::{drift_selector, plan, unrecorded_check, PolicyPlan, PolicyWorld};
pub use retrain::{decide_retrain, RetrainDecision};
pub use status::invalid_status;
pub use validate::validate;

const CONTROLLER: &str = "DriftPolicy";

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
        .policy
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
        }
    }
    Ok(Action::requeue(std::time::Duration::from_secs(600)))
}
