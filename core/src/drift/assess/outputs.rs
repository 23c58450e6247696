//! Drift of the model's outputs: the predictions, and (with labels) the performance.

use crate::data::schema::FeatureSchema;
use crate::stats::{
    bin_counts_weighted, chi2_contingency, chi2_homogeneity, jensen_shannon_distance, ks_pvalue,
    ks_statistic_from_counts, psi_from_counts, quantile_bin_edges_from_counts, PValueMode,
};

use super::super::profile::PredictionProfile;
use super::super::report::{Histogram, PerformanceDrift, PredictionDrift, ScoreKind};
use super::super::rules::DriftRules;
use super::super::verdict::Verdict;
use super::histogram::numeric_histogram;
use super::rate;
use super::rule::{decide, decide_small, g, sample_size, Evidence, SampleSize};

/// Drift of the predicted classes (χ²) and of the predicted score (KS, PSI).
pub(super) fn compare_predictions(
    rules: &DriftRules,
    schema: &FeatureSchema,
    reference: &PredictionProfile,
    current: &PredictionProfile,
    mode: PValueMode,
) -> PredictionDrift {
    let rc: Vec<f64> = reference.class_counts.iter().map(|&c| c as f64).collect();
    let cc: Vec<f64> = current.class_counts.iter().map(|&c| c as f64).collect();
    let n1: u64 = reference.class_counts.iter().sum();
    let n2: u64 = current.class_counts.iter().sum();
    let share = |counts: &[u64], n: u64| counts.iter().map(|&c| rate(c, n)).collect::<Vec<_>>();
    let score = if schema.target.classes.len() == 2 {
        ScoreKind::PositiveClassProbability
    } else {
        ScoreKind::TopProbability
    };
    let mut out = PredictionDrift {
        reference_count: n1,
        current_count: n2,
        class_chi2: None,
        class_p_value: None,
        class_jensen_shannon: None,
        score,
        score_ks: None,
        score_sketch_cdf_error: None,
        score_p_value: None,
        score_psi: None,
        reference_class_share: share(&reference.class_counts, n1),
        current_class_share: share(&current.class_counts, n2),
        small_sample: false,
        verdict: Verdict::None,
        rule: String::new(),
        histogram: Histogram::default(),
    };
    match sample_size(rules, n1, n2) {
        SampleSize::Enough => {}
        SampleSize::Small => out.small_sample = true,
        SampleSize::TooFew => {
            out.verdict = Verdict::InsufficientData;
            out.rule = format!(
                "InsufficientData: {n1} reference and {n2} current predictions; minSamples is {}",
                rules.min_samples
            );
            return out;
        }
    }
    class_drift(&rc, &cc, &mut out);
    score_drift(rules, reference, current, mode, &mut out);
    // Two tests on the predictions: Bonferroni over them.
    let p = [out.class_p_value, out.score_p_value]
        .into_iter()
        .flatten()
        .map(|p| (p * 2.0).min(1.0))
        .fold(1.0, f64::min);
    let evidence = Evidence {
        test: "prediction (χ² classes, KS score)",
        p,
        alpha: rules.tests.prediction.p_value,
        psi: out.score_psi.unwrap_or(0.0),
        js: out.class_jensen_shannon,
        ks_d: out.score_ks,
        wasserstein: None,
    };
    let (verdict, rule) = if out.small_sample {
        decide_small(rules, &evidence, (n1, n2))
    } else {
        decide(rules, &evidence)
    };
    out.verdict = verdict;
    out.rule = rule;
    out
}

/// χ² and Jensen–Shannon of the predicted classes.
fn class_drift(rc: &[f64], cc: &[f64], out: &mut PredictionDrift) {
    match chi2_homogeneity(rc, cc) {
        Ok(chi) => {
            out.class_chi2 = Some(chi.statistic);
            out.class_p_value = Some(chi.pvalue);
        }
        Err(_) => {
            out.class_chi2 = Some(0.0);
            out.class_p_value = Some(1.0);
        }
    }
    out.class_jensen_shannon = jensen_shannon_distance(rc, cc).ok();
}

/// KS and PSI of the predicted score, and its bars.
fn score_drift(
    rules: &DriftRules,
    reference: &PredictionProfile,
    current: &PredictionProfile,
    mode: PValueMode,
    out: &mut PredictionDrift,
) {
    let r = reference.score.sorted();
    let c = current.score.sorted();
    let Some((d, s1, s2)) = ks_statistic_from_counts(&r, &c) else {
        return;
    };
    let (d, p, _) = ks_pvalue(s1 as usize, s2 as usize, d, mode);
    out.score_ks = Some(d);
    let error = reference.score.cdf_error() + current.score.cdf_error();
    out.score_sketch_cdf_error = (error > 0.0).then_some(error);
    out.score_p_value = Some(p);
    let edges = quantile_bin_edges_from_counts(&r, rules.tests.psi.bins);
    out.score_psi = psi_from_counts(
        &bin_counts_weighted(&r, &edges),
        &bin_counts_weighted(&c, &edges),
        rules.tests.psi.epsilon,
    )
    .ok();
    out.histogram = numeric_histogram(&r, &c);
}

/// Accuracy on labelled rows against the reference (χ² on correct / wrong counts).
pub(super) fn compare_performance(
    rules: &DriftRules,
    ref_labelled: u64,
    ref_correct: u64,
    cur_labelled: u64,
    cur_correct: u64,
) -> Option<PerformanceDrift> {
    if ref_labelled == 0 || cur_labelled == 0 {
        return None;
    }
    let spec = &rules.tests.performance;
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

    #[test]
    fn performance_drop_needs_significance_and_size() {
        let policy = DriftRules::default();
        let p = compare_performance(&policy, 10_000, 8_500, 5_000, 3_700).expect("labels");
        assert_eq!(p.verdict, Verdict::Critical, "{}", p.rule);
        let p = compare_performance(&policy, 10_000, 8_500, 5_000, 4_230).expect("labels");
        assert_eq!(p.verdict, Verdict::None, "{}", p.rule);
    }
}
