//! `ln(1 + x)`, `ln(1 + x) - x` and `exp(x) - 1` without cancellation (Cephes `unity.h`).

use super::{p1evl, polevl, MACHEP, MAXITER};

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
