//! `crds/` (and the chart's copy) hold exactly what the code generates, the CEL
//! rules accept the samples and reject what they are for, and every sample parses.

#![allow(clippy::panic)]

use std::path::Path;

use serde::Deserialize;
use serde_json::json;
use vigil_operator::crd::{DriftPolicy, MonitoredModel};

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn crds_directory_and_chart_are_up_to_date() {
    let generated = vigil_operator::crdgen::all_crds_yaml().expect("render");
    for file in [
        "crds/vigil.dev.yaml",
        "charts/vigil/crds/vigil.dev.yaml",
        "charts/vigil-crds/files/vigil.dev.yaml",
    ] {
        let path = repo().join(file);
        if std::env::var("VIGIL_UPDATE_CRDS").is_ok() {
            std::fs::write(&path, &generated).expect("write crds");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{file} is stale: run `VIGIL_UPDATE_CRDS=1 cargo test -p vigil-operator --test crds`"
        );
    }
}

/// Every resource in config/samples/, typed.
fn samples() -> (Vec<MonitoredModel>, Vec<DriftPolicy>) {
    let (mut models, mut policies) = (Vec::new(), Vec::new());
    for entry in std::fs::read_dir(repo().join("config/samples")).expect("samples") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        for document in serde_yaml::Deserializer::from_str(&text) {
            let value = serde_yaml::Value::deserialize(document).expect("yaml");
            let where_ = path.display();
            match value.get("kind").and_then(|k| k.as_str()) {
                Some("MonitoredModel") => models.push(
                    serde_yaml::from_value(value).unwrap_or_else(|e| panic!("{where_}: {e}")),
                ),
                Some("DriftPolicy") => policies.push(
                    serde_yaml::from_value(value).unwrap_or_else(|e| panic!("{where_}: {e}")),
                ),
                other => panic!("{}: unexpected kind {other:?}", path.display()),
            }
        }
    }
    (models, policies)
}

#[test]
fn every_sample_is_valid() {
    let (models, policies) = samples();
    assert!(
        models.len() >= 2 && !policies.is_empty(),
        "{} models, {} policies",
        models.len(),
        policies.len()
    );
    for model in &models {
        vigil_operator::controller::monitored_model::validate(model)
            .unwrap_or_else(|e| panic!("{}: {e}", model.metadata.name.as_deref().unwrap_or("?")));
        kube::core::cel::validate_cel(model).unwrap_or_else(|e| panic!("CEL: {e:?}"));
    }
    for policy in &policies {
        let model = models
            .iter()
            .find(|m| m.metadata.name.as_deref() == Some(policy.spec.model_ref.name.as_str()));
        assert!(model.is_some(), "the sample policy's model is a sample too");
        vigil_operator::controller::drift_policy::validate(policy, model)
            .unwrap_or_else(|e| panic!("{e}"));
        kube::core::cel::validate_cel(policy).unwrap_or_else(|e| panic!("CEL: {e:?}"));
    }
}

