//! [`NumericSketch`]: the distribution of a numeric column — exact counts while the
//! column has few distinct values, a KLL sketch beyond — with exact count and moments.

use datasketches::kll::{KllFloat, KllSketch};

use super::kll::{self, KllError};
use crate::word_map::WordMap;

/// Default bound on distinct values kept exactly (every numeric column of Adult
/// qualifies at any window length, since its values are integers).
pub const DEFAULT_MAX_DISTINCT: usize = 1 << 16;

/// A KLL sketch of doubles, DataSketches' `kll_doubles_sketch`.
pub type Kll = KllSketch<KllFloat<f64>>;

/// Value → count summary of a numeric column: exact while at most `max_distinct`
/// distinct values, then a KLL sketch (k = [`kll::K`]) whose rank error
/// [`NumericSketch::cdf_error`] bounds how far its ECDF can be from the exact one
/// (DataSketches' single-sided normalized rank error, at 99 % confidence). The count,
/// mean and standard deviation stay exact either way. Mergeable: the merge of two
/// sketches is the sketch of the union (exact counts exactly, KLL within its bound).
#[derive(Clone, Debug)]
pub struct NumericSketch {
    state: State,
    n: u64,
    max_distinct: usize,
}

#[derive(Clone, Debug)]
enum State {
    /// Value bits ([`key`]) → count, in the order first seen.
    Exact(WordMap<u64>),
    /// Spilled: the KLL sketch and the exact moments of what it holds.
    Sketch { kll: Box<Kll>, moments: Moments },
}

/// Mean and sum of squared deviations of `n` values (Welford; Chan et al. to merge).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    pub n: u64,
    pub mean: f64,
    pub m2: f64,
}

impl Moments {
    fn add(&mut self, v: f64, count: u64) {
        self.merge(&Moments {
            n: count,
            mean: v,
            m2: 0.0,
        });
    }

    fn merge(&mut self, other: &Moments) {
        if other.n == 0 {
            return;
        }
        let n = self.n + other.n;
        let delta = other.mean - self.mean;
        let weight = other.n as f64 / n as f64;
        self.mean += delta * weight;
        self.m2 += other.m2 + delta * delta * self.n as f64 * weight;
        self.n = n;
    }

    fn of_counts(counts: &WordMap<u64>) -> Moments {
        let counts = counts.entries();
        let n: u64 = counts.iter().map(|(_, c)| c).sum();
        if n == 0 {
            return Moments::default();
        }
        let mean = counts
            .iter()
            .map(|&(k, c)| f64::from_bits(k) * c as f64)
            .sum::<f64>()
            / n as f64;
        let m2 = counts
            .iter()
            .map(|&(k, c)| (f64::from_bits(k) - mean).powi(2) * c as f64)
            .sum::<f64>();
        Moments { n, mean, m2 }
    }
}

impl Default for NumericSketch {
    fn default() -> Self {
        NumericSketch::with_max_distinct(DEFAULT_MAX_DISTINCT)
    }
}

/// `-0.0` and `0.0` count as one value.
#[inline]
pub(super) fn key(v: f64) -> u64 {
    if v == 0.0 {
        0
    } else {
        v.to_bits()
    }
}

impl NumericSketch {
    pub fn with_max_distinct(max_distinct: usize) -> Self {
        NumericSketch {
            state: State::Exact(WordMap::default()),
            n: 0,
            max_distinct: max_distinct.max(16),
        }
    }

    /// Counts a finite value (callers drop NaN and infinities first).
    #[inline]
    pub fn add(&mut self, v: f64) {
        self.add_count(v, 1);
    }

    #[inline]
    pub fn add_count(&mut self, v: f64, count: u64) {
        self.n += count;
        match &mut self.state {
            State::Exact(counts) => {
                *counts.get_or_insert(key(v), || 0) += count;
                if counts.len() <= self.max_distinct {
                    return;
                }
            }
            State::Sketch { kll, moments } => {
                kll::update(kll, v, count);
                moments.add(v, count);
                return;
            }
        }
        self.spill();
    }

