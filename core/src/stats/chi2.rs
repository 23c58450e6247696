//! Chi-square test of independence/homogeneity on a contingency table, matching
//! `scipy.stats.chi2_contingency(table, correction=True)`.

use super::error::{check_count_pair, StatsError};
use super::special::chi2_sf;
use super::sum::pairwise_sum;

/// Result of [`chi2_contingency`] and [`chi2_homogeneity`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chi2Result {
    /// Pearson's chi-square statistic (after Yates' correction when it was applied).
    pub statistic: f64,
    /// `P(X >= statistic)` for `X ~ chi2(dof)`; 1 when `dof == 0`.
    pub pvalue: f64,
    /// Degrees of freedom, `(rows - 1) * (columns - 1)`.
    pub dof: usize,
    /// Whether Yates' continuity correction was applied (exactly when `dof == 1`).
    pub yates_corrected: bool,
}

/// Pearson's chi-square test on an `r x c` contingency table of counts.
///
/// Inputs: `table[i][j]` is the count of row `i`, column `j`; every row has the same
/// length, at least one row and column, and every count is finite and `>= 0` (counts
/// need not be integers). Expected counts are `row_total * column_total / total`.
///
/// Output: as `scipy.stats.chi2_contingency(table, correction=True)`: the statistic,
/// its p-value from the chi-square distribution with `dof = (r - 1)(c - 1)` degrees of
/// freedom, and `dof`. When `dof == 1` (a 2 x 2 table) Yates' continuity correction
/// moves every observed count towards its expected count by `min(0.5, |o - e|)`. When
/// `dof == 0` (one row or one column) the statistic is 0 and the p-value 1.
///
/// Errors: [`StatsError::EmptySample`], [`StatsError::RaggedTable`],
/// [`StatsError::InvalidCount`] (its index is row-major: `row * columns + column`), and [`StatsError::ZeroExpectedFrequency`] when a whole
/// row or column is zero (SciPy raises there too; see [`chi2_homogeneity`], which drops
/// empty categories first).
pub fn chi2_contingency(table: &[Vec<f64>]) -> Result<Chi2Result, StatsError> {
    let rows = table.len();
    let cols = check_table(table)?;
    let row_totals: Vec<f64> = table.iter().map(|r| pairwise_sum(r)).collect();
    let col_totals: Vec<f64> = (0..cols)
        .map(|c| pairwise_sum(&table.iter().map(|r| r[c]).collect::<Vec<f64>>()))
        .collect();
    let total = pairwise_sum(&table.iter().flatten().copied().collect::<Vec<f64>>());

    let mut expected = Vec::with_capacity(rows * cols);
    for (row, rt) in row_totals.iter().enumerate() {
        for (column, ct) in col_totals.iter().enumerate() {
            let e = rt * ct / total;
            if e == 0.0 {
                return Err(StatsError::ZeroExpectedFrequency {
                    row,
                    column,
                    row_total: *rt,
                    column_total: *ct,
                });
            }
            expected.push(e);
        }
    }

    let dof = (rows - 1) * (cols - 1);
    if dof == 0 {
        return Ok(Chi2Result {
            statistic: 0.0,
            pvalue: 1.0,
            dof,
            yates_corrected: false,
        });
    }
    let yates = dof == 1;
    let terms: Vec<f64> = table
        .iter()
        .flatten()
        .zip(&expected)
        .map(|(&o, &e)| {
            let o = if yates {
                let diff = e - o;
                let magnitude = diff.abs().min(0.5);
                o + magnitude * sign(diff)
            } else {
                o
            };
            (o - e) * (o - e) / e
        })
        .collect();
    let statistic = pairwise_sum(&terms);
    Ok(Chi2Result {
        statistic,
        pvalue: chi2_sf(statistic, dof as f64),
        dof,
        yates_corrected: yates,
    })
}

/// The number of columns of a rectangular, non-empty table of finite counts `>= 0`.
fn check_table(table: &[Vec<f64>]) -> Result<usize, StatsError> {
    let first = table
        .first()
        .ok_or(StatsError::EmptySample { name: "table" })?;
    let cols = first.len();
    if cols == 0 {
        return Err(StatsError::EmptySample { name: "table" });
    }
    for (row, values) in table.iter().enumerate() {
        if values.len() != cols {
            return Err(StatsError::RaggedTable {
                row,
                len: values.len(),
                expected: cols,
            });
        }
        if let Some(column) = values.iter().position(|c| !(c.is_finite() && *c >= 0.0)) {
            return Err(StatsError::InvalidCount {
                name: "table",
                index: row * cols + column,
                value: values[column],
            });
        }
    }
    Ok(cols)
}

