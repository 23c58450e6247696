//! The regularized incomplete gamma functions and the chi-square survival function
//! (Cephes `igam.h` with SciPy's 2016 improvements).

use std::f64::consts::PI;

use super::gamma::{lanczos_sum_expg_scaled, lgam, lgam1p, LANCZOS_G};
use super::igam_coeff::{IGAM_ASYMP_COEFF, IGAM_ASYMP_K, IGAM_ASYMP_N};
use super::ndtr::erfc;
use super::unity::{expm1, log1pmx};
use super::{MACHEP, MAXLOG};

const IGAM_MAXITER: u32 = 2000;
const IGAM_SMALL: f64 = 20.0;
const IGAM_LARGE: f64 = 200.0;
const IGAM_SMALLRATIO: f64 = 0.3;
const IGAM_LARGERATIO: f64 = 4.5;
const IGAM_BIG: f64 = 4503599627370496.0;
const IGAM_BIGINV: f64 = 2.220446049250313e-16;

/// `x^a e^{-x} / Gamma(a)`, through the Lanczos approximation near `a == x` to avoid
/// cancellation (SciPy's `igam_fac`, after Boost's `regularised_gamma_prefix`).
fn igam_fac(a: f64, x: f64) -> f64 {
    if (a - x).abs() > 0.4 * a.abs() {
        let ax = a * x.ln() - x - lgam(a);
        if ax < -MAXLOG {
            return 0.0;
        }
        return ax.exp();
    }
    let fac = a + LANCZOS_G - 0.5;
    let mut res = (fac / std::f64::consts::E).sqrt() / lanczos_sum_expg_scaled(a);
    if a < 200.0 && x < 200.0 {
        res *= (a - x).exp() * (x / fac).powf(a);
    } else {
        let num = x - a - LANCZOS_G + 0.5;
        res *= (a * log1pmx(num / fac) + x * (0.5 - LANCZOS_G) / fac).exp();
    }
    res
}

/// `Q(a, x)` by the continued fraction of DLMF 8.9.2.
fn igamc_continued_fraction(a: f64, x: f64) -> f64 {
    let ax = igam_fac(a, x);
    if ax == 0.0 {
        return 0.0;
    }
    let mut y = 1.0 - a;
    let mut z = x + y + 1.0;
    let mut c = 0.0;
    let mut pkm2 = 1.0;
    let mut qkm2 = x;
    let mut pkm1 = x + 1.0;
    let mut qkm1 = z * x;
    let mut ans = pkm1 / qkm1;
    for _ in 0..IGAM_MAXITER {
        c += 1.0;
        y += 1.0;
        z += 2.0;
        let yc = y * c;
        let pk = pkm1 * z - pkm2 * yc;
        let qk = qkm1 * z - qkm2 * yc;
        let t = if qk != 0.0 {
            let r = pk / qk;
            let t = ((ans - r) / r).abs();
            ans = r;
            t
        } else {
            1.0
        };
        pkm2 = pkm1;
        pkm1 = pk;
        qkm2 = qkm1;
        qkm1 = qk;
        if pk.abs() > IGAM_BIG {
            pkm2 *= IGAM_BIGINV;
            pkm1 *= IGAM_BIGINV;
            qkm2 *= IGAM_BIGINV;
            qkm1 *= IGAM_BIGINV;
        }
        if t <= MACHEP {
            break;
        }
    }
    ans * ax
}

/// `P(a, x)` by the power series of DLMF 8.11.4.
fn igam_series(a: f64, x: f64) -> f64 {
    let ax = igam_fac(a, x);
    if ax == 0.0 {
        return 0.0;
    }
    let mut r = a;
    let mut c = 1.0;
    let mut ans = 1.0;
    for _ in 0..IGAM_MAXITER {
        r += 1.0;
        c *= x / r;
        ans += c;
        if c <= MACHEP * ans {
            break;
        }
    }
    ans * ax / a
}

/// `Q(a, x)` for small `x` by DLMF 8.7.3, arranged to avoid cancellation.
fn igamc_series(a: f64, x: f64) -> f64 {
    let mut fac = 1.0;
    let mut sum = 0.0;
    for n in 1..IGAM_MAXITER {
        fac *= -x / f64::from(n);
        let term = fac / (a + f64::from(n));
        sum += term;
        if term.abs() <= MACHEP * sum.abs() {
            break;
        }
    }
    let logx = x.ln();
    let term = -expm1(a * logx - lgam1p(a));
    term - (a * logx - lgam(a)).exp() * sum
}

/// Which tail [`asymptotic_series`] returns.
#[derive(Clone, Copy, PartialEq)]
enum Tail {
    Lower,
    Upper,
}

