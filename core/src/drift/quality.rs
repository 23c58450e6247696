//! Data-quality checks of the live window (7): missing rate, out-of-range values,
//! unseen categories, parse errors, duplicate request ids, volume and staleness.
//!
//! Hard checks (a failure makes the overall verdict `Critical`): parse errors and
//! staleness — the data pipeline is broken. Soft checks (`Warning`): the rest — the
//! data is suspicious but usable. A check without what it needs (no rows, no request
//! ids, no expected rate, no clock) is `skipped` and says why. One function per check.

use chrono::{DateTime, Utc};

use crate::data::schema::{FeatureSpec, FeatureType};

use super::profile::{ColumnProfile, WindowProfile};
use super::report::{CheckStatus, FeatureRate, QualityCheck, QualityCheckName, QualityReport};
use super::rules::{DriftRules, QualitySpec};
use super::sketch::{MISSING_CATEGORY, OTHER_CATEGORY};
use super::verdict::Verdict;

/// Where and when the window was taken (scheduled checks); empty for ad-hoc ones.
#[derive(Clone, Copy, Debug, Default)]
pub struct QualityContext {
    pub now: Option<DateTime<Utc>>,
    /// `[since, until]` of the window.
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// A checked feature: its spec, its current profile and its reference profile.
type Selected<'a> = (&'a FeatureSpec, &'a ColumnProfile, &'a ColumnProfile);

/// Runs the 7 checks on `current`; `reference` supplies the known categories.
pub fn assess_quality(
    schema: &crate::data::schema::FeatureSchema,
    rules: &DriftRules,
    reference: &WindowProfile,
    current: &WindowProfile,
    context: &QualityContext,
) -> QualityReport {
    let q = &rules.quality;
    let rows = current.rows;
    let selected: Vec<Selected> = schema
        .features
        .iter()
        .zip(&current.columns)
        .zip(&reference.columns)
        .filter(|((f, _), _)| rules.features.selects(&f.name))
        .map(|((f, c), r)| (f, c, r))
        .collect();
    let checks = vec![
        missing_rate(&selected, q, rows),
        out_of_range(&selected, q, rows),
        unseen_categories(&selected, q, rows),
        parse_errors(&selected, q, rows),
        duplicate_request_ids(current, q),
        volume(q, context, rows),
        staleness(rules, current, context),
    ];
    let failed = |hard: bool| {
        checks
            .iter()
            .any(|c| c.status == CheckStatus::Failed && c.name.is_hard() == hard)
    };
    let (hard, soft) = (failed(true), failed(false));
    QualityReport {
        passed: !hard,
        verdict: if hard {
            Verdict::Critical
        } else if soft {
            Verdict::Warning
        } else {
            Verdict::None
        },
        checks,
    }
}

fn missing_rate(selected: &[Selected], q: &QualitySpec, rows: u64) -> QualityCheck {
    per_feature(
        QualityCheckName::MissingRate,
        q.max_missing_rate,
        rows,
        selected
            .iter()
            .map(|(f, c, _)| (f.name.clone(), c.missing))
            .collect(),
        "missing values",
    )
}

fn out_of_range(selected: &[Selected], q: &QualitySpec, rows: u64) -> QualityCheck {
    per_feature(
        QualityCheckName::OutOfRange,
        q.max_out_of_range_rate,
        rows,
        selected
            .iter()
            .filter(|(f, _, _)| f.kind == FeatureType::Numeric)
            .map(|(f, c, _)| (f.name.clone(), c.out_of_range))
            .collect(),
        "numeric values outside the schema's range",
    )
}

fn unseen_categories(selected: &[Selected], q: &QualitySpec, rows: u64) -> QualityCheck {
    let unseen = |f: &FeatureSpec, current: &ColumnProfile, reference: &ColumnProfile| -> u64 {
        current
            .categories
            .iter()
            .filter(|(name, _)| {
                *name != MISSING_CATEGORY
                    && *name != OTHER_CATEGORY
                    && !reference.categories.contains(name)
                    && !f.allowed_values.iter().any(|a| a == name)
            })
            .map(|(_, count)| count)
            .sum()
    };
    per_feature(
        QualityCheckName::UnseenCategories,
        q.max_unseen_category_rate,
        rows,
        selected
            .iter()
            .filter(|(f, _, _)| f.kind == FeatureType::Categorical)
            .map(|(f, c, r)| (f.name.clone(), unseen(f, c, r)))
            .collect(),
        "categories never seen in the reference",
    )
}

fn parse_errors(selected: &[Selected], q: &QualitySpec, rows: u64) -> QualityCheck {
    per_feature(
        QualityCheckName::ParseErrors,
        q.max_parse_error_rate,
        rows,
        selected
            .iter()
            .map(|(f, c, _)| (f.name.clone(), c.parse_errors))
            .collect(),
        "values that do not parse as their declared type",
    )
}

