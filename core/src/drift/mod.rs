//! Drift and data-quality checks: the [`DriftPolicy`], bounded-memory window
//! profiles, the verdict, the quality checks and the report types.
//!
//! The flow, the same in a scheduled Job and in an ad-hoc comparison:
//! rows → [`WindowProfile`] (reference and current) → [`assess`] → [`Assessment`]
//! → [`DriftReport`] (full, JSON + HTML) and [`DriftSummary`] (termination message).

pub mod job;
pub mod policy;
pub mod profile;
pub mod quality;
pub mod report;
pub mod sketch;
pub mod verdict;

pub use job::DriftJobConfig;
pub use policy::{DriftPolicy, PolicyError, Span};
pub use profile::{ColumnProfile, WindowProfile};
pub use quality::{QualityContext, QualityReport};
pub use report::{DriftReport, DriftSummary};
pub use verdict::{assess, AssessOptions, Assessment, FeatureDrift, Verdict};
