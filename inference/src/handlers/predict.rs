//! `/predict` and `/predict/batch`: validate → encode → predict → answer → log.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use vigil_core::data::schema::{FeatureType, FieldError, FieldProblem, Value};
use vigil_core::train::pipeline::Encoded;
use vigil_core::wire::{BatchResponse, PredictResponse};

use crate::columns::Column;
use crate::error::{AppError, Problem};
use crate::extract::JsonBody;
use crate::json;
use crate::parse::{self, ParsedRow, Raw, RowPath};
use crate::record::{EntryBuffers, PredictionBatch, RequestIds};
use crate::served::LoadedModel;
use crate::state::{AppState, OutOfRange};

/// Per-feature tallies of one request, applied to the counters only when it succeeds.
pub(crate) struct Tally {
    missing: Vec<u32>,
    out_of_range: Vec<u32>,
    unseen: Vec<u32>,
}

impl Tally {
    /// Counts `n` values of feature `i` encoded as `how` (imputed, unseen).
    pub(crate) fn count(&mut self, how: Encoded, i: usize, n: u32) {
        match how {
            Encoded::Ok => {}
            Encoded::Imputed => self.missing[i] += n,
            Encoded::UnseenCategory => self.unseen[i] += n,
        }
    }

    pub(crate) fn new(n: usize) -> Tally {
        Tally {
            missing: vec![0; n],
            out_of_range: vec![0; n],
            unseen: vec![0; n],
        }
    }

    pub(crate) fn apply(&self, model: &LoadedModel) {
        let m = &model.metrics;
        for (counts, counters) in [
            (&self.missing, &m.missing),
            (&self.out_of_range, &m.out_of_range),
            (&self.unseen, &m.unseen),
        ] {
            for (count, counter) in counts.iter().zip(counters) {
                if *count > 0 {
                    counter.inc_by(u64::from(*count));
                }
            }
        }
    }
}

/// Checks a typed value of feature `i` against its spec: an out-of-range number is
/// accepted and tallied under `OutOfRange::Accept`, counted and rejected otherwise.
pub(crate) fn check_value(
    model: &LoadedModel,
    i: usize,
    value: &Value,
    out_of_range: OutOfRange,
    tally: &mut Tally,
) -> Result<(), FieldProblem> {
    match model.artifact.schema.features[i].check_value(value) {
        Ok(()) => Ok(()),
        Err(FieldProblem::BelowMin { .. } | FieldProblem::AboveMax { .. })
            if out_of_range == OutOfRange::Accept =>
        {
            tally.out_of_range[i] += 1;
            Ok(())
        }
        Err(problem) => {
            if matches!(
                problem,
                FieldProblem::BelowMin { .. } | FieldProblem::AboveMax { .. }
            ) {
                // Rejected rows count too: the metric watches the traffic, not the answers.
                model.metrics.out_of_range[i].inc();
            }
            Err(problem)
        }
    }
}

/// Turns raw JSON values into typed values, checking them against the schema.
fn validate(
    model: &LoadedModel,
    raw: Vec<Raw>,
    path: RowPath,
    out_of_range: OutOfRange,
    tally: &mut Tally,
    problems: &mut Vec<Problem>,
) -> Vec<Value> {
    let mut values = Vec::with_capacity(raw.len());
    for (i, (raw, spec)) in raw
        .into_iter()
        .zip(&model.artifact.schema.features)
        .enumerate()
    {
        let value = match (raw, spec.kind) {
            (Raw::Absent, _) => Err(FieldProblem::Missing),
            (Raw::Null, _) => Ok(Value::Missing),
            (Raw::Number(x), FeatureType::Numeric) => Ok(Value::Number(x)),
            (Raw::Text(s), FeatureType::Categorical) => Ok(Value::Category(s)),
            (_, FeatureType::Numeric) => Err(FieldProblem::WrongType { expected: "number" }),
            (_, FeatureType::Categorical) => Err(FieldProblem::WrongType { expected: "string" }),
        };
        let value = value.and_then(|v| check_value(model, i, &v, out_of_range, tally).map(|()| v));
        match value {
            Ok(v) => values.push(v),
            Err(problem) => {
                let error = FieldError::new(&spec.name, problem);
                problems.push(Problem::from_field(&path.field("features."), &error));
                values.push(Value::Missing);
            }
        }
    }
    values
}

/// One answered row.
struct Answer {
    request_id: String,
    values: Vec<Value>,
    class: usize,
    probabilities: Vec<f64>,
}

