//! Could a decision taken on KLL sketches flip within their error bounds? For every
//! numeric feature (and the predicted score) whose sketches are not exact, the
//! verdict is decided twice: on the weakest evidence the bounds allow (KS D − ε, the
//! p-value of that, the smallest PSI, JS and W₁/σ) and on the strongest. When the two
//! verdicts differ, the decision is not safe on sketches and the caller recomputes it
//! from the exact values (so alert quality does not depend on the sketches).
//!
//! Bounds, with ε = the sum of both sides' [`NumericSketch::cdf_error`] (DataSketches'
//! KS semantics): KS D ± ε; each bin proportion of a sketched side ± 2 ε_side; PSI and
//! JS between the smallest and largest values of their per-bin terms over those boxes
//! (both are sums of jointly convex terms, zero on the diagonal); W₁ ± the sum over
//! sketched sides of ∫ (Q(u + ε) − Q(u − ε)) du, which is what a rank error of ε can
//! move a quantile function by.

use crate::data::schema::FeatureType;
use crate::stats::{
    bin_counts_weighted, ks_pvalue, quantile_bin_edges_from_counts, Correction, PValueMode,
};

use super::super::profile::WindowProfile;
use super::super::report::{Assessment, FeatureDrift};
use super::super::rules::DriftRules;
use super::super::sketch::NumericSketch;
use super::rule::{decide, decide_small, Evidence};

/// The decisions that could flip within the sketches' bounds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Unstable {
    /// Indices into the schema's features.
    pub features: Vec<usize>,
    /// The prediction verdict (through the score's KS and PSI).
    pub score: bool,
}

impl Unstable {
    pub fn is_empty(&self) -> bool {
        self.features.is_empty() && !self.score
    }
}

/// Interval of a statistic.
#[derive(Clone, Copy, Debug)]
struct Range {
    lo: f64,
    hi: f64,
}

/// The features and outputs of `assessment` whose verdict could flip within the bounds.
pub fn unstable(
    schema: &crate::data::schema::FeatureSchema,
    rules: &DriftRules,
    reference: &WindowProfile,
    current: &WindowProfile,
    assessment: &Assessment,
    mode: PValueMode,
) -> Unstable {
    let sketches = |name: &str| {
        let i = schema.feature_index(name)?;
        Some((
            i,
            &reference.columns.get(i)?.numeric,
            &current.columns.get(i)?.numeric,
        ))
    };
    // Raw p-value ranges of every tested feature, for the correction at both ends.
    let ranges: Vec<Option<(Range, Range)>> = assessment
        .features
        .iter()
        .map(|f| {
            let (_, r, c) = sketches(&f.name)?;
            (f.kind == FeatureType::Numeric && error(r, c) > 0.0)
                .then(|| ks_ranges(f, error(r, c), mode))
                .flatten()
        })
        .collect();
    let (adjusted_lo, adjusted_hi) = corrected_ends(rules, &assessment.features, &ranges);
    let mut out = Unstable::default();
    for (k, f) in assessment.features.iter().enumerate() {
        let (Some((d, _)), Some((i, r, c))) = (ranges[k], sketches(&f.name)) else {
            continue;
        };
        let edges = quantile_bin_edges_from_counts(&r.sorted(), rules.tests.psi.bins);
        let (psi, js) = bin_ranges(rules, r, c, &edges);
        let w = f.wasserstein.map(|w| {
            let b = wasserstein_bound(r) + wasserstein_bound(c);
            let sd = r.mean_std().map_or(0.0, |m| m.1);
            Range {
                lo: (w - b).max(0.0) / sd,
                hi: (w + b) / sd,
            }
        });
        let end = |d: f64, p: f64, psi: f64, js: f64, w: Option<f64>| Evidence {
            test: "KS",
            p,
            alpha: rules.tests.ks.p_value,
            psi,
            js: Some(js),
            ks_d: Some(d),
            wasserstein: w.filter(|w| w.is_finite()),
        };
        let weak = end(d.lo, adjusted_hi[k], psi.lo, js.lo, w.map(|w| w.lo));
        let strong = end(d.hi, adjusted_lo[k], psi.hi, js.hi, w.map(|w| w.hi));
        if verdict(rules, f, &weak) != verdict(rules, f, &strong) {
            out.features.push(i);
        }
    }
    out.score = score_unstable(rules, reference, current, assessment, mode);
    out
}

