//! `vigil drift`: compare live traffic (scheduled mode, over the store) or a
//! dataset (ad-hoc mode, two files) with a reference, and report.
//!
//! Scheduled: the served version's artifact gives the schema and the reference
//! sample; the last `policy.window` of prediction logs is streamed batch by batch
//! into bounded sketches (memory does not grow with the window); ground-truth
//! labels from `feedback/` are joined by request id. The full report goes to
//! `reports/drift/<timestamp>.json` and `.html`, the compact summary to the caller.
//!
//! Ad-hoc: two CSV / JSON Lines files typed by a schema (or the model's), with
//! optional predictions by a model artifact; the same report into a directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use vigil_core::data::dataset::{DataFormat, RawTable};
use vigil_core::data::prediction_log::{
    decode_batch, list_batches, read_window, LogError, LOGS_PREFIX,
};
use vigil_core::data::schema::{FeatureSchema, Value};
use vigil_core::data::storage::{Store, StoreError};
use vigil_core::drift::profile::{argmax, LabelProfile, PredictionProfile, WindowProfile};
use vigil_core::drift::quality::QualityContext;
use vigil_core::drift::report::{
    CheckMode, DataSource, DriftReport, DriftSummary, DRIFT_REPORTS_PREFIX, REPORT_FORMAT_VERSION,
};
use vigil_core::drift::sketch::IdSampler;
use vigil_core::drift::{assess, AssessOptions, DriftRules};
use vigil_core::train::artifact::{self, ArtifactError, ModelArtifact, ReferenceSample};
use vigil_core::wire::{FeedbackRecord, PredictionRecord};

use crate::html;

pub use vigil_core::drift::DriftJobConfig;

/// Parses a drift job configuration (YAML or JSON); `origin` names it in errors.
pub fn parse_config(text: &str, origin: &str) -> Result<DriftJobConfig, DriftError> {
    DriftJobConfig::from_text(text, origin).map_err(|e| DriftError::InvalidConfig(e.to_string()))
}

/// Reads a drift job configuration file.
pub fn read_config(path: &Path) -> Result<DriftJobConfig, DriftError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        DriftError::InvalidConfig(format!("cannot read config `{}`: {e}", path.display()))
    })?;
    parse_config(&text, &path.display().to_string())
}

#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    #[error("{0}")]
    InvalidConfig(String),
    #[error("cannot load the reference: {0}")]
    ReferenceUnavailable(#[source] ArtifactError),
    #[error("cannot read the prediction logs: {0}")]
    LogsUnavailable(#[source] LogError),
    #[error("`{path}` is unreadable: {message}")]
    InvalidData { path: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the report to `{path}`: {source}")]
    WriteReport {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl DriftError {
    /// Stable reason for the summary, status and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            DriftError::InvalidConfig(_) => "InvalidConfig",
            DriftError::ReferenceUnavailable(_) => "ReferenceUnavailable",
            DriftError::LogsUnavailable(_) => "LogsUnavailable",
            DriftError::InvalidData { .. } => "InvalidData",
            DriftError::Store(_) | DriftError::WriteReport { .. } => "StoreFailed",
        }
    }

    pub fn summary(&self) -> DriftSummary {
        DriftSummary::Failed {
            reason: self.reason().to_string(),
            message: self.to_string(),
        }
    }
}

/// Stages, for progress reporting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    LoadReference,
    ReadWindow,
    Assess,
    WriteReport,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::LoadReference,
        Stage::ReadWindow,
        Stage::Assess,
        Stage::WriteReport,
    ];

    pub fn describe(self) -> &'static str {
        match self {
            Stage::LoadReference => "loading the reference",
            Stage::ReadWindow => "reading the window",
            Stage::Assess => "testing for drift",
            Stage::WriteReport => "writing the report",
        }
    }
}

/// What a successful check produced.
#[derive(Clone, Debug)]
pub struct DriftOutcome {
    pub summary: DriftSummary,
    pub report: DriftReport,
    pub report_uri: String,
    pub html_uri: String,
}

