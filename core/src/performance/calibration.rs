//! NannyML 0.13.1's calibrator choice (`nannyml.calibration.needs_calibration`): isotonic
//! regression is used only when it lowers the expected calibration error (ECE) of the
//! reference scores, pooled over 10 stratified shuffle splits (`StratifiedShuffleSplit(
//! n_splits=10, test_size=0.1, random_state=42)`, the very same splits: see
//! [`stratified_shuffle_splits`]), 10 equal-count bins.
//!
//! One deliberate difference: the ECE sorts the pooled scores stably, where NumPy's
//! default argsort leaves tied scores in an unspecified order (it differs between CPUs).
//! With tied scores the ECE can then differ in the 4th digit from NannyML's; the decision
//! (a comparison of two ECEs far apart on real data) is what the golden test pins.

use serde::{Deserialize, Serialize};

use super::error::PerformanceError;
use super::isotonic::IsotonicRegression;
use super::mt19937::RandomState;
use crate::stats::pairwise_sum;
use crate::train::evaluation::roc_auc;

/// NannyML's constants.
const SPLITS: usize = 10;
const TEST_FRACTION: f64 = 0.1;
const SEED: u32 = 42;
const ECE_BINS: usize = 10;
/// Above this reference ROC AUC NannyML never calibrates.
const AUC_NO_CALIBRATION: f64 = 0.999;

/// Why the scores are (or are not) calibrated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CalibrationReason {
    /// Isotonic regression lowered the pooled ECE.
    LowersCalibrationError,
    /// Isotonic regression did not lower the pooled ECE: scores used as they are.
    DoesNotLowerCalibrationError,
    /// The reference ROC AUC is above 0.999: nothing to gain.
    NearPerfectAuc,
    /// One class only: nothing to calibrate against.
    SingleClass,
}

/// The calibrator choice and the numbers behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CalibrationDecision {
    pub calibrate: bool,
    pub reason: CalibrationReason,
    /// Pooled ECE of the raw test scores (absent when no splits were made).
    pub ece_before: Option<f64>,
    /// Pooled ECE of the isotonic-calibrated test scores.
    pub ece_after: Option<f64>,
}

/// Maps raw scores to the probabilities CBPE sums.
#[derive(Clone, Debug, PartialEq)]
pub enum Calibrator {
    Identity,
    Isotonic(IsotonicRegression),
}

impl Calibrator {
    pub fn apply(&self, score: f64) -> f64 {
        match self {
            Calibrator::Identity => score,
            Calibrator::Isotonic(iso) => iso.predict(score),
        }
    }
}

/// Chooses the calibrator as NannyML does and fits it on the whole reference.
pub fn choose_calibrator(
    labels: &[bool],
    scores: &[f64],
) -> Result<(Calibrator, CalibrationDecision), PerformanceError> {
    let decision = needs_calibration(labels, scores)?;
    let calibrator = if decision.calibrate {
        Calibrator::Isotonic(IsotonicRegression::fit(scores, &as_f64(labels), None)?)
    } else {
        Calibrator::Identity
    };
    Ok((calibrator, decision))
}

