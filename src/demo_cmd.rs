//! `vigil demo`: the whole loop on real data, no cluster. Train on Adult,
//! start `vigil serve` (this same binary, as a child process), replay clean
//! traffic and check it, inject drift and check again (the model's performance
//! estimated from its scores alone), send ground truth through `/feedback` and check
//! once more (the performance realized), retrain on the labelled recent window and apply the
//! promotion gates against the served version.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::Args;
use serde::Deserialize;
use vigil_core::data::dataset::{DataFormat, RawTable};
use vigil_core::data::prediction_log::read_window;
use vigil_core::data::schema::FeatureSchema;
use vigil_core::data::storage::StorageSpec;
use vigil_core::data::storage::Store;
use vigil_core::drift::rules::ModelPerformanceSpec;
use vigil_core::drift::{DriftRules, DriftSummary};
use vigil_core::performance::{Metric, MetricValue, PerformanceBrief};
use vigil_core::span::Span;
use vigil_core::train::config::{HoldoutSpec, TrainJobConfig};
use vigil_core::train::promotion::{self, Gates, PromotionSpec};
use vigil_core::train::report::TrainSummary;
use vigil_core::train::split::sample_indices;
use vigil_core::wire::PredictionRecord;
use vigil_jobs::drift::{check_store, DriftJobConfig};
use vigil_jobs::inject::{self, DriftKind, InjectSpec, RampProfile, Rows};
use vigil_jobs::labelled::export_labelled_window;
use vigil_jobs::train::train;

const ADULT: &[u8] = include_bytes!("../examples/data/adult.csv.gz");
const TRAIN_CONFIG: &str = include_str!("../examples/train-adult.yaml");
/// The sample MonitoredModel whose promotion gates the demo applies.
const SAMPLE_PATH: &str = "config/samples/adult-income.yaml";
const SAMPLE: &str = include_str!("../config/samples/adult-income.yaml");
const STEPS: usize = 8;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Working directory for the store, reports and data (emptied first).
    #[arg(long, env = "VIGIL_DEMO_DIR", default_value = "out/demo")]
    pub dir: PathBuf,
    /// Rows in each traffic window (clean, then drifted).
    #[arg(long, env = "VIGIL_DEMO_ROWS", default_value_t = 5000)]
    pub rows: usize,
}

/// A step that failed, with what it was doing.
struct Failed(String);

impl<E: std::fmt::Display> From<E> for Failed {
    fn from(e: E) -> Self {
        Failed(e.to_string())
    }
}

