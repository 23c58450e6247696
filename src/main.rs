//! `vigil`: one binary, one image, every role.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod demo_cmd;
mod drift_cmd;
mod inject_cmd;
mod operator_cmd;
mod performance_cmd;
mod progress;
mod serve_cmd;
mod telemetry;
mod train_cmd;

#[derive(Parser, Debug)]
#[command(
    name = "vigil",
    version,
    about = "Train, serve and watch ML models for drift"
)]
struct Cli {
    /// Log format: text for people, json for log pipelines.
    #[arg(
        long,
        global = true,
        env = "VIGIL_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: telemetry::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a model: ingest, validate, fit, evaluate, write a versioned artifact.
    Train(train_cmd::TrainArgs),
    /// Serve a model over HTTP: predictions, metrics, prediction log.
    Serve(serve_cmd::ServeArgs),
    /// Check live traffic (or two datasets) for drift and data-quality problems.
    Drift(drift_cmd::DriftArgs),
    /// Estimated (CBPE) and realized performance of any model's scores, per chunk.
    Performance(performance_cmd::PerformanceArgs),
    /// Turn a dataset into request traffic with a chosen kind of drift.
    Inject(inject_cmd::InjectArgs),
    /// The whole loop on Adult, no cluster: train, serve, check, drift, retrain.
    Demo(demo_cmd::DemoArgs),
    /// Run the Kubernetes operator (both controllers, leader election, health and metrics).
    Operator(operator_cmd::OperatorArgs),
    /// Print the CustomResourceDefinitions (YAML) to stdout.
    Crd,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match cli.command {
            Command::Train(args) => train_cmd::run(args).await,
            Command::Serve(args) => serve_cmd::run(args).await,
            Command::Drift(args) => drift_cmd::run(args).await,
            Command::Inject(args) => inject_cmd::run(args).await,
            Command::Performance(args) => performance_cmd::run(args).await,
            Command::Demo(args) => demo_cmd::run(args).await,
            Command::Operator(args) => operator_cmd::run(args).await,
            Command::Crd => match vigil_operator::crdgen::all_crds_yaml() {
                Ok(yaml) => {
                    print!("{yaml}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: cannot render the CRDs: {e}");
                    ExitCode::FAILURE
                }
            },
        }
    })
}
