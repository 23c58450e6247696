//! The assessed version's earlier windows in the store, for the `maxLabelDelay`
//! lookback ([`vigil_core::performance::Lookback`]): labels that arrive after their
//! window was checked still realize it.
//!
//! **Layout.** `performance/windows/<version>/<window end>/`: `state.json` (the window
//! as it stands: estimate, realized, gaps), `scored.bin` (its predictions: request-id
//! hash, time, score, decision; 25 bytes each) and `labelled.bin` (its labelled rows;
//! 18 bytes each). A check writes its own window's three files, rewrites the state and
//! labelled rows of the windows its lookback realized again, and deletes the windows
//! whose predictions no label can reach any more (ended more than `maxLabelDelay`
//! before this window began).
//!
//! **Reads.** Every state of the horizon (small: the figures of one window); the scored
//! files newest first, one at a time, only while labels are unmatched, and the labelled
//! rows of the windows that gained labels. Never the prediction log.
//!
//! A file that cannot be read or parsed is skipped with a warning (its window is not
//! realized again); a failed write fails the check, as the report's own would.

use bytes::Bytes;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use vigil_core::data::storage::{Store, StoreError};
use vigil_core::performance::{
    decode_labelled, decode_scored, encode_labelled, encode_scored, merge_labelled, EarlierWindow,
    JoinCounts, KeyedRow, Lookback, PendingLabel, Relabelled, ScoredPrediction, WindowState,
};

use super::window::Span;
use super::{report_stem, DriftError};

pub const WINDOWS_PREFIX: &str = "performance/windows";

/// The version's windows within the horizon, oldest first, as this check found them.
pub struct History<'s> {
    store: &'s Store,
    version: String,
    /// Each earlier window's directory, beside [`History::earlier`].
    dirs: Vec<String>,
    pub earlier: Vec<EarlierWindow>,
    /// The merged labelled rows of the windows the lookback realized again.
    relabelled: Vec<Option<Vec<KeyedRow>>>,
}

impl<'s> History<'s> {
    /// The states of the version's windows that ended at most `max_label_delay` before
    /// `span` began (and before this check).
    pub async fn load(
        store: &'s Store,
        version: &str,
        span: Span,
        max_label_delay: Duration,
    ) -> Result<History<'s>, DriftError> {
        let prefix = format!("{WINDOWS_PREFIX}/{version}");
        let horizon = span.since - max_label_delay;
        let mut dirs = Vec::new();
        let mut earlier = Vec::new();
        for stem in store.list_dirs(&prefix).await? {
            let Some(until) = time_of(&stem) else {
                continue;
            };
            if until < horizon || until >= span.until {
                continue;
            }
            let dir = format!("{prefix}/{stem}");
            match read_state(store, &dir).await {
                Ok(state) => {
                    dirs.push(dir);
                    earlier.push(EarlierWindow {
                        state,
                        relabelled: None,
                    });
                }
                Err(e) => tracing::warn!(window = %dir, error = %e,
                    "an earlier window's state is unreadable; it is not realized again"),
            }
        }
        let relabelled = vec![None; earlier.len()];
        Ok(History {
            store,
            version: version.to_string(),
            dirs,
            earlier,
            relabelled,
        })
    }

    /// Matches the labels the window did not claim against the earlier windows, newest
    /// first, until none is left; `counts` moves the found ones from orphans. An
    /// unreadable file is skipped with a warning (its window keeps what it had).
    pub async fn look_back(
        &mut self,
        pending: std::collections::HashMap<u64, PendingLabel>,
        max_label_delay: Duration,
        counts: &mut JoinCounts,
    ) {
        let mut lookback = Lookback::new(pending, max_label_delay);
        for i in (0..self.earlier.len()).rev() {
            if lookback.is_done() {
                break;
            }
            let key = format!("{}/scored.bin", self.dirs[i]);
            let bytes = match self.store.get(&key).await {
                Ok(bytes) => bytes,
                Err(e) => {
                    tracing::warn!(file = %key, error = %e, "an earlier window's predictions are unreadable");
                    continue;
                }
            };
            let joined = match decode_scored(&bytes) {
                Ok(rows) => lookback.match_window(rows),
                Err(e) => {
                    tracing::warn!(file = %key, error = %e, "an earlier window's predictions are unreadable");
                    continue;
                }
            };
            if joined.rows.is_empty() {
                continue;
            }
            let mut rows = read_labelled(self.store, &self.dirs[i]).await;
            let merged = merge_labelled(&mut rows, joined.rows);
            counts.duplicates += merged.replaced;
            if !merged.changed() {
                continue;
            }
            self.earlier[i].relabelled = Some(Relabelled {
                rows: rows.iter().map(|r| r.row).collect(),
                added: merged.added + merged.replaced,
            });
            self.relabelled[i] = Some(rows);
        }
        lookback.settle(counts);
    }

    /// Stores this check's window and the earlier ones realized again, and deletes the
    /// windows beyond the horizon.
    pub async fn save(
        self,
        current: &WindowState,
        scored: &[ScoredPrediction],
        labelled: &[KeyedRow],
        max_label_delay: Duration,
    ) -> Result<(), DriftError> {
        let dir = format!(
            "{WINDOWS_PREFIX}/{}/{}",
            self.version,
            report_stem(current.until)
        );
        put(
            self.store,
            &format!("{dir}/scored.bin"),
            encode_scored(scored),
        )
        .await?;
        write_window(self.store, &dir, current, labelled).await?;
        for ((dir, window), rows) in self.dirs.iter().zip(&self.earlier).zip(&self.relabelled) {
            if let Some(rows) = rows {
                write_window(self.store, dir, &window.state, rows).await?;
            }
        }
        prune(self.store, current.since - max_label_delay).await
    }
}

