//! The performance report as one self-contained HTML page: per metric a chart of the
//! estimate with its confidence band and alert thresholds, the realized value beside
//! it; per window a table. Inline CSS and SVG, no scripts.

use std::fmt::Write;

use vigil_core::performance::{Metric, PerformanceReport, WindowPerformance};

use crate::html::escape;
use crate::html::plot::{self, ValueRange};

const CSS: &str = r#"
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1100px;color:#1f2328;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
.meta{color:#59636e;font-size:.9rem}table{border-collapse:collapse;width:100%;font-size:.85rem}
th,td{padding:.3rem .5rem;border-bottom:1px solid #eaeef2;text-align:right}th{background:#f6f8fa}td.l,th.l{text-align:left}
.alert{color:#cf222e;font-weight:600}.gap{background:#fff8c5}.legend{font-size:.75rem;color:#59636e}
"#;

/// The page for a report; `title` names the data.
pub fn render(report: &PerformanceReport, title: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Performance: {t}</title>\
         <style>{CSS}</style></head><body><h1>Estimated and realized performance</h1>\
         <p class=\"meta\">{t}</p>",
        t = escape(title)
    );
    let r = &report.reference;
    let _ = write!(
        out,
        "<p>Reference: {} rows, chunking {:?}. Calibration: <b>{}</b> ({:?}; ECE {} → {}). \
         {} alert(s). Concept drift (sustained gap between realized and estimated): <b>{}</b>.</p>",
        r.rows,
        r.chunking,
        if r.calibration.calibrate {
            "isotonic"
        } else {
            "none"
        },
        r.calibration.reason,
        num(r.calibration.ece_before),
        num(r.calibration.ece_after),
        report.alerts.len(),
        if report.concept_drift { "yes" } else { "no" }
    );
    for metric in [
        Metric::RocAuc,
        Metric::Accuracy,
        Metric::F1,
        Metric::Precision,
        Metric::Recall,
    ] {
        if report
            .windows
            .iter()
            .any(|w| w.estimate.get(metric).is_some())
        {
            let _ = write!(out, "<h2>{metric}</h2>{}", chart(&report.windows, metric));
        }
    }
    out.push_str("<h2>Windows</h2>");
    out.push_str(&table(&report.windows));
    out.push_str("</body></html>\n");
    out
}

fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.4}"))
}

/// Estimate (line), its confidence band (shaded), thresholds (dashed), realized (dots).
pub fn chart(windows: &[WindowPerformance], metric: Metric) -> String {
    let (w, h, pad) = (900.0, 220.0, 40.0);
    // (estimate, lower confidence, upper confidence, realized) per window.
    let points: Vec<[Option<f64>; 4]> = windows
        .iter()
        .map(|win| {
            let e = win.estimate.get(metric);
            [
                e.and_then(|e| e.value),
                e.and_then(|e| e.lower_confidence),
                e.and_then(|e| e.upper_confidence),
                win.realized.as_ref().and_then(|r| r.value(metric)),
            ]
        })
        .collect();
    let thresholds = windows
        .first()
        .and_then(|win| win.estimate.get(metric))
        .map(|e| e.thresholds)
        .unwrap_or_default();
    let values = points
        .iter()
        .flat_map(|p| *p)
        .chain([thresholds.lower, thresholds.upper])
        .flatten();
    let Some(range) = ValueRange::of(values) else {
        return "<p class=\"legend\">no values</p>".into();
    };
    let x = |i: usize| pad + (w - 2.0 * pad) * (i as f64 + 0.5) / points.len().max(1) as f64;
    let y = |v: f64| h - pad / 2.0 - range.scale(v, h - pad);
    let mut svg = format!("<svg viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\">");
    let edge = |side: usize| -> Vec<(f64, f64)> {
        points
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p[side].map(|v| (x(i), y(v))))
            .collect()
    };
    svg.push_str(&plot::band(&edge(2), &edge(1), "#ddf4ff"));
    for t in [thresholds.lower, thresholds.upper].into_iter().flatten() {
        plot::dashed_hline(&mut svg, pad, w - pad, y(t), "#cf222e");
        let _ = write!(
            svg,
            "<text x=\"2\" y=\"{:.1}\" font-size=\"10\">{t:.3}</text>",
            y(t) + 3.0
        );
    }
    svg.push_str(&plot::line(&edge(0), "#0969da", 2.0));
    for (i, p) in points.iter().enumerate() {
        if let Some(v) = p[3] {
            let _ = write!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"#1a7f37\"><title>realized {v:.4}</title></circle>",
                x(i),
                y(v)
            );
        }
    }
    svg.push_str("</svg><p class=\"legend\">blue: estimated (band: ±3 sampling errors); green: realized; red dashed: alert thresholds</p>");
    svg
}

fn table(windows: &[WindowPerformance]) -> String {
    let mut out = String::from(
        "<table><tr><th class=\"l\">window</th><th>rows</th><th>labelled</th><th>est. ROC AUC</th>\
         <th>realized ROC AUC</th><th>est. accuracy</th><th>realized accuracy</th><th>est. F1</th>\
         <th>realized F1</th><th class=\"l\">alerts</th><th class=\"l\">gaps</th></tr>",
    );
    for (i, win) in windows.iter().enumerate() {
        let est = |m| num(win.estimated(m));
        let real = |m| win.realized_text(m);
        let gaps: Vec<String> = win
            .gaps
            .iter()
            .filter(|g| g.exceeds)
            .map(|g| {
                format!(
                    "{} {:+.4}{}",
                    g.metric,
                    g.gap,
                    if g.sustained { " (sustained)" } else { "" }
                )
            })
            .collect();
        let _ = write!(
            out,
            "<tr{}><td class=\"l\">{i} [{}:{})</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td class=\"l alert\">{}</td><td class=\"l\">{}</td></tr>",
            if gaps.is_empty() { "" } else { " class=\"gap\"" },
            win.estimate.start,
            win.estimate.end,
            win.rows,
            win.labelled,
            est(Metric::RocAuc),
            real(Metric::RocAuc),
            est(Metric::Accuracy),
            real(Metric::Accuracy),
            est(Metric::F1),
            real(Metric::F1),
            win.alert_names().join(", "),
            escape(&gaps.join("; "))
        );
    }
    out.push_str("</table>");
    out
}
