//! The decision of one DriftPolicy reconcile: the new status, the check
//! CronJob and a retraining Job. Pure.

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Pod;
use kube::core::PartialObjectMeta;
use kube::ResourceExt;
use vigil_core::drift::{DriftJobConfig, DriftSummary};

use super::check::{record_check, Recorded};
use super::status::{set_conditions, PolicyFacts};
use crate::build::{build_drift_cronjob, BuildError};
use crate::crd::{DriftPolicy, DriftPolicyStatus, MonitoredModel};
use crate::events::EventNote;
use crate::observe::{first_problem, job_state, newest, pods_of};

/// The policy's model as the store holds it.
#[derive(Clone, Debug, Default)]
pub enum ModelLookup {
    #[default]
    Missing,
    /// The model exists but does not match its type (the serde error).
    Unreadable(String),
    Found(Box<MonitoredModel>),
}

/// What the cluster holds for one DriftPolicy.
#[derive(Clone, Debug, Default)]
pub struct PolicyWorld {
    pub model: ModelLookup,
    /// The check CronJob as metadata: only its applied intent is compared.
    pub cronjob: Option<PartialObjectMeta<CronJob>>,
    /// The policy's check Jobs and their Pods.
    pub check_jobs: Vec<Job>,
    pub check_pods: Vec<Pod>,
    /// The model's training Jobs (one runs: no retrain; one is named after a
    /// check: that check's retrain started already).
    pub training_jobs: Vec<Job>,
}

#[derive(Clone, Debug)]
pub struct PolicyPlan {
    pub status: DriftPolicyStatus,
    /// The check CronJob; `None` deletes it (no model to check).
    pub cronjob: Option<CronJob>,
    /// Leave the CronJob alone (the model cannot be read: nothing is known).
    pub keep_cronjob: bool,
    /// A training Job for the model, when drift triggers one.
    pub retrain: Option<Job>,
    /// The check recorded in this pass (for webhooks and metrics).
    pub recorded: Option<DriftSummary>,
    /// Events about the policy, and about the model.
    pub events: Vec<EventNote>,
    pub model_events: Vec<EventNote>,
    /// The Event announcing a new failure the conditions show.
    pub announce: Option<EventNote>,
    /// What the conditions were computed from (the apply step adds a refused write).
    pub facts: PolicyFacts,
    pub requeue_after: Option<Duration>,
}

/// The check CronJob for the model's served version.
fn check_cronjob(
    policy: &DriftPolicy,
    model: &MonitoredModel,
    default_image: &str,
) -> Result<Option<CronJob>, BuildError> {
    let Some(version) = model
        .status
        .as_ref()
        .and_then(|s| s.serving_version.clone())
    else {
        return Ok(None);
    };
    let config = DriftJobConfig {
        model: Some(model.name_any()),
        storage: model.spec.storage.clone(),
        served_version: Some(version),
        policy: policy.spec.rules.clone(),
        namespace: policy.namespace(),
        policy_name: Some(policy.name_any()),
    };
    let image = model.spec.serving.image.as_deref().unwrap_or(default_image);
    build_drift_cronjob(policy, model, &config, image).map(Some)
}

/// The decision: new status, the CronJob, a retraining Job. Pure.
pub fn plan(
    policy: &DriftPolicy,
    world: &PolicyWorld,
    default_image: &str,
    now: DateTime<Utc>,
) -> Result<PolicyPlan, BuildError> {
    let mut status = policy.status.clone().unwrap_or_default();
    let cronjob = match &world.model {
        ModelLookup::Found(model) => check_cronjob(policy, model, default_image)?,
        _ => None,
    };
    let Recorded {
        summary,
        retrain,
        events,
        model_events,
        recheck,
    } = record_check(
        policy,
        &mut status,
        &world.model,
        (&world.check_jobs, &world.check_pods, &world.training_jobs),
        default_image,
        now,
    )?;
    let running = newest(&world.check_jobs).filter(|j| !job_state(j).finished());
    let facts = PolicyFacts {
        model: match &world.model {
            ModelLookup::Missing => None,
            ModelLookup::Unreadable(error) => Some(Err(error.clone())),
            ModelLookup::Found(model) => Some(Ok((
                model.name_any(),
                model
                    .status
                    .as_ref()
                    .and_then(|s| s.serving_version.clone()),
            ))),
        },
        running_check: running.map(|j| j.name_any()),
        check_problem: running
            .and_then(|j| first_problem(pods_of(&world.check_pods, &j.name_any()).into_iter())),
        rejected: None,
    };
    status.observed_generation = policy.metadata.generation;
    let announce = set_conditions(&mut status, policy, &facts, now);
    Ok(PolicyPlan {
        status,
        keep_cronjob: matches!(world.model, ModelLookup::Unreadable(_)),
        cronjob,
        retrain,
        recorded: summary,
        events,
        model_events,
        announce,
        facts,
        requeue_after: recheck,
    })
}