struct Laps {
    clock: Instant,
    timings: Vec<(String, f64)>,
}

impl Laps {
    fn new() -> Self {
        Laps {
            clock: Instant::now(),
            timings: Vec::new(),
        }
    }
    fn lap(&mut self, name: &str) {
        self.timings
            .push((name.to_string(), self.clock.elapsed().as_secs_f64()));
        self.clock = Instant::now();
    }
}

/// The report file name of a check at `now`.
pub fn report_stem(now: DateTime<Utc>) -> String {
    now.format("%Y%m%dT%H%M%SZ").to_string()
}

/// Scheduled mode: the served version's reference against the last window of logs.
pub async fn check_store(
    config: &DriftJobConfig,
    now: DateTime<Utc>,
    progress: &(dyn Fn(Stage) + Send + Sync),
) -> Result<DriftOutcome, DriftError> {
    config
        .policy
        .check()
        .map_err(|e| DriftError::InvalidConfig(e.to_string()))?;
    let policy = &config.policy;
    let store = Store::open(&config.storage.uri)?;
    let mut laps = Laps::new();

    progress(Stage::LoadReference);
    let version = match &config.served_version {
        Some(v) => v.clone(),
        None => artifact::latest_version(&store)
            .await
            .map_err(DriftError::ReferenceUnavailable)?,
    };
    let model = ModelArtifact::load(&store, &version)
        .await
        .map_err(DriftError::ReferenceUnavailable)?;
    let sample = model
        .load_reference(&store)
        .await
        .map_err(DriftError::ReferenceUnavailable)?;
    let schema = &model.schema;
    policy
        .check_features(schema)
        .map_err(|e| DriftError::InvalidConfig(e.to_string()))?;
    let reference = WindowProfile::from_reference(schema, &sample);
    drop(sample);
    laps.lap("loadReference");

    progress(Stage::ReadWindow);
    let until = now;
    let since = now - policy.window.to_chrono();
    let labels: HashMap<String, String> = read_window::<FeedbackRecord>(&store, since, now)
        .await
        .map_err(DriftError::LogsUnavailable)?
        .into_iter()
        .map(|f| (f.request_id, f.label))
        .collect();
    let mut current = WindowProfile::new(schema);
    current.ids = Some(IdSampler::default());
    current.predictions = Some(PredictionProfile::new(schema.target.classes.len()));
    if !labels.is_empty() {
        current.labels = Some(LabelProfile::default());
    }
    let keys = list_batches(&store, LOGS_PREFIX, since, until)
        .await
        .map_err(|e| DriftError::LogsUnavailable(e.into()))?;
    for key in keys {
        let bytes = store
            .get(&key)
            .await
            .map_err(|e| DriftError::LogsUnavailable(e.into()))?;
        let batch: Vec<PredictionRecord> =
            decode_batch(&bytes, &store.uri_of(&key)).map_err(DriftError::LogsUnavailable)?;
        for record in batch
            .iter()
            .filter(|r| r.timestamp >= since && r.timestamp <= until)
        {
            let label = labels.get(&record.request_id).map(String::as_str);
            current.observe_record(schema, record, label);
        }
    }
    laps.lap("readWindow");

    progress(Stage::Assess);
    let context = QualityContext {
        now: Some(now),
        window: Some((since, until)),
    };
    let assessment = assess(
        schema,
        policy,
        &reference,
        &current,
        &context,
        &AssessOptions::default(),
    );
    laps.lap("assess");

    progress(Stage::WriteReport);
    let stem = report_stem(now);
    let json_key = format!("{DRIFT_REPORTS_PREFIX}/{stem}.json");
    let html_key = format!("{DRIFT_REPORTS_PREFIX}/{stem}.html");
    let mut report = DriftReport {
        format_version: REPORT_FORMAT_VERSION,
        generated_at: now,
        vigil_version: vigil_core::VIGIL_VERSION.to_string(),
        mode: CheckMode::Scheduled,
        model_name: config.model.clone().or(model.model_name.clone()),
        model_version: Some(version.clone()),
        reference: DataSource {
            description: format!(
                "{} (reference sample of version {version})",
                store.uri_of(&format!("models/{version}/{}", model.reference.file))
            ),
            rows: reference.rows,
        },
        current: DataSource {
            description: format!(
                "{} from {} to {}",
                store.uri_of(LOGS_PREFIX),
                since.format("%Y-%m-%dT%H:%M:%SZ"),
                until.format("%Y-%m-%dT%H:%M:%SZ")
            ),
            rows: current.rows,
        },
        window: Some((since, until)),
        policy: policy.clone(),
        assessment,
        timings: Vec::new(),
    };
    laps.lap("writeReport");
    report.timings = laps.timings;
    let json = serde_json::to_vec_pretty(&report).unwrap_or_default();
    store.put(&json_key, Bytes::from(json)).await?;
    store
        .put(&html_key, Bytes::from(html::render(&report)))
        .await?;
    let report_uri = store.uri_of(&json_key);
    let html_uri = store.uri_of(&html_key);
    Ok(DriftOutcome {
        summary: DriftSummary::from_report(&report, report_uri.clone(), html_uri.clone()),
        report,
        report_uri,
        html_uri,
    })
}

