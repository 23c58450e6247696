"""Checks of the chart's monitoring: alerts, their promtool tests, the Grafana dashboard and
the rendered prometheus-operator objects; test.sh runs them.

  rules       monitoring/alerts.yaml: the alert contract (names, severities, `for`), the
              annotations every alert needs, runbook anchors that exist in docs/runbooks.md;
              monitoring/alerts_test.yaml fires every alert once and keeps it quiet once, on
              both sides of its `for`
  dashboard   dashboards/vigil.json: current with generate.py, rows, panels, variables;
              --queries FILE writes every panel query as a recording rule for promtool
  manifests   a rendering: PrometheusRule, PodMonitor and ServiceMonitor against the
              prometheus-operator CRD schemas (cloudcoil-models-prometheus-operator, generated
              from prometheus-operator v0.80.1's CRDs; unknown fields rejected as the API
              server's strict validation does), the PrometheusRule is alerts.yaml, the PodMonitor
              selects every model's inference Pods, the dashboard ConfigMap is vigil.json

Each prints one line per check ("  ok    ..." / "  FAIL  ...") and exits 1 if any failed.
Needs PyYAML and jsonschema; `manifests` also needs cloudcoil-models-prometheus-operator.
"""

import argparse
import copy
import json
import os
import pathlib
import re
import subprocess
import sys

import jsonschema
import yaml

sys.dont_write_bytecode = True  # no __pycache__ in the chart
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from check_rendered import FAILED, check  # noqa: E402 (one reporter for both checkers)

CHART = pathlib.Path(__file__).resolve().parent
ROOT = CHART.parent.parent
ALERTS = CHART / "monitoring" / "alerts.yaml"
ALERT_TESTS = CHART / "monitoring" / "alerts_test.yaml"
DASHBOARD = CHART / "dashboards" / "vigil.json"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
# The one place the runbook links point to; the chart replaces it with
# prometheusRule.runbookBaseUrl.
RUNBOOK_BASE = "https://github.com/vigil-dev/vigil/blob/main/docs/runbooks.md"

# The alerts the project promises (issue 11: the reference stack's 11, then the operator's
# own; issue 12: model performance): name -> (severity, for). None: fires at once.
CONTRACT = {
    "VigilFeatureDriftCritical": ("critical", "5m"),
    "VigilFeatureDriftWarning": ("warning", "15m"),
    "VigilPredictionDrift": ("warning", "10m"),
    "VigilDriftCheckStale": ("warning", "10m"),
    "VigilDataQualityHardFailure": ("critical", "5m"),
    "VigilFeatureMissingRateHigh": ("warning", "10m"),
    "VigilQualityCheckStale": ("warning", "10m"),
    "VigilApiErrorRate": ("critical", "5m"),
    "VigilApiLatencyHigh": ("warning", "5m"),
    "VigilLowPredictionConfidence": ("warning", "15m"),
    "VigilNoModelServed": ("critical", "2m"),
    "VigilDriftCheckFailed": ("warning", "5m"),
    "VigilPredictionLogDropping": ("warning", None),
    "VigilPredictionLogFlushErrors": ("warning", "10m"),
    "VigilReconcileFailures": ("warning", "15m"),
    "VigilTrainingFailed": ("warning", None),
    "VigilRolloutDegraded": ("warning", "15m"),
    "VigilEstimatedPerformanceDrop": ("warning", "5m"),
    "VigilConceptDrift": ("warning", "5m"),
    "VigilLabelsStopped": ("warning", "1d"),
}
# Alerts about the operator as a whole: their series name no model.
NO_MODEL = {"VigilReconcileFailures"}

# Inference Pods as the operator labels them (operator/src/build.rs).
INFERENCE_POD_LABELS = {
    "app.kubernetes.io/name": "vigil",
    "app.kubernetes.io/component": "inference",
    "app.kubernetes.io/managed-by": "vigil-operator",
}



def duration_seconds(text):
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(n) * units[u] for n, u in parts)


