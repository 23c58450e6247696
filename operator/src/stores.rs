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
//! - Every stored object is pruned ([`Prune`]) of `managedFields` and the
//!   last-applied annotation: nothing reads them, and they are most of an
//!   object's bytes. Jobs also drop their Pod template and Pods all of their
//!   spec but the containers' names and resources, which nothing reads.
//!
//! A store can lag behind the API server by a watch event; the plans allow for
//! it: a Job the status names but the store does not hold yet is waited for,
//! never re-created; a child missing from (or older in) the store is applied
//! again, which server-side apply makes a no-op; a child the store still holds
//! after its deletion is deleted again, and the 404 is no error.

use std::sync::{Arc, Mutex};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, Service};
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

/// What a stored object keeps: [`Prune::prune`] drops, before an object is
/// stored, every part no reader of the store needs. The default drops the
/// bookkeeping of every kind; a kind whose spec is large and mostly unread
/// drops that too, keeping exactly what the readers named below use.
pub trait Prune: kube::Resource + Sized {
    fn prune(&mut self) {
        drop_bookkeeping(self);
    }
}

/// `managedFields` and the last-applied annotation of `kubectl apply`: often
/// most of an object's bytes, and read by nothing here.
fn drop_bookkeeping<K: kube::Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

impl<K: kube::Resource> Prune for DeserializeGuard<K> where DeserializeGuard<K>: kube::Resource {}
impl<K: kube::Resource> Prune for PartialObjectMeta<K> where PartialObjectMeta<K>: kube::Resource {}
/// Whole: the rollout is read from its status, and `apply::unchanged`
/// compares its template with the intent.
impl Prune for Deployment {}

/// A Job keeps its status and the spec fields the plans read
/// (`activeDeadlineSeconds` for a deadline failure, `completions` and
/// `completionMode` for an Indexed check); its Pod template, the bulk of it,
/// is what its Pods carry, and nothing reads it from the Job.
impl Prune for Job {
    fn prune(&mut self) {
        drop_bookkeeping(self);
        if let Some(spec) = self.spec.as_mut() {
            spec.template = Default::default();
        }
    }
}

/// A Pod keeps its status and, of its spec, each container's name and
/// resources: a container killed for memory is reported with its limit
/// (`observe::pod`).
impl Prune for Pod {
    fn prune(&mut self) {
        drop_bookkeeping(self);
        if let Some(spec) = self.spec.as_mut() {
            let containers = std::mem::take(&mut spec.containers)
                .into_iter()
                .map(|c| Container {
                    name: c.name,
                    resources: c.resources,
                    ..Container::default()
                })
                .collect();
            *spec = PodSpec {
                containers,
                ..PodSpec::default()
            };
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn pruned<K: Prune + serde::Serialize + serde::de::DeserializeOwned>(object: Value) -> Value {
        let mut object: K = serde_json::from_value(object).unwrap();
        object.prune();
        serde_json::to_value(object).unwrap()
    }

    /// Metadata with what every kind drops: managedFields, the last-applied annotation.
    fn bookkeeping() -> Value {
        json!({
            "name": "m-train-1", "namespace": "ml",
            "labels": {"app.kubernetes.io/instance": "m"},
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{\"big\": true}",
                "vigil.dev/intent": "abc"
            },
            "managedFields": [{"manager": "vigil", "operation": "Apply"}]
        })
    }

    /// [`bookkeeping`] as every kind stores it.
    fn kept_metadata() -> Value {
        json!({
            "name": "m-train-1", "namespace": "ml",
            "labels": {"app.kubernetes.io/instance": "m"},
            "annotations": {"vigil.dev/intent": "abc"}
        })
    }

    #[test]
    fn a_job_keeps_its_status_and_the_spec_fields_the_plans_read() {
        let job = json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": bookkeeping(),
            "spec": {
                "activeDeadlineSeconds": 7200, "backoffLimit": 0,
                "completions": 4, "parallelism": 4, "completionMode": "Indexed",
                "template": {
                    "metadata": {"labels": {"app.kubernetes.io/instance": "m"}},
                    "spec": {"containers": [{"name": "train", "image": "vigil:1",
                                             "args": ["train", "--config", "/etc/vigil"]}],
                             "restartPolicy": "Never"}
                }
            },
            "status": {"failed": 1, "conditions": [{"type": "Failed", "status": "True",
                                                    "reason": "DeadlineExceeded"}]}
        });
        assert_eq!(
            pruned::<Job>(job),
            json!({
                "apiVersion": "batch/v1", "kind": "Job",
                "metadata": kept_metadata(),
                "spec": {
                    "activeDeadlineSeconds": 7200, "backoffLimit": 0,
                    "completions": 4, "parallelism": 4, "completionMode": "Indexed",
                    "template": {}
                },
                "status": {"failed": 1, "conditions": [{"type": "Failed", "status": "True",
                                                        "reason": "DeadlineExceeded"}]}
            })
        );
    }

    #[test]
    fn a_pod_keeps_its_status_and_its_containers_names_and_resources() {
        let status = json!({
            "phase": "Failed",
            "containerStatuses": [{"name": "train", "image": "vigil:1", "imageID": "",
                                   "ready": false, "restartCount": 0,
                                   "state": {"terminated": {"exitCode": 137,
                                                            "reason": "OOMKilled"}}}]
        });
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": bookkeeping(),
            "spec": {
                "containers": [{"name": "train", "image": "vigil:1",
                                "env": [{"name": "VIGIL_STORE", "value": "s3://b"}],
                                "resources": {"limits": {"memory": "512Mi"}}},
                               {"name": "sidecar", "image": "mesh:2"}],
                "volumes": [{"name": "config", "configMap": {"name": "m"}}],
                "nodeName": "node-1", "restartPolicy": "Never"
            },
            "status": status
        });
        assert_eq!(
            pruned::<Pod>(pod),
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": kept_metadata(),
                "spec": {"containers": [{"name": "train",
                                         "resources": {"limits": {"memory": "512Mi"}}},
                                        {"name": "sidecar"}]},
                "status": status
            })
        );
    }

    #[test]
    fn a_deployment_and_the_metadata_kinds_lose_only_their_bookkeeping() {
        let deployment = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": bookkeeping(),
            "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "serve"}]}}},
            "status": {"replicas": 2}
        });
        let mut expected = deployment.clone();
        expected["metadata"] = kept_metadata();
        assert_eq!(pruned::<Deployment>(deployment), expected);

        let mut meta: PartialObjectMeta<CronJob> = PartialObjectMeta {
            types: None,
            metadata: serde_json::from_value(bookkeeping()).unwrap(),
            _phantom: Default::default(),
        };
        meta.prune();
        assert_eq!(
            serde_json::to_value(&meta.metadata).unwrap(),
            kept_metadata()
        );
    }
}
