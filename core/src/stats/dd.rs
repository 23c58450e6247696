//! Double-double arithmetic (a value is `hi + lo`, about 106 significant bits).
//!
//! A port of the subset of the QD library (Hida, Li, Bailey) that SciPy's `xsf` uses in
//! its one-sided Smirnov distribution, with the same operation order so results agree
//! with SciPy to the last bit of `hi` in the common case. Also `frexp`/`ldexp`, which
//! Rust's `std` lacks.

use std::ops::{Add, Div, Mul, Neg, Sub};

/// `hi + lo` with `|lo| <= ulp(hi) / 2`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Dd {
    pub hi: f64,
    pub lo: f64,
}

impl Dd {
    pub const fn new(hi: f64) -> Dd {
        Dd { hi, lo: 0.0 }
    }

    const fn pair(hi: f64, lo: f64) -> Dd {
        Dd { hi, lo }
    }

    /// `self == x` as a double-double (`lo` must be zero).
    pub fn eq_f(self, x: f64) -> bool {
        self.hi == x && self.lo == 0.0
    }

    pub fn is_zero(self) -> bool {
        self.eq_f(0.0)
    }

    pub fn is_finite(self) -> bool {
        self.hi.is_finite()
    }

    pub fn floor(self) -> Dd {
        let mut hi = self.hi.floor();
        let mut lo = 0.0;
        if hi == self.hi {
            // `hi` is an integer already: round the low word.
            lo = self.lo.floor();
            (hi, lo) = quick_two_sum(hi, lo);
        }
        Dd::pair(hi, lo)
    }

    /// Returns `(m, e)` with `self == m * 2^e` and `0.5 <= |m.hi| < 1` (or `|m.hi| == 1`
    /// with `m.lo` of opposite sign).
    pub fn frexp(self) -> (Dd, i32) {
        let (mut man, mut exponent) = frexp(self.hi);
        let mut b1 = ldexp(self.lo, -exponent);
        if man.abs() == 0.5 && man * b1 < 0.0 {
            man *= 2.0;
            b1 *= 2.0;
            exponent -= 1;
        }
        (Dd::pair(man, b1), exponent)
    }

    pub fn ldexp(self, e: i32) -> Dd {
        Dd::pair(ldexp(self.hi, e), ldexp(self.lo, e))
    }
}

/// `fl(a + b)` and its rounding error, assuming `|a| >= |b|`.
fn quick_two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let c = s - a;
    (s, b - c)
}

/// `fl(a + b)` and its rounding error.
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let c = s - a;
    let d = b - c;
    let e = s - c;
    (s, (a - e) + d)
}

/// `fl(a * b)` and its rounding error (exact through a fused multiply-add).
fn two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    (p, a.mul_add(b, -p))
}

impl Neg for Dd {
    type Output = Dd;
    fn neg(self) -> Dd {
        Dd::pair(-self.hi, -self.lo)
    }
}

impl Add for Dd {
    type Output = Dd;
    fn add(self, rhs: Dd) -> Dd {
        let (s1, mut s2) = two_sum(self.hi, rhs.hi);
        let (t1, t2) = two_sum(self.lo, rhs.lo);
        s2 += t1;
        let (s1, mut s2) = quick_two_sum(s1, s2);
        s2 += t2;
        let (s1, s2) = quick_two_sum(s1, s2);
        Dd::pair(s1, s2)
    }
}

impl Add<f64> for Dd {
    type Output = Dd;
    fn add(self, rhs: f64) -> Dd {
        let (s1, mut s2) = two_sum(self.hi, rhs);
        s2 += self.lo;
        let (s1, s2) = quick_two_sum(s1, s2);
        Dd::pair(s1, s2)
    }
}

impl Add<Dd> for f64 {
    type Output = Dd;
    fn add(self, rhs: Dd) -> Dd {
        let (s1, mut s2) = two_sum(self, rhs.hi);
        s2 += rhs.lo;
        let (s1, s2) = quick_two_sum(s1, s2);
        Dd::pair(s1, s2)
    }
}

impl Sub for Dd {
    type Output = Dd;
    fn sub(self, rhs: Dd) -> Dd {
        self + (-rhs)
    }
}

impl Sub<f64> for Dd {
    type Output = Dd;
    fn sub(self, rhs: f64) -> Dd {
        let (s1, mut s2) = two_sum(self.hi, -rhs);
        s2 += self.lo;
        let (s1, s2) = quick_two_sum(s1, s2);
        Dd::pair(s1, s2)
    }
}

