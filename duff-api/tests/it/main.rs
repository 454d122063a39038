//! duff-api integration tests: the router over a real lake built with `duff_lake`, answered
//! by the serving state (`ServingEngine`), checked against the reference engine
//! (`reference.rs`: the reports over every published file). duff-sql's tests run `routes.rs`
//! again over DataFusion.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail loudly")]

mod common;
mod deploy;
mod errors;
mod load;
mod reference;
mod routes;
mod serving;

use duff_api::{QueryEngine, ServingEngine, ServingEngineConfig};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The engine the route tests run against: the serving state of the lake in `root`, its
/// newest generation read on every request and loaded before answering.
pub fn engine_under_test(root: &Path) -> Arc<dyn QueryEngine> {
    let cfg = ServingEngineConfig {
        refresh_interval: Duration::ZERO,
        refresh_in_background: false,
        ..ServingEngineConfig::default()
    };
    Arc::new(ServingEngine::new(duff_lake::LocalLake::open(root).unwrap(), cfg))
}
