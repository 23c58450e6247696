//! The `vigil operator` process: both controllers, leader election on a Lease,
//! `/healthz`, `/readyz` and `/metrics`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::core::{DeserializeGuard, PartialObjectMeta};
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector::{self, ObjectRef, ReflectHandle, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::build::{Component, MANAGED_BY, POLICY_LABEL};
use crate::context::{Clock, Context};
use crate::controller::{error_policy, reconcile_model, reconcile_policy};
use crate::crd::{DriftPolicy, MonitoredModel};
use crate::metrics::{Metrics, MetricsError, Names};
use crate::stores::{Prune, Readiness, Stores};

/// How the process is configured (flags and environment, see `vigil operator --help`).
#[derive(Clone, Debug)]
pub struct OperatorOptions {
    /// Image of the Pods the operator creates when a model names none.
    pub image: String,
    /// Watch one namespace only; `None` watches all.
    pub watch_namespace: Option<String>,
    /// Address of `/healthz`, `/readyz` and `/metrics`.
    pub listen: SocketAddr,
    pub leader_election: bool,
    pub lease_name: String,
    pub lease_namespace: String,
    /// This replica's identity in the Lease (the Pod name).
    pub identity: String,
    /// Reconciles running at once, per controller: bounds the API calls and memory
    /// of a burst (a restart with a thousand models), not the steady state.
    pub concurrency: u16,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot configure the Kubernetes client (in-cluster or kubeconfig): {0}")]
    Client(#[source] kube::Error),
    #[error("the Kubernetes API server does not answer: {0}")]
    Unreachable(#[source] kube::Error),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("leader election failed: {0}")]
    Lease(String),
    #[error("lost the leader Lease; exiting so that only one replica reconciles")]
    LeaseLost,
}

#[derive(Default)]
struct Health {
    /// The API server answered once: this replica works (leading or standby).
    ready: AtomicBool,
}

fn health_router(health: Arc<Health>, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(
                |State((health, _)): State<(Arc<Health>, Arc<Metrics>)>| async move {
                    if health.ready.load(Ordering::Relaxed) {
                        (StatusCode::OK, "ready")
                    } else {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "not connected to the API server yet",
                        )
                    }
                },
            ),
        )
        .route(
            "/metrics",
            get(
                |State((_, metrics)): State<(Arc<Health>, Arc<Metrics>)>| async move {
                    (
                        [("content-type", "text/plain; version=0.0.4")],
                        metrics.render(),
                    )
                },
            ),
        )
        .with_state((health, metrics))
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

fn managed() -> watcher::Config {
    watcher::Config::default().labels(&format!("app.kubernetes.io/managed-by={MANAGED_BY}"))
}

/// The operator's objects of one component: the training and the check
/// CronJobs are watched apart, each by the controller that owns it.
fn managed_component(component: Component) -> watcher::Config {
    watcher::Config::default().labels(&format!(
        "app.kubernetes.io/managed-by={MANAGED_BY},app.kubernetes.io/component={}",
        component.as_str()
    ))
}

fn policy_model(
    policy: &DeserializeGuard<DriftPolicy>,
) -> Option<ObjectRef<DeserializeGuard<MonitoredModel>>> {
    let policy = policy.0.as_ref().ok()?;
    Some(ObjectRef::new(&policy.spec.model_ref.name).within(&policy.namespace()?))
}

/// The model of a training Job or a training / inference Pod.
fn model_of<K: Resource>(object: &K) -> Option<ObjectRef<DeserializeGuard<MonitoredModel>>> {
    let component = object.labels().get("app.kubernetes.io/component")?;
    if component == Component::Drift.as_str() {
        return None;
    }
    let model = object.labels().get("app.kubernetes.io/instance")?;
    Some(ObjectRef::new(model).within(&object.namespace()?))
}

/// The policy of a check Job or Pod.
fn policy_of<K: Resource>(object: &K) -> Option<ObjectRef<DeserializeGuard<DriftPolicy>>> {
    let policy = object.labels().get(POLICY_LABEL)?;
    Some(ObjectRef::new(policy).within(&object.namespace()?))
}

/// How many watch events a shared store buffers for its slowest subscriber.
const SHARED_BUFFER: usize = 1024;

/// What a watched kind must be: a namespaced-or-cluster object with no dynamic type,
/// decodable, pruned before it is stored, shareable between tasks.
trait Watched:
    Resource<DynamicType = ()>
    + Prune
    + Clone
    + DeserializeOwned
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
}

impl<K> Watched for K where
    K: Resource<DynamicType = ()>
        + Prune
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static
{
}

/// The watch of a custom resource: its store, the trigger stream of its controller,
/// and the objects it changes for the other controller to map to its own (see
/// [`fanned`]).
fn resource_watch<K>(
    api: Api<K>,
    readiness: Readiness,
    which: u16,
) -> (
    Store<K>,
    impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
    impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Watched,
{
    fanned(
        watcher(api, watcher::Config::default().any_semantic()),
        readiness,
        which,
    )
}

/// `events` into a store, then to two readers: the applied objects, for the kind's own
/// controller, and every object changed (deletions too), for the other controller. Both
/// come out of the store's one watch once the store holds the change: with a watch of
/// its own, the other controller could be woken before the store had the change, read
/// the old object from it and then wait for nothing (so a model's first served version
/// could reach its policy's check CronJob only at the 10-minute resync). The other
/// controller's stream is unbounded: it holds what that controller has not read yet.
fn fanned<K, S>(
    events: S,
    readiness: Readiness,
    which: u16,
) -> (
    Store<K>,
    impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
    impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Watched,
    S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
{
    let (store, events) = stored(events, readiness, which);
    let (changed, others) = futures::channel::mpsc::unbounded();
    // Closed only once the other controller has stopped: nothing left to wake.
    let wake = move |object: K| drop(changed.unbounded_send(object));
    let mut listed = Vec::new();
    let own = events
        .inspect(move |event| match event {
            Ok(watcher::Event::Apply(object) | watcher::Event::Delete(object)) => {
                wake(object.clone())
            }
            // A (re)list reaches the store whole, at its end: its objects wake then. The
            // buffer is let go, not kept at the size of the list (3 MiB at 1,000 + 1,000
            // objects; bench/operator).
            Ok(watcher::Event::Init) => listed = Vec::new(),
            Ok(watcher::Event::InitApply(object)) => listed.push(object.clone()),
            Ok(watcher::Event::InitDone) => std::mem::take(&mut listed).into_iter().for_each(&wake),
            Err(_) => {}
        })
        .applied_objects();
    (store, own, others.map(Ok))
}

/// `events` pruned into a store (the watch retried with backoff), reporting its
/// first complete LIST to `readiness`; the events go on to the controller.
fn stored<K, S>(
    events: S,
    readiness: Readiness,
    which: u16,
) -> (
    Store<K>,
    impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
)
where
    K: Watched,
    S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
{
    let (store, writer) = reflector::store();
    let stream = events
        .default_backoff()
        .modify(K::prune)
        .reflect(writer)
        .inspect(move |event| {
            if matches!(event, Ok(watcher::Event::InitDone)) {
                readiness.listed(which);
            }
        });
    (store, stream)
}

/// The watch of a kind one controller owns (`events`: a watch of the
/// operator's objects of that kind, whole or metadata only): its pruned store,
/// and the stream that wakes the owner on every change, deletions included.
fn owned_watch<K, S>(
    events: S,
    readiness: Readiness,
    which: u16,
) -> (
    Store<K>,
    impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Watched,
    S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
{
    let (store, events) = stored(events, readiness, which);
    (store, events.touched_objects())
}

/// One watch of `K` (the operator's own objects only, pruned), feeding a
/// store and a trigger stream per controller.
fn shared_watch<K>(
    api: Api<K>,
    readiness: Readiness,
    which: u16,
) -> (
    Store<K>,
    [ReflectHandle<K>; 2],
    impl std::future::Future<Output = ()>,
)
where
    K: Watched,
{
    let (store, writer) = reflector::store_shared(SHARED_BUFFER);
    let subscribers = [writer.subscribe(), writer.subscribe()];
    let [Some(a), Some(b)] = subscribers else {
        unreachable!("a shared store always has subscribers")
    };
    let root = watcher(api, managed())
        .default_backoff()
        .modify(K::prune)
        .reflect_shared(writer)
        .for_each(move |event| {
            match event {
                Ok(watcher::Event::InitDone) => readiness.listed(which),
                Err(e) => {
                    tracing::warn!(error = %e, kind = %K::kind(&()), "watch failed; retrying")
                }
                Ok(_) => {}
            }
            futures::future::ready(())
        });
    (store, [a, b], root)
}

type ModelController = Controller<DeserializeGuard<MonitoredModel>>;
type PolicyController = Controller<DeserializeGuard<DriftPolicy>>;

/// The stores of the children a model owns.
struct ModelChildren {
    deployments: Store<Deployment>,
    services: Store<PartialObjectMeta<Service>>,
    pdbs: Store<PartialObjectMeta<PodDisruptionBudget>>,
    cronjobs: Store<PartialObjectMeta<CronJob>>,
}

/// Watches the children of the models into their stores, every change waking
/// the owner: the Deployment whole (the plan reads its rollout), the others as
/// metadata (an `Api<PartialObjectMeta<_>>` asks the API server for metadata
/// only; the apply step compares only their applied intent).
fn own_model_children(
    controller: ModelController,
    client: &Client,
    ns: Option<&str>,
    readiness: &Readiness,
) -> (ModelController, ModelChildren) {
    let (deployments, deployment_events) = owned_watch(
        watcher(api::<Deployment>(client, ns), managed()),
        readiness.clone(),
        Readiness::DEPLOYMENTS,
    );
    let (services, service_events) = owned_watch(
        watcher(api::<PartialObjectMeta<Service>>(client, ns), managed()),
        readiness.clone(),
        Readiness::SERVICES,
    );
    let (pdbs, pdb_events) = owned_watch(
        watcher(
            api::<PartialObjectMeta<PodDisruptionBudget>>(client, ns),
            managed(),
        ),
        readiness.clone(),
        Readiness::PDBS,
    );
    let (cronjobs, cronjob_events) = owned_watch(
        watcher(
            api::<PartialObjectMeta<CronJob>>(client, ns),
            managed_component(Component::Training),
        ),
        readiness.clone(),
        Readiness::TRAINING_CRONJOBS,
    );
    let controller = controller
        .owns_stream(deployment_events)
        .owns_stream(service_events)
        .owns_stream(pdb_events)
        .owns_stream(cronjob_events);
    let children = ModelChildren {
        deployments,
        services,
        pdbs,
        cronjobs,
    };
    (controller, children)
}

/// Watches the policies' check CronJobs (metadata) into their store, every
/// change waking the owner.
fn own_check_cronjobs(
    controller: PolicyController,
    client: &Client,
    ns: Option<&str>,
    readiness: &Readiness,
) -> (PolicyController, Store<PartialObjectMeta<CronJob>>) {
    let (cronjobs, events) = owned_watch(
        watcher(
            api::<PartialObjectMeta<CronJob>>(client, ns),
            managed_component(Component::Drift),
        ),
        readiness.clone(),
        Readiness::CHECK_CRONJOBS,
    );
    (controller.owns_stream(events), cronjobs)
}

/// What else wakes a model: its training Jobs and their Pods, its inference
/// Pods, and the policies that watch it (`changed_policies`, from [`fanned`]).
fn watch_model_world(
    controller: ModelController,
    jobs: ReflectHandle<Job>,
    pods: ReflectHandle<Pod>,
    changed_policies: impl futures::Stream<Item = Result<DeserializeGuard<DriftPolicy>, watcher::Error>>
        + Send
        + 'static,
) -> ModelController {
    controller
        .watches_shared_stream(jobs, |job| model_of(job.as_ref()))
        .watches_shared_stream(pods, |pod| model_of(pod.as_ref()))
        .watches_stream(changed_policies, |policy| policy_model(&policy))
}

/// The policies (that deserialize) watching `model`.
fn policies_of(
    store: &Store<DeserializeGuard<DriftPolicy>>,
    model: &DeserializeGuard<MonitoredModel>,
) -> Vec<ObjectRef<DeserializeGuard<DriftPolicy>>> {
    let (name, namespace) = (model.name_any(), model.namespace());
    store
        .state()
        .into_iter()
        .filter(|p| {
            p.0.as_ref()
                .is_ok_and(|p| p.spec.model_ref.name == name && p.namespace() == namespace)
        })
        .map(|p| ObjectRef::from_obj(p.as_ref()))
        .collect()
}

async fn run_controllers(
    client: Client,
    namespace: Option<String>,
    image: String,
    metrics: Arc<Metrics>,
    clock: Clock,
    concurrency: u16,
) {
    let ns = namespace.as_deref();
    let readiness = Readiness::default();
    let (models_store, model_events, changed_models) = resource_watch(
        api::<DeserializeGuard<MonitoredModel>>(&client, ns),
        readiness.clone(),
        Readiness::MODELS,
    );
    let (policies_store, policy_events, changed_policies) = resource_watch(
        api::<DeserializeGuard<DriftPolicy>>(&client, ns),
        readiness.clone(),
        Readiness::POLICIES,
    );
    let (jobs, [model_jobs, policy_jobs], jobs_root) =
        shared_watch(api::<Job>(&client, ns), readiness.clone(), Readiness::JOBS);
    let (pods, [model_pods, policy_pods], pods_root) =
        shared_watch(api::<Pod>(&client, ns), readiness.clone(), Readiness::PODS);
    let config = controller::Config::default().concurrency(concurrency);
    let (model_controller, children) = own_model_children(
        Controller::for_stream(model_events, models_store.clone()).with_config(config.clone()),
        &client,
        ns,
        &readiness,
    );
    let (policy_controller, check_cronjobs) = own_check_cronjobs(
        Controller::for_stream(policy_events, policies_store.clone()).with_config(config),
        &client,
        ns,
        &readiness,
    );
    let stores = Stores {
        models: models_store,
        policies: policies_store,
        jobs,
        pods,
        deployments: children.deployments,
        services: children.services,
        pdbs: children.pdbs,
        training_cronjobs: children.cronjobs,
        check_cronjobs,
        ready: readiness.subscribe(),
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        image,
        metrics.clone(),
        clock,
        stores.clone(),
    ));
    let models = watch_model_world(model_controller, model_jobs, model_pods, changed_policies)
        .shutdown_on_signal()
        .run(reconcile_model, error_policy, ctx.clone())
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "MonitoredModel controller event");
            }
        });
    let policy_store = stores.policies.clone();
    let policies = policy_controller
        .watches_shared_stream(policy_jobs, |job| policy_of(job.as_ref()))
        .watches_shared_stream(policy_pods, |pod| policy_of(pod.as_ref()))
        // A model's served version is in its policies' CronJobs: wake them on change.
        .watches_stream(changed_models, move |model| {
            policies_of(&policy_store, &model)
        })
        .shutdown_on_signal()
        .run(reconcile_policy, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "DriftPolicy controller event");
            }
        });
    let sweep = sweep_metrics(stores, metrics);
    // The shared watches and the sweep run until the controllers stop.
    tokio::select! {
        _ = futures::future::join(models, policies) => {}
        _ = futures::future::join3(jobs_root, pods_root, sweep) => {}
    }
}

