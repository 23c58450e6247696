//! Distribution of the one-sample Kolmogorov–Smirnov statistics, ported from SciPy so the
//! two-sample test's asymptotic p-value is SciPy's to within rounding.
//!
//! * [`kstwo_sf`]: two-sided `D_n` (SciPy's `scipy.stats.kstwo.sf`, implemented in
//!   `scipy/stats/_ksstats.py` after Simard & L'Ecuyer 2011: Ruben–Gambino closed forms at
//!   the ends, the Durbin matrix algorithm as arranged by Marsaglia–Tsang–Wang, Pomeranz's
//!   recursion, the Pelz–Good expansion, and `2 * smirnov` in the upper tail).
//! * [`smirnov_sf`]: one-sided `D_n+` (SciPy's `scipy.special.smirnov`, from
//!   `xsf/cephes/kolmogorov.h` by Paul van Mulbregt, computed in double-double arithmetic).
//!
//! SciPy is BSD-3-Clause; the structure and constants follow its source. One module per
//! algorithm: [`durbin`], [`pomeranz`], [`pelz_good`], [`smirnov`].

use std::f64::consts::PI;

mod durbin;
mod pelz_good;
mod pomeranz;
mod smirnov;

pub use smirnov::smirnov_sf;

use durbin::kolmogn_dmtw_cdf;
use pelz_good::kolmogn_pelz_good_cdf;
use pomeranz::kolmogn_pomeranz_cdf;

/// Scaling used by the matrix and Pomeranz algorithms to stay inside the f64 range.
const E128: i32 = 128;
const P128: f64 = f64::from_bits(0x47f0_0000_0000_0000); // 2^128
const M128: f64 = f64::from_bits(0x37f0_0000_0000_0000); // 2^-128

/// Survival function of the two-sided one-sample Kolmogorov–Smirnov statistic
/// `P(D_n >= x)` for a sample of size `n` (`scipy.stats.kstwo.sf(x, n)`).
///
/// Inputs: `x` (any f64), `n >= 1`. Output: a probability in `[0, 1]`; 1 for
/// `x <= 1/(2n)`, 0 for `x >= 1`, NaN for NaN `x` or `n == 0`.
pub fn kstwo_sf(x: f64, n: u64) -> f64 {
    if x.is_nan() || n == 0 {
        return f64::NAN;
    }
    let nf = n as f64;
    // rv_continuous.sf: support is (0.5/n, 1).
    if x <= 0.5 / nf {
        return 1.0;
    }
    if x >= 1.0 {
        return 0.0;
    }
    kolmogn_sf(n, x)
}

/// P-values below this may come from the asymptotic formula in [`kstwo_sf_fast`].
pub const KS_FAST_P_MAX: f64 = 1e-10;

/// [`kstwo_sf`] with SciPy's large-n asymptotic where the exact value cannot matter:
/// for `n > 140` and `2.2 <= n x^2 < 370` (where SciPy computes `2 * smirnov(n, x)` by
/// an O(n) double-double sum) it evaluates `2 exp(-(6 n x + 1)^2 / (18 n))` — the formula
/// `scipy.special.smirnov` itself switches to above `n = 10^6` — and returns it when it
/// is below [`KS_FAST_P_MAX`] (1e-10) or `n >= 5·10^4`; otherwise, and everywhere else, it
/// returns [`kstwo_sf`] exactly. O(1) on the approximated branch.
///
/// Error against SciPy on that branch (tested at n = 10^4 … 10^6 in `core/tests/drift.rs`):
/// for p ≥ 1e-10 (only at n ≥ 5·10^4) relative error ≤ 5e-3 (observed ≤ 8e-4; it falls
/// like `(n x^2)^2 / n`); for p < 1e-10 `|ln p_fast - ln p_scipy| <= 0.01 |ln p_scipy|`
/// (observed ≤ 0.5 %): the order of magnitude is right and no decision at a level
/// ≥ 1e-9 can change.
pub fn kstwo_sf_fast(x: f64, n: u64) -> f64 {
    if x.is_nan() || n <= 140 || !(0.0..1.0).contains(&x) {
        return kstwo_sf(x, n);
    }
    let nf = n as f64;
    let nxsquared = nf * x * x;
    if !(2.2..370.0).contains(&nxsquared) || x >= 0.5 {
        return kstwo_sf(x, n);
    }
    let logp = -(6.0 * nf * x + 1.0).powi(2) / 18.0 / nf;
    let p = clip_prob(2.0 * logp.exp());
    if p < KS_FAST_P_MAX || n >= 50_000 {
        p
    } else {
        kstwo_sf(x, n)
    }
}

