//! The feature schema: the single source of truth for a model's columns.
//!
//! It is embedded unchanged in the `MonitoredModel` spec, the training job's
//! configuration and every model artifact, so the trainer, the server and the
//! drift checker always agree on names, types and allowed values.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::text::shorten;

/// Declared type of a feature column.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureType {
    /// A real number; parsed from text as `f64`, must be finite.
    Numeric,
    /// A label from a finite set; kept as text.
    Categorical,
}

/// One input column of the model.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FeatureSpec {
    /// Column name, as it appears in the data and in prediction requests.
    pub name: String,
    /// `numeric` or `categorical`.
    #[serde(rename = "type")]
    pub kind: FeatureType,
    /// Smallest valid value (numeric features only). Values below it are out of range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest valid value (numeric features only). Values above it are out of range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The only values a categorical feature may take; empty means "any value seen in training".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "schema", schemars(extend("x-kubernetes-list-type" = "set")))]
    pub allowed_values: Vec<String>,
    /// Whether the feature may be missing (null / empty). Missing values of a
    /// non-nullable feature are a validation failure.
    #[serde(default)]
    pub nullable: bool,
}

/// The column the model predicts.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetSpec {
    /// Column name of the label in training data and feedback.
    pub name: String,
    /// The classes, in the order used for probabilities. For binary models the
    /// second class is the positive one (ROC-AUC, precision, recall).
    #[cfg_attr(feature = "schema", schemars(extend("x-kubernetes-list-type" = "set")))]
    pub classes: Vec<String>,
}

/// Features and target of a model.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FeatureSchema {
    /// The label to predict.
    pub target: TargetSpec,
    /// The inputs, in a fixed order; a list-map keyed by `name` (server-side apply
    /// merges them by name, the API server refuses a name twice).
    #[cfg_attr(
        feature = "schema",
        schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))
    )]
    pub features: Vec<FeatureSpec>,
}

/// A schema that breaks its own rules.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SchemaError {
    #[error("schema has no features")]
    NoFeatures,
    #[error("feature `{0}` is declared more than once")]
    DuplicateFeature(String),
    #[error("feature `{0}` has the same name as the target")]
    FeatureIsTarget(String),
    #[error("target `{name}` needs at least 2 distinct classes, got {count}")]
    TooFewClasses { name: String, count: usize },
    #[error("target `{name}` lists class `{class}` more than once")]
    DuplicateClass { name: String, class: String },
    #[error("feature `{name}`: min {min} is greater than max {max}")]
    EmptyRange { name: String, min: f64, max: f64 },
    #[error("feature `{name}`: `{field}` applies to {applies_to} features only")]
    MisplacedField {
        name: String,
        field: &'static str,
        applies_to: &'static str,
    },
    #[error("feature `{name}`: `{field}` must be finite")]
    NonFinite { name: String, field: &'static str },
}

impl FeatureSchema {
    /// Checks the schema's internal consistency.
    pub fn check(&self) -> Result<(), SchemaError> {
        if self.features.is_empty() {
            return Err(SchemaError::NoFeatures);
        }
        let mut seen = BTreeSet::new();
        for feature in &self.features {
            if !seen.insert(feature.name.as_str()) {
                return Err(SchemaError::DuplicateFeature(feature.name.clone()));
            }
            if feature.name == self.target.name {
                return Err(SchemaError::FeatureIsTarget(feature.name.clone()));
            }
            feature.check()?;
        }
        let distinct: BTreeSet<&str> = self.target.classes.iter().map(String::as_str).collect();
        if distinct.len() != self.target.classes.len() {
            let mut seen = BTreeSet::new();
            for class in &self.target.classes {
                if !seen.insert(class) {
                    return Err(SchemaError::DuplicateClass {
                        name: self.target.name.clone(),
                        class: class.clone(),
                    });
                }
            }
        }
        if distinct.len() < 2 {
            return Err(SchemaError::TooFewClasses {
                name: self.target.name.clone(),
                count: distinct.len(),
            });
        }
        Ok(())
    }

    /// Index of a feature by name.
    pub fn feature_index(&self, name: &str) -> Option<usize> {
        self.features.iter().position(|f| f.name == name)
    }

    /// Index of a class by name.
    pub fn class_index(&self, class: &str) -> Option<usize> {
        self.target.classes.iter().position(|c| c == class)
    }
}

