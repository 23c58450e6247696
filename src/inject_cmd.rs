//! `vigil inject`: the shell around `vigil_jobs::inject`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use vigil_core::data::schema::FeatureSchema;
use vigil_core::train::config::TrainJobConfig;
use vigil_core::train::split::sample_indices;
use vigil_jobs::inject::{self, DriftKind, InjectSpec, PostError, RampProfile, Rows};

/// The schema used when neither --schema nor --model is given: Adult's.
const ADULT_CONFIG: &str = include_str!("../examples/train-adult.yaml");

#[derive(Args, Debug)]
#[command(
    after_help = "Kinds: mean-shift, variance-change, category-frequency-shift, new-category, \
missing-surge, out-of-range, concept-drift (see docs/drift.md for what each does at an intensity).\n\
Exit codes: 0 done, 4 invalid input, 5 the server refused or could not be reached."
)]
pub struct InjectArgs {
    /// The dataset to turn into traffic (CSV or JSON Lines, optionally gzip).
    #[arg(long, default_value = "examples/data/adult.csv.gz")]
    pub data: PathBuf,
    /// Keep only rows where COLUMN equals VALUE (e.g. split=test).
    #[arg(long, value_name = "COLUMN=VALUE")]
    pub filter: Option<String>,
    /// Feature schema (YAML/JSON). Default: the model's with --model, else Adult's.
    #[arg(long)]
    pub schema: Option<PathBuf>,
    /// A model artifact (model.json, version directory or store root) for its schema.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The kind of drift; omit for clean traffic.
    #[arg(long)]
    pub kind: Option<DriftKind>,
    /// Strength in (0, 1]; 0.5 is moderate.
    #[arg(long, default_value_t = 0.5)]
    pub intensity: f64,
    /// sudden (every row) or gradual (ramping up over the rows).
    #[arg(long, default_value = "sudden")]
    pub profile: RampProfile,
    /// The feature to change (default: one chosen with the seed).
    #[arg(long)]
    pub feature: Option<String>,
    /// Rows to emit, sampled without replacement (default: all).
    #[arg(long)]
    pub rows: Option<usize>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Prefix of the request ids (`<prefix>-<row>`).
    #[arg(long, default_value = "req")]
    pub id_prefix: String,
    /// Write the requests here as JSON Lines ({"request_id", "features"} per line).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write the ground truth here as JSON Lines ({"request_id", "label"} per line).
    #[arg(long)]
    pub feedback_out: Option<PathBuf>,
    /// POST the requests to this server (`/predict/batch`) and the labels to `/feedback`.
    #[arg(long)]
    pub url: Option<String>,
    /// Requests per `/predict/batch` call.
    #[arg(long, default_value_t = 100)]
    pub batch_size: usize,
    /// With --url: do not send the labels to /feedback.
    #[arg(long)]
    pub no_feedback: bool,
}

/// Why `vigil inject` stopped: bad input (exit 4) or a server that refused (exit 5).
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Server(#[from] PostError),
}

fn invalid(message: impl Into<String>) -> Failure {
    Failure::Invalid(message.into())
}

pub async fn run(args: InjectArgs) -> ExitCode {
    match inject_traffic(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ Failure::Invalid(_)) => {
            eprintln!("error: {e}");
            ExitCode::from(4)
        }
        Err(e @ Failure::Server(_)) => {
            eprintln!("error: {e}");
            ExitCode::from(5)
        }
    }
}

async fn inject_traffic(args: &InjectArgs) -> Result<(), Failure> {
    if args.out.is_none() && args.url.is_none() {
        return Err(invalid("give --out FILE and/or --url URL"));
    }
    let schema = schema(args).await?;
    let mut rows = rows(args, &schema)?;
    if let Some(kind) = args.kind {
        let spec = InjectSpec {
            kind,
            intensity: args.intensity,
            profile: args.profile,
            feature: args.feature.clone(),
            seed: args.seed,
        };
        let outcome =
            inject::inject(&schema, &mut rows, &spec).map_err(|e| invalid(e.to_string()))?;
        eprintln!(
            "injected {}: {} ({} of {} rows changed)",
            kind.name(),
            outcome.description,
            outcome.affected_rows,
            outcome.rows
        );
    }
    write_files(args, &schema, &rows)?;
    if let Some(url) = &args.url {
        let (sent, labelled) = inject::post(
            url,
            &schema,
            &rows,
            &args.id_prefix,
            args.batch_size,
            !args.no_feedback,
        )
        .await?;
        eprintln!("posted {sent} requests and {labelled} labels to {url}");
    }
    Ok(())
}

/// The schema: `--schema`, else the model's, else Adult's.
async fn schema(args: &InjectArgs) -> Result<FeatureSchema, Failure> {
    let text = |e: &dyn std::fmt::Display| invalid(e.to_string());
    match (&args.schema, &args.model) {
        (Some(path), _) => vigil_jobs::drift::read_schema(path).map_err(|e| text(&e)),
        (None, Some(path)) => vigil_jobs::drift::load_model(path)
            .await
            .map(|(model, _)| model.schema)
            .map_err(|e| text(&e)),
        (None, None) => TrainJobConfig::from_text(ADULT_CONFIG, "examples/train-adult.yaml")
            .map(|c| c.schema)
            .map_err(|e| text(&e)),
    }
}

/// The rows of `--data`, filtered and sampled as asked.
fn rows(args: &InjectArgs, schema: &FeatureSchema) -> Result<Rows, Failure> {
    let mut raw = vigil_jobs::drift::read_table(&args.data).map_err(|e| invalid(e.to_string()))?;
    if let Some(filter) = &args.filter {
        let Some((column, value)) = filter.split_once('=') else {
            return Err(invalid(format!("--filter `{filter}` must be COLUMN=VALUE")));
        };
        let Some(cells) = raw.column(column).map(<[_]>::to_vec) else {
            return Err(invalid(format!(
                "--filter: `{}` has no column `{column}`",
                args.data.display()
            )));
        };
        raw = raw.filter_rows(|r| cells[r].as_deref() == Some(value));
        if raw.n_rows() == 0 {
            return Err(invalid(format!("--filter `{filter}` keeps no row")));
        }
    }
    let rows = Rows::from_raw(schema, &raw)
        .map_err(|e| invalid(format!("`{}`: {e}", args.data.display())))?;
    Ok(match args.rows {
        Some(n) => rows.select(&sample_indices(rows.n_rows(), n, args.seed)),
        None => rows,
    })
}

/// `--out` (requests) and `--feedback-out` (labels) as JSON Lines.
fn write_files(args: &InjectArgs, schema: &FeatureSchema, rows: &Rows) -> Result<(), Failure> {
    let write = |path: &std::path::Path, text: String| {
        std::fs::write(path, text)
            .map_err(|e| invalid(format!("cannot write `{}`: {e}", path.display())))
    };
    if let Some(path) = &args.out {
        write(path, inject::requests_jsonl(schema, rows, &args.id_prefix))?;
        eprintln!("wrote {} requests to {}", rows.n_rows(), path.display());
    }
    if let Some(path) = &args.feedback_out {
        let text = inject::feedback_jsonl(schema, rows, &args.id_prefix).ok_or_else(|| {
            invalid(format!(
                "the data has no `{}` column for --feedback-out",
                schema.target.name
            ))
        })?;
        write(path, text)?;
        eprintln!("wrote labels to {}", path.display());
    }
    Ok(())
}
