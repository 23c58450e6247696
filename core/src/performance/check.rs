//! Performance in a scheduled check (`DriftPolicy.spec.performance`): the check's window
//! estimated as one chunk by CBPE fitted on the served version's scored hold-out, realized
//! from the labels joined so far, and set beside the previous check's window for the
//! sustained-gap (concept drift) flag. Pure: the job reads the rows, this decides.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::drift::rules::ModelPerformanceSpec;

use super::cbpe::{Cbpe, CbpeParams, Thresholds};
use super::chunk::Chunking;
use super::error::PerformanceError;
use super::join::JoinCounts;
use super::metric::{LabelledRow, Metric, ScoredRow};
use super::realized::RealizedPerformance;
use super::report::{window, PerformanceReport, ReferenceSummary, WindowPerformance};

/// NannyML's default chunker: the reference in 10 chunks.
pub const DEFAULT_REFERENCE_CHUNKS: usize = 10;

/// What a check found about the served model's performance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "status")]
// One a check, built once and serialized: boxing the large variant buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum CheckPerformance {
    /// Estimated (and, where labels arrived, realized).
    #[serde(rename_all = "camelCase")]
    Assessed {
        reference: ReferenceSummary,
        window: WindowPerformance,
        /// What the label join counted over the window.
        labels: JoinCounts,
        /// The metrics whose estimate is outside its band.
        estimated_alerts: Vec<Metric>,
        /// realized − estimated beyond the band in this window and the one before.
        concept_drift: bool,
        /// Predictions of the window made by other versions, left out: the hold-out
        /// calibrates one version's scores.
        #[serde(default, skip_serializing_if = "is_zero")]
        other_versions: usize,
        /// Earlier windows realized again with labels that arrived in this check.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        matured: Vec<MaturedWindow>,
    },
    /// Not estimated, with why (a low-cardinality reason and a message).
    #[serde(rename_all = "camelCase")]
    Refused { reason: String, message: String },
}

impl CheckPerformance {
    pub fn refused(reason: &str, message: impl Into<String>) -> CheckPerformance {
        CheckPerformance::Refused {
            reason: reason.to_string(),
            message: message.into(),
        }
    }

    /// The window's figures, when assessed.
    pub fn window(&self) -> Option<&WindowPerformance> {
        match self {
            CheckPerformance::Assessed { window, .. } => Some(window),
            CheckPerformance::Refused { .. } => None,
        }
    }
}

impl From<PerformanceError> for CheckPerformance {
    fn from(e: PerformanceError) -> Self {
        CheckPerformance::refused(e.reason(), e.to_string())
    }
}

/// A window a check assessed, as it stands now: kept for `maxLabelDelay` so that later
/// labels can still realize it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowState {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub performance: WindowPerformance,
}

/// An earlier window of the assessed version, oldest first, and, when this check's
/// lookback found labels for it, every labelled row it now holds.
#[derive(Clone, Debug, PartialEq)]
pub struct EarlierWindow {
    pub state: WindowState,
    pub relabelled: Option<Relabelled>,
}

/// The labelled rows of an earlier window after a lookback.
#[derive(Clone, Debug, PartialEq)]
pub struct Relabelled {
    /// Every labelled row of the window (the earlier ones and the lookback's).
    pub rows: Vec<LabelledRow>,
    /// Rows the lookback added (or replaced).
    pub added: usize,
}

/// An earlier window realized again because labels for it arrived in this check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaturedWindow {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Labels of this check joined to the window's predictions.
    pub added: usize,
    pub window: WindowPerformance,
}

