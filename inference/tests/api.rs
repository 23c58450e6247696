//! Every endpoint and every bad-input case, in process (`oneshot`), plus one real socket.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{Duration, Utc};
use common::*;
use serde_json::{json, Value};
use vigil_core::data::prediction_log::read_window;
use vigil_core::data::storage::Store;
use vigil_core::wire::{FeedbackRecord, PredictionRecord};
use vigil_inference::{OutOfRange, WhenFull};

fn kinds(body: &Value) -> Vec<(String, String)> {
    body["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| {
            (
                p["field"].as_str().expect("field").to_string(),
                p["kind"].as_str().expect("kind").to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn predict_answers_the_contract_and_logs_it() {
    let mut s = server().await;
    let (status, body) = s.post("/predict", &good_request("req-1")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["request_id"], "req-1");
    assert_eq!(body["model_version"], s.version.as_str());
    let p_no = body["probabilities"]["no"].as_f64().expect("p(no)");
    let p_yes = body["probabilities"]["yes"].as_f64().expect("p(yes)");
    assert!((p_no + p_yes - 1.0).abs() < 1e-9);
    let confidence = body["confidence"].as_f64().expect("confidence");
    assert_eq!(confidence, p_no.max(p_yes));
    let class = if p_yes > p_no { "yes" } else { "no" };
    assert_eq!(body["predicted_class"], class);

    s.flush().await;
    let store = Store::open(&s.uri).expect("store");
    let records =
        read_window::<PredictionRecord>(&store, Utc::now() - Duration::hours(1), Utc::now())
            .await
            .expect("read");
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.request_id, "req-1");
    assert_eq!(r.predicted_class, class);
    assert_eq!(r.model_version, s.version);
    assert_eq!(r.probabilities, vec![p_no, p_yes]);
    assert_eq!(
        serde_json::to_value(&r.features).expect("json"),
        json!({"x": 42.0, "color": "red", "size": "M"})
    );
    let keys = store.list("logs").await.expect("list");
    assert_eq!(keys.len(), 1);
    assert!(keys[0].contains("/test-pod-"), "{keys:?}");
}

#[tokio::test]
async fn a_request_logged_in_recycled_buffers_logs_only_its_own_values() {
    // The log writer hands a small entry's buffers back to the model; the next request
    // fills them, and nothing of the request before it may show through.
    let mut s = server().await;
    let model = s.state.model().expect("model");
    let first = json!({"request_id": "first", "features": row(json!(7), json!("red"), json!("M"))});
    assert_eq!(s.post("/predict", &first).await.0, StatusCode::OK);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while model.log_buffers.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the writer never handed the buffers back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let second =
        json!({"request_id": "second", "features": row(json!(3), json!(null), json!("L"))});
    assert_eq!(s.post("/predict", &second).await.0, StatusCode::OK);
    let batch = json!({"requests": [
        {"request_id": "third", "features": row(json!(1), json!("green"), json!("S"))},
        {"request_id": "fourth", "features": row(json!(2), json!("green"), json!("L"))},
    ]});
    assert_eq!(s.post("/predict/batch", &batch).await.0, StatusCode::OK);
    s.flush().await;
    assert!(!model.log_buffers.is_empty());
    let store = Store::open(&s.uri).expect("store");
    let mut records =
        read_window::<PredictionRecord>(&store, Utc::now() - Duration::hours(1), Utc::now())
            .await
            .expect("read");
    records.sort_by_key(|r| {
        ["first", "second", "third", "fourth"]
            .iter()
            .position(|id| *id == r.request_id)
    });
    let logged: Vec<(String, Value)> = records
        .iter()
        .map(|r| {
            (
                r.request_id.clone(),
                serde_json::to_value(&r.features).expect("json"),
            )
        })
        .collect();
    assert_eq!(
        logged,
        vec![
            (
                "first".into(),
                json!({"x": 7.0, "color": "red", "size": "M"})
            ),
            (
                "second".into(),
                json!({"x": 3.0, "color": null, "size": "L"})
            ),
            (
                "third".into(),
                json!({"x": 1.0, "color": "green", "size": "S"})
            ),
            (
                "fourth".into(),
                json!({"x": 2.0, "color": "green", "size": "L"})
            ),
        ]
    );
}

#[tokio::test]
async fn request_id_is_optional_and_generated() {
    let s = server().await;
    let (status, body) = s
        .post(
            "/predict",
            &json!({"features": row(json!(1), json!(null), json!("S"))}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["request_id"].as_str().expect("id");
    assert!(id.starts_with("test-pod-"), "{id}");
    let (_, again) = s
        .post(
            "/predict",
            &json!({"features": row(json!(1), json!(null), json!("S"))}),
        )
        .await;
    assert_ne!(again["request_id"], body["request_id"]);
}

#[tokio::test]
async fn batch_answers_in_order_and_counts_rows() {
    let s = server().await;
    let requests: Vec<Value> = (0..20)
        .map(|i| json!({"request_id": format!("b-{i}"), "features": row(json!(i * 5), json!("blue"), json!("L"))}))
        .collect();
    let (status, body) = s
        .post("/predict/batch", &json!({"requests": requests}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let responses = body["responses"].as_array().expect("responses");
    assert_eq!(responses.len(), 20);
    for (i, r) in responses.iter().enumerate() {
        assert_eq!(r["request_id"], format!("b-{i}"));
    }
    // Higher x means "yes" in the generated data; the model must have learned that.
    assert_eq!(responses[0]["predicted_class"], "no");
    assert_eq!(responses[19]["predicted_class"], "yes");
    let text = s.metrics_text().await;
    assert_eq!(metric(&text, "vigil_prediction_rows_total"), 20.0);
    assert_eq!(
        metric(
            &text,
            "vigil_http_requests_total{route=\"/predict/batch\",status=\"200\"}"
        ),
        1.0
    );
}

#[tokio::test]
async fn every_schema_problem_is_a_422_naming_the_field() {
    let s = server().await;
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"features": {"x": 1, "color": "red"}}),
            "features.size",
            "missing",
        ),
        (
            json!({"features": {"x": 1, "color": "red", "size": "S", "bogus": 3}}),
            "features.bogus",
            "unknown",
        ),
        (
            json!({"features": row(json!("12"), json!("red"), json!("S"))}),
            "features.x",
            "wrong_type",
        ),
        (
            json!({"features": row(json!(true), json!("red"), json!("S"))}),
            "features.x",
            "wrong_type",
        ),
        (
            json!({"features": row(json!([1]), json!("red"), json!("S"))}),
            "features.x",
            "wrong_type",
        ),
        (
            json!({"features": row(json!(1), json!(7), json!("S"))}),
            "features.color",
            "wrong_type",
        ),
        (
            json!({"features": row(json!(1), json!({"a": 1}), json!("S"))}),
            "features.color",
            "wrong_type",
        ),
        (
            json!({"features": row(json!(101), json!("red"), json!("S"))}),
            "features.x",
            "out_of_range",
        ),
        (
            json!({"features": row(json!(-0.5), json!("red"), json!("S"))}),
            "features.x",
            "out_of_range",
        ),
        (
            json!({"features": row(json!(1), json!("red"), json!(null))}),
            "features.size",
            "null",
        ),
        (
            json!({"features": row(json!(1), json!("red"), json!("XXL"))}),
            "features.size",
            "not_allowed",
        ),
        (
            json!({"features": row(json!(1), json!("red"), json!("S")), "extra": 1}),
            "extra",
            "unknown",
        ),
        (
            json!({"request_id": 5, "features": row(json!(1), json!("red"), json!("S"))}),
            "request_id",
            "wrong_type",
        ),
        (
            json!({"request_id": "", "features": row(json!(1), json!("red"), json!("S"))}),
            "request_id",
            "invalid_request_id",
        ),
        (
            json!({"request_id": "x".repeat(300), "features": row(json!(1), json!("red"), json!("S"))}),
            "request_id",
            "invalid_request_id",
        ),
        (json!({"request_id": "a"}), "features", "missing"),
        (json!({"features": [1, 2]}), "features", "wrong_type"),
        (json!({"features": null}), "features", "wrong_type"),
        (json!([1, 2, 3]), "$", "wrong_type"),
        (json!("just a string"), "$", "wrong_type"),
    ];
    for (body, field, kind) in cases {
        let (status, answer) = s.post("/predict", &body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body} → {answer}"
        );
        assert!(
            kinds(&answer).contains(&(field.to_string(), kind.to_string())),
            "{body} → {answer}"
        );
        assert!(answer["field"].as_str().is_some(), "{answer}");
        assert!(
            answer["error"].as_str().expect("error").contains(field),
            "{answer}"
        );
    }
    let text = s.metrics_text().await;
    assert!(metric(&text, "vigil_request_problems_total{kind=\"missing\"}") >= 1.0);
    assert!(metric(&text, "vigil_feature_out_of_range_total{feature=\"x\"}") >= 2.0);
    assert!(
        metric(
            &text,
            "vigil_http_request_errors_total{kind=\"invalid\",route=\"/predict\"}"
        ) >= 20.0
    );
}

#[tokio::test]
async fn duplicate_keys_are_rejected() {
    let s = server().await;
    let body = r#"{"features": {"x": 1, "x": 2, "color": "red", "size": "S"}}"#;
    let (status, answer) = s.post_raw("/predict", body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(
        kinds(&answer),
        vec![("features.x".into(), "duplicate".into())]
    );
    let body = r#"{"request_id": "a", "request_id": "b", "features": {"x": 1, "color": "red", "size": "S"}}"#;
    let (status, answer) = s.post_raw("/predict", body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
}

#[tokio::test]
async fn malformed_bodies_are_400s() {
    let s = server().await;
    let nested = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let deep_feature = format!(
        r#"{{"features": {{"x": {}1{}, "color": "red", "size": "S"}}}}"#,
        "[".repeat(500),
        "]".repeat(500)
    );
    let cases: Vec<Vec<u8>> = vec![
        b"{".to_vec(),
        b"{\"features\": {\"x\": NaN, \"color\": \"red\", \"size\": \"S\"}}".to_vec(),
        b"{\"features\": {\"x\": Infinity, \"color\": \"red\", \"size\": \"S\"}}".to_vec(),
        b"{\"features\": {\"x\": -Infinity, \"color\": \"red\", \"size\": \"S\"}}".to_vec(),
        b"{\"features\": {\"x\": 1e400, \"color\": \"red\", \"size\": \"S\"}}".to_vec(),
        b"{\"features\": {\"x\": 1, \"color\": \"r\xffd\", \"size\": \"S\"}}".to_vec(),
        b"\xff\xfe{}".to_vec(),
        b"{} {}".to_vec(),
        b"{\"features\": {\"x\": 1,}}".to_vec(),
    ];
    for body in cases {
        let (status, answer) = s.post_raw("/predict", body.clone()).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{} → {answer}",
            String::from_utf8_lossy(&body)
        );
        assert!(answer["error"]
            .as_str()
            .expect("error")
            .starts_with("malformed JSON"));
    }
    // Deep nesting where a value is skipped is drained without recursion: a 422 naming it.
    for body in [nested, deep_feature] {
        let (status, answer) = s.post_raw("/predict", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["problems"][0]["kind"], "wrong_type", "{answer}");
    }
    for body in ["", "   \n"] {
        let (status, answer) = s.post_raw("/predict", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert!(answer["error"].as_str().expect("error").contains("empty"));
    }
    let (status, answer) = s
        .call(
            Request::post("/predict")
                .header("content-type", "text/plain")
                .body(Body::from(good_request("a").to_string()))
                .expect("request"),
        )
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{answer}");
    // No content type at all is accepted (curl --data-binary without -H, simple clients).
    let (status, _) = s
        .call(
            Request::post("/predict")
                .body(Body::from(good_request("a").to_string()))
                .expect("request"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn limits_are_413s() {
    let s = server().await;
    let too_many: Vec<Value> = (0..51).map(|i| good_request(&format!("r{i}"))).collect();
    let (status, answer) = s
        .post("/predict/batch", &json!({"requests": too_many}))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert!(answer["error"]
        .as_str()
        .expect("error")
        .contains("more than 50"));
    let at_limit: Vec<Value> = (0..50).map(|i| good_request(&format!("r{i}"))).collect();
    let (status, _) = s
        .post("/predict/batch", &json!({"requests": at_limit}))
        .await;
    assert_eq!(status, StatusCode::OK);

    let huge = format!(
        r#"{{"request_id": "{}", "features": {{}}}}"#,
        "a".repeat(100 * 1024)
    );
    let (status, answer) = s.post_raw("/predict", huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert!(answer["error"].is_string());
}

#[tokio::test]
async fn batch_problems_name_the_row_and_nothing_is_predicted() {
    let s = server().await;
    let body = json!({"requests": [
        good_request("ok"),
        {"request_id": "bad", "features": row(json!("x"), json!("red"), json!("S"))},
        7
    ]});
    let (status, answer) = s.post("/predict/batch", &body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let k = kinds(&answer);
    assert!(
        k.contains(&("requests[1].features.x".into(), "wrong_type".into())),
        "{k:?}"
    );
    assert!(
        k.contains(&("requests[2]".into(), "wrong_type".into())),
        "{k:?}"
    );
    for (bad, field) in [
        (json!({"requests": []}), "requests"),
        (json!({"requests": {}}), "requests"),
        (json!({}), "requests"),
        (json!({"requests": [], "more": 1}), "more"),
    ] {
        let (status, answer) = s.post("/predict/batch", &bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad} → {answer}");
        assert!(
            kinds(&answer).iter().any(|(f, _)| f == field),
            "{bad} → {answer}"
        );
    }
    let text = s.metrics_text().await;
    assert_eq!(metric(&text, "vigil_prediction_rows_total"), 0.0);
}

#[tokio::test]
async fn nulls_are_imputed_and_counted_and_unseen_categories_too() {
    let s = server().await;
    let (status, body) = s
        .post(
            "/predict",
            &json!({"features": row(json!(3), json!(null), json!("XL"))}),
        )
        .await;
    // XL is allowed by the schema but never seen in training: encoded as all zeros.
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = s
        .post(
            "/predict",
            &json!({"features": row(json!(3), json!("missing"), json!("S"))}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let text = s.metrics_text().await;
    assert_eq!(
        metric(&text, "vigil_feature_missing_total{feature=\"color\"}"),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "vigil_feature_unseen_category_total{feature=\"size\"}"
        ),
        1.0
    );
}

#[tokio::test]
async fn out_of_range_can_be_accepted_and_counted() {
    let mut config = config();
    config.out_of_range = OutOfRange::Accept;
    let s = server_with(config).await;
    let (status, body) = s
        .post(
            "/predict",
            &json!({"features": row(json!(250), json!("red"), json!("S"))}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let text = s.metrics_text().await;
    assert_eq!(
        metric(&text, "vigil_feature_out_of_range_total{feature=\"x\"}"),
        1.0
    );
}

#[tokio::test]
async fn health_ready_and_no_model() {
    let s = server().await;
    let (status, body) = s.get("/health").await;
    assert_eq!(
        (status, body["model_version"].clone()),
        (StatusCode::OK, json!(s.version))
    );
    let (status, _) = s.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = s.get("/ready").await;
    assert_eq!(
        (status, body["status"].clone()),
        (StatusCode::OK, json!("ready"))
    );

    let empty = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&format!("file://{}", empty.path().display())).expect("store");
    let (state, _sinks) = vigil_inference::AppState::start(
        store,
        config(),
        vigil_inference::Metrics::new().expect("metrics"),
    );
    let router = vigil_inference::app(state.clone());
    use tower::ServiceExt;
    for path in ["/ready", "/predict"] {
        let request = if path == "/predict" {
            Request::post(path).body(Body::from(good_request("a").to_string()))
        } else {
            Request::get(path).body(Body::empty())
        }
        .expect("request");
        let response = router.clone().oneshot(request).await.expect("response");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
    }
    let response = router
        .clone()
        .oneshot(
            Request::get("/health")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    state.begin_shutdown();
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_bounded_labels() {
    let s = server().await;
    s.post("/predict", &good_request("a")).await;
    s.post_raw("/predict", "{").await;
    s.get("/no/such/route/123").await;
    let text = s.metrics_text().await;
    assert_eq!(metric(&text, "vigil_model_loaded"), 1.0);
    assert_eq!(
        metric(
            &text,
            &format!("vigil_model_info{{version=\"{}\"}}", s.version)
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "vigil_http_requests_total{route=\"/predict\",status=\"400\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "vigil_http_requests_total{route=\"unmatched\",status=\"404\"}"
        ),
        1.0
    );
    assert!(
        !text.contains("/no/such/route"),
        "raw paths must not become labels"
    );
    assert!(
        metric(&text, "vigil_predictions_total{class=\"no\"}")
            + metric(&text, "vigil_predictions_total{class=\"yes\"}")
            == 1.0
    );
    assert!(text
        .contains("vigil_http_request_duration_seconds_bucket{route=\"/predict\",le=\"0.001\"}"));
    assert!(text.contains("vigil_prediction_confidence_bucket"));
    assert_eq!(
        metric(&text, "vigil_log_buffer_records{log=\"predictions\"}"),
        1.0
    );

    let (status, summary) = s.get("/metrics/summary").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(summary["model_version"], s.version.as_str());
    assert_eq!(summary["rows_predicted"], 1);
    assert_eq!(summary["model_loaded"], true);
}

/// `promtool check metrics` on a real scrape. Skipped when promtool is absent, unless
/// VIGIL_REQUIRE_PROMTOOL=1 (CI), where its absence fails the test.
#[tokio::test]
async fn metrics_pass_promtool() {
    let s = server().await;
    s.post("/predict", &good_request("a")).await;
    s.post("/predict", &json!({})).await;
    let text = s.metrics_text().await;
    let Some(promtool) = vigil_testkit::PROMTOOL.find() else {
        return;
    };
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn admin_endpoints_need_the_token() {
    let s = server().await;
    for (method, path) in [("POST", "/model/reload"), ("GET", "/logs")] {
        let no_token = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .expect("request");
        let (status, body) = s.call(no_token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
        let wrong = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", "Bearer s3cret-tokeN")
            .body(Body::empty())
            .expect("request");
        let (status, _) = s.call(wrong).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
    // No token configured: admin endpoints are off, not open.
    let mut config = config();
    config.admin_token = None;
    let open = server_with(config).await;
    let (status, _) = open.admin("POST", "/model/reload", "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn reload_swaps_to_the_newest_and_failures_keep_the_old_model() {
    let s = server().await;
    let (status, body) = s.admin("POST", "/model/reload", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["model_version"], s.version.as_str());

    let csv = s.dir.path().join("tiny.csv").display().to_string();
    let newer = train_into(&s.uri, &csv, 3600).await;
    let (status, body) = s.admin("POST", "/model/reload", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["model_version"], newer.as_str());
    assert_eq!(body["previous_version"], s.version.as_str());
    let (_, answer) = s.post("/predict", &good_request("after")).await;
    assert_eq!(answer["model_version"], newer.as_str());

    // Back to a given version, by body and by query.
    let (status, body) = s
        .admin(
            "POST",
            "/model/reload",
            &json!({"version": s.version}).to_string(),
        )
        .await;
    assert_eq!(
        (status, body["model_version"].clone()),
        (StatusCode::OK, json!(s.version))
    );
    let (status, _) = s
        .admin("POST", &format!("/model/reload?version={newer}"), "")
        .await;
    assert_eq!(status, StatusCode::OK);

    // Failures: unknown version (404), corrupt artifact (409); the model keeps serving.
    let (status, body) = s
        .admin("POST", "/model/reload", r#"{"version": "no-such-version"}"#)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body["error"]
        .as_str()
        .expect("error")
        .contains(&format!("still serving {newer}")));
    let store = Store::open(&s.uri).expect("store");
    store
        .put(
            "models/99990101-000000-broken/model.json",
            bytes::Bytes::from_static(b"{\"formatVersion\": 1, \"trunc"),
        )
        .await
        .expect("put");
    let (status, body) = s.admin("POST", "/model/reload", "").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, answer) = s.post("/predict", &good_request("still")).await;
    assert_eq!(
        (status, answer["model_version"].clone()),
        (StatusCode::OK, json!(newer))
    );
    let (status, body) = s.admin("POST", "/model/reload", r#"{"versio": 1}"#).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let text = s.metrics_text().await;
    assert_eq!(
        metric(&text, "vigil_model_reloads_total{result=\"failure\"}"),
        2.0
    );
    assert_eq!(
        metric(&text, &format!("vigil_model_info{{version=\"{newer}\"}}")),
        1.0
    );
    assert!(!text.contains(&format!("vigil_model_info{{version=\"{}\"}}", s.version)));
}

#[tokio::test]
async fn in_flight_requests_finish_on_their_snapshot() {
    let s = server().await;
    let before = s.state.model().expect("model");
    let csv = s.dir.path().join("tiny.csv").display().to_string();
    let newer = train_into(&s.uri, &csv, 3600).await;
    s.state.reload(None).await.expect("reload");
    assert_eq!(
        before.version(),
        s.version,
        "a held snapshot does not change"
    );
    assert_eq!(s.state.model().expect("model").version(), newer);
}

#[tokio::test]
async fn logs_are_paged_and_validated() {
    let mut config = config();
    config.sink.flush_interval = std::time::Duration::from_millis(20);
    let s = server_with(config).await;
    for i in 0..25 {
        let (status, _) = s.post("/predict", &good_request(&format!("log-{i}"))).await;
        assert_eq!(status, StatusCode::OK);
    }
    let mut seen = Vec::new();
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let (_, page) = s.admin("GET", "/logs?limit=1000", "").await;
        if page["count"] == 25 {
            break;
        }
    }
    let mut cursor = String::new();
    loop {
        let (status, page) = s.admin("GET", &format!("/logs?limit=10{cursor}"), "").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for r in page["records"].as_array().expect("records") {
            seen.push(r["request_id"].as_str().expect("id").to_string());
        }
        assert!(page["count"].as_u64().expect("count") <= 10);
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    let mut expected: Vec<String> = (0..25).map(|i| format!("log-{i}")).collect();
    expected.sort();
    seen.sort();
    assert_eq!(seen, expected);

    let since = (Utc::now() + Duration::hours(1)).to_rfc3339();
    for (query, status) in [
        (
            "/logs?limit=0".to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/logs?limit=5000".to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/logs?since=yesterday".to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("/logs?since={}", since.replace('+', "%2B")),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/logs?since=2020-01-01T00:00:00Z".to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/logs?cursor=feedback/dt=2026-11-28/hr=10/f.jsonl.gz:1".to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("/logs?limit=abc".to_string(), StatusCode::BAD_REQUEST),
        ("/logs?colour=red".to_string(), StatusCode::BAD_REQUEST),
    ] {
        let (got, body) = s.admin("GET", &query, "").await;
        assert_eq!(got, status, "{query}: {body}");
        assert!(body["error"].is_string(), "{query}: {body}");
    }
}

#[tokio::test]
async fn feedback_is_validated_and_written() {
    let mut s = server().await;
    let (status, body) = s
        .post("/feedback", &json!({"request_id": "req-1", "label": "yes"}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    for (bad, field) in [
        (
            json!({"request_id": "req-1", "label": "maybe"}),
            Some("label"),
        ),
        (
            json!({"request_id": "", "label": "yes"}),
            Some("request_id"),
        ),
        (json!({"request_id": "req-1"}), None),
        (
            json!({"request_id": "req-1", "label": "yes", "extra": 1}),
            None,
        ),
        (json!({"request_id": 1, "label": "yes"}), None),
    ] {
        let (status, body) = s.post("/feedback", &bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad} → {body}");
        if let Some(field) = field {
            assert_eq!(body["field"], field, "{body}");
        }
    }
    s.flush().await;
    let store = Store::open(&s.uri).expect("store");
    let feedback =
        read_window::<FeedbackRecord>(&store, Utc::now() - Duration::hours(1), Utc::now())
            .await
            .expect("read");
    assert_eq!(feedback.len(), 1);
    assert_eq!(
        (feedback[0].request_id.as_str(), feedback[0].label.as_str()),
        ("req-1", "yes")
    );
    assert!(store.list("feedback").await.expect("list")[0].starts_with("feedback/dt="));
}

/// With a feedback token, only its bearer sends labels; the admin token is not it, and it
/// opens no admin endpoint.
#[tokio::test]
async fn feedback_needs_its_own_token_when_one_is_set() {
    let mut config = config();
    config.feedback_token = vigil_inference::BearerToken::new("label-producer-token");
    let s = server_with(config).await;
    let label = json!({"request_id": "req-1", "label": "yes"}).to_string();
    let post = |bearer: Option<&str>| {
        let mut request = Request::post("/feedback").header("content-type", "application/json");
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        request.body(Body::from(label.clone())).expect("request")
    };
    for bearer in [None, Some("wrong"), Some(TOKEN)] {
        let (status, body) = s.call(post(bearer)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bearer:?}: {body}");
    }
    let (status, body) = s.call(post(Some("label-producer-token"))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let logs = Request::get("/logs")
        .header("authorization", "Bearer label-producer-token")
        .body(Body::empty())
        .expect("request");
    assert_eq!(s.call(logs).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json_4xx() {
    let s = server().await;
    let (status, body) = s.get("/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].as_str().expect("error").contains("/nope"));
    let (status, body) = s.get("/predict").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert!(body["error"].is_string());
}

/// Every path and method of /openapi.json is routed, and every route is documented.
#[tokio::test]
async fn openapi_matches_the_routes() {
    let s = server().await;
    let (status, doc) = s.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    let paths = doc["paths"].as_object().expect("paths");
    let mut documented: Vec<&str> = paths.keys().map(String::as_str).collect();
    documented.sort();
    let mut routed: Vec<&str> = vigil_inference::metrics::ROUTES.to_vec();
    routed.sort();
    assert_eq!(documented, routed);
    for (path, item) in paths {
        // Path parameters as the served model's name and version.
        let uri = path
            .replace("{model}", "tiny")
            .replace("{version}", &s.version);
        for method in item.as_object().expect("item").keys() {
            let request = Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(&uri)
                .header("authorization", format!("Bearer {TOKEN}"))
                .header("content-type", "application/json")
                .body(Body::from("{}"))
                .expect("request");
            let (status, body) = s.call(request).await;
            assert!(
                status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is documented but not routed: {status} {body}"
            );
        }
    }
}

/// The request bodies are the served model's contract: its features (required, typed, in
/// range, its categories), its classes as labels, its name and version in the OIP paths.
#[tokio::test]
async fn openapi_request_schemas_come_from_the_served_model() {
    let s = server().await;
    let (_, doc) = s.get("/openapi.json").await;
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["PredictRequest"]["properties"]["features"],
        json!({"type": "object", "required": ["x", "color", "size"], "additionalProperties": false,
        "description": "Every feature of the served model's schema, by name",
        "properties": {
            "x": {"type": "number", "minimum": 0.0, "maximum": 100.0},
            // nullable, any category (unseen ones are ignored by default)
            "color": {"type": "string", "nullable": true},
            "size": {"type": "string", "enum": ["S", "M", "L", "XL"]},
        }})
    );
    assert_eq!(
        schemas["Feedback"]["properties"]["label"]["enum"],
        json!(["no", "yes"])
    );
    let infer = &doc["paths"]["/v2/models/{model}/versions/{version}/infer"]["post"];
    assert_eq!(
        infer["parameters"][0]["schema"],
        json!({"type": "string", "enum": ["tiny"]})
    );
    assert_eq!(
        infer["parameters"][1]["schema"],
        json!({"type": "string", "enum": [s.version]})
    );
}

#[tokio::test]
async fn drop_policy_counts_instead_of_blocking() {
    let mut config = config();
    config.sink.when_full = WhenFull::Drop;
    config.sink.buffer = 1;
    config.sink.flush_records = 1;
    // A store that cannot be written: every flush fails and is retried, so the buffer fills.
    let s = server_with(config).await;
    std::fs::remove_dir_all(s.dir.path().join("store")).ok();
    std::fs::write(s.dir.path().join("store"), b"not a directory").expect("block the store");
    for i in 0..20 {
        let (status, _) = s.post("/predict", &good_request(&format!("d{i}"))).await;
        assert_eq!(status, StatusCode::OK);
    }
    let text = s.metrics_text().await;
    assert!(
        metric(
            &text,
            "vigil_log_records_dropped_total{log=\"predictions\"}"
        ) >= 15.0,
        "{text}"
    );
}

/// One test over a real socket: HTTP/1.1 keep-alive, graceful shutdown and the final flush.
#[tokio::test]
async fn serves_over_a_real_socket_and_flushes_on_shutdown() {
    let mut config = config();
    config.sink.flush_interval = std::time::Duration::from_secs(3600);
    let server = socket_server(config).await;
    let (addr, version) = (server.addr, server.version.clone());
    let client = reqwest::Client::new();
    for i in 0..10 {
        let response = client
            .post(format!("http://{addr}/predict"))
            .header("content-type", "application/json")
            .body(good_request(&format!("sock-{i}")).to_string())
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 200);
        let body: Value =
            serde_json::from_slice(&response.bytes().await.expect("body")).expect("json");
        assert_eq!(body["model_version"], version.as_str());
    }
    let bad = client
        .post(format!("http://{addr}/predict"))
        .header("content-type", "application/json")
        .body("{\"features\": 1")
        .send()
        .await
        .expect("send");
    assert_eq!(bad.status(), 400);
    let (store, dir) = server.stop().await;
    let records =
        read_window::<PredictionRecord>(&store, Utc::now() - Duration::hours(1), Utc::now())
            .await
            .expect("read");
    assert_eq!(
        records.len(),
        10,
        "the hour-long flush interval was cut short by shutdown"
    );
    drop(dir);
}

/// `--prediction-log-format parquet`: the same requests leave the same records as in the
/// JSON Lines log (missing values included), in `.parquet` batch files that `GET /logs`
/// pages through.
#[tokio::test]
async fn a_parquet_log_holds_what_the_json_log_holds() {
    let requests: Vec<Value> = (0..20)
        .map(|i| {
            let color = if i % 3 == 0 { json!(null) } else { json!("blue") };
            json!({"request_id": format!("pq-{i}"), "features": row(json!(i * 5), color, json!("L"))})
        })
        .collect();
    let mut logged = Vec::new();
    for format in [
        vigil_inference::PredictionLogFormat::JsonLines,
        vigil_inference::PredictionLogFormat::Parquet,
    ] {
        let mut config = config();
        config.prediction_log_format = format;
        config.sink.flush_interval = std::time::Duration::from_millis(20);
        let mut s = server_with(config).await;
        let (status, body) = s.post("/predict", &good_request("pq-single")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = s
            .post("/predict/batch", &json!({"requests": requests}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut paged = Vec::new();
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let (_, page) = s.admin("GET", "/logs?limit=1000", "").await;
            if page["count"] == 21 {
                break;
            }
        }
        let mut cursor = String::new();
        loop {
            let (status, page) = s.admin("GET", &format!("/logs?limit=4{cursor}"), "").await;
            assert_eq!(status, StatusCode::OK, "{page}");
            paged.extend(page["records"].as_array().expect("records").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => break,
            }
        }
        assert_eq!(paged.len(), 21, "{format:?}");
        s.flush().await;
        let store = Store::open(&s.uri).expect("store");
        let keys = store.list("logs").await.expect("list");
        let extension = match format {
            vigil_inference::PredictionLogFormat::JsonLines => ".jsonl.gz",
            vigil_inference::PredictionLogFormat::Parquet => ".parquet",
        };
        assert!(
            !keys.is_empty() && keys.iter().all(|k| k.ends_with(extension)),
            "{keys:?}"
        );
        let mut records =
            read_window::<PredictionRecord>(&store, Utc::now() - Duration::hours(1), Utc::now())
                .await
                .expect("read");
        records.sort_by(|a, b| a.request_id.cmp(&b.request_id));
        // What a user reads from `/logs` is what the drift check reads from the store.
        let mut paged: Vec<PredictionRecord> = paged
            .into_iter()
            .map(|r| serde_json::from_value(r).expect("a record"))
            .collect();
        paged.sort_by(|a, b| a.request_id.cmp(&b.request_id));
        assert_eq!(paged, records);
        logged.push(records);
    }
    let view = |records: &[PredictionRecord]| -> Vec<Value> {
        records
            .iter()
            .map(|r| json!([r.request_id, r.features, r.predicted_class, r.probabilities]))
            .collect()
    };
    assert_eq!(logged[0].len(), 21);
    assert_eq!(view(&logged[1]), view(&logged[0]));
    let missing = logged[1]
        .iter()
        .find(|r| r.request_id == "pq-0")
        .expect("pq-0");
    assert_eq!(
        serde_json::to_value(&missing.features).expect("json"),
        json!({"x": 0.0, "color": null, "size": "L"})
    );
}

#[tokio::test]
async fn the_log_writes_every_record_exactly_as_serde_does() {
    // The JSON Lines writer escapes constant text once; its bytes must stay those of the
    // typed record, for names, versions, categories and ids that need escaping.
    use vigil_inference::columns::{Categories, Column, Columns, MISSING_CODE};
    use vigil_inference::record::RequestIds;
    use vigil_inference::sink::JsonLines;
    let s = server().await;
    let mut artifact = s.state.model().expect("model").artifact.clone();
    artifact.version = "v\"1\\é".into();
    artifact.schema.features[1].name = "co\"lor\n".into();
    artifact.schema.target.classes[0] = "<=50K \u{1}".into();
    let model = std::sync::Arc::new(vigil_inference::LoadedModel::new(
        artifact,
        &s.state.metrics,
    ));
    let numbers = vec![42.0, f64::NAN, -0.0, 0.1, 1e300, 7.0];
    let mut color = Categories::default();
    for v in ["red", "q\"uote", "tab\t", "red", "ünï", "red"] {
        color.push(v);
    }
    let mut size = Categories::default();
    for v in ["M", "L", "M", "S", "L", "M"] {
        size.push(v);
    }
    size.codes[3] = MISSING_CODE;
    let rows = numbers.len();
    let batch = |request_ids: RequestIds| vigil_inference::PredictionBatch {
        model: std::sync::Arc::clone(&model),
        timestamp: Utc::now(),
        latency_us: 1234,
        request_ids,
        features: Columns {
            rows,
            columns: vec![
                Column::Numeric(numbers.clone()),
                Column::Categorical(color.clone()),
                Column::Categorical(size.clone()),
            ],
        },
        classes: vec![0, 1, 1, 0, 1, 0],
        probabilities: (0..rows)
            .flat_map(|i| [0.1 * i as f64, 1.0 - 0.1 * i as f64])
            .collect(),
    };
    for ids in [
        RequestIds::Numbered("b\"atch".into()),
        RequestIds::Each((0..rows).map(|i| format!("id\\{i}\"")).collect()),
    ] {
        let batch = batch(ids);
        let timestamp = serde_json::to_string(&batch.timestamp).expect("timestamp");
        let mut expected = Vec::new();
        for row in 0..rows {
            serde_json::to_writer(
                &mut expected,
                &batch.record(row, timestamp.trim_matches('"')),
            )
            .expect("serde");
            expected.push(b'\n');
        }
        // In slices of several rows, and of one (escaped in place).
        for slices in [vec![0..2, 2..rows], (0..rows).map(|r| r..r + 1).collect()] {
            let mut written = Vec::new();
            for slice in slices {
                batch.write_json_lines(slice, &mut written);
            }
            assert_eq!(
                String::from_utf8(written).expect("utf-8"),
                String::from_utf8(expected.clone()).expect("utf-8")
            );
        }
    }
    // A one-row request logs its id as sent.
    let mut one = batch(RequestIds::Numbered("solo".into()));
    one.features.rows = 1;
    let mut written = Vec::new();
    one.write_json_lines(0..1, &mut written);
    assert!(
        written.starts_with(br#"{"request_id":"solo","timestamp":"#),
        "{}",
        String::from_utf8_lossy(&written)
    );
}
