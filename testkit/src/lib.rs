//! Tests that need an external tool (kubectl, helm, promtool, lua, an S3 server) find it
//! here. A missing tool skips the test *visibly*: a line with [`SKIP_MARKER`] goes
//! straight to the terminal (past the test harness's output capture), so a person sees
//! it and CI can grep for it. With `VIGIL_REQUIRE_<NAME>=1` a missing tool fails the
//! test instead; `.ci/run` sets every one of them.

#![allow(clippy::panic)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Starts every skip line; `.ci/run` fails when the test output holds one.
pub const SKIP_MARKER: &str = "VIGIL-TEST-SKIPPED";

/// An external tool a test runs.
#[derive(Clone, Copy, Debug)]
pub struct Tool {
    /// The command on `PATH`.
    pub command: &'static str,
    /// `<NAME>` of `VIGIL_REQUIRE_<NAME>`.
    pub require: &'static str,
    /// An environment variable that names the binary instead of `PATH`.
    pub path_env: &'static str,
    /// Arguments of a quick run that proves the tool works.
    pub probe: &'static [&'static str],
}

pub const KUBECTL: Tool = Tool {
    command: "kubectl",
    require: "KUBECTL",
    path_env: "KUBECTL",
    probe: &["version", "--client"],
};

pub const HELM: Tool = Tool {
    command: "helm",
    require: "HELM",
    path_env: "HELM",
    probe: &["version", "--short"],
};

pub const PROMTOOL: Tool = Tool {
    command: "promtool",
    require: "PROMTOOL",
    path_env: "PROMTOOL",
    probe: &["--version"],
};

/// Lua 5.1, the language of Argo CD's health checks (gopher-lua).
pub const LUA: Tool = Tool {
    command: "lua5.1",
    require: "LUA",
    path_env: "LUA",
    probe: &["-v"],
};

/// moto, a local S3-compatible server (`pip install 'moto[server]'`).
pub const MOTO: Tool = Tool {
    command: "moto_server",
    require: "S3",
    path_env: "VIGIL_MOTO_SERVER",
    probe: &["--help"],
};

/// A Python with the Open Inference Protocol clients `tritonclient[http]`, `kserve` and
/// `open-inference-openapi` (inference/tests/oip_clients.py; `.ci/run` makes the venv).
pub const OIP_PYTHON: Tool = Tool {
    command: "python3",
    require: "OIP_CLIENTS",
    path_env: "VIGIL_OIP_PYTHON",
    probe: &[
        "-c",
        "import tritonclient.http, kserve, numpy, open_inference.openapi",
    ],
};

/// schemathesis (PyPI), which fuzzes a server from its OpenAPI document
/// (inference/tests/openapi_contract.rs; `.ci/run` makes the venv).
pub const SCHEMATHESIS: Tool = Tool {
    command: "schemathesis",
    require: "SCHEMATHESIS",
    path_env: "VIGIL_SCHEMATHESIS",
    probe: &["--version"],
};

/// Python with the data tools users read Vigil's files with: pyarrow and DuckDB (the
/// Parquet prediction log), datasketches (the KLL sketches of batch profiles).
/// `.ci/run` makes a venv with them and names its python in `VIGIL_DATA_PYTHON`.
pub const DATA_PYTHON: Tool = Tool {
    command: "python3",
    require: "DATA_PYTHON",
    path_env: "VIGIL_DATA_PYTHON",
    probe: &["-c", "import pyarrow, duckdb, datasketches"],
};

/// A PostgreSQL server, reached through [`postgres_uri`] (`.ci/run` starts one).
pub const POSTGRES: Tool = Tool {
    command: "postgres",
    require: "POSTGRES",
    path_env: "VIGIL_POSTGRES",
    probe: &["--version"],
};

/// `VIGIL_POSTGRES_URI`, a database the test may create tables in; `None` (the test
/// skipped, see [`Tool::skip`]) when it is not set, a failure when
/// `VIGIL_REQUIRE_POSTGRES=1`.
pub fn postgres_uri() -> Option<String> {
    match std::env::var("VIGIL_POSTGRES_URI") {
        Ok(uri) if !uri.is_empty() => Some(uri),
        _ => {
            POSTGRES.skip("VIGIL_POSTGRES_URI is not set (bash .ci/postgres DIR PORT starts one)");
            None
        }
    }
}

impl Tool {
    /// Whether `VIGIL_REQUIRE_<NAME>` asks for the tool (any value but empty or `0`).
    pub fn required(&self) -> bool {
        std::env::var(format!("VIGIL_REQUIRE_{}", self.require))
            .is_ok_and(|v| !v.is_empty() && v != "0")
    }

    /// The tool's path when it runs; otherwise the test is skipped (see [`skip`]) and
    /// this is `None`, or it fails when the tool is required.
    pub fn find(&self) -> Option<PathBuf> {
        let path = std::env::var_os(self.path_env)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(self.command));
        let works = Command::new(&path)
            .args(self.probe)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if works {
            return Some(path);
        }
        self.skip(&format!("`{}` does not run", path.display()));
        None
    }

    /// Skips the calling test because of `why`, or fails it when the tool is required.
    pub fn skip(&self, why: &str) {
        let require = format!("VIGIL_REQUIRE_{}", self.require);
        assert!(!self.required(), "{require} is set but {why}");
        let test = std::thread::current()
            .name()
            .unwrap_or("a test")
            .to_string();
        // Straight to the terminal: the harness captures `eprintln!` of passing tests.
        let _ = writeln!(
            std::io::stderr(),
            "{SKIP_MARKER} {test}: {why} ({require}=1 makes this a failure)"
        );
    }
}