fn error(r: &NumericSketch, c: &NumericSketch) -> f64 {
    r.cdf_error() + c.cdf_error()
}

fn verdict(rules: &DriftRules, f: &FeatureDrift, e: &Evidence) -> super::super::verdict::Verdict {
    if f.small_sample {
        decide_small(rules, e, (f.reference_count, f.current_count)).0
    } else {
        decide(rules, e).0
    }
}

/// KS D and its raw p-value at both ends of D ± ε.
fn ks_ranges(f: &FeatureDrift, eps: f64, mode: PValueMode) -> Option<(Range, Range)> {
    let d = f.statistic?;
    let (n1, n2) = (f.reference_count as usize, f.current_count as usize);
    let (lo, hi) = ((d - eps).max(0.0), (d + eps).min(1.0));
    let (_, p_weak, _) = ks_pvalue(n1, n2, lo, mode);
    let (_, p_strong, _) = ks_pvalue(n1, n2, hi, mode);
    Some((
        Range { lo, hi },
        Range {
            lo: p_strong,
            hi: p_weak,
        },
    ))
}

/// Corrected p-values with every sketched feature at its smallest raw p-value, and at
/// its largest (the corrections are monotone in each p-value).
fn corrected_ends(
    rules: &DriftRules,
    features: &[FeatureDrift],
    ranges: &[Option<(Range, Range)>],
) -> (Vec<f64>, Vec<f64>) {
    let correction: Correction = rules.tests.correction.into();
    let tested: Vec<usize> = (0..features.len())
        .filter(|&k| features[k].p_value.is_some())
        .collect();
    let end = |strong: bool| {
        let raw: Vec<f64> = tested
            .iter()
            .map(|&k| match ranges[k] {
                Some((_, p)) if strong => p.lo,
                Some((_, p)) => p.hi,
                None => features[k].p_value.unwrap_or(1.0),
            })
            .collect();
        let adjusted = correction.adjust(&raw).unwrap_or(raw);
        let mut out = vec![1.0; features.len()];
        for (&k, q) in tested.iter().zip(adjusted) {
            out[k] = q;
        }
        out
    };
    (end(true), end(false))
}

/// PSI and JS ranges over the bin proportions the sketches' bounds allow.
fn bin_ranges(
    rules: &DriftRules,
    r: &NumericSketch,
    c: &NumericSketch,
    edges: &[f64],
) -> (Range, Range) {
    let boxes = |s: &NumericSketch| -> Vec<Range> {
        let counts = bin_counts_weighted(&s.sorted(), edges);
        let total: f64 = counts.iter().sum::<f64>().max(1.0);
        let slack = 2.0 * s.cdf_error();
        counts
            .iter()
            .map(|&k| Range {
                lo: (k / total - slack).max(0.0),
                hi: (k / total + slack).min(1.0),
            })
            .collect()
    };
    let (rb, cb) = (boxes(r), boxes(c));
    let eps = rules.tests.psi.epsilon;
    let psi_term = |c: f64, r: f64| {
        let (c, r) = (c.max(eps), r.max(eps));
        (c - r) * (c / r).ln()
    };
    let js_term = |p: f64, q: f64| {
        let m = (p + q) / 2.0;
        let part = |x: f64| if x > 0.0 { x * (x / m).ln() } else { 0.0 };
        (part(p) + part(q)) / 2.0
    };
    let (mut psi, mut js) = (Range { lo: 0.0, hi: 0.0 }, Range { lo: 0.0, hi: 0.0 });
    for (r, c) in rb.iter().zip(&cb) {
        psi.lo += term_min(c, r, &psi_term);
        psi.hi += term_max(c, r, &psi_term);
        js.lo += term_min(c, r, &js_term);
        js.hi += term_max(c, r, &js_term);
    }
    let to_distance = |x: f64| (x / std::f64::consts::LN_2).max(0.0).sqrt().min(1.0);
    (
        psi,
        Range {
            lo: to_distance(js.lo),
            hi: to_distance(js.hi),
        },
    )
}

