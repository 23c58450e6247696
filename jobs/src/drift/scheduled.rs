//! Scheduled mode: the served version's reference sample against the last window of
//! prediction logs, with the `/feedback` labels joined by request id. The window is
//! streamed batch by batch into bounded sketches (memory does not grow with it); the
//! report goes to `reports/drift/<timestamp>.json` and `.html` in the store.

use std::collections::HashMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use vigil_core::data::prediction_log::{decode_batch, list_batches, read_window, LOGS_PREFIX};
use vigil_core::data::schema::FeatureSchema;
use vigil_core::data::storage::Store;
use vigil_core::drift::profile::{LabelProfile, PredictionProfile, WindowProfile};
use vigil_core::drift::quality::QualityContext;
use vigil_core::drift::report::{
    CheckMode, DataSource, DriftReport, DriftSummary, DRIFT_REPORTS_PREFIX, REPORT_FORMAT_VERSION,
};
use vigil_core::drift::sketch::IdSampler;
use vigil_core::drift::{assess, AssessOptions, DriftJobConfig};
use vigil_core::train::artifact::{self, ModelArtifact};
use vigil_core::wire::{FeedbackRecord, PredictionRecord};

use super::{report_stem, DriftError, DriftOutcome, Stage};
use crate::html;
use crate::laps::Laps;

/// Scheduled mode: the served version's reference against the last window of logs.
pub async fn check_store(
    config: &DriftJobConfig,
    now: DateTime<Utc>,
    progress: &(dyn Fn(Stage) + Send + Sync),
) -> Result<DriftOutcome, DriftError> {
    let policy = &config.policy;
    policy
        .check()
        .map_err(|e| DriftError::InvalidConfig(e.to_string()))?;
    let store = Store::open(&config.storage.uri)?;
    let mut laps = Laps::new();

    progress(Stage::LoadReference);
    let (model, reference) = load_reference(&store, config).await?;
    laps.lap("loadReference");

    progress(Stage::ReadWindow);
    let (since, until) = (now - policy.window.to_chrono(), now);
    let current = read_current(&store, &model.schema, since, until).await?;
    laps.lap("readWindow");

    progress(Stage::Assess);
    let context = QualityContext {
        now: Some(now),
        window: Some((since, until)),
    };
    let assessment = assess(
        &model.schema,
        policy,
        &reference,
        &current,
        &context,
        &AssessOptions::default(),
    );
    laps.lap("assess");

    progress(Stage::WriteReport);
    let version = &model.version;
    let mut report = DriftReport {
        format_version: REPORT_FORMAT_VERSION,
        generated_at: now,
        vigil_version: vigil_core::VIGIL_VERSION.to_string(),
        mode: CheckMode::Scheduled,
        model_name: config.model.clone().or(model.model_name.clone()),
        model_version: Some(version.clone()),
        reference: DataSource {
            description: format!(
                "{} (reference sample of version {version})",
                store.uri_of(&format!("models/{version}/{}", model.reference.file))
            ),
            rows: reference.rows,
        },
        current: DataSource {
            description: format!(
                "{} from {} to {}",
                store.uri_of(LOGS_PREFIX),
                since.format("%Y-%m-%dT%H:%M:%SZ"),
                until.format("%Y-%m-%dT%H:%M:%SZ")
            ),
            rows: current.rows,
        },
        window: Some((since, until)),
        policy: policy.clone(),
        assessment,
        timings: Vec::new(),
    };
    laps.lap("writeReport");
    report.timings = laps.timings;
    write_report(&store, report, now).await
}

/// The served (or newest) version and the profile of its reference sample.
async fn load_reference(
    store: &Store,
    config: &DriftJobConfig,
) -> Result<(ModelArtifact, WindowProfile), DriftError> {
    let version = match &config.served_version {
        Some(v) => v.clone(),
        None => artifact::latest_version(store)
            .await
            .map_err(DriftError::ReferenceUnavailable)?,
    };
    let model = ModelArtifact::load(store, &version)
        .await
        .map_err(DriftError::ReferenceUnavailable)?;
    let sample = model
        .load_reference(store)
        .await
        .map_err(DriftError::ReferenceUnavailable)?;
    config
        .policy
        .check_features(&model.schema)
        .map_err(|e| DriftError::InvalidConfig(e.to_string()))?;
    let reference = WindowProfile::from_reference(&model.schema, &sample);
    Ok((model, reference))
}

/// The profile of the logged predictions in `[since, until]`, batch by batch, with the
/// labels that arrived for them.
async fn read_current(
    store: &Store,
    schema: &FeatureSchema,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<WindowProfile, DriftError> {
    let labels: HashMap<String, String> = read_window::<FeedbackRecord>(store, since, until)
        .await
        .map_err(DriftError::LogsUnavailable)?
        .into_iter()
        .map(|f| (f.request_id, f.label))
        .collect();
    let mut current = WindowProfile::new(schema);
    current.ids = Some(IdSampler::default());
    current.predictions = Some(PredictionProfile::new(schema.target.classes.len()));
    if !labels.is_empty() {
        current.labels = Some(LabelProfile::default());
    }
    let keys = list_batches(store, LOGS_PREFIX, since, until)
        .await
        .map_err(|e| DriftError::LogsUnavailable(e.into()))?;
    for key in keys {
        let bytes = store
            .get(&key)
            .await
            .map_err(|e| DriftError::LogsUnavailable(e.into()))?;
        let batch: Vec<PredictionRecord> =
            decode_batch(&bytes, &store.uri_of(&key)).map_err(DriftError::LogsUnavailable)?;
        for record in batch
            .iter()
            .filter(|r| r.timestamp >= since && r.timestamp <= until)
        {
            let label = labels.get(&record.request_id).map(String::as_str);
            current.observe_record(schema, record, label);
        }
    }
    Ok(current)
}

/// Writes the JSON and HTML reports into the store.
async fn write_report(
    store: &Store,
    report: DriftReport,
    now: DateTime<Utc>,
) -> Result<DriftOutcome, DriftError> {
    let stem = report_stem(now);
    let json_key = format!("{DRIFT_REPORTS_PREFIX}/{stem}.json");
    let html_key = format!("{DRIFT_REPORTS_PREFIX}/{stem}.html");
    let json = serde_json::to_vec_pretty(&report).unwrap_or_default();
    store.put(&json_key, Bytes::from(json)).await?;
    store
        .put(&html_key, Bytes::from(html::render(&report)))
        .await?;
    let report_uri = store.uri_of(&json_key);
    let html_uri = store.uri_of(&html_key);
    Ok(DriftOutcome {
        summary: DriftSummary::from_report(&report, report_uri.clone(), html_uri.clone()),
        report,
        report_uri,
        html_uri,
    })
}