/// How often the series of deleted models and policies are removed.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Removes the metrics of models and policies that no longer exist (no
/// reconcile runs for a deleted object, so nothing else would).
async fn sweep_metrics(stores: Stores, metrics: Arc<Metrics>) {
    stores.ready().await;
    loop {
        let models: Names = stores
            .models
            .state()
            .iter()
            .map(|m| (m.namespace().unwrap_or_default(), m.name_any()))
            .collect();
        let policies: Names = stores
            .policies
            .state()
            .iter()
            .map(|p| (p.namespace().unwrap_or_default(), p.name_any()))
            .collect();
        metrics.retain(&models, &policies);
        tokio::time::sleep(SWEEP_EVERY).await;
    }
}

/// Runs until SIGTERM / Ctrl-C, or returns an error (lost Lease, no API server).
pub async fn run(options: OperatorOptions, clock: Clock) -> Result<(), RunError> {
    let client = Client::try_default().await.map_err(RunError::Client)?;
    let metrics = Arc::new(Metrics::new()?);
    let health = Arc::new(Health::default());
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| RunError::Listen {
            addr: options.listen,
            source,
        })?;
    let router = health_router(health.clone(), metrics.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "health server stopped");
        }
    });
    let version = client
        .apiserver_version()
        .await
        .map_err(RunError::Unreachable)?;
    health.ready.store(true, Ordering::Relaxed);
    tracing::info!(
        kubernetes = %version.git_version,
        namespace = options.watch_namespace.as_deref().unwrap_or("<all>"),
        image = %options.image,
        "connected"
    );
    let controllers = run_controllers(
        client.clone(),
        options.watch_namespace.clone(),
        options.image.clone(),
        metrics,
        clock,
        options.concurrency,
    );
    if !options.leader_election {
        controllers.await;
        return Ok(());
    }
    let manager = kube_lease_manager::LeaseManagerBuilder::new(client.clone(), &options.lease_name)
        .with_namespace(&options.lease_namespace)
        .with_identity(&options.identity)
        .with_duration(15)
        .with_grace(5)
        .with_field_manager(crate::apply::FIELD_MANAGER)
        .build()
        .await
        .map_err(|e| RunError::Lease(e.to_string()))?;
    let (mut leading, lease_task) = manager.watch().await;
    tracing::info!(lease = %options.lease_name, identity = %options.identity, "waiting for the leader Lease");
    while !*leading.borrow_and_update() {
        if leading.changed().await.is_err() {
            return Err(RunError::Lease("the lease task stopped".into()));
        }
    }
    tracing::info!("leading: starting the controllers");
    let lost = async {
        loop {
            if leading.changed().await.is_err() || !*leading.borrow_and_update() {
                return;
            }
        }
    };
    let result = tokio::select! {
        _ = controllers => Ok(()),
        _ = lost => Err(RunError::LeaseLost),
    };
    drop(leading);
    // Dropping the channel stops the lease task, which releases the Lease.
    let _ = lease_task.await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use tower::ServiceExt;

    fn deployment(version: &str) -> Deployment {
        let mut d = Deployment::default();
        d.metadata.name = Some("income-inference".into());
        d.metadata.namespace = Some("ml".into());
        d.metadata.resource_version = Some(version.into());
        d
    }

    /// The other controller is woken by a change only once the store holds it: a listed
    /// object once the list is in the store, a change after it is stored, a deletion
    /// after it is gone.
    #[tokio::test]
    async fn a_change_wakes_the_other_controller_once_it_is_in_the_store() {
        let events = futures::stream::iter(
            [
                watcher::Event::Init,
                watcher::Event::InitApply(deployment("1")),
                watcher::Event::InitDone,
                watcher::Event::Apply(deployment("2")),
                watcher::Event::Delete(deployment("2")),
            ]
            .map(Ok),
        );
        let (store, own, others) = fanned(events, Readiness::default(), Readiness::MODELS);
        let (mut own, mut others) = (Box::pin(own), Box::pin(others));
        let key = ObjectRef::from_obj(&deployment("1"));
        let stored = || store.get(&key).and_then(|d| d.resource_version());
        let mut woken = || {
            let mut versions = Vec::new();
            while let Some(Some(Ok(d))) = others.next().now_or_never() {
                versions.push(d.resource_version().unwrap_or_default());
            }
            versions
        };

        let first = own.next().await.and_then(Result::ok);
        assert_eq!(
            first.and_then(|d| d.resource_version()).as_deref(),
            Some("1")
        );
        assert_eq!(
            stored(),
            None,
            "the list is not in the store before its end"
        );
        assert!(
            woken().is_empty(),
            "nothing wakes before the list is stored"
        );

        let second = own.next().await.and_then(Result::ok);
        assert_eq!(
            second.and_then(|d| d.resource_version()).as_deref(),
            Some("2")
        );
        assert_eq!(stored().as_deref(), Some("2"));
        assert_eq!(woken(), ["1", "2"]);

        assert!(
            own.next().await.is_none(),
            "a deletion is not an applied object"
        );
        assert_eq!(stored(), None);
        assert_eq!(
            woken(),
            ["2"],
            "the deletion wakes, once the store has dropped it"
        );
    }

    #[tokio::test]
    async fn health_endpoints() {
        let health = Arc::new(Health::default());
        let metrics = Arc::new(Metrics::new().expect("metrics"));
        let get = |path: &str| {
            axum::http::Request::get(path)
                .body(axum::body::Body::empty())
                .expect("request")
        };
        let app = health_router(health.clone(), metrics);
        let status = |r: axum::response::Response| r.status();
        assert_eq!(
            status(app.clone().oneshot(get("/healthz")).await.expect("call")),
            200
        );
        assert_eq!(
            status(app.clone().oneshot(get("/readyz")).await.expect("call")),
            503
        );
        health.ready.store(true, Ordering::Relaxed);
        assert_eq!(
            status(app.clone().oneshot(get("/readyz")).await.expect("call")),
            200
        );
        let response = app.oneshot(get("/metrics")).await.expect("call");
        assert_eq!(response.status(), 200);
    }
}
