//! The drift engine against the reference statistics: sketch-based KS / PSI /
//! Wasserstein equal the sample-based (SciPy-golden) functions, the fast asymptotic KS
//! p-value stays within its stated error of SciPy, and the verdict and quality checks
//! behave as documented.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use chrono::{Duration, TimeZone, Utc};
use vigil_core::data::schema::{FeatureSchema, Value};
use vigil_core::drift::quality::QualityContext;
use vigil_core::drift::report::{CheckStatus, PValueMethod};
use vigil_core::drift::sketch::NumericSketch;
use vigil_core::drift::{assess, AssessOptions, DriftRules, Verdict, WindowProfile};
use vigil_core::stats::wasserstein_from_counts;
use vigil_core::stats::{
    bin_counts, bin_counts_weighted, ks_2samp, ks_pvalue, ks_statistic_from_counts, kstwo_sf_fast,
    psi_from_counts, psi_numeric, quantile_bin_edges, quantile_bin_edges_from_counts,
    wasserstein_distance, KsMethod, PValueMode, KS_FAST_LN_RTOL, KS_FAST_P_MAX, KS_FAST_RTOL,
};
use vigil_core::train::split::SplitMix64;
use vigil_core::wire::PredictionRecord;

fn normal(rng: &mut SplitMix64, mean: f64, sd: f64) -> f64 {
    let u1 = rng.next_f64().max(1e-300);
    let u2 = rng.next_f64();
    mean + sd * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn sample(seed: u64, n: usize, mean: f64, round: bool) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| {
            let x = normal(&mut rng, mean, 10.0);
            if round {
                x.round()
            } else {
                x
            }
        })
        .collect()
}

#[test]
fn sketch_statistics_equal_the_sample_statistics() {
    for (n1, n2, shift, round) in [
        (500, 300, 0.0, true),
        (10_000, 5_000, 1.0, true),
        (2_000, 2_000, 0.5, false),
        (20_000, 15_000, 0.3, true),
        (120_000, 80_000, 0.1, true),
    ] {
        let a = sample(1, n1, 40.0, round);
        let b = sample(2, n2, 40.0 + shift, round);
        let (sa, sb) = (
            NumericSketch::from_values(&a),
            NumericSketch::from_values(&b),
        );
        let (ra, rb) = (sa.sorted(), sb.sorted());
        let reference = ks_2samp(&a, &b).unwrap();
        let (d, m1, m2) = ks_statistic_from_counts(&ra, &rb).unwrap();
        let (d, p, method) = ks_pvalue(m1 as usize, m2 as usize, d, PValueMode::Reference);
        assert_eq!((m1 as usize, m2 as usize), (n1, n2));
        assert_eq!(d, reference.statistic, "D at n {n1}/{n2}");
        assert_eq!(p, reference.pvalue, "p at n {n1}/{n2}");
        assert_eq!(method, reference.method);
        let edges = quantile_bin_edges(&a, 10).unwrap();
        assert_eq!(quantile_bin_edges_from_counts(&ra, 10), edges);
        assert_eq!(bin_counts_weighted(&rb, &edges), bin_counts(&b, &edges));
        let psi = psi_from_counts(
            &bin_counts_weighted(&ra, &edges),
            &bin_counts_weighted(&rb, &edges),
            1e-4,
        )
        .unwrap();
        assert_eq!(psi, psi_numeric(&a, &b, 10, 1e-4).unwrap());
        let w = wasserstein_from_counts(&ra, &rb);
        let expected = wasserstein_distance(&a, &b).unwrap();
        assert!(
            (w - expected).abs() <= 1e-9 * expected.abs().max(1e-12),
            "{w} vs {expected}"
        );
    }
}

#[test]
fn exact_method_is_used_up_to_ten_thousand_rows() {
    let (_, _, m) = ks_pvalue(10_000, 5_000, 0.03, PValueMode::Fast);
    assert_eq!(m, KsMethod::Exact);
    let (_, _, m) = ks_pvalue(10_001, 5_000, 0.03, PValueMode::Fast);
    assert_eq!(m, KsMethod::Asymptotic);
}

