//! `vigil inject`: turn a dataset into request traffic with a chosen kind of drift.
//!
//! Seven kinds, each with an `intensity` in (0, 1] (0.5 = "moderate", what the
//! detection trials use) and a `sudden` (every row at full intensity) or `gradual`
//! (row i of n at `intensity · (i + 1) / n`) profile:
//!
//! | kind | what changes (at intensity `s`) |
//! | --- | --- |
//! | `mean-shift` | numeric feature: `x + s·σ` |
//! | `variance-change` | numeric feature: `μ + (x − μ)(1 + s)` |
//! | `category-frequency-shift` | categorical: rows of the most frequent categories (together at least half of the rows) move, with probability `0.6·s`, to one of the other categories drawn uniformly |
//! | `new-category` | categorical: a row becomes `<feature>-unseen` with probability `0.2·s` |
//! | `missing-surge` | any feature: a value goes missing with probability `0.6·s` |
//! | `out-of-range` | numeric: a value is set beyond the schema's `max` (else below `min`, else beyond the data's range) with probability `0.1·s` |
//! | `concept-drift` | features unchanged; in a segment (the upper half of a numeric feature by rank, or the most frequent categories covering half of the rows) the label flips with probability `0.6·s` |
//!
//! `μ`, `σ` and the medians come from the rows being injected. Numeric columns
//! whose values are all integers stay integers (shifted values are rounded).
//! Without `feature`, one applicable feature is chosen with the seed.

mod http;
mod kinds;

pub use http::{
    feedback_jsonl, post, post_feedback, request, request_id, requests_jsonl, PostError,
};

use serde::Serialize;
use vigil_core::data::dataset::RawTable;
use vigil_core::data::schema::{FeatureSchema, FeatureType, Value};
use vigil_core::train::split::SplitMix64;

/// The kinds of drift.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriftKind {
    MeanShift,
    VarianceChange,
    CategoryFrequencyShift,
    NewCategory,
    MissingSurge,
    OutOfRange,
    ConceptDrift,
}

impl DriftKind {
    pub const ALL: [DriftKind; 7] = [
        DriftKind::MeanShift,
        DriftKind::VarianceChange,
        DriftKind::CategoryFrequencyShift,
        DriftKind::NewCategory,
        DriftKind::MissingSurge,
        DriftKind::OutOfRange,
        DriftKind::ConceptDrift,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DriftKind::MeanShift => "mean-shift",
            DriftKind::VarianceChange => "variance-change",
            DriftKind::CategoryFrequencyShift => "category-frequency-shift",
            DriftKind::NewCategory => "new-category",
            DriftKind::MissingSurge => "missing-surge",
            DriftKind::OutOfRange => "out-of-range",
            DriftKind::ConceptDrift => "concept-drift",
        }
    }

    fn applies_to(self, kind: FeatureType) -> bool {
        match self {
            DriftKind::MeanShift | DriftKind::VarianceChange | DriftKind::OutOfRange => {
                kind == FeatureType::Numeric
            }
            DriftKind::CategoryFrequencyShift | DriftKind::NewCategory => {
                kind == FeatureType::Categorical
            }
            DriftKind::MissingSurge | DriftKind::ConceptDrift => true,
        }
    }
}

impl std::str::FromStr for DriftKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        DriftKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown drift kind `{s}`; one of: {}",
                    DriftKind::ALL.map(|k| k.name()).join(", ")
                )
            })
    }
}

/// How the drift arrives over the rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RampProfile {
    Sudden,
    Gradual,
}

impl std::str::FromStr for RampProfile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sudden" => Ok(RampProfile::Sudden),
            "gradual" => Ok(RampProfile::Gradual),
            _ => Err(format!("unknown profile `{s}`; one of: sudden, gradual")),
        }
    }
}

/// What to inject.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InjectSpec {
    pub kind: DriftKind,
    /// In (0, 1]; 0.5 is moderate.
    pub intensity: f64,
    pub profile: RampProfile,
    /// The feature to change; `None` picks one with the seed.
    pub feature: Option<String>,
    pub seed: u64,
}

/// Typed rows: `columns[feature][row]` in schema order, labels as class indices.
#[derive(Clone, Debug, PartialEq)]
pub struct Rows {
    pub columns: Vec<Vec<Value>>,
    pub labels: Option<Vec<Option<usize>>>,
}

impl Rows {
    pub fn n_rows(&self) -> usize {
        self.columns.first().map_or(0, Vec::len)
    }

