//! The drift page's model-performance and trend sections, rendered from a report
//! built here: the numbers a user reads, the concept-drift sentence, one chart per
//! metric, escaping, and no section where there is nothing to show.
//!
//! `VIGIL_SAMPLE_PAGE=/tmp/page.html cargo test -p vigil-jobs --test drift_html`
//! also writes the sample page, to look at in a browser.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use vigil_core::data::schema::FeatureType;
use vigil_core::drift::report::{
    Assessment, CheckMode, DataSource, DriftTest, FeatureDrift, Histogram, QualityReport,
    TrendPoint, REPORT_FORMAT_VERSION,
};
use vigil_core::drift::{DriftReport, DriftRules, Verdict};
use vigil_core::performance::{
    CalibrationDecision, CalibrationReason, CheckPerformance, ChunkEstimate, Chunking, Confusion,
    Interval, JoinCounts, MaturedWindow, Metric, MetricEstimate, MetricGap, MetricValue,
    PerformanceBrief, RealizedMetric, RealizedPerformance, ReferenceSummary, Thresholds,
    WindowPerformance,
};
use vigil_jobs::html::render;

const FEATURES: [&str; 8] = [
    "age",
    "capital<gain>",
    "hours_per_week",
    "education",
    "workclass",
    "race",
    "sex",
    "native_country",
];

fn checked_at(i: usize) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap() + Duration::hours(6 * i as i64)
}

fn feature(name: &str, psi: f64) -> FeatureDrift {
    FeatureDrift {
        name: name.into(),
        kind: FeatureType::Numeric,
        test: DriftTest::Ks,
        reference_count: 1000,
        current_count: 1200,
        reference_missing_rate: 0.0,
        current_missing_rate: 0.0,
        statistic: Some(0.05),
        p_value: Some(0.2),
        p_value_adjusted: Some(0.4),
        p_value_method: None,
        dof: None,
        psi: Some(psi),
        jensen_shannon: None,
        wasserstein: None,
        wasserstein_normalized: None,
        reference_mean: None,
        current_mean: None,
        sketch_cdf_error: None,
        small_sample: false,
        verdict: if psi >= 0.25 {
            Verdict::Critical
        } else {
            Verdict::None
        },
        rule: "KS p ≥ 0.05".into(),
        histogram: Histogram::default(),
    }
}

fn estimate(metric: Metric, value: f64, se: f64, band: (f64, f64)) -> MetricEstimate {
    MetricEstimate {
        metric,
        value: Some(value),
        sampling_error: se,
        lower_confidence: Some(value - 3.0 * se),
        upper_confidence: Some(value + 3.0 * se),
        thresholds: Thresholds {
            lower: Some(band.0),
            upper: Some(band.1),
        },
        alert: value < band.0 || value > band.1,
    }
}

fn realized(metric: Metric, value: f64, interval: (f64, f64)) -> RealizedMetric {
    RealizedMetric {
        metric,
        value: Some(value),
        standard_error: None,
        interval: Some(Interval {
            lower: interval.0,
            upper: interval.1,
        }),
    }
}

fn gap(metric: Metric, gap: f64, standard_error: f64, sustained: bool) -> MetricGap {
    MetricGap {
        metric,
        gap,
        standard_error,
        exceeds: gap.abs() > 3.0 * standard_error,
        sustained,
    }
}

