//! A prediction in the log buffer: written as a [`PredictionRecord`] made of borrowed
//! parts, off the request path.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use vigil_core::data::prediction_log::Timestamped;
use vigil_core::data::schema::Value;
use vigil_core::wire::PredictionRecord;

use crate::served::LoadedModel;

/// A prediction waiting in the log buffer. Serialises as a [`PredictionRecord`] made
/// of borrowed parts: the feature names and the model version come from the shared
/// model, so buffering a prediction copies no string.
pub struct PendingPrediction {
    pub request_id: String,
    pub timestamp: DateTime<Utc>,
    pub model: Arc<LoadedModel>,
    /// The features in schema order.
    pub values: Vec<Value>,
    pub class: usize,
    pub probabilities: Vec<f64>,
    pub latency_us: u64,
}

impl Timestamped for PendingPrediction {
    fn timestamp(&self) -> DateTime<Utc> {
        self.timestamp
    }
}

impl Serialize for PendingPrediction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Features<'a>(&'a PendingPrediction);
        impl Serialize for Features<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let p = self.0;
                let specs = &p.model.artifact.schema.features;
                let mut map = s.serialize_map(Some(specs.len()))?;
                for (spec, value) in specs.iter().zip(&p.values) {
                    map.serialize_entry(&spec.name, value)?;
                }
                map.end()
            }
        }
        PredictionRecord {
            request_id: self.request_id.as_str(),
            timestamp: self.timestamp,
            model_version: self.model.version(),
            features: Features(self),
            predicted_class: self.model.classes()[self.class].as_str(),
            probabilities: self.probabilities.as_slice(),
            latency_us: self.latency_us,
        }
        .serialize(s)
    }
}
