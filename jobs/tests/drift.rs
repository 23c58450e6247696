//! `vigil drift` end to end over a `file://` store (scheduled mode) and two files
//! (ad-hoc mode), `vigil inject`'s request files, and a reduced, seeded run of the
//! detection trials on Adult so the detection rates cannot silently regress.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use chrono::{Duration, TimeZone, Utc};
use vigil_core::data::prediction_log::{batch_key, encode_batch, FEEDBACK_PREFIX, LOGS_PREFIX};
use vigil_core::data::schema::Value;
use vigil_core::data::storage::Store;
use vigil_core::drift::profile::{encode_profile, profile_key, BatchProfiler};
use vigil_core::drift::rules::ModelPerformanceSpec;
use vigil_core::drift::{DriftRules, DriftSummary, Verdict};
use vigil_core::performance::{CheckPerformance, Metric};
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
        policy: with_performance(),
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
    // Performance: estimated from the scores alone (no label yet), against the hold-out.
    let CheckPerformance::Assessed {
        window,
        labels,
        reference,
        estimated_alerts,
        ..
    } = outcome
        .report
        .model_performance
        .as_ref()
        .expect("performance")
    else {
        panic!("{:?}", outcome.report.model_performance);
    };
    assert_eq!(reference.rows, model.lineage.rows_holdout);
    assert_eq!(
        (window.rows, labels.predictions, labels.labelled),
        (3000, 3000, 0)
    );
    assert!(window.realized.is_none() && estimated_alerts.is_empty());
    let estimated_auc = window.estimated(Metric::RocAuc).unwrap();
    assert!(
        (estimated_auc - model.metrics.roc_auc.unwrap()).abs() < 0.03,
        "estimated {estimated_auc}, hold-out {:?}",
        model.metrics.roc_auc
    );
    let DriftSummary::Succeeded {
        model_performance: Some(brief),
        ..
    } = &back
    else {
        panic!("no performance in the summary: {message}");
    };
    assert_eq!(
        brief.estimated(Metric::RocAuc).unwrap().value,
        estimated_auc
    );
    assert!(brief.realized.is_empty() && brief.labelled == 0);
    assert_eq!(outcome.report.trend.len(), 1);

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
    // The rows keep their own labels (covariate shift): the estimate follows the
    // realized value, and the trend holds both checks.
    let brief = outcome.report.performance_brief().expect("performance");
    assert_eq!(brief.labelled, 3000);
    assert!((brief.label_coverage - 1.0).abs() < 1e-12);
    let (estimated, realized) = (
        brief.estimated(Metric::RocAuc).unwrap(),
        brief.realized(Metric::RocAuc).unwrap(),
    );
    assert!(
        (estimated.value - realized.value).abs() < 0.03,
        "{estimated:?} {realized:?}"
    );
    assert!(!brief.concept_drift);
    let trend = &outcome.report.trend;
    assert_eq!(trend.len(), 2);
    assert_eq!((trend[0].checked_at, trend[1].checked_at), (now, later));
    assert_eq!(trend[1].verdict, Verdict::Critical);
    assert!(trend[1].psi.iter().any(|(f, psi)| f == "age" && *psi > 0.2));
}

/// Writes `logged` as log batches of `size` rows; every batch but those in `without`
/// also gets the profile a server writes beside it.
async fn write_batches(
    store: &Store,
    model: &ModelArtifact,
    logged: &[PredictionRecord],
    size: usize,
    without: &[usize],
) {
    for (seq, chunk) in logged.chunks(size).enumerate() {
        let key = batch_key(LOGS_PREFIX, chunk[0].timestamp, "pod-a", seq as u64);
        store.put(&key, encode_batch(chunk)).await.unwrap();
        if !without.contains(&seq) {
            let mut profiler = BatchProfiler::new(&model.schema);
            for r in chunk {
                profiler.observe_record(r);
            }
            let profile = encode_profile(&profiler.finish());
            store
                .put(&profile_key(&key).unwrap(), profile)
                .await
                .unwrap();
        }
    }
}

/// The default policy with a `performance` block (off without one).
fn with_performance() -> DriftRules {
    DriftRules {
        performance: ModelPerformanceSpec::default(),
        ..DriftRules::default()
    }
}

