//! The read path: the reflector stores the controllers read related objects
//! from, instead of a fresh LIST per reconcile.
//!
//! - Both custom resources are kept as [`DeserializeGuard`]s, so one object
//!   that does not match its type (written before an upgrade, or by a tool
//!   that mangled a key) is one `Err` entry that readers skip, never a LIST
//!   that fails as a whole for every reconcile in the namespace.
//! - Jobs and Pods are watched once, filtered by `app.kubernetes.io/managed-by`,
//!   and shared by both controllers (their watch events wake the controllers,
//!   `run::run_controllers`).
//!
//! A store can lag behind the API server by a watch event; the plans allow for
//! it (a Job the status names but the store does not hold yet is waited for,
//! never re-created). The children the controllers own are still read with a
//! GET by name; moving them here is the next step of the same design.

use std::sync::{Arc, Mutex};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher;
use kube::ResourceExt;
use tokio::sync::watch;

use crate::build::{Component, POLICY_LABEL};
use crate::crd::{DriftPolicy, MonitoredModel};

/// The stores of one operator process.
#[derive(Clone)]
pub struct Stores {
    pub models: Store<DeserializeGuard<MonitoredModel>>,
    pub policies: Store<DeserializeGuard<DriftPolicy>>,
    pub jobs: Store<Job>,
    pub pods: Store<Pod>,
    /// True once every store holds its first complete LIST. A watch channel,
    /// because `Store::wait_until_ready` wakes only one of several concurrent
    /// waiters.
    ready: watch::Receiver<bool>,
}

/// The watches that fill a [`Stores`]: each reports its first complete LIST
/// (from its own stream, so nothing waits on a store concurrently with the
/// controllers).
#[derive(Clone)]
pub struct Readiness {
    listed: Arc<Mutex<u8>>,
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Readiness {
    fn default() -> Readiness {
        Readiness {
            listed: Arc::new(Mutex::new(0)),
            tx: Arc::new(watch::channel(false).0),
        }
    }
}

impl Readiness {
    /// The four watches: models, policies, Jobs, Pods.
    pub const MODELS: u8 = 1;
    pub const POLICIES: u8 = 2;
    pub const JOBS: u8 = 4;
    pub const PODS: u8 = 8;

    /// The watch `which` has listed everything once.
    pub fn listed(&self, which: u8) {
        let mut listed = self.listed.lock().unwrap_or_else(|e| e.into_inner());
        *listed |= which;
        if *listed == Self::MODELS | Self::POLICIES | Self::JOBS | Self::PODS {
            let _ = self.tx.send(true);
        }
    }
}

/// A store that holds `objects` and is ready: for tests and tools that call a
/// reconcile without watches.
pub fn snapshot<K>(objects: impl IntoIterator<Item = K>) -> Store<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    let (reader, mut writer) = reflector::store();
    writer.apply_watcher_event(&watcher::Event::Init);
    for object in objects {
        writer.apply_watcher_event(&watcher::Event::InitApply(object));
    }
    writer.apply_watcher_event(&watcher::Event::InitDone);
    reader
}

fn label<'a, K: kube::Resource>(object: &'a K, key: &str) -> Option<&'a str> {
    object.labels().get(key).map(String::as_str)
}

fn instance_of<K: kube::Resource>(object: &K, namespace: &str, model: &str) -> bool {
    object.namespace().as_deref() == Some(namespace)
        && label(object, "app.kubernetes.io/instance") == Some(model)
}

fn component_of<K: kube::Resource>(object: &K, component: Component) -> bool {
    label(object, "app.kubernetes.io/component") == Some(component.as_str())
}

fn owned<T: Clone>(items: Vec<Arc<T>>) -> Vec<T> {
    items.into_iter().map(|o| o.as_ref().clone()).collect()
}

impl Stores {
    /// Stores holding exactly these objects.
    pub fn from_objects(
        models: Vec<DeserializeGuard<MonitoredModel>>,
        policies: Vec<DeserializeGuard<DriftPolicy>>,
        jobs: Vec<Job>,
        pods: Vec<Pod>,
    ) -> Stores {
        Stores {
            models: snapshot(models),
            policies: snapshot(policies),
            jobs: snapshot(jobs),
            pods: snapshot(pods),
            ready: watch::channel(true).1,
        }
    }

    /// Stores that watches fill; [`Stores::ready`] turns true once every
    /// watch has reported its first complete LIST to `readiness`.
    pub fn watched(
        models: Store<DeserializeGuard<MonitoredModel>>,
        policies: Store<DeserializeGuard<DriftPolicy>>,
        jobs: Store<Job>,
        pods: Store<Pod>,
        readiness: &Readiness,
    ) -> Stores {
        Stores {
            models,
            policies,
            jobs,
            pods,
            ready: readiness.tx.subscribe(),
        }
    }

    /// Waits until every store has its first complete LIST: a reconcile that
    /// read an empty store too early would decide on a world without Jobs.
    pub async fn ready(&self) {
        let mut ready = self.ready.clone();
        let _ = ready.wait_for(|r| *r).await;
    }

    /// The MonitoredModel `name` of `namespace`, readable or not.
    pub fn model(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<Arc<DeserializeGuard<MonitoredModel>>> {
        self.models.get(&ObjectRef::new(name).within(namespace))
    }

    /// The DriftPolicies of `namespace` that watch `model`; a policy that does
    /// not deserialize is skipped (its own reconcile reports it).
    pub fn policies_of(&self, namespace: &str, model: &str) -> Vec<DriftPolicy> {
        self.policies
            .state()
            .iter()
            .filter_map(|guard| guard.0.as_ref().ok())
            .filter(|p| {
                p.namespace().as_deref() == Some(namespace) && p.spec.model_ref.name == model
            })
            .cloned()
            .collect()
    }

    /// The training Jobs of `model` (one-off and scheduled).
    pub fn training_jobs(&self, namespace: &str, model: &str) -> Vec<Job> {
        owned(self.jobs.state_filter(|j| {
            instance_of(j, namespace, model) && component_of(j, Component::Training)
        }))
    }

    /// The check Jobs of DriftPolicy `policy`.
    pub fn check_jobs(&self, namespace: &str, policy: &str) -> Vec<Job> {
        owned(self.jobs.state_filter(|j| {
            j.namespace().as_deref() == Some(namespace)
                && label(j, POLICY_LABEL) == Some(policy)
                && component_of(j, Component::Drift)
        }))
    }

    /// The Pods of `model`: its training Pods and its inference Pods.
    pub fn model_pods(&self, namespace: &str, model: &str) -> Vec<Pod> {
        owned(self.pods.state_filter(|p| {
            instance_of(p, namespace, model)
                && (component_of(p, Component::Training) || component_of(p, Component::Inference))
        }))
    }

    /// The Pods of DriftPolicy `policy`'s check Jobs.
    pub fn check_pods(&self, namespace: &str, policy: &str) -> Vec<Pod> {
        owned(self.pods.state_filter(|p| {
            p.namespace().as_deref() == Some(namespace)
                && label(p, POLICY_LABEL) == Some(policy)
                && component_of(p, Component::Drift)
        }))
    }
}
