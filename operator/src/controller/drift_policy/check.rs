//! Recording a finished check: its result (or why it has none), the retrain
//! decision with the cooldown, and the Events. Pure.
//!
//! Idempotent: a retraining Job is named after the check that starts it, so a
//! reconcile that repeats after a lost status write finds that Job and records
//! the retrain (and its time, for the cooldown) instead of deciding anew.

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use vigil_core::drift::{DriftSummary, Verdict};

use super::performance::{concept_drift, estimated_drop};
use super::plan::ModelLookup;
use super::retrain::{decide_retrain, retrain_cause, RetrainCause, RetrainDecision};
use crate::build::{build_training_job, train_job_config, training_job_name, BuildError};
use crate::controller::conditions::{reason, stopped_reason};
use crate::crd::{
    CheckVerdict, DriftCheck, DriftPolicy, DriftPolicyStatus, MonitoredModel, TrainingTrigger,
};
use crate::events::{reason as event, EventNote};
use crate::observe::{created_at, finished_at, job_end, job_state, newest, pods_of, JobEnd};
use crate::time::{parse_time, rfc3339};

/// Bound of `status.history`.
pub const CHECK_HISTORY_LIMIT: usize = 10;
/// How long a finished check Job may go without a visible Pod before it counts
/// as having left no result.
const RESULT_GRACE: chrono::Duration = chrono::Duration::minutes(2);
/// Where Kubernetes puts a Pod's index in an Indexed Job.
const COMPLETION_INDEX_ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";

/// What recording one check decided.
#[derive(Clone, Debug, Default)]
pub struct Recorded {
    /// The check's summary (for metrics).
    pub summary: Option<DriftSummary>,
    /// A training Job to create.
    pub retrain: Option<Job>,
    /// Events about the policy, and about the model.
    pub events: Vec<EventNote>,
    pub model_events: Vec<EventNote>,
    /// Look again after this long (the Pod watch lags the Job watch).
    pub recheck: Option<Duration>,
}

/// The newest finished check Job that is not in the status yet (a store that
/// lags can hold an older Job only, which is recorded already).
pub fn unrecorded_check<'a>(status: &DriftPolicyStatus, jobs: &'a [Job]) -> Option<&'a Job> {
    let job = newest(jobs)?;
    let name = job.name_any();
    let recorded = status
        .last_check
        .iter()
        .chain(&status.history)
        .any(|c| c.job == name);
    (job_state(job).finished() && !recorded).then_some(job)
}

/// The condition reason of a failed check: what stopped its Pod, or
/// `CheckFailed` when `vigil drift` reported the failure itself.
fn failure_reason(summary_reason: &str) -> &'static str {
    stopped_reason(summary_reason).unwrap_or(reason::CHECK_FAILED)
}

fn summary_of(job: &Job, pods: &[Pod], now: DateTime<Utc>) -> Option<DriftSummary> {
    let mine = reporting_pods(job, pods_of(pods, &job.name_any()));
    match job_end(job, &mine, "check") {
        JobEnd::Result(text) => {
            Some(
                serde_json::from_str(&text).unwrap_or_else(|e| DriftSummary::Failed {
                    reason: "UnreadableResult".into(),
                    message: format!("the check Pod's termination message is not a result: {e}"),
                }),
            )
        }
        JobEnd::Stopped(failure) => Some(DriftSummary::Failed {
            reason: failure.reason.into(),
            message: failure.message,
        }),
        JobEnd::NoPod => finished_at(job)
            .is_none_or(|t| now - t > RESULT_GRACE)
            .then(|| DriftSummary::Failed {
                reason: "NoResult".into(),
                message: format!("check Job {} left no Pod with a result", job.name_any()),
            }),
    }
}

/// The Pods of a check Job that can say how it ended, the telling one last. One
/// Pod, unless sharded: a shard that succeeded wrote only its partial, so the
/// result is the merge step's (the last index); when the Job failed, a failed
/// shard says why before the merge step (which the Job controller then stops).
fn reporting_pods<'a>(job: &Job, pods: Vec<&'a Pod>) -> Vec<&'a Pod> {
    let Some(merge) = merge_index(job) else {
        return pods;
    };
    let (merge_step, shards): (Vec<&Pod>, Vec<&Pod>) = pods
        .into_iter()
        .partition(|p| completion_index(p) == Some(merge));
    let failed_shards = shards.into_iter().filter(|p| !terminated_cleanly(p));
    merge_step.into_iter().chain(failed_shards).collect()
}