/// Encodes and predicts validated rows; unseen categories under `unseen: error` are problems.
fn predict_rows(
    model: &LoadedModel,
    rows: Vec<(Option<String>, Vec<Value>)>,
    batch: bool,
    state: &AppState,
    tally: &mut Tally,
) -> Result<Vec<Answer>, AppError> {
    let width = model.artifact.pipeline.width();
    let n_classes = model.classes().len();
    let mut x = vec![0.0; width];
    let mut answers = Vec::with_capacity(rows.len());
    let mut problems = Vec::new();
    for (row, (request_id, values)) in rows.into_iter().enumerate() {
        let mut ok = true;
        for (i, value) in values.iter().enumerate() {
            if let Err(problem) = encode_value(model, i, value, &mut x, tally) {
                let name = &model.artifact.schema.features[i].name;
                let path = RowPath(batch.then_some(row)).field("features.");
                problems.push(encode_problem(format!("{path}{name}"), problem));
                ok = false;
            }
        }
        if !ok {
            continue;
        }
        let mut probabilities = vec![0.0; n_classes];
        let class = predict_row(model, &x, &mut probabilities);
        answers.push(Answer {
            request_id: request_id.unwrap_or_else(|| state.next_request_id()),
            values,
            class,
            probabilities,
        });
    }
    if problems.is_empty() {
        Ok(answers)
    } else {
        Err(AppError::invalid(problems))
    }
}

/// Encodes feature `i`'s value into its slots of `x`, tallying imputed and unseen values.
pub(crate) fn encode_value(
    model: &LoadedModel,
    i: usize,
    value: &Value,
    x: &mut [f64],
    tally: &mut Tally,
) -> Result<(), FieldProblem> {
    count_encoded(model.artifact.pipeline.encode_value(i, value, x), i, tally)
}

/// Counts feature `i`'s encoding outcome (imputed, unseen) in `tally`.
pub(crate) fn count_encoded(
    encoded: Result<Encoded, FieldProblem>,
    i: usize,
    tally: &mut Tally,
) -> Result<(), FieldProblem> {
    match encoded {
        Ok(how) => {
            tally.count(how, i, 1);
            Ok(())
        }
        Err(problem) => {
            if matches!(problem, FieldProblem::NotAllowed(_)) {
                tally.unseen[i] += 1;
            }
            Err(problem)
        }
    }
}

/// The problem of a value at `field` that cannot be encoded: an unseen category (under
/// `unseen: error`) says so, anything else is the schema's message.
pub(crate) fn encode_problem(field: String, problem: FieldProblem) -> Problem {
    match problem {
        FieldProblem::NotAllowed(c) => Problem::new(
            field,
            format!("`{c}` is a category the model never saw in training"),
            "unseen_category",
        ),
        other => Problem::new(field, other.to_string(), other.metric_label()),
    }
}

/// The probabilities of one encoded row into `probabilities`, and the predicted class.
pub(crate) fn predict_row(model: &LoadedModel, x: &[f64], probabilities: &mut [f64]) -> usize {
    model.artifact.model.predict_proba_row(x, probabilities);
    argmax(probabilities)
}

/// [`predict_row`] of a row also given by its encoded entries (`Model::predict_proba_entries`).
pub(crate) fn predict_row_entries(
    model: &LoadedModel,
    entries: &[(usize, f64)],
    x: &[f64],
    probabilities: &mut [f64],
) -> usize {
    model
        .artifact
        .model
        .predict_proba_entries(entries, x, probabilities);
    argmax(probabilities)
}

pub(crate) fn argmax(p: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in p.iter().enumerate() {
        if *v > p[best] {
            best = i;
        }
    }
    best
}

pub(crate) fn count_problems(state: &AppState, error: &AppError) {
    if let AppError::Invalid { problems, .. } = error {
        for p in problems {
            state
                .metrics
                .invalid_values
                .with_label_values(&[p.kind])
                .inc();
        }
    }
}

/// Validates parsed rows (all or nothing) and predicts them.
fn answer_rows(
    state: &AppState,
    model: &LoadedModel,
    parsed: Vec<Option<ParsedRow>>,
    batch: bool,
    mut problems: Vec<Problem>,
) -> Result<Vec<Answer>, AppError> {
    let mut tally = Tally::new(model.n_features());
    let mut rows = Vec::with_capacity(parsed.len());
    for (i, row) in parsed.into_iter().enumerate() {
        let Some(row) = row else { continue };
        let values = validate(
            model,
            row.raw,
            RowPath(batch.then_some(i)),
            state.config.out_of_range,
            &mut tally,
            &mut problems,
        );
        rows.push((row.request_id, values));
    }
    if !problems.is_empty() {
        return Err(AppError::invalid(problems));
    }
    let answers = predict_rows(model, rows, batch, state, &mut tally)?;
    tally.apply(model);
    count_answers(
        state,
        model,
        answers.iter().map(|a| (a.class, a.probabilities[a.class])),
    );
    Ok(answers)
}