/// This window: ROC AUC estimated below its band and realized 4.1 standard errors
/// under the estimate, for the second check in a row.
fn assessed() -> CheckPerformance {
    let band = |m| match m {
        Metric::RocAuc => (0.8512, 0.94),
        Metric::Accuracy => (0.78, 0.87),
        _ => (0.55, 0.72),
    };
    let window = WindowPerformance {
        estimate: ChunkEstimate {
            index: 0,
            start: 0,
            end: 1200,
            estimates: vec![
                estimate(Metric::RocAuc, 0.8431, 0.0101, band(Metric::RocAuc)),
                estimate(Metric::Accuracy, 0.8123, 0.0112, band(Metric::Accuracy)),
                estimate(Metric::F1, 0.6345, 0.0187, band(Metric::F1)),
            ],
        },
        rows: 1200,
        labelled: 840,
        realized: Some(RealizedPerformance::Measured {
            labelled: 840,
            confusion: Confusion {
                true_positive: 150,
                true_negative: 526,
                false_positive: 70,
                false_negative: 94,
            },
            metrics: vec![
                realized(Metric::Accuracy, 0.8051, (0.7772, 0.8302)),
                realized(Metric::F1, 0.6466, (0.6012, 0.6920)),
                realized(Metric::RocAuc, 0.7210, (0.6626, 0.7794)),
            ],
        }),
        gaps: vec![
            gap(Metric::RocAuc, 0.7210 - 0.8431, 0.0298, true),
            gap(Metric::Accuracy, 0.8051 - 0.8123, 0.0136, false),
            gap(Metric::F1, 0.6466 - 0.6345, 0.0231, false),
        ],
    };
    // The window 6 h before, realized again by this check's labels.
    let matured = MaturedWindow {
        since: checked_at(6) - Duration::hours(6),
        until: checked_at(6),
        added: 300,
        window: window.clone(),
    };
    CheckPerformance::Assessed {
        reference: ReferenceSummary {
            rows: 4000,
            chunking: Chunking::Count(10),
            calibration: CalibrationDecision {
                calibrate: true,
                reason: CalibrationReason::LowersCalibrationError,
                ece_before: Some(0.0512),
                ece_after: Some(0.0123),
            },
            thresholds: [Metric::RocAuc, Metric::Accuracy, Metric::F1]
                .into_iter()
                .map(|m| {
                    let (lower, upper) = band(m);
                    (
                        m,
                        Thresholds {
                            lower: Some(lower),
                            upper: Some(upper),
                        },
                    )
                })
                .collect(),
        },
        window,
        labels: JoinCounts {
            predictions: 1200,
            labels_read: 950,
            labelled: 840,
            label_coverage: 0.7,
            late: 37,
            duplicates: 12,
            orphans: 5,
            previous_window: 41,
            invalid: 3,
            duplicate_predictions: 2,
        },
        estimated_alerts: vec![Metric::RocAuc],
        concept_drift: true,
        other_versions: 0,
        matured: vec![matured],
    }
}

fn value(metric: Metric, value: f64, lower: f64, upper: f64, alert: bool) -> MetricValue {
    MetricValue {
        metric,
        value,
        lower: Some(lower),
        upper: Some(upper),
        alert,
    }
}

/// An earlier check: estimates inside their bands, realized once labels arrived (not
/// for the two checks before this one), one check whose model had no hold-out.
fn earlier(i: usize) -> TrendPoint {
    let psi: Vec<(String, f64)> = FEATURES
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let drift = if k == 1 { 0.04 * i as f64 } else { 0.0 };
            (name.to_string(), 0.01 + 0.004 * k as f64 + drift)
        })
        .collect();
    let performance = if i == 2 {
        PerformanceBrief {
            estimated: vec![],
            realized: vec![],
            label_coverage: 0.0,
            labelled: 0,
            estimated_drop: false,
            concept_drift: false,
            reason: Some("NoHoldout".into()),
            matured: None,
        }
    } else {
        let wobble = 0.004 * ((i % 3) as f64 - 1.0);
        let labelled = i < 5;
        PerformanceBrief {
            estimated: vec![
                value(Metric::RocAuc, 0.90 + wobble, 0.8512, 0.94, false),
                value(Metric::Accuracy, 0.83 + wobble, 0.78, 0.87, false),
                value(Metric::F1, 0.65 + wobble, 0.55, 0.72, false),
            ],
            realized: if labelled {
                vec![
                    value(Metric::RocAuc, 0.895 - 0.01 * i as f64, 0.86, 0.93, false),
                    value(Metric::Accuracy, 0.826, 0.80, 0.85, false),
                    value(Metric::F1, 0.648, 0.60, 0.70, false),
                ]
            } else {
                vec![]
            },
            label_coverage: if labelled { 0.9 } else { 0.05 },
            labelled: if labelled { 1000 } else { 60 },
            estimated_drop: false,
            concept_drift: false,
            reason: (!labelled).then(|| "InsufficientLabels".into()),
            matured: None,
        }
    };
    TrendPoint {
        checked_at: checked_at(i),
        verdict: if i >= 5 {
            Verdict::Warning
        } else {
            Verdict::None
        },
        psi,
        performance: Some(performance),
    }
}

