//! The check Job's notifications against a real local HTTP server: delivered
//! once, retried with backoff while the receiver fails, reported (never
//! fatal) when it stays down, and the URL never in the outcome.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::post;
use serde_json::{json, Value};
use vigil_core::drift::report::Notified;
use vigil_core::drift::rules::NotifySpec;
use vigil_core::drift::DriftSummary;
use vigil_jobs::notify::{deliver, Retry, Subject};

/// A receiver at `/hooks/T000/SECRET` (and PagerDuty's `/v2/enqueue`) answering `statuses` in turn (then 200),
/// recording every body it got.
async fn receiver(statuses: Vec<u16>) -> (String, Arc<Mutex<Vec<Value>>>) {
    let received = Arc::new(Mutex::new(Vec::<Value>::new()));
    let sink = received.clone();
    let answers = Arc::new(Mutex::new(statuses.into_iter()));
    let handler = post(move |axum::Json(body): axum::Json<Value>| {
        let (sink, answers) = (sink.clone(), answers.clone());
        async move {
            sink.lock().expect("lock").push(body);
            let code = answers.lock().expect("lock").next().unwrap_or(202);
            StatusCode::from_u16(code).expect("status")
        }
    });
    let app = axum::Router::new()
        .route("/hooks/T000/SECRET", handler.clone())
        .route("/v2/enqueue", handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/hooks/T000/SECRET",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

fn targets() -> Vec<NotifySpec> {
    serde_json::from_value(json!([
        {"webhook": {"urlSecretRef": {"name": "slack-hook", "key": "url"}}, "verdicts": ["Critical"]},
        {"webhook": {"urlSecretRef": {"name": "missing", "key": "url"}}}
    ]))
    .expect("targets")
}

fn summary(verdict: &str) -> DriftSummary {
    serde_json::from_value(json!({
        "outcome": "succeeded", "verdict": verdict, "driftVerdict": verdict,
        "qualityPassed": true, "driftedFeatures": ["age"], "driftedCount": 1,
        "referenceRows": 10000, "currentRows": 5000, "checkedAt": "2026-11-28T18:00:00Z",
        "reportUri": "s3://m/reports/drift/x.json", "htmlUri": "s3://m/reports/drift/x.html"
    }))
    .expect("summary")
}

const SUBJECT: Subject<'static> = Subject {
    namespace: "ml",
    model: "income",
    policy: "income-drift",
};

const FAST: Retry = Retry {
    attempts: 3,
    first_backoff: Duration::from_millis(20),
};

#[tokio::test]
async fn a_blip_is_retried_and_the_message_arrives_once() {
    let (url, received) = receiver(vec![503]).await;
    let http = reqwest::Client::new();
    // Target 1 has no URL in the Pod (its Secret is missing: optional env).
    let notified = deliver(
        &http,
        &targets(),
        &SUBJECT,
        &summary("Critical"),
        |i| (i == 0).then(|| url.clone()),
        FAST,
    )
    .await
    .expect("wanted");
    assert_eq!(
        notified,
        Notified {
            targets: 2,
            sent: 1,
            failures: vec!["no secret in VIGIL_NOTIFY_SECRET_1 (secret missing key url)".into()],
        }
    );
    let bodies = received.lock().expect("lock").clone();
    assert_eq!(bodies.len(), 2, "one failed attempt, one delivered");
    assert_eq!(bodies[0], bodies[1]);
    assert!(bodies[1]["text"]
        .as_str()
        .expect("text")
        .starts_with("Vigil: Critical drift on model ml/income (policy income-drift)"));
}

#[tokio::test]
async fn a_receiver_that_stays_down_is_reported_after_bounded_retries() {
    let (url, received) = receiver(vec![500; 10]).await;
    let http = reqwest::Client::new();
    let notified = deliver(
        &http,
        &targets()[..1],
        &SUBJECT,
        &summary("Critical"),
        |_| Some(url.clone()),
        FAST,
    )
    .await
    .expect("wanted");
    assert_eq!(received.lock().expect("lock").len(), 3, "attempts bounded");
    assert_eq!(
        notified.to_string(),
        "notified 0 of 1 target(s); webhook from secret slack-hook: the webhook answered HTTP 500"
    );
    assert!(!notified.to_string().contains("SECRET"));
}

#[tokio::test]
async fn a_rejected_request_is_not_retried_and_an_unwanted_verdict_sends_nothing() {
    let (url, received) = receiver(vec![404; 10]).await;
    let http = reqwest::Client::new();
    let notified = deliver(
        &http,
        &targets()[..1],
        &SUBJECT,
        &summary("Critical"),
        |_| Some(url.clone()),
        FAST,
    )
    .await
    .expect("wanted");
    assert_eq!(notified.sent, 0);
    assert_eq!(received.lock().expect("lock").len(), 1);

    let none = deliver(
        &http,
        &targets()[..1],
        &SUBJECT,
        &summary("Warning"),
        |_| Some(url.clone()),
        FAST,
    )
    .await;
    assert_eq!(none, None);
    assert_eq!(received.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn pagerduty_is_triggered_once_per_policy_and_resolved_when_the_drift_ends() {
    let (url, received) = receiver(vec![]).await;
    let enqueue = url.replace("/hooks/T000/SECRET", "/v2/enqueue");
    let targets: Vec<NotifySpec> = serde_json::from_value(json!([{
        "pagerDuty": {"routingKeySecretRef": {"name": "pd", "key": "routingKey"}, "url": enqueue},
        "verdicts": ["Critical"]
    }]))
    .expect("targets");
    let http = reqwest::Client::new();
    let key = |_| Some("R0UT1NGKEY\n".to_string());
    for verdict in ["Critical", "Critical", "Warning", "None"] {
        let notified = deliver(&http, &targets, &SUBJECT, &summary(verdict), key, FAST).await;
        assert_eq!(notified.is_some(), verdict != "Warning", "{verdict}");
    }
    let bodies = received.lock().expect("lock").clone();
    let trigger = json!({
        "routing_key": "R0UT1NGKEY",
        "event_action": "trigger",
        "dedup_key": "vigil/ml/income/income-drift",
        "payload": {
            "summary": "Vigil: Critical drift on model ml/income (policy income-drift), 5000 rows \
                        checked at 2026-11-28 18:00:00 UTC. Drifted features (1): age. \
                        Report: s3://m/reports/drift/x.json",
            "source": "ml/income",
            "severity": "critical",
            "component": "income",
            "group": "ml",
            "class": "drift",
            "custom_details": {
                "namespace": "ml", "model": "income", "policy": "income-drift",
                "verdict": "Critical", "driftedFeatures": ["age"],
                "reportUri": "s3://m/reports/drift/x.json", "checkedAt": "2026-11-28T18:00:00Z"
            }
        }
    });
    let resolve = json!({
        "routing_key": "R0UT1NGKEY",
        "event_action": "resolve",
        "dedup_key": "vigil/ml/income/income-drift",
    });
    // The repeat carries the same dedup_key: PagerDuty keeps one alert.
    assert_eq!(bodies, vec![trigger.clone(), trigger, resolve]);
}
