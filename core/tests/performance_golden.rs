//! Golden tests of `vigil_core::performance` against NannyML 0.13.1, scikit-learn 1.5.2
//! and statsmodels 0.14.4.
//!
//! The fixtures in `tests/fixtures/performance/` are written by `make_fixtures.py` there
//! (pinned versions in its header; the Python never runs in CI). Floats are repr strings.
//!
//! Tolerances (absolute), the contract; the deviations actually observed are
//! printed by `cargo test --test performance_golden -- --nocapture` and recorded in
//! docs/performance.md:
//!
//! * estimated accuracy, F1, precision, recall, specificity and the expected confusion
//!   cells: [`ESTIMATE`] = 1e-6; estimated ROC AUC: [`ROC_AUC`] = 1e-4;
//! * the calibration decision and every alert flag: equal, every chunk;
//! * thresholds and confidence bounds: 1e-6 (ROC AUC's bounds: 1e-4); sampling errors: 1e-9 relative, except ROC
//!   AUC's, whose reference component depends on how NumPy's unstable argsort orders
//!   tied scores: it is compared exactly with the stable-sort value the fixture records
//!   and within [`AUC_ERROR_RTOL`] (relative) of NannyML's;
//! * realized metrics: scikit-learn's / NannyML's within [`REALIZED`] = 1e-12;
//! * isotonic regression: knots and predictions within 1e-12;
//! * splits and permutations: equal indices.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::path::PathBuf;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::Value;
use vigil_core::performance::{
    needs_calibration, realize, stratified_shuffle_splits, Cbpe, CbpeParams, Chunking,
    IsotonicRegression, JoinParams, LabelJoin, LabelRecord, LabelledRow, Metric,
    PredictionRecordRef, RandomState, RealizedPerformance, ScoredRow,
};

const ESTIMATE: f64 = 1e-6;
const ROC_AUC: f64 = 1e-4;
const BOUNDS: f64 = 1e-6;
const ERROR_RTOL: f64 = 1e-9;
const AUC_ERROR_RTOL: f64 = 5e-3;
const REALIZED: f64 = 1e-12;
const ISOTONIC: f64 = 1e-12;

fn dir() -> PathBuf {
    [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "fixtures",
        "performance",
    ]
    .iter()
    .collect()
}

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(dir().join(name)).expect("fixture");
    let value: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        value["meta"]["nannyml"], "0.13.1",
        "{name}: NannyML version"
    );
    assert!(
        value["meta"]["sklearn"].is_string(),
        "{name}: versions recorded"
    );
    value
}

fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}")),
        Value::Number(n) => n.as_f64().expect("number"),
        Value::Null => f64::NAN,
        other => panic!("not a number: {other}"),
    }
}

fn opt(v: &Value) -> Option<f64> {
    (!v.is_null()).then(|| num(v))
}

fn nums(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(num).collect()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("int") as usize)
        .collect()
}

/// The largest deviation seen per quantity, printed at the end of a test.
#[derive(Default)]
struct Worst(std::collections::BTreeMap<String, f64>);

impl Worst {
    fn check(&mut self, what: &str, actual: f64, expected: f64, tol: f64, context: &str) {
        let diff = if actual == expected {
            0.0
        } else {
            (actual - expected).abs()
        };
        assert!(
            diff <= tol,
            "{context}: {what} = {actual:e}, expected {expected:e} (|diff| {diff:e} > {tol:e})"
        );
        let slot = self.0.entry(what.to_string()).or_insert(0.0);
        *slot = slot.max(diff);
    }

    fn check_opt(
        &mut self,
        what: &str,
        actual: Option<f64>,
        expected: Option<f64>,
        tol: f64,
        context: &str,
    ) {
        match (actual, expected) {
            (Some(a), Some(e)) => self.check(what, a, e, tol, context),
            (None, None) => {}
            _ => panic!("{context}: {what} = {actual:?}, expected {expected:?}"),
        }
    }

    fn print(&self, title: &str) {
        println!("{title}: largest |actual - expected|");
        for (what, diff) in &self.0 {
            println!("  {what:<36} {diff:.3e}");
        }
    }
}

