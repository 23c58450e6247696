//! Two-sample Kolmogorov–Smirnov test, matching
//! `scipy.stats.ks_2samp(a, b, alternative='two-sided', method='auto')`.

use super::error::{check_sample_no_nan, StatsError};
use super::kolmogorov::{kstwo_sf, kstwo_sf_fast};
use super::merge::merge;

/// Largest sample size for which the exact p-value is attempted (SciPy's `MAX_AUTO_N`).
pub const KS_MAX_EXACT_N: usize = 10_000;

/// How the p-value of a [`KsResult`] was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KsMethod {
    /// Exact null distribution of the two-sample statistic (lattice-path counting).
    Exact,
    /// One-sample Kolmogorov distribution `kstwo(round(n1 n2 / (n1 + n2)))`.
    Asymptotic,
}

/// Result of [`ks_2samp`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsResult {
    /// `D = sup_x |F_reference(x) - F_current(x)|`, in `[0, 1]`.
    pub statistic: f64,
    /// Two-sided p-value, in `[0, 1]`.
    pub pvalue: f64,
    /// Which computation produced `pvalue`.
    pub method: KsMethod,
    /// An observation at which the ECDF difference attains `statistic` (SciPy's
    /// `statistic_location`: the first such value of `reference`, else of `current`).
    pub statistic_location: f64,
    /// `+1` if `F_reference - F_current` attains `+D` there, `-1` if it attains `-D`
    /// (SciPy's `statistic_sign`).
    pub statistic_sign: i8,
}

/// Two-sided two-sample Kolmogorov–Smirnov test of `reference` against `current`.
///
/// Inputs: two non-empty samples without NaN (drop missing values first); infinities
/// are allowed and order as usual. The slices are copied and sorted; use
/// [`ks_2samp_sorted`] when the data are already sorted.
///
/// Output: the statistic `D`, the two-sided p-value and how it was computed, exactly as
/// `scipy.stats.ks_2samp(reference, current)` with its defaults (`method='auto'`):
/// when `max(n1, n2) <= 10_000` the exact p-value is computed (and `D` is snapped to the
/// nearest multiple of `1 / lcm(n1, n2)`, as SciPy does); if that computation is not
/// numerically possible, or for larger samples, the p-value is `kstwo.sf(D, round(en))`
/// with `en = n1 n2 / (n1 + n2)`.
///
/// Errors: [`StatsError::EmptySample`] or [`StatsError::NanValue`].
///
/// Cost: O((n1 + n2) log(n1 + n2)) for the sort and the statistic. The exact p-value
/// walks a band of the `n1 x n2` lattice (at most about 10^8 steps at the 10 000 cut-off);
/// the asymptotic one is O(1) except in the upper tail with a large effective `n`, where
/// SciPy's exact Smirnov sum costs O(en) (about 0.5 s for two 1 000 000-row samples).
pub fn ks_2samp(reference: &[f64], current: &[f64]) -> Result<KsResult, StatsError> {
    check_sample_no_nan("reference", reference)?;
    check_sample_no_nan("current", current)?;
    let mut a = reference.to_vec();
    let mut b = current.to_vec();
    a.sort_unstable_by(f64::total_cmp);
    b.sort_unstable_by(f64::total_cmp);
    Ok(ks_2samp_presorted(&a, &b))
}

/// [`ks_2samp`] for samples that are already sorted ascending, without copying or
/// re-sorting: O(n1 + n2) plus the p-value.
///
/// Inputs: two non-empty, NaN-free slices, each sorted ascending (`-0.0` and `0.0` may
/// appear in either order). Errors: [`StatsError::EmptySample`],
/// [`StatsError::NanValue`], or [`StatsError::NotSorted`] naming the first element that
/// is smaller than its predecessor.
pub fn ks_2samp_sorted(reference: &[f64], current: &[f64]) -> Result<KsResult, StatsError> {
    check_sample_no_nan("reference", reference)?;
    check_sample_no_nan("current", current)?;
    check_sorted("reference", reference)?;
    check_sorted("current", current)?;
    Ok(ks_2samp_presorted(reference, current))
}

