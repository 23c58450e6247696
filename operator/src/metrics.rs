//! The operator's own Prometheus metrics, in one registry built in `run`.
//!
//! Labels are bounded: controller name, failure reason (a fixed set), and the
//! namespace / model / policy / feature names of the resources it watches.

use std::time::Instant;

use prometheus::core::{Collector, MetricVec, MetricVecBuilder};
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use vigil_core::drift::{DriftSummary, Verdict};

#[derive(Debug, thiserror::Error)]
#[error("cannot register metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

pub struct Metrics {
    pub registry: Registry,
    reconciles: IntCounterVec,
    failures: IntCounterVec,
    duration: HistogramVec,
    drift_verdict: IntGaugeVec,
    drift_checked: GaugeVec,
    drifted_features: IntGaugeVec,
    feature_psi: GaugeVec,
    serving_info: IntGaugeVec,
}

impl Metrics {
    pub fn new() -> Result<Metrics, MetricsError> {
        let registry = Registry::new();
        let reconciles = IntCounterVec::new(
            Opts::new("vigil_operator_reconciles_total", "Reconciles started"),
            &["controller"],
        )?;
        let failures = IntCounterVec::new(
            Opts::new(
                "vigil_operator_reconcile_failures_total",
                "Reconciles that failed, by reason",
            ),
            &["controller", "reason"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "vigil_operator_reconcile_duration_seconds",
                "Time a reconcile takes",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["controller"],
        )?;
        let drift_verdict = IntGaugeVec::new(
            Opts::new(
                "vigil_drift_verdict",
                "Last drift verdict: 0 None, 1 Warning, 2 Critical, -1 InsufficientData, -2 check failed",
            ),
            &["namespace", "model", "policy"],
        )?;
        let drift_checked = GaugeVec::new(
            Opts::new(
                "vigil_drift_last_check_timestamp_seconds",
                "Unix time of the last recorded drift check",
            ),
            &["namespace", "model", "policy"],
        )?;
        let drifted_features = IntGaugeVec::new(
            Opts::new(
                "vigil_drift_drifted_features",
                "Features that drifted in the last check",
            ),
            &["namespace", "model", "policy"],
        )?;
        let feature_psi = GaugeVec::new(
            Opts::new(
                "vigil_drift_feature_psi",
                "PSI of the most drifted features in the last check (up to 5)",
            ),
            &["namespace", "model", "feature"],
        )?;
        let serving_info = IntGaugeVec::new(
            Opts::new(
                "vigil_model_serving_info",
                "1 for the version each MonitoredModel serves",
            ),
            &["namespace", "model", "version"],
        )?;
        registry.register(Box::new(reconciles.clone()))?;
        registry.register(Box::new(failures.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(drift_verdict.clone()))?;
        registry.register(Box::new(drift_checked.clone()))?;
        registry.register(Box::new(drifted_features.clone()))?;
        registry.register(Box::new(feature_psi.clone()))?;
        registry.register(Box::new(serving_info.clone()))?;
        Ok(Metrics {
            registry,
            reconciles,
            failures,
            duration,
            drift_verdict,
            drift_checked,
            drifted_features,
            feature_psi,
            serving_info,
        })
    }

    /// Counts a reconcile; its duration is observed when the guard drops.
    pub fn reconcile(&self, controller: &'static str) -> ReconcileTimer<'_> {
        self.reconciles.with_label_values(&[controller]).inc();
        ReconcileTimer {
            metrics: self,
            controller,
            start: Instant::now(),
        }
    }

    pub fn failure(&self, controller: &str, reason: &str) {
        self.failures.with_label_values(&[controller, reason]).inc();
    }

    /// Publishes the numbers of a recorded drift check.
    pub fn drift_check(&self, namespace: &str, model: &str, policy: &str, summary: &DriftSummary) {
        let labels = [namespace, model, policy];
        let code = match summary.verdict() {
            Some(Verdict::None) => 0,
            Some(Verdict::Warning) => 1,
            Some(Verdict::Critical) => 2,
            Some(Verdict::InsufficientData) => -1,
            None => -2,
        };
        self.drift_verdict.with_label_values(&labels).set(code);
        if let DriftSummary::Succeeded {
            checked_at,
            drifted_count,
            top,
            ..
        } = summary
        {
            self.drift_checked
                .with_label_values(&labels)
                .set(checked_at.timestamp() as f64);
            self.drifted_features
                .with_label_values(&labels)
                .set(i64::try_from(*drifted_count).unwrap_or(i64::MAX));
            // Features that no longer drift must not keep their old PSI.
            remove_series(&self.feature_psi, &["namespace", "model", "feature"], |v| {
                v[0] == namespace && v[1] == model
            });
            for feature in top {
                if let Some(psi) = feature.psi {
                    self.feature_psi
                        .with_label_values(&[namespace, model, feature.name.as_str()])
                        .set(psi);
                }
            }
        }
    }

    /// Marks `version` as served by the model (and nothing else).
    pub fn serving(&self, namespace: &str, model: &str, version: Option<&str>) {
        remove_series(
            &self.serving_info,
            &["namespace", "model", "version"],
            |v| v[0] == namespace && v[1] == model && Some(v[2].as_str()) != version,
        );
        if let Some(version) = version {
            self.serving_info
                .with_label_values(&[namespace, model, version])
                .set(1);
        }
    }

    /// Removes the series of models and policies that no longer exist:
    /// `models` and `policies` are the (namespace, name) pairs that do.
    pub fn retain(&self, models: &[(String, String)], policies: &[(String, String)]) {
        let model_gone = |v: &[String]| !models.iter().any(|(ns, m)| *ns == v[0] && *m == v[1]);
        let policy_gone = |v: &[String]| !policies.iter().any(|(ns, p)| *ns == v[0] && *p == v[2]);
        remove_series(
            &self.serving_info,
            &["namespace", "model", "version"],
            model_gone,
        );
        remove_series(
            &self.feature_psi,
            &["namespace", "model", "feature"],
            model_gone,
        );
        let drift = ["namespace", "model", "policy"];
        remove_series(&self.drift_verdict, &drift, policy_gone);
        remove_series(&self.drift_checked, &drift, policy_gone);
        remove_series(&self.drifted_features, &drift, policy_gone);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }
}

/// Removes the series of `vec` whose label values (in `names` order) match.
fn remove_series<T: MetricVecBuilder>(
    vec: &MetricVec<T>,
    names: &[&str],
    matches: impl Fn(&[String]) -> bool,
) {
    for family in vec.collect() {
        for metric in family.get_metric() {
            let values: Vec<String> = names
                .iter()
                .map(|name| {
                    metric
                        .get_label()
                        .iter()
                        .find(|l| l.name() == *name)
                        .map(|l| l.value().to_string())
                        .unwrap_or_default()
                })
                .collect();
            if matches(&values) {
                let refs: Vec<&str> = values.iter().map(String::as_str).collect();
                let _ = vec.remove_label_values(&refs);
            }
        }
    }
}

pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    controller: &'static str,
    start: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics
            .duration
            .with_label_values(&[self.controller])
            .observe(self.start.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serving_info_keeps_one_version_per_model() {
        let metrics = Metrics::new().expect("metrics");
        metrics.serving("ml", "income", Some("v1"));
        metrics.serving("ml", "other", Some("v9"));
        metrics.serving("ml", "income", Some("v2"));
        {
            let _timer = metrics.reconcile("model");
        }
        let text = metrics.render();
        assert!(
            text.contains(
                r#"vigil_model_serving_info{model="income",namespace="ml",version="v2"} 1"#
            ),
            "{text}"
        );
        assert!(!text.contains(r#"version="v1""#), "{text}");
        assert!(text.contains(r#"version="v9""#), "{text}");
        assert!(text.contains(r#"vigil_operator_reconciles_total{controller="model"} 1"#));
        assert!(text.contains("vigil_operator_reconcile_duration_seconds_count"));
    }

    #[test]
    fn drift_gauges_follow_the_last_check() {
        let metrics = Metrics::new().expect("metrics");
        let check = |feature: &str, verdict: &str| -> DriftSummary {
            serde_json::from_value(serde_json::json!({
                "outcome": "succeeded", "verdict": verdict, "driftVerdict": verdict,
                "qualityPassed": true, "driftedFeatures": [feature], "driftedCount": 1,
                "top": [{"name": feature, "verdict": verdict, "psi": 0.5}],
                "referenceRows": 10, "currentRows": 10, "checkedAt": "2026-11-28T18:00:00Z",
                "reportUri": "r", "htmlUri": "h"
            }))
            .expect("summary")
        };
        metrics.drift_check("ml", "income", "p", &check("age", "Critical"));
        metrics.drift_check("ml", "income", "p", &check("hours_per_week", "Warning"));
        let text = metrics.render();
        assert!(
            text.contains(r#"vigil_drift_verdict{model="income",namespace="ml",policy="p"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"feature="hours_per_week""#), "{text}");
        assert!(
            !text.contains(r#"feature="age""#),
            "a feature that no longer drifts keeps no PSI: {text}"
        );
        assert!(text.contains(r#"vigil_drift_last_check_timestamp_seconds{model="income",namespace="ml",policy="p"} 1795888800"#), "{text}");

        // The policy, then the model, is deleted: their series go.
        metrics.serving("ml", "income", Some("v1"));
        let model = [("ml".to_string(), "income".to_string())];
        metrics.retain(&model, &[]);
        let text = metrics.render();
        assert!(!text.contains("vigil_drift_verdict{"), "{text}");
        assert!(text.contains("vigil_model_serving_info{"), "{text}");
        metrics.retain(&[], &[]);
        let text = metrics.render();
        assert!(!text.contains("vigil_model_serving_info{"), "{text}");
        assert!(!text.contains("vigil_drift_feature_psi{"), "{text}");
    }
}