fn config_of(dir: &Path, policy: DriftRules) -> DriftJobConfig {
    DriftJobConfig {
        model: Some("adult".into()),
        storage: vigil_core::data::storage::StorageSpec {
            uri: dir.display().to_string(),
            secret_ref: None,
        },
        served_version: None,
        policy,
        namespace: None,
        policy_name: None,
    }
}

#[tokio::test]
async fn scheduled_check_merges_batch_profiles_like_it_reads_logs() {
    let (with, without) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let model = train_adult(with.path()).await;
    copy_dir(&with.path().join("models"), &without.path().join("models"));
    let now = Utc
        .with_ymd_and_hms(2026, 11, 28, 18, 0, 0)
        .single()
        .unwrap();
    let pool = test_rows(&model.schema);
    // 5 000 rows over ~42 minutes, the first batch starting before the window: its
    // profile cannot be used (it covers rows outside), so its log batch is read.
    let start = now - Duration::hours(6) - Duration::minutes(2);
    let mut logged = records(&model, &pool.select(&(0..5000).collect::<Vec<_>>()), start);
    for (i, r) in logged.iter_mut().enumerate().skip(500) {
        r.timestamp = now - Duration::minutes(40) + Duration::milliseconds(i as i64 * 400);
    }
    let labels = ["<=50K", ">50K"];
    let feedback: Vec<FeedbackRecord> = logged
        .iter()
        .step_by(3)
        .enumerate()
        .map(|(i, r)| FeedbackRecord {
            request_id: r.request_id.clone(),
            label: labels[i % 2].into(),
            timestamp: now - Duration::minutes(5),
        })
        .collect();
    for dir in [with.path(), without.path()] {
        let store = Store::open(&dir.display().to_string()).unwrap();
        let key = batch_key(FEEDBACK_PREFIX, feedback[0].timestamp, "pod-a", 0);
        store.put(&key, encode_batch(&feedback)).await.unwrap();
    }
    // An older server wrote batch 2 without a profile.
    let store = Store::open(&with.path().display().to_string()).unwrap();
    write_batches(&store, &model, &logged, 1000, &[2]).await;
    let plain = Store::open(&without.path().display().to_string()).unwrap();
    write_batches(&plain, &model, &logged, 1000, &[0, 1, 2, 3, 4]).await;

    let a = check_store(&config_of(with.path(), DriftRules::default()), now, &|_| {})
        .await
        .unwrap();
    // Without a `performance` block the check reads the profiles only.
    assert!(a.report.model_performance.is_none());
    let b = check_store(
        &config_of(without.path(), DriftRules::default()),
        now,
        &|_| {},
    )
    .await
    .unwrap();
    let current = &a.report.current.description;
    assert!(
        current.contains("(3 batch profiles, 2 log batches decoded)"),
        "{current}"
    );
    let (a, b) = (&a.report.assessment, &b.report.assessment);
    assert_eq!(a.current_rows, 4_760);
    assert_eq!(
        (a.current_rows, a.verdict, a.drift_verdict),
        (b.current_rows, b.verdict, b.drift_verdict)
    );
    for (x, y) in a.features.iter().zip(&b.features) {
        assert_eq!(
            (x.verdict, x.current_count),
            (y.verdict, y.current_count),
            "{}",
            x.name
        );
        assert_eq!(x.current_missing_rate, y.current_missing_rate);
        match x.sketch_cdf_error {
            None => assert_eq!((x.statistic, x.psi), (y.statistic, y.psi), "{}", x.name),
            Some(bound) => assert!(
                (x.statistic.unwrap() - y.statistic.unwrap()).abs() <= bound,
                "{}",
                x.name
            ),
        }
    }
    let (pa, pb) = (
        a.performance.as_ref().unwrap(),
        b.performance.as_ref().unwrap(),
    );
    assert_eq!(
        (pa.current_labelled, pa.current_accuracy),
        (pb.current_labelled, pb.current_accuracy)
    );
    assert_eq!(a.quality, b.quality);
}

