//! The custom resources: `MonitoredModel` (what to train, serve and watch),
//! `DriftPolicy` (how its traffic is checked) and their status. Every field's doc comment is its `kubectl explain` text.

// The derive's repeated `printcolumn(type_ = …)` arguments are distinct columns,
// not duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vigil_core::data::schema::FeatureSchema;
use vigil_core::data::storage::StorageSpec;
use vigil_core::train::config::{Resources, TrainingSpec};
use vigil_core::train::promotion::{GateResult, PromotionSpec};
use vigil_core::train::report::KeyMetrics;

pub const GROUP: &str = "vigil.dev";
pub const VERSION: &str = "v1alpha1";

/// A machine-learning model that Vigil trains, serves, logs and watches.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "vigil.dev",
    version = "v1alpha1",
    kind = "MonitoredModel",
    namespaced,
    status = "MonitoredModelStatus",
    derive = "PartialEq",
    shortname = "mm",
    category = "vigil",
    doc = "A model that Vigil trains, serves, logs and watches for drift",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Version",
        type_ = "string",
        json_path = ".status.servingVersion"
    ),
    printcolumn(name = "Drift", type_ = "string", json_path = ".status.drift.verdict"),
    printcolumn(
        name = "Last-Check",
        type_ = "date",
        json_path = ".status.drift.checkedAt"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    validation = Rule::new("!has(self.spec.serving) || !has(self.spec.serving.minAvailable) || self.spec.serving.minAvailable <= (has(self.spec.serving.replicas) ? self.spec.serving.replicas : 1)")
        .message("spec.serving.minAvailable must not exceed spec.serving.replicas")
        .reason(Reason::FieldValueInvalid),
)]
#[serde(rename_all = "camelCase")]
pub struct MonitoredModelSpec {
    /// Features and target: the single source of truth for the model's columns.
    pub schema: FeatureSchema,
    /// Where artifacts, prediction logs and reports live.
    pub storage: StorageSpec,
    /// How the model is trained (data, algorithm, hold-out, checks, schedule).
    pub training: TrainingSpec,
    /// When a trained candidate replaces the served version.
    #[serde(default)]
    pub promotion: PromotionSpec,
    /// How the model is served.
    #[serde(default)]
    pub serving: ServingSpec,
}

/// The inference Deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServingSpec {
    /// Number of inference Pods (default 1).
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0, max = 100))]
    pub replicas: i32,
    /// Container image of Vigil for the inference Pods; default: the operator's own image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// CPU and memory of each inference Pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Serve exactly this version (roll back or pin); clear it to follow promotions again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_version: Option<String>,
    /// Prediction logging.
    #[serde(default)]
    pub logging: LoggingSpec,
    /// Keep at least this many inference Pods during voluntary disruptions
    /// (a PodDisruptionBudget); omit for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available: Option<i32>,
}

impl Default for ServingSpec {
    fn default() -> Self {
        ServingSpec {
            replicas: default_replicas(),
            image: None,
            resources: None,
            pinned_version: None,
            logging: LoggingSpec::default(),
            min_available: None,
        }
    }
}

fn default_replicas() -> i32 {
    1
}

/// Prediction-log settings of the inference Pods.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoggingSpec {
    /// Fraction of predictions logged, 0 to 1 (default 1: every prediction).
    #[serde(default = "default_sample_rate")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub sample_rate: f64,
    /// How often buffered predictions are written to the store (default `10s`).
    #[serde(default = "default_flush_interval")]
    pub flush_interval: String,
}

impl Default for LoggingSpec {
    fn default() -> Self {
        LoggingSpec {
            sample_rate: default_sample_rate(),
            flush_interval: default_flush_interval(),
        }
    }
}

fn default_sample_rate() -> f64 {
    1.0
}

fn default_flush_interval() -> String {
    "10s".into()
}

/// What Vigil observed and decided about a MonitoredModel.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonitoredModelStatus {
    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, ModelAvailable, Training, Drifted and Degraded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The version the inference Deployment serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving_version: Option<String>,
    /// The newest promoted version (served again when a pin is cleared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_version: Option<String>,
    /// The newest trained version that was not promoted, with its gate results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_candidate: Option<Candidate>,
    /// The last decisions, newest last (at most 20).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryEntry>,
    /// The last training run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_training: Option<TrainingRun>,
    /// The last drift verdict of a DriftPolicy watching this model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<DriftStatus>,
    /// In-cluster URL of the inference Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The last `vigil.dev/train-request` annotation value acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handled_train_request: Option<String>,
}

/// A trained version waiting for promotion (or rejected).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// The candidate's version.
    pub version: String,
    /// Whether every gate passed.
    pub passed: bool,
    /// Each gate with its numbers.
    pub gates: Vec<GateResult>,
    /// Hold-out metrics of the candidate.
    pub metrics: KeyMetrics,
}

/// What happened to a version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Action {
    /// Passed its gates and became the served version.
    Promoted,
    /// Failed a gate; not served.
    Rejected,
    /// Passed its gates; waits for approval (`promotion.auto: false`).
    AwaitingApproval,
    /// Served because `serving.pinnedVersion` names an older version.
    RolledBack,
    /// Served because `serving.pinnedVersion` names it.
    Pinned,
    /// The pin was cleared; the promoted version is served again.
    Unpinned,
}

/// One decision in the history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// The version concerned.
    pub version: String,
    /// What was decided.
    pub action: Action,
    /// When (RFC 3339).
    pub time: String,
    /// Why, with the numbers.
    pub reason: String,
    /// Hold-out metrics of the version, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<KeyMetrics>,
}

/// A training Job and its outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrainingRun {
    /// Name of the Job.
    pub job: String,
    /// Why it ran: `Initial`, `Schedule`, `Drift` or `Manual`.
    pub trigger: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it finished (RFC 3339), if it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// `Running`, `Succeeded` or `Failed`.
    pub outcome: String,
    /// The trained version, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The failure, on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The last drift verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriftStatus {
    /// `None`, `Warning`, `Critical` or `InsufficientData`.
    pub verdict: String,
    /// When the check ran (RFC 3339).
    pub checked_at: String,
    /// Features that drifted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drifted_features: Vec<String>,
    /// The full report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_uri: Option<String>,
    /// The DriftPolicy that ran the check.
    pub policy: String,
    /// What was decided about retraining, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrain: Option<String>,
}

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
)]
#[serde(rename_all = "camelCase")]
pub struct DriftPolicySpec {
    /// The MonitoredModel (same namespace) whose traffic is checked.
    pub model_ref: ModelRef,
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
pub struct DriftPolicyStatus {
    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready (the check CronJob exists), Drifted and Degraded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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
    pub verdict: String,
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
    /// Why the check failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What was decided about retraining, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrain: Option<String>,
    /// How many webhooks were notified (or why not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notified: Option<String>,
}
