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
