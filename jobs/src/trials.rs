//! Detection trials: how often the verdict flags each kind of injected drift, and
//! how often it raises a false alarm on clean traffic.
//!
//! Setup (Adult): a logistic regression is trained on the `train` split exactly as
//! `vigil train` does (its artifact's reference sample — 10 000 training rows with
//! their in-sample predictions — is the reference). Each trial draws a window of
//! `window` rows without replacement from the `test` split (fresh real rows of the
//! same population the model never saw: the traffic a real deployment would get),
//! with its own seed. Clean trials compare that window as it is; drift trials
//! first inject one kind of drift at `intensity` (sudden) into one feature chosen
//! by the seed. The model predicts every window row (prediction drift), and the
//! window's labels are its ground truth (performance drift). A trial is "detected"
//! when the overall verdict (drift statistics raised by quality checks) is Warning
//! or Critical.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use vigil_core::data::dataset::{DataFormat, DatasetError, RawTable};
use vigil_core::data::schema::Value;
use vigil_core::data::storage::{Store, StoreError};
use vigil_core::drift::quality::QualityContext;
use vigil_core::drift::{assess, AssessOptions, DriftRules, Verdict, WindowProfile};
use vigil_core::train::artifact::{ArtifactError, ModelArtifact};
use vigil_core::train::config::{ConfigError, TrainJobConfig};
use vigil_core::train::split::sample_indices;

use crate::inject::{inject, DriftKind, InjectError, InjectSpec, RampProfile, Rows};
use crate::train::TrainError;

/// The Adult training configuration used by the trials (the repository's example).
pub const ADULT_CONFIG: &str = include_str!("../../examples/train-adult.yaml");

/// A trained model, its reference profile and the pool of fresh rows.
pub struct Setup {
    pub model: ModelArtifact,
    pub reference: WindowProfile,
    pub pool: Rows,
}

/// Why the trials could not run.
#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Reference(#[from] ArtifactError),
    #[error("{path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Data(#[from] DatasetError),
    #[error("the data has no `split` column")]
    NoSplit,
    #[error(transparent)]
    Inject(#[from] InjectError),
}

/// Trains the Adult model into `store_dir` and loads the test split as the pool.
pub async fn setup_adult(data: &Path, store_dir: &Path) -> Result<Setup, TrialError> {
    let mut config = TrainJobConfig::from_text(ADULT_CONFIG, "examples/train-adult.yaml")?;
    config.training.data.uri = data.display().to_string();
    config.storage.uri = store_dir.display().to_string();
    let outcome = crate::train::train(&config, chrono::Utc::now(), &|_| {}).await?;
    let store = Store::open(&config.storage.uri)?;
    let sample = outcome.artifact.load_reference(&store).await?;
    let schema = &outcome.artifact.schema;
    let reference = WindowProfile::from_reference(schema, &sample);
    let bytes = std::fs::read(data).map_err(|source| TrialError::Read {
        path: data.display().to_string(),
        source,
    })?;
    let raw = RawTable::parse(&bytes, DataFormat::Csv)?;
    let split = raw.column("split").ok_or(TrialError::NoSplit)?.to_vec();
    let test = raw.filter_rows(|r| split[r].as_deref() == Some("test"));
    let pool = Rows::from_raw(schema, &test)?;
    Ok(Setup {
        model: outcome.artifact,
        reference,
        pool,
    })
}

/// What to run.
#[derive(Clone, Debug)]
pub struct TrialConfig {
    pub trials_per_kind: usize,
    pub clean_trials: usize,
    pub window: usize,
    pub intensity: f64,
    pub kinds: Vec<DriftKind>,
    pub seed: u64,
    pub policy: DriftRules,
    /// Threads for the per-feature statistics of one trial.
    pub threads: usize,
}

impl Default for TrialConfig {
    fn default() -> Self {
        TrialConfig {
            trials_per_kind: 100,
            clean_trials: 200,
            window: 5000,
            intensity: 0.5,
            kinds: DriftKind::ALL.to_vec(),
            seed: 20_261_128,
            policy: DriftRules::default(),
            threads: 2,
        }
    }
}

/// One line of the table.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrialRow {
    /// `clean` or a drift kind.
    pub kind: String,
    pub trials: usize,
    pub none: usize,
    pub warning: usize,
    pub critical: usize,
    pub insufficient: usize,
    /// Trials whose drift statistics alone (not quality) gave Warning/Critical.
    pub by_statistics: usize,
    /// Which part flagged first: feature name, `prediction`, `performance` or a quality check.
    pub flagged_by: BTreeMap<String, usize>,
}

impl TrialRow {
    pub fn detected(&self) -> usize {
        self.warning + self.critical
    }

    pub fn detected_rate(&self) -> f64 {
        self.detected() as f64 / self.trials.max(1) as f64
    }
}

/// What flagged a trial first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flagged {
    Feature(String),
    Prediction,
    Performance,
    Quality(String),
    Nothing,
}

