//! The drift report as one self-contained HTML page: inline CSS and inline SVG
//! charts drawn here, no scripts, no external resources.

use std::fmt::Write;

use vigil_core::drift::report::{
    CheckMode, CheckStatus, DriftReport, DriftTest, FeatureDrift, Histogram, PerformanceDrift,
    PredictionDrift, QualityReport, Severity, TrendPoint,
};
use vigil_core::drift::Verdict;
use vigil_core::performance::{
    CalibrationDecision, CalibrationReason, CheckPerformance, Chunking, JoinCounts, MaturedWindow,
    Metric, MetricGap, MetricValue, PerformanceBrief, RealizedPerformance, ReferenceSummary,
    WindowPerformance, GAP_STANDARD_ERRORS, GAP_WINDOWS,
};

use self::plot::ValueRange;

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn badge(v: Verdict) -> String {
    let class = match v {
        Verdict::None => "ok",
        Verdict::Warning => "warn",
        Verdict::Critical => "crit",
        Verdict::InsufficientData => "na",
    };
    format!("<span class=\"badge {class}\">{}</span>", v.as_str())
}

fn num(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(0.0) => "0".into(),
        Some(v) if v.abs() < 1e-3 || v.abs() >= 1e6 => format!("{v:.2e}"),
        Some(v) => format!("{v:.4}"),
    }
}

