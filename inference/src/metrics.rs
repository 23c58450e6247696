//! Prometheus metrics of one server, in its own [`Registry`] (never the global one).
//!
//! Labels are bounded: the route template (never the raw path), the status code the
//! server itself chose, the class and feature names of the loaded model's schema.
//! Handles used on every request are resolved once, so the hot path does atomic adds
//! only, no label lookups.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The route templates the server answers; anything else is counted as `unmatched`.
pub const ROUTES: &[&str] = &[
    "/health",
    "/healthz",
    "/ready",
    "/predict",
    "/predict/batch",
    "/metrics",
    "/metrics/summary",
    "/model/reload",
    "/logs",
    "/feedback",
    "/openapi.json",
];
pub const UNMATCHED_ROUTE: &str = "unmatched";

#[derive(Debug, thiserror::Error)]
#[error("cannot register metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

/// Per-route handles, resolved once.
#[derive(Clone)]
pub struct RouteMetrics {
    pub route: &'static str,
    pub duration: Histogram,
    pub ok: IntCounter,
}

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub requests: IntCounterVec,
    pub routes: Vec<RouteMetrics>,
    pub unmatched: RouteMetrics,
    pub request_errors: IntCounterVec,
    pub predictions: IntCounterVec,
    pub rows: IntCounter,
    pub confidence: Histogram,
    pub feature_missing: IntCounterVec,
    pub feature_out_of_range: IntCounterVec,
    pub feature_unseen: IntCounterVec,
    pub invalid_values: IntCounterVec,
    pub model_loaded: IntGauge,
    pub model_info: IntGaugeVec,
    pub model_reloads: IntCounterVec,
    pub log_records_written: IntCounterVec,
    pub log_records_dropped: IntCounterVec,
    pub log_flush_errors: IntCounterVec,
    pub log_batches_written: IntCounterVec,
    pub log_buffer_depth: IntGaugeVec,
    pub feedback: IntCounter,
}

/// Latency buckets in seconds: 50 µs to 5 s, dense around the 1–5 ms target.
const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    0.5, 1.0, 2.5, 5.0,
];
const CONFIDENCE_BUCKETS: &[f64] = &[0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0];

