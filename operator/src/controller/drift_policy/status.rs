//! The status of a DriftPolicy.

use chrono::{DateTime, Utc};

use crate::controller::conditions::set_invalid_spec;
use crate::crd::{DriftPolicy, DriftPolicyStatus};

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
