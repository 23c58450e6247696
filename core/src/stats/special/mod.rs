//! Special functions behind the p-values: the regularized upper incomplete gamma
//! function (chi-square survival function) and its helpers.
//!
//! Ported from the Cephes library as maintained in SciPy (`xsf/cephes`: `igam.h`,
//! `gamma.h`, `unity.h`, `ndtr.h`, `polevl.h`; Cephes Math Library, Copyright 1984-1995
//! Stephen L. Moshier; SciPy additions BSD-3-Clause), keeping the algorithm choices and
//! the order of floating-point operations so results agree with `scipy.special` to a
//! few ulps. Only the real, positive-argument paths needed here are ported.

mod igam_coeff;

use igam_coeff::{IGAM_ASYMP_COEFF, IGAM_ASYMP_K, IGAM_ASYMP_N};
use std::f64::consts::PI;

/// 2^-53, Cephes' `MACHEP`.
pub(crate) const MACHEP: f64 = 1.1102230246251565e-16;
/// `log(DBL_MAX)`.
pub(crate) const MAXLOG: f64 = 709.782712893384;
/// `log(2^-1075)`.
pub(crate) const MINLOG: f64 = -745.1332191019412;
/// Iteration cap of Cephes' series helpers.
const MAXITER: u32 = 500;
const LS2PI: f64 = 0.9189385332046728;
const EULER: f64 = 0.5772156649015329;

/// Evaluates `coef[0] x^N + ... + coef[N]` (Cephes `polevl`).
fn polevl(x: f64, coef: &[f64]) -> f64 {
    let mut iter = coef.iter();
    let mut ans = iter.next().copied().unwrap_or(0.0);
    for c in iter {
        ans = ans * x + c;
    }
    ans
}

/// Like [`polevl`] with an implied leading coefficient of 1 (Cephes `p1evl`).
fn p1evl(x: f64, coef: &[f64]) -> f64 {
    let mut ans = x + coef[0];
    for c in &coef[1..] {
        ans = ans * x + c;
    }
    ans
}

/// Rational function `num(x) / denom(x)` of equal degree, evaluated in `1/x` for
/// `|x| > 1` (SciPy's `ratevl`, used by the Lanczos sum).
fn ratevl_same_degree(x: f64, num: &[f64], denom: &[f64]) -> f64 {
    if x.abs() > 1.0 {
        let y = 1.0 / x;
        let n = num.iter().rev().fold(0.0, |acc, c| acc * y + c);
        let d = denom.iter().rev().fold(0.0, |acc, c| acc * y + c);
        // pow(x, M - N) == 1 for equal degrees.
        n / d
    } else {
        let n = num.iter().fold(0.0, |acc, c| acc * x + c);
        let d = denom.iter().fold(0.0, |acc, c| acc * x + c);
        n / d
    }
}

const LANCZOS_G: f64 = 6.02468004077673;

const LANCZOS_SUM_EXPG_SCALED_NUM: [f64; 13] = [
    0.006061842346248907,
    0.5098416655656676,
    19.519927882476175,
    449.9445569063168,
    6955.999602515376,
    75999.29304014542,
    601859.6171681099,
    3481712.154980646,
    14605578.087685067,
    43338889.32467614,
    86363131.2881386,
    103794043.11634454,
    56906521.913471565,
];

const LANCZOS_SUM_EXPG_SCALED_DENOM: [f64; 13] = [
    1.0,
    66.0,
    1925.0,
    32670.0,
    357423.0,
    2637558.0,
    13339535.0,
    45995730.0,
    105258076.0,
    150917976.0,
    120543840.0,
    39916800.0,
    0.0,
];

fn lanczos_sum_expg_scaled(x: f64) -> f64 {
    ratevl_same_degree(
        x,
        &LANCZOS_SUM_EXPG_SCALED_NUM,
        &LANCZOS_SUM_EXPG_SCALED_DENOM,
    )
}

const GAMMA_A: [f64; 5] = [
    0.0008116141674705085,
    -0.0005950619042843014,
    0.0007936503404577169,
    -0.002777777777300997,
    0.08333333333333319,
];
const GAMMA_B: [f64; 6] = [
    -1378.2515256912086,
    -38801.631513463784,
    -331612.9927388712,
    -1162370.974927623,
    -1721737.0082083966,
    -853555.6642457654,
];
const GAMMA_C: [f64; 6] = [
    -351.81570143652345,
    -17064.210665188115,
    -220528.59055385445,
    -1139334.4436798252,
    -2532523.0717758294,
    -2018891.4143353277,
];
const MAXLGM: f64 = 2.556348e305;

