//! Feature values of a request in columns, one per schema feature: what the request
//! parsers build, the validator checks, the model reads, and the prediction log and its
//! observers receive. Columnar so that a tensor request is decoded without building a
//! map per row, and so that a categorical value costs a code, not a string, per row.

use std::borrow::Cow;
use std::collections::HashMap;

/// The code of a missing categorical value.
pub const MISSING_CODE: u32 = u32::MAX;

/// One feature's values, one per row.
#[derive(Clone, Debug, PartialEq)]
pub enum Column {
    /// Numbers; `NaN` marks a missing value (a validated column holds finite numbers
    /// and `NaN` only).
    Numeric(Vec<f64>),
    Categorical(Categories),
}

/// Categorical values as codes into a dictionary of the distinct values of this request.
#[derive(Clone, Debug, Default)]
pub struct Categories {
    /// Per row: an index into `dictionary`, or [`MISSING_CODE`].
    pub codes: Vec<u32>,
    /// The distinct values, in the order first seen.
    pub dictionary: Vec<String>,
    /// `dictionary`'s codes by value, built only once the dictionary outgrows a linear
    /// scan: a request of a few rows (every `/predict`) never allocates it, nor hashes.
    index: Option<HashMap<String, u32>>,
}

/// Up to this many distinct values, a value is looked up by scanning the dictionary.
const SCAN_MAX: usize = 16;

/// Equal when they hold the same values (the index is derived from the dictionary).
impl PartialEq for Categories {
    fn eq(&self, other: &Categories) -> bool {
        self.codes == other.codes && self.dictionary == other.dictionary
    }
}

impl Categories {
    /// Adds a row with value `value`.
    pub fn push(&mut self, value: &str) {
        self.push_value(Cow::Borrowed(value));
    }

    /// [`Categories::push`] of a value the caller owns: a new value is moved into the
    /// dictionary, not copied.
    pub fn push_owned(&mut self, value: String) {
        self.push_value(Cow::Owned(value));
    }

    /// [`Categories::push`] of a value received as bytes, which must be UTF-8. Only a
    /// value the dictionary does not hold yet is validated (one it holds is UTF-8), so a
    /// column of a few distinct values costs a comparison a row.
    pub fn push_utf8(&mut self, bytes: &[u8]) -> Result<(), std::str::Utf8Error> {
        let known = match self.index {
            None => self.dictionary.iter().position(|v| v.as_bytes() == bytes),
            Some(_) => None,
        };
        match known {
            Some(code) => self.codes.push(code as u32),
            None => self.push(std::str::from_utf8(bytes)?),
        }
        Ok(())
    }

    fn push_value(&mut self, value: Cow<'_, str>) {
        let code = match self.code_of(&value) {
            Some(code) => code,
            None => self.insert(value.into_owned()),
        };
        self.codes.push(code);
    }

    fn code_of(&self, value: &str) -> Option<u32> {
        match &self.index {
            Some(index) => index.get(value).copied(),
            None => self
                .dictionary
                .iter()
                .position(|v| v == value)
                .map(|i| i as u32),
        }
    }

    /// Adds a value the dictionary does not hold; returns its code.
    fn insert(&mut self, value: String) -> u32 {
        let code = self.dictionary.len() as u32;
        if self.index.is_none() && self.dictionary.len() >= SCAN_MAX {
            self.index = Some(self.dictionary.iter().cloned().zip(0..).collect());
        }
        if let Some(index) = &mut self.index {
            index.insert(value.clone(), code);
        }
        self.dictionary.push(value);
        code
    }

    pub fn push_missing(&mut self) {
        self.codes.push(MISSING_CODE);
    }

    /// Removes every row and value, keeping the room allocated for them.
    fn clear(&mut self) {
        self.codes.clear();
        self.dictionary.clear();
        self.index = None;
    }

    /// The value of `row`, `None` when missing.
    pub fn get(&self, row: usize) -> Option<&str> {
        self.dictionary
            .get(self.codes[row] as usize)
            .map(String::as_str)
    }
}

/// One value, as a consumer of a column sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell<'a> {
    Number(f64),
    Category(&'a str),
    Missing,
}

