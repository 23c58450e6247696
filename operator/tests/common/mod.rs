//! A fake Kubernetes API server: an in-memory object store answering GET / LIST
//! (label selectors, namespaced or cluster-wide) / WATCH (whole objects, or
//! `PartialObjectMetadata` when the `Accept` header asks for it) / server-side apply
//! (objects and status) / merge patch / POST / DELETE, and recording every
//! request so a test asserts exactly what a client read and wrote.
//!
//! Two front ends share the store:
//! - [`FakeApi::client`]: kube's `Client` over a `tower::service_fn`, in process
//!   (the controller tests call `reconcile` directly);
//! - [`FakeApi::serve_http`]: a loopback HTTP server, for the real `vigil operator`
//!   process (kubeconfig `server: http://127.0.0.1:PORT`). Watches stream
//!   newline-separated events from the store's change log.
//!
//! Like a real API server, every change bumps a global `resourceVersion`, a write
//! that changes nothing changes no version and sends no event, and a watch from
//! version `R` first replays the changes after `R`. No defaulting, validation,
//! RBAC, garbage collection or controllers: tests play the Job controller.

#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

pub mod scenario;

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use http::{Request, Response, StatusCode};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::client::Body;
use kube::core::{DeserializeGuard, PartialObjectMeta};
use kube::Client;
use serde_json::{json, Value};
use tokio::sync::broadcast;
use vigil_core::train::model::Algorithm;
use vigil_core::train::report::{KeyMetrics, RowCounts, ServedComparison, TrainSummary};
use vigil_operator::context::Context;
use vigil_operator::crd::{DriftPolicy, MonitoredModel};
use vigil_operator::metrics::Metrics;
use vigil_operator::stores::{Objects, Stores};

/// The longest a watch stays open before the fake ends it (the client re-watches
/// from the last version it saw, as it does after a real server's timeout).
const WATCH_CAP: Duration = Duration::from_secs(30);

/// Not a change: the signal that ends every open watch ([`FakeApi::compact`]).
const CLOSE: &str = "CLOSE";

#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Option<Value>,
    /// The status code the fake answered.
    pub code: u16,
}

impl Recorded {
    pub fn is_write(&self) -> bool {
        self.method != "GET"
    }

    pub fn is_watch(&self) -> bool {
        self.method == "GET"
            && query_param(&self.query, "watch").is_some_and(|w| w == "true" || w == "1")
    }

    /// `METHOD path` for compact assertions.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// One change of the world: what a watch sends.
#[derive(Clone, Debug)]
struct Change {
    resource_version: u64,
    /// The namespaced (or cluster-scoped) collection path of the object.
    collection: String,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    type_: &'static str,
    /// The whole object after the change (for `DELETED`: its last state).
    object: Value,
}

/// A failure the fake answers instead of doing the request.
struct Injected {
    /// Requests whose path contains this…
    path: String,
    /// …with this method (any when `None`)…
    method: Option<String>,
    code: u16,
    reason: String,
    message: String,
    /// …fail this many more times (always when `None`).
    times: Option<u32>,
}

#[derive(Default)]
struct State {
    /// collection path (`/apis/batch/v1/namespaces/ml/jobs`) → name → object.
    objects: BTreeMap<String, BTreeMap<String, Value>>,
    requests: Vec<Recorded>,
    /// Requests that fail on purpose.
    failures: Vec<Injected>,
    resource_version: u64,
    /// Every change, in order, so that a watch from version R replays what came after R.
    history: Vec<Arc<Change>>,
    /// Overrides [`WATCH_CAP`].
    watch_cap: Option<Duration>,
    /// The history before this version is gone (etcd compaction): a watch from an
    /// older version gets `410 Gone` and the client must list again.
    compacted_at: u64,
}

impl State {
    fn next_resource_version(&mut self) -> u64 {
        self.resource_version += 1;
        self.resource_version
    }

    /// Records a change made at the current resource version and tells the open watches.
    fn commit(
        &mut self,
        changes: &broadcast::Sender<Arc<Change>>,
        collection: &str,
        type_: &'static str,
        object: Value,
    ) {
        let change = Arc::new(Change {
            resource_version: self.resource_version,
            collection: collection.to_string(),
            type_,
            object,
        });
        self.history.push(change.clone());
        // No receiver: no watch is open; the history keeps the change.
        let _ = changes.send(change);
    }
}

#[derive(Clone)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
    /// Every change, as it happens (sent while the state is locked, so a watch
    /// that subscribes under the same lock misses nothing and sees nothing twice).
    changes: broadcast::Sender<Arc<Change>>,
}

