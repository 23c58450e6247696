//! `P(D_n <= x)` by Pomeranz's recursion (1974; SciPy's `_kolmogn_Pomeranz`).

use super::super::dd::ldexp;
use super::{E128, M128, P128};

/// Interval of non-zero entries for row `i` of the Pomeranz recursion.
fn pomeranz_j1j2(i: i64, n: i64, ll: i64, ceilf: i64, roundf: i64) -> (i64, i64) {
    let (j1, j2) = if i == 0 {
        (-ll - ceilf - 1, ll + ceilf - 1)
    } else {
        let ip1div2 = (i + 1) / 2;
        let ip1mod2 = (i + 1) % 2;
        if ip1mod2 == 0 {
            if ip1div2 == n + 1 {
                (n - ll - ceilf - 1, n + ll + ceilf - 1)
            } else {
                (ip1div2 - 1 - ll - roundf - 1, ip1div2 + ll - 1 + ceilf - 1)
            }
        } else {
            (ip1div2 - 1 - ll - 1, ip1div2 + ll + roundf - 1)
        }
    };
    ((j1 + 2).max(0), j2.min(n))
}

/// `P(D_n <= x)` by Pomeranz's recursion (1974).
pub(super) fn kolmogn_pomeranz_cdf(n: u64, x: f64) -> f64 {
    let nf = n as f64;
    let ni = n as i64;
    let t = nf * x;
    let ll = t.floor() as i64;
    let f = t - ll as f64;
    let g = f.min(1.0 - f);
    let ceilf = i64::from(f > 0.0);
    let roundf = i64::from(f > 0.5);
    let npwrs = (2 * (ll + 1)) as usize;
    let [gpower, twogpower, onem2gpower] = powers(g, nf, npwrs);
    let mut expnt: i32 = 0;

    let mut v0 = vec![0.0; npwrs];
    let mut v1 = vec![0.0; npwrs];
    v1[0] = 1.0;
    let mut v0s: i64 = 0;
    let mut v1s: i64 = 0;

    let (mut j1, _) = pomeranz_j1j2(0, ni, ll, ceilf, roundf);
    for i in 1..(2 * ni + 2) {
        let k1 = j1;
        std::mem::swap(&mut v0, &mut v1);
        std::mem::swap(&mut v0s, &mut v1s);
        v1.fill(0.0);
        let j2;
        (j1, j2) = pomeranz_j1j2(i, ni, ll, ceilf, roundf);
        let pwrs = if i == 1 || i == 2 * ni + 1 {
            &gpower
        } else if i % 2 == 1 {
            &twogpower
        } else {
            &onem2gpower
        };
        let ln2 = j2 - k1 + 1;
        if ln2 > 0 {
            let ln2u = ln2 as usize;
            let start = (k1 - v0s).max(0) as usize;
            let a_end = (start + ln2u).min(v0.len());
            let a = &v0[start.min(a_end)..a_end];
            let b = &pwrs[..ln2u.min(pwrs.len())];
            let conv_start = (j1 - k1).max(0) as usize;
            let conv_len = (j2 - j1 + 1).max(0) as usize;
            for (out_idx, slot) in v1.iter_mut().take(conv_len).enumerate() {
                *slot = convolve_at(a, b, conv_start + out_idx);
            }
            let vmax = v1.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if 0.0 < vmax && vmax < M128 {
                for v in &mut v1 {
                    *v *= P128;
                }
                expnt -= E128;
            }
            v1s = v0s + j1 - k1;
        }
    }

    let idx = (ni - v1s).max(0) as usize;
    times_n_factorial(v1.get(idx).copied().unwrap_or(0.0), n, expnt)
}

/// `(g/n)^m / m!`, `(2g/n)^m / m!` and `((1 - 2g)/n)^m / m!` for `m < len`.
fn powers(g: f64, nf: f64, len: usize) -> [Vec<f64>; 3] {
    let mut gpower = vec![0.0; len];
    let mut twogpower = vec![0.0; len];
    let mut onem2gpower = vec![0.0; len];
    gpower[0] = 1.0;
    twogpower[0] = 1.0;
    onem2gpower[0] = 1.0;
    let g_over_n = g / nf;
    let two_g_over_n = 2.0 * g / nf;
    let one_minus_two_g_over_n = (1.0 - 2.0 * g) / nf;
    for m in 1..len {
        let mf = m as f64;
        gpower[m] = gpower[m - 1] * g_over_n / mf;
        twogpower[m] = twogpower[m - 1] * two_g_over_n / mf;
        onem2gpower[m] = onem2gpower[m - 1] * one_minus_two_g_over_n / mf;
    }
    [gpower, twogpower, onem2gpower]
}

/// `ans · n! · 2^expnt`, rescaling by 2^-128 whenever the product grows past 2^128.
fn times_n_factorial(mut ans: f64, n: u64, mut expnt: i32) -> f64 {
    for m in 1..=n {
        if ans.abs() > P128 {
            ans *= M128;
            expnt += E128;
        }
        ans *= m as f64;
    }
    if expnt != 0 {
        ans = ldexp(ans, expnt);
    }
    ans
}

/// Entry `k` of the full discrete convolution of `a` and `b` (NumPy's `convolve`).
fn convolve_at(a: &[f64], b: &[f64], k: usize) -> f64 {
    let lo = k.saturating_sub(b.len().saturating_sub(1));
    let hi = k.min(a.len().saturating_sub(1));
    let mut s = 0.0;
    let mut i = lo;
    while i <= hi && i < a.len() {
        s += a[i] * b[k - i];
        i += 1;
    }
    s
}
