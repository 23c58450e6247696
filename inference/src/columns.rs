//! Feature values of a request in columns, one per schema feature: what the request
//! parsers build, the validator checks, the model reads, and the prediction log and its
//! observers receive. Columnar so that a tensor request is decoded without building a
//! map per row, and so that a categorical value costs a code, not a string, per row.

use std::borrow::Cow;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

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
    index: Option<CodeIndex>,
}

/// Up to this many distinct values, a value is looked up by scanning the dictionary:
/// past a few, hashing the value once costs less than comparing it with each.
const SCAN_MAX: usize = 8;

/// The codes of a dictionary, hashed by their values' bytes (so that a value received
/// as bytes is looked up before, and without, UTF-8 validation).
#[derive(Clone, Debug)]
struct CodeIndex {
    codes: HashTable<u32>,
    /// Drawn once per index (foldhash's per-process seed): a client does not know it to
    /// choose values that collide, and a collision costs a probe, not a wrong code.
    seed: u64,
}

impl Default for CodeIndex {
    fn default() -> Self {
        CodeIndex {
            codes: HashTable::new(),
            seed: DefaultHashBuilder::default().hash_one(0u64),
        }
    }
}

impl CodeIndex {
    #[inline]
    fn find(&self, dictionary: &[String], bytes: &[u8]) -> Option<u32> {
        self.codes
            .find(hash_bytes(self.seed, bytes), |&code| {
                same(dictionary[code as usize].as_bytes(), bytes)
            })
            .copied()
    }

    /// Adds `code`, the code of `dictionary[code]`, a value the index does not hold.
    fn insert(&mut self, dictionary: &[String], code: u32) {
        let seed = self.seed;
        let hash = |c: u32| hash_bytes(seed, dictionary[c as usize].as_bytes());
        self.codes.insert_unique(hash(code), code, |&c| hash(c));
    }
}

/// The product of two words folded into one: every bit of each moves the result.
#[inline]
fn folded_multiply(x: u64, y: u64) -> u64 {
    let product = u128::from(x) * u128::from(y);
    (product as u64) ^ ((product >> 64) as u64)
}

/// A hash of a short value in a few instructions, inlined: its first and last word (or
/// half-word, or bytes), its length, and for a value past 16 bytes every word between.
#[inline]
fn hash_bytes(seed: u64, bytes: &[u8]) -> u64 {
    const K: [u64; 2] = [0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344];
    let n = bytes.len();
    let word = |at: usize| word_at(bytes, at);
    let half = |at: usize| u64::from(half_at(bytes, at));
    let mut state = seed ^ n as u64;
    let (first, last) = match n {
        0 => (0, 0),
        1..=3 => (
            u64::from(bytes[0]) | u64::from(bytes[n / 2]) << 8 | u64::from(bytes[n - 1]) << 16,
            0,
        ),
        4..=7 => (half(0), half(n - 4)),
        8..=16 => (word(0), word(n - 8)),
        _ => {
            for at in (0..n - 8).step_by(8) {
                state = folded_multiply(state ^ word(at), K[1]);
            }
            (word(n - 8), 0)
        }
    };
    folded_multiply(first ^ K[0] ^ state, last ^ K[1])
}

/// The little-endian word of `s` at `at` (8 bytes there).
#[inline]
fn word_at(s: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(s[at..at + 8].try_into().unwrap_or([0; 8]))
}

/// The little-endian half-word of `s` at `at` (4 bytes there).
#[inline]
fn half_at(s: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(s[at..at + 4].try_into().unwrap_or([0; 4]))
}

/// Byte equality, inlined for a category of up to 16 bytes (a first and a last word,
/// or half-word, a side, overlapping) instead of a call to `memcmp`.
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        8..=16 => word_at(a, 0) == word_at(b, 0) && word_at(a, n - 8) == word_at(b, n - 8),
        4..=7 => half_at(a, 0) == half_at(b, 0) && half_at(a, n - 4) == half_at(b, n - 4),
        _ => a == b,
    }
}

/// Equal when they hold the same values (the index is derived from the dictionary).
impl PartialEq for Categories {
    fn eq(&self, other: &Categories) -> bool {
        self.codes == other.codes && self.dictionary == other.dictionary
    }
}

