//! Configuration types shared by the CRD spec and the jobs.
//!
//! `MonitoredModel.spec` embeds [`StorageSpec`] and [`TrainingSpec`]
//! unchanged; the operator hands a job its configuration as JSON of
//! [`TrainJobConfig`], so a job never needs the Kubernetes API.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::data::dataset::DataFormat;
use crate::data::schema::FeatureSchema;
use crate::data::storage::StorageSpec;
use crate::train::model::{Algorithm, Hyperparameters};
use crate::train::pipeline::PipelineSpec;

/// The training data.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataSpec {
    /// Where the data is: a file (CSV or JSON Lines, optionally gzip-compressed, or
    /// Parquet) as a path, `file://`, `pvc://` or `s3://` URI; or a PostgreSQL database,
    /// `postgres://user@host:5432/db` with `query` (the password from `PGPASSWORD`, e.g.
    /// out of a Secret; one in the URI is accepted but never shown).
    pub uri: String,
    /// `csv`, `jsonl`, `parquet` or `auto` (from the file name; default). Files only.
    #[serde(default)]
    pub format: DataFormat,
    /// The SQL query whose rows are the training data (`postgres://` URIs only). It runs
    /// read-only behind a cursor and is fetched in batches; `ORDER BY` makes reruns
    /// reproducible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// More rows than this stops training with an error (default 10,000,000): memory
    /// is bounded by it.
    #[serde(default = "default_max_rows")]
    pub max_rows: usize,
    /// Keep only rows whose column equals a value (e.g. `split: train`) before anything else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<ColumnEquals>,
}

/// A column equal to a value.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ColumnEquals {
    /// Column name.
    pub column: String,
    /// Value the column must equal.
    pub value: String,
}

/// How the evaluation hold-out is chosen.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HoldoutSpec {
    /// Fraction of rows held out, stratified by class (default 0.2).
    #[serde(default = "default_holdout_fraction")]
    pub fraction: f64,
    /// Seed of the split, so that a rerun holds out the same rows (default 42).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Use a predefined split instead: rows whose column equals the value are the hold-out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<ColumnEquals>,
}

impl Default for HoldoutSpec {
    fn default() -> Self {
        HoldoutSpec {
            fraction: default_holdout_fraction(),
            seed: default_seed(),
            column: None,
        }
    }
}

fn default_max_rows() -> usize {
    10_000_000
}

/// Whether a data URI names a PostgreSQL database.
pub fn is_postgres_uri(uri: &str) -> bool {
    uri.starts_with("postgres://") || uri.starts_with("postgresql://")
}

fn default_holdout_fraction() -> f64 {
    0.2
}

fn default_seed() -> u64 {
    42
}

/// Thresholds of the training-data checks.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValidationSpec {
    /// Hard: fewer rows than this stops training (default 100).
    #[serde(default = "default_min_rows")]
    pub min_rows: usize,
    /// Soft: a feature missing in more than this fraction of rows is a warning (default 0.15).
    #[serde(default = "default_max_missing_rate")]
    pub max_missing_rate: f64,
    /// Soft: majority-class count over minority-class count above this is a warning (default 10).
    #[serde(default = "default_max_class_imbalance")]
    pub max_class_imbalance: f64,
}

impl Default for ValidationSpec {
    fn default() -> Self {
        ValidationSpec {
            min_rows: default_min_rows(),
            max_missing_rate: default_max_missing_rate(),
            max_class_imbalance: default_max_class_imbalance(),
        }
    }
}

fn default_min_rows() -> usize {
    100
}

fn default_max_missing_rate() -> f64 {
    0.15
}

fn default_max_class_imbalance() -> f64 {
    10.0
}

/// CPU and memory of a container, as Kubernetes quantities (`500m`, `1Gi`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resources {
    /// Guaranteed amounts, by resource name (`cpu`, `memory`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, String>,
    /// Upper bounds, by resource name (`cpu`, `memory`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, String>,
}

/// How a model is trained.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrainingSpec {
    /// The training data.
    pub data: DataSpec,
    /// `logistic-regression` or `decision-tree`.
    pub algorithm: Algorithm,
    /// Algorithm settings; fields that do not apply to the algorithm are rejected.
    #[serde(default)]
    pub hyperparameters: Hyperparameters,
    /// Imputation and encoding settings.
    #[serde(default)]
    pub pipeline: PipelineSpec,
    /// The evaluation hold-out.
    #[serde(default)]
    pub holdout: HoldoutSpec,
    /// Training-data checks.
    #[serde(default)]
    pub validation: ValidationSpec,
    /// Rows of training features (with the model's predictions) kept as the
    /// drift reference (default 10000).
    #[serde(default = "default_reference_rows")]
    pub reference_rows: usize,
    /// CPU and memory of the training Pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Cron schedule for periodic retraining (used by the operator; omit for on demand only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

