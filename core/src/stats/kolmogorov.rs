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
//! SciPy is BSD-3-Clause; the structure and constants below follow its source.

use super::dd::{ldexp, Dd};
use super::special::{expm1, MINLOG};
use std::f64::consts::{LN_2, PI};

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

fn clip_prob(p: f64) -> f64 {
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

/// `P(D_n <= d)` by the Durbin matrix algorithm (Marsaglia, Tsang & Wang 2003).
fn kolmogn_dmtw_cdf(n: u64, d: f64) -> f64 {
    if d >= 1.0 {
        return 1.0;
    }
    let nf = n as f64;
    let nd = nf * d;
    if nd <= 0.5 {
        return 0.0;
    }
    let k = nd.ceil() as usize;
    let h = k as f64 - nd;
    let m = 2 * k - 1;

    let mut v: Vec<f64> = (1..=m).map(|j| 1.0 - h.powf(j as f64)).collect();
    let mut w = vec![0.0; m];
    let mut fac = 1.0;
    for j in 1..=m {
        w[j - 1] = fac;
        fac /= j as f64;
        v[j - 1] *= fac;
    }
    let tt = (2.0 * h - 1.0).max(0.0).powf(m as f64) - 2.0 * h.powf(m as f64);
    v[m - 1] = (1.0 + tt) * fac;

    let mut hm = Matrix::zeros(m);
    for i in 1..m {
        for (r, wv) in (i - 1..m).zip(&w[..m - i + 1]) {
            hm.set(r, i, *wv);
        }
    }
    for (r, vv) in v.iter().enumerate() {
        hm.set(r, 0, *vv);
    }
    for (c, vv) in v.iter().rev().enumerate() {
        hm.set(m - 1, c, *vv);
    }

    let mut hpwr = Matrix::identity(m);
    let mut nn = n;
    let mut expnt: i32 = 0;
    let mut hexpnt: i32 = 0;
    while nn > 0 {
        if nn % 2 == 1 {
            hpwr = hpwr.matmul(&hm);
            expnt += hexpnt;
        }
        hm = hm.matmul(&hm);
        hexpnt *= 2;
        if hm.get(k - 1, k - 1).abs() > P128 {
            hm.scale(1.0 / P128);
            hexpnt += E128;
        }
        nn /= 2;
    }

    let mut p = hpwr.get(k - 1, k - 1);
    for i in 1..=n {
        p = i as f64 * p / nf;
        if p.abs() < M128 {
            p *= P128;
            expnt -= E128;
        }
    }
    if expnt != 0 {
        p = ldexp(p, expnt);
    }
    p
}

/// Dense square matrix for the Durbin algorithm.
struct Matrix {
    n: usize,
    a: Vec<f64>,
}

impl Matrix {
    fn zeros(n: usize) -> Matrix {
        Matrix {
            n,
            a: vec![0.0; n * n],
        }
    }

    fn identity(n: usize) -> Matrix {
        let mut m = Matrix::zeros(n);
        for i in 0..n {
            m.set(i, i, 1.0);
        }
        m
    }

    fn get(&self, r: usize, c: usize) -> f64 {
        self.a[r * self.n + c]
    }

    fn set(&mut self, r: usize, c: usize, v: f64) {
        self.a[r * self.n + c] = v;
    }

    fn scale(&mut self, f: f64) {
        for x in &mut self.a {
            *x *= f;
        }
    }

    fn matmul(&self, other: &Matrix) -> Matrix {
        let n = self.n;
        let mut out = Matrix::zeros(n);
        for i in 0..n {
            let row = &self.a[i * n..(i + 1) * n];
            let dst = &mut out.a[i * n..(i + 1) * n];
            for (k, aik) in row.iter().enumerate() {
                if *aik == 0.0 {
                    continue;
                }
                let src = &other.a[k * n..(k + 1) * n];
                for (d, b) in dst.iter_mut().zip(src) {
                    *d += aik * b;
                }
            }
        }
        out
    }
}

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
fn kolmogn_pomeranz_cdf(n: u64, x: f64) -> f64 {
    let nf = n as f64;
    let ni = n as i64;
    let t = nf * x;
    let ll = t.floor() as i64;
    let f = t - ll as f64;
    let g = f.min(1.0 - f);
    let ceilf = i64::from(f > 0.0);
    let roundf = i64::from(f > 0.5);
    let npwrs = (2 * (ll + 1)) as usize;
    let mut gpower = vec![0.0; npwrs];
    let mut twogpower = vec![0.0; npwrs];
    let mut onem2gpower = vec![0.0; npwrs];
    gpower[0] = 1.0;
    twogpower[0] = 1.0;
    onem2gpower[0] = 1.0;
    let mut expnt: i32 = 0;
    let g_over_n = g / nf;
    let two_g_over_n = 2.0 * g / nf;
    let one_minus_two_g_over_n = (1.0 - 2.0 * g) / nf;
    for m in 1..npwrs {
        let mf = m as f64;
        gpower[m] = gpower[m - 1] * g_over_n / mf;
        twogpower[m] = twogpower[m - 1] * two_g_over_n / mf;
        onem2gpower[m] = onem2gpower[m - 1] * one_minus_two_g_over_n / mf;
    }

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
    let mut ans = v1.get(idx).copied().unwrap_or(0.0);
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

/// `P(D_n <= x)` by the Pelz–Good (1976) asymptotic expansion.
fn kolmogn_pelz_good_cdf(n: u64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let pi_squared = PI.powf(2.0);
    let pi_four = PI.powf(4.0);
    let pi_six = PI.powf(6.0);
    let sqrt2pi = (2.0 * PI).sqrt();
    let sqrt3 = 3.0_f64.sqrt();
    let nf = n as f64;

    let z = nf.sqrt() * x;
    let zsquared = z.powf(2.0);
    let zthree = z.powf(3.0);
    let zfour = z.powf(4.0);
    let zsix = z.powf(6.0);

    let qlog = -pi_squared / 8.0 / zsquared;
    if qlog < -708.0 {
        return 0.0;
    }
    let q = qlog.exp();

    let k1a = -zsquared;
    let k1b = pi_squared / 4.0;
    let k2a = 6.0 * zsix + 2.0 * zfour;
    let k2b = (2.0 * zfour - 5.0 * zsquared) * pi_squared / 4.0;
    let k2c = pi_four * (1.0 - 2.0 * zsquared) / 16.0;
    let k3d = pi_six * (5.0 - 30.0 * zsquared) / 64.0;
    let k3c = pi_four * (-60.0 * zsquared + 212.0 * zfour) / 16.0;
    let k3b = pi_squared * (135.0 * zfour - 96.0 * zsix) / 4.0;
    let k3a = -30.0 * zsix - 90.0 * z.powf(8.0);

    let mut kk = [0.0_f64; 4];
    let maxk = (16.0 * z / PI).ceil() as i64;
    for k in (1..=maxk).rev() {
        let m = (2 * k - 1) as f64;
        let msquared = m * m;
        let mfour = msquared * msquared;
        let msix = mfour * msquared;
        let qpower = q.powf((8 * k) as f64);
        let coeffs = [
            1.0,
            k1a + k1b * msquared,
            k2a + k2b * msquared + k2c * mfour,
            k3a + k3b * msquared + k3c * mfour + k3d * msix,
        ];
        for (acc, c) in kk.iter_mut().zip(coeffs) {
            *acc *= qpower;
            *acc += c;
        }
    }
    let divisors = [z, 6.0 * zfour, 72.0 * z.powf(7.0), 6480.0 * z.powf(10.0)];
    for (acc, d) in kk.iter_mut().zip(divisors) {
        *acc *= q;
        *acc *= sqrt2pi;
        *acc /= d;
    }

    // The other sum, over all integers k, of the K_2 and K_3 extra terms.
    let q = (-pi_squared / 2.0 / zsquared).exp();
    let sqrt3z = sqrt3 * z;
    let mut k2terms = Vec::with_capacity(maxk.max(0) as usize);
    let mut k3terms = Vec::with_capacity(maxk.max(0) as usize);
    for k in (1..=maxk).rev() {
        let kf = k as f64;
        let ksquared = (k * k) as f64;
        let qpwr = q.powf(ksquared);
        let kspi = PI * kf;
        k2terms.push(ksquared * qpwr);
        k3terms.push((sqrt3z + kspi) * (sqrt3z - kspi) * ksquared * qpwr);
    }
    let mut k2extra = super::sum::pairwise_sum(&k2terms);
    k2extra *= pi_squared * sqrt2pi / (-36.0 * zthree);
    kk[2] += k2extra;
    let mut k3extra = super::sum::pairwise_sum(&k3terms);
    k3extra *= pi_squared * sqrt2pi / (216.0 * zsix);
    kk[3] += k3extra;
    for (i, acc) in kk.iter_mut().enumerate() {
        *acc /= nf.powf(i as f64 / 2.0);
    }
    kk.iter().fold(0.0, |s, v| s + v)
}

// ---------------------------------------------------------------------------------------
// One-sided Smirnov distribution (double-double), from xsf/cephes/kolmogorov.h.

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