impl FeatureSpec {
    fn check(&self) -> Result<(), SchemaError> {
        for (field, value) in [("min", self.min), ("max", self.max)] {
            if let Some(v) = value {
                if self.kind != FeatureType::Numeric {
                    return Err(SchemaError::MisplacedField {
                        name: self.name.clone(),
                        field,
                        applies_to: "numeric",
                    });
                }
                if !v.is_finite() {
                    return Err(SchemaError::NonFinite {
                        name: self.name.clone(),
                        field,
                    });
                }
            }
        }
        if let (Some(min), Some(max)) = (self.min, self.max) {
            if min > max {
                return Err(SchemaError::EmptyRange {
                    name: self.name.clone(),
                    min,
                    max,
                });
            }
        }
        if !self.allowed_values.is_empty() && self.kind != FeatureType::Categorical {
            return Err(SchemaError::MisplacedField {
                name: self.name.clone(),
                field: "allowedValues",
                applies_to: "categorical",
            });
        }
        Ok(())
    }

    /// Parses a raw text cell into a typed value. Empty text is missing.
    pub fn parse(&self, raw: Option<&str>) -> Result<Value, FieldProblem> {
        let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(Value::Missing);
        };
        match self.kind {
            FeatureType::Categorical => Ok(Value::Category(text.to_string())),
            FeatureType::Numeric => match text.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(Value::Number(v)),
                Ok(_) => Err(FieldProblem::NonFinite),
                Err(_) => Err(FieldProblem::NotANumber(shorten(text, 40))),
            },
        }
    }

    /// Whether [`check_value`](Self::check_value) passes every number of a numeric
    /// column (`NaN`: missing): one pass without building values, for the usual column
    /// with nothing to report. `false` only says a value must be checked by itself.
    pub fn numbers_pass(&self, values: &[f64]) -> bool {
        let min = self.min.unwrap_or(f64::NEG_INFINITY);
        let max = self.max.unwrap_or(f64::INFINITY);
        let nullable = self.nullable;
        values.iter().all(|&v| {
            if v.is_nan() {
                nullable
            } else {
                v.is_finite() && v >= min && v <= max
            }
        })
    }

    /// Checks a typed value against type, nullability, range and allowed values.
    pub fn check_value(&self, value: &Value) -> Result<(), FieldProblem> {
        match (self.kind, value) {
            (_, Value::Missing) if self.nullable => Ok(()),
            (_, Value::Missing) => Err(FieldProblem::Null),
            (FeatureType::Numeric, Value::Number(v)) => {
                if !v.is_finite() {
                    return Err(FieldProblem::NonFinite);
                }
                if let Some(min) = self.min.filter(|min| v < min) {
                    return Err(FieldProblem::BelowMin { value: *v, min });
                }
                if let Some(max) = self.max.filter(|max| v > max) {
                    return Err(FieldProblem::AboveMax { value: *v, max });
                }
                Ok(())
            }
            (FeatureType::Categorical, Value::Category(c)) => {
                if self.allowed_values.is_empty() || self.allowed_values.iter().any(|a| a == c) {
                    Ok(())
                } else {
                    Err(FieldProblem::NotAllowed(shorten(c, 40)))
                }
            }
            (FeatureType::Numeric, Value::Category(_)) => {
                Err(FieldProblem::WrongType { expected: "number" })
            }
            (FeatureType::Categorical, Value::Number(_)) => {
                Err(FieldProblem::WrongType { expected: "string" })
            }
        }
    }
}

/// A typed cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Number(f64),
    Category(String),
    Missing,
}

impl Value {
    /// A number of a numeric column as a server holds it, where `NaN` marks a missing
    /// value.
    pub fn of_number(x: f64) -> Value {
        if x.is_nan() {
            Value::Missing
        } else {
            Value::Number(x)
        }
    }
}

/// What is wrong with one field.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FieldProblem {
    #[error("is required but missing")]
    Missing,
    #[error("is not a feature of this model")]
    Unknown,
    #[error("is null but the feature is not nullable")]
    Null,
    #[error("must be a {expected}")]
    WrongType { expected: &'static str },
    #[error("must be a finite number")]
    NonFinite,
    #[error("`{0}` is not a number")]
    NotANumber(String),
    #[error("{value} is below the minimum {min}")]
    BelowMin { value: f64, min: f64 },
    #[error("{value} is above the maximum {max}")]
    AboveMax { value: f64, max: f64 },
    #[error("`{0}` is not one of the allowed values")]
    NotAllowed(String),
}

