//! A CART classification tree grown on binned features, behind linfa's traits.
//!
//! Depth-first; a node's split is the best boundary between two of its
//! non-empty bins over all columns (Gini or entropy, as scikit-learn scores
//! them), found from per-bin class counts. Only the smaller child's counts are
//! gathered from its rows; the larger child's are the parent's minus those.
//! Leaves hold the class frequencies of the training rows that reach them.

use linfa::dataset::{AsSingleTargets, DatasetBase};
use linfa::traits::{Fit, PredictInplace};
use linfa::ParamGuard;
use ndarray::Array1;

use super::bins::Binned;
use super::rows::SparseRows;
use super::LearnError;
use crate::train::model::{leaf_probabilities, Criterion, TreeNodeRepr};

/// Bins per column; columns with fewer distinct training values split exactly.
pub const MAX_BINS: usize = 256;

/// Checked hyper-parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct DecisionTreeValidParams {
    max_depth: usize,
    min_samples_split: usize,
    min_samples_leaf: usize,
    criterion: Criterion,
    max_bins: usize,
}

/// Unchecked hyper-parameters; [`ParamGuard::check`] validates them.
#[derive(Clone, Debug, PartialEq)]
pub struct DecisionTreeParams(DecisionTreeValidParams);

impl Default for DecisionTreeParams {
    fn default() -> Self {
        DecisionTreeParams(DecisionTreeValidParams {
            max_depth: 10,
            min_samples_split: 2,
            min_samples_leaf: 1,
            criterion: Criterion::Gini,
            max_bins: MAX_BINS,
        })
    }
}

impl DecisionTreeParams {
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.0.max_depth = depth;
        self
    }

    pub fn min_samples_split(mut self, samples: usize) -> Self {
        self.0.min_samples_split = samples;
        self
    }

    pub fn min_samples_leaf(mut self, samples: usize) -> Self {
        self.0.min_samples_leaf = samples;
        self
    }

    pub fn criterion(mut self, criterion: Criterion) -> Self {
        self.0.criterion = criterion;
        self
    }

    /// Bins per column (2 to 65 536).
    pub fn max_bins(mut self, bins: usize) -> Self {
        self.0.max_bins = bins;
        self
    }
}

impl ParamGuard for DecisionTreeParams {
    type Checked = DecisionTreeValidParams;
    type Error = LearnError;

    fn check_ref(&self) -> Result<&Self::Checked, LearnError> {
        let p = &self.0;
        if !(1..=64).contains(&p.max_depth) {
            return Err(LearnError::invalid(
                "maxDepth",
                p.max_depth,
                "must be between 1 and 64",
            ));
        }
        if p.min_samples_split < 2 {
            return Err(LearnError::invalid(
                "minSamplesSplit",
                p.min_samples_split,
                "must be ≥ 2",
            ));
        }
        if p.min_samples_leaf < 1 {
            return Err(LearnError::invalid(
                "minSamplesLeaf",
                p.min_samples_leaf,
                "must be ≥ 1",
            ));
        }
        if !(2..=1 << 16).contains(&p.max_bins) {
            return Err(LearnError::invalid(
                "maxBins",
                p.max_bins,
                "must be between 2 and 65536",
            ));
        }
        Ok(p)
    }

    fn check(self) -> Result<Self::Checked, LearnError> {
        self.check_ref()?;
        Ok(self.0)
    }
}

/// A fitted tree; class `k`'s probability is entry `k` of a leaf (classes are
/// the labels `0..n_classes`, `n_classes` = largest training label + 1).
#[derive(Clone, Debug, PartialEq)]
pub struct FittedTree {
    pub n_classes: usize,
    pub n_features: usize,
    /// Node 0 is the root; children come after their parent.
    pub nodes: Vec<TreeNodeRepr>,
}