/// `set,y_pred_proba,y_pred,repaid[,y_pred_proba_skewed]` rows from a gzip CSV.
fn input(name: &str, score: &str) -> (Vec<LabelledRow>, Vec<LabelledRow>) {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(dir().join(name)).expect("input"))
        .read_to_string(&mut text)
        .expect("gzip");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().expect("header").clone();
    let col = |name: &str| headers.iter().position(|h| h == name).expect(name);
    let (set, s, p, y) = (col("set"), col(score), col("y_pred"), col("repaid"));
    let (mut reference, mut analysis) = (Vec::new(), Vec::new());
    for record in reader.records() {
        let r = record.expect("row");
        let row = LabelledRow {
            score: r[s].parse().expect("score"),
            predicted: r[p].parse::<f64>().expect("y_pred") == 1.0,
            label: r[y].parse::<f64>().expect("repaid") == 1.0,
        };
        match &r[set] {
            "reference" => reference.push(row),
            "analysis" => analysis.push(row),
            other => panic!("set {other}"),
        }
    }
    (reference, analysis)
}

fn metric_of(name: &str) -> Metric {
    match name {
        "roc_auc" => Metric::RocAuc,
        "f1" => Metric::F1,
        "precision" => Metric::Precision,
        "recall" => Metric::Recall,
        "specificity" => Metric::Specificity,
        "accuracy" => Metric::Accuracy,
        "true_positive" => Metric::TruePositive,
        "true_negative" => Metric::TrueNegative,
        "false_positive" => Metric::FalsePositive,
        "false_negative" => Metric::FalseNegative,
        other => panic!("metric {other}"),
    }
}

fn value_tolerance(metric: Metric) -> f64 {
    if metric == Metric::RocAuc {
        ROC_AUC
    } else {
        ESTIMATE
    }
}

#[test]
fn isotonic_regression_matches_scikit_learn() {
    let fx = fixture("isotonic.json");
    let mut worst = Worst::default();
    for case in fx["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("name");
        let weights = (!case["weights"].is_null()).then(|| nums(&case["weights"]));
        let iso = IsotonicRegression::fit(&nums(&case["x"]), &nums(&case["y"]), weights.as_deref())
            .expect("fit");
        let (kx, ky) = (nums(&case["x_thresholds"]), nums(&case["y_thresholds"]));
        assert_eq!(iso.x_thresholds().len(), kx.len(), "{name}: knots");
        for (i, (a, e)) in iso.x_thresholds().iter().zip(&kx).enumerate() {
            worst.check("knot x", *a, *e, 0.0, &format!("{name} knot {i}"));
        }
        for (i, (a, e)) in iso.y_thresholds().iter().zip(&ky).enumerate() {
            worst.check("knot y", *a, *e, ISOTONIC, &format!("{name} knot {i}"));
        }
        for (t, e) in nums(&case["t"]).into_iter().zip(nums(&case["expected"])) {
            worst.check(
                "prediction",
                iso.predict(t),
                e,
                ISOTONIC,
                &format!("{name} at {t}"),
            );
        }
    }
    worst.print("isotonic");
}

#[test]
fn permutations_are_numpys() {
    let fx = fixture("cbpe.json");
    for case in fx["mt19937_permutations"].as_array().expect("cases") {
        let (seed, n) = (
            case["seed"].as_u64().expect("seed"),
            case["n"].as_u64().expect("n"),
        );
        let perm = RandomState::new(seed as u32).permutation(n as usize);
        let head: Vec<usize> = perm.iter().take(12).copied().collect();
        assert_eq!(head, usizes(&case["head"]), "seed {seed} n {n}");
        let weighted: u64 = perm
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as u64 + 1) * v as u64)
            .sum();
        assert_eq!(
            weighted,
            case["weighted_sum"].as_u64().expect("sum"),
            "seed {seed} n {n}"
        );
    }
}

