//! What a drift check found, as data: per-feature, prediction and performance drift,
//! the quality checks, the [`Assessment`] that holds them all, the full report
//! (`reports/drift/<timestamp>.json`, with an HTML twin) and the compact summary a drift
//! job leaves in its termination message. Types only; `assess` and `quality` fill them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::data::schema::FeatureType;
use crate::performance::{CheckPerformance, PerformanceBrief};
use crate::text::cut_with_ellipsis;
use crate::wire::SUMMARY_LIMIT;

use super::rules::DriftRules;
use super::verdict::Verdict;

/// Which test a feature got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DriftTest {
    Ks,
    ChiSquare,
}

/// How a feature's p-value was computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PValueMethod {
    /// KS, exact null distribution.
    Exact,
    /// KS, the Kolmogorov limit.
    Asymptotic,
    /// χ² test of homogeneity.
    Chi2,
}

/// What the score of a prediction is: the positive class's probability (binary
/// models) or the top class's (multiclass).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ScoreKind {
    PositiveClassProbability,
    TopProbability,
}

impl ScoreKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScoreKind::PositiveClassProbability => "positiveClassProbability",
            ScoreKind::TopProbability => "topProbability",
        }
    }
}

/// Bars for the report's chart: proportions per bin or category.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Histogram {
    pub labels: Vec<String>,
    pub reference: Vec<f64>,
    pub current: Vec<f64>,
}

/// The drift result of one feature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeatureDrift {
    pub name: String,
    pub kind: FeatureType,
    pub test: DriftTest,
    /// Present values compared on each side.
    pub reference_count: u64,
    pub current_count: u64,
    pub reference_missing_rate: f64,
    pub current_missing_rate: f64,
    /// KS D or the χ² statistic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistic: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    /// After the multiple-testing correction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value_adjusted: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value_method: Option<PValueMethod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dof: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jensen_shannon: Option<f64>,
    /// Wasserstein-1 in the feature's units (numeric only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasserstein: Option<f64>,
    /// Wasserstein-1 divided by the reference's standard deviation (numeric only; absent
    /// when the reference is constant): an effect size in standard deviations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasserstein_normalized: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_mean: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_mean: Option<f64>,
    /// Bound on the ECDF error of compacted sketches (absent when exact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sketch_cdf_error: Option<f64>,
    /// Fewer present values than `minSamples` on a side: the verdict counts only
    /// when the evidence is decisive (else `InsufficientData`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub small_sample: bool,
    pub verdict: Verdict,
    /// Which rule fired, with the numbers.
    pub rule: String,
    pub histogram: Histogram,
}

/// Drift of the model's outputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PredictionDrift {
    pub reference_count: u64,
    pub current_count: u64,
    pub class_chi2: Option<f64>,
    pub class_p_value: Option<f64>,
    pub class_jensen_shannon: Option<f64>,
    pub score: ScoreKind,
    pub score_ks: Option<f64>,
    /// Bound on the score's KS D error when its sketches are not exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_sketch_cdf_error: Option<f64>,
    pub score_p_value: Option<f64>,
    pub score_psi: Option<f64>,
    pub reference_class_share: Vec<f64>,
    pub current_class_share: Vec<f64>,
    /// Fewer predictions than `minSamples` on a side (see [`FeatureDrift::small_sample`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub small_sample: bool,
    pub verdict: Verdict,
    pub rule: String,
    pub histogram: Histogram,
}

/// Accuracy on labelled rows against the reference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PerformanceDrift {
    pub reference_labelled: u64,
    pub current_labelled: u64,
    pub reference_accuracy: f64,
    pub current_accuracy: f64,
    pub p_value: f64,
    pub verdict: Verdict,
    pub rule: String,
}

