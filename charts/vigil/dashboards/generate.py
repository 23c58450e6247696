"""Writes vigil.json, the Grafana dashboard the chart ships (templates/dashboard.yaml).

    python3 charts/vigil/dashboards/generate.py          # rewrite vigil.json
    python3 charts/vigil/dashboards/generate.py --check  # exit 1 if vigil.json is stale

Edit the panels here, not in the JSON: check_monitoring.py fails when vigil.json differs
from what this prints, checks every query as PromQL with promtool and every metric name
against the exporters (tests/monitoring_metrics.rs). Standard library only.

Label conventions: the inference Pods' series carry `namespace` and `model` as target
labels (the chart's PodMonitor); the operator's series carry the `namespace` and `model`
they describe. $namespace and $model are regexes (multi-value, "All" = .*).
"""

import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "vigil.json"

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'namespace=~"$namespace", model=~"$model"'
PREDICT = 'route=~"/predict|/predict/batch"'

VERDICTS = [
    (-2, "check failed", "red"),
    (-1, "insufficient data", "text"),
    (0, "None", "green"),
    (1, "Warning", "orange"),
    (2, "Critical", "red"),
]


def verdict_mappings():
    return [{"type": "value", "options": {str(v): {"text": text, "color": color, "index": i}
                                          for i, (v, text, color) in enumerate(VERDICTS)}}]


def thresholds(*steps):
    """steps: (value, color) after the base color of the first."""
    base, *rest = steps
    return {"mode": "absolute",
            "steps": [{"color": base, "value": None}] + [{"color": c, "value": v} for v, c in rest]}


class Layout:
    """Places panels left to right in rows of 24 grid units."""

    def __init__(self):
        self.panels = []
        self.y = 0
        self.x = 0
        self.row_height = 0
        self.next_id = 1

    def _id(self):
        self.next_id += 1
        return self.next_id - 1

    def row(self, title):
        self.newline()
        self.panels.append({"type": "row", "title": title, "id": self._id(), "collapsed": False,
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []})
        self.y += 1

    def newline(self):
        self.y += self.row_height
        self.x = 0
        self.row_height = 0

    def add(self, title, kind, targets, w=8, h=8, description="", unit=None, **extra):
        if self.x + w > 24:
            self.newline()
        defaults = extra.pop("defaults", {})
        if unit:
            defaults["unit"] = unit
        panel = {
            "type": kind,
            "title": title,
            "description": description,
            "id": self._id(),
            "datasource": DATASOURCE,
            "gridPos": {"h": h, "w": w, "x": self.x, "y": self.y},
            "targets": [
                {"datasource": DATASOURCE, "refId": chr(ord("A") + i), "expr": expr,
                 "legendFormat": legend, **({"instant": True, "format": "table"} if kind == "table" else {})}
                for i, (expr, legend) in enumerate(targets)
            ],
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": extra.pop("options", {}),
        }
        panel.update(extra)
        self.panels.append(panel)
        self.x += w
        self.row_height = max(self.row_height, h)


