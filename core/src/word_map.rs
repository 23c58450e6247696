//! [`WordMap`]: a map from 64-bit words (a double's bits) to values, its entries kept in
//! the order first inserted. Made for the hot loops that count or code every value of
//! a logged column (a batch profile's exact counts, a Parquet dictionary): a lookup is
//! a multiply, a slot and a key comparison, inlined, where a `HashMap` entry cost ~70
//! instructions (callgrind, bench/serve/README.md).
//!
//! The slots are a multiplicative hash of the key with linear probing, kept at most half
//! full. Not resistant to keys chosen to collide: a collision costs probes (at most the
//! table, which its user bounds), never a wrong answer.

/// A slot no entry holds.
const EMPTY: u32 = u32::MAX;

/// Fibonacci hashing: the top bits of the product depend on every bit of the key, so
/// doubles, whose low bits are often zero, spread as well as integers.
const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

#[derive(Clone, Debug)]
pub struct WordMap<V> {
    /// The index in `entries` of each slot's key, or [`EMPTY`]; a power of two long.
    slots: Vec<u32>,
    /// 64 minus log2 of `slots.len()`: the shift that leaves a slot of the product.
    shift: u32,
    entries: Vec<(u64, V)>,
}

impl<V> Default for WordMap<V> {
    fn default() -> Self {
        WordMap::with_capacity(0)
    }
}

impl<V> WordMap<V> {
    /// A map with room for `n` entries before it grows.
    pub fn with_capacity(n: usize) -> Self {
        let mut map = WordMap {
            slots: Vec::new(),
            shift: 0,
            entries: Vec::with_capacity(n),
        };
        map.resize((2 * n).max(16).next_power_of_two());
        map
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in the order their keys were first inserted.
    pub fn entries(&self) -> &[(u64, V)] {
        &self.entries
    }

    /// The index in [`entries`](Self::entries) of `key`'s entry, made with `value()`
    /// when there is none (then `entries().len() - 1`), and whether it was made.
    #[inline]
    pub fn index_or_insert(&mut self, key: u64, value: impl FnOnce() -> V) -> (usize, bool) {
        if 2 * (self.entries.len() + 1) > self.slots.len() {
            self.resize(2 * self.slots.len());
        }
        let mask = self.slots.len() - 1;
        let mut at = self.slot_of(key);
        loop {
            let index = self.slots[at];
            if index == EMPTY {
                let index = self.entries.len();
                self.slots[at] = index as u32;
                self.entries.push((key, value()));
                return (index, true);
            }
            if self.entries[index as usize].0 == key {
                return (index as usize, false);
            }
            at = (at + 1) & mask;
        }
    }

    /// The value of `key`'s entry, made with `value()` when there is none.
    #[inline]
    pub fn get_or_insert(&mut self, key: u64, value: impl FnOnce() -> V) -> &mut V {
        let (index, _) = self.index_or_insert(key, value);
        &mut self.entries[index].1
    }

    #[inline]
    fn slot_of(&self, key: u64) -> usize {
        (key.wrapping_mul(MULTIPLIER) >> self.shift) as usize
    }

    /// Re-slots every entry in a table of `slots` slots (a power of two).
    fn resize(&mut self, slots: usize) {
        assert!(
            u32::try_from(slots).is_ok_and(|s| s < EMPTY),
            "a word map of {slots} slots"
        );
        self.slots.clear();
        self.slots.resize(slots, EMPTY);
        self.shift = 64 - slots.trailing_zeros();
        let mask = slots - 1;
        for (index, (key, _)) in self.entries.iter().enumerate() {
            let mut at = self.slot_of(*key);
            while self.slots[at] != EMPTY {
                at = (at + 1) & mask;
            }
            self.slots[at] = index as u32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_keys_in_the_order_first_seen_through_every_growth() {
        // Doubles of integers and their negatives, zeros of both signs, a NaN: keys whose
        // low bits are all zero, spread over many resizes.
        let keys: Vec<u64> = (0..5_000)
            .map(|i| f64::from(i % 1_500 - 700).to_bits())
            .chain([(-0.0f64).to_bits(), f64::NAN.to_bits(), u64::MAX, 0])
            .collect();
        let mut map: WordMap<u64> = WordMap::default();
        let mut expected: Vec<(u64, u64)> = Vec::new();
        for &key in &keys {
            *map.get_or_insert(key, || 0) += 1;
            match expected.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => *n += 1,
                None => expected.push((key, 1)),
            }
        }
        assert_eq!(map.entries(), &expected[..]);
        assert_eq!(
            map.len(),
            1_500 + 3,
            "+0.0 is among the integers; -0.0, NaN and MAX are not"
        );
        for (index, &(key, _)) in expected.iter().enumerate() {
            assert_eq!(map.index_or_insert(key, || 0), (index, false));
        }
        assert_eq!(map.index_or_insert(7, || 9), (expected.len(), true));
        let sized: WordMap<()> = WordMap::with_capacity(1_000);
        assert!(sized.slots.len() >= 2_000 && sized.is_empty());
    }
}
