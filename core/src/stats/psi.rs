//! Population stability index (PSI), as the reference benchmark computes it
//! (`shared/bench/drift.py`: `psi_numeric`, `psi_from_counts`).

use super::error::{check_count_pair, check_sample_finite, StatsError};
use super::sum::pairwise_sum;

/// Default number of quantile bins for numeric PSI (reference deciles).
pub const PSI_DEFAULT_BINS: usize = 10;
/// Default floor for bin proportions, so empty bins do not make PSI infinite.
pub const PSI_DEFAULT_EPSILON: f64 = 1e-4;

/// PSI between two aligned count vectors (categories or bins):
/// `sum_k (c_k - r_k) * ln(c_k / r_k)` where `r = max(reference / sum(reference), epsilon)`
/// and `c = max(current / sum(current), epsilon)`.
///
/// Inputs: aligned, non-empty, finite counts `>= 0` with a positive total each;
/// `epsilon > 0` (use [`PSI_DEFAULT_EPSILON`], 1e-4, to match the benchmark).
/// Output: PSI `>= 0`, natural logarithm. Common reading: < 0.1 stable,
/// 0.1–0.2 moderate shift, >= 0.2 significant shift.
///
/// Errors: [`StatsError::LengthMismatch`], [`StatsError::EmptySample`],
/// [`StatsError::InvalidCount`], [`StatsError::ZeroTotal`],
/// [`StatsError::InvalidParameter`] for `epsilon`.
pub fn psi_from_counts(
    reference_counts: &[f64],
    current_counts: &[f64],
    epsilon: f64,
) -> Result<f64, StatsError> {
    check_count_pair(reference_counts, current_counts)?;
    check_epsilon(epsilon)?;
    let r = proportions("reference_counts", reference_counts, epsilon)?;
    let c = proportions("current_counts", current_counts, epsilon)?;
    let terms: Vec<f64> = c
        .iter()
        .zip(&r)
        .map(|(c, r)| (c - r) * (c / r).ln())
        .collect();
    Ok(pairwise_sum(&terms))
}

fn check_epsilon(epsilon: f64) -> Result<(), StatsError> {
    if epsilon.is_finite() && epsilon > 0.0 {
        Ok(())
    } else {
        Err(StatsError::InvalidParameter {
            name: "epsilon",
            value: epsilon,
            reason: "must be finite and > 0",
        })
    }
}

fn proportions(name: &'static str, counts: &[f64], epsilon: f64) -> Result<Vec<f64>, StatsError> {
    let total = pairwise_sum(counts);
    if total <= 0.0 {
        return Err(StatsError::ZeroTotal {
            name,
            len: counts.len(),
        });
    }
    Ok(counts.iter().map(|c| (c / total).max(epsilon)).collect())
}

/// Inner bin edges at the reference quantiles `0, 1/bins, ..., 1`: NumPy's
/// `np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))[1:-1]`
/// (linear interpolation, method 7 of Hyndman & Fan). Tied quantiles merge, and the
/// outermost edges are dropped so the first and last bins are open, `(-inf, e_0)` and
/// `[e_last, +inf)`.
///
/// Inputs: a non-empty reference of finite values, `bins >= 1`. Output: at most
/// `bins - 1` strictly increasing edges (none when the reference is constant).
pub fn quantile_bin_edges(reference: &[f64], bins: usize) -> Result<Vec<f64>, StatsError> {
    check_sample_finite("reference", reference)?;
    if bins == 0 {
        return Err(StatsError::InvalidParameter {
            name: "bins",
            value: 0.0,
            reason: "need at least 1 bin",
        });
    }
    let mut sorted = reference.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    let step = 1.0 / bins as f64;
    let mut edges: Vec<f64> = (0..=bins)
        .map(|i| {
            let q = if i == bins { 1.0 } else { i as f64 * step };
            quantile_linear_sorted(&sorted, q)
        })
        .collect();
    edges.sort_unstable_by(f64::total_cmp);
    edges.dedup_by(|a, b| a == b);
    if edges.len() <= 2 {
        return Ok(Vec::new());
    }
    Ok(edges[1..edges.len() - 1].to_vec())
}

