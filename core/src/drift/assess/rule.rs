//! From evidence to a verdict: significance, then effect sizes, with the rule text
//! that says which fired and the numbers; below `minSamples`, only decisive evidence.

use super::super::report::{DriftTest, FeatureDrift};
use super::super::rules::DriftRules;
use super::super::verdict::Verdict;

/// A number as the rule texts print it.
pub(super) fn g(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else if v.abs() < 1e-3 {
        format!("{v:.2e}")
    } else {
        format!("{v:.3}")
    }
}

/// Fewer values than this on a side are never tested: the χ² approximation and the
/// exact KS distribution say nothing useful there.
pub(super) const SMALL_SAMPLE_FLOOR: u64 = 30;
/// Below `minSamples` a result is decisive when its corrected p-value is at most this
/// fraction of the level (and the effect reaches `psi.critical`).
pub(super) const SMALL_SAMPLE_LEVEL_FACTOR: f64 = 0.01;

/// Whether a side of `n` values is small, and whether it may be tested at all.
pub(super) fn sample_size(rules: &DriftRules, n1: u64, n2: u64) -> SampleSize {
    let n = n1.min(n2);
    if n >= rules.min_samples as u64 {
        SampleSize::Enough
    } else if rules.strict_min_samples || n < SMALL_SAMPLE_FLOOR {
        SampleSize::TooFew
    } else {
        SampleSize::Small
    }
}

/// How a test's sample sizes compare with `minSamples`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SampleSize {
    Enough,
    /// Below `minSamples`: only a decisive result counts.
    Small,
    /// Not tested: `InsufficientData`.
    TooFew,
}

/// A small sample's verdict: the ordinary one when it is decisive (Critical at a
/// p-value far below the level), else `InsufficientData`.
pub(super) fn decide_small(
    rules: &DriftRules,
    e: &Evidence,
    counts: (u64, u64),
) -> (Verdict, String) {
    let (verdict, rule) = decide(rules, e);
    let limit = e.alpha * SMALL_SAMPLE_LEVEL_FACTOR;
    let sizes = format!(
        "small sample: {} reference and {} current values < minSamples {}",
        counts.0, counts.1, rules.min_samples
    );
    if verdict == Verdict::Critical && e.p <= limit {
        return (
            verdict,
            format!("{rule} ({sizes}; decisive: p ≤ {})", g(limit)),
        );
    }
    (
        Verdict::InsufficientData,
        format!(
            "InsufficientData: {sizes}, and the evidence is not decisive (needs p ≤ {} and \
             PSI ≥ {}; has p {}, PSI {})",
            g(limit),
            rules.tests.psi.critical,
            g(e.p),
            g(e.psi)
        ),
    )
}

/// The verdict of a feature from its corrected p-value and effect sizes.
pub(super) fn decide_feature(rules: &DriftRules, f: &mut FeatureDrift) {
    if f.verdict == Verdict::InsufficientData {
        return;
    }
    let Some(p) = f.p_value_adjusted.or(f.p_value) else {
        return;
    };
    let (alpha, test) = match f.test {
        DriftTest::Ks => (rules.tests.ks.p_value, "KS"),
        DriftTest::ChiSquare => (rules.tests.chi_square.p_value, "χ²"),
    };
    let psi = f.psi.unwrap_or(0.0);
    let js = f.jensen_shannon.unwrap_or(0.0);
    let d = match f.test {
        DriftTest::Ks => f.statistic,
        DriftTest::ChiSquare => None,
    };
    let evidence = Evidence {
        test,
        p,
        alpha,
        psi,
        js: Some(js),
        ks_d: d,
        wasserstein: f.wasserstein_normalized,
    };
    let (verdict, rule) = if f.small_sample {
        decide_small(rules, &evidence, (f.reference_count, f.current_count))
    } else {
        decide(rules, &evidence)
    };
    f.verdict = verdict;
    f.rule = rule;
}

/// What a verdict is decided on.
pub(super) struct Evidence {
    pub(super) test: &'static str,
    /// Corrected p-value.
    pub(super) p: f64,
    pub(super) alpha: f64,
    pub(super) psi: f64,
    pub(super) js: Option<f64>,
    pub(super) ks_d: Option<f64>,
    /// Wasserstein-1 over the reference's standard deviation.
    pub(super) wasserstein: Option<f64>,
}

/// Significance first, then the effect sizes (see the module rules).
pub(super) fn decide(rules: &DriftRules, e: &Evidence) -> (Verdict, String) {
    let psi_spec = &rules.tests.psi;
    let floors = &rules.tests.effect_size;
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
    if let Some(w) = e.wasserstein {
        if w >= floors.wasserstein {
            cleared.push(format!("W/σ {} ≥ {}", g(w), floors.wasserstein));
        } else {
            below.push(format!("W/σ {} < {}", g(w), floors.wasserstein));
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
            wasserstein: None,
        }
    }

    #[test]
    fn effect_size_aware_rules() {
        let policy = DriftRules::default();
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

        let mut plain = DriftRules::default();
        plain.tests.effect_size.enabled = false;
        let (v, _) = decide(&plain, &ev(1e-9, 0.01, 0.02, Some(0.02)));
        assert_eq!(v, Verdict::Warning);
    }

    #[test]
    fn normalised_wasserstein_is_an_effect_size() {
        let policy = DriftRules::default();
        let shifted = Evidence {
            wasserstein: Some(0.2),
            ..ev(1e-6, 0.04, 0.05, Some(0.08))
        };
        let (v, rule) = decide(&policy, &shifted);
        assert_eq!(v, Verdict::Warning, "{rule}");
        assert!(rule.ends_with("and W/σ 0.200 ≥ 0.1"), "{rule}");
        let (v, rule) = decide(
            &policy,
            &Evidence {
                wasserstein: Some(0.03),
                ..shifted
            },
        );
        assert_eq!(v, Verdict::None, "{rule}");
        assert!(rule.contains("W/σ 0.030 < 0.1"), "{rule}");
    }

    #[test]
    fn small_samples_count_only_when_decisive() {
        let policy = DriftRules::default();
        let (v, rule) = decide_small(&policy, &ev(1e-6, 3.0, 0.5, Some(0.6)), (10_000, 300));
        assert_eq!(v, Verdict::Critical, "{rule}");
        assert!(
            rule.contains("small sample: 10000 reference and 300 current"),
            "{rule}"
        );
        // Significant, but not far below the level: not decisive.
        let (v, rule) = decide_small(&policy, &ev(0.01, 3.0, 0.5, Some(0.6)), (10_000, 300));
        assert_eq!(v, Verdict::InsufficientData, "{rule}");
        // Far below the level, but a moderate effect: not decisive either.
        let (v, _) = decide_small(&policy, &ev(1e-9, 0.15, 0.2, Some(0.2)), (10_000, 300));
        assert_eq!(v, Verdict::InsufficientData);
        // A small sample never shows the absence of drift.
        let (v, _) = decide_small(&policy, &ev(0.9, 0.0, 0.0, Some(0.01)), (10_000, 300));
        assert_eq!(v, Verdict::InsufficientData);
        let mut strict = DriftRules::default();
        assert_eq!(sample_size(&strict, 10_000, 300), SampleSize::Small);
        assert_eq!(sample_size(&strict, 10_000, 29), SampleSize::TooFew);
        assert_eq!(sample_size(&strict, 600, 500), SampleSize::Enough);
        strict.strict_min_samples = true;
        assert_eq!(sample_size(&strict, 10_000, 300), SampleSize::TooFew);
    }
}
