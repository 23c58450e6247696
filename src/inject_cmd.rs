//! `vigil inject`: the shell around `vigil_jobs::inject`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use vigil_core::data::schema::FeatureSchema;
use vigil_core::train::config::TrainJobConfig;
use vigil_core::train::split::sample_indices;
use vigil_jobs::inject::{self, DriftKind, InjectSpec, RampProfile, Rows};

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

fn invalid(message: String) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(4)
}

pub async fn run(args: InjectArgs) -> ExitCode {
    if args.out.is_none() && args.url.is_none() {
        return invalid("give --out FILE and/or --url URL".into());
    }
    let schema: FeatureSchema = match (&args.schema, &args.model) {
        (Some(path), _) => match vigil_jobs::drift::read_schema(path) {
            Ok(s) => s,
            Err(e) => return invalid(e.to_string()),
        },
        (None, Some(path)) => match vigil_jobs::drift::load_model(path).await {
            Ok((model, _)) => model.schema,
            Err(e) => return invalid(e.to_string()),
        },
        (None, None) => {
            match TrainJobConfig::from_text(ADULT_CONFIG, "examples/train-adult.yaml") {
                Ok(c) => c.schema,
                Err(e) => return invalid(e.to_string()),
            }
        }
    };
    let mut raw = match vigil_jobs::drift::read_table(&args.data) {
        Ok(raw) => raw,
        Err(e) => return invalid(e.to_string()),
    };
    if let Some(filter) = &args.filter {
        let Some((column, value)) = filter.split_once('=') else {
            return invalid(format!("--filter `{filter}` must be COLUMN=VALUE"));
        };
        let Some(cells) = raw.column(column).map(<[_]>::to_vec) else {
            return invalid(format!(
                "--filter: `{}` has no column `{column}`",
                args.data.display()
            ));
        };
        raw = raw.filter_rows(|r| cells[r].as_deref() == Some(value));
        if raw.n_rows() == 0 {
            return invalid(format!("--filter `{filter}` keeps no row"));
        }
    }
    let mut rows = match Rows::from_raw(&schema, &raw) {
        Ok(rows) => rows,
        Err(e) => return invalid(format!("`{}`: {e}", args.data.display())),
    };
    drop(raw);
    if let Some(n) = args.rows {
        rows = rows.select(&sample_indices(rows.n_rows(), n, args.seed));
    }
    if let Some(kind) = args.kind {
        let spec = InjectSpec {
            kind,
            intensity: args.intensity,
            profile: args.profile,
            feature: args.feature.clone(),
            seed: args.seed,
        };
        match inject::inject(&schema, &mut rows, &spec) {
            Ok(outcome) => eprintln!(
                "injected {}: {} ({} of {} rows changed)",
                kind.name(),
                outcome.description,
                outcome.affected_rows,
                outcome.rows
            ),
            Err(e) => return invalid(e.to_string()),
        }
    }
    if let Some(path) = &args.out {
        if let Err(e) = std::fs::write(
            path,
            inject::requests_jsonl(&schema, &rows, &args.id_prefix),
        ) {
            return invalid(format!("cannot write `{}`: {e}", path.display()));
        }
        eprintln!("wrote {} requests to {}", rows.n_rows(), path.display());
    }
    if let Some(path) = &args.feedback_out {
        match inject::feedback_jsonl(&schema, &rows, &args.id_prefix) {
            Some(text) => {
                if let Err(e) = std::fs::write(path, text) {
                    return invalid(format!("cannot write `{}`: {e}", path.display()));
                }
                eprintln!("wrote labels to {}", path.display());
            }
            None => {
                return invalid(format!(
                    "the data has no `{}` column for --feedback-out",
                    schema.target.name
                ))
            }
        }
    }
    if let Some(url) = &args.url {
        match inject::post(
            url,
            &schema,
            &rows,
            &args.id_prefix,
            args.batch_size,
            !args.no_feedback,
        )
        .await
        {
            Ok((sent, labelled)) => {
                eprintln!("posted {sent} requests and {labelled} labels to {url}")
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(5);
            }
        }
    }
    ExitCode::SUCCESS
}