fn report(model_performance: Option<CheckPerformance>, checks: usize) -> DriftReport {
    let mut policy = DriftRules::default();
    policy.tests.psi.warning = 0.1;
    policy.tests.psi.critical = 0.25;
    let now = checked_at(checks.saturating_sub(1));
    let features: Vec<FeatureDrift> = FEATURES
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let drift = if k == 1 { 0.04 * 7.0 } else { 0.0 };
            feature(name, 0.01 + 0.004 * k as f64 + drift)
        })
        .collect();
    let mut report = DriftReport {
        format_version: REPORT_FORMAT_VERSION,
        generated_at: now,
        vigil_version: "0.1.0".into(),
        mode: CheckMode::Scheduled,
        model_name: Some("adult".into()),
        model_version: Some("v3".into()),
        reference: DataSource {
            description: "reference profile".into(),
            rows: 4000,
        },
        current: DataSource {
            description: "prediction logs".into(),
            rows: 1200,
        },
        window: Some((now - Duration::hours(6), now)),
        policy,
        assessment: Assessment {
            verdict: Verdict::Critical,
            drift_verdict: Verdict::Critical,
            reference_rows: 4000,
            current_rows: 1200,
            drifted_features: vec!["capital<gain>".into()],
            features,
            prediction: None,
            performance: None,
            quality: QualityReport {
                passed: true,
                verdict: Verdict::None,
                checks: vec![],
            },
            recomputed_exactly: vec![],
        },
        model_performance,
        trend: vec![],
        timings: vec![],
    };
    if checks > 0 {
        report.trend = (0..checks - 1).map(earlier).collect();
        report.trend.push(TrendPoint::of(&report));
    }
    report
}

/// The `<svg>…</svg>` whose aria-label is `label`.
fn svg<'a>(page: &'a str, label: &str) -> &'a str {
    let at = page
        .find(&format!("aria-label=\"{label}\""))
        .unwrap_or_else(|| panic!("no chart {label}"));
    let start = page[..at].rfind("<svg").unwrap();
    let end = at + page[at..].find("</svg>").unwrap() + "</svg>".len();
    &page[start..end]
}

/// Every element of `markup` is closed, in order (a broken chart would not draw).
fn assert_balanced(markup: &str) {
    let mut open: Vec<&str> = Vec::new();
    let mut rest = markup;
    while let Some(at) = rest.find('<') {
        let end = rest[at..].find('>').expect("unclosed tag") + at;
        let tag = &rest[at + 1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(open.pop(), Some(name), "in {markup}");
        } else if !tag.ends_with('/') {
            open.push(tag.split_whitespace().next().unwrap());
        }
    }
    assert!(open.is_empty(), "{open:?} left open");
}