fn check_splits(case: &Value, reference: &[LabelledRow]) {
    let labels: Vec<bool> = reference.iter().map(|r| r.label).collect();
    let splits = stratified_shuffle_splits(&labels, 10, 0.1, 42).expect("splits");
    let expected = case["calibration"]["splits"].as_array().expect("splits");
    assert_eq!(splits.len(), expected.len());
    for (k, ((train, test), e)) in splits.iter().zip(expected).enumerate() {
        assert_eq!(
            train.len(),
            e["n_train"].as_u64().expect("n") as usize,
            "split {k}"
        );
        assert_eq!(
            test.len(),
            e["n_test"].as_u64().expect("n") as usize,
            "split {k}"
        );
        assert_eq!(
            train[..8].to_vec(),
            usizes(&e["train_head"]),
            "split {k} train"
        );
        assert_eq!(
            test[..8].to_vec(),
            usizes(&e["test_head"]),
            "split {k} test"
        );
        assert_eq!(
            train.iter().sum::<usize>() as u64,
            e["train_sum"].as_u64().expect("sum")
        );
        assert_eq!(
            test.iter().sum::<usize>() as u64,
            e["test_sum"].as_u64().expect("sum")
        );
        let weighted: u64 = test
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as u64 + 1) * v as u64)
            .sum();
        assert_eq!(
            weighted,
            e["test_weighted_sum"].as_u64().expect("sum"),
            "split {k}"
        );
    }
}

