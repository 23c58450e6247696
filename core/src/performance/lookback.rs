//! Labels that arrive after their window was checked: the `maxLabelDelay` lookback.
//!
//! A scheduled check sees only the labels that arrived in its own window. A label for
//! a prediction of an earlier window (the usual case with delayed ground truth) would
//! be an orphan, and the earlier window would stay unrealized. So each check keeps,
//! per window and for `maxLabelDelay`, the window's scored predictions (a
//! [`ScoredPrediction`] each: request-id hash, time, score, decision: 25 bytes) and
//! the labelled rows joined so far ([`KeyedRow`]: 18 bytes). A later check matches
//! its unmatched labels ([`Lookback`]) against those files, newest window first, and
//! the windows that gained labels are realized again ([`super::assess_window`]).
//!
//! **Ids are hashed** (64 bits, [`crate::drift::sketch::hash_str`]) so the files do not
//! grow with id length; two ids of a lookback share a hash with probability about
//! labels × predictions ÷ 2⁶⁴ (1e-6 for a million labels against 10⁷ predictions).
//!
//! **Memory.** One entry per unmatched label (bounded by the join's label budget) and
//! the rows the lookback joins; a window's scored file is read one at a time.
//!
//! **Last write wins across checks.** A different label for an id a window already
//! holds replaces that row (counted as a duplicate), as within one check; the same
//! label read again (check windows overlap when the schedule is shorter than the
//! window) changes nothing.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use super::join::JoinCounts;
use super::metric::LabelledRow;

/// A logged prediction as a window's scored file keeps it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoredPrediction {
    pub id_hash: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    pub score: f64,
    pub predicted: bool,
}

/// A labelled row of a window with its request-id hash (for last write wins).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KeyedRow {
    pub id_hash: u64,
    pub row: LabelledRow,
}

const SCORED_MAGIC: &[u8; 8] = b"VGSCORE1";
const LABELLED_MAGIC: &[u8; 8] = b"VGLABEL1";
const SCORED_LEN: usize = 25;
const LABELLED_LEN: usize = 18;

/// A file that is not what its name says (truncated, another format).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Vigil {kind} file: {reason}")]
pub struct FormatError {
    pub kind: &'static str,
    pub reason: String,
}

pub fn encode_scored(rows: &[ScoredPrediction]) -> Vec<u8> {
    let mut out = Vec::with_capacity(SCORED_MAGIC.len() + rows.len() * SCORED_LEN);
    out.extend_from_slice(SCORED_MAGIC);
    for r in rows {
        out.extend_from_slice(&r.id_hash.to_le_bytes());
        out.extend_from_slice(&r.timestamp_ms.to_le_bytes());
        out.extend_from_slice(&r.score.to_le_bytes());
        out.push(u8::from(r.predicted));
    }
    out
}

/// The rows of a scored file, decoded as they are iterated.
pub fn decode_scored(
    bytes: &[u8],
) -> Result<impl Iterator<Item = ScoredPrediction> + '_, FormatError> {
    let body = body(bytes, SCORED_MAGIC, SCORED_LEN, "scored-predictions")?;
    Ok(body.chunks_exact(SCORED_LEN).map(|c| ScoredPrediction {
        id_hash: u64::from_le_bytes(word(&c[0..8])),
        timestamp_ms: i64::from_le_bytes(word(&c[8..16])),
        score: f64::from_le_bytes(word(&c[16..24])),
        predicted: c[24] != 0,
    }))
}

pub fn encode_labelled(rows: &[KeyedRow]) -> Vec<u8> {
    let mut out = Vec::with_capacity(LABELLED_MAGIC.len() + rows.len() * LABELLED_LEN);
    out.extend_from_slice(LABELLED_MAGIC);
    for r in rows {
        out.extend_from_slice(&r.id_hash.to_le_bytes());
        out.extend_from_slice(&r.row.score.to_le_bytes());
        out.push(u8::from(r.row.predicted));
        out.push(u8::from(r.row.label));
    }
    out
}

