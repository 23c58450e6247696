//! Scheduled mode: the served version's reference sample against the last window of
//! prediction logs, with the `/feedback` labels joined by request id. The window is
//! the merge of the batch profiles written at serving time, with a fallback to the log
//! for batches without one ([`super::window`]); memory does not grow with it. A
//! decision that could flip within the sketches' bounds is computed again from the
//! exact values. The report goes to `reports/drift/<timestamp>.json` and `.html`.

use std::collections::HashMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use vigil_core::data::prediction_log::{read_window, LOGS_PREFIX};
use vigil_core::data::schema::FeatureSchema;
use vigil_core::data::storage::Store;
use vigil_core::drift::assess::unstable;
use vigil_core::drift::profile::WindowProfile;
use vigil_core::drift::quality::QualityContext;
use vigil_core::drift::report::{
    Assessment, CheckMode, DataSource, DriftReport, DriftSummary, TrendPoint, DRIFT_REPORTS_PREFIX,
    REPORT_FORMAT_VERSION, TREND_CHECKS,
};
use vigil_core::drift::{assess, AssessOptions, DriftJobConfig, DriftRules};
use vigil_core::performance::CheckPerformance;
use vigil_core::train::artifact::{self, ModelArtifact};
use vigil_core::wire::FeedbackRecord;

use super::performance;
use super::window::{self, Labels, Span};
use super::{report_stem, DriftError, DriftOutcome, Stage};
use crate::html;
use crate::laps::Laps;

/// Scheduled mode: the served version's reference against the last window of logs.
pub async fn check_store(
    config: &DriftJobConfig,
    now: DateTime<Utc>,
    progress: &(dyn Fn(Stage) + Send + Sync),
) -> Result<DriftOutcome, DriftError> {
    let mut check = Check::start(config, now, progress).await?;
    progress(Stage::ReadWindow);
    let labels = check.labels().await?;
    let (current, sources) = window::read_window(
        &check.store,
        &check.model.schema,
        check.span,
        &check.keys,
        &check.profiles,
        &labels,
    )
    .await?;
    check.laps.lap("readWindow");
    let made_of = format!(
        "{} batch profiles, {} log batches decoded",
        sources.from_profiles, sources.from_log
    );
    check.finish(current, &made_of, progress).await
}

/// A scheduled check under way: its store, reference and window.
pub(super) struct Check<'c> {
    pub config: &'c DriftJobConfig,
    pub store: Store,
    pub model: ModelArtifact,
    pub reference: WindowProfile,
    pub now: DateTime<Utc>,
    pub span: Span,
    /// The window's log batches, oldest first, and the profiles beside them.
    pub keys: Vec<String>,
    pub profiles: std::collections::HashSet<String>,
    pub laps: Laps,
    /// The labels that arrived in the window, kept from [`Check::labels`] for the
    /// performance join when the policy asks for it (read once a check).
    feedback: Option<Vec<FeedbackRecord>>,
}

impl<'c> Check<'c> {
    /// Checks the policy, loads the reference and lists the window ending at `now`.
    pub async fn start(
        config: &'c DriftJobConfig,
        now: DateTime<Utc>,
        progress: &(dyn Fn(Stage) + Send + Sync),
    ) -> Result<Check<'c>, DriftError> {
        config
            .policy
            .check()
            .map_err(|e| DriftError::InvalidConfig(e.to_string()))?;
        let store = Store::open(&config.storage.uri)?;
        let mut laps = Laps::new();
        progress(Stage::LoadReference);
        let (model, reference) = load_reference(&store, config).await?;
        laps.lap("loadReference");
        let span = Span {
            since: now - config.policy.window.to_chrono(),
            until: now,
        };
        let (keys, profiles) = window::batch_keys(&store, span).await?;
        Ok(Check {
            config,
            store,
            model,
            reference,
            now,
            span,
            keys,
            profiles,
            laps,
            feedback: None,
        })
    }

    /// The labels that arrived in the window, by request-id hash. The records are kept
    /// for the performance join only when the policy estimates performance.
    pub async fn labels(&mut self) -> Result<Labels, DriftError> {
        let feedback = read_feedback(&self.store, self.span).await?;
        let latest: HashMap<&str, &str> = feedback
            .iter()
            .map(|f| (f.request_id.as_str(), f.label.as_str()))
            .collect();
        let labels = window::label_index(&self.model.schema, &latest);
        if self.config.policy.performance.enabled {
            self.feedback = Some(feedback);
        }
        Ok(labels)
    }

    /// Assesses `current` (the window's profile, `made_of` what it was merged from)
    /// and writes the report.
    pub async fn finish(
        mut self,
        current: WindowProfile,
        made_of: &str,
        progress: &(dyn Fn(Stage) + Send + Sync),
    ) -> Result<DriftOutcome, DriftError> {
        let (policy, span, now) = (&self.config.policy, self.span, self.now);
        progress(Stage::Assess);
        let context = QualityContext {
            now: Some(now),
            window: Some((span.since, span.until)),
        };
        let exact = ExactSource {
            store: &self.store,
            span,
            keys: &self.keys,
        };
        let assessment = assess_exactly(
            &self.model.schema,
            policy,
            &self.reference,
            current,
            &context,
            exact,
        )
        .await?;
        self.laps.lap("assess");

        let previous = previous_report(&self.store, now).await;
        let model_performance = if policy.performance.enabled {
            progress(Stage::Performance);
            let feedback = match self.feedback.take() {
                Some(feedback) => feedback,
                None => read_feedback(&self.store, span).await?,
            };
            let check = performance::assess(
                &self.store,
                &self.model,
                &policy.performance,
                span,
                &self.keys,
                &feedback,
            )
            .await?;
            self.laps.lap("performance");
            Some(check)
        } else {
            None
        };

        progress(Stage::WriteReport);
        let (model, store) = (&self.model, &self.store);
        let version = &model.version;
        let mut report = DriftReport {
            format_version: REPORT_FORMAT_VERSION,
            generated_at: now,
            vigil_version: vigil_core::VIGIL_VERSION.to_string(),
            mode: CheckMode::Scheduled,
            model_name: self.config.model.clone().or(model.model_name.clone()),
            model_version: Some(version.clone()),
            reference: DataSource {
                description: format!(
                    "{} (reference sample of version {version})",
                    store.uri_of(&format!("models/{version}/{}", model.reference.file))
                ),
                rows: self.reference.rows,
            },
            current: DataSource {
                description: format!(
                    "{} from {} to {} ({made_of})",
                    store.uri_of(LOGS_PREFIX),
                    span.since.format("%Y-%m-%dT%H:%M:%SZ"),
                    span.until.format("%Y-%m-%dT%H:%M:%SZ"),
                ),
                rows: assessment.current_rows,
            },
            window: Some((span.since, span.until)),
            policy: policy.clone(),
            assessment,
            model_performance,
            trend: Vec::new(),
            timings: Vec::new(),
        };
        report.trend = trend(previous.as_ref(), &report);
        self.laps.lap("writeReport");
        report.timings = self.laps.timings;
        write_report(store, report, now).await
    }
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

