//! Every metric an alert (charts/vigil/monitoring/alerts.yaml) or a dashboard query
//! (charts/vigil/dashboards/vigil.json) names is one Vigil really exports: the names come
//! from the registries of the two exporters — the inference server's and the operator's —
//! after one sample was recorded in every family, not from a list kept by hand. A histogram
//! `h` provides `h_bucket`, `h_sum` and `h_count`; names with a colon are the rule file's
//! own recording rules.

#![allow(clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use prometheus::proto::MetricType;
use serde_json::Value;
use vigil_core::drift::DriftSummary;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// name → type of every family the two exporters expose, each with a sample recorded.
fn exported() -> BTreeMap<String, MetricType> {
    let inference = vigil_inference::metrics::Metrics::new().expect("inference metrics");
    // The label-less families and the per-route handles exist from the start; the labelled
    // ones appear with their first sample.
    inference
        .request_errors
        .with_label_values(&["/predict", "invalid_json"])
        .inc();
    inference.predictions.with_label_values(&[">50K"]).inc();
    for family in [
        &inference.feature_missing,
        &inference.feature_out_of_range,
        &inference.feature_unseen,
    ] {
        family.with_label_values(&["age"]).inc();
    }
    inference
        .invalid_values
        .with_label_values(&["missing_feature"])
        .inc();
    inference.model_info.with_label_values(&["v1"]).set(1);

    let operator = vigil_operator::metrics::Metrics::new().expect("operator metrics");
    drop(operator.reconcile("MonitoredModel"));
    operator.failure("MonitoredModel", "kube");
    operator.serving("ml", "income", Some("v1"));
    let check: DriftSummary = serde_json::from_value(serde_json::json!({
        "outcome": "succeeded", "verdict": "Critical", "driftVerdict": "Critical",
        "qualityPassed": true, "driftedFeatures": ["age"], "driftedCount": 1,
        "top": [{"name": "age", "verdict": "Critical", "psi": 0.5}],
        "prediction": "Warning",
        "modelPerformance": {
            "estimated": [{"metric": "rocAuc", "value": 0.71, "lower": 0.8, "upper": 0.95, "alert": true}],
            "realized": [{"metric": "rocAuc", "value": 0.62, "lower": 0.58, "upper": 0.66}],
            "labelCoverage": 0.4, "labelled": 4, "estimatedDrop": true, "conceptDrift": true
        },
        "referenceRows": 10, "currentRows": 10, "checkedAt": "2026-11-28T18:00:00Z",
        "reportUri": "r", "htmlUri": "h"
    }))
    .expect("summary");
    operator.drift_check("ml", "income", "income-drift", &check);
    operator.check_schedule("ml", "income", "income-drift", "0 */6 * * *");
    let conditions = serde_json::from_value::<Vec<_>>(serde_json::json!([{"type": "Ready",
        "status": "True", "reason": "Serving", "message": "", "lastTransitionTime": "2026-11-28T18:00:00Z"}]))
    .expect("conditions");
    operator.model_conditions("ml", "income", &conditions);
    operator.model_event("ml", "income", "ModelPromoted");

    let mut names = BTreeMap::new();
    for family in inference
        .registry
        .gather()
        .into_iter()
        .chain(operator.registry.gather())
    {
        names.insert(family.name().to_string(), family.get_field_type());
    }
    names
}

