//! `vigil drift`: the shell around `vigil_jobs::drift`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use vigil_core::data::schema::FeatureSchema;
use vigil_core::drift::rules::NotifySpec;
use vigil_core::drift::{DriftRules, DriftSummary, Verdict};
use vigil_core::performance::{CheckPerformance, MaturedWindow, Metric, PerformanceBrief};
use vigil_jobs::drift::{self, AdhocInput, DriftError, DriftJobConfig, DriftOutcome, Stage};
use vigil_jobs::{notify, termination};

const EXIT_HELP: &str = "\
Exit codes (ad-hoc mode): 0 None, 1 Warning, 2 Critical, 3 InsufficientData,
4 invalid input (bad arguments, config, schema, policy or data file), 5 other failure
(store, reference, logs). Scheduled mode (--config) exits 0 whenever the check ran,
whatever the verdict (the verdict is in the termination message and the report), so
that a CronJob does not retry a successful check; 4 / 5 on failure as above.";

#[derive(Args, Debug)]
#[command(after_help = EXIT_HELP)]
pub struct DriftArgs {
    /// Scheduled mode: drift job configuration (YAML or JSON: storage, servedVersion, policy).
    #[arg(long, env = "VIGIL_CONFIG", conflicts_with_all = ["reference", "current"])]
    pub config: Option<PathBuf>,
    /// Scheduled mode: the configuration as JSON text (how the operator's CronJob passes it).
    #[arg(
        long,
        env = "VIGIL_CONFIG_JSON",
        conflicts_with_all = ["config", "reference", "current"],
        hide_env_values = true
    )]
    pub config_json: Option<String>,
    /// Scheduled mode: check this version instead of the config's / the latest.
    #[arg(long, env = "VIGIL_SERVED_VERSION")]
    pub served_version: Option<String>,
    /// Scheduled mode: the end of the window (RFC 3339); default now. Every step of a
    /// sharded check must be given the same one (the Job's scheduled time).
    #[arg(long, env = "VIGIL_WINDOW_END")]
    pub window_end: Option<chrono::DateTime<chrono::Utc>>,
    /// Scheduled mode: the window ends at the scheduled time of this CronJob Job, read
    /// from its name `<cronjob>-<minutes since the Unix epoch>` (the operator's sharded
    /// check sets it from the Pod's `batch.kubernetes.io/job-name` label).
    /// `--window-end` wins. A Job made by hand (`kubectl create job --from=cronjob/…`)
    /// must be named that way or set VIGIL_WINDOW_END.
    #[arg(long, env = "VIGIL_JOB_NAME")]
    pub window_end_from_job: Option<String>,
    /// Scheduled mode, sharded: the number of shards of the window. In the operator's
    /// Indexed Job (completions N+1) `--shard-index` decides the step: below N this Pod
    /// writes its shard's partial, N is the merge step, which waits for the N partials,
    /// adds them up and reports.
    #[arg(long, env = "VIGIL_SHARDS", default_value_t = 1)]
    pub shards: usize,
    /// Scheduled mode, sharded: this Pod's step (Kubernetes sets
    /// `JOB_COMPLETION_INDEX` in the Pods of an Indexed Job).
    #[arg(long, env = "JOB_COMPLETION_INDEX", conflicts_with = "merge_shards")]
    pub shard_index: Option<usize>,
    /// Scheduled mode, sharded, by hand: merge the shards' partials now (fails naming
    /// the first one missing; it does not wait like the Indexed Job's merge step).
    #[arg(long, env = "VIGIL_MERGE_SHARDS")]
    pub merge_shards: bool,
    /// Ad-hoc mode: the reference dataset (CSV or JSON Lines, optionally gzip).
    #[arg(long, requires = "current")]
    pub reference: Option<PathBuf>,
    /// Ad-hoc mode: the dataset to compare with the reference.
    #[arg(long, requires = "reference")]
    pub current: Option<PathBuf>,
    /// Ad-hoc mode: feature schema (YAML/JSON: target + features). Default: the model's.
    #[arg(long)]
    pub schema: Option<PathBuf>,
    /// Ad-hoc mode: a model (model.json, its version directory, or a store root) whose
    /// predictions on both datasets are compared too.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Ad-hoc mode: DriftRules spec (YAML/JSON). Default: the documented defaults.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Ad-hoc mode: directory for the JSON and HTML reports.
    #[arg(long, default_value = "out/drift")]
    pub out: PathBuf,
    /// Print the compact summary as JSON on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Where to write the compact result for the operator
    /// (default: /dev/termination-log when it exists).
    #[arg(long, env = "VIGIL_TERMINATION_LOG")]
    pub termination_log: Option<PathBuf>,
}

