//! The DriftPolicy controller: keeps the check CronJob in place, records every
//! finished check from its termination message, decides on retraining (with
//! the cooldown). Notifications are sent by the check Job (which has the
//! Secrets by reference); their outcome arrives in its result. fetch → validate → plan (pure) → apply.

pub mod check;
pub mod performance;
pub mod plan;
pub mod retrain;
pub mod status;
pub mod validate;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use crate::apply::{
    apply_or_reject, apply_status, delete_child, reject_invalid_spec, Live, STALE_RETRY,
};
use crate::build::drift_cronjob_name;
use crate::context::Context;
use crate::controller::namespace_of;
use crate::crd::{DriftPolicy, InvalidSpec};
use crate::error::Result;
use crate::events::publish;
use crate::stores::lookup;

pub use check::{unrecorded_check, CHECK_HISTORY_LIMIT};
pub use plan::{plan, ModelLookup, PolicyPlan, PolicyWorld};
pub use retrain::{decide_retrain, retrain_cause, RetrainCause, RetrainDecision};
pub use status::{health, invalid_status, set_conditions, PolicyFacts};
pub use validate::validate;

const CONTROLLER: &str = "DriftPolicy";
const RESYNC: Duration = Duration::from_secs(600);

/// Everything from the reflector stores: no request.
fn fetch(ctx: &Context, policy: &DriftPolicy, namespace: &str) -> PolicyWorld {
    let model_name = &policy.spec.model_ref.name;
    let name = policy.name_any();
    let stores = &ctx.stores;
    PolicyWorld {
        model: match stores.model(namespace, model_name).as_deref() {
            None => ModelLookup::Missing,
            Some(guard) => match &guard.0 {
                Ok(model) => ModelLookup::Found(Box::new(model.clone())),
                Err(invalid) => ModelLookup::Unreadable(invalid.error.to_string()),
            },
        },
        cronjob: lookup(
            &stores.check_cronjobs,
            namespace,
            &drift_cronjob_name(policy),
        ),
        check_jobs: stores.check_jobs(namespace, &name),
        check_pods: stores.check_pods(namespace, &name),
        training_jobs: stores.training_jobs(namespace, model_name),
    }
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
        Some(cronjob) => {
            let live = world.cronjob.as_ref().map(Live::Metadata);
            apply_or_reject(&cronjobs, cronjob, live).await?
        }
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
    let world = fetch(&ctx, &policy, &namespace);
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
    // The check is recorded first; only then are Events published, so a
    // reconcile on a stale copy (a conflict) does not repeat them.
    let written = match apply_status(&policies, &policy, policy.status.as_ref(), &plan.status).await
    {
        Err(e) if e.is_conflict() => return Ok(Action::requeue(STALE_RETRY)),
        written => written?,
    };
    if written.is_some() {
        record_side_effects(&ctx, &policy, &world, &plan, &namespace).await;
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

/// After the status holding the decisions is written: metrics, Events.
async fn record_side_effects(
    ctx: &Context,
    policy: &DriftPolicy,
    world: &PolicyWorld,
    plan: &PolicyPlan,
    namespace: &str,
) {
    if let Some(summary) = &plan.recorded {
        ctx.metrics.drift_check(
            namespace,
            &policy.spec.model_ref.name,
            &policy.name_any(),
            summary,
        );
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
