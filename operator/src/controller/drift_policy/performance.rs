//! What a check's model-performance brief says, in words: an estimate outside its band
//! (the retrain reason and the `EstimatedPerformanceDrop` Event) and a sustained gap
//! between realized and estimated values (the `ConceptDrift` Event). Pure.

use vigil_core::performance::{MetricValue, PerformanceBrief};

/// A value as people read it: at most 4 decimals, no trailing zeros.
pub fn short(value: f64) -> String {
    format!("{}", (value * 1e4).round() / 1e4)
}

/// How one estimate left its band: `rocAuc 0.71 below 0.8`.
fn outside_band(v: &MetricValue) -> String {
    let (metric, value) = (v.metric.as_str(), short(v.value));
    match (v.lower, v.upper) {
        (Some(lower), _) if v.value < lower => format!("{metric} {value} below {}", short(lower)),
        (_, Some(upper)) if v.value > upper => format!("{metric} {value} above {}", short(upper)),
        _ => format!("{metric} {value} outside its band"),
    }
}

/// The estimates outside their bands, in words (`estimated rocAuc 0.71 below 0.8, f1
/// 0.6 below 0.65`); none when the brief reports no estimated drop.
pub fn estimated_drop(brief: &PerformanceBrief) -> Option<String> {
    let outside: Vec<String> = brief
        .estimated
        .iter()
        .filter(|v| v.alert)
        .map(outside_band)
        .collect();
    (brief.estimated_drop && !outside.is_empty())
        .then(|| format!("estimated {}", outside.join(", ")))
}

/// The concept drift of a brief, in words, with each metric's realized and estimated
/// values; none when the brief reports none.
pub fn concept_drift(brief: &PerformanceBrief) -> Option<String> {
    if !brief.concept_drift {
        return None;
    }
    let pairs: Vec<String> = brief
        .realized
        .iter()
        .filter_map(|r| {
            let e = brief.estimated(r.metric)?;
            Some(format!(
                "{} realized {}, estimated {}",
                r.metric.as_str(),
                short(r.value),
                short(e.value)
            ))
        })
        .collect();
    let gap = "realized performance departs from the estimate in two checks in a row";
    Some(if pairs.is_empty() {
        gap.to_string()
    } else {
        format!("{gap}: {}", pairs.join("; "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn brief(value: serde_json::Value) -> PerformanceBrief {
        serde_json::from_value(value).expect("brief")
    }

    #[test]
    fn an_estimated_drop_names_each_metric_outside_its_band() {
        let b = brief(json!({
            "estimated": [
                {"metric": "rocAuc", "value": 0.712345, "lower": 0.8, "upper": 0.95, "alert": true},
                {"metric": "accuracy", "value": 0.83, "lower": 0.78, "upper": 0.9},
                {"metric": "f1", "value": 0.97, "lower": 0.6, "upper": 0.9, "alert": true}
            ],
            "labelCoverage": 0.0, "labelled": 0, "estimatedDrop": true
        }));
        assert_eq!(
            estimated_drop(&b).as_deref(),
            Some("estimated rocAuc 0.7123 below 0.8, f1 0.97 above 0.9")
        );
        assert_eq!(concept_drift(&b), None);
        assert!(b.assessed());
    }

    #[test]
    fn no_flag_no_words() {
        let b = brief(json!({
            "estimated": [{"metric": "rocAuc", "value": 0.85, "lower": 0.8, "upper": 0.95}],
            "realized": [{"metric": "rocAuc", "value": 0.84, "lower": 0.81, "upper": 0.87}],
            "labelCoverage": 0.4, "labelled": 400
        }));
        assert_eq!((estimated_drop(&b), concept_drift(&b)), (None, None));
    }

    #[test]
    fn concept_drift_sets_realized_beside_estimated() {
        let b = brief(json!({
            "estimated": [
                {"metric": "rocAuc", "value": 0.86, "lower": 0.8, "upper": 0.95},
                {"metric": "accuracy", "value": 0.84, "lower": 0.78, "upper": 0.9}
            ],
            "realized": [
                {"metric": "rocAuc", "value": 0.61, "lower": 0.57, "upper": 0.65},
                {"metric": "logLoss", "value": 0.9}
            ],
            "labelCoverage": 0.5, "labelled": 500, "conceptDrift": true
        }));
        assert_eq!(
            concept_drift(&b).as_deref(),
            Some(
                "realized performance departs from the estimate in two checks in a row: \
                 rocAuc realized 0.61, estimated 0.86"
            )
        );
    }

    #[test]
    fn a_refused_estimate_measured_no_coverage_but_too_few_labels_did() {
        let refused = brief(json!({"labelCoverage": 0.0, "labelled": 0, "reason": "NoHoldout"}));
        assert!(!refused.assessed());
        let few = brief(json!({
            "estimated": [{"metric": "rocAuc", "value": 0.85}],
            "labelCoverage": 0.02, "labelled": 20, "reason": "InsufficientLabels"
        }));
        assert!(few.assessed());
    }
}
