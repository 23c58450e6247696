//! Quantile bins of the training values, per column, for the tree's split search.
//!
//! A column with at most `max_bins` distinct values gets one bin per value, so
//! its splits are exactly CART's; a longer column is cut into bins of about
//! equal row counts (a distinct value is never split across bins). Each bin
//! keeps the smallest and largest training value in it, so a split between two
//! bins gets an f64 threshold halfway between them that routes every training
//! row exactly as the bins did.
//!
//! The binned matrix stores, per row, only the entries that are not in their
//! column's most frequent bin (for one-hot columns: the ones), so a node's
//! histogram costs its rows × their rare entries.

use super::rows::SparseRows;

/// Binned training rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Binned {
    n_rows: usize,
    /// Column `c`'s bins are `offsets[c]..offsets[c + 1]` in the flat bin layout.
    offsets: Vec<usize>,
    /// Smallest and largest training value in each (flat) bin.
    lowest: Vec<f64>,
    highest: Vec<f64>,
    /// Each column's most frequent bin (local index), left implicit below.
    default_bin: Vec<u16>,
    /// Row `r`'s other entries are `indptr[r]..indptr[r + 1]`, by column.
    indptr: Vec<usize>,
    columns: Vec<u32>,
    bins: Vec<u16>,
}

impl Binned {
    /// Bins every column of `x`; `max_bins` is at most 65 536.
    pub fn new(x: &SparseRows, max_bins: usize) -> Binned {
        let n = x.n_rows();
        let max_bins = max_bins.clamp(2, 1 << 16);
        let by_column = transpose(x);
        let mut offsets = vec![0];
        let (mut lowest, mut highest, mut default_bin) = (Vec::new(), Vec::new(), Vec::new());
        // (row, column, bin) of the entries outside their column's default bin.
        let mut rare: Vec<(u32, u32, u16)> = Vec::new();
        let mut has_entry = vec![false; n];
        for (c, mut entries) in by_column.into_iter().enumerate() {
            entries.sort_unstable_by(|a, b| a.1.total_cmp(&b.1));
            let zeros = n - entries.len();
            let cuts = cut_points(&entries, zeros, max_bins);
            let bin_of = |v: f64| cuts.bins.partition_point(|b| b.1 < v) as u16;
            let zero_bin = bin_of(0.0);
            let mut counts = vec![0usize; cuts.bins.len()];
            counts[zero_bin as usize] += zeros;
            let binned: Vec<(u32, u16)> = entries
                .iter()
                .map(|&(row, v)| {
                    let b = bin_of(v);
                    counts[b as usize] += 1;
                    (row, b)
                })
                .collect();
            let default = (0..counts.len())
                .max_by_key(|&b| (counts[b], std::cmp::Reverse(b)))
                .unwrap_or(0) as u16;
            rare.extend(
                binned
                    .iter()
                    .filter(|(_, b)| *b != default)
                    .map(|&(row, b)| (row, c as u32, b)),
            );
            if zeros > 0 && zero_bin != default {
                binned
                    .iter()
                    .for_each(|&(row, _)| has_entry[row as usize] = true);
                rare.extend(
                    (0..n)
                        .filter(|&r| !has_entry[r])
                        .map(|r| (r as u32, c as u32, zero_bin)),
                );
                binned
                    .iter()
                    .for_each(|&(row, _)| has_entry[row as usize] = false);
            }
            lowest.extend(cuts.bins.iter().map(|b| b.0));
            highest.extend(cuts.bins.iter().map(|b| b.1));
            offsets.push(lowest.len());
            default_bin.push(default);
        }
        let (indptr, columns, bins) = group_by_row(n, rare);
        Binned {
            n_rows: n,
            offsets,
            lowest,
            highest,
            default_bin,
            indptr,
            columns,
            bins,
        }
    }

    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    pub fn n_cols(&self) -> usize {
        self.default_bin.len()
    }

    /// Total bins over all columns.
    pub fn n_bins(&self) -> usize {
        self.lowest.len()
    }

