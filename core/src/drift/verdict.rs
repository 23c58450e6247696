//! The verdict of a drift check, per feature and overall, and how verdicts rank.
//! A leaf: the rules, the report types and the assessment all use it.

use serde::{Deserialize, Serialize};

/// A verdict, per feature and overall.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Verdict {
    /// No drift that matters.
    None,
    /// A moderate, significant shift.
    Warning,
    /// A large, significant shift.
    Critical,
    /// Too few rows to decide (below `minSamples`).
    InsufficientData,
}

impl Verdict {
    /// Rank for "worst of": InsufficientData < None < Warning < Critical.
    pub fn severity(self) -> u8 {
        match self {
            Verdict::InsufficientData => 0,
            Verdict::None => 1,
            Verdict::Warning => 2,
            Verdict::Critical => 3,
        }
    }

    pub fn worst(self, other: Verdict) -> Verdict {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }

    /// Whether this is Warning or Critical.
    pub fn is_drift(self) -> bool {
        matches!(self, Verdict::Warning | Verdict::Critical)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::None => "None",
            Verdict::Warning => "Warning",
            Verdict::Critical => "Critical",
            Verdict::InsufficientData => "InsufficientData",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_order_by_severity() {
        assert_eq!(Verdict::None.worst(Verdict::Critical), Verdict::Critical);
        assert_eq!(Verdict::Warning.worst(Verdict::None), Verdict::Warning);
        assert_eq!(
            Verdict::InsufficientData.worst(Verdict::None),
            Verdict::None
        );
        assert_eq!(
            serde_json::to_string(&Verdict::InsufficientData)
                .ok()
                .as_deref(),
            Some("\"InsufficientData\"")
        );
    }
}
