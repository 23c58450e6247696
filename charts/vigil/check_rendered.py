"""Checks for the vigil chart that Helm itself does not make; test.sh runs them.

  values    values.yaml against values.schema.json (draft-07), and the schema's own hygiene
  manifests what `helm template` rendered: labels, Pod Security "restricted", exact RBAC,
            the operator Deployment's contract (command, env, probes), Service and
            ServiceMonitor wiring, the PodDisruptionBudget and NetworkPolicy of the operator Pods
  samples   config/samples/*.yaml against the CRDs' openAPIV3Schema, unknown fields rejected
            as the API server's strict field validation does
  crds-chart what `helm template` rendered of charts/vigil-crds: the generated CRDs, unchanged,
            as release resources with the chart's labels and (--keep) helm.sh/resource-policy: keep

Each prints one line per check and exits 1 if any failed. Needs PyYAML and jsonschema.
"""

import argparse
import copy
import json
import pathlib
import sys

import jsonschema
import yaml

FAILED = []


def check(ok, what, detail=""):
    if ok:
        print(f"  ok    {what}")
    else:
        print(f"  FAIL  {what}: {detail}")
        FAILED.append(what)


# ---------------------------------------------------------------- values


def schema_nodes(node, path="$"):
    """Every property schema below node, with its path."""
    for name, child in node.get("properties", {}).items():
        yield f"{path}.{name}", child
        yield from schema_nodes(child, f"{path}.{name}")
    items = node.get("items")
    if isinstance(items, dict):
        yield from schema_nodes(items, f"{path}[]")


def cmd_values(args):
    chart = pathlib.Path(args.chart)
    schema = json.loads((chart / "values.schema.json").read_text())
    values = yaml.safe_load((chart / "values.yaml").read_text())

    try:
        jsonschema.Draft7Validator.check_schema(schema)
        check(True, "values.schema.json is a valid draft-07 schema")
    except jsonschema.SchemaError as e:
        check(False, "values.schema.json is a valid draft-07 schema", e.message)

    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(values), key=str)
    check(not errors, "values.yaml validates against values.schema.json",
          "; ".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors))

    check(schema.get("additionalProperties") is False,
          "schema rejects unknown top-level keys (additionalProperties: false)")

    undocumented = [p for p, node in schema_nodes(schema) if not node.get("description")]
    check(not undocumented, "every value in the schema has a description", ", ".join(undocumented))

    # A key in values.yaml that the schema does not list would be caught by the validation
    # above only where additionalProperties is false; every object with named properties
    # must say so, or typos under it pass silently.
    open_objects = [p for p, node in schema_nodes(schema)
                    if "properties" in node and node.get("additionalProperties") is not False]
    check(not open_objects, "every object with named keys rejects unknown keys", ", ".join(open_objects))

    missing = [k for k in schema["properties"] if k != "global" and k not in values]
    check(not missing, "every schema value has a default in values.yaml", ", ".join(missing))

    # Typos the schema must refuse, checked here without Helm too.
    for label, bad in [
        ("a misspelt top-level key", {"replica": 2}),
        ("a misspelt nested key", {"image": {"repository": "x", "tagg": "1"}}),
        ("a string for an integer", {"replicas": "two"}),
        ("an invalid namespace name", {"watchNamespace": "Not_A_Namespace"}),
    ]:
        merged = {**values, **bad}
        check(not jsonschema.Draft7Validator(schema).is_valid(merged),
              f"schema rejects {label}", f"{bad} was accepted")


# ---------------------------------------------------------------- manifests