    /// Flat bin range of column `c`.
    pub fn column_bins(&self, c: usize) -> std::ops::Range<usize> {
        self.offsets[c]..self.offsets[c + 1]
    }

    /// Flat index of column `c`'s most frequent bin.
    pub fn default_bin(&self, c: usize) -> usize {
        self.offsets[c] + self.default_bin[c] as usize
    }

    /// Row `r`'s entries outside their column's default bin: columns and local bins.
    pub fn rare_entries(&self, r: usize) -> (&[u32], &[u16]) {
        let range = self.indptr[r]..self.indptr[r + 1];
        (&self.columns[range.clone()], &self.bins[range])
    }

    /// Flat bin of row `r` in column `c`.
    pub fn bin(&self, r: usize, c: usize) -> usize {
        let (columns, bins) = self.rare_entries(r);
        match columns.binary_search(&(c as u32)) {
            Ok(i) => self.offsets[c] + bins[i] as usize,
            Err(_) => self.default_bin(c),
        }
    }

    /// A threshold between flat bins `left` < `right` of one column: every
    /// training value in `left` is below it, every one in `right` is not.
    /// Like scikit-learn, a new value halfway between the two goes left: the
    /// threshold is the next double after the midpoint (rows go left when
    /// `x < threshold`, scikit-learn's when `x <= midpoint`).
    pub fn threshold(&self, left: usize, right: usize) -> f64 {
        let (a, b) = (self.highest[left], self.lowest[right]);
        let middle = a / 2.0 + b / 2.0;
        next_up(if middle < b { middle } else { a })
    }
}

/// The smallest double greater than `x` (finite `x`).
fn next_up(x: f64) -> f64 {
    if x == 0.0 {
        f64::from_bits(1)
    } else if x > 0.0 {
        f64::from_bits(x.to_bits() + 1)
    } else {
        f64::from_bits(x.to_bits() - 1)
    }
}

/// Bins of one column as (lowest, highest) training value, increasing.
struct Cuts {
    bins: Vec<(f64, f64)>,
}

/// `sorted` holds the column's stored values in order; `zeros` rows are 0 implicitly.
fn cut_points(sorted: &[(u32, f64)], zeros: usize, max_bins: usize) -> Cuts {
    // Distinct values with their counts, the implicit zeros merged in order.
    let mut distinct: Vec<(f64, usize)> = Vec::new();
    let mut zeros_pending = zeros > 0;
    for &(_, v) in sorted {
        if zeros_pending && v >= 0.0 {
            push(0.0, zeros, &mut distinct);
            zeros_pending = false;
        }
        push(v, 1, &mut distinct);
    }
    if zeros_pending {
        push(0.0, zeros, &mut distinct);
    }
    if distinct.len() <= max_bins {
        return Cuts {
            bins: distinct.iter().map(|&(v, _)| (v, v)).collect(),
        };
    }
    // Greedy equal-count bins; the target adapts to what is left, so a very
    // frequent value takes one bin without starving the others.
    let mut remaining: usize = distinct.iter().map(|d| d.1).sum();
    let mut bins = Vec::with_capacity(max_bins);
    let mut start = 0;
    let mut in_bin = 0;
    for (i, &(v, count)) in distinct.iter().enumerate() {
        in_bin += count;
        let bins_left = max_bins - bins.len();
        let target = remaining.div_ceil(bins_left);
        let values_left = distinct.len() - i - 1;
        if in_bin >= target || values_left < bins_left || values_left == 0 {
            bins.push((distinct[start].0, v));
            remaining -= in_bin;
            in_bin = 0;
            start = i + 1;
        }
    }
    Cuts { bins }
}

fn push(v: f64, count: usize, distinct: &mut Vec<(f64, usize)>) {
    match distinct.last_mut() {
        Some((last, c)) if *last == v => *c += count,
        _ => distinct.push((v, count)),
    }
}