/// Ad-hoc mode inputs.
#[derive(Clone, Debug)]
pub struct AdhocInput {
    pub reference: PathBuf,
    pub current: PathBuf,
    /// Types the columns; `None` uses the model's schema.
    pub schema: Option<FeatureSchema>,
    /// Adds prediction (and, with labels in both files, performance) drift.
    pub model: Option<ModelArtifact>,
    pub policy: DriftRules,
    /// Directory for `<timestamp>.json` and `.html`; `None` writes nothing.
    pub out_dir: Option<PathBuf>,
}

/// Loads a model artifact from a `model.json`, a version directory holding one, or a
/// store root (`models/<version>/model.json`, newest version).
pub async fn load_model(
    path: &Path,
) -> Result<(ModelArtifact, Option<ReferenceSample>), DriftError> {
    let invalid = |message: String| DriftError::InvalidConfig(message);
    let (dir, file) = if path.is_dir() {
        if path.join(artifact::MODEL_FILE).is_file() {
            (path.to_path_buf(), path.join(artifact::MODEL_FILE))
        } else if path.join(artifact::MODELS_PREFIX).is_dir() {
            let root = std::fs::canonicalize(path)
                .map_err(|e| invalid(format!("model `{}`: {e}", path.display())))?;
            let store = Store::open(&root.display().to_string())?;
            let version = artifact::latest_version(&store)
                .await
                .map_err(DriftError::ReferenceUnavailable)?;
            let dir = root.join(artifact::MODELS_PREFIX).join(&version);
            (dir.clone(), dir.join(artifact::MODEL_FILE))
        } else {
            return Err(invalid(format!(
                "model `{}` is a directory without model.json or models/",
                path.display()
            )));
        }
    } else {
        (
            path.parent().map(Path::to_path_buf).unwrap_or_default(),
            path.to_path_buf(),
        )
    };
    let bytes = std::fs::read(&file)
        .map_err(|e| invalid(format!("cannot read model `{}`: {e}", file.display())))?;
    let model = ModelArtifact::from_bytes(&bytes, &file.display().to_string())
        .map_err(DriftError::ReferenceUnavailable)?;
    // The reference sample is optional here: only the model matters for ad-hoc checks.
    let reference_path = dir.join(&model.reference.file);
    let reference = std::fs::read(&reference_path).ok().and_then(|b| {
        let mut json = Vec::new();
        std::io::Read::read_to_end(&mut flate2_decoder(&b), &mut json).ok()?;
        serde_json::from_slice(&json).ok()
    });
    Ok((model, reference))
}

fn flate2_decoder(bytes: &[u8]) -> impl std::io::Read + '_ {
    flate2::read::GzDecoder::new(bytes)
}

