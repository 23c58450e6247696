//! A fake Kubernetes API server for controller tests: an in-memory object store
//! behind kube's `Client`, answering GET / LIST (label selectors) / server-side
//! apply (objects and status) / POST / DELETE, and recording every request so a
//! test asserts exactly what the controller read and wrote.

#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};
use http::{Request, Response, StatusCode};
use kube::client::Body;
use kube::Client;
use serde_json::{json, Value};
use vigil_operator::context::Context;
use vigil_operator::metrics::Metrics;

#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Option<Value>,
}

impl Recorded {
    pub fn is_write(&self) -> bool {
        self.method != "GET"
    }

    /// `METHOD path` for compact assertions.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

#[derive(Default)]
struct State {
    /// collection path (`/apis/batch/v1/namespaces/ml/jobs`) → name → object.
    objects: BTreeMap<String, BTreeMap<String, Value>>,
    requests: Vec<Recorded>,
    /// Requests whose path contains the key fail with this status.
    failures: Vec<(String, u16)>,
    resource_version: u64,
}

#[derive(Clone, Default)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
}

fn collection_of(api_version: &str, kind: &str, namespace: &str) -> String {
    let plural = match kind {
        "MonitoredModel" => "monitoredmodels".to_string(),
        "DriftPolicy" => "driftpolicies".to_string(),
        "PodDisruptionBudget" => "poddisruptionbudgets".to_string(),
        other => format!("{}s", other.to_lowercase()),
    };
    let prefix = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    format!("{prefix}/namespaces/{namespace}/{plural}")
}

fn status_body(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

fn matches_selector(object: &Value, selector: &str) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        let (key, value) = term.split_once('=').unwrap_or((term, ""));
        object["metadata"]["labels"][key].as_str() == Some(value)
    })
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| {
            v.replace("%3D", "=")
                .replace("%2C", ",")
                .replace("%2F", "/")
                .replace('+', " ")
        })
    })
}

impl FakeApi {
    pub fn new() -> FakeApi {
        FakeApi::default()
    }

    pub fn client(&self) -> Client {
        let api = self.clone();
        let service = tower::service_fn(move |request: Request<Body>| {
            let api = api.clone();
            async move { Ok::<_, Infallible>(api.handle(request).await) }
        });
        Client::new(service, "default")
    }

    /// A Context around this fake, with a fixed clock.
    pub fn context(&self, now: DateTime<Utc>) -> Arc<Context> {
        Arc::new(Context::new(
            self.client(),
            "vigil:test".into(),
            Arc::new(Metrics::new().expect("metrics")),
            Arc::new(move || now),
        ))
    }

    /// Puts an object (any serializable Kubernetes object) into the world.
    pub fn put<T: serde::Serialize>(&self, object: &T) {
        let mut value = serde_json::to_value(object).expect("object");
        let mut state = self.state.lock().unwrap();
        state.resource_version += 1;
        let rv = state.resource_version.to_string();
        let meta = value["metadata"].as_object_mut().expect("metadata");
        meta.entry("resourceVersion").or_insert(json!(rv));
        meta.entry("uid").or_insert(json!(format!("uid-{rv}")));
        meta.entry("generation").or_insert(json!(1));
        meta.entry("creationTimestamp")
            .or_insert(json!("2026-11-28T17:00:00Z"));
        let collection = collection_of(
            value["apiVersion"].as_str().expect("apiVersion"),
            value["kind"].as_str().expect("kind"),
            value["metadata"]["namespace"].as_str().expect("namespace"),
        );
        let name = value["metadata"]["name"]
            .as_str()
            .expect("name")
            .to_string();
        state
            .objects
            .entry(collection)
            .or_default()
            .insert(name, value);
    }

    /// An object of the world, typed.
    pub fn get<T: serde::de::DeserializeOwned>(&self, collection: &str, name: &str) -> Option<T> {
        let state = self.state.lock().unwrap();
        let value = state.objects.get(collection)?.get(name)?.clone();
        Some(serde_json::from_value(value).expect("typed object"))
    }

    pub fn names(&self, collection: &str) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state
            .objects
            .get(collection)
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Mutates a stored object (plays the Job controller, the kubelet, a user).
    pub fn edit(&self, collection: &str, name: &str, change: impl FnOnce(&mut Value)) {
        let mut state = self.state.lock().unwrap();
        let object = state
            .objects
            .get_mut(collection)
            .and_then(|c| c.get_mut(name))
            .unwrap_or_else(|| panic!("no {collection}/{name}"));
        change(object);
    }

    pub fn fail(&self, path_contains: &str, code: u16) {
        self.state
            .lock()
            .unwrap()
            .failures
            .push((path_contains.into(), code));
    }

    /// Every request since the last call, and forget them.
    pub fn take_requests(&self) -> Vec<Recorded> {
        std::mem::take(&mut self.state.lock().unwrap().requests)
    }

    pub fn take_writes(&self) -> Vec<Recorded> {
        self.take_requests()
            .into_iter()
            .filter(Recorded::is_write)
            .collect()
    }

