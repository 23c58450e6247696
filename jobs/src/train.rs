//! `vigil train`: ingest → validate → fit → evaluate → compare with the served
//! version → write the artifact and the training report.

use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use vigil_core::artifact::{
    self, ArtifactError, Lineage, ModelArtifact, ReferenceInfo, ReferenceSample, FORMAT_VERSION,
    REFERENCE_FILE,
};
use vigil_core::config::TrainJobConfig;
use vigil_core::dataset::{DatasetError, Frame, RawTable};
use vigil_core::evaluation::Metrics;
use vigil_core::learn::{Iteration, SparseRows};
use vigil_core::model::{Model, ModelError};
use vigil_core::pipeline::FeaturePipeline;
use vigil_core::report::{KeyMetrics, RowCounts, ServedComparison, TrainSummary, TrainingReport};
use vigil_core::schema::{FeatureSchema, FeatureType};
use vigil_core::split::{sample_indices, stratified_split};
use vigil_core::storage::{self, Store, StoreError};
use vigil_core::validation::{self, Severity, ValidationReport};

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
    let training = &config.training;
    let schema = &config.schema;
    let store = Store::open(&config.storage.uri)?;
    let mut timings = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |name: &str, timings: &mut Vec<(String, f64)>| {
        timings.push((name.to_string(), clock.elapsed().as_secs_f64()));
        clock = Instant::now();
    };

    progress(Progress::Stage(Stage::Read));
    let data_uri = &training.data.uri;
    let bytes = storage::read_uri(data_uri)
        .await
        .map_err(TrainError::DataUnavailable)?;
    let data_sha256 = artifact::sha256_hex(&bytes);
    let invalid_data = |source| TrainError::InvalidData {
        uri: data_uri.clone(),
        source,
    };
    let mut raw =
        RawTable::parse(&bytes, training.data.format.resolve(data_uri)).map_err(invalid_data)?;
    drop(bytes);
    if let Some(filter) = &training.data.filter {
        let column = raw
            .column(&filter.column)
            .ok_or_else(|| invalid_data(DatasetError::MissingColumn(filter.column.clone())))?
            .to_vec();
        raw = raw.filter_rows(|r| column[r].as_deref() == Some(filter.value.as_str()));
        if raw.n_rows() == 0 {
            return Err(invalid_data(DatasetError::NoRows));
        }
    }
    progress(Progress::RowsRead(raw.n_rows()));
    lap("read", &mut timings);

    progress(Progress::Stage(Stage::Validate));
    let validation = validation::validate(&raw, schema, &training.validation);
    if !validation.passed {
        return Err(TrainError::ValidationFailed(Box::new(validation)));
    }
    let (frame, _) = Frame::from_raw(&raw, schema).map_err(invalid_data)?;
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
    let train_frame = frame.select(&train_rows);
    let holdout_frame = frame.select(&holdout_rows);
    drop(frame);
    lap("validate", &mut timings);

    progress(Progress::Stage(Stage::Fit));
    let params = training
        .hyperparameters
        .check(training.algorithm)
        .map_err(TrainError::Fit)?;
    let n_classes = schema.target.classes.len();
    let fit_started = Instant::now();
    let pipeline = FeaturePipeline::fit(schema, &train_frame, &training.pipeline);
    let x_train = SparseRows::encode(&pipeline, &train_frame)
        .map_err(|(row, p)| TrainError::InvalidConfig(format!("training row {row}: {p}")))?;
    let fitted = Model::fit(
        &params,
        &x_train,
        &train_frame.target,
        n_classes,
        &mut |i| progress(Progress::Iteration(i)),
    )?;
    drop(x_train);
    let fit_seconds = fit_started.elapsed().as_secs_f64();
    let (model, convergence) = (fitted.model, fitted.convergence);
    let not_converged = convergence.filter(|c| !c.converged);
    if let Some(c) = not_converged {
        tracing::warn!(
            iterations = c.iterations,
            gradient_norm = c.gradient_norm,
            "the solver did not converge; raise maxIterations or gradientTolerance"
        );
    }
    lap("fit", &mut timings);

    progress(Progress::Stage(Stage::Evaluate));
    let holdout_probabilities = artifact::predict_frame(&pipeline, &model, &holdout_frame)
        .map_err(|(row, p)| TrainError::InvalidConfig(format!("hold-out row {row}: {p}")))?;
    let metrics = Metrics::compute(holdout_probabilities.view(), &holdout_frame.target);
    let version = artifact::new_version(now, data_sha256.as_bytes());
    let candidate = ModelArtifact {
        format_version: FORMAT_VERSION,
        version: version.clone(),
        model_name: config.model.clone(),
        created_at: now,
        vigil_version: vigil_core::VIGIL_VERSION.to_string(),
        schema: schema.clone(),
        pipeline,
        model,
        metrics,
        validation: validation.clone(),
        lineage: Lineage {
            data_uri: data_uri.clone(),
            data_sha256,
            rows_total: train_rows.len() + holdout_rows.len(),
            rows_train: train_rows.len(),
            rows_holdout: holdout_rows.len(),
            algorithm: training.algorithm,
            hyperparameters: training.hyperparameters.clone(),
            holdout: training.holdout.clone(),
            fit_seconds,
        },
        reference: ReferenceInfo {
            file: REFERENCE_FILE.to_string(),
            rows: 0,
            sha256: String::new(),
        },
    };
    lap("evaluate", &mut timings);

    progress(Progress::Stage(Stage::CompareServed));
    let mut served_metrics = None;
    let served = match &config.served_version {
        None => None,
        Some(served_version) => {
            let evaluated = evaluate_served(&store, served_version, schema, &holdout_frame).await;
            let (metrics, error) = match evaluated {
                Ok(m) => (Some(KeyMetrics::from(&m)), {
                    served_metrics = Some(m);
                    None
                }),
                Err(e) => {
                    tracing::warn!(version = %served_version, error = %e, "served version could not be evaluated");
                    (None, Some(e))
                }
            };
            Some(ServedComparison {
                version: served_version.clone(),
                metrics,
                error,
            })
        }
    };
    lap("compareServed", &mut timings);

    progress(Progress::Stage(Stage::Write));
    let reference = reference_sample(
        &candidate,
        &train_frame,
        training.reference_rows,
        training.holdout.seed,
    )
    .map_err(|(row, p)| TrainError::InvalidConfig(format!("reference row {row}: {p}")))?;
    candidate.save(&store, &reference).await?;
    // `save` fills in the reference checksum; read back what was written.
    let candidate = ModelArtifact::load(&store, &version).await?;
    let report_key = format!("reports/training/{version}.json");
    let summary = TrainSummary::Succeeded {
        version: version.clone(),
        algorithm: training.algorithm,
        metrics: KeyMetrics::from(&candidate.metrics),
        served,
        validation_passed: validation.passed,
        warnings: validation
            .failed(Severity::Soft)
            .map(|c| c.name.clone())
            .chain(not_converged.map(|_| SOLVER_NOT_CONVERGED.to_string()))
            .collect(),
        rows: RowCounts {
            train: train_rows.len(),
            holdout: holdout_rows.len(),
        },
        artifact_uri: store.uri_of(&format!("models/{version}/model.json")),
        report_uri: store.uri_of(&report_key),
    };
    lap("write", &mut timings);
    let report = TrainingReport {
        summary: summary.clone(),
        validation,
        metrics: candidate.metrics.clone(),
        served_metrics,
        convergence,
        timings,
    };
    let report_json = serde_json::to_vec_pretty(&report).unwrap_or_default();
    store.put(&report_key, Bytes::from(report_json)).await?;
    Ok(TrainOutcome {
        summary,
        report,
        artifact: candidate,
    })
}

/// The served version's metrics on the candidate's hold-out, or why there are none.
async fn evaluate_served(
    store: &Store,
    version: &str,
    schema: &FeatureSchema,
    holdout: &Frame,
) -> Result<Metrics, String> {
    let served = ModelArtifact::load(store, version)
        .await
        .map_err(|e| e.to_string())?;
    // The hold-out is typed by the candidate's schema; another schema would misalign columns.
    let columns = |s: &FeatureSchema| -> Vec<(String, FeatureType)> {
        s.features
            .iter()
            .map(|f| (f.name.clone(), f.kind))
            .collect()
    };
    if columns(&served.schema) != columns(schema) || served.schema.target != schema.target {
        return Err(format!(
            "served version {version} has a different schema; it cannot be evaluated on this hold-out"
        ));
    }
    let probabilities = served
        .predict_frame(holdout)
        .map_err(|(row, p)| format!("hold-out row {row}: {p}"))?;
    Ok(Metrics::compute(probabilities.view(), &holdout.target))
}

fn reference_sample(
    artifact: &ModelArtifact,
    train: &Frame,
    rows: usize,
    seed: u64,
) -> Result<ReferenceSample, (usize, vigil_core::schema::FieldProblem)> {
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