impl<T> Fit<SparseRows, T, LearnError> for DecisionTreeValidParams
where
    T: AsSingleTargets<Elem = usize>,
{
    type Object = FittedTree;

    fn fit(&self, dataset: &DatasetBase<SparseRows, T>) -> Result<FittedTree, LearnError> {
        let x = dataset.records();
        let labels: Vec<usize> = dataset.as_single_targets().to_vec();
        super::dense_labels(x.n_rows(), labels.iter().copied())?;
        let n_classes = labels.iter().max().map_or(0, |m| m + 1);
        let binned = Binned::new(x, self.max_bins);
        let mut grower = Grower {
            params: self,
            binned: &binned,
            y: &labels,
            k: n_classes,
            rows: (0..x.n_rows() as u32).collect(),
            nodes: Vec::new(),
        };
        let root = grower.histogram(0..x.n_rows());
        grower.grow(0..x.n_rows(), 0, Some(root));
        Ok(FittedTree {
            n_classes,
            n_features: x.n_cols(),
            nodes: grower.nodes,
        })
    }
}

impl PredictInplace<SparseRows, Array1<usize>> for FittedTree {
    /// The most frequent training class of each row's leaf.
    fn predict_inplace(&self, x: &SparseRows, y: &mut Array1<usize>) {
        for (r, y) in y.iter_mut().enumerate() {
            let (columns, values) = x.row(r);
            let value = |f: usize| match columns.binary_search(&(f as u32)) {
                Ok(i) => values[i],
                Err(_) => 0.0,
            };
            let probabilities = leaf_probabilities(&self.nodes, value);
            *y = (0..probabilities.len())
                .max_by(|&a, &b| probabilities[a].total_cmp(&probabilities[b]))
                .unwrap_or(0);
        }
    }

    fn default_target(&self, x: &SparseRows) -> Array1<usize> {
        Array1::zeros(x.n_rows())
    }
}

/// Class counts per flat bin (`n_bins × k`) plus the node's class totals.
struct Histogram {
    bins: Vec<u32>,
    totals: Vec<u32>,
}

/// The chosen split of a node.
struct Split {
    column: usize,
    /// Flat bins `..=last_left` of `column` go left.
    last_left: usize,
    threshold: f64,
}

struct Grower<'a> {
    params: &'a DecisionTreeValidParams,
    binned: &'a Binned,
    y: &'a [usize],
    k: usize,
    /// Row ids; every node owns a contiguous range.
    rows: Vec<u32>,
    nodes: Vec<TreeNodeRepr>,
}

