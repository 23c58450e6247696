//! Drift statistics benchmark against the SciPy reference (`shared/bench/drift_bench.py`).
//!
//! Same protocol: Adult, reference window sampled with replacement from the train
//! split, current window from the test split, N rows each (seed 42, our SplitMix64 —
//! the same sampling scheme, not numpy's exact indices); predicted classes and
//! probabilities from a logistic regression trained on the train split (here Vigil's
//! own, trained once before timing). Timed: building both window profiles from the
//! in-memory columns (counting sketches) plus the whole verdict — KS, PSI, Jensen–
//! Shannon and Wasserstein on the 6 numeric features, χ² + PSI + JS on the 8
//! categorical ones, prediction drift (χ² on classes, KS + PSI on the score), the
//! correction and the quality checks. Median of 7 / 5 / 3 runs for ≤ 10k / ≤ 100k /
//! larger windows; each size in a fresh child process; peak memory as in the Python
//! kit (VmHWM reset through /proc/self/clear_refs just before the first computation;
//! "peak extra" = VmHWM during it − VmRSS before it).
//!
//! ```text
//! cargo build --release -p vigil-jobs --example drift_bench
//! target/release/examples/drift_bench [--sizes 10000 100000 1000000] [--threads 2] [--out out/vigil-drift.json]
//! ```

#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Instant;

use vigil_core::data::dataset::{DataFormat, RawTable};
use vigil_core::data::schema::Value;
use vigil_core::drift::profile::TypedColumn;
use vigil_core::drift::quality::QualityContext;
use vigil_core::drift::{assess, AssessOptions, DriftRules, WindowProfile};
use vigil_core::train::split::SplitMix64;
use vigil_jobs::inject::Rows;

fn proc_status(key: &str) -> f64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn values_after(args: &[String], name: &str) -> Vec<String> {
    match args.iter().position(|a| a == name) {
        None => Vec::new(),
        Some(i) => args[i + 1..]
            .iter()
            .take_while(|a| !a.starts_with("--"))
            .cloned()
            .collect(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let sizes: Vec<usize> = {
        let v = values_after(&args, "--sizes");
        if v.is_empty() {
            vec![10_000, 100_000, 1_000_000]
        } else {
            v.iter().map(|s| s.parse().expect("size")).collect()
        }
    };
    let threads: usize = values_after(&args, "--threads")
        .first()
        .map_or(2, |s| s.parse().expect("threads"));
    if args.iter().any(|a| a == "--child") {
        child(sizes[0], threads);
        return;
    }
    let out: PathBuf = values_after(&args, "--out")
        .first()
        .map_or(PathBuf::from("out/vigil-drift.json"), PathBuf::from);
    println!(
        "{:>11} {:>8} {:>8} {:>10} {:>9} {:>15} {:>10}   (threads {threads})",
        "rows/window", "wall s", "CPU s", "profile s", "assess s", "peak extra MiB", "VmHWM MiB"
    );
    let mut results = Vec::new();
    for n in sizes {
        let mut child_args = vec![
            "--child".to_string(),
            "--sizes".into(),
            n.to_string(),
            "--threads".into(),
            threads.to_string(),
        ];
        if args.iter().any(|a| a == "--values") {
            child_args.push("--values".into());
        }
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args(&child_args)
            .output()
            .expect("child");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let line = String::from_utf8_lossy(&output.stdout);
        let r: serde_json::Value =
            serde_json::from_str(line.trim().lines().last().unwrap()).unwrap();
        println!(
            "{:>11} {:>8.4} {:>8.4} {:>10.4} {:>9.4} {:>15.1} {:>10.0}",
            n,
            r["wall_s_median"].as_f64().unwrap(),
            r["cpu_s_median"].as_f64().unwrap(),
            r["profile_s_median"].as_f64().unwrap(),
            r["assess_s_median"].as_f64().unwrap(),
            r["peak_extra_mib"].as_f64().unwrap(),
            r["vmhwm_mib"].as_f64().unwrap()
        );
        results.push(r);
    }
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).ok();
    }
    std::fs::write(&out, serde_json::to_vec_pretty(&results).unwrap()).unwrap();
    println!("wrote {}", out.display());
}

