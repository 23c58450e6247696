//! The Open Inference Protocol v2 endpoints in process (`oneshot`), and the real PyPI
//! clients (tritonclient, kserve) against a real socket.

mod common;

use axum::http::StatusCode;
use chrono::{Duration, Utc};
use common::*;
use serde_json::{json, Value};
use vigil_core::data::prediction_log::read_window;
use vigil_core::data::storage::Store;
use vigil_core::wire::PredictionRecord;

/// Rows of the tiny model (x numeric, color nullable categorical, size categorical).
const ROWS: [(f64, Option<&str>, &str); 3] = [
    (42.0, Some("red"), "M"),
    (80.5, None, "S"),
    (3.0, Some("blue"), "L"),
];

fn column_request(id: &str) -> Value {
    json!({
        "id": id,
        "parameters": {"content_type": "pd"},
        "inputs": [
            {"name": "x", "datatype": "FP64", "shape": [3], "data": ROWS.map(|r| r.0)},
            {"name": "color", "datatype": "BYTES", "shape": [3, 1], "data": ROWS.map(|r| r.1)},
            {"name": "size", "datatype": "BYTES", "shape": [3], "data": ROWS.map(|r| r.2)},
        ]
    })
}

fn error_of(body: &Value) -> &str {
    body["error"].as_str().expect("error string")
}

async fn records(s: &mut TestServer) -> Vec<PredictionRecord> {
    s.flush().await;
    let store = Store::open(&s.uri).expect("store");
    read_window::<PredictionRecord>(&store, Utc::now() - Duration::hours(1), Utc::now())
        .await
        .expect("read")
}

#[tokio::test]
async fn health_and_metadata_follow_the_protocol() {
    let s = server().await;
    assert_eq!(
        s.get("/v2/health/live").await,
        (StatusCode::OK, json!({"live": true}))
    );
    assert_eq!(
        s.get("/v2/health/ready").await,
        (StatusCode::OK, json!({"ready": true}))
    );
    let (status, server) = s.get("/v2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server["name"], "vigil");
    assert_eq!(server["extensions"], json!([]));
    let expected = json!({
        "name": "tiny",
        "versions": [s.version],
        "platform": "vigil",
        "inputs": [
            {"name": "x", "datatype": "FP64", "shape": [-1]},
            {"name": "color", "datatype": "BYTES", "shape": [-1]},
            {"name": "size", "datatype": "BYTES", "shape": [-1]},
        ],
        "outputs": [
            {"name": "predicted_class", "datatype": "BYTES", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, 2]},
        ],
        "parameters": {"content_type": "pd", "classes": ["no", "yes"]},
    });
    assert_eq!(
        s.get("/v2/models/tiny").await,
        (StatusCode::OK, expected.clone())
    );
    let versioned = format!("/v2/models/tiny/versions/{}", s.version);
    assert_eq!(s.get(&versioned).await, (StatusCode::OK, expected));
    for path in [
        "/v2/models/tiny/ready".to_string(),
        format!("{versioned}/ready"),
    ] {
        assert_eq!(
            s.get(&path).await,
            (StatusCode::OK, json!({"name": "tiny", "ready": true}))
        );
    }
}