impl Sub<Dd> for f64 {
    type Output = Dd;
    fn sub(self, rhs: Dd) -> Dd {
        let (s1, mut s2) = two_sum(self, -rhs.hi);
        s2 -= rhs.lo;
        let (s1, s2) = quick_two_sum(s1, s2);
        Dd::pair(s1, s2)
    }
}

impl Mul for Dd {
    type Output = Dd;
    fn mul(self, rhs: Dd) -> Dd {
        let (p1, mut p2) = two_prod(self.hi, rhs.hi);
        p2 += self.hi * rhs.lo + self.lo * rhs.hi;
        let (p1, p2) = quick_two_sum(p1, p2);
        Dd::pair(p1, p2)
    }
}

impl Mul<f64> for Dd {
    type Output = Dd;
    fn mul(self, rhs: f64) -> Dd {
        let (p1, e1) = two_prod(self.hi, rhs);
        let (p2, e2) = two_prod(self.lo, rhs);
        let (p1, e1) = quick_two_sum(p1, e2 + p2 + e1);
        Dd::pair(p1, e1)
    }
}

impl Mul<Dd> for f64 {
    type Output = Dd;
    fn mul(self, rhs: Dd) -> Dd {
        let (p1, e1) = two_prod(self, rhs.hi);
        let (p2, e2) = two_prod(self, rhs.lo);
        let (p1, e1) = quick_two_sum(p1, e2 + p2 + e1);
        Dd::pair(p1, e1)
    }
}

impl Div for Dd {
    type Output = Dd;
    fn div(self, rhs: Dd) -> Dd {
        let q1 = self.hi / rhs.hi; // approximate quotient
        let r = self - rhs * q1;
        let q2 = r.hi / rhs.hi;
        let r = r - rhs * q2;
        let q3 = r.hi / rhs.hi;
        let (q1, q2) = quick_two_sum(q1, q2);
        Dd::pair(q1, q2) + q3
    }
}

impl Div<f64> for Dd {
    type Output = Dd;
    fn div(self, rhs: f64) -> Dd {
        self / Dd::new(rhs)
    }
}

impl Div<Dd> for f64 {
    type Output = Dd;
    fn div(self, rhs: Dd) -> Dd {
        Dd::new(self) / rhs
    }
}

/// `x * 2^n`, exact unless the result overflows or is subnormal (C's `scalbn`).
pub(crate) fn ldexp(x: f64, n: i32) -> f64 {
    let two_1023 = f64::from_bits(0x7fe0_0000_0000_0000);
    let two_m969 = f64::from_bits(0x0360_0000_0000_0000); // 2^-1022 * 2^53
    let mut y = x;
    let mut n = n;
    if n > 1023 {
        y *= two_1023;
        n -= 1023;
        if n > 1023 {
            y *= two_1023;
            n -= 1023;
            n = n.min(1023);
        }
    } else if n < -1022 {
        // Scale by 2^-969 (not 2^-1022) so the final multiplication rounds only once.
        y *= two_m969;
        n += 1022 - 53;
        if n < -1022 {
            y *= two_m969;
            n += 1022 - 53;
            n = n.max(-1022);
        }
    }
    // 0x3ff + n is in 1..=2046 here, a normal exponent.
    let bits = u64::try_from(0x3ff + n).unwrap_or(0x3ff) << 52;
    y * f64::from_bits(bits)
}

/// Splits `x` into `(m, e)` with `x == m * 2^e` and `0.5 <= |m| < 1` (C's `frexp`);
/// zero, infinities and NaN come back unchanged with `e == 0`.
pub(crate) fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0 {
        // Subnormal: normalise first.
        let (m, e) = frexp(x * f64::from_bits(0x43f0_0000_0000_0000)); // 2^64
        return (m, e - 64);
    }
    let m = f64::from_bits((bits & !(0x7ff_u64 << 52)) | (0x3fe_u64 << 52));
    (m, biased - 1022)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frexp_ldexp_round_trip() {
        for &x in &[1.0, 0.5, 3.0, -7.25, 1e-310, 1e300, f64::MIN_POSITIVE] {
            let (m, e) = frexp(x);
            assert!((0.5..1.0).contains(&m.abs()), "{x}: m={m}");
            assert_eq!(ldexp(m, e), x);
        }
        assert_eq!(frexp(8.0), (0.5, 4));
        assert_eq!(ldexp(1.0, -1074), f64::from_bits(1));
        assert_eq!(ldexp(1.0, 1024), f64::INFINITY);
    }

    #[test]
    fn dd_division_is_more_precise_than_f64() {
        let third = Dd::new(1.0) / 3.0;
        let back = third * 3.0;
        assert_eq!(back.hi, 1.0);
        assert!(back.lo.abs() < 1e-30);
        assert!(third.lo != 0.0);
    }
}
