//! The contracts other programs read, in one place: the bodies of `vigil serve`'s
//! `/predict`, `/predict/batch` and `/feedback`, the records of the prediction and
//! feedback logs, and the size limit of a job's termination message.
//!
//! The server parses requests with a streaming parser of its own (it checks every
//! field against the served schema as it reads) and writes responses and records from
//! borrowed parts: the types here are generic over how they hold their strings and
//! lists, so that the server, the clients (`vigil inject`, the demo, tests) and the
//! drift job all use the same field names in the same order. The defaults are the
//! owned forms a client reads.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::data::parquet_log::{decode_parquet_batch, PARQUET_EXTENSION};
use crate::data::prediction_log::{
    decode_batch, LogError, LogRecord, Timestamped, FEEDBACK_PREFIX, LOGS_PREFIX,
};
use crate::data::schema::Value;

/// Kubernetes keeps at most 4096 bytes of a container's termination message: the
/// most a job's summary ([`TrainSummary`](crate::train::report::TrainSummary),
/// [`DriftSummary`](crate::drift::DriftSummary)) may take.
pub const SUMMARY_LIMIT: usize = 4096;

/// `POST /predict`: one row. `features` are JSON values by feature name (a missing
/// feature may be `null` when the schema makes it nullable); without a `request_id`
/// the server makes one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub features: BTreeMap<String, serde_json::Value>,
}

impl PredictRequest {
    /// A request from typed values, as a client writes them (see [`feature_json`]).
    pub fn from_values<'a>(
        request_id: Option<String>,
        values: impl IntoIterator<Item = (&'a str, &'a Value)>,
    ) -> PredictRequest {
        PredictRequest {
            request_id,
            features: values
                .into_iter()
                .map(|(name, value)| (name.to_string(), feature_json(value)))
                .collect(),
        }
    }
}

/// A typed value as a client sends it: whole numbers without a fraction (`39`, as the
/// reference benchmark's bodies have them), text as a string, missing as `null`.
pub fn feature_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Number(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => {
            serde_json::Value::from(*x as i64)
        }
        Value::Number(x) => serde_json::Number::from_f64(*x)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        Value::Category(c) => serde_json::Value::String(c.clone()),
        Value::Missing => serde_json::Value::Null,
    }
}

/// `POST /predict/batch`: rows answered together, all or none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    pub requests: Vec<PredictRequest>,
}

/// The answer to one row. `probabilities` is keyed by class name, in the schema's
/// class order when the server writes it (`P` is the server's ordered view).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PredictResponse<S = String, P = BTreeMap<String, f64>> {
    pub request_id: S,
    pub predicted_class: S,
    /// The probability of `predicted_class`.
    pub confidence: f64,
    pub probabilities: P,
    pub model_version: S,
}

/// The answer to a batch: one response per request, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchResponse<S = String, R = Vec<PredictResponse>> {
    pub responses: R,
    pub model_version: S,
}

/// `POST /feedback`: the ground-truth label of an earlier prediction. (Fields in the
/// order `vigil inject --feedback-out` has always written them.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    /// One of the model's classes.
    pub label: String,
    pub request_id: String,
    /// When the label was observed; the server's clock when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<DateTime<Utc>>,
}

/// One answered prediction, as the prediction log holds it (a line of a batch file).
/// The server writes one from borrowed parts (`PredictionRecord<&str, _, &[f64], &str>`:
/// the timestamp formatted once for all the rows of a request).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PredictionRecord<
    S = String,
    F = BTreeMap<String, Value>,
    P = Vec<f64>,
    T = DateTime<Utc>,
> {
    pub request_id: S,
    pub timestamp: T,
    pub model_version: S,
    /// The features as received (after type checks), by name.
    pub features: F,
    pub predicted_class: S,
    /// Probabilities in the order of the schema's classes.
    pub probabilities: P,
    /// Server-side latency of the request in microseconds.
    pub latency_us: u64,
}

/// A ground-truth label that arrived later, joined to a prediction by `request_id`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeedbackRecord {
    pub request_id: String,
    pub label: String,
    pub timestamp: DateTime<Utc>,
}

impl<S, F, P> Timestamped for PredictionRecord<S, F, P> {
    fn timestamp(&self) -> DateTime<Utc> {
        self.timestamp
    }
}

impl Timestamped for FeedbackRecord {
    fn timestamp(&self) -> DateTime<Utc> {
        self.timestamp
    }
}

impl LogRecord for PredictionRecord {
    const PREFIX: &'static str = LOGS_PREFIX;

    fn decode_file(bytes: Bytes, uri: &str) -> Result<Vec<Self>, LogError> {
        if uri.ends_with(&format!(".{PARQUET_EXTENSION}")) {
            decode_parquet_batch(bytes, uri)
        } else {
            decode_batch(&bytes, uri)
        }
    }
}

impl LogRecord for FeedbackRecord {
    const PREFIX: &'static str = FEEDBACK_PREFIX;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_have_the_documented_shape() {
        let request = PredictRequest::from_values(
            Some("r-1".into()),
            [
                ("age", &Value::Number(39.0)),
                ("hours", &Value::Number(40.5)),
                ("workclass", &Value::Missing),
                ("sex", &Value::Category("Male".into())),
            ],
        );
        assert_eq!(
            serde_json::to_string(&request).expect("json"),
            r#"{"request_id":"r-1","features":{"age":39,"hours":40.5,"sex":"Male","workclass":null}}"#
        );
        let feedback = FeedbackRequest {
            label: ">50K".into(),
            request_id: "r-1".into(),
            timestamp: None,
        };
        assert_eq!(
            serde_json::to_string(&feedback).expect("json"),
            r#"{"label":">50K","request_id":"r-1"}"#
        );
        let response: PredictResponse = serde_json::from_str(
            r#"{"request_id":"r-1","predicted_class":"a","confidence":0.75,"probabilities":{"a":0.75,"b":0.25},"model_version":"v1"}"#,
        )
        .expect("a response parses");
        assert_eq!(response.probabilities["b"], 0.25);
    }
}
