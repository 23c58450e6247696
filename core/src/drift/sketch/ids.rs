//! [`IdSampler`]: duplicate request ids by hash sampling (see the module docs).

use super::{hash_str, FxHashMap};

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
        self.add_hash(hash_str(id), 1);
    }

    /// Counts `count` rows whose id hashes to `hash` ([`hash_str`]).
    pub fn add_hash(&mut self, hash: u64, count: u32) {
        self.rows += u64::from(count);
        self.keep(hash, count);
        self.shrink();
    }

    fn keep(&mut self, hash: u64, count: u32) {
        if hash > self.threshold || count == 0 {
            return;
        }
        self.sampled_rows += u64::from(count);
        let seen = self.seen.entry(hash).or_insert(0);
        // Rows of this id already seen make every new one a duplicate; else all but one.
        self.sampled_duplicates += u64::from(if *seen > 0 { count } else { count - 1 });
        *seen += count;
    }

    /// Halves the threshold until at most `capacity` hashes are kept.
    fn shrink(&mut self) {
        while self.seen.len() > self.capacity {
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

    /// Adds `other` in: the sampler of both streams (the lower threshold of the two).
    pub fn merge(&mut self, other: &IdSampler) {
        self.threshold = self.threshold.min(other.threshold);
        let threshold = self.threshold;
        if self.seen.keys().any(|&h| h > threshold) {
            let (mut rows, mut dups) = (0u64, 0u64);
            self.seen.retain(|&h, &mut c| {
                let keep = h <= threshold;
                if keep {
                    rows += u64::from(c);
                    dups += u64::from(c) - 1;
                }
                keep
            });
            self.sampled_rows = rows;
            self.sampled_duplicates = dups;
        }
        self.rows += other.rows;
        for (&h, &c) in &other.seen {
            self.keep(h, c);
        }
        self.shrink();
    }

    /// The kept hashes with their row counts, and the threshold (a profile's form).
    pub fn parts(&self) -> (u64, impl Iterator<Item = (u64, u32)> + '_) {
        (self.threshold, self.seen.iter().map(|(&h, &c)| (h, c)))
    }

    /// From [`IdSampler::parts`] and the rows counted.
    pub fn from_parts(
        threshold: u64,
        rows: u64,
        hashes: impl IntoIterator<Item = (u64, u32)>,
    ) -> IdSampler {
        let mut sampler = IdSampler {
            threshold,
            ..IdSampler::default()
        };
        for (h, c) in hashes {
            sampler.keep(h, c);
        }
        sampler.rows = rows;
        sampler.shrink();
        sampler
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
    fn merged_samplers_equal_the_sampler_of_the_union() {
        let ids: Vec<String> = (0..60_000).map(|i| format!("req-{}", i % 50_000)).collect();
        let mut whole = IdSampler::with_capacity(4_000);
        for id in &ids {
            whole.add(id);
        }
        let mut merged = IdSampler::with_capacity(4_000);
        for chunk in ids.chunks(7_000) {
            let mut part = IdSampler::with_capacity(4_000);
            for id in chunk {
                part.add(id);
            }
            let (threshold, hashes) = part.parts();
            merged.merge(&IdSampler::from_parts(
                threshold,
                part.rows(),
                hashes.collect::<Vec<_>>(),
            ));
        }
        assert_eq!(merged.rows(), whole.rows());
        assert_eq!(merged.threshold, whole.threshold);
        assert_eq!(merged.duplicate_rate(), whole.duplicate_rate());
        let exact = 10_000.0 / 60_000.0;
        assert!(
            (merged.duplicate_rate() - exact).abs() < 0.02,
            "{}",
            merged.duplicate_rate()
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