impl FieldProblem {
    /// Stable, bounded label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            FieldProblem::Missing => "missing",
            FieldProblem::Unknown => "unknown",
            FieldProblem::Null => "null",
            FieldProblem::WrongType { .. } => "wrong_type",
            FieldProblem::NonFinite => "non_finite",
            FieldProblem::NotANumber(_) => "not_a_number",
            FieldProblem::BelowMin { .. } | FieldProblem::AboveMax { .. } => "out_of_range",
            FieldProblem::NotAllowed(_) => "not_allowed",
        }
    }
}

/// A problem with a named field.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldError {
    pub field: String,
    #[serde(serialize_with = "serialize_display")]
    pub problem: FieldProblem,
}

impl FieldError {
    pub fn new(field: &str, problem: FieldProblem) -> Self {
        Self {
            field: shorten(field, 80),
            problem,
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "field `{}` {}", self.field, self.problem)
    }
}

fn serialize_display<S: serde::Serializer, T: std::fmt::Display>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn adult_like() -> FeatureSchema {
        serde_yaml::from_str(
            r#"
target: {name: income, classes: ["<=50K", ">50K"]}
features:
  - {name: age, type: numeric, min: 17, max: 100}
  - {name: workclass, type: categorical, nullable: true}
  - {name: sex, type: categorical, allowedValues: [Male, Female]}
"#,
        )
        .expect("schema parses")
    }

    #[test]
    fn numbers_pass_exactly_when_each_checks() {
        let numbers = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            16.9,
            17.0,
            50.0,
            100.0,
            100.1,
        ];
        for (min, max, nullable) in [
            (Some(17.0), Some(100.0), false),
            (Some(17.0), Some(100.0), true),
            (None, Some(100.0), true),
            (Some(17.0), None, false),
            (None, None, true),
        ] {
            let mut spec = adult_like().features[0].clone();
            (spec.min, spec.max, spec.nullable) = (min, max, nullable);
            let checks = |x: f64| spec.check_value(&Value::of_number(x)).is_ok();
            for x in numbers {
                assert_eq!(spec.numbers_pass(&[50.0, x]), checks(x), "{x} in {spec:?}");
            }
            assert!(spec.numbers_pass(&[]));
        }
    }

    #[test]
    fn a_valid_schema_checks() {
        assert_eq!(adult_like().check(), Ok(()));
    }

    #[test]
    fn schema_errors_name_the_problem() {
        let mut s = adult_like();
        s.features.push(s.features[0].clone());
        assert_eq!(
            s.check(),
            Err(SchemaError::DuplicateFeature("age".to_string()))
        );

        let mut s = adult_like();
        s.target.classes = vec!["a".into()];
        assert_eq!(
            s.check().map_err(|e| e.to_string()),
            Err("target `income` needs at least 2 distinct classes, got 1".to_string())
        );

        let mut s = adult_like();
        s.features[0].min = Some(200.0);
        assert!(matches!(s.check(), Err(SchemaError::EmptyRange { .. })));

        let mut s = adult_like();
        s.features[1].min = Some(1.0);
        assert!(matches!(
            s.check(),
            Err(SchemaError::MisplacedField { field: "min", .. })
        ));
    }

    #[test]
    fn unknown_schema_fields_are_rejected() {
        let err = serde_yaml::from_str::<FeatureSchema>(
            "target: {name: y, classes: [a, b]}\nfeatures: [{name: x, type: numeric, maximum: 3}]",
        )
        .expect_err("unknown field");
        assert!(err.to_string().contains("maximum"), "{err}");
    }

    #[test]
    fn parse_types_and_missing() {
        let s = adult_like();
        assert_eq!(s.features[0].parse(Some(" 42 ")), Ok(Value::Number(42.0)));
        assert_eq!(s.features[0].parse(Some("")), Ok(Value::Missing));
        assert_eq!(s.features[0].parse(None), Ok(Value::Missing));
        assert_eq!(
            s.features[0].parse(Some("forty")),
            Err(FieldProblem::NotANumber("forty".into()))
        );
        assert_eq!(
            s.features[0].parse(Some("inf")),
            Err(FieldProblem::NonFinite)
        );
        assert_eq!(
            s.features[1].parse(Some("Private")),
            Ok(Value::Category("Private".into()))
        );
    }

    #[test]
    fn nullable_features_accept_missing() {
        let s = adult_like();
        assert_eq!(s.features[1].check_value(&Value::Missing), Ok(()));
        assert_eq!(
            s.features[0].check_value(&Value::Missing),
            Err(FieldProblem::Null)
        );
        assert_eq!(
            s.features[0].check_value(&Value::Category("x".into())),
            Err(FieldProblem::WrongType { expected: "number" })
        );
    }
}
