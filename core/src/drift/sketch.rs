//! Bounded-memory summaries of a column, so a window of any length is folded
//! row by row without keeping the rows.
//!
//! * [`NumericSketch`]: exact value → count map while the column has at most
//!   `max_distinct` distinct values (default 65 536; every numeric column of Adult
//!   qualifies at any window length, since its values are integers). Beyond that it
//!   compacts: runs of neighbouring values whose combined count is at most
//!   `n / (max_distinct / 4)` merge into their smallest value. Each compaction adds
//!   its largest merged run to [`NumericSketch::cdf_error`], a bound on how far any
//!   value of the sketch's ECDF can be from the exact one; so KS D is within
//!   `cdf_error(reference) + cdf_error(current)` of the exact statistic and every PSI
//!   bin proportion within the same bound. Memory: O(max_distinct).
//! * [`CategoryCounts`]: category → count, at most `max_categories` (default 10 000)
//!   distinct labels; later new labels are pooled under [`OTHER_CATEGORY`].
//! * [`IdSampler`]: duplicate request ids by hash sampling: ids whose 64-bit hash
//!   falls below a threshold are kept exactly; when more than `capacity` are kept the
//!   threshold halves. Duplicates of a sampled id are sampled too, so the duplicate
//!   rate of the sample is an unbiased estimate over at least `capacity / 2` ids.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Label that pools categories beyond [`CategoryCounts`]'s capacity.
pub const OTHER_CATEGORY: &str = "(other)";
/// Label of missing values in categorical counts.
pub const MISSING_CATEGORY: &str = "(missing)";

/// A small, fast, non-cryptographic hasher (the "Fx" multiply-rotate scheme) for
/// counting maps whose keys are not attacker-chosen in a way that matters here.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // The multiply only carries low bits upwards; f64 bits of integers have zero
        // low bits, so fold the high bits down or every such key shares a bucket.
        let z = self.hash;
        (z ^ (z >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9) ^ (z >> 32)
    }
}

pub type FxBuild = BuildHasherDefault<FxHasher>;
pub type FxHashMap<K, V> = HashMap<K, V, FxBuild>;

