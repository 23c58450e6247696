//! Which version the inference Deployment should serve, and which it really
//! serves. Pure.
//!
//! - `desiredVersion` is the decision: `serving.pinnedVersion`, else the
//!   promoted version. A change is recorded (`Pinned`, `RolledBack`, `Unpinned`).
//! - `servingVersion` is an observation: the version of a Deployment whose
//!   rollout is complete (updated and available).
//! - A rollout the Deployment controller gives up on (`ProgressDeadlineExceeded`:
//!   the Pods never became ready, e.g. a version that does not load) is recorded
//!   in `failedRollout` and history, and the Deployment goes back to the last
//!   version that served; the failed version is not tried again until the pin or
//!   the promoted version changes.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;

use super::promotion::record;
use crate::build::Component;
use crate::crd::{FailedRollout, HistoryAction, MonitoredModelStatus};
use crate::events::{reason as event, EventNote};
use crate::observe::{first_problem, Rollout, VERSION_LABEL};
use crate::time::rfc3339;

/// Decides `desiredVersion` from the pin and the promoted version, and records
/// a rollback, pin or unpin when it changes.
pub fn reconcile_serving(
    status: &mut MonitoredModelStatus,
    pinned: Option<&str>,
    now: DateTime<Utc>,
) -> Vec<EventNote> {
    let desired = pinned
        .map(str::to_string)
        .or_else(|| status.promoted_version.clone());
    // Before `desiredVersion` existed, `servingVersion` held the decision.
    let previous = status
        .desired_version
        .clone()
        .or_else(|| status.serving_version.clone());
    status.desired_version = desired.clone();
    if desired == previous {
        return vec![];
    }
    let Some(version) = desired else {
        return vec![];
    };
    let action = match (pinned, previous.as_deref()) {
        (Some(pin), Some(prev)) if pin < prev => HistoryAction::RolledBack,
        (Some(_), _) => HistoryAction::Pinned,
        // Following promotions again after a pin was cleared.
        (None, Some(prev))
            if status.history.last().is_some_and(|h| {
                h.version == prev
                    && matches!(h.action, HistoryAction::Pinned | HistoryAction::RolledBack)
            }) =>
        {
            HistoryAction::Unpinned
        }
        // An ordinary promotion is already in the history.
        (None, _) => return vec![],
    };
    let why = match (action, previous.as_deref()) {
        (HistoryAction::RolledBack, Some(prev)) => {
            format!("serving.pinnedVersion rolls back from {prev}")
        }
        (HistoryAction::Pinned, _) => "serving.pinnedVersion pins it".to_string(),
        _ => "serving.pinnedVersion cleared; serving the promoted version".to_string(),
    };
    record(status, &version, action, why.clone(), None, now);
    let reason = match action {
        HistoryAction::RolledBack => event::ROLLED_BACK,
        HistoryAction::Pinned => event::PINNED,
        _ => event::UNPINNED,
    };
    vec![EventNote::normal(reason, format!("{version}: {why}"))]
}

/// The first problem of the inference Pods loading `version`.
pub fn inference_problem(pods: &[Pod], version: &str) -> Option<crate::observe::PodProblem> {
    let mine = pods.iter().filter(|p| {
        p.labels()
            .get("app.kubernetes.io/component")
            .map(String::as_str)
            == Some(Component::Inference.as_str())
            && p.labels().get(VERSION_LABEL).map(String::as_str) == Some(version)
    });
    let mut mine: Vec<&Pod> = mine.collect();
    mine.sort_by_key(|p| (p.creation_timestamp().map(|t| t.0), p.name_any()));
    first_problem(mine.into_iter())
}

/// Reads the Deployment's rollout into status: `servingVersion` when it is
/// complete; `failedRollout`, history and a rollback when it failed. Returns
/// the version the Deployment must serve now.
pub fn observe_rollout(
    status: &mut MonitoredModelStatus,
    rollout: Option<&Rollout>,
    pods: &[Pod],
    pinned: bool,
    now: DateTime<Utc>,
) -> (Option<String>, Vec<EventNote>) {
    let mut events = Vec::new();
    if status
        .failed_rollout
        .as_ref()
        .is_some_and(|f| Some(&f.version) != status.desired_version.as_ref())
    {
        // The pin or the promoted version moved on: the failure is history.
        status.failed_rollout = None;
    }
    match rollout {
        Some(Rollout::Complete { version }) => status.serving_version = Some(version.clone()),
        Some(Rollout::Failed { version, message })
            if Some(version) == status.desired_version.as_ref()
                && Some(version) != status.serving_version.as_ref()
                && status.failed_rollout.is_none() =>
        {
            let mut why = message.clone();
            if let Some(problem) = inference_problem(pods, version) {
                why.push_str(&format!("; {}", problem.describe("inference")));
            }
            status.failed_rollout = Some(FailedRollout {
                version: version.clone(),
                message: why.clone(),
                time: rfc3339(now),
            });
            let what = if pinned { "pinned version" } else { "version" };
            record(
                status,
                version,
                HistoryAction::RolloutFailed,
                why.clone(),
                None,
                now,
            );
            events.push(EventNote::warning(
                event::ROLLOUT_FAILED,
                format!("{what} {version} did not become ready: {why}"),
            ));
            if let Some(good) = status.serving_version.clone() {
                let back = format!("{what} {version} failed its rollout; serving {good} again");
                record(
                    status,
                    &good,
                    HistoryAction::RolledBack,
                    back.clone(),
                    None,
                    now,
                );
                events.push(EventNote::warning(event::ROLLED_BACK, back));
            }
        }
        _ => {}
    }
    let target = match &status.failed_rollout {
        Some(f) if Some(&f.version) == status.desired_version.as_ref() => status
            .serving_version
            .clone()
            .or_else(|| status.desired_version.clone()),
        _ => status.desired_version.clone(),
    };
    (target, events)
}