def serving(d):
    d.row("Serving")
    d.add("Requests by route", "timeseries",
          [(f'sum by (model, route) (rate(vigil_http_requests_total{{{SEL}}}[$__rate_interval]))',
            "{{model}} {{route}}")],
          unit="reqps", description="HTTP requests answered per second, by route template.")
    d.add("Rows predicted by class", "timeseries",
          [(f'sum by (model, class) (rate(vigil_predictions_total{{{SEL}}}[$__rate_interval]))',
            "{{model}} {{class}}")],
          unit="short",
          description="Rows predicted per second over /predict and /predict/batch, by predicted class.")
    d.add("Prediction error ratio (5xx)", "timeseries",
          [(f'sum by (model) (rate(vigil_http_requests_total{{{SEL}, {PREDICT}, status=~"5.."}}[$__rate_interval]))'
            f' / sum by (model) (rate(vigil_http_requests_total{{{SEL}, {PREDICT}}}[$__rate_interval]))',
            "{{model}}")],
          unit="percentunit", defaults={"thresholds": thresholds("green", (0.05, "red"))},
          description="Share of prediction requests answered with a 5xx; VigilApiErrorRate fires above 5 % for 5 minutes.")
    d.add("Rejected requests by kind", "timeseries",
          [(f'sum by (model, kind) (rate(vigil_http_request_errors_total{{{SEL}}}[$__rate_interval]))',
            "{{model}} {{kind}}")],
          unit="reqps", description="Requests answered with an error, by error kind (a 4xx names the field).")
    d.add("Prediction latency", "timeseries",
          [(f'histogram_quantile({q}, sum by (model, le) (rate(vigil_http_request_duration_seconds_bucket{{{SEL}, {PREDICT}}}[$__rate_interval])))',
            f"{{{{model}}}} p{label}") for q, label in [(0.5, "50"), (0.9, "90"), (0.99, "99")]],
          unit="s", description="Latency quantiles of /predict and /predict/batch; VigilApiLatencyHigh fires when p99 exceeds 2 s.")
    d.add("Mean prediction confidence", "timeseries",
          [(f'sum by (model) (rate(vigil_prediction_confidence_sum{{{SEL}}}[$__rate_interval]))'
            f' / sum by (model) (rate(vigil_prediction_confidence_count{{{SEL}}}[$__rate_interval]))',
            "{{model}}")],
          unit="percentunit", defaults={"min": 0, "max": 1, "thresholds": thresholds("red", (0.55, "green"))},
          description="Mean probability of the predicted class; VigilLowPredictionConfidence fires below 0.55 for 15 minutes.")
    d.add("Confidence distribution", "heatmap",
          [(f'sum by (le) (increase(vigil_prediction_confidence_bucket{{{SEL}}}[$__rate_interval]))', "{{le}}")],
          options={"calculate": False, "yAxis": {"unit": "percentunit"}},
          description="Predictions by the probability of their predicted class.", targets_format="heatmap")
    d.add("Prediction log", "timeseries",
          [(f'sum by (model, log) (rate(vigil_log_records_written_total{{{SEL}}}[$__rate_interval]))', "{{model}} {{log}} written"),
           (f'sum by (model, log) (rate(vigil_log_records_dropped_total{{{SEL}}}[$__rate_interval]))', "{{model}} {{log}} dropped"),
           (f'sum by (model, log) (rate(vigil_log_flush_errors_total{{{SEL}}}[$__rate_interval]))', "{{model}} {{log}} flush errors")],
          unit="short", description="Records written to the store, dropped, and failed batch writes, per second.")
    d.add("Log buffer", "timeseries",
          [(f'sum by (model, log) (vigil_log_buffer_records{{{SEL}}})', "{{model}} {{log}}")],
          unit="short", description="Records accepted but not yet written to the store.")
    d.add("Pods with a model loaded", "stat",
          [(f'sum by (model) (vigil_model_loaded{{{SEL}}})', "{{model}}")],
          defaults={"thresholds": thresholds("red", (1, "green"))},
          description="Inference Pods holding a model; 0 means VigilNoModelServed.")


def drift(d):
    d.row("Drift")
    d.add("Drift verdict per model", "state-timeline",
          [(f'max by (model, policy) (vigil_drift_verdict{{{SEL}}})', "{{model}} ({{policy}})")],
          w=12, defaults={"mappings": verdict_mappings(), "color": {"mode": "thresholds"},
                          "thresholds": thresholds("green", (1, "orange"), (2, "red"))},
          description="Overall verdict of each check: statistical drift raised by quality failures.")
    d.add("Feature and prediction drift", "state-timeline",
          [(f'max by (model) (vigil_drift_feature_verdict{{{SEL}}})', "{{model}} features"),
           (f'max by (model) (vigil_drift_prediction_verdict{{{SEL}}})', "{{model}} predictions")],
          w=12, defaults={"mappings": verdict_mappings(), "color": {"mode": "thresholds"},
                          "thresholds": thresholds("green", (1, "orange"), (2, "red"))},
          description="Worst feature verdict and the prediction-distribution verdict of the last check.")
    d.add("PSI of the most drifted features", "bargauge",
          [(f'max by (model, feature) (vigil_drift_feature_psi{{{SEL}}})', "{{model}} {{feature}}")],
          w=12, defaults={"thresholds": thresholds("green", (0.1, "orange"), (0.2, "red"))},
          options={"displayMode": "gradient", "orientation": "horizontal",
                   "reduceOptions": {"calcs": ["lastNotNull"], "values": False}},
          description="PSI of up to 5 worst features of each model's last check (0.1 warning, 0.2 critical by default).")
    d.add("Drifted features", "timeseries",
          [(f'max by (model, policy) (vigil_drift_drifted_features{{{SEL}}})', "{{model}} ({{policy}})")],
          w=6, unit="short", description="Features that drifted in the last check.")
    d.add("Last drift check age", "stat",
          [(f'time() - max by (model, policy) (vigil_drift_last_check_timestamp_seconds{{{SEL}}})', "{{model}} ({{policy}})")],
          w=6, unit="s", defaults={"thresholds": thresholds("green", (43200, "red"))},
          description="Time since the last successful check; VigilDriftCheckStale fires past twice the schedule (at least 12 h).")
    d.add("Check interval", "stat",
          [(f'max by (model, policy) (vigil_drift_check_interval_seconds{{{SEL}}})', "{{model}} ({{policy}})")],
          w=6, unit="s", description="Longest gap between two runs of each DriftPolicy's schedule.")