/// The window's performance: `holdout` is the served version's scored hold-out,
/// `scores` every prediction of the window (in time order), `labelled` those the join
/// found a label for (`labels` its counts), `earlier` the version's earlier windows
/// (oldest first). Earlier windows that gained labels are realized again, in place,
/// and the sustained gap is marked over the whole sequence: with labels that lag the
/// check, concept drift shows in the matured windows, not in the current one.
pub fn assess_window(
    spec: &ModelPerformanceSpec,
    holdout: &[LabelledRow],
    scores: &[ScoredRow],
    labelled: &[LabelledRow],
    labels: JoinCounts,
    earlier: &mut [EarlierWindow],
) -> CheckPerformance {
    let chunking = match spec.chunk_size {
        Some(size) => Chunking::Size(size),
        None => Chunking::Count(DEFAULT_REFERENCE_CHUNKS),
    };
    let estimated: Vec<Metric> = spec
        .metrics
        .iter()
        .copied()
        .filter(|m| Metric::ESTIMATED.contains(m))
        .collect();
    let params = CbpeParams {
        chunking,
        metrics: estimated,
        ..CbpeParams::default()
    };
    let cbpe = match Cbpe::fit(holdout, &params) {
        Ok(cbpe) => cbpe,
        Err(e) => return e.into(),
    };
    if scores.is_empty() {
        return CheckPerformance::refused("NoPredictions", "the window holds no prediction");
    }
    let mut estimate = match cbpe.estimate_chunk(scores) {
        Ok(estimate) => estimate,
        Err(e) => return e.into(),
    };
    for e in &mut estimate.estimates {
        if let Some(t) = spec.thresholds.iter().find(|t| t.metric == e.metric) {
            e.thresholds = Thresholds {
                lower: t.lower,
                upper: t.upper,
            };
            e.alert = e.value.is_some_and(|v| e.thresholds.alerts(v));
        }
    }
    let current = window(&cbpe, estimate, labelled, spec.min_labeled_samples);
    for e in earlier.iter_mut() {
        if let Some(relabelled) = &e.relabelled {
            let estimate = e.state.performance.estimate.clone();
            e.state.performance =
                window(&cbpe, estimate, &relabelled.rows, spec.min_labeled_samples);
        }
    }
    let windows = earlier
        .iter()
        .map(|e| e.state.performance.clone())
        .chain([current])
        .collect();
    let mut report = PerformanceReport::from_windows(&cbpe, windows);
    let Some(current) = report.windows.pop() else {
        return CheckPerformance::refused("NoPredictions", "the window holds no prediction");
    };
    let mut matured = Vec::new();
    for (e, marked) in earlier.iter_mut().zip(report.windows) {
        e.state.performance = marked;
        if let Some(relabelled) = &e.relabelled {
            matured.push(MaturedWindow {
                since: e.state.since,
                until: e.state.until,
                added: relabelled.added,
                window: e.state.performance.clone(),
            });
        }
    }
    let mut reference = report.reference;
    for (metric, thresholds) in &mut reference.thresholds {
        if let Some(t) = current.estimate.get(*metric) {
            *thresholds = t.thresholds;
        }
    }
    let sustained = |w: &WindowPerformance| w.gaps.iter().any(|g| g.sustained);
    CheckPerformance::Assessed {
        reference,
        estimated_alerts: current
            .estimate
            .estimates
            .iter()
            .filter(|e| e.alert)
            .map(|e| e.metric)
            .collect(),
        concept_drift: sustained(&current) || matured.iter().any(|m| sustained(&m.window)),
        window: current,
        labels,
        other_versions: 0,
        matured,
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A metric's value with its band: what status, metrics and the summary carry.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct MetricValue {
    pub metric: Metric,
    /// The estimate, or the realized value.
    pub value: f64,
    /// Estimated: the alert band; realized: the 95 % confidence interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower: Option<f64>,
    /// The band's or the interval's upper end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<f64>,
    /// Estimated only: outside the band.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub alert: bool,
}

/// The performance part of a check's summary (the termination message, then status and
/// metrics): small, a few metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct PerformanceBrief {
    /// CBPE's estimates for the window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(
        feature = "schema",
        schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["metric"]))
    )]
    pub estimated: Vec<MetricValue>,
    /// From the labels joined so far (empty below `minLabeledSamples`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(
        feature = "schema",
        schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["metric"]))
    )]
    pub realized: Vec<MetricValue>,
    /// Labelled predictions ÷ predictions of the window.
    pub label_coverage: f64,
    /// Predictions of the window joined to a label.
    pub labelled: u64,
    /// Some estimate is outside its band.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub estimated_drop: bool,
    /// A sustained gap between realized and estimated: a sign of concept drift.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub concept_drift: bool,
    /// Why there is no estimate (`NotBinary`, `NoHoldout`, `SingleClassReference`,
    /// `NoPredictions`, …) or why realized values are missing (`InsufficientLabels`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The newest earlier window that labels of this check realized again: with labels
    /// that lag the check, where realized values show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matured: Option<MaturedBrief>,
}

