//! duff-api integration tests: the router over a real lake built with `duff_lake`, answered
//! by an engine without SQL (`reference.rs`). duff-sql's tests run `routes.rs` again over
//! DataFusion.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail loudly")]

mod common;
mod deploy;
mod errors;
mod reference;
mod routes;

use duff_api::QueryEngine;
use std::path::Path;
use std::sync::Arc;

/// The engine the route tests run against: the lake's current state in memory.
pub fn engine_under_test(root: &Path) -> Arc<dyn QueryEngine> {
    Arc::new(reference::ReferenceEngine::load(root))
}