#[test]
fn assessed_performance_and_trends_show_the_numbers_and_the_concept_drift() {
    let page = render(&report(Some(assessed()), 8));
    if let Ok(path) = std::env::var("VIGIL_SAMPLE_PAGE") {
        std::fs::write(path, &page).unwrap();
    }

    // This window: estimated next to realized, with bands, intervals and the alert.
    assert!(page.contains("<span class=\"badge crit\">concept drift</span>"));
    assert!(page.contains(
        "<tr><td>rocAuc</td><td class=\"n\">0.8431</td><td class=\"n\">0.0101</td>\
         <td class=\"n\">0.8128 – 0.8734</td><td class=\"n\">0.8512 – 0.9400</td>\
         <td class=\"alert\">▼ below band</td><td class=\"n\">0.7210</td>\
         <td class=\"n\">0.6626 – 0.7794</td>\
         <td class=\"n\">-0.1221 (4.1 SE) <span class=\"alert\">sustained</span></td></tr>"
    ));
    assert!(page
        .contains("<tr><td>accuracy</td><td class=\"n\">0.8123</td><td class=\"n\">0.0112</td>"));
    assert!(page.contains(
        "Realized rocAuc is 4.1 standard errors below the estimate (0.7210 against 0.8431) \
         and has been more than 3 below it for 2 checks: the relation between inputs and \
         labels changed — drift CBPE cannot see."
    ));
    assert_eq!(page.matches("<b>Concept drift.</b>").count(), 1);
    // Labels: predictions, read, labelled, coverage, late, duplicates, orphans, earlier, invalid, duplicate predictions.
    assert!(page.contains(
        "<tr><td class=\"n\">1200</td><td class=\"n\">950</td><td class=\"n\">840</td>\
         <td class=\"n\">70.0%</td><td class=\"n\">37</td><td class=\"n\">12</td>\
         <td class=\"n\">5</td><td class=\"n\">41</td><td class=\"n\">3</td><td class=\"n\">2</td></tr>"
    ));
    assert!(page.contains("realized from the 840 of them labelled so far (70.0% label coverage)"));
    assert!(page.contains(
        "<tr><td>2026-11-28 06:00 – 2026-11-28 12:00</td><td class=\"n\">300</td>\
         <td class=\"n\">840</td><td class=\"n\">70.0%</td>\
         <td class=\"n\">0.7210 (0.8431) <span class=\"alert\">sustained gap</span></td>\
         <td class=\"n\">0.8051 (0.8123)</td><td class=\"n\">0.6466 (0.6345)</td></tr>"
    ));
    assert!(page.contains(
        "4000 rows in 10 chunks; the alert bands are the chunks' mean ± 3 standard deviations"
    ));
    assert!(page.contains(
        "Calibration: isotonic regression, because it lowers the expected calibration error 0.0512 → 0.0123."
    ));

    // Trends: the verdicts, PSI with the policy's levels, one chart per metric.
    assert!(page.contains("The last 8 checks, 2026-11-27 00:00 to 2026-11-28 18:00 (UTC)."));
    assert_eq!(page.matches("<svg").count(), 5, "verdicts, PSI, 3 metrics");
    let verdicts = svg(&page, "verdict per check");
    assert_eq!(verdicts.matches("<circle").count(), 8);
    assert_eq!(
        verdicts.matches("#bf8700\"><title>").count(),
        2,
        "2 warnings"
    );
    assert!(verdicts.contains("2026-11-28 18:00: Critical</title>"));
    assert!(verdicts.contains("2026-11-27 12:00: not assessed (NoHoldout)</title>"));
    assert!(verdicts.contains("2026-11-28 18:00: concept drift</title>"));
    assert!(verdicts.contains("<tspan x=\"") && verdicts.contains(">Nov 28</tspan>"));
    assert!(verdicts.contains(">18:00</tspan>"));

    let psi = svg(&page, "PSI per feature per check");
    assert!(psi.contains(">warning 0.1</text>") && psi.contains(">critical 0.25</text>"));
    assert_eq!(psi.matches("stroke-dasharray=\"4 3\"").count(), 2);
    // The 6 worst of 8 features, a line each, 8 checks each.
    assert_eq!(psi.matches("<polyline").count(), 6);
    assert_eq!(psi.matches("<circle").count(), 6 * 8);
    assert!(psi.contains("capital&lt;gain&gt;: PSI 0.2940 at 2026-11-28 18:00"));
    assert!(!psi.contains("hours_per_week:") && !psi.contains(">age:"));
    assert!(page.contains("capital&lt;gain&gt; (peak 0.2940)"));
    assert!(page.contains("2 more feature(s) peak at or below 0.0180"));
    assert!(!page.contains("capital<gain>"), "unescaped feature name");

    for metric in ["rocAuc", "accuracy", "f1"] {
        let chart = svg(&page, &format!("{metric} per check"));
        assert_eq!(
            page.matches(&format!(
                "<h3 class=\"chart\">{metric}: estimated and realized</h3>"
            ))
            .count(),
            1
        );
        // The band: two runs of checks around the refused one.
        assert_eq!(chart.matches("fill=\"#ddf4ff\"").count(), 2, "{metric}");
        // Realized at checks 0, 1, 3, 4 and this one; none in the 2 short of labels.
        assert_eq!(chart.matches(": realized ").count(), 5, "{metric}");
        assert!(chart.contains("2026-11-27 12:00: not assessed (NoHoldout)"));
        assert_balanced(chart);
    }
    let auc = svg(&page, "rocAuc per check");
    assert!(auc.contains(
        "2026-11-28 18:00: estimated 0.8431 outside its band 0.8512 – 0.9400: alert</title>"
    ));
    assert_eq!(auc.matches(": alert</title>").count(), 1);
    assert!(auc.contains("2026-11-28 18:00: realized 0.7210 (95% interval 0.6626 – 0.7794)"));
    assert!(auc.contains("2026-11-27 00:00: estimated 0.8960 (band 0.8512 – 0.9400)"));
    assert!(!svg(&page, "accuracy per check").contains(": alert</title>"));
    assert_balanced(verdicts);
    assert_balanced(psi);
}

#[test]
fn a_refusal_states_its_reason_and_message() {
    let refused = CheckPerformance::Refused {
        reason: "NoHoldout".into(),
        message: "model v3 has no holdout.json.gz <train it again>".into(),
    };
    let page = render(&report(Some(refused), 0));
    assert!(
        page.contains("<h2>Model performance <span class=\"badge na\">not assessed</span></h2>")
    );
    assert!(page.contains(
        "Performance was not estimated in this check — <b>NoHoldout</b>: \
         model v3 has no holdout.json.gz &lt;train it again&gt;"
    ));
    assert!(!page.contains("<h3 class=\"chart\">Labels</h3>"));
}

#[test]
fn no_performance_no_section_and_one_check_no_trend() {
    let page = render(&report(None, 1));
    assert!(!page.contains("Model performance"));
    assert!(!page.contains("<h2>Trends</h2>"));
    assert!(!page.contains("<svg"));
    // Two checks make a trend, without performance lanes or charts.
    let page = render(&report(None, 2));
    assert!(page.contains("<h2>Trends</h2>"));
    assert_eq!(
        page.matches("<svg").count(),
        5,
        "verdicts, PSI, the earlier check's 3 metrics"
    );
}
