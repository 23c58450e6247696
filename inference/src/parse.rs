//! Streaming parse of prediction requests against the served schema.
//!
//! The body is deserialized straight into schema order (`Vec<Raw>` indexed like the
//! schema's features) with `DeserializeSeed`s: no intermediate `serde_json::Value`, no
//! owned copies of feature names. Shape problems a schema check cannot see afterwards
//! (unknown or duplicate keys, values of the wrong JSON type) are collected as
//! [`Problem`]s instead of aborting, so one answer names every bad field. Broken JSON
//! (syntax, truncation, invalid UTF-8, nesting deeper than serde_json's limit of 128,
//! numbers beyond f64 like `1e400`, and `NaN`/`Infinity`, which are not JSON) aborts
//! with the parser's message and becomes a 400.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::{AppError, Problem};
use crate::served::LoadedModel;

/// Longest accepted `request_id`.
pub const MAX_REQUEST_ID_CHARS: usize = 256;
/// Unknown keys listed per row; more are counted in the total only.
const MAX_UNKNOWN_LISTED: usize = 20;

/// One JSON value, as far as a feature cares.
#[derive(Clone, Debug, PartialEq)]
pub enum Raw {
    Absent,
    Null,
    Number(f64),
    Text(String),
    Bool,
    Array,
    Object,
}

impl Raw {
    pub fn json_type(&self) -> &'static str {
        match self {
            Raw::Absent => "absent",
            Raw::Null => "null",
            Raw::Number(_) => "number",
            Raw::Text(_) => "string",
            Raw::Bool => "boolean",
            Raw::Array => "array",
            Raw::Object => "object",
        }
    }
}

/// A parsed request row.
#[derive(Debug)]
pub struct ParsedRow {
    pub request_id: Option<String>,
    /// Schema order; `Raw::Absent` for a feature that was not sent.
    pub raw: Vec<Raw>,
}

/// Where a row sits in the body, for error paths: `features.age` or `requests[3].features.age`.
#[derive(Clone, Copy)]
pub struct RowPath(pub Option<usize>);

impl RowPath {
    pub fn field(self, tail: &str) -> String {
        match self.0 {
            Some(i) => format!("requests[{i}].{tail}"),
            None => tail.to_string(),
        }
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Raw, E> {
        Ok(Raw::Bool)
    }
    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Number(v as f64))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Number(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Number(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Text(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Text(v))
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Raw::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Raw::Object)
    }
}

struct RawSeed;

impl<'de> DeserializeSeed<'de> for RawSeed {
    type Value = Raw;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

/// A seed that wants one JSON shape (an object or an array): any other JSON type becomes
/// a `wrong_type` problem naming what was found, instead of aborting the parse. One
/// [`Visitor`] ([`Expect`]) serves every such seed.
trait Shape<'de>: Sized {
    type Value;
    /// What the seed wants, for serde's messages.
    const EXPECTING: &'static str;

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(self.wrong_type("object"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(self.wrong_type("array"))
    }

    /// Records the problem; the value stands for "no usable value here".
    fn wrong_type(self, found: &str) -> Self::Value;
}

/// A [`Shape`] seed, read with `deserialize_any`.
struct Expect<T>(T);

impl<'de, T: Shape<'de>> DeserializeSeed<'de> for Expect<T> {
    type Value = T::Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: Shape<'de>> Visitor<'de> for Expect<T> {
    type Value = T::Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.0.visit_map(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.0.visit_seq(seq)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(self.0.wrong_type("boolean"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(self.0.wrong_type("number"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(self.0.wrong_type("number"))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(self.0.wrong_type("number"))
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(self.0.wrong_type("string"))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(self.0.wrong_type("null"))
    }
}

/// A map key resolved without allocating: a known name's index, or the (shortened) unknown name.
enum Key {
    Known(usize),
    Unknown(String),
}

struct KeySeed<'m, F: Fn(&str) -> Option<usize>>(&'m F);

impl<'de, F: Fn(&str) -> Option<usize>> DeserializeSeed<'de> for KeySeed<'_, F> {
    type Value = Key;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, F: Fn(&str) -> Option<usize>> Visitor<'de> for KeySeed<'_, F> {
    type Value = Key;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E>(self, v: &str) -> Result<Key, E> {
        Ok(match (self.0)(v) {
            Some(i) => Key::Known(i),
            None => Key::Unknown(vigil_core::text::shorten(v, 80)),
        })
    }
}

fn top_key(name: &str) -> Option<usize> {
    match name {
        "request_id" => Some(0),
        "features" => Some(1),
        _ => None,
    }
}

/// The `features` object of one row.
struct FeaturesSeed<'a> {
    model: &'a LoadedModel,
    path: RowPath,
    problems: &'a mut Vec<Problem>,
}

impl<'de> Shape<'de> for FeaturesSeed<'_> {
    type Value = Option<Vec<Raw>>;
    const EXPECTING: &'static str = "an object of features";
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let model = self.model;
        let lookup = |name: &str| model.feature_index(name);
        let mut raw = vec![Raw::Absent; model.n_features()];
        let mut unknown = 0usize;
        while let Some(key) = map.next_key_seed(KeySeed(&lookup))? {
            let value = map.next_value_seed(RawSeed)?;
            match key {
                Key::Known(i) => {
                    if raw[i] != Raw::Absent {
                        let name = &model.artifact.schema.features[i].name;
                        self.problems.push(Problem::new(
                            self.path.field(&format!("features.{name}")),
                            "is given more than once",
                            "duplicate",
                        ));
                    }
                    raw[i] = value;
                }
                Key::Unknown(name) => {
                    unknown += 1;
                    if unknown <= MAX_UNKNOWN_LISTED {
                        self.problems.push(Problem::new(
                            self.path.field(&format!("features.{name}")),
                            "is not a feature of this model",
                            "unknown",
                        ));
                    }
                }
            }
        }
        Ok(Some(raw))
    }

    fn wrong_type(self, found: &str) -> Option<Vec<Raw>> {
        self.problems.push(Problem::new(
            self.path.field("features"),
            format!("must be an object of feature values, found {found}"),
            "wrong_type",
        ));
        None
    }
}

/// One `{"request_id": ..., "features": {...}}` object.
struct RowSeed<'a> {
    model: &'a LoadedModel,
    path: RowPath,
    problems: &'a mut Vec<Problem>,
}

