//! Folding a window (or a reference sample) into bounded per-column summaries.
//!
//! A [`WindowProfile`] is what the verdict compares: one [`ColumnProfile`] per
//! schema feature, the predicted classes and scores, the labelled rows, request
//! ids and timestamps. Rows are observed one at a time, so a window of any
//! length is streamed in O(columns × sketch size) memory. [`TypedColumn`] is the
//! compact column layout that whole columns are profiled from at once.

use chrono::{DateTime, Utc};

use crate::data::schema::{FeatureSchema, FeatureSpec, FeatureType, Value};
use crate::train::artifact::ReferenceSample;
use crate::wire::PredictionRecord;

use super::par::par_map;
use super::sketch::{
    hash_str, CategoryCounts, IdSampler, NumericSketch, DEFAULT_MAX_DISTINCT, MISSING_CATEGORY,
};

mod batch;
mod file;
mod merge;
mod typed;

pub use batch::{
    profile_key, BatchProfile, BatchProfiler, LoggedRow, BATCH_MAX_DISTINCT, PROFILES_PREFIX,
};
pub use file::{
    decode_profile, encode_profile, schema_fingerprint, ProfileError, ProfileFileEncoder,
    PROFILE_FORMAT_VERSION,
};
pub use merge::MergeError;
use typed::is_integer;
pub use typed::{TypedColumn, MISSING_CODE};

/// Summary of one feature column.
#[derive(Clone, Debug)]
pub struct ColumnProfile {
    pub name: String,
    pub kind: FeatureType,
    /// Rows observed (missing ones included).
    pub rows: u64,
    /// Missing values (null, empty or absent).
    pub missing: u64,
    /// Values that did not parse as the declared type (not counted in the distribution).
    pub parse_errors: u64,
    /// Numeric values outside the schema's `min`/`max` (still counted in the distribution).
    pub out_of_range: u64,
    /// Distribution of a numeric feature's present values.
    pub numeric: NumericSketch,
    /// Distribution of a categorical feature, missing as [`MISSING_CATEGORY`].
    pub categories: CategoryCounts,
}

impl ColumnProfile {
    pub fn new(spec: &FeatureSpec) -> Self {
        ColumnProfile::with_max_distinct(spec, DEFAULT_MAX_DISTINCT)
    }

    /// A column whose numeric values stay exact counts up to `max_distinct` distinct ones.
    pub fn with_max_distinct(spec: &FeatureSpec, max_distinct: usize) -> Self {
        ColumnProfile {
            name: spec.name.clone(),
            kind: spec.kind,
            rows: 0,
            missing: 0,
            parse_errors: 0,
            out_of_range: 0,
            numeric: NumericSketch::with_max_distinct(max_distinct),
            categories: CategoryCounts::default(),
        }
    }

    /// Observes one typed value; `None` is an absent key (missing).
    pub fn observe(&mut self, spec: &FeatureSpec, value: Option<&Value>) {
        self.rows += 1;
        match (spec.kind, value) {
            (_, None | Some(Value::Missing)) => self.observe_missing(),
            (FeatureType::Numeric, Some(Value::Number(v))) => self.observe_number(spec, *v),
            (FeatureType::Numeric, Some(Value::Category(text))) => match spec.parse(Some(text)) {
                Ok(Value::Number(v)) => self.observe_number(spec, v),
                Ok(_) => self.observe_missing(),
                Err(_) => self.parse_errors += 1,
            },
            (FeatureType::Categorical, Some(Value::Category(c))) => self.categories.add(c),
            (FeatureType::Categorical, Some(Value::Number(_))) => self.parse_errors += 1,
        }
    }

    /// Observes one raw text cell (CSV / JSON Lines): parsed by the feature's type.
    pub fn observe_text(&mut self, spec: &FeatureSpec, raw: Option<&str>) {
        match spec.parse(raw) {
            Ok(value) => self.observe(spec, Some(&value)),
            Err(_) => {
                self.rows += 1;
                self.parse_errors += 1;
            }
        }
    }

