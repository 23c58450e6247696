//! Training: the job's configuration, split, validation, feature pipeline, models,
//! evaluation, the versioned artifact, the training report and the promotion gates.

pub mod artifact;
pub mod config;
pub mod evaluation;
pub mod learn;
pub mod model;
pub mod pipeline;
pub mod promotion;
pub mod report;
pub mod split;
pub mod validation;