impl<'de> Shape<'de> for RowSeed<'_> {
    type Value = Option<ParsedRow>;
    const EXPECTING: &'static str = "a request object {\"request_id\": ..., \"features\": {...}}";
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut request_id: Option<Raw> = None;
        let mut features: Option<Option<Vec<Raw>>> = None;
        while let Some(key) = map.next_key_seed(KeySeed(&top_key))? {
            match key {
                Key::Known(0) => {
                    let value = map.next_value_seed(RawSeed)?;
                    if request_id.replace(value).is_some() {
                        self.problems.push(Problem::new(
                            self.path.field("request_id"),
                            "is given more than once",
                            "duplicate",
                        ));
                    }
                }
                Key::Known(_) => {
                    let seed = FeaturesSeed {
                        model: self.model,
                        path: self.path,
                        problems: &mut *self.problems,
                    };
                    let value = map.next_value_seed(Expect(seed))?;
                    if features.replace(value).is_some() {
                        self.problems.push(Problem::new(
                            self.path.field("features"),
                            "is given more than once",
                            "duplicate",
                        ));
                    }
                }
                Key::Unknown(name) => {
                    map.next_value::<IgnoredAny>()?;
                    self.problems.push(Problem::new(
                        self.path.field(&name),
                        "is not a field of a prediction request (expected request_id and features)",
                        "unknown",
                    ));
                }
            }
        }
        let request_id = match request_id {
            None | Some(Raw::Null) => None,
            Some(Raw::Text(id)) if !id.is_empty() && id.chars().count() <= MAX_REQUEST_ID_CHARS => {
                Some(id)
            }
            Some(Raw::Text(_)) => {
                self.problems.push(Problem::new(
                    self.path.field("request_id"),
                    format!("must be 1 to {MAX_REQUEST_ID_CHARS} characters long"),
                    "invalid_request_id",
                ));
                None
            }
            Some(other) => {
                self.problems.push(Problem::new(
                    self.path.field("request_id"),
                    format!("must be a string, found {}", other.json_type()),
                    "wrong_type",
                ));
                None
            }
        };
        match features {
            Some(Some(raw)) => Ok(Some(ParsedRow { request_id, raw })),
            Some(None) => Ok(None),
            None => {
                self.problems.push(Problem::new(
                    self.path.field("features"),
                    "is required but missing",
                    "missing",
                ));
                Ok(None)
            }
        }
    }
    fn wrong_type(self, found: &str) -> Option<ParsedRow> {
        let field = match self.path.0 {
            Some(i) => format!("requests[{i}]"),
            None => "$".to_string(),
        };
        self.problems.push(Problem::new(
            field,
            format!("must be a request object, found {found}"),
            "wrong_type",
        ));
        None
    }
}