    /// Types a raw table by the schema (cells that do not parse become missing;
    /// the target column, when present, gives the labels).
    pub fn from_raw(schema: &FeatureSchema, raw: &RawTable) -> Result<Rows, InjectError> {
        let mut columns = Vec::with_capacity(schema.features.len());
        for f in &schema.features {
            let cells = raw
                .column(&f.name)
                .ok_or_else(|| InjectError::MissingColumn(f.name.clone()))?;
            columns.push(
                cells
                    .iter()
                    .map(|c| f.parse(c.as_deref()).unwrap_or(Value::Missing))
                    .collect(),
            );
        }
        let labels = raw.column(&schema.target.name).map(|cells| {
            cells
                .iter()
                .map(|c| schema.class_index(c.as_deref().map(str::trim).unwrap_or_default()))
                .collect()
        });
        Ok(Rows { columns, labels })
    }

    /// The rows at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Rows {
        Rows {
            columns: self
                .columns
                .iter()
                .map(|c| indices.iter().map(|&i| c[i].clone()).collect())
                .collect(),
            labels: self
                .labels
                .as_ref()
                .map(|l| indices.iter().map(|&i| l[i]).collect()),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum InjectError {
    #[error("intensity {0} is outside (0, 1]")]
    Intensity(f64),
    #[error("feature `{0}` is not in the schema")]
    UnknownFeature(String),
    #[error("{kind} does not apply to feature `{feature}` ({feature_kind:?})")]
    NotApplicable {
        kind: &'static str,
        feature: String,
        feature_kind: FeatureType,
    },
    #[error("{0} needs at least one feature it applies to")]
    NoFeature(&'static str),
    #[error("feature `{0}` has no present values to derive the drift from")]
    NoValues(String),
    #[error("feature `{0}` has fewer than 2 categories")]
    TooFewCategories(String),
    #[error("concept drift changes labels, but the data has no `{0}` column")]
    NoLabels(String),
    #[error("the data has no column `{0}`")]
    MissingColumn(String),
}

/// What was done.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InjectOutcome {
    pub kind: DriftKind,
    pub feature: String,
    /// Rows whose feature value (or label) changed.
    pub affected_rows: usize,
    pub rows: usize,
    pub description: String,
}

/// Applies the drift to `rows` in place.
pub fn inject(
    schema: &FeatureSchema,
    rows: &mut Rows,
    spec: &InjectSpec,
) -> Result<InjectOutcome, InjectError> {
    if !(spec.intensity > 0.0 && spec.intensity <= 1.0) {
        return Err(InjectError::Intensity(spec.intensity));
    }
    let mut rng = SplitMix64::new(spec.seed);
    let index = match &spec.feature {
        Some(name) => {
            let i = schema
                .feature_index(name)
                .ok_or_else(|| InjectError::UnknownFeature(name.clone()))?;
            if !spec.kind.applies_to(schema.features[i].kind) {
                return Err(InjectError::NotApplicable {
                    kind: spec.kind.name(),
                    feature: name.clone(),
                    feature_kind: schema.features[i].kind,
                });
            }
            i
        }
        None => {
            let candidates: Vec<usize> = schema
                .features
                .iter()
                .enumerate()
                .filter(|(_, f)| spec.kind.applies_to(f.kind))
                .map(|(i, _)| i)
                .collect();
            if candidates.is_empty() {
                return Err(InjectError::NoFeature(spec.kind.name()));
            }
            candidates[rng.below(candidates.len())]
        }
    };
    let feature = &schema.features[index];
    let n = rows.n_rows();
    let ctx = kinds::Context {
        feature,
        spec,
        rows: n,
    };
    let column = &mut rows.columns[index];
    let (affected, description) = match spec.kind {
        DriftKind::MeanShift | DriftKind::VarianceChange => kinds::shift_numeric(&ctx, column)?,
        DriftKind::CategoryFrequencyShift => {
            kinds::category_frequency_shift(&ctx, column, &mut rng)?
        }
        DriftKind::NewCategory => kinds::new_category(&ctx, column, &mut rng),
        DriftKind::MissingSurge => kinds::missing_surge(&ctx, column, &mut rng),
        DriftKind::OutOfRange => kinds::out_of_range(&ctx, column, &mut rng)?,
        DriftKind::ConceptDrift => {
            let labels = rows
                .labels
                .as_mut()
                .ok_or_else(|| InjectError::NoLabels(schema.target.name.clone()))?;
            let n_classes = schema.target.classes.len();
            kinds::concept_drift(&ctx, &rows.columns[index], labels, n_classes, &mut rng)?
        }
    };
    Ok(InjectOutcome {
        kind: spec.kind,
        feature: feature.name.clone(),
        affected_rows: affected,
        rows: n,
        description,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> FeatureSchema {
        serde_yaml::from_str(
            r#"
target: {name: y, classes: [no, yes]}
features:
  - {name: age, type: numeric, min: 17, max: 100}
  - {name: colour, type: categorical, nullable: true}
"#,
        )
        .expect("schema")
    }

    fn rows(n: usize) -> Rows {
        Rows {
            columns: vec![
                (0..n)
                    .map(|i| Value::Number(20.0 + (i % 40) as f64))
                    .collect(),
                (0..n)
                    .map(|i| Value::Category(["red", "red", "red", "blue", "green"][i % 5].into()))
                    .collect(),
            ],
            labels: Some((0..n).map(|i| Some(i % 2)).collect()),
        }
    }

    fn spec(kind: DriftKind, feature: &str) -> InjectSpec {
        InjectSpec {
            kind,
            intensity: 0.5,
            profile: RampProfile::Sudden,
            feature: Some(feature.into()),
            seed: 7,
        }
    }

    #[test]
    fn every_kind_changes_what_it_says() {
        let s = schema();
        for kind in DriftKind::ALL {
            let feature = if kind.applies_to(FeatureType::Numeric) {
                "age"
            } else {
                "colour"
            };
            let mut r = rows(1000);
            let out = inject(&s, &mut r, &spec(kind, feature)).expect("inject");
            assert!(out.affected_rows > 0, "{kind:?}: {out:?}");
            if kind == DriftKind::ConceptDrift {
                assert_eq!(r.columns, rows(1000).columns);
                assert_ne!(r.labels, rows(1000).labels);
            } else {
                assert_eq!(r.labels, rows(1000).labels);
            }
        }
    }

    #[test]
    fn mean_shift_is_half_a_standard_deviation_and_stays_integer() {
        let s = schema();
        let mut r = rows(4000);
        inject(&s, &mut r, &spec(DriftKind::MeanShift, "age")).expect("inject");
        let mean = |rows: &Rows| {
            rows.columns[0]
                .iter()
                .map(|v| match v {
                    Value::Number(x) => *x,
                    _ => f64::NAN,
                })
                .sum::<f64>()
                / 4000.0
        };
        let shift = mean(&r) - mean(&rows(4000));
        // sd of 20..59 uniform ≈ 11.54; 0.5 sd ≈ 5.77, rounded to 6.
        assert!((shift - 6.0).abs() < 1e-9, "{shift}");
    }

    #[test]
    fn gradual_profile_ramps_up() {
        let s = schema();
        let mut r = rows(10_000);
        let mut sp = spec(DriftKind::MissingSurge, "colour");
        sp.profile = RampProfile::Gradual;
        inject(&s, &mut r, &sp).expect("inject");
        let missing = |range: std::ops::Range<usize>| {
            r.columns[1][range]
                .iter()
                .filter(|v| **v == Value::Missing)
                .count()
        };
        assert!(
            missing(0..2000) * 3 < missing(8000..10_000),
            "{} {}",
            missing(0..2000),
            missing(8000..10_000)
        );
    }

    #[test]
    fn wrong_feature_kinds_are_refused() {
        let s = schema();
        let mut r = rows(10);
        let e = inject(&s, &mut r, &spec(DriftKind::MeanShift, "colour")).expect_err("categorical");
        assert!(e.to_string().contains("does not apply"), "{e}");
        let mut r = rows(10);
        r.labels = None;
        let e = inject(&s, &mut r, &spec(DriftKind::ConceptDrift, "age")).expect_err("labels");
        assert_eq!(e, InjectError::NoLabels("y".into()));
        assert!("sideways".parse::<DriftKind>().is_err());
    }

    #[test]
    fn bodies_use_the_bench_format() {
        let s = schema();
        let mut r = rows(2);
        r.columns[1][1] = Value::Missing;
        let text = requests_jsonl(&s, &r, "req");
        let first: serde_json::Value =
            serde_json::from_str(text.lines().next().expect("line")).expect("json");
        assert_eq!(
            first,
            serde_json::json!({"request_id": "req-0", "features": {"age": 20, "colour": "red"}})
        );
        assert!(text
            .lines()
            .nth(1)
            .expect("line")
            .contains("\"colour\":null"));
        let fb = feedback_jsonl(&s, &r, "req").expect("labels");
        assert_eq!(
            fb.lines().next(),
            Some("{\"label\":\"no\",\"request_id\":\"req-0\"}")
        );
    }
}