/// Where the fast formula answered: relative error ≤ KS_FAST_RTOL for p ≥ 1e-10, else
/// `|ln got - ln expected| <= KS_FAST_LN_RTOL * |ln expected|`; elsewhere bit-equal to
/// the exact port. Returns the (relative, ln-relative) errors.
fn check_fast(n: u64, x: f64, expected: f64, got: f64) -> (f64, f64) {
    let exact_port = vigil_core::stats::kstwo_sf(x, n);
    if got == exact_port {
        return (0.0, 0.0);
    }
    if expected == 0.0 {
        assert!(got < 1e-300, "n {n} x {x}: {got:e}");
        return (0.0, 0.0);
    }
    if expected >= KS_FAST_P_MAX {
        let rel = ((got - expected) / expected).abs();
        assert!(
            rel <= KS_FAST_RTOL,
            "n {n} x {x}: {got:e} vs {expected:e} (relative {rel:e})"
        );
        (rel, 0.0)
    } else {
        let rel = ((got.ln() - expected.ln()) / expected.ln()).abs();
        assert!(
            rel <= KS_FAST_LN_RTOL,
            "n {n} x {x}: {got:e} vs {expected:e} (ln-relative {rel:e})"
        );
        (0.0, rel)
    }
}

/// `kstwo_fast.json` (written by `make_fixtures.py kstwo_fast` with SciPy): the fast
/// upper-tail formula against `scipy.stats.kstwo.sf` at n = 1e5 … 1e6.
#[test]
fn kstwo_sf_fast_is_within_its_stated_error() {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "fixtures",
        "stats",
        "kstwo_fast.json",
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(&path).unwrap();
    let fixture: serde_json::Value = serde_json::from_str(&text).unwrap();
    let num = |v: &serde_json::Value| -> f64 {
        v.as_str()
            .map_or_else(|| v.as_f64().unwrap(), |s| s.parse().unwrap())
    };
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 40);
    let mut worst = (0.0_f64, 0.0_f64);
    for case in cases {
        let n = case["n"].as_u64().unwrap();
        let x = num(&case["x"]);
        let (r, l) = check_fast(n, x, num(&case["sf"]), kstwo_sf_fast(x, n));
        worst = (worst.0.max(r), worst.1.max(l));
    }
    eprintln!(
        "worst error of kstwo_sf_fast vs SciPy: relative {:e}, ln-relative {:e}",
        worst.0, worst.1
    );
}

/// Down to n = 10^4, against the SciPy-exact port itself (golden-tested in `stats_golden.rs`).
#[test]
fn kstwo_sf_fast_error_against_the_port_at_smaller_n() {
    let mut worst = (0.0_f64, 0.0_f64);
    for n in [10_000_u64, 20_000, 50_000, 100_000, 150_000] {
        for k in [
            2.2, 2.5, 3.0, 4.0, 6.0, 10.0, 15.0, 20.0, 23.0, 30.0, 50.0, 100.0, 200.0, 369.0,
        ] {
            let x = (k / n as f64).sqrt();
            let exact = vigil_core::stats::kstwo_sf(x, n);
            let (r, l) = check_fast(n, x, exact, kstwo_sf_fast(x, n));
            worst = (worst.0.max(r), worst.1.max(l));
        }
    }
    eprintln!(
        "worst error at n 1e4..1.5e5: relative {:e}, ln-relative {:e}",
        worst.0, worst.1
    );
}

fn schema() -> FeatureSchema {
    serde_yaml::from_str(
        r#"
target: {name: y, classes: ["no", "yes"]}
features:
  - {name: age, type: numeric, min: 17, max: 100}
  - {name: colour, type: categorical, nullable: true}
"#,
    )
    .unwrap()
}

fn columns(seed: u64, n: usize, age_shift: f64, blue_share: f64) -> Vec<Vec<Value>> {
    let mut rng = SplitMix64::new(seed);
    let age = (0..n)
        .map(|_| {
            Value::Number(
                normal(&mut rng, 40.0 + age_shift, 10.0)
                    .round()
                    .clamp(17.0, 100.0),
            )
        })
        .collect();
    let colour = (0..n)
        .map(|_| {
            let u = rng.next_f64();
            Value::Category(
                if u < blue_share {
                    "blue"
                } else if u < 0.6 {
                    "red"
                } else {
                    "green"
                }
                .into(),
            )
        })
        .collect();
    vec![age, colour]
}

fn probabilities(seed: u64, n: usize, bias: f64) -> Vec<Vec<f64>> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| {
            let p = (rng.next_f64() * 0.8 + bias).clamp(0.0, 1.0);
            vec![1.0 - p, p]
        })
        .collect()
}

