//! The files an ad-hoc check (and `vigil inject`) reads: a model artifact, a schema,
//! a policy, a dataset; every error names the file.

use std::path::Path;

use vigil_core::data::dataset::{DataFormat, RawTable};
use vigil_core::data::schema::FeatureSchema;
use vigil_core::data::storage::Store;
use vigil_core::drift::DriftRules;
use vigil_core::train::artifact::{self, ModelArtifact, ReferenceSample};

use super::DriftError;

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
