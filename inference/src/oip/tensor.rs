//! The JSON of an Open Inference Protocol v2 inference request, and the decoding of a
//! tensor's `data` straight into a [`Column`]: numbers into one `Vec<f64>`, strings into
//! dictionary codes (one allocation per distinct value, none per row), nested arrays
//! flattened in row-major order. No `serde_json::Value` and no map per row.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use crate::columns::{Categories, Column};

/// `POST /v2/models/{model}/infer`'s body.
#[derive(Debug, Deserialize)]
pub struct InferRequest {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub parameters: RequestParameters,
    pub inputs: Vec<RequestInput>,
    #[serde(default)]
    pub outputs: Option<Vec<RequestOutput>>,
}

/// The request parameters Vigil reads; any other parameter is ignored.
#[derive(Debug, Default, Deserialize)]
pub struct RequestParameters {
    /// MLServer's convention: `pd` (one tensor per column) or `np` (one tensor).
    #[serde(default)]
    pub content_type: Option<String>,
    /// One request id per row, for the prediction log and `/feedback`.
    #[serde(default)]
    pub request_ids: Option<Vec<String>>,
    /// Triton's binary tensor extension: every output (not named otherwise) as binary
    /// data after the JSON answer.
    #[serde(default)]
    pub binary_data_output: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct RequestInput {
    pub name: String,
    pub shape: Vec<i64>,
    pub datatype: String,
    #[serde(default)]
    pub parameters: InputParameters,
    /// Absent when the data came in the binary extension (not supported).
    #[serde(default)]
    pub data: Option<TensorData>,
}

#[derive(Debug, Default, Deserialize)]
pub struct InputParameters {
    /// Set by clients that append the tensor as binary after the JSON (Triton's binary
    /// tensor extension).
    #[serde(default)]
    pub binary_data_size: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct RequestOutput {
    pub name: String,
    #[serde(default)]
    pub parameters: OutputParameters,
}

#[derive(Debug, Default, Deserialize)]
pub struct OutputParameters {
    /// Triton's binary tensor extension: this output as binary data after the JSON
    /// answer (tritonclient's default for a named output).
    #[serde(default)]
    pub binary_data: Option<bool>,
}

/// A tensor's elements, flattened.
#[derive(Debug, PartialEq)]
pub enum TensorData {
    /// Numbers (and `null`s, as `NaN`).
    Numbers(Vec<f64>),
    /// Strings (and `null`s, as missing codes).
    Strings(Categories),
    /// Only `null`s (or nothing): fits a column of either kind.
    Nulls(usize),
    /// Elements no feature can take: mixed numbers and strings, booleans or objects.
    Invalid(&'static str),
}

impl TensorData {
    pub fn len(&self) -> usize {
        match self {
            TensorData::Numbers(v) => v.len(),
            TensorData::Strings(c) => c.codes.len(),
            TensorData::Nulls(n) => *n,
            TensorData::Invalid(_) => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The data as a numeric column, or what it holds instead.
    pub fn into_numeric(self) -> Result<Vec<f64>, &'static str> {
        match self {
            TensorData::Numbers(v) => Ok(v),
            TensorData::Nulls(n) => Ok(vec![f64::NAN; n]),
            TensorData::Strings(_) => Err("strings"),
            TensorData::Invalid(what) => Err(what),
        }
    }

    /// The data as a categorical column, or what it holds instead.
    pub fn into_column(self, numeric: bool) -> Result<Column, &'static str> {
        match (self, numeric) {
            (TensorData::Strings(c), false) => Ok(Column::Categorical(c)),
            (TensorData::Nulls(n), false) => {
                let mut c = Categories::default();
                for _ in 0..n {
                    c.push_missing();
                }
                Ok(Column::Categorical(c))
            }
            (TensorData::Numbers(_), false) => Err("numbers"),
            (data, true) => data.into_numeric().map(Column::Numeric),
            (TensorData::Invalid(what), false) => Err(what),
        }
    }
}

/// What the elements seen so far are.
enum Kind {
    /// Only `null`s so far: this many.
    Unknown(usize),
    Numbers(Vec<f64>),
    Strings(Categories),
    Invalid(&'static str),
}

impl Kind {
    fn number(&mut self, x: f64) {
        match self {
            Kind::Numbers(v) => v.push(x),
            Kind::Unknown(nulls) => {
                let mut v = vec![f64::NAN; *nulls];
                v.push(x);
                *self = Kind::Numbers(v);
            }
            Kind::Strings(_) => *self = Kind::Invalid("numbers mixed with strings"),
            Kind::Invalid(_) => {}
        }
    }

