//! Seeded, stratified train / hold-out split.

/// A small, fast, well-mixed PRNG (SplitMix64). Deterministic across
/// platforms and crate versions, which a versioned split needs.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (n > 0), without modulo bias worth mentioning for n ≪ 2^64.
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// Splits row indices into (train, holdout), holding out `fraction` of each
/// class (rounded, at least one row of a class with two or more rows). Both
/// lists come back sorted.
pub fn stratified_split(classes: &[usize], fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let n_classes = classes.iter().copied().max().map_or(0, |m| m + 1);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); n_classes];
    for (row, &class) in classes.iter().enumerate() {
        by_class[class].push(row);
    }
    let mut rng = SplitMix64::new(seed);
    let mut train = Vec::with_capacity(classes.len());
    let mut holdout = Vec::new();
    for mut rows in by_class {
        rng.shuffle(&mut rows);
        let mut take = (rows.len() as f64 * fraction).round() as usize;
        if rows.len() >= 2 {
            take = take.clamp(1, rows.len() - 1);
        } else {
            take = 0;
        }
        holdout.extend_from_slice(&rows[..take]);
        train.extend_from_slice(&rows[take..]);
    }
    train.sort_unstable();
    holdout.sort_unstable();
    (train, holdout)
}

/// Keeps `k` of `n` indices, chosen uniformly at random, in increasing order.
pub fn sample_indices(n: usize, k: usize, seed: u64) -> Vec<usize> {
    let mut indices: Vec<usize> = (0..n).collect();
    if k < n {
        let mut rng = SplitMix64::new(seed);
        // Partial Fisher–Yates: the first k slots are a uniform sample.
        for i in 0..k {
            let j = i + rng.below(n - i);
            indices.swap(i, j);
        }
        indices.truncate(k);
        indices.sort_unstable();
    }
    indices
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_stratified_seeded_and_complete() {
        let classes: Vec<usize> = (0..1000).map(|i| usize::from(i % 4 == 0)).collect();
        let (train, holdout) = stratified_split(&classes, 0.2, 7);
        assert_eq!(train.len() + holdout.len(), 1000);
        assert_eq!(holdout.len(), 200);
        assert_eq!(holdout.iter().filter(|&&r| classes[r] == 1).count(), 50);
        let mut all: Vec<usize> = train.iter().chain(&holdout).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        assert_eq!(
            stratified_split(&classes, 0.2, 7),
            (train.clone(), holdout.clone())
        );
        assert_ne!(stratified_split(&classes, 0.2, 8).1, holdout);
    }

    #[test]
    fn tiny_classes_keep_a_training_row() {
        let (train, holdout) = stratified_split(&[0, 0, 1, 1, 1, 1, 1, 1, 1, 1], 0.1, 1);
        assert_eq!(holdout.len(), 2);
        assert_eq!(train.len(), 8);
    }

    #[test]
    fn sampling_is_uniform_enough_and_sorted() {
        let sample = sample_indices(100, 10, 3);
        assert_eq!(sample.len(), 10);
        assert!(sample.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(sample_indices(5, 10, 3), vec![0, 1, 2, 3, 4]);
        let mut rng = SplitMix64::new(0);
        let mean = (0..10_000).map(|_| rng.next_f64()).sum::<f64>() / 10_000.0;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
    }
}
