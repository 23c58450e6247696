//! [`Quantity`]: a Kubernetes resource quantity (`500m`, `2`, `1.5Gi`, `1e3`) as a user
//! writes it under `resources.requests` / `resources.limits`.
//!
//! The CRD schema declares it as Kubernetes does its own quantities — int-or-string, with
//! the quantity grammar as a `pattern` — so `cpu: 2` (an integer in YAML) is as valid as
//! `cpu: "2"`. Unchecked on deserialization, so that the operator's validate step can
//! name the field of a bad one; [`Quantity::value`] parses it.
//!
//! The grammar (apimachinery's `resource.Quantity`): an optionally signed decimal number
//! (`1`, `1.5`, `.5`, `5.`) and a suffix: binary `Ki Mi Gi Ti Pi Ei`, decimal
//! `n u m k M G T P E` or none, or an exponent `e3` / `E-3`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The quantity grammar as a regular expression, for the CRD schema (the one
/// controller-gen emits for `resource.Quantity`, anchored).
pub const QUANTITY_PATTERN: &str = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";

/// A quantity as written (integers are kept as their decimal text).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(String);

/// A quantity that does not follow the grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a Kubernetes quantity (e.g. 500m, 2, 1.5Gi, 512Mi)")]
pub struct QuantityError {
    pub text: String,
}

impl Quantity {
    pub fn new(text: impl Into<String>) -> Quantity {
        Quantity(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The amount in base units (cores, bytes): `500m` is 0.5, `1Ki` is 1024.
    pub fn value(&self) -> Result<f64, QuantityError> {
        let err = || QuantityError {
            text: crate::text::shorten(&self.0, 40),
        };
        let text = self.0.as_str();
        let (sign, unsigned) = match text.as_bytes().first() {
            Some(b'-') => (-1.0, &text[1..]),
            Some(b'+') => (1.0, &text[1..]),
            _ => (1.0, text),
        };
        let number_end = unsigned
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(unsigned.len());
        let (number, suffix) = unsigned.split_at(number_end);
        let number = decimal(number).ok_or_else(err)?;
        let scale = match suffix {
            "" => 1.0,
            "n" => 1e-9,
            "u" => 1e-6,
            "m" => 1e-3,
            "k" => 1e3,
            "M" => 1e6,
            "G" => 1e9,
            "T" => 1e12,
            "P" => 1e15,
            "E" => 1e18,
            "Ki" => 1024f64,
            "Mi" => 1024f64.powi(2),
            "Gi" => 1024f64.powi(3),
            "Ti" => 1024f64.powi(4),
            "Pi" => 1024f64.powi(5),
            "Ei" => 1024f64.powi(6),
            exponent => {
                let digits = exponent
                    .strip_prefix('e')
                    .or_else(|| exponent.strip_prefix('E'))
                    .ok_or_else(err)?;
                let (negative, digits) = match digits.as_bytes().first() {
                    Some(b'-') => (true, &digits[1..]),
                    Some(b'+') => (false, &digits[1..]),
                    _ => (false, digits),
                };
                let power = decimal(digits).ok_or_else(err)?;
                10f64.powf(if negative { -power } else { power })
            }
        };
        Ok(sign * number * scale)
    }
}

/// `1`, `1.5`, `.5` or `5.`: digits with at most one point, at least one digit.
fn decimal(text: &str) -> Option<f64> {
    let digits = text.chars().filter(char::is_ascii_digit).count();
    let points = text.chars().filter(|c| *c == '.').count();
    if digits == 0 || points > 1 || digits + points != text.len() {
        return None;
    }
    text.strip_suffix('.').unwrap_or(text).parse().ok()
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Quantity {
    fn from(text: &str) -> Quantity {
        Quantity::new(text)
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// A string, or a number as int-or-string allows (`cpu: 2`).
impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Quantity, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Quantity;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Kubernetes quantity (a string such as 500m, or an integer)")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Quantity, E> {
                Ok(Quantity::new(text))
            }

            fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Quantity, E> {
                Ok(Quantity(value.to_string()))
            }

            fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Quantity, E> {
                Ok(Quantity(value.to_string()))
            }

            fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Quantity, E> {
                Ok(Quantity(value.to_string()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// As Kubernetes declares its own quantities: int-or-string, with the grammar (which
/// the API server applies to strings only). No `anyOf: [integer, string]` beside it:
/// kube's structural rewrite would empty its branches.
#[cfg(feature = "schema")]
impl schemars::JsonSchema for Quantity {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Quantity".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "pattern": QUANTITY_PATTERN,
            "x-kubernetes-int-or-string": true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> Result<f64, QuantityError> {
        Quantity::new(text).value()
    }

    #[test]
    fn every_suffix_scales() {
        let close = |text: &str, expected: f64| {
            let got = value(text).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                (got - expected).abs() <= expected.abs() * 1e-12,
                "{text}: {got} != {expected}"
            );
        };
        close("2", 2.0);
        close("500m", 0.5);
        close("0.5", 0.5);
        close(".5", 0.5);
        close("5.", 5.0);
        close("+1", 1.0);
        close("-1", -1.0);
        close("100n", 1e-7);
        close("10u", 1e-5);
        close("1k", 1000.0);
        close("1M", 1e6);
        close("1G", 1e9);
        close("2T", 2e12);
        close("1P", 1e15);
        close("1E", 1e18);
        close("1Ki", 1024.0);
        close("128Mi", 128.0 * 1024.0 * 1024.0);
        close("1.5Gi", 1.5 * 1024f64.powi(3));
        close("1Ti", 1024f64.powi(4));
        close("1Pi", 1024f64.powi(5));
        close("1Ei", 1024f64.powi(6));
        close("1e3", 1000.0);
        close("1E-3", 0.001);
        close("12e+2", 1200.0);
    }

    #[test]
    fn what_kubernetes_rejects_is_rejected() {
        for bad in [
            "", "m", "2 cores", "1gi", "1KI", "1.2.3", "--1", "1e", "1e1.5x", "1Mi ", " 1", "1b",
            "one", ".", "1ki", "0x10",
        ] {
            let err = value(bad).expect_err(bad);
            assert!(
                err.to_string().contains("is not a Kubernetes quantity"),
                "{err}"
            );
        }
    }

    #[test]
    fn integers_and_strings_deserialize_and_serialize_as_strings() {
        let parsed: Vec<Quantity> =
            serde_json::from_str(r#"[2, "500m", -1, 0.5, "1Gi"]"#).expect("quantities");
        let text: Vec<&str> = parsed.iter().map(Quantity::as_str).collect();
        assert_eq!(text, ["2", "500m", "-1", "0.5", "1Gi"]);
        assert_eq!(
            serde_json::to_string(&parsed).expect("json"),
            r#"["2","500m","-1","0.5","1Gi"]"#
        );
        assert!(serde_json::from_str::<Quantity>("true").is_err());
    }
}
