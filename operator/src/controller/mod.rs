//! The two controllers, each a pipeline of named steps in its own folder
//! (fetch → validate → plan → apply → status), and what they share: the
//! conditions, and the guard around objects that do not match their type.

pub mod conditions;
pub mod drift_policy;
pub mod monitored_model;

use std::sync::Arc;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use crate::context::Context;
use crate::crd::{DriftPolicy, MonitoredModel};
use crate::error::Error;
use crate::events::{publish_to, EventNote};

fn backoff_key<K: Resource>(object: &K) -> String {
    format!(
        "{}/{}",
        object.namespace().unwrap_or_default(),
        object.name_any()
    )
}

/// A resource the API server holds but that does not match the CRD's types
/// (e.g. written before an upgrade): reported once per change, never retried.
async fn reject_malformed<K>(ctx: &Context, guard: &DeserializeGuard<K>, kind: &str)
where
    K: Resource<DynamicType = ()>,
{
    if let Err(invalid) = &guard.0 {
        let name = invalid.metadata.name.clone().unwrap_or_default();
        tracing::warn!(kind, name = %name, error = %invalid.error, "cannot read the object");
        let reference = ObjectReference {
            api_version: Some(K::api_version(&()).to_string()),
            kind: Some(kind.to_string()),
            name: Some(name),
            namespace: invalid.metadata.namespace.clone(),
            uid: invalid.metadata.uid.clone(),
            ..ObjectReference::default()
        };
        let note = EventNote {
            warning: true,
            reason: "InvalidObject",
            note: format!(
                "the object does not match the {kind} schema: {}",
                invalid.error
            ),
        };
        publish_to(ctx, reference, &note).await;
    }
}

pub async fn reconcile_model(
    guard: Arc<DeserializeGuard<MonitoredModel>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let Ok(model) = &guard.0 else {
        reject_malformed(&ctx, &guard, "MonitoredModel").await;
        return Ok(Action::await_change());
    };
    let action = monitored_model::reconcile(Arc::new(model.clone()), ctx.clone()).await?;
    ctx.reset_backoff(&backoff_key(model));
    Ok(action)
}

pub async fn reconcile_policy(
    guard: Arc<DeserializeGuard<DriftPolicy>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let Ok(policy) = &guard.0 else {
        reject_malformed(&ctx, &guard, "DriftPolicy").await;
        return Ok(Action::await_change());
    };
    let action = drift_policy::reconcile(Arc::new(policy.clone()), ctx.clone()).await?;
    ctx.reset_backoff(&backoff_key(policy));
    Ok(action)
}

/// Transient failure: count it, log it, retry with an exponential backoff.
pub fn error_policy<K>(guard: Arc<DeserializeGuard<K>>, error: &Error, ctx: Arc<Context>) -> Action
where
    K: Resource<DynamicType = ()>,
    DeserializeGuard<K>: Resource,
{
    let controller = K::kind(&()).to_string();
    ctx.metrics.failure(&controller, error.metric_label());
    let key = backoff_key(guard.as_ref());
    let delay = ctx.next_backoff(&key);
    tracing::warn!(object = %key, reason = error.metric_label(), error = %error, retry_in_s = delay.as_secs(), "reconcile failed");
    Action::requeue(delay)
}