/// A window's end from its directory name (a report stem).
fn time_of(stem: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(stem, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|t| t.and_utc())
}

async fn read_state(store: &Store, dir: &str) -> Result<WindowState, String> {
    let bytes = store
        .get(&format!("{dir}/state.json"))
        .await
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

/// A window's labelled rows; none when it has no file yet (or an unreadable one).
async fn read_labelled(store: &Store, dir: &str) -> Vec<KeyedRow> {
    let key = format!("{dir}/labelled.bin");
    let decoded = match store.get(&key).await {
        Ok(bytes) => decode_labelled(&bytes).map_err(|e| e.to_string()),
        Err(StoreError::NotFound { .. }) => Ok(Vec::new()),
        Err(e) => Err(e.to_string()),
    };
    decoded.unwrap_or_else(|e| {
        tracing::warn!(file = %key, error = %e, "an earlier window's labelled rows are unreadable; starting them again");
        Vec::new()
    })
}

async fn write_window(
    store: &Store,
    dir: &str,
    state: &WindowState,
    labelled: &[KeyedRow],
) -> Result<(), DriftError> {
    put(
        store,
        &format!("{dir}/labelled.bin"),
        encode_labelled(labelled),
    )
    .await?;
    let json = serde_json::to_vec(state).unwrap_or_default();
    put(store, &format!("{dir}/state.json"), json).await
}

async fn put(store: &Store, key: &str, bytes: Vec<u8>) -> Result<(), DriftError> {
    Ok(store.put(key, Bytes::from(bytes)).await?)
}

/// Deletes the windows (of every version) that ended before `horizon`.
async fn prune(store: &Store, horizon: DateTime<Utc>) -> Result<(), DriftError> {
    for version in store.list_dirs(WINDOWS_PREFIX).await? {
        let prefix = format!("{WINDOWS_PREFIX}/{version}");
        for stem in store.list_dirs(&prefix).await? {
            if time_of(&stem).is_some_and(|until| until < horizon) {
                for key in store.list(&format!("{prefix}/{stem}")).await? {
                    store.delete(&key).await?;
                }
            }
        }
    }
    Ok(())
}
