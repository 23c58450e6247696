//! `MonitoredModel`: what Vigil trains, serves and watches, and what it observed and
//! decided. Every field's doc comment is its `kubectl explain` text.

// The derive's repeated `printcolumn(type_ = …)` arguments are distinct columns,
// not duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vigil_core::data::schema::FeatureSchema;
use vigil_core::data::storage::StorageSpec;
use vigil_core::performance::Metric;
use vigil_core::train::config::{Resources, TrainingSpec};
use vigil_core::train::promotion::{GateResult, PromotionSpec};
use vigil_core::train::report::KeyMetrics;

use super::{CheckVerdict, PodSettings};

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
    printcolumn(
        name = "Metric",
        type_ = "string",
        json_path = ".status.drift.modelPerformance.metric",
        priority = "1"
    ),
    printcolumn(
        name = "Estimated",
        type_ = "number",
        json_path = ".status.drift.modelPerformance.estimated",
        priority = "1"
    ),
    printcolumn(
        name = "Realized",
        type_ = "number",
        json_path = ".status.drift.modelPerformance.realized",
        priority = "1"
    ),
    validation = Rule::new("!has(self.spec.serving) || !has(self.spec.serving.minAvailable) || self.spec.serving.minAvailable <= (has(self.spec.serving.replicas) ? self.spec.serving.replicas : 1)")
        .message("spec.serving.minAvailable must not exceed spec.serving.replicas")
        .reason(Reason::FieldValueInvalid),
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = super::openapi::integer_formats)]
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
    /// Where and as whom its Pods run (inference, training, checks): service
    /// account, node selector, tolerations, affinity, pull secrets, priority,
    /// extra labels, annotations and environment.
    #[serde(default, skip_serializing_if = "is_default")]
    pub pods: PodSettings,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
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
    #[schemars(range(min = 0))]
    pub min_available: Option<i32>,
    /// How long a new version may take to roll out (its Pods loaded and ready)
    /// before Vigil rolls back to the version that served before (default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 30))]
    pub progress_deadline_seconds: Option<i32>,
    /// Bearer tokens of the inference server, each from a Secret of the model's
    /// namespace. Without `admin`, /model/reload and /logs are off; without `feedback`,
    /// /feedback takes labels from anyone who can reach the Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<ServingTokens>,
}

/// The inference server's two bearer tokens. Kept apart, so that the label producer holds a
/// credential that can do nothing but send labels.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServingTokens {
    /// The token of /model/reload and /logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<SecretKeyRef>,
    /// The token every /feedback request must bear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<SecretKeyRef>,
}

/// A key of a Secret in the model's namespace. After rotating the value, restart the
/// Deployment (`kubectl rollout restart`): the server reads it when it starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretKeyRef {
    /// The Secret's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The key holding the token (default `token`).
    #[serde(default = "default_token_key")]
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

fn default_token_key() -> String {
    "token".into()
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
            progress_deadline_seconds: None,
            tokens: None,
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
    /// How often buffered predictions are written to the store, at most 1h
    /// (default `10s`; `500ms`, `2m` and a bare number of seconds work too).
    #[serde(default = "default_flush_interval")]
    #[schemars(pattern(FLUSH_INTERVAL_PATTERN))]
    pub flush_interval: String,
    /// File format of the prediction log: `jsonl` (gzip JSON Lines, the default) or
    /// `parquet` (one file of one row group a batch, for pyarrow, DuckDB or Spark).
    /// Drift checks and `GET /logs` read both, and a store may hold both.
    #[serde(default)]
    pub format: LogFileFormat,
}

/// The file format of the prediction log's batches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFileFormat {
    #[default]
    Jsonl,
    Parquet,
}

impl LogFileFormat {
    /// The value of `vigil serve --prediction-log-format`.
    pub fn as_arg(self) -> &'static str {
        match self {
            LogFileFormat::Jsonl => "jsonl",
            LogFileFormat::Parquet => "parquet",
        }
    }
}

impl Default for LoggingSpec {
    fn default() -> Self {
        LoggingSpec {
            sample_rate: default_sample_rate(),
            flush_interval: default_flush_interval(),
            format: LogFileFormat::default(),
        }
    }
}

fn default_sample_rate() -> f64 {
    1.0
}

/// [`vigil_core::span::Span`]'s grammar: a number and a unit `ms`, `s`, `m`, `h`, `d`.
const FLUSH_INTERVAL_PATTERN: &str = r"^([0-9]+|[0-9]*\.[0-9]+)(ms|s|m|h|d)?$";

fn default_flush_interval() -> String {
    "10s".into()
}

