//! `crds/` holds exactly what the code generates, and every sample parses.

use std::path::Path;

use vigil_operator::crd::MonitoredModel;

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn crds_directory_is_up_to_date() {
    let generated = vigil_operator::crdgen::all_crds_yaml().expect("render");
    let path = repo().join("crds/vigil.dev.yaml");
    if std::env::var("VIGIL_UPDATE_CRDS").is_ok() {
        std::fs::write(&path, &generated).expect("write crds");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "crds/vigil.dev.yaml is stale: run `VIGIL_UPDATE_CRDS=1 cargo test -p vigil-operator --test crds` (or `cargo run -- crd > crds/vigil.dev.yaml`)"
    );
}

#[test]
fn every_sample_deserializes() {
    let mut seen = 0;
    for entry in std::fs::read_dir(repo().join("config/samples")).expect("samples") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        for document in serde_yaml::Deserializer::from_str(&text) {
            let value = serde_yaml::Value::deserialize(document).expect("yaml");
            match value.get("kind").and_then(|k| k.as_str()) {
                Some("MonitoredModel") => {
                    let model: MonitoredModel = serde_yaml::from_value(value)
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                    model
                        .spec
                        .training
                        .hyperparameters
                        .check(model.spec.training.algorithm)
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                    model
                        .spec
                        .schema
                        .check()
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                    seen += 1;
                }
                Some("DriftPolicy") => seen += 1,
                other => panic!("{}: unexpected kind {other:?}", path.display()),
            }
        }
    }
    assert!(
        seen >= 2,
        "expected at least two sample resources, found {seen}"
    );
}

use serde::Deserialize;
