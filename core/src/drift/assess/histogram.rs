//! The report's bars: proportions per bin of a numeric feature (or per distinct value
//! when there are few) and per category, the rarest pooled.

use crate::stats::quantile_linear_sorted_counts;

use super::super::report::Histogram;
use super::rate;

const HISTOGRAM_BINS: usize = 24;
const MAX_BARS: usize = 20;

pub(super) fn numeric_histogram(r: &[(f64, u64)], c: &[(f64, u64)]) -> Histogram {
    let n1: u64 = r.iter().map(|x| x.1).sum();
    let n2: u64 = c.iter().map(|x| x.1).sum();
    let mut distinct: Vec<f64> = r.iter().chain(c).map(|x| x.0).collect();
    distinct.sort_unstable_by(f64::total_cmp);
    distinct.dedup();
    if distinct.len() <= MAX_BARS {
        let share = |list: &[(f64, u64)], n: u64, v: f64| {
            rate(list.iter().find(|x| x.0 == v).map_or(0, |x| x.1), n)
        };
        return Histogram {
            labels: distinct.iter().map(|v| format_number(*v)).collect(),
            reference: distinct.iter().map(|&v| share(r, n1, v)).collect(),
            current: distinct.iter().map(|&v| share(c, n2, v)).collect(),
        };
    }
    let q = |list: &[(f64, u64)], p: f64| quantile_linear_sorted_counts(list, p).unwrap_or(0.0);
    let lo = q(r, 0.005).min(q(c, 0.005));
    let hi = q(r, 0.995).max(q(c, 0.995));
    if hi <= lo {
        return Histogram::default();
    }
    let width = (hi - lo) / HISTOGRAM_BINS as f64;
    let bin = |v: f64| (((v - lo) / width).floor().max(0.0) as usize).min(HISTOGRAM_BINS - 1);
    let mut rh = vec![0.0; HISTOGRAM_BINS];
    let mut ch = vec![0.0; HISTOGRAM_BINS];
    for &(v, k) in r {
        rh[bin(v)] += k as f64 / n1 as f64;
    }
    for &(v, k) in c {
        ch[bin(v)] += k as f64 / n2 as f64;
    }
    Histogram {
        labels: (0..HISTOGRAM_BINS)
            .map(|i| format_number(lo + width * i as f64))
            .collect(),
        reference: rh,
        current: ch,
    }
}

fn format_number(v: f64) -> String {
    // Whole numbers and large values read best without decimals.
    if (v.fract() == 0.0 && v.abs() < 1e15) || v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}
/// Category shares, most frequent first (by both sides together, then by name); beyond
/// [`MAX_BARS`] the rest is one bar `(<n> others)`.
pub(super) fn category_histogram(
    names: &[&str],
    rc: &[f64],
    cc: &[f64],
    n1: u64,
    n2: u64,
) -> Histogram {
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by(|&a, &b| {
        (rate(cc[b] as u64, n2) + rate(rc[b] as u64, n1))
            .total_cmp(&(rate(cc[a] as u64, n2) + rate(rc[a] as u64, n1)))
            .then(names[a].cmp(names[b]))
    });
    let mut hist = Histogram::default();
    let (mut rest_r, mut rest_c) = (0.0, 0.0);
    for (rank, &i) in order.iter().enumerate() {
        let (r, c) = (rc[i] / n1.max(1) as f64, cc[i] / n2.max(1) as f64);
        if rank < MAX_BARS - 1 || order.len() <= MAX_BARS {
            hist.labels.push(names[i].to_string());
            hist.reference.push(r);
            hist.current.push(c);
        } else {
            rest_r += r;
            rest_c += c;
        }
    }
    if order.len() > MAX_BARS {
        hist.labels
            .push(format!("({} others)", order.len() - (MAX_BARS - 1)));
        hist.reference.push(rest_r);
        hist.current.push(rest_c);
    }
    hist
}
