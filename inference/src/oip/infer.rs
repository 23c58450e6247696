//! `POST /v2/models/{model}[/versions/{version}]/infer`: decode the tensors into columns →
//! validate and predict them with `/predict`'s checks, encoder and counters → answer →
//! log every row exactly as `/predict` logs it.

use std::sync::Arc;
use std::time::Instant;

use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use serde::{Serialize, Serializer};
use vigil_core::data::schema::{FeatureType, FieldProblem, Value};
use vigil_core::train::model::EntrySum;
use vigil_core::train::pipeline::Encoded;

use super::inputs::{self, Layout};
use super::tensor::InferRequest;
use crate::columns::{Column, Columns, MISSING_CODE};
use crate::error::{AppError, Problem};
use crate::handlers::predict::{
    argmax, check_value, count_answers, count_encoded, count_problems, encode_problem,
    predict_row_entries, Tally,
};
use crate::json;
use crate::parse::MAX_REQUEST_ID_CHARS;
use crate::record::{PredictionBatch, RequestIds};
use crate::served::LoadedModel;
use crate::state::{AppState, OutOfRange};

pub const CLASS_OUTPUT: &str = "predicted_class";
pub const PROBABILITIES_OUTPUT: &str = "probabilities";

/// The predictions of a request's rows.
struct Predicted {
    /// Per row, the index of the class in the schema's classes.
    classes: Vec<u32>,
    /// Row-major `rows × classes`.
    probabilities: Vec<f64>,
}

/// A categorical column's distinct values as typed values, built once per request so
/// each row costs a code, not a string.
fn dictionaries(columns: &Columns) -> Vec<Vec<Value>> {
    columns
        .columns
        .iter()
        .map(|column| match column {
            Column::Categorical(c) => c.dictionary.iter().cloned().map(Value::Category).collect(),
            Column::Numeric(_) => Vec::new(),
        })
        .collect()
}

/// The schema checks of `/predict`, per value; a categorical value is checked once per
/// distinct value and named at its first row.
fn validate(
    model: &LoadedModel,
    columns: &Columns,
    dictionaries: &[Vec<Value>],
    layout: &Layout,
    out_of_range: OutOfRange,
    tally: &mut Tally,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut report = |i: usize, row: usize, problem: vigil_core::data::schema::FieldProblem| {
        problems.push(Problem::new(
            layout.field(model, i, row),
            problem.to_string(),
            problem.metric_label(),
        ));
    };
    for (i, column) in columns.columns.iter().enumerate() {
        match column {
            Column::Numeric(values) => {
                if model.artifact.schema.features[i].numbers_pass(values) {
                    continue;
                }
                for (row, x) in values.iter().enumerate() {
                    if let Err(p) =
                        check_value(model, i, &Value::of_number(*x), out_of_range, tally)
                    {
                        report(i, row, p);
                    }
                }
            }
            Column::Categorical(c) => {
                let first_row = |code: u32| c.codes.iter().position(|k| *k == code).unwrap_or(0);
                for (code, value) in dictionaries[i].iter().enumerate() {
                    if let Err(p) = check_value(model, i, value, out_of_range, tally) {
                        report(i, first_row(code as u32), p);
                    }
                }
                if c.codes.contains(&MISSING_CODE) {
                    if let Err(p) = check_value(model, i, &Value::Missing, out_of_range, tally) {
                        report(i, first_row(MISSING_CODE), p);
                    }
                }
            }
        }
    }
    problems
}

/// A value's [`encode_sparse`](vigil_core::train::pipeline::FeaturePipeline::encode_sparse)
/// outcome.
type SparseEncoding = Result<(Option<(usize, f64)>, Encoded), FieldProblem>;

/// Per categorical column, the encoding of each dictionary code and, last, of a missing
/// value: made once per request, so a row costs a lookup, not a hash of its value.
fn code_encodings(model: &LoadedModel, dictionaries: &[Vec<Value>]) -> Vec<Vec<SparseEncoding>> {
    let pipeline = &model.artifact.pipeline;
    dictionaries
        .iter()
        .enumerate()
        .map(|(i, values)| {
            if model.artifact.schema.features[i].kind != FeatureType::Categorical {
                return Vec::new();
            }
            values
                .iter()
                .chain(std::iter::once(&Value::Missing))
                .map(|value| pipeline.encode_sparse(i, value))
                .collect()
        })
        .collect()
}

/// Where a request's encoded values go, a column at a time: added up per row for a
/// model that is a sum of entry terms, else kept per row and column for the model to
/// read a row at a time.
enum Encoding<'a> {
    Sums {
        model: EntrySum<'a>,
        /// Per row: its terms so far.
        sums: Vec<f64>,
    },
    Cells {
        width: usize,
        /// Row-major `rows × columns`: the entry each value sets (`None`: an ignored
        /// unseen category sets none).
        cells: Vec<Option<(usize, f64)>>,
    },
}