impl Metrics {
    pub fn new() -> Result<Metrics, MetricsError> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "vigil_http_requests_total",
                "HTTP requests answered, by route template and status code.",
            ),
            &["route", "status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "vigil_http_request_duration_seconds",
                "Time from receiving a request to its response, by route template.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route"],
        )?;
        let request_errors = IntCounterVec::new(
            Opts::new(
                "vigil_http_request_errors_total",
                "Requests answered with an error, by route template and error kind.",
            ),
            &["route", "kind"],
        )?;
        let predictions = IntCounterVec::new(
            Opts::new(
                "vigil_predictions_total",
                "Rows predicted, by predicted class.",
            ),
            &["class"],
        )?;
        let rows = IntCounter::new(
            "vigil_prediction_rows_total",
            "Rows predicted over /predict and /predict/batch.",
        )?;
        let confidence = Histogram::with_opts(
            HistogramOpts::new(
                "vigil_prediction_confidence",
                "Probability of the predicted class.",
            )
            .buckets(CONFIDENCE_BUCKETS.to_vec()),
        )?;
        let feature_missing = IntCounterVec::new(
            Opts::new(
                "vigil_feature_missing_total",
                "Predicted rows whose feature was null (imputed), by feature.",
            ),
            &["feature"],
        )?;
        let feature_out_of_range = IntCounterVec::new(
            Opts::new(
                "vigil_feature_out_of_range_total",
                "Values outside the schema's min/max, by feature (rejected or accepted per policy).",
            ),
            &["feature"],
        )?;
        let feature_unseen = IntCounterVec::new(
            Opts::new(
                "vigil_feature_unseen_category_total",
                "Categories that training never saw, by feature.",
            ),
            &["feature"],
        )?;
        let invalid_values = IntCounterVec::new(
            Opts::new(
                "vigil_request_problems_total",
                "Problems found in rejected prediction requests, by kind.",
            ),
            &["kind"],
        )?;
        let model_loaded = IntGauge::new(
            "vigil_model_loaded",
            "1 when a model is loaded and serving, else 0.",
        )?;
        let model_info = IntGaugeVec::new(
            Opts::new(
                "vigil_model_info",
                "The served model version (value is always 1).",
            ),
            &["version"],
        )?;
        let model_reloads = IntCounterVec::new(
            Opts::new(
                "vigil_model_reloads_total",
                "Model loads and reloads, by result (success or failure).",
            ),
            &["result"],
        )?;
        let log = |name: &str, help: &str| {
            IntCounterVec::new(Opts::new(name.to_string(), help.to_string()), &["log"])
        };
        let log_records_written = log(
            "vigil_log_records_written_total",
            "Records written to the store, by log (predictions or feedback).",
        )?;
        let log_records_dropped = log(
            "vigil_log_records_dropped_total",
            "Records dropped because the buffer was full (policy drop) or the store failed at shutdown.",
        )?;
        let log_flush_errors = log(
            "vigil_log_flush_errors_total",
            "Failed attempts to write a batch to the store (the batch is retried).",
        )?;
        let log_batches_written = log(
            "vigil_log_batches_written_total",
            "Batch files written to the store.",
        )?;
        let log_buffer_depth = IntGaugeVec::new(
            Opts::new(
                "vigil_log_buffer_records",
                "Records accepted but not yet written to the store.",
            ),
            &["log"],
        )?;
        let feedback = IntCounter::new(
            "vigil_feedback_received_total",
            "Ground-truth labels received over /feedback.",
        )?;

        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(request_errors.clone()),
            Box::new(predictions.clone()),
            Box::new(rows.clone()),
            Box::new(confidence.clone()),
            Box::new(feature_missing.clone()),
            Box::new(feature_out_of_range.clone()),
            Box::new(feature_unseen.clone()),
            Box::new(invalid_values.clone()),
            Box::new(model_loaded.clone()),
            Box::new(model_info.clone()),
            Box::new(model_reloads.clone()),
            Box::new(log_records_written.clone()),
            Box::new(log_records_dropped.clone()),
            Box::new(log_flush_errors.clone()),
            Box::new(log_batches_written.clone()),
            Box::new(log_buffer_depth.clone()),
            Box::new(feedback.clone()),
        ] {
            registry.register(collector)?;
        }

        let route = |route: &'static str| RouteMetrics {
            route,
            duration: duration.with_label_values(&[route]),
            ok: requests.with_label_values(&[route, "200"]),
        };
        let routes = ROUTES.iter().map(|r| route(r)).collect();
        let unmatched = route(UNMATCHED_ROUTE);
        // Zero series exist from the start, so rates and absent() alerts work before traffic.
        for result in ["success", "failure"] {
            model_reloads.with_label_values(&[result]);
        }
        for log in ["predictions", "feedback"] {
            log_records_written.with_label_values(&[log]);
            log_records_dropped.with_label_values(&[log]);
            log_flush_errors.with_label_values(&[log]);
            log_batches_written.with_label_values(&[log]);
            log_buffer_depth.with_label_values(&[log]);
        }
        Ok(Metrics {
            registry,
            requests,
            routes,
            unmatched,
            request_errors,
            predictions,
            rows,
            confidence,
            feature_missing,
            feature_out_of_range,
            feature_unseen,
            invalid_values,
            model_loaded,
            model_info,
            model_reloads,
            log_records_written,
            log_records_dropped,
            log_flush_errors,
            log_batches_written,
            log_buffer_depth,
            feedback,
        })
    }

    /// Handles of a matched route template (`unmatched` for anything else).
    pub fn route(&self, template: Option<&str>) -> &RouteMetrics {
        template
            .and_then(|t| self.routes.iter().find(|r| r.route == t))
            .unwrap_or(&self.unmatched)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        Ok(String::from_utf8_lossy(&buffer).into_owned())
    }
}

/// Per-model handles: one counter per class and per feature, resolved when the model loads.
pub struct ModelMetrics {
    pub by_class: Vec<IntCounter>,
    pub missing: Vec<IntCounter>,
    pub out_of_range: Vec<IntCounter>,
    pub unseen: Vec<IntCounter>,
}

impl ModelMetrics {
    pub fn new(metrics: &Metrics, classes: &[String], features: &[String]) -> ModelMetrics {
        let each = |vec: &IntCounterVec, names: &[String]| {
            names
                .iter()
                .map(|n| vec.with_label_values(&[n.as_str()]))
                .collect()
        };
        ModelMetrics {
            by_class: each(&metrics.predictions, classes),
            missing: each(&metrics.feature_missing, features),
            out_of_range: each(&metrics.feature_out_of_range, features),
            unseen: each(&metrics.feature_unseen, features),
        }
    }
}
