//! The injected rows as traffic: `/predict` bodies as JSON Lines, the ground truth as
//! `/feedback` bodies, or both POSTed to a running server.

use serde::Serialize;
use vigil_core::data::schema::FeatureSchema;
use vigil_core::wire::{BatchRequest, FeedbackRequest, PredictRequest};

use super::Rows;

/// The request of row `i`: `{"request_id", "features": {...}}`, missing as null.
pub fn request(schema: &FeatureSchema, rows: &Rows, i: usize, id: &str) -> PredictRequest {
    PredictRequest::from_values(
        Some(id.to_string()),
        schema
            .features
            .iter()
            .zip(&rows.columns)
            .map(|(f, c)| (f.name.as_str(), &c[i])),
    )
}

/// The request id of row `i`.
pub fn request_id(prefix: &str, i: usize) -> String {
    format!("{prefix}-{i}")
}

/// The `/feedback` bodies of the rows that have a label, with their row.
fn feedback(schema: &FeatureSchema, rows: &Rows, prefix: &str) -> Option<Vec<FeedbackRequest>> {
    let labels = rows.labels.as_ref()?;
    Some(
        labels
            .iter()
            .enumerate()
            .filter_map(|(i, label)| {
                Some(FeedbackRequest {
                    label: schema.target.classes[(*label)?].clone(),
                    request_id: request_id(prefix, i),
                    timestamp: None,
                })
            })
            .collect(),
    )
}

fn json_line(out: &mut String, body: &impl Serialize) {
    // Serializing these bodies into a string cannot fail.
    out.push_str(&serde_json::to_string(body).unwrap_or_default());
    out.push('\n');
}

/// Requests as JSON Lines (the benchmark's body format), one per row.
pub fn requests_jsonl(schema: &FeatureSchema, rows: &Rows, prefix: &str) -> String {
    let mut out = String::new();
    for i in 0..rows.n_rows() {
        json_line(&mut out, &request(schema, rows, i, &request_id(prefix, i)));
    }
    out
}

/// Ground truth as JSON Lines `{"label", "request_id"}` (rows without a label are left out).
pub fn feedback_jsonl(schema: &FeatureSchema, rows: &Rows, prefix: &str) -> Option<String> {
    let mut out = String::new();
    for body in feedback(schema, rows, prefix)? {
        json_line(&mut out, &body);
    }
    Some(out)
}

/// Errors talking to a server.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error("POST {url} failed: {message}")]
    Transport { url: String, message: String },
    #[error("POST {url} answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
}

/// Sends every row to `base_url/predict/batch` in batches, then (when labels exist)
/// each label to `base_url/feedback`. Returns (requests sent, labels sent).
pub async fn post(
    base_url: &str,
    schema: &FeatureSchema,
    rows: &Rows,
    prefix: &str,
    batch_size: usize,
    send_feedback: bool,
) -> Result<(usize, usize), PostError> {
    let client = reqwest::Client::new();
    let base = base_url.trim_end_matches('/');
    let predict = format!("{base}/predict/batch");
    let mut sent = 0;
    let n = rows.n_rows();
    let mut start = 0;
    while start < n {
        let end = (start + batch_size.max(1)).min(n);
        let batch = BatchRequest {
            requests: (start..end)
                .map(|i| request(schema, rows, i, &request_id(prefix, i)))
                .collect(),
        };
        send(&client, &predict, &batch).await?;
        sent += end - start;
        start = end;
    }
    let labelled = if send_feedback {
        post_feedback(base_url, schema, rows, prefix).await?
    } else {
        0
    };
    Ok((sent, labelled))
}

/// Sends the labels of `rows` (the requests `post` sent with `prefix`) to `/feedback`;
/// returns how many were taken.
pub async fn post_feedback(
    base_url: &str,
    schema: &FeatureSchema,
    rows: &Rows,
    prefix: &str,
) -> Result<usize, PostError> {
    let client = reqwest::Client::new();
    let url = format!("{}/feedback", base_url.trim_end_matches('/'));
    let mut labelled = 0;
    for body in feedback(schema, rows, prefix).unwrap_or_default() {
        send(&client, &url, &body).await?;
        labelled += 1;
    }
    Ok(labelled)
}

async fn send(client: &reqwest::Client, url: &str, body: &impl Serialize) -> Result<(), PostError> {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).unwrap_or_default())
        .send()
        .await
        .map_err(|e| PostError::Transport {
            url: url.to_string(),
            message: e.to_string(),
        })?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        return Err(PostError::Status {
            url: url.to_string(),
            status: status.as_u16(),
            body: text.chars().take(300).collect(),
        });
    }
    Ok(())
}
