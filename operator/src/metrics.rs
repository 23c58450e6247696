//! The operator's own Prometheus metrics, in one registry built in `run`.
//!
//! Labels are bounded: controller name, failure reason (a fixed set), performance
//! metric (an enum), and the namespace / model / policy / feature names of the
//! resources it watches.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Instant;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use prometheus::core::{Collector, MetricVec, MetricVecBuilder};
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use vigil_core::drift::{DriftSummary, Verdict};
use vigil_core::performance::{Metric, MetricValue, PerformanceBrief};

/// (namespace, name) pairs of the objects that exist.
pub type Names = HashSet<(String, String)>;

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
    feature_verdict: IntGaugeVec,
    prediction_verdict: IntGaugeVec,
    quality_passed: IntGaugeVec,
    quality_checked: GaugeVec,
    check_interval: GaugeVec,
    model_condition: IntGaugeVec,
    model_events: IntCounterVec,
    estimated: PerMetric,
    estimated_lower: PerMetric,
    estimated_upper: PerMetric,
    estimated_alert: PerMetric,
    realized: PerMetric,
    matured: PerMetric,
    label_coverage: GaugeVec,
    concept_drift: IntGaugeVec,
    /// The series each model last published in the families a reconcile
    /// replaces whole.
    psi_series: Published,
    serving_series: Published,
    condition_series: Published,
}

/// The label values of the series each model (or policy) last published in one
/// family, so that a reconcile removes its stale series by name. Collecting
/// the family to find them, once per reconcile, made the operator's CPU
/// quadratic in the number of models (a whole collect of every model's
/// series for each reconcile).
#[derive(Default)]
struct Published(Mutex<HashMap<(String, String), Vec<Series>>>);

/// One series' label values, in the family's label order.
type Series = Vec<String>;

impl Published {
    /// Records `series` (label values) as what `(namespace, owner)` (a model or a
    /// policy) publishes in `vec` now, and removes the series it published before
    /// and no longer does.
    fn replace<T: MetricVecBuilder>(
        &self,
        vec: &MetricVec<T>,
        namespace: &str,
        owner: &str,
        series: Vec<Series>,
    ) {
        let mut published = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let key = (namespace.to_string(), owner.to_string());
        for stale in published.get(&key).into_iter().flatten() {
            if !series.contains(stale) {
                let labels: Vec<&str> = stale.iter().map(String::as_str).collect();
                let _ = vec.remove_label_values(&labels);
            }
        }
        published.insert(key, series);
    }

    /// Forgets the owners not in `owners` (their series are swept by [`remove_series`]).
    fn retain(&self, owners: &Names) {
        let mut published = self.0.lock().unwrap_or_else(|e| e.into_inner());
        published.retain(|key, _| owners.contains(key));
    }
}

/// A family with one series per performance metric of a policy's last check: each
/// check replaces the policy's series, so a metric without a value this check has none.
struct PerMetric {
    gauge: GaugeVec,
    published: Published,
}

/// The labels of a [`PerMetric`] family.
const PER_METRIC: [&str; 4] = ["namespace", "model", "policy", "metric"];

impl PerMetric {
    fn new(r: &Registered, name: &str, help: &str) -> Result<PerMetric, MetricsError> {
        Ok(PerMetric {
            gauge: r.gauge(name, help, &PER_METRIC)?,
            published: Published::default(),
        })
    }

    /// `values` become the policy's series, and nothing else.
    fn set(&self, [namespace, model, policy]: [&str; 3], values: &[(Metric, f64)]) {
        let series = values
            .iter()
            .map(|(m, _)| series_of(namespace, model, &[policy, m.as_str()]))
            .collect();
        self.published
            .replace(&self.gauge, namespace, policy, series);
        for (metric, value) in values {
            self.gauge
                .with_label_values(&[namespace, model, policy, metric.as_str()])
                .set(*value);
        }
    }

    fn retain(&self, policies: &Names, gone: impl Fn(&[String]) -> bool) {
        self.published.retain(policies);
        remove_series(&self.gauge, &PER_METRIC, gone);
    }
}

/// `(metric, part)` of every value that has the part.
fn parts(values: &[MetricValue], part: impl Fn(&MetricValue) -> Option<f64>) -> Vec<(Metric, f64)> {
    values
        .iter()
        .filter_map(|v| Some((v.metric, part(v)?)))
        .collect()
}