#[test]
fn cel_rules_reject_what_they_are_for() {
    let (models, policies) = samples();
    let model = models
        .iter()
        .find(|m| m.spec.serving.min_available.is_some())
        .expect("a model with a PDB");
    let mut too_many = model.clone();
    too_many.spec.serving.min_available = Some(too_many.spec.serving.replicas + 1);
    let errors = format!(
        "{:?}",
        kube::core::cel::validate_cel(&too_many).expect_err("minAvailable > replicas")
    );
    assert!(errors.contains("minAvailable must not exceed"), "{errors}");

    let policy = &policies[0];
    let mut inverted = policy.clone();
    inverted.spec.rules.tests.psi.warning = 0.3;
    let errors = format!(
        "{:?}",
        kube::core::cel::validate_cel(&inverted).expect_err("warning > critical")
    );
    assert!(errors.contains("psi.warning must not exceed"), "{errors}");

    let mut both: DriftPolicy = serde_json::from_value(serde_json::json!({
        "apiVersion": "vigil.dev/v1alpha1", "kind": "DriftPolicy",
        "metadata": {"name": "p", "namespace": "ml"},
        "spec": {"modelRef": {"name": "m"}, "actions": {"notify": [{
            "webhook": {"urlSecretRef": {"name": "s", "key": "url"}},
            "pagerDuty": {"routingKeySecretRef": {"name": "pd", "key": "routingKey"}}
        }]}}
    }))
    .expect("policy");
    let errors = format!(
        "{:?}",
        kube::core::cel::validate_cel(&both).expect_err("webhook and pagerDuty")
    );
    assert!(
        errors.contains("exactly one of webhook and pagerDuty"),
        "{errors}"
    );
    both.spec.rules.actions.notify[0].webhook = None;
    kube::core::cel::validate_cel(&both).expect("pagerDuty alone passes");

    let mut empty = policy.clone();
    empty.spec.rules.window = vigil_core::span::Span::from_secs(0);
    let errors = format!(
        "{:?}",
        kube::core::cel::validate_cel(&empty).expect_err("window 0s")
    );
    assert!(
        errors.contains("spec.window must be longer than 0s"),
        "{errors}"
    );

    let mut moved = policy.clone();
    moved.spec.model_ref.name = "another".into();
    let errors = format!(
        "{:?}",
        kube::core::cel::validate_cel_update(&moved, policy).expect_err("immutable")
    );
    assert!(errors.contains("modelRef.name is immutable"), "{errors}");
    kube::core::cel::validate_cel_update(policy, policy).expect("an unchanged policy passes");

    let mut insufficient: serde_json::Value = serde_json::to_value(policy).expect("json");
    insufficient["spec"]["actions"]["retrain"]["minVerdict"] = json!("InsufficientData");
    let insufficient: DriftPolicy = serde_json::from_value(insufficient).expect("typed");
    let errors = format!(
        "{:?}",
        kube::core::cel::validate_cel(&insufficient).expect_err("retrain.minVerdict")
    );
    assert!(
        errors.contains("retrain.minVerdict must be Warning or Critical"),
        "{errors}"
    );
}

/// The openAPIV3Schema of both CRDs, by kind.
fn schemas() -> Vec<(&'static str, serde_json::Value)> {
    use kube::CustomResourceExt;
    [
        ("MonitoredModel", MonitoredModel::crd()),
        ("DriftPolicy", DriftPolicy::crd()),
    ]
    .into_iter()
    .map(|(kind, crd)| {
        let schema = crd.spec.versions[0]
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .expect("a schema");
        (kind, serde_json::to_value(schema).expect("json"))
    })
    .collect()
}

/// Every schema node with its path: `spec.training.holdout.fraction`, `[]` for the
/// items of a list, `{}` for the values of a map.
fn nodes(schema: &serde_json::Value, path: &str, out: &mut Vec<(String, serde_json::Value)>) {
    out.push((path.to_string(), schema.clone()));
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    if let Some(properties) = schema["properties"].as_object() {
        for (key, child) in properties {
            nodes(child, &join(key), out);
        }
    }
    if schema["items"].is_object() {
        nodes(&schema["items"], &format!("{path}[]"), out);
    }
    if schema["additionalProperties"].is_object() {
        nodes(&schema["additionalProperties"], &join("{}"), out);
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for child in schema[key].as_array().into_iter().flatten() {
            nodes(child, path, out);
        }
    }
}

fn node(kind: &str, path: &str) -> serde_json::Value {
    let (_, schema) = schemas()
        .into_iter()
        .find(|(k, _)| *k == kind)
        .expect("kind");
    let mut all = Vec::new();
    nodes(&schema, "", &mut all);
    all.into_iter()
        .find(|(p, _)| p == path)
        .unwrap_or_else(|| panic!("{kind} has no {path}"))
        .1
}

/// Embedded Kubernetes types keep the schema Kubernetes gives them.
fn kubernetes_owned(path: &str) -> bool {
    path.starts_with("spec.pods.") || path.contains("conditions[]")
}