impl Default for FakeApi {
    fn default() -> FakeApi {
        let (changes, _) = broadcast::channel(4096);
        FakeApi {
            state: Arc::default(),
            changes,
        }
    }
}

fn plural_of(kind: &str) -> String {
    match kind {
        "MonitoredModel" => "monitoredmodels".to_string(),
        "DriftPolicy" => "driftpolicies".to_string(),
        "PodDisruptionBudget" => "poddisruptionbudgets".to_string(),
        other => format!("{}s", other.to_lowercase()),
    }
}

fn collection_of(api_version: &str, kind: &str, namespace: Option<&str>) -> String {
    let prefix = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    let plural = plural_of(kind);
    match namespace {
        Some(namespace) => format!("{prefix}/namespaces/{namespace}/{plural}"),
        None => format!("{prefix}/{plural}"),
    }
}

/// What a request path points at: `/api/v1` or `/apis/{group}/{version}`, then
/// `[namespaces/{ns}/]{plural}[/{name}[/{subresource}]]`.
#[derive(Clone, Debug)]
struct Target {
    prefix: String,
    namespace: Option<String>,
    plural: String,
    name: Option<String>,
    subresource: Option<String>,
}

impl Target {
    fn parse(path: &str) -> Option<Target> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let base = match segments.first() {
            Some(&"api") => 2,
            Some(&"apis") => 3,
            _ => return None,
        };
        if segments.len() <= base {
            return None;
        }
        let prefix = format!("/{}", segments[..base].join("/"));
        let rest = &segments[base..];
        // `/api/v1/namespaces/ml` is the Namespace `ml`, not a collection in it.
        let (namespace, rest) = if rest[0] == "namespaces" && rest.len() >= 3 {
            (Some(rest[1].to_string()), &rest[2..])
        } else {
            (None, rest)
        };
        if rest.len() > 3 {
            return None;
        }
        Some(Target {
            prefix,
            namespace,
            plural: rest[0].to_string(),
            name: rest.get(1).map(|s| s.to_string()),
            subresource: rest.get(2).map(|s| s.to_string()),
        })
    }

    /// The collection holding the named object (or where a new one goes).
    fn collection(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/namespaces/{ns}/{}", self.prefix, self.plural),
            None => format!("{}/{}", self.prefix, self.plural),
        }
    }

    /// Whether a LIST or WATCH of this target covers `collection`: the same one,
    /// or, cluster-wide (`Api::all`), that resource in every namespace.
    fn covers(&self, collection: &str) -> bool {
        if self.namespace.is_some() {
            return collection == self.collection();
        }
        if collection == self.collection() {
            return true;
        }
        collection
            .strip_prefix(&format!("{}/namespaces/", self.prefix))
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(ns, plural)| !ns.is_empty() && plural == self.plural)
    }
}

