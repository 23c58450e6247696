//! Detection trial of estimated vs realized performance on Adult.
//!
//! ```text
//! cargo run --release -p vigil-jobs --example performance_trial -- [--window 2000] [--seed N]
//! ```
//!
//! Protocol: the Adult logistic regression is trained on the `train` split as `vigil
//! train` does. Its CBPE reference is 5 000 rows of the `test` split (out of sample:
//! the model never saw them), scored by the model, with their labels. Then 8 windows
//! of `window` rows are drawn from the other test rows:
//!
//! * 2 clean windows (uniform draws);
//! * 3 covariate-shift windows: 80 % of the rows from the unmarried (never-married,
//!   divorced, …) subpopulation, 20 % from the rest — P(x) moves, P(y | x) does not,
//!   the labels are the rows' own;
//! * 3 concept-drift windows: uniform draws in which the outcome of 30 % of the rows
//!   (chosen by the seed) is reversed — P(y | x) moves, the inputs do not.
//!
//! Printed: a Markdown table of estimated and realized ROC AUC and accuracy per
//! window, the gap in standard errors and the sustained-gap (concept drift) flag.
//! Exits 1 when the expectations fail: covariate windows' estimate within 3 sampling
//! errors of the realized value, concept windows flagged as a sustained gap.

#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::path::PathBuf;

use vigil_core::data::schema::Value;
use vigil_core::performance::{
    Cbpe, CbpeParams, Chunking, LabelledRow, MaybeLabelledRow, Metric, PerformanceReport,
};
use vigil_core::train::split::sample_indices;
use vigil_jobs::trials;

fn arg<T: std::str::FromStr>(args: &[String], name: &str) -> Option<T> {
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).and_then(|v| v.parse().ok())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let data: PathBuf = arg(&args, "--data").unwrap_or(root.join("examples/data/adult.csv.gz"));
    let window: usize = arg(&args, "--window").unwrap_or(2000);
    let seed: u64 = arg(&args, "--seed").unwrap_or(20_261_128);
    let store = tempfile::tempdir().expect("temp dir");
    let setup = trials::setup_adult(&data, store.path())
        .await
        .expect("setup");
    let schema = &setup.model.schema;
    let pool = &setup.pool;
    let probabilities = trials::predict(&setup.model, pool);
    let labels = pool.labels.as_ref().expect("labels");
    let column = |name: &str| {
        &pool.columns[schema
            .features
            .iter()
            .position(|f| f.name == name)
            .expect(name)]
    };
    let marital = column("marital_status");
    let row = |i: usize| {
        let score = probabilities[i][1];
        (score, score >= probabilities[i][0], labels[i] == Some(1))
    };

    let order = sample_indices(pool.n_rows(), pool.n_rows(), seed);
    let (reference_ids, rest) = order.split_at(5000);
    let reference: Vec<LabelledRow> = reference_ids
        .iter()
        .map(|&i| {
            let (score, predicted, label) = row(i);
            LabelledRow {
                score,
                predicted,
                label,
            }
        })
        .collect();
    let unmarried: Vec<usize> = rest
        .iter()
        .copied()
        .filter(|&i| !matches!(&marital[i], Value::Category(c) if c.starts_with("Married")))
        .collect();
    let married: Vec<usize> = rest
        .iter()
        .copied()
        .filter(|i| !unmarried.contains(i))
        .collect();
    let draw = |from: &[usize], k: usize, s: u64| -> Vec<usize> {
        sample_indices(from.len(), k, s)
            .into_iter()
            .map(|j| from[j])
            .collect()
    };

    let mut kinds = Vec::new();
    let mut current: Vec<MaybeLabelledRow> = Vec::new();
    for w in 0..8u64 {
        let (kind, ids) = match w {
            0 | 1 => ("clean", draw(rest, window, seed + w)),
            2..=4 => {
                let mut ids = draw(&unmarried, window * 4 / 5, seed + w);
                ids.extend(draw(&married, window - window * 4 / 5, seed + 100 + w));
                ("covariate shift", ids)
            }
            _ => ("concept drift", draw(rest, window, seed + w)),
        };
        kinds.push(kind);
        let flipped: std::collections::HashSet<usize> =
            sample_indices(ids.len(), ids.len() * 3 / 10, seed + 1000 + w)
                .into_iter()
                .collect();
        for (k, i) in ids.into_iter().enumerate() {
            let (score, predicted, label) = row(i);
            let reversed = kind == "concept drift" && flipped.contains(&k);
            current.push(MaybeLabelledRow {
                score,
                predicted,
                label: Some(label != reversed),
            });
        }
    }
    let params = CbpeParams {
        chunking: Chunking::Size(window),
        ..CbpeParams::default()
    };
    let cbpe = Cbpe::fit(&reference, &params).expect("fit");
    let report = PerformanceReport::build(&cbpe, &current, 100).expect("report");
    println!(
        "model {} · reference {} out-of-sample rows · calibration {:?} · windows of {window}\n",
        setup.model.version,
        reference.len(),
        report.reference.calibration.reason
    );
    println!("| window | kind | est. ROC AUC ± SE | realized ROC AUC [95 % CI] | gap / SE | est. accuracy | realized accuracy | alert | sustained gap |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut ok = true;
    for (i, (w, kind)) in report.windows.iter().zip(&kinds).enumerate() {
        let e = w.estimate.get(Metric::RocAuc).expect("auc");
        let r = w
            .realized
            .as_ref()
            .and_then(|r| r.get(Metric::RocAuc))
            .expect("realized");
        let interval = r.interval.expect("interval");
        let gap = w
            .gaps
            .iter()
            .find(|g| g.metric == Metric::RocAuc)
            .expect("gap");
        let acc = |f: &dyn Fn() -> Option<f64>| f().map_or("-".into(), |v| format!("{v:.4}"));
        println!(
            "| {i} | {kind} | {:.4} ± {:.4} | {:.4} [{:.4}, {:.4}] | {:+.1} | {} | {} | {} | {} |",
            e.value.expect("value"),
            e.sampling_error,
            r.value.expect("value"),
            interval.lower,
            interval.upper,
            gap.gap / gap.standard_error,
            acc(&|| w.estimate.get(Metric::Accuracy).and_then(|e| e.value)),
            acc(&|| w.realized.as_ref().and_then(|r| r.value(Metric::Accuracy))),
            if e.alert { "yes" } else { "no" },
            if gap.sustained { "yes" } else { "no" },
        );
        match *kind {
            "covariate shift" => ok &= !gap.exceeds,
            "concept drift" if i > 5 => ok &= gap.sustained && gap.gap < 0.0,
            _ => {}
        }
    }
    println!("\nconcept drift flagged: {}", report.concept_drift);
    if !ok {
        eprintln!("expectations not met");
        std::process::exit(1);
    }
}