/// `nannyml.calibration.needs_calibration(y_true, y_pred_proba, IsotonicCalibrator())`.
pub fn needs_calibration(
    labels: &[bool],
    scores: &[f64],
) -> Result<CalibrationDecision, PerformanceError> {
    let without = |reason| CalibrationDecision {
        calibrate: false,
        reason,
        ece_before: None,
        ece_after: None,
    };
    let Some(auc) = roc_auc(scores, labels) else {
        return Ok(without(CalibrationReason::SingleClass));
    };
    if auc > AUC_NO_CALIBRATION {
        return Ok(without(CalibrationReason::NearPerfectAuc));
    }
    let mut truth = Vec::new();
    let mut raw = Vec::new();
    let mut calibrated = Vec::new();
    for (train, test) in stratified_shuffle_splits(labels, SPLITS, TEST_FRACTION, SEED)? {
        let x: Vec<f64> = train.iter().map(|&i| scores[i]).collect();
        let y: Vec<f64> = train
            .iter()
            .map(|&i| f64::from(u8::from(labels[i])))
            .collect();
        let iso = IsotonicRegression::fit(&x, &y, None)?;
        for &i in &test {
            truth.push(f64::from(u8::from(labels[i])));
            raw.push(scores[i]);
            calibrated.push(iso.predict(scores[i]));
        }
    }
    let edges = bin_edges(raw.len(), ECE_BINS)?;
    let before = expected_calibration_error(&truth, &raw, &edges);
    let after = expected_calibration_error(&truth, &calibrated, &edges);
    let calibrate = before > after;
    Ok(CalibrationDecision {
        calibrate,
        reason: if calibrate {
            CalibrationReason::LowersCalibrationError
        } else {
            CalibrationReason::DoesNotLowerCalibrationError
        },
        ece_before: Some(before),
        ece_after: Some(after),
    })
}

fn as_f64(labels: &[bool]) -> Vec<f64> {
    labels.iter().map(|&l| f64::from(u8::from(l))).collect()
}

/// The (train, test) row indices of one split.
pub type Split = (Vec<usize>, Vec<usize>);

/// `StratifiedShuffleSplit(n_splits, test_size, random_state=seed).split(X, labels)` of
/// scikit-learn 1.5: (train, test) row indices, in scikit-learn's order.
pub fn stratified_shuffle_splits(
    labels: &[bool],
    n_splits: usize,
    test_fraction: f64,
    seed: u32,
) -> Result<Vec<Split>, PerformanceError> {
    let n = labels.len();
    let n_test = (test_fraction * n as f64).ceil() as usize;
    let n_train = n.saturating_sub(n_test);
    // Classes sorted (false < true); members in row order (a stable argsort).
    let class_indices: [Vec<usize>; 2] = [
        (0..n).filter(|&i| !labels[i]).collect(),
        (0..n).filter(|&i| labels[i]).collect(),
    ];
    let counts = [class_indices[0].len(), class_indices[1].len()];
    if counts.iter().any(|&c| c < 2) || n_train < 2 || n_test < 2 {
        return Err(PerformanceError::TooFewRows {
            what: "stratified splits (2 rows of each class, 2 test rows)",
            rows: n,
            min: 20,
        });
    }
    let mut rng = RandomState::new(seed);
    let mut splits = Vec::with_capacity(n_splits);
    for _ in 0..n_splits {
        let n_i = approximate_mode(&counts, n_train, &mut rng);
        let remaining = [counts[0] - n_i[0], counts[1] - n_i[1]];
        let t_i = approximate_mode(&remaining, n_test, &mut rng);
        let mut train = Vec::with_capacity(n_train);
        let mut test = Vec::with_capacity(n_test);
        for class in 0..2 {
            let permutation = rng.permutation(counts[class]);
            let members: Vec<usize> = permutation
                .iter()
                .map(|&p| class_indices[class][p])
                .collect();
            train.extend_from_slice(&members[..n_i[class]]);
            test.extend_from_slice(&members[n_i[class]..n_i[class] + t_i[class]]);
        }
        rng.shuffle(&mut train);
        rng.shuffle(&mut test);
        splits.push((train, test));
    }
    Ok(splits)
}

/// scikit-learn's `_approximate_mode(class_counts, n_draws, rng)`: floor the
/// proportional share, then hand out the rest by largest remainder, ties broken with
/// `rng.choice(..., replace=False)` (a permutation in legacy NumPy).
fn approximate_mode(counts: &[usize; 2], n_draws: usize, rng: &mut RandomState) -> [usize; 2] {
    let total = (counts[0] + counts[1]) as f64;
    let continuous = counts.map(|c| c as f64 / total * n_draws as f64);
    let mut floored = continuous.map(f64::floor);
    let mut need = (n_draws as f64 - (floored[0] + floored[1])) as usize;
    if need > 0 {
        let remainder = [continuous[0] - floored[0], continuous[1] - floored[1]];
        let mut values = remainder.to_vec();
        values.sort_by(|a, b| b.total_cmp(a));
        values.dedup();
        for value in values {
            let inds: Vec<usize> = (0..2).filter(|&k| remainder[k] == value).collect();
            let add_now = inds.len().min(need);
            let chosen = rng.permutation(inds.len());
            for &c in &chosen[..add_now] {
                floored[inds[c]] += 1.0;
            }
            need -= add_now;
            if need == 0 {
                break;
            }
        }
    }
    floored.map(|v| v as usize)
}