/// `[namespace, model, rest…]` as owned label values.
fn series_of(namespace: &str, model: &str, rest: &[&str]) -> Series {
    [namespace, model]
        .iter()
        .chain(rest)
        .map(|v| v.to_string())
        .collect()
}

/// The code of a verdict in the verdict gauges.
fn verdict_code(verdict: Option<Verdict>) -> i64 {
    match verdict {
        Some(Verdict::None) => 0,
        Some(Verdict::Warning) => 1,
        Some(Verdict::Critical) => 2,
        Some(Verdict::InsufficientData) => -1,
        None => -2,
    }
}

/// A registry that registers each metric as it is made, so that a metric cannot be made
/// and then forgotten.
struct Registered(Registry);

impl Registered {
    fn add<C: Collector + Clone + 'static>(&self, collector: C) -> Result<C, MetricsError> {
        self.0.register(Box::new(collector.clone()))?;
        Ok(collector)
    }

    fn counter(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> Result<IntCounterVec, MetricsError> {
        self.add(IntCounterVec::new(Opts::new(name, help), labels)?)
    }

    fn int_gauge(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> Result<IntGaugeVec, MetricsError> {
        self.add(IntGaugeVec::new(Opts::new(name, help), labels)?)
    }

    fn gauge(&self, name: &str, help: &str, labels: &[&str]) -> Result<GaugeVec, MetricsError> {
        self.add(GaugeVec::new(Opts::new(name, help), labels)?)
    }

    fn histogram(
        &self,
        opts: HistogramOpts,
        labels: &[&str],
    ) -> Result<HistogramVec, MetricsError> {
        self.add(HistogramVec::new(opts, labels)?)
    }
}

impl Metrics {
    pub fn new() -> Result<Metrics, MetricsError> {
        let r = Registered(Registry::new());
        let policy = &["namespace", "model", "policy"][..];
        Ok(Metrics {
            reconciles: r.counter("vigil_operator_reconciles_total", "Reconciles started", &["controller"])?,
            failures: r.counter(
                "vigil_operator_reconcile_failures_total",
                "Reconciles that failed, by reason",
                &["controller", "reason"],
            )?,
            duration: r.histogram(
                HistogramOpts::new(
                    "vigil_operator_reconcile_duration_seconds",
                    "Time a reconcile takes",
                )
                .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
                &["controller"],
            )?,
            drift_verdict: r.int_gauge(
                "vigil_drift_verdict",
                "Last drift verdict: 0 None, 1 Warning, 2 Critical, -1 InsufficientData, -2 check failed",
                policy,
            )?,
            drift_checked: r.gauge(
                "vigil_drift_last_check_timestamp_seconds",
                "Unix time of the last recorded drift check",
                policy,
            )?,
            drifted_features: r.int_gauge(
                "vigil_drift_drifted_features",
                "Features that drifted in the last check",
                policy,
            )?,
            feature_psi: r.gauge(
                "vigil_drift_feature_psi",
                "PSI of the most drifted features in the last check (up to 5)",
                &["namespace", "model", "feature"],
            )?,
            serving_info: r.int_gauge(
                "vigil_model_serving_info",
                "1 for the version each MonitoredModel serves",
                &["namespace", "model", "version"],
            )?,
            feature_verdict: r.int_gauge(
                "vigil_drift_feature_verdict",
                "Worst feature verdict of the last check (codes as vigil_drift_verdict; quality not included)",
                policy,
            )?,
            prediction_verdict: r.int_gauge(
                "vigil_drift_prediction_verdict",
                "Prediction-distribution verdict of the last check (codes as vigil_drift_verdict)",
                policy,
            )?,
            quality_passed: r.int_gauge(
                "vigil_quality_passed",
                "1 when no hard data-quality check failed in the last check, else 0",
                policy,
            )?,
            quality_checked: r.gauge(
                "vigil_quality_last_check_timestamp_seconds",
                "Unix time of the last check that found prediction rows to check",
                policy,
            )?,
            check_interval: r.gauge(
                "vigil_drift_check_interval_seconds",
                "Longest gap between two runs of the DriftPolicy's schedule",
                policy,
            )?,
            model_condition: r.int_gauge(
                "vigil_model_condition",
                "Each MonitoredModel status condition: 1 True, 0 False, -1 Unknown, with its reason",
                &["namespace", "model", "type", "reason"],
            )?,
            model_events: r.counter(
                "vigil_model_events_total",
                "Events published about a MonitoredModel (training, promotion, rollback, drift), by reason",
                &["namespace", "model", "reason"],
            )?,
            estimated: PerMetric::new(
                &r,
                "vigil_estimated_performance",
                "Each metric as CBPE estimates it for the last check's window, without labels",
            )?,
            estimated_lower: PerMetric::new(
                &r,
                "vigil_estimated_performance_lower",
                "Lower bound of each estimated metric's alert band (hold-out chunks' mean - 3 sd, or performance.thresholds)",
            )?,
            estimated_upper: PerMetric::new(
                &r,
                "vigil_estimated_performance_upper",
                "Upper bound of each estimated metric's alert band (hold-out chunks' mean + 3 sd, or performance.thresholds)",
            )?,
            estimated_alert: PerMetric::new(
                &r,
                "vigil_estimated_performance_alert",
                "1 when the last check's estimate of the metric is outside its alert band, else 0",
            )?,
            realized: PerMetric::new(
                &r,
                "vigil_realized_performance",
                "Each metric realized from the /feedback labels joined to the last check's window (none below minLabeledSamples)",
            )?,
            matured: PerMetric::new(
                &r,
                "vigil_matured_performance",
                "Each metric realized again for the newest earlier window that the last check's labels reached (labels that arrived after that window's check, up to maxLabelDelay)",
            )?,
            label_coverage: r.gauge(
                "vigil_label_coverage",
                "Labelled predictions / predictions of the last check's window",
                policy,
            )?,
            concept_drift: r.int_gauge(
                "vigil_concept_drift",
                "1 when realized and estimated performance parted by more than 3 standard errors in the last two checks, else 0",
                policy,
            )?,
            psi_series: Published::default(),
            serving_series: Published::default(),
            condition_series: Published::default(),
            registry: r.0,
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
        self.drift_verdict
            .with_label_values(&labels)
            .set(verdict_code(summary.verdict()));
        let brief = match summary {
            DriftSummary::Succeeded {
                model_performance, ..
            } => model_performance.as_ref(),
            DriftSummary::Failed { .. } => None,
        };
        self.model_performance(labels, brief);
        if let DriftSummary::Succeeded {
            checked_at,
            drift_verdict,
            drifted_count,
            top,
            prediction,
            quality_passed,
            current_rows,
            ..
        } = summary
        {
            // The worst drifted feature (top is worst first); none drifted: None.
            let features = match (drift_verdict, top.first()) {
                (Verdict::InsufficientData, _) => Verdict::InsufficientData,
                (_, Some(worst)) if *drifted_count > 0 => worst.verdict,
                _ => Verdict::None,
            };
            self.feature_verdict
                .with_label_values(&labels)
                .set(verdict_code(Some(features)));
            match prediction {
                Some(verdict) => self
                    .prediction_verdict
                    .with_label_values(&labels)
                    .set(verdict_code(Some(*verdict))),
                None => {
                    let _ = self.prediction_verdict.remove_label_values(&labels);
                }
            }
            self.quality_passed
                .with_label_values(&labels)
                .set(i64::from(*quality_passed));
            if *current_rows > 0 {
                self.quality_checked
                    .with_label_values(&labels)
                    .set(checked_at.timestamp() as f64);
            }
            self.drift_checked
                .with_label_values(&labels)
                .set(checked_at.timestamp() as f64);
            self.drifted_features
                .with_label_values(&labels)
                .set(i64::try_from(*drifted_count).unwrap_or(i64::MAX));
            // Features that no longer drift must not keep their old PSI.
            let published = top
                .iter()
                .filter(|f| f.psi.is_some())
                .map(|f| series_of(namespace, model, &[f.name.as_str()]))
                .collect();
            self.psi_series
                .replace(&self.feature_psi, namespace, model, published);
            for feature in top {
                if let Some(psi) = feature.psi {
                    self.feature_psi
                        .with_label_values(&[namespace, model, feature.name.as_str()])
                        .set(psi);
                }
            }
        }
    }

    /// Publishes a check's performance brief: the series of every metric it has a value
    /// of, and none of the others (no brief: none at all).
    fn model_performance(&self, labels: [&str; 3], brief: Option<&PerformanceBrief>) {
        let estimated = brief.map_or(&[][..], |b| &b.estimated[..]);
        let realized = brief.map_or(&[][..], |b| &b.realized[..]);
        let matured = brief
            .and_then(|b| b.matured.as_ref())
            .map_or(&[][..], |m| &m.realized[..]);
        self.estimated
            .set(labels, &parts(estimated, |v| Some(v.value)));
        self.estimated_lower
            .set(labels, &parts(estimated, |v| v.lower));
        self.estimated_upper
            .set(labels, &parts(estimated, |v| v.upper));
        let alert = |v: &MetricValue| Some(f64::from(u8::from(v.alert)));
        self.estimated_alert.set(labels, &parts(estimated, alert));
        self.realized
            .set(labels, &parts(realized, |v| Some(v.value)));
        self.matured.set(labels, &parts(matured, |v| Some(v.value)));
        match brief.filter(|b| b.assessed()) {
            Some(b) => {
                self.label_coverage
                    .with_label_values(&labels)
                    .set(b.label_coverage);
                self.concept_drift
                    .with_label_values(&labels)
                    .set(i64::from(b.concept_drift));
            }
            None => {
                let _ = self.label_coverage.remove_label_values(&labels);
                let _ = self.concept_drift.remove_label_values(&labels);
            }
        }
    }

    /// Marks `version` as served by the model (and nothing else).
    pub fn serving(&self, namespace: &str, model: &str, version: Option<&str>) {
        let published = version
            .map(|v| series_of(namespace, model, &[v]))
            .into_iter()
            .collect();
        self.serving_series
            .replace(&self.serving_info, namespace, model, published);
        if let Some(version) = version {
            self.serving_info
                .with_label_values(&[namespace, model, version])
                .set(1);
        }
    }

    /// Removes the series of models and policies that no longer exist:
    /// `models` and `policies` are the (namespace, name) pairs that do. Sets,
    /// not lists: every series is looked up, and a scan of every object per
    /// series was most of the operator's CPU at 5,000 models.
    pub fn retain(&self, models: &Names, policies: &Names) {
        let gone = |names: &Names, ns: &str, name: &str| {
            !names.contains(&(ns.to_string(), name.to_string()))
        };
        let model_gone = |v: &[String]| gone(models, &v[0], &v[1]);
        for published in [
            &self.psi_series,
            &self.serving_series,
            &self.condition_series,
        ] {
            published.retain(models);
        }
        let policy_gone = |v: &[String]| gone(policies, &v[0], &v[2]);
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
        for vec in [
            &self.feature_verdict,
            &self.prediction_verdict,
            &self.quality_passed,
        ] {
            remove_series(vec, &drift, policy_gone);
        }
        remove_series(&self.quality_checked, &drift, policy_gone);
        remove_series(&self.check_interval, &drift, policy_gone);
        remove_series(&self.label_coverage, &drift, policy_gone);
        remove_series(&self.concept_drift, &drift, policy_gone);
        for family in [
            &self.estimated,
            &self.estimated_lower,
            &self.estimated_upper,
            &self.estimated_alert,
            &self.realized,
            &self.matured,
        ] {
            family.retain(policies, policy_gone);
        }
        remove_series(
            &self.model_condition,
            &["namespace", "model", "type", "reason"],
            model_gone,
        );
        remove_series(
            &self.model_events,
            &["namespace", "model", "reason"],
            model_gone,
        );
    }

    /// Publishes how far apart the policy's checks may be (nothing when the schedule does
    /// not parse: the staleness alert falls back to 12 hours).
    pub fn check_schedule(&self, namespace: &str, model: &str, policy: &str, schedule: &str) {
        let labels = [namespace, model, policy];
        match crate::schedule::longest_gap(schedule) {
            Some(gap) => self
                .check_interval
                .with_label_values(&labels)
                .set(gap.num_seconds() as f64),
            None => {
                let _ = self.check_interval.remove_label_values(&labels);
            }
        }
    }

    /// Publishes a MonitoredModel's conditions: one series per type, labelled with its
    /// current reason (the series of an earlier reason is removed).
    pub fn model_conditions(&self, namespace: &str, model: &str, conditions: &[Condition]) {
        let published = conditions
            .iter()
            .map(|c| series_of(namespace, model, &[c.type_.as_str(), c.reason.as_str()]))
            .collect();
        self.condition_series
            .replace(&self.model_condition, namespace, model, published);
        for c in conditions {
            let value = match c.status.as_str() {
                "True" => 1,
                "False" => 0,
                _ => -1,
            };
            self.model_condition
                .with_label_values(&[namespace, model, c.type_.as_str(), c.reason.as_str()])
                .set(value);
        }
    }

    /// Counts an Event published about a MonitoredModel (reasons are the operator's constants).
    pub fn model_event(&self, namespace: &str, model: &str, reason: &str) {
        self.model_events
            .with_label_values(&[namespace, model, reason])
            .inc();
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

        assert!(
            text.contains(
                r#"vigil_drift_feature_verdict{model="income",namespace="ml",policy="p"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"vigil_quality_passed{model="income",namespace="ml",policy="p"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"vigil_quality_last_check_timestamp_seconds{model="income",namespace="ml",policy="p"} 1795888800"#), "{text}");
        assert!(
            !text.contains("vigil_drift_prediction_verdict{"),
            "no prediction verdict, no series: {text}"
        );
    }

    /// The series of the performance families in `text`, in exposition order.
    fn performance_series(text: &str) -> Vec<&str> {
        const FAMILIES: [&str; 8] = [
            "vigil_estimated_performance{",
            "vigil_estimated_performance_lower{",
            "vigil_estimated_performance_upper{",
            "vigil_estimated_performance_alert{",
            "vigil_realized_performance{",
            "vigil_matured_performance{",
            "vigil_label_coverage{",
            "vigil_concept_drift{",
        ];
        text.lines()
            .filter(|l| FAMILIES.iter().any(|f| l.starts_with(f)))
            .collect()
    }

    fn with_performance(brief: serde_json::Value) -> DriftSummary {
        serde_json::from_value(serde_json::json!({
            "outcome": "succeeded", "verdict": "None", "driftVerdict": "None",
            "qualityPassed": true, "driftedCount": 0, "referenceRows": 10, "currentRows": 10,
            "checkedAt": "2026-11-28T18:00:00Z", "reportUri": "r", "htmlUri": "h",
            "modelPerformance": brief
        }))
        .expect("summary")
    }

    #[test]
    fn performance_gauges_hold_what_the_last_check_measured_and_nothing_stale() {
        let metrics = Metrics::new().expect("metrics");
        let first = with_performance(serde_json::json!({
            "estimated": [
                {"metric": "rocAuc", "value": 0.71, "lower": 0.8, "upper": 0.95, "alert": true},
                {"metric": "accuracy", "value": 0.83, "lower": 0.78}
            ],
            "realized": [{"metric": "rocAuc", "value": 0.69, "lower": 0.66, "upper": 0.72}],
            "labelCoverage": 0.25, "labelled": 1250, "estimatedDrop": true, "conceptDrift": true,
            "matured": {"until": "2026-11-28T12:00:00Z", "labelled": 900, "labelCoverage": 0.6,
                        "realized": [{"metric": "accuracy", "value": 0.79, "lower": 0.76, "upper": 0.82}]}
        }));
        metrics.drift_check("ml", "income", "p", &first);
        let labels =
            |metric: &str| format!(r#"metric="{metric}",model="income",namespace="ml",policy="p""#);
        let (auc, acc) = (labels("rocAuc"), labels("accuracy"));
        let policy = r#"model="income",namespace="ml",policy="p""#;
        assert_eq!(
            performance_series(&metrics.render()),
            [
                format!("vigil_concept_drift{{{policy}}} 1"),
                format!("vigil_estimated_performance{{{acc}}} 0.83"),
                format!("vigil_estimated_performance{{{auc}}} 0.71"),
                format!("vigil_estimated_performance_alert{{{acc}}} 0"),
                format!("vigil_estimated_performance_alert{{{auc}}} 1"),
                format!("vigil_estimated_performance_lower{{{acc}}} 0.78"),
                format!("vigil_estimated_performance_lower{{{auc}}} 0.8"),
                format!("vigil_estimated_performance_upper{{{auc}}} 0.95"),
                format!("vigil_label_coverage{{{policy}}} 0.25"),
                format!("vigil_matured_performance{{{acc}}} 0.79"),
                format!("vigil_realized_performance{{{auc}}} 0.69"),
            ]
        );

        // Too few labels now, and rocAuc is no longer estimated: its series go.
        let second = with_performance(serde_json::json!({
            "estimated": [{"metric": "accuracy", "value": 0.8, "lower": 0.78, "upper": 0.9}],
            "labelCoverage": 0.01, "labelled": 50, "reason": "InsufficientLabels"
        }));
        metrics.drift_check("ml", "income", "p", &second);
        assert_eq!(
            performance_series(&metrics.render()),
            [
                format!("vigil_concept_drift{{{policy}}} 0"),
                format!("vigil_estimated_performance{{{acc}}} 0.8"),
                format!("vigil_estimated_performance_alert{{{acc}}} 0"),
                format!("vigil_estimated_performance_lower{{{acc}}} 0.78"),
                format!("vigil_estimated_performance_upper{{{acc}}} 0.9"),
                format!("vigil_label_coverage{{{policy}}} 0.01"),
            ]
        );

        // Refused: the coverage is no measurement, so nothing is published.
        let refused = with_performance(serde_json::json!({
            "labelCoverage": 0.0, "labelled": 0, "reason": "NoHoldout"
        }));
        metrics.drift_check("ml", "income", "p", &refused);
        assert_eq!(performance_series(&metrics.render()), Vec::<&str>::new());

        // A failed check measured nothing either; a deleted policy keeps nothing.
        metrics.drift_check("ml", "income", "p", &first);
        metrics.drift_check("ml", "income", "other", &first);
        metrics.drift_check(
            "ml",
            "income",
            "p",
            &DriftSummary::Failed {
                reason: "StoreFailed".into(),
                message: "503".into(),
            },
        );
        let text = metrics.render();
        let left = performance_series(&text);
        assert!(
            left.len() == 11 && left.iter().all(|l| l.contains(r#"policy="other""#)),
            "{left:#?}"
        );
        let models = Names::from([("ml".to_string(), "income".to_string())]);
        metrics.retain(&models, &Names::new());
        assert_eq!(performance_series(&metrics.render()), Vec::<&str>::new());
    }

    #[test]
    fn conditions_keep_one_series_per_type_and_schedules_their_gap() {
        let metrics = Metrics::new().expect("metrics");
        let conditions = |ready: &str, reason: &str| -> Vec<Condition> {
            serde_json::from_value(serde_json::json!([
                {"type": "Ready", "status": ready, "reason": reason, "message": "",
                 "lastTransitionTime": "2026-11-28T18:00:00Z"},
                {"type": "Degraded", "status": "False", "reason": "AsExpected", "message": "",
                 "lastTransitionTime": "2026-11-28T18:00:00Z"}
            ]))
            .expect("conditions")
        };
        metrics.model_conditions("ml", "income", &conditions("False", "RollingOut"));
        metrics.model_conditions("ml", "income", &conditions("True", "Serving"));
        metrics.check_schedule("ml", "income", "p", "0 */6 * * *");
        metrics.model_event("ml", "income", "ModelPromoted");
        let text = metrics.render();
        assert!(text.contains(r#"vigil_model_condition{model="income",namespace="ml",reason="Serving",type="Ready"} 1"#), "{text}");
        assert!(text.contains(r#"vigil_model_condition{model="income",namespace="ml",reason="AsExpected",type="Degraded"} 0"#), "{text}");
        assert!(
            !text.contains("RollingOut"),
            "the old reason's series is gone: {text}"
        );
        assert!(text.contains(r#"vigil_drift_check_interval_seconds{model="income",namespace="ml",policy="p"} 21600"#), "{text}");
        assert!(text.contains(r#"vigil_model_events_total{model="income",namespace="ml",reason="ModelPromoted"} 1"#), "{text}");
        metrics.check_schedule("ml", "income", "p", "not a schedule");
        assert!(!metrics
            .render()
            .contains("vigil_drift_check_interval_seconds{"));
    }

    #[test]
    fn series_of_deleted_objects_disappear() {
        let metrics = Metrics::new().expect("metrics");
        let check: DriftSummary = serde_json::from_value(serde_json::json!({
            "outcome": "succeeded", "verdict": "Warning", "driftVerdict": "Warning",
            "qualityPassed": true, "driftedFeatures": ["age"], "driftedCount": 1,
            "top": [{"name": "age", "verdict": "Warning", "psi": 0.5}],
            "referenceRows": 10, "currentRows": 10, "checkedAt": "2026-11-28T18:00:00Z",
            "reportUri": "r", "htmlUri": "h"
        }))
        .expect("summary");
        metrics.drift_check("ml", "income", "p", &check);
        // The policy, then the model, is deleted: their series go.
        metrics.serving("ml", "income", Some("v1"));
        let model = Names::from([("ml".to_string(), "income".to_string())]);
        metrics.retain(&model, &Names::new());
        let text = metrics.render();
        assert!(!text.contains("vigil_drift_verdict{"), "{text}");
        assert!(text.contains("vigil_model_serving_info{"), "{text}");
        metrics.retain(&Names::new(), &Names::new());
        let text = metrics.render();
        assert!(!text.contains("vigil_model_serving_info{"), "{text}");
        assert!(!text.contains("vigil_drift_feature_psi{"), "{text}");
        assert!(!text.contains("vigil_drift_feature_verdict{"), "{text}");
    }
}
