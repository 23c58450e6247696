//! The custom resources of group `vigil.dev`, version `v1alpha1`: their specs
//! and the status the controllers write.

mod drift_policy;
mod monitored_model;
pub mod openapi;
mod pods;

pub use drift_policy::*;
pub use monitored_model::*;
pub use pods::PodSettings;

pub const GROUP: &str = "vigil.dev";
pub const VERSION: &str = "v1alpha1";

/// A spec that breaks a rule the schema cannot express; the message names the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSpec(pub String);

impl From<String> for InvalidSpec {
    fn from(message: String) -> InvalidSpec {
        InvalidSpec(message)
    }
}
