//! `vigil performance` as a real process on NannyML's synthetic car-loan data (the
//! golden fixture's inputs): exit codes, the JSON report against the fixture's CBPE
//! values, the HTML page, and refusals with their reasons.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

const VIGIL: &str = env!("CARGO_BIN_EXE_vigil");

fn fixture_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("core/tests/fixtures/performance")
}

/// Writes reference.csv and current.csv (every third current label removed).
fn write_inputs(dir: &Path) {
    let mut text = String::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(fixture_dir().join("car_loan.csv.gz")).unwrap(),
    )
    .read_to_string(&mut text)
    .unwrap();
    let (mut reference, mut current) = (
        String::from("score,prediction,label\n"),
        String::from("score,prediction,label\n"),
    );
    for (i, line) in text.lines().skip(1).enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        let label = if cells[3] == "1.0" { "yes" } else { "no" };
        let prediction = if cells[2] == "1" { "yes" } else { "no" };
        if cells[0] == "reference" {
            reference.push_str(&format!("{},{prediction},{label}\n", cells[1]));
        } else {
            let label = if i % 3 == 0 { "" } else { label };
            current.push_str(&format!("{},{prediction},{label}\n", cells[1]));
        }
    }
    std::fs::write(dir.join("reference.csv"), reference).unwrap();
    std::fs::write(dir.join("current.csv"), current).unwrap();
}

fn run(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(VIGIL)
        .args(["performance", "--reference"])
        .arg(dir.join("reference.csv"))
        .arg("--current")
        .arg(dir.join("current.csv"))
        .args(["--positive-class", "yes", "--out"])
        .arg(dir.join("out"))
        .args(extra)
        .output()
        .expect("vigil runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn estimates_match_the_fixture_and_reports_are_written() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path());
    let (code, stdout, stderr) = run(dir.path(), &["--chunk-size", "5000"]);
    // Alerts in the shifted half, and a sustained recall gap: exit 2.
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stdout.contains("calibration isotonic"), "{stdout}");
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/performance.json")).unwrap(),
    )
    .unwrap();
    let fixture: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_dir().join("cbpe.json")).unwrap())
            .unwrap();
    let expected: Vec<&Value> = fixture["cases"][0]["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["period"] == "analysis")
        .collect();
    let windows = report["windows"].as_array().unwrap();
    assert_eq!(windows.len(), expected.len());
    for (w, e) in windows.iter().zip(expected) {
        let estimate = w["estimates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["metric"] == "rocAuc")
            .unwrap();
        let nml: f64 = e["metrics"]["roc_auc"]["value"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((estimate["value"].as_f64().unwrap() - nml).abs() < 1e-4);
        assert_eq!(estimate["alert"], e["metrics"]["roc_auc"]["alert"]);
        assert_eq!(w["realized"]["status"], "measured");
        assert!(w["labelled"].as_u64().unwrap() < w["rows"].as_u64().unwrap());
    }
    let html = std::fs::read_to_string(dir.path().join("out/performance.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("Windows"));
}

#[test]
fn refusals_and_bad_input_exit_4_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("current.csv"),
        "score,prediction,label\n0.5,yes,\n",
    )
    .unwrap();
    let single: String = std::iter::once("score,prediction,label\n".to_string())
        .chain((0..50).map(|i| format!("0.{},yes,yes\n", i % 9 + 1)))
        .collect();
    std::fs::write(dir.path().join("reference.csv"), single).unwrap();
    let (code, _, stderr) = run(dir.path(), &[]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("SingleClassReference"), "{stderr}");

    std::fs::write(
        dir.path().join("reference.csv"),
        "score,prediction,label\n,yes,no\n",
    )
    .unwrap();
    let (code, _, stderr) = run(dir.path(), &[]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("NonFiniteScore"), "{stderr}");

    let (code, _, stderr) = run(dir.path(), &["--score-column", "nope"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("`nope` is missing"), "{stderr}");
}