/// The largest value of a jointly convex term over a box: at a corner.
fn term_max(c: &Range, r: &Range, f: &impl Fn(f64, f64) -> f64) -> f64 {
    [(c.lo, r.lo), (c.lo, r.hi), (c.hi, r.lo), (c.hi, r.hi)]
        .into_iter()
        .map(|(c, r)| f(c, r))
        .fold(0.0, f64::max)
}

/// The smallest value of a term that is zero on the diagonal and grows away from it:
/// zero when the box meets the diagonal, else at the corner nearest to it.
fn term_min(c: &Range, r: &Range, f: &impl Fn(f64, f64) -> f64) -> f64 {
    if c.lo > r.hi {
        f(c.lo, r.hi)
    } else if c.hi < r.lo {
        f(c.hi, r.lo)
    } else {
        0.0
    }
}

/// How far W₁ can move for one side: ∫₀¹ (Q(u + ε) − Q(u − ε)) du with Q clamped to
/// [min, max] = ε (max − min) + ∫ over the top ε of Q − ∫ over the bottom ε of Q.
fn wasserstein_bound(s: &NumericSketch) -> f64 {
    let eps = s.cdf_error();
    if eps == 0.0 {
        return 0.0;
    }
    let items = s.sorted();
    let n = s.count() as f64;
    let (Some(&(min, _)), Some(&(max, _))) = (items.first(), items.last()) else {
        return 0.0;
    };
    let (min, max) = s
        .kll()
        .and_then(|k| Some((**k.min_item()?, **k.max_item()?)))
        .unwrap_or((min, max));
    let tail = |items: &mut dyn Iterator<Item = &(f64, u64)>| {
        let mut left = eps * n;
        let mut sum = 0.0;
        for &(v, w) in items {
            let take = (w as f64).min(left);
            sum += v * take;
            left -= take;
            if left <= 0.0 {
                break;
            }
        }
        sum / n
    };
    eps * (max - min) + tail(&mut items.iter().rev()) - tail(&mut items.iter())
}

/// Whether the prediction verdict could flip through the score's sketch.
fn score_unstable(
    rules: &DriftRules,
    reference: &WindowProfile,
    current: &WindowProfile,
    assessment: &Assessment,
    mode: PValueMode,
) -> bool {
    let (Some(pred), Some(r), Some(c)) = (
        assessment.prediction.as_ref(),
        reference.predictions.as_ref(),
        current.predictions.as_ref(),
    ) else {
        return false;
    };
    let eps = error(&r.score, &c.score);
    let Some(d) = pred.score_ks.filter(|_| eps > 0.0) else {
        return false;
    };
    let (n1, n2) = (r.score.count() as usize, c.score.count() as usize);
    let (lo, hi) = ((d - eps).max(0.0), (d + eps).min(1.0));
    let p_of = |d: f64| ks_pvalue(n1, n2, d, mode).1;
    let class_p = pred.class_p_value.unwrap_or(1.0);
    let bonferroni = |score_p: f64| (class_p * 2.0).min(1.0).min((score_p * 2.0).min(1.0));
    let edges = quantile_bin_edges_from_counts(&r.score.sorted(), rules.tests.psi.bins);
    let (psi, _) = bin_ranges(rules, &r.score, &c.score, &edges);
    let end = |d: f64, p: f64, psi: f64| Evidence {
        test: "prediction (χ² classes, KS score)",
        p,
        alpha: rules.tests.prediction.p_value,
        psi,
        js: pred.class_jensen_shannon,
        ks_d: Some(d),
        wasserstein: None,
    };
    let weak = end(lo, bonferroni(p_of(lo)), psi.lo);
    let strong = end(hi, bonferroni(p_of(hi)), psi.hi);
    let decide_end = |e: &Evidence| {
        if pred.small_sample {
            decide_small(rules, e, (pred.reference_count, pred.current_count)).0
        } else {
            decide(rules, e).0
        }
    };
    decide_end(&weak) != decide_end(&strong)
}