#[tokio::test]
async fn shards_of_a_window_merge_into_the_one_pod_check() {
    let dir = tempfile::tempdir().unwrap();
    let model = train_adult(dir.path()).await;
    let store = Store::open(&dir.path().display().to_string()).unwrap();
    let now = Utc
        .with_ymd_and_hms(2026, 11, 28, 18, 0, 0)
        .single()
        .unwrap();
    let pool = test_rows(&model.schema);
    let mut logged = records(
        &model,
        &pool.select(&(0..7000).collect::<Vec<_>>()),
        now - Duration::hours(3),
    );
    // Some duplicate ids across batches, and labels for every fourth row.
    for i in (0..7000).step_by(97) {
        logged[i].request_id = "dup".into();
    }
    write_batches(&store, &model, &logged, 900, &[3]).await;
    let feedback: Vec<FeedbackRecord> = logged
        .iter()
        .step_by(4)
        .map(|r| FeedbackRecord {
            request_id: r.request_id.clone(),
            label: "<=50K".into(),
            timestamp: now - Duration::minutes(1),
        })
        .collect();
    let key = batch_key(FEEDBACK_PREFIX, feedback[0].timestamp, "pod-a", 0);
    store.put(&key, encode_batch(&feedback)).await.unwrap();
    let config = config_of(dir.path(), DriftRules::default());

    let whole = check_store(&config, now, &|_| {}).await.unwrap();
    // The Indexed Job's merge step starts with the shards and waits for their partials.
    let merge_done = std::cell::Cell::new(false);
    let merging = async {
        let wait = vigil_jobs::drift::PartialsWait {
            first: std::time::Duration::from_millis(5),
            max: std::time::Duration::from_millis(20),
        };
        vigil_jobs::drift::await_partials(&config, now, 3, wait)
            .await
            .unwrap();
        merge_done.set(true);
        vigil_jobs::drift::merge_shards(&config, now, 3, &|_| {}).await
    };
    let shards = async {
        for index in 0..3 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            assert!(
                !merge_done.get(),
                "the merge did not wait for shard {index}"
            );
            let shard = vigil_jobs::drift::Shard::new(index, 3).unwrap();
            let done = vigil_jobs::drift::check_shard(&config, now, shard, &|_| {})
                .await
                .unwrap();
            assert!(done.partial_uri.ends_with(&format!(
                "partials/20261128T180000Z/{index}-of-3.profile.json.gz"
            )));
            assert!(done.batches >= 2, "{done:?}");
            assert!(done
                .describe(shard)
                .starts_with(&format!("drift shard {index} of 3: ")));
        }
    };
    let (merged, ()) = tokio::time::timeout(std::time::Duration::from_secs(120), async {
        tokio::join!(merging, shards)
    })
    .await
    .expect("the merge ends once the partials are there");
    let merged = merged.unwrap();
    assert_eq!(merged.summary, whole.summary, "the one-Pod check's summary");
    let (a, b) = (&whole.report.assessment, &merged.report.assessment);
    assert_eq!(a.current_rows, 7000);
    assert_eq!((a.verdict, a.drift_verdict), (b.verdict, b.drift_verdict));
    assert_eq!(a.features, b.features);
    // The score's KLL sketches were merged in another order: within their bound.
    let (pa, pb) = (
        a.prediction.as_ref().unwrap(),
        b.prediction.as_ref().unwrap(),
    );
    assert_eq!((pa.verdict, pa.class_chi2), (pb.verdict, pb.class_chi2));
    let bound = pa.score_sketch_cdf_error.unwrap();
    assert!((pa.score_ks.unwrap() - pb.score_ks.unwrap()).abs() <= 2.0 * bound);
    assert_eq!(a.performance, b.performance);
    assert_eq!(a.quality, b.quality);
    assert!(merged
        .report
        .current
        .description
        .contains("3 shard partials"));

    let err = vigil_jobs::drift::merge_shards(&config, now, 4, &|_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("0-of-4"), "{err}");
    assert!(vigil_jobs::drift::Shard::new(3, 3).is_err());
}