impl Encoding<'_> {
    #[inline]
    fn set(&mut self, row: usize, column: usize, entry: Option<(usize, f64)>) {
        match self {
            Encoding::Sums { model, sums } => {
                if let Some(entry) = entry {
                    sums[row] += model.term(entry);
                }
            }
            Encoding::Cells { width, cells } => cells[row * *width + column] = entry,
        }
    }
}

/// Encodes and predicts every row; unseen categories under `unseen: error` are problems.
///
/// Encoded a column at a time: a column's encoder and code table are found once, not
/// once a value, and a categorical column's outcomes are counted once per code. A
/// binary logistic regression's rows are summed as they are encoded; any other model
/// predicts a row at a time from the encoded cells.
fn predict(
    model: &LoadedModel,
    columns: &Columns,
    dictionaries: &[Vec<Value>],
    layout: &Layout,
    tally: &mut Tally,
) -> Result<Predicted, AppError> {
    let k = model.classes().len();
    let pipeline = &model.artifact.pipeline;
    let encodings = code_encodings(model, dictionaries);
    let (rows, width) = (columns.rows, columns.columns.len());
    let mut encoded = match model.artifact.model.entry_sum() {
        Some(model) => Encoding::Sums {
            model,
            sums: vec![EntrySum::START; rows],
        },
        None => Encoding::Cells {
            width,
            cells: vec![None; rows * width],
        },
    };
    let mut problems: Vec<(usize, usize, FieldProblem)> = Vec::new();
    for (i, column) in columns.columns.iter().enumerate() {
        match column {
            Column::Numeric(values) => {
                pipeline.encode_sparse_numbers(i, values, |row, outcome| match outcome {
                    Ok((entry, how)) => {
                        tally.count(how, i, 1);
                        encoded.set(row, i, entry);
                    }
                    Err(problem) => {
                        if let Err(problem) = count_encoded(Err(problem), i, tally) {
                            problems.push((row, i, problem));
                        }
                    }
                })
            }
            Column::Categorical(c) => {
                // The dictionary's codes, then the missing value's (`MISSING_CODE`) last.
                let table = &encodings[i];
                let slot = |code: u32| (code as usize).min(table.len() - 1);
                let mut occurs = vec![0u32; table.len()];
                for (row, &code) in c.codes.iter().enumerate() {
                    let slot = slot(code);
                    occurs[slot] += 1;
                    if let Ok((entry, _)) = &table[slot] {
                        encoded.set(row, i, *entry);
                    }
                }
                for (at, encoding) in table.iter().enumerate() {
                    match encoding {
                        Ok((_, how)) => tally.count(*how, i, occurs[at]),
                        Err(problem) if occurs[at] > 0 => {
                            for (row, _) in
                                (c.codes.iter().enumerate()).filter(|(_, &code)| slot(code) == at)
                            {
                                if let Err(p) = count_encoded(Err(problem.clone()), i, tally) {
                                    problems.push((row, i, p));
                                }
                            }
                        }
                        Err(_) => {}
                    }
                }
            }
        }
    }
    if !problems.is_empty() {
        // In the order a row-by-row encoding finds them.
        problems.sort_by_key(|&(row, i, _)| (row, i));
        let problems = (problems.into_iter())
            .map(|(row, i, problem)| encode_problem(layout.field(model, i, row), problem))
            .collect();
        return Err(AppError::invalid(problems));
    }
    let mut classes = Vec::with_capacity(rows);
    let mut probabilities = vec![0.0; rows * k];
    match encoded {
        Encoding::Sums { model, sums } => {
            for (sum, p) in sums.into_iter().zip(probabilities.chunks_exact_mut(k)) {
                model.probabilities(sum, p);
                classes.push(argmax(p) as u32);
            }
        }
        Encoding::Cells { cells, .. } => {
            let mut x = vec![0.0; pipeline.width()];
            let mut entries = Vec::with_capacity(width);
            for (row_cells, p) in cells
                .chunks_exact(width)
                .zip(probabilities.chunks_exact_mut(k))
            {
                for (i, &entry) in row_cells.iter().enumerate() {
                    pipeline.place(i, entry, &mut x);
                }
                entries.clear();
                entries.extend(row_cells.iter().flatten().copied());
                classes.push(predict_row_entries(model, &entries, &x, p) as u32);
            }
        }
    }
    Ok(Predicted {
        classes,
        probabilities,
    })
}

