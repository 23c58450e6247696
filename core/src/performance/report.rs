//! Estimated next to realized performance, per chunk (window), and the concept-drift
//! flag: CBPE sees only the scores, so when the realized value departs from the
//! estimate by more than [`GAP_STANDARD_ERRORS`] standard errors in
//! [`GAP_WINDOWS`] consecutive windows (same direction), the relation between inputs
//! and labels has changed — drift CBPE cannot see.

use serde::{Deserialize, Serialize};

use super::calibration::CalibrationDecision;
use super::cbpe::{Cbpe, ChunkEstimate, Thresholds};
use super::chunk::Chunking;
use super::error::PerformanceError;
use super::metric::{LabelledRow, Metric, ScoredRow};
use super::realized::{realize, RealizedPerformance};

/// A gap counts when |realized − estimated| exceeds this many standard errors ...
pub const GAP_STANDARD_ERRORS: f64 = 3.0;
/// ... in this many consecutive windows.
pub const GAP_WINDOWS: usize = 2;

/// A scored row whose label may not have arrived.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MaybeLabelledRow {
    pub score: f64,
    pub predicted: bool,
    pub label: Option<bool>,
}

/// realized − estimated for one metric in one window.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricGap {
    pub metric: Metric,
    pub gap: f64,
    /// The sampling error of the metric over the window's labelled rows.
    pub standard_error: f64,
    /// |gap| > GAP_STANDARD_ERRORS · standard error.
    pub exceeds: bool,
    /// This window and the ones before it exceed, in the same direction.
    pub sustained: bool,
}

/// One window's estimates, realized values and gaps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowPerformance {
    #[serde(flatten)]
    pub estimate: ChunkEstimate,
    pub rows: usize,
    pub labelled: usize,
    /// Absent when no row of the window has a label.
    pub realized: Option<RealizedPerformance>,
    pub gaps: Vec<MetricGap>,
}

impl WindowPerformance {
    pub fn estimated(&self, metric: Metric) -> Option<f64> {
        self.estimate.get(metric).and_then(|e| e.value)
    }

    /// The realized value as text: `-` without labels, `insufficient` below the minimum.
    pub fn realized_text(&self, metric: Metric) -> String {
        match &self.realized {
            None => "-".into(),
            Some(RealizedPerformance::InsufficientLabels { .. }) => "insufficient".into(),
            Some(r) => r
                .value(metric)
                .map_or_else(|| "-".into(), |v| format!("{v:.4}")),
        }
    }

    /// The names of the metrics whose estimate is outside its thresholds.
    /// Labelled predictions ÷ predictions (0 without predictions).
    pub fn label_coverage(&self) -> f64 {
        if self.rows == 0 {
            0.0
        } else {
            self.labelled as f64 / self.rows as f64
        }
    }

    pub fn alert_names(&self) -> Vec<&'static str> {
        self.estimate
            .estimates
            .iter()
            .filter(|e| e.alert)
            .map(|e| e.metric.as_str())
            .collect()
    }
}

/// What the reference gave the estimator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferenceSummary {
    pub rows: usize,
    pub chunking: Chunking,
    pub calibration: CalibrationDecision,
    pub thresholds: Vec<(Metric, Thresholds)>,
}

/// Estimated and realized performance over a sequence of windows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PerformanceReport {
    pub reference: ReferenceSummary,
    pub windows: Vec<WindowPerformance>,
    /// (window index, metric) of every estimate outside its thresholds.
    pub alerts: Vec<(usize, Metric)>,
    /// A sustained gap in some metric: a sign of concept drift.
    pub concept_drift: bool,
}

impl PerformanceReport {
    /// Estimates every chunk of `rows`, realizes it where labels are present (at least
    /// `min_labeled_samples`) and flags the gaps.
    pub fn build(
        cbpe: &Cbpe,
        rows: &[MaybeLabelledRow],
        min_labeled_samples: usize,
    ) -> Result<PerformanceReport, PerformanceError> {
        let scored: Vec<ScoredRow> = rows
            .iter()
            .map(|r| ScoredRow {
                score: r.score,
                predicted: r.predicted,
            })
            .collect();
        let windows = cbpe
            .estimate(&scored)?
            .into_iter()
            .map(|estimate| {
                let labelled: Vec<LabelledRow> = rows[estimate.start..estimate.end]
                    .iter()
                    .filter_map(|r| {
                        r.label.map(|label| LabelledRow {
                            score: r.score,
                            predicted: r.predicted,
                            label,
                        })
                    })
                    .collect();
                window(cbpe, estimate, &labelled, min_labeled_samples)
            })
            .collect();
        Ok(PerformanceReport::from_windows(cbpe, windows))
    }