fn status_body(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

fn not_found(name: &str) -> Reply {
    Reply::Object(
        404,
        status_body(404, "NotFound", &format!("{name} not found")),
    )
}

/// Equality-based selectors: `k=v`, `k==v`, `k!=v`, `k` (exists), `!k` (absent).
fn matches_selector(object: &Value, selector: &str) -> bool {
    let labels = &object["metadata"]["labels"];
    selector
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .all(|term| {
            if let Some((key, value)) = term.split_once("!=") {
                labels[key.trim()].as_str() != Some(value.trim())
            } else if let Some((key, value)) =
                term.split_once("==").or_else(|| term.split_once('='))
            {
                labels[key.trim()].as_str() == Some(value.trim())
            } else if let Some(key) = term.strip_prefix('!') {
                labels[key.trim()].is_null()
            } else {
                !labels[term].is_null()
            }
        })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, byte) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

/// RFC 7386 JSON merge patch (also stands in for strategic merge patch: the
/// only callers here, Events and Leases, patch scalar fields).
fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(fields) => {
            if !target.is_object() {
                *target = json!({});
            }
            for (key, value) in fields {
                if value.is_null() {
                    if let Some(object) = target.as_object_mut() {
                        object.remove(key);
                    }
                } else {
                    merge_patch(&mut target[key.as_str()], value);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Whether the client asked for `PartialObjectMetadata` (kube's
/// `metadata_watcher` and `Api::get_metadata`): the `Accept` header says so.
fn metadata_only(accept: &str) -> bool {
    accept.contains("as=PartialObjectMetadata")
}

/// An object as a metadata request sees it.
fn partial(object: &Value) -> Value {
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
           "metadata": object["metadata"]})
}

/// What the store answers: an object (or Status), or a watch to stream.
enum Reply {
    Object(u16, Value),
    Watch(Watch),
}

/// An open watch: the changes already made after the requested version, then
/// live changes, until the deadline.
struct Watch {
    target: Target,
    selector: String,
    /// Send only `PartialObjectMetadata` (a metadata watch).
    metadata_only: bool,
    backlog: VecDeque<Arc<Change>>,
    live: broadcast::Receiver<Arc<Change>>,
    deadline: tokio::time::Instant,
}

impl Watch {
    fn wants(&self, change: &Change) -> bool {
        self.target.covers(&change.collection) && matches_selector(&change.object, &self.selector)
    }

    fn line(&self, change: &Change) -> Vec<u8> {
        let object = if self.metadata_only && change.type_ != "ERROR" {
            partial(&change.object)
        } else {
            change.object.clone()
        };
        let mut line = serde_json::to_vec(&json!({"type": change.type_, "object": object}))
            .expect("watch event");
        line.push(b'\n');
        line
    }

    /// What has happened already, as one body (the in-process client cannot stream).
    fn backlog_body(&self) -> Vec<u8> {
        self.backlog.iter().flat_map(|c| self.line(c)).collect()
    }

    /// The chunked body of a watch over HTTP.
    fn into_stream(
        self,
    ) -> impl futures::Stream<Item = Result<axum::body::Bytes, Infallible>> + Send + 'static {
        futures::stream::unfold(self, |mut watch| async move {
            loop {
                if let Some(change) = watch.backlog.pop_front() {
                    let line = axum::body::Bytes::from(watch.line(&change));
                    return Some((Ok(line), watch));
                }
                match tokio::time::timeout_at(watch.deadline, watch.live.recv()).await {
                    Ok(Ok(change)) if change.type_ == CLOSE => return None,
                    Ok(Ok(change)) if watch.wants(&change) => {
                        let line = axum::body::Bytes::from(watch.line(&change));
                        return Some((Ok(line), watch));
                    }
                    Ok(Ok(_)) => continue,
                    // Lagged: end the watch; the client re-watches from the last
                    // version it saw and the history replays what it missed.
                    Ok(Err(_)) | Err(_) => return None,
                }
            }
        })
    }
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
        self.context_with(now, self.stores())
    }

    /// A Context reading `stores`, which may be behind this fake's world.
    pub fn context_with(&self, now: DateTime<Utc>, stores: Stores) -> Arc<Context> {
        self.context_of(now, stores, Arc::new(Metrics::new().expect("metrics")))
    }

    /// A Context publishing to `metrics`, which outlive it as the operator's do.
    pub fn context_of(
        &self,
        now: DateTime<Utc>,
        stores: Stores,
        metrics: Arc<Metrics>,
    ) -> Arc<Context> {
        Arc::new(Context::new(
            self.client(),
            "vigil:test".into(),
            metrics,
            Arc::new(move || now),
            stores,
        ))
    }

    /// Every object of the collections ending in `/{plural}`, in any namespace,
    /// whose labels match `selector`.
    fn all_matching<T: serde::de::DeserializeOwned>(&self, plural: &str, selector: &str) -> Vec<T> {
        let state = self.state.lock().unwrap();
        let suffix = format!("/{plural}");
        state
            .objects
            .iter()
            .filter(|(collection, _)| collection.ends_with(&suffix))
            .flat_map(|(_, objects)| objects.values())
            .filter(|o| matches_selector(o, selector))
            .map(|o| serde_json::from_value(o.clone()).expect("typed object"))
            .collect()
    }

    fn all<T: serde::de::DeserializeOwned>(&self, plural: &str) -> Vec<T> {
        self.all_matching(plural, "")
    }

    /// Reflector stores holding what the world holds now, as the watches of a
    /// running operator would (a reconcile called by hand reads them): the
    /// Deployments whole, the other children as metadata.
    pub fn stores(&self) -> Stores {
        Stores::from_objects(Objects {
            models: self.all::<DeserializeGuard<MonitoredModel>>("monitoredmodels"),
            policies: self.all::<DeserializeGuard<DriftPolicy>>("driftpolicies"),
            jobs: self.all::<Job>("jobs"),
            pods: self.all::<Pod>("pods"),
            deployments: self.all::<Deployment>("deployments"),
            services: self.all::<PartialObjectMeta<Service>>("services"),
            pdbs: self.all::<PartialObjectMeta<PodDisruptionBudget>>("poddisruptionbudgets"),
            training_cronjobs: self.all_matching::<PartialObjectMeta<CronJob>>(
                "cronjobs",
                "app.kubernetes.io/component=training",
            ),
            check_cronjobs: self.all_matching::<PartialObjectMeta<CronJob>>(
                "cronjobs",
                "app.kubernetes.io/component=drift",
            ),
        })
    }

    /// Serves this store over HTTP on a free loopback port (needs a Tokio runtime):
    /// the address for a kubeconfig's `server: http://{addr}`.
    pub fn serve_http(&self) -> SocketAddr {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fake API server");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("address");
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let api = self.clone();
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let api = api.clone();
            async move { api.handle_http(request).await }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        addr
    }

    /// Puts an object (any serializable Kubernetes object) into the world: a
    /// create, or a replace that keeps the server-set metadata.
    pub fn put<T: serde::Serialize>(&self, object: &T) {
        let mut value = serde_json::to_value(object).expect("object");
        let collection = collection_of(
            value["apiVersion"].as_str().expect("apiVersion"),
            value["kind"].as_str().expect("kind"),
            value["metadata"]["namespace"].as_str(),
        );
        let name = value["metadata"]["name"]
            .as_str()
            .expect("name")
            .to_string();
        let mut state = self.state.lock().unwrap();
        let rv = state.next_resource_version();
        let existing = state
            .objects
            .get(&collection)
            .and_then(|c| c.get(&name))
            .map(|o| o["metadata"].clone());
        let meta = value["metadata"].as_object_mut().expect("metadata");
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        let kept = |key: &str| {
            existing
                .as_ref()
                .map(|m| m[key].clone())
                .filter(|v| !v.is_null())
        };
        let uid = kept("uid").unwrap_or_else(|| json!(format!("uid-{rv}")));
        meta.entry("uid").or_insert(uid);
        meta.entry("generation")
            .or_insert(kept("generation").unwrap_or(json!(1)));
        meta.entry("creationTimestamp")
            .or_insert(kept("creationTimestamp").unwrap_or(json!("2026-11-28T17:00:00Z")));
        let type_ = if existing.is_some() {
            "MODIFIED"
        } else {
            "ADDED"
        };
        state
            .objects
            .entry(collection.clone())
            .or_default()
            .insert(name, value.clone());
        state.commit(&self.changes, &collection, type_, value);
    }

    /// An object of the world, typed (`serde_json::Value` for the raw object).
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

    /// Mutates a stored object (plays the Job controller, the kubelet, a user):
    /// a new resourceVersion and a `MODIFIED` event.
    pub fn edit(&self, collection: &str, name: &str, change: impl FnOnce(&mut Value)) {
        let mut state = self.state.lock().unwrap();
        let rv = state.next_resource_version();
        let object = state
            .objects
            .get_mut(collection)
            .and_then(|c| c.get_mut(name))
            .unwrap_or_else(|| panic!("no {collection}/{name}"));
        change(object);
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        let object = object.clone();
        state.commit(&self.changes, collection, "MODIFIED", object);
    }

    /// Deletes a stored object (plays a user or the garbage collector): a `DELETED` event.
    pub fn remove(&self, collection: &str, name: &str) {
        let mut state = self.state.lock().unwrap();
        let object = state
            .objects
            .get_mut(collection)
            .and_then(|c| c.remove(name))
            .unwrap_or_else(|| panic!("no {collection}/{name}"));
        state.next_resource_version();
        state.commit(&self.changes, collection, "DELETED", object);
    }

    /// Ends every watch after `cap` at the latest (default 30 s), so that a test
    /// sees clients resume their watches.
    pub fn set_watch_cap(&self, cap: Duration) {
        self.state.lock().unwrap().watch_cap = Some(cap);
    }

    /// Every request whose path contains `path_contains` fails with `code`.
    /// Forgets the history, as etcd's compaction does: every watch resumed from an
    /// older version is told `410 Gone` and its client lists again (a relist).
    pub fn compact(&self) {
        let mut state = self.state.lock().unwrap();
        state.compacted_at = state.resource_version;
        state.history.clear();
        // And ends the open watches, so that their clients resume (and are refused).
        let _ = self.changes.send(Arc::new(Change {
            resource_version: state.resource_version,
            collection: String::new(),
            type_: CLOSE,
            object: Value::Null,
        }));
    }

    pub fn fail(&self, path_contains: &str, code: u16) {
        self.inject(
            None,
            path_contains,
            code,
            "InternalError",
            "injected failure",
            None,
        );
    }

    /// `method` requests whose path contains `path_contains` fail with `code`,
    /// `reason` and `message` (as a real API server words them), `times` times
    /// (always when `None`).
    pub fn inject(
        &self,
        method: Option<&str>,
        path_contains: &str,
        code: u16,
        reason: &str,
        message: &str,
        times: Option<u32>,
    ) {
        self.state.lock().unwrap().failures.push(Injected {
            path: path_contains.into(),
            method: method.map(str::to_string),
            code,
            reason: reason.into(),
            message: message.into(),
            times,
        });
    }

    /// Stops every injected failure.
    pub fn heal(&self) {
        self.state.lock().unwrap().failures.clear();
    }

    /// Every request since the last `take_requests`, and forget them.
    pub fn take_requests(&self) -> Vec<Recorded> {
        std::mem::take(&mut self.state.lock().unwrap().requests)
    }

    /// Every request since the last `take_requests`, kept.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn take_writes(&self) -> Vec<Recorded> {
        self.take_requests()
            .into_iter()
            .filter(Recorded::is_write)
            .collect()
    }

    async fn handle(&self, request: Request<Body>) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let bytes = body.collect_bytes().await.expect("request body");
        let reply = self.dispatch(
            parts.method.as_str(),
            parts.uri.path(),
            parts.uri.query().unwrap_or_default(),
            (content_type(&parts.headers), accept(&parts.headers)),
            &bytes,
        );
        let (code, bytes) = match reply {
            Reply::Object(code, value) => (code, serde_json::to_vec(&value).expect("json")),
            Reply::Watch(watch) => (200, watch.backlog_body()),
        };
        Response::builder()
            .status(StatusCode::from_u16(code).expect("status"))
            .header("content-type", "application/json")
            .body(Body::from(bytes))
            .expect("response")
    }

    async fn handle_http(&self, request: axum::extract::Request) -> axum::response::Response {
        let (parts, body) = request.into_parts();
        let bytes = match axum::body::to_bytes(body, 64 << 20).await {
            Ok(bytes) => bytes,
            Err(e) => {
                return http_json(400, &status_body(400, "BadRequest", &e.to_string()));
            }
        };
        let reply = self.dispatch(
            parts.method.as_str(),
            parts.uri.path(),
            parts.uri.query().unwrap_or_default(),
            (content_type(&parts.headers), accept(&parts.headers)),
            &bytes,
        );
        match reply {
            Reply::Object(code, value) => http_json(code, &value),
            Reply::Watch(watch) => axum::response::Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(axum::body::Body::from_stream(watch.into_stream()))
                .expect("watch response"),
        }
    }

    /// The store's answer to one request.
    fn dispatch(
        &self,
        method: &str,
        path: &str,
        query: &str,
        (content_type, accept): (&str, &str),
        bytes: &[u8],
    ) -> Reply {
        let body: Option<Value> = if bytes.is_empty() {
            None
        } else {
            match serde_json::from_slice(bytes) {
                Ok(body) => Some(body),
                Err(e) => {
                    return Reply::Object(
                        400,
                        status_body(400, "BadRequest", &format!("not JSON: {e}")),
                    )
                }
            }
        };
        let mut state = self.state.lock().unwrap();
        state.requests.push(Recorded {
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            body: body.clone(),
            code: 0,
        });
        let reply = self.answer(
            &mut state,
            method,
            path,
            query,
            (content_type, accept),
            body,
        );
        let code = match &reply {
            Reply::Object(code, _) => *code,
            Reply::Watch(_) => 200,
        };
        if let Some(request) = state.requests.last_mut() {
            request.code = code;
        }
        reply
    }

    fn answer(
        &self,
        state: &mut State,
        method: &str,
        path: &str,
        query: &str,
        (content_type, accept): (&str, &str),
        body: Option<Value>,
    ) -> Reply {
        let injected = state.failures.iter_mut().find(|f| {
            path.contains(f.path.as_str())
                && f.method.as_deref().is_none_or(|m| m == method)
                && f.times != Some(0)
        });
        if let Some(failure) = injected {
            if let Some(times) = failure.times.as_mut() {
                *times -= 1;
            }
            let (code, reason, message) = (
                failure.code,
                failure.reason.clone(),
                failure.message.clone(),
            );
            return Reply::Object(code, status_body(code, &reason, &message));
        }
        if method == "GET" && path == "/version" {
            return Reply::Object(200, version());
        }
        let Some(target) = Target::parse(path) else {
            return Reply::Object(404, status_body(404, "NotFound", "unknown path"));
        };
        let collection = target.collection();
        match (method, target.name.clone()) {
            ("GET", None)
                if query_param(query, "watch").is_some_and(|w| w == "true" || w == "1") =>
            {
                let selector = query_param(query, "labelSelector").unwrap_or_default();
                let since = query_param(query, "resourceVersion").unwrap_or_default();
                let timeout = query_param(query, "timeoutSeconds")
                    .and_then(|t| t.parse().ok())
                    .map(Duration::from_secs)
                    .unwrap_or(WATCH_CAP)
                    .min(state.watch_cap.unwrap_or(WATCH_CAP));
                let mut watch = Watch {
                    target,
                    selector,
                    metadata_only: metadata_only(accept),
                    backlog: VecDeque::new(),
                    // Subscribed under the lock: nothing between backlog and live is lost.
                    live: self.changes.subscribe(),
                    deadline: tokio::time::Instant::now() + timeout,
                };
                if since.is_empty() || since == "0" {
                    // "Any version": the current objects, as synthetic ADDED events.
                    for (collection, objects) in &state.objects {
                        for object in objects.values() {
                            let change = Change {
                                resource_version: state.resource_version,
                                collection: collection.clone(),
                                type_: "ADDED",
                                object: object.clone(),
                            };
                            if watch.wants(&change) {
                                watch.backlog.push_back(Arc::new(change));
                            }
                        }
                    }
                } else if since.parse().unwrap_or(0) < state.compacted_at {
                    watch.backlog.push_back(Arc::new(Change {
                        resource_version: state.resource_version,
                        collection,
                        type_: "ERROR",
                        object: status_body(410, "Expired", "too old resource version"),
                    }));
                    watch.deadline = tokio::time::Instant::now();
                } else {
                    let since: u64 = since.parse().unwrap_or(0);
                    watch.backlog = state
                        .history
                        .iter()
                        .filter(|c| c.resource_version > since && watch.wants(c))
                        .cloned()
                        .collect();
                }
                Reply::Watch(watch)
            }
            ("GET", None) => {
                let selector = query_param(query, "labelSelector").unwrap_or_default();
                let items: Vec<Value> = state
                    .objects
                    .iter()
                    .filter(|(collection, _)| target.covers(collection))
                    .flat_map(|(_, objects)| objects.values())
                    .filter(|o| matches_selector(o, &selector))
                    .map(|o| {
                        if metadata_only(accept) {
                            partial(o)
                        } else {
                            o.clone()
                        }
                    })
                    .collect();
                let (kind, api_version) = if metadata_only(accept) {
                    ("PartialObjectMetadataList", "meta.k8s.io/v1")
                } else {
                    ("List", "v1")
                };
                Reply::Object(
                    200,
                    json!({"kind": kind, "apiVersion": api_version,
                           "metadata": {"resourceVersion": state.resource_version.to_string()},
                           "items": items}),
                )
            }
            ("GET", Some(name)) => {
                match state.objects.get(&collection).and_then(|c| c.get(&name)) {
                    Some(object) if metadata_only(accept) => Reply::Object(200, partial(object)),
                    Some(object) => Reply::Object(200, object.clone()),
                    None => not_found(&name),
                }
            }
            ("POST", None) => {
                let mut object = body.unwrap_or_default();
                let name = object["metadata"]["name"].as_str().map(str::to_string);
                if let Some(name) = &name {
                    if state
                        .objects
                        .get(&collection)
                        .is_some_and(|c| c.contains_key(name))
                    {
                        return Reply::Object(
                            409,
                            status_body(409, "AlreadyExists", &format!("{name} already exists")),
                        );
                    }
                }
                let rv = state.next_resource_version();
                let name = name.unwrap_or_else(|| format!("generated-{rv}"));
                object["metadata"]["name"] = json!(name);
                if let Some(ns) = &target.namespace {
                    object["metadata"]["namespace"] = json!(ns);
                }
                object["metadata"]["resourceVersion"] = json!(rv.to_string());
                object["metadata"]["uid"] = json!(format!("uid-{rv}"));
                object["metadata"]["creationTimestamp"] = json!(created_at(rv));
                object["metadata"]["generation"] = json!(1);
                state
                    .objects
                    .entry(collection.clone())
                    .or_default()
                    .insert(name, object.clone());
                state.commit(&self.changes, &collection, "ADDED", object.clone());
                Reply::Object(201, object)
            }
            ("PATCH", Some(name)) => {
                let patch = body.unwrap_or_default();
                let existing = state
                    .objects
                    .get(&collection)
                    .and_then(|c| c.get(&name))
                    .cloned();
                // Optimistic concurrency: a patch that names a resourceVersion applies
                // only to that version, as on a real server.
                if let (Some(wanted), Some(existing)) =
                    (patch["metadata"]["resourceVersion"].as_str(), &existing)
                {
                    if existing["metadata"]["resourceVersion"].as_str() != Some(wanted) {
                        return Reply::Object(
                            409,
                            status_body(
                                409,
                                "Conflict",
                                &format!("{name}: the object has been modified (resourceVersion {wanted} is stale)"),
                            ),
                        );
                    }
                }
                let status_only = target.subresource.as_deref() == Some("status");
                let apply = content_type.starts_with("application/apply-patch");
                let merge = content_type.starts_with("application/merge-patch")
                    || content_type.starts_with("application/strategic-merge-patch");
                let mut updated = match (apply, merge, existing.clone()) {
                    (true, _, Some(mut existing)) if status_only => {
                        existing["status"] = patch["status"].clone();
                        existing
                    }
                    (true, _, existing) => {
                        // Server-side apply by the only manager: its fields replace
                        // the old ones; status and server metadata stay.
                        let mut object = patch.clone();
                        if let Some(existing) = &existing {
                            for key in ["uid", "creationTimestamp", "generation"] {
                                object["metadata"][key] = existing["metadata"][key].clone();
                            }
                            if !existing["status"].is_null() {
                                object["status"] = existing["status"].clone();
                            }
                        }
                        object
                    }
                    (false, true, Some(mut existing)) => {
                        if status_only {
                            merge_patch(&mut existing["status"], &patch["status"]);
                        } else {
                            let status = existing["status"].clone();
                            merge_patch(&mut existing, &patch);
                            existing["status"] = status;
                        }
                        existing
                    }
                    (false, true, None) => return not_found(&name),
                    (false, false, _) => {
                        return Reply::Object(
                            415,
                            status_body(
                                415,
                                "UnsupportedMediaType",
                                &format!("the fake does not support {content_type}"),
                            ),
                        )
                    }
                };
                if status_only && existing.is_none() {
                    return not_found(&name);
                }
                updated["metadata"]["name"] = json!(name);
                if let Some(ns) = &target.namespace {
                    updated["metadata"]["namespace"] = json!(ns);
                }
                if let Some(existing) = &existing {
                    if existing["spec"] != updated["spec"] {
                        let generation = existing["metadata"]["generation"].as_i64().unwrap_or(1);
                        updated["metadata"]["generation"] = json!(generation + 1);
                    }
                    // A write that changes nothing: no new version, no event.
                    updated["metadata"]["resourceVersion"] =
                        existing["metadata"]["resourceVersion"].clone();
                    if let Some(meta) = updated["metadata"].as_object_mut() {
                        meta.retain(|_, v| !v.is_null());
                    }
                    if &updated == existing {
                        return Reply::Object(200, updated);
                    }
                }
                let rv = state.next_resource_version();
                if existing.is_none() {
                    updated["metadata"]["uid"] = json!(format!("uid-{rv}"));
                    // Creation order is visible in the timestamps, as on a real server.
                    updated["metadata"]["creationTimestamp"] = json!(created_at(rv));
                    updated["metadata"]["generation"] = json!(1);
                }
                updated["metadata"]["resourceVersion"] = json!(rv.to_string());
                state
                    .objects
                    .entry(collection.clone())
                    .or_default()
                    .insert(name, updated.clone());
                let type_ = if existing.is_some() {
                    "MODIFIED"
                } else {
                    "ADDED"
                };
                state.commit(&self.changes, &collection, type_, updated.clone());
                // Server-side apply that creates answers 201, as on a real server.
                Reply::Object(if existing.is_some() { 200 } else { 201 }, updated)
            }
            ("DELETE", Some(name)) => {
                let removed = state
                    .objects
                    .get_mut(&collection)
                    .and_then(|c| c.remove(&name));
                match removed {
                    Some(mut object) => {
                        let rv = state.next_resource_version();
                        object["metadata"]["resourceVersion"] = json!(rv.to_string());
                        state.commit(&self.changes, &collection, "DELETED", object);
                        Reply::Object(
                            200,
                            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
                        )
                    }
                    None => not_found(&name),
                }
            }
            _ => Reply::Object(
                405,
                status_body(405, "MethodNotAllowed", "unsupported by the fake"),
            ),
        }
    }
}

