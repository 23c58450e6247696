//! [`DriftRules`]: how a model's live traffic is checked — schedule, window, tests,
//! feature selection, quality thresholds and actions. The same serde type is the spec
//! of the `DriftPolicy` CRD (flattened beside its `modelRef`) and what `vigil drift`
//! reads as JSON/YAML (the `policy` of its config).
//!
//! Unchecked on deserialization; call [`DriftRules::check`] before use (linfa's
//! params → `check()` pattern). Every field has a default, so `{}` is a valid policy.

use serde::{Deserialize, Serialize};

use crate::performance::Metric;
use crate::span::Span;
use crate::stats::Correction;

use super::verdict::Verdict;

/// The rules of a DriftPolicy: everything in its spec but the model it watches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DriftRules {
    /// Cron schedule of the checks (used by the operator; default every 6 hours).
    #[serde(default = "default_schedule")]
    #[cfg_attr(
        feature = "schema",
        schemars(pattern(crate::train::config::CRON_PATTERN))
    )]
    pub schedule: String,
    /// How far back each check looks (default 6h).
    #[serde(default = "default_window")]
    pub window: Span,
    /// Rows in the window (or non-missing values of a feature) from which a test result
    /// is reported as it is (default 500). Below it a result counts only when it is
    /// decisive — the corrected p-value at most a hundredth of the level and the effect
    /// at or above `tests.psi.critical` — and is marked as a small sample; otherwise the
    /// verdict is `InsufficientData` (and always below 30 values).
    #[serde(default = "default_min_samples")]
    #[cfg_attr(feature = "schema", schemars(range(min = 1)))]
    pub min_samples: usize,
    /// Below `minSamples`, always `InsufficientData`, however decisive the evidence
    /// (the rule before small-sample verdicts; default false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strict_min_samples: bool,
    /// Statistical tests and their thresholds.
    #[serde(default)]
    pub tests: TestsSpec,
    /// Which features are checked.
    #[serde(default)]
    pub features: FeatureSelection,
    /// Data-quality thresholds of the live window.
    #[serde(default)]
    pub quality: QualitySpec,
    /// What the operator does with a verdict.
    #[serde(default)]
    pub actions: ActionsSpec,
    /// The served model's performance: estimated from its scores (CBPE) and realized
    /// from `/feedback` labels. Off without this block (a check then reads only the batch
    /// profiles); a block turns it on, and costs a read of the window's log.
    #[serde(default = "ModelPerformanceSpec::off")]
    pub performance: ModelPerformanceSpec,
}

impl Default for DriftRules {
    fn default() -> Self {
        DriftRules {
            schedule: default_schedule(),
            window: default_window(),
            min_samples: default_min_samples(),
            strict_min_samples: false,
            tests: TestsSpec::default(),
            features: FeatureSelection::default(),
            quality: QualitySpec::default(),
            actions: ActionsSpec::default(),
            performance: ModelPerformanceSpec::off(),
        }
    }
}

fn default_schedule() -> String {
    "0 */6 * * *".to_string()
}
fn default_window() -> Span {
    Span::from_hours(6)
}
fn default_min_samples() -> usize {
    500
}

/// The statistical tests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestsSpec {
    /// Two-sample Kolmogorov–Smirnov test on numeric features.
    #[serde(default)]
    pub ks: PValueTest,
    /// χ² test of homogeneity on categorical features (missing counts as a category).
    #[serde(default)]
    pub chi_square: PValueTest,
    /// Population stability index thresholds (both kinds of feature and the prediction score).
    #[serde(default)]
    pub psi: PsiSpec,
    /// Prediction drift: χ² on predicted classes, PSI on the predicted score.
    #[serde(default)]
    pub prediction: PValueTest,
    /// Multiple-testing correction over the per-feature p-values.
    #[serde(default)]
    pub correction: CorrectionKind,
    /// Effect-size floors: a significant test only counts when an effect size clears one.
    #[serde(default)]
    pub effect_size: EffectSizeSpec,
    /// Model quality on labelled traffic (feedback), when labels are available.
    #[serde(default)]
    pub performance: PerformanceSpec,
}