/// Column-wise (row, value) lists of `x`'s stored entries.
fn transpose(x: &SparseRows) -> Vec<Vec<(u32, f64)>> {
    let mut counts = vec![0usize; x.n_cols()];
    for r in 0..x.n_rows() {
        x.row(r).0.iter().for_each(|&c| counts[c as usize] += 1);
    }
    let mut columns: Vec<Vec<(u32, f64)>> = counts.iter().map(|&c| Vec::with_capacity(c)).collect();
    for r in 0..x.n_rows() {
        let (cols, values) = x.row(r);
        for (&c, &v) in cols.iter().zip(values) {
            columns[c as usize].push((r as u32, v));
        }
    }
    columns
}

/// CSR arrays from (row, column, bin) triples produced column by column.
fn group_by_row(n: usize, entries: Vec<(u32, u32, u16)>) -> (Vec<usize>, Vec<u32>, Vec<u16>) {
    let mut indptr = vec![0usize; n + 1];
    entries.iter().for_each(|e| indptr[e.0 as usize + 1] += 1);
    for r in 0..n {
        indptr[r + 1] += indptr[r];
    }
    let mut next = indptr.clone();
    let mut columns = vec![0u32; entries.len()];
    let mut bins = vec![0u16; entries.len()];
    // Triples arrive column by column, so each row's entries land sorted by column.
    for (row, column, bin) in entries {
        let at = &mut next[row as usize];
        columns[*at] = column;
        bins[*at] = bin;
        *at += 1;
    }
    (indptr, columns, bins)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn few_distinct_values_get_a_bin_each() {
        let x = array![[0.0, 3.0], [1.0, -1.0], [0.0, 3.0], [0.0, 2.0]];
        let binned = Binned::new(&SparseRows::from_dense(x.view()), 255);
        assert_eq!(binned.column_bins(0), 0..2);
        assert_eq!(binned.column_bins(1), 2..5);
        assert_eq!(binned.default_bin(0), 0); // zeros are the majority
        assert_eq!(binned.default_bin(1), 4); // 3.0 is the most frequent
        let bins: Vec<Vec<usize>> = (0..4)
            .map(|r| (0..2).map(|c| binned.bin(r, c)).collect())
            .collect();
        assert_eq!(bins, [[0, 4], [1, 2], [0, 4], [0, 3]]);
        assert_eq!(binned.rare_entries(1), (&[0, 1][..], &[1, 0][..]));
        // Halfway between -1 and 2, nudged up so that 0.5 itself goes left.
        assert!(binned.threshold(2, 3) > 0.5 && binned.threshold(2, 3) < 0.5 + 1e-15);
        assert_eq!(next_up(-1.0), -1.0 + f64::EPSILON / 2.0);
    }

    #[test]
    fn long_columns_are_cut_into_equal_count_bins() {
        let values: Vec<f64> = (0..1000).map(|i| f64::from(i % 500) + 1.0).collect();
        let x = ndarray::Array2::from_shape_vec((1000, 1), values.clone()).expect("shape");
        let binned = Binned::new(&SparseRows::from_dense(x.view()), 10);
        assert_eq!(binned.n_bins(), 10);
        let mut counts = [0usize; 10];
        (0..1000).for_each(|r| counts[binned.bin(r, 0)] += 1);
        assert_eq!(counts, [100; 10]);
        // Every value lies in its bin's range; thresholds separate neighbours.
        for (r, &v) in values.iter().enumerate() {
            let b = binned.bin(r, 0);
            assert!(binned.lowest[b] <= v && v <= binned.highest[b]);
            if b + 1 < 10 {
                assert!(v < binned.threshold(b, b + 1));
            }
        }
    }

    #[test]
    fn a_dominant_value_does_not_starve_the_other_bins() {
        let mut values = vec![0.0; 900];
        values.extend((1..=100).map(f64::from));
        let x = ndarray::Array2::from_shape_vec((1000, 1), values).expect("shape");
        let binned = Binned::new(&SparseRows::from_dense(x.view()), 11);
        assert_eq!(binned.n_bins(), 11);
        assert_eq!((binned.lowest[0], binned.highest[0]), (0.0, 0.0));
        assert_eq!(binned.default_bin(0), 0);
        assert_eq!(
            (0..1000)
                .filter(|&r| binned.rare_entries(r).0.len() == 1)
                .count(),
            100
        );
    }
}