pub fn decode_labelled(bytes: &[u8]) -> Result<Vec<KeyedRow>, FormatError> {
    let body = body(bytes, LABELLED_MAGIC, LABELLED_LEN, "labelled-rows")?;
    Ok(body
        .chunks_exact(LABELLED_LEN)
        .map(|c| KeyedRow {
            id_hash: u64::from_le_bytes(word(&c[0..8])),
            row: LabelledRow {
                score: f64::from_le_bytes(word(&c[8..16])),
                predicted: c[16] != 0,
                label: c[17] != 0,
            },
        })
        .collect())
}

fn body<'a>(
    bytes: &'a [u8],
    magic: &[u8; 8],
    len: usize,
    kind: &'static str,
) -> Result<&'a [u8], FormatError> {
    let error = |reason: String| FormatError { kind, reason };
    let body = bytes
        .strip_prefix(magic.as_slice())
        .ok_or_else(|| error("wrong header".into()))?;
    if body.len() % len != 0 {
        return Err(error(format!(
            "{} bytes are not whole {len}-byte rows (truncated?)",
            body.len()
        )));
    }
    Ok(body)
}

fn word(bytes: &[u8]) -> [u8; 8] {
    bytes.try_into().expect("8-byte slice of an exact chunk")
}

/// A label the check's own window did not match.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PendingLabel {
    pub positive: bool,
    pub timestamp: DateTime<Utc>,
}

/// What the lookback joined into one earlier window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Joined {
    pub rows: Vec<KeyedRow>,
    /// Labels that found their prediction more than `maxLabelDelay` before them.
    pub late: usize,
}

/// The check's unmatched labels, matched against earlier windows one at a time.
#[derive(Debug)]
pub struct Lookback {
    pending: HashMap<u64, PendingLabel>,
    max_label_delay: Duration,
    joined: usize,
    late: usize,
}

impl Lookback {
    pub fn new(pending: HashMap<u64, PendingLabel>, max_label_delay: Duration) -> Lookback {
        Lookback {
            pending,
            max_label_delay,
            joined: 0,
            late: 0,
        }
    }

    /// Whether any label is still unmatched (no further window need be read).
    pub fn is_done(&self) -> bool {
        self.pending.is_empty()
    }

    /// Matches one earlier window's predictions; a label joins the first prediction
    /// of its id it meets (windows are read newest first) and is then settled.
    pub fn match_window(&mut self, predictions: impl Iterator<Item = ScoredPrediction>) -> Joined {
        let mut joined = Joined::default();
        for p in predictions {
            let Some(label) = self.pending.remove(&p.id_hash) else {
                continue;
            };
            let Some(made) = DateTime::from_timestamp_millis(p.timestamp_ms) else {
                continue;
            };
            if label.timestamp > made + self.max_label_delay {
                joined.late += 1;
                continue;
            }
            joined.rows.push(KeyedRow {
                id_hash: p.id_hash,
                row: LabelledRow {
                    score: p.score,
                    predicted: p.predicted,
                    label: label.positive,
                },
            });
        }
        self.joined += joined.rows.len();
        self.late += joined.late;
        joined
    }

    /// The window's counts with the lookback's outcome: labels joined to earlier
    /// windows are `previous_window` (not orphans), late ones `late`.
    pub fn settle(self, counts: &mut JoinCounts) {
        let found = self.joined + self.late;
        counts.orphans = counts.orphans.saturating_sub(found);
        counts.previous_window += self.joined;
        counts.late += self.late;
    }
}

/// What merging a lookback's rows into a window changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Merged {
    /// Ids the window had no label for.
    pub added: usize,
    /// Ids whose label changed (a later write).
    pub replaced: usize,
}

impl Merged {
    pub fn changed(&self) -> bool {
        self.added + self.replaced > 0
    }
}

