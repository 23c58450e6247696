//! The one `Context` both controllers share: built once in `run`, or by a test
//! around a fake API server and a fixed clock.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::runtime::events::{Recorder, Reporter};
use kube::Client;

use crate::metrics::Metrics;
use crate::stores::Stores;

/// What the time is; injected so that tests are deterministic.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// Image of the Pods the operator creates when a MonitoredModel names none.
    pub image: String,
    pub clock: Clock,
    /// Where the controllers read related objects from.
    pub stores: Stores,
    /// Consecutive failures per object, for the backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// Objects already reported as unreadable (uid and generation), so that
    /// each is announced once per change, not on every wake-up.
    reported_invalid: Mutex<HashSet<(String, i64)>>,
}

impl Context {
    pub fn new(
        client: Client,
        image: String,
        metrics: Arc<Metrics>,
        clock: Clock,
        stores: Stores,
    ) -> Context {
        let reporter = Reporter {
            controller: "vigil-operator".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            image,
            clock,
            stores,
            failures: Mutex::default(),
            reported_invalid: Mutex::default(),
        }
    }

    /// Whether the unreadable object `uid` at `generation` is reported for the
    /// first time (and remembers that it now is).
    pub fn first_report_of_invalid(&self, uid: &str, generation: i64) -> bool {
        self.reported_invalid
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((uid.to_string(), generation))
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// Records a failure of `key` and returns how long to wait before the retry.
    pub fn next_backoff(&self, key: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let attempt = failures.entry(key.to_string()).or_insert(0);
        *attempt += 1;
        backoff(*attempt)
    }

    pub fn reset_backoff(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

/// 5 s, 10 s, 20 s, … capped at 5 minutes.
pub fn backoff(attempt: u32) -> Duration {
    let seconds = 5u64.saturating_mul(1u64 << attempt.saturating_sub(1).min(16));
    Duration::from_secs(seconds.min(300))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let secs: Vec<u64> = (1..=8).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(secs, vec![5, 10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(backoff(u32::MAX).as_secs(), 300);
    }
}