/// The complete result of comparing a window with the reference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assessment {
    /// Overall: the drift verdict, raised by quality failures (hard → Critical, soft → Warning).
    pub verdict: Verdict,
    /// Statistical drift only (features, predictions, performance).
    pub drift_verdict: Verdict,
    pub reference_rows: u64,
    pub current_rows: u64,
    /// Features whose verdict is Warning or Critical, worst first.
    pub drifted_features: Vec<String>,
    pub features: Vec<FeatureDrift>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<PredictionDrift>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performance: Option<PerformanceDrift>,
    pub quality: QualityReport,
    /// Features (and `(score)`) whose verdict could have flipped within the sketches'
    /// bounds, so they were computed again from the exact values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recomputed_exactly: Vec<String>,
}

/// Whether a failed quality check breaks the data pipeline (`hard`) or only
/// makes the data suspicious (`soft`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    Hard,
    Soft,
}

/// Outcome of one quality check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CheckStatus {
    Passed,
    Failed,
    Skipped,
}

/// One feature's number in a per-feature check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeatureRate {
    pub feature: String,
    pub count: u64,
    pub rate: f64,
}

/// The quality checks, serialised by their camelCase names (`missingRate`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum QualityCheckName {
    MissingRate,
    OutOfRange,
    UnseenCategories,
    ParseErrors,
    DuplicateRequestIds,
    Volume,
    Staleness,
}

impl QualityCheckName {
    pub fn as_str(self) -> &'static str {
        match self {
            QualityCheckName::MissingRate => "missingRate",
            QualityCheckName::OutOfRange => "outOfRange",
            QualityCheckName::UnseenCategories => "unseenCategories",
            QualityCheckName::ParseErrors => "parseErrors",
            QualityCheckName::DuplicateRequestIds => "duplicateRequestIds",
            QualityCheckName::Volume => "volume",
            QualityCheckName::Staleness => "staleness",
        }
    }

    /// Parse errors and staleness mean the data pipeline is broken; the rest is suspicious data.
    pub fn severity(self) -> Severity {
        match self {
            QualityCheckName::ParseErrors | QualityCheckName::Staleness => Severity::Hard,
            _ => Severity::Soft,
        }
    }

    pub fn is_hard(self) -> bool {
        self.severity() == Severity::Hard
    }
}

impl std::fmt::Display for QualityCheckName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QualityCheck {
    pub name: QualityCheckName,
    pub severity: Severity,
    pub status: CheckStatus,
    /// The measured value (worst feature's rate, duplicate rate, rows, seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    pub message: String,
    /// Features above the threshold (per-feature checks), worst first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<FeatureRate>,
}

/// All checks of a window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QualityReport {
    /// No hard check failed.
    pub passed: bool,
    /// `Critical` on a hard failure, `Warning` on a soft one, else `None`.
    pub verdict: Verdict,
    pub checks: Vec<QualityCheck>,
}

impl QualityReport {
    /// Names of failed checks, hard ones first.
    pub fn failures(&self) -> Vec<String> {
        let mut out: Vec<&QualityCheck> = self
            .checks
            .iter()
            .filter(|c| c.status == CheckStatus::Failed)
            .collect();
        out.sort_by_key(|c| c.severity != Severity::Hard);
        out.iter().map(|c| c.name.to_string()).collect()
    }
}

/// Where drift reports go in a model's store.
pub const DRIFT_REPORTS_PREFIX: &str = "reports/drift";
/// Bumped on incompatible changes of the report.
pub const REPORT_FORMAT_VERSION: u32 = 1;

/// `scheduled` (store + prediction logs) or `adHoc` (two files).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CheckMode {
    Scheduled,
    AdHoc,
}

/// One side of the comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataSource {
    /// URI or path, and what part of it.
    pub description: String,
    pub rows: u64,
}

/// The full report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftReport {
    pub format_version: u32,
    pub generated_at: DateTime<Utc>,
    pub vigil_version: String,
    pub mode: CheckMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    pub reference: DataSource,
    pub current: DataSource,
    /// `[since, until]` of a scheduled check's window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// The policy as applied (defaults filled in).
    pub policy: DriftRules,
    #[serde(flatten)]
    pub assessment: Assessment,
    /// The served model's performance, estimated and realized (scheduled checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_performance: Option<CheckPerformance>,
    /// The last checks before this one and this one, oldest first (scheduled checks):
    /// what the page plots over time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trend: Vec<TrendPoint>,
    /// Seconds per stage.
    pub timings: Vec<(String, f64)>,
}