    /// Fast path for a numeric column whose values are all integers in a range of at
    /// most 2^22: counts in a dense array, then feeds the sketch one distinct value at a
    /// time. Returns false (having observed nothing) when the column does not qualify.
    fn observe_dense(&mut self, spec: &FeatureSpec, values: &[Value]) -> bool {
        const MAX_RANGE: f64 = (1u64 << 22) as f64;
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values {
            match v {
                Value::Number(x) if is_integer(*x) => {
                    lo = lo.min(*x);
                    hi = hi.max(*x);
                }
                Value::Missing => {}
                _ => return false,
            }
        }
        if !(hi >= lo && hi - lo < MAX_RANGE) {
            return values.iter().all(|v| *v == Value::Missing) && {
                for _ in values {
                    self.rows += 1;
                    self.observe_missing();
                }
                true
            };
        }
        let mut counts = vec![0u64; (hi - lo) as usize + 1];
        let mut missing = 0u64;
        for v in values {
            match v {
                Value::Number(x) => counts[(x - lo) as usize] += 1,
                _ => missing += 1,
            }
        }
        self.rows += values.len() as u64;
        self.missing += missing;
        for (i, &c) in counts.iter().enumerate() {
            if c > 0 {
                let x = lo + i as f64;
                if spec.min.is_some_and(|min| x < min) || spec.max.is_some_and(|max| x > max) {
                    self.out_of_range += c;
                }
                self.numeric.add_count(x, c);
            }
        }
        true
    }

    /// Observes a column of numbers as a server holds them, `NaN` for a missing value
    /// (what [`observe`](Self::observe) does with each, without building [`Value`]s).
    pub fn observe_numbers(&mut self, spec: &FeatureSpec, values: &[f64]) {
        self.rows += values.len() as u64;
        let (missing_before, missing) = (self.missing, &mut self.missing);
        let (parse_errors, out_of_range) = (&mut self.parse_errors, &mut self.out_of_range);
        // The checks of `observe_number`, in the filter so that the sketch takes the
        // present values in one run.
        self.numeric.extend(values.iter().copied().filter(|&v| {
            if v.is_nan() {
                *missing += 1;
                return false;
            }
            if !v.is_finite() {
                *parse_errors += 1;
                return false;
            }
            if spec.min.is_some_and(|min| v < min) || spec.max.is_some_and(|max| v > max) {
                *out_of_range += 1;
            }
            true
        }));
        if self.kind == FeatureType::Categorical {
            // As `observe_missing` counts a categorical column's missing values.
            let n = self.missing - missing_before;
            if n > 0 {
                self.categories.add_count(MISSING_CATEGORY, n);
            }
        }
    }

    /// Observes a column of categories as counts per distinct value (`None`: missing),
    /// e.g. a request's dictionary codes counted: one hash lookup per distinct value, not
    /// per row.
    pub fn observe_category_counts<'a>(
        &mut self,
        counts: impl IntoIterator<Item = (Option<&'a str>, u64)>,
    ) {
        for (category, n) in counts {
            self.rows += n;
            match category {
                Some(c) => self.categories.add_count(c, n),
                None => {
                    self.missing += n;
                    self.categories.add_count(MISSING_CATEGORY, n);
                }
            }
        }
    }

    fn observe_missing(&mut self) {
        self.missing += 1;
        if self.kind == FeatureType::Categorical {
            self.categories.add(MISSING_CATEGORY);
        }
    }

    fn observe_number(&mut self, spec: &FeatureSpec, v: f64) {
        if !v.is_finite() {
            self.parse_errors += 1;
            return;
        }
        if spec.min.is_some_and(|min| v < min) || spec.max.is_some_and(|max| v > max) {
            self.out_of_range += 1;
        }
        self.numeric.add(v);
    }

    /// Present, parsed values (the sample size of the feature's test).
    pub fn present(&self) -> u64 {
        match self.kind {
            FeatureType::Numeric => self.numeric.count(),
            FeatureType::Categorical => self.categories.count(),
        }
    }
}

/// Predicted classes and the predicted score of a window.
#[derive(Clone, Debug)]
pub struct PredictionProfile {
    /// Rows per predicted class, in the schema's class order.
    pub class_counts: Vec<u64>,
    /// Predicted probability of the positive (last) class for binary models,
    /// the top probability (confidence) otherwise.
    pub score: NumericSketch,
    /// Records whose predicted class is not one of the schema's classes.
    pub unknown_classes: u64,
}

impl PredictionProfile {
    pub fn new(n_classes: usize) -> Self {
        PredictionProfile {
            class_counts: vec![0; n_classes],
            score: NumericSketch::default(),
            unknown_classes: 0,
        }
    }

    /// Observes one row's class probabilities; returns the predicted class index.
    pub fn observe_probabilities(&mut self, probabilities: &[f64]) -> Option<usize> {
        let class = argmax(probabilities)?;
        if let Some(c) = self.class_counts.get_mut(class) {
            *c += 1;
        }
        if let Some(score) = score_of(probabilities) {
            self.score.add(score);
        }
        Some(class)
    }
}

/// The index of the largest probability (first on ties); `None` for empty or NaN rows.
pub fn argmax(probabilities: &[f64]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, &p) in probabilities.iter().enumerate() {
        if p.is_nan() {
            return None;
        }
        if best.is_none_or(|(_, b)| p > b) {
            best = Some((i, p));
        }
    }
    best.map(|(i, _)| i)
}

