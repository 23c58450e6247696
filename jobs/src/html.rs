//! The drift report as one self-contained HTML page: inline CSS and inline SVG
//! charts drawn here, no scripts, no external resources.

use std::fmt::Write;

use vigil_core::drift::report::{
    CheckMode, CheckStatus, DriftReport, DriftTest, FeatureDrift, Histogram, PerformanceDrift,
    PredictionDrift, QualityReport, Severity,
};
use vigil_core::drift::Verdict;

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
}
