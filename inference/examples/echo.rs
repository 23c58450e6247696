//! The ceiling of the machine for the load benchmark: a bare axum endpoint that parses the
//! request body as JSON and answers a fixed prediction. No model, no logging, no metrics.
//!
//!     cargo run --release -p vigil-inference --example echo -- 127.0.0.1:8090

use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

async fn predict(Json(body): Json<Value>) -> Json<Value> {
    let id = body.get("request_id").cloned().unwrap_or(Value::Null);
    Json(json!({
        "request_id": id,
        "predicted_class": "<=50K",
        "confidence": 0.9,
        "probabilities": {"<=50K": 0.9, ">50K": 0.1},
        "model_version": "echo"
    }))
}

async fn batch(Json(body): Json<Value>) -> Json<Value> {
    let n = body
        .get("requests")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let one = json!({"predicted_class": "<=50K", "confidence": 0.9,
                     "probabilities": {"<=50K": 0.9, ">50K": 0.1}, "model_version": "echo"});
    Json(json!({"responses": vec![one; n], "model_version": "echo"}))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".to_string());
    let app = Router::new()
        .route("/predict", post(predict))
        .route("/predict/batch", post(batch))
        .route("/healthz", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
