//! An inference request's input tensors → the model's [`Columns`]: one `[N, F]` numeric
//! tensor for a model whose features are all numeric, or one tensor per feature (shape
//! `[N]` or `[N, 1]`, BYTES for categoricals; MLServer's `content_type: "pd"`). Every
//! problem names the input (`inputs.<name>`) and all are reported at once.

use vigil_core::data::schema::FeatureType;

use super::tensor::{Datatype, RequestInput};
use crate::columns::{Column, Columns};
use crate::error::{AppError, Problem};
use crate::served::LoadedModel;

/// How the features arrived: names problems in the terms of the request.
#[derive(Clone, Debug, PartialEq)]
pub enum Layout {
    /// One tensor per feature, named like it.
    PerColumn,
    /// One `[N, F]` tensor of this name, features in schema order.
    Matrix(String),
}

impl Layout {
    /// The request's path of feature `feature`'s value in row `row`.
    pub fn field(&self, model: &LoadedModel, feature: usize, row: usize) -> String {
        let name = &model.artifact.schema.features[feature].name;
        match self {
            Layout::PerColumn => format!("inputs.{name}[{row}]"),
            Layout::Matrix(input) => format!("inputs.{input}[{row}][{feature}] (feature {name})"),
        }
    }
}

/// The tensor name the model metadata gives the `[N, F]` input of an all-numeric model.
pub const MATRIX_INPUT: &str = "input";

/// Whether every feature is numeric, so that one `[N, F]` tensor can carry them.
pub fn all_numeric(model: &LoadedModel) -> bool {
    model
        .artifact
        .schema
        .features
        .iter()
        .all(|f| f.kind == FeatureType::Numeric)
}

fn problem(input: &str, text: impl Into<String>, kind: &'static str) -> Problem {
    Problem::new(format!("inputs.{input}"), text, kind)
}

/// Decodes the inputs into columns; more than `max_rows` rows is a 413.
pub fn decode(
    model: &LoadedModel,
    inputs: Vec<RequestInput>,
    max_rows: usize,
) -> Result<(Columns, Layout), AppError> {
    let mut problems = Vec::new();
    for input in &inputs {
        if input.data.is_none() {
            let text = if input.parameters.binary_data_size.is_some() {
                "says binary_data_size, but the request has no Inference-Header-Content-Length header"
            } else {
                "has no `data`"
            };
            problems.push(problem(&input.name, text, "missing"));
        }
    }
    if !problems.is_empty() {
        return Err(AppError::invalid(problems));
    }
    let matrix = match inputs.as_slice() {
        [only] if all_numeric(model) => {
            model.feature_index(&only.name).is_none()
                || (only.shape.len() == 2 && only.shape[1] > 1)
        }
        _ => false,
    };
    let (columns, layout) = if matrix {
        let input = inputs.into_iter().next().ok_or(AppError::EmptyBody)?;
        let name = input.name.clone();
        (
            decode_matrix(model, input, &mut problems),
            Layout::Matrix(name),
        )
    } else {
        (
            decode_columns(model, inputs, &mut problems),
            Layout::PerColumn,
        )
    };
    if !problems.is_empty() {
        return Err(AppError::invalid(problems));
    }
    let columns = columns.ok_or_else(|| AppError::invalid(Vec::new()))?;
    if columns.rows == 0 {
        return Err(AppError::invalid(vec![Problem::new(
            "inputs",
            "hold no rows; send at least one",
            "empty_batch",
        )]));
    }
    if columns.rows > max_rows {
        return Err(AppError::PayloadTooLarge(format!(
            "the inputs hold {} rows, more than the limit of {max_rows}; split the request",
            columns.rows
        )));
    }
    Ok((columns, layout))
}

/// The rows of a tensor of shape `shape` holding `len` elements of `width` per row.
fn rows_of(input: &str, shape: &[i64], width: usize, len: usize) -> Result<usize, Problem> {
    let expected = if width == 1 {
        "[N] or [N, 1]".to_string()
    } else {
        format!("[N, {width}]")
    };
    let rows = match shape {
        [n] if width == 1 => *n,
        [n, w] if *w == width as i64 => *n,
        _ => -1,
    };
    let Ok(rows) = usize::try_from(rows) else {
        return Err(problem(
            input,
            format!("has shape {shape:?}; expected {expected}"),
            "wrong_shape",
        ));
    };
    if rows.checked_mul(width) != Some(len) {
        return Err(problem(
            input,
            format!("has shape {shape:?} but {len} data elements"),
            "wrong_shape",
        ));
    }
    Ok(rows)
}