/// NumPy's `sign`: -1, 0 or 1.
fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Chi-square test of homogeneity between a reference and a current count vector over
/// the same categories (a 2 x K table), e.g. category frequencies of a feature or of
/// predicted classes.
///
/// Inputs: two aligned count vectors (`reference_counts[k]` and `current_counts[k]`
/// count category `k`), finite and `>= 0`.
///
/// Categories that are zero in both vectors carry no information and would make SciPy
/// fail with a zero expected frequency, so they are dropped first (the reference
/// benchmark does the same: `table[:, table.sum(axis=0) > 0]`). The rest is
/// [`chi2_contingency`] on the 2 x K' table: `dof = K' - 1`, with Yates' correction
/// when `K' == 2`.
///
/// Errors: [`StatsError::LengthMismatch`], [`StatsError::InvalidCount`],
/// [`StatsError::ZeroTotal`] when either vector has no observations, and
/// [`StatsError::TooFewCategories`] when fewer than two categories remain (a 2 x 1
/// table has no degrees of freedom; SciPy would return statistic 0, p-value 1 — the
/// caller decides what that means for drift).
pub fn chi2_homogeneity(
    reference_counts: &[f64],
    current_counts: &[f64],
) -> Result<Chi2Result, StatsError> {
    check_count_pair(reference_counts, current_counts)?;
    for (name, counts) in [
        ("reference_counts", reference_counts),
        ("current_counts", current_counts),
    ] {
        if counts.iter().all(|c| *c == 0.0) {
            return Err(StatsError::ZeroTotal {
                name,
                len: counts.len(),
            });
        }
    }
    let (reference, current): (Vec<f64>, Vec<f64>) = reference_counts
        .iter()
        .zip(current_counts)
        .filter(|(r, c)| **r + **c > 0.0)
        .map(|(r, c)| (*r, *c))
        .unzip();
    if reference.len() < 2 {
        return Err(StatsError::TooFewCategories {
            columns: reference.len(),
        });
    }
    chi2_contingency(&[reference, current])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_by_two_uses_yates() {
        // Hand-computed: expected [[15, 15], [15, 15]], |o - e| = 5 -> 4.5 after Yates,
        // statistic = 4 * 4.5^2 / 15 = 5.4.
        let r = chi2_contingency(&[vec![20.0, 10.0], vec![10.0, 20.0]]).expect("valid");
        assert!(r.yates_corrected);
        assert_eq!(r.dof, 1);
        assert!((r.statistic - 5.4).abs() < 1e-12);
        // scipy.stats.chi2.sf(5.4, 1)
        assert!((r.pvalue - 0.020_136_751_550_346_33).abs() < 1e-15);
    }

    #[test]
    fn homogeneity_drops_empty_categories() {
        let with_empty =
            chi2_homogeneity(&[10.0, 0.0, 5.0, 7.0], &[8.0, 0.0, 9.0, 2.0]).expect("valid");
        let without = chi2_homogeneity(&[10.0, 5.0, 7.0], &[8.0, 9.0, 2.0]).expect("valid");
        assert_eq!(with_empty, without);
        assert_eq!(with_empty.dof, 2);
    }

    #[test]
    fn homogeneity_errors_are_explicit() {
        let e = chi2_homogeneity(&[3.0, 0.0], &[4.0, 0.0]).expect_err("one column");
        assert_eq!(
            e.to_string(),
            "contingency table has 1 column after dropping empty categories; need at least 2"
        );
        let e = chi2_homogeneity(&[3.0, 1.0], &[0.0, 0.0]).expect_err("empty current");
        assert_eq!(e.metric_label(), "zero_total");
        let e = chi2_homogeneity(&[3.0], &[1.0, 2.0]).expect_err("misaligned");
        assert_eq!(e.metric_label(), "length_mismatch");
        let e = chi2_contingency(&[vec![1.0, 0.0], vec![2.0, 0.0]]).expect_err("zero column");
        assert_eq!(e.metric_label(), "zero_expected_frequency");
    }
}
