//! `vigil train`: ingest → validate → fit → evaluate → compare with the served
//! version → write the artifact and the training report.

use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use vigil_core::data::dataset::{DatasetError, Frame, RawTable};
use vigil_core::data::schema::{FeatureSchema, FeatureType, FieldProblem};
use vigil_core::data::storage::{self, Store, StoreError};
use vigil_core::train::artifact::{
    self, ArtifactError, Lineage, ModelArtifact, ReferenceInfo, ReferenceSample, ScoredHoldout,
    FORMAT_VERSION, REFERENCE_FILE,
};
use vigil_core::train::config::{is_postgres_uri, TrainJobConfig};
use vigil_core::train::evaluation::Metrics;
use vigil_core::train::learn::{Convergence, Iteration, SparseRows};
use vigil_core::train::model::{Model, ModelError};
use vigil_core::train::pipeline::FeaturePipeline;
use vigil_core::train::report::{
    KeyMetrics, RowCounts, ServedComparison, TrainSummary, TrainingReport,
};
use vigil_core::train::split::{sample_indices, stratified_split};
use vigil_core::train::validation::{self, Severity, ValidationReport};

use crate::laps::Laps;
use crate::postgres::{self, PostgresError};

/// The warning a run carries when its solver stopped before converging.
pub const SOLVER_NOT_CONVERGED: &str = "solverNotConverged";

/// Stages, in order, for progress reporting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Read,
    Validate,
    Fit,
    Evaluate,
    CompareServed,
    Write,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::Read,
        Stage::Validate,
        Stage::Fit,
        Stage::Evaluate,
        Stage::CompareServed,
        Stage::Write,
    ];

    pub fn describe(self) -> &'static str {
        match self {
            Stage::Read => "reading training data",
            Stage::Validate => "validating",
            Stage::Fit => "fitting",
            Stage::Evaluate => "evaluating on the hold-out",
            Stage::CompareServed => "evaluating the served version",
            Stage::Write => "writing the artifact",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("cannot read training data: {0}")]
    DataUnavailable(#[source] StoreError),
    #[error("training data `{uri}` is unreadable: {source}")]
    InvalidData {
        uri: String,
        #[source]
        source: DatasetError,
    },
    #[error("training data failed validation: {}", .0.hard_failure_summary())]
    ValidationFailed(Box<ValidationReport>),
    #[error(transparent)]
    Database(#[from] PostgresError),
    #[error("{0}")]
    InvalidConfig(String),
    #[error(transparent)]
    Fit(#[from] ModelError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
}

impl TrainError {
    /// Stable reason for the summary, status and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            TrainError::DataUnavailable(_) => "DataUnavailable",
            TrainError::Database(PostgresError::Connect { .. }) => "DataUnavailable",
            TrainError::Database(_) => "InvalidData",
            TrainError::InvalidData { .. } => "InvalidData",
            TrainError::ValidationFailed(_) => "ValidationFailed",
            TrainError::InvalidConfig(_) => "InvalidConfig",
            TrainError::Fit(_) => "FitFailed",
            TrainError::Store(_) | TrainError::Artifact(_) => "StoreFailed",
        }
    }

    pub fn summary(&self) -> TrainSummary {
        TrainSummary::Failed {
            reason: self.reason().to_string(),
            message: self.to_string(),
        }
    }
}

/// What a successful run produced.
#[derive(Clone, Debug)]
pub struct TrainOutcome {
    pub summary: TrainSummary,
    pub report: TrainingReport,
    pub artifact: ModelArtifact,
}

/// What a running training tells its caller (the progress bar).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Progress {
    /// A stage starts.
    Stage(Stage),
    /// Rows of training data read so far.
    RowsRead(usize),
    /// The solver finished an iteration.
    Iteration(Iteration),
}

