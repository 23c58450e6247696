//! Vigil's batch jobs. Each is a function of its configuration and the store
//! that returns a report, so it runs the same in a Pod, in a test and in the
//! demo. No Kubernetes API here: results leave through the store and the
//! termination message.

pub mod drift;
pub mod html;
pub mod inject;
pub mod labelled;
mod laps;
pub mod notify;
pub mod performance;
pub mod performance_html;
pub mod postgres;
pub mod termination;
pub mod train;
pub mod trials;
