//! Drift of one feature: KS, PSI, Jensen–Shannon and Wasserstein-1 for a numeric
//! feature, χ², PSI and Jensen–Shannon for a categorical one.

use crate::data::schema::FeatureType;
use crate::stats::{
    bin_counts_weighted, chi2_homogeneity, jensen_shannon_distance, ks_pvalue,
    ks_statistic_from_counts, psi_from_counts, quantile_bin_edges_from_counts,
    wasserstein_from_counts, KsMethod, PValueMode, StatsError,
};

use super::super::profile::ColumnProfile;
use super::super::report::{DriftTest, FeatureDrift, Histogram, PValueMethod};
use super::super::rules::DriftRules;
use super::super::sketch::NumericSketch;
use super::super::verdict::Verdict;
use super::histogram::{category_histogram, numeric_histogram};
use super::rate;
use super::rule::{sample_size, SampleSize};

/// The statistics of one feature; its verdict is decided after the p-value correction.
pub(super) fn compare_column(
    rules: &DriftRules,
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
        wasserstein_normalized: None,
        reference_mean: None,
        current_mean: None,
        sketch_cdf_error: None,
        small_sample: false,
        verdict: Verdict::None,
        rule: String::new(),
        histogram: Histogram::default(),
    };
    match sample_size(rules, out.reference_count, out.current_count) {
        SampleSize::Enough => {}
        SampleSize::Small => out.small_sample = true,
        SampleSize::TooFew => {
            out.verdict = Verdict::InsufficientData;
            out.rule = format!(
                "InsufficientData: {} reference and {} current values; minSamples is {}",
                out.reference_count, out.current_count, rules.min_samples
            );
            return out;
        }
    }
    let result = match reference.kind {
        FeatureType::Numeric => {
            numeric_stats(rules, &reference.numeric, &current.numeric, mode, &mut out)
        }
        FeatureType::Categorical => categorical_stats(rules, reference, current, &mut out),
    };
    if let Err(e) = result {
        out.p_value = None;
        out.verdict = Verdict::InsufficientData;
        out.rule = format!("InsufficientData: the statistics could not be computed: {e}");
    }
    out
}

fn numeric_stats(
    rules: &DriftRules,
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
    out.p_value_method = Some(match method {
        KsMethod::Exact => PValueMethod::Exact,
        KsMethod::Asymptotic => PValueMethod::Asymptotic,
    });
    let edges = quantile_bin_edges_from_counts(&r, rules.tests.psi.bins);
    let rc = bin_counts_weighted(&r, &edges);
    let cc = bin_counts_weighted(&c, &edges);
    out.psi = Some(psi_from_counts(&rc, &cc, rules.tests.psi.epsilon)?);
    out.jensen_shannon = Some(jensen_shannon_distance(&rc, &cc)?);
    let w = wasserstein_from_counts(&r, &c);
    out.wasserstein = Some(w);
    out.wasserstein_normalized = reference
        .mean_std()
        .and_then(|(_, sd)| (sd > 0.0).then(|| w / sd));
    out.reference_mean = reference.mean_std().map(|m| m.0);
    out.current_mean = current.mean_std().map(|m| m.0);
    let error = reference.cdf_error() + current.cdf_error();
    if error > 0.0 {
        out.sketch_cdf_error = Some(error);
    }
    out.histogram = numeric_histogram(&r, &c);
    Ok(())
}

fn categorical_stats(
    rules: &DriftRules,
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
    let counts = |profile: &ColumnProfile| -> Vec<f64> {
        names
            .iter()
            .map(|n| profile.categories.get(n) as f64)
            .collect()
    };
    let (rc, cc) = (counts(reference), counts(current));
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
    out.p_value_method = Some(PValueMethod::Chi2);
    out.psi = Some(psi_from_counts(&rc, &cc, rules.tests.psi.epsilon)?);
    out.jensen_shannon = Some(jensen_shannon_distance(&rc, &cc)?);
    out.histogram = category_histogram(
        &names,
        &rc,
        &cc,
        reference.categories.count(),
        current.categories.count(),
    );
    Ok(())
}
