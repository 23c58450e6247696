//! One function per kind of drift: each changes one column (or the labels) in place
//! and returns how many rows changed and what was done, with the numbers.

use std::collections::{BTreeMap, BTreeSet};

use vigil_core::data::schema::{FeatureSpec, FeatureType, Value};
use vigil_core::train::split::SplitMix64;

use super::{DriftKind, InjectError, InjectSpec, RampProfile};

/// What every kind is applied with.
pub(super) struct Context<'a> {
    pub feature: &'a FeatureSpec,
    pub spec: &'a InjectSpec,
    pub rows: usize,
}

impl Context<'_> {
    /// The intensity at row `i`: all of it (sudden), or ramping up over the rows (gradual).
    fn strength(&self, i: usize) -> f64 {
        let s = self.spec;
        match s.profile {
            RampProfile::Sudden => s.intensity,
            RampProfile::Gradual => s.intensity * (i + 1) as f64 / self.rows.max(1) as f64,
        }
    }

    fn no_values(&self) -> InjectError {
        InjectError::NoValues(self.feature.name.clone())
    }
}

/// The present numbers of a column, and whether they are all integers.
fn numbers(column: &[Value]) -> (Vec<f64>, bool) {
    let present: Vec<f64> = column
        .iter()
        .filter_map(|v| match v {
            Value::Number(x) => Some(*x),
            _ => None,
        })
        .collect();
    let integers = !present.is_empty() && present.iter().all(|x| x.fract() == 0.0);
    (present, integers)
}

/// Integer columns stay integers.
fn rounder(integers: bool) -> impl Fn(f64) -> f64 {
    move |x| if integers { x.round() } else { x }
}

/// `mean-shift` (`x + s·σ`) and `variance-change` (`μ + (x − μ)(1 + s)`).
pub(super) fn shift_numeric(
    ctx: &Context,
    column: &mut [Value],
) -> Result<(usize, String), InjectError> {
    let (present, integers) = numbers(column);
    if present.is_empty() {
        return Err(ctx.no_values());
    }
    let round = rounder(integers);
    let mean_shift = ctx.spec.kind == DriftKind::MeanShift;
    let mean = present.iter().sum::<f64>() / present.len() as f64;
    let sd =
        (present.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / present.len() as f64).sqrt();
    let mut affected = 0;
    for (i, v) in column.iter_mut().enumerate() {
        if let Value::Number(x) = v {
            let s = ctx.strength(i);
            let new = if mean_shift {
                round(*x + s * sd)
            } else {
                round(mean + (*x - mean) * (1.0 + s))
            };
            if new != *x {
                affected += 1;
            }
            *x = new;
        }
    }
    let (name, intensity) = (&ctx.feature.name, ctx.spec.intensity);
    let description = if mean_shift {
        format!("`{name}` shifted by {intensity:.3} × σ ({sd:.4})")
    } else {
        format!(
            "`{name}` spread around its mean {mean:.4} scaled by {:.3}",
            1.0 + intensity
        )
    };
    Ok((affected, description))
}

/// Categories by count, most frequent first (ties by name).
fn ranked_categories(column: &[Value]) -> Vec<(&str, usize)> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for v in column {
        if let Value::Category(c) = v {
            *counts.entry(c.as_str()).or_insert(0) += 1;
        }
    }
    let mut ranked: Vec<(&str, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    ranked
}

/// `category-frequency-shift`: rows of the most frequent categories (together at
/// least half of the rows) move, with probability `0.6·s`, to one of the others.
pub(super) fn category_frequency_shift(
    ctx: &Context,
    column: &mut [Value],
    rng: &mut SplitMix64,
) -> Result<(usize, String), InjectError> {
    let ranked: Vec<(String, usize)> = ranked_categories(column)
        .into_iter()
        .map(|(c, n)| (c.to_string(), n))
        .collect();
    if ranked.len() < 2 {
        return Err(InjectError::TooFewCategories(ctx.feature.name.clone()));
    }
    let total: usize = ranked.iter().map(|r| r.1).sum();
    let mut split = 0;
    let mut covered = 0;
    while split < ranked.len() - 1 && covered * 2 < total {
        covered += ranked[split].1;
        split += 1;
    }
    let top: BTreeSet<String> = ranked[..split].iter().map(|r| r.0.clone()).collect();
    let rest: Vec<String> = ranked[split..].iter().map(|r| r.0.clone()).collect();
    let mut affected = 0;
    for (i, v) in column.iter_mut().enumerate() {
        let p = 0.6 * ctx.strength(i);
        if matches!(v, Value::Category(c) if top.contains(c)) && rng.next_f64() < p {
            *v = Value::Category(rest[rng.below(rest.len())].clone());
            affected += 1;
        }
    }
    let description = format!(
        "`{}`: rows of the most frequent categories ({}) moved to one of the other {} with probability {:.3}",
        ctx.feature.name,
        top.iter().cloned().collect::<Vec<_>>().join(", "),
        rest.len(),
        0.6 * ctx.spec.intensity
    );
    Ok((affected, description))
}

