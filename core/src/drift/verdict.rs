//! The verdict: per-feature tests, effect sizes, correction, prediction and
//! performance drift, and the overall decision — a pure function of two
//! [`WindowProfile`]s and a [`DriftPolicy`].
//!
//! Rules (every feature's `rule` text states which fired, with the numbers):
//! * fewer than `minSamples` present values on either side → `InsufficientData`;
//! * numeric features: two-sample KS (SciPy's p-value; [`PValueMode`] decides whether
//!   the O(1) asymptotic is used for effective n ≥ 10^5) plus PSI on reference deciles,
//!   Jensen–Shannon on the same bins and Wasserstein-1; categorical features: χ² test of
//!   homogeneity (missing is a category) plus PSI and Jensen–Shannon over categories;
//! * the p-values of all tested features form one family, corrected as the policy says
//!   (Benjamini–Hochberg by default);
//! * corrected p ≥ level → `None`. Otherwise, effect-size aware (default): `Critical`
//!   when PSI ≥ `psi.critical`; `Warning` when PSI ≥ `psi.warning` or KS D ≥
//!   `effectSize.ksStatistic` or JS ≥ `effectSize.jensenShannon`; else `None`
//!   ("significant but negligible"). Without effect sizes: `Critical` when PSI ≥
//!   critical, else `Warning`;
//! * prediction drift: χ² on predicted classes and KS on the predicted score
//!   (Bonferroni over the two), effect = PSI of the score / JS of the classes / KS D;
//! * performance (labelled rows): χ² on correct/wrong counts against the reference;
//!   a significant accuracy drop ≥ `warningDrop` / `criticalDrop`;
//! * the drift verdict is the worst of the above (`InsufficientData` when the window
//!   has fewer than `minSamples` rows); the overall verdict also counts quality:
//!   a hard failure is `Critical`, a soft one `Warning`.

use serde::{Deserialize, Serialize};

use crate::schema::{FeatureSchema, FeatureType};
use crate::stats::{
    bin_counts_weighted, chi2_contingency, chi2_homogeneity, jensen_shannon_distance, ks_pvalue,
    ks_statistic_from_counts, psi_from_counts, quantile_bin_edges_from_counts,
    quantile_linear_sorted_counts, Correction, KsMethod, PValueMode, StatsError,
};

use super::policy::DriftPolicy;
use super::profile::{par_map, ColumnProfile, WindowProfile};
use super::quality::{assess_quality, QualityContext, QualityReport};
use super::sketch::{NumericSketch, MISSING_CATEGORY};

/// A verdict, per feature and overall.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Verdict {
    /// No drift that matters.
    None,
    /// A moderate, significant shift.
    Warning,
    /// A large, significant shift.
    Critical,
    /// Too few rows to decide (below `minSamples`).
    InsufficientData,
}

impl Verdict {
    /// Rank for "worst of": InsufficientData < None < Warning < Critical.
    pub fn severity(self) -> u8 {
        match self {
            Verdict::InsufficientData => 0,
            Verdict::None => 1,
            Verdict::Warning => 2,
            Verdict::Critical => 3,
        }
    }

    pub fn worst(self, other: Verdict) -> Verdict {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }

    /// Whether this is Warning or Critical.
    pub fn is_drift(self) -> bool {
        matches!(self, Verdict::Warning | Verdict::Critical)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::None => "None",
            Verdict::Warning => "Warning",
            Verdict::Critical => "Critical",
            Verdict::InsufficientData => "InsufficientData",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which test a feature got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DriftTest {
    Ks,
    ChiSquare,
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
    /// `exact` or `asymptotic` (KS), `chi2` (χ²).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dof: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jensen_shannon: Option<f64>,
    /// Wasserstein-1 in the feature's units (numeric only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasserstein: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_mean: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_mean: Option<f64>,
    /// Bound on the ECDF error of compacted sketches (absent when exact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sketch_cdf_error: Option<f64>,
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
    /// What the score is: `positiveClassProbability` or `topProbability`.
    pub score: String,
    pub score_ks: Option<f64>,
    pub score_p_value: Option<f64>,
    pub score_psi: Option<f64>,
    pub reference_class_share: Vec<f64>,
    pub current_class_share: Vec<f64>,
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
}

/// Knobs that do not belong in the policy.
#[derive(Clone, Copy, Debug)]
pub struct AssessOptions {
    /// Threads for the per-feature statistics.
    pub threads: usize,
    pub pvalue_mode: PValueMode,
}

impl Default for AssessOptions {
    fn default() -> Self {
        AssessOptions {
            threads: 2,
            pvalue_mode: PValueMode::Fast,
        }
    }
}

/// Compares `current` with `reference` under `policy` (call `policy.check()` first).
pub fn assess(
    schema: &FeatureSchema,
    policy: &DriftPolicy,
    reference: &WindowProfile,
    current: &WindowProfile,
    context: &QualityContext,
    options: &AssessOptions,
) -> Assessment {
    let selected: Vec<(usize, &ColumnProfile, &ColumnProfile)> = schema
        .features
        .iter()
        .enumerate()
        .filter(|(_, f)| policy.features.selects(&f.name))
        .filter_map(|(i, _)| Some((i, reference.columns.get(i)?, current.columns.get(i)?)))
        .collect();
    let mut features: Vec<FeatureDrift> = par_map(&selected, options.threads, |(_, r, c)| {
        compare_column(policy, r, c, options.pvalue_mode)
    });

    // One family of p-values over the tested features.
    let tested: Vec<usize> = features
        .iter()
        .enumerate()
        .filter(|(_, f)| f.p_value.is_some())
        .map(|(i, _)| i)
        .collect();
    let pvalues: Vec<f64> = tested.iter().filter_map(|&i| features[i].p_value).collect();
    let correction: Correction = policy.tests.correction.into();
    let adjusted = correction
        .adjust(&pvalues)
        .unwrap_or_else(|_| pvalues.clone());
    for (&i, &q) in tested.iter().zip(&adjusted) {
        features[i].p_value_adjusted = Some(q);
    }
    for f in &mut features {
        decide_feature(policy, f);
    }

    let prediction = match (&reference.predictions, &current.predictions) {
        (Some(r), Some(c)) => Some(compare_predictions(
            policy,
            schema,
            r,
            c,
            options.pvalue_mode,
        )),
        _ => None,
    };
    let performance = match (&reference.labels, &current.labels) {
        (Some(r), Some(c)) if c.labelled >= policy.tests.performance.min_labels as u64 => {
            compare_performance(policy, r.labelled, r.correct, c.labelled, c.correct)
        }
        _ => None,
    };
    let quality = assess_quality(schema, policy, reference, current, context);

    let drift_verdict = if current.rows < policy.min_samples as u64 {
        Verdict::InsufficientData
    } else {
        let mut v = Verdict::None;
        for f in &features {
            if f.verdict != Verdict::InsufficientData {
                v = v.worst(f.verdict);
            }
        }
        for other in [
            prediction.as_ref().map(|p| p.verdict),
            performance.as_ref().map(|p| p.verdict),
        ]
        .into_iter()
        .flatten()
        {
            if other != Verdict::InsufficientData {
                v = v.worst(other);
            }
        }
        v
    };
    let verdict = drift_verdict.worst(quality.verdict);
    let mut drifted: Vec<&FeatureDrift> =
        features.iter().filter(|f| f.verdict.is_drift()).collect();
    drifted.sort_by(|a, b| {
        b.verdict
            .severity()
            .cmp(&a.verdict.severity())
            .then(b.psi.unwrap_or(0.0).total_cmp(&a.psi.unwrap_or(0.0)))
    });
    Assessment {
        verdict,
        drift_verdict,
        reference_rows: reference.rows,
        current_rows: current.rows,
        drifted_features: drifted.iter().map(|f| f.name.clone()).collect(),
        features,
        prediction,
        performance,
        quality,
    }
}

fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn compare_column(
    policy: &DriftPolicy,
    reference: &ColumnProfile,
    current: &ColumnProfile,
    mode: PValueMode,
) -> FeatureDrift {
    let mut out = FeatureDrift {
        name: reference.name.clone(),
        kind: reference.kind,
        test: match reference.kind {
            FeatureType::Numeric => DriftTest::Ks,
            FeatureType::Categorical => DriftTest::ChiSquare,
        },
        reference_count: reference.present(),
        current_count: current.present(),
        reference_missing_rate: rate(reference.missing, reference.rows),
        current_missing_rate: rate(current.missing, current.rows),
        statistic: None,
        p_value: None,
        p_value_adjusted: None,
        p_value_method: None,
        dof: None,
        psi: None,
        jensen_shannon: None,
        wasserstein: None,
        reference_mean: None,
        current_mean: None,
        sketch_cdf_error: None,
        verdict: Verdict::None,
        rule: String::new(),
        histogram: Histogram::default(),
    };
    let min = policy.min_samples as u64;
    if out.reference_count < min || out.current_count < min {
        out.verdict = Verdict::InsufficientData;
        out.rule = format!(
            "InsufficientData: {} reference and {} current values; minSamples is {}",
            out.reference_count, out.current_count, policy.min_samples
        );
        return out;
    }
    let result = match reference.kind {
        FeatureType::Numeric => {
            numeric_stats(policy, &reference.numeric, &current.numeric, mode, &mut out)
        }
        FeatureType::Categorical => categorical_stats(policy, reference, current, &mut out),
    };
    if let Err(e) = result {
        out.p_value = None;
        out.verdict = Verdict::InsufficientData;
        out.rule = format!("InsufficientData: the statistics could not be computed: {e}");
    }
    out
}

fn numeric_stats(
    policy: &DriftPolicy,
    reference: &NumericSketch,
    current: &NumericSketch,
    mode: PValueMode,
    out: &mut FeatureDrift,
) -> Result<(), StatsError> {
    let r = reference.sorted();
    let c = current.sorted();
    let (d, n1, n2) =
        ks_statistic_from_counts(&r, &c).ok_or(StatsError::EmptySample { name: "current" })?;
    let (d, p, method) = ks_pvalue(n1 as usize, n2 as usize, d, mode);
    out.statistic = Some(d);
    out.p_value = Some(p);
    out.p_value_method = Some(
        match method {
            KsMethod::Exact => "exact",
            KsMethod::Asymptotic => "asymptotic",
        }
        .to_string(),
    );
    let edges = quantile_bin_edges_from_counts(&r, policy.tests.psi.bins);
    let rc = bin_counts_weighted(&r, &edges);
    let cc = bin_counts_weighted(&c, &edges);
    out.psi = Some(psi_from_counts(&rc, &cc, policy.tests.psi.epsilon)?);
    out.jensen_shannon = Some(jensen_shannon_distance(&rc, &cc)?);
    out.wasserstein = Some(wasserstein_from_counts(&r, &c));
    out.reference_mean = reference.mean_std().map(|m| m.0);
    out.current_mean = current.mean_std().map(|m| m.0);
    let error = reference.cdf_error() + current.cdf_error();
    if error > 0.0 {
        out.sketch_cdf_error = Some(error);
    }
    out.histogram = numeric_histogram(&r, &c);
    Ok(())
}

/// `∫ |F_a - F_b| dx` of two ascending `(value, count)` lists.
pub fn wasserstein_from_counts(a: &[(f64, u64)], b: &[(f64, u64)]) -> f64 {
    let n1: u64 = a.iter().map(|x| x.1).sum();
    let n2: u64 = b.iter().map(|x| x.1).sum();
    if n1 == 0 || n2 == 0 {
        return f64::NAN;
    }
    let (mut i, mut j, mut ca, mut cb) = (0, 0, 0u64, 0u64);
    let mut total = 0.0;
    let mut prev: Option<f64> = None;
    while i < a.len() || j < b.len() {
        let v = if j >= b.len() || (i < a.len() && a[i].0 <= b[j].0) {
            a[i].0
        } else {
            b[j].0
        };
        if let Some(p) = prev {
            total += (ca as f64 / n1 as f64 - cb as f64 / n2 as f64).abs() * (v - p);
        }
        while i < a.len() && a[i].0 <= v {
            ca += a[i].1;
            i += 1;
        }
        while j < b.len() && b[j].0 <= v {
            cb += b[j].1;
            j += 1;
        }
        prev = Some(v);
    }
    total
}

const HISTOGRAM_BINS: usize = 24;
const MAX_BARS: usize = 20;

fn numeric_histogram(r: &[(f64, u64)], c: &[(f64, u64)]) -> Histogram {
    let n1: u64 = r.iter().map(|x| x.1).sum();
    let n2: u64 = c.iter().map(|x| x.1).sum();
    let mut distinct: Vec<f64> = r.iter().chain(c).map(|x| x.0).collect();
    distinct.sort_unstable_by(f64::total_cmp);
    distinct.dedup();
    if distinct.len() <= MAX_BARS {
        let share = |list: &[(f64, u64)], n: u64, v: f64| {
            rate(list.iter().find(|x| x.0 == v).map_or(0, |x| x.1), n)
        };
        return Histogram {
            labels: distinct.iter().map(|v| format_number(*v)).collect(),
            reference: distinct.iter().map(|&v| share(r, n1, v)).collect(),
            current: distinct.iter().map(|&v| share(c, n2, v)).collect(),
        };
    }
    let q = |list: &[(f64, u64)], p: f64| quantile_linear_sorted_counts(list, p).unwrap_or(0.0);
    let lo = q(r, 0.005).min(q(c, 0.005));
    let hi = q(r, 0.995).max(q(c, 0.995));
    if hi <= lo {
        return Histogram::default();
    }
    let width = (hi - lo) / HISTOGRAM_BINS as f64;
    let bin = |v: f64| (((v - lo) / width).floor().max(0.0) as usize).min(HISTOGRAM_BINS - 1);
    let mut rh = vec![0.0; HISTOGRAM_BINS];
    let mut ch = vec![0.0; HISTOGRAM_BINS];
    for &(v, k) in r {
        rh[bin(v)] += k as f64 / n1 as f64;
    }
    for &(v, k) in c {
        ch[bin(v)] += k as f64 / n2 as f64;
    }
    Histogram {
        labels: (0..HISTOGRAM_BINS)
            .map(|i| format_number(lo + width * i as f64))
            .collect(),
        reference: rh,
        current: ch,
    }
}

fn format_number(v: f64) -> String {
    // Whole numbers and large values read best without decimals.
    if (v.fract() == 0.0 && v.abs() < 1e15) || v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

fn categorical_stats(
    policy: &DriftPolicy,
    reference: &ColumnProfile,
    current: &ColumnProfile,
    out: &mut FeatureDrift,
) -> Result<(), StatsError> {
    let mut names: Vec<&str> = reference
        .categories
        .iter()
        .map(|(k, _)| k)
        .chain(current.categories.iter().map(|(k, _)| k))
        .collect();
    names.sort_unstable();
    names.dedup();
    let rc: Vec<f64> = names
        .iter()
        .map(|n| reference.categories.get(n) as f64)
        .collect();
    let cc: Vec<f64> = names
        .iter()
        .map(|n| current.categories.get(n) as f64)
        .collect();
    match chi2_homogeneity(&rc, &cc) {
        Ok(chi) => {
            out.statistic = Some(chi.statistic);
            out.p_value = Some(chi.pvalue);
            out.dof = Some(chi.dof);
        }
        Err(StatsError::TooFewCategories { .. }) => {
            out.statistic = Some(0.0);
            out.p_value = Some(1.0);
            out.dof = Some(0);
        }
        Err(e) => return Err(e),
    }
    out.p_value_method = Some("chi2".to_string());
    out.psi = Some(psi_from_counts(&rc, &cc, policy.tests.psi.epsilon)?);
    out.jensen_shannon = Some(jensen_shannon_distance(&rc, &cc)?);
    let (n1, n2) = (reference.categories.count(), current.categories.count());
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by(|&a, &b| {
        (rate(cc[b] as u64, n2) + rate(rc[b] as u64, n1))
            .total_cmp(&(rate(cc[a] as u64, n2) + rate(rc[a] as u64, n1)))
            .then(names[a].cmp(names[b]))
    });
    let mut hist = Histogram::default();
    let (mut rest_r, mut rest_c) = (0.0, 0.0);
    for (rank, &i) in order.iter().enumerate() {
        let (r, c) = (rc[i] / n1.max(1) as f64, cc[i] / n2.max(1) as f64);
        if rank < MAX_BARS - 1 || order.len() <= MAX_BARS {
            hist.labels.push(names[i].to_string());
            hist.reference.push(r);
            hist.current.push(c);
        } else {
            rest_r += r;
            rest_c += c;
        }
    }
    if order.len() > MAX_BARS {
        hist.labels
            .push(format!("({} others)", order.len() - (MAX_BARS - 1)));
        hist.reference.push(rest_r);
        hist.current.push(rest_c);
    }
    out.histogram = hist;
    let _ = MISSING_CATEGORY;
    Ok(())
}

fn g(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else if v.abs() < 1e-3 {
        format!("{v:.2e}")
    } else {
        format!("{v:.3}")
    }
}

fn decide_feature(policy: &DriftPolicy, f: &mut FeatureDrift) {
    if f.verdict == Verdict::InsufficientData {
        return;
    }
    let Some(p) = f.p_value_adjusted.or(f.p_value) else {
        return;
    };
    let (alpha, test) = match f.test {
        DriftTest::Ks => (policy.tests.ks.p_value, "KS"),
        DriftTest::ChiSquare => (policy.tests.chi_square.p_value, "χ²"),
    };
    let psi = f.psi.unwrap_or(0.0);
    let js = f.jensen_shannon.unwrap_or(0.0);
    let d = match f.test {
        DriftTest::Ks => f.statistic,
        DriftTest::ChiSquare => None,
    };
    let (verdict, rule) = decide(
        policy,
        &Evidence {
            test,
            p,
            alpha,
            psi,
            js: Some(js),
            ks_d: d,
        },
    );
    f.verdict = verdict;
    f.rule = rule;
}

struct Evidence {
    test: &'static str,
    /// Corrected p-value.
    p: f64,
    alpha: f64,
    psi: f64,
    js: Option<f64>,
    ks_d: Option<f64>,
}

fn decide(policy: &DriftPolicy, e: &Evidence) -> (Verdict, String) {
    let psi_spec = &policy.tests.psi;
    let floors = &policy.tests.effect_size;
    if e.p >= e.alpha {
        return (
            Verdict::None,
            format!(
                "None: {} p {} ≥ {} (not significant); PSI {}",
                e.test,
                g(e.p),
                e.alpha,
                g(e.psi)
            ),
        );
    }
    let significant = format!("{} p {} < {}", e.test, g(e.p), e.alpha);
    if e.psi >= psi_spec.critical {
        return (
            Verdict::Critical,
            format!(
                "Critical: {significant} and PSI {} ≥ {}",
                g(e.psi),
                psi_spec.critical
            ),
        );
    }
    if !floors.enabled {
        return (
            Verdict::Warning,
            format!(
                "Warning: {significant} (effect sizes not required); PSI {}",
                g(e.psi)
            ),
        );
    }
    let mut cleared = Vec::new();
    let mut below = Vec::new();
    if e.psi >= psi_spec.warning {
        cleared.push(format!("PSI {} ≥ {}", g(e.psi), psi_spec.warning));
    } else {
        below.push(format!("PSI {} < {}", g(e.psi), psi_spec.warning));
    }
    if let Some(d) = e.ks_d {
        if d >= floors.ks_statistic {
            cleared.push(format!("KS D {} ≥ {}", g(d), floors.ks_statistic));
        } else {
            below.push(format!("KS D {} < {}", g(d), floors.ks_statistic));
        }
    }
    if let Some(js) = e.js {
        if js >= floors.jensen_shannon {
            cleared.push(format!("JS {} ≥ {}", g(js), floors.jensen_shannon));
        } else {
            below.push(format!("JS {} < {}", g(js), floors.jensen_shannon));
        }
    }
    if cleared.is_empty() {
        (
            Verdict::None,
            format!(
                "None: {significant} but the effect is negligible ({})",
                below.join(", ")
            ),
        )
    } else {
        (
            Verdict::Warning,
            format!("Warning: {significant} and {}", cleared.join(", ")),
        )
    }
}

fn compare_predictions(
    policy: &DriftPolicy,
    schema: &FeatureSchema,
    reference: &super::profile::PredictionProfile,
    current: &super::profile::PredictionProfile,
    mode: PValueMode,
) -> PredictionDrift {
    let rc: Vec<f64> = reference.class_counts.iter().map(|&c| c as f64).collect();
    let cc: Vec<f64> = current.class_counts.iter().map(|&c| c as f64).collect();
    let n1: u64 = reference.class_counts.iter().sum();
    let n2: u64 = current.class_counts.iter().sum();
    let share = |counts: &[u64], n: u64| counts.iter().map(|&c| rate(c, n)).collect::<Vec<_>>();
    let score = if schema.target.classes.len() == 2 {
        "positiveClassProbability"
    } else {
        "topProbability"
    };
    let mut out = PredictionDrift {
        reference_count: n1,
        current_count: n2,
        class_chi2: None,
        class_p_value: None,
        class_jensen_shannon: None,
        score: score.to_string(),
        score_ks: None,
        score_p_value: None,
        score_psi: None,
        reference_class_share: share(&reference.class_counts, n1),
        current_class_share: share(&current.class_counts, n2),
        verdict: Verdict::None,
        rule: String::new(),
        histogram: Histogram::default(),
    };
    let min = policy.min_samples as u64;
    if n1 < min || n2 < min {
        out.verdict = Verdict::InsufficientData;
        out.rule = format!(
            "InsufficientData: {n1} reference and {n2} current predictions; minSamples is {}",
            policy.min_samples
        );
        return out;
    }
    match chi2_homogeneity(&rc, &cc) {
        Ok(chi) => {
            out.class_chi2 = Some(chi.statistic);
            out.class_p_value = Some(chi.pvalue);
        }
        Err(_) => {
            out.class_chi2 = Some(0.0);
            out.class_p_value = Some(1.0);
        }
    }
    out.class_jensen_shannon = jensen_shannon_distance(&rc, &cc).ok();
    let r = reference.score.sorted();
    let c = current.score.sorted();
    if let Some((d, s1, s2)) = ks_statistic_from_counts(&r, &c) {
        let (d, p, _) = ks_pvalue(s1 as usize, s2 as usize, d, mode);
        out.score_ks = Some(d);
        out.score_p_value = Some(p);
        let edges = quantile_bin_edges_from_counts(&r, policy.tests.psi.bins);
        out.score_psi = psi_from_counts(
            &bin_counts_weighted(&r, &edges),
            &bin_counts_weighted(&c, &edges),
            policy.tests.psi.epsilon,
        )
        .ok();
        out.histogram = numeric_histogram(&r, &c);
    }
    // Two tests on the predictions: Bonferroni over them.
    let p = [out.class_p_value, out.score_p_value]
        .into_iter()
        .flatten()
        .map(|p| (p * 2.0).min(1.0))
        .fold(1.0, f64::min);
    let (verdict, rule) = decide(
        policy,
        &Evidence {
            test: "prediction (χ² classes, KS score)",
            p,
            alpha: policy.tests.prediction.p_value,
            psi: out.score_psi.unwrap_or(0.0),
            js: out.class_jensen_shannon,
            ks_d: out.score_ks,
        },
    );
    out.verdict = verdict;
    out.rule = rule;
    out
}

fn compare_performance(
    policy: &DriftPolicy,
    ref_labelled: u64,
    ref_correct: u64,
    cur_labelled: u64,
    cur_correct: u64,
) -> Option<PerformanceDrift> {
    if ref_labelled == 0 || cur_labelled == 0 {
        return None;
    }
    let spec = &policy.tests.performance;
    let ra = ref_correct as f64 / ref_labelled as f64;
    let ca = cur_correct as f64 / cur_labelled as f64;
    let table = vec![
        vec![ref_correct as f64, (ref_labelled - ref_correct) as f64],
        vec![cur_correct as f64, (cur_labelled - cur_correct) as f64],
    ];
    let p = chi2_contingency(&table).map_or(1.0, |c| c.pvalue);
    let drop = ra - ca;
    let numbers = format!(
        "accuracy {} → {} (drop {}), χ² p {}",
        g(ra),
        g(ca),
        g(drop),
        g(p)
    );
    let (verdict, rule) = if p >= spec.p_value || drop < spec.warning_drop {
        (Verdict::None, format!("None: {numbers}"))
    } else if drop >= spec.critical_drop {
        (
            Verdict::Critical,
            format!("Critical: {numbers}; drop ≥ {}", spec.critical_drop),
        )
    } else {
        (
            Verdict::Warning,
            format!("Warning: {numbers}; drop ≥ {}", spec.warning_drop),
        )
    };
    Some(PerformanceDrift {
        reference_labelled: ref_labelled,
        current_labelled: cur_labelled,
        reference_accuracy: ra,
        current_accuracy: ca,
        p_value: p,
        verdict,
        rule,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(p: f64, psi: f64, js: f64, d: Option<f64>) -> Evidence {
        Evidence {
            test: "KS",
            p,
            alpha: 0.05,
            psi,
            js: Some(js),
            ks_d: d,
        }
    }

    #[test]
    fn effect_size_aware_rules() {
        let policy = DriftPolicy::default();
        let (v, rule) = decide(&policy, &ev(0.2, 0.5, 0.5, Some(0.5)));
        assert_eq!(v, Verdict::None, "{rule}");
        let (v, rule) = decide(&policy, &ev(1e-9, 0.01, 0.02, Some(0.02)));
        assert_eq!(v, Verdict::None);
        assert!(rule.contains("negligible"), "{rule}");
        let (v, rule) = decide(&policy, &ev(1e-9, 0.01, 0.02, Some(0.15)));
        assert_eq!(v, Verdict::Warning);
        assert!(rule.contains("KS D 0.150 ≥ 0.1"), "{rule}");
        let (v, rule) = decide(&policy, &ev(1e-9, 0.25, 0.2, Some(0.3)));
        assert_eq!(v, Verdict::Critical);
        assert!(
            rule.starts_with("Critical: KS p 1.00e-9 < 0.05 and PSI 0.250 ≥ 0.2"),
            "{rule}"
        );

        let mut plain = DriftPolicy::default();
        plain.tests.effect_size.enabled = false;
        let (v, _) = decide(&plain, &ev(1e-9, 0.01, 0.02, Some(0.02)));
        assert_eq!(v, Verdict::Warning);
    }

    #[test]
    fn verdicts_order_by_severity() {
        assert_eq!(Verdict::None.worst(Verdict::Critical), Verdict::Critical);
        assert_eq!(Verdict::Warning.worst(Verdict::None), Verdict::Warning);
        assert_eq!(
            Verdict::InsufficientData.worst(Verdict::None),
            Verdict::None
        );
        assert_eq!(
            serde_json::to_string(&Verdict::InsufficientData)
                .ok()
                .as_deref(),
            Some("\"InsufficientData\"")
        );
    }

    #[test]
    fn wasserstein_from_counts_matches_definition() {
        // a = {0, 1}, b = {1, 2}: W1 = 1
        let w = wasserstein_from_counts(&[(0.0, 1), (1.0, 1)], &[(1.0, 1), (2.0, 1)]);
        assert!((w - 1.0).abs() < 1e-15);
    }

    #[test]
    fn performance_drop_needs_significance_and_size() {
        let policy = DriftPolicy::default();
        let p = compare_performance(&policy, 10_000, 8_500, 5_000, 3_700).expect("labels");
        assert_eq!(p.verdict, Verdict::Critical, "{}", p.rule);
        let p = compare_performance(&policy, 10_000, 8_500, 5_000, 4_230).expect("labels");
        assert_eq!(p.verdict, Verdict::None, "{}", p.rule);
    }
}