impl Grower<'_> {
    /// Grows the subtree of `range` at `depth`; `histogram` is `None` when the
    /// node cannot split (so its counts were not gathered). Returns its index.
    fn grow(
        &mut self,
        range: std::ops::Range<usize>,
        depth: usize,
        histogram: Option<Histogram>,
    ) -> usize {
        let index = self.nodes.len();
        let split = histogram
            .as_ref()
            .filter(|_| self.may_split(range.len(), depth))
            .and_then(|h| self.best_split(h));
        let (Some(split), Some(parent)) = (split, histogram) else {
            self.nodes.push(self.leaf(range));
            return index;
        };
        self.nodes.push(TreeNodeRepr::Leaf {
            probabilities: Vec::new(),
            samples: 0,
        });
        let middle = self.partition(range.clone(), &split);
        let (left, right) = (range.start..middle, middle..range.end);
        let (left_h, right_h) =
            self.child_histograms(&parent, left.clone(), right.clone(), depth + 1);
        drop(parent);
        let left_index = self.grow(left, depth + 1, left_h);
        let right_index = self.grow(right, depth + 1, right_h);
        self.nodes[index] = TreeNodeRepr::Split {
            feature: split.column,
            threshold: split.threshold,
            left: left_index,
            right: right_index,
        };
        index
    }

    /// Whether a node of `rows` rows at `depth` may split at all (purity is checked later).
    fn may_split(&self, rows: usize, depth: usize) -> bool {
        depth < self.params.max_depth
            && rows >= self.params.min_samples_split
            && rows >= 2 * self.params.min_samples_leaf
    }

    fn child_histograms(
        &self,
        parent: &Histogram,
        left: std::ops::Range<usize>,
        right: std::ops::Range<usize>,
        depth: usize,
    ) -> (Option<Histogram>, Option<Histogram>) {
        let need_left = self.may_split(left.len(), depth);
        let need_right = self.may_split(right.len(), depth);
        if !need_left && !need_right {
            return (None, None);
        }
        let left_is_small = left.len() <= right.len();
        let small = self.histogram(if left_is_small { left } else { right });
        let large = Histogram {
            bins: parent
                .bins
                .iter()
                .zip(&small.bins)
                .map(|(p, s)| p - s)
                .collect(),
            totals: parent
                .totals
                .iter()
                .zip(&small.totals)
                .map(|(p, s)| p - s)
                .collect(),
        };
        let (l, r) = if left_is_small {
            (small, large)
        } else {
            (large, small)
        };
        (need_left.then_some(l), need_right.then_some(r))
    }

    /// Class counts of the rows in `range`, per bin.
    fn histogram(&self, range: std::ops::Range<usize>) -> Histogram {
        let k = self.k;
        let binned = self.binned;
        let mut bins = vec![0u32; binned.n_bins() * k];
        let mut totals = vec![0u32; k];
        for &row in &self.rows[range] {
            let class = self.y[row as usize];
            totals[class] += 1;
            let (columns, local) = binned.rare_entries(row as usize);
            for (&c, &b) in columns.iter().zip(local) {
                bins[(binned.column_bins(c as usize).start + b as usize) * k + class] += 1;
            }
        }
        // The default bins hold every row not counted elsewhere in the column.
        for c in 0..binned.n_cols() {
            let default = binned.default_bin(c);
            for class in 0..k {
                let elsewhere: u32 = binned
                    .column_bins(c)
                    .filter(|&b| b != default)
                    .map(|b| bins[b * k + class])
                    .sum();
                bins[default * k + class] = totals[class] - elsewhere;
            }
        }
        Histogram { bins, totals }
    }

    fn best_split(&self, h: &Histogram) -> Option<Split> {
        let k = self.k;
        let n: u32 = h.totals.iter().sum();
        if h.totals.iter().filter(|&&c| c > 0).count() < 2 {
            return None; // pure
        }
        let score = |counts: &[u32], total: u32| self.params.criterion.proxy(counts, total);
        let parent = score(&h.totals, n);
        let min_leaf = self.params.min_samples_leaf as u32;
        let mut best: Option<(f64, Split)> = None;
        let mut left = vec![0u32; k];
        let mut right = vec![0u32; k];
        for c in 0..self.binned.n_cols() {
            left.fill(0);
            let mut n_left = 0;
            let mut previous: Option<usize> = None;
            for b in self.binned.column_bins(c) {
                let bin = &h.bins[b * k..(b + 1) * k];
                let in_bin: u32 = bin.iter().sum();
                if in_bin == 0 {
                    continue;
                }
                if let Some(last_left) = previous {
                    let n_right = n - n_left;
                    if n_left >= min_leaf && n_right >= min_leaf {
                        right
                            .iter_mut()
                            .zip(&h.totals)
                            .zip(&left)
                            .for_each(|((r, t), l)| *r = t - l);
                        let s = score(&left, n_left) + score(&right, n_right);
                        if s > parent + 1e-12 * f64::from(n)
                            && best.as_ref().is_none_or(|(b, _)| s > *b)
                        {
                            let threshold = self.binned.threshold(last_left, b);
                            best = Some((
                                s,
                                Split {
                                    column: c,
                                    last_left,
                                    threshold,
                                },
                            ));
                        }
                    }
                }
                left.iter_mut().zip(bin).for_each(|(l, b)| *l += b);
                n_left += in_bin;
                previous = Some(b);
            }
        }
        best.map(|(_, split)| split)
    }

    /// Moves the rows going left to the front of `range`; returns where the right ones start.
    fn partition(&mut self, range: std::ops::Range<usize>, split: &Split) -> usize {
        let binned = self.binned;
        let rows = &mut self.rows[range.clone()];
        let mut middle = 0;
        for i in 0..rows.len() {
            if binned.bin(rows[i] as usize, split.column) <= split.last_left {
                rows.swap(i, middle);
                middle += 1;
            }
        }
        range.start + middle
    }

    fn leaf(&self, range: std::ops::Range<usize>) -> TreeNodeRepr {
        let mut counts = vec![0usize; self.k];
        for &row in &self.rows[range.clone()] {
            counts[self.y[row as usize]] += 1;
        }
        let total = range.len();
        TreeNodeRepr::Leaf {
            probabilities: counts.iter().map(|&c| c as f64 / total as f64).collect(),
            samples: total,
        }
    }
}