const CSS: &str = r#"
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1100px;color:#1f2328;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
.meta{color:#59636e;font-size:.9rem}
table{border-collapse:collapse;width:100%;font-size:.88rem}th,td{padding:.35rem .5rem;border-bottom:1px solid #eaeef2;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:1rem;font-size:.8rem;font-weight:600;color:#fff}
.ok{background:#1a7f37}.warn{background:#bf8700}.crit{background:#cf222e}.na{background:#6e7781}.skip{background:#8c959f}
.hero{display:flex;gap:1rem;align-items:center;margin:1rem 0}.hero .badge{font-size:1.2rem;padding:.3rem 1rem}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:1rem}
.card{border:1px solid #d0d7de;border-radius:6px;padding:.7rem}.card h3{margin:.1rem 0 .4rem;font-size:1rem;display:flex;justify-content:space-between}
.rule{font-size:.8rem;color:#59636e;margin:.3rem 0}.legend{font-size:.75rem;color:#59636e}
.sw{display:inline-block;width:.7rem;height:.7rem;margin:0 .2rem 0 .6rem;vertical-align:middle}
.sw.ln{height:.2rem}.sw.dash{height:0;border-top:2px dashed}.sw.dot{border-radius:50%}
th.n{text-align:right}
td.alert,span.alert{color:#cf222e;font-weight:600}
.callout{border-left:4px solid #cf222e;background:#ffebe9;padding:.5rem .8rem;margin:.6rem 0}
.callout.warn{border-color:#bf8700;background:#fff8c5}.callout.na{border-color:#6e7781;background:#f6f8fa}
h3.chart{font-size:1rem;margin:1.2rem 0 .2rem}
"#;

/// Renders the report.
pub fn render(report: &DriftReport) -> String {
    let a = &report.assessment;
    let mut h = String::new();
    head(&mut h, report);
    // Worst first, then by PSI.
    let mut order: Vec<&FeatureDrift> = a.features.iter().collect();
    order.sort_by(|x, y| {
        y.verdict
            .severity()
            .cmp(&x.verdict.severity())
            .then(y.psi.unwrap_or(0.0).total_cmp(&x.psi.unwrap_or(0.0)))
    });
    feature_table(&mut h, &order);
    if let Some(p) = &a.prediction {
        predictions(&mut h, p);
    }
    if let Some(p) = &a.performance {
        performance(&mut h, p);
    }
    if let Some(p) = &report.model_performance {
        model_performance(&mut h, p, &report.policy.performance.metrics);
    }
    if report.trend.len() >= 2 {
        trends(&mut h, report);
    }
    quality(&mut h, &a.quality);
    feature_charts(&mut h, &order);
    let _ = write!(
        h,
        "<h2>Policy</h2><pre>{}</pre></body></html>",
        escape(&serde_json::to_string_pretty(&report.policy).unwrap_or_default())
    );
    h
}

/// The page head, title, verdicts and the two data sources.
fn head(h: &mut String, report: &DriftReport) {
    let a = &report.assessment;
    let title = format!(
        "Drift report — {}",
        report
            .model_name
            .clone()
            .or(report.model_version.clone())
            .unwrap_or_else(|| "ad-hoc comparison".into())
    );
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{CSS}</style></head><body>",
        escape(&title)
    );
    let _ = write!(h, "<h1>{}</h1>", escape(&title));
    let _ = write!(
        h,
        "<div class=\"meta\">Generated {} by Vigil {} · {} mode{}</div>",
        report.generated_at.format("%Y-%m-%d %H:%M:%S UTC"),
        escape(&report.vigil_version),
        match report.mode {
            CheckMode::Scheduled => "scheduled",
            CheckMode::AdHoc => "ad-hoc",
        },
        report
            .model_version
            .as_ref()
            .map(|v| format!(" · model version {}", escape(v)))
            .unwrap_or_default()
    );
    let _ = write!(
        h,
        "<div class=\"hero\">{} <div><b>Drift:</b> {} &nbsp; <b>Quality:</b> {} &nbsp; {} drifted of {} features</div></div>",
        badge(a.verdict),
        badge(a.drift_verdict),
        badge(a.quality.verdict),
        a.drifted_features.len(),
        a.features.len()
    );
    let _ = write!(
        h,
        "<table><tr><th>reference</th><td>{}</td><td class=\"n\">{} rows</td></tr><tr><th>current</th><td>{}</td><td class=\"n\">{} rows</td></tr></table>",
        escape(&report.reference.description),
        report.reference.rows,
        escape(&report.current.description),
        report.current.rows
    );
}

/// One row per feature.
fn feature_table(h: &mut String, order: &[&FeatureDrift]) {
    h.push_str("<h2>Features</h2><table><tr><th>feature</th><th>verdict</th><th>test</th><th>statistic</th><th>p</th><th>p adjusted</th><th>PSI</th><th>JS</th><th>Wasserstein</th><th>W/σ</th><th>missing ref → cur</th></tr>");
    for f in order {
        let _ = write!(
            h,
            "<tr><td><a href=\"#f-{id}\">{name}</a></td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}% → {:.1}%</td></tr>",
            badge(f.verdict),
            match f.test {
                DriftTest::Ks => "KS",
                DriftTest::ChiSquare => "χ²",
            },
            num(f.statistic),
            num(f.p_value),
            num(f.p_value_adjusted),
            num(f.psi),
            num(f.jensen_shannon),
            num(f.wasserstein),
            num(f.wasserstein_normalized),
            f.reference_missing_rate * 100.0,
            f.current_missing_rate * 100.0,
            id = escape(&f.name),
            name = escape(&f.name),
        );
    }
    h.push_str("</table>");
}

/// Prediction drift.
fn predictions(h: &mut String, p: &PredictionDrift) {
    let _ = write!(
        h,
        "<h2>Predictions {}</h2><p class=\"rule\">{}</p><table><tr><th>class shares ref → cur</th><td>{}</td></tr><tr><th>χ² on classes</th><td>{} (p {})</td></tr><tr><th>score ({})</th><td>KS D {} (p {}), PSI {}</td></tr></table>",
        badge(p.verdict),
        escape(&p.rule),
        p.reference_class_share
            .iter()
            .zip(&p.current_class_share)
            .map(|(r, c)| format!("{:.1}% → {:.1}%", r * 100.0, c * 100.0))
            .collect::<Vec<_>>()
            .join(" · "),
        num(p.class_chi2),
        num(p.class_p_value),
        escape(p.score.as_str()),
        num(p.score_ks),
        num(p.score_p_value),
        num(p.score_psi)
    );
    if !p.histogram.labels.is_empty() {
        h.push_str(&chart(&p.histogram));
    }
}

/// Performance on labelled traffic.
fn performance(h: &mut String, p: &PerformanceDrift) {
    let _ = write!(
        h,
        "<h2>Performance on labelled traffic {}</h2><p class=\"rule\">{}</p><table><tr><th>accuracy</th><td>reference {:.4} ({} rows) → current {:.4} ({} rows), χ² p {}</td></tr></table>",
        badge(p.verdict),
        escape(&p.rule),
        p.reference_accuracy,
        p.reference_labelled,
        p.current_accuracy,
        p.current_labelled,
        num(Some(p.p_value))
    );
}

/// The served model's performance in this window: estimated next to realized.
fn model_performance(h: &mut String, check: &CheckPerformance, metrics: &[Metric]) {
    let (reference, window, labels, estimated_alerts, concept_drift, other_versions, matured) =
        match check {
            CheckPerformance::Assessed {
                reference,
                window,
                labels,
                estimated_alerts,
                concept_drift,
                other_versions,
                matured,
            } => (
                reference,
                window,
                labels,
                estimated_alerts,
                concept_drift,
                *other_versions,
                matured,
            ),
            CheckPerformance::Refused { reason, message } => {
                let _ = write!(
                h,
                "<h2>Model performance <span class=\"badge na\">not assessed</span></h2>\
                 <div class=\"callout na\">Performance was not estimated in this check — <b>{}</b>: {}</div>",
                escape(reason),
                escape(message)
            );
                return;
            }
        };
    let (class, label) = if *concept_drift {
        ("crit", "concept drift")
    } else if !estimated_alerts.is_empty() {
        ("warn", "estimate outside its band")
    } else {
        ("ok", "within band")
    };
    let _ = write!(
        h,
        "<h2>Model performance <span class=\"badge {class}\">{label}</span></h2>\
         <p class=\"rule\">Estimated by CBPE from the scores of the window's {} predictions; \
         realized from the {} of them labelled so far ({:.1}% label coverage).</p>",
        window.rows,
        labels.labelled,
        labels.label_coverage * 100.0
    );
    if other_versions > 0 {
        let _ = write!(
            h,
            "<p class=\"rule\">{other_versions} predictions of the window were made by other \
             versions and are left out: the hold-out calibrates this version's scores.</p>"
        );
    }
    gap_notes(h, window, *concept_drift);
    match &window.realized {
        None => h.push_str(
            "<div class=\"callout na\">No prediction of this window has a label yet: estimates only.</div>",
        ),
        Some(RealizedPerformance::InsufficientLabels {
            labelled,
            min_labeled_samples,
        }) => {
            let _ = write!(
                h,
                "<div class=\"callout na\">Realized values need at least {min_labeled_samples} labelled predictions; {labelled} have a label so far.</div>"
            );
        }
        Some(RealizedPerformance::Measured { .. }) => {}
    }
    metric_table(h, window, metrics);
    join_table(h, labels);
    matured_table(h, matured, metrics);
    reference_note(h, reference);
}

/// Earlier windows that labels of this check realized again.
fn matured_table(h: &mut String, matured: &[MaturedWindow], metrics: &[Metric]) {
    if matured.is_empty() {
        return;
    }
    let _ = write!(
        h,
        "<h3 class=\"chart\">Earlier windows realized again</h3>\
         <p class=\"rule\">Labels of this check for predictions of earlier windows (up to <code>maxLabelDelay</code> back) realize those windows: realized (estimated) per metric, with the labels they hold now.</p>\
         <table><tr><th>window</th><th class=\"n\">labels added</th><th class=\"n\">labelled</th><th class=\"n\">label coverage</th>"
    );
    for m in metrics {
        let _ = write!(h, "<th class=\"n\">{m}</th>");
    }
    h.push_str("</tr>");
    for m in matured {
        let w = &m.window;
        let _ = write!(
            h,
            "<tr><td>{} – {}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}%</td>",
            m.since.format("%Y-%m-%d %H:%M"),
            m.until.format("%Y-%m-%d %H:%M"),
            m.added,
            w.labelled,
            w.label_coverage() * 100.0
        );
        for &metric in metrics {
            let flag = match w.gaps.iter().find(|g| g.metric == metric) {
                Some(g) if g.sustained => " <span class=\"alert\">sustained gap</span>",
                Some(g) if g.exceeds => " <span class=\"alert\">beyond 3 SE</span>",
                _ => "",
            };
            let _ = write!(
                h,
                "<td class=\"n\">{} ({}){flag}</td>",
                w.realized_text(metric),
                value_text(metric, w.estimated(metric))
            );
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
}

/// The concept-drift flag in words, and gaps not (yet) sustained.
fn gap_notes(h: &mut String, window: &WindowPerformance, concept_drift: bool) {
    let estimate = |g: &MetricGap| window.estimated(g.metric);
    let realized = |g: &MetricGap| window.realized.as_ref().and_then(|r| r.value(g.metric));
    let direction = |g: &MetricGap| if g.gap < 0.0 { "below" } else { "above" };
    let sustained: Vec<&MetricGap> = window.gaps.iter().filter(|g| g.sustained).collect();
    for g in &sustained {
        let _ = write!(
            h,
            "<div class=\"callout\"><b>Concept drift.</b> Realized {m} is {k:.1} standard errors {d} the estimate ({r} against {e}) and has been more than {GAP_STANDARD_ERRORS} {d} it for {GAP_WINDOWS} checks: the relation between inputs and labels changed — drift CBPE cannot see.</div>",
            m = g.metric,
            k = standard_errors(g),
            d = direction(g),
            r = num(realized(g)),
            e = num(estimate(g)),
        );
    }
    if concept_drift && sustained.is_empty() {
        let _ = write!(
            h,
            "<div class=\"callout\"><b>Concept drift.</b> A realized metric has been more than {GAP_STANDARD_ERRORS} standard errors from its estimate for {GAP_WINDOWS} checks: the relation between inputs and labels changed — drift CBPE cannot see.</div>"
        );
    }
    for g in window.gaps.iter().filter(|g| g.exceeds && !g.sustained) {
        let _ = write!(
            h,
            "<div class=\"callout warn\">Realized {m} is {k:.1} standard errors {d} the estimate ({r} against {e}) in this check; if it stays beyond {GAP_STANDARD_ERRORS} for {GAP_WINDOWS} checks, that is concept drift.</div>",
            m = g.metric,
            k = standard_errors(g),
            d = direction(g),
            r = num(realized(g)),
            e = num(estimate(g)),
        );
    }
}

fn standard_errors(g: &MetricGap) -> f64 {
    if g.standard_error > 0.0 {
        g.gap.abs() / g.standard_error
    } else {
        f64::INFINITY
    }
}

/// A metric's value: counts with one decimal, rates as [`num`].
fn value_text(metric: Metric, v: Option<f64>) -> String {
    match v {
        Some(v) if metric.is_count() => format!("{v:.1}"),
        v => num(v),
    }
}

/// `[lower, upper]`, `≥ lower`, `≤ upper` or `none`.
fn bounds_text(metric: Metric, lower: Option<f64>, upper: Option<f64>) -> String {
    match (lower, upper) {
        (Some(l), Some(u)) => format!(
            "{} – {}",
            value_text(metric, Some(l)),
            value_text(metric, Some(u))
        ),
        (Some(l), None) => format!("≥ {}", value_text(metric, Some(l))),
        (None, Some(u)) => format!("≤ {}", value_text(metric, Some(u))),
        (None, None) => "none".into(),
    }
}

/// Per metric: the estimate with its sampling error, confidence and alert band; the
/// realized value with its 95 % interval; the gap in standard errors.
fn metric_table(h: &mut String, window: &WindowPerformance, metrics: &[Metric]) {
    let mut shown: Vec<Metric> = metrics.to_vec();
    for e in &window.estimate.estimates {
        if !shown.contains(&e.metric) {
            shown.push(e.metric);
        }
    }
    h.push_str("<table><tr><th>metric</th><th class=\"n\">estimated</th><th class=\"n\">sampling error</th><th class=\"n\">confidence (±3σ)</th><th class=\"n\">alert band</th><th>alert</th><th class=\"n\">realized</th><th class=\"n\">95% interval</th><th class=\"n\">realized − estimated</th></tr>");
    for metric in shown {
        let e = window.estimate.get(metric);
        let r = window.realized.as_ref().and_then(|r| r.get(metric));
        let alert = match e {
            Some(e) if e.alert => match e.value {
                Some(v) if e.thresholds.lower.is_some_and(|l| v < l) => "▼ below band",
                Some(_) => "▲ above band",
                None => "alert",
            },
            _ => "",
        };
        let gap = window
            .gaps
            .iter()
            .find(|g| g.metric == metric)
            .map(|g| {
                format!(
                    "{:+.4} ({:.1} SE){}",
                    g.gap,
                    standard_errors(g),
                    if g.sustained {
                        " <span class=\"alert\">sustained</span>"
                    } else if g.exceeds {
                        " <span class=\"alert\">beyond 3 SE</span>"
                    } else {
                        ""
                    }
                )
            })
            .unwrap_or_else(|| "–".into());
        let _ = write!(
            h,
            "<tr><td>{metric}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"alert\">{alert}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{gap}</td></tr>",
            e.map_or_else(|| "not estimated".into(), |e| value_text(metric, e.value)),
            e.map_or_else(|| "–".into(), |e| value_text(metric, Some(e.sampling_error))),
            e.map_or_else(
                || "–".into(),
                |e| bounds_text(metric, e.lower_confidence, e.upper_confidence)
            ),
            e.map_or_else(
                || "–".into(),
                |e| bounds_text(metric, e.thresholds.lower, e.thresholds.upper)
            ),
            value_text(metric, r.and_then(|r| r.value)),
            r.and_then(|r| r.interval)
                .map_or_else(|| "–".into(), |i| bounds_text(metric, Some(i.lower), Some(i.upper))),
        );
    }
    h.push_str("</table>");
}

/// What the label join counted.
fn join_table(h: &mut String, c: &JoinCounts) {
    let _ = write!(
        h,
        "<h3 class=\"chart\">Labels</h3><table><tr><th class=\"n\">predictions</th><th class=\"n\">labels read</th><th class=\"n\">labelled</th><th class=\"n\">label coverage</th><th class=\"n\">late</th><th class=\"n\">duplicates</th><th class=\"n\">orphans</th><th class=\"n\">for earlier predictions</th><th class=\"n\">invalid</th><th class=\"n\">duplicate predictions</th></tr>\
         <tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}%</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr></table>\
         <p class=\"rule\">Late: arrived after <code>maxLabelDelay</code> (counted, not joined). Duplicates: more than one label for a request id (the last one counts). Orphans: no logged prediction of this window, nor of the version's windows up to <code>maxLabelDelay</code> before it, has their request id. For earlier predictions: joined to an earlier window, which is realized again.</p>",
        c.predictions,
        c.labels_read,
        c.labelled,
        c.label_coverage * 100.0,
        c.late,
        c.duplicates,
        c.orphans,
        c.previous_window,
        c.invalid,
        c.duplicate_predictions
    );
}

/// What the estimator was fitted on, and its calibration decision.
fn reference_note(h: &mut String, r: &ReferenceSummary) {
    let chunks = match r.chunking {
        Chunking::Size(n) => format!("chunks of {n} rows"),
        Chunking::Count(n) => format!("{n} chunks"),
    };
    let _ = write!(
        h,
        "<p class=\"rule\">Fitted on the model's scored hold-out: {} rows in {chunks}; the alert bands are the chunks' mean ± 3 standard deviations (or the policy's fixed bounds). Calibration: {}.</p>",
        r.rows,
        calibration_text(&r.calibration)
    );
}

fn calibration_text(c: &CalibrationDecision) -> String {
    let ece = format!(
        "expected calibration error {} → {}",
        num(c.ece_before),
        num(c.ece_after)
    );
    match c.reason {
        CalibrationReason::LowersCalibrationError => {
            format!("isotonic regression, because it lowers the {ece}")
        }
        CalibrationReason::DoesNotLowerCalibrationError => {
            format!("none, the scores as they are: isotonic regression does not lower the {ece}")
        }
        CalibrationReason::NearPerfectAuc => {
            "none: the hold-out's ROC AUC is above 0.999, nothing to gain".into()
        }
        CalibrationReason::SingleClass => "none: the hold-out has one class".into(),
    }
}

/// Trend charts share this width and margins, so a check sits at the same x in each.
const TREND_W: f64 = 1000.0;
const TREND_LEFT: f64 = 88.0;
const TREND_RIGHT: f64 = 20.0;
/// Room under a plot for the two-line time labels.
const TREND_AXIS: f64 = 36.0;
/// At most this many features get a PSI line.
const TREND_FEATURES: usize = 6;
const PALETTE: [&str; TREND_FEATURES] = [
    "#0969da", "#e16f24", "#1a7f37", "#8250df", "#1b7c83", "#bf3989",
];

/// Where each check sits on the x axis: by its time (by its index when all times are equal).
struct TimeAxis {
    x: Vec<f64>,
    labels: Vec<(usize, String, String)>,
}

impl TimeAxis {
    fn of(points: &[TrendPoint]) -> TimeAxis {
        let n = points.len();
        let times: Vec<f64> = points
            .iter()
            .map(|p| p.checked_at.timestamp() as f64)
            .collect();
        let range = ValueRange::of(times.iter().copied());
        let inner = 18.0;
        let width = TREND_W - TREND_LEFT - TREND_RIGHT - 2.0 * inner;
        let x = times
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                let at = match range {
                    Some(r) if r.hi > r.lo => r.scale(t, width),
                    _ => width * i as f64 / (n.max(2) - 1) as f64,
                };
                TREND_LEFT + inner + at
            })
            .collect();
        let every = n.div_ceil(10).max(1);
        let labels = (0..n)
            .filter(|&i| i + 1 == n || (i % every == 0 && n - 1 - i >= every))
            .map(|i| {
                let t = points[i].checked_at;
                (
                    i,
                    t.format("%b %d").to_string(),
                    t.format("%H:%M").to_string(),
                )
            })
            .collect();
        TimeAxis { x, labels }
    }

    /// Light verticals at the labelled checks from `top` to `bottom`, the labels below.
    fn draw(&self, s: &mut String, top: f64, bottom: f64) {
        for (i, date, time) in &self.labels {
            let x = self.x[*i];
            let _ = write!(
                s,
                "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{top:.1}\" y2=\"{bottom:.1}\" stroke=\"#eaeef2\"/>\
                 <text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#59636e\" text-anchor=\"middle\"><tspan x=\"{x:.1}\">{date}</tspan><tspan x=\"{x:.1}\" dy=\"13\">{time}</tspan></text>",
                bottom + 14.0
            );
        }
        let _ = write!(
            s,
            "<line x1=\"{TREND_LEFT}\" x2=\"{}\" y1=\"{bottom:.1}\" y2=\"{bottom:.1}\" stroke=\"#8c959f\"/>",
            TREND_W - TREND_RIGHT
        );
    }
}

/// A value axis from `range.lo` (at `bottom`) to `range.hi` (at `top`), with grid and ticks.
struct ValueAxis {
    range: ValueRange,
    top: f64,
    bottom: f64,
}

impl ValueAxis {
    fn y(&self, v: f64) -> f64 {
        self.bottom - self.range.scale(v, self.bottom - self.top)
    }

    fn draw(&self, s: &mut String) {
        let (ticks, decimals) = ticks(self.range.lo, self.range.hi, 5);
        for t in ticks {
            let y = self.y(t);
            let _ = write!(
                s,
                "<line x1=\"{TREND_LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#eaeef2\"/>\
                 <text x=\"{}\" y=\"{:.1}\" font-size=\"11\" fill=\"#59636e\" text-anchor=\"end\">{t:.decimals$}</text>",
                TREND_W - TREND_RIGHT,
                TREND_LEFT - 6.0,
                y + 4.0
            );
        }
    }
}

/// About `target` round tick values (steps of 1, 2 or 5 × 10ⁿ) within `[lo, hi]`, and
/// the decimals their labels need.
fn ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, usize) {
    let raw = (hi - lo) / target.max(1) as f64;
    if !(raw.is_finite() && raw > 0.0) {
        return (vec![lo], 2);
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    ((first..=last).map(|k| k as f64 * step).collect(), decimals)
}

fn svg_open(height: f64, label: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {TREND_W} {height}\" width=\"100%\" role=\"img\" aria-label=\"{}\">",
        escape(label)
    )
}

/// The last checks over time: verdicts, PSI per feature, performance per metric.
fn trends(h: &mut String, report: &DriftReport) {
    let points = &report.trend;
    let axis = TimeAxis::of(points);
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return;
    };
    let _ = write!(
        h,
        "<h2>Trends</h2><p class=\"rule\">The last {} checks, {} to {} (UTC).</p>",
        points.len(),
        first.checked_at.format("%Y-%m-%d %H:%M"),
        last.checked_at.format("%Y-%m-%d %H:%M")
    );
    verdict_chart(h, points, &axis);
    psi_chart(h, points, &axis, report);
    let mut metrics: Vec<Metric> = report.policy.performance.metrics.clone();
    for p in points.iter().filter_map(|p| p.performance.as_ref()) {
        for v in p.estimated.iter().chain(&p.realized) {
            if !metrics.contains(&v.metric) {
                metrics.push(v.metric);
            }
        }
    }
    for metric in metrics {
        let any = points
            .iter()
            .filter_map(|p| p.performance.as_ref())
            .any(|p| p.estimated(metric).is_some() || p.realized(metric).is_some());
        if any {
            metric_chart(h, points, &axis, metric);
        }
    }
}

fn verdict_colour(v: Verdict) -> &'static str {
    match v {
        Verdict::None => "#1a7f37",
        Verdict::Warning => "#bf8700",
        Verdict::Critical => "#cf222e",
        Verdict::InsufficientData => "#8c959f",
    }
}

/// A check's performance in one word and colour: not assessed, concept drift, an
/// estimate outside its band, or within.
fn performance_status(p: &PerformanceBrief) -> (&'static str, String) {
    if p.estimated.is_empty() {
        (
            "#8c959f",
            format!(
                "not assessed ({})",
                p.reason.as_deref().unwrap_or("no estimate")
            ),
        )
    } else if p.concept_drift {
        ("#cf222e", "concept drift".into())
    } else if p.estimated_drop {
        ("#bf8700", "estimate outside its band".into())
    } else {
        ("#1a7f37", "within band".into())
    }
}

/// One lane per series: the verdict of each check, and its performance status.
fn verdict_chart(h: &mut String, points: &[TrendPoint], axis: &TimeAxis) {
    let with_performance = points.iter().any(|p| p.performance.is_some());
    let lanes = if with_performance { 2.0 } else { 1.0 };
    let lane = 30.0;
    let top = 8.0;
    let bottom = top + lane * lanes;
    let mut s = svg_open(bottom + TREND_AXIS, "verdict per check");
    axis.draw(&mut s, top, bottom);
    let lane_label = |s: &mut String, k: f64, text: &str| {
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" font-size=\"11\" fill=\"#1f2328\" text-anchor=\"end\">{text}</text>",
            TREND_LEFT - 6.0,
            top + lane * (k + 0.5) + 4.0
        );
    };
    lane_label(&mut s, 0.0, "verdict");
    if with_performance {
        lane_label(&mut s, 1.0, "performance");
    }
    for (i, p) in points.iter().enumerate() {
        let x = axis.x[i];
        let when = p.checked_at.format("%Y-%m-%d %H:%M");
        let _ = write!(
            s,
            "<circle cx=\"{x:.1}\" cy=\"{:.1}\" r=\"7\" fill=\"{}\"><title>{when}: {}</title></circle>",
            top + lane * 0.5,
            verdict_colour(p.verdict),
            p.verdict
        );
        if let Some(perf) = &p.performance {
            let (colour, status) = performance_status(perf);
            let _ = write!(
                s,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" rx=\"2\" fill=\"{colour}\"><title>{when}: {}</title></rect>",
                x - 6.0,
                top + lane * 1.5 - 6.0,
                escape(&status)
            );
        }
    }
    s.push_str("</svg>");
    let _ = write!(
        h,
        "<h3 class=\"chart\">Verdict per check</h3>{s}<div class=\"legend\">"
    );
    for v in [
        Verdict::None,
        Verdict::Warning,
        Verdict::Critical,
        Verdict::InsufficientData,
    ] {
        let _ = write!(
            h,
            "<span class=\"sw dot\" style=\"background:{}\"></span>{v}",
            verdict_colour(v)
        );
    }
    if with_performance {
        h.push_str(" &nbsp; performance:<span class=\"sw\" style=\"background:#1a7f37\"></span>within band<span class=\"sw\" style=\"background:#bf8700\"></span>estimate outside its band<span class=\"sw\" style=\"background:#cf222e\"></span>concept drift<span class=\"sw\" style=\"background:#8c959f\"></span>not assessed");
    }
    h.push_str("</div>");
}

/// A line per feature (the worst by their highest PSI), with the policy's warning and
/// critical levels.
fn psi_chart(h: &mut String, points: &[TrendPoint], axis: &TimeAxis, report: &DriftReport) {
    let mut peaks: Vec<(&str, f64)> = Vec::new();
    for p in points {
        for (name, psi) in p.psi.iter().filter(|(_, v)| v.is_finite()) {
            match peaks.iter_mut().find(|(n, _)| n == name) {
                Some(peak) => peak.1 = peak.1.max(*psi),
                None => peaks.push((name, *psi)),
            }
        }
    }
    if peaks.is_empty() {
        return;
    }
    peaks.sort_by(|a, b| b.1.total_cmp(&a.1));
    let rest = peaks.split_off(peaks.len().min(TREND_FEATURES));
    let psi = &report.policy.tests.psi;
    let hi = peaks
        .first()
        .map_or(0.0, |p| p.1)
        .max(psi.critical)
        .max(psi.warning)
        * 1.1;
    let y = ValueAxis {
        range: ValueRange::new(0.0, hi),
        top: 10.0,
        bottom: 230.0,
    };
    let mut s = svg_open(y.bottom + TREND_AXIS, "PSI per feature per check");
    y.draw(&mut s);
    axis.draw(&mut s, y.top, y.bottom);
    for (level, value, colour) in [
        ("warning", psi.warning, "#bf8700"),
        ("critical", psi.critical, "#cf222e"),
    ] {
        plot::dashed_hline(
            &mut s,
            TREND_LEFT,
            TREND_W - TREND_RIGHT,
            y.y(value),
            colour,
        );
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" font-size=\"11\" fill=\"{colour}\" text-anchor=\"end\">{level} {value}</text>",
            TREND_W - TREND_RIGHT - 4.0,
            y.y(value) - 4.0
        );
    }
    for ((name, _), colour) in peaks.iter().zip(PALETTE) {
        let at: Vec<Option<(f64, f64)>> = points
            .iter()
            .enumerate()
            .map(|(i, p)| {
                p.psi
                    .iter()
                    .find(|(n, v)| n == name && v.is_finite())
                    .map(|(_, v)| (axis.x[i], y.y(*v)))
            })
            .collect();
        for run in runs(&at) {
            s.push_str(&plot::line(&run, colour, 2.0));
        }
        for (i, p) in at.iter().enumerate() {
            if let Some((cx, cy)) = p {
                let value = points[i]
                    .psi
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or(0.0, |(_, v)| *v);
                let _ = write!(
                    s,
                    "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"3\" fill=\"{colour}\"><title>{}: PSI {} at {}</title></circle>",
                    escape(name),
                    num(Some(value)),
                    points[i].checked_at.format("%Y-%m-%d %H:%M")
                );
            }
        }
    }
    s.push_str("</svg>");
    let _ = write!(
        h,
        "<h3 class=\"chart\">PSI per feature</h3>{s}<div class=\"legend\">"
    );
    for ((name, peak), colour) in peaks.iter().zip(PALETTE) {
        let _ = write!(
            h,
            "<span class=\"sw ln\" style=\"background:{colour}\"></span>{} (peak {})",
            escape(name),
            num(Some(*peak))
        );
    }
    let _ = write!(
        h,
        "<span class=\"sw dash\" style=\"border-color:#bf8700\"></span>warning level<span class=\"sw dash\" style=\"border-color:#cf222e\"></span>critical level"
    );
    if let Some((_, next)) = rest.first() {
        let _ = write!(
            h,
            " &nbsp; {} more feature(s) peak at or below {}",
            rest.len(),
            num(Some(*next))
        );
    }
    h.push_str("</div>");
}

/// The maximal runs of consecutive present points, so a line breaks where a check has
/// no value.
fn runs(at: &[Option<(f64, f64)>]) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current = Vec::new();
    for p in at {
        match p {
            Some(p) => current.push(*p),
            None if !current.is_empty() => out.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// One metric over the checks: the estimate (line) inside its alert band (shaded,
/// red dashed edges), alerts (red diamonds), realized values with their 95 % interval.
fn metric_chart(h: &mut String, points: &[TrendPoint], axis: &TimeAxis, metric: Metric) {
    let estimated: Vec<_> = points
        .iter()
        .map(|p| p.performance.as_ref().and_then(|b| b.estimated(metric)))
        .collect();
    let realized: Vec<_> = points
        .iter()
        .map(|p| p.performance.as_ref().and_then(|b| b.realized(metric)))
        .collect();
    let values = estimated
        .iter()
        .chain(&realized)
        .flatten()
        .flat_map(|v| [Some(v.value), v.lower, v.upper])
        .flatten();
    let Some(span) = ValueRange::of(values) else {
        return;
    };
    let pad = if span.hi > span.lo {
        span.span * 0.08
    } else {
        0.05
    };
    let y = ValueAxis {
        range: ValueRange::new(span.lo - pad, span.hi + pad),
        top: 10.0,
        bottom: 190.0,
    };
    let mut s = svg_open(y.bottom + TREND_AXIS, &format!("{metric} per check"));
    y.draw(&mut s);
    axis.draw(&mut s, y.top, y.bottom);
    // The band where a check has one; a side without a bound runs to the plot's edge.
    // A lone check's band is a narrow column rather than a line of no width.
    let widen = |run: Vec<(f64, f64)>| match run.as_slice() {
        [(x, y)] => vec![(x - 6.0, *y), (x + 6.0, *y)],
        _ => run,
    };
    let side = |bound: fn(&MetricValue) -> Option<f64>, edge: f64| -> Vec<Option<(f64, f64)>> {
        estimated
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let e = e.filter(|e| e.lower.is_some() || e.upper.is_some())?;
                Some((axis.x[i], y.y(bound(e).unwrap_or(edge))))
            })
            .collect()
    };
    let upper = side(|e| e.upper, y.range.hi);
    let lower = side(|e| e.lower, y.range.lo);
    for (up, low) in runs(&upper).into_iter().zip(runs(&lower)) {
        s.push_str(&plot::band(&widen(up), &widen(low), "#ddf4ff"));
    }
    // The bounds themselves, red dashed (NannyML's thresholds).
    for bound in [|e: &MetricValue| e.upper, |e: &MetricValue| e.lower] {
        let at: Vec<Option<(f64, f64)>> = estimated
            .iter()
            .enumerate()
            .map(|(i, e)| Some((axis.x[i], y.y(e.and_then(bound)?))))
            .collect();
        for run in runs(&at) {
            let _ = write!(
                s,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"#cf222e\" stroke-width=\"1\" stroke-dasharray=\"4 3\"/>",
                plot::points(widen(run))
            );
        }
    }
    let line: Vec<Option<(f64, f64)>> = estimated
        .iter()
        .enumerate()
        .map(|(i, e)| e.map(|e| (axis.x[i], y.y(e.value))))
        .collect();
    for run in runs(&line) {
        s.push_str(&plot::line(&run, "#0969da", 2.0));
    }
    for (i, p) in points.iter().enumerate() {
        let x = axis.x[i];
        let when = p.checked_at.format("%Y-%m-%d %H:%M");
        if let Some(e) = estimated[i] {
            let cy = y.y(e.value);
            let band = bounds_text(metric, e.lower, e.upper);
            if e.alert {
                let _ = write!(
                    s,
                    "<polygon points=\"{}\" fill=\"#cf222e\" stroke=\"#fff\"><title>{when}: estimated {} outside its band {band}: alert</title></polygon>",
                    plot::points([(x, cy - 7.0), (x + 7.0, cy), (x, cy + 7.0), (x - 7.0, cy)]),
                    value_text(metric, Some(e.value))
                );
            } else {
                let _ = write!(
                    s,
                    "<circle cx=\"{x:.1}\" cy=\"{cy:.1}\" r=\"3.5\" fill=\"#0969da\"><title>{when}: estimated {} (band {band})</title></circle>",
                    value_text(metric, Some(e.value))
                );
            }
        }
        if let Some(r) = realized[i] {
            // Beside the estimate, so the two never hide each other.
            let rx = x + 7.0;
            if let (Some(lo), Some(hi)) = (r.lower, r.upper) {
                let (y0, y1) = (y.y(lo), y.y(hi));
                let _ = write!(
                    s,
                    "<path d=\"M{rx:.1},{y0:.1}V{y1:.1}M{:.1},{y0:.1}h8M{:.1},{y1:.1}h8\" stroke=\"#1a7f37\" stroke-width=\"1.5\" fill=\"none\"/>",
                    rx - 4.0,
                    rx - 4.0
                );
            }
            let _ = write!(
                s,
                "<circle cx=\"{rx:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"#1a7f37\" stroke=\"#fff\"><title>{when}: realized {} (95% interval {})</title></circle>",
                y.y(r.value),
                value_text(metric, Some(r.value)),
                bounds_text(metric, r.lower, r.upper)
            );
        }
        if let Some(perf) = &p.performance {
            if estimated[i].is_none() && perf.estimated.is_empty() {
                let _ = write!(
                    s,
                    "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"16\" fill=\"#8c959f\" text-anchor=\"middle\">×<title>{when}: not assessed ({})</title></text>",
                    (y.top + y.bottom) / 2.0 + 5.0,
                    escape(perf.reason.as_deref().unwrap_or("no estimate"))
                );
            }
        }
    }
    s.push_str("</svg>");
    let _ = write!(
        h,
        "<h3 class=\"chart\">{metric}: estimated and realized</h3>{s}<div class=\"legend\"><span class=\"sw ln\" style=\"background:#0969da\"></span>estimated (CBPE)<span class=\"sw\" style=\"background:#ddf4ff;border:1px dashed #cf222e\"></span>alert band (red dashed: its bounds)<span class=\"sw\" style=\"background:#cf222e;transform:rotate(45deg)\"></span>alert: estimate outside its band<span class=\"sw dot\" style=\"background:#1a7f37\"></span>realized, with its 95% interval<span style=\"color:#8c959f;margin-left:.6rem;font-size:1rem\">×</span> not assessed</div>"
    );
}

/// The quality checks.
fn quality(h: &mut String, quality: &QualityReport) {
    let _ = write!(
        h,
        "<h2>Data quality {}</h2><table><tr><th>check</th><th>kind</th><th>status</th><th>detail</th></tr>",
        badge(quality.verdict)
    );
    for c in &quality.checks {
        let (class, label) = match c.status {
            CheckStatus::Passed => ("ok", "passed"),
            CheckStatus::Failed => match c.severity {
                Severity::Hard => ("crit", "failed"),
                Severity::Soft => ("warn", "failed"),
            },
            CheckStatus::Skipped => ("skip", "skipped"),
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td><span class=\"badge {class}\">{label}</span></td><td>{}</td></tr>",
            escape(c.name.as_str()),
            match c.severity {
                Severity::Hard => "hard",
                Severity::Soft => "soft",
            },
            escape(&c.message)
        );
    }
    h.push_str("</table>");
}

/// A card per feature: its bars and its rule.
fn feature_charts(h: &mut String, order: &[&FeatureDrift]) {
    h.push_str("<h2>Distributions</h2><div class=\"legend\"><span class=\"sw\" style=\"background:#8c959f\"></span>reference<span class=\"sw\" style=\"background:#0969da\"></span>current</div><div class=\"cards\">");
    for f in order {
        let _ = write!(
            h,
            "<div class=\"card\" id=\"f-{}\"><h3><span>{}</span>{}</h3>{}<p class=\"rule\">{}</p></div>",
            escape(&f.name),
            escape(&f.name),
            badge(f.verdict),
            if f.histogram.labels.is_empty() {
                String::from("<p class=\"rule\">no chart</p>")
            } else {
                chart(&f.histogram)
            },
            escape(&f.rule)
        );
    }
    h.push_str("</div>");
}

/// Paired bars (reference grey, current blue) of proportions, as inline SVG.
pub fn chart(hist: &Histogram) -> String {
    let n = hist.labels.len().max(1);
    let (w, h, left, bottom, top) = (320.0_f64, 170.0_f64, 34.0, 44.0, 8.0);
    let plot_w = w - left - 4.0;
    let plot_h = h - bottom - top;
    let max = hist
        .reference
        .iter()
        .chain(&hist.current)
        .copied()
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let slot = plot_w / n as f64;
    let bar = (slot * 0.42).max(0.5);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\">"
    );
    let _ = write!(
        s,
        "<line x1=\"{left}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"#d0d7de\"/>",
        y = top + plot_h,
        x2 = w - 4.0
    );
    let _ = write!(
        s,
        "<text x=\"{x}\" y=\"{y}\" font-size=\"9\" text-anchor=\"end\" fill=\"#59636e\">{:.0}%</text>",
        max * 100.0,
        x = left - 3.0,
        y = top + 8.0
    );
    let _ = write!(
        s,
        "<text x=\"{x}\" y=\"{y}\" font-size=\"9\" text-anchor=\"end\" fill=\"#59636e\">0</text>",
        x = left - 3.0,
        y = top + plot_h
    );
    let label_every = n.div_ceil(10).max(1);
    for i in 0..n {
        let x0 = left + slot * i as f64 + slot * 0.08;
        for (k, (values, colour)) in [(&hist.reference, "#8c959f"), (&hist.current, "#0969da")]
            .into_iter()
            .enumerate()
        {
            let v = values.get(i).copied().unwrap_or(0.0);
            let bh = v / max * plot_h;
            let _ = write!(
                s,
                "<rect x=\"{:.2}\" y=\"{:.2}\" width=\"{bar:.2}\" height=\"{bh:.2}\" fill=\"{colour}\"><title>{}: {} {:.2}%</title></rect>",
                x0 + bar * k as f64,
                top + plot_h - bh,
                escape(&hist.labels[i]),
                if k == 0 { "reference" } else { "current" },
                v * 100.0
            );
        }
        if i % label_every == 0 {
            let mut label: String = hist.labels[i].chars().take(12).collect();
            if hist.labels[i].chars().count() > 12 {
                label.push('…');
            }
            let lx = left + slot * i as f64 + slot / 2.0;
            let ly = top + plot_h + 10.0;
            let _ = write!(
                s,
                "<text x=\"{lx:.1}\" y=\"{ly:.1}\" font-size=\"8\" fill=\"#59636e\" text-anchor=\"end\" transform=\"rotate(-35 {lx:.1} {ly:.1})\">{}</text>",
                escape(&label)
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// SVG drawing shared by the pages that plot (this one and [`crate::performance_html`]).
pub mod plot {
    use std::fmt::Write;

    /// The span of the values a chart shows: `lo` to `hi`, and `hi − lo` (1 when all
    /// values are equal, so a flat series still has a scale).
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct ValueRange {
        pub lo: f64,
        pub hi: f64,
        pub span: f64,
    }

    impl ValueRange {
        /// The range of the finite values; None without any.
        pub fn of(values: impl IntoIterator<Item = f64>) -> Option<ValueRange> {
            let (lo, hi) = values.into_iter().filter(|v| v.is_finite()).fold(
                None,
                |acc: Option<(f64, f64)>, v| match acc {
                    None => Some((v, v)),
                    Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
                },
            )?;
            Some(ValueRange::new(lo, hi))
        }

        pub fn new(lo: f64, hi: f64) -> ValueRange {
            ValueRange {
                lo,
                hi,
                span: if hi > lo { hi - lo } else { 1.0 },
            }
        }

        /// How far up `v` lies on an axis `length` long.
        pub fn scale(&self, v: f64, length: f64) -> f64 {
            length * (v - self.lo) / self.span
        }
    }

    /// `x,y` pairs as an SVG `points` attribute.
    pub fn points(points: impl IntoIterator<Item = (f64, f64)>) -> String {
        points
            .into_iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A shaded band: along `upper` left to right, back along `lower`.
    pub fn band(upper: &[(f64, f64)], lower: &[(f64, f64)], fill: &str) -> String {
        format!(
            "<polygon points=\"{}\" fill=\"{fill}\"/>",
            points(upper.iter().chain(lower.iter().rev()).copied())
        )
    }

    /// A line through `at`.
    pub fn line(at: &[(f64, f64)], stroke: &str, width: f64) -> String {
        format!(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{stroke}\" stroke-width=\"{width}\"/>",
            points(at.iter().copied())
        )
    }

    /// A dashed horizontal line from `x1` to `x2` at height `y`.
    pub fn dashed_hline(s: &mut String, x1: f64, x2: f64, y: f64, stroke: &str) {
        let _ = write!(
            s,
            "<line x1=\"{x1}\" x2=\"{x2}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"{stroke}\" stroke-dasharray=\"4 3\"/>"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_charts() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let svg = chart(&Histogram {
            labels: vec!["a<b".into(), "c".into()],
            reference: vec![0.5, 0.5],
            current: vec![0.9, 0.1],
        });
        assert!(svg.starts_with("<svg"), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 4);
        assert!(svg.contains("a&lt;b"));
    }

    #[test]
    fn ticks_are_round_and_runs_break_at_gaps() {
        let (values, decimals) = ticks(0.0, 0.33, 5);
        assert_eq!(decimals, 1);
        assert_eq!(values.len(), 4);
        assert!((values[3] - 0.3).abs() < 1e-12, "{values:?}");
        assert_eq!(ticks(0.78, 0.87, 5).0.len(), 5, "0.78 … 0.86 by 0.02");
        assert_eq!(ticks(1.0, 1.0, 5), (vec![1.0], 2));
        let at = [
            Some((0.0, 0.0)),
            None,
            Some((2.0, 0.0)),
            Some((3.0, 1.0)),
            None,
        ];
        assert_eq!(
            runs(&at),
            vec![vec![(0.0, 0.0)], vec![(2.0, 0.0), (3.0, 1.0)]]
        );
    }
}
