//! What the inference Deployment really does: which version its Pod template
//! names, whether that version is rolled out and available, or whether the
//! Deployment controller gave up (`ProgressDeadlineExceeded`).

use k8s_openapi::api::apps::v1::Deployment;

/// The label on inference Pods that names the version they load.
pub const VERSION_LABEL: &str = "vigil.dev/version";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rollout {
    /// The Pods of `version` are all updated and available.
    Complete { version: String },
    /// The Deployment moves towards `version`.
    Progressing { version: String },
    /// The Deployment controller stopped waiting for `version`: its message.
    Failed { version: String, message: String },
}

/// The Deployment's rollout of the version its template names (`None`: no
/// Deployment, or one without a version).
pub fn rollout(deployment: Option<&Deployment>, replicas: i32) -> Option<Rollout> {
    let deployment = deployment?;
    let version = deployment
        .spec
        .as_ref()?
        .template
        .metadata
        .as_ref()?
        .labels
        .as_ref()?
        .get(VERSION_LABEL)?
        .clone();
    let status = deployment.status.clone().unwrap_or_default();
    let current = status.observed_generation >= deployment.metadata.generation
        && status.observed_generation.is_some();
    let stuck = status.conditions.iter().flatten().find(|c| {
        c.type_ == "Progressing"
            && c.status == "False"
            && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if let (true, Some(c)) = (current, stuck) {
        return Some(Rollout::Failed {
            version,
            message: c
                .message
                .clone()
                .unwrap_or_else(|| "ProgressDeadlineExceeded".into()),
        });
    }
    let done = current
        && status.updated_replicas.unwrap_or(0) >= replicas
        && status.available_replicas.unwrap_or(0) >= replicas
        && status.replicas.unwrap_or(0) <= status.updated_replicas.unwrap_or(0);
    Some(if done {
        Rollout::Complete { version }
    } else {
        Rollout::Progressing { version }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(status: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "income-inference", "generation": 2},
            "spec": {"selector": {}, "template": {"metadata": {"labels": {VERSION_LABEL: "v2"}}}},
            "status": status
        }))
        .expect("deployment")
    }

    #[test]
    fn rollouts_complete_progress_or_fail() {
        assert_eq!(rollout(None, 1), None);
        let v2 = || "v2".to_string();
        assert_eq!(
            rollout(
                Some(&deployment(json!({"observedGeneration": 2, "replicas": 2,
                "updatedReplicas": 2, "availableReplicas": 2}))),
                2
            ),
            Some(Rollout::Complete { version: v2() })
        );
        assert_eq!(
            rollout(
                Some(&deployment(json!({"observedGeneration": 2, "replicas": 3,
                "updatedReplicas": 2, "availableReplicas": 2}))),
                2
            ),
            Some(Rollout::Progressing { version: v2() }),
            "an old Pod still runs"
        );
        assert_eq!(
            rollout(
                Some(&deployment(json!({"observedGeneration": 1, "replicas": 2,
                "updatedReplicas": 2, "availableReplicas": 2}))),
                2
            ),
            Some(Rollout::Progressing { version: v2() }),
            "the controller has not seen the new template"
        );
        assert_eq!(
            rollout(
                Some(&deployment(
                    json!({"observedGeneration": 2, "conditions": [{
                "type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                "message": "ReplicaSet \"income-inference-7d9\" has timed out progressing."}]})
                )),
                2
            ),
            Some(Rollout::Failed {
                version: v2(),
                message: "ReplicaSet \"income-inference-7d9\" has timed out progressing.".into()
            })
        );
    }
}
