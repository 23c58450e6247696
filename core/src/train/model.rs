//! Models: hyper-parameters, fitting with linfa, and prediction.
//!
//! linfa fits; Vigil keeps the fitted parameters in its own plain form
//! (weights, tree nodes) so that an artifact is readable JSON, stable across
//! linfa versions, and predicting needs no allocation per row.

use linfa::prelude::*;
use linfa_logistic::{LogisticRegression, MultiLogisticRegression};
use linfa_trees::{DecisionTree, SplitQuality, TreeNode};
use ndarray::{Array1, Array2, ArrayView2, ShapeBuilder};
use serde::{Deserialize, Serialize};

/// The learning algorithm.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    /// L2-regularised logistic regression (binary or multinomial), fitted by L-BFGS.
    LogisticRegression,
    /// CART decision tree; leaf probabilities are the training class frequencies.
    DecisionTree,
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Algorithm::LogisticRegression => "logistic-regression",
            Algorithm::DecisionTree => "decision-tree",
        })
    }
}

/// Split criterion of a decision tree.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Criterion {
    #[default]
    Gini,
    Entropy,
}

/// Hyper-parameters as a user writes them: every field optional, checked
/// against the algorithm by [`Hyperparameters::check`].
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Hyperparameters {
    /// Logistic regression: maximum L-BFGS iterations (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_iterations: Option<u64>,
    /// Logistic regression: L2 penalty strength, ≥ 0 (default 1.0, scikit-learn's `C = 1/l2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l2: Option<f64>,
    /// Logistic regression: gradient tolerance for convergence (default 1e-4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gradient_tolerance: Option<f64>,
    /// Decision tree: maximum depth (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_depth: Option<usize>,
    /// Decision tree: minimum number of samples to split a node (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_samples_split: Option<u32>,
    /// Decision tree: minimum number of samples in a leaf (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_samples_leaf: Option<u32>,
    /// Decision tree: `gini` (default) or `entropy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criterion: Option<Criterion>,
}

/// Hyper-parameters that passed [`Hyperparameters::check`].
#[derive(Clone, Debug, PartialEq)]
pub enum ValidParams {
    LogisticRegression {
        max_iterations: u64,
        l2: f64,
        gradient_tolerance: f64,
    },
    DecisionTree {
        max_depth: usize,
        min_samples_split: u32,
        min_samples_leaf: u32,
        criterion: Criterion,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("hyperparameter `{name}` does not apply to {algorithm}")]
    Inapplicable {
        name: &'static str,
        algorithm: Algorithm,
    },
    #[error("hyperparameter `{name}` = {value} is invalid: {rule}")]
    InvalidParam {
        name: &'static str,
        value: String,
        rule: &'static str,
    },
    #[error("cannot fit on {rows} rows with {classes} distinct classes; need at least 2 of each")]
    TooLittleData { rows: usize, classes: usize },
    #[error("{algorithm} failed to fit: {message}")]
    Fit {
        algorithm: Algorithm,
        message: String,
    },
    #[error("input has {found} columns, the model expects {expected}")]
    Width { expected: usize, found: usize },
}