#[test]
fn clean_traffic_is_none_and_shifted_traffic_is_critical() {
    let s = schema();
    let policy = DriftRules::default();
    let reference = WindowProfile::from_columns(
        &s,
        &columns(1, 10_000, 0.0, 0.3),
        Some(&probabilities(3, 10_000, 0.0)),
        None,
        2,
    );
    let clean = WindowProfile::from_columns(
        &s,
        &columns(2, 5_000, 0.0, 0.3),
        Some(&probabilities(4, 5_000, 0.0)),
        None,
        2,
    );
    let a = assess(
        &s,
        &policy,
        &reference,
        &clean,
        &QualityContext::default(),
        &AssessOptions::default(),
    );
    assert_eq!(a.verdict, Verdict::None, "{:#?}", a.features);
    assert!(a.features.iter().all(|f| f.rule.starts_with("None")));

    let shifted = WindowProfile::from_columns(
        &s,
        &columns(2, 5_000, 8.0, 0.3),
        Some(&probabilities(4, 5_000, 0.15)),
        None,
        2,
    );
    let a = assess(
        &s,
        &policy,
        &reference,
        &shifted,
        &QualityContext::default(),
        &AssessOptions::default(),
    );
    assert_eq!(a.drift_verdict, Verdict::Critical);
    assert_eq!(a.drifted_features, vec!["age".to_string()]);
    let age = &a.features[0];
    assert!(age.rule.starts_with("Critical: KS p"), "{}", age.rule);
    assert!(age.rule.contains("PSI"), "{}", age.rule);
    assert_eq!(age.p_value_method, Some(PValueMethod::Exact));
    let prediction = a.prediction.as_ref().unwrap();
    assert!(prediction.verdict.is_drift(), "{}", prediction.rule);

    // A tiny but significant shift at large n is negligible: effect-size aware.
    let big_ref = WindowProfile::from_columns(&s, &columns(5, 200_000, 0.0, 0.3), None, None, 2);
    let big_cur = WindowProfile::from_columns(&s, &columns(6, 200_000, 0.4, 0.3), None, None, 2);
    let a = assess(
        &s,
        &policy,
        &big_ref,
        &big_cur,
        &QualityContext::default(),
        &AssessOptions::default(),
    );
    let age = &a.features[0];
    assert!(age.p_value_adjusted.unwrap() < 0.05, "{}", age.rule);
    assert_eq!(age.verdict, Verdict::None, "{}", age.rule);
    assert!(age.rule.contains("negligible"), "{}", age.rule);
    let mut plain = DriftRules::default();
    plain.tests.effect_size.enabled = false;
    let a = assess(
        &s,
        &plain,
        &big_ref,
        &big_cur,
        &QualityContext::default(),
        &AssessOptions::default(),
    );
    assert_eq!(a.features[0].verdict, Verdict::Warning);
}

#[test]
fn small_windows_show_decisive_drift_and_nothing_else() {
    let s = schema();
    let policy = DriftRules::default();
    let reference = WindowProfile::from_columns(&s, &columns(1, 10_000, 0.0, 0.3), None, None, 1);
    let check = |rules: &DriftRules, window: &WindowProfile| {
        assess(
            &s,
            rules,
            &reference,
            window,
            &QualityContext::default(),
            &AssessOptions::default(),
        )
    };
    // 300 rows, age shifted by two standard deviations: decisive although small.
    let shifted = WindowProfile::from_columns(&s, &columns(2, 300, 20.0, 0.3), None, None, 1);
    let a = check(&policy, &shifted);
    assert_eq!(a.drift_verdict, Verdict::Critical);
    assert_eq!(a.verdict, Verdict::Critical);
    let age = &a.features[0];
    assert!(age.small_sample);
    assert!(
        age.rule.starts_with("Critical: KS p")
            && age
                .rule
                .contains("small sample: 10000 reference and 300 current values < minSamples 500"),
        "{}",
        age.rule
    );
    // The unshifted colour of the same rows is not decisive, so it is not "None".
    assert_eq!(
        a.features[1].verdict,
        Verdict::InsufficientData,
        "{}",
        a.features[1].rule
    );

    // 499 clean rows: nothing decisive, so InsufficientData — overall too.
    let clean = WindowProfile::from_columns(&s, &columns(2, 499, 0.0, 0.3), None, None, 1);
    let a = check(&policy, &clean);
    assert_eq!(a.drift_verdict, Verdict::InsufficientData);
    assert_eq!(a.verdict, Verdict::InsufficientData);
    assert!(a
        .features
        .iter()
        .all(|f| f.verdict == Verdict::InsufficientData));
    assert!(
        a.features[0].rule.contains("not decisive"),
        "{}",
        a.features[0].rule
    );

    // strictMinSamples keeps the old rule.
    let strict = DriftRules {
        strict_min_samples: true,
        ..DriftRules::default()
    };
    let a = check(&strict, &shifted);
    assert_eq!(a.drift_verdict, Verdict::InsufficientData);
    assert!(
        a.features[0].rule.contains("minSamples is 500"),
        "{}",
        a.features[0].rule
    );

    // Two rows against two rows: never tested.
    let two = WindowProfile::from_columns(&s, &columns(3, 2, 0.0, 0.3), None, None, 1);
    let a = assess(
        &s,
        &policy,
        &two,
        &two,
        &QualityContext::default(),
        &AssessOptions::default(),
    );
    assert_eq!(a.verdict, Verdict::InsufficientData);
}

