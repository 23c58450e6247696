//! Golden tests of `vigil_core::learn` against scikit-learn.
//!
//! The fixtures in `tests/fixtures/learn/*.json` are written by
//! `tests/fixtures/learn/make_fixtures.py` (see the README there), which records
//! the scikit-learn and NumPy versions. Floats are strings holding Python's `repr`.
//!
//! - Logistic regression: scikit-learn's solution is the optimum (the script checks
//!   the gradient there is below 1e-10). Vigil's Newton solver must reach the same
//!   coefficients and intercepts to [`COEFFICIENTS`] = 1e-4 (absolute); observed:
//!   1e-12, and 1e-7 with the weak penalty (collinear one-hot columns make that
//!   problem ill-conditioned).
//! - Decision tree: every column has at most 200 distinct values, so the binned
//!   tree searches exactly CART's split points; its probabilities on the training
//!   rows and on fresh rows must equal scikit-learn's `predict_proba` to 1e-12.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use linfa::prelude::*;
use ndarray::{Array1, Array2};
use serde_json::Value;
use vigil_core::train::learn::{DecisionTreeParams, LogisticRegressionParams, SparseRows};
use vigil_core::train::model::{Criterion, Model};

const COEFFICIENTS: f64 = 1e-4;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/learn/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let value: Value = serde_json::from_str(&text).expect("fixture is JSON");
    assert!(
        value["meta"]["sklearn"].is_string(),
        "{name}: no sklearn version"
    );
    value
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("repr string").parse().expect("float"))
        .collect()
}

fn matrix(v: &Value, rows: usize, cols: usize) -> Array2<f64> {
    Array2::from_shape_vec((rows, cols), floats(v)).expect("shape")
}

fn labels(f: &Value) -> Array1<usize> {
    f["y"]
        .as_array()
        .expect("labels")
        .iter()
        .map(|v| v.as_u64().expect("label") as usize)
        .collect()
}

fn dims(f: &Value) -> (usize, usize, usize) {
    let n = |k: &str| f[k].as_u64().expect(k) as usize;
    (n("rows"), n("cols"), n("classes"))
}

fn max_difference(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn check_logistic(name: &str) {
    let f = fixture(name);
    let (rows, cols, classes) = dims(&f);
    let x = matrix(&f["x"], rows, cols);
    let dataset = DatasetBase::new(SparseRows::from_dense(x.view()), labels(&f));
    let l2: f64 = f["l2"].as_str().expect("l2").parse().expect("float");
    let fitted = LogisticRegressionParams::default()
        .l2(l2)
        .gradient_tolerance(1e-10)
        .fit(&dataset)
        .expect("fit");
    assert!(
        fitted.convergence.converged,
        "{name}: {:?}",
        fitted.convergence
    );
    assert!(
        fitted.convergence.iterations <= 20,
        "{name}: {:?}",
        fitted.convergence
    );
    assert_eq!(fitted.classes, (0..classes).collect::<Vec<_>>());
    let coef = max_difference(
        fitted.weights.as_slice().expect("standard"),
        &floats(&f["coef"]),
    );
    let intercept = max_difference(
        fitted.intercepts.as_slice().expect("standard"),
        &floats(&f["intercept"]),
    );
    assert!(
        coef <= COEFFICIENTS,
        "{name}: coefficients differ by {coef:e}"
    );
    assert!(
        intercept <= COEFFICIENTS,
        "{name}: intercepts differ by {intercept:e}"
    );

    // linfa's Predict: the most probable class under scikit-learn's coefficients.
    let predicted: Array1<usize> = fitted.predict(&dataset);
    let sk_coef = matrix(&f["coef"], fitted.weights.nrows(), cols);
    let sk_logits = x.dot(&sk_coef.t()) + Array1::from(floats(&f["intercept"]));
    let expected: Vec<usize> = sk_logits
        .rows()
        .into_iter()
        .map(|z| match z.len() {
            1 => usize::from(z[0] > 0.0),
            _ => (0..z.len())
                .max_by(|&a, &b| z[a].total_cmp(&z[b]))
                .unwrap_or(0),
        })
        .collect();
    assert_eq!(predicted.to_vec(), expected, "{name}");
}

#[test]
fn binary_logistic_regression_reaches_scikit_learns_optimum() {
    check_logistic("logistic_binary.json");
}

#[test]
fn weakly_penalised_logistic_regression_reaches_scikit_learns_optimum() {
    check_logistic("logistic_binary_weak_penalty.json");
}

#[test]
fn multinomial_logistic_regression_reaches_scikit_learns_optimum() {
    check_logistic("logistic_multinomial.json");
}

fn check_tree(name: &str) {
    let f = fixture(name);
    let (rows, cols, classes) = dims(&f);
    let x = matrix(&f["x"], rows, cols);
    let criterion = match f["criterion"].as_str() {
        Some("gini") => Criterion::Gini,
        Some("entropy") => Criterion::Entropy,
        other => panic!("{name}: criterion {other:?}"),
    };
    let dataset = DatasetBase::new(SparseRows::from_dense(x.view()), labels(&f));
    let fitted = DecisionTreeParams::default()
        .max_depth(f["max_depth"].as_u64().expect("depth") as usize)
        .criterion(criterion)
        .fit(&dataset)
        .expect("fit");
    let leaves = fitted
        .nodes
        .iter()
        .filter(|n| matches!(n, vigil_core::train::model::TreeNodeRepr::Leaf { .. }))
        .count();
    assert_eq!(
        leaves as u64,
        f["leaves"].as_u64().expect("leaves"),
        "{name}"
    );
    let model = Model::DecisionTree {
        n_classes: fitted.n_classes,
        n_features: fitted.n_features,
        nodes: fitted.nodes,
    };
    model.check().expect("well-formed");
    for (input, expected) in [
        (&f["x"], &f["proba_train"]),
        (&f["fresh"], &f["proba_fresh"]),
    ] {
        let x = matrix(input, rows, cols);
        let p = model.predict_proba(x.view()).expect("predict");
        let d = max_difference(p.as_slice().expect("standard"), &floats(expected));
        assert!(d <= 1e-12, "{name}: probabilities differ by {d:e}");
        assert_eq!(p.ncols(), classes);
    }
}

#[test]
fn gini_tree_equals_scikit_learns_cart() {
    check_tree("tree_binary_gini.json");
}

#[test]
fn entropy_tree_equals_scikit_learns_cart() {
    check_tree("tree_3class_entropy.json");
}