/// Runs a training job. `now` names the version; `progress` hears each stage as it
/// starts, the rows read and every solver iteration.
pub async fn train(
    config: &TrainJobConfig,
    now: DateTime<Utc>,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<TrainOutcome, TrainError> {
    config
        .check()
        .map_err(|e| TrainError::InvalidConfig(e.to_string()))?;
    let store = Store::open(&config.storage.uri)?;
    let mut laps = Laps::new();

    progress(Progress::Stage(Stage::Read));
    let (raw, data_sha256) = read_data(config, progress).await?;
    progress(Progress::RowsRead(raw.n_rows()));
    laps.lap("read");

    progress(Progress::Stage(Stage::Validate));
    let (validation, split) = validate_and_split(config, raw)?;
    laps.lap("validate");

    progress(Progress::Stage(Stage::Fit));
    let fitted = fit(config, &split.train, progress)?;
    let convergence = fitted.convergence;
    laps.lap("fit");

    progress(Progress::Stage(Stage::Evaluate));
    let (candidate, holdout) = candidate(config, now, &split, fitted, &validation, data_sha256)?;
    laps.lap("evaluate");

    progress(Progress::Stage(Stage::CompareServed));
    let (served, served_metrics) = compare_served(&store, config, &split.holdout).await;
    laps.lap("compareServed");

    progress(Progress::Stage(Stage::Write));
    let version = candidate.version.clone();
    let reference = reference_sample(
        &candidate,
        &split.train,
        config.training.reference_rows,
        config.training.holdout.seed,
    )
    .map_err(|(row, p)| TrainError::InvalidConfig(format!("reference row {row}: {p}")))?;
    candidate.save(&store, &reference, holdout.as_ref()).await?;
    // `save` fills in the reference checksum; read back what was written.
    let candidate = ModelArtifact::load(&store, &version).await?;
    let report_key = format!("reports/training/{version}.json");
    let summary = TrainSummary::Succeeded {
        version: version.clone(),
        algorithm: config.training.algorithm,
        metrics: KeyMetrics::from(&candidate.metrics),
        served,
        validation_passed: validation.passed,
        warnings: warnings(&validation, convergence),
        rows: RowCounts {
            train: split.train.n_rows(),
            holdout: split.holdout.n_rows(),
        },
        artifact_uri: store.uri_of(&format!("models/{version}/model.json")),
        report_uri: store.uri_of(&report_key),
    };
    laps.lap("write");
    let report = TrainingReport {
        summary: summary.clone(),
        validation,
        metrics: candidate.metrics.clone(),
        served_metrics,
        convergence,
        timings: laps.timings,
    };
    let report_json = serde_json::to_vec_pretty(&report).unwrap_or_default();
    store.put(&report_key, Bytes::from(report_json)).await?;
    Ok(TrainOutcome {
        summary,
        report,
        artifact: candidate,
    })
}

/// The training data as read (after the row filter), and the SHA-256 of what was
/// read (a file's bytes; a query's column names and cells).
async fn read_data(
    config: &TrainJobConfig,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<(RawTable, String), TrainError> {
    let data = &config.training.data;
    let invalid_data = |source| TrainError::InvalidData {
        uri: postgres::redact(&data.uri),
        source,
    };
    let (mut raw, data_sha256) = match &data.query {
        Some(query) if is_postgres_uri(&data.uri) => {
            let rows = |n| progress(Progress::RowsRead(n));
            let read = postgres::read(&data.uri, query, data.max_rows, &rows).await?;
            (read.table, read.sha256)
        }
        _ => {
            let bytes = storage::read_uri(&data.uri)
                .await
                .map_err(TrainError::DataUnavailable)?;
            let sha256 = artifact::sha256_hex(&bytes);
            let format = data.format.resolve(&data.uri);
            let raw = RawTable::read(bytes, format, data.max_rows).map_err(invalid_data)?;
            (raw, sha256)
        }
    };
    if let Some(filter) = &data.filter {
        let column = raw
            .column(&filter.column)
            .ok_or_else(|| invalid_data(DatasetError::MissingColumn(filter.column.clone())))?
            .to_vec();
        raw = raw.filter_rows(|r| column[r].as_deref() == Some(filter.value.as_str()));
        if raw.n_rows() == 0 {
            return Err(invalid_data(DatasetError::NoRows));
        }
    }
    Ok((raw, data_sha256))
}

/// The typed training and hold-out rows.
struct Split {
    train: Frame,
    holdout: Frame,
}

/// Runs the checks, types the table and splits it into training and hold-out rows.
fn validate_and_split(
    config: &TrainJobConfig,
    raw: RawTable,
) -> Result<(ValidationReport, Split), TrainError> {
    let training = &config.training;
    let invalid_data = |source| TrainError::InvalidData {
        uri: postgres::redact(&training.data.uri),
        source,
    };
    let validation = validation::validate(&raw, &config.schema, &training.validation);
    if !validation.passed {
        return Err(TrainError::ValidationFailed(Box::new(validation)));
    }
    let (frame, _) = Frame::from_raw(&raw, &config.schema).map_err(invalid_data)?;
    let (train_rows, holdout_rows) = match &training.holdout.column {
        Some(split) => {
            let column = raw
                .column(&split.column)
                .ok_or_else(|| invalid_data(DatasetError::MissingColumn(split.column.clone())))?;
            let is_holdout = |r: usize| column[r].as_deref() == Some(split.value.as_str());
            let (holdout, train): (Vec<usize>, Vec<usize>) =
                (0..raw.n_rows()).partition(|&r| is_holdout(r));
            (train, holdout)
        }
        None => stratified_split(
            &frame.target,
            training.holdout.fraction,
            training.holdout.seed,
        ),
    };
    drop(raw);
    if holdout_rows.is_empty() || train_rows.len() < 2 {
        return Err(TrainError::InvalidConfig(format!(
            "the hold-out split leaves {} training and {} hold-out rows; both must be non-empty",
            train_rows.len(),
            holdout_rows.len()
        )));
    }
    let split = Split {
        train: frame.select(&train_rows),
        holdout: frame.select(&holdout_rows),
    };
    Ok((validation, split))
}

/// The soft checks that failed, and the solver when it did not converge.
fn warnings(validation: &ValidationReport, convergence: Option<Convergence>) -> Vec<String> {
    let not_converged = convergence.filter(|c| !c.converged);
    if let Some(c) = not_converged {
        tracing::warn!(
            iterations = c.iterations,
            gradient_norm = c.gradient_norm,
            "the solver did not converge; raise maxIterations or gradientTolerance"
        );
    }
    validation
        .failed(Severity::Soft)
        .map(|c| c.name.to_string())
        .chain(not_converged.map(|_| SOLVER_NOT_CONVERGED.to_string()))
        .collect()
}

/// What fitting produced.
struct Fitted {
    pipeline: FeaturePipeline,
    model: Model,
    convergence: Option<Convergence>,
    seconds: f64,
}

/// Fits the pipeline, encodes the training rows (sparse) and fits the model.
fn fit(
    config: &TrainJobConfig,
    train: &Frame,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<Fitted, TrainError> {
    let training = &config.training;
    let params = training
        .hyperparameters
        .check(training.algorithm)
        .map_err(TrainError::Fit)?;
    let started = Instant::now();
    let pipeline = FeaturePipeline::fit(&config.schema, train, &training.pipeline);
    let x_train = SparseRows::encode(&pipeline, train)
        .map_err(|(row, p)| TrainError::InvalidConfig(format!("training row {row}: {p}")))?;
    let n_classes = config.schema.target.classes.len();
    let fitted = Model::fit(&params, &x_train, &train.target, n_classes, &mut |i| {
        progress(Progress::Iteration(i))
    })?;
    Ok(Fitted {
        pipeline,
        model: fitted.model,
        convergence: fitted.convergence,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The candidate artifact, evaluated on the hold-out, and the hold-out as it scored it
/// (a binary model's CBPE reference).
fn candidate(
    config: &TrainJobConfig,
    now: DateTime<Utc>,
    split: &Split,
    fitted: Fitted,
    validation: &ValidationReport,
    data_sha256: String,
) -> Result<(ModelArtifact, Option<ScoredHoldout>), TrainError> {
    let training = &config.training;
    let holdout = &split.holdout;
    let probabilities = artifact::predict_frame(&fitted.pipeline, &fitted.model, holdout)
        .map_err(|(row, p)| TrainError::InvalidConfig(format!("hold-out row {row}: {p}")))?;
    let (rows_train, rows_holdout) = (split.train.n_rows(), holdout.n_rows());
    let scored = ScoredHoldout::of(probabilities.view(), &holdout.target);
    let artifact = ModelArtifact {
        format_version: FORMAT_VERSION,
        version: artifact::new_version(now, data_sha256.as_bytes()),
        model_name: config.model.clone(),
        created_at: now,
        vigil_version: vigil_core::VIGIL_VERSION.to_string(),
        schema: config.schema.clone(),
        pipeline: fitted.pipeline,
        model: fitted.model,
        metrics: Metrics::compute(probabilities.view(), &holdout.target),
        validation: validation.clone(),
        lineage: Lineage {
            data_uri: postgres::redact(&training.data.uri),
            data_sha256,
            rows_total: rows_train + rows_holdout,
            rows_train,
            rows_holdout,
            algorithm: training.algorithm,
            hyperparameters: training.hyperparameters.clone(),
            holdout: training.holdout.clone(),
            fit_seconds: fitted.seconds,
        },
        reference: ReferenceInfo {
            file: REFERENCE_FILE.to_string(),
            rows: 0,
            sha256: String::new(),
        },
        holdout: None,
    };
    Ok((artifact, scored))
}

/// The served version on the candidate's hold-out: the comparison for the summary
/// and, when it could be evaluated, its full metrics for the report.
async fn compare_served(
    store: &Store,
    config: &TrainJobConfig,
    holdout: &Frame,
) -> (Option<ServedComparison>, Option<Metrics>) {
    let Some(version) = &config.served_version else {
        return (None, None);
    };
    match evaluate_served(store, version, &config.schema, holdout).await {
        Ok(metrics) => (
            Some(ServedComparison {
                version: version.clone(),
                metrics: Some(KeyMetrics::from(&metrics)),
                error: None,
            }),
            Some(metrics),
        ),
        Err(e) => {
            tracing::warn!(version = %version, error = %e, "served version could not be evaluated");
            let comparison = ServedComparison {
                version: version.clone(),
                metrics: None,
                error: Some(e.to_string()),
            };
            (Some(comparison), None)
        }
    }
}

/// Why the served version has no metrics on the candidate's hold-out.
#[derive(Debug, thiserror::Error)]
enum ServedError {
    #[error(transparent)]
    Load(#[from] ArtifactError),
    #[error("served version {0} has a different schema; it cannot be evaluated on this hold-out")]
    OtherSchema(String),
    #[error("hold-out row {row}: {problem}")]
    Row { row: usize, problem: FieldProblem },
}

/// The served version's metrics on the candidate's hold-out, or why there are none.
async fn evaluate_served(
    store: &Store,
    version: &str,
    schema: &FeatureSchema,
    holdout: &Frame,
) -> Result<Metrics, ServedError> {
    let served = ModelArtifact::load(store, version).await?;
    // The hold-out is typed by the candidate's schema; another schema would misalign columns.
    let columns = |s: &FeatureSchema| -> Vec<(String, FeatureType)> {
        s.features
            .iter()
            .map(|f| (f.name.clone(), f.kind))
            .collect()
    };
    if columns(&served.schema) != columns(schema) || served.schema.target != schema.target {
        return Err(ServedError::OtherSchema(version.to_string()));
    }
    let probabilities = served
        .predict_frame(holdout)
        .map_err(|(row, problem)| ServedError::Row { row, problem })?;
    Ok(Metrics::compute(probabilities.view(), &holdout.target))
}

fn reference_sample(
    artifact: &ModelArtifact,
    train: &Frame,
    rows: usize,
    seed: u64,
) -> Result<ReferenceSample, (usize, FieldProblem)> {
    let chosen = sample_indices(train.n_rows(), rows, seed);
    let sample = train.select(&chosen);
    let probabilities = artifact.predict_frame(&sample)?;
    Ok(ReferenceSample {
        columns: artifact
            .schema
            .features
            .iter()
            .map(|f| f.name.clone())
            .zip(sample.columns)
            .collect(),
        target: sample.target,
        probabilities: probabilities
            .rows()
            .into_iter()
            .map(|r| r.to_vec())
            .collect(),
    })
}
