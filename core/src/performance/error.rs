//! Why performance could not be estimated or realized.

use thiserror::Error;

/// A refusal with its reason: the caller reports it instead of a number.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum PerformanceError {
    /// The reference holds only one class: nothing to calibrate against, no AUC.
    #[error("the reference sample has only {class} labels ({rows} rows); CBPE needs both classes")]
    SingleClassReference {
        /// `positive` or `negative`.
        class: &'static str,
        rows: usize,
    },
    /// A score is NaN or infinite.
    #[error("score at row {row} is not a finite number")]
    NonFiniteScore { row: usize },
    /// A score is outside [0, 1]: not a probability.
    #[error("score at row {row} is {value}, outside [0, 1]; CBPE needs probabilities")]
    ScoreOutOfRange { row: usize, value: f64 },
    /// Too few rows for the computation.
    #[error("{what} needs at least {min} rows, got {rows}")]
    TooFewRows {
        what: &'static str,
        rows: usize,
        min: usize,
    },
    /// Two inputs that go together have different lengths.
    #[error("{what}: lengths differ ({left} vs {right})")]
    LengthMismatch {
        what: &'static str,
        left: usize,
        right: usize,
    },
    /// Chunking parameters that cannot split anything.
    #[error("invalid chunking: {0}")]
    InvalidChunking(String),
    /// The label join holds more labelled ids than its budget.
    #[error("the label join holds {held} labelled ids, over its budget of {budget}")]
    LabelBudgetExceeded { held: usize, budget: usize },
}

impl PerformanceError {
    /// A stable, low-cardinality reason for status conditions and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            PerformanceError::SingleClassReference { .. } => "SingleClassReference",
            PerformanceError::NonFiniteScore { .. } => "NonFiniteScore",
            PerformanceError::ScoreOutOfRange { .. } => "ScoreOutOfRange",
            PerformanceError::TooFewRows { .. } => "TooFewRows",
            PerformanceError::LengthMismatch { .. } => "LengthMismatch",
            PerformanceError::InvalidChunking(_) => "InvalidChunking",
            PerformanceError::LabelBudgetExceeded { .. } => "LabelBudgetExceeded",
        }
    }
}
