//! Vigil's operator: the custom resources, the controllers that reconcile
//! them and the pure builders of every object they own.

pub mod build;
pub mod crd;
pub mod crdgen;
pub mod status;