/// `new-category`: a row becomes `<feature>-unseen` with probability `0.2·s`.
pub(super) fn new_category(
    ctx: &Context,
    column: &mut [Value],
    rng: &mut SplitMix64,
) -> (usize, String) {
    let name = &ctx.feature.name;
    let new = format!("{name}-unseen");
    let mut affected = 0;
    for (i, v) in column.iter_mut().enumerate() {
        if rng.next_f64() < 0.2 * ctx.strength(i) {
            *v = Value::Category(new.clone());
            affected += 1;
        }
    }
    let description = format!(
        "`{name}`: new category `{new}` in a share {:.3} of rows",
        0.2 * ctx.spec.intensity
    );
    (affected, description)
}

/// `missing-surge`: a value goes missing with probability `0.6·s`.
pub(super) fn missing_surge(
    ctx: &Context,
    column: &mut [Value],
    rng: &mut SplitMix64,
) -> (usize, String) {
    let mut affected = 0;
    for (i, v) in column.iter_mut().enumerate() {
        if rng.next_f64() < 0.6 * ctx.strength(i) && *v != Value::Missing {
            *v = Value::Missing;
            affected += 1;
        }
    }
    let description = format!(
        "`{}`: values missing with probability {:.3}",
        ctx.feature.name,
        0.6 * ctx.spec.intensity
    );
    (affected, description)
}

/// `out-of-range`: a value is set beyond the schema's `max` (else below `min`, else
/// beyond the data's range) with probability `0.1·s`.
pub(super) fn out_of_range(
    ctx: &Context,
    column: &mut [Value],
    rng: &mut SplitMix64,
) -> Result<(usize, String), InjectError> {
    let (present, integers) = numbers(column);
    if present.is_empty() {
        return Err(ctx.no_values());
    }
    let round = rounder(integers);
    let lo = present.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = present.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = (hi - lo).max(1.0);
    let feature = ctx.feature;
    let mut affected = 0;
    for (i, v) in column.iter_mut().enumerate() {
        if rng.next_f64() < 0.1 * ctx.strength(i) {
            let u = 1.0 + rng.next_f64();
            let x = match (feature.max, feature.min) {
                (Some(max), _) => max + u * span * 0.5,
                (None, Some(min)) => min - u * span * 0.5,
                (None, None) => hi + u * span,
            };
            *v = Value::Number(round(x));
            affected += 1;
        }
    }
    let description = format!(
        "`{}`: values beyond the range with probability {:.3}",
        feature.name,
        0.1 * ctx.spec.intensity
    );
    Ok((affected, description))
}

/// `concept-drift`: features unchanged; in a segment of the feature the label flips
/// (to the next class) with probability `0.6·s`.
pub(super) fn concept_drift(
    ctx: &Context,
    column: &[Value],
    labels: &mut [Option<usize>],
    n_classes: usize,
    rng: &mut SplitMix64,
) -> Result<(usize, String), InjectError> {
    let segment = concept_segment(column, ctx.feature.kind, rng);
    if segment.iter().all(|s| !s) {
        return Err(ctx.no_values());
    }
    let mut affected = 0;
    for (i, label) in labels.iter_mut().enumerate() {
        if let Some(class) = label {
            if segment[i] && rng.next_f64() < 0.6 * ctx.strength(i) {
                *class = (*class + 1) % n_classes;
                affected += 1;
            }
        }
    }
    let description = format!(
        "labels flipped with probability {:.3} in the upper half of `{}` (by rank, or its most frequent categories)",
        0.6 * ctx.spec.intensity,
        ctx.feature.name
    );
    Ok((affected, description))
}

/// The rows whose label relationship changes: for a numeric feature the upper half of
/// the present values by rank (ties broken at random), for a categorical one the most
/// frequent categories that together cover at least half of the rows.
fn concept_segment(column: &[Value], kind: FeatureType, rng: &mut SplitMix64) -> Vec<bool> {
    let mut segment = vec![false; column.len()];
    match kind {
        FeatureType::Numeric => {
            let mut ranked: Vec<(f64, u64, usize)> = column
                .iter()
                .enumerate()
                .filter_map(|(i, v)| match v {
                    Value::Number(x) => Some((*x, rng.next_u64(), i)),
                    _ => None,
                })
                .collect();
            ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let half = ranked.len() / 2;
            for &(_, _, i) in &ranked[half..] {
                segment[i] = true;
            }
        }
        FeatureType::Categorical => {
            let ranked = ranked_categories(column);
            let mut chosen = BTreeSet::new();
            let mut covered = 0;
            for (c, n) in ranked {
                if covered * 2 >= column.len() {
                    break;
                }
                chosen.insert(c.to_string());
                covered += n;
            }
            for (i, v) in column.iter().enumerate() {
                segment[i] = matches!(v, Value::Category(c) if chosen.contains(c));
            }
        }
    }
    segment
}
