//! `vigil train` as a real process on a PostgreSQL source that fails: exit code 1,
//! one clear line naming the URI with its password redacted, the same message in
//! the termination log, the password nowhere in the output. The query error needs
//! a server (`VIGIL_POSTGRES_URI`, see `.ci/postgres`); the unreachable one does not.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

const VIGIL: &str = env!("CARGO_BIN_EXE_vigil");

/// Runs `vigil train` on a two-feature schema read from `uri` with `query`:
/// (exit code, stdout + stderr, termination log).
fn train(dir: &Path, uri: &str, query: &str) -> (i32, String, String) {
    let config = dir.join("train.yaml");
    let yaml = format!(
        "schema:\n  target: {{name: y, classes: [no, yes]}}\n  features: [{{name: x, type: numeric}}]\n\
         storage: {{uri: \"file://{}\"}}\n\
         training:\n  data: {{uri: \"{uri}\", query: \"{query}\"}}\n  algorithm: logistic-regression\n",
        dir.join("store").display()
    );
    std::fs::write(&config, yaml).unwrap();
    let termination = dir.join("termination");
    let out = Command::new(VIGIL)
        .args(["train", "--config"])
        .arg(&config)
        .arg("--termination-log")
        .arg(&termination)
        .env_remove("PGPASSWORD")
        .output()
        .expect("vigil runs");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let log = std::fs::read_to_string(&termination).unwrap_or_default();
    (out.status.code().unwrap_or(-1), output, log)
}

fn assert_clear_failure(run: &(i32, String, String), reason: &str, needle: &str, secret: &str) {
    let (code, output, log) = run;
    assert_eq!(*code, 1, "{output}");
    assert!(output.contains(needle), "`{needle}` not in: {output}");
    let summary: serde_json::Value = serde_json::from_str(log).expect("termination log JSON");
    assert_eq!(summary["outcome"], "failed", "{log}");
    assert_eq!(summary["reason"], reason, "{log}");
    let message = summary["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "{log}");
    assert!(
        !output.contains(secret) && !log.contains(secret),
        "password leaked: {output}{log}"
    );
    assert!(!output.contains("panicked"), "{output}");
}

#[test]
fn an_unreachable_database_exits_1_with_the_password_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let uri = format!("postgres://trainer:s3cret-pw@127.0.0.1:{port}/warehouse");
    let run = train(dir.path(), &uri, "SELECT x, y FROM t");
    let shown = format!("cannot connect to `postgres://trainer:***@127.0.0.1:{port}/warehouse`");
    assert_clear_failure(&run, "DataUnavailable", &shown, "s3cret-pw");
}

#[test]
fn a_query_error_exits_1_with_the_password_redacted() {
    let Some(uri) = vigil_testkit::postgres_uri() else {
        return;
    };
    let secret = uri
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(user, _)| user.split_once(':'))
        .map(|(_, password)| password.to_string())
        .expect("VIGIL_POSTGRES_URI carries a password");
    let dir = tempfile::tempdir().unwrap();
    let run = train(dir.path(), &uri, "SELECT x, y FROM no_such_table");
    let redacted = uri.replace(&format!(":{secret}@"), ":***@");
    assert_clear_failure(
        &run,
        "InvalidData",
        &format!("query on `{redacted}` failed: ERROR: relation \"no_such_table\" does not exist"),
        &secret,
    );
}
