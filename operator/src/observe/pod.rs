//! Why a Pod is not doing its work, as the scheduler and the kubelet report it:
//! unschedulable (or waiting for a volume), an image that does not pull, a
//! missing Secret, a crash loop, an OOM kill. Each becomes a condition reason
//! and a message naming the Pod, the image or the container.

use k8s_openapi::api::core::v1::{ContainerStateTerminated, ContainerStatus, Pod};
use kube::ResourceExt;

use crate::controller::conditions::reason;

/// A failure with its condition reason and the message a user needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub reason: &'static str,
    pub message: String,
}

impl Failure {
    pub fn new(reason: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            reason,
            message: message.into(),
        }
    }
}

/// What keeps one Pod from working.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodProblem {
    pub reason: &'static str,
    pub pod: String,
    /// What the kubelet or the scheduler said (`ImagePullBackOff for ghcr.io/…: …`).
    pub message: String,
}

impl PodProblem {
    /// "training Pod income-train-initial-x7k2p: ImagePullBackOff for …".
    pub fn describe(&self, role: &str) -> String {
        format!("{role} Pod {}: {}", self.pod, self.message)
    }
}

const IMAGE_PULL: [&str; 4] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
];
const CONTAINER_CONFIG: [&str; 2] = ["CreateContainerConfigError", "CreateContainerError"];

fn statuses(pod: &Pod) -> impl Iterator<Item = &ContainerStatus> {
    let status = pod.status.as_ref();
    let init = status.and_then(|s| s.init_container_statuses.as_ref());
    let main = status.and_then(|s| s.container_statuses.as_ref());
    init.into_iter().chain(main).flatten()
}

/// The first container of `pod` that terminated, with how it ended.
pub fn terminated(pod: &Pod) -> Option<(&str, &ContainerStateTerminated)> {
    statuses(pod).find_map(|c| {
        let end = c.state.as_ref()?.terminated.as_ref()?;
        Some((c.name.as_str(), end))
    })
}

fn memory_limit(pod: &Pod, container: &str) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let c = spec.containers.iter().find(|c| c.name == container)?;
    let limits = c.resources.as_ref()?.limits.as_ref()?;
    Some(limits.get("memory")?.0.clone())
}

/// The failure of a container the kernel killed for using more memory than its limit.
pub fn oom_killed(pod: &Pod, container: &str, role: &str) -> Failure {
    let limit = memory_limit(pod, container)
        .map(|m| format!(", memory limit {m}"))
        .unwrap_or_default();
    Failure::new(
        reason::OOM_KILLED,
        format!(
            "{role} Pod {}: container {container} was OOMKilled (exit code 137{limit}): raise the memory limit",
            pod.name_any()
        ),
    )
}

/// Why `pod` does not run, if the scheduler or the kubelet says so.
pub fn pod_problem(pod: &Pod) -> Option<PodProblem> {
    let problem = |reason: &'static str, message: String| PodProblem {
        reason,
        pod: pod.name_any(),
        message,
    };
    let status = pod.status.as_ref()?;
    let unscheduled = status.conditions.iter().flatten().find(|c| {
        c.type_ == "PodScheduled"
            && c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable")
    });
    if let Some(c) = unscheduled {
        let message = c.message.clone().unwrap_or_default();
        let volume =
            message.contains("unbound") && message.to_lowercase().contains("persistentvolumeclaim");
        let reason = if volume {
            reason::VOLUME_NOT_BOUND
        } else {
            reason::UNSCHEDULABLE
        };
        return Some(problem(reason, format!("Unschedulable: {message}")));
    }
    for c in statuses(pod) {
        let state = c.state.as_ref();
        if let Some(waiting) = state.and_then(|s| s.waiting.as_ref()) {
            let why = waiting.reason.as_deref().unwrap_or_default();
            let detail = waiting.message.clone().unwrap_or_default();
            if IMAGE_PULL.contains(&why) {
                return Some(problem(
                    reason::IMAGE_PULL_FAILED,
                    format!("{why} for {}: {detail}", c.image),
                ));
            }
            if CONTAINER_CONFIG.contains(&why) {
                return Some(problem(
                    reason::CONTAINER_CONFIG_ERROR,
                    format!("{why} in container {}: {detail}", c.name),
                ));
            }
            if why == "CrashLoopBackOff" {
                let last = c.last_state.as_ref().and_then(|s| s.terminated.as_ref());
                if last.and_then(|t| t.reason.as_deref()) == Some("OOMKilled") {
                    let oom = oom_killed(pod, &c.name, "the");
                    return Some(problem(
                        reason::OOM_KILLED,
                        format!("CrashLoopBackOff: {}", oom_text(&oom.message)),
                    ));
                }
                let exit = last
                    .map(|t| format!(", last exit code {}", t.exit_code))
                    .unwrap_or_default();
                return Some(problem(
                    reason::CRASH_LOOP,
                    format!(
                        "CrashLoopBackOff: container {} restarted {} times{exit}",
                        c.name, c.restart_count
                    ),
                ));
            }
        }
        if let Some(end) = state.and_then(|s| s.terminated.as_ref()) {
            if end.reason.as_deref() == Some("OOMKilled") {
                return Some(problem(
                    reason::OOM_KILLED,
                    oom_text(&oom_killed(pod, &c.name, "the").message),
                ));
            }
        }
    }
    None
}