/// `existing` with `joined` merged in, last write wins by id hash. A row equal to the
/// one held changes nothing: overlapping check windows read the same label again.
pub fn merge_labelled(existing: &mut Vec<KeyedRow>, joined: Vec<KeyedRow>) -> Merged {
    let at: HashMap<u64, usize> = existing
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id_hash, i))
        .collect();
    let mut merged = Merged::default();
    for row in joined {
        match at.get(&row.id_hash) {
            Some(&i) if existing[i] == row => {}
            Some(&i) => {
                existing[i] = row;
                merged.replaced += 1;
            }
            None => {
                existing.push(row);
                merged.added += 1;
            }
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(seconds, 0).single().expect("time")
    }

    fn prediction(id: u64, seconds: i64, score: f64) -> ScoredPrediction {
        ScoredPrediction {
            id_hash: id,
            timestamp_ms: seconds * 1000,
            score,
            predicted: score >= 0.5,
        }
    }

    #[test]
    fn files_round_trip_and_refuse_truncation() {
        let scored = vec![prediction(7, 10, 0.25), prediction(u64::MAX, -5, 0.75)];
        let bytes = encode_scored(&scored);
        assert_eq!(bytes.len(), 8 + 2 * 25);
        let back: Vec<_> = decode_scored(&bytes).expect("decodes").collect();
        assert_eq!(back, scored);
        assert!(decode_scored(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode_scored(b"VGLABEL1").is_err(), "another kind's header");

        let labelled = vec![KeyedRow {
            id_hash: 3,
            row: LabelledRow {
                score: 0.9,
                predicted: true,
                label: false,
            },
        }];
        let bytes = encode_labelled(&labelled);
        assert_eq!(bytes.len(), 8 + 18);
        assert_eq!(decode_labelled(&bytes).expect("decodes"), labelled);
        assert!(decode_labelled(&bytes[..20]).is_err());
    }

    /// Three earlier windows; labels for the newest and the oldest, one late, one for
    /// no window at all: each lands in its window, and the counts move from orphans.
    #[test]
    fn matches_labels_to_their_windows_and_counts_the_rest() {
        let delay = Duration::seconds(100);
        let pending: HashMap<u64, PendingLabel> = [
            (1, true, 250),  // window 3 (newest), prediction at 210
            (2, false, 260), // window 1, prediction at 10: 250 s later, late
            (3, true, 150),  // window 1, prediction at 60
            (9, true, 255),  // no window holds it: stays an orphan
        ]
        .into_iter()
        .map(|(id, positive, seconds)| {
            (
                id,
                PendingLabel {
                    positive,
                    timestamp: at(seconds),
                },
            )
        })
        .collect();
        let mut lookback = Lookback::new(pending, delay);
        let newest =
            lookback.match_window([prediction(5, 200, 0.1), prediction(1, 210, 0.8)].into_iter());
        assert_eq!(newest.rows.len(), 1);
        assert_eq!(
            newest.rows[0].row,
            LabelledRow {
                score: 0.8,
                predicted: true,
                label: true
            }
        );
        let middle = lookback.match_window([prediction(6, 120, 0.3)].into_iter());
        assert_eq!(middle, Joined::default());
        let oldest =
            lookback.match_window([prediction(2, 10, 0.4), prediction(3, 60, 0.6)].into_iter());
        assert_eq!((oldest.rows.len(), oldest.late), (1, 1));
        assert_eq!(oldest.rows[0].id_hash, 3);
        assert!(!lookback.is_done(), "id 9 is still pending");

        let mut counts = JoinCounts {
            orphans: 4,
            late: 2,
            ..JoinCounts::default()
        };
        lookback.settle(&mut counts);
        assert_eq!(
            (counts.orphans, counts.previous_window, counts.late),
            (1, 2, 3)
        );
    }

    #[test]
    fn a_later_label_replaces_the_row_of_its_id() {
        let row = |id, label| KeyedRow {
            id_hash: id,
            row: LabelledRow {
                score: 0.7,
                predicted: true,
                label,
            },
        };
        let mut rows = vec![row(1, true), row(2, true)];
        let merged = merge_labelled(&mut rows, vec![row(1, true), row(2, false), row(3, false)]);
        assert_eq!(
            merged,
            Merged {
                added: 1,
                replaced: 1
            }
        );
        assert_eq!(rows, vec![row(1, true), row(2, false), row(3, false)]);
        let again = merge_labelled(&mut rows, vec![row(3, false)]);
        assert!(
            !again.changed(),
            "the same label read again changes nothing"
        );
    }
}
