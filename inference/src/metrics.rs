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
    "/v2",
    "/v2/health/live",
    "/v2/health/ready",
    "/v2/models/{model}",
    "/v2/models/{model}/versions/{version}",
    "/v2/models/{model}/ready",
    "/v2/models/{model}/versions/{version}/ready",
    "/v2/models/{model}/infer",
    "/v2/models/{model}/versions/{version}/infer",
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
    pub connections_open: IntGauge,
    pub connections_refused: IntCounterVec,
}

/// Latency buckets in seconds: 50 µs to 5 s, dense around the 1–5 ms target.
const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    0.5, 1.0, 2.5, 5.0,
];
const CONFIDENCE_BUCKETS: &[f64] = &[0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0];

/// A metric's name, help text and label names.
struct Def {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
}

const fn def(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Def {
    Def { name, help, labels }
}

// Every metric of the server, in one table.
const HTTP_REQUESTS: Def = def(
    "vigil_http_requests_total",
    "HTTP requests answered, by route template and status code.",
    &["route", "status"],
);
const HTTP_DURATION: Def = def(
    "vigil_http_request_duration_seconds",
    "Time from receiving a request to its response, by route template.",
    &["route"],
);
const HTTP_ERRORS: Def = def(
    "vigil_http_request_errors_total",
    "Requests answered with an error, by route template and error kind.",
    &["route", "kind"],
);
const PREDICTIONS: Def = def(
    "vigil_predictions_total",
    "Rows predicted, by predicted class.",
    &["class"],
);
const ROWS: Def = def(
    "vigil_prediction_rows_total",
    "Rows predicted over /predict, /predict/batch and /v2/models/{model}/infer.",
    &[],
);
const CONFIDENCE: Def = def(
    "vigil_prediction_confidence",
    "Probability of the predicted class.",
    &[],
);
const FEATURE_MISSING: Def = def(
    "vigil_feature_missing_total",
    "Predicted rows whose feature was null (imputed), by feature.",
    &["feature"],
);
const FEATURE_OUT_OF_RANGE: Def = def(
    "vigil_feature_out_of_range_total",
    "Values outside the schema's min/max, by feature (rejected or accepted per policy).",
    &["feature"],
);
const FEATURE_UNSEEN: Def = def(
    "vigil_feature_unseen_category_total",
    "Categories that training never saw, by feature.",
    &["feature"],
);
const REQUEST_PROBLEMS: Def = def(
    "vigil_request_problems_total",
    "Problems found in rejected prediction requests, by kind.",
    &["kind"],
);
const MODEL_LOADED: Def = def(
    "vigil_model_loaded",
    "1 when a model is loaded and serving, else 0.",
    &[],
);
const MODEL_INFO: Def = def(
    "vigil_model_info",
    "The served model version (value is always 1).",
    &["version"],
);
const MODEL_RELOADS: Def = def(
    "vigil_model_reloads_total",
    "Model loads and reloads, by result (success or failure).",
    &["result"],
);
const LOG_WRITTEN: Def = def(
    "vigil_log_records_written_total",
    "Records written to the store, by log (predictions or feedback).",
    &["log"],
);
const LOG_DROPPED: Def = def(
    "vigil_log_records_dropped_total",
    "Records dropped because the buffer was full (policy drop) or the store failed at shutdown.",
    &["log"],
);
const LOG_FLUSH_ERRORS: Def = def(
    "vigil_log_flush_errors_total",
    "Failed attempts to write a batch to the store (the batch is retried).",
    &["log"],
);
const LOG_BATCHES: Def = def(
    "vigil_log_batches_written_total",
    "Batch files written to the store.",
    &["log"],
);
const LOG_BUFFER: Def = def(
    "vigil_log_buffer_records",
    "Records accepted but not yet written to the store.",
    &["log"],
);
const FEEDBACK: Def = def(
    "vigil_feedback_received_total",
    "Ground-truth labels received over /feedback.",
    &[],
);

const CONNECTIONS_OPEN: Def = def(
    "vigil_http_connections_open",
    "TCP connections being served.",
    &[],
);
const CONNECTIONS_REFUSED: Def = def(
    "vigil_http_connections_refused_total",
    "Connections answered 503 and closed because --max-connections were open (reason limit), \
     or closed because a request header did not arrive within --header-read-timeout (reason header_timeout).",
    &["reason"],
);

/// Creates metrics in one registry: each is registered as it is made.
struct Registrar(Registry);

impl Registrar {
    fn add<C: prometheus::core::Collector + Clone + 'static>(
        &self,
        metric: C,
    ) -> Result<C, MetricsError> {
        self.0.register(Box::new(metric.clone()))?;
        Ok(metric)
    }
    fn opts(d: &Def) -> Opts {
        Opts::new(d.name, d.help)
    }
    fn counter(&self, d: &Def) -> Result<IntCounter, MetricsError> {
        self.add(IntCounter::with_opts(Self::opts(d))?)
    }
    fn counters(&self, d: &Def) -> Result<IntCounterVec, MetricsError> {
        self.add(IntCounterVec::new(Self::opts(d), d.labels)?)
    }
    fn gauge(&self, d: &Def) -> Result<IntGauge, MetricsError> {
        self.add(IntGauge::with_opts(Self::opts(d))?)
    }
    fn gauges(&self, d: &Def) -> Result<IntGaugeVec, MetricsError> {
        self.add(IntGaugeVec::new(Self::opts(d), d.labels)?)
    }
    fn histogram(&self, d: &Def, buckets: &[f64]) -> Result<Histogram, MetricsError> {
        let opts = HistogramOpts::new(d.name, d.help).buckets(buckets.to_vec());
        self.add(Histogram::with_opts(opts)?)
    }
    fn histograms(&self, d: &Def, buckets: &[f64]) -> Result<HistogramVec, MetricsError> {
        let opts = HistogramOpts::new(d.name, d.help).buckets(buckets.to_vec());
        self.add(HistogramVec::new(opts, d.labels)?)
    }
}