/// An earlier window realized again, in the brief.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct MaturedBrief {
    /// When the window ended (its check's time), RFC 3339.
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub until: DateTime<Utc>,
    /// Realized from every label the window holds now, with 95 % intervals (empty below
    /// `minLabeledSamples`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(
        feature = "schema",
        schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["metric"]))
    )]
    pub realized: Vec<MetricValue>,
    /// Labelled predictions of the window.
    pub labelled: u64,
    /// Labelled predictions ÷ predictions of the window.
    pub label_coverage: f64,
}

/// The reason of a brief that was assessed but has too few labels to realize.
pub const INSUFFICIENT_LABELS: &str = "InsufficientLabels";

impl PerformanceBrief {
    /// Whether the check assessed performance (estimated it; realized it or found too
    /// few labels), so that its label coverage is a measurement, not a placeholder.
    pub fn assessed(&self) -> bool {
        self.reason
            .as_deref()
            .is_none_or(|r| r == INSUFFICIENT_LABELS)
    }

    /// The brief of `check`, for the metrics the policy names.
    pub fn of(check: &CheckPerformance, metrics: &[Metric]) -> PerformanceBrief {
        let (window, labels, concept_drift, matured) = match check {
            CheckPerformance::Refused { reason, .. } => {
                return PerformanceBrief {
                    estimated: Vec::new(),
                    realized: Vec::new(),
                    label_coverage: 0.0,
                    labelled: 0,
                    estimated_drop: false,
                    concept_drift: false,
                    reason: Some(reason.clone()),
                    matured: None,
                }
            }
            CheckPerformance::Assessed {
                window,
                labels,
                concept_drift,
                matured,
                ..
            } => (window, labels, *concept_drift, matured),
        };
        let estimated: Vec<MetricValue> = metrics
            .iter()
            .filter_map(|&m| {
                let e = window.estimate.get(m)?;
                Some(MetricValue {
                    metric: m,
                    value: e.value?,
                    lower: e.thresholds.lower,
                    upper: e.thresholds.upper,
                    alert: e.alert,
                })
            })
            .collect();
        let (realized, reason) = realized_values(window, metrics);
        PerformanceBrief {
            estimated_drop: estimated.iter().any(|e| e.alert),
            estimated,
            realized,
            label_coverage: labels.label_coverage,
            labelled: labels.labelled as u64,
            concept_drift,
            reason,
            matured: matured
                .iter()
                .max_by_key(|m| m.until)
                .map(|m| MaturedBrief {
                    until: m.until,
                    realized: realized_values(&m.window, metrics).0,
                    labelled: m.window.labelled as u64,
                    label_coverage: m.window.label_coverage(),
                }),
        }
    }

    /// The brief of an earlier check whose window was realized again (`window`, with
    /// labels that arrived later): its realized values, label counts and gap flag.
    pub fn realize_again(&mut self, window: &WindowPerformance, metrics: &[Metric]) {
        let (realized, reason) = realized_values(window, metrics);
        self.realized = realized;
        self.reason = reason;
        self.labelled = window.labelled as u64;
        self.label_coverage = window.label_coverage();
        self.concept_drift |= window.gaps.iter().any(|g| g.sustained);
    }

    pub fn estimated(&self, metric: Metric) -> Option<&MetricValue> {
        self.estimated.iter().find(|v| v.metric == metric)
    }

    pub fn realized(&self, metric: Metric) -> Option<&MetricValue> {
        self.realized.iter().find(|v| v.metric == metric)
    }
}

