//! Splitting rows into chunks as NannyML's `SizeBasedChunker` / `CountBasedChunker` do
//! (`incomplete="keep"`): full chunks of `size` rows in order, and the remainder as a
//! last, smaller chunk. `Count(n)` is `Size(rows / n)`, so it can give n + 1 chunks.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::error::PerformanceError;

/// How rows are grouped into chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Chunking {
    /// Chunks of this many rows (the last may be smaller).
    Size(usize),
    /// About this many chunks of equal size (NannyML: size = rows / count).
    Count(usize),
}

impl Chunking {
    /// The row ranges of the chunks of `rows` rows.
    pub fn split(self, rows: usize) -> Result<Vec<Range<usize>>, PerformanceError> {
        let size = match self {
            Chunking::Size(0) => {
                return Err(PerformanceError::InvalidChunking(
                    "chunk size must be at least 1".into(),
                ))
            }
            Chunking::Size(size) => size,
            Chunking::Count(0) => {
                return Err(PerformanceError::InvalidChunking(
                    "chunk count must be at least 1".into(),
                ))
            }
            Chunking::Count(count) if rows < count => {
                return Err(PerformanceError::InvalidChunking(format!(
                    "{rows} rows cannot make {count} chunks"
                )))
            }
            Chunking::Count(count) => rows / count,
        };
        Ok((0..rows)
            .step_by(size)
            .map(|start| start..(start + size).min(rows))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_incomplete_chunk() {
        assert_eq!(
            Chunking::Size(4).split(10).expect("chunks"),
            vec![0..4, 4..8, 8..10]
        );
        assert_eq!(
            Chunking::Size(5).split(10).expect("chunks"),
            vec![0..5, 5..10]
        );
        // 10 rows in 3 chunks: size 3, and the remainder makes a fourth.
        assert_eq!(
            Chunking::Count(3).split(10).expect("chunks"),
            vec![0..3, 3..6, 6..9, 9..10]
        );
        assert!(Chunking::Size(3).split(0).expect("chunks").is_empty());
        assert!(Chunking::Size(0).split(10).is_err());
        assert!(Chunking::Count(11).split(10).is_err());
    }
}