fn check_sorted(name: &'static str, values: &[f64]) -> Result<(), StatsError> {
    match values.windows(2).position(|w| w[1] < w[0]) {
        Some(i) => Err(StatsError::NotSorted {
            name,
            index: i + 1,
            value: values[i + 1],
            previous_index: i,
            previous: values[i],
        }),
        None => Ok(()),
    }
}

/// Where the extreme ECDF difference was seen first, in each sample.
#[derive(Clone, Copy)]
struct Extreme {
    diff: f64,
    in_a: Option<f64>,
    in_b: Option<f64>,
}

impl Extreme {
    fn location(&self) -> f64 {
        self.in_a.or(self.in_b).unwrap_or(f64::NAN)
    }

    fn update(&mut self, better: bool, diff: f64, in_a: Option<f64>, in_b: Option<f64>) {
        if better {
            *self = Extreme { diff, in_a, in_b };
        } else if diff == self.diff {
            self.in_a = self.in_a.or(in_a);
            self.in_b = self.in_b.or(in_b);
        }
    }
}

/// The test on sorted, validated, non-empty samples.
fn ks_2samp_presorted(a: &[f64], b: &[f64]) -> KsResult {
    let n1 = a.len();
    let n2 = b.len();
    let (n1f, n2f) = (n1 as f64, n2 as f64);

    // At each distinct value of the union the ECDFs are (#a <= v)/n1, (#b <= v)/n2
    // (SciPy's searchsorted(..., side='right') over the concatenated data).
    let mut max = Extreme {
        diff: f64::NEG_INFINITY,
        in_a: None,
        in_b: None,
    };
    let mut min = Extreme {
        diff: f64::INFINITY,
        in_a: None,
        in_b: None,
    };
    for step in merge(a, b) {
        let diff = step.a as f64 / n1f - step.b as f64 / n2f;
        max.update(diff > max.diff, diff, step.first_a, step.first_b);
        min.update(diff < min.diff, diff, step.first_a, step.first_b);
    }
    let min_s = (-min.diff).clamp(0.0, 1.0);
    let max_s = max.diff;
    let (d, location, sign) = if min_s > max_s {
        (min_s, min.location(), -1)
    } else {
        (max_s, max.location(), 1)
    };

    let (d, prob, method) = ks_pvalue(n1, n2, d, PValueMode::Reference);
    KsResult {
        statistic: d,
        pvalue: prob.clamp(0.0, 1.0),
        method,
        statistic_location: location,
        statistic_sign: sign,
    }
}

/// Which p-value [`ks_pvalue`] computes in the asymptotic regime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PValueMode {
    /// Exactly SciPy's `method='auto'` (what [`ks_2samp`] returns).
    Reference,
    /// SciPy's, except when the effective sample size `en = n1 n2 / (n1 + n2)` is at least
    /// [`KS_FAST_MIN_EN`] and the statistic is in the upper tail (p < 0.025): then
    /// [`kstwo_sf_fast`](super::kolmogorov::kstwo_sf_fast) (the asymptotic Smirnov formula
    /// SciPy itself uses above n = 10^6), O(1) instead of an O(en) double-double sum. Its
    /// stated error against SciPy: relative ≤ [`KS_FAST_RTOL`] for p ≥ 1e-10, and
    /// `|ln p - ln p_scipy| <= 0.01 |ln p_scipy|` below (tested against `kstwo.sf`).
    Fast,
}

/// Effective sample size from which [`PValueMode::Fast`] may approximate.
pub const KS_FAST_MIN_EN: u64 = 10_000;
/// Stated relative error of [`PValueMode::Fast`] against SciPy for p ≥ 1e-10.
pub const KS_FAST_RTOL: f64 = 5e-3;
/// Stated error of [`PValueMode::Fast`] for p < 1e-10, relative to `ln p`.
pub const KS_FAST_LN_RTOL: f64 = 1e-2;