def alerts():
    """[(group, rule)] of every alerting rule."""
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [(g["name"], r) for g in groups for r in g["rules"] if "alert" in r]


# ---------------------------------------------------------------- rules


def cmd_rules(args):
    rules = alerts()
    names = [r["alert"] for _, r in rules]
    check(len(names) == len(set(names)), "alert names are unique", names)
    check(set(names) == set(CONTRACT), "the alerts are the promised ones",
          f"missing {sorted(set(CONTRACT) - set(names))}, unexpected {sorted(set(names) - set(CONTRACT))}")

    anchors = {heading_anchor(line) for line in RUNBOOKS.read_text().splitlines() if line.startswith("## ")} \
        if RUNBOOKS.exists() else set()
    bad = []
    for _, rule in rules:
        name, labels, notes = rule["alert"], rule.get("labels") or {}, rule.get("annotations") or {}
        severity, wait = CONTRACT.get(name, (None, None))
        if labels.get("severity") != severity:
            bad.append(f"{name}: severity {labels.get('severity')!r}, promised {severity!r}")
        if rule.get("for") != wait:
            bad.append(f"{name}: for {rule.get('for')!r}, promised {wait!r}")
        for key in ("summary", "description", "runbook_url"):
            if not notes.get(key):
                bad.append(f"{name}: no {key}")
        description = notes.get("description", "")
        if "$labels.namespace" not in description:
            bad.append(f"{name}: the description names no namespace")
        if name not in NO_MODEL and "$labels.model" not in description:
            bad.append(f"{name}: the description names no model")
        url = notes.get("runbook_url", "")
        if url != f"{RUNBOOK_BASE}#{name.lower()}":
            bad.append(f"{name}: runbook_url {url!r} is not {RUNBOOK_BASE}#{name.lower()}")
        if name.lower() not in anchors:
            bad.append(f"{name}: docs/runbooks.md has no '## {name}' section")
        grouping = re.findall(r"by \(([^)]*)\)", rule["expr"])
        grouped = {label.strip() for g in grouping for label in g.split(",")}
        if "namespace" not in grouped or (name not in NO_MODEL and "model" not in grouped):
            bad.append(f"{name}: the expression does not keep the namespace and model labels")
    check(not bad, f"{len(rules)} alerts: severity, for, summary, description with namespace and model, runbook",
          "; ".join(bad))
    check_alert_tests(rules, pathlib.Path(args.tests))


def heading_anchor(line):
    """GitHub's anchor of a Markdown heading."""
    text = line.lstrip("#").strip().lower()
    return re.sub(r"[^a-z0-9 _-]", "", text).replace(" ", "-")


def check_alert_tests(rules, tests):
    spec = yaml.safe_load(tests.read_text())
    step = duration_seconds(spec.get("evaluation_interval", "1m"))
    # alert -> group name -> {eval seconds: fired?}
    seen = {}
    for test in spec["tests"]:
        for case in test.get("alert_rule_test") or []:
            at = duration_seconds(case["eval_time"])
            seen.setdefault(case["alertname"], {}).setdefault(test.get("name", "?"), {})[at] = bool(case.get("exp_alerts"))
    missing = []
    for _, rule in rules:
        name = rule["alert"]
        groups = seen.get(name, {})
        cases = [fired for times in groups.values() for fired in times.values()]
        if True not in cases:
            missing.append(f"{name}: never fires")
        if False not in cases:
            missing.append(f"{name}: never stays quiet")
        if rule.get("for"):
            # Quiet one evaluation before firing, in the same group: the `for` is what held it.
            edge = any(fired and times.get(at - step) is False
                       for times in groups.values() for at, fired in times.items())
            if not edge:
                missing.append(f"{name}: no quiet evaluation just before it fires (for {rule['for']})")
    check(not missing, f"alerts_test.yaml fires every alert once and keeps it quiet once ({len(rules)} alerts)",
          "; ".join(missing))


# ---------------------------------------------------------------- dashboard

