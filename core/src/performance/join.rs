//! Delayed labels joined to the predictions of one window.
//!
//! A window is the predictions made in `[since, until]`. A label counts for a
//! prediction when it names the same `request_id` and arrived at most
//! `max_label_delay` after it; it is read if it arrived in `[since, until +
//! max_label_delay]` (a later label is late for every prediction of the window).
//!
//! Counted, per window: predictions; labels read; labelled predictions (joined);
//! `late` (a label for a window prediction that arrived after the delay: counted, not
//! joined); `duplicates` (label records beyond the first for an id: the last write
//! wins — latest arrival time, then latest read); `orphans` (labels whose id matches no
//! prediction of the window nor of the `max_label_delay` before it); `previous_window`
//! (labels for predictions made before the window: neither joined nor orphans).
//!
//! **Memory.** Labels go in first ([`LabelJoin::add_label`]); the join then holds one
//! small entry per distinct labelled id read (the id, the label, its time), at most
//! `label_budget` of them, or it stops with [`PerformanceError::LabelBudgetExceeded`].
//! Predictions are then streamed ([`LabelMatcher::add_prediction`]) and never retained:
//! only a joined prediction's score and decision are kept, one row per labelled id.
//! The prediction log is never held, however large the window.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::error::PerformanceError;
use super::lookback::{KeyedRow, PendingLabel};
use super::metric::LabelledRow;
use crate::drift::sketch::hash_str;

/// The window and its limits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JoinParams {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub max_label_delay: Duration,
    /// The most distinct labelled ids held at once.
    pub label_budget: usize,
}

/// A `/feedback` label as the join sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LabelRecord<'a> {
    pub request_id: &'a str,
    /// Whether the label is the positive class; None when it names no class of the model.
    pub positive: Option<bool>,
    pub timestamp: DateTime<Utc>,
}

/// A logged prediction as the join sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PredictionRecordRef<'a> {
    pub request_id: &'a str,
    pub timestamp: DateTime<Utc>,
    /// Probability of the positive class.
    pub score: f64,
    pub predicted: bool,
}

/// What the join counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinCounts {
    pub predictions: usize,
    pub labels_read: usize,
    pub labelled: usize,
    /// labelled ÷ predictions (0 without predictions).
    pub label_coverage: f64,
    pub late: usize,
    pub duplicates: usize,
    pub orphans: usize,
    pub previous_window: usize,
    /// Labels naming no class of the model (counted, ignored).
    pub invalid: usize,
    /// Predictions logged twice under one request id (the first one joins).
    pub duplicate_predictions: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Matched {
    No,
    Window,
    PreviousWindow,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    positive: bool,
    timestamp: DateTime<Utc>,
    matched: Matched,
}

/// Phase 1: the labels of the window.
#[derive(Debug)]
pub struct LabelJoin {
    params: JoinParams,
    labels: HashMap<String, Entry>,
    counts: JoinCounts,
}

impl LabelJoin {
    pub fn new(params: JoinParams) -> LabelJoin {
        LabelJoin {
            params,
            labels: HashMap::new(),
            counts: JoinCounts::default(),
        }
    }

    /// Reads one label (in arrival order); labels outside the read range are ignored.
    pub fn add_label(&mut self, label: LabelRecord<'_>) -> Result<(), PerformanceError> {
        let p = &self.params;
        if label.timestamp < p.since || label.timestamp > p.until + p.max_label_delay {
            return Ok(());
        }
        self.counts.labels_read += 1;
        let Some(positive) = label.positive else {
            self.counts.invalid += 1;
            return Ok(());
        };
        let entry = Entry {
            positive,
            timestamp: label.timestamp,
            matched: Matched::No,
        };
        match self.labels.get_mut(label.request_id) {
            Some(existing) => {
                self.counts.duplicates += 1;
                if label.timestamp >= existing.timestamp {
                    *existing = entry;
                }
            }
            None => {
                if self.labels.len() >= self.params.label_budget {
                    return Err(PerformanceError::LabelBudgetExceeded {
                        held: self.labels.len() + 1,
                        budget: self.params.label_budget,
                    });
                }
                self.labels.insert(label.request_id.to_string(), entry);
            }
        }
        Ok(())
    }

    /// Distinct labelled ids held.
    pub fn held(&self) -> usize {
        self.labels.len()
    }

    /// Phase 2: match predictions against the labels read.
    pub fn into_matcher(self) -> LabelMatcher {
        LabelMatcher {
            join: self,
            rows: Vec::new(),
            hashes: Vec::new(),
        }
    }
}

/// Phase 2: predictions streamed against the labels.
#[derive(Debug)]
pub struct LabelMatcher {
    join: LabelJoin,
    rows: Vec<LabelledRow>,
    /// The request-id hash of each row, for [`LabelMatcher::finish_keyed`].
    hashes: Vec<u64>,
}

