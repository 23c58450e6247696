//! The one-sided Smirnov distribution `P(D_n+ >= x)` in double-double arithmetic, from
//! `xsf/cephes/kolmogorov.h` (Paul van Mulbregt).

use std::f64::consts::LN_2;

use super::super::dd::{ldexp, Dd};
use super::super::special::{expm1, MINLOG};
use super::clip_prob;

/// Largest `n` computed exactly; above it SciPy uses an approximation.
const SMIRNOV_MAX_COMPUTE_N: u64 = 1_000_000;
const SM_UPPER_MAX_TERMS: i64 = 3;
const SM_UPPERSUM_MIN_N: i64 = 10;
const SM_MAX_EXPONENT: i32 = 960;

/// `floor(n * x)` and the remainder, computed exactly.
fn mod_nx(n: i64, x: f64) -> (f64, i64, f64) {
    let nx_d = (n as f64) * Dd::new(x);
    let nxfloor_d = nx_d.floor();
    let alpha_d = nx_d - nxfloor_d;
    let mut alpha = alpha_d.hi;
    let mut nxfloor = nxfloor_d.hi as i64;
    if alpha == 1.0 {
        nxfloor += 1;
        alpha = 0.0;
    }
    (alpha, nxfloor, nx_d.hi)
}

/// `C(n, j+1)` from `C(n, j)`, kept as a double-double mantissa and an integer exponent.
fn update_binomial(cman: &mut Dd, cexpt: &mut i32, n: i64, j: i64) {
    let rat = Dd::new((n - j) as f64) / (j as f64 + 1.0);
    let (man2, expt) = (*cman * rat).frexp();
    *cexpt += expt;
    *cman = man2;
}

fn pow_dd(a: Dd, m: i64) -> Dd {
    if m <= 0 {
        if m == 0 {
            return Dd::new(1.0);
        }
        return 1.0 / pow_dd(a, -m);
    }
    if a.is_zero() {
        return Dd::new(0.0);
    }
    let mf = m as f64;
    let ans = a.hi.powf(mf);
    let r = a.lo / a.hi;
    let mut adj = mf * r;
    if adj.abs() > 1e-8 {
        if adj.abs() < 1e-4 {
            // First two terms of the Taylor series of (1+r)^m.
            adj += (mf * r) * ((mf - 1.0) / 2.0 * r);
        } else {
            adj = expm1(mf * r.ln_1p());
        }
    }
    Dd::new(ans) + ans * adj
}

fn pow2(a: f64, b: f64, m: i64) -> f64 {
    pow_dd(Dd::new(a) + b, m).hi
}

/// Smallest power of two `>= x` in the sense of SciPy's `nextPowerOf2`.
fn next_power_of_2(x: f64) -> f64 {
    let q = ldexp(x, 1 - 53);
    let mut l = (q + x).abs();
    if l == 0.0 {
        l = x.abs();
    } else {
        let lint = l as i32;
        if f64::from(lint) == l {
            l = f64::from(lint);
        }
    }
    l
}

/// `a^m` as `(significand, exponent)`, splitting the power so nothing underflows.
fn pow2_scaled_dd(a: Dd, m: i64) -> (Dd, i64) {
    if m <= 0 {
        if m == 0 {
            return (Dd::new(1.0), 0);
        }
        let (ans, ae1) = pow2_scaled_dd(a, -m);
        let (ans, ae2) = (1.0 / ans).frexp();
        return (ans, -ae1 + i64::from(ae2));
    }
    let (y, ye) = a.frexp();
    let ye = i64::from(ye);
    if m == 1 {
        return (y, ye);
    }
    let mut max_expt = i64::from(SM_MAX_EXPONENT);
    let mf = m as f64;
    if mf * (y.hi - 1.0) / y.hi < -f64::from(SM_MAX_EXPONENT) * LN_2 {
        // Do it carefully, calling log().
        let lg2y = y.hi.ln() / LN_2;
        let lg_ans = mf * lg2y;
        if lg_ans <= -f64::from(SM_MAX_EXPONENT) {
            max_expt = (next_power_of_2(-f64::from(SM_MAX_EXPONENT) / lg2y + 1.0) / 2.0) as i64;
        }
    }
    if m <= max_expt {
        let ans1 = pow_dd(y, m);
        let (ans, ans_e) = ans1.frexp();
        return (ans, i64::from(ans_e) + m * ye);
    }
    let q = m / max_expt;
    let r = m % max_expt;
    // y^m = (y^maxExpt)^q * y^r
    let (y2r, y2r_e) = pow2_scaled_dd(y, r);
    let (y2m, y2m_e) = pow2_scaled_dd(y, max_expt);
    let (y2mq, mut y2mq_e) = pow2_scaled_dd(y2m, q);
    let (ans, ans_e) = (y2r * y2mq).frexp();
    y2mq_e += y2m_e * q;
    let mut ans_e = i64::from(ans_e);
    ans_e += y2mq_e + y2r_e;
    ans_e += m * ye;
    (ans, ans_e)
}