# Grafana's own variables, as promtool must see them.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def dashboard_queries(board):
    """(panel title, refId, expr) of every panel query."""
    for panel in board["panels"]:
        for target in panel.get("targets") or []:
            yield panel["title"], target["refId"], target["expr"]


def as_promql(expr):
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    # Dashboard variables are regexes; "All" is .*.
    return re.sub(r"\$[a-z_]+", ".*", expr)


def cmd_dashboard(args):
    out = subprocess.run([sys.executable, str(CHART / "dashboards" / "generate.py"), "--check"],
                         capture_output=True, text=True)
    check(out.returncode == 0, "dashboards/vigil.json is what dashboards/generate.py writes", out.stderr.strip())

    board = json.loads(DASHBOARD.read_text())
    panels = board["panels"]
    rows = [p["title"] for p in panels if p["type"] == "row"]
    content = [p for p in panels if p["type"] != "row"]
    check({"Serving", "Drift", "Data quality", "Model lifecycle"} <= set(rows),
          f"rows for serving, drift, data quality and lifecycle ({', '.join(rows)})", rows)
    check(len(rows) >= 4 and len(content) >= 20, f"at least 4 rows and 20 panels ({len(rows)} rows, {len(content)} panels)")
    ids = [p["id"] for p in panels]
    check(len(ids) == len(set(ids)), "panel ids are unique")
    check(all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in panels), "every panel fits the 24-column grid")
    variables = {v["name"]: v for v in board["templating"]["list"]}
    check({"datasource", "namespace", "model"} <= set(variables), "template variables datasource, namespace, model",
          sorted(variables))
    no_query = [p["title"] for p in content if not p.get("targets")]
    check(not no_query, "every panel has a query", no_query)
    fixed_source = [p["title"] for p in content
                    if p["datasource"].get("uid") != "${datasource}"
                    or any(t["datasource"].get("uid") != "${datasource}" for t in p["targets"])]
    check(not fixed_source, "every panel and query uses the datasource variable", fixed_source)
    # Every model-scoped query follows the variables (the operator row is the operator's own).
    row = None
    unscoped = []
    for panel in panels:
        if panel["type"] == "row":
            row = panel["title"]
            continue
        if row != "Operator":
            unscoped += [f"{panel['title']} {t['refId']}" for t in panel["targets"]
                         if "$namespace" not in t["expr"] or "$model" not in t["expr"]]
    check(not unscoped, "every model query filters on $namespace and $model", unscoped)

    if args.queries:
        rules = [{"record": f"vigil_dashboard:panel_{re.sub('[^a-z0-9]+', '_', title.lower()).strip('_')}_{ref}",
                  "expr": as_promql(expr)}
                 for title, ref, expr in dashboard_queries(board)]
        pathlib.Path(args.queries).write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
        print(f"  --    {len(rules)} panel queries written to {args.queries} for promtool")


# ---------------------------------------------------------------- manifests


