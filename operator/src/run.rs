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
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Controller;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};

use crate::build::{MANAGED_BY, POLICY_LABEL};
use crate::context::{Clock, Context};
use crate::controller::{error_policy, reconcile_model, reconcile_policy};
use crate::crd::{DriftPolicy, MonitoredModel};
use crate::metrics::{Metrics, MetricsError};

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

fn policy_model(
    policy: &DeserializeGuard<DriftPolicy>,
) -> Option<ObjectRef<DeserializeGuard<MonitoredModel>>> {
    let policy = policy.0.as_ref().ok()?;
    Some(ObjectRef::new(&policy.spec.model_ref.name).within(&policy.namespace()?))
}

async fn run_controllers(client: Client, namespace: Option<String>, ctx: Arc<Context>) {
    let ns = namespace.as_deref();
    let models = Controller::new(
        api::<DeserializeGuard<MonitoredModel>>(&client, ns),
        watcher::Config::default().any_semantic(),
    )
    .owns(api::<Deployment>(&client, ns), managed())
    .owns(api::<Service>(&client, ns), managed())
    .owns(api::<PodDisruptionBudget>(&client, ns), managed())
    .owns(api::<CronJob>(&client, ns), managed())
    .watches(
        api::<Job>(&client, ns),
        managed().labels(&format!(
            "app.kubernetes.io/managed-by={MANAGED_BY},app.kubernetes.io/component=training"
        )),
        |job| {
            let model = job.labels().get("app.kubernetes.io/instance")?;
            Some(ObjectRef::new(model).within(&job.namespace()?))
        },
    )
    .watches(
        api::<DeserializeGuard<DriftPolicy>>(&client, ns),
        watcher::Config::default(),
        |policy| policy_model(&policy),
    )
    .shutdown_on_signal()
    .run(reconcile_model, error_policy, ctx.clone())
    .for_each(|result| async move {
        if let Err(e) = result {
            tracing::debug!(error = %e, "MonitoredModel controller event");
        }
    });

    let policy_controller = Controller::new(
        api::<DeserializeGuard<DriftPolicy>>(&client, ns),
        watcher::Config::default().any_semantic(),
    );
    let policy_store = policy_controller.store();
    let policies = policy_controller
        .owns(api::<CronJob>(&client, ns), managed())
        .watches(
            api::<Job>(&client, ns),
            managed().labels(&format!(
                "app.kubernetes.io/managed-by={MANAGED_BY},app.kubernetes.io/component=drift"
            )),
            |job| {
                let policy = job.labels().get(POLICY_LABEL)?;
                Some(ObjectRef::new(policy).within(&job.namespace()?))
            },
        )
        // A model's served version is in its policies' CronJobs: wake them on change.
        .watches(
            api::<DeserializeGuard<MonitoredModel>>(&client, ns),
            watcher::Config::default(),
            move |model| {
                let (name, namespace) = (model.name_any(), model.namespace());
                policy_store
                    .state()
                    .into_iter()
                    .filter(|p| {
                        p.0.as_ref().is_ok_and(|p| {
                            p.spec.model_ref.name == name && p.namespace() == namespace
                        })
                    })
                    .map(|p| ObjectRef::from_obj(p.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .shutdown_on_signal()
        .run(reconcile_policy, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "DriftPolicy controller event");
            }
        });
    futures::join!(models, policies);
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
    let ctx = Arc::new(Context::new(
        client.clone(),
        options.image.clone(),
        metrics,
        clock,
    ));

    if !options.leader_election {
        run_controllers(client, options.watch_namespace, ctx).await;
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
        _ = run_controllers(client, options.watch_namespace, ctx) => Ok(()),
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
    use tower::ServiceExt;

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
