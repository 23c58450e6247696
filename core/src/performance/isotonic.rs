//! Isotonic regression with scikit-learn's semantics (`IsotonicRegression(increasing=True,
//! out_of_bounds="clip")`, scikit-learn 1.5):
//!
//! 1. rows sorted by (x, y) — `np.lexsort((y, X))`;
//! 2. runs of equal x (closer than `np.finfo(float64).resolution` = 1e-15 to the run's
//!    first x) merged into one point whose y is the weighted mean and whose weight is the
//!    sum (`_make_unique`);
//! 3. pool adjacent violators with backtracking (`_inplace_contiguous_isotonic_regression`),
//!    the same operations in the same order;
//! 4. interior points whose y equals both neighbours' dropped (`trim_duplicates`);
//! 5. prediction by `np.interp` over the kept points after clipping to `[x_min, x_max]`.

use super::error::PerformanceError;

/// `np.finfo(np.float64).resolution`: x values closer than this are one point.
const X_RESOLUTION: f64 = 1e-15;

/// A fitted increasing step-linear function.
#[derive(Clone, Debug, PartialEq)]
pub struct IsotonicRegression {
    /// `X_thresholds_`: the kept knots, ascending.
    x: Vec<f64>,
    /// `y_thresholds_`: the fitted values at the knots.
    y: Vec<f64>,
}

impl IsotonicRegression {
    /// Fits `y ≈ f(x)` with f non-decreasing. `weights` default to 1; rows with weight
    /// 0 are ignored, as scikit-learn does.
    pub fn fit(x: &[f64], y: &[f64], weights: Option<&[f64]>) -> Result<Self, PerformanceError> {
        if x.len() != y.len() || weights.is_some_and(|w| w.len() != x.len()) {
            return Err(PerformanceError::LengthMismatch {
                what: "isotonic regression inputs",
                left: x.len(),
                right: weights.map_or(y.len(), <[f64]>::len),
            });
        }
        if let Some(row) = x.iter().chain(y).position(|v| !v.is_finite()) {
            return Err(PerformanceError::NonFiniteScore {
                row: row % x.len().max(1),
            });
        }
        let mut rows: Vec<(f64, f64, f64)> = (0..x.len())
            .map(|i| (x[i], y[i], weights.map_or(1.0, |w| w[i])))
            .filter(|r| r.2 > 0.0)
            .collect();
        if rows.is_empty() {
            return Err(PerformanceError::TooFewRows {
                what: "isotonic regression",
                rows: 0,
                min: 1,
            });
        }
        rows.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let (ux, mut uy, mut uw) = merge_duplicates(&rows);
        pool_adjacent_violators(&mut uy, &mut uw);
        let (x, y) = trim(ux, uy);
        Ok(IsotonicRegression { x, y })
    }

    /// The fitted value at `t` (clipped to the fitted range; NaN stays NaN).
    pub fn predict(&self, t: f64) -> f64 {
        let (first, last) = (self.x[0], self.x[self.x.len() - 1]);
        if self.x.len() == 1 {
            return self.y[0];
        }
        interp(t.clamp(first, last), &self.x, &self.y)
    }

    /// The knots (`X_thresholds_`).
    pub fn x_thresholds(&self) -> &[f64] {
        &self.x
    }

    /// The fitted values at the knots (`y_thresholds_`).
    pub fn y_thresholds(&self) -> &[f64] {
        &self.y
    }
}

/// `_make_unique`: one point per run of equal x, y the weighted mean.
fn merge_duplicates(rows: &[(f64, f64, f64)]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mut xs, mut ys, mut ws) = (Vec::new(), Vec::new(), Vec::new());
    let mut current_x = rows[0].0;
    let (mut current_y, mut current_w) = (0.0, 0.0);
    for &(x, y, w) in rows {
        if x - current_x >= X_RESOLUTION {
            xs.push(current_x);
            ws.push(current_w);
            ys.push(current_y / current_w);
            current_x = x;
            current_w = w;
            current_y = y * w;
        } else {
            current_w += w;
            current_y += y * w;
        }
    }
    xs.push(current_x);
    ws.push(current_w);
    ys.push(current_y / current_w);
    (xs, ys, ws)
}

/// PAVA in place, as scikit-learn's Cython: `target[i]` is the last index of the block
/// starting at `i` (and `target[last] = i`); backtracking keeps it one pass.
fn pool_adjacent_violators(y: &mut [f64], w: &mut [f64]) {
    let n = y.len();
    let mut target: Vec<usize> = (0..n).collect();
    let mut i = 0;
    while i < n {
        let mut k = target[i] + 1;
        if k == n {
            break;
        }
        if y[i] < y[k] {
            i = k;
            continue;
        }
        let mut sum_wy = w[i] * y[i];
        let mut sum_w = w[i];
        loop {
            let prev_y = y[k];
            sum_wy += w[k] * y[k];
            sum_w += w[k];
            k = target[k] + 1;
            if k == n || prev_y < y[k] {
                y[i] = sum_wy / sum_w;
                w[i] = sum_w;
                target[i] = k - 1;
                target[k - 1] = i;
                if i > 0 {
                    i = target[i - 1];
                }
                break;
            }
        }
    }
    let mut i = 0;
    while i < n {
        let k = target[i] + 1;
        let value = y[i];
        y[i + 1..k].fill(value);
        i = k;
    }
}

/// `trim_duplicates`: drop interior knots whose y equals both neighbours'.
fn trim(x: Vec<f64>, y: Vec<f64>) -> (Vec<f64>, Vec<f64>) {
    let n = y.len();
    let keep = |i: usize| i == 0 || i + 1 == n || y[i] != y[i - 1] || y[i] != y[i + 1];
    let kept: Vec<usize> = (0..n).filter(|&i| keep(i)).collect();
    (
        kept.iter().map(|&i| x[i]).collect(),
        kept.iter().map(|&i| y[i]).collect(),
    )
}

/// `np.interp(t, xp, fp)` for `xp[0] <= t <= xp[last]` (the caller clips).
fn interp(t: f64, xp: &[f64], fp: &[f64]) -> f64 {
    let last = xp.len() - 1;
    if t.is_nan() {
        return t;
    }
    if t == xp[last] {
        return fp[last];
    }
    // j with xp[j] <= t < xp[j + 1].
    let j = xp
        .partition_point(|&x| x <= t)
        .saturating_sub(1)
        .min(last - 1);
    if t == xp[j] {
        return fp[j];
    }
    let slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
    let value = slope * (t - xp[j]) + fp[j];
    if value.is_nan() {
        slope * (t - xp[j + 1]) + fp[j + 1]
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_a_violation_into_its_mean() {
        let iso = IsotonicRegression::fit(&[1.0, 2.0, 3.0], &[1.0, 3.0, 2.0], None).expect("fit");
        assert_eq!(iso.y_thresholds(), &[1.0, 2.5, 2.5]);
        assert_eq!(iso.predict(0.0), 1.0);
        assert_eq!(iso.predict(1.5), 1.75);
        assert_eq!(iso.predict(9.0), 2.5);
    }

    #[test]
    fn refuses_mismatched_or_non_finite_input() {
        assert!(IsotonicRegression::fit(&[1.0], &[1.0, 2.0], None).is_err());
        assert!(IsotonicRegression::fit(&[f64::NAN], &[1.0], None).is_err());
        assert!(IsotonicRegression::fit(&[], &[], None).is_err());
    }
}