fn cells(c: &vigil_core::performance::Confusion) -> [(&'static str, usize); 4] {
    [
        ("true_positive", c.true_positive),
        ("true_negative", c.true_negative),
        ("false_positive", c.false_positive),
        ("false_negative", c.false_negative),
    ]
}

fn check_realized(chunk: &Value, rows: &[LabelledRow], worst: &mut Worst, context: &str) {
    let realized = realize(rows, 1);
    let sk = &chunk["sklearn_realized"];
    for (name, metric) in [
        ("accuracy", Metric::Accuracy),
        ("precision", Metric::Precision),
        ("recall", Metric::Recall),
        ("f1", Metric::F1),
        ("specificity", Metric::Specificity),
        ("roc_auc", Metric::RocAuc),
        ("log_loss", Metric::LogLoss),
    ] {
        let value = realized.value(metric).expect("defined");
        worst.check(
            &format!("realized {name} (sklearn)"),
            value,
            num(&sk[name]),
            REALIZED,
            context,
        );
        if let Some(nml) = chunk["metrics"].get(name) {
            worst.check(
                &format!("realized {name} (NannyML)"),
                value,
                num(&nml["realized"]),
                REALIZED,
                context,
            );
        }
    }
    let RealizedPerformance::Measured { confusion, .. } = realized else {
        panic!("{context}: measured");
    };
    for (name, count) in cells(&confusion) {
        assert_eq!(
            count as u64,
            sk[name].as_u64().expect("count"),
            "{context}: {name}"
        );
        assert_eq!(
            count as f64,
            num(&chunk["metrics"][name]["realized"]),
            "{context}: {name}"
        );
    }
}

#[test]
fn cbpe_matches_nannyml_on_synthetic_car_loan() {
    let fx = fixture("cbpe.json");
    let mut worst = Worst::default();
    for case in fx["cases"].as_array().expect("cases") {
        let score = case["score_column"].as_str().expect("score");
        let file = case["input"].as_str().expect("input");
        let label = format!("{file}:{score}");
        let (reference, analysis) = input(file, score);
        check_splits(case, &reference);

        let calibration = &case["calibration"];
        let labels: Vec<bool> = reference.iter().map(|r| r.label).collect();
        let scores: Vec<f64> = reference.iter().map(|r| r.score).collect();
        let decision = needs_calibration(&labels, &scores).expect("decision");
        assert_eq!(
            decision.calibrate,
            calibration["needs_calibration"].as_bool().expect("bool"),
            "{label}: calibration decision"
        );
        assert_eq!(
            decision.calibrate,
            case["estimator_needs_calibration"].as_bool().expect("bool")
        );
        worst.check(
            "ECE before (stable sort)",
            decision.ece_before.expect("ece"),
            num(&calibration["ece_before_stable_sort"]),
            1e-12,
            &label,
        );
        worst.check(
            "ECE after (stable sort)",
            decision.ece_after.expect("ece"),
            num(&calibration["ece_after_stable_sort"]),
            1e-12,
            &label,
        );

        let params = CbpeParams {
            chunking: Chunking::Size(case["chunk_size"].as_u64().expect("size") as usize),
            ..CbpeParams::default()
        };
        let cbpe = Cbpe::fit(&reference, &params).expect("fit");
        assert_eq!(cbpe.calibration(), &decision);
        let auc_component =
            vigil_core::performance::sampling_error_component(Metric::RocAuc, &reference);
        let components = &case["roc_auc_error_components"];
        worst.check(
            "ROC AUC error std (stable sort)",
            auc_component.std,
            num(&components["std_stable_sort"]),
            1e-15,
            &label,
        );

        let scored =
            |rows: &[LabelledRow]| rows.iter().map(|r| r.scored()).collect::<Vec<ScoredRow>>();
        let estimates: Vec<_> = cbpe
            .estimate(&scored(&reference))
            .expect("reference")
            .into_iter()
            .chain(cbpe.estimate(&scored(&analysis)).expect("analysis"))
            .collect();
        let chunks = case["chunks"].as_array().expect("chunks");
        assert_eq!(estimates.len(), chunks.len(), "{label}: chunks");
        let mut alerts = 0;
        for (estimate, chunk) in estimates.iter().zip(chunks) {
            let period = chunk["period"].as_str().expect("period");
            let context = format!(
                "{label} {period} chunk [{}:{}]",
                chunk["start_index"], chunk["end_index"]
            );
            assert_eq!(
                estimate.start as u64,
                chunk["start_index"].as_u64().expect("start")
            );
            assert_eq!(
                estimate.end as u64 - 1,
                chunk["end_index"].as_u64().expect("end")
            );
            for (name, expected) in chunk["metrics"].as_object().expect("metrics") {
                let metric = metric_of(name);
                let e = estimate.get(metric).expect("estimated");
                let what = |q: &str| format!("{q} {name}");
                worst.check_opt(
                    &what("estimate"),
                    e.value,
                    opt(&expected["value"]),
                    value_tolerance(metric),
                    &context,
                );
                let nml_error = num(&expected["sampling_error"]);
                let error_tol = if metric == Metric::RocAuc {
                    AUC_ERROR_RTOL
                } else {
                    ERROR_RTOL
                } * nml_error;
                worst.check(
                    &what("sampling error"),
                    e.sampling_error,
                    nml_error,
                    error_tol,
                    &context,
                );
                // ROC AUC's bounds carry its sampling error's tie-order difference.
                let bounds = value_tolerance(metric).max(BOUNDS);
                worst.check_opt(
                    &what("upper confidence"),
                    e.upper_confidence,
                    opt(&expected["upper_confidence_boundary"]),
                    bounds,
                    &context,
                );
                worst.check_opt(
                    &what("lower confidence"),
                    e.lower_confidence,
                    opt(&expected["lower_confidence_boundary"]),
                    bounds,
                    &context,
                );
                worst.check_opt(
                    &what("upper threshold"),
                    e.thresholds.upper,
                    opt(&expected["upper_threshold"]),
                    BOUNDS,
                    &context,
                );
                worst.check_opt(
                    &what("lower threshold"),
                    e.thresholds.lower,
                    opt(&expected["lower_threshold"]),
                    BOUNDS,
                    &context,
                );
                assert_eq!(
                    e.alert,
                    expected["alert"].as_bool().expect("alert"),
                    "{context}: alert {name}"
                );
                alerts += usize::from(e.alert);
            }
            let rows = if period == "reference" {
                &reference
            } else {
                &analysis
            };
            check_realized(
                chunk,
                &rows[estimate.start..estimate.end],
                &mut worst,
                &context,
            );
        }
        println!(
            "{label}: {} chunks, {alerts} alerts, calibrate = {}",
            chunks.len(),
            decision.calibrate
        );
    }
    worst.print("CBPE");
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, 0).single().expect("time")
}