/// The merge step's index when `job` is a sharded check (Indexed, more than one completion).
fn merge_index(job: &Job) -> Option<i32> {
    let spec = job.spec.as_ref()?;
    let completions = spec.completions.filter(|&n| n > 1)?;
    (spec.completion_mode.as_deref() == Some("Indexed")).then_some(completions - 1)
}

fn completion_index(pod: &Pod) -> Option<i32> {
    pod.annotations()
        .get(COMPLETION_INDEX_ANNOTATION)?
        .parse()
        .ok()
}

fn terminated_cleanly(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .is_some_and(|statuses| {
            !statuses.is_empty()
                && statuses.iter().all(|c| {
                    c.state
                        .as_ref()
                        .and_then(|s| s.terminated.as_ref())
                        .is_some_and(|t| t.exit_code == 0)
                })
        })
}

fn check_of(job: &Job, summary: &DriftSummary) -> DriftCheck {
    let mut check = DriftCheck {
        job: job.name_any(),
        verdict: CheckVerdict::Failed,
        checked_at: created_at(job),
        drifted_features: vec![],
        quality_failures: vec![],
        report_uri: None,
        reason: None,
        message: None,
        retrain: None,
        notified: None,
        model_performance: None,
    };
    match summary {
        DriftSummary::Succeeded {
            verdict,
            drifted_features,
            quality_failures,
            checked_at,
            report_uri,
            notified,
            model_performance,
            ..
        } => {
            check.notified = notified.as_ref().map(ToString::to_string);
            check.model_performance.clone_from(model_performance);
            check.verdict = (*verdict).into();
            check.checked_at = rfc3339(*checked_at);
            check.drifted_features.clone_from(drifted_features);
            check.quality_failures.clone_from(quality_failures);
            check.report_uri = Some(report_uri.clone());
        }
        DriftSummary::Failed {
            reason: why,
            message,
        } => {
            check.reason = Some(failure_reason(why).into());
            check.message = Some(format!("{why}: {message}"));
        }
    }
    check
}

/// The Events of a recorded check: drift found, an estimated drop and concept drift
/// (on both resources), a failed notification, a failed check.
fn check_events(
    policy: &DriftPolicy,
    job: &Job,
    check: &DriftCheck,
    summary: &DriftSummary,
    recorded: &mut Recorded,
) {
    if check.verdict.is_drift() {
        let found = if check.drifted_features.is_empty() {
            check.quality_failures.join("; ")
        } else {
            check.drifted_features.join(", ")
        };
        let note = EventNote::warning(
            event::DRIFT_DETECTED,
            format!(
                "{} drift (policy {}): {found}",
                check.verdict,
                policy.name_any()
            ),
        );
        recorded.events.push(note.clone());
        recorded.model_events.push(note);
    }
    if let Some(brief) = &check.model_performance {
        let policy = policy.name_any();
        let found = [
            (event::ESTIMATED_PERFORMANCE_DROP, estimated_drop(brief)),
            (event::CONCEPT_DRIFT, concept_drift(brief)),
        ];
        for (reason, words) in found {
            if let Some(words) = words {
                let note = EventNote::warning(reason, format!("{words} (policy {policy})"));
                recorded.events.push(note.clone());
                recorded.model_events.push(note);
            }
        }
    }
    if let DriftSummary::Succeeded {
        notified: Some(notified),
        ..
    } = summary
    {
        if !notified.failures.is_empty() {
            recorded.events.push(EventNote::warning(
                event::NOTIFICATION_FAILED,
                format!("Job {}: {notified}", job.name_any()),
            ));
        }
    }
    if let DriftSummary::Failed {
        reason: why,
        message,
    } = summary
    {
        recorded.events.push(EventNote::warning(
            event::DRIFT_CHECK_FAILED,
            format!("Job {}: {why}: {message}", job.name_any()),
        ));
    }
}