impl Column {
    pub fn len(&self) -> usize {
        match self {
            Column::Numeric(v) => v.len(),
            Column::Categorical(c) => c.codes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn cell(&self, row: usize) -> Cell<'_> {
        match self {
            Column::Numeric(v) if v[row].is_nan() => Cell::Missing,
            Column::Numeric(v) => Cell::Number(v[row]),
            Column::Categorical(c) => c.get(row).map_or(Cell::Missing, Cell::Category),
        }
    }
}

impl serde::Serialize for Cell<'_> {
    /// As the log has always written values: a number, a string, or null.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Number(x) => s.serialize_f64(*x),
            Cell::Category(c) => s.serialize_str(c),
            Cell::Missing => s.serialize_unit(),
        }
    }
}

/// The features of a request: `columns[i]` is schema feature `i`, every column `rows` long.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Columns {
    pub rows: usize,
    pub columns: Vec<Column>,
}

impl Columns {
    /// Empty columns of the schema's kinds, with room for `rows` rows.
    pub fn for_schema(schema: &vigil_core::data::schema::FeatureSchema, rows: usize) -> Columns {
        use vigil_core::data::schema::FeatureType;
        Columns {
            rows: 0,
            columns: schema
                .features
                .iter()
                .map(|f| match f.kind {
                    FeatureType::Numeric => Column::Numeric(Vec::with_capacity(rows)),
                    FeatureType::Categorical => Column::Categorical(Categories {
                        codes: Vec::with_capacity(rows),
                        ..Categories::default()
                    }),
                })
                .collect(),
        }
    }

    /// Whether these are columns of `schema`'s features, of their kinds.
    pub fn fit(&self, schema: &vigil_core::data::schema::FeatureSchema) -> bool {
        use vigil_core::data::schema::FeatureType;
        self.columns.len() == schema.features.len()
            && self.columns.iter().zip(&schema.features).all(|(c, f)| {
                matches!(
                    (c, f.kind),
                    (Column::Numeric(_), FeatureType::Numeric)
                        | (Column::Categorical(_), FeatureType::Categorical)
                )
            })
    }

    /// Removes every row, keeping each column's room: columns to fill again for the
    /// same schema.
    pub fn clear(&mut self) {
        self.rows = 0;
        for column in &mut self.columns {
            match column {
                Column::Numeric(v) => v.clear(),
                Column::Categorical(c) => c.clear(),
            }
        }
    }

    /// `row`'s value of feature `feature`.
    pub fn cell(&self, feature: usize, row: usize) -> Cell<'_> {
        self.columns[feature].cell(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dictionary_past_the_scan_limit_codes_the_same_through_its_index() {
        let values: Vec<String> = (0..3 * SCAN_MAX).map(|i| format!("v{}", i % 40)).collect();
        let (mut pushed, mut owned) = (Categories::default(), Categories::default());
        for v in values.iter().chain(values.iter().rev()) {
            pushed.push(v);
            owned.push_owned(v.clone());
        }
        assert!(pushed.index.is_some(), "40 distinct values build the index");
        assert_eq!(pushed.dictionary.len(), 40);
        let expected: Vec<u32> = values
            .iter()
            .chain(values.iter().rev())
            .map(|v| v[1..].parse().expect("a number"))
            .collect();
        assert_eq!(pushed.codes, expected);
        assert_eq!(pushed, owned);
        let mut small = Categories::default();
        for v in ["a", "b", "a"] {
            small.push(v);
        }
        assert!(
            small.index.is_none(),
            "a few values are scanned, never hashed"
        );
    }

    #[test]
    fn categories_are_coded_once_per_distinct_value() {
        let mut c = Categories::default();
        for v in ["red", "blue", "red"] {
            c.push(v);
        }
        c.push_missing();
        assert_eq!(c.codes, vec![0, 1, 0, MISSING_CODE]);
        assert_eq!(c.dictionary, vec!["red", "blue"]);
        let column = Column::Categorical(c);
        assert_eq!(column.cell(2), Cell::Category("red"));
        assert_eq!(column.cell(3), Cell::Missing);
        let numbers = Column::Numeric(vec![1.5, f64::NAN]);
        assert_eq!(numbers.cell(0), Cell::Number(1.5));
        assert_eq!(numbers.cell(1), Cell::Missing);
        assert_eq!(
            serde_json::to_string(&[numbers.cell(0), numbers.cell(1), column.cell(0)])
                .expect("json"),
            r#"[1.5,null,"red"]"#
        );
    }
}
