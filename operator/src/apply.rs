//! The only writes the controllers make: server-side apply of children and of
//! status with one field manager, skipped when the object already says what we
//! want, so that a reconcile over an unchanged world writes nothing.

use std::fmt::Debug;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::context::Context;
use crate::error::{Error, Result};
use crate::events::{publish, EventNote};

pub const FIELD_MANAGER: &str = "vigil.dev/operator";

fn apply_params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

fn to_value<T: Serialize>(what: &'static str, value: &T) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| Error::Encode {
        what,
        message: e.to_string(),
    })
}

/// Whether `existing` lacks or contradicts something `desired` states. Fields
/// only in `existing` (server defaults, other managers) do not count.
pub fn needs_apply(desired: &Value, existing: &Value) -> bool {
    match (desired, existing) {
        (Value::Object(d), Value::Object(e)) => d.iter().any(|(key, d)| match e.get(key) {
            Some(e) => needs_apply(d, e),
            None => !d.is_null(),
        }),
        (Value::Array(d), Value::Array(e)) => {
            d.len() != e.len() || d.iter().zip(e).any(|(d, e)| needs_apply(d, e))
        }
        (d, e) => d != e,
    }
}

/// Applies `desired` unless `existing` already matches; returns whether it wrote.
pub async fn apply_child<K>(api: &Api<K>, desired: &K, existing: Option<&K>) -> Result<bool>
where
    K: Resource + Serialize + DeserializeOwned + Clone + Debug,
{
    let value = to_value("a child object", desired)?;
    if let Some(existing) = existing {
        if !needs_apply(&value, &to_value("a child object", existing)?) {
            return Ok(false);
        }
    }
    api.patch(&desired.name_any(), &apply_params(), &Patch::Apply(&value))
        .await?;
    Ok(true)
}

/// Deletes `existing` when there is one; returns whether it wrote.
pub async fn delete_child<K>(api: &Api<K>, existing: Option<&K>) -> Result<bool>
where
    K: Resource + DeserializeOwned + Clone + Debug,
{
    let Some(existing) = existing else {
        return Ok(false);
    };
    match api
        .delete(&existing.name_any(), &DeleteParams::background())
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// How soon to retry a reconcile that ran on a stale copy of its object.
pub const STALE_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// Applies `status` to the status subresource unless it is unchanged; returns
/// the updated object when it wrote. The object's `resourceVersion` is a
/// precondition: a reconcile that ran on a stale cached copy gets a conflict
/// ([`Error::is_conflict`]) instead of overwriting newer status, so what it
/// decided (Events, webhooks) is never acted on twice.
pub async fn apply_status<K, S>(
    api: &Api<K>,
    object: &K,
    old: Option<&S>,
    status: &S,
) -> Result<Option<K>>
where
    K: Resource<DynamicType = ()> + DeserializeOwned + Clone + Debug,
    S: Serialize + PartialEq,
{
    if old == Some(status) {
        return Ok(None);
    }
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": {"resourceVersion": object.resource_version()},
        "status": to_value("a status", status)?,
    });
    let updated = api
        .patch_status(&object.name_any(), &apply_params(), &Patch::Apply(&patch))
        .await?;
    Ok(Some(updated))
}

/// Records an invalid spec (the status from `status::set_invalid_spec`) and
/// announces it once, when the status changes; then waits for the next change.
pub async fn reject_invalid_spec<K, S>(
    ctx: &Context,
    api: &Api<K>,
    object: &K,
    old: Option<&S>,
    status: &S,
    message: String,
) -> Result<Action>
where
    K: Resource<DynamicType = ()> + DeserializeOwned + Clone + Debug,
    S: Serialize + PartialEq,
{
    let written = match apply_status(api, object, old, status).await {
        Err(e) if e.is_conflict() => return Ok(Action::requeue(STALE_RETRY)),
        written => written?,
    };
    if written.is_some() {
        let note = EventNote {
            warning: true,
            reason: "InvalidSpec",
            note: message,
        };
        publish(ctx, object, &note).await;
    }
    Ok(Action::await_change())
}

/// The termination message of a Job's last finished Pod, if any.
pub async fn termination_message(pods: &Api<Pod>, job: &str) -> Result<Option<String>> {
    let params = ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}"));
    let pods = pods.list(&params).await?;
    Ok(crate::observe::last_termination_message(&pods.items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_added_by_the_server_do_not_count() {
        let desired = json!({"spec": {"replicas": 2, "template": {"containers": [{"name": "a"}]}}});
        let existing = json!({"spec": {"replicas": 2, "revisionHistoryLimit": 10,
            "template": {"containers": [{"name": "a", "imagePullPolicy": "IfNotPresent"}]}},
            "status": {"readyReplicas": 2}});
        assert!(!needs_apply(&desired, &existing));
        let changed = json!({"spec": {"replicas": 3}});
        assert!(needs_apply(&changed, &existing));
        let extra_container =
            json!({"spec": {"template": {"containers": [{"name": "a"}, {"name": "b"}]}}});
        assert!(needs_apply(&extra_container, &existing));
        assert!(needs_apply(
            &json!({"metadata": {"labels": {"x": "1"}}}),
            &existing
        ));
        assert!(!needs_apply(&json!({"spec": {"paused": null}}), &existing));
    }
}