/// A significance level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PValueTest {
    /// Significance level after correction (default 0.05).
    #[serde(default = "default_p_value")]
    pub p_value: f64,
}

impl Default for PValueTest {
    fn default() -> Self {
        PValueTest {
            p_value: default_p_value(),
        }
    }
}

fn default_p_value() -> f64 {
    0.05
}

/// PSI thresholds and binning.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PsiSpec {
    /// PSI at or above this is a moderate shift (default 0.1).
    #[serde(default = "default_psi_warning")]
    pub warning: f64,
    /// PSI at or above this is a significant shift (default 0.2).
    #[serde(default = "default_psi_critical")]
    pub critical: f64,
    /// Quantile bins of the reference for numeric features (default 10, the deciles).
    #[serde(default = "default_psi_bins")]
    #[cfg_attr(feature = "schema", schemars(range(min = 2, max = 1000)))]
    pub bins: usize,
    /// Floor of bin proportions so empty bins stay finite (default 1e-4).
    #[serde(default = "default_psi_epsilon")]
    pub epsilon: f64,
}

impl Default for PsiSpec {
    fn default() -> Self {
        PsiSpec {
            warning: default_psi_warning(),
            critical: default_psi_critical(),
            bins: default_psi_bins(),
            epsilon: default_psi_epsilon(),
        }
    }
}

fn default_psi_warning() -> f64 {
    0.1
}
fn default_psi_critical() -> f64 {
    0.2
}
fn default_psi_bins() -> usize {
    crate::stats::PSI_DEFAULT_BINS
}
fn default_psi_epsilon() -> f64 {
    crate::stats::PSI_DEFAULT_EPSILON
}

/// Multiple-testing correction, as written in the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum CorrectionKind {
    /// Each p-value on its own.
    None,
    /// Family-wise error control: p × number of tests.
    Bonferroni,
    /// False-discovery-rate control (the default).
    #[default]
    BenjaminiHochberg,
}

impl From<CorrectionKind> for Correction {
    fn from(kind: CorrectionKind) -> Correction {
        match kind {
            CorrectionKind::None => Correction::None,
            CorrectionKind::Bonferroni => Correction::Bonferroni,
            CorrectionKind::BenjaminiHochberg => Correction::BenjaminiHochberg,
        }
    }
}

/// Effect-size floors. With `enabled` (the default) a feature drifts only when its
/// corrected p-value is below the level *and* one effect size reaches its floor:
/// PSI ≥ `psi.warning`, KS D ≥ `ksStatistic` (numeric), Wasserstein-1 over the
/// reference's standard deviation ≥ `wasserstein` (numeric) or Jensen–Shannon distance ≥
/// `jensenShannon`. `Critical` additionally needs PSI ≥ `psi.critical`.
/// Disabled, a significant test alone gives `Warning` (and `Critical` with PSI ≥ critical).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EffectSizeSpec {
    /// Require an effect size as well as significance (default true).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Floor of the KS statistic D (default 0.1).
    #[serde(default = "default_ks_floor")]
    pub ks_statistic: f64,
    /// Floor of the Jensen–Shannon distance, base 2 (default 0.1).
    #[serde(default = "default_js_floor")]
    pub jensen_shannon: f64,
    /// Floor of the Wasserstein-1 distance divided by the reference's standard deviation
    /// (numeric features; default 0.1, i.e. a tenth of a standard deviation).
    #[serde(default = "default_wasserstein_floor")]
    pub wasserstein: f64,
}