/// Metric names a PromQL expression selects: identifiers that are not functions,
/// aggregations, keywords, label names (in braces or grouping lists), strings or durations.
fn metric_names(expr: &str) -> Vec<String> {
    const KEYWORDS: &[&str] = &[
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "group",
        "limitk",
        "limit_ratio",
        "inf",
        "nan",
        "atan2",
    ];
    const LABEL_LISTS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    // Skips from an opening delimiter to its match, over strings.
    let skip_group = |mut i: usize, open: char, close: char| -> usize {
        let mut depth = 0;
        while i < chars.len() {
            match chars[i] {
                '"' | '\'' | '`' => i = skip_string(&chars, i),
                c if c == open => depth += 1,
                c if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        i
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i = skip_string(&chars, i) + 1;
        } else if c == '{' {
            i = skip_group(i, '{', '}');
        } else if c == '[' {
            i = skip_group(i, '[', ']');
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let lower = word.to_ascii_lowercase();
            if LABEL_LISTS.contains(&lower.as_str()) && chars.get(next) == Some(&'(') {
                i = skip_group(next, '(', ')');
            } else if lower == "offset" {
                i = next;
                while i < chars.len() && chars[i].is_ascii_alphanumeric() {
                    i += 1;
                }
            } else if !KEYWORDS.contains(&lower.as_str()) && chars.get(next) != Some(&'(') {
                names.push(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// Index of the quote closing the string that opens at `start`.
fn skip_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() && chars[i] != quote {
        if chars[i] == '\\' && quote != '`' {
            i += 1;
        }
        i += 1;
    }
    i
}

/// (where, expression) of every rule and every dashboard query and variable.
fn queries() -> (Vec<(String, String)>, BTreeSet<String>) {
    let rules: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(root().join("charts/vigil/monitoring/alerts.yaml"))
            .expect("alerts.yaml"),
    )
    .expect("rules yaml");
    let mut out = Vec::new();
    let mut recorded = BTreeSet::new();
    for group in rules["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            let name = rule["alert"]
                .as_str()
                .or(rule["record"].as_str())
                .expect("a rule name");
            if let Some(record) = rule["record"].as_str() {
                recorded.insert(record.to_string());
            }
            out.push((
                format!("rule {name}"),
                rule["expr"].as_str().expect("expr").to_string(),
            ));
        }
    }
    let board: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("charts/vigil/dashboards/vigil.json"))
            .expect("vigil.json"),
    )
    .expect("dashboard json");
    for panel in board["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            out.push((
                format!("panel {:?} {}", panel["title"], target["refId"]),
                target["expr"].as_str().expect("expr").to_string(),
            ));
        }
    }
    // Template variables: label_values(<selector>, <label>) — the selector is PromQL.
    for variable in board["templating"]["list"].as_array().expect("variables") {
        if let Some(query) = variable["query"]["query"].as_str() {
            let inner = query
                .strip_prefix("label_values(")
                .and_then(|q| q.rsplit_once(','))
                .map(|(selector, _)| selector.to_string())
                .unwrap_or_else(|| {
                    panic!("variable query {query:?} is not label_values(selector, label)")
                });
            out.push((format!("variable {}", variable["name"]), inner));
        }
    }
    (out, recorded)
}

#[test]
fn the_tokenizer_finds_metric_names_and_nothing_else() {
    let expr = r#"histogram_quantile(0.99, sum by (namespace, le) (rate(http_seconds_bucket{route=~"/predict|x", a='b'}[5m] offset 1h)))
        / on (namespace) group_left () sum without (pod) (up) > bool 2 unless vigil:rule or time() - ts_seconds{le="+Inf"}"#;
    assert_eq!(
        metric_names(expr),
        vec!["http_seconds_bucket", "up", "vigil:rule", "ts_seconds"]
    );
}

#[test]
fn every_metric_in_the_alerts_and_the_dashboard_is_exported() {
    let families = exported();
    assert!(
        families.len() >= 25,
        "only {} families gathered",
        families.len()
    );
    let (queries, recorded) = queries();
    let mut used = BTreeSet::new();
    let mut unknown = Vec::new();
    for (origin, expr) in &queries {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{origin}: no metric found in {expr:?}");
        for name in names {
            let histogram_part = ["_bucket", "_sum", "_count"].iter().any(|suffix| {
                name.strip_suffix(suffix)
                    .is_some_and(|base| families.get(base) == Some(&MetricType::HISTOGRAM))
            });
            let known = families.contains_key(&name) || histogram_part || recorded.contains(&name);
            if !known {
                unknown.push(format!("{origin}: {name}"));
            }
            used.insert(name);
        }
    }
    assert!(
        unknown.is_empty(),
        "metrics no exporter of Vigil exposes:\n{}\nexported: {:?}",
        unknown.join("\n"),
        families.keys().collect::<Vec<_>>()
    );
    assert!(
        queries.len() >= 50 && used.len() >= 25,
        "{} queries naming {} metrics: the files were not read whole",
        queries.len(),
        used.len()
    );
}
