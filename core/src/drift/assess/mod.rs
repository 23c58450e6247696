//! The assessment: per-feature tests, effect sizes, correction, prediction and
//! performance drift, and the overall decision — a pure function of two
//! [`WindowProfile`]s and the [`DriftRules`].
//!
//! Rules (every feature's `rule` text states which fired, with the numbers):
//! * fewer than `minSamples` present values on either side: the result counts only when
//!   decisive (Critical at a corrected p ≤ level / 100), marked as a small sample; else
//!   `InsufficientData` (always below 30 values, or with `strictMinSamples`);
//! * numeric features: two-sample KS (SciPy's p-value; [`PValueMode`] decides whether
//!   the O(1) asymptotic is used for effective n ≥ 10^5) plus PSI on reference deciles,
//!   Jensen–Shannon on the same bins and Wasserstein-1; categorical features: χ² test of
//!   homogeneity (missing is a category) plus PSI and Jensen–Shannon over categories;
//! * the p-values of all tested features form one family, corrected as the rules say
//!   (Benjamini–Hochberg by default);
//! * corrected p ≥ level → `None`. Otherwise, effect-size aware (default): `Critical`
//!   when PSI ≥ `psi.critical`; `Warning` when PSI ≥ `psi.warning` or KS D ≥
//!   `effectSize.ksStatistic` or W₁/σ_ref ≥ `effectSize.wasserstein` or JS ≥
//!   `effectSize.jensenShannon`; else `None`
//!   ("significant but negligible"). Without effect sizes: `Critical` when PSI ≥
//!   critical, else `Warning`;
//! * prediction drift: χ² on predicted classes and KS on the predicted score
//!   (Bonferroni over the two), effect = PSI of the score / JS of the classes / KS D;
//! * performance (labelled rows): χ² on correct/wrong counts against the reference;
//!   a significant accuracy drop ≥ `warningDrop` / `criticalDrop`;
//! * the drift verdict is the worst of the decided parts (`InsufficientData` when none
//!   was decided, or the window has fewer than `minSamples` rows and nothing decisive
//!   drifted); the overall verdict also counts quality: a hard failure is `Critical`, a
//!   soft one `Warning`, and it is `InsufficientData` whenever the drift verdict is and
//!   quality passed.
//!
//! One module per kind of drift: [`features`], [`outputs`] (predictions and
//! performance); [`rule`] turns evidence into a verdict; [`histogram`] draws the bars.

mod bounds;
mod features;
mod histogram;
mod outputs;
mod rule;

pub use bounds::{unstable, Unstable};

use crate::data::schema::FeatureSchema;
use crate::stats::{Correction, PValueMode};

use super::par::par_map;
use super::profile::{ColumnProfile, WindowProfile};
use super::quality::{assess_quality, QualityContext};
use super::report::{Assessment, FeatureDrift};
use super::rules::DriftRules;
use super::verdict::Verdict;

/// Knobs that do not belong in the rules.
#[derive(Clone, Copy, Debug)]
pub struct AssessOptions {
    /// Threads for the per-feature statistics.
    pub threads: usize,
    pub pvalue_mode: PValueMode,
}

impl Default for AssessOptions {
    fn default() -> Self {
        AssessOptions {
            threads: 2,
            pvalue_mode: PValueMode::Fast,
        }
    }
}

