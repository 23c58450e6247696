//! Hyper-parameters as a user writes them, checked against the algorithm into
//! [`ValidParams`] (linfa's params → `check()` pattern).

use serde::{Deserialize, Serialize};

use super::ModelError;

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
    #[cfg_attr(feature = "schema", schemars(range(min = 1)))]
    pub max_iterations: Option<u64>,
    /// Logistic regression: L2 penalty strength, ≥ 0 (default 1.0, scikit-learn's `C = 1/l2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l2: Option<f64>,
    /// Logistic regression: gradient tolerance for convergence (default 1e-4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gradient_tolerance: Option<f64>,
    /// Decision tree: maximum depth (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 64)))]
    pub max_depth: Option<usize>,
    /// Decision tree: minimum number of samples to split a node (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(range(min = 2)))]
    pub min_samples_split: Option<u32>,
    /// Decision tree: minimum number of samples in a leaf (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(range(min = 1)))]
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
