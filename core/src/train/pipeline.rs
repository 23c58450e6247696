//! The feature pipeline: typed values → a dense numeric vector.
//!
//! Numeric features are imputed (median or mean of training) and
//! standardised; categorical features are imputed with a constant token and
//! one-hot encoded over the categories seen in training. Training, serving and
//! drift all encode through [`FeaturePipeline::encode_row`], so a row is
//! encoded the same way everywhere.

use std::collections::HashMap;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::data::dataset::Frame;
use crate::data::schema::{FeatureSchema, FeatureType, FieldProblem, Value};

/// The category that a missing categorical value becomes (the same token the
/// reference benchmark sends for a missing category).
pub const MISSING_CATEGORY: &str = "missing";

/// How to fill a missing numeric value.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum NumericImpute {
    #[default]
    Median,
    Mean,
}

/// What to do with a category that training never saw.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum UnseenCategory {
    /// Encode as all zeros (like scikit-learn's `handle_unknown="ignore"`) and count it.
    #[default]
    Ignore,
    /// Reject the row.
    Error,
}

/// Pipeline settings of a training configuration.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineSpec {
    /// `median` (default) or `mean` of the training values.
    #[serde(default)]
    pub numeric_impute: NumericImpute,
    /// `ignore` (default: all-zero one-hot) or `error` (reject the row).
    #[serde(default)]
    pub unseen_categories: UnseenCategory,
}

/// One feature's fitted encoder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum FeatureEncoder {
    #[serde(rename_all = "camelCase")]
    Standardize {
        name: String,
        fill: f64,
        mean: f64,
        /// Standard deviation of training values; 1 when it was 0.
        scale: f64,
    },
    #[serde(rename_all = "camelCase")]
    OneHot {
        name: String,
        /// Sorted categories seen in training (including [`MISSING_CATEGORY`]
        /// when training had missing values); one output column each.
        categories: Vec<String>,
        unseen: UnseenCategory,
    },
}

impl FeatureEncoder {
    pub fn name(&self) -> &str {
        match self {
            FeatureEncoder::Standardize { name, .. } | FeatureEncoder::OneHot { name, .. } => name,
        }
    }

    fn width(&self) -> usize {
        match self {
            FeatureEncoder::Standardize { .. } => 1,
            FeatureEncoder::OneHot { categories, .. } => categories.len(),
        }
    }
}

/// Serialized form; the lookup tables are rebuilt on load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PipelineRepr {
    encoders: Vec<FeatureEncoder>,
}

/// A fitted pipeline. Immutable, `Send + Sync`, cheap to share.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "PipelineRepr", into = "PipelineRepr")]
pub struct FeaturePipeline {
    encoders: Vec<FeatureEncoder>,
    offsets: Vec<usize>,
    width: usize,
    lookups: Vec<HashMap<String, usize>>,
}

impl From<PipelineRepr> for FeaturePipeline {
    fn from(repr: PipelineRepr) -> Self {
        FeaturePipeline::new(repr.encoders)
    }
}

impl From<FeaturePipeline> for PipelineRepr {
    fn from(pipeline: FeaturePipeline) -> Self {
        PipelineRepr {
            encoders: pipeline.encoders,
        }
    }
}

/// Result of encoding one value: how it was treated, for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoded {
    Ok,
    Imputed,
    UnseenCategory,
}