#[test]
fn integers_are_int32_or_int64_with_a_minimum() {
    let generated = vigil_operator::crdgen::all_crds_yaml().expect("render");
    assert!(
        !generated.contains("format: uint"),
        "an unsigned format is left"
    );
    let mut checked = Vec::new();
    for (kind, schema) in schemas() {
        let mut all = Vec::new();
        nodes(&schema, "", &mut all);
        for (path, node) in all {
            let format = node["format"].as_str().unwrap_or_default();
            assert!(
                !format.starts_with("uint"),
                "{kind} {path}: format {format}"
            );
            if node["type"] != "integer" {
                continue;
            }
            assert!(
                ["int32", "int64"].contains(&format),
                "{kind} {path}: integer with format `{format}`"
            );
            if !kubernetes_owned(&path) {
                assert!(
                    node["minimum"].is_number(),
                    "{kind} {path}: integer without a minimum"
                );
                checked.push(format!("{kind} {path}"));
            }
        }
    }
    // Every integer field Vigil defines, so that the check cannot pass on an empty walk.
    assert!(checked.len() >= 17, "{checked:#?}");
    for (kind, path, minimum) in [
        (
            "MonitoredModel",
            "spec.training.hyperparameters.maxDepth",
            1.0,
        ),
        (
            "MonitoredModel",
            "spec.training.hyperparameters.minSamplesSplit",
            2.0,
        ),
        ("MonitoredModel", "spec.training.referenceRows", 1.0),
        ("MonitoredModel", "spec.training.holdout.seed", 0.0),
        ("DriftPolicy", "spec.minSamples", 1.0),
        ("DriftPolicy", "spec.tests.psi.bins", 2.0),
        ("DriftPolicy", "spec.tests.performance.minLabels", 1.0),
    ] {
        let node = node(kind, path);
        assert_eq!(node["minimum"], minimum, "{kind} {path}");
        assert_eq!(node["format"], "int64", "{kind} {path}");
    }
}

#[test]
fn lists_are_maps_and_sets_where_items_have_identity() {
    let list = |kind: &str, path: &str| {
        let node = node(kind, path);
        (
            node["x-kubernetes-list-type"].clone(),
            node["x-kubernetes-list-map-keys"].clone(),
        )
    };
    let map_by = |key: &str| (json!("map"), json!([key]));
    assert_eq!(
        list("MonitoredModel", "spec.schema.features"),
        map_by("name")
    );
    assert_eq!(list("MonitoredModel", "spec.pods.env"), map_by("name"));
    assert_eq!(list("MonitoredModel", "status.conditions"), map_by("type"));
    assert_eq!(list("DriftPolicy", "status.conditions"), map_by("type"));
    for (kind, path) in [
        ("MonitoredModel", "spec.schema.target.classes"),
        ("MonitoredModel", "spec.schema.features[].allowedValues"),
        ("DriftPolicy", "spec.features.include"),
        ("DriftPolicy", "spec.features.exclude"),
    ] {
        assert_eq!(
            list(kind, path),
            (json!("set"), json!(null)),
            "{kind} {path}"
        );
    }
}

#[test]
fn names_are_enums_and_fractions_are_bounded() {
    let names = |kind: &str, path: &str| node(kind, path)["enum"].clone();
    let metrics: Vec<&str> = vigil_core::train::evaluation::MetricName::ALL
        .iter()
        .map(|m| m.as_str())
        .collect();
    assert_eq!(
        names("MonitoredModel", "spec.promotion.gates.minMetric.name"),
        json!(metrics)
    );
    assert_eq!(
        names("MonitoredModel", "status.latestCandidate.gates[].gate"),
        json!(["minMetric", "maxRegression", "validation"])
    );
    assert_eq!(
        names("DriftPolicy", "spec.tests.correction"),
        json!(["none", "bonferroni", "benjamini-hochberg"])
    );
    let performance: Vec<&str> = vigil_core::performance::Metric::ESTIMATED
        .iter()
        .chain([&vigil_core::performance::Metric::LogLoss])
        .map(|m| m.as_str())
        .collect();
    for (kind, path) in [
        ("DriftPolicy", "spec.performance.metrics[]"),
        (
            "DriftPolicy",
            "status.lastCheck.modelPerformance.estimated[].metric",
        ),
        (
            "DriftPolicy",
            "status.history[].modelPerformance.realized[].metric",
        ),
        ("MonitoredModel", "status.drift.modelPerformance.metric"),
    ] {
        assert_eq!(names(kind, path), json!(performance), "{kind} {path}");
    }
    let fraction = node("MonitoredModel", "spec.training.holdout.fraction");
    assert_eq!(
        [
            &fraction["minimum"],
            &fraction["exclusiveMinimum"],
            &fraction["maximum"],
            &fraction["exclusiveMaximum"]
        ],
        [&json!(0.0), &json!(true), &json!(1.0), &json!(true)]
    );
}