/// The retrain a check asks for. Named after the check (`…-<n>` →
/// `<model>-train-drift-<n>`), so a repeat finds the Job it started and
/// records it with that Job's creation time instead of deciding anew.
fn retrain(
    policy: &DriftPolicy,
    status: &mut DriftPolicyStatus,
    model: &MonitoredModel,
    (job, summary, training_jobs): (&Job, &DriftSummary, &[Job]),
    default_image: &str,
    now: DateTime<Utc>,
) -> Result<(RetrainDecision, Option<Job>, Option<EventNote>), BuildError> {
    let suffix = format!("drift-{}", job.name_any().rsplit('-').next().unwrap_or("0"));
    let name = training_job_name(model, &suffix);
    let started = training_jobs.iter().find(|j| j.name_any() == name);
    let rules = &policy.spec.rules;
    let decision = match started {
        // Started by an earlier pass over this check: its cause is the summary's.
        Some(_) => RetrainDecision::Trigger(retrain_cause(rules, summary).unwrap_or(
            RetrainCause::Drift(summary.verdict().unwrap_or(Verdict::None)),
        )),
        None => decide_retrain(
            rules,
            summary,
            status
                .last_retrain_triggered
                .as_deref()
                .and_then(parse_time),
            training_jobs.iter().any(|j| !job_state(j).finished()),
            now,
        ),
    };
    let RetrainDecision::Trigger(cause) = &decision else {
        return Ok((decision, None, None));
    };
    status.last_retrain_triggered = Some(started.map_or_else(|| rfc3339(now), created_at));
    let build = match started {
        Some(_) => None,
        None => {
            let served = model
                .status
                .as_ref()
                .and_then(|s| s.serving_version.as_deref());
            let config = train_job_config(model, served);
            let image = model.spec.serving.image.as_deref().unwrap_or(default_image);
            Some(build_training_job(
                model,
                &name,
                TrainingTrigger::Drift,
                None,
                &config,
                image,
            )?)
        }
    };
    let found = match cause {
        RetrainCause::Drift(verdict) => format!("{verdict} drift"),
        RetrainCause::EstimatedDrop(why) => why.clone(),
    };
    let note = EventNote::normal(
        event::RETRAIN_TRIGGERED,
        format!(
            "{found} found by Job {} (policy {}): training Job {name}",
            job.name_any(),
            policy.name_any()
        ),
    );
    Ok((decision, build, Some(note)))
}

