//! Object storage for models, reference samples, prediction logs and reports, and
//! [`StorageSpec`], where a model's store is (`spec.storage` of a MonitoredModel).
//!
//! A thin layer over `object_store`, addressed by URI:
//! - `file:///abs/dir` or a plain path — the local file system;
//! - `s3://bucket/prefix` — S3 or any compatible server; credentials, region
//!   and endpoint come from the usual `AWS_*` environment variables
//!   (`AWS_ENDPOINT_URL=http://127.0.0.1:9000` for MinIO, `AWS_ALLOW_HTTP` is
//!   implied by an `http://` endpoint);
//! - `pvc://claim/dir` — a PersistentVolumeClaim mounted in the Pod at
//!   `$VIGIL_PVC_ROOT/claim` (default root `/mnt/vigil`);
//! - `memory://` — an in-process store, for tests.
//!
//! Every write is atomic: the local backend writes a temporary file and
//! renames it, S3 publishes an object only when its upload completes. A reader
//! never sees half a file.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ClientOptions, ObjectStore, PutPayload, RetryConfig};
use serde::{Deserialize, Serialize};

/// Where a model's artifacts, logs and reports live.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StorageSpec {
    /// Root URI of the model's store: `s3://bucket/prefix`, `pvc://claim/dir` or `file:///dir`.
    pub uri: String,
    /// Secret with store credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// optional `AWS_ENDPOINT_URL`, `AWS_REGION`), exposed to the Pods as environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,
}

/// A reference to a Secret in the same namespace.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretRef {
    /// Name of the Secret.
    pub name: String,
}

/// Where a PVC is mounted inside a Pod, unless `VIGIL_PVC_ROOT` says otherwise.
pub const DEFAULT_PVC_ROOT: &str = "/mnt/vigil";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid store URI `{uri}`: {reason}")]
    InvalidUri { uri: String, reason: String },
    #[error("`{uri}` does not exist")]
    NotFound { uri: String },
    #[error("`{uri}` already exists and artifacts are immutable")]
    AlreadyExists { uri: String },
    #[error("store `{uri}` failed: {source}")]
    Backend {
        uri: String,
        #[source]
        source: object_store::Error,
    },
}

impl StoreError {
    pub fn metric_label(&self) -> &'static str {
        match self {
            StoreError::InvalidUri { .. } => "invalid_uri",
            StoreError::NotFound { .. } => "not_found",
            StoreError::AlreadyExists { .. } => "already_exists",
            StoreError::Backend { .. } => "backend",
        }
    }
}

/// A store rooted at a URI; keys are `/`-separated paths below the root.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    root: String,
}