impl Categories {
    /// No rows yet, with room for `rows`.
    pub fn with_capacity(rows: usize) -> Categories {
        Categories {
            codes: Vec::with_capacity(rows),
            ..Categories::default()
        }
    }

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
    /// row costs a lookup of its bytes.
    ///
    /// Inlined into a decoder's loop (a call's register saves cost as much as the lookup);
    /// a new value's validation and insertion are not.
    #[inline]
    pub fn push_utf8(&mut self, bytes: &[u8]) -> Result<(), std::str::Utf8Error> {
        let code = match self.code_of(bytes) {
            Some(code) => code,
            None => self.insert_utf8(bytes)?,
        };
        self.codes.push(code);
        Ok(())
    }

    #[inline(never)]
    fn insert_utf8(&mut self, bytes: &[u8]) -> Result<u32, std::str::Utf8Error> {
        Ok(self.insert(std::str::from_utf8(bytes)?.to_owned()))
    }

    fn push_value(&mut self, value: Cow<'_, str>) {
        let code = match self.code_of(value.as_bytes()) {
            Some(code) => code,
            None => self.insert(value.into_owned()),
        };
        self.codes.push(code);
    }

    #[inline(always)]
    fn code_of(&self, bytes: &[u8]) -> Option<u32> {
        match &self.index {
            Some(index) => index.find(&self.dictionary, bytes),
            None => self
                .dictionary
                .iter()
                .position(|v| same(v.as_bytes(), bytes))
                .map(|i| i as u32),
        }
    }

    /// Adds a value the dictionary does not hold; returns its code.
    fn insert(&mut self, value: String) -> u32 {
        let code = self.dictionary.len() as u32;
        self.dictionary.push(value);
        if self.index.is_none() && self.dictionary.len() > SCAN_MAX {
            let mut index = CodeIndex::default();
            for known in 0..code {
                index.insert(&self.dictionary, known);
            }
            self.index = Some(index);
        }
        if let Some(index) = &mut self.index {
            index.insert(&self.dictionary, code);
        }
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
                    FeatureType::Categorical => {
                        Column::Categorical(Categories::with_capacity(rows))
                    }
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
        // Values of every length class `same` takes apart: short, one or two words, long.
        let value = |i: usize| format!("{i}{}", "-".repeat(i % 23));
        let values: Vec<String> = (0..120).map(|i| value(i % 40)).collect();
        let (mut pushed, mut owned, mut bytes) = (
            Categories::default(),
            Categories::default(),
            Categories::default(),
        );
        for v in values.iter().chain(values.iter().rev()) {
            pushed.push(v);
            owned.push_owned(v.clone());
            bytes.push_utf8(v.as_bytes()).expect("UTF-8");
        }
        assert!(pushed.index.is_some(), "40 distinct values build the index");
        assert_eq!(pushed.dictionary.len(), 40);
        let expected: Vec<u32> = values
            .iter()
            .chain(values.iter().rev())
            .map(|v| v.trim_end_matches('-').parse().expect("a number"))
            .collect();
        assert_eq!(pushed.codes, expected);
        assert_eq!(pushed, owned);
        assert_eq!(pushed, bytes);
        assert!(
            bytes.push_utf8(b"\xff").is_err(),
            "a new value is validated"
        );
        let mut small = Categories::default();
        for v in ["a", "b", "a", "c", "d"] {
            small.push(v);
        }
        assert!(
            small.index.is_none(),
            "a few values are scanned, never hashed"
        );
        assert_eq!(small.codes, vec![0, 1, 0, 2, 3]);
    }

    #[test]
    fn hashes_of_values_one_byte_apart_differ() {
        let seed = CodeIndex::default().seed;
        let values: Vec<String> = (0..20_000)
            .map(|i| format!("{}-{i}", "x".repeat(i % 30)))
            .collect();
        let mut hashes: Vec<u64> = values
            .iter()
            .map(|v| hash_bytes(seed, v.as_bytes()))
            .collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(
            hashes.len(),
            values.len(),
            "no two of 20,000 values collide"
        );
    }

    #[test]
    fn bytes_are_the_same_only_when_every_byte_is() {
        for n in 0..40_usize {
            let a: Vec<u8> = (0..n as u8).collect();
            assert!(same(&a, &a.clone()), "length {n}");
            assert!(!same(&a, &a[..n.saturating_sub(1)]) || n == 0);
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 0x40;
                assert!(!same(&a, &b), "length {n}, byte {at} differs");
            }
        }
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
