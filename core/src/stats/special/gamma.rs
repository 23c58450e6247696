//! `ln |Gamma(x)|`, the Lanczos sum and `ln Gamma(1 + x)` (Cephes `gamma.h`, SciPy `lanczos.h`).

use super::{p1evl, polevl, ratevl_same_degree, EULER, LS2PI, MACHEP};

pub(super) const LANCZOS_G: f64 = 6.02468004077673;

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

pub(super) fn lanczos_sum_expg_scaled(x: f64) -> f64 {
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
pub(super) fn lgam1p(x: f64) -> f64 {
    if x.abs() <= 0.5 {
        lgam1p_taylor(x)
    } else if (x - 1.0).abs() < 0.5 {
        x.ln() + lgam1p_taylor(x - 1.0)
    } else {
        lgam(x + 1.0)
    }
}
