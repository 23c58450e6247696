//! Ad-hoc mode: two CSV / JSON Lines files typed by a schema (or the model's), with
//! optional predictions by a model artifact; the report into a directory.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use vigil_core::data::dataset::RawTable;
use vigil_core::data::schema::{FeatureSchema, Value};
use vigil_core::drift::profile::{LabelProfile, PredictionProfile, WindowProfile};
use vigil_core::drift::quality::QualityContext;
use vigil_core::drift::report::{
    CheckMode, DataSource, DriftReport, DriftSummary, REPORT_FORMAT_VERSION,
};
use vigil_core::drift::sketch::IdSampler;
use vigil_core::drift::{assess, AssessOptions, DriftRules};
use vigil_core::train::artifact::ModelArtifact;

use super::files::read_table;
use super::{report_stem, DriftError, DriftOutcome};
use crate::html;
use crate::laps::Laps;

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
        let (predictions, labels) = predict_table(model, table, &schema.target.name);
        profile.predictions = Some(predictions);
        profile.labels = labels.filter(|l| l.labelled > 0);
    }
    Ok(profile)
}

/// The model's predictions of every row it can encode, and (with a target column)
/// how many of them were right.
fn predict_table(
    model: &ModelArtifact,
    table: &RawTable,
    target_name: &str,
) -> (PredictionProfile, Option<LabelProfile>) {
    let rows = table.n_rows();
    let target = table.column(target_name);
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
        if let (Some(labels), Some(target), Some(predicted)) = (labels.as_mut(), target, predicted)
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
    (predictions, labels)
}

/// Ad-hoc mode: compares two files and writes the reports into `out_dir`.
pub fn check_files(input: &AdhocInput, now: DateTime<Utc>) -> Result<DriftOutcome, DriftError> {
    let mut laps = Laps::new();
    input
        .policy
        .check()
        .map_err(|e| DriftError::InvalidConfig(e.to_string()))?;
    let schema = typing_schema(input)?;
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
        Some(dir) => write_files(dir, now, &report)?,
        None => (String::new(), String::new()),
    };
    Ok(DriftOutcome {
        summary: DriftSummary::from_report(&report, report_uri.clone(), html_uri.clone()),
        report,
        report_uri,
        html_uri,
    })
}

/// The schema that types both files: the given one, else the model's; with a model,
/// they must agree.
fn typing_schema(input: &AdhocInput) -> Result<FeatureSchema, DriftError> {
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
    Ok(schema)
}

/// Writes `<timestamp>.json` and `.html` into `dir`; returns their paths.
fn write_files(
    dir: &Path,
    now: DateTime<Utc>,
    report: &DriftReport,
) -> Result<(String, String), DriftError> {
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
    let json = serde_json::to_vec_pretty(report).unwrap_or_default();
    Ok((
        write(dir.join(format!("{stem}.json")), &json)?,
        write(
            dir.join(format!("{stem}.html")),
            html::render(report).as_bytes(),
        )?,
    ))
}
