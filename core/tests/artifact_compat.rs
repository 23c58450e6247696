//! Artifacts written by earlier Vigil versions still load and predict as they did.
//!
//! The fixtures (`tests/fixtures/artifacts/`, see the README there) were written by
//! Vigil with linfa-logistic and linfa-trees; today's learners are Vigil's own, but
//! the artifact format (`formatVersion` 1) is unchanged. Each file's hold-out metrics
//! were computed by the version that wrote it; recomputing them now on the same
//! hold-out rows must give the same numbers (to 1e-12: same operations, same order).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use vigil_core::data::dataset::{DataFormat, Frame, RawTable};
use vigil_core::train::artifact::{ModelArtifact, FORMAT_VERSION};
use vigil_core::train::evaluation::Metrics;

fn holdout(artifact: &ModelArtifact) -> Frame {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/data/adult.csv.gz");
    let raw = RawTable::parse(&std::fs::read(path).expect("adult"), DataFormat::Csv).expect("csv");
    let split = raw.column("split").expect("split column").to_vec();
    let test = raw.filter_rows(|r| split[r].as_deref() == Some("test"));
    Frame::from_raw(&test, &artifact.schema).expect("frame").0
}

fn check(file: &str) {
    let path = format!(
        "{}/tests/fixtures/artifacts/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).expect("fixture");
    let artifact = ModelArtifact::from_bytes(&bytes, &path).expect("loads");
    assert_eq!(artifact.format_version, FORMAT_VERSION);
    artifact.model.check().expect("consistent");
    let frame = holdout(&artifact);
    assert_eq!(frame.n_rows(), artifact.lineage.rows_holdout);
    let probabilities = artifact.predict_frame(&frame).expect("predicts");
    let now = Metrics::compute(probabilities.view(), &frame.target);
    let then = &artifact.metrics;
    for (name, a, b) in [
        ("accuracy", now.accuracy, then.accuracy),
        ("logLoss", now.log_loss, then.log_loss),
        (
            "rocAuc",
            now.roc_auc.expect("binary"),
            then.roc_auc.expect("binary"),
        ),
    ] {
        assert!(
            (a - b).abs() <= 1e-12,
            "{file}: {name} {a} now, {b} when written"
        );
    }
}

#[test]
fn a_linfa_logistic_regression_artifact_predicts_as_it_did() {
    check("adult-logreg-linfa.model.json");
}

#[test]
fn a_linfa_decision_tree_artifact_predicts_as_it_did() {
    check("adult-tree-depth4-linfa.model.json");
}
