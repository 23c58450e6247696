//! The KLL sketch of `datasketches` as the profiles use it: one `k`, weighted updates,
//! the compact bytes (DataSketches' cross-language `kll_doubles_sketch` format) and
//! the retained items with their weights, read back from those bytes.

use datasketches::kll::KllFloat;

use super::numeric::Kll;

/// The KLL accuracy parameter: normalized rank error ≈ 0.28 % (single-sided, 99 %
/// confidence), ~3 000 retained items (24 KiB) per sketch whatever the stream length.
pub const K: u16 = 1000;

/// A KLL sketch that cannot be merged or read.
#[derive(Debug, thiserror::Error)]
#[error("KLL sketch: {0}")]
pub struct KllError(String);

impl From<datasketches::error::Error> for KllError {
    fn from(e: datasketches::error::Error) -> Self {
        KllError(e.to_string())
    }
}

pub fn new() -> Kll {
    // K is within DataSketches' range [8, 65535]; the default sketch is the fallback.
    datasketches::kll::KllSketch::new(K).unwrap_or_default()
}

/// Adds `count` copies of the finite value `v`.
pub fn update(kll: &mut Kll, v: f64, count: u64) {
    if let Ok(item) = KllFloat::<f64>::new(v) {
        for _ in 0..count {
            kll.update(item);
        }
    }
}

/// The sketch's compact bytes (readable by `datasketches.kll_doubles_sketch.deserialize`).
pub fn to_bytes(kll: &Kll) -> Vec<u8> {
    kll.serialize()
}

pub fn from_bytes(bytes: &[u8]) -> Result<Kll, KllError> {
    Ok(Kll::deserialize(bytes)?)
}

/// The retained items ascending, equal ones together, each with its weight (2^level);
/// the weights sum to the stream's length. Read from the compact bytes, whose layout
/// is DataSketches' documented one: an 8-byte preamble (flags at byte 3), then for
/// more than one item `n` (u64), `min_k` (u16), the number of levels (u8), a pad byte,
/// one u32 offset per level, min and max, and the items level by level.
pub fn weighted_items(kll: &Kll) -> Vec<(f64, u64)> {
    let bytes = kll.serialize();
    let f64_at = |at: usize| {
        bytes
            .get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(f64::from_le_bytes)
    };
    let flags = bytes.get(3).copied().unwrap_or(1);
    const EMPTY: u8 = 1;
    const SINGLE_ITEM: u8 = 1 << 2;
    if flags & EMPTY != 0 {
        return Vec::new();
    }
    if flags & SINGLE_ITEM != 0 {
        return f64_at(8).map(|v| vec![(v, 1)]).unwrap_or_default();
    }
    let levels = bytes.get(18).copied().unwrap_or(0) as usize;
    let offset = |level: usize| {
        bytes
            .get(20 + 4 * level..24 + 4 * level)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .unwrap_or(0) as usize
    };
    let items_start = 20 + 4 * levels + 16;
    let n_items = bytes.len().saturating_sub(items_start) / 8;
    let first = offset(0);
    let mut items = Vec::with_capacity(n_items);
    for level in 0..levels {
        let start = offset(level) - first;
        let end = if level + 1 < levels {
            offset(level + 1) - first
        } else {
            n_items
        };
        for i in start..end.min(n_items) {
            if let Some(v) = f64_at(items_start + 8 * i) {
                items.push((v, 1u64 << level));
            }
        }
    }
    items.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let mut out: Vec<(f64, u64)> = Vec::with_capacity(items.len());
    for (v, w) in items {
        match out.last_mut() {
            Some(last) if last.0 == v => last.1 += w,
            _ => out.push((v, w)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_items_account_for_every_value() {
        let mut kll = new();
        assert!(weighted_items(&kll).is_empty());
        update(&mut kll, 2.5, 1);
        assert_eq!(weighted_items(&kll), vec![(2.5, 1)]);
        for i in 0..100_000u32 {
            update(&mut kll, f64::from(i % 7919), 1);
        }
        let items = weighted_items(&kll);
        assert!(kll.is_estimation_mode());
        assert_eq!(items.iter().map(|x| x.1).sum::<u64>(), kll.n());
        assert!(items.windows(2).all(|w| w[0].0 < w[1].0));
        let back = from_bytes(&to_bytes(&kll)).expect("round trip");
        assert_eq!(weighted_items(&back), items);
    }
}