impl Store {
    /// Opens the store at `uri`. Does no IO for remote stores, so an
    /// unreachable server shows up on first use, with the URI in the error.
    pub fn open(uri: &str) -> Result<Store, StoreError> {
        let root = uri.trim_end_matches('/').to_string();
        let invalid = |reason: &str| StoreError::InvalidUri {
            uri: uri.to_string(),
            reason: reason.to_string(),
        };
        let inner: Arc<dyn ObjectStore> = if let Some(rest) = uri.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(invalid("no bucket name after s3://"));
            }
            let s3 = s3_builder(bucket)
                .build()
                .map_err(|e| invalid(&e.to_string()))?;
            with_prefix(Arc::new(s3), prefix)
        } else if let Some(rest) = uri.strip_prefix("pvc://") {
            let (claim, path) = rest.split_once('/').unwrap_or((rest, ""));
            if claim.is_empty() {
                return Err(invalid("no claim name after pvc://"));
            }
            let mount = std::env::var("VIGIL_PVC_ROOT").unwrap_or_else(|_| DEFAULT_PVC_ROOT.into());
            local(&format!("{mount}/{claim}/{path}"), uri)?
        } else if uri == "memory://" || uri.starts_with("memory://") {
            Arc::new(InMemory::new())
        } else if let Some(path) = uri.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(invalid("file:// URIs need an absolute path (file:///dir)"));
            }
            local(path, uri)?
        } else if uri.contains("://") {
            return Err(invalid(
                "unsupported scheme; use file://, s3://, pvc:// or memory://",
            ));
        } else if uri.is_empty() {
            return Err(invalid("empty URI"));
        } else {
            local(uri, uri)?
        };
        Ok(Store { inner, root })
    }

    /// The URI of a key in this store.
    pub fn uri_of(&self, key: &str) -> String {
        format!("{}/{}", self.root, key.trim_start_matches('/'))
    }

    pub fn root(&self) -> &str {
        &self.root
    }

    pub async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let path = self.path(key)?;
        let result = self
            .inner
            .get(&path)
            .await
            .map_err(|e| self.error(key, e))?;
        result.bytes().await.map_err(|e| self.error(key, e))
    }

    /// The first `len` bytes of `key` (fewer when it is shorter): one ranged read, for
    /// file headers.
    pub async fn get_head(&self, key: &str, len: usize) -> Result<Bytes, StoreError> {
        let path = self.path(key)?;
        self.inner
            .get_range(&path, 0..len as u64)
            .await
            .map_err(|e| self.error(key, e))
    }

    /// Writes `bytes` at `key` atomically, replacing what was there.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StoreError> {
        let path = self.path(key)?;
        self.inner
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(|e| self.error(key, e))?;
        Ok(())
    }

    /// Writes `bytes` at `key` atomically, failing if `key` already exists.
    pub async fn put_new(&self, key: &str, bytes: Bytes) -> Result<(), StoreError> {
        if self.exists(key).await? {
            return Err(StoreError::AlreadyExists {
                uri: self.uri_of(key),
            });
        }
        self.put(key, bytes).await
    }

    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        let path = self.path(key)?;
        match self.inner.head(&path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.error(key, e)),
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        match self.inner.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(key, e)),
        }
    }

    /// Every key under `prefix` (recursively), sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let path = self.path(prefix)?;
        let mut keys: Vec<String> = self
            .inner
            .list(Some(&path))
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .map_err(|e| self.error(prefix, e))?;
        keys.sort();
        Ok(keys)
    }

    /// The names of the immediate "directories" under `prefix`, sorted.
    pub async fn list_dirs(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let path = self.path(prefix)?;
        let listing = self
            .inner
            .list_with_delimiter(Some(&path))
            .await
            .map_err(|e| self.error(prefix, e))?;
        let mut dirs: Vec<String> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        dirs.sort();
        Ok(dirs)
    }

    fn path(&self, key: &str) -> Result<ObjectPath, StoreError> {
        ObjectPath::parse(key.trim_matches('/')).map_err(|e| StoreError::InvalidUri {
            uri: self.uri_of(key),
            reason: e.to_string(),
        })
    }

    fn error(&self, key: &str, source: object_store::Error) -> StoreError {
        match source {
            object_store::Error::NotFound { .. } => StoreError::NotFound {
                uri: self.uri_of(key),
            },
            source => StoreError::Backend {
                uri: self.uri_of(key),
                source,
            },
        }
    }
}

/// Reads one object given its full URI (`s3://bucket/data/train.csv`,
/// `file:///data/train.csv`, `pvc://claim/train.csv` or a plain path).
pub async fn read_uri(uri: &str) -> Result<Bytes, StoreError> {
    let (dir, key) = split_uri(uri)?;
    Store::open(dir)?.get(key).await
}

/// Splits an object URI into its parent (a store root) and the file name.
pub fn split_uri(uri: &str) -> Result<(&str, &str), StoreError> {
    let invalid = || StoreError::InvalidUri {
        uri: uri.to_string(),
        reason: "expected a URI that names an object, like s3://bucket/dir/file.csv".into(),
    };
    match uri.rsplit_once('/') {
        Some((_, "")) => Err(invalid()),
        Some(("file://", key)) => Ok(("file:///", key)),
        Some(("", key)) => Ok(("/", key)),
        Some((dir, _)) if dir.ends_with(':') || dir.ends_with(":/") => Err(invalid()),
        Some((dir, key)) => Ok((dir, key)),
        None if uri.is_empty() => Err(invalid()),
        None => Ok((".", uri)),
    }
}

