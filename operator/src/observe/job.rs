//! A Job's state, order and trigger, and how a finished batch Job ended: the
//! result its container wrote, or why it could not write one.

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;

use super::pod::{pod_problem, terminated, Failure};
use crate::build::{ATTEMPT_ANNOTATION, TRIGGER_ANNOTATION};
use crate::controller::conditions::reason;
use crate::crd::TrainingTrigger;

/// The label the Job controller puts on a Job's Pods.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobState {
    Running,
    Succeeded,
    /// The Job's `Failed` condition: its reason (`BackoffLimitExceeded`,
    /// `DeadlineExceeded`, …) and message.
    Failed {
        reason: Option<String>,
        message: String,
    },
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
        JobState::Failed {
            reason: failed.reason.clone(),
            message: failed
                .message
                .clone()
                .or_else(|| failed.reason.clone())
                .unwrap_or_else(|| "the Job failed".into()),
        }
    } else {
        JobState::Running
    }
}

/// When the Job finished: its completion time or the time of its final condition.
pub fn finished_at(job: &Job) -> Option<DateTime<Utc>> {
    let status = job.status.as_ref()?;
    let from_condition = || {
        status
            .conditions
            .as_ref()?
            .iter()
            .filter(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
            .find_map(|c| c.last_transition_time.as_ref())
            .cloned()
    };
    let time = status.completion_time.clone().or_else(from_condition)?;
    DateTime::from_timestamp(time.0.as_second(), 0)
}

/// The most recently created Job (ties broken by name, so the choice is stable).
pub fn newest(jobs: &[Job]) -> Option<&Job> {
    jobs.iter()
        .max_by_key(|job| (job.creation_timestamp().map(|t| t.0), job.name_any()))
}

/// Why the Job runs: its `vigil.dev/trigger` annotation (CronJob Jobs: `Schedule`).
pub fn trigger(job: &Job) -> TrainingTrigger {
    job.annotations()
        .get(TRIGGER_ANNOTATION)
        .and_then(|t| TrainingTrigger::parse(t))
        .unwrap_or(TrainingTrigger::Schedule)
}

/// The attempt of a first training (its `vigil.dev/attempt` annotation).
pub fn attempt(job: &Job) -> Option<i32> {
    job.annotations().get(ATTEMPT_ANNOTATION)?.parse().ok()
}

/// When the Job was created, RFC 3339 (empty when unknown).
pub fn created_at(job: &Job) -> String {
    job.creation_timestamp()
        .map(|t| t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// The Pods of Job `name`, oldest first.
pub fn pods_of<'a>(pods: &'a [Pod], name: &str) -> Vec<&'a Pod> {
    let mut mine: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.labels().get(JOB_NAME_LABEL).map(String::as_str) == Some(name))
        .collect();
    mine.sort_by_key(|p| (p.creation_timestamp().map(|t| t.0), p.name_any()));
    mine
}

/// The termination message of the last Pod (by creation) whose container terminated.
pub fn last_termination_message(pods: &[&Pod]) -> Option<String> {
    pods.iter().rev().find_map(|pod| {
        let message = terminated(pod)?.1.message.clone()?;
        (!message.trim().is_empty()).then_some(message)
    })
}

/// How a finished Job that reports a JSON result ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobEnd {
    /// What its last container wrote: the job's JSON result.
    Result(String),
    /// It was stopped before it could write one (deadline, OOM, a crash, a
    /// Pod that never started).
    Stopped(Failure),
    /// None of its Pods is visible: not yet (the Pod watch lags the Job watch)
    /// or not any more.
    NoPod,
}