#[test]
fn quantities_are_int_or_string_with_the_grammar() {
    for path in [
        "spec.serving.resources.requests.{}",
        "spec.serving.resources.limits.{}",
        "spec.training.resources.requests.{}",
        "spec.training.resources.limits.{}",
    ] {
        let node = node("MonitoredModel", path);
        assert_eq!(node["x-kubernetes-int-or-string"], true, "{path}");
        assert_eq!(
            node["type"],
            json!(null),
            "{path}: int-or-string has no type"
        );
        assert_eq!(
            node["pattern"],
            vigil_core::quantity::QUANTITY_PATTERN,
            "{path}"
        );
    }
}

fn pattern(kind: &str, path: &str) -> regex::Regex {
    let node = node(kind, path);
    let text = node["pattern"]
        .as_str()
        .unwrap_or_else(|| panic!("{kind} {path} has no pattern"));
    regex::Regex::new(text).expect("the pattern compiles")
}

/// The API server checks the patterns before the operator sees a value: they must
/// accept what the operator's parsers accept and refuse the obvious rest.
#[test]
fn schema_patterns_agree_with_the_operators_parsers() {
    use vigil_core::quantity::Quantity;
    use vigil_operator::controller::monitored_model::validate::check_schedule;

    for (kind, path) in [
        ("MonitoredModel", "spec.training.schedule"),
        ("DriftPolicy", "spec.schedule"),
    ] {
        let cron = pattern(kind, path);
        for good in [
            "0 3 * * 0",
            "*/15 * * * *",
            "0 0 29 2 *",
            "0 9 * * MON-FRI",
            "0 0 1 jan,jul ?",
            "5/10 1-5 * * *",
            "@daily",
            "@hourly",
        ] {
            assert!(cron.is_match(good), "{path}: `{good}` refused");
            assert_eq!(check_schedule(path, good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "every 6h",
            "0 3 * *",
            "0 3 * * * *",
            "@every 1h",
            "TZ=UTC 0 3 * * *",
        ] {
            assert!(!cron.is_match(bad), "{path}: `{bad}` admitted");
            assert!(check_schedule(path, bad).is_err(), "{bad}");
        }
    }

    let quantity = pattern("MonitoredModel", "spec.serving.resources.requests.{}");
    for text in [
        "2", "500m", "0.5", ".5", "5.", "+1", "-1", "100n", "10u", "1k", "1M", "1G", "1Ki",
        "128Mi", "1.5Gi", "1Ei", "1e3", "1E-3", "12e+2", "", "m", "2 cores", "1gi", "1KI", "1.2.3",
        "--1", "1e", "1b", "one", ".", "0x10",
    ] {
        assert_eq!(
            quantity.is_match(text),
            Quantity::new(text).value().is_ok(),
            "`{text}`: the pattern and the parser disagree"
        );
    }

    let flush = pattern("MonitoredModel", "spec.serving.logging.flushInterval");
    let span = pattern("DriftPolicy", "spec.window");
    for text in [
        "10s", "500ms", "2m", "1.5m", "10", "6h", "7d", "6 hours", "h", "-1s", "5w", "",
    ] {
        let parses = text.parse::<vigil_core::span::Span>().is_ok();
        assert_eq!(flush.is_match(text), parses, "flushInterval `{text}`");
        if span.is_match(text) {
            assert!(parses, "window `{text}`");
        }
    }
}
