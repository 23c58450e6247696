//! `P(D_n <= x)` by the Pelz–Good (1976) asymptotic expansion (SciPy's `_kolmogn_PelzGood`).

use std::f64::consts::PI;

use super::super::sum::pairwise_sum;

/// `P(D_n <= x)` by the Pelz–Good (1976) asymptotic expansion.
pub(super) fn kolmogn_pelz_good_cdf(n: u64, x: f64) -> f64 {
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

    let maxk = (16.0 * z / PI).ceil() as i64;
    let coefficients = [
        [1.0, 0.0, 0.0, 0.0],
        [k1a, k1b, 0.0, 0.0],
        [k2a, k2b, k2c, 0.0],
        [k3a, k3b, k3c, k3d],
    ];
    let mut kk = first_sums(q, maxk, &coefficients);
    let divisors = [z, 6.0 * zfour, 72.0 * z.powf(7.0), 6480.0 * z.powf(10.0)];
    for (acc, d) in kk.iter_mut().zip(divisors) {
        *acc *= q;
        *acc *= sqrt2pi;
        *acc /= d;
    }
    let (k2extra, k3extra) = extra_sums(z, maxk);
    kk[2] += k2extra * (pi_squared * sqrt2pi / (-36.0 * zthree));
    kk[3] += k3extra * (pi_squared * sqrt2pi / (216.0 * zsix));
    for (i, acc) in kk.iter_mut().enumerate() {
        *acc /= nf.powf(i as f64 / 2.0);
    }
    kk.iter().fold(0.0, |s, v| s + v)
}

/// The sums over odd `m = 2k - 1` of `K_0 … K_3`, by Horner's rule in `q^8`.
fn first_sums(q: f64, maxk: i64, coefficients: &[[f64; 4]; 4]) -> [f64; 4] {
    let [c0, c1, c2, c3] = coefficients;
    let mut kk = [0.0_f64; 4];
    for k in (1..=maxk).rev() {
        let m = (2 * k - 1) as f64;
        let msquared = m * m;
        let mfour = msquared * msquared;
        let msix = mfour * msquared;
        let qpower = q.powf((8 * k) as f64);
        let coeffs = [
            c0[0],
            c1[0] + c1[1] * msquared,
            c2[0] + c2[1] * msquared + c2[2] * mfour,
            c3[0] + c3[1] * msquared + c3[2] * mfour + c3[3] * msix,
        ];
        for (acc, c) in kk.iter_mut().zip(coeffs) {
            *acc *= qpower;
            *acc += c;
        }
    }
    kk
}

/// The other sums, over all integers k, of the K_2 and K_3 extra terms (unscaled).
fn extra_sums(z: f64, maxk: i64) -> (f64, f64) {
    let pi_squared = PI.powf(2.0);
    let zsquared = z.powf(2.0);
    let sqrt3 = 3.0_f64.sqrt();
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
    (pairwise_sum(&k2terms), pairwise_sum(&k3terms))
}