def performance(d):
    d.row("Model performance")
    d.add("Estimated and realized performance", "timeseries",
          [(f'max by (model, metric) (vigil_estimated_performance{{{SEL}}})', "{{model}} {{metric}} estimated"),
           (f'max by (model, metric) (vigil_estimated_performance_lower{{{SEL}}})', "{{model}} {{metric}} band low"),
           (f'max by (model, metric) (vigil_estimated_performance_upper{{{SEL}}})', "{{model}} {{metric}} band high"),
           (f'max by (model, metric) (vigil_realized_performance{{{SEL}}})', "{{model}} {{metric}} realized")],
          w=12, defaults={"custom": {"lineInterpolation": "stepAfter"}},
          options={"legend": {"displayMode": "table", "placement": "right", "calcs": ["lastNotNull"]}},
          description="Each check's CBPE estimate of the policy's metrics (from the scores alone), the alert band "
                      "its hold-out sets (mean ± 3 sd of the chunks, or performance.thresholds), and the value realized "
                      "from /feedback labels once enough arrived. VigilEstimatedPerformanceDrop fires when an estimate "
                      "leaves its band, VigilConceptDrift when the realized value departs from the estimate for two checks.")
    d.add("Estimate outside its band, concept drift", "state-timeline",
          [(f'max by (model, metric) (vigil_estimated_performance_alert{{{SEL}}})', "{{model}} {{metric}} estimate"),
           (f'max by (model) (vigil_concept_drift{{{SEL}}})', "{{model}} concept drift")],
          w=6, defaults={"mappings": [{"type": "value", "options": {"0": {"text": "ok", "color": "green", "index": 0},
                                                                     "1": {"text": "alert", "color": "red", "index": 1}}}],
                         "color": {"mode": "thresholds"}, "thresholds": thresholds("green", (1, "red"))},
          description="Whether the last check's estimate of each metric was outside its alert band, and whether "
                      "realized and estimated values parted in the last two checks (concept drift).")
    d.add("Label coverage", "timeseries",
          [(f'max by (model, policy) (vigil_label_coverage{{{SEL}}})', "{{model}} ({{policy}})")],
          w=6, unit="percentunit", defaults={"min": 0, "max": 1, "custom": {"lineInterpolation": "stepAfter"}},
          description="Share of each check's predictions that had a /feedback label joined when it ran; "
                      "VigilLabelsStopped fires after a day at 0 when labels arrived in the week before.")


def quality(d):
    d.row("Data quality")
    d.add("Hard quality checks", "stat",
          [(f'min by (model, policy) (vigil_quality_passed{{{SEL}}})', "{{model}} ({{policy}})")],
          w=6, defaults={"mappings": [{"type": "value", "options": {"0": {"text": "failed", "color": "red", "index": 0},
                                                                     "1": {"text": "passed", "color": "green", "index": 1}}}],
                         "thresholds": thresholds("red", (1, "green"))},
          description="Whether the last check's hard quality checks (parse errors, staleness) passed.")
    d.add("Missing rate by feature", "timeseries",
          [(f'sum by (namespace, model, feature) (rate(vigil_feature_missing_total{{{SEL}}}[$__rate_interval]))'
            f' / on (namespace, model) group_left () sum by (namespace, model) (rate(vigil_prediction_rows_total{{{SEL}}}[$__rate_interval]))',
            "{{model}} {{feature}}")],
          w=9, unit="percentunit", defaults={"thresholds": thresholds("green", (0.15, "red"))},
          description="Share of predicted rows with the feature missing (imputed); VigilFeatureMissingRateHigh fires above 15 %.")
    d.add("Out-of-range values by feature", "timeseries",
          [(f'sum by (model, feature) (rate(vigil_feature_out_of_range_total{{{SEL}}}[$__rate_interval]))', "{{model}} {{feature}}")],
          w=9, unit="short", description="Values outside the schema's min/max per second.")
    d.add("Unseen categories by feature", "timeseries",
          [(f'sum by (model, feature) (rate(vigil_feature_unseen_category_total{{{SEL}}}[$__rate_interval]))', "{{model}} {{feature}}")],
          w=8, unit="short", description="Categories training never saw, per second.")
    d.add("Problems in rejected requests", "timeseries",
          [(f'sum by (model, kind) (rate(vigil_request_problems_total{{{SEL}}}[$__rate_interval]))', "{{model}} {{kind}}")],
          w=8, unit="short", description="Problems found in rejected prediction requests, by kind.")
    d.add("Last quality check with data", "stat",
          [(f'time() - max by (model, policy) (vigil_quality_last_check_timestamp_seconds{{{SEL}}})', "{{model}} ({{policy}})")],
          w=8, unit="s", defaults={"thresholds": thresholds("green", (43200, "red"))},
          description="Time since a check last found prediction rows to check.")