impl Default for EffectSizeSpec {
    fn default() -> Self {
        EffectSizeSpec {
            enabled: true,
            ks_statistic: default_ks_floor(),
            jensen_shannon: default_js_floor(),
            wasserstein: default_wasserstein_floor(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_ks_floor() -> f64 {
    0.1
}
fn default_js_floor() -> f64 {
    0.1
}
fn default_wasserstein_floor() -> f64 {
    0.1
}

/// Accuracy on labelled traffic against the accuracy on the reference sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PerformanceSpec {
    /// Significance level of the χ² test on correct / wrong counts (default 0.05).
    #[serde(default = "default_p_value")]
    pub p_value: f64,
    /// An accuracy drop of at least this much (absolute) is a Warning (default 0.05).
    #[serde(default = "default_warning_drop")]
    pub warning_drop: f64,
    /// An accuracy drop of at least this much is Critical (default 0.10).
    #[serde(default = "default_critical_drop")]
    pub critical_drop: f64,
    /// Fewer labelled rows than this skip the check (default 200).
    #[serde(default = "default_min_labels")]
    #[cfg_attr(feature = "schema", schemars(range(min = 1)))]
    pub min_labels: usize,
}

impl Default for PerformanceSpec {
    fn default() -> Self {
        PerformanceSpec {
            p_value: default_p_value(),
            warning_drop: default_warning_drop(),
            critical_drop: default_critical_drop(),
            min_labels: default_min_labels(),
        }
    }
}

fn default_warning_drop() -> f64 {
    0.05
}
fn default_critical_drop() -> f64 {
    0.10
}
fn default_min_labels() -> usize {
    200
}

/// How a check estimates (CBPE, as NannyML does) and realizes the served model's
/// performance. The estimate needs a binary model whose artifact holds its scored
/// hold-out (`holdout.json.gz`); without one the check reports why, not a number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelPerformanceSpec {
    /// Estimate and realize performance in every check (default true when the block is
    /// given). Reads the window's scores from the prediction log.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Rows per chunk of the hold-out; the chunks' realized values set each metric's
    /// alert band, mean ± 3 standard deviations (default: a tenth of the hold-out,
    /// NannyML's 10 chunks). A check's window is estimated as one chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(range(min = 1)))]
    pub chunk_size: Option<usize>,
    /// The metrics estimated and realized (default rocAuc, accuracy, f1; logLoss is
    /// realized only).
    #[serde(default = "default_performance_metrics")]
    #[cfg_attr(feature = "schema", schemars(extend("x-kubernetes-list-type" = "set")))]
    pub metrics: Vec<Metric>,
    /// Fixed alert bounds that replace the hold-out's band for a metric.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(
        feature = "schema",
        schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["metric"]))
    )]
    pub thresholds: Vec<MetricThreshold>,
    /// A label counts for a prediction when it arrives at most this long after it
    /// (default 14d); a later one is counted as late, not joined.
    #[serde(default = "default_max_label_delay")]
    pub max_label_delay: Span,
    /// Fewer labelled predictions in the window report `InsufficientLabels` instead
    /// of realized values (default 100).
    #[serde(default = "default_min_labeled_samples")]
    #[cfg_attr(feature = "schema", schemars(range(min = 1)))]
    pub min_labeled_samples: usize,
    /// An estimated metric outside its band triggers a retrain (with
    /// `actions.retrain`'s cooldown; needs `actions.retrain`). Default false: the
    /// check warns only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retrain_on_estimated_drop: bool,
}

impl Default for ModelPerformanceSpec {
    fn default() -> Self {
        ModelPerformanceSpec {
            enabled: true,
            chunk_size: None,
            metrics: default_performance_metrics(),
            thresholds: Vec::new(),
            max_label_delay: default_max_label_delay(),
            min_labeled_samples: default_min_labeled_samples(),
            retrain_on_estimated_drop: false,
        }
    }
}

/// Fixed alert bounds of one metric: a value below `lower` or above `upper` alerts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricThreshold {
    /// The metric these bounds apply to.
    pub metric: Metric,
    /// An estimate below this alerts (none: no lower bound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower: Option<f64>,
    /// An estimate above this alerts (none: no upper bound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<f64>,
}

fn default_performance_metrics() -> Vec<Metric> {
    vec![Metric::RocAuc, Metric::Accuracy, Metric::F1]
}
fn default_max_label_delay() -> Span {
    Span::from_hours(14 * 24)
}
fn default_min_labeled_samples() -> usize {
    100
}

impl ModelPerformanceSpec {
    /// A policy without a `performance` block: the defaults, switched off.
    pub fn off() -> ModelPerformanceSpec {
        ModelPerformanceSpec {
            enabled: false,
            ..ModelPerformanceSpec::default()
        }
    }

