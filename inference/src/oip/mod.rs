//! The Open Inference Protocol v2 (KServe, Triton, MLServer, Seldon), REST: health,
//! server and model metadata, model readiness and inference, under `/v2`.
//!
//! The served model is named by its artifact's `modelName` (the `model:` of the training
//! config; [`DEFAULT_MODEL_NAME`] without one) and versioned by its version id. A path
//! naming another model or version is a 404; any other bad request a 400 with the
//! protocol's `{"error": "..."}` (plus the `field` and `problems` of every Vigil error).

pub mod binary;
pub mod infer;
pub mod inputs;
pub mod tensor;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use vigil_core::data::schema::FeatureType;

use crate::error::AppError;
use crate::extract::JsonBody;
use crate::json::Json;
use crate::served::LoadedModel;
use crate::state::AppState;

/// The model's name when its artifact has none.
pub const DEFAULT_MODEL_NAME: &str = "model";

/// The name the protocol's paths use for `model`.
pub fn model_name(model: &LoadedModel) -> &str {
    model
        .artifact
        .model_name
        .as_deref()
        .unwrap_or(DEFAULT_MODEL_NAME)
}

/// An error in the protocol's terms: a request the schema rejects is a 400 (not
/// `/predict`'s 422); every other status and the body are [`AppError`]'s.
pub struct OipError(AppError);

impl From<AppError> for OipError {
    fn from(e: AppError) -> Self {
        OipError(e)
    }
}

impl IntoResponse for OipError {
    fn into_response(self) -> Response {
        let mut response = self.0.into_response();
        if response.status() == StatusCode::UNPROCESSABLE_ENTITY {
            *response.status_mut() = StatusCode::BAD_REQUEST;
        }
        response
    }
}

/// `{model}` and, on the versioned routes, `{version}`.
#[derive(Debug, Deserialize)]
pub struct ModelPath {
    model: String,
    #[serde(default)]
    version: Option<String>,
}

/// The served model, when the path names it (and its version, if it names one).
fn served(
    state: &AppState,
    path: Result<Path<ModelPath>, PathRejection>,
) -> Result<Arc<LoadedModel>, AppError> {
    let Path(path) = path.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let model = state.model()?;
    let name = model_name(&model);
    if path.model != name {
        return Err(AppError::NotFound(format!(
            "unknown model `{}`; this server serves `{name}`",
            vigil_core::text::shorten(&path.model, 80)
        )));
    }
    match path.version {
        Some(v) if v != model.version() => Err(AppError::NotFound(format!(
            "model `{name}` has no version `{}` here; it serves version `{}`",
            vigil_core::text::shorten(&v, 80),
            model.version()
        ))),
        _ => Ok(model),
    }
}

pub async fn live() -> Json<Value> {
    Json(json!({"live": true}))
}

/// Ready when a model is loaded and the server is not stopping (503 otherwise).
pub async fn ready(State(state): State<AppState>) -> Result<Json<Value>, OipError> {
    if state.is_shutting_down() {
        return Err(AppError::ShuttingDown.into());
    }
    state.model()?;
    Ok(Json(json!({"ready": true})))
}

pub async fn server_metadata() -> Json<Value> {
    Json(json!({
        "name": "vigil",
        "version": vigil_core::VIGIL_VERSION,
        "extensions": [],
    }))
}

pub async fn model_metadata(
    State(state): State<AppState>,
    path: Result<Path<ModelPath>, PathRejection>,
) -> Result<Json<Value>, OipError> {
    let model = served(&state, path)?;
    Ok(Json(metadata(&model)))
}

pub async fn model_ready(
    State(state): State<AppState>,
    path: Result<Path<ModelPath>, PathRejection>,
) -> Result<Json<Value>, OipError> {
    let model = served(&state, path)?;
    if state.is_shutting_down() {
        return Err(AppError::ShuttingDown.into());
    }
    Ok(Json(json!({"name": model_name(&model), "ready": true})))
}

/// JSON, or JSON followed by binary tensors (any content type then, as tritonclient
/// sends none and kserve `application/octet-stream`).
pub async fn infer(
    State(state): State<AppState>,
    path: Result<Path<ModelPath>, PathRejection>,
    request: Request,
) -> Result<Response, OipError> {
    let model = served(&state, path)?;
    let json_length = match request.headers().get(binary::HEADER_LENGTH) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| {
                    AppError::BadRequest(
                        "Inference-Header-Content-Length must be a byte count".into(),
                    )
                })?,
        ),
    };
    let body = if json_length.is_some() {
        let bytes = Bytes::from_request(request, &state)
            .await
            .map_err(AppError::from_bytes_rejection)?;
        if bytes.is_empty() {
            return Err(AppError::EmptyBody.into());
        }
        bytes
    } else {
        JsonBody::from_request(request, &state).await?.0
    };
    Ok(infer::infer(&state, model, &body, json_length).await?)
}

/// The model metadata: inputs from the schema (one `[-1, F]` FP64 tensor when every
/// feature is numeric, else one `[-1]` tensor per feature, BYTES for categoricals), the
/// two outputs, and the classes in the order of the probabilities.
pub fn metadata(model: &LoadedModel) -> Value {
    let features = &model.artifact.schema.features;
    let (inputs, content_type) = if inputs::all_numeric(model) {
        let input = json!({"name": inputs::MATRIX_INPUT, "datatype": "FP64", "shape": [-1, features.len()]});
        (vec![input], "np")
    } else {
        let columns = features
            .iter()
            .map(|f| {
                let datatype = match f.kind {
                    FeatureType::Numeric => "FP64",
                    FeatureType::Categorical => "BYTES",
                };
                json!({"name": f.name, "datatype": datatype, "shape": [-1]})
            })
            .collect();
        (columns, "pd")
    };
    json!({
        "name": model_name(model),
        "versions": [model.version()],
        "platform": "vigil",
        "inputs": inputs,
        "outputs": [
            {"name": infer::CLASS_OUTPUT, "datatype": "BYTES", "shape": [-1]},
            {"name": infer::PROBABILITIES_OUTPUT, "datatype": "FP64", "shape": [-1, model.classes().len()]},
        ],
        "parameters": {"content_type": content_type, "classes": model.classes()},
    })
}