def lifecycle(d):
    d.row("Model lifecycle")
    d.add("Serving version", "table",
          [(f'max by (namespace, model, version) (vigil_model_serving_info{{{SEL}}})', "")],
          w=8, options={"showHeader": True},
          transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True}}}],
          description="The version each MonitoredModel serves (status.servingVersion).")
    d.add("Versions loaded by the Pods", "timeseries",
          [(f'count by (model, version) (vigil_model_info{{{SEL}}})', "{{model}} {{version}}")],
          w=8, unit="short", description="Inference Pods per loaded version: two versions at once during a rollout.")
    d.add("Conditions", "table",
          [(f'max by (model, type, reason) (vigil_model_condition{{{SEL}}})', "")],
          w=8, defaults={"mappings": [{"type": "value", "options": {"0": {"text": "False", "index": 0},
                                                                     "1": {"text": "True", "index": 1}}}]},
          transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True}}}],
          description="Each MonitoredModel's status conditions (Value 1 True, 0 False) and their reasons.")
    d.add("Promotions and rollbacks", "timeseries",
          [(f'sum by (model, reason) (increase(vigil_model_events_total{{{SEL}, reason=~"ModelPromoted|PromotionRejected|RolledBack|Pinned|Unpinned"}}[$__rate_interval]))',
            "{{model}} {{reason}}")],
          w=8, unit="short", defaults={"custom": {"drawStyle": "bars"}},
          description="Promotion decisions and served-version changes, from the operator's Events.")
    d.add("Trainings", "timeseries",
          [(f'sum by (model, reason) (increase(vigil_model_events_total{{{SEL}, reason=~"TrainingStarted|TrainingSucceeded|TrainingFailed|RetrainTriggered"}}[$__rate_interval]))',
            "{{model}} {{reason}}")],
          w=8, unit="short", defaults={"custom": {"drawStyle": "bars"}},
          description="Training Jobs started, succeeded and failed, and retrains triggered by drift.")
    d.add("Model reloads", "timeseries",
          [(f'sum by (model, result) (increase(vigil_model_reloads_total{{{SEL}}}[$__rate_interval]))', "{{model}} {{result}}")],
          w=8, unit="short", defaults={"custom": {"drawStyle": "bars"}},
          description="Model loads and reloads in the inference Pods, by result.")


def operator(d):
    d.row("Operator")
    d.add("Reconciles", "timeseries",
          [('sum by (controller) (rate(vigil_operator_reconciles_total[$__rate_interval]))', "{{controller}}")],
          unit="ops", description="Reconciles started per second, by controller.")
    d.add("Reconcile failures", "timeseries",
          [('sum by (controller, reason) (rate(vigil_operator_reconcile_failures_total[$__rate_interval]))', "{{controller}} {{reason}}")],
          unit="ops", description="Failed reconciles per second, by reason; VigilReconcileFailures fires after 15 minutes.")
    d.add("Reconcile duration p99", "timeseries",
          [('histogram_quantile(0.99, sum by (controller, le) (rate(vigil_operator_reconcile_duration_seconds_bucket[$__rate_interval])))', "{{controller}}")],
          unit="s", description="99th percentile of reconcile time, by controller.")


def variable(name, label, query):
    return {
        "name": name, "label": label, "type": "query", "datasource": DATASOURCE,
        "query": {"query": query, "refId": f"{name}-var"}, "definition": query,
        "refresh": 2, "multi": True, "includeAll": True, "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1, "regex": "", "hide": 0, "options": [],
    }


def dashboard():
    d = Layout()
    for section in (serving, drift, performance, quality, lifecycle, operator):
        section(d)
    # Heatmap targets want the heatmap format, which the generic builder does not know.
    for panel in d.panels:
        fmt = panel.pop("targets_format", None)
        if fmt:
            for target in panel["targets"]:
                target["format"] = fmt
    return {
        "uid": "vigil-models",
        "title": "Vigil — models in production",
        "description": "Serving, drift, performance, data quality and lifecycle of the models Vigil manages.",
        "tags": ["vigil", "mlops", "drift"],
        "editable": True,
        "graphTooltip": 1,
        "refresh": "1m",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-24h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
             "current": {}, "hide": 0, "refresh": 1, "regex": "", "options": []},
            variable("namespace", "Namespace", "label_values(vigil_model_condition, namespace)"),
            variable("model", "Model", 'label_values(vigil_model_condition{namespace=~"$namespace"}, model)'),
        ]},
        "panels": d.panels,
    }


def render():
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


def main():
    text = render()
    if "--check" in sys.argv[1:]:
        if OUT.read_text() != text:
            print(f"{OUT} is stale: run python3 {pathlib.Path(__file__).name}", file=sys.stderr)
            sys.exit(1)
        return
    OUT.write_text(text)


if __name__ == "__main__":
    main()
