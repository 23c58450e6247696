//! The one error type of the statistics module.

use thiserror::Error;

/// Why a statistic could not be computed.
///
/// Every message names the offending input and the numbers involved, so a drift report
/// can show it as is. [`StatsError::metric_label`] gives a stable, low-cardinality label
/// for metrics.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum StatsError {
    /// A sample or count vector has no elements.
    #[error("sample `{name}` is empty")]
    EmptySample {
        /// Which input (e.g. `reference`, `current`).
        name: &'static str,
    },

    /// A sample holds a NaN; callers drop missing values before calling.
    #[error("sample `{name}` has NaN at index {index}; drop missing values before calling")]
    NanValue {
        /// Which input.
        name: &'static str,
        /// Position of the first NaN.
        index: usize,
    },

    /// A sample holds an infinite value where only finite values make sense.
    #[error("sample `{name}` has a non-finite value {value} at index {index}")]
    NonFiniteValue {
        /// Which input.
        name: &'static str,
        /// Position of the first offending value.
        index: usize,
        /// The value itself.
        value: f64,
    },

    /// A slice passed to a `*_sorted` function is not in ascending order.
    #[error("sample `{name}` is not sorted ascending: element {index} ({value}) is smaller than element {previous_index} ({previous})")]
    NotSorted {
        /// Which input.
        name: &'static str,
        /// Position of the first element smaller than its predecessor.
        index: usize,
        /// That element.
        value: f64,
        /// Position of the predecessor.
        previous_index: usize,
        /// The predecessor.
        previous: f64,
    },

    /// A count or frequency is negative or not finite.
    #[error(
        "`{name}` has an invalid count {value} at index {index}; counts must be finite and >= 0"
    )]
    InvalidCount {
        /// Which input.
        name: &'static str,
        /// Position of the offending count.
        index: usize,
        /// The count.
        value: f64,
    },

    /// A count vector sums to zero, so proportions are undefined.
    #[error(
        "`{name}` has a total count of 0 over {len} categories; need at least one observation"
    )]
    ZeroTotal {
        /// Which input.
        name: &'static str,
        /// How many categories it has.
        len: usize,
    },

    /// Two inputs that must be aligned have different lengths.
    #[error(
        "`{left}` has {left_len} elements but `{right}` has {right_len}; they must be aligned"
    )]
    LengthMismatch {
        /// First input.
        left: &'static str,
        /// Its length.
        left_len: usize,
        /// Second input.
        right: &'static str,
        /// Its length.
        right_len: usize,
    },

    /// A contingency table row has a different number of columns than the first row.
    #[error("contingency table row {row} has {len} columns but row 0 has {expected}")]
    RaggedTable {
        /// Offending row.
        row: usize,
        /// Its length.
        len: usize,
        /// Length of row 0.
        expected: usize,
    },

    /// A contingency table cell has an expected frequency of zero (a whole row or column is
    /// zero); SciPy raises the same error.
    #[error("contingency table has an expected frequency of 0 at row {row}, column {column} (row total {row_total}, column total {column_total})")]
    ZeroExpectedFrequency {
        /// Row of the cell.
        row: usize,
        /// Column of the cell.
        column: usize,
        /// Total of that row.
        row_total: f64,
        /// Total of that column.
        column_total: f64,
    },

    /// Fewer than two categories are left for a chi-square test of homogeneity.
    #[error("contingency table has {columns} column{plural} after dropping empty categories; need at least 2", plural = if *columns == 1 { "" } else { "s" })]
    TooFewCategories {
        /// Columns left.
        columns: usize,
    },

    /// A p-value is NaN or outside `[0, 1]`.
    #[error("p-value {value} at index {index} is outside [0, 1]")]
    InvalidPValue {
        /// Position of the offending p-value.
        index: usize,
        /// The value.
        value: f64,
    },

    /// A tuning parameter is out of its domain.
    #[error("parameter `{name}` = {value} is invalid: {reason}")]
    InvalidParameter {
        /// Parameter name.
        name: &'static str,
        /// Its value.
        value: f64,
        /// The rule it breaks.
        reason: &'static str,
    },
}

impl StatsError {
    /// A stable label per variant, for metrics (bounded cardinality).
    pub fn metric_label(&self) -> &'static str {
        match self {
            StatsError::EmptySample { .. } => "empty_sample",
            StatsError::NanValue { .. } => "nan_value",
            StatsError::NonFiniteValue { .. } => "non_finite_value",
            StatsError::NotSorted { .. } => "not_sorted",
            StatsError::InvalidCount { .. } => "invalid_count",
            StatsError::ZeroTotal { .. } => "zero_total",
            StatsError::LengthMismatch { .. } => "length_mismatch",
            StatsError::RaggedTable { .. } => "ragged_table",
            StatsError::ZeroExpectedFrequency { .. } => "zero_expected_frequency",
            StatsError::TooFewCategories { .. } => "too_few_categories",
            StatsError::InvalidPValue { .. } => "invalid_p_value",
            StatsError::InvalidParameter { .. } => "invalid_parameter",
        }
    }
}

/// Error unless `values` is non-empty and NaN-free.
pub(crate) fn check_sample_no_nan(name: &'static str, values: &[f64]) -> Result<(), StatsError> {
    if values.is_empty() {
        return Err(StatsError::EmptySample { name });
    }
    match values.iter().position(|v| v.is_nan()) {
        Some(index) => Err(StatsError::NanValue { name, index }),
        None => Ok(()),
    }
}

/// Error unless `values` is non-empty and every value is finite.
pub(crate) fn check_sample_finite(name: &'static str, values: &[f64]) -> Result<(), StatsError> {
    check_sample_no_nan(name, values)?;
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(StatsError::NonFiniteValue {
            name,
            index,
            value: values[index],
        }),
        None => Ok(()),
    }
}

/// Two aligned count vectors, `reference_counts` and `current_counts` (the two sides
/// of PSI and of the χ² test of homogeneity).
pub(crate) fn check_count_pair(reference: &[f64], current: &[f64]) -> Result<(), StatsError> {
    check_aligned("reference_counts", reference, "current_counts", current)?;
    check_counts("reference_counts", reference)?;
    check_counts("current_counts", current)
}

/// Error unless `counts` is non-empty and every count is finite and `>= 0`.
pub(crate) fn check_counts(name: &'static str, counts: &[f64]) -> Result<(), StatsError> {
    if counts.is_empty() {
        return Err(StatsError::EmptySample { name });
    }
    match counts.iter().position(|c| !(c.is_finite() && *c >= 0.0)) {
        Some(index) => Err(StatsError::InvalidCount {
            name,
            index,
            value: counts[index],
        }),
        None => Ok(()),
    }
}

/// Error unless `a` and `b` have the same length.
pub(crate) fn check_aligned(
    left: &'static str,
    a: &[f64],
    right: &'static str,
    b: &[f64],
) -> Result<(), StatsError> {
    if a.len() != b.len() {
        return Err(StatsError::LengthMismatch {
            left,
            left_len: a.len(),
            right,
            right_len: b.len(),
        });
    }
    Ok(())
}