#[test]
fn label_join_counts_and_intervals_are_exact() {
    let text = std::fs::read_to_string(dir().join("label_join.json")).expect("fixture");
    let fx: Value = serde_json::from_str(&text).expect("JSON");
    let window = &fx["window"];
    let int = |v: &Value| v.as_i64().expect("int");
    let mut join = LabelJoin::new(JoinParams {
        since: at(int(&window["since"])),
        until: at(int(&window["until"])),
        max_label_delay: Duration::seconds(int(&window["max_label_delay"])),
        label_budget: 10_000,
    });
    for label in fx["labels"].as_array().expect("labels") {
        join.add_label(LabelRecord {
            request_id: label["request_id"].as_str().expect("id"),
            positive: Some(int(&label["label"]) == 1),
            timestamp: at(int(&label["ts"])),
        })
        .expect("label");
    }
    let mut matcher = join.into_matcher();
    let previous = fx["previous_predictions"].as_array().expect("previous");
    for p in previous {
        matcher.add_prediction(PredictionRecordRef {
            request_id: p["request_id"].as_str().expect("id"),
            timestamp: at(int(&p["ts"])),
            score: 0.5,
            predicted: false,
        });
    }
    for p in fx["predictions"].as_array().expect("predictions") {
        matcher.add_prediction(PredictionRecordRef {
            request_id: p["request_id"].as_str().expect("id"),
            timestamp: at(int(&p["ts"])),
            score: num(&p["score"]),
            predicted: int(&p["predicted"]) == 1,
        });
    }
    let (rows, counts) = matcher.finish();
    let e = &fx["expected"];
    let count = |name: &str| e[name].as_u64().expect(name) as usize;
    assert_eq!(counts.predictions, count("predictions"));
    assert_eq!(counts.labels_read, count("labels_read"));
    assert_eq!(counts.labelled, count("labelled"));
    assert_eq!(counts.late, count("late"));
    assert_eq!(counts.duplicates, count("duplicates"));
    assert_eq!(counts.orphans, count("orphans"));
    assert_eq!(counts.previous_window, count("previous_window"));
    assert_eq!(counts.label_coverage, num(&e["label_coverage"]));
    assert!(counts.late > 0 && counts.duplicates > 0 && counts.orphans > 0);

    let min = window["min_labeled_samples"].as_u64().expect("min") as usize;
    let realized = realize(&rows, min);
    let RealizedPerformance::Measured { confusion, .. } = &realized else {
        panic!("enough labels");
    };
    for (name, value) in cells(confusion) {
        assert_eq!(
            value as u64,
            e["confusion"][name].as_u64().expect("count"),
            "{name}"
        );
    }
    let mut worst = Worst::default();
    for (name, metric) in [
        ("accuracy", Metric::Accuracy),
        ("precision", Metric::Precision),
        ("recall", Metric::Recall),
        ("f1", Metric::F1),
        ("roc_auc", Metric::RocAuc),
        ("log_loss", Metric::LogLoss),
    ] {
        let expected = &e["metrics"][name];
        let m = realized.get(metric).expect("metric");
        worst.check(
            &format!("{name} value"),
            m.value.expect("value"),
            num(&expected["value"]),
            REALIZED,
            name,
        );
        if let Some(se) = opt(&expected["standard_error"]) {
            worst.check(
                &format!("{name} standard error"),
                m.standard_error.expect("se"),
                se,
                REALIZED,
                name,
            );
        }
        let interval = m.interval.expect("interval");
        let bounds = nums(&expected["interval"]);
        worst.check(
            &format!("{name} interval lower"),
            interval.lower,
            bounds[0],
            REALIZED,
            name,
        );
        worst.check(
            &format!("{name} interval upper"),
            interval.upper,
            bounds[1],
            REALIZED,
            name,
        );
    }
    worst.print("label join");
    // The same window with too few labels gives no number.
    assert_eq!(
        realize(&rows[..min - 1], min),
        RealizedPerformance::InsufficientLabels {
            labelled: min - 1,
            min_labeled_samples: min
        }
    );
}
