//! Ad-hoc mode: two CSV / JSON Lines files typed by a schema (or the model's), with
//! optional predictions by a model artifact; the report into a directory. Each file is
//! streamed into its profile ([`super::stream`]): memory does not grow with it.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use vigil_core::data::schema::FeatureSchema;
use vigil_core::drift::quality::QualityContext;
use vigil_core::drift::report::{
    CheckMode, DataSource, DriftReport, DriftSummary, REPORT_FORMAT_VERSION,
};
use vigil_core::drift::{assess, AssessOptions, DriftRules};
use vigil_core::train::artifact::ModelArtifact;

use super::stream::profile_file;
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
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let model = input.model.as_ref();
    let reference = profile_file(&input.reference, &schema, model, threads)?;
    laps.lap("readReference");
    let current = profile_file(&input.current, &schema, model, threads)?;
    laps.lap("readCurrent");
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
        model_performance: None,
        trend: Vec::new(),
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