/// 64-bit mix of a string (for id sampling; well spread, unlike raw Fx).
pub fn hash_str(text: &str) -> u64 {
    // FNV-1a mixes every byte into the whole state; Fx's word-wise multiply
    // collides on short ids that differ only in their last bytes (`req-1234`).
    let mut z = 0xcbf2_9ce4_8422_2325u64;
    for &byte in text.as_bytes() {
        z = (z ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    // splitmix64 finalizer, so the sampling threshold sees uniform high bits.
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Default bound on distinct values kept exactly.
pub const DEFAULT_MAX_DISTINCT: usize = 1 << 16;

/// Value → count summary of a numeric column (see the module docs for the error bound).
#[derive(Clone, Debug)]
pub struct NumericSketch {
    counts: FxHashMap<u64, u64>,
    n: u64,
    max_distinct: usize,
    error_mass: u64,
    compactions: u32,
}

impl Default for NumericSketch {
    fn default() -> Self {
        NumericSketch::with_max_distinct(DEFAULT_MAX_DISTINCT)
    }
}

/// `-0.0` and `0.0` count as one value.
#[inline]
fn key(v: f64) -> u64 {
    if v == 0.0 {
        0
    } else {
        v.to_bits()
    }
}

impl NumericSketch {
    pub fn with_max_distinct(max_distinct: usize) -> Self {
        NumericSketch {
            counts: FxHashMap::default(),
            n: 0,
            max_distinct: max_distinct.max(16),
            error_mass: 0,
            compactions: 0,
        }
    }

    /// Counts a finite value (callers drop NaN and infinities first).
    #[inline]
    pub fn add(&mut self, v: f64) {
        self.add_count(v, 1);
    }

    pub fn add_count(&mut self, v: f64, count: u64) {
        *self.counts.entry(key(v)).or_insert(0) += count;
        self.n += count;
        if self.counts.len() > self.max_distinct {
            self.compact();
        }
    }

    /// A sketch of a slice of finite values.
    pub fn from_values(values: &[f64]) -> Self {
        let mut s = NumericSketch::default();
        for &v in values {
            s.add(v);
        }
        s
    }

    pub fn merge(&mut self, other: &NumericSketch) {
        for (&k, &c) in &other.counts {
            *self.counts.entry(k).or_insert(0) += c;
        }
        self.n += other.n;
        self.error_mass += other.error_mass;
        self.compactions += other.compactions;
        if self.counts.len() > self.max_distinct {
            self.compact();
        }
    }

    pub fn count(&self) -> u64 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub fn distinct(&self) -> usize {
        self.counts.len()
    }

    /// Whether the sketch still holds every value exactly.
    pub fn is_exact(&self) -> bool {
        self.compactions == 0
    }

    /// Bound on `|ECDF_sketch(x) - ECDF_exact(x)|` for every `x` (0 when exact).
    pub fn cdf_error(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.error_mass as f64 / self.n as f64
        }
    }

    /// Distinct values ascending with their counts.
    pub fn sorted(&self) -> Vec<(f64, u64)> {
        let mut out: Vec<(f64, u64)> = self
            .counts
            .iter()
            .map(|(&k, &c)| (f64::from_bits(k), c))
            .collect();
        out.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        out
    }

    fn compact(&mut self) {
        let sorted = self.sorted();
        let target_groups = (self.max_distinct / 4).max(1) as u64;
        let limit = (self.n / target_groups).max(1);
        let mut merged: FxHashMap<u64, u64> = FxHashMap::default();
        merged.reserve(self.max_distinct / 2);
        let mut max_run = 0;
        let mut run_start = None;
        let mut run_count = 0u64;
        for (v, c) in sorted {
            match run_start {
                Some(start) if run_count + c <= limit => {
                    run_count += c;
                    let _ = start;
                }
                _ => {
                    if let Some(start) = run_start {
                        merged.insert(key(start), run_count);
                        max_run = max_run.max(run_count);
                    }
                    run_start = Some(v);
                    run_count = c;
                }
            }
        }
        if let Some(start) = run_start {
            merged.insert(key(start), run_count);
            max_run = max_run.max(run_count);
        }
        self.counts = merged;
        // A group's mass lies between its start and the start of the group
        // after it when it was formed; values added later can split that span,
        // so at any x the mass misplaced comes from at most the run holding x
        // and the run before it. The bound does not add up over compactions.
        self.error_mass = self.error_mass.max(2 * max_run);
        self.compactions += 1;
    }

    /// Mean and population standard deviation.
    pub fn mean_std(&self) -> Option<(f64, f64)> {
        if self.n == 0 {
            return None;
        }
        let n = self.n as f64;
        let mean = self
            .counts
            .iter()
            .map(|(&k, &c)| f64::from_bits(k) * c as f64)
            .sum::<f64>()
            / n;
        let var = self
            .counts
            .iter()
            .map(|(&k, &c)| (f64::from_bits(k) - mean).powi(2) * c as f64)
            .sum::<f64>()
            / n;
        Some((mean, var.sqrt()))
    }
}

/// Category → count with a bounded number of labels.
#[derive(Clone, Debug, Default)]
pub struct CategoryCounts {
    counts: FxHashMap<String, u64>,
    n: u64,
    pooled: u64,
}

/// Default bound on distinct categories.
pub const DEFAULT_MAX_CATEGORIES: usize = 10_000;

impl CategoryCounts {
    #[inline]
    pub fn add(&mut self, category: &str) {
        self.add_count(category, 1);
    }

    pub fn add_count(&mut self, category: &str, count: u64) {
        self.n += count;
        if let Some(c) = self.counts.get_mut(category) {
            *c += count;
        } else if self.counts.len() < DEFAULT_MAX_CATEGORIES {
            self.counts.insert(category.to_string(), count);
        } else {
            self.pooled += count;
            *self.counts.entry(OTHER_CATEGORY.to_string()).or_insert(0) += count;
        }
    }

    pub fn merge(&mut self, other: &CategoryCounts) {
        for (k, &c) in &other.counts {
            self.add_count(k, c);
        }
    }

    pub fn count(&self) -> u64 {
        self.n
    }

    pub fn get(&self, category: &str) -> u64 {
        self.counts.get(category).copied().unwrap_or(0)
    }

    pub fn contains(&self, category: &str) -> bool {
        self.counts.contains_key(category)
    }

    /// Rows pooled under [`OTHER_CATEGORY`] because the label limit was reached.
    pub fn pooled(&self) -> u64 {
        self.pooled
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.counts.iter().map(|(k, &c)| (k.as_str(), c))
    }
}

/// Duplicate-id estimate by hash sampling (see the module docs).
#[derive(Clone, Debug)]
pub struct IdSampler {
    seen: FxHashMap<u64, u32>,
    /// Keep hashes `< threshold`; `u64::MAX` keeps everything.
    threshold: u64,
    capacity: usize,
    sampled_rows: u64,
    sampled_duplicates: u64,
    rows: u64,
}

impl Default for IdSampler {
    fn default() -> Self {
        IdSampler::with_capacity(1 << 18)
    }
}

impl IdSampler {
    pub fn with_capacity(capacity: usize) -> Self {
        IdSampler {
            seen: FxHashMap::default(),
            threshold: u64::MAX,
            capacity: capacity.max(16),
            sampled_rows: 0,
            sampled_duplicates: 0,
            rows: 0,
        }
    }

    pub fn add(&mut self, id: &str) {
        self.rows += 1;
        let h = hash_str(id);
        if h > self.threshold {
            return;
        }
        self.sampled_rows += 1;
        let count = self.seen.entry(h).or_insert(0);
        *count += 1;
        if *count > 1 {
            self.sampled_duplicates += 1;
        }
        if self.seen.len() > self.capacity {
            self.threshold /= 2;
            let threshold = self.threshold;
            let mut dropped_rows = 0u64;
            let mut dropped_dups = 0u64;
            self.seen.retain(|&h, &mut c| {
                let keep = h <= threshold;
                if !keep {
                    dropped_rows += u64::from(c);
                    dropped_dups += u64::from(c) - 1;
                }
                keep
            });
            self.sampled_rows -= dropped_rows;
            self.sampled_duplicates -= dropped_dups;
        }
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Whether every id is still tracked (the rate is exact).
    pub fn is_exact(&self) -> bool {
        self.threshold == u64::MAX
    }

    /// Fraction of rows whose id repeats an earlier row's id.
    pub fn duplicate_rate(&self) -> f64 {
        if self.sampled_rows == 0 {
            0.0
        } else {
            self.sampled_duplicates as f64 / self.sampled_rows as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_sketch_keeps_every_value() {
        let s = NumericSketch::from_values(&[3.0, 1.0, 3.0, -0.0, 0.0]);
        assert_eq!(s.sorted(), vec![(0.0, 2), (1.0, 1), (3.0, 2)]);
        assert!(s.is_exact());
        assert_eq!(s.cdf_error(), 0.0);
    }

    #[test]
    fn compaction_bounds_the_cdf_error() {
        let mut s = NumericSketch::with_max_distinct(64);
        let values: Vec<f64> = (0..10_000).map(|i| ((i * 7919) % 10_000) as f64).collect();
        for &v in &values {
            s.add(v);
        }
        assert!(s.distinct() <= 64);
        assert!(!s.is_exact());
        assert_eq!(s.count(), 10_000);
        // Compare the sketch ECDF with the exact one at every integer.
        let sorted = s.sorted();
        let mut worst: f64 = 0.0;
        for x in 0..10_000 {
            let exact = (x + 1) as f64 / 10_000.0;
            let approx: u64 = sorted
                .iter()
                .take_while(|(v, _)| *v <= x as f64)
                .map(|(_, c)| c)
                .sum();
            worst = worst.max((approx as f64 / 10_000.0 - exact).abs());
        }
        assert!(worst <= s.cdf_error(), "{worst} > {}", s.cdf_error());
        assert!(s.cdf_error() < 0.25, "{}", s.cdf_error());
    }

    #[test]
    fn categories_pool_beyond_the_limit() {
        let mut c = CategoryCounts::default();
        for i in 0..(DEFAULT_MAX_CATEGORIES + 5) {
            c.add(&format!("c{i}"));
        }
        assert_eq!(c.pooled(), 5);
        assert_eq!(c.get(OTHER_CATEGORY), 5);
        assert_eq!(c.count(), (DEFAULT_MAX_CATEGORIES + 5) as u64);
    }

    #[test]
    fn id_sampler_estimates_duplicates() {
        let mut exact = IdSampler::default();
        for id in ["a", "b", "a", "c", "a"] {
            exact.add(id);
        }
        assert!(exact.is_exact());
        assert!((exact.duplicate_rate() - 0.4).abs() < 1e-12);

        // 100k ids, every 10th repeated once: rate 1/11 of rows.
        let mut sampled = IdSampler::with_capacity(2_000);
        for i in 0..100_000u32 {
            sampled.add(&format!("req-{i}"));
            if i % 10 == 0 {
                sampled.add(&format!("req-{i}"));
            }
        }
        assert!(!sampled.is_exact());
        let expected = 10_000.0 / 110_000.0;
        assert!(
            (sampled.duplicate_rate() - expected).abs() < 0.02,
            "{}",
            sampled.duplicate_rate()
        );
    }

    #[test]
    fn distinct_short_ids_are_never_counted_as_duplicates() {
        let mut ids = IdSampler::default();
        for prefix in ["clean", "drifted", "req"] {
            for i in 0..50_000 {
                ids.add(&format!("{prefix}-{i}"));
            }
        }
        assert_eq!(ids.duplicate_rate(), 0.0);
        ids.add("req-7");
        assert!(ids.duplicate_rate() > 0.0);
    }
}
