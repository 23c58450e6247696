//! Hyper-parameters as a user writes them, checked against the algorithm into
//! [`ValidParams`]: the learners' own linfa-style params → `check()`.

use serde::{Deserialize, Serialize};

use linfa::ParamGuard;

use super::ModelError;
use crate::train::learn::{
    DecisionTreeParams, DecisionTreeValidParams, LogisticRegressionParams,
    LogisticRegressionValidParams,
};

/// The learning algorithm.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    /// L2-regularised logistic regression (binary or multinomial), fitted by Newton's method.
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
    /// Logistic regression: maximum Newton iterations (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_iterations: Option<u64>,
    /// Logistic regression: L2 penalty strength, ≥ 0 (default 1.0, scikit-learn's `C = 1/l2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l2: Option<f64>,
    /// Logistic regression: converged when no component of the mean loss's gradient
    /// exceeds this (default 1e-4, scikit-learn's `tol`).
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

/// Hyper-parameters that passed [`Hyperparameters::check`]: the learner's own
/// checked parameters (linfa's `ValidParams`).
#[derive(Clone, Debug, PartialEq)]
pub enum ValidParams {
    LogisticRegression(LogisticRegressionValidParams),
    DecisionTree(DecisionTreeValidParams),
}

impl Hyperparameters {
    /// Checks the hyper-parameters for `algorithm` and fills in defaults (the
    /// learners' own checks and defaults).
    pub fn check(&self, algorithm: Algorithm) -> Result<ValidParams, ModelError> {
        let inapplicable = |name| Err(ModelError::Inapplicable { name, algorithm });
        let given: [(&'static str, bool); 7] = [
            ("maxIterations", self.max_iterations.is_some()),
            ("l2", self.l2.is_some()),
            ("gradientTolerance", self.gradient_tolerance.is_some()),
            ("maxDepth", self.max_depth.is_some()),
            ("minSamplesSplit", self.min_samples_split.is_some()),
            ("minSamplesLeaf", self.min_samples_leaf.is_some()),
            ("criterion", self.criterion.is_some()),
        ];
        // The first three belong to logistic regression, the others to the tree.
        let foreign = match algorithm {
            Algorithm::LogisticRegression => 3..7,
            Algorithm::DecisionTree => 0..3,
        };
        if let Some((name, _)) = given[foreign].iter().find(|(_, set)| *set) {
            return inapplicable(name);
        }
        Ok(match algorithm {
            Algorithm::LogisticRegression => {
                let mut p = LogisticRegressionParams::default();
                if let Some(v) = self.max_iterations {
                    p = p.max_iterations(v);
                }
                if let Some(v) = self.l2 {
                    p = p.l2(v);
                }
                if let Some(v) = self.gradient_tolerance {
                    p = p.gradient_tolerance(v);
                }
                ValidParams::LogisticRegression(p.check()?)
            }
            Algorithm::DecisionTree => {
                let mut p = DecisionTreeParams::default();
                if let Some(v) = self.max_depth {
                    p = p.max_depth(v);
                }
                if let Some(v) = self.min_samples_split {
                    p = p.min_samples_split(v as usize);
                }
                if let Some(v) = self.min_samples_leaf {
                    p = p.min_samples_leaf(v as usize);
                }
                if let Some(v) = self.criterion {
                    p = p.criterion(v);
                }
                ValidParams::DecisionTree(p.check()?)
            }
        })
    }
}
