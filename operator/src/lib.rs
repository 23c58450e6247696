//! Vigil's operator: the custom resources, the controllers that reconcile
//! them and the pure builders of every object they own.

pub mod apply;
pub mod build;
pub mod context;
pub mod controller;
pub mod crd;
pub mod crdgen;
pub mod error;
pub mod events;
pub mod metrics;
pub mod observe;
pub mod run;
pub mod schedule;
pub mod stores;
pub mod time;
