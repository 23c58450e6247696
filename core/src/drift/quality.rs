//! Data-quality checks of the live window (7): missing rate, out-of-range values,
//! unseen categories, parse errors, duplicate request ids, volume and staleness.
//!
//! Hard checks (a failure makes the overall verdict `Critical`): parse errors and
//! staleness — the data pipeline is broken. Soft checks (`Warning`): the rest — the
//! data is suspicious but usable. A check without what it needs (no rows, no request
//! ids, no expected rate, no clock) is `skipped` and says why.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::schema::{FeatureSchema, FeatureType};

use super::policy::DriftPolicy;
use super::profile::WindowProfile;
use super::sketch::{MISSING_CATEGORY, OTHER_CATEGORY};
use super::verdict::Verdict;

/// Where and when the window was taken (scheduled checks); empty for ad-hoc ones.
#[derive(Clone, Copy, Debug, Default)]
pub struct QualityContext {
    pub now: Option<DateTime<Utc>>,
    /// `[since, until]` of the window.
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    Hard,
    Soft,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CheckStatus {
    Passed,
    Failed,
    Skipped,
}

/// One feature's number in a per-feature check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeatureRate {
    pub feature: String,
    pub count: u64,
    pub rate: f64,
}

/// One check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QualityCheck {
    /// `missingRate`, `outOfRange`, `unseenCategories`, `parseErrors`,
    /// `duplicateRequestIds`, `volume`, `staleness`.
    pub name: String,
    pub severity: Severity,
    pub status: CheckStatus,
    /// The measured value (worst feature's rate, duplicate rate, rows, seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    pub message: String,
    /// Features above the threshold (per-feature checks), worst first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<FeatureRate>,
}

/// All checks of a window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QualityReport {
    /// No hard check failed.
    pub passed: bool,
    /// `Critical` on a hard failure, `Warning` on a soft one, else `None`.
    pub verdict: Verdict,
    pub checks: Vec<QualityCheck>,
}

impl QualityReport {
    /// Names of failed checks, hard ones first.
    pub fn failures(&self) -> Vec<String> {
        let mut out: Vec<&QualityCheck> = self
            .checks
            .iter()
            .filter(|c| c.status == CheckStatus::Failed)
            .collect();
        out.sort_by_key(|c| c.severity != Severity::Hard);
        out.iter().map(|c| c.name.clone()).collect()
    }
}

