//! `vigil drift` end to end over a `file://` store (scheduled mode) and two files
//! (ad-hoc mode), `vigil inject`'s request files, and a reduced, seeded run of the
//! detection trials on Adult so the detection rates cannot silently regress.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use chrono::{Duration, TimeZone, Utc};
use vigil_core::data::prediction_log::{batch_key, encode_batch, FEEDBACK_PREFIX, LOGS_PREFIX};
use vigil_core::data::storage::Store;
use vigil_core::drift::{DriftRules, DriftSummary, Verdict};
use vigil_core::train::artifact::{latest_version, ModelArtifact};
use vigil_core::train::config::TrainJobConfig;
use vigil_core::wire::SUMMARY_LIMIT;
use vigil_core::wire::{FeedbackRecord, PredictionRecord};
use vigil_jobs::drift::{check_files, check_store, AdhocInput, DriftJobConfig};
use vigil_jobs::inject::{inject, requests_jsonl, DriftKind, InjectSpec, RampProfile, Rows};
use vigil_jobs::trials::{self, TrialConfig};

fn adult() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/data/adult.csv.gz")
}

async fn train_adult(store: &Path) -> ModelArtifact {
    let mut config = TrainJobConfig::from_text(trials::ADULT_CONFIG, "train-adult.yaml").unwrap();
    config.training.data.uri = adult().display().to_string();
    config.storage.uri = store.display().to_string();
    vigil_jobs::train::train(&config, Utc::now(), &|_| {})
        .await
        .unwrap()
        .artifact
}

fn test_rows(schema: &vigil_core::data::schema::FeatureSchema) -> Rows {
    let raw = vigil_jobs::drift::read_table(&adult()).unwrap();
    let split = raw.column("split").unwrap().to_vec();
    let test = raw.filter_rows(|r| split[r].as_deref() == Some("test"));
    Rows::from_raw(schema, &test).unwrap()
}

fn records(
    model: &ModelArtifact,
    rows: &Rows,
    start: chrono::DateTime<Utc>,
) -> Vec<PredictionRecord> {
    let probabilities = trials::predict(model, rows);
    (0..rows.n_rows())
        .map(|i| {
            let p = &probabilities[i];
            let class = usize::from(p[1] > p[0]);
            PredictionRecord {
                request_id: format!("r{i}"),
                timestamp: start + Duration::milliseconds(i as i64 * 500),
                model_version: model.version.clone(),
                features: model
                    .schema
                    .features
                    .iter()
                    .zip(&rows.columns)
                    .map(|(f, c)| (f.name.clone(), c[i].clone()))
                    .collect(),
                predicted_class: model.schema.target.classes[class].clone(),
                probabilities: p.clone(),
                latency_us: 50,
            }
        })
        .collect()
}