# Least privilege, as agreed for the operator: (apiGroup, resource) -> verbs.
WORKLOAD_RULES = {
    ("vigil.dev", "monitoredmodels"): {"list", "watch"},
    ("vigil.dev", "driftpolicies"): {"list", "watch"},
    ("vigil.dev", "monitoredmodels/status"): {"patch"},
    ("vigil.dev", "driftpolicies/status"): {"patch"},
    ("apps", "deployments"): {"list", "watch", "create", "patch"},
    ("", "services"): {"list", "watch", "create", "patch"},
    ("policy", "poddisruptionbudgets"): {"list", "watch", "create", "patch", "delete"},
    ("batch", "jobs"): {"list", "watch", "create", "patch"},
    ("batch", "cronjobs"): {"list", "watch", "create", "patch", "delete"},
    ("", "pods"): {"list", "watch"},
    ("events.k8s.io", "events"): {"create", "patch"},
}
LEASE_RULES = {("coordination.k8s.io", "leases"): {"get", "create", "update", "patch"}}

STANDARD_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
)

CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Namespace"}


def pod_specs(obj):
    """(where, pod spec) for every Pod template an object carries."""
    kind, spec = obj["kind"], obj.get("spec") or {}
    if kind == "Pod":
        yield "Pod", spec
    elif kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        yield f"{kind}.spec.template", spec["template"]["spec"]
    elif kind == "CronJob":
        yield "CronJob.spec.jobTemplate", spec["jobTemplate"]["spec"]["template"]["spec"]