#[cfg(test)]
mod tests {
    use super::super::promotion::record_training;
    use super::super::promotion::tests::{at, promotion, run, success};
    use super::*;

    #[test]
    fn lifecycle_promote_reject_pin_unpin() {
        let mut status = MonitoredModelStatus::default();
        record_training(
            &mut status,
            run(),
            &success("v1", 0.90, None),
            &promotion(true),
            at(1),
        );
        assert!(reconcile_serving(&mut status, None, at(1)).is_empty());
        assert_eq!(status.desired_version.as_deref(), Some("v1"));
        record_training(
            &mut status,
            run(),
            &success("v3", 0.91, Some(("v1", 0.90))),
            &promotion(true),
            at(3),
        );
        reconcile_serving(&mut status, None, at(3));
        assert_eq!(status.desired_version.as_deref(), Some("v3"));

        let events = reconcile_serving(&mut status, Some("v1"), at(4));
        assert_eq!(events[0].reason, "RolledBack");
        assert_eq!(status.desired_version.as_deref(), Some("v1"));
        assert!(
            reconcile_serving(&mut status, Some("v1"), at(5)).is_empty(),
            "idempotent"
        );
        let events = reconcile_serving(&mut status, None, at(6));
        assert_eq!(events[0].reason, "Unpinned");
        assert_eq!(status.desired_version.as_deref(), Some("v3"));
        let actions: Vec<HistoryAction> = status.history.iter().map(|h| h.action).collect();
        assert_eq!(
            actions,
            vec![
                HistoryAction::Promoted,
                HistoryAction::Promoted,
                HistoryAction::RolledBack,
                HistoryAction::Unpinned
            ]
        );
    }

    #[test]
    fn a_failed_rollout_goes_back_to_the_last_version_that_served() {
        let mut status = MonitoredModelStatus {
            serving_version: Some("v1".into()),
            desired_version: Some("v2".into()),
            ..MonitoredModelStatus::default()
        };
        let progressing = Rollout::Progressing {
            version: "v2".into(),
        };
        let (target, events) = observe_rollout(&mut status, Some(&progressing), &[], false, at(1));
        assert_eq!((target.as_deref(), events.len()), (Some("v2"), 0));

        let failed = Rollout::Failed {
            version: "v2".into(),
            message: "ReplicaSet \"r\" has timed out progressing.".into(),
        };
        let (target, events) = observe_rollout(&mut status, Some(&failed), &[], false, at(2));
        assert_eq!(target.as_deref(), Some("v1"));
        assert_eq!(
            events.iter().map(|e| e.reason).collect::<Vec<_>>(),
            ["RolloutFailed", "RolledBack"]
        );
        assert_eq!(
            events[1].note,
            "version v2 failed its rollout; serving v1 again"
        );
        assert_eq!(
            status.failed_rollout.as_ref().map(|f| f.version.as_str()),
            Some("v2")
        );
        let actions: Vec<(&str, HistoryAction)> = status
            .history
            .iter()
            .map(|h| (h.version.as_str(), h.action))
            .collect();
        assert_eq!(
            actions,
            [
                ("v2", HistoryAction::RolloutFailed),
                ("v1", HistoryAction::RolledBack)
            ]
        );
        // The Deployment is back on v1 and completes: nothing new is recorded.
        let back = Rollout::Complete {
            version: "v1".into(),
        };
        let (target, events) = observe_rollout(&mut status, Some(&back), &[], false, at(3));
        assert_eq!((target.as_deref(), events.len()), (Some("v1"), 0));
        assert_eq!(status.history.len(), 2);
        // A new promotion clears the failure.
        status.desired_version = Some("v3".into());
        let (target, _) = observe_rollout(&mut status, Some(&back), &[], false, at(4));
        assert_eq!(
            (target.as_deref(), status.failed_rollout.as_ref()),
            (Some("v3"), None)
        );
    }
}
