//! Whole columns in a compact, Arrow-like layout, profiled at once: integer-valued
//! numeric columns are counted in one pass, categories through their dictionary.

use crate::data::schema::{FeatureSchema, FeatureSpec, FeatureType, Value};

use super::super::par::par_map;
use super::super::sketch::MISSING_CATEGORY;
use super::{ColumnProfile, PredictionProfile, WindowProfile};

/// A column in a compact, Arrow-like layout: numeric values as `f64` (NaN is
/// missing), categorical values as dictionary codes ([`MISSING_CODE`] is missing).
#[derive(Clone, Debug, PartialEq)]
pub enum TypedColumn {
    Numeric(Vec<f64>),
    Categorical {
        codes: Vec<u32>,
        dictionary: Vec<String>,
    },
}

/// Whether `x` is an integer of magnitude below 2^52 (without `f64::fract`, which is a
/// libm call on baseline x86-64).
#[inline]
pub(super) fn is_integer(x: f64) -> bool {
    x.abs() < 4.5e15 && (x as i64) as f64 == x
}

/// The code of a missing categorical value.
pub const MISSING_CODE: u32 = u32::MAX;

impl TypedColumn {
    /// Encodes typed values by the feature's type (wrong-typed values become missing).
    pub fn from_values(spec: &FeatureSpec, values: &[Value]) -> TypedColumn {
        match spec.kind {
            FeatureType::Numeric => TypedColumn::Numeric(
                values
                    .iter()
                    .map(|v| match v {
                        Value::Number(x) => *x,
                        _ => f64::NAN,
                    })
                    .collect(),
            ),
            FeatureType::Categorical => {
                let mut dictionary: Vec<String> = Vec::new();
                let mut index: std::collections::HashMap<&str, u32> = Default::default();
                let mut codes = Vec::with_capacity(values.len());
                for v in values {
                    codes.push(match v {
                        Value::Category(c) => *index.entry(c.as_str()).or_insert_with(|| {
                            dictionary.push(c.clone());
                            (dictionary.len() - 1) as u32
                        }),
                        _ => MISSING_CODE,
                    });
                }
                TypedColumn::Categorical { codes, dictionary }
            }
        }
    }

    pub fn len(&self) -> usize {
        match self {
            TypedColumn::Numeric(v) => v.len(),
            TypedColumn::Categorical { codes, .. } => codes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ColumnProfile {
    /// Observes a whole compact column.
    pub fn observe_typed(&mut self, spec: &FeatureSpec, column: &TypedColumn) {
        match column {
            TypedColumn::Numeric(values) => {
                const MAX_RANGE: f64 = (1u64 << 22) as f64;
                let (mut lo, mut hi, mut integers) = (f64::INFINITY, f64::NEG_INFINITY, true);
                for &x in values {
                    if !x.is_nan() {
                        lo = lo.min(x);
                        hi = hi.max(x);
                        integers &= is_integer(x);
                    }
                }
                if integers && hi >= lo && hi - lo < MAX_RANGE {
                    let mut counts = vec![0u64; (hi - lo) as usize + 1];
                    let mut missing = 0;
                    for &x in values {
                        if x.is_nan() {
                            missing += 1;
                        } else {
                            counts[(x - lo) as usize] += 1;
                        }
                    }
                    self.rows += values.len() as u64;
                    self.missing += missing;
                    for (i, &c) in counts.iter().enumerate() {
                        if c > 0 {
                            let x = lo + i as f64;
                            if spec.min.is_some_and(|min| x < min)
                                || spec.max.is_some_and(|max| x > max)
                            {
                                self.out_of_range += c;
                            }
                            self.numeric.add_count(x, c);
                        }
                    }
                } else {
                    for &x in values {
                        self.rows += 1;
                        if x.is_nan() {
                            self.observe_missing();
                        } else {
                            self.observe_number(spec, x);
                        }
                    }
                }
            }
            TypedColumn::Categorical { codes, dictionary } => {
                let mut counts = vec![0u64; dictionary.len()];
                let mut missing = 0u64;
                for &code in codes {
                    match counts.get_mut(code as usize) {
                        Some(c) => *c += 1,
                        None => missing += 1,
                    }
                }
                self.rows += codes.len() as u64;
                for (name, &c) in dictionary.iter().zip(&counts) {
                    if c > 0 {
                        match spec.kind {
                            FeatureType::Categorical => self.categories.add_count(name, c),
                            FeatureType::Numeric => self.parse_errors += c,
                        }
                    }
                }
                self.missing += missing;
                if missing > 0 && self.kind == FeatureType::Categorical {
                    self.categories.add_count(MISSING_CATEGORY, missing);
                }
            }
        }
    }
}

impl WindowProfile {
    /// The profile of compact columns (schema order), with optional predicted class
    /// indices and scores (see [`score_of`]) per row. Columns are summarised on up to
    /// `threads` threads.
    pub fn from_typed(
        schema: &FeatureSchema,
        columns: &[TypedColumn],
        classes: Option<&[u32]>,
        scores: Option<&[f64]>,
        threads: usize,
    ) -> Self {
        let rows = columns.first().map_or(0, TypedColumn::len);
        let work: Vec<(&FeatureSpec, Option<&TypedColumn>)> = schema
            .features
            .iter()
            .enumerate()
            .map(|(i, spec)| (spec, columns.get(i)))
            .collect();
        let profiles = par_map(&work, threads, |(spec, column)| {
            let mut profile = ColumnProfile::new(spec);
            match column {
                Some(column) => profile.observe_typed(spec, column),
                None => {
                    for _ in 0..rows {
                        profile.observe(spec, None);
                    }
                }
            }
            profile
        });
        let mut profile = WindowProfile::new(schema);
        profile.rows = rows as u64;
        profile.columns = profiles;
        if let Some(classes) = classes {
            let mut predictions = PredictionProfile::new(schema.target.classes.len());
            for &c in classes {
                match predictions.class_counts.get_mut(c as usize) {
                    Some(n) => *n += 1,
                    None => predictions.unknown_classes += 1,
                }
            }
            for &s in scores.unwrap_or_default() {
                if s.is_finite() {
                    predictions.score.add(s);
                }
            }
            profile.predictions = Some(predictions);
        }
        profile
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::schema;
    use super::*;

    #[test]
    fn typed_columns_profile_like_values() {
        let s = schema();
        let values = vec![
            vec![
                Value::Number(20.0),
                Value::Missing,
                Value::Number(150.0),
                Value::Number(20.5),
            ],
            vec![
                Value::Category("red".into()),
                Value::Missing,
                Value::Category("blue".into()),
                Value::Category("red".into()),
            ],
        ];
        let by_values = WindowProfile::from_columns(&s, &values, None, None, 1);
        let typed: Vec<TypedColumn> = s
            .features
            .iter()
            .zip(&values)
            .map(|(f, v)| TypedColumn::from_values(f, v))
            .collect();
        let by_typed = WindowProfile::from_typed(&s, &typed, None, None, 2);
        for (a, b) in by_values.columns.iter().zip(&by_typed.columns) {
            assert_eq!(
                (a.rows, a.missing, a.out_of_range, a.parse_errors),
                (b.rows, b.missing, b.out_of_range, b.parse_errors)
            );
            assert_eq!(a.numeric.sorted(), b.numeric.sorted());
            let mut ca: Vec<_> = a.categories.iter().collect();
            let mut cb: Vec<_> = b.categories.iter().collect();
            ca.sort();
            cb.sort();
            assert_eq!(ca, cb);
        }
    }
}