/// Temme's uniform asymptotic expansion (DLMF 8.12.3/8.12.4) for `a` large and `x ~ a`.
fn asymptotic_series(a: f64, x: f64, tail: Tail) -> f64 {
    let sgn = if tail == Tail::Lower { -1.0 } else { 1.0 };
    let lambda = x / a;
    let sigma = (x - a) / a;
    let eta = if lambda > 1.0 {
        (-2.0 * log1pmx(sigma)).sqrt()
    } else if lambda < 1.0 {
        -(-2.0 * log1pmx(sigma)).sqrt()
    } else {
        0.0
    };
    let mut res = 0.5 * erfc(sgn * eta * (a / 2.0).sqrt());

    let mut etapow = [0.0_f64; IGAM_ASYMP_N];
    etapow[0] = 1.0;
    let mut maxpow = 0;
    let mut sum = 0.0;
    let mut afac = 1.0;
    let mut absoldterm = f64::INFINITY;
    for row in IGAM_ASYMP_COEFF.iter().take(IGAM_ASYMP_K) {
        let mut ck = row[0];
        for n in 1..IGAM_ASYMP_N {
            if n > maxpow {
                etapow[n] = eta * etapow[n - 1];
                maxpow += 1;
            }
            let ckterm = row[n] * etapow[n];
            ck += ckterm;
            if ckterm.abs() < MACHEP * ck.abs() {
                break;
            }
        }
        let term = ck * afac;
        let absterm = term.abs();
        if absterm > absoldterm {
            break;
        }
        sum += term;
        if absterm < MACHEP * sum.abs() {
            break;
        }
        absoldterm = absterm;
        afac /= a;
    }
    res += sgn * (-0.5 * a * eta * eta).exp() * sum / (2.0 * PI * a).sqrt();
    res
}

/// Regularized upper incomplete gamma function
/// `Q(a, x) = Gamma(a, x) / Gamma(a) = 1 / Gamma(a) * integral_x^inf t^(a-1) e^-t dt`.
///
/// Inputs: `a >= 0`, `x >= 0`. Output: `Q` in `[0, 1]`; NaN for NaN or negative
/// arguments, and for `a == 0, x == 0` (as `scipy.special.gammaincc`).
///
/// The algorithm is SciPy's (Cephes `igamc` with SciPy's 2016 improvements): Temme's
/// uniform asymptotic expansion when `a > 20` and `x` is close to `a` (which keeps large
/// degrees of freedom accurate), otherwise the power series of `P` or of `Q` for small
/// `x`, or the continued fraction for `x > a`. Relative accuracy is about 1e-14 over the
/// range used for chi-square tests, and results agree with SciPy to a few ulps.
pub fn gammaincc(a: f64, x: f64) -> f64 {
    if a.is_nan() || x.is_nan() || x < 0.0 || a < 0.0 {
        return f64::NAN;
    }
    if a == 0.0 {
        return if x > 0.0 { 0.0 } else { f64::NAN };
    }
    if x == 0.0 {
        return 1.0;
    }
    if a.is_infinite() {
        return if x.is_infinite() { f64::NAN } else { 1.0 };
    }
    if x.is_infinite() {
        return 0.0;
    }

    // Asymptotic regime where a ~ x.
    let absxma_a = (x - a).abs() / a;
    if a > IGAM_SMALL && a < IGAM_LARGE && absxma_a < IGAM_SMALLRATIO {
        return asymptotic_series(a, x, Tail::Upper);
    }
    if a > IGAM_LARGE && absxma_a < IGAM_LARGERATIO / a.sqrt() {
        return asymptotic_series(a, x, Tail::Upper);
    }

    if x > 1.1 {
        if x < a {
            1.0 - igam_series(a, x)
        } else {
            igamc_continued_fraction(a, x)
        }
    } else if x <= 0.5 {
        if -0.4 / x.ln() < a {
            1.0 - igam_series(a, x)
        } else {
            igamc_series(a, x)
        }
    } else if x * 1.1 < a {
        1.0 - igam_series(a, x)
    } else {
        igamc_series(a, x)
    }
}

/// Survival function of the chi-square distribution with `dof` degrees of freedom:
/// `P(X >= x) = Q(dof / 2, x / 2)` (as `scipy.special.chdtrc` / `scipy.stats.chi2.sf`).
///
/// Inputs: `dof > 0`, `x >= 0`; NaN for `x < 0` or NaN inputs.
pub fn chi2_sf(x: f64, dof: f64) -> f64 {
    if x < 0.0 {
        return f64::NAN;
    }
    gammaincc(dof / 2.0, x / 2.0)
}