/// The two-sided p-value of a two-sample KS statistic `d` for sample sizes `n1`, `n2`,
/// chosen as `scipy.stats.ks_2samp(method='auto')` does: exact when
/// `max(n1, n2) <= 10_000` (snapping `d` to the lattice `1 / lcm(n1, n2)`), else
/// `kstwo.sf(d, round(en))`. Returns `(d, p, method)`; `d` is the snapped statistic.
///
/// Inputs: `n1, n2 >= 1`, `0 <= d <= 1`.
pub fn ks_pvalue(n1: usize, n2: usize, d: f64, mode: PValueMode) -> (f64, f64, KsMethod) {
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let mut d = d;
    let g = gcd(n1 as u64, n2 as u64);
    if n1.max(n2) <= KS_MAX_EXACT_N {
        let (ok, snapped, p) = attempt_exact(n1 as u64, n2 as u64, g, d);
        d = snapped;
        if ok {
            return (d, p.clamp(0.0, 1.0), KsMethod::Exact);
        }
    }
    let (m, n) = if n1f >= n2f { (n1f, n2f) } else { (n2f, n1f) };
    let en = (m * n / (m + n)).round_ties_even() as u64;
    let p = match mode {
        PValueMode::Reference => kstwo_sf(d, en),
        PValueMode::Fast if en >= KS_FAST_MIN_EN => kstwo_sf_fast(d, en),
        PValueMode::Fast => kstwo_sf(d, en),
    };
    (d, p.clamp(0.0, 1.0), KsMethod::Asymptotic)
}

