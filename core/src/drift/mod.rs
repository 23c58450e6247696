//! Drift and data-quality checks: the rules a DriftPolicy embeds, window profiles in
//! bounded memory, the assessment that compares them, and the report types it fills.
//!
//! The flow, the same in a scheduled Job and in an ad-hoc comparison:
//! rows → [`WindowProfile`] (reference and current) → [`assess`] → [`Assessment`]
//! → [`DriftReport`] (full, JSON + HTML) and [`DriftSummary`] (termination message).
//!
//! Imports point one way: `verdict` ← `rules` ← `report` ← `quality` ← `assess`;
//! `sketch`, `par` ← `profile` ← `quality`, `assess`; `job` uses `rules`.

pub mod assess;
pub mod job;
mod par;
pub mod profile;
pub mod quality;
pub mod report;
pub mod rules;
pub mod sketch;
pub mod verdict;

pub use assess::{assess, AssessOptions};
pub use job::DriftJobConfig;
pub use profile::{ColumnProfile, WindowProfile};
pub use quality::QualityContext;
pub use report::{Assessment, DriftReport, DriftSummary, FeatureDrift, QualityReport};
pub use rules::{DriftRules, RulesError};
pub use verdict::Verdict;
