//! Fitting with Vigil's learners (linfa's `Fit` trait), and turning what they
//! fitted into Vigil's plain form.

use linfa::prelude::*;
use ndarray::Array1;

use super::{Model, ModelError, TreeNodeRepr, ValidParams};
use crate::train::learn::{
    Convergence, FittedLogisticRegression, FittedTree, Iteration, SparseRows,
};

/// A fitted model and how its solver ended (logistic regression only).
#[derive(Clone, Debug, PartialEq)]
pub struct FittedModel {
    pub model: Model,
    pub convergence: Option<Convergence>,
}

impl Model {
    /// Fits a model on encoded features `x` and class indices `y` (each <
    /// `n_classes`); `observe` hears every solver iteration.
    pub fn fit(
        params: &ValidParams,
        x: &SparseRows,
        y: &[usize],
        n_classes: usize,
        observe: &mut dyn FnMut(Iteration),
    ) -> Result<FittedModel, ModelError> {
        if let Some(&label) = y.iter().find(|&&c| c >= n_classes) {
            return Err(ModelError::UnknownClass { label, n_classes });
        }
        let dataset = DatasetBase::new(x.clone(), Array1::from(y.to_vec()));
        match params {
            ValidParams::LogisticRegression(p) => {
                let fitted = p.fit_observed(&dataset, observe)?;
                Ok(FittedModel {
                    convergence: Some(fitted.convergence),
                    model: logistic_model(&fitted, n_classes),
                })
            }
            ValidParams::DecisionTree(p) => Ok(FittedModel {
                model: tree_model(p.fit(&dataset)?, n_classes),
                convergence: None,
            }),
        }
    }
}

/// Vigil's form of a fitted logistic regression over `n_classes` classes.
fn logistic_model(fitted: &FittedLogisticRegression, n_classes: usize) -> Model {
    let width = fitted.weights.ncols();
    if n_classes == 2 {
        // Both classes are present, so the fitted row is the logit of class 1.
        return Model::LogisticRegression {
            n_classes,
            weights: vec![fitted.weights.row(0).to_vec()],
            intercepts: vec![fitted.intercepts[0]],
        };
    }
    // Classes absent from training get a row that never wins.
    let mut weights = vec![vec![0.0; width]; n_classes];
    let mut intercepts = vec![-1e3; n_classes];
    if fitted.weights.nrows() == 1 {
        // Two classes present: softmax over (0, logit) is the sigmoid.
        let (negative, positive) = (fitted.classes[0], fitted.classes[1]);
        intercepts[negative] = 0.0;
        weights[positive] = fitted.weights.row(0).to_vec();
        intercepts[positive] = fitted.intercepts[0];
    } else {
        for (row, &class) in fitted.classes.iter().enumerate() {
            weights[class] = fitted.weights.row(row).to_vec();
            intercepts[class] = fitted.intercepts[row];
        }
    }
    Model::LogisticRegression {
        n_classes,
        weights,
        intercepts,
    }
}

/// Vigil's form of a fitted tree; leaves get an entry for every class.
fn tree_model(mut fitted: FittedTree, n_classes: usize) -> Model {
    for node in &mut fitted.nodes {
        if let TreeNodeRepr::Leaf { probabilities, .. } = node {
            probabilities.resize(n_classes, 0.0);
        }
    }
    Model::DecisionTree {
        n_classes,
        n_features: fitted.n_features,
        nodes: fitted.nodes,
    }
}