/// The KS statistic `D` of two samples given as ascending `(value, count)` lists (for
/// example from histograms of distinct values). Same arithmetic as [`ks_2samp`]: at
/// each distinct value the ECDFs are `(#a <= v) / n1` and `(#b <= v) / n2`.
///
/// Returns `(D, n1, n2)`; `None` when either list is empty or has a zero total.
pub fn ks_statistic_from_counts(a: &[(f64, u64)], b: &[(f64, u64)]) -> Option<(f64, u64, u64)> {
    let n1: u64 = a.iter().map(|x| x.1).sum();
    let n2: u64 = b.iter().map(|x| x.1).sum();
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let (mut max, mut min) = (f64::NEG_INFINITY, f64::INFINITY);
    for step in merge(a, b) {
        let diff = step.a as f64 / n1f - step.b as f64 / n2f;
        max = max.max(diff);
        min = min.min(diff);
    }
    let min_s = (-min).clamp(0.0, 1.0);
    Some((if min_s > max { min_s } else { max }, n1, n2))
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// SciPy's `_attempt_exact_2kssamp` (two-sided): returns `(success, snapped d, p)`.
fn attempt_exact(n1: u64, n2: u64, g: u64, d: f64) -> (bool, f64, f64) {
    let lcm = (n1 / g) * n2;
    let h = (d * lcm as f64).round_ties_even() as u64;
    let d = h as f64 / lcm as f64;
    if h == 0 {
        return (true, d, 1.0);
    }
    let prob = if n1 == n2 {
        prob_outside_square(n1, h)
    } else {
        outer_prob_inside(n1, n2, g, h)
    };
    // Not (0 <= prob <= 1), NaN included, means the computation lost accuracy.
    let ok = (0.0..=1.0).contains(&prob);
    (ok, d, prob)
}

/// `P(D_{n,n} >= h/n)`: the proportion of lattice paths leaving the band `|x - y| < h`,
/// by the alternating binomial sum evaluated Horner-style (SciPy's
/// `_compute_prob_outside_square`).
fn prob_outside_square(n: u64, h: u64) -> f64 {
    let (n, h) = (n as i64, h as i64);
    let mut p = 0.0;
    let mut k = (n as f64 / h as f64).floor() as i64;
    while k >= 0 {
        let mut p1 = 1.0;
        for j in 0..h {
            p1 = (n - k * h - j) as f64 * p1 / (n + k * h + j + 1) as f64;
        }
        p = p1 * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// `P(D_{m,n} >= h / lcm(m, n))` for `m != n`: the proportion of lattice paths from
/// `(0, 0)` to `(m, n)` that do not stay strictly inside `|x/m - y/n| < h / lcm`, by
/// Hodges' inside method with Viehmann's recursion for `1 - p` (SciPy's
/// `_compute_outer_prob_inside_method`). O(m * band width) time, O(band) memory.
fn outer_prob_inside(m: u64, n: u64, g: u64, h: u64) -> f64 {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let (m, n, g, h) = (m as i64, n as i64, g as i64, h as i64);
    let mg = m / g;
    let ng = n / g;
    let (hf, mgf, ngf) = (h as f64, mg as f64, ng as f64);

    let mut minj: i64 = 0;
    let mut maxj: i64 = ((hf / mgf).ceil() as i64).min(n + 1);
    let mut curlen = maxj - minj;
    let len_a = (2 * maxj + 2).min(n + 1) as usize;
    let mut a = vec![1.0_f64; len_a];
    for v in a.iter_mut().take(maxj as usize) {
        *v = 0.0;
    }
    for i in 1..=m {
        let lastminj = minj;
        let lastlen = curlen;
        let fi = i as f64;
        minj = ((((ngf * fi) - hf) / mgf).floor() as i64 + 1).max(0).min(n);
        maxj = (((ngf * fi + hf) / mgf).ceil() as i64).min(n + 1);
        if maxj <= minj {
            return 1.0;
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        for jj in 0..(maxj - minj) {
            let j = jj + minj;
            let src = (jj + minj - lastminj) as usize;
            let prev = a.get(src).copied().unwrap_or(1.0);
            val = (prev * fi + val * j as f64) / (i + j) as f64;
            if let Some(slot) = a.get_mut(jj as usize) {
                *slot = val;
            }
        }
        curlen = maxj - minj;
        if lastlen > curlen {
            // Carried-over entries beyond the new window count as "outside".
            let lo = (maxj - minj) as usize;
            let hi = ((maxj - minj) + (lastlen - curlen)) as usize;
            for v in a.iter_mut().take(hi).skip(lo) {
                *v = 1.0;
            }
        }
    }
    a.get((maxj - minj - 1) as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_samples_have_zero_statistic_and_unit_pvalue() {
        let a = [1.0, 2.0, 3.0, 4.0];
        let r = ks_2samp(&a, &a).expect("valid input");
        assert_eq!(r.statistic, 0.0);
        assert_eq!(r.pvalue, 1.0);
        assert_eq!(r.method, KsMethod::Exact);
    }

    #[test]
    fn disjoint_samples_of_two_have_known_pvalue() {
        // Exact: P(D_{2,2} >= 1) = 2 / C(4, 2) = 1/3.
        let r = ks_2samp(&[0.0, 1.0], &[2.0, 3.0]).expect("valid input");
        assert_eq!(r.statistic, 1.0);
        assert!((r.pvalue - 1.0 / 3.0).abs() < 1e-15);
        assert_eq!(r.statistic_sign, 1);
        assert_eq!(r.statistic_location, 1.0);
    }

    #[test]
    fn errors_name_the_sample() {
        let e = ks_2samp(&[1.0], &[]).expect_err("empty");
        assert_eq!(e.to_string(), "sample `current` is empty");
        let e = ks_2samp(&[1.0, f64::NAN], &[1.0]).expect_err("nan");
        assert_eq!(
            e.to_string(),
            "sample `reference` has NaN at index 1; drop missing values before calling"
        );
        let e = ks_2samp_sorted(&[1.0, 0.5], &[1.0]).expect_err("unsorted");
        assert_eq!(e.metric_label(), "not_sorted");
    }

    #[test]
    fn sorted_variant_agrees_with_sorting_variant() {
        let a = [3.0, -1.0, 2.5, 0.0, 7.0, 2.5];
        let b = [1.0, 2.0, -0.0, 9.0];
        let mut sa = a.to_vec();
        let mut sb = b.to_vec();
        sa.sort_by(f64::total_cmp);
        sb.sort_by(f64::total_cmp);
        assert_eq!(
            ks_2samp(&a, &b).expect("valid"),
            ks_2samp_sorted(&sa, &sb).expect("valid")
        );
    }
}