impl Flagged {
    /// The column of the table it counts in: `feature`, `prediction`, `performance`,
    /// `quality:<check>` (or `-`).
    pub fn key(&self) -> String {
        match self {
            Flagged::Feature(_) => "feature".into(),
            Flagged::Prediction => "prediction".into(),
            Flagged::Performance => "performance".into(),
            Flagged::Quality(check) => format!("quality:{check}"),
            Flagged::Nothing => "-".into(),
        }
    }
}

/// Runs one trial; returns the overall verdict, the drift verdict and what flagged.
pub fn run_trial(
    setup: &Setup,
    config: &TrialConfig,
    kind: Option<DriftKind>,
    trial_seed: u64,
) -> Result<(Verdict, Verdict, Flagged), TrialError> {
    let schema = &setup.model.schema;
    let indices = sample_indices(setup.pool.n_rows(), config.window, trial_seed);
    let mut rows = setup.pool.select(&indices);
    if let Some(kind) = kind {
        inject(
            schema,
            &mut rows,
            &InjectSpec {
                kind,
                intensity: config.intensity,
                profile: RampProfile::Sudden,
                feature: None,
                seed: trial_seed ^ 0x9e37_79b9_7f4a_7c15,
            },
        )?;
    }
    let probabilities = predict(&setup.model, &rows);
    let current = WindowProfile::from_columns(
        schema,
        &rows.columns,
        Some(&probabilities),
        rows.labels.as_deref(),
        config.threads,
    );
    let assessment = assess(
        schema,
        &config.policy,
        &setup.reference,
        &current,
        &QualityContext::default(),
        &AssessOptions {
            threads: config.threads,
            ..AssessOptions::default()
        },
    );
    let flagged = if let Some(f) = assessment.drifted_features.first() {
        Flagged::Feature(f.clone())
    } else if assessment
        .prediction
        .as_ref()
        .is_some_and(|p| p.verdict.is_drift())
    {
        Flagged::Prediction
    } else if assessment
        .performance
        .as_ref()
        .is_some_and(|p| p.verdict.is_drift())
    {
        Flagged::Performance
    } else if let Some(q) = assessment.quality.failures().first() {
        Flagged::Quality(q.clone())
    } else {
        Flagged::Nothing
    };
    Ok((assessment.verdict, assessment.drift_verdict, flagged))
}

/// Class probabilities of every row (rows the pipeline cannot encode get NaN, which
/// the profile skips).
pub fn predict(model: &ModelArtifact, rows: &Rows) -> Vec<Vec<f64>> {
    let n = rows.n_rows();
    let mut encoded = vec![0.0; model.pipeline.width()];
    let mut row: Vec<Value> = Vec::with_capacity(rows.columns.len());
    (0..n)
        .map(|i| {
            row.clear();
            row.extend(rows.columns.iter().map(|c| c[i].clone()));
            let mut p = vec![f64::NAN; model.model.n_classes()];
            if model.pipeline.encode_row(&row, &mut encoded).is_ok() {
                model.model.predict_proba_row(&encoded, &mut p);
            }
            p
        })
        .collect()
}

/// Runs every trial; `progress(done, total)` after each.
pub fn run(
    setup: &Setup,
    config: &TrialConfig,
    progress: &dyn Fn(usize, usize),
) -> Result<Vec<TrialRow>, TrialError> {
    let mut plan: Vec<(String, Option<DriftKind>, usize)> =
        vec![("clean".into(), None, config.clean_trials)];
    for &kind in &config.kinds {
        plan.push((kind.name().into(), Some(kind), config.trials_per_kind));
    }
    let total: usize = plan.iter().map(|p| p.2).sum();
    let mut done = 0;
    let mut table = Vec::new();
    for (k, (name, kind, trials)) in plan.into_iter().enumerate() {
        let mut row = TrialRow {
            kind: name,
            trials,
            ..TrialRow::default()
        };
        for t in 0..trials {
            let seed = config
                .seed
                .wrapping_mul(1_000_003)
                .wrapping_add((k as u64) << 32)
                .wrapping_add(t as u64);
            let (verdict, drift_verdict, flagged) = run_trial(setup, config, kind, seed)?;
            match verdict {
                Verdict::None => row.none += 1,
                Verdict::Warning => row.warning += 1,
                Verdict::Critical => row.critical += 1,
                Verdict::InsufficientData => row.insufficient += 1,
            }
            if drift_verdict.is_drift() {
                row.by_statistics += 1;
            }
            if verdict.is_drift() {
                *row.flagged_by.entry(flagged.key()).or_insert(0) += 1;
            }
            done += 1;
            progress(done, total);
        }
        table.push(row);
    }
    Ok(table)
}

/// The table as Markdown.
pub fn markdown(table: &[TrialRow]) -> String {
    let mut out = String::from(
        "| traffic | trials | None | Warning | Critical | detected (W or C) | by drift statistics | flagged by |\n|---|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for r in table {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.1}% | {:.1}% | {} |\n",
            r.kind,
            r.trials,
            r.none,
            r.warning,
            r.critical,
            r.detected_rate() * 100.0,
            r.by_statistics as f64 / r.trials.max(1) as f64 * 100.0,
            r.flagged_by
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
}
