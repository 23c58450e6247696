//! The two controllers, each a pipeline of named steps in its own folder
//! (fetch → validate → plan → apply → status), and what they share: the
//! conditions, and the guard around objects that do not match their type.

pub mod conditions;
pub mod drift_policy;
pub mod monitored_model;

use std::sync::Arc;

use conditions::{reason, Health};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use crate::apply::FIELD_MANAGER;
use crate::context::Context;
use crate::crd::{DriftPolicy, MonitoredModel};
use crate::error::Error;
use crate::events::{publish_to, reason as event, EventNote};

/// The namespace of a namespaced object; the API server always sets it, so its absence
/// is an error of the object, not a panic.
pub fn namespace_of<K: Resource>(object: &K, kind: &'static str) -> Result<String, Error> {
    object.namespace().ok_or_else(|| Error::NoNamespace {
        kind,
        name: object.name_any(),
    })
}

fn backoff_key<K: Resource>(object: &K) -> String {
    format!(
        "{}/{}",
        object.namespace().unwrap_or_default(),
        object.name_any()
    )
}

/// A resource the API server holds but that does not match the CRD's types
/// (written before an upgrade, or by a tool that mangled a key): `Stalled` and
/// `Degraded` with reason `InvalidObject` on the object itself, and one Event,
/// once per generation; never retried (a change of the object wakes us).
async fn reject_malformed<K>(ctx: &Context, guard: &DeserializeGuard<K>) -> Result<(), Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let Err(invalid) = &guard.0 else {
        return Ok(());
    };
    let kind = K::kind(&());
    let meta = &invalid.metadata;
    let name = meta.name.clone().unwrap_or_default();
    let generation = meta.generation.unwrap_or(0);
    tracing::warn!(kind = %kind, name = %name, error = %invalid.error, "cannot read the object");
    if !ctx.first_report_of_invalid(meta.uid.as_deref().unwrap_or(&name), generation) {
        return Ok(());
    }
    let message = format!(
        "the object does not match the {kind} schema ({}): fix it with kubectl edit, or apply it again",
        invalid.error
    );
    if let Some(namespace) = &meta.namespace {
        let mut conditions = Vec::new();
        Health::blocked(reason::INVALID_OBJECT, message.clone()).apply(
            &mut conditions,
            meta.generation,
            ctx.now(),
        );
        let api: Api<DeserializeGuard<K>> = Api::namespaced(ctx.client.clone(), namespace);
        let patch =
            json!({"status": {"observedGeneration": meta.generation, "conditions": conditions}});
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        match api
            .patch_status(&name, &params, &Patch::Merge(&patch))
            .await
        {
            Ok(_) | Err(kube::Error::Api(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let reference = ObjectReference {
        api_version: Some(K::api_version(&()).to_string()),
        kind: Some(kind.to_string()),
        name: Some(name),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        ..ObjectReference::default()
    };
    publish_to(
        ctx,
        reference,
        &EventNote::warning(event::INVALID_OBJECT, message),
    )
    .await;
    Ok(())
}

pub async fn reconcile_model(
    guard: Arc<DeserializeGuard<MonitoredModel>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    ctx.stores.ready().await;
    let Ok(model) = &guard.0 else {
        reject_malformed(&ctx, &guard).await?;
        return Ok(Action::await_change());
    };
    monitored_model::reconcile(Arc::new(model.clone()), ctx.clone()).await
}

pub async fn reconcile_policy(
    guard: Arc<DeserializeGuard<DriftPolicy>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    ctx.stores.ready().await;
    let Ok(policy) = &guard.0 else {
        reject_malformed(&ctx, &guard).await?;
        return Ok(Action::await_change());
    };
    drift_policy::reconcile(Arc::new(policy.clone()), ctx.clone()).await
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