    fn string(&mut self, s: &str) {
        match self {
            Kind::Strings(c) => c.push(s),
            Kind::Unknown(nulls) => {
                let mut c = Categories::default();
                for _ in 0..*nulls {
                    c.push_missing();
                }
                c.push(s);
                *self = Kind::Strings(c);
            }
            Kind::Numbers(_) => *self = Kind::Invalid("numbers mixed with strings"),
            Kind::Invalid(_) => {}
        }
    }

    fn null(&mut self) {
        match self {
            Kind::Unknown(n) => *n += 1,
            Kind::Numbers(v) => v.push(f64::NAN),
            Kind::Strings(c) => c.push_missing(),
            Kind::Invalid(_) => {}
        }
    }
}

/// One element (or a nested array of them), added to the kind in place.
struct Element<'a>(&'a mut Kind);

impl<'de> DeserializeSeed<'de> for Element<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Element<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("tensor data: numbers or strings, flat or nested")
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.0.number(v as f64);
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.0.number(v as f64);
        Ok(())
    }
    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.0.number(v);
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.string(v);
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.null();
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        *self.0 = Kind::Invalid("booleans");
        Ok(())
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map
            .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
            .is_some()
        {}
        *self.0 = Kind::Invalid("objects");
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Element(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

impl<'de> Deserialize<'de> for TensorData {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<TensorData, D::Error> {
        let mut kind = Kind::Unknown(0);
        Element(&mut kind).deserialize(d)?;
        Ok(match kind {
            Kind::Unknown(n) => TensorData::Nulls(n),
            Kind::Numbers(v) => TensorData::Numbers(v),
            Kind::Strings(c) => TensorData::Strings(c),
            Kind::Invalid(what) => TensorData::Invalid(what),
        })
    }
}

/// The tensor datatypes of the protocol, as far as a feature cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Datatype {
    /// FP16/32/64, INT8..64, UINT8..64: a numeric feature's values.
    Number,
    /// BYTES: a categorical feature's values, as strings.
    Bytes,
    /// BOOL: no feature takes it.
    Bool,
}

impl Datatype {
    pub fn parse(name: &str) -> Option<Datatype> {
        match name {
            "FP16" | "FP32" | "FP64" | "INT8" | "INT16" | "INT32" | "INT64" | "UINT8"
            | "UINT16" | "UINT32" | "UINT64" => Some(Datatype::Number),
            "BYTES" => Some(Datatype::Bytes),
            "BOOL" => Some(Datatype::Bool),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(json: &str) -> TensorData {
        serde_json::from_str(json).expect("tensor data")
    }

    #[test]
    fn data_is_flattened_and_typed_without_a_value_tree() {
        let TensorData::Numbers(v) = data("[[1, 2.5], [3, null]]") else {
            panic!("numbers");
        };
        assert_eq!(v[..3], [1.0, 2.5, 3.0]);
        assert!(v[3].is_nan());
        let TensorData::Strings(c) = data(r#"[null, "red", "blue", "red"]"#) else {
            panic!("strings");
        };
        assert_eq!(c.dictionary, vec!["red", "blue"]);
        assert_eq!(c.codes, vec![crate::columns::MISSING_CODE, 0, 1, 0]);
        assert_eq!(data("[null, null]"), TensorData::Nulls(2));
        assert_eq!(
            data(r#"[1, "a"]"#),
            TensorData::Invalid("numbers mixed with strings")
        );
        assert_eq!(data("[true]"), TensorData::Invalid("booleans"));
        assert_eq!(Datatype::parse("FP32"), Some(Datatype::Number));
        assert_eq!(Datatype::parse("BYTES"), Some(Datatype::Bytes));
        assert_eq!(Datatype::parse("fp32"), None);
    }
}
