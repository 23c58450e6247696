//! `vigil serve`: the inference server as a library.
//!
//! [`app`] builds the whole HTTP surface from an [`AppState`] and has no socket, so tests
//! drive it with `tower::ServiceExt::oneshot`; [`serve`] runs it on a listener with
//! graceful shutdown and a final flush of the prediction log.
//!
//! Routes (see [`openapi`] for the full contract):
//! `GET /health` (alias `/healthz`), `GET /ready`, `POST /predict`, `POST /predict/batch`,
//! `GET /metrics`, `GET /metrics/summary`, `POST /model/reload` (token),
//! `GET /logs` (token), `POST /feedback`, `GET /openapi.json`, and the Open Inference
//! Protocol v2 under `/v2` ([`oip`]).
//!
//! Layout: [`state`] (config, shared state, model loading) ← [`router`] (routes and
//! layers) → [`handlers`] (one module per endpoint group) and [`middleware`] (metrics
//! per route); [`extract`] and [`json`] are the one way JSON comes in and goes out, [`parse`] the
//! streaming request parser, [`served`] the model slot, [`sink`] the log writers,
//! [`serve`] the socket and graceful shutdown.

pub mod auth;
pub mod columns;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod json;
pub mod metrics;
pub mod middleware;
pub mod oip;
pub mod openapi;
pub mod parse;
pub mod record;
pub mod router;
pub mod serve;
pub mod served;
pub mod sink;
pub mod state;

pub use crate::auth::BearerToken;
pub use crate::error::{AppError, Problem};
pub use crate::metrics::Metrics;
pub use crate::record::PredictionBatch;
pub use crate::router::app;
pub use crate::serve::serve;
pub use crate::served::{LoadedModel, ModelSlot};
pub use crate::sink::{SinkConfig, SinkHandle, WhenFull};
pub use crate::state::{
    AppState, OutOfRange, PredictionLogFormat, ReloadResponse, ServerConfig, Sinks,
};
