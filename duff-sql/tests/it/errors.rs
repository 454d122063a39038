//! The DataFusion engine's deadline: a request past it is a 504.

use crate::common::*;
use duff_api::{LakeUri, TokenKey};
use duff_sql::{DataFusionConfig, DataFusionEngine};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn an_engine_past_its_deadline_is_a_504() {
    let (dir, _lake) = lake_with(&["orders.csv"]);
    let cfg = DataFusionConfig { query_timeout: Duration::ZERO, ..Default::default() };
    let engine = DataFusionEngine::new(&LakeUri::Local(dir.path().to_owned()), cfg).unwrap();
    let app = duff_api::router(Arc::new(engine), TokenKey::new("k"));
    assert_error(&get(&app, "/reports/order-status").await, 504, "timeout");
    assert_error(&get(&app, "/clients/1001/orders").await, 504, "timeout");
    // Health does not touch the engine.
    assert_eq!(get(&app, "/health").await.status, 200);
}