/// Parses a `/predict` body.
pub fn parse_single(
    model: &LoadedModel,
    body: &[u8],
    problems: &mut Vec<Problem>,
) -> Result<Option<ParsedRow>, AppError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let seed = RowSeed {
        model,
        path: RowPath(None),
        problems,
    };
    let row = Expect(seed)
        .deserialize(&mut de)
        .map_err(|e| AppError::from_json(&e))?;
    de.end().map_err(|e| AppError::from_json(&e))?;
    Ok(row)
}

/// The `requests` array of a batch.
struct RowsSeed<'a> {
    model: &'a LoadedModel,
    max_rows: usize,
    too_long: &'a Cell<bool>,
    problems: &'a mut Vec<Problem>,
}

impl<'de> Shape<'de> for RowsSeed<'_> {
    type Value = Option<Vec<Option<ParsedRow>>>;
    const EXPECTING: &'static str = "an array of request objects";
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut rows = Vec::with_capacity(seq.size_hint().unwrap_or(16).min(self.max_rows));
        loop {
            if rows.len() == self.max_rows {
                // One element more than allowed is enough to know; stop reading.
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    self.too_long.set(true);
                    return Err(de::Error::custom("batch too long"));
                }
                break;
            }
            let seed = RowSeed {
                model: self.model,
                path: RowPath(Some(rows.len())),
                problems: &mut *self.problems,
            };
            match seq.next_element_seed(Expect(seed))? {
                Some(row) => rows.push(row),
                None => break,
            }
        }
        Ok(Some(rows))
    }
    fn wrong_type(self, found: &str) -> Option<Vec<Option<ParsedRow>>> {
        self.problems.push(Problem::new(
            "requests",
            format!("must be an array of request objects, found {found}"),
            "wrong_type",
        ));
        None
    }
}

struct BatchSeed<'a> {
    rows: RowsSeed<'a>,
}

impl<'de> DeserializeSeed<'de> for BatchSeed<'_> {
    type Value = Option<Vec<Option<ParsedRow>>>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for BatchSeed<'_> {
    type Value = Option<Vec<Option<ParsedRow>>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a batch object {\"requests\": [...]}")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let BatchSeed { rows } = self;
        let RowsSeed {
            model,
            max_rows,
            too_long,
            problems,
        } = rows;
        let mut result = None;
        let is_requests = |name: &str| (name == "requests").then_some(0);
        while let Some(key) = map.next_key_seed(KeySeed(&is_requests))? {
            match key {
                Key::Known(_) => {
                    let seed = RowsSeed {
                        model,
                        max_rows,
                        too_long,
                        problems: &mut *problems,
                    };
                    let rows = map.next_value_seed(Expect(seed))?;
                    if result.replace(rows).is_some() {
                        problems.push(Problem::new(
                            "requests",
                            "is given more than once",
                            "duplicate",
                        ));
                    }
                }
                Key::Unknown(name) => {
                    map.next_value::<IgnoredAny>()?;
                    problems.push(Problem::new(
                        name,
                        "is not a field of a batch request (expected requests)",
                        "unknown",
                    ));
                }
            }
        }
        match result {
            Some(rows) => Ok(rows),
            None => {
                problems.push(Problem::new(
                    "requests",
                    "is required but missing",
                    "missing",
                ));
                Ok(None)
            }
        }
    }
}

/// Parses a `/predict/batch` body; more than `max_rows` rows is a 413.
pub fn parse_batch(
    model: &LoadedModel,
    body: &[u8],
    max_rows: usize,
    problems: &mut Vec<Problem>,
) -> Result<Option<Vec<Option<ParsedRow>>>, AppError> {
    let too_long = Cell::new(false);
    let mut de = serde_json::Deserializer::from_slice(body);
    let seed = BatchSeed {
        rows: RowsSeed {
            model,
            max_rows,
            too_long: &too_long,
            problems,
        },
    };
    let parsed = seed.deserialize(&mut de);
    if too_long.get() {
        return Err(AppError::PayloadTooLarge(format!(
            "batch has more than {max_rows} requests; split it"
        )));
    }
    let rows = parsed.map_err(|e| AppError::from_json(&e))?;
    de.end().map_err(|e| AppError::from_json(&e))?;
    Ok(rows)
}
