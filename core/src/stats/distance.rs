//! Distances between distributions: Wasserstein-1 between samples and Jensen–Shannon
//! between count/probability vectors.

use super::error::{check_aligned, check_counts, check_sample_finite, StatsError};
use super::merge::merge;
use super::sum::pairwise_sum;

/// First Wasserstein (earth mover's) distance between the empirical distributions of
/// two samples: `integral |F_a(x) - F_b(x)| dx`, in the units of the data
/// (`scipy.stats.wasserstein_distance(a, b)` without weights).
///
/// Inputs: non-empty samples of finite values (drop missing values first); copied and
/// sorted, O((n + m) log(n + m)).
///
/// Errors: [`StatsError::EmptySample`], [`StatsError::NanValue`],
/// [`StatsError::NonFiniteValue`].
pub fn wasserstein_distance(reference: &[f64], current: &[f64]) -> Result<f64, StatsError> {
    check_sample_finite("reference", reference)?;
    check_sample_finite("current", current)?;
    let mut u = reference.to_vec();
    let mut v = current.to_vec();
    u.sort_unstable_by(f64::total_cmp);
    v.sort_unstable_by(f64::total_cmp);
    let (nu, nv) = (u.len() as f64, v.len() as f64);

    // Walk the distinct values of the merged samples; between consecutive distinct
    // values w < w' both ECDFs are constant (#u <= w / nu and #v <= w / nv), so the
    // integral is a sum of |F_u(w) - F_v(w)| * (w' - w). SciPy sums the same products
    // over every merged element; its extra terms for tied elements are exactly zero.
    let mut terms = Vec::with_capacity(u.len() + v.len());
    let mut prev: Option<(f64, f64)> = None; // (value, |F_u - F_v| at value)
    for step in merge(&u[..], &v[..]) {
        if let Some((p, gap)) = prev {
            terms.push(gap * (step.value - p));
        }
        prev = Some((step.value, (step.a as f64 / nu - step.b as f64 / nv).abs()));
    }
    Ok(pairwise_sum(&terms))
}

/// [`wasserstein_distance`] of two samples given as ascending `(value, count)` lists
/// (for example the distinct values of sketches): `∫ |F_a - F_b| dx`, summed in order.
/// NaN when either list has a zero total.
pub fn wasserstein_from_counts(a: &[(f64, u64)], b: &[(f64, u64)]) -> f64 {
    let n1: u64 = a.iter().map(|x| x.1).sum();
    let n2: u64 = b.iter().map(|x| x.1).sum();
    if n1 == 0 || n2 == 0 {
        return f64::NAN;
    }
    let mut total = 0.0;
    let mut prev: Option<(f64, f64)> = None; // (value, |F_a - F_b| at value)
    for step in merge(a, b) {
        if let Some((p, gap)) = prev {
            total += gap * (step.value - p);
        }
        prev = Some((
            step.value,
            (step.a as f64 / n1 as f64 - step.b as f64 / n2 as f64).abs(),
        ));
    }
    total
}

/// Jensen–Shannon distance between two distributions given as aligned counts or
/// probabilities, in base 2 (so it lies in `[0, 1]`): the square root of the
/// Jensen–Shannon divergence `(KL(p || m) + KL(q || m)) / 2` with `m = (p + q) / 2`,
/// after normalizing each vector to sum to 1
/// (`scipy.spatial.distance.jensenshannon(p, q, base=2)`).
///
/// Inputs: aligned, non-empty, finite values `>= 0` with a positive total each.
/// Output: distance in `[0, 1]`; a divergence that rounds below zero is reported as 0
/// (SciPy would return NaN there).
///
/// Errors: [`StatsError::LengthMismatch`], [`StatsError::EmptySample`],
/// [`StatsError::InvalidCount`], [`StatsError::ZeroTotal`].
pub fn jensen_shannon_distance(p: &[f64], q: &[f64]) -> Result<f64, StatsError> {
    check_aligned("p", p, "q", q)?;
    check_counts("p", p)?;
    check_counts("q", q)?;
    let p = normalize("p", p)?;
    let q = normalize("q", q)?;
    let m: Vec<f64> = p.iter().zip(&q).map(|(a, b)| (a + b) / 2.0).collect();
    let left: Vec<f64> = p.iter().zip(&m).map(|(x, y)| rel_entr(*x, *y)).collect();
    let right: Vec<f64> = q.iter().zip(&m).map(|(x, y)| rel_entr(*x, *y)).collect();
    let mut js = pairwise_sum(&left) + pairwise_sum(&right);
    js /= std::f64::consts::LN_2;
    Ok((js / 2.0).max(0.0).sqrt())
}

fn normalize(name: &'static str, values: &[f64]) -> Result<Vec<f64>, StatsError> {
    let total = pairwise_sum(values);
    if total <= 0.0 {
        return Err(StatsError::ZeroTotal {
            name,
            len: values.len(),
        });
    }
    Ok(values.iter().map(|v| v / total).collect())
}

/// `x ln(x / y)` with the conventions and the numerics of `scipy.special.rel_entr`
/// (SciPy >= 1.17, xsf `convex_analysis.h`): `x ln1p((x - y) / y)` when `x / y` is
/// near 1, which keeps nearly equal distributions accurate, and `x (ln x - ln y)` when
/// the ratio would underflow or overflow.
fn rel_entr(x: f64, y: f64) -> f64 {
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x <= 0.0 || y <= 0.0 {
        return if x == 0.0 && y >= 0.0 {
            0.0
        } else {
            f64::INFINITY
        };
    }
    let ratio = x / y;
    if 0.5 < ratio && ratio < 2.0 {
        x * ((x - y) / y).ln_1p()
    } else if f64::MIN_POSITIVE < ratio && ratio < f64::INFINITY {
        x * ratio.ln()
    } else {
        x * (x.ln() - y.ln())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasserstein_of_shifted_point_masses() {
        let d = wasserstein_distance(&[0.0, 1.0, 3.0], &[5.0, 6.0, 8.0]).expect("valid");
        assert!((d - 5.0).abs() < 1e-12);
        assert_eq!(
            wasserstein_distance(&[1.0, 2.0], &[2.0, 1.0]).expect("valid"),
            0.0
        );
    }

    #[test]
    fn wasserstein_from_counts_matches_definition() {
        // a = {0, 1}, b = {1, 2}: W1 = 1
        let w = wasserstein_from_counts(&[(0.0, 1), (1.0, 1)], &[(1.0, 1), (2.0, 1)]);
        assert!((w - 1.0).abs() < 1e-15);
    }

    #[test]
    fn jensen_shannon_bounds() {
        assert_eq!(
            jensen_shannon_distance(&[1.0, 2.0], &[2.0, 4.0]).expect("valid"),
            0.0
        );
        let d = jensen_shannon_distance(&[1.0, 0.0], &[0.0, 1.0]).expect("valid");
        assert!((d - 1.0).abs() < 1e-15);
        assert!(jensen_shannon_distance(&[0.0, 0.0], &[1.0, 1.0]).is_err());
    }
}