#[tokio::test]
async fn scheduled_check_over_a_store_writes_reports_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let model = train_adult(dir.path()).await;
    let store = Store::open(&dir.path().display().to_string()).unwrap();
    assert_eq!(latest_version(&store).await.unwrap(), model.version);
    let now = Utc
        .with_ymd_and_hms(2026, 11, 28, 18, 0, 0)
        .single()
        .unwrap();
    let start = now - Duration::hours(2);
    let pool = test_rows(&model.schema);
    let clean = pool.select(&(0..3000).collect::<Vec<_>>());
    let logged = records(&model, &clean, start);
    for (seq, chunk) in logged.chunks(700).enumerate() {
        let key = batch_key(LOGS_PREFIX, chunk[0].timestamp, "pod-a", seq as u64);
        store.put(&key, encode_batch(chunk)).await.unwrap();
    }
    // Old records outside the 6 h window are ignored.
    let old = records(
        &model,
        &pool.select(&[5000, 5001]),
        now - Duration::hours(30),
    );
    store
        .put(
            &batch_key(LOGS_PREFIX, old[0].timestamp, "pod-a", 99),
            encode_batch(&old),
        )
        .await
        .unwrap();
    let config = DriftJobConfig {
        model: Some("adult".into()),
        storage: vigil_core::data::storage::StorageSpec {
            uri: dir.path().display().to_string(),
            secret_ref: None,
        },
        served_version: None,
        policy: DriftRules::default(),
        namespace: None,
        policy_name: None,
    };
    let outcome = check_store(&config, now, &|_| {}).await.unwrap();
    let a = &outcome.report.assessment;
    assert_eq!(a.current_rows, 3000);
    assert_eq!(
        a.verdict,
        Verdict::None,
        "{:#?}",
        a.features.iter().map(|f| &f.rule).collect::<Vec<_>>()
    );
    assert!(
        outcome
            .report_uri
            .ends_with("reports/drift/20261128T180000Z.json"),
        "{}",
        outcome.report_uri
    );
    let json: serde_json::Value = serde_json::from_slice(
        &store
            .get("reports/drift/20261128T180000Z.json")
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(json["verdict"], "None");
    assert_eq!(json["modelVersion"], model.version.as_str());
    let html = String::from_utf8(
        store
            .get("reports/drift/20261128T180000Z.html")
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(html.contains("<svg") && html.contains("age") && !html.contains("<script"));
    let message = outcome.summary.to_termination_message();
    assert!(message.len() <= SUMMARY_LIMIT);
    let back: DriftSummary = serde_json::from_str(&message).unwrap();
    assert_eq!(back.verdict(), Some(Verdict::None));

    // Drifted traffic plus labels whose relationship changed: a later check is Critical.
    let mut drifted = pool.select(&(3000..6000).collect::<Vec<_>>());
    inject(
        &model.schema,
        &mut drifted,
        &InjectSpec {
            kind: DriftKind::MeanShift,
            intensity: 0.5,
            profile: RampProfile::Sudden,
            feature: Some("age".into()),
            seed: 1,
        },
    )
    .unwrap();
    let later = now + Duration::hours(7);
    let start = later - Duration::hours(1);
    let logged = records(&model, &drifted, start);
    store
        .put(
            &batch_key(LOGS_PREFIX, logged[0].timestamp, "pod-b", 0),
            encode_batch(&logged),
        )
        .await
        .unwrap();
    let feedback: Vec<FeedbackRecord> = logged
        .iter()
        .zip(drifted.labels.as_ref().unwrap())
        .filter_map(|(r, l)| {
            l.map(|l| FeedbackRecord {
                request_id: r.request_id.clone(),
                label: model.schema.target.classes[l].clone(),
                timestamp: later - Duration::minutes(1),
            })
        })
        .collect();
    store
        .put(
            &batch_key(FEEDBACK_PREFIX, feedback[0].timestamp, "pod-b", 0),
            encode_batch(&feedback),
        )
        .await
        .unwrap();
    let outcome = check_store(&config, later, &|_| {}).await.unwrap();
    let a = &outcome.report.assessment;
    assert_eq!(a.drift_verdict, Verdict::Critical);
    assert_eq!(a.drifted_features.first().map(String::as_str), Some("age"));
    let performance = a.performance.as_ref().expect("labels were joined");
    assert_eq!(performance.current_labelled, 3000);
}

#[tokio::test]
async fn scheduled_check_failures_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let config = vigil_jobs::drift::parse_config(
        &format!("storage: {{uri: {}}}\n", dir.path().display()),
        "c.yaml",
    )
    .unwrap();
    let err = check_store(&config, Utc::now(), &|_| {})
        .await
        .expect_err("empty store");
    assert_eq!(err.reason(), "ReferenceUnavailable");
    assert!(err.to_string().contains("no model version"), "{err}");
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn adhoc_check_of_two_files_writes_json_and_html() {
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("schema.yaml");
    write(&schema, "target: {name: y, classes: [a, b]}\nfeatures:\n  - {name: x, type: numeric}\n  - {name: c, type: categorical}\n");
    let mut reference = String::from("x,c,y\n");
    let mut current = String::from("{\"x\": 1, \"c\": \"p\"}\n");
    for i in 0..2000 {
        reference.push_str(&format!("{},{},a\n", i % 50, ["p", "q"][i % 2]));
        current.push_str(&format!(
            "{{\"x\": {}, \"c\": \"{}\"}}\n",
            i % 50 + 20,
            ["p", "q"][i % 2]
        ));
    }
    write(&dir.path().join("ref.csv"), &reference);
    write(&dir.path().join("cur.jsonl"), &current);
    let input = AdhocInput {
        reference: dir.path().join("ref.csv"),
        current: dir.path().join("cur.jsonl"),
        schema: Some(vigil_jobs::drift::read_schema(&schema).unwrap()),
        model: None,
        policy: DriftRules::default(),
        out_dir: Some(dir.path().join("out")),
    };
    let now = Utc
        .with_ymd_and_hms(2026, 11, 28, 18, 0, 0)
        .single()
        .unwrap();
    let outcome = check_files(&input, now).unwrap();
    assert_eq!(outcome.report.assessment.verdict, Verdict::Critical);
    assert_eq!(
        outcome.report.assessment.drifted_features,
        vec!["x".to_string()]
    );
    assert!(dir.path().join("out/20261128T180000Z.json").is_file());
    assert!(dir.path().join("out/20261128T180000Z.html").is_file());

    // A missing column is named with the file.
    write(&dir.path().join("bad.csv"), "x,y\n1,a\n");
    let bad = AdhocInput {
        current: dir.path().join("bad.csv"),
        ..input.clone()
    };
    let err = check_files(&bad, now).expect_err("missing column");
    assert_eq!(err.reason(), "InvalidData");
    assert!(
        err.to_string().contains("bad.csv") && err.to_string().contains("c"),
        "{err}"
    );
    let missing = AdhocInput {
        reference: dir.path().join("nope.csv"),
        ..input.clone()
    };
    assert!(check_files(&missing, now)
        .expect_err("missing file")
        .to_string()
        .contains("nope.csv"));
    let no_schema = AdhocInput {
        schema: None,
        ..input
    };
    assert_eq!(
        check_files(&no_schema, now)
            .expect_err("no schema")
            .reason(),
        "InvalidConfig"
    );
}

#[tokio::test]
async fn detection_trials_reduced_and_seeded() {
    let dir = tempfile::tempdir().unwrap();
    let setup = trials::setup_adult(&adult(), dir.path()).await.unwrap();
    // The injected request files use the benchmark's body format.
    let mut rows = setup.pool.select(&[0, 1, 2]);
    inject(
        &setup.model.schema,
        &mut rows,
        &InjectSpec {
            kind: DriftKind::NewCategory,
            intensity: 1.0,
            profile: RampProfile::Sudden,
            feature: Some("workclass".into()),
            seed: 3,
        },
    )
    .unwrap();
    let line: serde_json::Value = serde_json::from_str(
        requests_jsonl(&setup.model.schema, &rows, "req")
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(line["request_id"], "req-0");
    assert_eq!(line["features"].as_object().unwrap().len(), 14);

    let config = TrialConfig {
        trials_per_kind: 4,
        clean_trials: 12,
        seed: 7,
        ..TrialConfig::default()
    };
    let table = tokio::task::spawn_blocking(move || trials::run(&setup, &config, &|_, _| {}))
        .await
        .unwrap()
        .unwrap();
    eprintln!("{}", trials::markdown(&table));
    let clean = &table[0];
    assert_eq!(clean.kind, "clean");
    assert_eq!(clean.critical, 0, "{clean:?}");
    assert!(clean.warning <= 1, "{clean:?}");
    for row in &table[1..] {
        assert_eq!(row.detected(), row.trials, "{row:?}");
    }
}
