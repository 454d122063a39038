//! duff-sql integration tests: the catalog's SQL run by DataFusion over real lakes built with
//! `duff_lake`, checked against `duff_core`'s answers; and duff-api's route tests, run over
//! DataFusion.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail loudly")]

// duff-api's test harness, its engine without SQL, and its route tests.
#[path = "../../../duff-api/tests/it/common.rs"]
#[allow(dead_code, reason = "shared with duff-api's tests: not every helper is used here")]
mod common;
#[path = "../../../duff-api/tests/it/reference.rs"]
mod reference;
#[path = "../../../duff-api/tests/it/routes.rs"]
mod routes;

mod athena;
mod errors;
mod freshness;
mod history;
mod marts;
mod reports;
mod seam;

use duff_api::{LakeUri, QueryEngine};
use duff_sql::{DataFusionConfig, DataFusionEngine};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// DataFusion over the lake in `root`, listing the lake on every request.
pub fn engine(root: &Path) -> DataFusionEngine {
    let cfg = DataFusionConfig { refresh_interval: Duration::ZERO, ..DataFusionConfig::default() };
    DataFusionEngine::new(&LakeUri::Local(root.to_path_buf()), cfg).unwrap()
}

/// The engine the shared route tests run against.
pub fn engine_under_test(root: &Path) -> Arc<dyn QueryEngine> {
    Arc::new(engine(root))
}
