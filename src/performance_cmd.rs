//! `vigil performance`: the shell around `vigil_jobs::performance`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use vigil_core::performance::{Chunking, Metric, PerformanceReport};
use vigil_jobs::performance::{self, PerformanceInput, PerformanceOutcome};

const EXIT_HELP: &str = "\
Exit codes: 0 no estimated metric outside its thresholds and no sustained gap;
1 some estimated metric outside its thresholds (a performance change, before labels);
2 a sustained gap between realized and estimated performance (concept drift);
4 invalid input (arguments, files, columns, cells) or a refusal (single-class reference,
NaN scores, too few rows); 5 the reports could not be written.";

#[derive(Args, Debug)]
#[command(after_help = EXIT_HELP)]
pub struct PerformanceArgs {
    /// Labelled reference data scored by the model (CSV or JSON Lines, optionally gzip);
    /// ideally held out from training.
    #[arg(long)]
    pub reference: PathBuf,
    /// The data to estimate (and, where labelled, realize) performance on.
    #[arg(long)]
    pub current: PathBuf,
    /// Column with the probability of the positive class.
    #[arg(long, default_value = "score")]
    pub score_column: String,
    /// Column with the model's decision.
    #[arg(long, default_value = "prediction")]
    pub prediction_column: String,
    /// Column with the ground truth (every reference row; current rows where known).
    #[arg(long, default_value = "label")]
    pub label_column: String,
    /// The positive class as written in the prediction and label columns
    /// (default: 1/0 or true/false).
    #[arg(long)]
    pub positive_class: Option<String>,
    /// Rows per chunk (the last chunk keeps the remainder).
    #[arg(long, conflicts_with = "chunks")]
    pub chunk_size: Option<usize>,
    /// Number of chunks (NannyML's chunk_number: size = rows / N).
    #[arg(long)]
    pub chunks: Option<usize>,
    /// Fewer labelled rows than this in a chunk: no realized number (InsufficientLabels).
    #[arg(long, default_value_t = 100)]
    pub min_labeled_samples: usize,
    /// Directory for performance.json and performance.html.
    #[arg(long, default_value = "out/performance")]
    pub out: PathBuf,
    /// Print the report as JSON on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

const EXIT_ALERT: u8 = 1;
const EXIT_CONCEPT_DRIFT: u8 = 2;
const EXIT_INVALID: u8 = 4;
const EXIT_FAILED: u8 = 5;
/// NannyML's default chunk count when neither size nor count is given.
const DEFAULT_CHUNKS: usize = 10;

pub async fn run(args: PerformanceArgs) -> ExitCode {
    let chunking = match (args.chunk_size, args.chunks) {
        (Some(size), _) => Chunking::Size(size),
        (None, Some(count)) => Chunking::Count(count),
        (None, None) => Chunking::Count(DEFAULT_CHUNKS),
    };
    let input = PerformanceInput {
        reference: args.reference.clone(),
        current: args.current.clone(),
        score_column: args.score_column.clone(),
        prediction_column: args.prediction_column.clone(),
        label_column: args.label_column.clone(),
        positive_class: args.positive_class.clone(),
        chunking,
        min_labeled_samples: args.min_labeled_samples,
        out_dir: Some(args.out.clone()),
    };
    let result = tokio::task::spawn_blocking(move || performance::run_files(&input)).await;
    let outcome = match result {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) => {
            eprintln!("error: performance check failed ({}): {e}", e.reason());
            let code = if e.is_invalid_input() {
                EXIT_INVALID
            } else {
                EXIT_FAILED
            };
            return ExitCode::from(code);
        }
        Err(e) => {
            eprintln!("error: the performance check panicked: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&outcome.report).unwrap_or_default()
        );
    } else {
        print_outcome(&outcome);
    }
    let report = &outcome.report;
    if report.concept_drift {
        ExitCode::from(EXIT_CONCEPT_DRIFT)
    } else if !report.alerts.is_empty() {
        ExitCode::from(EXIT_ALERT)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_outcome(outcome: &PerformanceOutcome) {
    let report: &PerformanceReport = &outcome.report;
    let calibration = &report.reference.calibration;
    println!(
        "performance: {} windows, {} alerts, concept drift {}  (reference {} rows, calibration {})",
        report.windows.len(),
        report.alerts.len(),
        if report.concept_drift { "yes" } else { "no" },
        report.reference.rows,
        if calibration.calibrate {
            "isotonic"
        } else {
            "none"
        },
    );
    println!(
        "  {:<16} {:>7} {:>8} {:>9} {:>9} {:>9} {:>9}  alerts",
        "window", "rows", "labelled", "est AUC", "real AUC", "est acc", "real acc"
    );
    let fmt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.4}"));
    for (i, w) in report.windows.iter().enumerate() {
        let est = |m| fmt(w.estimated(m));
        println!(
            "  {:<16} {:>7} {:>8} {:>9} {:>9} {:>9} {:>9}  {}",
            format!("{i} [{}:{})", w.estimate.start, w.estimate.end),
            w.rows,
            w.labelled,
            est(Metric::RocAuc),
            w.realized_text(Metric::RocAuc),
            est(Metric::Accuracy),
            w.realized_text(Metric::Accuracy),
            w.alert_names().join(",")
        );
    }
    if let (Some(json), Some(html)) = (&outcome.json_path, &outcome.html_path) {
        println!("  report      {}", json.display());
        println!("  html        {}", html.display());
    }
}