/// A window's realized values for `metrics` (empty below `minLabeledSamples`, with
/// [`INSUFFICIENT_LABELS`] as the reason).
fn realized_values(
    window: &WindowPerformance,
    metrics: &[Metric],
) -> (Vec<MetricValue>, Option<String>) {
    let realized = match &window.realized {
        Some(r @ RealizedPerformance::Measured { .. }) => metrics
            .iter()
            .filter_map(|&m| {
                let v = r.get(m)?;
                Some(MetricValue {
                    metric: m,
                    value: v.value?,
                    lower: v.interval.map(|i| i.lower),
                    upper: v.interval.map(|i| i.upper),
                    alert: false,
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    let reason = matches!(
        window.realized,
        Some(RealizedPerformance::InsufficientLabels { .. })
    )
    .then(|| INSUFFICIENT_LABELS.to_string());
    (realized, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::rules::MetricThreshold;

    /// A calibrated hold-out: the label is positive with probability `score`
    /// (uniform draws of a fixed-seed xorshift, so chunks differ as samples do).
    fn holdout() -> Vec<LabelledRow> {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut uniform = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..4000)
            .map(|_| {
                let score = uniform();
                LabelledRow {
                    score,
                    predicted: score > 0.5,
                    label: uniform() < score,
                }
            })
            .collect()
    }

    fn scored(rows: &[LabelledRow]) -> Vec<ScoredRow> {
        rows.iter().map(|r| r.scored()).collect()
    }

    fn counts(predictions: usize, labelled: usize) -> JoinCounts {
        JoinCounts {
            predictions,
            labelled,
            label_coverage: labelled as f64 / predictions as f64,
            ..JoinCounts::default()
        }
    }

    #[test]
    fn an_unchanged_window_is_estimated_within_its_band_and_realized() {
        let reference = holdout();
        let spec = ModelPerformanceSpec::default();
        let check = assess_window(
            &spec,
            &reference,
            &scored(&reference[..1000]),
            &reference[..1000],
            counts(1000, 1000),
            &mut [],
        );
        let CheckPerformance::Assessed {
            reference: summary,
            window,
            estimated_alerts,
            concept_drift,
            ..
        } = &check
        else {
            panic!("refused: {check:?}");
        };
        assert_eq!(summary.chunking, Chunking::Count(10));
        assert_eq!(window.rows, 1000);
        assert!(estimated_alerts.is_empty(), "{estimated_alerts:?}");
        assert!(!concept_drift);
        let brief = PerformanceBrief::of(&check, &spec.metrics);
        let names: Vec<Metric> = brief.estimated.iter().map(|v| v.metric).collect();
        assert_eq!(names, [Metric::RocAuc, Metric::Accuracy, Metric::F1]);
        assert_eq!(brief.realized.len(), 3);
        assert_eq!(brief.labelled, 1000);
        assert!((brief.label_coverage - 1.0).abs() < 1e-12);
        let auc = brief.estimated(Metric::RocAuc).expect("auc");
        let realized = brief.realized(Metric::RocAuc).expect("auc");
        assert!(
            (auc.value - realized.value).abs() < 0.05,
            "{auc:?} {realized:?}"
        );
        assert!(brief.reason.is_none() && !brief.estimated_drop);
    }

    #[test]
    fn a_fixed_threshold_replaces_the_band_and_alerts() {
        let reference = holdout();
        let spec = ModelPerformanceSpec {
            thresholds: vec![MetricThreshold {
                metric: Metric::RocAuc,
                lower: Some(0.99),
                upper: None,
            }],
            ..ModelPerformanceSpec::default()
        };
        let check = assess_window(
            &spec,
            &reference,
            &scored(&reference),
            &[],
            counts(4000, 0),
            &mut [],
        );
        let brief = PerformanceBrief::of(&check, &spec.metrics);
        let auc = brief.estimated(Metric::RocAuc).expect("auc");
        assert_eq!((auc.lower, auc.upper), (Some(0.99), None));
        assert!(auc.alert && brief.estimated_drop);
        assert!(brief.realized.is_empty() && brief.labelled == 0);
        let CheckPerformance::Assessed {
            estimated_alerts,
            reference,
            ..
        } = &check
        else {
            panic!("refused");
        };
        assert_eq!(estimated_alerts, &[Metric::RocAuc]);
        let band = reference
            .thresholds
            .iter()
            .find(|(m, _)| *m == Metric::RocAuc);
        assert_eq!(band.map(|(_, t)| t.lower), Some(Some(0.99)));
    }

    #[test]
    fn flipped_labels_in_two_windows_in_a_row_are_concept_drift() {
        let reference = holdout();
        let spec = ModelPerformanceSpec::default();
        let flipped: Vec<LabelledRow> = reference[..1000]
            .iter()
            .map(|r| LabelledRow {
                label: !r.label,
                ..*r
            })
            .collect();
        let rows = scored(&flipped);
        let first = assess_window(
            &spec,
            &reference,
            &rows,
            &flipped,
            counts(1000, 1000),
            &mut [],
        );
        let CheckPerformance::Assessed { concept_drift, .. } = &first else {
            panic!("refused");
        };
        assert!(!concept_drift, "one window is not sustained");
        let mut earlier = [settled(0, first.window().expect("assessed"))];
        let second = assess_window(
            &spec,
            &reference,
            &rows,
            &flipped,
            counts(1000, 1000),
            &mut earlier,
        );
        let brief = PerformanceBrief::of(&second, &spec.metrics);
        assert!(brief.concept_drift);
        // The estimate did not move: CBPE cannot see a change of P(y | x).
        assert!(!brief.estimated_drop);
    }

    fn settled(hour: i64, performance: &WindowPerformance) -> EarlierWindow {
        let since = DateTime::from_timestamp(hour * 3600, 0).expect("time");
        EarlierWindow {
            state: WindowState {
                since,
                until: since + chrono::Duration::hours(1),
                performance: performance.clone(),
            },
            relabelled: None,
        }
    }

    /// Labels that lag the check: two windows are checked without any, then their
    /// (flipped) labels arrive in a third check. The earlier windows are realized
    /// again there, and their sustained gap is concept drift although the third
    /// window itself has no label.
    #[test]
    fn labels_that_arrive_later_realize_earlier_windows_and_show_concept_drift() {
        let reference = holdout();
        let spec = ModelPerformanceSpec::default();
        let flipped: Vec<LabelledRow> = reference[..1000]
            .iter()
            .map(|r| LabelledRow {
                label: !r.label,
                ..*r
            })
            .collect();
        let rows = scored(&flipped);
        let unlabelled = assess_window(&spec, &reference, &rows, &[], counts(1000, 0), &mut []);
        let unlabelled = unlabelled.window().expect("assessed");
        assert!(unlabelled.realized.is_none());
        let mut earlier = [settled(0, unlabelled), settled(1, unlabelled)];
        for e in &mut earlier {
            e.relabelled = Some(Relabelled {
                rows: flipped.clone(),
                added: flipped.len(),
            });
        }
        let third = assess_window(&spec, &reference, &rows, &[], counts(1000, 0), &mut earlier);
        let CheckPerformance::Assessed {
            matured,
            concept_drift,
            window,
            ..
        } = &third
        else {
            panic!("refused: {third:?}");
        };
        assert!(window.realized.is_none(), "the current window has no label");
        assert_eq!(matured.len(), 2);
        assert_eq!(matured[1].since, earlier[1].state.since);
        assert_eq!((matured[0].added, matured[0].window.labelled), (1000, 1000));
        let realized = matured[1].window.realized.as_ref().expect("realized");
        let estimated = matured[1]
            .window
            .estimated(Metric::Accuracy)
            .expect("estimate");
        assert!(
            realized.value(Metric::Accuracy).expect("accuracy") < estimated - 0.3,
            "flipped labels lower the realized accuracy"
        );
        assert!(*concept_drift);
        // The states are updated in place, for the job to store.
        assert_eq!(earlier[0].state.performance, matured[0].window);
        assert!(
            !matured[0].window.gaps.iter().any(|g| g.sustained),
            "the first of the run"
        );
    }

    #[test]
    fn refusals_carry_their_reason() {
        let spec = ModelPerformanceSpec::default();
        let one_class: Vec<LabelledRow> = holdout()
            .into_iter()
            .map(|r| LabelledRow { label: true, ..r })
            .collect();
        let check = assess_window(&spec, &one_class, &[], &[], counts(0, 0), &mut []);
        assert_eq!(
            PerformanceBrief::of(&check, &spec.metrics)
                .reason
                .as_deref(),
            Some("SingleClassReference")
        );
        let check = assess_window(&spec, &holdout(), &[], &[], JoinCounts::default(), &mut []);
        assert_eq!(
            PerformanceBrief::of(&check, &spec.metrics)
                .reason
                .as_deref(),
            Some("NoPredictions")
        );
        let nan = [ScoredRow {
            score: f64::NAN,
            predicted: false,
        }];
        let check = assess_window(&spec, &holdout(), &nan, &[], counts(1, 0), &mut []);
        assert_eq!(
            PerformanceBrief::of(&check, &spec.metrics)
                .reason
                .as_deref(),
            Some("NonFiniteScore")
        );
    }

    #[test]
    fn too_few_labels_say_so() {
        let reference = holdout();
        let spec = ModelPerformanceSpec::default();
        let check = assess_window(
            &spec,
            &reference,
            &scored(&reference[..1000]),
            &reference[..50],
            counts(1000, 50),
            &mut [],
        );
        let brief = PerformanceBrief::of(&check, &spec.metrics);
        assert_eq!(brief.reason.as_deref(), Some("InsufficientLabels"));
        assert!(brief.realized.is_empty());
        assert_eq!(brief.labelled, 50);
    }
}
