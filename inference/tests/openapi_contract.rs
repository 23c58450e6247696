//! The OpenAPI document against the running server, by schemathesis (PyPI): requests the
//! document allows are accepted and requests it forbids are refused with a 4xx, every
//! status and body the server sends is documented, and nothing answers 5xx.

mod common;

use common::{config, socket_server, TOKEN};

/// Runs `schemathesis run` over the operations matched by `select` with `checks`.
async fn schemathesis(addr: std::net::SocketAddr, checks: &str, select: &[&str]) {
    let Some(schemathesis) = vigil_testkit::SCHEMATHESIS.find() else {
        return;
    };
    // Its cache (past crashes, which it would replay) goes to a throwaway folder,
    // so a run depends on this code only, and nothing lands in the checkout.
    let scratch = tempfile::tempdir().expect("tempdir");
    let output = tokio::process::Command::new(&schemathesis)
        .current_dir(scratch.path())
        .arg("run")
        .arg(format!("http://{addr}/openapi.json"))
        .args(["--checks", checks])
        .args(["--header", &format!("Authorization: Bearer {TOKEN}")])
        .args(["--max-examples", "60", "--seed", "1", "--no-color"])
        .arg("--generation-deterministic")
        .args(select)
        .output()
        .await
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{stdout}\n{stderr}"
    );
}

/// The JSON endpoints whose request bodies are generated from the model: both directions.
#[tokio::test]
async fn schema_valid_requests_are_accepted_and_invalid_ones_refused() {
    let server = socket_server(config()).await;
    schemathesis(
        server.addr,
        "all",
        &[
            "--include-path-regex",
            "^/(predict|predict/batch|feedback)$",
        ],
    )
    .await;
    server.stop().await;
}

/// Every operation, OIP included: documented statuses, bodies and content types, no 5xx,
/// invalid requests refused. (An OIP tensor's shape must match its data, which a JSON
/// Schema cannot say, so acceptance of generated OIP requests is not asked.)
#[tokio::test]
async fn every_operation_answers_as_documented() {
    let server = socket_server(config()).await;
    schemathesis(
        server.addr,
        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,negative_data_rejection",
        &[],
    )
    .await;
    server.stop().await;
}