    async fn handle(&self, request: Request<Body>) -> Response<Body> {
        let method = request.method().to_string();
        let path = request.uri().path().to_string();
        let query = request.uri().query().unwrap_or_default().to_string();
        let bytes = request
            .into_body()
            .collect_bytes()
            .await
            .expect("request body");
        let body: Option<Value> =
            (!bytes.is_empty()).then(|| serde_json::from_slice(&bytes).expect("JSON request body"));
        let mut state = self.state.lock().unwrap();
        state.requests.push(Recorded {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            body: body.clone(),
        });
        if let Some((_, code)) = state
            .failures
            .iter()
            .find(|(p, _)| path.contains(p.as_str()))
        {
            let code = *code;
            return respond(code, status_body(code, "InternalError", "injected failure"));
        }
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        // /api/v1/namespaces/ns/plural[/name[/status]] or /apis/g/v/namespaces/ns/plural[/name[/status]]
        let base = if segments.first() == Some(&"api") {
            2
        } else {
            3
        };
        let collection_end = base + 3;
        if segments.len() < collection_end {
            return respond(404, status_body(404, "NotFound", "unknown path"));
        }
        let collection = format!("/{}", segments[..collection_end].join("/"));
        let name = segments.get(collection_end).map(|s| s.to_string());
        let subresource = segments.get(collection_end + 1).copied();
        state.resource_version += 1;
        let rv = state.resource_version.to_string();
        match (method.as_str(), name) {
            ("GET", None) => {
                let selector = query_param(&query, "labelSelector").unwrap_or_default();
                let items: Vec<Value> = state
                    .objects
                    .get(&collection)
                    .map(|c| {
                        c.values()
                            .filter(|o| matches_selector(o, &selector))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                respond(
                    200,
                    json!({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": rv}, "items": items}),
                )
            }
            ("GET", Some(name)) => {
                match state.objects.get(&collection).and_then(|c| c.get(&name)) {
                    Some(object) => respond(200, object.clone()),
                    None => respond(
                        404,
                        status_body(404, "NotFound", &format!("{name} not found")),
                    ),
                }
            }
            ("POST", None) => {
                let mut object = body.unwrap_or_default();
                let name = object["metadata"]["name"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("generated-{rv}"));
                object["metadata"]["name"] = json!(name);
                object["metadata"]["resourceVersion"] = json!(rv);
                state
                    .objects
                    .entry(collection)
                    .or_default()
                    .insert(name, object.clone());
                respond(201, object)
            }
            ("PATCH", Some(name)) => {
                let patch = body.unwrap_or_default();
                let objects = state.objects.entry(collection).or_default();
                let updated = match (subresource, objects.get(&name).cloned()) {
                    (Some("status"), Some(mut existing)) => {
                        existing["status"] = patch["status"].clone();
                        existing
                    }
                    (Some("status"), None) => {
                        return respond(
                            404,
                            status_body(404, "NotFound", &format!("{name} not found")),
                        )
                    }
                    (_, existing) => {
                        let mut object = patch.clone();
                        if let Some(existing) = existing {
                            // Server-side apply by the only manager: its fields replace
                            // the old ones; status and server metadata stay.
                            for key in ["uid", "creationTimestamp", "generation"] {
                                object["metadata"][key] = existing["metadata"][key].clone();
                            }
                            if !existing["status"].is_null() {
                                object["status"] = existing["status"].clone();
                            }
                            if existing["spec"] != object["spec"] {
                                let generation =
                                    existing["metadata"]["generation"].as_i64().unwrap_or(1);
                                object["metadata"]["generation"] = json!(generation + 1);
                            }
                        } else {
                            object["metadata"]["uid"] = json!(format!("uid-{rv}"));
                            // Creation order is visible in the timestamps, as on a real server.
                            object["metadata"]["creationTimestamp"] =
                                json!(created_at(state_rv(&rv)));
                            object["metadata"]["generation"] = json!(1);
                        }
                        object
                    }
                };
                let mut updated = updated;
                updated["metadata"]["resourceVersion"] = json!(rv);
                objects.insert(name, updated.clone());
                respond(200, updated)
            }
            ("DELETE", Some(name)) => {
                match state
                    .objects
                    .get_mut(&collection)
                    .and_then(|c| c.remove(&name))
                {
                    Some(_) => respond(
                        200,
                        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
                    ),
                    None => respond(
                        404,
                        status_body(404, "NotFound", &format!("{name} not found")),
                    ),
                }
            }
            _ => respond(
                405,
                status_body(405, "MethodNotAllowed", "unsupported by the fake"),
            ),
        }
    }
}

fn state_rv(rv: &str) -> u64 {
    rv.parse().unwrap_or(0)
}

fn created_at(sequence: u64) -> String {
    (at(17, 0) + chrono::Duration::seconds(sequence as i64))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn respond(code: u16, body: Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(code).expect("status"))
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(&body).expect("json")))
        .expect("response")
}

pub fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, hour, minute, 0)
        .single()
        .expect("time")
}