    fn check(&self) -> Result<(), RulesError> {
        if self.chunk_size == Some(0) {
            return out_of_range("performance.chunkSize", 0.0, "≥ 1");
        }
        if self.min_labeled_samples == 0 {
            return out_of_range("performance.minLabeledSamples", 0.0, "≥ 1");
        }
        if self.metrics.is_empty() {
            return Err(RulesError::NoPerformanceMetrics);
        }
        for t in &self.thresholds {
            if let (Some(lower), Some(upper)) = (t.lower, t.upper) {
                if lower > upper {
                    return Err(RulesError::ThresholdOrder {
                        metric: t.metric,
                        lower,
                        upper,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Which features are checked: all by default, `include` narrows, `exclude` removes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FeatureSelection {
    /// Only these features (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "schema", schemars(extend("x-kubernetes-list-type" = "set")))]
    pub include: Vec<String>,
    /// Never these features.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "schema", schemars(extend("x-kubernetes-list-type" = "set")))]
    pub exclude: Vec<String>,
}

impl FeatureSelection {
    pub fn selects(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|f| f == name))
            && !self.exclude.iter().any(|f| f == name)
    }
}

/// Data-quality thresholds (rates are fractions of the window's rows).
/// Hard checks: parse errors, staleness. Soft checks: the rest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QualitySpec {
    /// Soft: a feature missing in more than this fraction of rows (default 0.15).
    #[serde(default = "default_max_missing_rate")]
    pub max_missing_rate: f64,
    /// Soft: numeric values outside the schema's `min`/`max` (default 0.01).
    #[serde(default = "default_small_rate")]
    pub max_out_of_range_rate: f64,
    /// Soft: categories absent from the reference and from `allowedValues` (default 0.01).
    #[serde(default = "default_small_rate")]
    pub max_unseen_category_rate: f64,
    /// Hard: values that fail to parse as their declared type (default 0.01).
    #[serde(default = "default_small_rate")]
    pub max_parse_error_rate: f64,
    /// Soft: rows whose request id was already seen in the window (default 0.01).
    #[serde(default = "default_small_rate")]
    pub max_duplicate_rate: f64,
    /// Expected traffic in requests per hour; omit to skip the volume check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_requests_per_hour: Option<f64>,
    /// Soft: volume below `(1 - tolerance)` or above `(1 + tolerance)` times the
    /// expected volume fails (default 0.5).
    #[serde(default = "default_volume_tolerance")]
    pub volume_tolerance: f64,
    /// Hard: the newest record is older than this (default: the window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_staleness: Option<Span>,
}

impl Default for QualitySpec {
    fn default() -> Self {
        QualitySpec {
            max_missing_rate: default_max_missing_rate(),
            max_out_of_range_rate: default_small_rate(),
            max_unseen_category_rate: default_small_rate(),
            max_parse_error_rate: default_small_rate(),
            max_duplicate_rate: default_small_rate(),
            expected_requests_per_hour: None,
            volume_tolerance: default_volume_tolerance(),
            max_staleness: None,
        }
    }
}

fn default_max_missing_rate() -> f64 {
    0.15
}
fn default_small_rate() -> f64 {
    0.01
}
fn default_volume_tolerance() -> f64 {
    0.5
}

/// Reactions to a verdict (carried out by the operator, not by `vigil drift`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionsSpec {
    /// Retrain when the verdict reaches `minVerdict`; omit to never retrain automatically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrain: Option<RetrainSpec>,
    /// Webhooks to call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<NotifySpec>,
}

/// Automatic retraining.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetrainSpec {
    /// Lowest verdict that triggers a retrain: `Warning` or `Critical` (default Critical).
    #[serde(default = "default_retrain_min_verdict")]
    pub min_verdict: Verdict,
    /// Minimum time between two triggered retrainings (default 12h).
    #[serde(default = "default_cooldown")]
    pub cooldown: Span,
}

fn default_retrain_min_verdict() -> Verdict {
    Verdict::Critical
}
fn default_cooldown() -> Span {
    Span::from_hours(12)
}

/// One notification target: exactly one of `webhook` and `pagerDuty`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotifySpec {
    /// A Slack-compatible webhook; its URL comes from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookSpec>,
    /// A PagerDuty Events API v2 integration; its routing key comes from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pager_duty: Option<PagerDutySpec>,
    /// Verdicts that notify (default Warning and Critical).
    #[serde(default = "default_notify_verdicts")]
    pub verdicts: Vec<Verdict>,
}

impl NotifySpec {
    /// The environment variable of the check Pod that holds target `index`'s
    /// secret (webhook URL or PagerDuty routing key), set from the Secret by
    /// reference (the operator never reads it).
    pub fn secret_env(index: usize) -> String {
        format!("VIGIL_NOTIFY_SECRET_{index}")
    }