    /// [`add`](Self::add) of each value, the sketch's state matched once, not once a
    /// value (a batch profile folds a request's column so).
    pub fn extend(&mut self, values: impl IntoIterator<Item = f64>) {
        let mut values = values.into_iter();
        loop {
            match &mut self.state {
                State::Exact(counts) => {
                    for v in values.by_ref() {
                        self.n += 1;
                        *counts.get_or_insert(key(v), || 0) += 1;
                        if counts.len() > self.max_distinct {
                            break;
                        }
                    }
                    if counts.len() <= self.max_distinct {
                        return;
                    }
                    self.spill();
                }
                State::Sketch { kll, moments } => {
                    for v in values {
                        self.n += 1;
                        kll::update(kll, v, 1);
                        moments.add(v, 1);
                    }
                    return;
                }
            }
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

    /// From exact counts (a profile file's form).
    pub fn from_counts(counts: &[(f64, u64)], max_distinct: usize) -> Self {
        let mut s = NumericSketch::with_max_distinct(max_distinct);
        for &(v, c) in counts {
            s.add_count(v, c);
        }
        s
    }

    /// From a KLL sketch and the exact moments of its values (a profile file's form).
    pub fn from_kll(kll: Kll, moments: Moments, max_distinct: usize) -> Self {
        NumericSketch {
            n: kll.n(),
            state: State::Sketch {
                kll: Box::new(kll),
                moments,
            },
            max_distinct: max_distinct.max(16),
        }
    }

    /// Replaces the exact counts by a KLL sketch of them.
    fn spill(&mut self) {
        if let State::Exact(counts) = &self.state {
            let mut sketch = kll::new();
            for &(k, c) in counts.entries() {
                kll::update(&mut sketch, f64::from_bits(k), c);
            }
            self.state = State::Sketch {
                moments: Moments::of_counts(counts),
                kll: Box::new(sketch),
            };
        }
    }

    /// Adds `other` in: the sketch of both streams.
    pub fn merge(&mut self, other: &NumericSketch) -> Result<(), KllError> {
        self.n += other.n;
        match &other.state {
            State::Exact(theirs) => {
                match &mut self.state {
                    State::Exact(mine) => {
                        for &(k, c) in theirs.entries() {
                            *mine.get_or_insert(k, || 0) += c;
                        }
                    }
                    State::Sketch { kll, moments } => {
                        for &(k, c) in theirs.entries() {
                            kll::update(kll, f64::from_bits(k), c);
                        }
                        moments.merge(&Moments::of_counts(theirs));
                    }
                }
                if matches!(&self.state, State::Exact(mine) if mine.len() > self.max_distinct) {
                    self.spill();
                }
            }
            State::Sketch {
                kll: theirs,
                moments: their_moments,
            } => {
                self.spill();
                if let State::Sketch { kll, moments } = &mut self.state {
                    moments.merge(their_moments);
                    kll.merge(theirs)?;
                }
            }
        }
        Ok(())
    }

    pub fn count(&self) -> u64 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Distinct values held exactly, or items retained by the KLL sketch.
    pub fn distinct(&self) -> usize {
        match &self.state {
            State::Exact(counts) => counts.len(),
            State::Sketch { kll, .. } => kll.num_retained(),
        }
    }

    pub fn max_distinct(&self) -> usize {
        self.max_distinct
    }

    /// Whether the sketch still holds every value exactly.
    pub fn is_exact(&self) -> bool {
        matches!(self.state, State::Exact(_))
    }

    /// Bound on `|ECDF_sketch(x) - ECDF_exact(x)|` for every `x` (0 when exact):
    /// DataSketches' normalized rank error of the KLL sketch.
    pub fn cdf_error(&self) -> f64 {
        match &self.state {
            State::Exact(_) => 0.0,
            State::Sketch { kll, .. } => kll.normalized_rank_error(),
        }
    }

    /// The KLL sketch, once the column has spilled.
    pub fn kll(&self) -> Option<&Kll> {
        match &self.state {
            State::Exact(_) => None,
            State::Sketch { kll, .. } => Some(kll),
        }
    }

    /// Exact moments (count, mean, sum of squared deviations).
    pub fn moments(&self) -> Moments {
        match &self.state {
            State::Exact(counts) => Moments::of_counts(counts),
            State::Sketch { moments, .. } => *moments,
        }
    }

    /// Distinct values ascending with their counts; once spilled, the KLL sketch's
    /// retained items with their weights (summing to the count).
    pub fn sorted(&self) -> Vec<(f64, u64)> {
        match &self.state {
            State::Exact(counts) => {
                let mut out: Vec<(f64, u64)> = counts
                    .entries()
                    .iter()
                    .map(|&(k, c)| (f64::from_bits(k), c))
                    .collect();
                out.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
                out
            }
            State::Sketch { kll, .. } => kll::weighted_items(kll),
        }
    }

    /// Mean and population standard deviation (exact, also once spilled).
    pub fn mean_std(&self) -> Option<(f64, f64)> {
        let m = self.moments();
        (m.n > 0).then(|| (m.mean, (m.m2.max(0.0) / m.n as f64).sqrt()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: u64, n: usize) -> Vec<f64> {
        let mut z = seed;
        (0..n)
            .map(|_| {
                z = z
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (z >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect()
    }

    #[test]
    fn exact_sketch_keeps_every_value() {
        let s = NumericSketch::from_values(&[3.0, 1.0, 3.0, -0.0, 0.0]);
        assert_eq!(s.sorted(), vec![(0.0, 2), (1.0, 1), (3.0, 2)]);
        assert!(s.is_exact());
        assert_eq!(s.cdf_error(), 0.0);
        let (mean, sd) = s.mean_std().expect("values");
        assert!((mean - 1.4).abs() < 1e-12 && (sd - 1.3564659966250536).abs() < 1e-12);
    }

    #[test]
    fn a_spilled_sketch_keeps_its_count_moments_and_rank_bound() {
        let values = lcg(7, 200_000);
        let mut s = NumericSketch::with_max_distinct(1000);
        for &v in &values {
            s.add(v);
        }
        assert!(!s.is_exact());
        assert_eq!(s.count(), 200_000);
        let items = s.sorted();
        assert_eq!(items.iter().map(|x| x.1).sum::<u64>(), 200_000);
        let exact = NumericSketch::from_values(&values);
        let (m, sd) = s.mean_std().expect("values");
        let (em, esd) = exact.mean_std().expect("values");
        assert!((m - em).abs() < 1e-12 && (sd - esd).abs() < 1e-12);
        // The ECDF at every retained item within the stated bound.
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let mut below = 0u64;
        for &(v, w) in &items {
            below += w;
            let exact_rank = sorted.partition_point(|x| *x <= v) as f64 / 200_000.0;
            let rank = below as f64 / 200_000.0;
            assert!(
                (rank - exact_rank).abs() <= s.cdf_error(),
                "{v}: {rank} vs {exact_rank}"
            );
        }
    }

    #[test]
    fn merging_equals_sketching_the_union() {
        let (a, b) = (lcg(1, 3000), lcg(2, 500));
        let mut left = NumericSketch::from_values(&a);
        left.merge(&NumericSketch::from_values(&b)).expect("merge");
        let union: Vec<f64> = a.iter().chain(&b).copied().collect();
        assert_eq!(left.sorted(), NumericSketch::from_values(&union).sorted());
        // Exact into spilled and spilled into exact keep the count and the moments.
        let mut small = NumericSketch::with_max_distinct(100);
        for &v in &a {
            small.add(v);
        }
        let mut exact = NumericSketch::from_values(&b);
        exact.merge(&small).expect("merge");
        assert!(!exact.is_exact());
        assert_eq!(exact.count(), 3500);
        let (m, _) = exact.mean_std().expect("values");
        let (um, _) = NumericSketch::from_values(&union)
            .mean_std()
            .expect("values");
        assert!((m - um).abs() < 1e-12);
    }
}
