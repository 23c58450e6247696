//! `DriftPolicy`: how a MonitoredModel's live traffic is checked, and what the
//! checks found. Every field's doc comment is its `kubectl explain` text.

// The derive's repeated `printcolumn(type_ = …)` arguments are distinct columns,
// not duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vigil_core::drift::Verdict;
use vigil_core::performance::PerformanceBrief;

/// How a MonitoredModel's live traffic is checked for drift, and what happens then.
/// Every policy field is optional; `{modelRef: {name: m}}` is a complete policy.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "vigil.dev",
    version = "v1alpha1",
    kind = "DriftPolicy",
    namespaced,
    status = "DriftPolicyStatus",
    derive = "PartialEq",
    shortname = "dp",
    category = "vigil",
    doc = "Scheduled drift and data-quality checks of a MonitoredModel's traffic",
    printcolumn(name = "Model", type_ = "string", json_path = ".spec.modelRef.name"),
    printcolumn(name = "Schedule", type_ = "string", json_path = ".spec.schedule"),
    printcolumn(name = "Verdict", type_ = "string", json_path = ".status.lastCheck.verdict"),
    printcolumn(
        name = "Last-Check",
        type_ = "date",
        json_path = ".status.lastCheck.checkedAt"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    validation = Rule::new("self.spec.modelRef.name == oldSelf.spec.modelRef.name")
        .message("spec.modelRef.name is immutable: delete and re-create the DriftPolicy")
        .reason(Reason::FieldValueInvalid),
    validation = Rule::new("!has(self.spec.tests) || !has(self.spec.tests.psi) || !has(self.spec.tests.psi.warning) || !has(self.spec.tests.psi.critical) || self.spec.tests.psi.warning <= self.spec.tests.psi.critical")
        .message("spec.tests.psi.warning must not exceed spec.tests.psi.critical")
        .reason(Reason::FieldValueInvalid),
    validation = Rule::new("!has(self.spec.actions) || !has(self.spec.actions.retrain) || !has(self.spec.actions.retrain.minVerdict) || self.spec.actions.retrain.minVerdict in ['Warning', 'Critical']")
        .message("spec.actions.retrain.minVerdict must be Warning or Critical")
        .reason(Reason::FieldValueInvalid),
    validation = Rule::new("!has(self.spec.window) || !self.spec.window.matches('^0+[smhd]$')")
        .message("spec.window must be longer than 0s")
        .reason(Reason::FieldValueInvalid),
    validation = Rule::new("!has(self.spec.actions) || !has(self.spec.actions.notify) || self.spec.actions.notify.all(t, has(t.webhook) != has(t.pagerDuty))")
        .message("each spec.actions.notify target sets exactly one of webhook and pagerDuty")
        .reason(Reason::FieldValueInvalid),
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = super::openapi::integer_formats)]
pub struct DriftPolicySpec {
    /// The MonitoredModel (same namespace) whose traffic is checked.
    pub model_ref: ModelRef,
    /// How long one check may run before Kubernetes stops it (default 1800).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 60))]
    pub active_deadline_seconds: Option<i64>,
    /// Shards of one check (1–64; default 1). Above 1 each check is an Indexed Job
    /// of `parallelism + 1` Pods: Pods 0 to N−1 each check a slice of the window's
    /// log batches and write a partial, Pod N merges the partials and reports. For a
    /// window too large for one Pod; the verdict equals the unsharded check's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 64))]
    pub parallelism: Option<i32>,
    /// Schedule, window, tests, feature selection, quality thresholds and actions.
    #[serde(flatten)]
    pub rules: vigil_core::drift::DriftRules,
}

/// A MonitoredModel in the same namespace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelRef {
    /// Name of the MonitoredModel.
    #[schemars(length(min = 1, max = 63))]
    pub name: String,
}

/// What a DriftPolicy's checks found and what was done about it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = super::openapi::integer_formats)]
pub struct DriftPolicyStatus {
    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling, Stalled, Degraded (kstatus) and Drifted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The newest recorded check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check: Option<DriftCheck>,
    /// When this policy last started a retraining (RFC 3339); the cooldown counts from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_retrain_triggered: Option<String>,
    /// The last checks, newest last (at most 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<DriftCheck>,
}

/// One recorded drift check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriftCheck {
    /// The Job that ran the check.
    pub job: String,
    /// `None`, `Warning`, `Critical` or `InsufficientData`; `Failed` when the check itself failed.
    pub verdict: CheckVerdict,
    /// When the check ran (RFC 3339).
    pub checked_at: String,
    /// Features that drifted, worst first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drifted_features: Vec<String>,
    /// Failed data-quality checks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quality_failures: Vec<String>,
    /// The full JSON report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_uri: Option<String>,
    /// Why the check failed, as a condition reason (`CheckFailed`, `OOMKilled`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why the check failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What was decided about retraining, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrain: Option<String>,
    /// How many webhooks were notified (or why not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notified: Option<String>,
    /// The served model's performance in the check's window (`spec.performance`):
    /// CBPE's estimates with their alert bands, the values realized from the labels
    /// joined so far with their 95 % intervals, the label coverage, and the
    /// estimated-drop and concept-drift flags. Absent when performance is disabled or
    /// the check failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_performance: Option<PerformanceBrief>,
}

/// A check's verdict as recorded: the drift verdict, or `Failed` when the
/// check itself did not finish.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum CheckVerdict {
    None,
    Warning,
    Critical,
    InsufficientData,
    Failed,
}

impl CheckVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckVerdict::None => "None",
            CheckVerdict::Warning => "Warning",
            CheckVerdict::Critical => "Critical",
            CheckVerdict::InsufficientData => "InsufficientData",
            CheckVerdict::Failed => "Failed",
        }
    }

    /// Warning or Critical.
    pub fn is_drift(self) -> bool {
        matches!(self, CheckVerdict::Warning | CheckVerdict::Critical)
    }
}

impl From<Verdict> for CheckVerdict {
    fn from(verdict: Verdict) -> CheckVerdict {
        match verdict {
            Verdict::None => CheckVerdict::None,
            Verdict::Warning => CheckVerdict::Warning,
            Verdict::Critical => CheckVerdict::Critical,
            Verdict::InsufficientData => CheckVerdict::InsufficientData,
        }
    }
}

impl std::fmt::Display for CheckVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