const EXIT_INVALID: u8 = 4;
const EXIT_FAILED: u8 = 5;

fn verdict_code(v: Verdict) -> u8 {
    match v {
        Verdict::None => 0,
        Verdict::Warning => 1,
        Verdict::Critical => 2,
        Verdict::InsufficientData => 3,
    }
}

fn error_code(e: &DriftError) -> u8 {
    match e {
        DriftError::InvalidConfig(_) | DriftError::InvalidData { .. } => EXIT_INVALID,
        _ => EXIT_FAILED,
    }
}

pub async fn run(args: DriftArgs) -> ExitCode {
    let termination_path = termination::resolve(args.termination_log.as_deref());
    let now = chrono::Utc::now();
    let config = match (&args.config, &args.config_json) {
        (Some(path), _) => Some(drift::read_config(path)),
        (None, Some(json)) => Some(drift::parse_config(json, "VIGIL_CONFIG_JSON")),
        (None, None) => None,
    };
    let (result, scheduled) = if let Some(config) = config {
        let result = match config.and_then(|config| Ok((config, step(&args)?))) {
            Ok((config, Step::Shard(shard))) => return run_shard(&args, config, shard, now).await,
            Ok((config, step)) => run_scheduled(&args, config, step, now).await,
            Err(e) => Err(e),
        };
        (result, true)
    } else if let (Some(reference), Some(current)) = (&args.reference, &args.current) {
        (adhoc(&args, reference, current, now).await, false)
    } else {
        eprintln!("error: give --config FILE (scheduled) or --reference A --current B (ad-hoc); see --help");
        return ExitCode::from(EXIT_INVALID);
    };
    match result {
        Ok(outcome) => {
            if args.json {
                println!("{}", outcome.summary.to_termination_message());
            } else {
                print_outcome(&outcome);
            }
            finish(&outcome.summary, termination_path.as_deref());
            if scheduled {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(verdict_code(outcome.report.assessment.verdict))
            }
        }
        Err(e) => {
            tracing::error!(reason = e.reason(), error = %e, "drift check failed");
            eprintln!("error: drift check failed ({}): {e}", e.reason());
            finish(&e.summary(), termination_path.as_deref());
            ExitCode::from(error_code(&e))
        }
    }
}

/// The window's end: `--window-end`, else the scheduled time of `--window-end-from-job`,
/// else now; one of the first two is required when the check is sharded.
fn window_end(
    args: &DriftArgs,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, DriftError> {
    match (args.window_end, &args.window_end_from_job) {
        (Some(end), _) => Ok(end),
        (None, Some(job)) => drift::scheduled_time_of_job(job),
        (None, None) if args.shards > 1 => Err(DriftError::InvalidConfig(
            "a sharded check needs --window-end (VIGIL_WINDOW_END) or --window-end-from-job \
             (VIGIL_JOB_NAME) so that every step reads the same window"
                .into(),
        )),
        (None, None) => Ok(now),
    }
}

/// What this Pod does in a scheduled check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// The whole check (one Pod).
    Whole,
    /// One shard: write its partial.
    Shard(drift::Shard),
    /// Merge the partials and report; `wait` for them first (the Indexed Job's last
    /// index starts with the shards), or fail on a missing one (`--merge-shards`).
    Merge { wait: bool },
}

/// The step, from `--shards N`, `--merge-shards` and `--shard-index`
/// (`JOB_COMPLETION_INDEX`): below N a shard, N the merge step, above N an error.
fn step(args: &DriftArgs) -> Result<Step, DriftError> {
    let n = args.shards;
    if args.merge_shards {
        return Ok(Step::Merge { wait: false });
    }
    if n <= 1 {
        return Ok(Step::Whole);
    }
    match args.shard_index {
        None => Err(DriftError::InvalidConfig(
            "--shards > 1 needs --shard-index (JOB_COMPLETION_INDEX) or --merge-shards".into(),
        )),
        Some(index) if index < n => Ok(Step::Shard(drift::Shard::new(index, n)?)),
        Some(index) if index == n => Ok(Step::Merge { wait: true }),
        Some(index) => Err(DriftError::InvalidConfig(format!(
            "--shard-index (JOB_COMPLETION_INDEX) {index} is past the last step of a check in \
             {n} shards: indexes 0 to {} are the shards and {n} the merge step (completions {})",
            n - 1,
            n + 1
        ))),
    }
}