#[tokio::test]
async fn unknown_model_or_version_is_a_404_naming_it() {
    let s = server().await;
    for path in [
        "/v2/models/other",
        "/v2/models/other/ready",
        "/v2/models/tiny/versions/nope",
        "/v2/models/tiny/versions/nope/ready",
    ] {
        let (status, body) = s.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        let error = error_of(&body);
        assert!(error.contains("other") || error.contains("nope"), "{error}");
    }
    for path in [
        "/v2/models/other/infer",
        "/v2/models/tiny/versions/nope/infer",
    ] {
        let (status, body) = s.post(path, &column_request("r")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert!(error_of(&body).contains("serves"), "{body}");
    }
}

#[tokio::test]
async fn infer_per_column_answers_like_predict_and_logs_the_same_records() {
    let mut s = server().await;
    let ids = ["a-0", "a-1", "a-2"];
    let mut request = column_request("oip-1");
    request["parameters"]["request_ids"] = json!(ids);
    let (status, body) = s.post("/v2/models/tiny/infer", &request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["model_name"], "tiny");
    assert_eq!(body["model_version"], s.version.as_str());
    assert_eq!(body["id"], "oip-1");
    let outputs = body["outputs"].as_array().expect("outputs");
    assert_eq!(outputs.len(), 2);
    assert_eq!(outputs[0]["name"], "predicted_class");
    assert_eq!(outputs[0]["datatype"], "BYTES");
    assert_eq!(outputs[0]["shape"], json!([3]));
    assert_eq!(outputs[1]["name"], "probabilities");
    assert_eq!(outputs[1]["datatype"], "FP64");
    assert_eq!(outputs[1]["shape"], json!([3, 2]));

    // The same rows over /predict/batch: the same answers…
    let batch: Vec<Value> = ROWS
        .iter()
        .zip(ids)
        .map(|((x, color, size), id)| {
            json!({"request_id": id, "features": row(json!(x), json!(color), json!(size))})
        })
        .collect();
    let (status, predicted) = s.post("/predict/batch", &json!({"requests": batch})).await;
    assert_eq!(status, StatusCode::OK, "{predicted}");
    for (i, p) in predicted["responses"]
        .as_array()
        .expect("responses")
        .iter()
        .enumerate()
    {
        assert_eq!(outputs[0]["data"][i], p["predicted_class"]);
        assert_eq!(outputs[1]["data"][2 * i], p["probabilities"]["no"]);
        assert_eq!(outputs[1]["data"][2 * i + 1], p["probabilities"]["yes"]);
    }
    // …and the same log records, but for the time they were made.
    let records = records(&mut s).await;
    assert_eq!(records.len(), 6);
    let comparable = |r: &PredictionRecord| {
        let mut v = serde_json::to_value(r).expect("json");
        v.as_object_mut().expect("object").remove("timestamp");
        v.as_object_mut().expect("object").remove("latency_us");
        v
    };
    for id in ids {
        let same: Vec<Value> = records
            .iter()
            .filter(|r| r.request_id == id)
            .map(comparable)
            .collect();
        assert_eq!(same.len(), 2, "{id}: {records:?}");
        assert_eq!(same[0], same[1], "{id}");
    }
    let text = s.metrics_text().await;
    assert_eq!(metric(&text, "vigil_prediction_rows_total"), 6.0);
    assert_eq!(
        metric(&text, "vigil_feature_missing_total{feature=\"color\"}"),
        2.0
    );
}

/// `/predict/batch`'s answer to [`ROWS`], as OIP's outputs: the classes and the
/// probabilities row after row.
async fn predicted_rows(s: &TestServer) -> (Value, Value) {
    let batch: Vec<Value> = ROWS
        .iter()
        .map(|(x, color, size)| json!({"features": row(json!(x), json!(color), json!(size))}))
        .collect();
    let (status, predicted) = s.post("/predict/batch", &json!({"requests": batch})).await;
    assert_eq!(status, StatusCode::OK, "{predicted}");
    let responses = predicted["responses"].as_array().expect("responses");
    let classes = responses.iter().map(|p| p["predicted_class"].clone());
    let probabilities = (responses.iter()).flat_map(|p| {
        [
            p["probabilities"]["no"].clone(),
            p["probabilities"]["yes"].clone(),
        ]
    });
    (classes.collect(), probabilities.collect())
}

#[tokio::test]
async fn a_tree_answers_infer_like_predict() {
    // A tree reads the dense row, not a sum of entries: the other way through `predict`.
    let s = server_of(config(), Algorithm::DecisionTree).await;
    let (status, body) = s.post("/v2/models/tiny/infer", &column_request("t")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (classes, probabilities) = predicted_rows(&s).await;
    assert_eq!(body["outputs"][0]["data"], classes);
    assert_eq!(body["outputs"][1]["data"], probabilities);
    assert_eq!(
        classes,
        json!(["no", "yes", "no"]),
        "the rows reach different leaves"
    );
}

#[tokio::test]
async fn request_ids_are_numbered_from_the_id_or_generated() {
    let mut s = server().await;
    let (status, body) = s
        .post("/v2/models/tiny/infer", &column_request("batch-7"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut no_id = column_request("");
    no_id.as_object_mut().expect("object").remove("id");
    let (status, body) = s.post("/v2/models/tiny/infer", &no_id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let generated = body["id"].as_str().expect("generated id").to_string();
    assert!(generated.starts_with("test-pod-"), "{generated}");
    let mut ids: Vec<String> = records(&mut s)
        .await
        .into_iter()
        .map(|r| r.request_id)
        .collect();
    ids.sort();
    let mut expected: Vec<String> = (0..3)
        .map(|i| format!("batch-7-{i}"))
        .chain((0..3).map(|i| format!("{generated}-{i}")))
        .collect();
    expected.sort();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn a_numeric_model_takes_one_n_by_f_tensor() {
    // A model whose only feature is numeric: its metadata offers one [-1, 1] tensor.
    let mut s = server().await;
    let model = s.state.model().expect("model");
    let mut artifact = model.artifact.clone();
    artifact.schema.features.truncate(1);
    let frame = vigil_core::data::dataset::Frame {
        columns: vec![(0..20)
            .map(|i| vigil_core::data::schema::Value::Number(f64::from(i) * 5.0))
            .collect()],
        target: (0..20).map(|i| usize::from(i > 10)).collect(),
    };
    {
        use vigil_core::train::model::{Algorithm, Hyperparameters, Model};
        use vigil_core::train::pipeline::{FeaturePipeline, PipelineSpec};
        artifact.pipeline =
            FeaturePipeline::fit(&artifact.schema, &frame, &PipelineSpec::default());
        let x = artifact.pipeline.transform(&frame).expect("transform");
        let params = Hyperparameters::default()
            .check(Algorithm::LogisticRegression)
            .expect("params");
        let rows = vigil_core::train::learn::SparseRows::from_dense(x.view());
        artifact.model = Model::fit(&params, &rows, &frame.target, 2, &mut |_| {})
            .expect("fit")
            .model;
    }
    s.state
        .slot
        .swap(std::sync::Arc::new(vigil_inference::LoadedModel::new(
            artifact,
            &s.state.metrics,
        )));
    let (_, meta) = s.get("/v2/models/tiny").await;
    assert_eq!(
        meta["inputs"],
        json!([{"name": "input", "datatype": "FP64", "shape": [-1, 1]}])
    );
    assert_eq!(meta["parameters"]["content_type"], "np");
    let request = json!({"id": "m", "inputs": [
        {"name": "input", "datatype": "FP32", "shape": [4, 1], "data": [[1.0], [20.0], [60.0], [99.0]]}
    ]});
    let (status, body) = s.post("/v2/models/tiny/infer", &request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outputs"][0]["shape"], json!([4]));
    assert_eq!(body["outputs"][0]["data"][0], "no");
    assert_eq!(body["outputs"][0]["data"][3], "yes");
    let (status, body) = s
        .post(
            "/v2/models/tiny/infer",
            &json!({"inputs": [{"name": "input", "datatype": "FP64", "shape": [2, 1], "data": [1.0, 500.0]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "inputs.input[1][0] (feature x)");
    let logged: Vec<f64> = records(&mut s)
        .await
        .iter()
        .map(|r| {
            serde_json::to_value(&r.features).expect("json")["x"]
                .as_f64()
                .expect("x")
        })
        .collect();
    assert_eq!(logged, vec![1.0, 20.0, 60.0, 99.0]);
}

/// Each bad request is a 400 whose error names the input (or field) at fault.
#[tokio::test]
async fn bad_requests_are_400s_naming_the_input() {
    let s = server().await;
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut r = column_request("bad");
        edit(&mut r);
        r
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            with(&|r| r["inputs"][0]["data"][1] = json!(150.0)),
            "inputs.x[1]",
        ),
        (
            with(&|r| r["inputs"][0]["datatype"] = json!("BYTES")),
            "inputs.x",
        ),
        (
            with(&|r| r["inputs"][2]["data"][0] = json!("XXL")),
            "inputs.size[0]",
        ),
        (
            with(&|r| r["inputs"][2]["data"][2] = json!(null)),
            "inputs.size[2]",
        ),
        (
            with(&|r| r["inputs"][1]["data"] = json!([1, 2, 3])),
            "inputs.color",
        ),
        (with(&|r| r["inputs"][0]["shape"] = json!([4])), "inputs.x"),
        (
            with(&|r| r["inputs"][0]["shape"] = json!([3, 2])),
            "inputs.x",
        ),
        (
            with(&|r| {
                r["inputs"].as_array_mut().expect("inputs").remove(2);
            }),
            "inputs.size",
        ),
        (
            with(&|r| {
                r["inputs"].as_array_mut().expect("inputs").push(
                    json!({"name": "age", "datatype": "FP64", "shape": [3], "data": [1, 2, 3]}),
                );
            }),
            "inputs.age",
        ),
        (
            with(&|r| {
                r["inputs"][2] =
                    json!({"name": "size", "datatype": "BYTES", "shape": [2], "data": ["S", "M"]});
            }),
            "inputs.size",
        ),
        (
            with(&|r| {
                r["inputs"][0]["parameters"] = json!({"binary_data_size": 24});
                r["inputs"][0]
                    .as_object_mut()
                    .expect("input")
                    .remove("data");
            }),
            "inputs.x",
        ),
        (
            with(&|r| r["parameters"]["request_ids"] = json!(["only-one"])),
            "parameters.request_ids",
        ),
        (
            with(&|r| r["parameters"]["content_type"] = json!("csv")),
            "parameters.content_type",
        ),
        (
            with(&|r| r["outputs"] = json!([{"name": "logits"}])),
            "outputs[0].name",
        ),
        (with(&|r| r["id"] = json!("x".repeat(300))), "id"),
        (json!({"id": "no-inputs"}), "$"),
    ];
    for (request, field) in cases {
        let (status, body) = s.post("/v2/models/tiny/infer", &request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {body}");
        assert_eq!(body["field"], field, "{body}");
        assert!(error_of(&body).contains(field), "{body}");
    }
    let (status, body) = s.post_raw("/v2/models/tiny/infer", "{\"inputs\": [").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_of(&body).starts_with("malformed JSON"), "{body}");
    // Nothing was predicted or logged.
    let text = s.metrics_text().await;
    assert_eq!(metric(&text, "vigil_prediction_rows_total"), 0.0);
}

#[tokio::test]
async fn rows_beyond_the_infer_limit_are_a_413() {
    let mut config = config();
    config.max_infer_batch = 2;
    let s = server_with(config).await;
    let (status, body) = s
        .post("/v2/models/tiny/infer", &column_request("big"))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(error_of(&body).contains("limit of 2"), "{body}");
}

#[tokio::test]
async fn selected_outputs_only() {
    let s = server().await;
    let mut request = column_request("sel");
    request["outputs"] = json!([{"name": "probabilities"}]);
    let (status, body) = s.post("/v2/models/tiny/infer", &request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let outputs = body["outputs"].as_array().expect("outputs");
    assert_eq!(outputs.len(), 1);
    assert_eq!(outputs[0]["name"], "probabilities");
}

/// A binary answer split as Triton's extension defines it: the JSON
/// (`Inference-Header-Content-Length` bytes), then the binary outputs' data in order.
async fn binary_answer(s: &TestServer, request: &Value) -> (Value, Vec<Vec<u8>>) {
    use tower::ServiceExt;
    let request = axum::http::Request::post("/v2/models/tiny/infer")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(request.to_string()))
        .expect("request");
    let response = s.router.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    let length: usize = response.headers()["inference-header-content-length"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("a length");
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let answer: Value = serde_json::from_slice(&body[..length]).expect("the JSON answer");
    let mut tail = &body[length..];
    let mut parts = Vec::new();
    for output in answer["outputs"].as_array().expect("outputs") {
        if let Some(size) = output["parameters"]["binary_data_size"].as_u64() {
            assert!(output.get("data").is_none(), "{output}");
            let (part, rest) = tail.split_at(size as usize);
            parts.push(part.to_vec());
            tail = rest;
        }
    }
    assert!(tail.is_empty(), "{} bytes after the outputs", tail.len());
    (answer, parts)
}

#[tokio::test]
async fn binary_outputs_follow_the_json_answer() {
    let s = server().await;
    let (status, plain) = s.post("/v2/models/tiny/infer", &column_request("j")).await;
    assert_eq!(status, StatusCode::OK, "{plain}");
    let labels: Vec<String> = serde_json::from_value(plain["outputs"][0]["data"].clone()).unwrap();
    let probabilities: Vec<f64> =
        serde_json::from_value(plain["outputs"][1]["data"].clone()).unwrap();
    let bytes_of = |labels: &[String]| {
        let mut out = Vec::new();
        for l in labels {
            out.extend_from_slice(&(l.len() as u32).to_le_bytes());
            out.extend_from_slice(l.as_bytes());
        }
        out
    };
    let fp64: Vec<u8> = probabilities.iter().flat_map(|p| p.to_le_bytes()).collect();
    let binary = json!({"binary_data": true});
    // Each output named binary; every output binary by the request's parameter.
    let mut named = column_request("b");
    named["outputs"] = json!([
        {"name": "predicted_class", "parameters": binary},
        {"name": "probabilities", "parameters": binary},
    ]);
    let mut all = column_request("b");
    all["parameters"]["binary_data_output"] = json!(true);
    for request in [named, all] {
        let (answer, parts) = binary_answer(&s, &request).await;
        assert_eq!(parts, [bytes_of(&labels), fp64.clone()], "{answer}");
        assert_eq!(answer["outputs"][0]["datatype"], "BYTES");
        assert_eq!(answer["outputs"][1]["shape"], json!([3, 2]));
        assert_eq!(answer["id"], "b");
    }
    // One binary output, the other in the JSON (its own `binary_data: false` wins).
    let mut mixed = column_request("m");
    mixed["parameters"]["binary_data_output"] = json!(true);
    mixed["outputs"] = json!([
        {"name": "predicted_class", "parameters": {"binary_data": false}},
        {"name": "probabilities"},
    ]);
    let (answer, parts) = binary_answer(&s, &mixed).await;
    assert_eq!(answer["outputs"][0]["data"], json!(labels));
    assert_eq!(parts, [fp64]);
    let mut wrong = column_request("w");
    wrong["outputs"] = json!([{"name": "probabilities", "parameters": {"binary_data": "yes"}}]);
    let (status, body) = s.post("/v2/models/tiny/infer", &wrong).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

/// tritonclient[http], kserve's InferenceRESTClient and open-inference-openapi's client
/// against the real server:
/// inference/tests/oip_clients.py, run with `VIGIL_OIP_PYTHON` (a Python with all three).
#[tokio::test]
async fn real_oip_clients_call_the_server() {
    let Some(python) = vigil_testkit::OIP_PYTHON.find() else {
        return;
    };
    let server = socket_server(config()).await;
    let (addr, version) = (server.addr, server.version.clone());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oip_clients.py");
    let output = tokio::process::Command::new(&python)
        .arg(script)
        .arg(addr.to_string())
        .arg(&version)
        .output()
        .await
        .expect("run the client script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "oip_clients.py failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all OIP client checks passed"), "{stdout}");
    let (store, dir) = server.stop().await;
    let records =
        read_window::<PredictionRecord>(&store, Utc::now() - Duration::hours(1), Utc::now())
            .await
            .expect("read");
    // The script's tritonclient and kserve requests, every row logged under its id.
    assert!(
        records.iter().any(|r| r.request_id == "triton-1-0"),
        "{records:?}"
    );
    assert!(
        records.iter().any(|r| r.request_id == "kserve-1-2"),
        "{records:?}"
    );
    drop(dir);
}
