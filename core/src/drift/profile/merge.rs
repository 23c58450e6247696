//! Profiles are mergeable: the merge of the profiles of two sets of rows is the
//! profile of their union — counts exactly, numeric sketches exactly while both are
//! exact counts and within the KLL bound beyond. This is what lets batch profiles
//! written at serving time, shards of a window and threads of an ad-hoc read be
//! folded apart and added up.

use super::super::sketch::KllError;
use super::{ColumnProfile, LabelProfile, PredictionProfile, WindowProfile};

/// Two profiles that cannot be added up.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("profiles of different schemas: column {index} is `{left}` here and `{right}` there")]
    SchemaMismatch {
        index: usize,
        left: String,
        right: String,
    },
    #[error("profiles with {left} and {right} predicted classes")]
    ClassMismatch { left: usize, right: usize },
    #[error("column `{column}`: {source}")]
    Sketch {
        column: String,
        #[source]
        source: KllError,
    },
}

impl ColumnProfile {
    pub fn merge(&mut self, other: &ColumnProfile) -> Result<(), KllError> {
        self.rows += other.rows;
        self.missing += other.missing;
        self.parse_errors += other.parse_errors;
        self.out_of_range += other.out_of_range;
        self.numeric.merge(&other.numeric)?;
        self.categories.merge(&other.categories);
        Ok(())
    }
}

impl PredictionProfile {
    pub fn merge(&mut self, other: &PredictionProfile) -> Result<(), MergeError> {
        if self.class_counts.len() != other.class_counts.len() {
            return Err(MergeError::ClassMismatch {
                left: self.class_counts.len(),
                right: other.class_counts.len(),
            });
        }
        for (mine, theirs) in self.class_counts.iter_mut().zip(&other.class_counts) {
            *mine += theirs;
        }
        self.unknown_classes += other.unknown_classes;
        self.score
            .merge(&other.score)
            .map_err(|source| MergeError::Sketch {
                column: "(score)".into(),
                source,
            })
    }
}

impl LabelProfile {
    pub fn merge(&mut self, other: &LabelProfile) {
        self.labelled += other.labelled;
        self.correct += other.correct;
        self.unknown_labels += other.unknown_labels;
    }
}

impl WindowProfile {
    /// Adds `other` in (same schema): the profile of both sets of rows.
    pub fn merge(&mut self, other: &WindowProfile) -> Result<(), MergeError> {
        let name = |columns: &[ColumnProfile], i: usize| {
            columns.get(i).map_or_else(
                || "(none)".to_string(),
                |c| format!("{} ({:?})", c.name, c.kind),
            )
        };
        let width = self.columns.len().max(other.columns.len());
        if let Some(index) = (0..width).find(|&i| name(&self.columns, i) != name(&other.columns, i))
        {
            return Err(MergeError::SchemaMismatch {
                index,
                left: name(&self.columns, index),
                right: name(&other.columns, index),
            });
        }
        for (mine, theirs) in self.columns.iter_mut().zip(&other.columns) {
            mine.merge(theirs).map_err(|source| MergeError::Sketch {
                column: mine.name.clone(),
                source,
            })?;
        }
        self.rows += other.rows;
        merge_option(&mut self.predictions, &other.predictions, |a, b| a.merge(b))?;
        merge_option(&mut self.labels, &other.labels, |a, b| {
            a.merge(b);
            Ok(())
        })?;
        merge_option(&mut self.ids, &other.ids, |a, b| {
            a.merge(b);
            Ok(())
        })?;
        self.first_seen = min_option(self.first_seen, other.first_seen, std::cmp::min);
        self.last_seen = min_option(self.last_seen, other.last_seen, std::cmp::max);
        Ok(())
    }
}

/// Merges `theirs` into `mine`, taking it when `mine` has none.
fn merge_option<T: Clone>(
    mine: &mut Option<T>,
    theirs: &Option<T>,
    merge: impl FnOnce(&mut T, &T) -> Result<(), MergeError>,
) -> Result<(), MergeError> {
    match (mine.as_mut(), theirs) {
        (Some(a), Some(b)) => merge(a, b),
        (None, Some(b)) => {
            *mine = Some(b.clone());
            Ok(())
        }
        (_, None) => Ok(()),
    }
}

fn min_option<T: Copy>(a: Option<T>, b: Option<T>, pick: fn(T, T) -> T) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    }
}