/// Counts answered rows, each as its class and that class's probability.
pub(crate) fn count_answers(
    state: &AppState,
    model: &LoadedModel,
    answers: impl ExactSizeIterator<Item = (usize, f64)>,
) {
    state.metrics.rows.inc_by(answers.len() as u64);
    for (class, confidence) in answers {
        model.metrics.by_class[class].inc();
        state.metrics.confidence.observe(confidence);
    }
}

/// One response item; probabilities by class name, like the reference server.
struct AnswerView<'a> {
    answer: &'a Answer,
    model: &'a LoadedModel,
}

impl Serialize for AnswerView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let a = self.answer;
        let classes = self.model.classes();
        PredictResponse {
            request_id: a.request_id.as_str(),
            predicted_class: classes[a.class].as_str(),
            confidence: a.probabilities[a.class],
            probabilities: ClassProbabilities {
                classes,
                probabilities: &a.probabilities,
            },
            model_version: self.model.version(),
        }
        .serialize(s)
    }
}

/// Probabilities by class name, in the schema's class order.
struct ClassProbabilities<'a> {
    classes: &'a [String],
    probabilities: &'a [f64],
}

impl Serialize for ClassProbabilities<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.classes.len()))?;
        for (c, p) in self.classes.iter().zip(self.probabilities) {
            map.serialize_entry(c, p)?;
        }
        map.end()
    }
}

struct BatchView<'a> {
    answers: &'a [Answer],
    model: &'a LoadedModel,
}

impl Serialize for BatchView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Items<'a>(&'a BatchView<'a>);
        impl Serialize for Items<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.answers.iter().map(|answer| AnswerView {
                    answer,
                    model: self.0.model,
                }))
            }
        }
        BatchResponse {
            responses: Items(self),
            model_version: self.model.version(),
        }
        .serialize(s)
    }
}

async fn log_answers(
    state: &AppState,
    model: &Arc<LoadedModel>,
    answers: Vec<Answer>,
    started: Instant,
) -> Result<(), AppError> {
    let timestamp = Utc::now();
    let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let EntryBuffers {
        mut features,
        mut request_ids,
        mut classes,
        mut probabilities,
    } = model
        .log_buffers
        .take(&model.artifact.schema, answers.len());
    probabilities.reserve(answers.len() * model.classes().len());
    for a in answers {
        for (column, value) in features.columns.iter_mut().zip(a.values) {
            match (column, value) {
                (Column::Numeric(v), Value::Number(x)) => v.push(x),
                (Column::Numeric(v), _) => v.push(f64::NAN),
                (Column::Categorical(c), Value::Category(s)) => c.push_owned(s),
                (Column::Categorical(c), _) => c.push_missing(),
            }
        }
        features.rows += 1;
        request_ids.push(a.request_id);
        classes.push(a.class as u32);
        probabilities.extend_from_slice(&a.probabilities);
    }
    state
        .predictions
        .push(PredictionBatch {
            model: Arc::clone(model),
            timestamp,
            latency_us,
            request_ids: RequestIds::Each(request_ids),
            features,
            classes,
            probabilities,
        })
        .await
}

pub async fn predict(State(state): State<AppState>, body: JsonBody) -> Result<Response, AppError> {
    let started = Instant::now();
    let model = state.model()?;
    let mut problems = Vec::new();
    let result = parse::parse_single(&model, &body.0, &mut problems)
        .and_then(|row| answer_rows(&state, &model, vec![row], false, problems));
    let answers = result.inspect_err(|e| count_problems(&state, e))?;
    let Some(answer) = answers.first() else {
        return Err(AppError::invalid(Vec::new()));
    };
    // The answer is written before the rows move into the log.
    let response = json::response(
        StatusCode::OK,
        &AnswerView {
            answer,
            model: &model,
        },
    );
    if state.log_sampled() {
        log_answers(&state, &model, answers, started).await?;
    }
    Ok(response)
}

pub async fn predict_batch(
    State(state): State<AppState>,
    body: JsonBody,
) -> Result<Response, AppError> {
    let started = Instant::now();
    let model = state.model()?;
    let mut problems = Vec::new();
    let result = parse::parse_batch(&model, &body.0, state.config.max_batch, &mut problems)
        .and_then(|rows| match rows {
            Some(rows) if rows.is_empty() && problems.is_empty() => {
                Err(AppError::invalid(vec![Problem::new(
                    "requests",
                    "must hold at least one request",
                    "empty_batch",
                )]))
            }
            Some(rows) => answer_rows(&state, &model, rows, true, problems),
            None => Err(AppError::invalid(problems)),
        });
    let answers = result.inspect_err(|e| count_problems(&state, e))?;
    let response = json::response(
        StatusCode::OK,
        &BatchView {
            answers: &answers,
            model: &model,
        },
    );
    if state.log_sampled() {
        log_answers(&state, &model, answers, started).await?;
    }
    Ok(response)
}
