//! Fitting with linfa, and turning what linfa fitted into Vigil's plain form.

use linfa::prelude::*;
use linfa_logistic::{LogisticRegression, MultiLogisticRegression};
use linfa_trees::{DecisionTree, SplitQuality, TreeNode};
use ndarray::{Array1, Array2, ArrayView2, ShapeBuilder};

use super::{Algorithm, Criterion, Model, ModelError, TreeNodeRepr};

pub(super) fn fit_logistic(
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
/// A CART tree, with leaf probabilities from the training rows.
pub(super) fn fit_tree(
    x: ArrayView2<f64>,
    y: &[usize],
    n_classes: usize,
    max_depth: usize,
    min_samples_split: u32,
    min_samples_leaf: u32,
    criterion: Criterion,
) -> Result<Model, ModelError> {
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