/// Checks a report's trend holds: this one and the 19 before it.
pub const TREND_CHECKS: usize = 20;

/// One check as its report's trend plots it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrendPoint {
    pub checked_at: DateTime<Utc>,
    pub verdict: Verdict,
    /// Each feature's PSI (features without one left out), in schema order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub psi: Vec<(String, f64)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performance: Option<PerformanceBrief>,
}

impl TrendPoint {
    pub fn of(report: &DriftReport) -> TrendPoint {
        TrendPoint {
            checked_at: report.generated_at,
            verdict: report.assessment.verdict,
            psi: report
                .assessment
                .features
                .iter()
                .filter_map(|f| Some((f.name.clone(), f.psi?)))
                .collect(),
            performance: report.performance_brief(),
        }
    }
}

impl DriftReport {
    /// The performance part of the summary, for the metrics the policy names.
    pub fn performance_brief(&self) -> Option<PerformanceBrief> {
        let check = self.model_performance.as_ref()?;
        Some(PerformanceBrief::of(
            check,
            &self.policy.performance.metrics,
        ))
    }
}

/// The most drifted features, for the summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopFeature {
    pub name: String,
    pub verdict: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
}

/// The outcome of the check Job's notifications: how many targets wanted the
/// verdict, how many took it, and why the others did not (never a URL or key).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notified {
    pub targets: usize,
    pub sent: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
}

impl std::fmt::Display for Notified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "notified {} of {} target(s)", self.sent, self.targets)?;
        for failure in &self.failures {
            write!(f, "; {failure}")?;
        }
        Ok(())
    }
}

/// What `vigil drift` reports to the operator (at most [`SUMMARY_LIMIT`] bytes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
// One a check, built once and serialized: boxing the large variant buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum DriftSummary {
    #[serde(rename_all = "camelCase")]
    Succeeded {
        /// Overall verdict (drift raised by quality failures).
        verdict: Verdict,
        /// Statistical drift only: what `actions.retrain` acts on.
        drift_verdict: Verdict,
        quality_passed: bool,
        /// Failed quality checks, hard first.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        quality_failures: Vec<String>,
        /// Drifted features, worst first (at most 20; `driftedCount` has the total).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        drifted_features: Vec<String>,
        drifted_count: usize,
        /// Up to 5 worst features with their numbers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        top: Vec<TopFeature>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prediction: Option<Verdict>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        performance: Option<Verdict>,
        /// The served model's performance, estimated and realized.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model_performance: Option<PerformanceBrief>,
        reference_rows: u64,
        current_rows: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model_version: Option<String>,
        checked_at: DateTime<Utc>,
        report_uri: String,
        html_uri: String,
        /// What the check Job's notification delivery did (none: no target wanted it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notified: Option<Notified>,
    },
    #[serde(rename_all = "camelCase")]
    Failed {
        /// `InvalidConfig`, `ReferenceUnavailable`, `LogsUnavailable`, `InvalidData`, `StoreFailed`.
        reason: String,
        message: String,
    },
}