/// `ln |Gamma(x)|` for `x > -34` (Cephes `lgam`); poles give `+inf`.
pub(crate) fn lgam(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    if x < -34.0 {
        // The reflection branch is not needed for the chi-square/Kolmogorov paths.
        return f64::NAN;
    }
    if x < 13.0 {
        let mut z = 1.0;
        let mut p = 0.0;
        let mut u = x;
        while u >= 3.0 {
            p -= 1.0;
            u = x + p;
            z *= u;
        }
        while u < 2.0 {
            if u == 0.0 {
                return f64::INFINITY;
            }
            z /= u;
            p += 1.0;
            u = x + p;
        }
        if z < 0.0 {
            z = -z;
        }
        if u == 2.0 {
            return z.ln();
        }
        p -= 2.0;
        let x = x + p;
        let p = x * polevl(x, &GAMMA_B) / p1evl(x, &GAMMA_C);
        return z.ln() + p;
    }
    if x > MAXLGM {
        return f64::INFINITY;
    }
    if x >= 1000.0 {
        let q = (x - 0.5) * x.ln() - x + LS2PI;
        if x > 1.0e8 {
            return q;
        }
        let p = 1.0 / (x * x);
        let p = ((0.0007936507936507937 * p - 0.002777777777777778) * p + 0.08333333333333333) / x;
        return q + p;
    }
    let q = (x - 0.5) * x.ln() - x + LS2PI;
    let p = 1.0 / (x * x);
    q + polevl(p, &GAMMA_A) / x
}

const UNITY_LP: [f64; 7] = [
    4.52700008624452e-05,
    0.49854102823193375,
    6.578732594206104,
    29.911919328553072,
    60.94966798098779,
    57.11296359058554,
    20.039553499201283,
];
const UNITY_LQ: [f64; 6] = [
    15.062909083469192,
    83.04756596796722,
    221.76239823732857,
    309.09872225312057,
    216.42788614495947,
    60.11866049760384,
];

/// `ln(1 + x)` (Cephes `log1p`).
pub(crate) fn log1p(x: f64) -> f64 {
    let z = 1.0 + x;
    if !(std::f64::consts::FRAC_1_SQRT_2..=std::f64::consts::SQRT_2).contains(&z) {
        return z.ln();
    }
    let z = x * x;
    let z = -0.5 * z + x * (z * polevl(x, &UNITY_LP) / p1evl(x, &UNITY_LQ));
    x + z
}

/// `ln(1 + x) - x` without cancellation for small `x` (Cephes `log1pmx`).
pub(crate) fn log1pmx(x: f64) -> f64 {
    if x.abs() < 0.5 {
        let mut xfac = x;
        let mut res = 0.0;
        for n in 2..MAXITER {
            xfac *= -x;
            let term = xfac / f64::from(n);
            res += term;
            if term.abs() < MACHEP * res.abs() {
                break;
            }
        }
        res
    } else {
        log1p(x) - x
    }
}

const UNITY_EP: [f64; 3] = [0.00012617719307481058, 0.030299440770744195, 1.0];
const UNITY_EQ: [f64; 4] = [
    3.0019850513866446e-06,
    0.002524483403496841,
    0.22726554820815503,
    2.0,
];

/// `exp(x) - 1` without cancellation for small `x` (Cephes `expm1`).
pub(crate) fn expm1(x: f64) -> f64 {
    if !x.is_finite() {
        if x.is_nan() || x > 0.0 {
            return x;
        }
        return -1.0;
    }
    if !(-0.5..=0.5).contains(&x) {
        return x.exp() - 1.0;
    }
    let xx = x * x;
    let r = x * polevl(xx, &UNITY_EP);
    let r = r / (polevl(xx, &UNITY_EQ) - r);
    r + r
}

/// Riemann zeta(n) for n = 2..=41 (the values of `scipy.special.zeta(n, 1)`).
const ZETA_2_TO_41: [f64; 40] = [
    1.6449340668482266,
    1.202056903159594,
    1.0823232337111381,
    1.0369277551433704,
    1.0173430619844488,
    1.008349277381923,
    1.0040773561979446,
    1.0020083928260826,
    1.0009945751278182,
    1.0004941886041194,
    1.0002460865533078,
    1.0001227133475785,
    1.0000612481350586,
    1.0000305882363072,
    1.0000152822594084,
    1.0000076371976376,
    1.000003817293265,
    1.0000019082127163,
    1.0000009539620338,
    1.0000004769329867,
    1.0000002384505027,
    1.000000119219926,
    1.000000059608189,
    1.0000000298035034,
    1.0000000149015549,
    1.0000000074507118,
    1.000000003725334,
    1.0000000018626598,
    1.0000000009313275,
    1.0000000004656628,
    1.000000000232831,
    1.0000000001164155,
    1.0000000000582077,
    1.0000000000291038,
    1.000000000014552,
    1.000000000007276,
    1.000000000003638,
    1.000000000001819,
    1.0000000000009095,
    1.0000000000004547,
];

