//! `P(D_n <= d)` by the Durbin matrix algorithm, as Marsaglia, Tsang and Wang (2003)
//! arrange it (SciPy's `_kolmogn_DMTW`).

use super::super::dd::ldexp;
use super::{E128, M128, P128};

/// `P(D_n <= d)` by the Durbin matrix algorithm (Marsaglia, Tsang & Wang 2003).
pub(super) fn kolmogn_dmtw_cdf(n: u64, d: f64) -> f64 {
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