/// How Job `job` (finished) ended, from its Pods; `role` names it in messages
/// ("training", "check").
pub fn job_end(job: &Job, pods: &[&Pod], role: &str) -> JobEnd {
    let name = job.name_any();
    let state = job_state(job);
    let problem = || pods.iter().rev().find_map(|p| pod_problem(p));
    if let JobState::Failed {
        reason: Some(why),
        message,
    } = &state
    {
        if why == "DeadlineExceeded" {
            let limit = job
                .spec
                .as_ref()
                .and_then(|s| s.active_deadline_seconds)
                .map(|s| format!(" ({s} s)"))
                .unwrap_or_default();
            let mut text = format!(
                "{role} Job {name} ran longer than its activeDeadlineSeconds{limit}: {message}"
            );
            if let Some(p) = problem() {
                text.push_str(&format!("; {}", p.describe(role)));
            }
            return JobEnd::Stopped(Failure::new(reason::DEADLINE_EXCEEDED, text));
        }
    }
    if let Some((pod, (container, end))) = pods
        .iter()
        .rev()
        .find_map(|p| terminated(p).map(|t| (*p, t)))
    {
        let pod_name = pod.name_any();
        if end.reason.as_deref() == Some("OOMKilled") {
            return JobEnd::Stopped(super::pod::oom_killed(pod, container, role));
        }
        let text = end.message.clone().unwrap_or_default();
        let reported =
            serde_json::from_str::<serde_json::Value>(&text).is_ok_and(|v| v.is_object());
        if reported || (end.exit_code == 0 && !text.trim().is_empty()) {
            return JobEnd::Result(text);
        }
        let tail = text.trim().lines().last().unwrap_or_default().to_string();
        let mut message = format!(
            "{role} Pod {pod_name}: container {container} exited with code {}",
            end.exit_code
        );
        if let Some(why) = end
            .reason
            .as_deref()
            .filter(|r| *r != "Error" && *r != "Completed")
        {
            message.push_str(&format!(" ({why})"));
        }
        if !tail.is_empty() {
            message.push_str(&format!(": {}", vigil_core::text::shorten(&tail, 300)));
        }
        return JobEnd::Stopped(Failure::new(reason::CONTAINER_FAILED, message));
    }
    if let Some(p) = problem() {
        return JobEnd::Stopped(Failure::new(p.reason, p.describe(role)));
    }
    JobEnd::NoPod
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(name: &str, created: &str, conditions: serde_json::Value) -> Job {
        serde_json::from_value(json!({
            "metadata": {"name": name, "creationTimestamp": created},
            "spec": {"activeDeadlineSeconds": 7200, "template": {"spec": {"containers": []}}},
            "status": {"conditions": conditions}
        }))
        .expect("job")
    }

    fn pod(name: &str, created: &str, state: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "creationTimestamp": created,
                         "labels": {JOB_NAME_LABEL: "j"}},
            "spec": {"containers": [{"name": "train", "image": "vigil:1",
                                     "resources": {"limits": {"memory": "256Mi"}}}]},
            "status": {"containerStatuses": [{
                "name": "train", "image": "vigil:1", "imageID": "", "ready": false,
                "restartCount": 0, "state": state
            }]}
        }))
        .expect("pod")
    }

    #[test]
    fn state_order_and_trigger() {
        let running = job("a", "2026-11-28T17:00:00Z", json!([]));
        let done = job(
            "b",
            "2026-11-28T18:00:00Z",
            json!([{"type": "Complete", "status": "True", "lastTransitionTime": "2026-11-28T18:05:00Z"}]),
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
            JobState::Failed {
                reason: Some("BackoffLimitExceeded".into()),
                message: "Job has reached the specified backoff limit".into()
            }
        );
        assert_eq!(
            finished_at(&done).map(|t| t.to_rfc3339()),
            Some("2026-11-28T18:05:00+00:00".into())
        );
        let jobs = [running, done, failed];
        assert_eq!(newest(&jobs).map(|j| j.name_any()).as_deref(), Some("b"));
        assert_eq!(trigger(&jobs[0]), TrainingTrigger::Schedule);
        assert_eq!(created_at(&jobs[1]), "2026-11-28T18:00:00Z");
    }

    #[test]
    fn termination_message_of_the_last_attempt() {
        let ended =
            |message: Option<&str>| json!({"terminated": {"exitCode": 1, "message": message}});
        let pods = [
            pod(
                "p2",
                "2026-11-28T17:05:00Z",
                ended(Some("{\"second\":true}")),
            ),
            pod(
                "p1",
                "2026-11-28T17:00:00Z",
                ended(Some("{\"first\":true}")),
            ),
            pod("p3", "2026-11-28T17:10:00Z", ended(None)),
        ];
        let mine = pods_of(&pods, "j");
        assert_eq!(
            mine.iter().map(|p| p.name_any()).collect::<Vec<_>>(),
            ["p1", "p2", "p3"]
        );
        assert_eq!(
            last_termination_message(&mine).as_deref(),
            Some("{\"second\":true}")
        );
        assert_eq!(last_termination_message(&[]), None);
    }

    #[test]
    fn how_a_job_ended() {
        let failed = |reason: &str| {
            job(
                "j",
                "2026-11-28T17:00:00Z",
                json!([{"type": "Failed", "status": "True", "reason": reason,
                        "message": "Job was active longer than specified deadline"}]),
            )
        };
        let result = pod(
            "p",
            "2026-11-28T17:00:00Z",
            json!({"terminated": {"exitCode": 1, "message": "{\"outcome\":\"failed\"}"}}),
        );
        assert_eq!(
            job_end(&failed("BackoffLimitExceeded"), &[&result], "training"),
            JobEnd::Result("{\"outcome\":\"failed\"}".into())
        );
        let pulling = pod(
            "p",
            "2026-11-28T17:00:00Z",
            json!({"waiting": {"reason": "ImagePullBackOff",
                               "message": "Back-off pulling image \"vigil:1\""}}),
        );
        let JobEnd::Stopped(f) = job_end(&failed("DeadlineExceeded"), &[&pulling], "training")
        else {
            panic!("stopped")
        };
        assert_eq!(f.reason, reason::DEADLINE_EXCEEDED);
        assert_eq!(
            f.message,
            "training Job j ran longer than its activeDeadlineSeconds (7200 s): Job was active \
             longer than specified deadline; training Pod p: ImagePullBackOff for vigil:1: \
             Back-off pulling image \"vigil:1\""
        );
        let oom = pod(
            "p",
            "2026-11-28T17:00:00Z",
            json!({"terminated": {"exitCode": 137, "reason": "OOMKilled"}}),
        );
        let JobEnd::Stopped(f) = job_end(&failed("BackoffLimitExceeded"), &[&oom], "training")
        else {
            panic!("stopped")
        };
        assert_eq!(f.reason, reason::OOM_KILLED);
        assert_eq!(
            f.message,
            "training Pod p: container train was OOMKilled (exit code 137, memory limit 256Mi): \
             raise the memory limit"
        );
        let crashed = pod(
            "p",
            "2026-11-28T17:00:00Z",
            json!({"terminated": {"exitCode": 2, "reason": "Error",
                                  "message": "starting\nerror: bad flag --x\n"}}),
        );
        let JobEnd::Stopped(f) = job_end(&failed("BackoffLimitExceeded"), &[&crashed], "check")
        else {
            panic!("stopped")
        };
        assert_eq!(
            (f.reason, f.message.as_str()),
            (
                reason::CONTAINER_FAILED,
                "check Pod p: container train exited with code 2: error: bad flag --x"
            )
        );
        assert_eq!(
            job_end(&failed("BackoffLimitExceeded"), &[], "check"),
            JobEnd::NoPod
        );
    }
}