fn read_yaml<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T, DriftError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        DriftError::InvalidConfig(format!("cannot read {what} `{}`: {e}", path.display()))
    })?;
    serde_yaml::from_str(&text).map_err(|e| {
        DriftError::InvalidConfig(format!("{what} `{}` is invalid: {e}", path.display()))
    })
}

/// Reads and checks a feature schema file (YAML or JSON).
pub fn read_schema(path: &Path) -> Result<FeatureSchema, DriftError> {
    let schema: FeatureSchema = read_yaml(path, "schema")?;
    schema.check().map_err(|e| {
        DriftError::InvalidConfig(format!("schema `{}` is invalid: {e}", path.display()))
    })?;
    Ok(schema)
}

/// Reads and checks a DriftRules spec file (YAML or JSON).
pub fn read_policy(path: &Path) -> Result<DriftRules, DriftError> {
    let policy: DriftRules = read_yaml(path, "policy")?;
    policy.check().map_err(|e| {
        DriftError::InvalidConfig(format!("policy `{}` is invalid: {e}", path.display()))
    })?;
    Ok(policy)
}

/// Reads a CSV / JSON Lines file (optionally gzip) into a raw table, naming the file on error.
pub fn read_table(path: &Path) -> Result<RawTable, DriftError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| DriftError::InvalidData {
        path: name.clone(),
        message: e.to_string(),
    })?;
    RawTable::parse(&bytes, DataFormat::Auto.resolve(&name)).map_err(|e| DriftError::InvalidData {
        path: name,
        message: e.to_string(),
    })
}

/// The profile of a raw table: features typed by the schema, predictions by the
/// model (rows it cannot encode are left out of the prediction profile), labels
/// from the target column when present, request ids from `request_id` when present.
pub fn profile_table(
    schema: &FeatureSchema,
    table: &RawTable,
    model: Option<&ModelArtifact>,
    path: &str,
) -> Result<WindowProfile, DriftError> {
    let missing: Vec<&str> = schema
        .features
        .iter()
        .filter(|f| table.column(&f.name).is_none())
        .map(|f| f.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(DriftError::InvalidData {
            path: path.to_string(),
            message: format!(
                "{} of the schema's feature columns are missing: {} (columns present: {})",
                missing.len(),
                missing.join(", "),
                table.columns.join(", ")
            ),
        });
    }
    let rows = table.n_rows();
    let mut profile = WindowProfile::new(schema);
    profile.rows = rows as u64;
    for (column, spec) in profile.columns.iter_mut().zip(&schema.features) {
        if let Some(cells) = table.column(&spec.name) {
            for cell in cells {
                column.observe_text(spec, cell.as_deref());
            }
        }
    }
    if let Some(ids) = table.column("request_id") {
        let mut sampler = IdSampler::default();
        for id in ids.iter().flatten() {
            sampler.add(id);
        }
        profile.ids = Some(sampler);
    }
    if let Some(model) = model {
        let target = table.column(&schema.target.name);
        let typed: Vec<Vec<Value>> = model
            .schema
            .features
            .iter()
            .map(|f| match table.column(&f.name) {
                Some(cells) => cells
                    .iter()
                    .map(|c| f.parse(c.as_deref()).unwrap_or(Value::Missing))
                    .collect(),
                None => vec![Value::Missing; rows],
            })
            .collect();
        let mut predictions = PredictionProfile::new(model.schema.target.classes.len());
        let mut labels = target.map(|_| LabelProfile::default());
        let mut encoded = vec![0.0; model.pipeline.width()];
        let mut probabilities = vec![0.0; model.model.n_classes()];
        let mut row = Vec::with_capacity(typed.len());
        for r in 0..rows {
            row.clear();
            row.extend(typed.iter().map(|c| c[r].clone()));
            if model.pipeline.encode_row(&row, &mut encoded).is_err() {
                continue;
            }
            model.model.predict_proba_row(&encoded, &mut probabilities);
            let predicted = predictions.observe_probabilities(&probabilities);
            if let (Some(labels), Some(target), Some(predicted)) =
                (labels.as_mut(), target, predicted)
            {
                match target[r]
                    .as_deref()
                    .map(str::trim)
                    .and_then(|t| model.schema.class_index(t))
                {
                    Some(actual) => labels.observe(predicted, actual),
                    None => labels.unknown_labels += 1,
                }
            }
        }
        profile.predictions = Some(predictions);
        profile.labels = labels.filter(|l| l.labelled > 0);
    }
    let _ = argmax;
    Ok(profile)
}