#[tokio::test]
async fn a_decision_that_could_flip_within_the_bounds_is_computed_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let model = train_adult(dir.path()).await;
    let store = Store::open(&dir.path().display().to_string()).unwrap();
    let now = Utc
        .with_ymd_and_hms(2026, 11, 28, 18, 0, 0)
        .single()
        .unwrap();
    let pool = test_rows(&model.schema);
    let mut logged = records(
        &model,
        &pool.select(&(0..12_000).collect::<Vec<_>>()),
        now - Duration::hours(2),
    );
    for r in &mut logged {
        if let Some(Value::Number(x)) = r.features.get_mut("fnlwgt") {
            *x = (*x * 1.15).round();
        }
    }
    // 4 000-row batches: too many distinct fnlwgt values for exact counts, so KLL.
    write_batches(&store, &model, &logged, 4_000, &[]).await;
    // The exact D of fnlwgt, from a check over the logs alone.
    let logs_only = tempfile::tempdir().unwrap();
    copy_dir(&dir.path().join("models"), &logs_only.path().join("models"));
    let plain = Store::open(&logs_only.path().display().to_string()).unwrap();
    write_batches(&plain, &model, &logged, 4_000, &[0, 1, 2]).await;
    let exact = check_store(
        &config_of(logs_only.path(), DriftRules::default()),
        now,
        &|_| {},
    )
    .await
    .unwrap();
    let fnlwgt = |a: &vigil_core::drift::Assessment| {
        a.features
            .iter()
            .find(|f| f.name == "fnlwgt")
            .unwrap()
            .clone()
    };
    let d = fnlwgt(&exact.report.assessment).statistic.unwrap();
    // A policy whose only effect floor is that D: on the sketch, the decision could go
    // either way, so it is taken on the exact values.
    let mut policy = DriftRules::default();
    policy.tests.effect_size.ks_statistic = d;
    policy.tests.effect_size.jensen_shannon = 1.0;
    policy.tests.effect_size.wasserstein = 100.0;
    policy.tests.psi.warning = 50.0;
    policy.tests.psi.critical = 100.0;
    let merged = check_store(&config_of(dir.path(), policy.clone()), now, &|_| {})
        .await
        .unwrap();
    let exact = check_store(&config_of(logs_only.path(), policy), now, &|_| {})
        .await
        .unwrap();
    let (m, e) = (&merged.report.assessment, &exact.report.assessment);
    assert!(
        m.recomputed_exactly.contains(&"fnlwgt".to_string()),
        "{:?}",
        m.recomputed_exactly
    );
    assert!(e.recomputed_exactly.is_empty());
    assert_eq!(fnlwgt(m).verdict, Verdict::Warning, "{}", fnlwgt(m).rule);
    assert_eq!(
        (fnlwgt(m).verdict, fnlwgt(m).statistic),
        (fnlwgt(e).verdict, fnlwgt(e).statistic)
    );
    assert_eq!(fnlwgt(m).sketch_cdf_error, None);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
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

#[test]
fn adhoc_files_stream_in_chunks_like_they_parse_whole() {
    let dir = tempfile::tempdir().unwrap();
    let schema: vigil_core::data::schema::FeatureSchema = serde_yaml::from_str(
        "target: {name: y, classes: [a, b]}\nfeatures:\n  - {name: x, type: numeric, max: 900}\n  - {name: c, type: categorical, nullable: true}\n",
    )
    .unwrap();
    // ~9 MB: three chunks; quoted cells with commas and newlines; empty and bad cells.
    let mut csv = String::from("request_id,x,c,y\n");
    for i in 0..300_000 {
        let c = match i % 7 {
            0 => "\"multi\nline, quoted\"".to_string(),
            1 => String::new(),
            k => format!("c{k}"),
        };
        let x = if i % 101 == 0 {
            "oops".to_string()
        } else {
            format!("{}", (i * 37) % 1000)
        };
        csv.push_str(&format!("r{},{x},{c},a\n", i % 250_000));
    }
    let path = dir.path().join("big.csv.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, csv.as_bytes()).unwrap();
    std::fs::write(&path, gz.finish().unwrap()).unwrap();
    let streamed = vigil_jobs::drift::profile_file(&path, &schema, None, 2).unwrap();
    let table = vigil_core::data::dataset::RawTable::parse(
        csv.as_bytes(),
        vigil_core::data::dataset::DataFormat::Csv,
    )
    .unwrap();
    let mut whole = vigil_core::drift::WindowProfile::new(&schema);
    whole.rows = table.n_rows() as u64;
    for (column, spec) in whole.columns.iter_mut().zip(&schema.features) {
        for cell in table.column(&spec.name).unwrap() {
            column.observe_text(spec, cell.as_deref());
        }
    }
    assert_eq!(streamed.rows, 300_000);
    for (a, b) in streamed.columns.iter().zip(&whole.columns) {
        assert_eq!(
            (a.rows, a.missing, a.parse_errors, a.out_of_range),
            (b.rows, b.missing, b.parse_errors, b.out_of_range)
        );
        assert_eq!(a.numeric.sorted(), b.numeric.sorted());
        let sorted = |p: &vigil_core::drift::ColumnProfile| {
            let mut c: Vec<(String, u64)> = p
                .categories
                .iter()
                .map(|(k, n)| (k.to_string(), n))
                .collect();
            c.sort();
            c
        };
        assert_eq!(sorted(a), sorted(b));
    }
    let ids = streamed.ids.as_ref().unwrap();
    assert!((ids.duplicate_rate() - 50_000.0 / 300_000.0).abs() < 1e-9);

    std::fs::write(dir.path().join("ragged.csv"), "x,c\n1,a\n2,b,extra\n").unwrap();
    let err = vigil_jobs::drift::profile_file(&dir.path().join("ragged.csv"), &schema, None, 2)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("ragged.csv") && err.contains("line 3"),
        "{err}"
    );
}