def restricted_violations(spec):
    """Where a Pod spec falls short of Pod Security Standard "restricted" (v1.33) and of
    the fields this project pins on top of it (runAsUser 65532, read-only root)."""
    bad = []
    pod_sc = spec.get("securityContext") or {}
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            bad.append(f"{field} is set")
    for volume in spec.get("volumes") or []:
        allowed = {"name", "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                   "persistentVolumeClaim", "projected", "secret"}
        if set(volume) - allowed:
            bad.append(f"volume {volume.get('name')} uses {sorted(set(volume) - allowed)}")
    if pod_sc.get("runAsUser") == 0:
        bad.append("pod runAsUser is 0")
    containers = (spec.get("initContainers") or []) + (spec.get("containers") or [])
    if not containers:
        bad.append("no containers")
    for c in containers:
        sc = c.get("securityContext") or {}
        name = c.get("name")

        def effective(field):
            return sc.get(field, pod_sc.get(field))

        if effective("runAsNonRoot") is not True:
            bad.append(f"{name}: runAsNonRoot is not true")
        if effective("runAsUser") != 65532:
            bad.append(f"{name}: runAsUser is {effective('runAsUser')!r}, not 65532")
        if (effective("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost"):
            bad.append(f"{name}: seccompProfile is not RuntimeDefault")
        if sc.get("allowPrivilegeEscalation") is not False:
            bad.append(f"{name}: allowPrivilegeEscalation is not false")
        if sc.get("privileged"):
            bad.append(f"{name}: privileged")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            bad.append(f"{name}: capabilities do not drop ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            bad.append(f"{name}: adds capabilities {caps.get('add')}")
        if sc.get("readOnlyRootFilesystem") is not True:
            bad.append(f"{name}: readOnlyRootFilesystem is not true")
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                bad.append(f"{name}: hostPort {port['hostPort']}")
    return bad


def rules_of(role):
    """(apiGroup, resource) -> (verbs, resourceNames or None) from a Role or ClusterRole."""
    out = {}
    for rule in role.get("rules") or []:
        for group in rule.get("apiGroups") or []:
            for resource in rule.get("resources") or []:
                verbs, names = out.setdefault((group, resource), (set(), set()))
                verbs.update(rule.get("verbs") or [])
                if rule.get("resourceNames"):
                    names.update(rule["resourceNames"])
    return out


def cmd_manifests(args):
    docs = [d for d in yaml.safe_load_all(pathlib.Path(args.file).read_text()) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    print(f"  {len(docs)} objects: " + ", ".join(f"{k} x{len(v)}" for k, v in sorted(by_kind.items())))

    # ---- labels and namespaces
    expected_labels = {
        "app.kubernetes.io/name": args.chart_name,
        "app.kubernetes.io/instance": args.release,
        "app.kubernetes.io/version": args.app_version,
        "app.kubernetes.io/managed-by": "Helm",
    }
    wrong = []
    for d in docs:
        labels = d["metadata"].get("labels") or {}
        for key in STANDARD_LABELS:
            if labels.get(key) != expected_labels[key]:
                wrong.append(f"{d['kind']}/{d['metadata']['name']} {key}={labels.get(key)!r}")
    check(not wrong, "every object carries app.kubernetes.io/{name,instance,version,managed-by}",
          "; ".join(wrong))

    unplaced = [f"{d['kind']}/{d['metadata']['name']}" for d in docs
                if d["kind"] not in CLUSTER_SCOPED and not d["metadata"].get("namespace")]
    check(not unplaced, "every namespaced object names its namespace (safe for `helm template | kubectl apply`)",
          ", ".join(unplaced))

    # ---- Pod Security Standard "restricted"
    specs = [(f"{d['kind']}/{d['metadata']['name']} {where}", s) for d in docs for where, s in pod_specs(d)]
    check(bool(specs), "there is a Pod spec to check", "none rendered")
    for where, spec in specs:
        bad = restricted_violations(spec)
        check(not bad, f"{where} meets Pod Security 'restricted' (+ uid 65532, read-only root)", "; ".join(bad))

    # ---- the operator Deployment
    deployments = by_kind.get("Deployment", [])
    check(len(deployments) == 1, "exactly one Deployment", f"{len(deployments)}")
    if deployments:
        dep = deployments[0]
        spec = dep["spec"]
        pod = spec["template"]["spec"]
        container = pod["containers"][0]
        image = f"{args.image}:{args.app_version}"
        check(spec["replicas"] == args.replicas, f"replicas is {args.replicas}", spec["replicas"])
        check(container["image"] == image, f"image is {image}", container["image"])
        check(container.get("command") == ["/usr/local/bin/vigil", "operator"],
              "command is /usr/local/bin/vigil operator", container.get("command"))
        env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env") or []}
        expected_env = {
            "VIGIL_OPERATOR_IMAGE": args.child_image or image,
            "VIGIL_WATCH_NAMESPACE": args.watch_namespace,
            "VIGIL_OPERATOR_LISTEN": "0.0.0.0:8080",
            "VIGIL_LEADER_ELECTION": "true" if args.leader_election else "false",
            "VIGIL_LEASE_NAME": args.lease_name,
            "POD_NAME": {"fieldRef": {"fieldPath": "metadata.name"}},
            "POD_NAMESPACE": {"fieldRef": {"fieldPath": "metadata.namespace"}},
            "VIGIL_LOG_FORMAT": "json",
            "RUST_LOG": args.log_level,
        }
        check(env == expected_env, "operator env is exactly the agreed contract",
              f"got {env}, want {expected_env}")
        ports = {p["name"]: p["containerPort"] for p in container.get("ports") or []}
        check(ports == {"http": 8080}, "container port 8080 is named http", ports)
        probes = (
            container.get("livenessProbe", {}).get("httpGet", {}).get("path"),
            container.get("readinessProbe", {}).get("httpGet", {}).get("path"),
        )
        check(probes == ("/healthz", "/readyz"), "liveness GET /healthz, readiness GET /readyz", probes)
        res = container.get("resources") or {}
        check(res.get("requests") == {"cpu": "100m", "memory": "128Mi"}
              and res.get("limits") == {"memory": "256Mi"},
              "default resources: requests 100m/128Mi, limit 256Mi", res)

        selector = spec["selector"]["matchLabels"]
        template_labels = spec["template"]["metadata"]["labels"]
        check(all(template_labels.get(k) == v for k, v in selector.items()),
              "Deployment selector matches its Pod template", f"{selector} vs {template_labels}")
        # A model server the operator creates for a model named like the release.
        child = {"app.kubernetes.io/name": "vigil", "app.kubernetes.io/instance": args.release,
                 "app.kubernetes.io/component": "inference"}
        check(not all(child.get(k) == v for k, v in selector.items()),
              "operator selector cannot match the model servers it creates", selector)

        check(pod.get("imagePullSecrets") == ([{"name": args.pull_secret}] if args.pull_secret else None),
              f"imagePullSecrets: {args.pull_secret or 'none'}", pod.get("imagePullSecrets"))

        sa = pod.get("serviceAccountName")
        check(any(s["metadata"]["name"] == sa for s in by_kind.get("ServiceAccount", [])),
              f"ServiceAccount {sa} is rendered", "missing")

        # ---- Service and ServiceMonitor wiring
        services = by_kind.get("Service", [])
        check(len(services) == 1, "exactly one Service", len(services))
        if services:
            svc = services[0]
            check(all(template_labels.get(k) == v for k, v in svc["spec"]["selector"].items()),
                  "Service selects the operator Pods", svc["spec"]["selector"])
            check([(p["name"], p["targetPort"]) for p in svc["spec"]["ports"]] == [("http", "http")],
                  "Service port http targets the container port http", svc["spec"]["ports"])
            monitors = by_kind.get("ServiceMonitor", [])
            check(len(monitors) == (1 if args.service_monitor else 0),
                  f"ServiceMonitor rendered only when enabled (expected {int(args.service_monitor)})",
                  len(monitors))
            for mon in monitors:
                check(mon["apiVersion"] == "monitoring.coreos.com/v1", "ServiceMonitor apiVersion", mon["apiVersion"])
                sel = mon["spec"]["selector"]["matchLabels"]
                check(all(svc["metadata"]["labels"].get(k) == v for k, v in sel.items()),
                      "ServiceMonitor selects the Service", sel)
                endpoints = [(e.get("port"), e.get("path")) for e in mon["spec"]["endpoints"]]
                check(endpoints == [("http", "/metrics")], "ServiceMonitor scrapes http /metrics", endpoints)
                check(mon["spec"].get("namespaceSelector", {}).get("matchNames") == [args.namespace],
                      "ServiceMonitor looks in the release namespace", mon["spec"].get("namespaceSelector"))

        # ---- disruption budget and network policy of the operator Pods
        pdbs = by_kind.get("PodDisruptionBudget", [])
        check(len(pdbs) == (1 if args.replicas > 1 else 0),
              f"a PodDisruptionBudget exactly when replicas > 1 ({args.replicas})", len(pdbs))
        for pdb in pdbs:
            check(pdb["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
                  "the PodDisruptionBudget lets one operator Pod go at a time", pdb["spec"])
        policies = by_kind.get("NetworkPolicy", [])
        check(len(policies) == (1 if args.network_policy else 0),
              f"a NetworkPolicy only when enabled (expected {int(args.network_policy)})", len(policies))
        for policy in policies:
            np = policy["spec"]
            check(np["podSelector"] == {"matchLabels": selector} and set(np["policyTypes"]) == {"Ingress", "Egress"},
                  "the NetworkPolicy covers the operator Pods, in and out", np["podSelector"])
            check([[p.get("port") for p in rule["ports"]] for rule in np["ingress"]] == [["http"]],
                  "the NetworkPolicy lets in only /metrics (port http)", np["ingress"])
            egress_ports = {p.get("port") for rule in np["egress"] for p in rule.get("ports") or []}
            check({53, 443, 6443} <= egress_ports,
                  "the NetworkPolicy lets out DNS and the API server (443, 6443)", sorted(egress_ports, key=str))

    # ---- RBAC: exactly the agreed rules, each in the agreed scope
    roles = {(r["kind"], r["metadata"].get("namespace"), r["metadata"]["name"]): r
             for r in by_kind.get("Role", []) + by_kind.get("ClusterRole", [])}
    granted = {}  # scope -> {(group, resource): (verbs, names)}
    problems = []
    sa_name = deployments[0]["spec"]["template"]["spec"].get("serviceAccountName") if deployments else None
    for b in by_kind.get("RoleBinding", []) + by_kind.get("ClusterRoleBinding", []):
        ns = b["metadata"].get("namespace")
        ref = b["roleRef"]
        role = roles.get((ref["kind"], ns if ref["kind"] == "Role" else None, ref["name"]))
        if role is None:
            problems.append(f"{b['kind']}/{b['metadata']['name']} refers to {ref['kind']}/{ref['name']}, not rendered")
            continue
        subjects = [(s["kind"], s["name"], s.get("namespace")) for s in b.get("subjects") or []]
        if subjects != [("ServiceAccount", sa_name, args.namespace)]:
            problems.append(f"{b['kind']}/{b['metadata']['name']} binds {subjects}")
        scope = "cluster" if b["kind"] == "ClusterRoleBinding" else f"namespace {ns}"
        for key, (verbs, names) in rules_of(role).items():
            have_verbs, have_names = granted.setdefault(scope, {}).setdefault(key, (set(), set()))
            have_verbs.update(verbs)
            have_names.update(names)
    check(not problems, "every binding refers to a rendered role and binds only the operator's ServiceAccount",
          "; ".join(problems))

    wildcards = [f"{r['kind']}/{r['metadata']['name']}" for r in roles.values()
                 for rule in r.get("rules") or []
                 if "*" in (rule.get("verbs") or []) + (rule.get("resources") or []) + (rule.get("apiGroups") or [])]
    check(not wildcards, "no wildcard in any rule", ", ".join(wildcards))

    workload_scope = f"namespace {args.watch_namespace}" if args.watch_namespace else "cluster"
    expected = {workload_scope: dict(WORKLOAD_RULES)}
    if args.leader_election:
        expected.setdefault(f"namespace {args.namespace}", {}).update(LEASE_RULES)
    actual = {scope: {k: v for k, (v, _) in rules.items()} for scope, rules in granted.items()}
    check(actual == expected, "RBAC grants exactly the agreed rules in the agreed scopes",
          f"\n      got  {actual}\n      want {expected}")
    if args.watch_namespace:
        check("ClusterRole" not in by_kind and "ClusterRoleBinding" not in by_kind,
              "with watchNamespace there is no cluster-wide role", sorted(by_kind))
    if args.leader_election:
        verbs, names = granted.get(f"namespace {args.namespace}", {}).get(("coordination.k8s.io", "leases"), (set(), set()))
        limited = [r for r in roles.values() for rule in r.get("rules") or []
                   if "leases" in (rule.get("resources") or [])
                   and set(rule.get("verbs") or []) - {"create"}
                   and rule.get("resourceNames") != [args.lease_name]]
        check(not limited, f"Lease get/update/patch limited to {args.lease_name}", limited)


# ---------------------------------------------------------------- samples


def strict_openapi(node):
    """A CRD's structural schema as draft-07 JSON Schema: OpenAPI `nullable` becomes a null
    type, OpenAPI 3.0's boolean `exclusiveMinimum`/`exclusiveMaximum` (beside `minimum`/
    `maximum`) become draft-07's numeric bounds, and objects with declared properties
    reject unknown fields (the API server's strict field validation) unless they preserve
    unknown fields."""
    node = copy.deepcopy(node)

    def walk(n):
        if not isinstance(n, dict):
            return
        if n.pop("nullable", False) and "type" in n:
            n["type"] = [n["type"], "null"]
        for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            if n.get(exclusive) is True:
                n[exclusive] = n.pop(bound)
            elif n.get(exclusive) is False:
                del n[exclusive]
        if n.get("x-kubernetes-int-or-string"):
            n.pop("type", None)
            n["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        if ("properties" in n and "additionalProperties" not in n
                and not n.get("x-kubernetes-preserve-unknown-fields")):
            n["additionalProperties"] = False
        for value in n.get("properties", {}).values():
            walk(value)
        for key in ("items", "additionalProperties"):
            walk(n.get(key))
        for key in ("anyOf", "allOf", "oneOf"):
            for value in n.get(key, []):
                walk(value)

    walk(node)
    return node


def cmd_samples(args):
    crds = [d for d in yaml.safe_load_all(pathlib.Path(args.crds).read_text()) if d]
    schemas = {}
    for crd in crds:
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schemas[(f"{group}/{version['name']}", kind)] = strict_openapi(version["schema"]["openAPIV3Schema"])
    print(f"  CRD schemas: {', '.join(f'{k} {a}' for a, k in sorted(schemas))}")
    checked = 0
    for path in sorted(pathlib.Path(args.samples).glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            key = (doc.get("apiVersion"), doc.get("kind"))
            name = f"{path.name}: {key[1]}/{doc.get('metadata', {}).get('name')}"
            if key not in schemas:
                print(f"  skip  {name}: no CRD for {key[0]} {key[1]} in {args.crds} yet")
                continue
            body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
            errors = sorted(jsonschema.Draft7Validator(schemas[key]).iter_errors(body), key=str)
            check(not errors, f"{name} validates against its CRD schema (unknown fields rejected)",
                  "; ".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors))
            checked += 1
    check(checked > 0, "at least one sample was checked against a CRD", "none")


def cmd_crds_chart(args):
    rendered = [d for d in yaml.safe_load_all(pathlib.Path(args.file).read_text()) if d]
    generated = {d["metadata"]["name"]: d for d in yaml.safe_load_all(pathlib.Path(args.crds).read_text()) if d}
    names = sorted(d["metadata"]["name"] for d in rendered)
    check(names == sorted(generated) and all(d["kind"] == "CustomResourceDefinition" for d in rendered),
          f"renders exactly the generated CRDs ({', '.join(sorted(generated))})", names)
    for crd in rendered:
        name = crd["metadata"]["name"]
        want = generated.get(name, {})
        check(crd.get("spec") == want.get("spec"), f"{name}: spec is the generated one, unchanged", "differs")
        labels = crd["metadata"].get("labels") or {}
        check(labels.get("app.kubernetes.io/managed-by") == "Helm" and labels.get("app.kubernetes.io/component") == "crds",
              f"{name}: labelled as a Helm release resource", labels)
        policy = (crd["metadata"].get("annotations") or {}).get("helm.sh/resource-policy")
        check(policy == ("keep" if args.keep else None),
              f"{name}: helm.sh/resource-policy is {'keep' if args.keep else 'unset'}", policy)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    values = sub.add_parser("values")
    values.add_argument("chart")

    manifests = sub.add_parser("manifests")
    manifests.add_argument("file")
    manifests.add_argument("--release", required=True)
    manifests.add_argument("--namespace", required=True)
    manifests.add_argument("--chart-name", default="vigil")
    manifests.add_argument("--app-version", required=True)
    manifests.add_argument("--image", default="vigil")
    manifests.add_argument("--child-image", default="")
    manifests.add_argument("--replicas", type=int, default=1)
    manifests.add_argument("--watch-namespace", default="")
    manifests.add_argument("--no-leader-election", dest="leader_election", action="store_false")
    manifests.add_argument("--lease-name", default="vigil-operator")
    manifests.add_argument("--log-level", default="info")
    manifests.add_argument("--service-monitor", action="store_true")
    manifests.add_argument("--network-policy", action="store_true")
    manifests.add_argument("--pull-secret", default="")

    samples = sub.add_parser("samples")
    samples.add_argument("crds")
    samples.add_argument("samples")

    crds_chart = sub.add_parser("crds-chart")
    crds_chart.add_argument("file")
    crds_chart.add_argument("crds")
    crds_chart.add_argument("--keep", action="store_true")

    args = parser.parse_args()
    {"values": cmd_values, "manifests": cmd_manifests, "samples": cmd_samples,
     "crds-chart": cmd_crds_chart}[args.command](args)
    if FAILED:
        print(f"  {len(FAILED)} check(s) failed", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
