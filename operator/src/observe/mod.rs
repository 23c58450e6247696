//! What Kubernetes reports about the children, read into decisions: a Job's
//! state and result (`job`), why a Pod does not run (`pod`), how the inference
//! Deployment's rollout goes (`rollout`). Pure.

pub mod job;
pub mod pod;
pub mod rollout;

pub use job::{
    attempt, created_at, finished_at, job_end, job_state, last_termination_message, newest,
    pods_of, trigger, JobEnd, JobState, JOB_NAME_LABEL,
};
pub use pod::{first_problem, pod_problem, Failure, PodProblem};
pub use rollout::{rollout, Rollout, VERSION_LABEL};
