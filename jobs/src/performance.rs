//! `vigil performance`: CBPE and realized performance on two files scored by any model
//! (the way NannyML users work): fit on a labelled reference, estimate every chunk of
//! the current data, realize the chunks' labelled rows, write JSON + HTML.

use std::path::{Path, PathBuf};

use serde::Serialize;
use vigil_core::data::dataset::{DataFormat, DatasetError, RawTable};
use vigil_core::performance::{
    Cbpe, CbpeParams, Chunking, LabelledRow, MaybeLabelledRow, PerformanceError, PerformanceReport,
};

use crate::performance_html;

/// What to read and how to estimate.
#[derive(Clone, Debug, PartialEq)]
pub struct PerformanceInput {
    pub reference: PathBuf,
    pub current: PathBuf,
    /// The probability of the positive class.
    pub score_column: String,
    /// The model's decision (positive / negative).
    pub prediction_column: String,
    /// Ground truth: required on every reference row; optional in the current data.
    pub label_column: String,
    /// The positive class's value in the prediction and label columns; without it
    /// `1`/`0` and `true`/`false` are understood.
    pub positive_class: Option<String>,
    pub chunking: Chunking,
    pub min_labeled_samples: usize,
    pub out_dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum PerformanceJobError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("`{path}`: {source}")]
    Dataset { path: String, source: DatasetError },
    #[error("`{path}` row {row}, column `{column}`: {message}")]
    InvalidCell {
        path: String,
        row: usize,
        column: String,
        message: String,
    },
    #[error("performance cannot be estimated: {0}")]
    Refused(#[from] PerformanceError),
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

impl PerformanceJobError {
    /// Bad input (arguments, files, refusals) rather than a failure to write.
    pub fn is_invalid_input(&self) -> bool {
        !matches!(self, PerformanceJobError::Write { .. })
    }

    pub fn reason(&self) -> &'static str {
        match self {
            PerformanceJobError::Read { .. } => "ReadFailed",
            PerformanceJobError::Dataset { .. } => "InvalidData",
            PerformanceJobError::InvalidCell { .. } => "InvalidData",
            PerformanceJobError::Refused(e) => e.reason(),
            PerformanceJobError::Write { .. } => "WriteFailed",
        }
    }
}

/// The report and where it was written.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PerformanceOutcome {
    pub report: PerformanceReport,
    pub json_path: Option<PathBuf>,
    pub html_path: Option<PathBuf>,
}

/// Reads both files, estimates, realizes, writes the reports.
pub fn run_files(input: &PerformanceInput) -> Result<PerformanceOutcome, PerformanceJobError> {
    let reference = read_rows(&input.reference, input)?;
    let reference: Vec<LabelledRow> = reference
        .into_iter()
        .enumerate()
        .map(|(row, r)| match r.label {
            Some(label) => Ok(LabelledRow {
                score: r.score,
                predicted: r.predicted,
                label,
            }),
            None => Err(PerformanceJobError::InvalidCell {
                path: input.reference.display().to_string(),
                row: row + 1,
                column: input.label_column.clone(),
                message: "the reference needs a label on every row".into(),
            }),
        })
        .collect::<Result<_, _>>()?;
    let current = read_rows(&input.current, input)?;
    let params = CbpeParams {
        chunking: input.chunking,
        ..CbpeParams::default()
    };
    let cbpe = Cbpe::fit(&reference, &params)?;
    let report = PerformanceReport::build(&cbpe, &current, input.min_labeled_samples)?;
    let (json_path, html_path) = match &input.out_dir {
        Some(dir) => {
            let (json, html) = write_reports(dir, &report, input)?;
            (Some(json), Some(html))
        }
        None => (None, None),
    };
    Ok(PerformanceOutcome {
        report,
        json_path,
        html_path,
    })
}

fn write_reports(
    dir: &Path,
    report: &PerformanceReport,
    input: &PerformanceInput,
) -> Result<(PathBuf, PathBuf), PerformanceJobError> {
    let write_error = |path: &Path| {
        let path = path.display().to_string();
        move |source| PerformanceJobError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(write_error(dir))?;
    let json_path = dir.join("performance.json");
    let json = serde_json::to_vec_pretty(report).unwrap_or_default();
    std::fs::write(&json_path, json).map_err(write_error(&json_path))?;
    let html_path = dir.join("performance.html");
    let title = format!(
        "{} vs {}",
        file_name(&input.current),
        file_name(&input.reference)
    );
    std::fs::write(&html_path, performance_html::render(report, &title))
        .map_err(write_error(&html_path))?;
    Ok((json_path, html_path))
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The score, decision and (optional) label of every row of a CSV / JSON Lines file.
fn read_rows(
    path: &Path,
    input: &PerformanceInput,
) -> Result<Vec<MaybeLabelledRow>, PerformanceJobError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| PerformanceJobError::Read {
        path: shown.clone(),
        source,
    })?;
    let table = RawTable::parse(&bytes, DataFormat::Auto.resolve(&shown)).map_err(|source| {
        PerformanceJobError::Dataset {
            path: shown.clone(),
            source,
        }
    })?;
    let column = |name: &str| {
        table
            .column(name)
            .ok_or_else(|| PerformanceJobError::Dataset {
                path: shown.clone(),
                source: DatasetError::MissingColumn(name.to_string()),
            })
    };
    let scores = column(&input.score_column)?;
    let predictions = column(&input.prediction_column)?;
    let labels = table.column(&input.label_column);
    let invalid = |row: usize, column: &str, message: String| PerformanceJobError::InvalidCell {
        path: shown.clone(),
        row: row + 1,
        column: column.to_string(),
        message,
    };
    (0..table.n_rows())
        .map(|row| {
            // A missing score is NaN: CBPE refuses it with its row.
            let score = match &scores[row] {
                None => f64::NAN,
                Some(text) => text.trim().parse().map_err(|_| {
                    invalid(
                        row,
                        &input.score_column,
                        format!("`{text}` is not a number"),
                    )
                })?,
            };
            let predicted = match &predictions[row] {
                None => Err(invalid(row, &input.prediction_column, "missing".into())),
                Some(text) => parse_class(text, input.positive_class.as_deref())
                    .map_err(|m| invalid(row, &input.prediction_column, m)),
            }?;
            let label = match labels.and_then(|l| l[row].as_deref()) {
                None => None,
                Some(text) => Some(
                    parse_class(text, input.positive_class.as_deref())
                        .map_err(|m| invalid(row, &input.label_column, m))?,
                ),
            };
            Ok(MaybeLabelledRow {
                score,
                predicted,
                label,
            })
        })
        .collect()
}

/// Whether a class cell is the positive class.
fn parse_class(text: &str, positive: Option<&str>) -> Result<bool, String> {
    let text = text.trim();
    if let Some(positive) = positive {
        return Ok(text == positive);
    }
    match text.to_ascii_lowercase().as_str() {
        "1" | "1.0" | "true" => Ok(true),
        "0" | "0.0" | "false" => Ok(false),
        _ => Err(format!(
            "`{text}` is not 1/0 or true/false (give --positive-class for class names)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_parse_as_numbers_booleans_or_a_named_positive() {
        assert_eq!(parse_class("1.0", None), Ok(true));
        assert_eq!(parse_class("False", None), Ok(false));
        assert!(parse_class(">50K", None).is_err());
        assert_eq!(parse_class(">50K", Some(">50K")), Ok(true));
        assert_eq!(parse_class("<=50K", Some(">50K")), Ok(false));
    }
}
