//! Training data from production: the prediction log joined with the
//! ground-truth labels that arrived through `/feedback`.

use std::collections::HashMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use vigil_core::data::prediction_log::{read_window, LogError};
use vigil_core::data::schema::{FeatureSchema, Value};
use vigil_core::data::storage::Store;
use vigil_core::wire::{FeedbackRecord, PredictionRecord};

/// Labelled rows exported from a window of traffic.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelledExport {
    /// Key of the CSV written in the store.
    pub key: String,
    /// URI of that CSV, usable as `training.data.uri`.
    pub uri: String,
    pub rows: usize,
    /// Predictions in the window that had no label.
    pub unlabelled: usize,
}

/// Writes `datasets/labelled-<until>.csv`: one row per prediction in
/// `[since, until]` that has a feedback label (the latest label wins), with
/// the schema's features and target. Returns `None` when no prediction has a label.
pub async fn export_labelled_window(
    store: &Store,
    schema: &FeatureSchema,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Option<LabelledExport>, LogError> {
    let predictions: Vec<PredictionRecord> = read_window(store, since, until).await?;
    // Labels may arrive after the window closes; accept them up to now.
    let feedback: Vec<FeedbackRecord> = read_window(store, since, Utc::now().max(until)).await?;
    let labels: HashMap<&str, &str> = feedback
        .iter()
        .map(|f| (f.request_id.as_str(), f.label.as_str()))
        .collect();

    let mut writer = csv::Writer::from_writer(Vec::new());
    let header: Vec<&str> = schema
        .features
        .iter()
        .map(|f| f.name.as_str())
        .chain([schema.target.name.as_str()])
        .collect();
    let csv_error = |e: csv::Error| LogError::Corrupt {
        uri: "labelled export".into(),
        line: 0,
        message: e.to_string(),
    };
    writer.write_record(&header).map_err(csv_error)?;
    let mut rows = 0;
    for record in &predictions {
        let Some(label) = labels.get(record.request_id.as_str()) else {
            continue;
        };
        let mut cells: Vec<String> = schema
            .features
            .iter()
            .map(|f| match record.features.get(&f.name) {
                Some(Value::Number(x)) => x.to_string(),
                Some(Value::Category(c)) => c.clone(),
                Some(Value::Missing) | None => String::new(),
            })
            .collect();
        cells.push(label.to_string());
        writer.write_record(&cells).map_err(csv_error)?;
        rows += 1;
    }
    if rows == 0 {
        return Ok(None);
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| csv_error(e.into_error().into()))?;
    let key = format!("datasets/labelled-{}.csv", until.format("%Y%m%d-%H%M%S"));
    store.put(&key, Bytes::from(bytes)).await?;
    Ok(Some(LabelledExport {
        uri: store.uri_of(&key),
        key,
        rows,
        unlabelled: predictions.len() - rows,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::data::prediction_log::{batch_key, encode_batch, FEEDBACK_PREFIX, LOGS_PREFIX};

    #[tokio::test]
    async fn joins_predictions_with_their_latest_label() {
        let store = Store::open("memory://").expect("store");
        let schema: FeatureSchema = serde_json::from_str(
            r#"{"target": {"name": "y", "classes": ["no", "yes"]},
                "features": [{"name": "x", "type": "numeric", "nullable": true},
                             {"name": "c", "type": "categorical"}]}"#,
        )
        .expect("schema");
        let now = Utc::now();
        let prediction = |id: &str, x: Value| -> PredictionRecord {
            PredictionRecord {
                request_id: id.into(),
                timestamp: now,
                model_version: "v1".into(),
                features: [
                    ("x".to_string(), x),
                    ("c".to_string(), Value::Category("a,b".into())),
                ]
                .into_iter()
                .collect(),
                predicted_class: "no".into(),
                probabilities: vec![0.6, 0.4],
                latency_us: 10,
            }
        };
        let logs = vec![
            prediction("r1", Value::Number(1.5)),
            prediction("r2", Value::Missing),
            prediction("r3", Value::Number(3.0)),
        ];
        store
            .put(&batch_key(LOGS_PREFIX, now, "pod", 0), encode_batch(&logs))
            .await
            .expect("logs");
        let label = |id: &str, label: &str, offset: i64| FeedbackRecord {
            request_id: id.into(),
            label: label.into(),
            timestamp: now + chrono::Duration::milliseconds(offset),
        };
        let feedback = vec![
            label("r2", "no", 1),
            label("r1", "no", 2),
            label("r1", "yes", 3),
        ];
        store
            .put(
                &batch_key(FEEDBACK_PREFIX, now, "pod", 0),
                encode_batch(&feedback),
            )
            .await
            .expect("feedback");

        let export = export_labelled_window(
            &store,
            &schema,
            now - chrono::Duration::minutes(1),
            now + chrono::Duration::minutes(1),
        )
        .await
        .expect("export")
        .expect("some rows");
        assert_eq!((export.rows, export.unlabelled), (2, 1));
        let csv =
            String::from_utf8(store.get(&export.key).await.expect("csv").to_vec()).expect("utf8");
        assert_eq!(csv, "x,c,y\n1.5,\"a,b\",yes\n,\"a,b\",no\n");
    }
}
