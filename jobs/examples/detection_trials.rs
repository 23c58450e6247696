//! Detection trials on Adult (see `vigil_jobs::trials` for the exact protocol).
//!
//! ```text
//! cargo run --release -p vigil-jobs --example detection_trials -- \
//!     [--trials 100] [--clean 200] [--window 5000] [--intensity 0.5] [--seed N] [--json out/trials.json]
//! ```
//! Prints a Markdown table; exits 1 when an acceptance bound is missed
//! (drift detected < 95 %, clean Critical > 5 % or clean Warning > 10 %).

#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Instant;

use vigil_jobs::trials::{self, TrialConfig};

fn arg<T: std::str::FromStr>(args: &[String], name: &str) -> Option<T> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("bad value for {name}: {v}"))
        })
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let data: PathBuf = arg(&args, "--data").unwrap_or(root.join("examples/data/adult.csv.gz"));
    let mut config = TrialConfig::default();
    if let Some(v) = arg(&args, "--trials") {
        config.trials_per_kind = v;
    }
    if let Some(v) = arg(&args, "--clean") {
        config.clean_trials = v;
    }
    if let Some(v) = arg(&args, "--window") {
        config.window = v;
    }
    if let Some(v) = arg(&args, "--intensity") {
        config.intensity = v;
    }
    if let Some(v) = arg(&args, "--seed") {
        config.seed = v;
    }
    let store = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    eprintln!("training the Adult model (train split) …");
    let setup = trials::setup_adult(&data, store.path())
        .await
        .expect("setup");
    eprintln!(
        "model {} trained in {:.1} s; pool: {} test rows; running trials …",
        setup.model.version,
        started.elapsed().as_secs_f64(),
        setup.pool.n_rows()
    );
    let started = Instant::now();
    let table = tokio::task::spawn_blocking(move || {
        trials::run(&setup, &config, &|done, total| {
            if done % 50 == 0 || done == total {
                eprintln!("  {done}/{total}");
            }
        })
    })
    .await
    .expect("join")
    .expect("trials");
    eprintln!("trials took {:.1} s", started.elapsed().as_secs_f64());
    println!("{}", trials::markdown(&table));
    if let Some(path) = arg::<PathBuf>(&args, "--json") {
        std::fs::write(&path, serde_json::to_vec_pretty(&table).unwrap()).unwrap();
        eprintln!("wrote {}", path.display());
    }
    let mut ok = true;
    for row in &table {
        let rate = |n: usize| n as f64 / row.trials.max(1) as f64;
        if row.kind == "clean" {
            if rate(row.critical) > 0.05 || rate(row.warning) > 0.10 {
                eprintln!(
                    "FAIL clean: Critical {:.1}%, Warning {:.1}%",
                    rate(row.critical) * 100.0,
                    rate(row.warning) * 100.0
                );
                ok = false;
            }
        } else if row.detected_rate() < 0.95 {
            eprintln!(
                "FAIL {}: detected {:.1}%",
                row.kind,
                row.detected_rate() * 100.0
            );
            ok = false;
        }
    }
    if !ok {
        std::process::exit(1);
    }
}
