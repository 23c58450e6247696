//! The training-source tests' shared data: the head of Adult as CSV (the reference
//! side), the Parquet fixtures, and the Adult example pointed at another source.

#![allow(dead_code)] // each test binary uses part of it

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use vigil_core::train::config::TrainJobConfig;
use vigil_jobs::train::{train, TrainOutcome};

/// Rows in the fixtures: the first 3,000 of `examples/data/adult.csv.gz`.
pub const ROWS: usize = 3000;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A file of `jobs/tests/fixtures/parquet/` (see `make_fixtures.py` there).
pub fn parquet_fixture(name: &str) -> PathBuf {
    repo().join("jobs/tests/fixtures/parquet").join(name)
}

/// The header and the first [`ROWS`] rows of Adult, as CSV text.
pub fn adult_head() -> String {
    let gz = std::fs::read(repo().join("examples/data/adult.csv.gz")).expect("adult");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut text)
        .expect("gunzip");
    text.lines()
        .take(ROWS + 1)
        .map(|l| format!("{l}\n"))
        .collect()
}

/// [`adult_head`] written to `dir`; its path.
pub fn adult_head_csv(dir: &Path) -> String {
    let path = dir.join("adult-head.csv");
    std::fs::write(&path, adult_head()).expect("write csv");
    path.display().to_string()
}

/// The Adult example, trained on `uri` (and `query`, for a database) with a
/// stratified hold-out (the head has no `test` rows), into a fresh store under `dir`.
pub fn adult_config(dir: &Path, uri: &str, query: Option<&str>) -> TrainJobConfig {
    let text = std::fs::read_to_string(repo().join("examples/train-adult.yaml")).expect("example");
    let mut config = TrainJobConfig::from_text(&text, "train-adult.yaml").expect("example");
    config.training.holdout.column = None;
    config.training.holdout.fraction = 0.25;
    config.training.data.uri = uri.to_string();
    config.training.data.query = query.map(str::to_string);
    config.training.data.format = Default::default();
    static STORES: AtomicUsize = AtomicUsize::new(0);
    let store = dir.join(format!("store-{}", STORES.fetch_add(1, Ordering::Relaxed)));
    config.storage.uri = format!("file://{}", store.display());
    config
}

#[allow(clippy::panic)] // a test helper: the failure is the test's
pub async fn trained(config: &TrainJobConfig) -> TrainOutcome {
    train(config, chrono::Utc::now(), &|_| {})
        .await
        .unwrap_or_else(|e| panic!("training on {}: {e}", config.training.data.uri))
}

/// Training on `config` gives the same model and metrics as on the same rows from CSV.
pub fn assert_same_as_csv(other: &TrainOutcome, csv: &TrainOutcome, what: &str) {
    assert_eq!(other.artifact.metrics, csv.artifact.metrics, "{what}");
    assert_eq!(other.artifact.model, csv.artifact.model, "{what}");
    assert_eq!(other.artifact.lineage.rows_total, ROWS, "{what}");
}