/// The request's ids: per row from `parameters.request_ids`, else `<id>-<row>` (the id
/// itself for one row), with an id generated when the request has none. Returns the
/// ids and the request's id for the response.
fn request_ids(
    state: &AppState,
    request: &mut InferRequest,
    rows: usize,
) -> Result<(RequestIds, String), Problem> {
    let id = match request.id.take().filter(|id| !id.is_empty()) {
        Some(id) if id.chars().count() > MAX_REQUEST_ID_CHARS => {
            return Err(Problem::new(
                "id",
                format!("must be at most {MAX_REQUEST_ID_CHARS} characters long"),
                "invalid_request_id",
            ))
        }
        Some(id) => id,
        None => state.next_request_id(),
    };
    let Some(ids) = request.parameters.request_ids.take() else {
        return Ok((RequestIds::Numbered(id.clone()), id));
    };
    if ids.len() != rows {
        return Err(Problem::new(
            "parameters.request_ids",
            format!("has {} ids for {rows} rows", ids.len()),
            "wrong_shape",
        ));
    }
    if let Some(bad) = ids
        .iter()
        .position(|i| i.is_empty() || i.chars().count() > MAX_REQUEST_ID_CHARS)
    {
        return Err(Problem::new(
            format!("parameters.request_ids[{bad}]"),
            format!("must be 1 to {MAX_REQUEST_ID_CHARS} characters long"),
            "invalid_request_id",
        ));
    }
    Ok((RequestIds::Each(ids), id))
}

/// How an output is answered: in the JSON, or as binary data after it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Form {
    Json,
    Binary,
}

/// The outputs to answer with, each in its form (`None`: not asked for).
#[derive(Clone, Copy, Debug)]
struct Wanted {
    class: Option<Form>,
    probabilities: Option<Form>,
}

/// Which outputs to answer with: both unless the request names some; binary where an
/// output's `binary_data` says so, else where the request's `binary_data_output` does.
fn outputs(request: &InferRequest) -> Result<Wanted, AppError> {
    let form = |binary: Option<bool>| match binary.or(request.parameters.binary_data_output) {
        Some(true) => Form::Binary,
        _ => Form::Json,
    };
    let Some(requested) = request.outputs.as_deref().filter(|r| !r.is_empty()) else {
        return Ok(Wanted {
            class: Some(form(None)),
            probabilities: Some(form(None)),
        });
    };
    let mut problems = Vec::new();
    let mut wanted = Wanted {
        class: None,
        probabilities: None,
    };
    for (j, output) in requested.iter().enumerate() {
        let asked = Some(form(output.parameters.binary_data));
        match output.name.as_str() {
            CLASS_OUTPUT => wanted.class = asked,
            PROBABILITIES_OUTPUT => wanted.probabilities = asked,
            other => problems.push(Problem::new(
                format!("outputs[{j}].name"),
                format!(
                    "`{}` is not an output of this model ({CLASS_OUTPUT}, {PROBABILITIES_OUTPUT})",
                    vigil_core::text::shorten(other, 60)
                ),
                "unknown",
            )),
        }
    }
    if problems.is_empty() {
        Ok(wanted)
    } else {
        Err(AppError::invalid(problems))
    }
}

fn check_content_type(request: &InferRequest) -> Result<(), AppError> {
    match request.parameters.content_type.as_deref() {
        None | Some("pd" | "np") => Ok(()),
        Some(other) => Err(AppError::invalid(vec![Problem::new(
            "parameters.content_type",
            format!(
                "`{}` is not a content type this server reads (pd: one tensor per feature; np: one [N, F] tensor)",
                vigil_core::text::shorten(other, 40)
            ),
            "not_allowed",
        )])),
    }
}

/// The class labels of the rows, serialised without a per-row allocation.
struct Labels<'a> {
    classes: &'a [u32],
    names: &'a [String],
}

impl Serialize for Labels<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.classes.iter().map(|c| &self.names[*c as usize]))
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutputData<'a> {
    Labels(Labels<'a>),
    Numbers(&'a [f64]),
}

#[derive(Serialize)]
struct Output<'a> {
    name: &'static str,
    datatype: &'static str,
    shape: Vec<usize>,
    /// A binary output's size after the JSON, instead of its data.
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<BinaryData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<OutputData<'a>>,
}

#[derive(Serialize)]
struct BinaryData {
    binary_data_size: usize,
}

impl<'a> Output<'a> {
    /// The output in `form`: its data in the JSON, or appended to `binary` (numbers
    /// little-endian, BYTES as `binary::push_bytes` writes them) with its size in the JSON.
    fn new(
        (name, datatype, shape): (&'static str, &'static str, Vec<usize>),
        form: Form,
        data: OutputData<'a>,
        binary: &mut Vec<u8>,
    ) -> Output<'a> {
        if form == Form::Json {
            return Output {
                name,
                datatype,
                shape,
                parameters: None,
                data: Some(data),
            };
        }
        let at = binary.len();
        match data {
            OutputData::Labels(labels) => {
                for &c in labels.classes {
                    super::binary::push_bytes(binary, labels.names[c as usize].as_bytes());
                }
            }
            OutputData::Numbers(numbers) => {
                for x in numbers {
                    binary.extend_from_slice(&x.to_le_bytes());
                }
            }
        }
        Output {
            name,
            datatype,
            shape,
            parameters: Some(BinaryData {
                binary_data_size: binary.len() - at,
            }),
            data: None,
        }
    }
}

