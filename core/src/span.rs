//! [`Span`]: the one duration type, for every duration a user writes — CLI flags
//! (`--flush-interval 500ms`), `serving.logging.flushInterval`, a DriftPolicy's
//! `window`, `cooldown` and `maxStaleness`.
//!
//! One grammar: a number (integer or decimal) and a unit `ms`, `s`, `m`, `h` or `d`;
//! a bare number is seconds (`500ms`, `10`, `1.5m`, `6h`, `7d`). A span prints in the
//! largest unit that keeps it whole (`5400s` → `90m`), so a value reads back as it was
//! meant. The DriftPolicy CRD's schema admits the integer, s/m/h/d subset of it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative span of time (nanosecond precision).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span(Duration);

impl Span {
    pub const fn from_secs(seconds: u64) -> Span {
        Span(Duration::from_secs(seconds))
    }

    pub const fn from_hours(hours: u64) -> Span {
        Span(Duration::from_secs(hours * 3600))
    }

    /// Whole seconds (a fraction is dropped).
    pub fn as_secs(self) -> u64 {
        self.0.as_secs()
    }

    pub fn as_hours(self) -> f64 {
        self.0.as_secs_f64() / 3600.0
    }

    pub fn as_duration(self) -> Duration {
        self.0
    }

    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::from_std(self.0).unwrap_or(chrono::Duration::MAX)
    }
}

impl From<Span> for Duration {
    fn from(span: Span) -> Duration {
        span.0
    }
}

/// A span that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not a duration: write a number and a unit ms, s, m, h or d (e.g. 500ms, 10s, 6h)"
)]
pub struct SpanError {
    pub text: String,
}

impl FromStr for Span {
    type Err = SpanError;

    fn from_str(text: &str) -> Result<Span, SpanError> {
        let err = || SpanError {
            text: crate::text::shorten(text, 40),
        };
        let t = text.trim();
        let unit_at = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (number, unit) = t.split_at(unit_at);
        let unit_ns: u64 = match unit {
            "ms" => 1_000_000,
            "s" | "" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            _ => return Err(err()),
        };
        if number.contains('.') {
            // A decimal is converted once, as f64 seconds.
            let value: f64 = number.parse().map_err(|_| err())?;
            Duration::try_from_secs_f64(value * unit_ns as f64 / 1e9)
                .map(Span)
                .map_err(|_| err())
        } else {
            let value: u64 = number.parse().map_err(|_| err())?;
            let nanos = u128::from(value) * u128::from(unit_ns);
            let seconds = u64::try_from(nanos / 1_000_000_000).map_err(|_| err())?;
            Ok(Span(Duration::new(seconds, (nanos % 1_000_000_000) as u32)))
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.subsec_nanos() != 0 {
            return if self.0.subsec_nanos() % 1_000_000 == 0 {
                write!(f, "{}ms", self.0.as_millis())
            } else {
                write!(f, "{}s", self.0.as_secs_f64())
            };
        }
        let s = self.0.as_secs();
        if s != 0 && s % 86_400 == 0 {
            write!(f, "{}d", s / 86_400)
        } else if s != 0 && s % 3600 == 0 {
            write!(f, "{}h", s / 3600)
        } else if s != 0 && s % 60 == 0 {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Span, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// In a CRD a span is a string such as `6h` (whole numbers of s, m, h or d). The
/// length bound keeps the cost of a CEL rule that reads one small (the API server
/// estimates a rule's cost from its inputs' bounds when the CRD is created).
#[cfg(feature = "schema")]
impl schemars::JsonSchema for Span {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Span".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]+[smhd]$",
            "maxLength": 21,
            "description": "A duration: <integer><unit> with unit s, m, h or d (e.g. 6h)"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(text: &str) -> Result<Duration, SpanError> {
        text.parse::<Span>().map(Duration::from)
    }

    #[test]
    fn every_spelling_parses() {
        // What DriftPolicy spans accepted.
        assert_eq!("6h".parse::<Span>(), Ok(Span::from_hours(6)));
        assert_eq!("90m".parse::<Span>().map(|s| s.as_secs()), Ok(5400));
        assert_eq!(span("7d"), Ok(Duration::from_secs(7 * 86_400)));
        // What the flags and flushInterval accepted.
        assert_eq!(span("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(span("10"), Ok(Duration::from_secs(10)));
        assert_eq!(span("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(span("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(span("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(span(" 300ms "), Ok(Duration::from_millis(300)));
    }

    #[test]
    fn spans_print_in_the_largest_whole_unit() {
        assert_eq!(Span::from_secs(5400).to_string(), "90m");
        assert_eq!(Span::from_secs(86_400 * 2).to_string(), "2d");
        assert_eq!(Span::from_secs(61).to_string(), "61s");
        assert_eq!(Span::from_secs(0).to_string(), "0s");
        assert_eq!(
            "500ms".parse::<Span>().map(|s| s.to_string()),
            Ok("500ms".into())
        );
        assert_eq!(
            "1.5h".parse::<Span>().map(|s| s.to_string()),
            Ok("90m".into())
        );
    }

    #[test]
    fn malformed_spans_are_rejected() {
        for bad in [
            "",
            "h",
            "6 hours",
            "-1h",
            "ten",
            "1.2.3s",
            "5w",
            "99999999999999999999d",
        ] {
            let err = bad.parse::<Span>().expect_err(bad);
            assert!(err.to_string().contains("is not a duration"), "{err}");
        }
    }
}
