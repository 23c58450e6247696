//! Training runs: recording what the training Jobs do (started, running, a Pod
//! that cannot start, finished with a result) and deciding when to start one.
//! Pure.
//!
//! Retry policy: a first training (no version promoted yet) that fails is
//! retried with a backoff — 5 min, 10 min, 20 min, … capped at 6 h — or at once
//! when the spec changes or `vigil.dev/train-request` asks. Later trainings are
//! not retried by themselves: the served version keeps serving, and the next
//! schedule, drift retrain or request trains again.
//!
//! Every decision is a function of the old status and the Jobs, so a reconcile
//! that repeats after a lost status write decides the same: Job names are
//! deterministic, and a Job found in the world is recorded whoever created it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use vigil_core::train::promotion::PromotionSpec;
use vigil_core::train::report::TrainSummary;

use super::promotion::record_training;
use super::TRAIN_REQUEST_ANNOTATION;
use crate::build::training_job_name;
use crate::controller::conditions::reason;
use crate::crd::{
    MonitoredModel, MonitoredModelStatus, TrainingOutcome, TrainingRun, TrainingTrigger,
};
use crate::events::{reason as event, EventNote};
use crate::observe::{
    attempt, created_at, finished_at, first_problem, job_end, job_state, newest, pods_of, trigger,
    JobEnd, PodProblem,
};
use crate::time::{parse_time, rfc3339};

/// How long a finished Job may go without a visible Pod before it counts as
/// having left no result (the Pod watch can lag the Job watch).
const RESULT_GRACE: chrono::Duration = chrono::Duration::minutes(2);
/// How long a recorded running Job may be missing from the world (store lag)
/// before it counts as lost.
const LOST_GRACE: chrono::Duration = chrono::Duration::minutes(5);
/// How soon to look again when the world lags behind.
const LAG_RETRY: Duration = Duration::from_secs(5);

/// What the training Jobs look like after this pass.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainingView {
    /// The running Job, if one runs.
    pub running: Option<String>,
    /// Why its Pod does not run, if it does not.
    pub problem: Option<PodProblem>,
    /// Events to publish once the status is written.
    pub events: Vec<EventNote>,
    /// Look again after this long (a lagging Pod watch).
    pub recheck: Option<Duration>,
}

fn run_of(job: &Job) -> TrainingRun {
    TrainingRun {
        job: job.name_any(),
        trigger: trigger(job),
        started_at: created_at(job),
        finished_at: None,
        outcome: TrainingOutcome::Running,
        version: None,
        reason: None,
        message: None,
        attempt: attempt(job),
    }
}

fn summary_of(job: &Job, pods: &[Pod], now: DateTime<Utc>) -> Option<TrainSummary> {
    let mine = pods_of(pods, &job.name_any());
    match job_end(job, &mine, "training") {
        JobEnd::Result(text) => {
            Some(
                serde_json::from_str(&text).unwrap_or_else(|e| TrainSummary::Failed {
                    reason: "UnreadableResult".into(),
                    message: format!("the training Pod's termination message is not a result: {e}"),
                }),
            )
        }
        JobEnd::Stopped(failure) => Some(TrainSummary::Failed {
            reason: failure.reason.into(),
            message: failure.message,
        }),
        JobEnd::NoPod => {
            let waited = finished_at(job).is_none_or(|t| now - t > RESULT_GRACE);
            waited.then(|| TrainSummary::Failed {
                reason: "NoResult".into(),
                message: format!("training Job {} left no Pod with a result", job.name_any()),
            })
        }
    }
}

/// Records the newest training Job in status: a new one, a running one (and
/// why its Pod does not start), a finished one with its result.
pub fn observe_training(
    status: &mut MonitoredModelStatus,
    model: &MonitoredModel,
    jobs: &[Job],
    pods: &[Pod],
    now: DateTime<Utc>,
) -> TrainingView {
    let mut view = TrainingView::default();
    let recorded = status.last_training.clone();
    let newest_job = newest(jobs).filter(|job| match &recorded {
        // A stale store may not hold the recorded Job yet: never go back in time.
        Some(run) if run.job != job.name_any() => {
            let created = job.creation_timestamp().map(|t| t.0.as_second());
            let started = parse_time(&run.started_at).map(|t| t.timestamp());
            created > started
        }
        _ => true,
    });
    let Some(job) = newest_job else {
        if let Some(run) = recorded.filter(TrainingRun::running) {
            let started = parse_time(&run.started_at).unwrap_or(now);
            if now - started < LOST_GRACE {
                view.running = Some(run.job);
                view.recheck = Some(LAG_RETRY);
            } else {
                let lost = TrainSummary::Failed {
                    reason: reason::JOB_LOST.into(),
                    message: format!("training Job {} disappeared before it finished", run.job),
                };
                view.events = record_training(status, run, &lost, &model.spec.promotion, now);
            }
        }
        return view;
    };
    let mut run = match &recorded {
        Some(r) if r.job == job.name_any() => r.clone(),
        _ => {
            let run = run_of(job);
            view.events.push(EventNote::normal(
                event::TRAINING_STARTED,
                format!("{} training in Job {}", run.trigger, run.job),
            ));
            status.last_training = Some(run.clone());
            run
        }
    };
    mark_request_handled(status, model, jobs);
    if !job_state(job).finished() {
        view.running = Some(run.job.clone());
        view.problem = first_problem(pods_of(pods, &run.job).into_iter());
        return view;
    }
    if !run.running() {
        return view;
    }
    match summary_of(job, pods, now) {
        Some(summary) => {
            run.attempt = run.attempt.or_else(|| attempt(job));
            let promotion: &PromotionSpec = &model.spec.promotion;
            view.events
                .extend(record_training(status, run, &summary, promotion, now));
        }
        None => view.recheck = Some(LAG_RETRY),
    }
    view
}

