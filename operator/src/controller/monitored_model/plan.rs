//! The decision of one MonitoredModel reconcile: the new status and every
//! desired child, from the spec, the old status and the observed world. Pure.

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::ResourceExt;
use vigil_core::report::TrainSummary;

use super::status::{approve, reconcile_serving, record_training, set_conditions};
use super::{APPROVE_ANNOTATION, TRAIN_REQUEST_ANNOTATION};
use crate::build::{
    build_pdb, build_service, build_serving_deployment, build_training_cronjob, build_training_job,
    serving_name, train_job_config, training_job_name, BuildError, MANAGED_BY,
};
use crate::crd::{DriftPolicy, DriftStatus, MonitoredModel, MonitoredModelStatus, TrainingRun};
use crate::events::EventNote;
use crate::observe::{created_at, job_state, newest, trigger, JobState};
use crate::time::rfc3339;

/// What the API server holds for one MonitoredModel.
#[derive(Clone, Debug, Default)]
pub struct ModelWorld {
    pub deployment: Option<Deployment>,
    pub service: Option<Service>,
    pub pdb: Option<PodDisruptionBudget>,
    pub cronjob: Option<CronJob>,
    pub training_jobs: Vec<Job>,
    pub policies: Vec<DriftPolicy>,
    /// Termination message of the newest training Job, fetched only when that
    /// Job finished and its result is not in status yet.
    pub result: Option<String>,
}

/// Everything the apply step writes.
#[derive(Clone, Debug)]
pub struct ModelPlan {
    pub status: MonitoredModelStatus,
    pub deployment: Option<Deployment>,
    pub service: Service,
    pub pdb: Option<PodDisruptionBudget>,
    pub cronjob: Option<CronJob>,
    pub start_training: Option<Job>,
    pub events: Vec<EventNote>,
}

/// Label selector of a model's training Jobs (one-off and scheduled).
pub fn training_selector(model: &str) -> String {
    format!(
        "app.kubernetes.io/instance={model},app.kubernetes.io/component=training,app.kubernetes.io/managed-by={MANAGED_BY}"
    )
}

/// The newest training Job when it has finished and its result is not recorded.
pub fn unrecorded_result<'a>(model: &MonitoredModel, jobs: &'a [Job]) -> Option<&'a Job> {
    let job = newest(jobs)?;
    let recorded = model
        .status
        .as_ref()
        .and_then(|s| s.last_training.as_ref())
        .is_some_and(|run| run.job == job.name_any() && run.outcome != "Running");
    (job_state(job).finished() && !recorded).then_some(job)
}

fn parse_training_result(job: &Job, message: Option<&str>) -> TrainSummary {
    match message {
        Some(text) => serde_json::from_str(text).unwrap_or_else(|e| TrainSummary::Failed {
            reason: "UnreadableResult".into(),
            message: format!("the training Pod's termination message is not a result: {e}"),
        }),
        None => TrainSummary::Failed {
            reason: "NoResult".into(),
            message: match job_state(job) {
                JobState::Failed(why) => format!("the Job failed without a result: {why}"),
                _ => "the training Pod left no termination message".into(),
            },
        },
    }
}

fn short_hash(text: &str) -> String {
    // FNV-1a: a stable, dependency-free name suffix for a request token.
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{:08x}", hash as u32)
}

/// The newest check of the DriftPolicies watching this model.
fn drift_status(policies: &[DriftPolicy]) -> Option<DriftStatus> {
    policies
        .iter()
        .filter_map(|p| {
            let status = p.status.as_ref()?;
            let check = status.last_check.as_ref()?;
            Some(DriftStatus {
                verdict: check.verdict.clone(),
                checked_at: check.checked_at.clone(),
                drifted_features: check.drifted_features.clone(),
                report_uri: check.report_uri.clone(),
                policy: p.name_any(),
                retrain: check.retrain.clone(),
            })
        })
        .max_by(|a, b| a.checked_at.cmp(&b.checked_at))
}

/// The decision: new status and every desired child. Pure.
pub fn plan(
    model: &MonitoredModel,
    world: &ModelWorld,
    default_image: &str,
    now: DateTime<Utc>,
) -> Result<ModelPlan, BuildError> {
    let mut status = model.status.clone().unwrap_or_default();
    let generation = model.metadata.generation;
    let mut events = Vec::new();

    let newest_job = newest(&world.training_jobs);
    if let Some(job) = newest_job {
        let run = TrainingRun {
            job: job.name_any(),
            trigger: trigger(job),
            started_at: created_at(job),
            finished_at: None,
            outcome: "Running".into(),
            version: None,
            message: None,
        };
        let known = status
            .last_training
            .as_ref()
            .is_some_and(|r| r.job == run.job);
        if job_state(job).finished() {
            if unrecorded_result(model, &world.training_jobs).is_some() {
                let started_at = match &status.last_training {
                    Some(r) if known => r.started_at.clone(),
                    _ => run.started_at.clone(),
                };
                let summary = parse_training_result(job, world.result.as_deref());
                events.extend(record_training(
                    &mut status,
                    TrainingRun { started_at, ..run },
                    &summary,
                    &model.spec.promotion,
                    now,
                ));
            }
        } else if !known {
            status.last_training = Some(run);
        }
    }

    if let Some(version) = model.annotations().get(APPROVE_ANNOTATION) {
        events.extend(approve(&mut status, version, now));
    }
    events.extend(reconcile_serving(
        &mut status,
        model.spec.serving.pinned_version.as_deref(),
        now,
    ));

    let image = model.spec.serving.image.as_deref().unwrap_or(default_image);
    let config = train_job_config(model, status.serving_version.as_deref());
    let training_running = newest_job.is_some_and(|j| !job_state(j).finished());
    let request = model
        .annotations()
        .get(TRAIN_REQUEST_ANNOTATION)
        .filter(|token| status.handled_train_request.as_ref() != Some(*token))
        .cloned();
    let start = if training_running {
        None
    } else if world.training_jobs.is_empty()
        && status.last_training.is_none()
        && status.promoted_version.is_none()
    {
        Some(("Initial", "initial".to_string()))
    } else {
        request.map(|token| {
            let suffix = format!("manual-{}", short_hash(&token));
            status.handled_train_request = Some(token);
            ("Manual", suffix)
        })
    };
    let start_training = match start {
        Some((trigger, suffix)) => {
            let name = training_job_name(model, &suffix);
            let job = build_training_job(model, name.clone(), trigger, &config, image)?;
            status.last_training = Some(TrainingRun {
                job: name.clone(),
                trigger: trigger.into(),
                started_at: rfc3339(now),
                finished_at: None,
                outcome: "Running".into(),
                version: None,
                message: None,
            });
            events.push(EventNote {
                warning: false,
                reason: "TrainingStarted",
                note: format!("{trigger} training in Job {name}"),
            });
            Some(job)
        }
        None => None,
    };

    let deployment = status
        .serving_version
        .as_deref()
        .map(|version| build_serving_deployment(model, version, image))
        .transpose()?;
    let service = build_service(model)?;
    let pdb = build_pdb(model)?;
    let cronjob = build_training_cronjob(model, &config, image)?;

    status.drift = drift_status(&world.policies);
    status.endpoint = model
        .namespace()
        .map(|ns| format!("http://{}.{ns}.svc", serving_name(model)));
    status.observed_generation = generation;
    set_conditions(
        &mut status,
        model,
        world,
        training_running || start_training.is_some(),
        now,
    );
    Ok(ModelPlan {
        status,
        deployment,
        service,
        pdb,
        cronjob,
        start_training,
        events,
    })
}