/// `ln Gamma(1 + x)` by its Taylor series around 0 (SciPy's `lgam1p_taylor`).
fn lgam1p_taylor(x: f64) -> f64 {
    if x == 0.0 {
        return 0.0;
    }
    let mut res = -EULER * x;
    let mut xfac = -x;
    for (n, zeta) in (2..42_u32).zip(ZETA_2_TO_41) {
        xfac *= -x;
        let coeff = zeta * xfac / f64::from(n);
        res += coeff;
        if coeff.abs() < MACHEP * res.abs() {
            break;
        }
    }
    res
}

/// `ln Gamma(1 + x)` (SciPy's `lgam1p`).
fn lgam1p(x: f64) -> f64 {
    if x.abs() <= 0.5 {
        lgam1p_taylor(x)
    } else if (x - 1.0).abs() < 0.5 {
        x.ln() + lgam1p_taylor(x - 1.0)
    } else {
        lgam(x + 1.0)
    }
}

const NDTR_P: [f64; 9] = [
    2.461969814735305e-10,
    0.5641895648310689,
    7.463210564422699,
    48.63719709856814,
    196.5208329560771,
    526.4451949954773,
    934.5285271719576,
    1027.5518868951572,
    557.5353353693994,
];
const NDTR_Q: [f64; 8] = [
    13.228195115474499,
    86.70721408859897,
    354.9377788878199,
    975.7085017432055,
    1823.9091668790973,
    2246.3376081871097,
    1656.6630919416134,
    557.5353408177277,
];
const NDTR_R: [f64; 6] = [
    0.5641895835477551,
    1.275366707599781,
    5.019050422511805,
    6.160210979930536,
    7.4097426995044895,
    2.9788666537210022,
];
const NDTR_S: [f64; 6] = [
    2.2605286322011726,
    9.396035249380015,
    12.048953980809666,
    17.08144507475659,
    9.608968090632859,
    3.369076451000815,
];
const NDTR_T: [f64; 5] = [
    9.604973739870516,
    90.02601972038427,
    2232.005345946843,
    7003.325141128051,
    55592.30130103949,
];
const NDTR_U: [f64; 5] = [
    33.56171416475031,
    521.3579497801527,
    4594.323829709801,
    22629.000061389095,
    49267.39426086359,
];

/// Complementary error function (Cephes `erfc`).
pub(crate) fn erfc(a: f64) -> f64 {
    if a.is_nan() {
        return f64::NAN;
    }
    let x = a.abs();
    if x < 1.0 {
        return 1.0 - erf(a);
    }
    let z = -a * a;
    if z < -MAXLOG {
        return if a < 0.0 { 2.0 } else { 0.0 };
    }
    let z = z.exp();
    let (p, q) = if x < 8.0 {
        (polevl(x, &NDTR_P), p1evl(x, &NDTR_Q))
    } else {
        (polevl(x, &NDTR_R), p1evl(x, &NDTR_S))
    };
    let mut y = (z * p) / q;
    if a < 0.0 {
        y = 2.0 - y;
    }
    if y != 0.0 {
        return y;
    }
    if a < 0.0 {
        2.0
    } else {
        0.0
    }
}

/// Error function (Cephes `erf`).
pub(crate) fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return -erf(-x);
    }
    if x.abs() > 1.0 {
        return 1.0 - erfc(x);
    }
    let z = x * x;
    x * polevl(z, &NDTR_T) / p1evl(z, &NDTR_U)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rtol: f64) -> bool {
        (a - b).abs() <= rtol * b.abs()
    }

    #[test]
    fn gammaincc_closed_forms() {
        // Q(1, x) = exp(-x); the x^a e^-x / Gamma(a) prefactor loses ~x ulps (as SciPy).
        for &x in &[0.01, 0.3, 1.0, 2.5, 10.0, 50.0, 300.0] {
            assert!(close(gammaincc(1.0, x), (-x).exp(), 1e-13), "x={x}");
        }
        // Q(0.5, x) = erfc(sqrt(x))
        for &x in &[0.01, 0.3, 1.0, 2.5, 10.0] {
            assert!(close(gammaincc(0.5, x), erfc(x.sqrt()), 1e-13), "x={x}");
        }
        // chi2 with 2 dof: sf(x) = exp(-x/2)
        assert!(close(chi2_sf(3.0, 2.0), (-1.5_f64).exp(), 1e-14));
    }

    #[test]
    fn lgam_matches_factorials() {
        let mut fact = 1.0_f64;
        for n in 1..30 {
            fact *= f64::from(n);
            assert!(close(lgam(f64::from(n) + 1.0), fact.ln(), 1e-14), "n={n}");
        }
        assert!(close(lgam(0.5), PI.sqrt().ln(), 1e-15));
    }
}