fn duplicate_request_ids(current: &WindowProfile, q: &QualitySpec) -> QualityCheck {
    let name = QualityCheckName::DuplicateRequestIds;
    let ids = match &current.ids {
        None => return skipped(name, "the data has no request ids"),
        Some(ids) if ids.rows() == 0 => return skipped(name, "no rows in the window"),
        Some(ids) => ids,
    };
    let rate = ids.duplicate_rate();
    let how = if ids.is_exact() {
        "exact"
    } else {
        "estimated from a hash sample of ≥ 131072 ids"
    };
    measured(
        name,
        rate > q.max_duplicate_rate,
        Some(rate),
        Some(q.max_duplicate_rate),
        format!(
            "{:.2}% of rows repeat an earlier request id ({how}); limit {:.2}%",
            rate * 100.0,
            q.max_duplicate_rate * 100.0
        ),
    )
}

fn volume(q: &QualitySpec, context: &QualityContext, rows: u64) -> QualityCheck {
    let name = QualityCheckName::Volume;
    let (per_hour, (since, until)) = match (q.expected_requests_per_hour, context.window) {
        (None, _) => return skipped(name, "quality.expectedRequestsPerHour is not set"),
        (_, None) => return skipped(name, "the data has no time window"),
        (Some(per_hour), Some(window)) => (per_hour, window),
    };
    let hours = (until - since).num_seconds().max(1) as f64 / 3600.0;
    let expected = per_hour * hours;
    let low = expected * (1.0 - q.volume_tolerance);
    let high = expected * (1.0 + q.volume_tolerance);
    let n = rows as f64;
    measured(
        name,
        !(low..=high).contains(&n),
        Some(n),
        Some(expected),
        format!("{rows} rows in {hours:.2} h; expected {expected:.0} (allowed {low:.0}–{high:.0})"),
    )
}

fn staleness(
    rules: &DriftRules,
    current: &WindowProfile,
    context: &QualityContext,
) -> QualityCheck {
    let name = QualityCheckName::Staleness;
    let (Some(now), Some(_)) = (context.now, context.window) else {
        return skipped(name, "the data has no timestamps (ad-hoc check)");
    };
    let limit = rules.quality.max_staleness.unwrap_or(rules.window);
    let threshold = Some(limit.as_secs() as f64);
    match current.last_seen {
        None => measured(
            name,
            true,
            None,
            threshold,
            format!("no prediction was logged in the last {}", rules.window),
        ),
        Some(last) => {
            let age = (now - last).num_seconds().max(0) as u64;
            measured(
                name,
                age > limit.as_secs(),
                Some(age as f64),
                threshold,
                format!(
                    "newest record is {age} s old (at {}); limit {limit}",
                    last.format("%Y-%m-%dT%H:%M:%SZ")
                ),
            )
        }
    }
}

/// A check on one number against its threshold.
fn measured(
    name: QualityCheckName,
    failed: bool,
    value: Option<f64>,
    threshold: Option<f64>,
    message: String,
) -> QualityCheck {
    QualityCheck {
        name,
        severity: name.severity(),
        status: if failed {
            CheckStatus::Failed
        } else {
            CheckStatus::Passed
        },
        value,
        threshold,
        message,
        features: Vec::new(),
    }
}

/// A check of every feature's rate; it fails when one feature is above the threshold.
fn per_feature(
    name: QualityCheckName,
    threshold: f64,
    rows: u64,
    counts: Vec<(String, u64)>,
    what: &str,
) -> QualityCheck {
    if rows == 0 {
        return skipped(name, "no rows in the window");
    }
    let mut rates: Vec<FeatureRate> = counts
        .into_iter()
        .map(|(feature, count)| FeatureRate {
            feature,
            count,
            rate: count as f64 / rows as f64,
        })
        .collect();
    rates.sort_by(|a, b| b.rate.total_cmp(&a.rate));
    let worst = rates.first().map_or(0.0, |r| r.rate);
    let failing: Vec<FeatureRate> = rates.into_iter().filter(|r| r.rate > threshold).collect();
    let failed = !failing.is_empty();
    let message = if !failed {
        format!(
            "{what}: worst feature {:.2}% ≤ {:.2}%",
            worst * 100.0,
            threshold * 100.0
        )
    } else {
        format!(
            "{what} above {:.2}% in {}",
            threshold * 100.0,
            failing
                .iter()
                .map(|r| format!("`{}` ({:.2}%, {} rows)", r.feature, r.rate * 100.0, r.count))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    QualityCheck {
        features: failing,
        ..measured(name, failed, Some(worst), Some(threshold), message)
    }
}

fn skipped(name: QualityCheckName, why: &str) -> QualityCheck {
    QualityCheck {
        name,
        severity: name.severity(),
        status: CheckStatus::Skipped,
        value: None,
        threshold: None,
        message: format!("skipped: {why}"),
        features: Vec::new(),
    }
}