fn s3_builder(bucket: &str) -> AmazonS3Builder {
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
        builder = builder.with_region("us-east-1");
    }
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .or_else(|_| std::env::var("AWS_ENDPOINT"))
        .ok();
    let allow_http = endpoint
        .as_deref()
        .is_some_and(|e| e.starts_with("http://"));
    if let Some(endpoint) = endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    // Bounded retries: a job must fail with a clear error, not hang for minutes.
    let retry = RetryConfig {
        max_retries: 3,
        retry_timeout: Duration::from_secs(20),
        ..RetryConfig::default()
    };
    let client = ClientOptions::new()
        .with_allow_http(allow_http)
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(120));
    builder.with_retry(retry).with_client_options(client)
}

fn with_prefix(store: Arc<dyn ObjectStore>, prefix: &str) -> Arc<dyn ObjectStore> {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        store
    } else {
        Arc::new(PrefixStore::new(store, prefix))
    }
}

fn local(dir: &str, uri: &str) -> Result<Arc<dyn ObjectStore>, StoreError> {
    std::fs::create_dir_all(dir).map_err(|e| StoreError::InvalidUri {
        uri: uri.to_string(),
        reason: format!("cannot create directory `{dir}`: {e}"),
    })?;
    let store = LocalFileSystem::new_with_prefix(dir).map_err(|e| StoreError::InvalidUri {
        uri: uri.to_string(),
        reason: e.to_string(),
    })?;
    Ok(Arc::new(store.with_automatic_cleanup(true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_round_trip_and_listing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let uri = format!("file://{}/store", dir.path().display());
        let store = Store::open(&uri).expect("open");
        store
            .put("models/v1/model.json", Bytes::from_static(b"{}"))
            .await
            .expect("put");
        store
            .put("models/v2/model.json", Bytes::from_static(b"[]"))
            .await
            .expect("put");
        assert_eq!(
            store.get("models/v2/model.json").await.expect("get"),
            Bytes::from_static(b"[]")
        );
        assert_eq!(
            store.list_dirs("models").await.expect("dirs"),
            vec!["v1", "v2"]
        );
        assert_eq!(
            store.list("models").await.expect("list"),
            vec!["models/v1/model.json", "models/v2/model.json"]
        );
        let err = store
            .put_new("models/v1/model.json", Bytes::new())
            .await
            .expect_err("immutable");
        assert!(matches!(err, StoreError::AlreadyExists { .. }));
        let err = store
            .get("models/v3/model.json")
            .await
            .expect_err("missing");
        assert_eq!(
            err.to_string(),
            format!("`{uri}/models/v3/model.json` does not exist")
        );
        assert!(store.list("nothing-here").await.expect("empty").is_empty());
    }

    #[test]
    fn bad_uris_are_rejected_with_a_reason() {
        for (uri, reason) in [
            ("s3://", "no bucket name"),
            ("pvc:///x", "no claim name"),
            ("gs://bucket/x", "unsupported scheme"),
            ("file://relative", "absolute path"),
            ("", "empty URI"),
        ] {
            let err = Store::open(uri).expect_err(uri).to_string();
            assert!(err.contains(reason), "{uri}: {err}");
        }
    }

    #[test]
    fn object_uris_split_into_store_and_key() {
        assert_eq!(
            split_uri("s3://b/data/train.csv").expect("s3"),
            ("s3://b/data", "train.csv")
        );
        assert_eq!(
            split_uri("file:///train.csv").expect("root"),
            ("file:///", "train.csv")
        );
        assert_eq!(split_uri("train.csv").expect("bare"), (".", "train.csv"));
        assert!(split_uri("s3://b/dir/").is_err());
    }

    #[tokio::test]
    async fn pvc_uris_map_to_the_mount() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::env::set_var("VIGIL_PVC_ROOT", dir.path());
        let store = Store::open("pvc://claim/income").expect("open");
        store
            .put("a.txt", Bytes::from_static(b"x"))
            .await
            .expect("put");
        assert!(dir.path().join("claim/income/a.txt").exists());
    }
}