/// What Vigil observed and decided about a MonitoredModel.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = super::openapi::integer_formats)]
pub struct MonitoredModelStatus {
    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling, Stalled, Degraded (kstatus), ModelAvailable, Training, Drifted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The version the inference Deployment really serves: rolled out and ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving_version: Option<String>,
    /// The version Vigil wants served: `serving.pinnedVersion`, else the promoted
    /// version. It differs from `servingVersion` while it rolls out, and after
    /// its rollout failed (see `failedRollout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_version: Option<String>,
    /// The newest promoted version (served again when a pin is cleared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_version: Option<String>,
    /// The last version whose rollout failed (not retried until the pin or the
    /// promoted version changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_rollout: Option<FailedRollout>,
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

/// A version whose rollout did not finish.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailedRollout {
    /// The version that did not become ready.
    pub version: String,
    /// Why (the Deployment's condition, and what its Pods said).
    pub message: String,
    /// When the failure was seen (RFC 3339).
    pub time: String,
}

/// What happened to a version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum HistoryAction {
    /// Passed its gates and became the served version.
    Promoted,
    /// Failed a gate; not served.
    Rejected,
    /// Passed its gates; waits for approval (`promotion.auto: false`).
    AwaitingApproval,
    /// Served again: `serving.pinnedVersion` names an older version, or the
    /// rollout of a newer one failed.
    RolledBack,
    /// Served because `serving.pinnedVersion` names it.
    Pinned,
    /// The pin was cleared; the promoted version is served again.
    Unpinned,
    /// Its rollout did not finish (the Pods never became ready).
    RolloutFailed,
}

/// One decision in the history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// The version concerned.
    pub version: String,
    /// What was decided.
    pub action: HistoryAction,
    /// When (RFC 3339).
    pub time: String,
    /// Why, with the numbers.
    pub reason: String,
    /// Hold-out metrics of the version, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<KeyMetrics>,
}

/// Why a training ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TrainingTrigger {
    /// The first version of the model.
    Initial,
    /// `spec.training.schedule`.
    Schedule,
    /// A DriftPolicy's `actions.retrain`.
    Drift,
    /// The `vigil.dev/train-request` annotation.
    Manual,
}

impl TrainingTrigger {
    /// The value of a Job's `vigil.dev/trigger` annotation.
    pub fn as_str(self) -> &'static str {
        match self {
            TrainingTrigger::Initial => "Initial",
            TrainingTrigger::Schedule => "Schedule",
            TrainingTrigger::Drift => "Drift",
            TrainingTrigger::Manual => "Manual",
        }
    }

    pub fn parse(text: &str) -> Option<TrainingTrigger> {
        [
            TrainingTrigger::Initial,
            TrainingTrigger::Schedule,
            TrainingTrigger::Drift,
            TrainingTrigger::Manual,
        ]
        .into_iter()
        .find(|t| t.as_str() == text)
    }
}

impl std::fmt::Display for TrainingTrigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a training run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TrainingOutcome {
    Running,
    Succeeded,
    Failed,
}

/// A training Job and its outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrainingRun {
    /// Name of the Job.
    pub job: String,
    /// Why it ran.
    pub trigger: TrainingTrigger,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it finished (RFC 3339), if it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// `Running`, `Succeeded` or `Failed`.
    pub outcome: TrainingOutcome,
    /// The trained version, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Why it failed, as a condition reason (`TrainingFailed`, `OOMKilled`,
    /// `DeadlineExceeded`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The failure, on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The attempt of a first training (1, 2, …): one that fails is retried
    /// with a backoff until a version is promoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub attempt: Option<i32>,
}

impl TrainingRun {
    pub fn running(&self) -> bool {
        self.outcome == TrainingOutcome::Running
    }
}

/// The last drift verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriftStatus {
    /// `None`, `Warning`, `Critical`, `InsufficientData`, or `Failed` when the check failed.
    pub verdict: CheckVerdict,
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
    /// The served model's performance in that check, at a glance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_performance: Option<PerformanceGlance>,
}

/// The served model's performance in a check, at a glance: one metric, to 4 decimals.
/// The DriftPolicy's `status.lastCheck.modelPerformance` has every metric, exact, with
/// its alert band and interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PerformanceGlance {
    /// The metric shown: `rocAuc` when the policy's `performance.metrics` name it, else
    /// the first of them.
    pub metric: Metric,
    /// CBPE's estimate of the metric for the check's window (none: not estimated, see
    /// `reason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated: Option<f64>,
    /// The metric from the labels joined so far (none below
    /// `performance.minLabeledSamples`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realized: Option<f64>,
    /// Labelled predictions ÷ predictions of the window.
    pub label_coverage: f64,
    /// Some estimated metric (of any the policy names) is outside its alert band.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub estimated_drop: bool,
    /// Realized and estimated values have parted by more than 3 standard errors in two
    /// checks in a row: a sign of concept drift, which the estimate cannot see.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub concept_drift: bool,
    /// Why a value is missing (`NoHoldout`, `NotBinary`, `InsufficientLabels`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