impl Hyperparameters {
    /// Checks the hyper-parameters for `algorithm` and fills in defaults.
    pub fn check(&self, algorithm: Algorithm) -> Result<ValidParams, ModelError> {
        let inapplicable = |name| Err(ModelError::Inapplicable { name, algorithm });
        match algorithm {
            Algorithm::LogisticRegression => {
                if self.max_depth.is_some() {
                    return inapplicable("maxDepth");
                }
                if self.min_samples_split.is_some() {
                    return inapplicable("minSamplesSplit");
                }
                if self.min_samples_leaf.is_some() {
                    return inapplicable("minSamplesLeaf");
                }
                if self.criterion.is_some() {
                    return inapplicable("criterion");
                }
                let max_iterations = self.max_iterations.unwrap_or(100);
                let l2 = self.l2.unwrap_or(1.0);
                let gradient_tolerance = self.gradient_tolerance.unwrap_or(1e-4);
                if max_iterations == 0 {
                    return Err(invalid("maxIterations", max_iterations, "must be ≥ 1"));
                }
                if !(l2.is_finite() && l2 >= 0.0) {
                    return Err(invalid("l2", l2, "must be a finite number ≥ 0"));
                }
                if !(gradient_tolerance.is_finite() && gradient_tolerance > 0.0) {
                    return Err(invalid(
                        "gradientTolerance",
                        gradient_tolerance,
                        "must be a finite number > 0",
                    ));
                }
                Ok(ValidParams::LogisticRegression {
                    max_iterations,
                    l2,
                    gradient_tolerance,
                })
            }
            Algorithm::DecisionTree => {
                if self.max_iterations.is_some() {
                    return inapplicable("maxIterations");
                }
                if self.l2.is_some() {
                    return inapplicable("l2");
                }
                if self.gradient_tolerance.is_some() {
                    return inapplicable("gradientTolerance");
                }
                let max_depth = self.max_depth.unwrap_or(10);
                let min_samples_split = self.min_samples_split.unwrap_or(2);
                let min_samples_leaf = self.min_samples_leaf.unwrap_or(1);
                if max_depth == 0 || max_depth > 64 {
                    return Err(invalid("maxDepth", max_depth, "must be between 1 and 64"));
                }
                if min_samples_split < 2 {
                    return Err(invalid("minSamplesSplit", min_samples_split, "must be ≥ 2"));
                }
                if min_samples_leaf < 1 {
                    return Err(invalid("minSamplesLeaf", min_samples_leaf, "must be ≥ 1"));
                }
                Ok(ValidParams::DecisionTree {
                    max_depth,
                    min_samples_split,
                    min_samples_leaf,
                    criterion: self.criterion.unwrap_or_default(),
                })
            }
        }
    }
}