#[tokio::test]
async fn parquet_logs_and_profiles_read_in_pyarrow_duckdb_and_datasketches() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().display().to_string()).unwrap();
    let schema: vigil_core::data::schema::FeatureSchema = serde_yaml::from_str(
        "target: {name: y, classes: [no, yes]}\nfeatures:\n  - {name: age, type: numeric}\n  - {name: income, type: numeric}\n  - {name: colour, type: categorical, nullable: true}\n",
    )
    .unwrap();
    let start = Utc
        .with_ymd_and_hms(2026, 11, 28, 16, 58, 0)
        .single()
        .unwrap();
    let rows: Vec<PredictionRecord> = (0..9_000)
        .map(|i| PredictionRecord {
            request_id: format!("r{i}"),
            timestamp: start + Duration::milliseconds(i * 40),
            model_version: "v1".into(),
            features: [
                ("age".to_string(), Value::Number((20 + i % 50) as f64)),
                (
                    "income".to_string(),
                    Value::Number(1000.0 + (i * 7919 % 9000) as f64 / 7.0),
                ),
                (
                    "colour".to_string(),
                    if i % 10 == 0 {
                        Value::Missing
                    } else {
                        Value::Category(["red", "blue"][i as usize % 2].into())
                    },
                ),
            ]
            .into_iter()
            .collect(),
            predicted_class: ["no", "yes"][i as usize % 2].into(),
            probabilities: vec![0.75, 0.25],
            latency_us: 90,
        })
        .collect();
    let mut profile_path = None;
    for (seq, chunk) in rows.chunks(3_000).enumerate() {
        let key = format!(
            "logs/dt={}/hr={}/pod-a-{seq:012}.parquet",
            chunk[0].timestamp.format("%Y-%m-%d"),
            chunk[0].timestamp.format("%H")
        );
        let mut batch = vigil_core::data::parquet_log::ParquetBatch::new(&schema);
        let mut profiler = BatchProfiler::new(&schema);
        for r in chunk {
            batch.add_record(r);
            profiler.observe_record(r);
        }
        store.put(&key, batch.finish().unwrap()).await.unwrap();
        let profile = profile_key(&key).unwrap();
        store
            .put(&profile, encode_profile(&profiler.finish()))
            .await
            .unwrap();
        profile_path.get_or_insert(dir.path().join(profile));
    }
    let Some(python) = vigil_testkit::DATA_PYTHON.find() else {
        return;
    };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/read_logs.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(dir.path())
        .arg(profile_path.unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let arrow = &read["arrow"];
    assert_eq!(arrow["rows"], 9_000);
    assert_eq!(arrow["timestamp_type"], "timestamp[us, tz=UTC]");
    assert_eq!(arrow["first_request_id"], "r0");
    assert_eq!(arrow["first_age"], 20.0);
    assert_eq!(
        arrow["first_probabilities"],
        serde_json::json!([0.75, 0.25])
    );
    assert_eq!(arrow["hours"], serde_json::json!(["16", "17"]));
    // The first file's 3,000 rows: 50 ages (a dictionary), every income distinct (PLAIN).
    let income = |r: &PredictionRecord| match r.features["income"] {
        Value::Number(x) => x,
        _ => f64::NAN,
    };
    let first_incomes = rows[..3_000].iter().map(income);
    let (low, high) = first_incomes.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    assert_eq!(
        arrow["first_file_age"],
        serde_json::json!({"min": 20.0, "max": 69.0, "nulls": 0, "dictionary": true})
    );
    assert_eq!(
        arrow["first_file_income"],
        serde_json::json!({"min": low, "max": high, "nulls": 0, "dictionary": false})
    );
    for column in [
        "request_id",
        "timestamp",
        "model_version",
        "features",
        "predicted_class",
        "probabilities",
        "latency_us",
        "dt",
        "hr",
    ] {
        assert!(
            arrow["columns"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == column),
            "{column}"
        );
    }
    let duck = &read["duckdb"];
    assert_eq!(duck["rows"], 9_000);
    assert_eq!(duck["missing_colour"], 900);
    assert_eq!(duck["red"], 3_600, "even rows, but every tenth");
    assert_eq!(duck["classes"], 2);
    assert_eq!(duck["request_ids"], 9_000);
    let mean_age = rows
        .iter()
        .map(|r| match r.features["age"] {
            Value::Number(x) => x,
            _ => 0.0,
        })
        .sum::<f64>()
        / 9_000.0;
    assert!((duck["mean_age"].as_f64().unwrap() - mean_age).abs() < 1e-9);
    let income_sum: f64 = rows.iter().map(income).sum();
    assert!((duck["income"].as_f64().unwrap() - income_sum).abs() < 1e-6);
    let kll = &read["kll"];
    assert_eq!(kll["column"], "income");
    assert_eq!(kll["n"], 3_000);
    let incomes: Vec<f64> = rows[..3_000]
        .iter()
        .map(|r| match r.features["income"] {
            Value::Number(x) => x,
            _ => 0.0,
        })
        .collect();
    let (min, max) = incomes
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    assert_eq!(
        (kll["min"].as_f64().unwrap(), kll["max"].as_f64().unwrap()),
        (min, max)
    );
    let mut sorted = incomes.clone();
    sorted.sort_by(f64::total_cmp);
    let median = kll["median"].as_f64().unwrap();
    let rank = sorted.partition_point(|x| *x <= median) as f64 / 3_000.0;
    assert!(
        (rank - 0.5).abs() <= kll["rank_error"].as_f64().unwrap() + 1.0 / 3_000.0,
        "rank {rank}"
    );
}