/// The score whose distribution is compared: positive-class probability for two
/// classes, the top probability otherwise.
pub fn score_of(probabilities: &[f64]) -> Option<f64> {
    let s = if probabilities.len() == 2 {
        probabilities[1]
    } else {
        probabilities.iter().copied().fold(f64::NAN, f64::max)
    };
    s.is_finite().then_some(s)
}

/// Labelled rows: the model's accuracy where ground truth is known.
#[derive(Clone, Debug, Default)]
pub struct LabelProfile {
    pub labelled: u64,
    pub correct: u64,
    /// Labels that are not one of the schema's classes (ignored).
    pub unknown_labels: u64,
}

impl LabelProfile {
    pub fn observe(&mut self, predicted: usize, actual: usize) {
        self.labelled += 1;
        if predicted == actual {
            self.correct += 1;
        }
    }

    pub fn accuracy(&self) -> Option<f64> {
        (self.labelled > 0).then(|| self.correct as f64 / self.labelled as f64)
    }
}

/// Everything the verdict needs about one side of the comparison.
#[derive(Clone, Debug)]
pub struct WindowProfile {
    pub rows: u64,
    /// One per schema feature, in schema order.
    pub columns: Vec<ColumnProfile>,
    pub predictions: Option<PredictionProfile>,
    pub labels: Option<LabelProfile>,
    /// Request ids, when the data has them.
    pub ids: Option<IdSampler>,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
}

impl WindowProfile {
    pub fn new(schema: &FeatureSchema) -> Self {
        WindowProfile {
            rows: 0,
            columns: schema.features.iter().map(ColumnProfile::new).collect(),
            predictions: None,
            labels: None,
            ids: None,
            first_seen: None,
            last_seen: None,
        }
    }

    /// Folds one logged prediction in; `label` is its ground truth, when known.
    pub fn observe_record(
        &mut self,
        schema: &FeatureSchema,
        record: &PredictionRecord,
        label: Option<&str>,
    ) {
        for (column, spec) in self.columns.iter_mut().zip(&schema.features) {
            column.observe(spec, record.features.get(&spec.name));
        }
        let predicted = schema.class_index(&record.predicted_class);
        self.observe_request(
            schema,
            hash_str(&record.request_id),
            record.timestamp,
            predicted,
            &record.probabilities,
        );
        if let Some(label) = label {
            let labels = self.labels.get_or_insert_with(LabelProfile::default);
            match (predicted, schema.class_index(label)) {
                (Some(p), Some(a)) => labels.observe(p, a),
                _ => labels.unknown_labels += 1,
            }
        }
    }

    /// Everything of a logged prediction but its features: the row, its request id
    /// (hashed), time, predicted class and score.
    pub(crate) fn observe_request(
        &mut self,
        schema: &FeatureSchema,
        id_hash: u64,
        timestamp: DateTime<Utc>,
        predicted: Option<usize>,
        probabilities: &[f64],
    ) {
        self.rows += 1;
        self.ids
            .get_or_insert_with(IdSampler::default)
            .add_hash(id_hash, 1);
        self.first_seen = Some(self.first_seen.map_or(timestamp, |t| t.min(timestamp)));
        self.last_seen = Some(self.last_seen.map_or(timestamp, |t| t.max(timestamp)));
        let n_classes = schema.target.classes.len();
        let predictions = self
            .predictions
            .get_or_insert_with(|| PredictionProfile::new(n_classes));
        match predicted.and_then(|class| predictions.class_counts.get_mut(class)) {
            Some(count) => *count += 1,
            None => predictions.unknown_classes += 1,
        }
        if let Some(score) = score_of(probabilities) {
            predictions.score.add(score);
        }
    }

    /// The profile of a model's reference sample (training rows with predictions and labels).
    pub fn from_reference(schema: &FeatureSchema, reference: &ReferenceSample) -> Self {
        let columns: Vec<Vec<Value>> = schema
            .features
            .iter()
            .map(|f| {
                reference
                    .columns
                    .iter()
                    .find(|(name, _)| *name == f.name)
                    .map(|(_, values)| values.clone())
                    .unwrap_or_else(|| vec![Value::Missing; reference.rows()])
            })
            .collect();
        let labels: Vec<Option<usize>> = reference.target.iter().map(|&t| Some(t)).collect();
        let probabilities = (reference.probabilities.len() == reference.rows())
            .then_some(reference.probabilities.as_slice());
        WindowProfile::from_columns(schema, &columns, probabilities, Some(&labels), 2)
    }

