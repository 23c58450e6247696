//! The only writes the controllers make: server-side apply of children and of
//! status with one field manager.
//!
//! A child's apply carries the whole intent, so a field the spec no longer
//! asks for disappears from the child (server-side apply removes what a
//! manager stops applying). It is skipped only when the intent is provably
//! unchanged: the live object carries the hash of exactly this desired object
//! in `vigil.dev/applied-hash`, and still holds every field of it. A
//! reconcile over an unchanged world therefore writes nothing.
//!
//! The copy compared is the reflector store's. For the Deployment it is the
//! whole object, so a field someone else changed is put back on the next
//! reconcile. The Service, PodDisruptionBudget and CronJobs are stored as
//! metadata only (their spec is most of the memory a thousand models cost):
//! for them the hash and the metadata we state (labels, annotations, owner)
//! are compared ([`unchanged_meta`]), and a field of their spec edited behind
//! the operator's back is put back when the intent next changes, not at once.

use std::fmt::{self, Debug};

use kube::api::{DeleteParams, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::context::Context;
use crate::controller::conditions::reason;
use crate::error::{Error, Result};
use crate::events::{publish, reason as event, EventNote};

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

/// The annotation holding the hash of the intent an object was last applied with.
pub const HASH_ANNOTATION: &str = "vigil.dev/applied-hash";

/// SHA-256 (first 128 bits, hex) of the object's canonical JSON: serde_json
/// sorts object keys, so equal intents hash equally.
fn intent_hash(value: &Value) -> String {
    let digest = Sha256::digest(value.to_string().as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The desired object as applied: itself plus the hash of itself.
pub fn intent<K: Serialize>(desired: &K) -> Result<Value> {
    let mut value = to_value("a child object", desired)?;
    let hash = intent_hash(&value);
    let metadata = &mut value["metadata"];
    if !metadata["annotations"].is_object() {
        metadata["annotations"] = json!({});
    }
    metadata["annotations"][HASH_ANNOTATION] = json!(hash);
    Ok(value)
}

/// Whether the apply of `intent` may be skipped: `existing` was applied with
/// exactly this intent, and nobody changed a field of it since.
pub fn unchanged(intent: &Value, existing: &Value) -> bool {
    let hash = |v: &Value| {
        v["metadata"]["annotations"][HASH_ANNOTATION]
            .as_str()
            .map(str::to_string)
    };
    hash(intent).is_some() && hash(intent) == hash(existing) && !needs_apply(intent, existing)
}

/// Whether `existing` lacks or contradicts something `desired` states. Fields
/// only in `existing` (server defaults, other managers) do not count. Never a
/// reason on its own to skip an apply (a dropped field is "not in desired").
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

/// [`unchanged`] for a copy that holds only the metadata: the hash matches and
/// the labels, annotations and owner references of `intent` are all in place.
pub fn unchanged_meta(intent: &Value, existing: &Value) -> bool {
    unchanged(&json!({"metadata": intent["metadata"]}), existing)
}

/// A stored copy of a child: the whole object, or its metadata only.
pub enum Live<'a, K> {
    Whole(&'a K),
    Metadata(&'a PartialObjectMeta<K>),
}

impl<K: Serialize> Live<'_, K> {
    /// Whether this copy shows `intent` as applied and untouched.
    fn confirms(&self, intent: &Value) -> Result<bool> {
        Ok(match self {
            Live::Whole(object) => unchanged(intent, &to_value("a child object", object)?),
            Live::Metadata(meta) => unchanged_meta(intent, &to_value("a child's metadata", meta)?),
        })
    }
}

/// Applies `desired` unless `existing` was applied with the same intent;
/// returns whether it wrote.
pub async fn apply_child<K>(
    api: &Api<K>,
    desired: &K,
    existing: Option<Live<'_, K>>,
) -> Result<bool>
where
    K: Resource + Serialize + DeserializeOwned + Clone + Debug,
{
    let value = intent(desired)?;
    if let Some(existing) = existing {
        if existing.confirms(&value)? {
            return Ok(false);
        }
    }
    api.patch(&desired.name_any(), &apply_params(), &Patch::Apply(&value))
        .await?;
    Ok(true)
}

/// A write the API server refused for a reason a user (or an administrator)
/// must act on: invalid (422), forbidden (403, RBAC or admission), over a quota.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub kind: String,
    pub name: String,
    pub code: u16,
    /// `ApplyRejected`, `Forbidden` or `QuotaExceeded`.
    pub reason: &'static str,
    /// The API server's message.
    pub message: String,
}

impl Rejection {
    /// The refusal in `error`, if it is one (not a conflict, an outage or a bug).
    pub fn of(kind: &str, name: &str, error: &Error) -> Option<Rejection> {
        let Error::Kube(kube::Error::Api(status)) = error else {
            return None;
        };
        let reason = match status.code {
            400 | 422 => reason::APPLY_REJECTED,
            403 if status.message.contains("exceeded quota") => reason::QUOTA_EXCEEDED,
            403 => reason::FORBIDDEN,
            _ => return None,
        };
        Some(Rejection {
            kind: kind.into(),
            name: name.into(),
            code: status.code,
            reason,
            message: status.message.clone(),
        })
    }

    /// Whether only a change of the spec can help (an invalid object), as
    /// opposed to a quota or a permission an administrator may still grant.
    pub fn stalls(&self) -> bool {
        self.reason == reason::APPLY_REJECTED
    }

    /// A bounded label for the failure metric.
    pub fn metric_label(&self) -> &'static str {
        match self.reason {
            reason::QUOTA_EXCEEDED => "quota_exceeded",
            reason::FORBIDDEN => "forbidden",
            _ => "apply_rejected",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the API server refused {} {} (HTTP {}): {}",
            self.kind, self.name, self.code, self.message
        )
    }
}

/// Applies a child; a refusal comes back as a [`Rejection`] instead of an error.
pub async fn apply_or_reject<K>(
    api: &Api<K>,
    desired: &K,
    existing: Option<Live<'_, K>>,
) -> Result<Option<Rejection>>
where
    K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Clone + Debug,
{
    match apply_child(api, desired, existing).await {
        Ok(_) => Ok(None),
        Err(e) => match Rejection::of(&K::kind(&()), &desired.name_any(), &e) {
            Some(rejection) => Ok(Some(rejection)),
            None => Err(e),
        },
    }
}

/// Deletes `existing` (the whole object or its metadata) when there is one;
/// returns whether it wrote.
pub async fn delete_child<K, E>(api: &Api<K>, existing: Option<&E>) -> Result<bool>
where
    K: Resource + DeserializeOwned + Clone + Debug,
    E: Resource,
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
        publish(
            ctx,
            object,
            &EventNote::warning(event::INVALID_SPEC, message),
        )
        .await;
    }
    Ok(Action::await_change())
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

    #[test]
    fn an_apply_is_skipped_only_for_the_same_intent() {
        #[derive(serde::Serialize)]
        struct Obj {
            metadata: Value,
            spec: Value,
        }
        let desired = |spec: Value| Obj {
            metadata: json!({"name": "x"}),
            spec,
        };
        let limits = json!({"resources": {"limits": {"memory": "1Gi"}, "requests": {"cpu": "1"}}});
        let live = intent(&desired(limits.clone())).expect("intent");
        assert!(unchanged(&intent(&desired(limits)).expect("intent"), &live));
        // Dropping a field: desired ⊆ live still holds, but the intent changed.
        let fewer = desired(json!({"resources": {"requests": {"cpu": "1"}}}));
        let plain = serde_json::to_value(&fewer).expect("json");
        assert!(
            !needs_apply(&plain, &live),
            "desired ⊆ live: the old rule skipped this"
        );
        assert!(!unchanged(&intent(&fewer).expect("intent"), &live));
        // Someone edited a field we own: apply again, although the hash matches.
        let mut edited = live.clone();
        edited["spec"]["resources"]["limits"]["memory"] = json!("2Gi");
        assert!(!unchanged(
            &intent(&desired(
                json!({"resources": {"limits": {"memory": "1Gi"}, "requests": {"cpu": "1"}}})
            ))
            .expect("i"),
            &edited
        ));
        // An object applied before hashes existed is applied once more.
        let mut old = live;
        old["metadata"]["annotations"] = json!({});
        assert!(!unchanged(&intent(&desired(json!({}))).expect("i"), &old));
    }

    #[test]
    fn a_metadata_copy_confirms_the_hash_and_the_metadata_we_state() {
        #[derive(serde::Serialize)]
        struct Obj {
            metadata: Value,
            spec: Value,
        }
        let desired = |replicas: u32| Obj {
            metadata: json!({"name": "x", "labels": {"app": "a"}}),
            spec: json!({"replicas": replicas}),
        };
        let applied = intent(&desired(2)).expect("intent");
        // What a metadata watch stores of it: no spec, server fields added.
        let mut meta = json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
            "metadata": applied["metadata"].clone()});
        meta["metadata"]["resourceVersion"] = json!("7");
        assert!(unchanged_meta(&applied, &meta));
        assert!(
            !unchanged(&applied, &meta),
            "the whole-object rule cannot confirm a spec it does not see"
        );
        assert!(!unchanged_meta(&intent(&desired(3)).expect("i"), &meta));
        let mut relabelled = meta.clone();
        relabelled["metadata"]["labels"]["app"] = json!("b");
        assert!(!unchanged_meta(&applied, &relabelled));
        let mut unhashed = meta;
        unhashed["metadata"]["annotations"] = json!({});
        assert!(!unchanged_meta(&applied, &unhashed));
    }
}
