//! What Kubernetes reports about the children: a Job's state, order and
//! trigger, and the result a job leaves in its Pod's termination message. Pure.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;

use crate::build::TRIGGER_ANNOTATION;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobState {
    Running,
    Succeeded,
    Failed(String),
}

impl JobState {
    pub fn finished(&self) -> bool {
        !matches!(self, JobState::Running)
    }
}

pub fn job_state(job: &Job) -> JobState {
    let conditions = job
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let holds = |type_: &str| {
        conditions
            .iter()
            .find(|c| c.type_ == type_ && c.status == "True")
    };
    if holds("Complete").is_some() {
        JobState::Succeeded
    } else if let Some(failed) = holds("Failed") {
        JobState::Failed(
            failed
                .message
                .clone()
                .or_else(|| failed.reason.clone())
                .unwrap_or_else(|| "the Job failed".into()),
        )
    } else {
        JobState::Running
    }
}

/// The most recently created Job (ties broken by name, so the choice is stable).
pub fn newest(jobs: &[Job]) -> Option<&Job> {
    jobs.iter()
        .max_by_key(|job| (job.creation_timestamp().map(|t| t.0), job.name_any()))
}

/// Why the Job runs: its `vigil.dev/trigger` annotation (CronJob Jobs: `Schedule`).
pub fn trigger(job: &Job) -> String {
    job.annotations()
        .get(TRIGGER_ANNOTATION)
        .cloned()
        .unwrap_or_else(|| "Schedule".into())
}

/// When the Job was created, RFC 3339 (empty when unknown).
pub fn created_at(job: &Job) -> String {
    job.creation_timestamp()
        .map(|t| t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// The termination message of the last Pod (by creation) whose container terminated.
pub fn last_termination_message(pods: &[Pod]) -> Option<String> {
    let mut pods: Vec<&Pod> = pods.iter().collect();
    pods.sort_by_key(|p| (p.creation_timestamp().map(|t| t.0), p.name_any()));
    pods.iter().rev().find_map(|pod| {
        pod.status
            .as_ref()?
            .container_statuses
            .as_ref()?
            .iter()
            .find_map(|c| {
                let message = c.state.as_ref()?.terminated.as_ref()?.message.clone()?;
                (!message.trim().is_empty()).then_some(message)
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(name: &str, created: &str, conditions: serde_json::Value) -> Job {
        serde_json::from_value(json!({
            "metadata": {"name": name, "creationTimestamp": created},
            "status": {"conditions": conditions}
        }))
        .expect("job")
    }

    #[test]
    fn state_order_and_trigger() {
        let running = job("a", "2026-11-28T17:00:00Z", json!([]));
        let done = job(
            "b",
            "2026-11-28T18:00:00Z",
            json!([{"type": "Complete", "status": "True"}]),
        );
        let failed = job(
            "c",
            "2026-11-28T16:00:00Z",
            json!([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit"}]),
        );
        assert_eq!(job_state(&running), JobState::Running);
        assert_eq!(job_state(&done), JobState::Succeeded);
        assert_eq!(
            job_state(&failed),
            JobState::Failed("Job has reached the specified backoff limit".into())
        );
        let jobs = [running, done, failed];
        assert_eq!(newest(&jobs).map(|j| j.name_any()).as_deref(), Some("b"));
        assert_eq!(trigger(&jobs[0]), "Schedule");
        assert_eq!(created_at(&jobs[1]), "2026-11-28T18:00:00Z");
    }

    #[test]
    fn termination_message_of_the_last_attempt() {
        let pod = |name: &str, created: &str, message: Option<&str>| -> Pod {
            serde_json::from_value(json!({
                "metadata": {"name": name, "creationTimestamp": created},
                "status": {"containerStatuses": [{
                    "name": "train", "image": "vigil", "imageID": "", "ready": false,
                    "restartCount": 0,
                    "state": {"terminated": {"exitCode": 1, "message": message}}
                }]}
            }))
            .expect("pod")
        };
        let pods = [
            pod("p2", "2026-11-28T17:05:00Z", Some("{\"second\":true}")),
            pod("p1", "2026-11-28T17:00:00Z", Some("{\"first\":true}")),
            pod("p3", "2026-11-28T17:10:00Z", None),
        ];
        assert_eq!(
            last_termination_message(&pods).as_deref(),
            Some("{\"second\":true}")
        );
        assert_eq!(last_termination_message(&[]), None);
    }
}