/// Compares `current` with `reference` under `rules` (call `rules.check()` first).
pub fn assess(
    schema: &FeatureSchema,
    rules: &DriftRules,
    reference: &WindowProfile,
    current: &WindowProfile,
    context: &QualityContext,
    options: &AssessOptions,
) -> Assessment {
    let selected: Vec<(usize, &ColumnProfile, &ColumnProfile)> = schema
        .features
        .iter()
        .enumerate()
        .filter(|(_, f)| rules.features.selects(&f.name))
        .filter_map(|(i, _)| Some((i, reference.columns.get(i)?, current.columns.get(i)?)))
        .collect();
    let mut features: Vec<FeatureDrift> = par_map(&selected, options.threads, |(_, r, c)| {
        features::compare_column(rules, r, c, options.pvalue_mode)
    });
    correct_pvalues(rules, &mut features);
    for f in &mut features {
        rule::decide_feature(rules, f);
    }

    let prediction = match (&reference.predictions, &current.predictions) {
        (Some(r), Some(c)) => Some(outputs::compare_predictions(
            rules,
            schema,
            r,
            c,
            options.pvalue_mode,
        )),
        _ => None,
    };
    let performance = match (&reference.labels, &current.labels) {
        (Some(r), Some(c)) if c.labelled >= rules.tests.performance.min_labels as u64 => {
            outputs::compare_performance(rules, r.labelled, r.correct, c.labelled, c.correct)
        }
        _ => None,
    };
    let quality = assess_quality(schema, rules, reference, current, context);

    let parts = features
        .iter()
        .map(|f| f.verdict)
        .chain(prediction.as_ref().map(|p| p.verdict))
        .chain(performance.as_ref().map(|p| p.verdict));
    let drift_verdict = drift_of(parts, current.rows >= rules.min_samples as u64);
    Assessment {
        verdict: overall(drift_verdict, quality.verdict),
        drift_verdict,
        reference_rows: reference.rows,
        current_rows: current.rows,
        drifted_features: drifted_worst_first(&features),
        features,
        prediction,
        performance,
        quality,
        recomputed_exactly: Vec::new(),
    }
}

/// The drift verdict from its parts: the worst decided one; `InsufficientData` when no
/// part was decided, or when the window is below `minSamples` and nothing decisive
/// drifted (a small window can show drift, never its absence).
fn drift_of(parts: impl Iterator<Item = Verdict>, enough_rows: bool) -> Verdict {
    let decided = parts
        .filter(|v| *v != Verdict::InsufficientData)
        .reduce(Verdict::worst);
    match decided {
        Some(v) if enough_rows || v.is_drift() => v,
        _ => Verdict::InsufficientData,
    }
}

/// The overall verdict: the drift verdict raised by quality failures, and never better
/// informed than the drift part — `InsufficientData` stays so unless quality failed.
fn overall(drift: Verdict, quality: Verdict) -> Verdict {
    if drift == Verdict::InsufficientData && !quality.is_drift() {
        Verdict::InsufficientData
    } else {
        drift.worst(quality)
    }
}

/// One family of p-values over the tested features, corrected as the rules say.
fn correct_pvalues(rules: &DriftRules, features: &mut [FeatureDrift]) {
    let tested: Vec<usize> = features
        .iter()
        .enumerate()
        .filter(|(_, f)| f.p_value.is_some())
        .map(|(i, _)| i)
        .collect();
    let pvalues: Vec<f64> = tested.iter().filter_map(|&i| features[i].p_value).collect();
    let correction: Correction = rules.tests.correction.into();
    let adjusted = correction
        .adjust(&pvalues)
        .unwrap_or_else(|_| pvalues.clone());
    for (&i, &q) in tested.iter().zip(&adjusted) {
        features[i].p_value_adjusted = Some(q);
    }
}

/// Names of the features that drifted, worst verdict first, then by PSI.
fn drifted_worst_first(features: &[FeatureDrift]) -> Vec<String> {
    let mut drifted: Vec<&FeatureDrift> =
        features.iter().filter(|f| f.verdict.is_drift()).collect();
    drifted.sort_by(|a, b| {
        b.verdict
            .severity()
            .cmp(&a.verdict.severity())
            .then(b.psi.unwrap_or(0.0).total_cmp(&a.psi.unwrap_or(0.0)))
    });
    drifted.iter().map(|f| f.name.clone()).collect()
}

fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overall_verdict_is_never_better_informed_than_its_parts() {
        use Verdict::*;
        assert_eq!(drift_of([None, InsufficientData].into_iter(), true), None);
        assert_eq!(
            drift_of([InsufficientData].into_iter(), true),
            InsufficientData
        );
        assert_eq!(drift_of(std::iter::empty(), true), InsufficientData);
        assert_eq!(
            drift_of([Critical, InsufficientData].into_iter(), false),
            Critical
        );
        assert_eq!(drift_of([None, Warning].into_iter(), false), Warning);
        assert_eq!(drift_of([None].into_iter(), false), InsufficientData);
        assert_eq!(overall(InsufficientData, None), InsufficientData);
        assert_eq!(overall(InsufficientData, Warning), Warning);
        assert_eq!(overall(InsufficientData, Critical), Critical);
        assert_eq!(overall(None, None), None);
        assert_eq!(overall(Warning, Critical), Critical);
    }
}
