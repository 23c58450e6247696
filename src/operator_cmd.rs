//! `vigil operator`: the shell around `vigil_operator::run`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use vigil_operator::run::{run as run_operator, OperatorOptions};

#[derive(Args, Debug)]
pub struct OperatorArgs {
    /// Image of the training, drift and inference Pods when a MonitoredModel names none.
    #[arg(long, env = "VIGIL_OPERATOR_IMAGE", default_value = concat!("vigil:", env!("CARGO_PKG_VERSION")))]
    pub image: String,
    /// Watch only this namespace (empty: every namespace).
    #[arg(long, env = "VIGIL_WATCH_NAMESPACE", default_value = "")]
    pub watch_namespace: String,
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, env = "VIGIL_OPERATOR_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// Hold a Lease so that only one replica reconciles.
    #[arg(long, env = "VIGIL_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Name of the leader Lease.
    #[arg(long, env = "VIGIL_LEASE_NAME", default_value = "vigil-operator")]
    pub lease_name: String,
    /// Namespace of the leader Lease (the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
    /// This replica's identity in the Lease (default: the host name).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Reconciles running at once per controller (MonitoredModels, DriftPolicies).
    #[arg(long, env = "VIGIL_MAX_CONCURRENT_RECONCILES", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub max_concurrent_reconciles: u16,
}

pub async fn run(args: OperatorArgs) -> ExitCode {
    let identity = args.identity.unwrap_or_else(|| {
        std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| format!("vigil-{}", std::process::id()))
    });
    let options = OperatorOptions {
        image: args.image,
        watch_namespace: (!args.watch_namespace.is_empty()).then_some(args.watch_namespace),
        listen: args.listen,
        leader_election: args.leader_election,
        lease_name: args.lease_name,
        lease_namespace: args.lease_namespace,
        identity,
        concurrency: args.max_concurrent_reconciles,
    };
    match run_operator(options, Arc::new(chrono::Utc::now)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "operator stopped");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