impl DriftSummary {
    pub fn from_report(report: &DriftReport, report_uri: String, html_uri: String) -> DriftSummary {
        let a = &report.assessment;
        let mut top: Vec<TopFeature> = a
            .drifted_features
            .iter()
            .filter_map(|name| a.features.iter().find(|f| &f.name == name))
            .take(5)
            .map(|f| TopFeature {
                name: f.name.clone(),
                verdict: f.verdict,
                psi: f.psi.map(round4),
                p_value: f.p_value_adjusted.or(f.p_value).map(round_sig),
            })
            .collect();
        top.truncate(5);
        DriftSummary::Succeeded {
            verdict: a.verdict,
            drift_verdict: a.drift_verdict,
            quality_passed: a.quality.passed,
            quality_failures: a.quality.failures(),
            drifted_features: a.drifted_features.iter().take(20).cloned().collect(),
            drifted_count: a.drifted_features.len(),
            top,
            prediction: a.prediction.as_ref().map(|p| p.verdict),
            performance: a.performance.as_ref().map(|p| p.verdict),
            model_performance: report.performance_brief(),
            reference_rows: a.reference_rows,
            current_rows: a.current_rows,
            model_version: report.model_version.clone(),
            checked_at: report.generated_at,
            report_uri,
            html_uri,
            notified: None,
        }
    }

    /// JSON of at most [`SUMMARY_LIMIT`] bytes: lists and long strings are shortened until it fits.
    pub fn to_termination_message(&self) -> String {
        let mut summary = self.clone();
        loop {
            let json = serde_json::to_string(&summary).unwrap_or_default();
            if json.len() <= SUMMARY_LIMIT {
                return json;
            }
            match &mut summary {
                DriftSummary::Succeeded {
                    drifted_features,
                    top,
                    quality_failures,
                    report_uri,
                    html_uri,
                    ..
                } => {
                    if !top.is_empty() {
                        top.pop();
                    } else if !drifted_features.is_empty() {
                        drifted_features.pop();
                    } else if !quality_failures.is_empty() {
                        quality_failures.pop();
                    } else {
                        cut_with_ellipsis(report_uri, 1500);
                        cut_with_ellipsis(html_uri, 1500);
                        let json = serde_json::to_string(&summary).unwrap_or_default();
                        return cut(&json);
                    }
                }
                DriftSummary::Failed { message, .. } => {
                    cut_with_ellipsis(message, SUMMARY_LIMIT - 300);
                    let json = serde_json::to_string(&summary).unwrap_or_default();
                    return cut(&json);
                }
            }
        }
    }

    pub fn verdict(&self) -> Option<Verdict> {
        match self {
            DriftSummary::Succeeded { verdict, .. } => Some(*verdict),
            DriftSummary::Failed { .. } => None,
        }
    }
}

fn cut(json: &str) -> String {
    if json.len() <= SUMMARY_LIMIT {
        json.to_string()
    } else {
        String::new()
    }
}

fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

fn round_sig(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    format!("{v:.3e}").parse().unwrap_or(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_failures_fit_the_termination_message() {
        let summary = DriftSummary::Failed {
            reason: "InvalidData".into(),
            message: "é".repeat(10_000),
        };
        let message = summary.to_termination_message();
        assert!(message.len() <= SUMMARY_LIMIT, "{}", message.len());
        let back: DriftSummary = serde_json::from_str(&message).expect("valid JSON");
        assert!(matches!(back, DriftSummary::Failed { reason, .. } if reason == "InvalidData"));
    }

    #[test]
    fn many_drifted_features_fit_the_termination_message() {
        let summary = DriftSummary::Succeeded {
            verdict: Verdict::Critical,
            drift_verdict: Verdict::Critical,
            quality_passed: true,
            quality_failures: vec![],
            drifted_features: (0..20)
                .map(|i| format!("feature_{i}_{}", "x".repeat(200)))
                .collect(),
            drifted_count: 500,
            top: vec![],
            prediction: Some(Verdict::None),
            performance: None,
            model_performance: None,
            reference_rows: 10_000,
            current_rows: 5_000,
            model_version: Some("v1".into()),
            checked_at: Utc::now(),
            report_uri: "file:///r.json".into(),
            html_uri: "file:///r.html".into(),
            notified: None,
        };
        let message = summary.to_termination_message();
        assert!(message.len() <= SUMMARY_LIMIT);
        let back: DriftSummary = serde_json::from_str(&message).expect("valid JSON");
        assert_eq!(back.verdict(), Some(Verdict::Critical));
    }
}