/// `_get_bin_index_edges(n, bins)`: equal-count bins over the sorted scores.
fn bin_edges(n: usize, bins: usize) -> Result<Vec<(usize, usize)>, PerformanceError> {
    let bins = if n <= 2 * bins { n / 2 } else { bins };
    if bins < 2 {
        return Err(PerformanceError::TooFewRows {
            what: "the expected calibration error (2 bins of 2)",
            rows: n,
            min: 4,
        });
    }
    let width = n / bins;
    let mut edges: Vec<usize> = (0..=n).step_by(width).collect();
    if let Some(last) = edges.last_mut() {
        *last = n;
    }
    Ok(edges.windows(2).map(|w| (w[0], w[1])).collect())
}

/// `_calculate_expected_calibration_error`, with a stable sort (see the module docs).
fn expected_calibration_error(truth: &[f64], proba: &[f64], edges: &[(usize, usize)]) -> f64 {
    let mut order: Vec<usize> = (0..proba.len()).collect();
    order.sort_by(|&a, &b| proba[a].total_cmp(&proba[b]));
    let p: Vec<f64> = order.iter().map(|&i| proba[i]).collect();
    let t: Vec<f64> = order.iter().map(|&i| truth[i]).collect();
    let n = p.len() as f64;
    let terms: Vec<f64> = edges
        .iter()
        .map(|&(l, r)| {
            let len = (r - l) as f64;
            let mean_p = pairwise_sum(&p[l..r]) / len;
            let mean_t = pairwise_sum(&t[l..r]) / len;
            len / n * (mean_p - mean_t).abs()
        })
        .collect();
    pairwise_sum(&terms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_edges_match_nannyml() {
        assert_eq!(
            bin_edges(20, 4).expect("edges"),
            vec![(0, 5), (5, 10), (10, 15), (15, 20)]
        );
        // 25 rows, 10 bins: width 2, the last bin takes the remainder.
        let edges = bin_edges(25, 10).expect("edges");
        assert_eq!(edges.len(), 12);
        assert_eq!(edges[11], (22, 25));
        assert!(bin_edges(3, 10).is_err());
    }

    #[test]
    fn splits_are_stratified_and_disjoint() {
        let labels: Vec<bool> = (0..103).map(|i| i % 3 == 0).collect();
        let splits = stratified_shuffle_splits(&labels, 10, 0.1, 42).expect("splits");
        assert_eq!(splits.len(), 10);
        for (train, test) in &splits {
            assert_eq!((train.len(), test.len()), (92, 11));
            let positives = test.iter().filter(|&&i| labels[i]).count();
            assert!((3..=4).contains(&positives), "{positives}");
            assert!(test.iter().all(|i| !train.contains(i)));
        }
    }

    #[test]
    fn a_single_class_is_never_calibrated() {
        let decision = needs_calibration(&[true; 50], &[0.7; 50]).expect("decision");
        assert_eq!(decision.reason, CalibrationReason::SingleClass);
        assert!(!decision.calibrate);
    }

    #[test]
    fn a_near_perfect_ranking_is_never_calibrated() {
        let labels: Vec<bool> = (0..100).map(|i| i >= 50).collect();
        let scores: Vec<f64> = (0..100).map(|i| f64::from(i) / 100.0).collect();
        let decision = needs_calibration(&labels, &scores).expect("decision");
        assert_eq!(decision.reason, CalibrationReason::NearPerfectAuc);
    }
}