/// Records the newest finished check and acts on it.
pub fn record_check(
    policy: &DriftPolicy,
    status: &mut DriftPolicyStatus,
    model: &ModelLookup,
    jobs: (&[Job], &[Pod], &[Job]),
    default_image: &str,
    now: DateTime<Utc>,
) -> Result<Recorded, BuildError> {
    let (check_jobs, check_pods, training_jobs) = jobs;
    let mut recorded = Recorded::default();
    let ModelLookup::Found(model) = model else {
        return Ok(recorded);
    };
    let Some(job) = unrecorded_check(status, check_jobs) else {
        return Ok(recorded);
    };
    let Some(summary) = summary_of(job, check_pods, now) else {
        recorded.recheck = Some(Duration::from_secs(5));
        return Ok(recorded);
    };
    let mut check = check_of(job, &summary);
    let (decision, job_to_start, started) = retrain(
        policy,
        status,
        model,
        (job, &summary, training_jobs),
        default_image,
        now,
    )?;
    check.retrain = Some(decision.describe());
    check_events(policy, job, &check, &summary, &mut recorded);
    if let Some(note) = started {
        recorded.events.push(note.clone());
        recorded.model_events.push(note);
    }
    recorded.retrain = job_to_start;
    status.history.push(check.clone());
    let excess = status.history.len().saturating_sub(CHECK_HISTORY_LIMIT);
    status.history.drain(..excess);
    status.last_check = Some(check);
    recorded.summary = Some(summary);
    Ok(recorded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const JOB: &str = "income-drift-check-29400000";

    /// A check Job of `parallelism: 3` (four completions) in the given condition.
    fn sharded_job(condition: &str) -> Job {
        serde_json::from_value(json!({
            "metadata": {"name": JOB, "namespace": "ml"},
            "spec": {"completionMode": "Indexed", "completions": 4, "parallelism": 4,
                     "template": {"spec": {"containers": []}}},
            "status": {"conditions": [{"type": condition, "status": "True",
                                        "reason": "BackoffLimitExceeded"}]}
        }))
        .expect("job")
    }

    /// The Pod of step `index`, its container ended with `exit` and `message`.
    fn step_pod(index: i32, exit: i32, message: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": format!("{JOB}-{index}-x7k2p"), "namespace": "ml",
                         "creationTimestamp": format!("2026-11-28T18:00:0{index}Z"),
                         "labels": {"batch.kubernetes.io/job-name": JOB},
                         "annotations": {COMPLETION_INDEX_ANNOTATION: index.to_string()}},
            "status": {"containerStatuses": [{"name": "drift", "image": "vigil", "imageID": "",
                "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": exit, "message": message}}}]}
        }))
        .expect("pod")
    }

    fn result(verdict: &str) -> String {
        let value: Value = json!({
            "outcome": "succeeded", "verdict": verdict, "driftVerdict": verdict,
            "qualityPassed": true, "driftedFeatures": ["age"], "driftedCount": 1, "top": [],
            "referenceRows": 10000, "currentRows": 3000000, "modelVersion": "v1",
            "checkedAt": "2026-11-28T18:02:00Z",
            "reportUri": "s3://models/income/reports/drift/x.json",
            "htmlUri": "s3://models/income/reports/drift/x.html"
        });
        value.to_string()
    }

    fn now() -> DateTime<Utc> {
        "2026-11-28T18:05:00Z".parse().expect("time")
    }

    /// The shards' plain-text messages are not results; the merge step's is,
    /// whichever Pod terminated last.
    #[test]
    fn a_sharded_check_reports_what_its_merge_step_wrote() {
        let pods = vec![
            step_pod(3, 0, &result("Critical")),
            step_pod(0, 0, "shard 0 of 3: 69 batches, 1,000,120 rows"),
            step_pod(1, 0, "shard 1 of 3: 68 batches, 999,870 rows"),
            step_pod(2, 0, "shard 2 of 3: 68 batches, 1,000,010 rows"),
        ];
        let summary = summary_of(&sharded_job("Complete"), &pods, now()).expect("summary");
        let DriftSummary::Succeeded { verdict, .. } = summary else {
            panic!("{summary:?}");
        };
        assert_eq!(verdict, Verdict::Critical);
    }

    /// A shard failed, so the Job failed and its controller stopped the merge
    /// step: the shard's error is the reason, not the stopped merge step's.
    #[test]
    fn a_failed_shard_is_why_a_sharded_check_failed() {
        let pods = vec![
            step_pod(0, 0, "shard 0 of 3: 69 batches, 1,000,120 rows"),
            step_pod(1, 5, "store: GET s3://models/income/logs/x.jsonl.gz: 503"),
            step_pod(2, 0, "shard 2 of 3: 68 batches, 1,000,010 rows"),
            step_pod(3, 143, "waiting for the shards' partials"),
        ];
        let summary = summary_of(&sharded_job("Failed"), &pods, now()).expect("summary");
        let DriftSummary::Failed { reason, message } = summary else {
            panic!("{summary:?}");
        };
        assert_eq!(reason, reason::CONTAINER_FAILED);
        assert_eq!(
            message,
            format!(
                "check Pod {JOB}-1-x7k2p: container drift exited with code 5: \
                 store: GET s3://models/income/logs/x.jsonl.gz: 503"
            )
        );
    }

    /// The merge step that gave up on its own (a store error) says why.
    #[test]
    fn a_merge_step_that_failed_says_why() {
        let failed = json!({"outcome": "failed", "reason": "StoreError",
                            "message": "partial 2 of 3 unreadable"})
        .to_string();
        let pods = vec![
            step_pod(0, 0, "shard 0 of 3: 69 batches"),
            step_pod(1, 0, "shard 1 of 3: 68 batches"),
            step_pod(2, 0, "shard 2 of 3: 68 batches"),
            step_pod(3, 5, &failed),
        ];
        let summary = summary_of(&sharded_job("Failed"), &pods, now()).expect("summary");
        assert_eq!(
            summary,
            DriftSummary::Failed {
                reason: "StoreError".into(),
                message: "partial 2 of 3 unreadable".into()
            }
        );
    }
}
