//! The walk two statistics share: two ascending samples taken together, one distinct
//! value of their union at a time, with how many of each sample are ≤ it (their
//! unnormalised ECDFs there). The KS statistic is the largest gap of the walk, the
//! Wasserstein-1 distance the area between the steps.

/// An ascending sample: plain values (weight 1 each) or `(value, count)` pairs.
pub(crate) trait Sorted {
    fn len(&self) -> usize;
    fn value(&self, i: usize) -> f64;
    fn weight(&self, i: usize) -> u64;
}

impl Sorted for [f64] {
    fn len(&self) -> usize {
        <[f64]>::len(self)
    }
    fn value(&self, i: usize) -> f64 {
        self[i]
    }
    fn weight(&self, _: usize) -> u64 {
        1
    }
}

impl Sorted for [(f64, u64)] {
    fn len(&self) -> usize {
        <[(f64, u64)]>::len(self)
    }
    fn value(&self, i: usize) -> f64 {
        self[i].0
    }
    fn weight(&self, i: usize) -> u64 {
        self[i].1
    }
}

/// One distinct value of the union.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Step {
    pub value: f64,
    /// Total weight of `a` at or below `value`.
    pub a: u64,
    /// Total weight of `b` at or below `value`.
    pub b: u64,
    /// The first element of `a` equal to `value` (it may be `-0.0` for `0.0`), if any.
    pub first_a: Option<f64>,
    /// The same in `b`.
    pub first_b: Option<f64>,
}

/// The steps of `a` and `b` together, ascending.
pub(crate) fn merge<'s, A: Sorted + ?Sized, B: Sorted + ?Sized>(
    a: &'s A,
    b: &'s B,
) -> Merge<'s, A, B> {
    Merge {
        a,
        b,
        i: 0,
        j: 0,
        below_a: 0,
        below_b: 0,
    }
}

pub(crate) struct Merge<'s, A: ?Sized, B: ?Sized> {
    a: &'s A,
    b: &'s B,
    i: usize,
    j: usize,
    below_a: u64,
    below_b: u64,
}

/// Advances `*i` over every element of `s` at or below `v`; returns the first one.
fn take_through<S: Sorted + ?Sized>(s: &S, i: &mut usize, below: &mut u64, v: f64) -> Option<f64> {
    let first = (*i < s.len() && s.value(*i) <= v).then(|| s.value(*i));
    while *i < s.len() && s.value(*i) <= v {
        *below += s.weight(*i);
        *i += 1;
    }
    first
}

impl<A: Sorted + ?Sized, B: Sorted + ?Sized> Iterator for Merge<'_, A, B> {
    type Item = Step;

    fn next(&mut self) -> Option<Step> {
        let (a, b) = (self.a, self.b);
        let value = match (self.i < a.len(), self.j < b.len()) {
            (false, false) => return None,
            (true, false) => a.value(self.i),
            (false, true) => b.value(self.j),
            (true, true) if a.value(self.i) <= b.value(self.j) => a.value(self.i),
            (true, true) => b.value(self.j),
        };
        let first_a = take_through(a, &mut self.i, &mut self.below_a, value);
        let first_b = take_through(b, &mut self.j, &mut self.below_b, value);
        Some(Step {
            value,
            a: self.below_a,
            b: self.below_b,
            first_a,
            first_b,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_count_both_samples_at_each_distinct_value() {
        let a = [1.0, 2.0, 2.0];
        let b = [(2.0, 3), (5.0, 1)];
        let steps: Vec<(f64, u64, u64)> =
            merge(&a[..], &b[..]).map(|s| (s.value, s.a, s.b)).collect();
        assert_eq!(steps, vec![(1.0, 1, 0), (2.0, 3, 3), (5.0, 3, 4)]);
        let zero: Vec<Step> = merge(&[-0.0][..], &[0.0][..]).collect();
        assert_eq!(zero.len(), 1);
        assert_eq!(zero[0].first_a.map(f64::is_sign_negative), Some(true));
        assert_eq!(merge(&[][..] as &[f64], &[][..] as &[f64]).count(), 0);
    }
}