fn record(id: &str, t: chrono::DateTime<Utc>, age: Value, colour: Value) -> PredictionRecord {
    PredictionRecord {
        request_id: id.into(),
        timestamp: t,
        model_version: "v1".into(),
        features: [("age".to_string(), age), ("colour".to_string(), colour)]
            .into_iter()
            .collect(),
        predicted_class: "no".into(),
        probabilities: vec![0.7, 0.3],
        latency_us: 100,
    }
}

#[test]
fn the_seven_quality_checks() {
    let s = schema();
    let reference = WindowProfile::from_columns(&s, &columns(1, 2_000, 0.0, 0.3), None, None, 1);
    let now = Utc
        .with_ymd_and_hms(2026, 11, 28, 12, 0, 0)
        .single()
        .unwrap();
    let since = now - Duration::hours(6);
    let mut current = WindowProfile::new(&s);
    for i in 0..1000 {
        let t = since + Duration::seconds(i * 10);
        let age = match i % 10 {
            0 => Value::Missing,
            1 => Value::Number(150.0),
            2 => Value::Category("forty".into()),
            _ => Value::Number(40.0),
        };
        let colour = if i % 20 == 0 {
            Value::Category("purple".into())
        } else {
            Value::Category("red".into())
        };
        let id = if i % 25 == 0 {
            "dup".to_string()
        } else {
            format!("r{i}")
        };
        current.observe_record(&s, &record(&id, t, age, colour), None);
    }
    let mut policy = DriftRules {
        min_samples: 100,
        ..DriftRules::default()
    };
    policy.quality.max_missing_rate = 0.05;
    policy.quality.expected_requests_per_hour = Some(1000.0);
    let context = QualityContext {
        now: Some(now),
        window: Some((since, now)),
    };
    let a = assess(
        &s,
        &policy,
        &reference,
        &current,
        &context,
        &AssessOptions::default(),
    );
    let status = |name: &str| {
        a.quality
            .checks
            .iter()
            .find(|c| c.name.as_str() == name)
            .unwrap_or_else(|| panic!("check {name}"))
            .status
    };
    assert_eq!(a.quality.checks.len(), 7);
    assert_eq!(status("missingRate"), CheckStatus::Failed);
    assert_eq!(status("outOfRange"), CheckStatus::Failed);
    assert_eq!(status("unseenCategories"), CheckStatus::Failed);
    assert_eq!(status("parseErrors"), CheckStatus::Failed);
    assert_eq!(status("duplicateRequestIds"), CheckStatus::Failed);
    assert_eq!(status("volume"), CheckStatus::Failed); // 1000 rows vs 6000 expected
                                                       // The newest record is at since + 9990 s, i.e. 3.2 h before now: within the 6 h window.
    assert_eq!(status("staleness"), CheckStatus::Passed);
    assert!(!a.quality.passed);
    assert_eq!(a.quality.verdict, Verdict::Critical);
    assert_eq!(a.verdict, Verdict::Critical);
    assert_eq!(a.quality.failures()[0], "parseErrors");

    let empty = WindowProfile::new(&s);
    let a = assess(
        &s,
        &policy,
        &reference,
        &empty,
        &context,
        &AssessOptions::default(),
    );
    assert_eq!(a.drift_verdict, Verdict::InsufficientData);
    let stale = a
        .quality
        .checks
        .iter()
        .find(|c| c.name.as_str() == "staleness")
        .unwrap();
    assert_eq!(stale.status, CheckStatus::Failed);
    assert!(
        stale.message.contains("no prediction was logged"),
        "{}",
        stale.message
    );
}
