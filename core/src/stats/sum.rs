//! Pairwise summation, arranged like NumPy's `np.sum` for contiguous float64 arrays
//! (8 accumulators in blocks of up to 128, recursive halving above), so sums agree with
//! NumPy to the last bit or two and the rounding error grows as O(log n).

const BLOCK: usize = 128;

/// Sum of `values` by pairwise summation.
pub(crate) fn pairwise_sum(values: &[f64]) -> f64 {
    let n = values.len();
    if n < 8 {
        values.iter().fold(0.0, |acc, v| acc + v)
    } else if n <= BLOCK {
        let mut r = [0.0_f64; 8];
        r.copy_from_slice(&values[..8]);
        let whole = n - n % 8;
        for chunk in values[8..whole].chunks_exact(8) {
            for (acc, v) in r.iter_mut().zip(chunk) {
                *acc += v;
            }
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for v in &values[whole..] {
            res += v;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&values[..n2]) + pairwise_sum(&values[n2..])
    }
}

#[cfg(test)]
mod tests {
    use super::pairwise_sum;

    #[test]
    fn sums_exactly_representable_values() {
        for n in [0_usize, 1, 7, 8, 9, 127, 128, 129, 1000, 4099] {
            let v: Vec<f64> = (0..n).map(|i| i as f64).collect();
            let expected = (n * n.saturating_sub(1) / 2) as f64;
            assert_eq!(pairwise_sum(&v), expected, "n={n}");
        }
    }

    #[test]
    fn is_more_accurate_than_naive_summation() {
        let v = vec![0.1_f64; 1_000_000];
        let naive: f64 = v.iter().sum();
        let pairwise = pairwise_sum(&v);
        assert!((pairwise - 100_000.0).abs() < (naive - 100_000.0).abs());
        assert!((pairwise - 100_000.0).abs() < 1e-8);
    }
}