/// The training request token of the annotation, when it is not acted on yet.
fn pending_request(status: &MonitoredModelStatus, model: &MonitoredModel) -> Option<String> {
    model
        .annotations()
        .get(TRAIN_REQUEST_ANNOTATION)
        .filter(|token| status.handled_train_request.as_ref() != Some(*token))
        .cloned()
}

/// A request whose Job exists was acted on, even if that status write was lost.
fn mark_request_handled(status: &mut MonitoredModelStatus, model: &MonitoredModel, jobs: &[Job]) {
    if let Some(token) = pending_request(status, model) {
        let name = training_job_name(model, &manual_suffix(&token));
        if jobs.iter().any(|j| j.name_any() == name) {
            status.handled_train_request = Some(token);
        }
    }
}

fn manual_suffix(token: &str) -> String {
    // FNV-1a: a stable, dependency-free name suffix for a request token.
    let hash = token.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("manual-{:08x}", hash as u32)
}

/// A training to start now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainingStart {
    pub trigger: TrainingTrigger,
    pub name: String,
    pub attempt: Option<i32>,
}

/// 5 min, 10 min, 20 min, … capped at 6 h: the wait before attempt `failed + 1`.
pub fn retry_backoff(failed: i32) -> chrono::Duration {
    let doublings = u32::try_from(failed.saturating_sub(1)).unwrap_or(0).min(10);
    (chrono::Duration::minutes(5) * 2i32.pow(doublings)).min(chrono::Duration::hours(6))
}

/// Whether to start a training now; else when to look again (a retry backoff).
pub fn next_training(
    status: &mut MonitoredModelStatus,
    model: &MonitoredModel,
    running: bool,
    now: DateTime<Utc>,
) -> (Option<TrainingStart>, Option<Duration>) {
    if running {
        return (None, None);
    }
    if let Some(token) = pending_request(status, model) {
        let start = TrainingStart {
            trigger: TrainingTrigger::Manual,
            name: training_job_name(model, &manual_suffix(&token)),
            attempt: None,
        };
        status.handled_train_request = Some(token);
        return (Some(start), None);
    }
    if status.promoted_version.is_some() || status.serving_version.is_some() {
        return (None, None);
    }
    let initial = |attempt: i32| {
        let suffix = match attempt {
            1 => "initial".to_string(),
            n => format!("initial-{n}"),
        };
        TrainingStart {
            trigger: TrainingTrigger::Initial,
            name: training_job_name(model, &suffix),
            attempt: Some(attempt),
        }
    };
    match &status.last_training {
        None => (Some(initial(1)), None),
        Some(run) if run.outcome == TrainingOutcome::Failed => {
            let failed = run.attempt.unwrap_or(1);
            let spec_changed = status.observed_generation < model.metadata.generation;
            let due = run
                .finished_at
                .as_deref()
                .and_then(parse_time)
                .map(|t| t + retry_backoff(failed));
            match due {
                Some(due) if !spec_changed && due > now => {
                    let wait = (due - now).to_std().unwrap_or(LAG_RETRY);
                    (None, Some(wait))
                }
                _ => (Some(initial(failed + 1)), None),
            }
        }
        Some(_) => (None, None),
    }
}

/// When the next attempt of a failed first training starts, for the message.
pub fn retry_at(status: &MonitoredModelStatus) -> Option<String> {
    let run = status.last_training.as_ref()?;
    if run.outcome != TrainingOutcome::Failed || status.promoted_version.is_some() {
        return None;
    }
    let finished = parse_time(run.finished_at.as_deref()?)?;
    Some(rfc3339(finished + retry_backoff(run.attempt.unwrap_or(1))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_cap() {
        let minutes: Vec<i64> = (1..=9).map(|n| retry_backoff(n).num_minutes()).collect();
        assert_eq!(minutes, [5, 10, 20, 40, 80, 160, 320, 360, 360]);
        assert_eq!(retry_backoff(i32::MAX).num_hours(), 6);
    }

    #[test]
    fn request_names_are_stable() {
        assert_eq!(
            manual_suffix("2026-11-28 retry"),
            manual_suffix("2026-11-28 retry")
        );
        assert_ne!(manual_suffix("a"), manual_suffix("b"));
    }
}
