//! Versioned, immutable model artifacts in the store.
//!
//! ```text
//! models/<version>/reference.json.gz   drift reference: training features + predictions
//! models/<version>/holdout.json.gz     binary models: the hold-out's scores and labels
//!                                      (the out-of-sample reference of CBPE)
//! models/<version>/model.json          schema, pipeline, parameters, metrics, lineage
//! ```
//! `model.json` is written last, so a version exists exactly when its
//! `model.json` does; both writes are atomic and refuse to overwrite.

use std::io::{Read, Write};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::dataset::Frame;
use crate::data::schema::{FeatureSchema, FieldProblem, Value};
use crate::data::storage::{Store, StoreError};
use crate::train::config::HoldoutSpec;
use crate::train::evaluation::Metrics;
use crate::train::model::{Algorithm, Hyperparameters, Model};
use crate::train::pipeline::FeaturePipeline;
use crate::train::validation::ValidationReport;

/// Bumped on any incompatible change of `model.json`.
pub const FORMAT_VERSION: u32 = 1;
pub const MODELS_PREFIX: &str = "models";
pub const MODEL_FILE: &str = "model.json";
pub const REFERENCE_FILE: &str = "reference.json.gz";
pub const HOLDOUT_FILE: &str = "holdout.json.gz";

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("artifact `{uri}` is corrupt or truncated: {message}")]
    Corrupt { uri: String, message: String },
    #[error(
        "artifact `{uri}` has format version {found}; this Vigil reads version {FORMAT_VERSION}"
    )]
    UnsupportedFormat { uri: String, found: u32 },
    #[error("no model version in `{uri}`")]
    NoVersions { uri: String },
}

/// Where the model came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lineage {
    pub data_uri: String,
    /// SHA-256 of the training file's bytes as read.
    pub data_sha256: String,
    pub rows_total: usize,
    pub rows_train: usize,
    pub rows_holdout: usize,
    pub algorithm: Algorithm,
    pub hyperparameters: Hyperparameters,
    pub holdout: HoldoutSpec,
    pub fit_seconds: f64,
}

/// Pointer from `model.json` to its reference sample, with its checksum.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferenceInfo {
    pub file: String,
    pub rows: usize,
    pub sha256: String,
}

/// The content of `model.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelArtifact {
    pub format_version: u32,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub vigil_version: String,
    pub schema: FeatureSchema,
    pub pipeline: FeaturePipeline,
    pub model: Model,
    /// Metrics on the hold-out.
    pub metrics: Metrics,
    pub validation: ValidationReport,
    pub lineage: Lineage,
    pub reference: ReferenceInfo,
    /// The scored hold-out (binary models; absent in artifacts written before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<ReferenceInfo>,
}

/// A sample of training rows with the model's predictions: what drift checks
/// compare live traffic with. Stored column-wise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferenceSample {
    /// Feature name → values, in schema order.
    pub columns: Vec<(String, Vec<Value>)>,
    /// True class index of each row.
    pub target: Vec<usize>,
    /// Predicted class probabilities of each row.
    pub probabilities: Vec<Vec<f64>>,
}

impl ReferenceSample {
    pub fn rows(&self) -> usize {
        self.target.len()
    }
}

/// The hold-out as the model scored it, with its labels: rows the model never saw,
/// which is what CBPE must be fitted on (training rows would make it overconfident).
/// Binary models only; the positive class is the schema's second.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScoredHoldout {
    /// Probability of the positive class, per row.
    pub scores: Vec<f64>,
    /// Whether the model predicted the positive class (its larger probability).
    pub predicted: Vec<bool>,
    /// Whether the row's label is the positive class.
    pub labels: Vec<bool>,
}

impl ScoredHoldout {
    /// The hold-out of a two-class model from its probabilities and true class
    /// indices; `None` for any other number of classes.
    pub fn of(probabilities: ndarray::ArrayView2<'_, f64>, target: &[usize]) -> Option<Self> {
        if probabilities.ncols() != 2 {
            return None;
        }
        let rows = probabilities.rows().into_iter();
        Some(ScoredHoldout {
            scores: rows.clone().map(|p| p[1]).collect(),
            predicted: rows.map(|p| p[1] > p[0]).collect(),
            labels: target.iter().map(|&c| c == 1).collect(),
        })
    }

    pub fn rows(&self) -> usize {
        self.labels.len()
    }
}

/// A new version id: UTC time to the second plus 6 hex digits from `salt`, so
/// that versions sort by time and two trainings in the same second differ.
pub fn new_version(now: DateTime<Utc>, salt: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(now.timestamp_nanos_opt().unwrap_or_default().to_le_bytes());
    let digest = hasher.finalize();
    format!(
        "{}-{:02x}{:02x}{:02x}",
        now.format("%Y%m%d-%H%M%S"),
        digest[0],
        digest[1],
        digest[2]
    )
}

/// Hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn version_key(version: &str, file: &str) -> String {
    format!("{MODELS_PREFIX}/{version}/{file}")
}

impl ModelArtifact {
    /// Class probabilities for every row of a frame.
    pub fn predict_frame(&self, frame: &Frame) -> Result<Array2<f64>, (usize, FieldProblem)> {
        predict_frame(&self.pipeline, &self.model, frame)
    }

    /// Writes the reference sample, then `model.json`. Refuses to overwrite an
    /// existing version; on failure removes what it wrote.
    pub async fn save(
        &self,
        store: &Store,
        reference: &ReferenceSample,
        holdout: Option<&ScoredHoldout>,
    ) -> Result<(), ArtifactError> {
        let model_key = version_key(&self.version, MODEL_FILE);
        if store.exists(&model_key).await? {
            return Err(StoreError::AlreadyExists {
                uri: store.uri_of(&model_key),
            }
            .into());
        }
        let mut artifact = self.clone();
        let mut files = vec![(self.reference.file.clone(), gzip_json(reference))];
        artifact.reference.sha256 = sha256_hex(&files[0].1);
        artifact.reference.rows = reference.rows();
        artifact.holdout = holdout.map(|h| {
            let bytes = gzip_json(h);
            let info = ReferenceInfo {
                file: HOLDOUT_FILE.to_string(),
                rows: h.rows(),
                sha256: sha256_hex(&bytes),
            };
            files.push((HOLDOUT_FILE.to_string(), bytes));
            info
        });
        let model_bytes =
            serde_json::to_vec_pretty(&artifact).map_err(|e| ArtifactError::Corrupt {
                uri: store.uri_of(&model_key),
                message: e.to_string(),
            })?;
        let mut written = Vec::new();
        let mut result = Ok(());
        for (file, bytes) in files {
            let key = version_key(&self.version, &file);
            result = store.put_new(&key, bytes).await;
            if result.is_err() {
                break;
            }
            written.push(key);
        }
        if result.is_ok() {
            result = store.put_new(&model_key, Bytes::from(model_bytes)).await;
        }
        if let Err(e) = result {
            for key in written {
                let _ = store.delete(&key).await;
            }
            return Err(e.into());
        }
        Ok(())
    }

    /// Loads and checks `models/<version>/model.json`.
    pub async fn load(store: &Store, version: &str) -> Result<ModelArtifact, ArtifactError> {
        let key = version_key(version, MODEL_FILE);
        let bytes = store.get(&key).await?;
        Self::from_bytes(&bytes, &store.uri_of(&key))
    }

    /// Parses and checks `model.json` content; `uri` is for messages.
    pub fn from_bytes(bytes: &[u8], uri: &str) -> Result<ModelArtifact, ArtifactError> {
        let corrupt = |message: String| ArtifactError::Corrupt {
            uri: uri.to_string(),
            message,
        };
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Header {
            format_version: u32,
        }
        let header: Header = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
        if header.format_version != FORMAT_VERSION {
            return Err(ArtifactError::UnsupportedFormat {
                uri: uri.to_string(),
                found: header.format_version,
            });
        }
        let artifact: ModelArtifact =
            serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
        artifact
            .schema
            .check()
            .map_err(|e| corrupt(format!("schema: {e}")))?;
        artifact.model.check().map_err(|e| corrupt(e.to_string()))?;
        if artifact.pipeline.width() != artifact.model.n_features() {
            return Err(corrupt(format!(
                "pipeline produces {} columns but the model expects {}",
                artifact.pipeline.width(),
                artifact.model.n_features()
            )));
        }
        if artifact.pipeline.encoders().len() != artifact.schema.features.len()
            || artifact
                .pipeline
                .encoders()
                .iter()
                .zip(&artifact.schema.features)
                .any(|(e, f)| e.name() != f.name)
        {
            return Err(corrupt(
                "pipeline does not match the schema's features".into(),
            ));
        }
        if artifact.model.n_classes() != artifact.schema.target.classes.len() {
            return Err(corrupt(format!(
                "model has {} classes, schema {}",
                artifact.model.n_classes(),
                artifact.schema.target.classes.len()
            )));
        }
        Ok(artifact)
    }

    /// Loads the reference sample and verifies its checksum.
    pub async fn load_reference(&self, store: &Store) -> Result<ReferenceSample, ArtifactError> {
        self.load_checked(store, &self.reference).await
    }