#[tokio::test]
async fn scheduled_check_reads_parquet_log_batches() {
    let (parquet, jsonl) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let model = train_adult(parquet.path()).await;
    copy_dir(&parquet.path().join("models"), &jsonl.path().join("models"));
    let now = Utc
        .with_ymd_and_hms(2026, 11, 28, 18, 0, 0)
        .single()
        .unwrap();
    let pool = test_rows(&model.schema);
    let logged = records(
        &model,
        &pool.select(&(0..2500).collect::<Vec<_>>()),
        now - Duration::hours(1),
    );
    let store = Store::open(&parquet.path().display().to_string()).unwrap();
    for (seq, chunk) in logged.chunks(1000).enumerate() {
        let key = batch_key(LOGS_PREFIX, chunk[0].timestamp, "pod-a", seq as u64)
            .replace(".jsonl.gz", ".parquet");
        let mut batch = vigil_core::data::parquet_log::ParquetBatch::new(&model.schema);
        for r in chunk {
            batch.add_record(r);
        }
        store.put(&key, batch.finish().unwrap()).await.unwrap();
    }
    let plain = Store::open(&jsonl.path().display().to_string()).unwrap();
    write_batches(&plain, &model, &logged, 1000, &[0, 1, 2]).await;
    let a = check_store(
        &config_of(parquet.path(), DriftRules::default()),
        now,
        &|_| {},
    )
    .await
    .unwrap();
    let b = check_store(
        &config_of(jsonl.path(), DriftRules::default()),
        now,
        &|_| {},
    )
    .await
    .unwrap();
    let (a, b) = (&a.report.assessment, &b.report.assessment);
    assert_eq!(a.current_rows, 2500);
    assert_eq!(a.features, b.features);
    assert_eq!(a.quality, b.quality);
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

#[tokio::test]
async fn performance_counts_only_the_assessed_versions_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let model = train_adult(dir.path()).await;
    let store = Store::open(&dir.path().display().to_string()).unwrap();
    let now = Utc
        .with_ymd_and_hms(2026, 11, 28, 18, 0, 0)
        .single()
        .unwrap();
    let pool = test_rows(&model.schema);
    let mut logged = records(
        &model,
        &pool.select(&(0..1000).collect::<Vec<_>>()),
        now - Duration::hours(1),
    );
    // The first 400 were answered by the version before (a rollout's window).
    for r in &mut logged[..400] {
        r.model_version = "20261101-000000-000000".into();
    }
    store
        .put(
            &batch_key(LOGS_PREFIX, logged[0].timestamp, "pod-a", 0),
            encode_batch(&logged),
        )
        .await
        .unwrap();
    let config = config_of(dir.path(), with_performance());
    let outcome = check_store(&config, now, &|_| {}).await.unwrap();
    let Some(CheckPerformance::Assessed {
        window,
        labels,
        other_versions,
        ..
    }) = &outcome.report.model_performance
    else {
        panic!("{:?}", outcome.report.model_performance);
    };
    assert_eq!(
        (window.rows, labels.predictions, *other_versions),
        (600, 600, 400)
    );

    // Only other versions' predictions: refused, with the reason.
    for r in &mut logged {
        r.model_version = "20261101-000000-000000".into();
    }
    store
        .put(
            &batch_key(LOGS_PREFIX, logged[0].timestamp, "pod-a", 0),
            encode_batch(&logged),
        )
        .await
        .unwrap();
    let later = now + Duration::minutes(1);
    let outcome = check_store(&config, later, &|_| {}).await.unwrap();
    let brief = outcome.report.performance_brief().unwrap();
    assert_eq!(brief.reason.as_deref(), Some("NoPredictionsOfVersion"));
    assert!(!brief.assessed() && brief.estimated.is_empty());
}