    /// A report over windows estimated (and realized) elsewhere, oldest first; the
    /// sustained-gap flags are set here.
    pub fn from_windows(cbpe: &Cbpe, mut windows: Vec<WindowPerformance>) -> PerformanceReport {
        mark_sustained(&mut windows);
        let alerts = windows
            .iter()
            .enumerate()
            .flat_map(|(i, w)| {
                w.estimate
                    .estimates
                    .iter()
                    .filter(|e| e.alert)
                    .map(move |e| (i, e.metric))
            })
            .collect();
        let concept_drift = windows.iter().any(|w| w.gaps.iter().any(|g| g.sustained));
        PerformanceReport {
            reference: ReferenceSummary {
                rows: cbpe.reference_rows(),
                chunking: cbpe.chunking(),
                calibration: cbpe.calibration().clone(),
                thresholds: cbpe
                    .metrics()
                    .iter()
                    .filter_map(|&m| cbpe.thresholds(m).map(|t| (m, t)))
                    .collect(),
            },
            windows,
            alerts,
            concept_drift,
        }
    }
}

/// One window: its estimate, the realized metrics of its labelled rows, the gaps.
pub fn window(
    cbpe: &Cbpe,
    estimate: ChunkEstimate,
    labelled: &[LabelledRow],
    min_labeled_samples: usize,
) -> WindowPerformance {
    let rows = estimate.end - estimate.start;
    let realized = (!labelled.is_empty()).then(|| realize(labelled, min_labeled_samples));
    let gaps = match &realized {
        Some(r @ RealizedPerformance::Measured { .. }) => estimate
            .estimates
            .iter()
            .filter(|e| !e.metric.is_count())
            .filter_map(|e| {
                let gap = r.value(e.metric)? - e.value?;
                let standard_error = cbpe.sampling_error(e.metric, labelled.len());
                Some(MetricGap {
                    metric: e.metric,
                    gap,
                    standard_error,
                    exceeds: gap.abs() > GAP_STANDARD_ERRORS * standard_error,
                    sustained: false,
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    WindowPerformance {
        estimate,
        rows,
        labelled: labelled.len(),
        realized,
        gaps,
    }
}

fn mark_sustained(windows: &mut [WindowPerformance]) {
    for i in GAP_WINDOWS.saturating_sub(1)..windows.len() {
        let (earlier, rest) = windows.split_at_mut(i);
        let run = &earlier[i + 1 - GAP_WINDOWS..];
        for g in rest[0].gaps.iter_mut().filter(|g| g.exceeds) {
            g.sustained = run.iter().all(|w| {
                w.gaps
                    .iter()
                    .any(|p| p.metric == g.metric && p.exceeds && p.gap.signum() == g.gap.signum())
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::performance::CbpeParams;

    fn reference() -> Vec<LabelledRow> {
        (0..2000)
            .map(|i| {
                let score = ((i * 37) % 100) as f64 / 100.0;
                LabelledRow {
                    score,
                    predicted: score >= 0.5,
                    label: ((i * 61) % 100) as f64 / 100.0 < score,
                }
            })
            .collect()
    }

    #[test]
    fn a_sustained_drop_of_the_realized_value_is_concept_drift() {
        let reference = reference();
        let params = CbpeParams {
            chunking: Chunking::Size(500),
            ..CbpeParams::default()
        };
        let cbpe = Cbpe::fit(&reference, &params).expect("fit");
        // Same scores; the last two windows' labels are flipped (the concept changed).
        let rows: Vec<MaybeLabelledRow> = reference
            .iter()
            .enumerate()
            .map(|(i, r)| MaybeLabelledRow {
                score: r.score,
                predicted: r.predicted,
                label: Some(if i >= 1000 { !r.label } else { r.label }),
            })
            .collect();
        let report = PerformanceReport::build(&cbpe, &rows, 50).expect("report");
        let auc_gap = |w: usize| {
            *report.windows[w]
                .gaps
                .iter()
                .find(|g| g.metric == Metric::RocAuc)
                .expect("gap")
        };
        assert!(!auc_gap(0).exceeds && !auc_gap(1).exceeds);
        assert!(
            auc_gap(2).exceeds && !auc_gap(2).sustained,
            "one window is not sustained"
        );
        assert!(auc_gap(3).sustained && auc_gap(3).gap < 0.0);
        assert!(report.concept_drift);
        // Without labels: estimates only, no gaps.
        let unlabelled: Vec<MaybeLabelledRow> = rows
            .iter()
            .map(|r| MaybeLabelledRow { label: None, ..*r })
            .collect();
        let report = PerformanceReport::build(&cbpe, &unlabelled, 50).expect("report");
        assert!(report
            .windows
            .iter()
            .all(|w| w.realized.is_none() && w.gaps.is_empty()));
        assert!(!report.concept_drift);
    }
}