fn check_datatype(input: &RequestInput, want: Datatype, problems: &mut Vec<Problem>) -> bool {
    let ok = Datatype::parse(&input.datatype) == Some(want);
    if !ok {
        let expected = match want {
            Datatype::Number => "a numeric datatype (FP32, FP64, INT64, …)",
            Datatype::Bytes => "BYTES",
            Datatype::Bool => "BOOL",
        };
        problems.push(problem(
            &input.name,
            format!("has datatype `{}`; expected {expected}", input.datatype),
            "wrong_type",
        ));
    }
    ok
}

fn decode_matrix(
    model: &LoadedModel,
    input: RequestInput,
    problems: &mut Vec<Problem>,
) -> Option<Columns> {
    let width = model.n_features();
    if !check_datatype(&input, Datatype::Number, problems) {
        return None;
    }
    let data = input.data?;
    let rows = match rows_of(&input.name, &input.shape, width, data.len()) {
        Ok(rows) => rows,
        Err(p) => {
            problems.push(p);
            return None;
        }
    };
    let values = match data.into_numeric() {
        Ok(values) => values,
        Err(found) => {
            problems.push(problem(
                &input.name,
                format!("must hold numbers, found {found}"),
                "wrong_type",
            ));
            return None;
        }
    };
    // Row-major [N, F] → one column per feature.
    let columns = (0..width)
        .map(|f| Column::Numeric(values.iter().skip(f).step_by(width).copied().collect()))
        .collect();
    Some(Columns { rows, columns })
}

fn decode_columns(
    model: &LoadedModel,
    inputs: Vec<RequestInput>,
    problems: &mut Vec<Problem>,
) -> Option<Columns> {
    let features = &model.artifact.schema.features;
    let mut columns: Vec<Option<Column>> = vec![None; features.len()];
    // The first input's row count, by name: every other input must match it.
    let mut rows: Option<(usize, String)> = None;
    for input in inputs {
        let Some(i) = model.feature_index(&input.name) else {
            problems.push(problem(
                &input.name,
                "is not a feature of this model (see GET /v2/models/{model} for its inputs)",
                "unknown",
            ));
            continue;
        };
        if columns[i].is_some() {
            problems.push(problem(&input.name, "is given more than once", "duplicate"));
            continue;
        }
        let numeric = features[i].kind == FeatureType::Numeric;
        let want = if numeric {
            Datatype::Number
        } else {
            Datatype::Bytes
        };
        if !check_datatype(&input, want, problems) {
            continue;
        }
        let Some(data) = input.data else { continue };
        let n = match rows_of(&input.name, &input.shape, 1, data.len()) {
            Ok(n) => n,
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        match &rows {
            Some((first, other)) if *first != n => {
                problems.push(problem(
                    &input.name,
                    format!("has {n} rows but inputs.{other} has {first}"),
                    "wrong_shape",
                ));
                continue;
            }
            Some(_) => {}
            None => rows = Some((n, input.name.clone())),
        }
        match data.into_column(numeric) {
            Ok(column) => columns[i] = Some(column),
            Err(found) => {
                let expected = if numeric { "numbers" } else { "strings" };
                problems.push(problem(
                    &input.name,
                    format!("must hold {expected}, found {found}"),
                    "wrong_type",
                ));
            }
        }
    }
    let mut complete = Vec::with_capacity(columns.len());
    for (column, spec) in columns.into_iter().zip(features) {
        match column {
            Some(column) => complete.push(column),
            None if problems
                .iter()
                .any(|p| p.field == format!("inputs.{}", spec.name)) => {}
            None => problems.push(problem(
                &spec.name,
                "is required but missing (one input per feature)",
                "missing",
            )),
        }
    }
    if !problems.is_empty() {
        return None;
    }
    let rows = rows.map_or(0, |(n, _)| n);
    Some(Columns {
        rows,
        columns: complete,
    })
}