fn content_type(headers: &http::HeaderMap) -> &str {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn accept(headers: &http::HeaderMap) -> &str {
    headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// `GET /version`: what `Client::apiserver_version` reads.
fn version() -> Value {
    json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0-vigil-fake",
           "gitCommit": "0000000", "gitTreeState": "clean", "buildDate": "2026-11-28T17:00:00Z",
           "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64"})
}

fn http_json(code: u16, body: &Value) -> axum::response::Response {
    axum::response::Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            serde_json::to_vec(body).expect("json"),
        ))
        .expect("response")
}

fn created_at(sequence: u64) -> String {
    (at(17, 0) + chrono::Duration::seconds(sequence as i64))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, hour, minute, 0)
        .single()
        .expect("time")
}

// ---- Fixtures shared by the controller and process tests ----

/// The labels the Job controller gives a Job's Pods: the template's, and the Job's name.
pub fn pod_labels(job: &Value) -> Value {
    let mut labels = job["spec"]["template"]["metadata"]["labels"].clone();
    if !labels.is_object() {
        labels = job["metadata"]["labels"].clone();
    }
    if !labels.is_object() {
        labels = json!({});
    }
    labels["batch.kubernetes.io/job-name"] = job["metadata"]["name"].clone();
    labels
}

pub const NS: &str = "ml";
pub const JOBS: &str = "/apis/batch/v1/namespaces/ml/jobs";