impl FeaturePipeline {
    fn new(encoders: Vec<FeatureEncoder>) -> Self {
        let mut offsets = Vec::with_capacity(encoders.len());
        let mut width = 0;
        for encoder in &encoders {
            offsets.push(width);
            width += encoder.width();
        }
        let lookups = encoders
            .iter()
            .map(|e| match e {
                FeatureEncoder::OneHot { categories, .. } => categories
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.clone(), i))
                    .collect(),
                FeatureEncoder::Standardize { .. } => HashMap::new(),
            })
            .collect();
        FeaturePipeline {
            encoders,
            offsets,
            width,
            lookups,
        }
    }

    /// Fits the encoders on the training frame.
    pub fn fit(schema: &FeatureSchema, frame: &Frame, spec: &PipelineSpec) -> FeaturePipeline {
        let encoders = schema
            .features
            .iter()
            .zip(&frame.columns)
            .map(|(feature, column)| match feature.kind {
                FeatureType::Numeric => fit_standardize(&feature.name, column, spec.numeric_impute),
                FeatureType::Categorical => FeatureEncoder::OneHot {
                    name: feature.name.clone(),
                    categories: seen_categories(column),
                    unseen: spec.unseen_categories,
                },
            })
            .collect();
        FeaturePipeline::new(encoders)
    }

    /// Number of output columns.
    pub fn width(&self) -> usize {
        self.width
    }

    pub fn encoders(&self) -> &[FeatureEncoder] {
        &self.encoders
    }

    /// Names of the output columns (`age`, `workclass=Private`, …).
    pub fn output_names(&self) -> Vec<String> {
        self.encoders
            .iter()
            .flat_map(|e| match e {
                FeatureEncoder::Standardize { name, .. } => vec![name.clone()],
                FeatureEncoder::OneHot {
                    name, categories, ..
                } => categories.iter().map(|c| format!("{name}={c}")).collect(),
            })
            .collect()
    }

    /// Encodes feature `index`'s value into its slot of `out` (length
    /// [`width`](Self::width)). A wrong type is an error; callers validate
    /// against the schema first, so this is a guard, not the user-facing check.
    pub fn encode_value(
        &self,
        index: usize,
        value: &Value,
        out: &mut [f64],
    ) -> Result<Encoded, FieldProblem> {
        let (entry, how) = self.encode_sparse(index, value)?;
        self.place(index, entry, out);
        Ok(how)
    }

    /// Writes feature `index`'s slot of `out` from its [`encode_sparse`](Self::encode_sparse)
    /// entry: zeros, and the entry's column set. (A caller that encodes a column's
    /// distinct values once places each row's entry with this.)
    pub fn place(&self, index: usize, entry: Option<(usize, f64)>, out: &mut [f64]) {
        let offset = self.offsets[index];
        out[offset..offset + self.encoders[index].width()].fill(0.0);
        if let Some((column, x)) = entry {
            out[column] = x;
        }
    }

    /// The one output column (and its value) that feature `index`'s value sets;
    /// every other column of the feature is 0. `None` for an ignored unseen
    /// category (all zeros). What the sparse training matrix is built from.
    pub fn encode_sparse(
        &self,
        index: usize,
        value: &Value,
    ) -> Result<(Option<(usize, f64)>, Encoded), FieldProblem> {
        let offset = self.offsets[index];
        match (&self.encoders[index], value) {
            (
                FeatureEncoder::Standardize {
                    fill, mean, scale, ..
                },
                value,
            ) => {
                let x = match value {
                    Value::Number(x) => Some(*x),
                    Value::Missing => None,
                    Value::Category(_) => {
                        return Err(FieldProblem::WrongType { expected: "number" })
                    }
                };
                standardized(offset, *fill, *mean, *scale, x)
            }
            (FeatureEncoder::OneHot { unseen, .. }, value) => {
                let (category, how) = match value {
                    Value::Category(c) => (c.as_str(), Encoded::Ok),
                    Value::Missing => (MISSING_CATEGORY, Encoded::Imputed),
                    Value::Number(_) => return Err(FieldProblem::WrongType { expected: "string" }),
                };
                match self.lookups[index].get(category) {
                    Some(&slot) => Ok((Some((offset + slot, 1.0)), how)),
                    None if *unseen == UnseenCategory::Ignore => {
                        Ok((None, Encoded::UnseenCategory))
                    }
                    None => Err(FieldProblem::NotAllowed(crate::text::shorten(category, 40))),
                }
            }
        }
    }

    /// [`Self::encode_sparse`] of every value of a numeric column, NaN missing: `f` gets
    /// each row's outcome. The encoder is matched once a column, not once a value.
    pub fn encode_sparse_numbers(
        &self,
        index: usize,
        values: &[f64],
        mut f: impl FnMut(usize, Result<(Option<(usize, f64)>, Encoded), FieldProblem>),
    ) {
        let offset = self.offsets[index];
        match &self.encoders[index] {
            FeatureEncoder::Standardize {
                fill, mean, scale, ..
            } => {
                for (row, &x) in values.iter().enumerate() {
                    let x = (!x.is_nan()).then_some(x);
                    f(row, standardized(offset, *fill, *mean, *scale, x));
                }
            }
            FeatureEncoder::OneHot { .. } => {
                for (row, &x) in values.iter().enumerate() {
                    f(row, self.encode_sparse(index, &Value::of_number(x)));
                }
            }
        }
    }

    /// Encodes one row (values in schema order) into `out`.
    pub fn encode_row(&self, row: &[Value], out: &mut [f64]) -> Result<(), FieldProblem> {
        for (index, value) in row.iter().enumerate() {
            self.encode_value(index, value, out)?;
        }
        Ok(())
    }

    /// Encodes a whole frame. Values that cannot be encoded (only possible with
    /// `unseen: error`) are reported with their row.
    pub fn transform(&self, frame: &Frame) -> Result<Array2<f64>, (usize, FieldProblem)> {
        let n = frame.n_rows();
        let mut x = Array2::zeros((n, self.width));
        for (index, column) in frame.columns.iter().enumerate() {
            for (row, value) in column.iter().enumerate() {
                let out = x.row_mut(row).into_slice().ok_or((
                    row,
                    FieldProblem::WrongType {
                        expected: "contiguous row",
                    },
                ))?;
                self.encode_value(index, value, out).map_err(|p| (row, p))?;
            }
        }
        Ok(x)
    }
}

