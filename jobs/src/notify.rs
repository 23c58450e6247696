//! DriftPolicy notifications, sent by the check Job itself: a Slack-compatible
//! JSON message per check whose verdict the target asks for. The URLs reach the
//! Pod as environment variables set from Secrets by reference (the operator
//! reads no Secret) and never reach a log, an Event or status (reqwest errors
//! are stripped of their URL). A target that is down is retried a bounded
//! number of times and then reported in the summary; it never fails the check.

use std::time::Duration;

use serde_json::{json, Value};
use vigil_core::drift::report::Notified;
use vigil_core::drift::rules::{NotifySpec, SecretKeyRef, PAGERDUTY_EVENTS_URL};
use vigil_core::drift::{DriftSummary, Verdict};
use vigil_core::text::cut_to_bytes;

/// Attempts per target and the first pause between them (doubled each time).
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    pub attempts: u32,
    pub first_backoff: Duration,
}

impl Default for Retry {
    /// 4 attempts over 1 + 2 + 4 s: a blip passes, a dead hook costs seconds.
    fn default() -> Self {
        Retry {
            attempts: 4,
            first_backoff: Duration::from_secs(1),
        }
    }
}

/// Who the message is about.
pub struct Subject<'a> {
    pub namespace: &'a str,
    pub model: &'a str,
    pub policy: &'a str,
}

/// Longest failure text kept per target, so that the summary still fits the
/// termination message.
const FAILURE_BYTES: usize = 200;

/// Sends the check to every target that wants it; `secret_of(i)` is target
/// `i`'s URL or routing key (from the environment in the Pod). None when no
/// target wanted it.
pub async fn deliver(
    http: &reqwest::Client,
    targets: &[NotifySpec],
    subject: &Subject<'_>,
    summary: &DriftSummary,
    secret_of: impl Fn(usize) -> Option<String>,
    retry: Retry,
) -> Option<Notified> {
    let mut notified = Notified::default();
    for (index, target) in targets.iter().enumerate() {
        let Some((kind, reference)) = message_kind(target, summary) else {
            continue;
        };
        notified.targets += 1;
        let outcome = match secret_of(index) {
            None => Err(format!(
                "no secret in {} (secret {} key {})",
                NotifySpec::secret_env(index),
                reference.name,
                reference.key
            )),
            Some(secret) => {
                let (url, body) = match kind {
                    Kind::Webhook => (
                        secret.trim().to_string(),
                        payload(subject.namespace, subject.model, subject.policy, summary),
                    ),
                    Kind::PagerDuty { url, action } => (
                        url.to_string(),
                        pagerduty_event(secret.trim(), action, subject, summary),
                    ),
                };
                send_with_retry(http, &url, &body, retry)
                    .await
                    .map_err(|e| format!("{} from secret {}: {e}", kind.name(), reference.name))
            }
        };
        match outcome {
            Ok(()) => notified.sent += 1,
            Err(failure) => {
                tracing::warn!(failure = %failure, "notification failed");
                notified
                    .failures
                    .push(cut_to_bytes(&failure, FAILURE_BYTES).to_string());
            }
        }
    }
    (notified.targets > 0).then_some(notified)
}

/// What a target is sent for this check.
#[derive(Clone, Copy)]
enum Kind<'a> {
    Webhook,
    PagerDuty { url: &'a str, action: PagerAction },
}

impl Kind<'_> {
    fn name(&self) -> &'static str {
        match self {
            Kind::Webhook => "webhook",
            Kind::PagerDuty { .. } => "PagerDuty",
        }
    }
}

/// The PagerDuty `event_action`s Vigil sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PagerAction {
    Trigger,
    Resolve,
}

/// A webhook gets the verdicts it lists; PagerDuty is triggered on them and
/// resolved by a check back to `None` (a resolve of no open alert is a no-op
/// for PagerDuty).
fn message_kind<'a>(
    target: &'a NotifySpec,
    summary: &DriftSummary,
) -> Option<(Kind<'a>, &'a SecretKeyRef)> {
    let verdict = summary.verdict();
    let reference = target.secret_ref()?;
    let kind = match &target.pager_duty {
        None if wanted(&target.verdicts, verdict) => Kind::Webhook,
        None => return None,
        Some(pd) => {
            let action = if wanted(&target.verdicts, verdict) {
                PagerAction::Trigger
            } else if verdict == Some(Verdict::None) {
                PagerAction::Resolve
            } else {
                return None;
            };
            Kind::PagerDuty {
                url: pd.url.as_deref().unwrap_or(PAGERDUTY_EVENTS_URL),
                action,
            }
        }
    };
    Some((kind, reference))
}

/// One alert per policy: the same `dedup_key` for every check, so a repeat
/// (or Warning → Critical) updates the open alert instead of paging again,
/// and a resolve closes it.
pub fn dedup_key(subject: &Subject<'_>) -> String {
    format!(
        "vigil/{}/{}/{}",
        subject.namespace, subject.model, subject.policy
    )
}

/// An Events API v2 event (https://developer.pagerduty.com/docs/events-API-v2).
pub fn pagerduty_event(
    routing_key: &str,
    action: PagerAction,
    subject: &Subject<'_>,
    summary: &DriftSummary,
) -> Value {
    let key = dedup_key(subject);
    match action {
        PagerAction::Resolve => json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": key,
        }),
        PagerAction::Trigger => {
            let message = payload(subject.namespace, subject.model, subject.policy, summary);
            let severity = match summary.verdict() {
                Some(Verdict::Critical) => "critical",
                Some(Verdict::Warning) => "warning",
                _ => "info",
            };
            let text = message["text"].as_str().unwrap_or_default();
            json!({
                "routing_key": routing_key,
                "event_action": "trigger",
                "dedup_key": key,
                "payload": {
                    // PagerDuty cuts a summary at 1024 characters.
                    "summary": cut_to_bytes(text, 1024),
                    "source": format!("{}/{}", subject.namespace, subject.model),
                    "severity": severity,
                    "component": subject.model,
                    "group": subject.namespace,
                    "class": "drift",
                    "custom_details": message["vigil"],
                },
            })
        }
    }
}

/// [`send`] until it succeeds or `retry.attempts` are spent; a 4xx other than
/// 408/429 is final (the request itself is wrong).
async fn send_with_retry(
    http: &reqwest::Client,
    url: &str,
    payload: &Value,
    retry: Retry,
) -> Result<(), NotifyError> {
    let mut backoff = retry.first_backoff;
    let mut attempt = 1;
    loop {
        match send(http, url, payload).await {
            Ok(()) => return Ok(()),
            Err(NotifyError::Status(code))
                if (400..500).contains(&code) && code != 408 && code != 429 =>
            {
                return Err(NotifyError::Status(code))
            }
            Err(e) if attempt >= retry.attempts => return Err(e),
            Err(_) => {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                attempt += 1;
            }
        }
    }
}

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