/// Ad-hoc mode: compares two files and writes the reports into `out_dir`.
pub fn check_files(input: &AdhocInput, now: DateTime<Utc>) -> Result<DriftOutcome, DriftError> {
    let mut laps = Laps::new();
    input
        .policy
        .check()
        .map_err(|e| DriftError::InvalidConfig(e.to_string()))?;
    let schema = match (&input.schema, &input.model) {
        (Some(schema), _) => schema.clone(),
        (None, Some(model)) => model.schema.clone(),
        (None, None) => {
            return Err(DriftError::InvalidConfig(
                "ad-hoc mode needs --schema or --model to type the columns".into(),
            ))
        }
    };
    schema
        .check()
        .map_err(|e| DriftError::InvalidConfig(format!("schema: {e}")))?;
    input
        .policy
        .check_features(&schema)
        .map_err(|e| DriftError::InvalidConfig(e.to_string()))?;
    if let Some(model) = &input.model {
        let names = |s: &FeatureSchema| {
            s.features
                .iter()
                .map(|f| f.name.clone())
                .collect::<Vec<_>>()
        };
        if names(&model.schema) != names(&schema) || model.schema.target != schema.target {
            return Err(DriftError::InvalidConfig(format!(
                "the schema does not match model {}'s schema (features or target differ)",
                model.version
            )));
        }
    }
    let ref_name = input.reference.display().to_string();
    let cur_name = input.current.display().to_string();
    let reference_table = read_table(&input.reference)?;
    let current_table = read_table(&input.current)?;
    laps.lap("read");
    let reference = profile_table(&schema, &reference_table, input.model.as_ref(), &ref_name)?;
    let current = profile_table(&schema, &current_table, input.model.as_ref(), &cur_name)?;
    drop((reference_table, current_table));
    laps.lap("profile");
    let assessment = assess(
        &schema,
        &input.policy,
        &reference,
        &current,
        &QualityContext::default(),
        &AssessOptions::default(),
    );
    laps.lap("assess");
    let mut report = DriftReport {
        format_version: REPORT_FORMAT_VERSION,
        generated_at: now,
        vigil_version: vigil_core::VIGIL_VERSION.to_string(),
        mode: CheckMode::AdHoc,
        model_name: input.model.as_ref().and_then(|m| m.model_name.clone()),
        model_version: input.model.as_ref().map(|m| m.version.clone()),
        reference: DataSource {
            description: ref_name,
            rows: reference.rows,
        },
        current: DataSource {
            description: cur_name,
            rows: current.rows,
        },
        window: None,
        policy: input.policy.clone(),
        assessment,
        timings: Vec::new(),
    };
    report.timings = laps.timings;
    let (report_uri, html_uri) = match &input.out_dir {
        Some(dir) => {
            let stem = report_stem(now);
            let write = |path: PathBuf, bytes: &[u8]| {
                std::fs::create_dir_all(dir)
                    .and_then(|_| std::fs::write(&path, bytes))
                    .map_err(|source| DriftError::WriteReport {
                        path: path.display().to_string(),
                        source,
                    })
                    .map(|_| path.display().to_string())
            };
            let json = serde_json::to_vec_pretty(&report).unwrap_or_default();
            (
                write(dir.join(format!("{stem}.json")), &json)?,
                write(
                    dir.join(format!("{stem}.html")),
                    html::render(&report).as_bytes(),
                )?,
            )
        }
        None => (String::new(), String::new()),
    };
    Ok(DriftOutcome {
        summary: DriftSummary::from_report(&report, report_uri.clone(), html_uri.clone()),
        report,
        report_uri,
        html_uri,
    })
}