impl Metrics {
    pub fn new() -> Result<Metrics, MetricsError> {
        let r = Registrar(Registry::new());
        let requests = r.counters(&HTTP_REQUESTS)?;
        let duration = r.histograms(&HTTP_DURATION, LATENCY_BUCKETS)?;
        let route = |route: &'static str| RouteMetrics {
            route,
            duration: duration.with_label_values(&[route]),
            ok: requests.with_label_values(&[route, "200"]),
        };
        let metrics = Metrics {
            routes: ROUTES.iter().map(|r| route(r)).collect(),
            unmatched: route(UNMATCHED_ROUTE),
            request_errors: r.counters(&HTTP_ERRORS)?,
            predictions: r.counters(&PREDICTIONS)?,
            rows: r.counter(&ROWS)?,
            confidence: r.histogram(&CONFIDENCE, CONFIDENCE_BUCKETS)?,
            feature_missing: r.counters(&FEATURE_MISSING)?,
            feature_out_of_range: r.counters(&FEATURE_OUT_OF_RANGE)?,
            feature_unseen: r.counters(&FEATURE_UNSEEN)?,
            invalid_values: r.counters(&REQUEST_PROBLEMS)?,
            model_loaded: r.gauge(&MODEL_LOADED)?,
            model_info: r.gauges(&MODEL_INFO)?,
            model_reloads: r.counters(&MODEL_RELOADS)?,
            log_records_written: r.counters(&LOG_WRITTEN)?,
            log_records_dropped: r.counters(&LOG_DROPPED)?,
            log_flush_errors: r.counters(&LOG_FLUSH_ERRORS)?,
            log_batches_written: r.counters(&LOG_BATCHES)?,
            log_buffer_depth: r.gauges(&LOG_BUFFER)?,
            feedback: r.counter(&FEEDBACK)?,
            connections_open: r.gauge(&CONNECTIONS_OPEN)?,
            connections_refused: r.counters(&CONNECTIONS_REFUSED)?,
            requests,
            registry: r.0,
        };
        metrics.create_zero_series();
        Ok(metrics)
    }

    /// Zero series exist from the start, so rates and absent() alerts work before traffic.
    fn create_zero_series(&self) {
        for result in ["success", "failure"] {
            self.model_reloads.with_label_values(&[result]);
        }
        for log in ["predictions", "feedback"] {
            self.log_records_written.with_label_values(&[log]);
            self.log_records_dropped.with_label_values(&[log]);
            self.log_flush_errors.with_label_values(&[log]);
            self.log_batches_written.with_label_values(&[log]);
            self.log_buffer_depth.with_label_values(&[log]);
        }
        for reason in ["limit", "header_timeout"] {
            self.connections_refused.with_label_values(&[reason]);
        }
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