impl LabelMatcher {
    /// Matches one prediction. Predictions of the window count; those up to
    /// `max_label_delay` before it only claim their labels (not orphans); others are
    /// ignored.
    pub fn add_prediction(&mut self, prediction: PredictionRecordRef<'_>) {
        let p = self.join.params;
        let in_window = prediction.timestamp >= p.since && prediction.timestamp <= p.until;
        let before =
            prediction.timestamp < p.since && prediction.timestamp >= p.since - p.max_label_delay;
        if !in_window && !before {
            return;
        }
        let counts = &mut self.join.counts;
        if in_window {
            counts.predictions += 1;
        }
        let Some(entry) = self.join.labels.get_mut(prediction.request_id) else {
            return;
        };
        if entry.matched != Matched::No {
            if in_window {
                counts.duplicate_predictions += 1;
            }
            return;
        }
        if !in_window {
            entry.matched = Matched::PreviousWindow;
            return;
        }
        entry.matched = Matched::Window;
        if entry.timestamp > prediction.timestamp + p.max_label_delay {
            counts.late += 1;
        } else {
            self.rows.push(LabelledRow {
                score: prediction.score,
                predicted: prediction.predicted,
                label: entry.positive,
            });
            self.hashes.push(hash_str(prediction.request_id));
        }
    }

    /// The joined rows (in prediction order) and the counts.
    pub fn finish(self) -> (Vec<LabelledRow>, JoinCounts) {
        let mut counts = self.join.counts;
        for entry in self.join.labels.values() {
            match entry.matched {
                Matched::No => counts.orphans += 1,
                Matched::PreviousWindow => counts.previous_window += 1,
                Matched::Window => {}
            }
        }
        counts.labelled = self.rows.len();
        counts.label_coverage = if counts.predictions == 0 {
            0.0
        } else {
            counts.labelled as f64 / counts.predictions as f64
        };
        (self.rows, counts)
    }

    /// [`LabelMatcher::finish`], with each row's request-id hash and the labels no
    /// prediction claimed (by hash), for the lookback into earlier windows.
    pub fn finish_keyed(self) -> (Vec<KeyedRow>, JoinCounts, HashMap<u64, PendingLabel>) {
        let unmatched = self
            .join
            .labels
            .iter()
            .filter(|(_, e)| e.matched == Matched::No)
            .map(|(id, e)| {
                let label = PendingLabel {
                    positive: e.positive,
                    timestamp: e.timestamp,
                };
                (hash_str(id), label)
            })
            .collect();
        let keyed = self
            .hashes
            .iter()
            .zip(&self.rows)
            .map(|(&id_hash, &row)| KeyedRow { id_hash, row })
            .collect();
        let (_, counts) = self.finish();
        (keyed, counts, unmatched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(seconds, 0).single().expect("time")
    }

    fn params(budget: usize) -> JoinParams {
        JoinParams {
            since: at(0),
            until: at(1_000_000),
            max_label_delay: Duration::seconds(100),
            label_budget: budget,
        }
    }

    /// A window far larger than the budget: only the labelled ids are held.
    #[test]
    fn holds_only_the_labelled_ids_of_a_window_larger_than_the_budget() {
        let budget = 1_000;
        let mut join = LabelJoin::new(params(budget));
        let ids: Vec<String> = (0..200_000).map(|i| format!("r{i}")).collect();
        for i in (0..200_000).step_by(250) {
            join.add_label(LabelRecord {
                request_id: &ids[i],
                positive: Some(i % 500 == 0),
                timestamp: at(i as i64 + 5),
            })
            .expect("within budget");
        }
        assert_eq!(join.held(), 800);
        let mut matcher = join.into_matcher();
        for (i, id) in ids.iter().enumerate() {
            matcher.add_prediction(PredictionRecordRef {
                request_id: id,
                timestamp: at(i as i64),
                score: 0.5,
                predicted: true,
            });
        }
        let (rows, counts) = matcher.finish();
        assert_eq!(
            (counts.predictions, counts.labelled, rows.len()),
            (200_000, 800, 800)
        );
        assert!(counts.predictions > budget);
    }

    #[test]
    fn refuses_to_hold_more_labels_than_the_budget() {
        let mut join = LabelJoin::new(params(2));
        let label = |id| LabelRecord {
            request_id: id,
            positive: Some(true),
            timestamp: at(1),
        };
        join.add_label(label("a")).expect("1");
        join.add_label(label("b")).expect("2");
        join.add_label(label("a"))
            .expect("a duplicate holds nothing new");
        assert_eq!(
            join.add_label(label("c")),
            Err(PerformanceError::LabelBudgetExceeded { held: 3, budget: 2 })
        );
    }
}