    /// The Secret key this target reads.
    pub fn secret_ref(&self) -> Option<&SecretKeyRef> {
        match (&self.webhook, &self.pager_duty) {
            (Some(w), None) => Some(&w.url_secret_ref),
            (None, Some(p)) => Some(&p.routing_key_secret_ref),
            _ => None,
        }
    }
}

/// The Events API v2 endpoint.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// A PagerDuty service integration (Events API v2): a drifting check triggers
/// one alert per policy (a repeat updates it, never pages twice); a check
/// back to `None` resolves it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PagerDutySpec {
    /// The Secret key holding the integration's routing key.
    pub routing_key_secret_ref: SecretKeyRef,
    /// The Events API endpoint (default https://events.pagerduty.com/v2/enqueue;
    /// the EU service region uses https://events.eu.pagerduty.com/v2/enqueue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

fn default_notify_verdicts() -> Vec<Verdict> {
    vec![Verdict::Warning, Verdict::Critical]
}

/// A webhook whose URL is the value of a Secret key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookSpec {
    /// The Secret key holding the webhook URL (a Slack incoming webhook or any
    /// endpoint taking Slack's JSON); the URL is never logged or shown in status.
    pub url_secret_ref: SecretKeyRef,
}

/// A key of a Secret in the resource's namespace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretKeyRef {
    /// Name of the Secret.
    pub name: String,
    /// Key within the Secret.
    pub key: String,
}

/// A policy that breaks its own rules.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RulesError {
    #[error("policy `{field}` is {value}; it must be {rule}")]
    OutOfRange {
        field: &'static str,
        value: f64,
        rule: &'static str,
    },
    #[error(
        "policy `tests.psi.warning` ({warning}) must not exceed `tests.psi.critical` ({critical})"
    )]
    PsiOrder { warning: f64, critical: f64 },
    #[error("policy `tests.performance.warningDrop` ({warning}) must not exceed `criticalDrop` ({critical})")]
    DropOrder { warning: f64, critical: f64 },
    #[error("policy `window` must be longer than 0s")]
    EmptyWindow,
    #[error("policy `actions.retrain.minVerdict` must be Warning or Critical, not {0}")]
    RetrainMinVerdict(Verdict),
    #[error("policy `features` selects no feature of the schema (include {include:?}, exclude {exclude:?})")]
    NoFeatures {
        include: Vec<String>,
        exclude: Vec<String>,
    },
    #[error("policy `actions.notify[{0}]` must set exactly one of `webhook` and `pagerDuty`")]
    NotifyKind(usize),
    #[error("policy `features.{list}` names `{name}`, which is not a feature of the schema")]
    UnknownFeature { list: &'static str, name: String },
    #[error("policy `performance.metrics` must name at least one metric")]
    NoPerformanceMetrics,
    #[error("policy `performance.thresholds` of {metric}: lower ({lower}) must not exceed upper ({upper})")]
    ThresholdOrder {
        metric: Metric,
        lower: f64,
        upper: f64,
    },
    #[error("policy `performance.retrainOnEstimatedDrop` needs `actions.retrain` (its cooldown)")]
    RetrainWithoutAction,
}

impl DriftRules {
    /// Parses YAML or JSON.
    pub fn from_text(text: &str) -> Result<DriftRules, serde_yaml::Error> {
        serde_yaml::from_str(text)
    }