/// NumPy's default (`method='linear'`) quantile of sorted, finite, non-empty data.
fn quantile_linear_sorted(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let last = n - 1;
    let virtual_index = last as f64 * q;
    if virtual_index >= last as f64 {
        return sorted[last];
    }
    let prev = virtual_index.floor();
    let gamma = virtual_index - prev;
    let lo = prev as usize;
    let a = sorted[lo];
    let b = sorted[lo + 1];
    let diff = b - a;
    if gamma >= 0.5 {
        b - diff * (1.0 - gamma)
    } else {
        a + diff * gamma
    }
}

/// The value at 0-based rank `rank` of the data described by ascending `(value, count)`
/// pairs with cumulative counts `cum` (`cum[i]` = total count of pairs `0..=i`).
fn value_at_rank(sorted: &[(f64, u64)], cum: &[u64], rank: u64) -> f64 {
    let i = cum.partition_point(|&c| c <= rank);
    sorted[i.min(sorted.len() - 1)].0
}

/// NumPy's linear quantile `q` of the data given as ascending `(value, count)` pairs
/// (a histogram of distinct values): the same number as [`quantile_bin_edges`]'s
/// quantile of the expanded data. `None` when the total count is 0.
pub fn quantile_linear_sorted_counts(sorted: &[(f64, u64)], q: f64) -> Option<f64> {
    let cum: Vec<u64> = sorted
        .iter()
        .scan(0u64, |acc, x| {
            *acc += x.1;
            Some(*acc)
        })
        .collect();
    quantile_with_cum(sorted, &cum, q)
}

fn quantile_with_cum(sorted: &[(f64, u64)], cum: &[u64], q: f64) -> Option<f64> {
    let n = *cum.last()?;
    if n == 0 {
        return None;
    }
    let last = n - 1;
    let virtual_index = last as f64 * q;
    if virtual_index >= last as f64 {
        return Some(value_at_rank(sorted, cum, last));
    }
    let prev = virtual_index.floor();
    let gamma = virtual_index - prev;
    let lo = prev as u64;
    let a = value_at_rank(sorted, cum, lo);
    let b = value_at_rank(sorted, cum, lo + 1);
    let diff = b - a;
    Some(if gamma >= 0.5 {
        b - diff * (1.0 - gamma)
    } else {
        a + diff * gamma
    })
}

/// [`quantile_bin_edges`] for data given as ascending `(value, count)` pairs of finite
/// values: identical edges to the expanded data's. Empty or zero-total input gives no edges.
pub fn quantile_bin_edges_from_counts(sorted: &[(f64, u64)], bins: usize) -> Vec<f64> {
    let cum: Vec<u64> = sorted
        .iter()
        .scan(0u64, |acc, x| {
            *acc += x.1;
            Some(*acc)
        })
        .collect();
    if bins == 0 || cum.last().copied().unwrap_or(0) == 0 {
        return Vec::new();
    }
    let step = 1.0 / bins as f64;
    let mut edges: Vec<f64> = (0..=bins)
        .filter_map(|i| {
            let q = if i == bins { 1.0 } else { i as f64 * step };
            quantile_with_cum(sorted, &cum, q)
        })
        .collect();
    edges.sort_unstable_by(f64::total_cmp);
    edges.dedup_by(|a, b| a == b);
    if edges.len() <= 2 {
        return Vec::new();
    }
    edges[1..edges.len() - 1].to_vec()
}

/// [`bin_counts`] for `(value, count)` pairs.
pub fn bin_counts_weighted(values: &[(f64, u64)], edges: &[f64]) -> Vec<f64> {
    let mut counts = vec![0u64; edges.len() + 1];
    for (v, c) in values {
        let k = edges.partition_point(|e| e <= v);
        counts[k] += c;
    }
    counts.into_iter().map(|c| c as f64).collect()
}

/// Counts of `values` per bin delimited by `edges` (sorted inner edges): bin `k` holds
/// the values with exactly `k` edges `<= value` (NumPy's
/// `bincount(searchsorted(edges, values, side='right'), minlength=len(edges) + 1)`).
pub fn bin_counts(values: &[f64], edges: &[f64]) -> Vec<f64> {
    let mut counts = vec![0.0; edges.len() + 1];
    for v in values {
        let k = edges.partition_point(|e| e <= v);
        counts[k] += 1.0;
    }
    counts
}