pub(super) fn clip_prob(p: f64) -> f64 {
    p.clamp(0.0, 1.0)
}

/// SciPy's `_kolmogn(n, x, cdf=False)`.
fn kolmogn_sf(n: u64, x: f64) -> f64 {
    if x >= 1.0 {
        return 0.0;
    }
    if x <= 0.0 {
        return 1.0;
    }
    let nf = n as f64;
    let t = nf * x;
    if t <= 1.0 {
        // Ruben-Gambino: 1/2n <= x <= 1/n
        if t <= 0.5 {
            return 1.0;
        }
        let prob = if n <= 140 {
            let inv_n = 1.0 / nf;
            let base = 2.0 * t - 1.0;
            (1..=n).fold(1.0, |acc, i| acc * ((i as f64 * inv_n) * base))
        } else {
            (log_nfactorial_div_n_pow_n(nf) + nf * (2.0 * t - 1.0).ln()).exp()
        };
        return clip_prob(1.0 - prob);
    }
    if t >= nf - 1.0 {
        // Ruben-Gambino
        let prob = 2.0 * (1.0 - x).powf(nf);
        return clip_prob(prob);
    }
    if x >= 0.5 {
        return clip_prob(2.0 * smirnov_sf(n, x));
    }

    let nxsquared = t * x;
    if n <= 140 {
        if nxsquared <= 0.754_693 {
            return clip_prob(1.0 - clip_prob(kolmogn_dmtw_cdf(n, x)));
        }
        if nxsquared <= 4.0 {
            return clip_prob(1.0 - clip_prob(kolmogn_pomeranz_cdf(n, x)));
        }
        return clip_prob(2.0 * smirnov_sf(n, x));
    }

    if nxsquared >= 370.0 {
        return 0.0;
    }
    if nxsquared >= 2.2 {
        return clip_prob(2.0 * smirnov_sf(n, x));
    }
    let cdfprob = if nxsquared >= 18.0 {
        1.0
    } else if n <= 100_000 && nf * x.powf(1.5) <= 1.4 {
        clip_prob(kolmogn_dmtw_cdf(n, x))
    } else {
        kolmogn_pelz_good_cdf(n, x)
    };
    clip_prob(1.0 - cdfprob)
}

/// `ln(n! / n^n)` by Stirling's series with `n ln n` removed up front.
fn log_nfactorial_div_n_pow_n(n: f64) -> f64 {
    const STIRLING_COEFFS: [f64; 8] = [
        -0.029550653594771242,
        0.00641025641025641,
        -0.0019175269175269176,
        0.0008417508417508417,
        -0.0005952380952380953,
        0.0007936507936507937,
        -0.002777777777777778,
        0.08333333333333333,
    ];
    let rn = 1.0 / n;
    let x = rn / n;
    let poly = STIRLING_COEFFS.iter().fold(0.0, |y, c| y * x + c);
    n.ln() / 2.0 - n + (2.0 * PI).ln() / 2.0 + rn * poly
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kstwo_sf_edges() {
        assert_eq!(kstwo_sf(0.01, 10), 1.0);
        assert_eq!(kstwo_sf(1.0, 10), 0.0);
        // t >= n - 1: 2 (1 - x)^n
        let x: f64 = 0.95;
        assert!((kstwo_sf(x, 10) - 2.0 * (1.0 - x).powi(10)).abs() < 1e-15);
        assert!(kstwo_sf(f64::NAN, 10).is_nan());
    }

    #[test]
    fn kstwo_sf_is_monotone_across_algorithm_switches() {
        for &n in &[5_u64, 50, 140, 141, 1000, 20_000] {
            let mut prev = 1.0;
            let mut x = 0.5 / n as f64;
            while x < 1.0 {
                let p = kstwo_sf(x, n);
                assert!(p <= prev + 1e-12, "n={n} x={x} p={p} prev={prev}");
                assert!((0.0..=1.0).contains(&p));
                prev = p;
                x *= 1.1;
            }
        }
    }
}
