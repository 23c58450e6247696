//! `vigil train`: the shell around `vigil_jobs::train`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use vigil_core::train::config::TrainJobConfig;
use vigil_core::train::report::TrainSummary;
use vigil_jobs::termination;
use vigil_jobs::train::{self, Progress, Stage};

/// The configuration used when `--config` is not given: Adult, from the repository root.
const DEFAULT_CONFIG: &str = include_str!("../examples/train-adult.yaml");

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Training configuration (YAML or JSON). Default: the embedded Adult example.
    #[arg(long, env = "VIGIL_CONFIG")]
    pub config: Option<PathBuf>,
    /// The configuration as JSON text (how the operator passes it to a training Pod).
    #[arg(
        long,
        env = "VIGIL_CONFIG_JSON",
        conflicts_with = "config",
        hide_env_values = true
    )]
    pub config_json: Option<String>,
    /// Override the served version to compare against.
    #[arg(long, env = "VIGIL_SERVED_VERSION")]
    pub served_version: Option<String>,
    /// Where to write the compact result for the operator
    /// (default: /dev/termination-log when it exists).
    #[arg(long, env = "VIGIL_TERMINATION_LOG")]
    pub termination_log: Option<PathBuf>,
}

pub async fn run(args: TrainArgs) -> ExitCode {
    let config = match (&args.config, &args.config_json) {
        (Some(path), _) => TrainJobConfig::from_file(&path.to_string_lossy()),
        (None, Some(json)) => TrainJobConfig::from_text(json, "VIGIL_CONFIG_JSON"),
        (None, None) => {
            TrainJobConfig::from_text(DEFAULT_CONFIG, "<embedded examples/train-adult.yaml>")
        }
    };
    let termination_path = termination::resolve(args.termination_log.as_deref());
    let mut config = match config {
        Ok(config) => config,
        Err(e) => {
            let summary = TrainSummary::Failed {
                reason: "InvalidConfig".into(),
                message: e.to_string(),
            };
            finish(&summary, termination_path.as_deref());
            return ExitCode::from(2);
        }
    };
    if args.served_version.is_some() {
        config.served_version = args.served_version;
    }

    let bar = crate::progress::stage_bar(Stage::ALL.len());
    let progress = |event: Progress| match (&bar, event) {
        (Some(bar), Progress::Stage(stage)) => {
            let position = Stage::ALL.iter().position(|s| *s == stage).unwrap_or(0);
            bar.set_position(position as u64);
            bar.set_message(stage.describe());
        }
        (Some(bar), Progress::RowsRead(rows)) => {
            bar.set_message(format!("{}: {rows} rows", Stage::Read.describe()));
        }
        (Some(bar), Progress::Iteration(i)) => bar.set_message(format!(
            "{}: iteration {}, gradient {:.1e}",
            Stage::Fit.describe(),
            i.iteration,
            i.gradient_norm
        )),
        (None, Progress::Stage(stage)) => tracing::info!(stage = stage.describe(), "training"),
        (None, Progress::RowsRead(rows)) => tracing::info!(rows, "training data read"),
        (None, Progress::Iteration(i)) => tracing::debug!(
            iteration = i.iteration,
            loss = i.loss,
            gradient_norm = i.gradient_norm,
            "solver iteration"
        ),
    };
    let result = train::train(&config, chrono::Utc::now(), &progress).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    match result {
        Ok(outcome) => {
            print_success(&outcome);
            finish(&outcome.summary, termination_path.as_deref());
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(reason = e.reason(), error = %e, "training failed");
            finish(&e.summary(), termination_path.as_deref());
            ExitCode::FAILURE
        }
    }
}

fn print_success(outcome: &train::TrainOutcome) {
    let m = &outcome.artifact.metrics;
    let lineage = &outcome.artifact.lineage;
    println!(
        "trained {} ({})",
        outcome.artifact.version, lineage.algorithm
    );
    println!(
        "  rows        train {}  hold-out {}  (fit {:.2} s)",
        lineage.rows_train, lineage.rows_holdout, lineage.fit_seconds
    );
    println!(
        "  hold-out    accuracy {:.4}  ROC-AUC {}  F1 {:.4}  log loss {:.4}  ECE {:.4}",
        m.accuracy,
        m.roc_auc.map_or("n/a".to_string(), |a| format!("{a:.4}")),
        m.f1,
        m.log_loss,
        m.calibration.ece
    );
    if let TrainSummary::Succeeded {
        served: Some(served),
        warnings,
        artifact_uri,
        report_uri,
        ..
    } = &outcome.summary
    {
        match (&served.metrics, &served.error) {
            (Some(s), _) => println!(
                "  served {}  accuracy {:.4}  ROC-AUC {}",
                served.version,
                s.accuracy,
                s.roc_auc.map_or("n/a".to_string(), |a| format!("{a:.4}"))
            ),
            (None, Some(e)) => println!("  served {} not evaluated: {e}", served.version),
            _ => {}
        }
        print_locations(warnings, artifact_uri, report_uri);
    } else if let TrainSummary::Succeeded {
        warnings,
        artifact_uri,
        report_uri,
        ..
    } = &outcome.summary
    {
        print_locations(warnings, artifact_uri, report_uri);
    }
}

fn print_locations(warnings: &[String], artifact_uri: &str, report_uri: &str) {
    if !warnings.is_empty() {
        println!("  warnings    {}", warnings.join(", "));
    }
    println!("  artifact    {artifact_uri}");
    println!("  report      {report_uri}");
}

fn finish(summary: &TrainSummary, path: Option<&std::path::Path>) {
    let message = summary.to_termination_message();
    if let TrainSummary::Failed { reason, message } = summary {
        eprintln!("error: training failed ({reason}): {message}");
    }
    if let Some(path) = path {
        if let Err(e) = termination::write(path, &message) {
            tracing::warn!(path = %path.display(), error = %e, "could not write the termination message");
        }
    }
}
