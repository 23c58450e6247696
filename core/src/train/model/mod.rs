//! Models: hyper-parameters ([`params`]), fitting ([`fit`](mod@fit)), and prediction.
//!
//! The learners of [`crate::train::learn`] fit (through linfa's traits); Vigil
//! keeps the fitted parameters in its own plain form (weights, tree nodes) so that
//! an artifact is readable JSON, stable across versions, and predicting needs no
//! allocation per row.

mod fit;
pub mod params;

use ndarray::{Array1, Array2, ArrayView2};
use serde::{Deserialize, Serialize};

pub use fit::FittedModel;
pub use params::{Algorithm, Criterion, Hyperparameters, ValidParams};

use crate::train::learn::logistic::sigmoid;
use crate::train::learn::LearnError;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("hyperparameter `{name}` does not apply to {algorithm}")]
    Inapplicable {
        name: &'static str,
        algorithm: Algorithm,
    },
    /// An invalid hyperparameter, or data a learner cannot fit.
    #[error(transparent)]
    Learn(#[from] LearnError),
    #[error("input has {found} columns, the model expects {expected}")]
    Width { expected: usize, found: usize },
    #[error("class index {label} is not below the number of classes, {n_classes}")]
    UnknownClass { label: usize, n_classes: usize },
    #[error("logistic regression with {n_classes} classes needs {rows} weight rows and intercepts, found {weights} and {intercepts}")]
    WeightShape {
        n_classes: usize,
        rows: usize,
        weights: usize,
        intercepts: usize,
    },
    #[error("weight rows differ in length")]
    RaggedWeights,
    #[error("decision tree has no nodes")]
    NoNodes,
    #[error("tree node {0} is malformed")]
    MalformedNode(usize),
    #[error("tree leaf {leaf} has {found} probabilities for {n_classes} classes")]
    LeafWidth {
        leaf: usize,
        found: usize,
        n_classes: usize,
    },
}

/// A fitted model over the pipeline's output columns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "algorithm", rename_all = "kebab-case")]
pub enum Model {
    #[serde(rename_all = "camelCase")]
    LogisticRegression {
        n_classes: usize,
        /// Binary: one row, the logit of class 1. Multiclass: one row per class (softmax).
        weights: Vec<Vec<f64>>,
        intercepts: Vec<f64>,
    },
    #[serde(rename_all = "camelCase")]
    DecisionTree {
        n_classes: usize,
        n_features: usize,
        /// Node 0 is the root.
        nodes: Vec<TreeNodeRepr>,
    },
}

/// A node of a fitted tree. A row goes left when `x[feature] < threshold`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TreeNodeRepr {
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
    Leaf {
        /// Class frequencies of the training rows in this leaf.
        probabilities: Vec<f64>,
        samples: usize,
    },
}

/// A model whose probabilities are a function of a sum of one term per encoded entry
/// ([`Model::entry_sum`]). A row's sum starts at [`EntrySum::START`] and adds its entries'
/// terms in column order; made so, a column at a time or a row at a time, it gives the
/// probabilities of [`Model::predict_proba_entries`] bit for bit.
#[derive(Clone, Copy, Debug)]
pub struct EntrySum<'a> {
    weights: &'a [f64],
    intercept: f64,
}

impl EntrySum<'_> {
    /// An empty sum: `-0.0`, the start of `Iterator::sum` (so that `-0.0` terms alone
    /// sum to `-0.0`, as a dot product of them does).
    pub const START: f64 = -0.0;

    /// The term of entry `(column, value)`.
    #[inline]
    pub fn term(&self, (column, value): (usize, f64)) -> f64 {
        self.weights[column] * value
    }

    /// The class probabilities of a row whose terms sum to `sum`.
    #[inline]
    pub fn probabilities(&self, sum: f64, out: &mut [f64]) {
        let p = sigmoid(sum + self.intercept);
        out[0] = 1.0 - p;
        out[1] = p;
    }
}

impl Model {
    pub fn n_classes(&self) -> usize {
        match self {
            Model::LogisticRegression { n_classes, .. } | Model::DecisionTree { n_classes, .. } => {
                *n_classes
            }
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            Model::LogisticRegression { .. } => Algorithm::LogisticRegression,
            Model::DecisionTree { .. } => Algorithm::DecisionTree,
        }
    }

