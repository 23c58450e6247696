//! Training data from Parquet files: the same rows give the same model as from CSV.
//!
//! The fixtures (`tests/fixtures/parquet/`, written by pyarrow with
//! `make_fixtures.py`) hold the first 3,000 rows of `examples/data/adult.csv.gz`;
//! the CSV side is those rows cut from that file. PostgreSQL is in `postgres.rs`,
//! Parquet on S3 in `s3.rs`.

mod common;

use common::{adult_config, adult_head_csv, assert_same_as_csv, parquet_fixture, trained, ROWS};
use vigil_jobs::train::{train, TrainError};

#[tokio::test]
async fn parquet_files_give_the_same_metrics_as_the_same_rows_from_csv() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = trained(&adult_config(dir.path(), &adult_head_csv(dir.path()), None)).await;
    assert_eq!(csv.artifact.lineage.rows_total, ROWS);
    for name in ["adult-head.snappy.parquet", "adult-head.zstd.parquet"] {
        let uri = parquet_fixture(name).display().to_string();
        let parquet = trained(&adult_config(dir.path(), &uri, None)).await;
        assert_same_as_csv(&parquet, &csv, name);
    }
}

#[tokio::test]
async fn more_rows_than_max_rows_stops_training_with_the_limit_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let parquet = parquet_fixture("adult-head.zstd.parquet")
        .display()
        .to_string();
    for uri in [parquet, adult_head_csv(dir.path())] {
        let mut config = adult_config(dir.path(), &uri, None);
        config.training.data.max_rows = 2999;
        let err = train(&config, chrono::Utc::now(), &|_| {})
            .await
            .expect_err("over the limit");
        assert!(matches!(err, TrainError::InvalidData { .. }), "{err}");
        assert_eq!(err.reason(), "InvalidData");
        assert!(
            err.to_string()
                .contains("more than 2999 rows (training.data.maxRows)"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_file_that_is_not_parquet_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("broken.parquet");
    std::fs::write(&path, b"age,income\n1,>50K\n").expect("write");
    let config = adult_config(dir.path(), &path.display().to_string(), None);
    let err = train(&config, chrono::Utc::now(), &|_| {})
        .await
        .expect_err("not Parquet");
    assert_eq!(err.reason(), "InvalidData");
    let message = err.to_string();
    assert!(
        message.contains("broken.parquet") && message.contains("Parquet:"),
        "{message}"
    );
}
