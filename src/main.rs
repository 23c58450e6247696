//! `vigil`: one binary, one image, every role.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
        }
    })
}
