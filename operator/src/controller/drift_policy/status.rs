//! The conditions of a DriftPolicy, decided together from what the plan
//! observed (`PolicyFacts`). Pure; `health` is public so that tools and tests
//! can build the conditions of any scenario.

use chrono::{DateTime, Utc};

use crate::apply::Rejection;
use crate::controller::conditions::{
    drifted, reason, set_invalid_spec, stopped_reason, write, ConditionType, Health, Value,
};
use crate::crd::{CheckVerdict, DriftPolicy, DriftPolicyStatus};
use crate::events::EventNote;
use crate::observe::PodProblem;

/// What the conditions are computed from, besides the status itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PolicyFacts {
    /// The model: `None` missing, `Err` unreadable (the error), else its name
    /// and served version.
    pub model: Option<Result<(String, Option<String>), String>>,
    /// The check Job that runs, if one does.
    pub running_check: Option<String>,
    /// Why its Pod does not run, if it does not.
    pub check_problem: Option<PodProblem>,
    /// A write of the CronJob the API server refused.
    pub rejected: Option<Rejection>,
}

/// What the model's state means for the policy: `Ready`, and the `Reconciling`
/// or the blocking failure (`Stalled` and `Degraded`) it implies.
fn model_state(
    policy: &DriftPolicy,
    facts: &PolicyFacts,
    failure: Option<&Value>,
) -> (Value, Option<Value>, Option<Value>) {
    let model = &policy.spec.model_ref.name;
    match &facts.model {
        // Not a failure yet: the model may be on its way (one `kubectl apply -f`
        // of both creates the policy first as often as not).
        None => (
            Value::no(
                reason::MODEL_NOT_FOUND,
                format!(
                    "MonitoredModel {model} does not exist in this namespace: create it or fix spec.modelRef.name"
                ),
            ),
            None,
            None,
        ),
        Some(Err(error)) => {
            let why = format!("MonitoredModel {model} cannot be read ({error}): fix the model");
            (
                Value::no(reason::MODEL_INVALID, why.clone()),
                None,
                Some(Value::yes(reason::MODEL_INVALID, why)),
            )
        }
        Some(Ok((name, None))) => {
            let why = format!("MonitoredModel {name} serves no version yet");
            (
                Value::no(reason::WAITING_FOR_MODEL, why.clone()),
                Some(Value::yes(reason::WAITING_FOR_MODEL, why)),
                None,
            )
        }
        Some(Ok((_, Some(version)))) => {
            let ready = match failure {
                Some(f) => Value::no(reason::CHECK_FAILED, f.message.clone()),
                None => Value::yes(
                    reason::SCHEDULED,
                    format!(
                        "checks of {version} run on `{}` over the last {}",
                        policy.spec.rules.schedule, policy.spec.rules.window
                    ),
                ),
            };
            (ready, None, None)
        }
    }
}

/// `Ready`, `Reconciling`, `Stalled` and `Degraded` of a policy.
pub fn health(status: &DriftPolicyStatus, policy: &DriftPolicy, facts: &PolicyFacts) -> Health {
    let failure = status
        .last_check
        .as_ref()
        .filter(|c| c.verdict == CheckVerdict::Failed)
        .map(|c| {
            Value::yes(
                c.reason
                    .as_deref()
                    .and_then(stopped_reason)
                    .unwrap_or(reason::CHECK_FAILED),
                format!(
                    "check Job {} failed: {}",
                    c.job,
                    c.message.clone().unwrap_or_default()
                ),
            )
        });
    let (ready, waiting, blocked) = model_state(policy, facts, failure.as_ref());
    // A CronJob the API server refused is not in place.
    let ready = match &facts.rejected {
        Some(r) => Value::no(r.reason, r.to_string()),
        None => ready,
    };
    let reconciling = facts
        .running_check
        .as_ref()
        .map(|job| Value::yes(reason::CHECKING, format!("check Job {job} runs")))
        .or(waiting);
    let degraded = facts
        .rejected
        .as_ref()
        .map(|r| Value::yes(r.reason, r.to_string()))
        .or_else(|| blocked.clone())
        .or_else(|| {
            facts
                .check_problem
                .as_ref()
                .map(|p| Value::yes(p.reason, p.describe("check")))
        })
        .or(failure);
    let stalled = match (&facts.rejected, &facts.model) {
        (Some(r), _) if r.stalls() => Some(Value::yes(reason::APPLY_REJECTED, r.to_string())),
        (_, Some(Err(_))) => blocked,
        _ => None,
    };
    Health {
        ready,
        reconciling,
        stalled,
        degraded,
    }
}

/// Every condition of the policy, and the Event that announces a new failure
/// observed in the world (a check Pod that cannot start, a refused write).
pub fn set_conditions(
    status: &mut DriftPolicyStatus,
    policy: &DriftPolicy,
    facts: &PolicyFacts,
    now: DateTime<Utc>,
) -> Option<EventNote> {
    let health = health(status, policy, facts);
    let check = status.last_check.as_ref();
    let drifted = drifted(
        check.map(|c| c.verdict),
        check
            .map(|c| format!("drifted: {}", c.drifted_features.join(", ")))
            .unwrap_or_default(),
        || {
            check
                .map(|c| format!("last verdict: {}", c.verdict))
                .unwrap_or_default()
        },
    );
    let live = facts.rejected.is_some() || facts.check_problem.is_some();
    write(
        &mut status.conditions,
        &health,
        vec![(ConditionType::Drifted, drifted)],
        live,
        policy.metadata.generation,
        now,
    )
}

/// The status of a policy whose spec is invalid.
pub fn invalid_status(
    policy: &DriftPolicy,
    message: &str,
    now: DateTime<Utc>,
) -> DriftPolicyStatus {
    let mut status = policy.status.clone().unwrap_or_default();
    status.observed_generation = policy.metadata.generation;
    set_invalid_spec(
        &mut status.conditions,
        message,
        policy.metadata.generation,
        now,
    );
    status
}