    /// Number of input columns the model expects.
    pub fn n_features(&self) -> usize {
        match self {
            Model::LogisticRegression { weights, .. } => weights.first().map_or(0, Vec::len),
            Model::DecisionTree { n_features, .. } => *n_features,
        }
    }

    /// Class probabilities of one encoded row, written into `out` (length `n_classes`).
    pub fn predict_proba_row(&self, x: &[f64], out: &mut [f64]) {
        match self {
            Model::LogisticRegression {
                weights,
                intercepts,
                ..
            } => {
                if weights.len() == 1 {
                    let logit = dot(&weights[0], x) + intercepts[0];
                    let p = sigmoid(logit);
                    out[0] = 1.0 - p;
                    out[1] = p;
                } else {
                    for (k, (w, b)) in weights.iter().zip(intercepts).enumerate() {
                        out[k] = dot(w, x) + b;
                    }
                    softmax(out);
                }
            }
            Model::DecisionTree { nodes, .. } => {
                out.copy_from_slice(leaf_probabilities(nodes, |f| x[f]));
            }
        }
    }

    /// The model as a sum of one term per encoded entry, when it is one (a binary
    /// logistic regression): a caller may then add up many rows a column at a time, and
    /// [`predict_proba_entries`](Self::predict_proba_entries) does not read the dense row
    /// (placing a one-hot row's zeros was 6 % of an OIP request's instructions at batch
    /// 1,000).
    pub fn entry_sum(&self) -> Option<EntrySum<'_>> {
        match self {
            Model::LogisticRegression {
                weights,
                intercepts,
                ..
            } if weights.len() == 1 => Some(EntrySum {
                weights: &weights[0],
                intercept: intercepts[0],
            }),
            _ => None,
        }
    }

    /// [`predict_proba_row`](Self::predict_proba_row) of a row given both dense (`x`)
    /// and by its encoded entries (`entries`: column and value, in column order, every
    /// column not in them 0). A logistic regression sums only the entries: the dense dot
    /// product adds the same terms in the same order, and zeros, so the probabilities are
    /// the same, for a tenth of the work on a one-hot row. A tree reads `x`.
    pub fn predict_proba_entries(&self, entries: &[(usize, f64)], x: &[f64], out: &mut [f64]) {
        match self.entry_sum() {
            Some(model) => {
                let sum = (entries.iter()).fold(EntrySum::START, |sum, &e| sum + model.term(e));
                model.probabilities(sum, out);
            }
            None => self.predict_proba_row(x, out),
        }
    }

    /// Class probabilities for every row of `x`.
    pub fn predict_proba(&self, x: ArrayView2<f64>) -> Result<Array2<f64>, ModelError> {
        if x.ncols() != self.n_features() {
            return Err(ModelError::Width {
                expected: self.n_features(),
                found: x.ncols(),
            });
        }
        let mut probabilities = Array2::zeros((x.nrows(), self.n_classes()));
        let mut row = vec![0.0; x.ncols()];
        for (input, mut output) in x.rows().into_iter().zip(probabilities.rows_mut()) {
            row.iter_mut().zip(input.iter()).for_each(|(r, v)| *r = *v);
            let mut out = vec![0.0; self.n_classes()];
            self.predict_proba_row(&row, &mut out);
            output.assign(&Array1::from(out));
        }
        Ok(probabilities)
    }

    /// Checks internal consistency after loading from an untrusted file.
    pub fn check(&self) -> Result<(), ModelError> {
        match self {
            Model::LogisticRegression {
                n_classes,
                weights,
                intercepts,
            } => {
                let rows = if *n_classes == 2 { 1 } else { *n_classes };
                if *n_classes < 2 || weights.len() != rows || intercepts.len() != rows {
                    return Err(ModelError::WeightShape {
                        n_classes: *n_classes,
                        rows,
                        weights: weights.len(),
                        intercepts: intercepts.len(),
                    });
                }
                let width = weights[0].len();
                if weights.iter().any(|w| w.len() != width) {
                    return Err(ModelError::RaggedWeights);
                }
                Ok(())
            }
            Model::DecisionTree {
                n_classes,
                n_features,
                nodes,
            } => {
                if nodes.is_empty() {
                    return Err(ModelError::NoNodes);
                }
                for (i, node) in nodes.iter().enumerate() {
                    match node {
                        TreeNodeRepr::Split {
                            feature,
                            left,
                            right,
                            ..
                        } => {
                            // Children always come after their parent, so routing terminates.
                            if feature >= n_features
                                || *left <= i
                                || *right <= i
                                || *left >= nodes.len()
                                || *right >= nodes.len()
                            {
                                return Err(ModelError::MalformedNode(i));
                            }
                        }
                        TreeNodeRepr::Leaf { probabilities, .. } => {
                            if probabilities.len() != *n_classes {
                                return Err(ModelError::LeafWidth {
                                    leaf: i,
                                    found: probabilities.len(),
                                    n_classes: *n_classes,
                                });
                            }
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The class probabilities of the leaf a row reaches; `value(f)` is its feature `f`.
/// A row goes left when `value < threshold`.
pub fn leaf_probabilities(nodes: &[TreeNodeRepr], value: impl Fn(usize) -> f64) -> &[f64] {
    let mut index = 0;
    loop {
        match &nodes[index] {
            TreeNodeRepr::Split {
                feature,
                threshold,
                left,
                right,
            } => {
                index = if value(*feature) < *threshold {
                    *left
                } else {
                    *right
                }
            }
            TreeNodeRepr::Leaf { probabilities, .. } => return probabilities,
        }
    }
}

fn softmax(values: &mut [f64]) {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for v in values.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    values.iter_mut().for_each(|v| *v /= sum);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::learn::{DecisionTreeParams, SparseRows};
    use linfa::ParamGuard;
    use ndarray::array;

    fn fit(
        params: &ValidParams,
        x: &Array2<f64>,
        y: &[usize],
        n_classes: usize,
    ) -> Result<Model, ModelError> {
        let rows = SparseRows::from_dense(x.view());
        Model::fit(params, &rows, y, n_classes, &mut |_| {}).map(|f| f.model)
    }

    #[test]
    fn a_row_by_its_entries_gets_the_dense_rows_probabilities_exactly() {
        let width = 40;
        let model = Model::LogisticRegression {
            n_classes: 2,
            weights: vec![(0..width).map(|j| (j as f64 * 0.37).sin() * 3.1).collect()],
            intercepts: vec![-0.41],
        };
        for seed in 0..50u32 {
            // One standardized number, then one one-hot column in each of three blocks.
            let entries = [
                (0, f64::from(seed) * 0.173 - 4.0),
                (1 + (seed as usize * 7) % 9, 1.0),
                (10 + (seed as usize * 5) % 13, 1.0),
                (23 + (seed as usize * 3) % 17, 1.0),
            ];
            let mut x = vec![0.0; width];
            for &(j, v) in &entries {
                x[j] = v;
            }
            let (mut dense, mut sparse) = ([0.0; 2], [0.0; 2]);
            model.predict_proba_row(&x, &mut dense);
            // It does not read the dense row: an empty one gives the same answer.
            assert!(model.entry_sum().is_some());
            model.predict_proba_entries(&entries, &[], &mut sparse);
            assert_eq!(
                dense.map(f64::to_bits),
                sparse.map(f64::to_bits),
                "row {seed}"
            );
            assert!(dense[1] > 0.0 && dense[1] < 1.0);
        }
    }

    fn separable() -> (Array2<f64>, Vec<usize>) {
        let x = array![
            [0.0, 1.0],
            [0.2, 0.9],
            [0.1, 1.2],
            [1.0, 0.0],
            [0.9, 0.1],
            [1.2, 0.2],
            [2.0, 2.0],
            [2.1, 1.9],
            [1.9, 2.2]
        ];
        (x, vec![0, 0, 0, 1, 1, 1, 2, 2, 2])
    }

    #[test]
    fn hyperparameters_are_checked_against_the_algorithm() {
        let lr = Hyperparameters {
            max_depth: Some(3),
            ..Default::default()
        };
        assert_eq!(
            lr.check(Algorithm::LogisticRegression)
                .expect_err("inapplicable")
                .to_string(),
            "hyperparameter `maxDepth` does not apply to logistic-regression"
        );
        let bad = Hyperparameters {
            l2: Some(-1.0),
            ..Default::default()
        };
        assert_eq!(
            bad.check(Algorithm::LogisticRegression)
                .expect_err("negative")
                .to_string(),
            "hyperparameter `l2` = -1 is invalid: must be a finite number ≥ 0"
        );
        assert_eq!(
            Hyperparameters::default()
                .check(Algorithm::DecisionTree)
                .expect("defaults"),
            ValidParams::DecisionTree(DecisionTreeParams::default().check().expect("defaults"))
        );
    }

    #[test]
    fn binary_logistic_regression_predicts_class_one_probability() {
        let (x, y) = separable();
        let y: Vec<usize> = y.iter().map(|&c| usize::from(c == 1)).collect();
        let params = Hyperparameters::default()
            .check(Algorithm::LogisticRegression)
            .expect("params");
        let model = fit(&params, &x, &y, 2).expect("fit");
        let p = model.predict_proba(x.view()).expect("predict");
        for (row, &class) in p.rows().into_iter().zip(&y) {
            assert!((row.sum() - 1.0).abs() < 1e-12);
            assert_eq!(usize::from(row[1] > 0.5), class, "{row}");
        }
    }

    #[test]
    fn multiclass_models_fit_and_round_trip() {
        let (x, y) = separable();
        for algorithm in [Algorithm::LogisticRegression, Algorithm::DecisionTree] {
            let params = Hyperparameters::default().check(algorithm).expect("params");
            let model = fit(&params, &x, &y, 3).expect("fit");
            model.check().expect("consistent");
            let p = model.predict_proba(x.view()).expect("predict");
            let predicted: Vec<usize> = p
                .rows()
                .into_iter()
                .map(|r| (0..3).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap_or(0))
                .collect();
            assert_eq!(predicted, y, "{algorithm}");
            let json = serde_json::to_string(&model).expect("serialize");
            let back: Model = serde_json::from_str(&json).expect("deserialize");
            assert_eq!(back.predict_proba(x.view()).expect("again"), p);
        }
    }

    #[test]
    fn decision_tree_leaves_hold_class_frequencies() {
        // One feature, impossible to separate perfectly at depth 1.
        let x = array![[0.0], [0.0], [0.0], [1.0], [1.0], [1.0], [1.0]];
        let y = [0, 0, 1, 1, 1, 1, 0];
        let params = Hyperparameters {
            max_depth: Some(1),
            ..Default::default()
        }
        .check(Algorithm::DecisionTree)
        .expect("params");
        let model = fit(&params, &x, &y, 2).expect("fit");
        let p = model.predict_proba(x.view()).expect("predict");
        assert!((p[[0, 1]] - 1.0 / 3.0).abs() < 1e-12, "{p}");
        assert!((p[[3, 1]] - 0.75).abs() < 1e-12, "{p}");
        assert!(model.entry_sum().is_none(), "a tree reads the dense row");
    }

    #[test]
    fn bad_inputs_are_errors() {
        let (x, _) = separable();
        let params = Hyperparameters::default()
            .check(Algorithm::LogisticRegression)
            .expect("params");
        let err = fit(&params, &x, &[0; 9], 2).expect_err("one class");
        assert_eq!(
            err.to_string(),
            "cannot fit on 9 rows with 1 distinct classes; need at least 2 of each"
        );
        let model = Model::LogisticRegression {
            n_classes: 2,
            weights: vec![vec![1.0, 2.0, 3.0]],
            intercepts: vec![0.0],
        };
        assert!(matches!(
            model.predict_proba(x.view()),
            Err(ModelError::Width {
                expected: 3,
                found: 2
            })
        ));
        let broken = Model::DecisionTree {
            n_classes: 2,
            n_features: 1,
            nodes: vec![TreeNodeRepr::Split {
                feature: 0,
                threshold: 0.0,
                left: 0,
                right: 0,
            }],
        };
        assert!(broken.check().is_err());
    }
}
