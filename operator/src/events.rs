//! Kubernetes Events for what a user must act on or will want to know.
//! Publishing is best effort: a lost Event never fails a reconcile.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};

use crate::context::Context;

/// An Event the controller should publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventNote {
    /// `Normal` or `Warning`.
    pub warning: bool,
    /// CamelCase reason (`ModelPromoted`, `PromotionRejected`, …).
    pub reason: &'static str,
    pub note: String,
}

impl EventNote {
    pub fn normal(reason: &'static str, note: impl Into<String>) -> EventNote {
        EventNote {
            warning: false,
            reason,
            note: note.into(),
        }
    }

    pub fn warning(reason: &'static str, note: impl Into<String>) -> EventNote {
        EventNote {
            warning: true,
            reason,
            note: note.into(),
        }
    }
}

/// The reasons of the Events the controllers publish (besides the condition
/// reasons of `controller::conditions::reason`, which announce failures).
pub mod reason {
    pub const TRAINING_STARTED: &str = "TrainingStarted";
    pub const TRAINING_SUCCEEDED: &str = "TrainingSucceeded";
    pub const TRAINING_FAILED: &str = "TrainingFailed";
    pub const MODEL_PROMOTED: &str = "ModelPromoted";
    pub const PROMOTION_REJECTED: &str = "PromotionRejected";
    pub const AWAITING_APPROVAL: &str = "AwaitingApproval";
    pub const ROLLED_BACK: &str = "RolledBack";
    pub const PINNED: &str = "Pinned";
    pub const UNPINNED: &str = "Unpinned";
    pub const ROLLOUT_FAILED: &str = "RolloutFailed";
    pub const DRIFT_DETECTED: &str = "DriftDetected";
    pub const DRIFT_CHECK_FAILED: &str = "DriftCheckFailed";
    /// A check estimated a metric outside its alert band.
    pub const ESTIMATED_PERFORMANCE_DROP: &str = "EstimatedPerformanceDrop";
    /// A check found realized and estimated performance apart for two checks in a row.
    pub const CONCEPT_DRIFT: &str = "ConceptDrift";
    pub const NOTIFICATION_FAILED: &str = "NotificationFailed";
    pub const RETRAIN_TRIGGERED: &str = "RetrainTriggered";
    pub const INVALID_SPEC: &str = "InvalidSpec";
    pub const INVALID_OBJECT: &str = "InvalidObject";
}

/// Kubernetes caps an Event's note at 1 KiB.
const NOTE_LIMIT: usize = 1000;

pub fn object_reference<K: Resource<DynamicType = ()>>(object: &K) -> ObjectReference {
    ObjectReference {
        api_version: Some(K::api_version(&()).to_string()),
        kind: Some(K::kind(&()).to_string()),
        name: Some(object.name_any()),
        namespace: object.namespace(),
        uid: object.meta().uid.clone(),
        ..ObjectReference::default()
    }
}

pub async fn publish<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    regarding: &K,
    note: &EventNote,
) {
    publish_to(ctx, object_reference(regarding), note).await;
}

pub async fn publish_to(ctx: &Context, reference: ObjectReference, note: &EventNote) {
    let text = vigil_core::text::cut_to_bytes(&note.note, NOTE_LIMIT).to_string();
    tracing::info!(
        reason = note.reason,
        kind = reference.kind.as_deref().unwrap_or_default(),
        name = reference.name.as_deref().unwrap_or_default(),
        note = %text,
        "decision"
    );
    let event = Event {
        type_: if note.warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: note.reason.into(),
        note: Some(text),
        action: note.reason.into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &reference).await {
        tracing::warn!(reason = note.reason, error = %e, "cannot publish an Event");
    }
}