/// `((a + b) / (c + d))^m` in double-double.
fn pow4_dd(a: f64, b: f64, c: f64, d: f64, m: i64) -> Dd {
    if m <= 0 {
        if m == 0 {
            return Dd::new(1.0);
        }
        return pow4_dd(c, d, a, b, -m);
    }
    let big_a = Dd::new(a) + b;
    let big_c = Dd::new(c) + d;
    if big_a.is_zero() {
        return if big_c.is_zero() {
            Dd::new(f64::NAN)
        } else {
            Dd::new(0.0)
        };
    }
    if big_c.is_zero() {
        return Dd::new(if big_a.hi < 0.0 {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    pow_dd(big_a / big_c, m)
}

/// Term `A_v(n, x) = C(n, v) (1 - x - v/n)^(n-v) (x + v/n)^(v-1)` of the Smirnov sum.
fn compute_av(n: i64, x: f64, v: i64, cman: Dd, cexpt: i32) -> Dd {
    let nf = n as f64;
    let t2x = Dd::new((n - v) as f64) / nf - x; // 1 - x - v/n
    let (t2, t2e) = pow2_scaled_dd(t2x, n - v);
    let t1x = Dd::new(v as f64) / nf + x; // x + v/n
    let (t1, t1e) = pow2_scaled_dd(t1x, v - 1);
    let ans = t1 * t2 * cman;
    let ans_e = i64::from(cexpt) + t1e + t2e;
    let ans_e = ans_e.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
    ans.ldexp(ans_e)
}

/// Survival function of the one-sided Kolmogorov–Smirnov statistic, `P(D_n+ >= x)`
/// (`scipy.special.smirnov(n, x)`), by the Birnbaum–Tingey / Smirnov sum in
/// double-double arithmetic; for `n > 1_000_000` SciPy's approximation
/// `exp(-(6nx + 1)^2 / 18n)` is used, as SciPy does.
///
/// Inputs: `n >= 1`, `0 <= x <= 1`; NaN outside that domain.
pub fn smirnov_sf(n: u64, x: f64) -> f64 {
    if !(n > 0 && (0.0..=1.0).contains(&x)) {
        return f64::NAN;
    }
    if n == 1 {
        return 1.0 - x;
    }
    if x == 0.0 {
        return 1.0;
    }
    if x == 1.0 {
        return 0.0;
    }
    let ni = n as i64;
    let nf = n as f64;

    let (alpha, nxfl, _nx) = mod_nx(ni, x);
    let mut n1mxfl = ni - nxfl - i64::from(alpha != 0.0);
    let mut n1mxceil = ni - nxfl;
    // If alpha is 0, don't include the last term in either the lower or upper sum.
    if alpha == 0.0 {
        n1mxfl -= 1;
        n1mxceil += 1;
    }

    // Special case: x <= 1/n
    if nxfl == 0 || (nxfl == 1 && alpha == 0.0) {
        let t = pow2(1.0, x, ni - 1);
        let cdf = x * t;
        return clip_prob(1.0 - cdf);
    }
    // Special case: x is so big, the sf underflows double64.
    if -2.0 * nf * x * x < MINLOG {
        return 0.0;
    }
    // Special case: x >= 1 - 1/n
    if nxfl >= ni - 1 {
        return clip_prob(pow2(1.0, -x, ni));
    }
    // Special case: n is so big, take too long to compute.
    if n > SMIRNOV_MAX_COMPUTE_N {
        let logp = -(6.0 * nf * x + 1.0).powf(2.0) / 18.0 / nf;
        let sf = if logp < -LN_2 {
            logp.exp()
        } else {
            1.0 - (-expm1(logp))
        };
        return clip_prob(sf);
    }

    smirnov_sum(ni, x, n1mxfl, n1mxceil)
}

/// The Smirnov sum from below, or (when that would lose accuracy) from above.
fn smirnov_sum(ni: i64, x: f64, n1mxfl: i64, n1mxceil: i64) -> f64 {
    let nf = ni as f64;
    // Use the upper sum if n is large enough, x small enough and few terms are involved;
    // otherwise it loses about 1.6 bits per term.
    let n_upper_terms = ni - n1mxceil + 1;
    let use_upper_sum = (n_upper_terms <= 1 && x < 0.5)
        || (ni >= SM_UPPERSUM_MIN_N && n_upper_terms <= SM_UPPER_MAX_TERMS && x <= 0.5 / nf.sqrt());

    let (start, step, n_terms) = if use_upper_sum {
        (ni, -1_i64, ni - n1mxceil + 1)
    } else {
        (0, 1_i64, n1mxfl + 1)
    };
    let vmid = ni / 2;
    let mut cman = Dd::new(1.0);
    let mut cexpt: i32 = 0;
    let first = if use_upper_sum {
        pow4_dd(1.0, x, 1.0, 0.0, ni - 1)
    } else {
        pow4_dd(1.0, -x, 1.0, 0.0, ni) / x
    };
    let mut aj_sum = Dd::new(0.0) + first;
    update_binomial(&mut cman, &mut cexpt, ni, 0);

    let mut j = 1;
    while j < n_terms {
        let v = start + j * step;
        let aj = compute_av(ni, x, v, cman, cexpt);
        if aj.is_finite() && !aj.is_zero() {
            aj_sum = aj_sum + aj;
        }
        // Safe to terminate early?
        if !aj.is_zero() {
            if (4.0 * (n_terms - j) as f64 * aj.hi.abs()) < (f64::EPSILON * aj_sum.hi)
                && j != n_terms - 1
            {
                break;
            }
        } else if j > vmid {
            break;
        }
        update_binomial(&mut cman, &mut cexpt, ni, j);
        j += 1;
    }
    let prob = (x * aj_sum).hi;
    let sf = if step < 0 { 1.0 - prob } else { prob };
    clip_prob(sf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smirnov_small_n_closed_forms() {
        // n = 1: P(D+ >= x) = 1 - x
        assert_eq!(smirnov_sf(1, 0.3), 0.7);
        // n = 2, 1/2 <= x < 1: (1 - x)^2
        let x: f64 = 0.6;
        assert!((smirnov_sf(2, x) - (1.0 - x).powi(2)).abs() < 1e-15);
    }
}