def strict(schema):
    """A pydantic JSON schema with unknown fields rejected: every object with declared
    properties gets additionalProperties: false, as the API server's strict field validation
    rejects unknown fields of a structural CRD schema."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


def operator_schemas():
    try:
        from cloudcoil.models.prometheus_operator import v1  # noqa: PLC0415 (optional tool)
    except ImportError:
        return None
    return {kind: strict(getattr(v1, kind).model_json_schema(by_alias=True))
            for kind in ("PrometheusRule", "PodMonitor", "ServiceMonitor")}


def cmd_manifests(args):
    docs = [d for d in yaml.safe_load_all(pathlib.Path(args.file).read_text()) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    monitoring = [d for d in docs if d["apiVersion"] == "monitoring.coreos.com/v1"]
    expected = set(args.expect)
    check({d["kind"] for d in monitoring} == expected,
          f"monitoring objects rendered: {sorted(expected) or 'none'}", sorted(d["kind"] for d in monitoring))

    schemas = operator_schemas()
    if schemas is None:
        if os.environ.get("VIGIL_REQUIRE_HELM") == "1":
            check(False, "prometheus-operator CRD schemas", "cloudcoil-models-prometheus-operator is not installed")
        else:
            print("  skip  prometheus-operator CRD schemas: pip install cloudcoil-models-prometheus-operator==0.80.1.0")
    else:
        for d in monitoring:
            errors = sorted(jsonschema.Draft202012Validator(schemas[d["kind"]]).iter_errors(d), key=str)
            check(not errors, f"{d['kind']}/{d['metadata']['name']} validates against prometheus-operator v0.80.1 (strict)",
                  "; ".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5]))

    for rule in by_kind.get("PrometheusRule", []):
        shipped = yaml.safe_load(ALERTS.read_text().replace(RUNBOOK_BASE, args.runbook_base))
        check(rule["spec"] == shipped, "the PrometheusRule holds monitoring/alerts.yaml (runbook links rebased)",
              "spec differs")
    for monitor in by_kind.get("PodMonitor", []):
        spec = monitor["spec"]
        check(spec["selector"].get("matchLabels") == INFERENCE_POD_LABELS,
              "the PodMonitor selects every model's inference Pods by the operator's labels", spec["selector"])
        check(spec.get("namespaceSelector") == args.pod_namespaces,
              f"the PodMonitor looks in {args.pod_namespaces}", spec.get("namespaceSelector"))
        endpoint = spec["podMetricsEndpoints"][0]
        relabel = {r.get("targetLabel"): r.get("sourceLabels") for r in endpoint.get("relabelings") or []}
        check(endpoint.get("port") == "http" and endpoint.get("path") == "/metrics"
              and relabel.get("model") == ["__meta_kubernetes_pod_label_app_kubernetes_io_instance"],
              "the PodMonitor scrapes port http /metrics and labels each series with its model", endpoint)
    for monitor in by_kind.get("ServiceMonitor", []):
        check(all(e.get("honorLabels") is True for e in monitor["spec"]["endpoints"]),
              "the ServiceMonitor honours the operator's namespace and model labels (honorLabels)")
    dashboards = [d for d in by_kind.get("ConfigMap", []) if "vigil.json" in (d.get("data") or {})]
    if args.dashboard_label:
        key, _, value = args.dashboard_label.partition("=")
        check(len(dashboards) == 1 and (dashboards[0]["metadata"].get("labels") or {}).get(key) == value,
              f"one dashboard ConfigMap labelled {key}={value}", [d["metadata"] for d in dashboards])
        check(bool(dashboards) and json.loads(dashboards[0]["data"]["vigil.json"]) == json.loads(DASHBOARD.read_text()),
              "the dashboard ConfigMap holds dashboards/vigil.json")
    else:
        check(not dashboards, "no dashboard ConfigMap", [d["metadata"]["name"] for d in dashboards])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    rules = sub.add_parser("rules")
    rules.add_argument("--tests", default=str(ALERT_TESTS), help="the promtool test file (default: monitoring/alerts_test.yaml)")
    dashboard = sub.add_parser("dashboard")
    dashboard.add_argument("--queries", help="write the panel queries as recording rules here")
    manifests = sub.add_parser("manifests")
    manifests.add_argument("file")
    manifests.add_argument("--expect", nargs="*", default=[], help="monitoring.coreos.com kinds that must render")
    manifests.add_argument("--runbook-base", default=RUNBOOK_BASE)
    manifests.add_argument("--pod-namespaces", type=json.loads, default={"any": True},
                           help="the PodMonitor's namespaceSelector, as JSON")
    manifests.add_argument("--dashboard-label", default="grafana_dashboard=1",
                           help="KEY=VALUE of the dashboard ConfigMap; empty: none must render")
    args = parser.parse_args()
    {"rules": cmd_rules, "dashboard": cmd_dashboard, "manifests": cmd_manifests}[args.command](args)
    if FAILED:
        print(f"  {len(FAILED)} check(s) failed", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
