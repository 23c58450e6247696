//! The served model: loaded from the store, shared behind an `Arc`, swapped atomically.
//!
//! Every request takes a snapshot (`Arc` clone) of the current model when it starts and
//! uses only that snapshot, so a reload never changes the model under a request in flight:
//! old requests finish on the old model, new ones start on the new one.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use vigil_core::data::storage::Store;
use vigil_core::train::artifact::{self, ArtifactError, ModelArtifact};

use crate::metrics::{Metrics, ModelMetrics};
use crate::record::{EntryPool, LogTemplate};

/// A model ready to answer: the artifact plus lookups and metric handles built once.
pub struct LoadedModel {
    pub artifact: ModelArtifact,
    /// Feature name → position in the schema.
    index: HashMap<String, usize>,
    pub metrics: ModelMetrics,
    pub loaded_at: DateTime<Utc>,
    /// The constant text of its prediction log records.
    pub log_template: LogTemplate,
    /// Buffers of its logged requests, recycled.
    pub log_buffers: EntryPool,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("version", &self.artifact.version)
            .finish_non_exhaustive()
    }
}

impl LoadedModel {
    pub fn new(artifact: ModelArtifact, metrics: &Metrics) -> LoadedModel {
        let names: Vec<String> = artifact
            .schema
            .features
            .iter()
            .map(|f| f.name.clone())
            .collect();
        let index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        let model_metrics = ModelMetrics::new(metrics, &artifact.schema.target.classes, &names);
        LoadedModel {
            log_template: LogTemplate::new(&artifact.schema, &artifact.version),
            artifact,
            index,
            metrics: model_metrics,
            loaded_at: Utc::now(),
            log_buffers: EntryPool::default(),
        }
    }

    pub fn version(&self) -> &str {
        &self.artifact.version
    }

    pub fn feature_index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub fn n_features(&self) -> usize {
        self.artifact.schema.features.len()
    }

    pub fn classes(&self) -> &[String] {
        &self.artifact.schema.target.classes
    }
}

/// Loads `version`, or the newest version in the store when `None`.
pub async fn load(store: &Store, version: Option<&str>) -> Result<ModelArtifact, ArtifactError> {
    let version = match version {
        Some(v) => v.to_string(),
        None => artifact::latest_version(store).await?,
    };
    ModelArtifact::load(store, &version).await
}

/// The slot holding the served model.
#[derive(Default)]
pub struct ModelSlot {
    current: RwLock<Option<Arc<LoadedModel>>>,
}

impl ModelSlot {
    /// A snapshot of the served model; `None` until the first load succeeds.
    pub fn get(&self) -> Option<Arc<LoadedModel>> {
        // A poisoned lock only means a writer panicked mid-swap; the Option inside is
        // still whole (assignment of an Arc cannot tear), so keep serving it.
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Installs `model` and returns the one it replaced.
    pub fn swap(&self, model: Arc<LoadedModel>) -> Option<Arc<LoadedModel>> {
        let mut guard = self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.replace(model)
    }
}