    /// Checks ranges and orderings.
    pub fn check(&self) -> Result<(), RulesError> {
        if self.min_samples == 0 {
            return out_of_range("minSamples", 0.0, "≥ 1");
        }
        self.tests.check()?;
        self.quality.check()?;
        self.performance.check()?;
        if self.performance.retrain_on_estimated_drop && self.actions.retrain.is_none() {
            return Err(RulesError::RetrainWithoutAction);
        }
        if self.window.as_duration().is_zero() {
            return Err(RulesError::EmptyWindow);
        }
        if let Some(retrain) = &self.actions.retrain {
            if !matches!(retrain.min_verdict, Verdict::Warning | Verdict::Critical) {
                return Err(RulesError::RetrainMinVerdict(retrain.min_verdict));
            }
        }
        if let Some(i) = self
            .actions
            .notify
            .iter()
            .position(|t| t.secret_ref().is_none())
        {
            return Err(RulesError::NotifyKind(i));
        }
        Ok(())
    }

    /// Checks the feature selection against a schema.
    pub fn check_features(
        &self,
        schema: &crate::data::schema::FeatureSchema,
    ) -> Result<(), RulesError> {
        for (list, names) in [
            ("include", &self.features.include),
            ("exclude", &self.features.exclude),
        ] {
            if let Some(name) = names.iter().find(|n| schema.feature_index(n).is_none()) {
                return Err(RulesError::UnknownFeature {
                    list,
                    name: name.clone(),
                });
            }
        }
        if !schema
            .features
            .iter()
            .any(|f| self.features.selects(&f.name))
        {
            return Err(RulesError::NoFeatures {
                include: self.features.include.clone(),
                exclude: self.features.exclude.clone(),
            });
        }
        Ok(())
    }
}

impl TestsSpec {
    fn check(&self) -> Result<(), RulesError> {
        unit("tests.ks.pValue", self.ks.p_value)?;
        unit("tests.chiSquare.pValue", self.chi_square.p_value)?;
        unit("tests.prediction.pValue", self.prediction.p_value)?;
        unit("tests.performance.pValue", self.performance.p_value)?;
        positive("tests.psi.warning", self.psi.warning)?;
        positive("tests.psi.critical", self.psi.critical)?;
        positive("tests.psi.epsilon", self.psi.epsilon)?;
        if self.psi.warning > self.psi.critical {
            return Err(RulesError::PsiOrder {
                warning: self.psi.warning,
                critical: self.psi.critical,
            });
        }
        if !(2..=1000).contains(&self.psi.bins) {
            return Err(RulesError::OutOfRange {
                field: "tests.psi.bins",
                value: self.psi.bins as f64,
                rule: "between 2 and 1000",
            });
        }
        let e = &self.effect_size;
        rate("tests.effectSize.ksStatistic", e.ks_statistic)?;
        rate("tests.effectSize.jensenShannon", e.jensen_shannon)?;
        positive("tests.effectSize.wasserstein", e.wasserstein)?;
        let p = &self.performance;
        rate("tests.performance.warningDrop", p.warning_drop)?;
        rate("tests.performance.criticalDrop", p.critical_drop)?;
        if p.min_labels == 0 {
            return out_of_range("tests.performance.minLabels", 0.0, "≥ 1");
        }
        if p.warning_drop > p.critical_drop {
            return Err(RulesError::DropOrder {
                warning: p.warning_drop,
                critical: p.critical_drop,
            });
        }
        Ok(())
    }
}

impl QualitySpec {
    fn check(&self) -> Result<(), RulesError> {
        rate("quality.maxMissingRate", self.max_missing_rate)?;
        rate("quality.maxOutOfRangeRate", self.max_out_of_range_rate)?;
        rate(
            "quality.maxUnseenCategoryRate",
            self.max_unseen_category_rate,
        )?;
        rate("quality.maxParseErrorRate", self.max_parse_error_rate)?;
        rate("quality.maxDuplicateRate", self.max_duplicate_rate)?;
        rate("quality.volumeTolerance", self.volume_tolerance)?;
        if let Some(expected) = self.expected_requests_per_hour {
            positive("quality.expectedRequestsPerHour", expected)?;
        }
        Ok(())
    }
}

fn out_of_range(field: &'static str, value: f64, rule: &'static str) -> Result<(), RulesError> {
    Err(RulesError::OutOfRange { field, value, rule })
}

/// A significance level: strictly between 0 and 1.
fn unit(field: &'static str, value: f64) -> Result<(), RulesError> {
    if value > 0.0 && value < 1.0 {
        Ok(())
    } else {
        out_of_range(field, value, "in (0, 1)")
    }
}

