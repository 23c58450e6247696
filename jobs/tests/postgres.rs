//! Training data from PostgreSQL for real: the head of Adult loaded into a table
//! (typed columns, NULLs for missing categories) gives the same model and metrics
//! as the same rows from CSV; a failing query and an unreachable server are clear
//! errors that never show the password.
//!
//! The server is `VIGIL_POSTGRES_URI` (`bash .ci/postgres DIR PORT` starts one, as
//! `.ci/run` does); without it the tests that need it are skipped, unless
//! `VIGIL_REQUIRE_POSTGRES=1`.

mod common;

use common::{adult_config, adult_head, adult_head_csv, assert_same_as_csv, trained};
use tokio_postgres::NoTls;
use vigil_core::train::report::TrainSummary;
use vigil_jobs::train::{train, TrainError};

/// Adult's columns as a data team would type them (numbers in four SQL types).
const COLUMNS: [(&str, &str); 17] = [
    ("age", "integer"),
    ("workclass", "text"),
    ("fnlwgt", "bigint"),
    ("education", "text"),
    ("education_num", "smallint"),
    ("marital_status", "text"),
    ("occupation", "text"),
    ("relationship", "text"),
    ("race", "text"),
    ("sex", "text"),
    ("capital_gain", "numeric"),
    ("capital_loss", "integer"),
    ("hours_per_week", "double precision"),
    ("native_country", "varchar(64)"),
    ("income", "text"),
    ("split", "text"),
    ("label", "integer"),
];

/// Loads [`adult_head`] into `table` (replacing it); the query that reads it back in
/// file order.
async fn load_adult_head(uri: &str, table: &str) -> String {
    let (client, connection) = tokio_postgres::connect(uri, NoTls)
        .await
        .expect("connect to VIGIL_POSTGRES_URI");
    tokio::spawn(connection);
    let columns: Vec<String> = COLUMNS.iter().map(|(n, t)| format!("{n} {t}")).collect();
    let mut sql = format!(
        "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id serial PRIMARY KEY, {});",
        columns.join(", ")
    );
    let names: Vec<&str> = COLUMNS.iter().map(|(n, _)| *n).collect();
    let text = adult_head();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(names.join(",").as_str()),
        "Adult's header"
    );
    let rows: Vec<String> = lines
        .map(|line| {
            let cells: Vec<String> = line
                .split(',')
                .map(|c| match c {
                    "" => "NULL".to_string(),
                    c => format!("'{}'", c.replace('\'', "''")),
                })
                .collect();
            format!("({})", cells.join(","))
        })
        .collect();
    sql.push_str(&format!(
        "INSERT INTO {table} ({}) VALUES {};",
        names.join(","),
        rows.join(",")
    ));
    client.batch_execute(&sql).await.expect("load Adult");
    format!("SELECT {} FROM {table} ORDER BY id", names.join(", "))
}

fn password(uri: &str) -> String {
    url::Url::parse(uri)
        .ok()
        .and_then(|u| u.password().map(str::to_string))
        .expect("VIGIL_POSTGRES_URI carries a password (the redaction is under test)")
}

fn assert_failed_without_password(err: &TrainError, reason: &str, needles: &[&str], secret: &str) {
    assert_eq!(err.reason(), reason, "{err}");
    let message = err.to_string();
    for needle in needles {
        assert!(
            message.contains(needle),
            "`{message}` should mention `{needle}`"
        );
    }
    assert!(!message.contains(secret), "the password leaked: {message}");
    match err.summary() {
        TrainSummary::Failed { message: m, .. } => assert_eq!(m, message),
        other => unreachable!("a failure summary, got {other:?}"),
    }
}

#[tokio::test]
async fn a_postgres_table_gives_the_same_metrics_as_the_same_rows_from_csv() {
    let Some(uri) = vigil_testkit::postgres_uri() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let query = load_adult_head(&uri, "adult_head_metrics").await;
    let csv = trained(&adult_config(dir.path(), &adult_head_csv(dir.path()), None)).await;
    let postgres = trained(&adult_config(dir.path(), &uri, Some(&query))).await;
    assert_same_as_csv(&postgres, &csv, "postgres");

    // The lineage records the source without its password.
    let lineage = &postgres.artifact.lineage;
    let shown = serde_json::to_string(&postgres.artifact).expect("artifact json");
    assert!(
        !shown.contains(&password(&uri)),
        "the password is in the artifact"
    );
    assert!(
        shown.contains(":***@"),
        "the redacted URI is in the artifact"
    );
    assert_eq!(lineage.rows_total, common::ROWS);
}

#[tokio::test]
async fn more_rows_than_max_rows_stops_the_query_with_the_limit_named() {
    let Some(uri) = vigil_testkit::postgres_uri() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let query = load_adult_head(&uri, "adult_head_limit").await;
    let mut config = adult_config(dir.path(), &uri, Some(&query));
    config.training.data.max_rows = 2999;
    let err = train(&config, chrono::Utc::now(), &|_| {})
        .await
        .expect_err("over the limit");
    assert_failed_without_password(
        &err,
        "InvalidData",
        &["more than 2999 rows (training.data.maxRows)"],
        &password(&uri),
    );
}

#[tokio::test]
async fn a_failing_query_is_named_with_the_password_redacted() {
    let Some(uri) = vigil_testkit::postgres_uri() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = password(&uri);
    let redacted = uri.replace(&format!(":{secret}@"), ":***@");
    load_adult_head(&uri, "adult_head_errors").await;
    for (query, needle) in [
        ("SELECT * FROM no_such_table", "no_such_table"),
        ("SELEC age FROM adult", "syntax error"),
        // Training reads; it never writes (the transaction is read-only).
        (
            "SELECT nextval('adult_head_errors_id_seq')",
            "read-only transaction",
        ),
    ] {
        let config = adult_config(dir.path(), &uri, Some(query));
        let err = train(&config, chrono::Utc::now(), &|_| {})
            .await
            .expect_err("the query fails");
        assert!(matches!(err, TrainError::Database(_)), "{err}");
        let query_on = format!("query on `{redacted}` failed");
        assert_failed_without_password(&err, "InvalidData", &[&query_on, needle], &secret);
    }
}

/// Needs no server: nothing listens on the port.
#[tokio::test]
async fn an_unreachable_database_is_data_unavailable_with_the_password_redacted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let uri = format!("postgres://trainer:s3cret-pw@127.0.0.1:{port}/warehouse");
    let config = adult_config(dir.path(), &uri, Some("SELECT * FROM adult"));
    let err = train(&config, chrono::Utc::now(), &|_| {})
        .await
        .expect_err("nothing listens");
    let shown = format!("cannot connect to `postgres://trainer:***@127.0.0.1:{port}/warehouse`");
    assert_failed_without_password(&err, "DataUnavailable", &[&shown], "s3cret-pw");
}