/// Runs a scheduled step with a progress bar (or log lines).
async fn with_progress<T>(
    run: impl AsyncFnOnce(&(dyn Fn(Stage) + Send + Sync)) -> Result<T, DriftError>,
) -> Result<T, DriftError> {
    let bar = crate::progress::stage_bar(Stage::ALL.len());
    let progress = |stage: Stage| match &bar {
        Some(bar) => {
            let position = Stage::ALL.iter().position(|s| *s == stage).unwrap_or(0);
            bar.set_position(position as u64);
            bar.set_message(stage.describe());
        }
        None => tracing::info!(stage = stage.describe(), "drift check"),
    };
    let result = run(&progress).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    result
}

/// The policy's notify targets, from this Pod (URLs in the environment, set
/// from Secrets by reference); the outcome rides in the summary.
async fn notify(config: &DriftJobConfig, summary: &mut DriftSummary) {
    let subject = notify::Subject {
        namespace: config.namespace.as_deref().unwrap_or(""),
        model: config.model.as_deref().unwrap_or(""),
        policy: config.policy_name.as_deref().unwrap_or(""),
    };
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let delivered = notify::deliver(
        &http,
        &config.policy.actions.notify,
        &subject,
        summary,
        |i| std::env::var(NotifySpec::secret_env(i)).ok(),
        notify::Retry::default(),
    )
    .await;
    if let DriftSummary::Succeeded { notified, .. } = summary {
        *notified = delivered;
    }
}

