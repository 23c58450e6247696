//! The OpenAPI 3 document of the server, written by hand next to the routes it describes.
//! A test checks that every path and method in it is routed and every route is in it.
//!
//! The request bodies of `/predict`, `/predict/batch` and `/feedback` are generated from the
//! served model: a request the document allows is one the server accepts (schemathesis
//! checks both directions in `.ci/run`), so a client generator gets the real contract.

use serde_json::{json, Map, Value};
use vigil_core::data::schema::{FeatureSpec, FeatureType};
use vigil_core::train::pipeline::{FeatureEncoder, UnseenCategory, MISSING_CATEGORY};

use crate::parse::MAX_REQUEST_ID_CHARS;
use crate::served::LoadedModel;
use crate::state::OutOfRange;

fn error_response(description: &str) -> Value {
    json!({"description": description,
           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn ok_json(description: &str, schema: &str) -> Value {
    json!({"description": description,
           "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

/// The document for the model being served (`None` before one is loaded: the features are
/// then any object).
pub fn document(served: Option<(&LoadedModel, OutOfRange)>) -> Value {
    let mut components = components();
    let mut paths = merge(paths(), oip_paths());
    if let Some((model, out_of_range)) = served {
        let schemas = &mut components["schemas"];
        schemas["PredictRequest"]["properties"]["features"] = features_schema(model, out_of_range);
        schemas["Feedback"]["properties"]["label"] = json!({"type": "string",
            "enum": model.classes(), "description": "One of the model's classes"});
        name_the_served_model(&mut paths, crate::oip::model_name(model), model.version());
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Vigil inference server",
            "version": vigil_core::VIGIL_VERSION,
            "description": "Predictions from the served model version, with validation against its schema, Prometheus metrics and a prediction log."
        },
        "paths": paths,
        "components": components,
    })
}

/// The OIP routes' `{model}` and `{version}`: the one model served, the one version.
fn name_the_served_model(paths: &mut Value, name: &str, version: &str) {
    let operations = paths
        .as_object_mut()
        .into_iter()
        .flat_map(|p| p.values_mut());
    for operation in operations
        .flat_map(|o| o.as_object_mut())
        .flat_map(|o| o.values_mut())
    {
        let parameters = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut);
        for parameter in parameters.into_iter().flatten() {
            let value = match parameter["name"].as_str() {
                Some("model") if parameter["in"] == "path" => name,
                Some("version") if parameter["in"] == "path" => version,
                _ => continue,
            };
            parameter["schema"]["enum"] = json!([value]);
        }
    }
}

/// `features` of a request for `model`: every feature required, by type; numbers within
/// `min`/`max` when out-of-range values are refused; the categories the model can encode;
/// null only where the feature is nullable and the model can encode a missing value.
fn features_schema(model: &LoadedModel, out_of_range: OutOfRange) -> Value {
    let encoders = model.artifact.pipeline.encoders();
    let properties: Map<String, Value> = model
        .artifact
        .schema
        .features
        .iter()
        .zip(encoders)
        .map(|(spec, encoder)| {
            (
                spec.name.clone(),
                feature_schema(spec, encoder, out_of_range),
            )
        })
        .collect();
    let required: Vec<&str> = model
        .artifact
        .schema
        .features
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    json!({"type": "object", "required": required, "additionalProperties": false,
        "properties": properties,
        "description": "Every feature of the served model's schema, by name"})
}

fn feature_schema(spec: &FeatureSpec, encoder: &FeatureEncoder, out_of_range: OutOfRange) -> Value {
    match (spec.kind, encoder) {
        (
            FeatureType::Categorical,
            FeatureEncoder::OneHot {
                categories, unseen, ..
            },
        ) => {
            // Under `unseen: error` only the training categories encode; `allowedValues`
            // narrows either set.
            let allowed =
                |c: &String| spec.allowed_values.is_empty() || spec.allowed_values.contains(c);
            let known: Option<Vec<&String>> = match unseen {
                UnseenCategory::Error => Some(
                    categories
                        .iter()
                        .filter(|c| c.as_str() != MISSING_CATEGORY && allowed(c))
                        .collect(),
                ),
                UnseenCategory::Ignore if !spec.allowed_values.is_empty() => {
                    Some(spec.allowed_values.iter().collect())
                }
                UnseenCategory::Ignore => None,
            };
            let nullable = spec.nullable
                && (*unseen == UnseenCategory::Ignore
                    || categories.iter().any(|c| c == MISSING_CATEGORY));
            let mut schema = json!({"type": "string"});
            if let Some(known) = known {
                let mut values: Vec<Value> = known.into_iter().map(|c| json!(c)).collect();
                if nullable {
                    // OpenAPI 3.0: `nullable` does not add null to an `enum`; list it.
                    values.push(Value::Null);
                }
                schema["enum"] = Value::Array(values);
            }
            if nullable {
                schema["nullable"] = json!(true);
            }
            schema
        }
        _ => {
            let mut schema = json!({"type": "number"});
            if out_of_range == OutOfRange::Reject {
                if let Some(min) = spec.min {
                    schema["minimum"] = json!(min);
                }
                if let Some(max) = spec.max {
                    schema["maximum"] = json!(max);
                }
            }
            if spec.nullable {
                schema["nullable"] = json!(true);
            }
            schema
        }
    }
}

/// Every route, with its errors.
fn paths() -> Value {
    let bad_input = json!({
        "400": error_response("Malformed JSON (syntax, truncated, invalid UTF-8, NaN/Infinity, too deep) or empty body"),
        "413": error_response("Body larger than the limit, or more rows than the batch limit"),
        "415": error_response("Content type other than application/json"),
        "422": error_response("Well-formed JSON that breaks the model's schema; `problems` names every field"),
        "503": error_response("No model loaded yet, or shutting down"),
    });
    let with = |mut extra: Value, base: &Value| {
        if let (Some(e), Some(b)) = (extra.as_object_mut(), base.as_object()) {
            for (k, v) in b {
                e.entry(k.clone()).or_insert(v.clone());
            }
        }
        extra
    };
    let admin_errors = json!({
        "401": error_response("Missing or wrong bearer token"),
        "403": error_response("No admin token configured on the server"),
    });
    json!({
        "/health": {"get": {"summary": "Liveness and the served model version",
            "responses": {"200": ok_json("Alive", "Health")}}},
        "/healthz": {"get": {"summary": "Alias of /health (the reference kit's name)",
            "responses": {"200": ok_json("Alive", "Health")}}},
        "/ready": {"get": {"summary": "Readiness: 503 until a model is loaded and while shutting down",
            "responses": {"200": ok_json("Ready", "Health"), "503": error_response("Not ready")}}},
        "/predict": {"post": {"summary": "Predict one row",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}}},
            "responses": with(json!({"200": ok_json("Prediction", "PredictResponse")}), &bad_input)}},
        "/predict/batch": {"post": {"summary": "Predict up to the batch limit (default 1000) rows; all or nothing",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchRequest"}}}},
            "responses": with(json!({"200": ok_json("Predictions in request order", "BatchResponse")}), &bad_input)}},
        "/metrics": {"get": {"summary": "Prometheus metrics (text exposition format 0.0.4)",
            "responses": {"200": {"description": "Metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/metrics/summary": {"get": {"summary": "A JSON snapshot of the main counters",
            "responses": {"200": {"description": "Summary", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        "/model/reload": {"post": {"summary": "Load the newest (or the given) model version and swap it in atomically",
            "security": [{"bearer": []}],
            "parameters": [{"name": "version", "in": "query", "required": false, "schema": {"type": "string"}}],
            "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ReloadRequest"}}}},
            "responses": with(json!({
                "200": ok_json("Loaded", "ReloadResponse"),
                "400": error_response("Malformed JSON body"),
                "422": error_response("A body other than {\"version\": \"…\"}"),
                "404": error_response("No such version; the old model keeps serving"),
                "409": error_response("Artifact corrupt or incompatible; the old model keeps serving"),
                "503": error_response("Store unreachable; the old model keeps serving"),
            }), &admin_errors)}},
        "/logs": {"get": {"summary": "Prediction records in the store, oldest first, paged",
            "security": [{"bearer": []}],
            "parameters": [
                {"name": "since", "in": "query", "required": false, "schema": {"type": "string", "format": "date-time"}, "description": "Default: until - 1 h"},
                {"name": "until", "in": "query", "required": false, "schema": {"type": "string", "format": "date-time"}, "description": "Default: now"},
                {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
                {"name": "cursor", "in": "query", "required": false, "schema": {"type": "string"}, "description": "next_cursor of the previous page (opaque)"}
            ],
            "responses": with(json!({
                "200": ok_json("A page of records", "LogsPage"),
                "400": error_response("A query parameter this endpoint does not take, or one that does not parse"),
                "422": error_response("Bad time, window longer than 24 h, limit out of range, or a cursor this log did not hand out"),
                "503": error_response("Store unreachable"),
            }), &admin_errors)}},
        "/feedback": {"post": {"summary": "A ground-truth label for an earlier request_id. With a feedback token configured (--feedback-token-file), only its bearer may send labels",
            "security": [{}, {"bearer": []}],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Feedback"}}}},
            "responses": with(json!({"202": {"description": "Buffered for the feedback log"},
                "401": error_response("A feedback token is configured and the request does not bear it")}), &bad_input)}},
        "/openapi.json": {"get": {"summary": "This document",
            "responses": {"200": {"description": "OpenAPI 3 document", "content": {"application/json": {"schema": {"type": "object"}}}}}}}
    })
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

/// The Open Inference Protocol v2 routes (`crate::oip`); each model route also under
/// `/versions/{version}`.
fn oip_paths() -> Value {
    let model = json!({"name": "model", "in": "path", "required": true, "schema": {"type": "string"},
        "description": "The served model's name (its training config's `model`)"});
    let version = json!({"name": "version", "in": "path", "required": true, "schema": {"type": "string"},
        "description": "The served model version"});
    let not_found = error_response("Unknown model or version");
    let unavailable = error_response("No model loaded yet, or shutting down");
    let metadata = json!({"summary": "OIP model metadata: inputs from the schema, outputs, classes",
        "responses": {"200": ok_json("Model metadata", "OipModelMetadata"), "404": not_found, "503": unavailable}});
    let ready = json!({"summary": "OIP model readiness",
        "responses": {"200": ok_json("Ready", "OipModelReady"), "404": not_found, "503": unavailable}});
    let infer = json!({"summary": "OIP inference: one tensor per feature or one [N, F] tensor; all rows or none; every row logged like /predict",
        "requestBody": {"required": true, "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/OipInferRequest"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"},
                "description": "Triton's binary tensor extension: the JSON request (Inference-Header-Content-Length bytes), then each input whose parameters.binary_data_size is set, little-endian; BYTES as 4-byte length + bytes"}}},
        "responses": {
            "200": {"description": "Predictions",
                "headers": {"Inference-Header-Content-Length": {"schema": {"type": "integer", "minimum": 0},
                    "description": "With binary outputs: the length of the JSON answer before their data"}},
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/OipInferResponse"}},
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"},
                        "description": "When an output's parameters.binary_data (or the request's binary_data_output) is true: the JSON answer (Inference-Header-Content-Length bytes), then the data of each output whose parameters.binary_data_size is set, in output order; FP64 little-endian, BYTES as 4-byte length + bytes"}}},
            "400": error_response("Malformed JSON or a request the schema rejects; `field` names the input (`inputs.<name>[row]`) or field"),
            "404": not_found,
            "413": error_response("Body larger than the limit, or more rows than the infer batch limit (default 10000)"),
            "415": error_response("JSON content type other than application/json (without binary data)"),
            "503": unavailable}});
    let with_params = |operation: &Value, params: Vec<&Value>| {
        let mut op = operation.clone();
        op["parameters"] = Value::Array(params.into_iter().cloned().collect());
        op
    };
    json!({
        "/v2": {"get": {"summary": "OIP server metadata", "responses": {"200": ok_json("Server metadata", "OipServerMetadata")}}},
        "/v2/health/live": {"get": {"summary": "OIP liveness", "responses": {"200": {"description": "Live",
            "content": {"application/json": {"schema": {"type": "object", "properties": {"live": {"type": "boolean"}}}}}}}}},
        "/v2/health/ready": {"get": {"summary": "OIP readiness: 503 until a model is loaded and while shutting down",
            "responses": {"200": {"description": "Ready", "content": {"application/json": {"schema": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}}},
                "503": unavailable}}},
        "/v2/models/{model}": {"get": with_params(&metadata, vec![&model])},
        "/v2/models/{model}/versions/{version}": {"get": with_params(&metadata, vec![&model, &version])},
        "/v2/models/{model}/ready": {"get": with_params(&ready, vec![&model])},
        "/v2/models/{model}/versions/{version}/ready": {"get": with_params(&ready, vec![&model, &version])},
        "/v2/models/{model}/infer": {"post": with_params(&infer, vec![&model])},
        "/v2/models/{model}/versions/{version}/infer": {"post": with_params(&infer, vec![&model, &version])},
    })
}

/// The Open Inference Protocol bodies.
fn oip_schemas() -> Value {
    let tensor_meta = json!({"type": "object", "required": ["name", "datatype", "shape"], "properties": {
        "name": {"type": "string"}, "datatype": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}}}});
    json!({
        "OipServerMetadata": {"type": "object", "required": ["name", "version", "extensions"], "properties": {
            "name": {"type": "string"}, "version": {"type": "string"},
            "extensions": {"type": "array", "items": {"type": "string"}}}},
        "OipModelReady": {"type": "object", "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}}},
        "OipModelMetadata": {"type": "object", "required": ["name", "platform", "inputs", "outputs"], "properties": {
            "name": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string"},
            "inputs": {"type": "array", "items": tensor_meta.clone(),
                "description": "One [-1] tensor per feature (FP64 numeric, BYTES categorical), or one `input` [-1, F] FP64 tensor when every feature is numeric"},
            "outputs": {"type": "array", "items": tensor_meta},
            "parameters": {"type": "object", "properties": {
                "content_type": {"type": "string", "enum": ["pd", "np"]},
                "classes": {"type": "array", "items": {"type": "string"}, "description": "The order of the probabilities' columns"}}}}},
        "OipInferRequest": {"type": "object", "required": ["inputs"], "properties": {
            "id": {"type": "string", "maxLength": 256, "description": "Echoed; rows are logged as `<id>-<row>` (the id itself for one row). Generated when absent"},
            "parameters": {"type": "object", "properties": {
                "content_type": {"type": "string", "enum": ["pd", "np"]},
                "request_ids": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 256},
                    "description": "One request id per row, for the prediction log and /feedback"},
                "binary_data_output": {"type": "boolean", "description": "Every output not named otherwise as binary data after the JSON answer"}}},
            "inputs": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["name", "shape", "datatype"], "properties": {
                "name": {"type": "string", "description": "A feature's name, or the one [N, F] tensor's"},
                "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}, "description": "[N] or [N, 1] per feature; [N, F] for the one tensor"},
                "datatype": {"type": "string", "enum": ["BYTES", "FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"]},
                "parameters": {"type": "object", "properties": {"binary_data_size": {"type": "integer", "minimum": 0}}},
                "data": {"type": "array", "description": "Row-major, flat or nested: numbers (or null) for numeric features, strings (or null) for categorical ones"}}}},
            "outputs": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string", "enum": ["predicted_class", "probabilities"]},
                "parameters": {"type": "object", "properties": {"binary_data": {"type": "boolean",
                    "description": "This output as binary data after the JSON answer"}}}}}}}},
        "OipInferResponse": {"type": "object", "required": ["model_name", "model_version", "id", "outputs"], "properties": {
            "model_name": {"type": "string"}, "model_version": {"type": "string"}, "id": {"type": "string"},
            "outputs": {"type": "array", "items": {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
                "name": {"type": "string", "enum": ["predicted_class", "probabilities"]},
                "datatype": {"type": "string", "enum": ["BYTES", "FP64"]},
                "shape": {"type": "array", "items": {"type": "integer"}, "description": "[N] for predicted_class, [N, C] for probabilities"},
                "parameters": {"type": "object", "properties": {"binary_data_size": {"type": "integer", "minimum": 0}},
                    "description": "A binary output's size after the JSON answer (it then has no data)"},
                "data": {"type": "array", "description": "Class labels, or row-major probabilities in the metadata's class order (absent for a binary output)"}}}}}}
    })
}