fn fit_standardize(name: &str, column: &[Value], impute: NumericImpute) -> FeatureEncoder {
    let mut values: Vec<f64> = column
        .iter()
        .filter_map(|v| match v {
            Value::Number(x) if x.is_finite() => Some(*x),
            _ => None,
        })
        .collect();
    let fill = match impute {
        NumericImpute::Mean => mean(&values),
        NumericImpute::Median => median(&mut values),
    };
    // Statistics after imputation, as a scaler after an imputer would see them.
    let n_missing = column.len() - values.len();
    values.extend(std::iter::repeat_n(fill, n_missing));
    let mean = mean(&values);
    let variance = if values.is_empty() {
        0.0
    } else {
        values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / values.len() as f64
    };
    let std = variance.sqrt();
    FeatureEncoder::Standardize {
        name: name.to_string(),
        fill,
        mean,
        scale: if std > 0.0 && std.is_finite() {
            std
        } else {
            1.0
        },
    }
}

fn seen_categories(column: &[Value]) -> Vec<String> {
    let mut categories: Vec<String> = column
        .iter()
        .map(|v| match v {
            Value::Category(c) => c.clone(),
            _ => MISSING_CATEGORY.to_string(),
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    categories.shrink_to_fit();
    categories
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// The entry of a standardised feature's value (`None`: missing, so filled).
#[inline]
fn standardized(
    offset: usize,
    fill: f64,
    mean: f64,
    scale: f64,
    x: Option<f64>,
) -> Result<(Option<(usize, f64)>, Encoded), FieldProblem> {
    let (x, how) = match x {
        Some(x) if x.is_finite() => (x, Encoded::Ok),
        Some(_) => return Err(FieldProblem::NonFinite),
        None => (fill, Encoded::Imputed),
    };
    Ok((Some((offset, (x - mean) / scale)), how))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> FeatureSchema {
        serde_yaml::from_str(
            "target: {name: y, classes: [a, b]}\nfeatures:\n  - {name: x, type: numeric, nullable: true}\n  - {name: c, type: categorical, nullable: true}\n",
        )
        .expect("schema")
    }

    fn frame() -> Frame {
        Frame {
            columns: vec![
                vec![
                    Value::Number(1.0),
                    Value::Number(3.0),
                    Value::Missing,
                    Value::Number(8.0),
                ],
                vec![
                    Value::Category("red".into()),
                    Value::Missing,
                    Value::Category("blue".into()),
                    Value::Category("red".into()),
                ],
            ],
            target: vec![0, 1, 0, 1],
        }
    }

    #[test]
    fn fit_imputes_scales_and_one_hot_encodes() {
        let pipeline = FeaturePipeline::fit(&schema(), &frame(), &PipelineSpec::default());
        assert_eq!(
            pipeline.output_names(),
            vec!["x", "c=blue", "c=missing", "c=red"]
        );
        // Median of 1, 3, 8 is 3; after imputation the values are 1, 3, 3, 8.
        let FeatureEncoder::Standardize {
            fill, mean, scale, ..
        } = pipeline.encoders()[0]
        else {
            unreachable!("first encoder is numeric")
        };
        assert_eq!((fill, mean), (3.0, 3.75));
        assert!(
            (scale
                - (((2.75f64).powi(2) * 1.0 + 0.75f64.powi(2) * 2.0 + 4.25f64.powi(2)) / 4.0)
                    .sqrt())
            .abs()
                < 1e-12
        );
        let x = pipeline.transform(&frame()).expect("transform");
        assert_eq!(x.row(1).to_vec()[1..], [0.0, 1.0, 0.0]);
        assert!((x[[2, 0]] - (3.0 - 3.75) / scale).abs() < 1e-12);
    }

    #[test]
    fn a_numeric_column_encodes_like_its_values_one_by_one() {
        let pipeline = FeaturePipeline::fit(&schema(), &frame(), &PipelineSpec::default());
        let values = [1.0, f64::NAN, -2.5, f64::INFINITY, 1e300, -0.0];
        for index in [0, 1] {
            let mut bulk = Vec::new();
            pipeline
                .encode_sparse_numbers(index, &values, |row, encoded| bulk.push((row, encoded)));
            let one_by_one: Vec<_> = (values.iter().enumerate())
                .map(|(row, &x)| (row, pipeline.encode_sparse(index, &Value::of_number(x))))
                .collect();
            assert_eq!(bulk, one_by_one, "feature {index}");
        }
        let mut imputed = None;
        pipeline.encode_sparse_numbers(0, &[f64::NAN], |_, encoded| imputed = Some(encoded));
        let (entry, how) = imputed.expect("one row").expect("imputed");
        assert_eq!(how, Encoded::Imputed);
        assert_eq!(
            entry.expect("an entry").1.to_bits(),
            ((3.0f64 - 3.75) / pipeline_scale(&pipeline)).to_bits()
        );
    }

    fn pipeline_scale(pipeline: &FeaturePipeline) -> f64 {
        match pipeline.encoders()[0] {
            FeatureEncoder::Standardize { scale, .. } => scale,
            _ => unreachable!("first encoder is numeric"),
        }
    }

    #[test]
    fn unseen_categories_follow_the_policy() {
        let mut spec = PipelineSpec::default();
        let pipeline = FeaturePipeline::fit(&schema(), &frame(), &spec);
        let mut out = vec![9.0; pipeline.width()];
        let how = pipeline
            .encode_value(1, &Value::Category("green".into()), &mut out)
            .expect("ignored");
        assert_eq!(
            (how, &out[1..]),
            (Encoded::UnseenCategory, &[0.0, 0.0, 0.0][..])
        );

        spec.unseen_categories = UnseenCategory::Error;
        let strict = FeaturePipeline::fit(&schema(), &frame(), &spec);
        assert_eq!(
            strict.encode_value(1, &Value::Category("green".into()), &mut out),
            Err(FieldProblem::NotAllowed("green".into()))
        );
    }

    #[test]
    fn the_missing_token_and_null_encode_alike() {
        let pipeline = FeaturePipeline::fit(&schema(), &frame(), &PipelineSpec::default());
        let mut a = vec![0.0; pipeline.width()];
        let mut b = vec![0.0; pipeline.width()];
        pipeline
            .encode_row(&[Value::Missing, Value::Missing], &mut a)
            .expect("nulls");
        pipeline
            .encode_row(
                &[Value::Number(3.0), Value::Category(MISSING_CATEGORY.into())],
                &mut b,
            )
            .expect("tokens");
        assert_eq!(a, b);
    }

    #[test]
    fn round_trips_through_json() {
        let pipeline = FeaturePipeline::fit(&schema(), &frame(), &PipelineSpec::default());
        let json = serde_json::to_string(&pipeline).expect("serialize");
        let back: FeaturePipeline = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, pipeline);
        assert!(json.contains("\"kind\":\"oneHot\""), "{json}");
    }
}
