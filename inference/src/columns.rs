//! Feature values of a request in columns, one per schema feature: what the request
//! parsers build, the validator checks, the model reads, and the prediction log and its
//! observers receive. Columnar so that a tensor request is decoded without building a
//! map per row, and so that a categorical value costs a code, not a string, per row.

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
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Categories {
    /// Per row: an index into `dictionary`, or [`MISSING_CODE`].
    pub codes: Vec<u32>,
    /// The distinct values, in the order first seen.
    pub dictionary: Vec<String>,
    index: HashMap<String, u32>,
}

impl Categories {
    /// Adds a row with value `value`.
    pub fn push(&mut self, value: &str) {
        let code = match self.index.get(value) {
            Some(code) => *code,
            None => {
                let code = self.dictionary.len() as u32;
                self.dictionary.push(value.to_string());
                self.index.insert(value.to_string(), code);
                code
            }
        };
        self.codes.push(code);
    }

    pub fn push_missing(&mut self) {
        self.codes.push(MISSING_CODE);
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
#[derive(Clone, Debug, PartialEq)]
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

    /// `row`'s value of feature `feature`.
    pub fn cell(&self, feature: usize, row: usize) -> Cell<'_> {
        self.columns[feature].cell(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