fn default_reference_rows() -> usize {
    10_000
}

/// Everything `vigil train` needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrainJobConfig {
    /// Name of the model (informational; lands in lineage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Features and target.
    pub schema: FeatureSchema,
    /// The model's store.
    pub storage: StorageSpec,
    /// How to train.
    pub training: TrainingSpec,
    /// The version being served now, evaluated on the same hold-out for comparison.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_version: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config `{path}` is invalid: {message}")]
    Parse { path: String, message: String },
    #[error("config is invalid: {0}")]
    Invalid(String),
}

impl TrainJobConfig {
    /// Parses YAML or JSON (JSON is YAML) and checks the result.
    pub fn from_text(text: &str, path: &str) -> Result<Self, ConfigError> {
        let config: TrainJobConfig =
            serde_yaml::from_str(text).map_err(|e| ConfigError::Parse {
                path: path.to_string(),
                message: e.to_string(),
            })?;
        config.check()?;
        Ok(config)
    }

    pub fn from_file(path: &str) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_string(),
            source,
        })?;
        Self::from_text(&text, path)
    }

    /// Cross-field checks that serde cannot express.
    pub fn check(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        self.schema
            .check()
            .map_err(|e| ConfigError::Invalid(format!("schema: {e}")))?;
        self.training
            .hyperparameters
            .check(self.training.algorithm)
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let data = &self.training.data;
        match (is_postgres_uri(&data.uri), &data.query) {
            (true, None) => {
                return invalid("training.data.query is required with a postgres:// URI".into())
            }
            (false, Some(_)) => {
                return invalid("training.data.query applies only to postgres:// URIs".into())
            }
            (true, Some(q)) if q.trim().is_empty() => {
                return invalid("training.data.query is empty".into())
            }
            _ => {}
        }
        if data.max_rows == 0 {
            return invalid("training.data.maxRows must be ≥ 1".into());
        }
        let holdout = &self.training.holdout;
        if holdout.column.is_none() && !(holdout.fraction > 0.0 && holdout.fraction < 1.0) {
            return invalid(format!(
                "training.holdout.fraction must be between 0 and 1 (exclusive), got {}",
                holdout.fraction
            ));
        }
        let validation = &self.training.validation;
        if !(0.0..=1.0).contains(&validation.max_missing_rate) {
            return invalid(format!(
                "training.validation.maxMissingRate must be between 0 and 1, got {}",
                validation.max_missing_rate
            ));
        }
        if validation.max_class_imbalance.is_nan() || validation.max_class_imbalance < 1.0 {
            return invalid(format!(
                "training.validation.maxClassImbalance must be ≥ 1, got {}",
                validation.max_class_imbalance
            ));
        }
        if self.training.reference_rows == 0 {
            return invalid("training.referenceRows must be ≥ 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
schema:
  target: {name: y, classes: [a, b]}
  features: [{name: x, type: numeric}]
storage: {uri: "file:///tmp/vigil"}
training:
  data: {uri: "data.csv"}
  algorithm: logistic-regression
"#;

    #[test]
    fn minimal_config_gets_defaults() {
        let config = TrainJobConfig::from_text(MINIMAL, "minimal.yaml").expect("valid");
        assert_eq!(config.training.holdout, HoldoutSpec::default());
        assert_eq!(config.training.validation.min_rows, 100);
        assert_eq!(config.training.reference_rows, 10_000);
    }

    #[test]
    fn json_works_as_well_as_yaml() {
        let config = TrainJobConfig::from_text(MINIMAL, "m").expect("valid");
        let json = serde_json::to_string(&config).expect("json");
        assert_eq!(
            TrainJobConfig::from_text(&json, "m.json").expect("json"),
            config
        );
    }

    #[test]
    fn errors_name_the_field() {
        let typo = MINIMAL.replace("algorithm: logistic-regression", "algorithm: random-forest");
        let err = TrainJobConfig::from_text(&typo, "c.yaml").expect_err("unknown algorithm");
        assert!(err.to_string().contains("random-forest"), "{err}");

        let inapplicable = format!("{MINIMAL}  hyperparameters: {{maxDepth: 3}}\n");
        let err = TrainJobConfig::from_text(&inapplicable, "c.yaml").expect_err("inapplicable");
        assert_eq!(
            err.to_string(),
            "config is invalid: hyperparameter `maxDepth` does not apply to logistic-regression"
        );

        let fraction = format!("{MINIMAL}  holdout: {{fraction: 1.5}}\n");
        let err = TrainJobConfig::from_text(&fraction, "c.yaml").expect_err("fraction");
        assert!(err.to_string().contains("holdout.fraction"), "{err}");

        let err = TrainJobConfig::from_file("/nonexistent/c.yaml").expect_err("missing file");
        assert!(err
            .to_string()
            .starts_with("cannot read config `/nonexistent/c.yaml`"));
    }
}