    /// Loads the scored hold-out and verifies its checksum; `None` when the artifact
    /// has none (a multi-class model, or one written before hold-outs were kept).
    pub async fn load_holdout(
        &self,
        store: &Store,
    ) -> Result<Option<ScoredHoldout>, ArtifactError> {
        match &self.holdout {
            Some(info) => self.load_checked(store, info).await.map(Some),
            None => Ok(None),
        }
    }

    async fn load_checked<T: serde::de::DeserializeOwned>(
        &self,
        store: &Store,
        info: &ReferenceInfo,
    ) -> Result<T, ArtifactError> {
        let key = version_key(&self.version, &info.file);
        let uri = store.uri_of(&key);
        let bytes = store.get(&key).await?;
        let corrupt = |message: String| ArtifactError::Corrupt {
            uri: uri.clone(),
            message,
        };
        let digest = sha256_hex(&bytes);
        if digest != info.sha256 {
            return Err(corrupt(format!(
                "checksum {digest} does not match {} recorded in model.json",
                info.sha256
            )));
        }
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut json)
            .map_err(|e| corrupt(e.to_string()))?;
        serde_json::from_slice(&json).map_err(|e| corrupt(e.to_string()))
    }
}

/// Class probabilities for every row of a frame, through a pipeline and a model.
pub fn predict_frame(
    pipeline: &FeaturePipeline,
    model: &Model,
    frame: &Frame,
) -> Result<Array2<f64>, (usize, FieldProblem)> {
    let n_classes = model.n_classes();
    let mut probabilities = Array2::zeros((frame.n_rows(), n_classes));
    let mut encoded = vec![0.0; pipeline.width()];
    let mut row = Vec::with_capacity(frame.columns.len());
    for (index, mut target) in probabilities.rows_mut().into_iter().enumerate() {
        row.clear();
        row.extend(frame.columns.iter().map(|c| c[index].clone()));
        pipeline
            .encode_row(&row, &mut encoded)
            .map_err(|p| (index, p))?;
        let out = target
            .as_slice_mut()
            .ok_or((index, FieldProblem::NonFinite))?;
        model.predict_proba_row(&encoded, out);
    }
    Ok(probabilities)
}

fn gzip_json(value: &impl Serialize) -> Bytes {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing JSON into a Vec cannot fail; the encoder only fails on IO.
    let json = serde_json::to_vec(value).unwrap_or_default();
    let _ = encoder.write_all(&json);
    Bytes::from(encoder.finish().unwrap_or_default())
}

/// Every complete version (one with a `model.json`), oldest first.
pub async fn list_versions(store: &Store) -> Result<Vec<String>, ArtifactError> {
    let keys = store.list(MODELS_PREFIX).await?;
    let suffix = format!("/{MODEL_FILE}");
    let mut versions: Vec<String> = keys
        .iter()
        .filter_map(|k| {
            k.strip_prefix(&format!("{MODELS_PREFIX}/"))?
                .strip_suffix(&suffix)
        })
        .filter(|v| !v.contains('/'))
        .map(str::to_string)
        .collect();
    versions.sort();
    Ok(versions)
}

/// The newest complete version.
pub async fn latest_version(store: &Store) -> Result<String, ArtifactError> {
    list_versions(store)
        .await?
        .pop()
        .ok_or_else(|| ArtifactError::NoVersions {
            uri: store.uri_of(MODELS_PREFIX),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn versions_sort_by_time() {
        let early = Utc
            .with_ymd_and_hms(2026, 11, 28, 17, 15, 0)
            .single()
            .expect("time");
        let late = Utc
            .with_ymd_and_hms(2026, 11, 28, 17, 15, 1)
            .single()
            .expect("time");
        let a = new_version(early, b"x");
        let b = new_version(late, b"x");
        assert!(a.starts_with("20261128-171500-"), "{a}");
        assert_eq!(a.len(), "20261128-171500-ab12cd".len());
        assert!(a < b);
        assert_ne!(new_version(early, b"x"), new_version(early, b"y"));
    }

    #[test]
    fn corrupt_bytes_are_named() {
        let err = ModelArtifact::from_bytes(b"{\"formatVersion\": 1, \"vers", "s/model.json")
            .expect_err("truncated");
        assert!(
            err.to_string()
                .starts_with("artifact `s/model.json` is corrupt or truncated"),
            "{err}"
        );
        let err = ModelArtifact::from_bytes(b"{\"formatVersion\": 99}", "s/model.json")
            .expect_err("future");
        assert_eq!(
            err.to_string(),
            "artifact `s/model.json` has format version 99; this Vigil reads version 1"
        );
    }
}
