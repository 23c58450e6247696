//! DriftPolicy webhooks: a Slack-compatible JSON message per check whose verdict
//! the target asks for. URLs come from Secrets and never reach a log, an Event
//! or status (reqwest errors are stripped of their URL).

use serde_json::{json, Value};
use vigil_core::drift::{DriftSummary, Verdict};

/// The message: Slack's `text` (also understood by Mattermost, Rocket.Chat, Teams
/// workflows and most chat webhooks) plus Vigil's fields for machines.
pub fn payload(namespace: &str, model: &str, policy: &str, summary: &DriftSummary) -> Value {
    match summary {
        DriftSummary::Succeeded {
            verdict,
            drifted_features,
            drifted_count,
            quality_failures,
            current_rows,
            report_uri,
            checked_at,
            ..
        } => {
            let mut text = format!(
                "Vigil: {verdict} drift on model {namespace}/{model} (policy {policy}), \
                 {current_rows} rows checked at {checked_at}."
            );
            if !drifted_features.is_empty() {
                text.push_str(&format!(
                    " Drifted features ({drifted_count}): {}.",
                    drifted_features.join(", ")
                ));
            }
            if !quality_failures.is_empty() {
                text.push_str(&format!(
                    " Data-quality failures: {}.",
                    quality_failures.join("; ")
                ));
            }
            text.push_str(&format!(" Report: {report_uri}"));
            json!({
                "text": text,
                "vigil": {
                    "namespace": namespace,
                    "model": model,
                    "policy": policy,
                    "verdict": verdict,
                    "driftedFeatures": drifted_features,
                    "reportUri": report_uri,
                    "checkedAt": checked_at,
                }
            })
        }
        DriftSummary::Failed { reason, message } => json!({
            "text": format!("Vigil: the drift check of {namespace}/{model} (policy {policy}) failed: {reason}: {message}"),
            "vigil": {"namespace": namespace, "model": model, "policy": policy, "failed": reason},
        }),
    }
}

/// Whether a target listing `verdicts` wants this verdict.
pub fn wanted(verdicts: &[Verdict], verdict: Option<Verdict>) -> bool {
    verdict.is_some_and(|v| verdicts.contains(&v))
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("the webhook answered HTTP {0}")]
    Status(u16),
    #[error("cannot reach the webhook: {0}")]
    Transport(String),
}

/// Posts the payload; the error never contains the URL.
pub async fn send(http: &reqwest::Client, url: &str, payload: &Value) -> Result<(), NotifyError> {
    let response = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(payload.to_string())
        .send()
        .await
        .map_err(|e| NotifyError::Transport(e.without_url().to_string()))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(NotifyError::Status(status.as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn summary() -> DriftSummary {
        serde_json::from_value(json!({
            "outcome": "succeeded", "verdict": "Critical", "driftVerdict": "Critical",
            "qualityPassed": true, "driftedFeatures": ["age", "hours_per_week"],
            "driftedCount": 2, "referenceRows": 10000, "currentRows": 5000,
            "checkedAt": chrono::Utc.with_ymd_and_hms(2026, 11, 28, 18, 0, 0).single().expect("t"),
            "reportUri": "s3://m/reports/drift/x.json", "htmlUri": "s3://m/reports/drift/x.html"
        }))
        .expect("summary")
    }

    #[test]
    fn slack_payload_names_model_features_and_report() {
        let p = payload("ml", "income", "income-drift", &summary());
        assert_eq!(
            p["text"],
            "Vigil: Critical drift on model ml/income (policy income-drift), 5000 rows checked at \
             2026-11-28 18:00:00 UTC. Drifted features (2): age, hours_per_week. \
             Report: s3://m/reports/drift/x.json"
        );
        assert_eq!(p["vigil"]["verdict"], "Critical");
        assert!(wanted(
            &[Verdict::Warning, Verdict::Critical],
            Some(Verdict::Critical)
        ));
        assert!(!wanted(&[Verdict::Critical], Some(Verdict::Warning)));
        assert!(!wanted(&[Verdict::Critical], None));
    }

    #[tokio::test]
    async fn errors_do_not_leak_the_url() {
        let http = reqwest::Client::new();
        // A closed port on loopback: the transport error must not echo the secret URL.
        let err = send(
            &http,
            "http://127.0.0.1:9/hooks/T000/SECRET",
            &json!({"text": "x"}),
        )
        .await
        .expect_err("closed port");
        assert!(!err.to_string().contains("SECRET"), "{err}");
    }
}