/// PSI of a numeric feature with bins at the reference quantiles, exactly as the
/// benchmark's `psi_numeric`: edges from [`quantile_bin_edges`] (`bins` quantile bins,
/// ties merged, outer bins open), counts per bin for both samples, then
/// [`psi_from_counts`] with `epsilon`.
///
/// Inputs: non-empty samples of finite values (drop missing values first),
/// `bins >= 1` ([`PSI_DEFAULT_BINS`] = 10), `epsilon > 0` ([`PSI_DEFAULT_EPSILON`]).
/// Output: PSI `>= 0`. A constant reference gives a single bin and PSI 0.
///
/// Errors: [`StatsError::EmptySample`], [`StatsError::NanValue`],
/// [`StatsError::NonFiniteValue`], [`StatsError::InvalidParameter`].
pub fn psi_numeric(
    reference: &[f64],
    current: &[f64],
    bins: usize,
    epsilon: f64,
) -> Result<f64, StatsError> {
    check_sample_finite("reference", reference)?;
    check_sample_finite("current", current)?;
    check_epsilon(epsilon)?;
    let edges = quantile_bin_edges(reference, bins)?;
    let rc = bin_counts(reference, &edges);
    let cc = bin_counts(current, &edges);
    psi_from_counts(&rc, &cc, epsilon)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_distributions_have_zero_psi() {
        let r = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0];
        assert_eq!(psi_numeric(&r, &r, 10, 1e-4).expect("valid"), 0.0);
    }

    #[test]
    fn hand_computed_categorical_psi() {
        // r = [0.5, 0.5], c = [0.25, 0.75]
        let psi = psi_from_counts(&[5.0, 5.0], &[1.0, 3.0], 1e-4).expect("valid");
        let expected = (0.25 - 0.5) * (0.25_f64 / 0.5).ln() + (0.75 - 0.5) * (0.75_f64 / 0.5).ln();
        assert!((psi - expected).abs() < 1e-15);
    }

    #[test]
    fn quantiles_match_numpy_linear() {
        // np.quantile([1, 2, 3, 4], [0, .1, .5, .9, 1]) == [1, 1.3, 2.5, 3.7, 4]
        let s = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_linear_sorted(&s, 0.0), 1.0);
        assert!((quantile_linear_sorted(&s, 0.1) - 1.3).abs() < 1e-15);
        assert_eq!(quantile_linear_sorted(&s, 0.5), 2.5);
        assert!((quantile_linear_sorted(&s, 0.9) - 3.7).abs() < 1e-15);
        assert_eq!(quantile_linear_sorted(&s, 1.0), 4.0);
    }

    #[test]
    fn histogram_quantiles_match_the_expanded_data() {
        let values = [5.0, 1.0, 1.0, 2.0, 9.0, 9.0, 9.0, 3.0, 2.0, 7.0, 1.0, 4.0];
        let mut sorted: Vec<(f64, u64)> = Vec::new();
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        for x in &v {
            match sorted.last_mut() {
                Some(last) if last.0 == *x => last.1 += 1,
                _ => sorted.push((*x, 1)),
            }
        }
        for bins in [2, 3, 4, 10] {
            assert_eq!(
                quantile_bin_edges_from_counts(&sorted, bins),
                quantile_bin_edges(&values, bins).expect("valid"),
                "bins {bins}"
            );
        }
        let edges = quantile_bin_edges(&values, 4).expect("valid");
        assert_eq!(
            bin_counts_weighted(&sorted, &edges),
            bin_counts(&values, &edges)
        );
    }

    #[test]
    fn constant_reference_has_no_inner_edges() {
        assert!(quantile_bin_edges(&[2.0; 5], 10).expect("valid").is_empty());
        assert_eq!(bin_counts(&[1.0, 2.0, 3.0], &[]), vec![3.0]);
        assert_eq!(bin_counts(&[1.0, 2.0, 3.0], &[2.0]), vec![1.0, 2.0]);
    }

    #[test]
    fn invalid_parameters_are_rejected() {
        assert!(psi_from_counts(&[1.0], &[1.0], 0.0).is_err());
        assert!(psi_numeric(&[1.0], &[1.0], 0, 1e-4).is_err());
        assert!(psi_numeric(&[1.0], &[f64::INFINITY], 10, 1e-4).is_err());
    }
}