impl Criterion {
    /// A score whose increase is the split's impurity decrease times the node's
    /// rows (scikit-learn's "proxy improvement"): `Σ c²/n` for Gini,
    /// `Σ c·ln(c/n)` (minus n × entropy) for entropy.
    fn proxy(self, counts: &[u32], total: u32) -> f64 {
        let n = f64::from(total);
        match self {
            Criterion::Gini => counts.iter().map(|&c| f64::from(c).powi(2)).sum::<f64>() / n,
            Criterion::Entropy => counts
                .iter()
                .filter(|&&c| c > 0)
                .map(|&c| f64::from(c) * (f64::from(c) / n).ln())
                .sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linfa::traits::Predict;
    use ndarray::Array2;

    /// 2 000 rows: a continuous column (far more values than bins), a one-hot
    /// column and a noisy label that depends on both.
    fn data() -> (SparseRows, Array1<usize>) {
        let mut state = 7u64;
        let mut uniform = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let n = 2000;
        let mut x = Array2::zeros((n, 2));
        let mut y = Array1::zeros(n);
        for r in 0..n {
            x[[r, 0]] = uniform() * 10.0 - 5.0;
            x[[r, 1]] = f64::from(uniform() < 0.3);
            let signal = (x[[r, 0]]).sin() + x[[r, 1]];
            y[r] = usize::from(signal + uniform() - 0.5 > 0.2);
        }
        (SparseRows::from_dense(x.view()), y)
    }

    fn route(tree: &FittedTree, x: &SparseRows, r: usize) -> usize {
        let (columns, values) = x.row(r);
        let mut index = 0;
        while let TreeNodeRepr::Split {
            feature,
            threshold,
            left,
            right,
        } = &tree.nodes[index]
        {
            let v = columns
                .binary_search(&(*feature as u32))
                .map_or(0.0, |i| values[i]);
            index = if v < *threshold { *left } else { *right };
        }
        index
    }

    #[test]
    fn thresholds_route_training_rows_to_the_leaves_that_counted_them() {
        let (x, y) = data();
        let params = DecisionTreeParams::default()
            .max_depth(8)
            .max_bins(16)
            .min_samples_leaf(5);
        let tree = params
            .fit(&DatasetBase::new(x.clone(), y.clone()))
            .expect("fit");
        let mut counts = vec![[0usize; 2]; tree.nodes.len()];
        for r in 0..x.n_rows() {
            counts[route(&tree, &x, r)][y[r]] += 1;
        }
        let mut leaves = 0;
        for (node, count) in tree.nodes.iter().zip(&counts) {
            if let TreeNodeRepr::Leaf {
                probabilities,
                samples,
            } = node
            {
                leaves += 1;
                let total = count[0] + count[1];
                assert_eq!(*samples, total);
                assert!(total >= 5, "min_samples_leaf: {total}");
                assert_eq!(probabilities[1], count[1] as f64 / total as f64);
            }
        }
        assert!(leaves > 16, "{leaves} leaves");
        let predicted = tree.predict(&DatasetBase::new(x, y.clone()));
        let accuracy = predicted.iter().zip(&y).filter(|(a, b)| a == b).count();
        assert!(accuracy > 1500, "{accuracy} of 2000");
    }

    #[test]
    fn stopping_rules_hold() {
        let (x, y) = data();
        let stump = DecisionTreeParams::default().max_depth(1);
        let tree = stump
            .fit(&DatasetBase::new(x.clone(), y.clone()))
            .expect("fit");
        assert_eq!(tree.nodes.len(), 3);
        let whole = DecisionTreeParams::default().min_samples_split(5000);
        let tree = whole.fit(&DatasetBase::new(x, y)).expect("fit");
        assert_eq!(tree.nodes.len(), 1);
        assert!(matches!(
            DecisionTreeParams::default().max_depth(0).check(),
            Err(LearnError::InvalidParam {
                name: "maxDepth",
                ..
            })
        ));
    }
}