fn cpu_seconds() -> f64 {
    // utime + stime of this process, from /proc/self/stat (clock ticks, 100 Hz).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn child(n: usize, threads: usize) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let data = std::env::var("ADULT_CSV")
        .map(PathBuf::from)
        .unwrap_or(root.join("examples/data/adult.csv.gz"));
    let store = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let setup = runtime
        .block_on(vigil_jobs::trials::setup_adult(&data, store.path()))
        .unwrap();
    let schema = setup.model.schema.clone();
    let bytes = std::fs::read(&data).unwrap();
    let raw = RawTable::parse(&bytes, DataFormat::Csv).unwrap();
    let split = raw.column("split").unwrap().to_vec();
    let train = Rows::from_raw(
        &schema,
        &raw.filter_rows(|r| split[r].as_deref() == Some("train")),
    )
    .unwrap();
    let test = setup.pool.clone();
    drop(raw);
    let p_train = vigil_jobs::trials::predict(&setup.model, &train);
    let p_test = vigil_jobs::trials::predict(&setup.model, &test);
    let mut rng = SplitMix64::new(42);
    let ri: Vec<usize> = (0..n).map(|_| rng.below(train.n_rows())).collect();
    let ci: Vec<usize> = (0..n).map(|_| rng.below(test.n_rows())).collect();
    let reference = train.select(&ri);
    let current = test.select(&ci);
    let pr: Vec<Vec<f64>> = ri.iter().map(|&i| p_train[i].clone()).collect();
    let pc: Vec<Vec<f64>> = ci.iter().map(|&i| p_test[i].clone()).collect();
    drop((train, test, p_train, p_test, setup));
    let policy = DriftRules::default();
    let options = AssessOptions {
        threads,
        ..AssessOptions::default()
    };
    // The windows in a compact columnar layout (f64 columns, dictionary-encoded
    // categories, predicted class index and score arrays), built before timing as the
    // Python kit builds its DataFrames before timing. `--values` times the row-of-Value
    // layout (`Vec<Value>` per column, one heap string per category cell) instead.
    let values_layout = std::env::args().any(|a| a == "--values");
    let typed = |rows: &Rows| -> Vec<TypedColumn> {
        schema
            .features
            .iter()
            .zip(&rows.columns)
            .map(|(f, v)| TypedColumn::from_values(f, v))
            .collect()
    };
    let (tr, tc) = (typed(&reference), typed(&current));
    let classes =
        |p: &[Vec<f64>]| -> Vec<u32> { p.iter().map(|p| u32::from(p[1] > p[0])).collect() };
    let scores = |p: &[Vec<f64>]| -> Vec<f64> { p.iter().map(|p| p[1]).collect() };
    let (cr, cc, sr, sc) = (classes(&pr), classes(&pc), scores(&pr), scores(&pc));
    let run = |columns_r: &[Vec<Value>], columns_c: &[Vec<Value>]| {
        let t0 = Instant::now();
        let (r, c) = if values_layout {
            (
                WindowProfile::from_columns(&schema, columns_r, Some(&pr), None, threads),
                WindowProfile::from_columns(&schema, columns_c, Some(&pc), None, threads),
            )
        } else {
            (
                WindowProfile::from_typed(&schema, &tr, Some(&cr), Some(&sr), threads),
                WindowProfile::from_typed(&schema, &tc, Some(&cc), Some(&sc), threads),
            )
        };
        let t1 = Instant::now();
        let a = assess(
            &schema,
            &policy,
            &r,
            &c,
            &QualityContext::default(),
            &options,
        );
        let t2 = Instant::now();
        (a, (t1 - t0).as_secs_f64(), (t2 - t1).as_secs_f64())
    };
    // Warm-up on a small slice, as the Python kit does.
    let head = |rows: &Rows| -> Vec<Vec<Value>> {
        rows.columns
            .iter()
            .map(|c| c[..100.min(c.len())].to_vec())
            .collect()
    };
    let _ = {
        let r = WindowProfile::from_columns(&schema, &head(&reference), None, None, threads);
        let c = WindowProfile::from_columns(&schema, &head(&current), None, None, threads);
        assess(
            &schema,
            &policy,
            &r,
            &c,
            &QualityContext::default(),
            &options,
        )
    };
    let repeats = if n <= 10_000 {
        7
    } else if n <= 100_000 {
        5
    } else {
        3
    };
    let before = proc_status("VmRSS");
    std::fs::write("/proc/self/clear_refs", "5").ok();
    let (mut walls, mut cpus, mut profiles, mut assesses) = (vec![], vec![], vec![], vec![]);
    let mut hwm = f64::NAN;
    let mut sample = serde_json::Value::Null;
    for i in 0..repeats {
        let c0 = cpu_seconds();
        let t0 = Instant::now();
        let (a, p, s) = run(&reference.columns, &current.columns);
        walls.push(t0.elapsed().as_secs_f64());
        cpus.push(cpu_seconds() - c0);
        profiles.push(p);
        assesses.push(s);
        if i == 0 {
            hwm = proc_status("VmHWM");
            let pick = |name: &str| {
                a.features
                    .iter()
                    .find(|f| f.name == name)
                    .map(|f| serde_json::json!({"statistic": f.statistic, "p": f.p_value, "pMethod": f.p_value_method, "psi": f.psi, "verdict": f.verdict}))
            };
            sample = serde_json::json!({
                "age": pick("age"),
                "workclass": pick("workclass"),
                "prediction": a.prediction.as_ref().map(|p| serde_json::json!({"chi2": p.class_chi2, "p": p.class_p_value})),
                "verdict": a.verdict,
            });
        }
    }
    println!(
        "{}",
        serde_json::json!({
            "rows_per_window": n,
            "threads": threads,
            "layout": if values_layout { "values" } else { "columnar" },
            "repeats": repeats,
            "wall_s_median": median(walls.clone()),
            "wall_s_all": walls,
            "cpu_s_median": median(cpus),
            "profile_s_median": median(profiles),
            "assess_s_median": median(assesses),
            "rss_before_mib": before,
            "vmhwm_mib": hwm,
            "peak_extra_mib": hwm - before,
            "report_sample": sample,
        })
    );
}