/// The whole check, or the merge of its shards' partials.
async fn run_scheduled(
    args: &DriftArgs,
    mut config: DriftJobConfig,
    step: Step,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<DriftOutcome, DriftError> {
    if args.served_version.is_some() {
        config.served_version = args.served_version.clone();
    }
    let end = window_end(args, now)?;
    // The whole check or the merge of its shards notifies, once; a shard never does.
    let mut outcome = if let Step::Merge { wait } = step {
        let shards = args.shards;
        if wait {
            drift::await_partials(&config, end, shards, drift::PartialsWait::default()).await?;
        }
        with_progress(async |p| drift::merge_shards(&config, end, shards, p).await).await?
    } else {
        with_progress(async |p| drift::check_store(&config, end, p).await).await?
    };
    notify(&config, &mut outcome.summary).await;
    Ok(outcome)
}

/// One shard of a sharded check: writes its partial (the merge step reports). Its
/// termination message says what it did in plain text, or why it failed as a failed
/// summary naming the shard.
async fn run_shard(
    args: &DriftArgs,
    mut config: DriftJobConfig,
    shard: drift::Shard,
    now: chrono::DateTime<chrono::Utc>,
) -> ExitCode {
    if args.served_version.is_some() {
        config.served_version = args.served_version.clone();
    }
    let termination_path = termination::resolve(args.termination_log.as_deref());
    let result = match window_end(args, now) {
        Ok(end) => with_progress(async |p| drift::check_shard(&config, end, shard, p).await).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(done) => {
            let line = done.describe(shard);
            tracing::info!(
                shard = shard.index,
                shards = shard.count,
                rows = done.rows,
                batches = done.batches,
                partial = %done.partial_uri,
                "drift shard done"
            );
            println!("{line}");
            if let Some(path) = termination_path.as_deref() {
                if let Err(e) = termination::write(path, &line) {
                    tracing::warn!(path = %path.display(), error = %e, "could not write the termination message");
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: drift shard failed ({}): {e}", e.reason());
            let summary = DriftSummary::Failed {
                reason: e.reason().to_string(),
                message: format!("shard {} of {}: {e}", shard.index, shard.count),
            };
            finish(&summary, termination_path.as_deref());
            ExitCode::from(error_code(&e))
        }
    }
}

async fn adhoc(
    args: &DriftArgs,
    reference: &Path,
    current: &Path,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<DriftOutcome, DriftError> {
    let schema: Option<FeatureSchema> = match &args.schema {
        Some(path) => Some(drift::read_schema(path)?),
        None => None,
    };
    let policy: DriftRules = match &args.policy {
        Some(path) => drift::read_policy(path)?,
        None => DriftRules::default(),
    };
    let model = match &args.model {
        Some(path) => Some(drift::load_model(path).await?.0),
        None => None,
    };
    let input = AdhocInput {
        reference: reference.to_path_buf(),
        current: current.to_path_buf(),
        schema,
        model,
        policy,
        out_dir: Some(args.out.clone()),
    };
    tokio::task::spawn_blocking(move || drift::check_files(&input, now))
        .await
        .map_err(|e| DriftError::InvalidConfig(format!("the check panicked: {e}")))?
}

fn print_outcome(outcome: &DriftOutcome) {
    let a = &outcome.report.assessment;
    println!(
        "drift check: {}  (drift {}, quality {})  reference {} rows, current {} rows",
        a.verdict, a.drift_verdict, a.quality.verdict, a.reference_rows, a.current_rows
    );
    println!(
        "  {:<22} {:<16} {:>8} {:>10} {:>10} {:>8} {:>8}",
        "feature", "verdict", "stat", "p adj", "PSI", "JS", "W/σ"
    );
    let fmt = |v: Option<f64>| match v {
        None => "-".to_string(),
        Some(v) if v != 0.0 && v.abs() < 1e-3 => format!("{v:.2e}"),
        Some(v) => format!("{v:.4}"),
    };
    for f in &a.features {
        let verdict = if f.small_sample && f.verdict.is_drift() {
            format!("{} (small)", f.verdict)
        } else {
            f.verdict.to_string()
        };
        println!(
            "  {:<22} {:<16} {:>8} {:>10} {:>10} {:>8} {:>8}",
            f.name,
            verdict,
            fmt(f.statistic),
            fmt(f.p_value_adjusted.or(f.p_value)),
            fmt(f.psi),
            fmt(f.jensen_shannon),
            fmt(f.wasserstein_normalized)
        );
    }
    if let Some(p) = &a.prediction {
        println!(
            "  predictions            {:<16} {}",
            p.verdict.as_str(),
            p.rule
        );
    }
    if let Some(p) = &a.performance {
        println!(
            "  performance            {:<16} {}",
            p.verdict.as_str(),
            p.rule
        );
    }
    if let Some(brief) = outcome.report.performance_brief() {
        print_performance(&brief);
    }
    if let Some(CheckPerformance::Assessed { matured, .. }) = &outcome.report.model_performance {
        print_matured(matured, &outcome.report.policy.performance.metrics);
    }
    for c in a
        .quality
        .checks
        .iter()
        .filter(|c| c.status == vigil_core::drift::report::CheckStatus::Failed)
    {
        println!(
            "  quality {:<14} failed ({:?}): {}",
            c.name, c.severity, c.message
        );
    }
    if !outcome.report_uri.is_empty() {
        println!("  report      {}", outcome.report_uri);
        println!("  html        {}", outcome.html_uri);
    }
}

/// Estimated next to realized, per metric of the policy; or why there is no estimate.
fn print_performance(brief: &PerformanceBrief) {
    if !brief.assessed() {
        let reason = brief.reason.as_deref().unwrap_or("");
        println!("  model performance      not estimated: {reason}");
        return;
    }
    for e in &brief.estimated {
        let realized = brief
            .realized(e.metric)
            .map_or_else(|| "-".to_string(), |r| format!("{:.4}", r.value));
        println!(
            "  {:<22} estimated {:.4}{}  realized {realized}",
            e.metric.as_str(),
            e.value,
            if e.alert { " (outside its band)" } else { "" }
        );
    }
    println!(
        "  labels                 {} joined, {:.1} % of the window{}{}",
        brief.labelled,
        brief.label_coverage * 100.0,
        brief
            .reason
            .as_deref()
            .map_or_else(String::new, |r| format!(" ({r})")),
        if brief.concept_drift {
            "; concept drift: realized and estimated apart for 2 checks"
        } else {
            ""
        }
    );
}

/// Earlier windows this check's labels realized again (the `maxLabelDelay` lookback).
fn print_matured(matured: &[MaturedWindow], metrics: &[Metric]) {
    for m in matured {
        let values: Vec<String> = metrics
            .iter()
            .map(|&metric| format!("{metric} {}", m.window.realized_text(metric)))
            .collect();
        println!(
            "  earlier window         {} – {}: +{} labels, {} of {} labelled; realized {}",
            m.since.format("%Y-%m-%d %H:%M"),
            m.until.format("%H:%M"),
            m.added,
            m.window.labelled,
            m.window.rows,
            values.join(", ")
        );
    }
}

fn finish(summary: &DriftSummary, path: Option<&Path>) {
    let message = summary.to_termination_message();
    if let Some(path) = path {
        if let Err(e) = termination::write(path, &message) {
            tracing::warn!(path = %path.display(), error = %e, "could not write the termination message");
        }
    }
}