/// A fraction: 0 to 1.
fn rate(field: &'static str, value: f64) -> Result<(), RulesError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        out_of_range(field, value, "in [0, 1]")
    }
}

fn positive(field: &'static str, value: f64) -> Result<(), RulesError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        out_of_range(field, value, "finite and > 0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn performance_is_on_with_its_block_only() {
        let off = DriftRules::from_text("{}").expect("parses");
        assert!(!off.performance.enabled);
        let on = DriftRules::from_text("performance: {}").expect("parses");
        assert_eq!(on.performance, ModelPerformanceSpec::default());
        assert!(on.performance.enabled);
        let bad =
            DriftRules::from_text("performance: {retrainOnEstimatedDrop: true}").expect("parses");
        assert!(matches!(bad.check(), Err(RulesError::RetrainWithoutAction)));
    }

    #[test]
    fn empty_policy_has_the_documented_defaults() {
        let p = DriftRules::from_text("{}").expect("parses");
        assert_eq!(p, DriftRules::default());
        assert_eq!(p.window, Span::from_hours(6));
        assert_eq!(p.tests.ks.p_value, 0.05);
        assert_eq!(p.tests.chi_square.p_value, 0.05);
        assert_eq!(p.tests.prediction.p_value, 0.05);
        assert_eq!((p.tests.psi.warning, p.tests.psi.critical), (0.1, 0.2));
        assert_eq!(p.tests.correction, CorrectionKind::BenjaminiHochberg);
        assert!(p.tests.effect_size.enabled);
        assert_eq!(p.tests.effect_size.wasserstein, 0.1);
        assert!(!p.strict_min_samples);
        assert_eq!(p.quality.max_missing_rate, 0.15);
        assert_eq!(p.check(), Ok(()));
    }

    #[test]
    fn the_design_example_parses() {
        let p = DriftRules::from_text(
            r#"
schedule: "0 */6 * * *"
window: 6h
minSamples: 500
tests:
  ks: {pValue: 0.05}
  chiSquare: {pValue: 0.05}
  psi: {warning: 0.1, critical: 0.2}
  prediction: {pValue: 0.05}
  correction: benjamini-hochberg
quality: {maxMissingRate: 0.15}
actions:
  retrain: {minVerdict: Critical, cooldown: 12h}
  notify:
    - webhook: {urlSecretRef: {name: slack-hook, key: url}}
      verdicts: [Warning, Critical]
"#,
        )
        .expect("parses");
        assert_eq!(p.check(), Ok(()));
        assert_eq!(
            p.actions.retrain.as_ref().map(|r| r.cooldown),
            Some(Span::from_hours(12))
        );
        let json = serde_json::to_value(&p).expect("json");
        assert_eq!(json["window"], "6h");
        assert_eq!(json["tests"]["correction"], "benjamini-hochberg");
    }

    #[test]
    fn bad_policies_name_the_field() {
        let mut p = DriftRules::default();
        p.tests.ks.p_value = 1.5;
        assert_eq!(
            p.check().map_err(|e| e.to_string()),
            Err("policy `tests.ks.pValue` is 1.5; it must be in (0, 1)".into())
        );
        let mut p = DriftRules::default();
        p.tests.psi.warning = 0.3;
        assert!(matches!(p.check(), Err(RulesError::PsiOrder { .. })));
        let err = DriftRules::from_text("tests: {ks: {pvalue: 0.1}}").expect_err("unknown");
        assert!(err.to_string().contains("pvalue"), "{err}");
        let err = DriftRules::from_text("window: 6 hours").expect_err("bad span");
        assert!(err.to_string().contains("not a duration"), "{err}");
        let p = DriftRules {
            min_samples: 0,
            ..DriftRules::default()
        };
        assert_eq!(
            p.check().map_err(|e| e.to_string()),
            Err("policy `minSamples` is 0; it must be ≥ 1".into())
        );
        let mut p = DriftRules::default();
        p.tests.performance.min_labels = 0;
        assert_eq!(
            p.check().map_err(|e| e.to_string()),
            Err("policy `tests.performance.minLabels` is 0; it must be ≥ 1".into())
        );
    }
}