fn invalid(name: &'static str, value: impl ToString, rule: &'static str) -> ModelError {
    ModelError::InvalidParam {
        name,
        value: value.to_string(),
        rule,
    }
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

impl Model {
    /// Fits a model on encoded features `x` and class indices `y` (each < `n_classes`).
    pub fn fit(
        params: &ValidParams,
        x: ArrayView2<f64>,
        y: &[usize],
        n_classes: usize,
    ) -> Result<Model, ModelError> {
        let distinct = {
            let mut seen = vec![false; n_classes];
            y.iter().for_each(|&c| seen[c] = true);
            seen.iter().filter(|&&s| s).count()
        };
        if x.nrows() < 2 || distinct < 2 {
            return Err(ModelError::TooLittleData {
                rows: x.nrows(),
                classes: distinct,
            });
        }
        match *params {
            ValidParams::LogisticRegression {
                max_iterations,
                l2,
                gradient_tolerance,
            } => fit_logistic(x, y, n_classes, max_iterations, l2, gradient_tolerance),
            ValidParams::DecisionTree {
                max_depth,
                min_samples_split,
                min_samples_leaf,
                criterion,
            } => {
                let quality = match criterion {
                    Criterion::Gini => SplitQuality::Gini,
                    Criterion::Entropy => SplitQuality::Entropy,
                };
                let tree = DecisionTree::params()
                    .split_quality(quality)
                    .max_depth(Some(max_depth))
                    .min_weight_split(min_samples_split as f32)
                    .min_weight_leaf(min_samples_leaf as f32)
                    .fit(&Dataset::new(x.to_owned(), Array1::from(y.to_vec())))
                    .map_err(|e| ModelError::Fit {
                        algorithm: Algorithm::DecisionTree,
                        message: e.to_string(),
                    })?;
                Ok(tree_from_linfa(tree.root_node(), x, y, n_classes))
            }
        }
    }

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
                let mut index = 0;
                loop {
                    match &nodes[index] {
                        TreeNodeRepr::Split {
                            feature,
                            threshold,
                            left,
                            right,
                        } => {
                            index = if x[*feature] < *threshold {
                                *left
                            } else {
                                *right
                            }
                        }
                        TreeNodeRepr::Leaf { probabilities, .. } => {
                            out.copy_from_slice(probabilities);
                            return;
                        }
                    }
                }
            }
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
    pub fn check(&self) -> Result<(), String> {
        match self {
            Model::LogisticRegression {
                n_classes,
                weights,
                intercepts,
            } => {
                let rows = if *n_classes == 2 { 1 } else { *n_classes };
                if *n_classes < 2 || weights.len() != rows || intercepts.len() != rows {
                    return Err(format!(
                        "logistic regression with {n_classes} classes needs {rows} weight rows and intercepts, found {} and {}",
                        weights.len(),
                        intercepts.len()
                    ));
                }
                let width = weights[0].len();
                if weights.iter().any(|w| w.len() != width) {
                    return Err("weight rows differ in length".into());
                }
                Ok(())
            }
            Model::DecisionTree {
                n_classes,
                n_features,
                nodes,
            } => {
                if nodes.is_empty() {
                    return Err("decision tree has no nodes".into());
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
                                return Err(format!("tree node {i} is malformed"));
                            }
                        }
                        TreeNodeRepr::Leaf { probabilities, .. } => {
                            if probabilities.len() != *n_classes {
                                return Err(format!(
                                    "tree leaf {i} has {} probabilities for {n_classes} classes",
                                    probabilities.len()
                                ));
                            }
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

fn fit_logistic(
    x: ArrayView2<f64>,
    y: &[usize],
    n_classes: usize,
    max_iterations: u64,
    l2: f64,
    gradient_tolerance: f64,
) -> Result<Model, ModelError> {
    let fit_error = |e: linfa_logistic::error::Error| ModelError::Fit {
        algorithm: Algorithm::LogisticRegression,
        message: e.to_string(),
    };
    // Column-major, so that linfa's gradient `xᵀ·r` walks memory in order
    // (row-major makes it stride across the whole matrix: ~20× slower here).
    let mut x_columns = Array2::zeros(x.raw_dim().f());
    x_columns.assign(&x);
    if n_classes == 2 {
        let dataset = Dataset::new(x_columns, Array1::from(y.to_vec()));
        let fitted = LogisticRegression::default()
            .alpha(l2)
            .max_iterations(max_iterations)
            .gradient_tolerance(gradient_tolerance)
            .fit(&dataset)
            .map_err(fit_error)?;
        // linfa's positive class is the larger one; store the logit of class 1.
        let sign = if fitted.labels().pos.class == 1 {
            1.0
        } else {
            -1.0
        };
        Ok(Model::LogisticRegression {
            n_classes,
            weights: vec![fitted.params().iter().map(|w| sign * w).collect()],
            intercepts: vec![sign * fitted.intercept()],
        })
    } else {
        let dataset = Dataset::new(x_columns, Array1::from(y.to_vec()));
        let fitted = MultiLogisticRegression::default()
            .alpha(l2)
            .max_iterations(max_iterations)
            .gradient_tolerance(gradient_tolerance)
            .fit(&dataset)
            .map_err(fit_error)?;
        // Classes absent from training get a row that never wins.
        let mut weights = vec![vec![0.0; x.ncols()]; n_classes];
        let mut intercepts = vec![-1e3; n_classes];
        for (column, &class) in fitted.classes().iter().enumerate() {
            weights[class] = fitted.params().column(column).to_vec();
            intercepts[class] = fitted.intercept()[column];
        }
        Ok(Model::LogisticRegression {
            n_classes,
            weights,
            intercepts,
        })
    }
}

/// Flattens linfa's tree and attaches leaf class frequencies by routing the
/// training rows (linfa keeps only a label per leaf).
fn tree_from_linfa(
    root: &TreeNode<f64, usize>,
    x: ArrayView2<f64>,
    y: &[usize],
    n_classes: usize,
) -> Model {
    let mut nodes = Vec::new();
    let mut leaf_labels = Vec::new();
    flatten(root, &mut nodes, &mut leaf_labels);
    let mut counts = vec![vec![0usize; n_classes]; nodes.len()];
    for (row, &class) in x.rows().into_iter().zip(y) {
        let mut index = 0;
        while let TreeNodeRepr::Split {
            feature,
            threshold,
            left,
            right,
        } = &nodes[index]
        {
            index = if row[*feature] < *threshold {
                *left
            } else {
                *right
            };
        }
        counts[index][class] += 1;
    }
    for (index, node) in nodes.iter_mut().enumerate() {
        if let TreeNodeRepr::Leaf {
            probabilities,
            samples,
        } = node
        {
            let total: usize = counts[index].iter().sum();
            *samples = total;
            *probabilities = if total == 0 {
                // No training row reaches it: fall back to linfa's label.
                let mut p = vec![0.0; n_classes];
                if let Some(&(_, label)) = leaf_labels.iter().find(|(i, _)| *i == index) {
                    p[label] = 1.0;
                }
                p
            } else {
                counts[index]
                    .iter()
                    .map(|&c| c as f64 / total as f64)
                    .collect()
            };
        }
    }
    Model::DecisionTree {
        n_classes,
        n_features: x.ncols(),
        nodes,
    }
}

fn flatten(
    node: &TreeNode<f64, usize>,
    nodes: &mut Vec<TreeNodeRepr>,
    leaf_labels: &mut Vec<(usize, usize)>,
) -> usize {
    let index = nodes.len();
    let children = node.children();
    match (
        node.is_leaf(),
        children[0].as_deref(),
        children[1].as_deref(),
    ) {
        (false, Some(left), Some(right)) => {
            let (feature, threshold, _) = node.split();
            nodes.push(TreeNodeRepr::Split {
                feature,
                threshold,
                left: 0,
                right: 0,
            });
            let left_index = flatten(left, nodes, leaf_labels);
            let right_index = flatten(right, nodes, leaf_labels);
            nodes[index] = TreeNodeRepr::Split {
                feature,
                threshold,
                left: left_index,
                right: right_index,
            };
        }
        _ => {
            nodes.push(TreeNodeRepr::Leaf {
                probabilities: Vec::new(),
                samples: 0,
            });
            if let Some(label) = node.prediction() {
                leaf_labels.push((index, label));
            }
        }
    }
    index
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
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
    use ndarray::array;

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
            ValidParams::DecisionTree {
                max_depth: 10,
                min_samples_split: 2,
                min_samples_leaf: 1,
                criterion: Criterion::Gini
            }
        );
    }

    #[test]
    fn binary_logistic_regression_predicts_class_one_probability() {
        let (x, y) = separable();
        let y: Vec<usize> = y.iter().map(|&c| usize::from(c == 1)).collect();
        let params = Hyperparameters::default()
            .check(Algorithm::LogisticRegression)
            .expect("params");
        let model = Model::fit(&params, x.view(), &y, 2).expect("fit");
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
            let model = Model::fit(&params, x.view(), &y, 3).expect("fit");
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
        let model = Model::fit(&params, x.view(), &y, 2).expect("fit");
        let p = model.predict_proba(x.view()).expect("predict");
        assert!((p[[0, 1]] - 1.0 / 3.0).abs() < 1e-12, "{p}");
        assert!((p[[3, 1]] - 0.75).abs() < 1e-12, "{p}");
    }

    #[test]
    fn bad_inputs_are_errors() {
        let (x, _) = separable();
        let params = Hyperparameters::default()
            .check(Algorithm::LogisticRegression)
            .expect("params");
        let err = Model::fit(&params, x.view(), &[0; 9], 2).expect_err("one class");
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