/// The part of an OOM message after "the Pod <name>: ".
fn oom_text(message: &str) -> String {
    message
        .split_once(": ")
        .map(|(_, rest)| rest.to_string())
        .unwrap_or_else(|| message.to_string())
}

/// The first problem among `pods` (newest first).
pub fn first_problem<'a>(pods: impl DoubleEndedIterator<Item = &'a Pod>) -> Option<PodProblem> {
    pods.rev().find_map(pod_problem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "income-train-initial-x7k2p"},
            "spec": {"containers": [{"name": "train", "image": "ghcr.io/acme/vigil:0.1",
                                     "resources": {"limits": {"memory": "512Mi"}}}]},
            "status": status
        }))
        .expect("pod")
    }

    fn waiting(reason: &str, message: &str) -> Pod {
        pod(
            json!({"containerStatuses": [{"name": "train", "image": "ghcr.io/acme/vigil:0.1",
            "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": reason, "message": message}}}]}),
        )
    }

    fn described(pod: &Pod) -> Option<(&'static str, String)> {
        pod_problem(pod).map(|p| (p.reason, p.describe("training")))
    }

    #[test]
    fn what_the_kubelet_and_the_scheduler_say() {
        assert_eq!(
            described(&waiting("ImagePullBackOff", "Back-off pulling image \"ghcr.io/acme/vigil:0.1\"")),
            Some((
                reason::IMAGE_PULL_FAILED,
                "training Pod income-train-initial-x7k2p: ImagePullBackOff for ghcr.io/acme/vigil:0.1: \
                 Back-off pulling image \"ghcr.io/acme/vigil:0.1\""
                    .into()
            ))
        );
        assert_eq!(
            described(&waiting("ErrImagePull", "not found")).map(|d| d.0),
            Some(reason::IMAGE_PULL_FAILED)
        );
        assert_eq!(
            described(&waiting(
                "CreateContainerConfigError",
                "secret \"s3-credentials\" not found"
            )),
            Some((
                reason::CONTAINER_CONFIG_ERROR,
                "training Pod income-train-initial-x7k2p: CreateContainerConfigError in container \
                 train: secret \"s3-credentials\" not found"
                    .into()
            ))
        );
        let unschedulable = |message: &str| {
            pod(
                json!({"conditions": [{"type": "PodScheduled", "status": "False",
                "reason": "Unschedulable", "message": message}]}),
            )
        };
        assert_eq!(
            described(&unschedulable(
                "0/3 nodes are available: 3 Insufficient memory."
            ))
            .map(|d| d.0),
            Some(reason::UNSCHEDULABLE)
        );
        assert_eq!(
            described(&unschedulable(
                "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims."
            )),
            Some((
                reason::VOLUME_NOT_BOUND,
                "training Pod income-train-initial-x7k2p: Unschedulable: 0/1 nodes are available: \
                 pod has unbound immediate PersistentVolumeClaims."
                    .into()
            ))
        );
        let crash = |last: serde_json::Value| {
            pod(
                json!({"containerStatuses": [{"name": "train", "image": "i", "imageID": "",
                "ready": false, "restartCount": 4,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
                "lastState": {"terminated": last}}]}),
            )
        };
        assert_eq!(
            described(&crash(json!({"exitCode": 1, "reason": "Error"}))),
            Some((
                reason::CRASH_LOOP,
                "training Pod income-train-initial-x7k2p: CrashLoopBackOff: container train \
                 restarted 4 times, last exit code 1"
                    .into()
            ))
        );
        assert_eq!(
            described(&crash(json!({"exitCode": 137, "reason": "OOMKilled"}))),
            Some((
                reason::OOM_KILLED,
                "training Pod income-train-initial-x7k2p: CrashLoopBackOff: container train was \
                 OOMKilled (exit code 137, memory limit 512Mi): raise the memory limit"
                    .into()
            ))
        );
        assert_eq!(described(&pod(json!({"phase": "Running"}))), None);
    }
}