    /// The profile of typed columns (`columns[feature][row]`, schema order), with
    /// optional per-row class probabilities and true class indices. Columns are
    /// summarised on up to `threads` threads.
    pub fn from_columns(
        schema: &FeatureSchema,
        columns: &[Vec<Value>],
        probabilities: Option<&[Vec<f64>]>,
        labels: Option<&[Option<usize>]>,
        threads: usize,
    ) -> Self {
        let rows = columns.first().map_or(0, Vec::len);
        let work: Vec<(&FeatureSpec, Option<&Vec<Value>>)> = schema
            .features
            .iter()
            .enumerate()
            .map(|(i, spec)| (spec, columns.get(i)))
            .collect();
        let profiles = par_map(&work, threads, |(spec, values)| {
            let mut column = ColumnProfile::new(spec);
            match values {
                Some(values)
                    if spec.kind == FeatureType::Numeric && column.observe_dense(spec, values) => {}
                Some(values) => {
                    for v in values.iter() {
                        column.observe(spec, Some(v));
                    }
                }
                None => {
                    for _ in 0..rows {
                        column.observe(spec, None);
                    }
                }
            }
            column
        });
        let mut profile = WindowProfile::new(schema);
        profile.rows = rows as u64;
        profile.columns = profiles;
        if let Some(probabilities) = probabilities {
            let mut predictions = PredictionProfile::new(schema.target.classes.len());
            let mut label_profile = LabelProfile::default();
            for (i, p) in probabilities.iter().enumerate() {
                let predicted = predictions.observe_probabilities(p);
                if let (Some(predicted), Some(Some(actual))) =
                    (predicted, labels.and_then(|l| l.get(i)))
                {
                    label_profile.observe(predicted, *actual);
                }
            }
            profile.predictions = Some(predictions);
            if labels.is_some() {
                profile.labels = Some(label_profile);
            }
        }
        profile
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    #[test]
    fn a_column_of_numbers_folds_as_its_values_one_by_one() {
        let schema = schema();
        let spec = &schema.features[0];
        // Missing, infinite, below the minimum, and enough distinct values to spill at 64.
        let values: Vec<f64> = (0..3_000)
            .map(|i| match i % 500 {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => 5.0,
                _ => 17.0 + f64::from(i % 80),
            })
            .collect();
        for max_distinct in [64, 2_048] {
            let mut by_column = ColumnProfile::with_max_distinct(spec, max_distinct);
            let mut by_value = ColumnProfile::with_max_distinct(spec, max_distinct);
            by_column.observe_numbers(spec, &values[..1_000]);
            by_column.observe_numbers(spec, &values[1_000..]);
            for &v in &values {
                by_value.observe(spec, Some(&Value::of_number(v)));
            }
            let counts = |c: &ColumnProfile| (c.rows, c.missing, c.parse_errors, c.out_of_range);
            assert_eq!(counts(&by_column), (3_000, 6, 6, 6));
            assert_eq!(counts(&by_column), counts(&by_value));
            let (a, b) = (&by_column.numeric, &by_value.numeric);
            assert_eq!(a.is_exact(), max_distinct == 2_048, "{max_distinct}");
            assert_eq!((a.count(), a.moments()), (b.count(), b.moments()));
            if a.is_exact() {
                assert_eq!(a.sorted(), b.sorted());
            }
        }
    }

    pub(super) fn schema() -> FeatureSchema {
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

    #[test]
    fn columns_count_missing_parse_errors_and_range() {
        let s = schema();
        let mut age = ColumnProfile::new(&s.features[0]);
        for raw in [Some("20"), Some(""), Some("abc"), Some("150"), None] {
            age.observe_text(&s.features[0], raw);
        }
        assert_eq!(
            (age.rows, age.missing, age.parse_errors, age.out_of_range),
            (5, 2, 1, 1)
        );
        assert_eq!(age.present(), 2);
        let mut colour = ColumnProfile::new(&s.features[1]);
        colour.observe(&s.features[1], Some(&Value::Category("red".into())));
        colour.observe(&s.features[1], None);
        colour.observe(&s.features[1], Some(&Value::Number(3.0)));
        assert_eq!(colour.categories.get(MISSING_CATEGORY), 1);
        assert_eq!((colour.missing, colour.parse_errors), (1, 1));
    }

    #[test]
    fn scores_and_argmax() {
        assert_eq!(argmax(&[0.2, 0.8]), Some(1));
        assert_eq!(argmax(&[0.5, 0.5]), Some(0));
        assert_eq!(argmax(&[]), None);
        assert_eq!(score_of(&[0.3, 0.7]), Some(0.7));
        assert_eq!(score_of(&[0.1, 0.6, 0.3]), Some(0.6));
    }
}
