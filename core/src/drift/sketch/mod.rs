//! Bounded-memory, mergeable summaries of a column, so a window of any length is
//! folded row by row (or batch profile by batch profile) without keeping the rows.
//!
//! * [`NumericSketch`]: exact value → count map while the column has at most
//!   `max_distinct` distinct values (default 65 536; every numeric column of Adult
//!   qualifies at any window length, since its values are integers). Beyond that a KLL
//!   sketch (Apache DataSketches, k = 1000) whose normalized rank error
//!   [`NumericSketch::cdf_error`] bounds how far the sketch's ECDF is from the exact one;
//!   so KS D is within `cdf_error(reference) + cdf_error(current)` of the exact statistic
//!   (DataSketches' KS semantics) and every bin proportion within twice that. Count,
//!   mean and standard deviation stay exact. Memory: O(max_distinct).
//! * [`CategoryCounts`]: category → count, at most 10 000 distinct labels; later new
//!   labels are pooled under [`OTHER_CATEGORY`], and [`CategoryCounts::pooled`] bounds
//!   the count error of any label.
//! * [`IdSampler`]: duplicate request ids by hash sampling: ids whose 64-bit hash
//!   falls below a threshold are kept exactly; when more than `capacity` are kept the
//!   threshold halves. Duplicates of a sampled id are sampled too, so the duplicate
//!   rate of the sample is an unbiased estimate over at least `capacity / 2` ids.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

mod categories;
mod ids;
pub mod kll;
mod numeric;

pub use categories::{CategoryCounts, DEFAULT_MAX_CATEGORIES};
pub use ids::IdSampler;
pub use kll::KllError;
pub use numeric::{Kll, Moments, NumericSketch, DEFAULT_MAX_DISTINCT};

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
