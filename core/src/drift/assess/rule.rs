//! From evidence to a verdict: significance, then effect sizes, with the rule text
//! that says which fired and the numbers.

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
    let (verdict, rule) = decide(
        rules,
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

/// What a verdict is decided on.
pub(super) struct Evidence {
    pub(super) test: &'static str,
    /// Corrected p-value.
    pub(super) p: f64,
    pub(super) alpha: f64,
    pub(super) psi: f64,
    pub(super) js: Option<f64>,
    pub(super) ks_d: Option<f64>,
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
}