fn per_feature(
    name: &str,
    severity: Severity,
    threshold: f64,
    rows: u64,
    counts: Vec<(String, u64)>,
    what: &str,
) -> QualityCheck {
    if rows == 0 {
        return skipped(name, severity, "no rows in the window");
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
    let status = if failing.is_empty() {
        CheckStatus::Passed
    } else {
        CheckStatus::Failed
    };
    let message = if failing.is_empty() {
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
        name: name.to_string(),
        severity,
        status,
        value: Some(worst),
        threshold: Some(threshold),
        message,
        features: failing,
    }
}

fn skipped(name: &str, severity: Severity, why: &str) -> QualityCheck {
    QualityCheck {
        name: name.to_string(),
        severity,
        status: CheckStatus::Skipped,
        value: None,
        threshold: None,
        message: format!("skipped: {why}"),
        features: Vec::new(),
    }
}

/// Runs the 7 checks on `current`; `reference` supplies the known categories.
pub fn assess_quality(
    schema: &FeatureSchema,
    policy: &DriftPolicy,
    reference: &WindowProfile,
    current: &WindowProfile,
    context: &QualityContext,
) -> QualityReport {
    let q = &policy.quality;
    let rows = current.rows;
    let columns = || {
        schema
            .features
            .iter()
            .zip(&current.columns)
            .zip(&reference.columns)
            .filter(|((f, _), _)| policy.features.selects(&f.name))
    };
    let mut checks = Vec::new();
    checks.push(per_feature(
        "missingRate",
        Severity::Soft,
        q.max_missing_rate,
        rows,
        columns()
            .map(|((f, c), _)| (f.name.clone(), c.missing))
            .collect(),
        "missing values",
    ));
    checks.push(per_feature(
        "outOfRange",
        Severity::Soft,
        q.max_out_of_range_rate,
        rows,
        columns()
            .filter(|((f, _), _)| f.kind == FeatureType::Numeric)
            .map(|((f, c), _)| (f.name.clone(), c.out_of_range))
            .collect(),
        "numeric values outside the schema's range",
    ));
    checks.push(per_feature(
        "unseenCategories",
        Severity::Soft,
        q.max_unseen_category_rate,
        rows,
        columns()
            .filter(|((f, _), _)| f.kind == FeatureType::Categorical)
            .map(|((f, c), r)| {
                let unseen: u64 = c
                    .categories
                    .iter()
                    .filter(|(name, _)| {
                        *name != MISSING_CATEGORY
                            && *name != OTHER_CATEGORY
                            && !r.categories.contains(name)
                            && !f.allowed_values.iter().any(|a| a == name)
                    })
                    .map(|(_, count)| count)
                    .sum();
                (f.name.clone(), unseen)
            })
            .collect(),
        "categories never seen in the reference",
    ));
    checks.push(per_feature(
        "parseErrors",
        Severity::Hard,
        q.max_parse_error_rate,
        rows,
        columns()
            .map(|((f, c), _)| (f.name.clone(), c.parse_errors))
            .collect(),
        "values that do not parse as their declared type",
    ));
    checks.push(match &current.ids {
        None => skipped(
            "duplicateRequestIds",
            Severity::Soft,
            "the data has no request ids",
        ),
        Some(ids) if ids.rows() == 0 => skipped(
            "duplicateRequestIds",
            Severity::Soft,
            "no rows in the window",
        ),
        Some(ids) => {
            let rate = ids.duplicate_rate();
            let how = if ids.is_exact() {
                "exact"
            } else {
                "estimated from a hash sample of ≥ 131072 ids"
            };
            QualityCheck {
                name: "duplicateRequestIds".into(),
                severity: Severity::Soft,
                status: if rate > q.max_duplicate_rate {
                    CheckStatus::Failed
                } else {
                    CheckStatus::Passed
                },
                value: Some(rate),
                threshold: Some(q.max_duplicate_rate),
                message: format!(
                    "{:.2}% of rows repeat an earlier request id ({how}); limit {:.2}%",
                    rate * 100.0,
                    q.max_duplicate_rate * 100.0
                ),
                features: Vec::new(),
            }
        }
    });
    checks.push(match (q.expected_requests_per_hour, context.window) {
        (None, _) => skipped("volume", Severity::Soft, "quality.expectedRequestsPerHour is not set"),
        (_, None) => skipped("volume", Severity::Soft, "the data has no time window"),
        (Some(per_hour), Some((since, until))) => {
            let hours = (until - since).num_seconds().max(1) as f64 / 3600.0;
            let expected = per_hour * hours;
            let low = expected * (1.0 - q.volume_tolerance);
            let high = expected * (1.0 + q.volume_tolerance);
            let n = rows as f64;
            let ok = n >= low && n <= high;
            QualityCheck {
                name: "volume".into(),
                severity: Severity::Soft,
                status: if ok { CheckStatus::Passed } else { CheckStatus::Failed },
                value: Some(n),
                threshold: Some(expected),
                message: format!(
                    "{rows} rows in {hours:.2} h; expected {expected:.0} (allowed {low:.0}–{high:.0})"
                ),
                features: Vec::new(),
            }
        }
    });
    checks.push(match (context.now, context.window) {
        (Some(now), Some(_)) => {
            let limit = q.max_staleness.unwrap_or(policy.window);
            match current.last_seen {
                None => QualityCheck {
                    name: "staleness".into(),
                    severity: Severity::Hard,
                    status: CheckStatus::Failed,
                    value: None,
                    threshold: Some(limit.as_secs() as f64),
                    message: format!("no prediction was logged in the last {}", policy.window),
                    features: Vec::new(),
                },
                Some(last) => {
                    let age = (now - last).num_seconds().max(0) as u64;
                    QualityCheck {
                        name: "staleness".into(),
                        severity: Severity::Hard,
                        status: if age > limit.as_secs() {
                            CheckStatus::Failed
                        } else {
                            CheckStatus::Passed
                        },
                        value: Some(age as f64),
                        threshold: Some(limit.as_secs() as f64),
                        message: format!(
                            "newest record is {age} s old (at {}); limit {limit}",
                            last.format("%Y-%m-%dT%H:%M:%SZ")
                        ),
                        features: Vec::new(),
                    }
                }
            }
        }
        _ => skipped(
            "staleness",
            Severity::Hard,
            "the data has no timestamps (ad-hoc check)",
        ),
    });
    let hard = checks
        .iter()
        .any(|c| c.status == CheckStatus::Failed && c.severity == Severity::Hard);
    let soft = checks
        .iter()
        .any(|c| c.status == CheckStatus::Failed && c.severity == Severity::Soft);
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