/// Labels that arrive after their window was checked (`maxLabelDelay` lookback): a
/// check without labels, then one whose labels are for the first window's predictions.
/// The second check realizes the first window again (its trend point too), counts the
/// late and orphan labels, and a check beyond the horizon deletes the first window.
#[tokio::test]
async fn labels_that_arrive_after_their_check_realize_the_earlier_window() {
    let dir = tempfile::tempdir().unwrap();
    let model = train_adult(dir.path()).await;
    let store = Store::open(&dir.path().display().to_string()).unwrap();
    let mut policy = with_performance();
    policy.performance.max_label_delay = "460m".parse().unwrap();
    let config = config_of(dir.path(), policy);
    let pool = test_rows(&model.schema);
    let with_ids = |rows: Vec<PredictionRecord>, prefix: &str| -> Vec<PredictionRecord> {
        rows.into_iter()
            .map(|mut r| {
                r.request_id = format!("{prefix}{}", r.request_id);
                r
            })
            .collect()
    };

    // Check 1: 2,000 predictions 2 h before t1 (one every 0.5 s), no label yet.
    let t1 = Utc
        .with_ymd_and_hms(2026, 11, 28, 12, 0, 0)
        .single()
        .unwrap();
    let first_rows = pool.select(&(0..2000).collect::<Vec<_>>());
    let first = with_ids(records(&model, &first_rows, t1 - Duration::hours(2)), "a");
    write_batches(&store, &model, &first, 500, &[]).await;
    let one = check_store(&config, t1, &|_| {}).await.unwrap();
    let brief = one.report.performance_brief().unwrap();
    assert!(brief.realized.is_empty() && brief.labelled == 0);
    let window_dir = format!("performance/windows/{}/20261128T120000Z", model.version);
    let kept = store.list(&window_dir).await.unwrap();
    assert_eq!(kept.len(), 3, "{kept:?}");

    // Check 2 at t1 + 6 h: its own 1,000 predictions, unlabelled; labels for 1,500 of
    // the first window's (7 h 17 m – 7 h 30 m after them), 10 more that are late
    // (7 h 46 m > 460 m) and 5 for no prediction at all.
    let t2 = t1 + Duration::hours(6);
    let second = with_ids(
        records(
            &model,
            &pool.select(&(2000..3000).collect::<Vec<_>>()),
            t2 - Duration::hours(1),
        ),
        "b",
    );
    write_batches(&store, &model, &second, 500, &[]).await;
    let label = |r: &PredictionRecord, l: usize, at| FeedbackRecord {
        request_id: r.request_id.clone(),
        label: model.schema.target.classes[l].clone(),
        timestamp: at,
    };
    let truth = first_rows.labels.as_ref().unwrap();
    let mut feedback: Vec<FeedbackRecord> = (0..1500)
        .map(|i| label(&first[i], truth[i].unwrap(), t2 - Duration::minutes(30)))
        .collect();
    feedback.extend(
        (1500..1510).map(|i| label(&first[i], truth[i].unwrap(), t2 - Duration::minutes(1))),
    );
    feedback.extend((0..5).map(|i| FeedbackRecord {
        request_id: format!("nobody{i}"),
        label: model.schema.target.classes[0].clone(),
        timestamp: t2 - Duration::minutes(2),
    }));
    feedback.sort_by_key(|f| f.timestamp);
    store
        .put(
            &batch_key(FEEDBACK_PREFIX, feedback[0].timestamp, "pod-a", 0),
            encode_batch(&feedback),
        )
        .await
        .unwrap();
    let two = check_store(&config, t2, &|_| {}).await.unwrap();
    let Some(CheckPerformance::Assessed {
        window,
        labels,
        matured,
        ..
    }) = &two.report.model_performance
    else {
        panic!("{:?}", two.report.model_performance);
    };
    assert!(
        window.realized.is_none(),
        "no label for this window's predictions"
    );
    assert_eq!(
        (
            labels.labels_read,
            labels.labelled,
            labels.previous_window,
            labels.late,
            labels.orphans
        ),
        (1515, 0, 1500, 10, 5)
    );
    assert_eq!(matured.len(), 1);
    let m = &matured[0];
    assert_eq!(
        (m.since, m.until, m.added),
        (t1 - Duration::hours(6), t1, 1500)
    );
    assert_eq!((m.window.rows, m.window.labelled), (2000, 1500));
    let realized = m
        .window
        .realized
        .as_ref()
        .unwrap()
        .value(Metric::RocAuc)
        .unwrap();
    let estimated = m.window.estimated(Metric::RocAuc).unwrap();
    assert!(
        (realized - estimated).abs() < 0.05,
        "{realized} {estimated}"
    );
    // The first check's trend point now shows its realized value.
    let point = two.report.trend[0].performance.as_ref().unwrap();
    assert_eq!(two.report.trend[0].checked_at, t1);
    assert_eq!(point.labelled, 1500);
    assert!((point.label_coverage - 0.75).abs() < 1e-12);
    assert!((point.realized(Metric::RocAuc).unwrap().value - realized).abs() < 1e-12);
    let brief = two.report.trend[1].performance.as_ref().unwrap();
    assert!(brief.realized.is_empty());
    // The summary (status, metrics) carries the newest window realized again.
    let DriftSummary::Succeeded {
        model_performance: Some(summary),
        ..
    } = &two.summary
    else {
        panic!("{:?}", two.summary);
    };
    let matured = summary.matured.as_ref().expect("matured in the brief");
    assert_eq!((matured.until, matured.labelled), (t1, 1500));
    let auc = matured.realized.iter().find(|v| v.metric == Metric::RocAuc);
    assert_eq!(auc.map(|v| v.value), Some(realized));
    let html = String::from_utf8(
        store
            .get("reports/drift/20261128T180000Z.html")
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(html.contains("Earlier windows realized again"));

    // The same labels read again by an overlapping check change nothing.
    let t2b = t2 + Duration::minutes(10);
    let again = check_store(&config, t2b, &|_| {}).await.unwrap();
    let Some(CheckPerformance::Assessed {
        matured, labels, ..
    }) = &again.report.model_performance
    else {
        panic!("{:?}", again.report.model_performance);
    };
    assert!(matured.is_empty(), "{matured:?}");
    assert_eq!((labels.duplicates, labels.orphans), (0, 5));

    // Beyond the horizon (the first window ended more than 460 m before this window
    // began) its files are deleted.
    let t3 = t1 + Duration::hours(20);
    let third = with_ids(
        records(
            &model,
            &pool.select(&(3000..3200).collect::<Vec<_>>()),
            t3 - Duration::hours(1),
        ),
        "c",
    );
    write_batches(&store, &model, &third, 500, &[]).await;
    check_store(&config, t3, &|_| {}).await.unwrap();
    assert!(store.list(&window_dir).await.unwrap().is_empty());
}
