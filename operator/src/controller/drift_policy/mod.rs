//! The DriftPolicy controller: keeps the check CronJob in place, records every
//! finished check from its termination message, decides on retraining (with
//! the cooldown) and notifies webhooks. fetch → validate → plan (pure) → apply.

pub mod check;
pub mod plan;
pub mod retrain;
pub mod status;
pub mod validate;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use vigil_core::drift::DriftSummary;

use crate::apply::{apply_or_reject, apply_status, delete_child, reject_invalid_spec, STALE_RETRY};
use crate::build::drift_cronjob_name;
use crate::context::Context;
use crate::controller::namespace_of;
use crate::crd::{DriftPolicy, InvalidSpec};
use crate::error::Result;
use crate::events::publish;
use crate::notify;

pub use check::{unrecorded_check, CHECK_HISTORY_LIMIT};
pub use plan::{plan, ModelLookup, PolicyPlan, PolicyWorld};
pub use retrain::{decide_retrain, RetrainDecision};
pub use status::{health, invalid_status, set_conditions, PolicyFacts};
pub use validate::validate;

const CONTROLLER: &str = "DriftPolicy";
const RESYNC: Duration = Duration::from_secs(600);

/// The CronJob by name from the API server; the model, Jobs and Pods from the
/// reflector stores.
async fn fetch(ctx: &Context, policy: &DriftPolicy, namespace: &str) -> Result<PolicyWorld> {
    let cronjobs: Api<CronJob> = Api::namespaced(ctx.client.clone(), namespace);
    let model_name = &policy.spec.model_ref.name;
    let name = policy.name_any();
    let stores = &ctx.stores;
    Ok(PolicyWorld {
        model: match stores.model(namespace, model_name).as_deref() {
            None => ModelLookup::Missing,
            Some(guard) => match &guard.0 {
                Ok(model) => ModelLookup::Found(Box::new(model.clone())),
                Err(invalid) => ModelLookup::Unreadable(invalid.error.to_string()),
            },
        },
        cronjob: cronjobs.get_opt(&drift_cronjob_name(policy)).await?,
        check_jobs: stores.check_jobs(namespace, &name),
        check_pods: stores.check_pods(namespace, &name),
        training_jobs: stores.training_jobs(namespace, model_name),
    })
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

/// Applies the CronJob and a retraining Job; a refusal goes into the
/// conditions (and a refused retrain records nothing, so the next pass decides
/// again).
async fn apply_children(
    ctx: &Context,
    policy: &DriftPolicy,
    namespace: &str,
    world: &PolicyWorld,
    plan: &mut PolicyPlan,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let cronjobs: Api<CronJob> = Api::namespaced(ctx.client.clone(), namespace);
    let mut rejected = match &plan.cronjob {
        Some(cronjob) => apply_or_reject(&cronjobs, cronjob, world.cronjob.as_ref()).await?,
        None if plan.keep_cronjob => None,
        // No model, or one that serves nothing: stop checking.
        None => {
            delete_child(&cronjobs, world.cronjob.as_ref()).await?;
            None
        }
    };
    if let Some(job) = &plan.retrain {
        let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), namespace);
        if let Some(r) = apply_or_reject(&jobs, job, None).await? {
            plan.status = policy.status.clone().unwrap_or_default();
            plan.status.observed_generation = policy.metadata.generation;
            plan.events.clear();
            plan.model_events.clear();
            plan.recorded = None;
            rejected = rejected.or(Some(r));
        }
    }
    if let Some(r) = rejected {
        plan.facts.rejected = Some(r);
        // Decided again from the conditions the object had, so that an
        // unchanged refusal changes nothing (no write, no Event).
        plan.status.conditions = policy
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default();
        plan.announce = set_conditions(&mut plan.status, policy, &plan.facts, now);
    }
    Ok(())
}

/// One reconcile of a DriftPolicy.
#[tracing::instrument(skip_all, fields(namespace = policy.namespace(), name = %policy.name_any()))]
pub async fn reconcile(policy: Arc<DriftPolicy>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile(CONTROLLER);
    let namespace = namespace_of(policy.as_ref(), "DriftPolicy")?;
    let now = ctx.now();
    let policies: Api<DriftPolicy> = Api::namespaced(ctx.client.clone(), &namespace);
    let world = fetch(&ctx, &policy, &namespace).await?;
    let model = match &world.model {
        ModelLookup::Found(model) => Some(model.as_ref()),
        _ => None,
    };
    if let Err(InvalidSpec(message)) = validate(&policy, model) {
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
    let mut plan = plan(&policy, &world, &ctx.image, now)?;
    apply_children(&ctx, &policy, &namespace, &world, &mut plan, now).await?;
    // The check is recorded first; only then are webhooks called and Events
    // published, so a reconcile on a stale copy (a conflict) repeats neither.
    let written = match apply_status(&policies, &policy, policy.status.as_ref(), &plan.status).await
    {
        Err(e) if e.is_conflict() => return Ok(Action::requeue(STALE_RETRY)),
        written => written?,
    };
    if let Some(updated) = written {
        record_side_effects(&ctx, &policy, &world, &plan, &namespace, updated).await;
    }
    let key = format!("{namespace}/{}", policy.name_any());
    if let Some(r) = &plan.facts.rejected {
        ctx.metrics.failure(CONTROLLER, r.metric_label());
        return Ok(Action::requeue(ctx.next_backoff(&key)));
    }
    ctx.reset_backoff(&key);
    Ok(Action::requeue(
        plan.requeue_after.map_or(RESYNC, |d| d.min(RESYNC)),
    ))
}

/// After the status holding the decisions is written: metrics, webhooks, Events.
async fn record_side_effects(
    ctx: &Context,
    policy: &DriftPolicy,
    world: &PolicyWorld,
    plan: &PolicyPlan,
    namespace: &str,
    updated: DriftPolicy,
) {
    let policies: Api<DriftPolicy> = Api::namespaced(ctx.client.clone(), namespace);
    if let Some(summary) = &plan.recorded {
        ctx.metrics.drift_check(
            namespace,
            &policy.spec.model_ref.name,
            &policy.name_any(),
            summary,
        );
        if let Some(notified) = notify_webhooks(ctx, policy, namespace, summary).await {
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
    for event in plan.events.iter().chain(&plan.announce) {
        publish(ctx, policy, event).await;
    }
    if let ModelLookup::Found(model) = &world.model {
        for event in &plan.model_events {
            publish(ctx, model.as_ref(), event).await;
            ctx.metrics
                .model_event(namespace, &model.name_any(), event.reason);
        }
    }
}