pub async fn run(args: DemoArgs) -> ExitCode {
    let started = Instant::now();
    match demo(&args).await {
        Ok(()) => {
            println!(
                "\ndemo finished in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(Failed(message)) => {
            eprintln!("error: demo failed: {message}");
            ExitCode::FAILURE
        }
    }
}

fn step(n: usize, text: &str) -> Instant {
    println!("\n[{n}/{STEPS}] {text}");
    Instant::now()
}

fn done(since: Instant, text: &str) {
    println!("      {text}  ({:.1} s)", since.elapsed().as_secs_f64());
}

/// The child `vigil serve`, stopped with SIGTERM (graceful: the log is flushed) on drop.
struct Server {
    child: tokio::process::Child,
    url: String,
}

impl Server {
    async fn start(store: &str, log: &Path) -> Result<Server, Failed> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let exe = std::env::current_exe()?;
        let log = std::fs::File::create(log)?;
        let child = tokio::process::Command::new(exe)
            .args(["serve", "--store", store, "--writer", "demo"])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--flush-interval", "300ms", "--log-format", "json"])
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        let server = Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = client.get(format!("{}/ready", server.url)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(Failed("the server did not become ready in 30 s".into()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn stop(mut self) -> Result<(), Failed> {
        if let Some(pid) = self.child.id() {
            std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()?;
        }
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await??;
        if !status.success() {
            return Err(Failed(format!("the server exited with {status}")));
        }
        Ok(())
    }
}

/// Prints a check; returns its report's URI and its estimated ROC-AUC (`baseline`: the
/// clean check's, to print the change).
fn print_check(
    summary: &DriftSummary,
    baseline: Option<f64>,
) -> Result<(String, Option<f64>), Failed> {
    match summary {
        DriftSummary::Succeeded {
            verdict,
            drifted_features,
            quality_failures,
            current_rows,
            reference_rows,
            html_uri,
            top,
            model_performance,
            ..
        } => {
            println!("      verdict {verdict}: {current_rows} live rows vs {reference_rows} reference rows");
            if !drifted_features.is_empty() {
                println!("      drifted: {}", drifted_features.join(", "));
            }
            for feature in top.iter().take(3) {
                println!("        {}", serde_json::to_string(feature)?);
            }
            if !quality_failures.is_empty() {
                println!("      quality: {}", quality_failures.join("; "));
            }
            if let Some(brief) = model_performance {
                print_performance(brief, baseline);
            }
            let estimated = model_performance
                .as_ref()
                .and_then(|b| Some(b.estimated(Metric::RocAuc)?.value));
            Ok((html_uri.clone(), estimated))
        }
        other => Err(Failed(format!("drift check failed: {other:?}"))),
    }
}

/// The model's ROC-AUC, estimated (CBPE, from the scores) and realized (labels).
fn print_performance(brief: &PerformanceBrief, baseline: Option<f64>) {
    let interval = |v: &MetricValue| match (v.lower, v.upper) {
        (Some(l), Some(u)) => format!("{l:.4}–{u:.4}"),
        (Some(l), None) => format!("≥ {l:.4}"),
        (None, Some(u)) => format!("≤ {u:.4}"),
        (None, None) => "-".into(),
    };
    match brief.estimated(Metric::RocAuc) {
        Some(e) => println!(
            "      estimated rocAuc {:.4}{} (alert band {}){}, from the scores alone",
            e.value,
            baseline.map_or_else(String::new, |b| format!(
                " ({:+.4} since the clean check)",
                e.value - b
            )),
            interval(e),
            if e.alert {
                ": ALERT, outside the band"
            } else {
                ""
            }
        ),
        None => println!(
            "      performance not estimated: {}",
            brief.reason.as_deref().unwrap_or("no estimate")
        ),
    }
    match brief.realized(Metric::RocAuc) {
        Some(r) => println!(
            "      realized  rocAuc {:.4} (95 % CI {}) from {} labels ({:.0} % of the window)",
            r.value,
            interval(r),
            brief.labelled,
            brief.label_coverage * 100.0
        ),
        None if brief.labelled == 0 => println!("      realized: no label yet"),
        None => println!(
            "      realized: {} labels, too few ({})",
            brief.labelled,
            brief.reason.as_deref().unwrap_or("")
        ),
    }
    if brief.concept_drift {
        println!("      concept drift: realized and estimated apart for 2 checks");
    }
}

/// The traffic of the demo: rows of Adult's test split, which the model never saw.
struct Traffic {
    schema: FeatureSchema,
    clean: Rows,
    drifted: Rows,
}

async fn demo(args: &DemoArgs) -> Result<(), Failed> {
    if args.dir.exists() {
        std::fs::remove_dir_all(&args.dir)?;
    }
    std::fs::create_dir_all(&args.dir)?;
    let dir = std::fs::canonicalize(&args.dir)?;
    let store_uri = format!("file://{}/store", dir.display());
    let data = dir.join("adult.csv.gz");
    std::fs::write(&data, ADULT)?;
    let gates = sample_promotion()?.gates;

    let config = train_config(&store_uri, &data)?;
    let v1 = train_first(&config).await?;
    let t = step(2, "starting `vigil serve` on a free loopback port");
    let server = Server::start(&store_uri, &dir.join("server.log")).await?;
    done(
        t,
        &format!("{} ready (log: {}/server.log)", server.url, dir.display()),
    );
    let traffic = traffic(&config, args.rows)?;
    let (clean_start, clean_auc) = clean_check(&server, &traffic, &store_uri).await?;
    let (drift_start, drifted, sent) =
        drifted_check(&server, &traffic, &store_uri, clean_auc).await?;
    let html = labelled_check(
        &server,
        &traffic,
        &drifted,
        &store_uri,
        drift_start,
        clean_auc,
    )
    .await?;
    stop_and_count(
        server,
        &store_uri,
        clean_start,
        traffic.clean.n_rows() + sent,
    )
    .await?;
    let second = retrain(&config, &store_uri, drift_start, &v1).await?;
    promote(&gates, &second)?;
    println!("\nreports: {}", html);
    Ok(())
}

/// The Adult example configuration, pointed at the demo's data and store.
fn train_config(store_uri: &str, data: &Path) -> Result<TrainJobConfig, Failed> {
    let mut config = TrainJobConfig::from_text(TRAIN_CONFIG, "examples/train-adult.yaml")?;
    config.storage.uri = store_uri.to_string();
    config.training.data.uri = data.display().to_string();
    Ok(config)
}

/// Step 1: Train on the Adult train split, hold out its test split.
async fn train_first(config: &TrainJobConfig) -> Result<String, Failed> {
    let t = step(
        1,
        "training a logistic regression on UCI Adult (32,561 rows)",
    );
    let first = train(config, Utc::now(), &|_| {}).await?;
    let v1 = first.artifact.version.clone();
    done(
        t,
        &format!(
            "version {v1}: hold-out accuracy {:.4}, ROC-AUC {:.4}",
            first.artifact.metrics.accuracy,
            first.artifact.metrics.roc_auc.unwrap_or(f64::NAN)
        ),
    );
    Ok(v1)
}

/// Two disjoint windows of test rows, `rows` each (or half of what there is).
fn traffic(config: &TrainJobConfig, rows: usize) -> Result<Traffic, Failed> {
    let raw = RawTable::parse(ADULT, DataFormat::Csv)?;
    let split = raw.column("split").map(<[_]>::to_vec).unwrap_or_default();
    let test = raw.filter_rows(|r| split[r].as_deref() == Some("test"));
    let all = Rows::from_raw(&config.schema, &test)?;
    let picked = sample_indices(all.n_rows(), (2 * rows).min(all.n_rows()), 7);
    let (clean_rows, drift_rows) = picked.split_at(picked.len() / 2);
    Ok(Traffic {
        schema: config.schema.clone(),
        clean: all.select(clean_rows),
        drifted: all.select(drift_rows),
    })
}

/// Step 3: Clean traffic, then a check: expect no drift. Returns when the traffic
/// started and the estimated ROC-AUC.
async fn clean_check(
    server: &Server,
    traffic: &Traffic,
    store_uri: &str,
) -> Result<(DateTime<Utc>, Option<f64>), Failed> {
    let t = step(
        3,
        &format!(
            "replaying {} clean requests, then a drift check",
            traffic.clean.n_rows()
        ),
    );
    let clean_start = Utc::now();
    inject::post(
        &server.url,
        &traffic.schema,
        &traffic.clean,
        "clean",
        100,
        false,
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let first_check = check(store_uri, clean_start).await?;
    let (_, estimated) = print_check(&first_check, None)?;
    done(t, "checked");
    Ok((clean_start, estimated))
}

/// Step 4: drifted traffic without labels, then a check (expect Critical, and the
/// performance estimated from the scores alone). Returns when the traffic started, the
/// drifted rows as sent and how many requests were sent.
async fn drifted_check(
    server: &Server,
    traffic: &Traffic,
    store_uri: &str,
    baseline: Option<f64>,
) -> Result<(DateTime<Utc>, Rows, usize), Failed> {
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let spec = InjectSpec {
        kind: DriftKind::MeanShift,
        intensity: 0.5,
        profile: RampProfile::Sudden,
        feature: Some("age".into()),
        seed: 11,
    };
    let t = step(
        4,
        &format!(
            "injecting drift ({} on age, intensity {}) into {} requests, no label yet, then a check",
            spec.kind.name(),
            spec.intensity,
            traffic.drifted.n_rows()
        ),
    );
    let drift_start = Utc::now();
    let mut drifted = traffic.drifted.clone();
    let injected = inject::inject(&traffic.schema, &mut drifted, &spec)?;
    println!("      {}", injected.description);
    let (sent, _) =
        inject::post(&server.url, &traffic.schema, &drifted, DRIFTED, 100, false).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second_check = check(store_uri, drift_start).await?;
    print_check(&second_check, baseline)?;
    done(t, &format!("{sent} requests"));
    Ok((drift_start, drifted, sent))
}

/// The request-id prefix of the drifted traffic.
const DRIFTED: &str = "drifted";

/// Step 5: the drifted requests' labels to `/feedback`, then the same window checked
/// again: the performance realized beside the estimate. Returns the report's URI.
async fn labelled_check(
    server: &Server,
    traffic: &Traffic,
    drifted: &Rows,
    store_uri: &str,
    drift_start: DateTime<Utc>,
    baseline: Option<f64>,
) -> Result<String, Failed> {
    let t = step(
        5,
        "sending the drifted requests' labels to /feedback, then the same window checked again",
    );
    let labelled = inject::post_feedback(&server.url, &traffic.schema, drifted, DRIFTED).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let third_check = check(store_uri, drift_start).await?;
    let (html, _) = print_check(&third_check, baseline)?;
    done(t, &format!("{labelled} labels; report: {html}"));
    Ok(html)
}

/// Step 6: Stop the server: SIGTERM flushes every logged prediction.
async fn stop_and_count(
    server: Server,
    store_uri: &str,
    since: DateTime<Utc>,
    answered: usize,
) -> Result<(), Failed> {
    let t = step(6, "stopping the server (SIGTERM: graceful, log flushed)");
    server.stop().await?;
    let store = Store::open(store_uri)?;
    let logged =
        read_window::<PredictionRecord>(&store, since - chrono::Duration::minutes(1), Utc::now())
            .await?
            .len();
    done(
        t,
        &format!("{logged} predictions in the store for {answered} answered"),
    );
    Ok(())
}

/// Step 7: Retrain on the labelled recent window, compared with v1 on the same hold-out.
async fn retrain(
    config: &TrainJobConfig,
    store_uri: &str,
    since: DateTime<Utc>,
    v1: &str,
) -> Result<TrainSummary, Failed> {
    let t = step(
        7,
        "retraining on the drifted window joined with its /feedback labels",
    );
    let store = Store::open(store_uri)?;
    let export = export_labelled_window(&store, &config.schema, since, Utc::now())
        .await?
        .ok_or_else(|| Failed("no labelled predictions in the drifted window".into()))?;
    let mut retrain = config.clone();
    retrain.training.data.uri = export.uri.clone();
    retrain.training.data.filter = None;
    retrain.training.holdout = HoldoutSpec {
        fraction: 0.3,
        seed: 42,
        column: None,
    };
    retrain.served_version = Some(v1.to_string());
    let second = train(&retrain, Utc::now(), &|_| {}).await?;
    done(
        t,
        &format!(
            "version {} from {} labelled rows ({})",
            second.artifact.version, export.rows, export.uri
        ),
    );
    Ok(second.summary)
}

/// The promotion rules of the Adult sample MonitoredModel (`spec.promotion`): the demo
/// applies the gates the operator would apply to that resource.
fn sample_promotion() -> Result<PromotionSpec, Failed> {
    for document in serde_yaml::Deserializer::from_str(SAMPLE) {
        let value = serde_yaml::Value::deserialize(document)?;
        if value["kind"].as_str() == Some("MonitoredModel") {
            let spec: PromotionSpec = serde_yaml::from_value(value["spec"]["promotion"].clone())?;
            spec.gates.check()?;
            return Ok(spec);
        }
    }
    Err(Failed(format!("{SAMPLE_PATH} holds no MonitoredModel")))
}

/// Step 8: The promotion decision, gate by gate.
fn promote(gates: &Gates, summary: &TrainSummary) -> Result<(), Failed> {
    let metric = gates.metric();
    step(
        8,
        &format!(
            "promotion gates (minMetric {metric} {} {}, maxRegression {} vs the served version)",
            if metric.higher_is_better() {
                "≥"
            } else {
                "≤"
            },
            gates.min_metric.value,
            gates.max_regression
        ),
    );
    let decision = promotion::decide(gates, summary)
        .ok_or_else(|| Failed("training failed; nothing to promote".into()))?;
    for gate in &decision.gates {
        println!(
            "      {} {:<14} {}",
            if gate.passed { "✓" } else { "✗" },
            gate.gate.as_str(),
            gate.detail
        );
    }
    println!(
        "      → {} {}",
        decision.version,
        if decision.passed {
            "PROMOTED: the operator would roll the Deployment to it"
        } else {
            "REJECTED: v1 keeps serving"
        }
    );
    if let TrainSummary::Succeeded { report_uri, .. } = summary {
        println!("      training report: {report_uri}");
    }
    Ok(())
}

/// A drift check over the traffic since `since`.
async fn check(store_uri: &str, since: chrono::DateTime<Utc>) -> Result<DriftSummary, Failed> {
    let now = Utc::now();
    let seconds = (now - since).num_seconds().max(1) as u64 + 1;
    let policy = DriftRules {
        window: Span::from_secs(seconds),
        performance: ModelPerformanceSpec::default(),
        ..DriftRules::default()
    };
    let config = DriftJobConfig {
        model: Some("adult-income".into()),
        storage: StorageSpec {
            uri: store_uri.to_string(),
            secret_ref: None,
        },
        served_version: None,
        policy,
        namespace: None,
        policy_name: None,
    };
    Ok(check_store(&config, now, &|_| {}).await?.summary)
}
