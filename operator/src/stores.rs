//! The read path: the reflector stores the controllers read every related
//! object from, instead of a GET or a LIST per reconcile.
//!
//! - Both custom resources are kept as [`DeserializeGuard`]s, so one object
//!   that does not match its type (written before an upgrade, or by a tool
//!   that mangled a key) is one `Err` entry that readers skip, never a LIST
//!   that fails as a whole for every reconcile in the namespace.
//! - Jobs and Pods are watched once, filtered by `app.kubernetes.io/managed-by`,
//!   and shared by both controllers (their watch events wake the controllers,
//!   `run::run_controllers`).
//! - The owned children are watched by the same label, each watch also waking
//!   the owner: the inference Deployment in full (its status is the rollout),
//!   the Service, the PodDisruptionBudget and both CronJobs as metadata only
//!   ([`PartialObjectMeta`]): the apply step needs their applied-intent hash
//!   and what they state in metadata, nothing of their spec
//!   (`apply::unchanged_meta`).
//! - Every stored object is pruned of `managedFields` and the last-applied
//!   annotation ([`prune`]): nothing reads them, and they are most of an
//!   object's bytes.
//!
//! A store can lag behind the API server by a watch event; the plans allow for
//! it: a Job the status names but the store does not hold yet is waited for,
//! never re-created; a child missing from (or older in) the store is applied
//! again, which server-side apply makes a no-op; a child the store still holds
//! after its deletion is deleted again, and the 404 is no error.

use std::sync::{Arc, Mutex};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::core::{DeserializeGuard, PartialObjectMeta};
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
    /// The inference Deployments, whole: the plan reads their rollout status.
    pub deployments: Store<Deployment>,
    pub services: Store<PartialObjectMeta<Service>>,
    pub pdbs: Store<PartialObjectMeta<PodDisruptionBudget>>,
    /// The models' training CronJobs (watched by the model controller).
    pub training_cronjobs: Store<PartialObjectMeta<CronJob>>,
    /// The policies' check CronJobs (watched by the policy controller).
    pub check_cronjobs: Store<PartialObjectMeta<CronJob>>,
    /// True once every store holds its first complete LIST. A watch channel,
    /// because `Store::wait_until_ready` wakes only one of several concurrent
    /// waiters.
    pub(crate) ready: watch::Receiver<bool>,
}

/// What [`Stores::from_objects`] holds, kind by kind (all empty by default).
#[derive(Default)]
pub struct Objects {
    pub models: Vec<DeserializeGuard<MonitoredModel>>,
    pub policies: Vec<DeserializeGuard<DriftPolicy>>,
    pub jobs: Vec<Job>,
    pub pods: Vec<Pod>,
    pub deployments: Vec<Deployment>,
    pub services: Vec<PartialObjectMeta<Service>>,
    pub pdbs: Vec<PartialObjectMeta<PodDisruptionBudget>>,
    pub training_cronjobs: Vec<PartialObjectMeta<CronJob>>,
    pub check_cronjobs: Vec<PartialObjectMeta<CronJob>>,
}

/// The watches that fill a [`Stores`]: each reports its first complete LIST
/// (from its own stream, so nothing waits on a store concurrently with the
/// controllers).
#[derive(Clone)]
pub struct Readiness {
    listed: Arc<Mutex<u16>>,
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
    /// The watches, one bit each.
    pub const MODELS: u16 = 1;
    pub const POLICIES: u16 = 1 << 1;
    pub const JOBS: u16 = 1 << 2;
    pub const PODS: u16 = 1 << 3;
    pub const DEPLOYMENTS: u16 = 1 << 4;
    pub const SERVICES: u16 = 1 << 5;
    pub const PDBS: u16 = 1 << 6;
    pub const TRAINING_CRONJOBS: u16 = 1 << 7;
    pub const CHECK_CRONJOBS: u16 = 1 << 8;
    const ALL: u16 = (1 << 9) - 1;

    /// The watch `which` has listed everything once.
    pub fn listed(&self, which: u16) {
        let mut listed = self.listed.lock().unwrap_or_else(|e| e.into_inner());
        *listed |= which;
        if *listed == Self::ALL {
            let _ = self.tx.send(true);
        }
    }

    /// Turns true once every watch has listed.
    pub(crate) fn subscribe(&self) -> watch::Receiver<bool> {
        self.tx.subscribe()
    }
}

/// Drops what no reader needs before an object is stored: `managedFields` and
/// the last-applied annotation of `kubectl apply`, often most of its bytes.
pub fn prune<K: kube::Resource>(object: &mut K) {
    object.managed_fields_mut().clear();
    object
        .annotations_mut()
        .remove("kubectl.kubernetes.io/last-applied-configuration");
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

/// The object `name` of `namespace` in `store`, as stored.
pub fn lookup<K>(store: &Store<K>, namespace: &str, name: &str) -> Option<K>
where
    K: kube::Resource<DynamicType = ()> + Clone,
{
    store
        .get(&ObjectRef::new(name).within(namespace))
        .map(|o| o.as_ref().clone())
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
    /// Stores holding exactly these objects, ready.
    pub fn from_objects(objects: Objects) -> Stores {
        Stores {
            models: snapshot(objects.models),
            policies: snapshot(objects.policies),
            jobs: snapshot(objects.jobs),
            pods: snapshot(objects.pods),
            deployments: snapshot(objects.deployments),
            services: snapshot(objects.services),
            pdbs: snapshot(objects.pdbs),
            training_cronjobs: snapshot(objects.training_cronjobs),
            check_cronjobs: snapshot(objects.check_cronjobs),
            ready: watch::channel(true).1,
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