/// The bodies (the shapes of `vigil_core::wire`) and the bearer scheme.
fn components() -> Value {
    let mut components = base_components();
    components["schemas"] = merge(components["schemas"].take(), oip_schemas());
    components
}

fn base_components() -> Value {
    json!({
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {"type": "object", "required": ["error", "field", "problems"], "properties": {
                "error": {"type": "string"},
                "field": {"type": "string", "nullable": true, "description": "JSON path of the first bad field"},
                "problems": {"type": "array", "items": {"type": "object", "properties": {
                    "field": {"type": "string"}, "problem": {"type": "string"},
                    "kind": {"type": "string", "description": "missing, unknown, duplicate, null, wrong_type, out_of_range, not_allowed, unseen_category, …"}}}}}},
            "Health": {"type": "object", "properties": {"status": {"type": "string"}, "model_version": {"type": "string", "nullable": true}}},
            "PredictRequest": {"type": "object", "required": ["features"], "additionalProperties": false, "properties": {
                "request_id": {"type": "string", "minLength": 1, "maxLength": MAX_REQUEST_ID_CHARS, "nullable": true, "description": "Generated when absent or null"},
                "features": {"type": "object", "description": "Every feature of the schema, by name: numbers for numeric features, strings for categorical ones, null where the feature is nullable",
                    "additionalProperties": {"oneOf": [{"type": "number"}, {"type": "string"}], "nullable": true}}}},
            "PredictResponse": {"type": "object", "properties": {
                "request_id": {"type": "string"}, "predicted_class": {"type": "string"},
                "confidence": {"type": "number"},
                "probabilities": {"type": "object", "additionalProperties": {"type": "number"}},
                "model_version": {"type": "string"}}},
            "BatchRequest": {"type": "object", "required": ["requests"], "additionalProperties": false, "properties": {
                "requests": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/PredictRequest"}}}},
            "BatchResponse": {"type": "object", "properties": {
                "responses": {"type": "array", "items": {"$ref": "#/components/schemas/PredictResponse"}},
                "model_version": {"type": "string"}}},
            "ReloadRequest": {"type": "object", "properties": {"version": {"type": "string"}}},
            "ReloadResponse": {"type": "object", "properties": {"status": {"type": "string"}, "model_version": {"type": "string"}, "previous_version": {"type": "string", "nullable": true}}},
            "LogsPage": {"type": "object", "properties": {
                "since": {"type": "string", "format": "date-time"}, "until": {"type": "string", "format": "date-time"},
                "count": {"type": "integer"}, "next_cursor": {"type": "string", "nullable": true, "description": "Pass as `cursor` for the next page; null on the last"},
                "records": {"type": "array", "items": {"type": "object"}}}},
            "Feedback": {"type": "object", "required": ["request_id", "label"], "additionalProperties": false, "properties": {
                "request_id": {"type": "string", "minLength": 1, "maxLength": MAX_REQUEST_ID_CHARS}, "label": {"type": "string", "description": "One of the model's classes"},
                "timestamp": {"type": "string", "format": "date-time", "nullable": true, "description": "When the label was known; the time of arrival when absent or null"}}}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::data::schema::FeatureSpec;

    fn categorical(allowed: &[&str], nullable: bool) -> FeatureSpec {
        FeatureSpec {
            name: "c".into(),
            kind: FeatureType::Categorical,
            min: None,
            max: None,
            allowed_values: allowed.iter().map(|a| a.to_string()).collect(),
            nullable,
        }
    }

    fn one_hot(categories: &[&str], unseen: UnseenCategory) -> FeatureEncoder {
        FeatureEncoder::OneHot {
            name: "c".into(),
            categories: categories.iter().map(|c| c.to_string()).collect(),
            unseen,
        }
    }

    #[test]
    fn under_unseen_error_only_encodable_categories_are_allowed() {
        // Training saw a, b and missing values; `allowedValues` also lists z, never seen.
        let encoder = one_hot(&["a", "b", MISSING_CATEGORY], UnseenCategory::Error);
        assert_eq!(
            feature_schema(
                &categorical(&["a", "z"], true),
                &encoder,
                OutOfRange::Reject
            ),
            json!({"type": "string", "enum": ["a", null], "nullable": true})
        );
        assert_eq!(
            feature_schema(&categorical(&[], false), &encoder, OutOfRange::Reject),
            json!({"type": "string", "enum": ["a", "b"]})
        );
        // Nullable, but training never saw a missing value: null does not encode.
        let encoder = one_hot(&["a"], UnseenCategory::Error);
        assert_eq!(
            feature_schema(&categorical(&[], true), &encoder, OutOfRange::Reject),
            json!({"type": "string", "enum": ["a"]})
        );
    }

    #[test]
    fn numeric_bounds_only_when_out_of_range_is_refused() {
        let spec = FeatureSpec {
            name: "x".into(),
            kind: FeatureType::Numeric,
            min: Some(0.0),
            max: Some(1.5),
            allowed_values: vec![],
            nullable: false,
        };
        let encoder = FeatureEncoder::Standardize {
            name: "x".into(),
            fill: 0.0,
            mean: 0.0,
            scale: 1.0,
        };
        assert_eq!(
            feature_schema(&spec, &encoder, OutOfRange::Reject),
            json!({"type": "number", "minimum": 0.0, "maximum": 1.5})
        );
        assert_eq!(
            feature_schema(&spec, &encoder, OutOfRange::Accept),
            json!({"type": "number"})
        );
    }
}
