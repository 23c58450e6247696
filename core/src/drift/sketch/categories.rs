//! [`CategoryCounts`]: category → count with a bounded number of labels.

use super::{FxHashMap, OTHER_CATEGORY};

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

    /// Adds `other` in; what it pooled stays pooled (its labels are unknown).
    pub fn merge(&mut self, other: &CategoryCounts) {
        for (k, &c) in &other.counts {
            if k == OTHER_CATEGORY && other.pooled > 0 {
                self.n += c;
                self.pooled += c;
                *self.counts.entry(OTHER_CATEGORY.to_string()).or_insert(0) += c;
            } else {
                self.add_count(k, c);
            }
        }
    }

    /// From label counts (pooled ones under [`OTHER_CATEGORY`]) and the pooled total
    /// (a profile file's form).
    pub fn from_parts(counts: impl IntoIterator<Item = (String, u64)>, pooled: u64) -> Self {
        let counts: FxHashMap<String, u64> = counts.into_iter().collect();
        CategoryCounts {
            n: counts.values().sum(),
            counts,
            pooled,
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

    /// Rows pooled under [`OTHER_CATEGORY`] because the label limit was reached: the
    /// most by which any label's count can be short.
    pub fn pooled(&self) -> u64 {
        self.pooled
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.counts.iter().map(|(k, &c)| (k.as_str(), c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