/// The model most tests use: Adult-like schema, S3 store, weekly schedule, rocAuc gates.
pub fn model_yaml(auto: bool) -> MonitoredModel {
    serde_yaml::from_str(&format!(
        r#"
apiVersion: vigil.dev/v1alpha1
kind: MonitoredModel
metadata: {{name: income, namespace: {NS}}}
spec:
  schema:
    target: {{name: label, classes: ["<=50K", ">50K"]}}
    features: [{{name: age, type: numeric}}, {{name: workclass, type: categorical}}]
  storage: {{uri: "s3://models/income", secretRef: {{name: s3-credentials}}}}
  training:
    data: {{uri: "s3://data/adult.csv"}}
    algorithm: logistic-regression
    schedule: "0 3 * * 0"
  promotion:
    auto: {auto}
    gates: {{minMetric: {{name: rocAuc, value: 0.85}}, maxRegression: 0.01}}
"#
    ))
    .expect("model")
}

pub fn metrics(auc: f64) -> KeyMetrics {
    KeyMetrics {
        accuracy: 0.85,
        roc_auc: Some(auc),
        precision: 0.74,
        recall: 0.6,
        f1: 0.66,
        log_loss: 0.32,
        ece: 0.01,
    }
}

pub fn trained(version: &str, auc: f64, served: Option<(&str, f64)>) -> String {
    serde_json::to_string(&TrainSummary::Succeeded {
        version: version.into(),
        algorithm: Algorithm::LogisticRegression,
        metrics: metrics(auc),
        served: served.map(|(v, a)| ServedComparison {
            version: v.into(),
            metrics: Some(metrics(a)),
            error: None,
        }),
        validation_passed: true,
        warnings: vec![],
        rows: RowCounts {
            train: 26_048,
            holdout: 6_513,
        },
        artifact_uri: format!("s3://models/income/models/{version}/model.json"),
        report_uri: format!("s3://models/income/reports/training/{version}.json"),
    })
    .expect("summary")
}

/// Plays the Job controller and the kubelet: the Job completes (or fails) and
/// its Pod holds the termination message.
pub fn finish_job(api: &FakeApi, job: &str, succeeded: bool, message: &str) {
    let mut labels = json!({});
    api.edit(JOBS, job, |j| {
        let type_ = if succeeded { "Complete" } else { "Failed" };
        j["status"] = json!({"conditions": [{"type": type_, "status": "True"}]});
        labels = pod_labels(j);
    });
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{job}-pod"), "namespace": NS, "labels": labels},
        "status": {"containerStatuses": [{"name": "c", "image": "vigil", "imageID": "",
            "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": if succeeded { 0 } else { 1 }, "message": message}}}]}
    });
    api.put(&pod);
}