#[derive(Serialize)]
struct InferResponse<'a> {
    model_name: &'a str,
    model_version: &'a str,
    id: &'a str,
    outputs: Vec<Output<'a>>,
}

/// Answers an inference request for `model` (already matched to the path).
pub async fn infer(
    state: &AppState,
    model: Arc<LoadedModel>,
    body: &[u8],
    json_length: Option<usize>,
) -> Result<Response, AppError> {
    let started = Instant::now();
    let answered =
        answer(state, &model, body, json_length).inspect_err(|e| count_problems(state, e))?;
    let (columns, predicted, ids, id, wanted) = answered;
    let rows = columns.rows;
    let mut outputs = Vec::with_capacity(2);
    let mut binary = match (wanted.class, wanted.probabilities) {
        (Some(Form::Binary), _) | (_, Some(Form::Binary)) => {
            // Room for both outputs: a label's length prefix and its longest name, and
            // the probabilities.
            let longest = model.classes().iter().map(String::len).max().unwrap_or(0);
            Vec::with_capacity(rows * (4 + longest + 8 * model.classes().len()))
        }
        _ => Vec::new(),
    };
    if let Some(form) = wanted.class {
        let labels = OutputData::Labels(Labels {
            classes: &predicted.classes,
            names: model.classes(),
        });
        let tensor = (CLASS_OUTPUT, "BYTES", vec![rows]);
        outputs.push(Output::new(tensor, form, labels, &mut binary));
    }
    if let Some(form) = wanted.probabilities {
        let numbers = OutputData::Numbers(&predicted.probabilities);
        let tensor = (
            PROBABILITIES_OUTPUT,
            "FP64",
            vec![rows, model.classes().len()],
        );
        outputs.push(Output::new(tensor, form, numbers, &mut binary));
    }
    let answer = InferResponse {
        model_name: super::model_name(&model),
        model_version: model.version(),
        id: &id,
        outputs,
    };
    let response = if binary.is_empty() {
        json::response(StatusCode::OK, &answer)
    } else {
        super::binary::response(&answer, binary)
    };
    if state.log_sampled() {
        let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        state
            .predictions
            .push(PredictionBatch {
                model: Arc::clone(&model),
                timestamp: Utc::now(),
                latency_us,
                request_ids: ids,
                features: columns,
                classes: predicted.classes,
                probabilities: predicted.probabilities,
            })
            .await?;
    }
    Ok(response)
}

type Answered = (Columns, Predicted, RequestIds, String, Wanted);

/// Everything short of the answer: all or nothing, counters touched only on success.
/// `json_length` is where the JSON ends when binary tensor data follows it.
fn answer(
    state: &AppState,
    model: &LoadedModel,
    body: &[u8],
    json_length: Option<usize>,
) -> Result<Answered, AppError> {
    let (json, tail) = match json_length {
        Some(n) if n <= body.len() => body.split_at(n),
        Some(n) => {
            return Err(AppError::BadRequest(format!(
                "Inference-Header-Content-Length is {n} but the body has {} bytes",
                body.len()
            )))
        }
        None => (body, &[][..]),
    };
    let mut request: InferRequest =
        serde_json::from_slice(json).map_err(|e| AppError::from_json(&e))?;
    if json_length.is_some() {
        super::binary::attach(&mut request.inputs, tail)?;
    }
    check_content_type(&request)?;
    let wanted = outputs(&request)?;
    let inputs = std::mem::take(&mut request.inputs);
    let (columns, layout) = inputs::decode(model, inputs, state.config.max_infer_batch)?;
    let (ids, id) =
        request_ids(state, &mut request, columns.rows).map_err(|p| AppError::invalid(vec![p]))?;
    let dictionaries = dictionaries(&columns);
    let mut tally = Tally::new(model.n_features());
    let problems = validate(
        model,
        &columns,
        &dictionaries,
        &layout,
        state.config.out_of_range,
        &mut tally,
    );
    if !problems.is_empty() {
        return Err(AppError::invalid(problems));
    }
    let predicted = predict(model, &columns, &dictionaries, &layout, &mut tally)?;
    tally.apply(model);
    let k = model.classes().len();
    count_answers(
        state,
        model,
        predicted
            .classes
            .iter()
            .zip(predicted.probabilities.chunks_exact(k))
            .map(|(c, p)| (*c as usize, p[*c as usize])),
    );
    Ok((columns, predicted, ids, id, wanted))
}