/// The `/feedback` records that arrived in the window, in arrival order.
async fn read_feedback(store: &Store, span: Span) -> Result<Vec<FeedbackRecord>, DriftError> {
    read_window::<FeedbackRecord>(store, span.since, span.until)
        .await
        .map_err(DriftError::LogsUnavailable)
}

/// Where the window's exact values are read from when a sketch is not enough.
#[derive(Clone, Copy)]
pub(super) struct ExactSource<'a> {
    pub store: &'a Store,
    pub span: Span,
    pub keys: &'a [String],
}

/// The assessment, with every decision that could flip within the sketches' bounds
/// computed again from the exact values of the window's log.
pub(super) async fn assess_exactly(
    schema: &FeatureSchema,
    policy: &DriftRules,
    reference: &WindowProfile,
    mut current: WindowProfile,
    context: &QualityContext,
    exact: ExactSource<'_>,
) -> Result<Assessment, DriftError> {
    let options = AssessOptions::default();
    let first = assess(schema, policy, reference, &current, context, &options);
    let flip = unstable(
        schema,
        policy,
        reference,
        &current,
        &first,
        options.pvalue_mode,
    );
    if flip.is_empty() {
        return Ok(first);
    }
    tracing::info!(features = ?flip.features, score = flip.score,
        "decisions could flip within the sketches' bounds; reading their exact values");
    let (columns, score) = window::exact_columns(
        exact.store,
        schema,
        exact.span,
        exact.keys,
        &flip.features,
        flip.score,
    )
    .await?;
    let mut names = Vec::new();
    for (&i, column) in flip.features.iter().zip(columns) {
        current.columns[i].numeric = column;
        names.push(schema.features[i].name.clone());
    }
    if let (Some(score), Some(predictions)) = (score, current.predictions.as_mut()) {
        predictions.score = score;
        names.push("(score)".to_string());
    }
    let mut assessment = assess(schema, policy, reference, &current, context, &options);
    assessment.recomputed_exactly = names;
    Ok(assessment)
}

/// The newest report of a check before `now`, if one can be read (a report this
/// version cannot parse is skipped, with a warning).
async fn previous_report(store: &Store, now: DateTime<Utc>) -> Option<DriftReport> {
    let before = format!("{DRIFT_REPORTS_PREFIX}/{}.json", report_stem(now));
    let keys = match store.list(DRIFT_REPORTS_PREFIX).await {
        Ok(keys) => keys,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the previous reports; the trend starts here");
            return None;
        }
    };
    let key = keys
        .into_iter()
        .filter(|k| k.ends_with(".json") && *k < before)
        .max()?;
    let parsed = match store.get(&key).await {
        Ok(bytes) => serde_json::from_slice::<DriftReport>(&bytes).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    parsed
        .map_err(|e| tracing::warn!(report = %key, error = %e, "previous report unreadable; the trend starts here"))
        .ok()
}

/// The previous report's trend (or the previous report itself) and this check, the
/// last [`TREND_CHECKS`] of them.
fn trend(previous: Option<&DriftReport>, report: &DriftReport) -> Vec<TrendPoint> {
    let mut points = match previous {
        Some(p) if !p.trend.is_empty() => p.trend.clone(),
        Some(p) => vec![TrendPoint::of(p)],
        None => Vec::new(),
    };
    points.push(TrendPoint::of(report));
    // Earlier windows that labels realized in this check: their points show it.
    if let Some(CheckPerformance::Assessed { matured, .. }) = &report.model_performance {
        let metrics = &report.policy.performance.metrics;
        for m in matured {
            let point = points.iter_mut().find(|p| p.checked_at == m.until);
            if let Some(brief) = point.and_then(|p| p.performance.as_mut()) {
                brief.realize_again(&m.window, metrics);
            }
        }
    }
    let excess = points.len().saturating_sub(TREND_CHECKS);
    points.drain(..excess);
    points
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
