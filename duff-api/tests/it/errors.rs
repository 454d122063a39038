//! Errors: one JSON shape, a fitting status, never a 500 on bad input.

use crate::common::*;
use duff_api::{BoxFuture, EngineError, QueryEngine, Question, ResultSet, TokenKey};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn bad_input_is_a_400_and_unknown_routes_are_404() {
    let (dir, _lake) = lake_with(&["orders.csv"]);
    let app = app(dir.path());
    let bad = [
        ("/health?x=1", "unknown_parameter"),
        ("/reports/sales-by-product?client_id=1001", "unknown_parameter"),
        ("/reports/sales-by-product?channel=Phone", "bad_parameter"),
        ("/reports/sales-by-product?status=lost", "bad_parameter"),
        ("/reports/sales-by-product?status=", "bad_parameter"),
        ("/reports/sales-by-product?status", "bad_parameter"),
        ("/reports/sales-by-product?status=created&status=broken", "bad_parameter"),
        ("/reports/broken-rate-by-product?status=broken", "unknown_parameter"),
        ("/reports/broken-rate-by-product?channel=phone", "bad_parameter"),
        ("/reports/broken-rate-by-channel?channel=B2B", "unknown_parameter"),
        ("/reports/broken-rate-by-channel?product_id=abc", "bad_parameter"),
        ("/reports/client-value?client_id=0", "bad_parameter"),
        ("/reports/client-value?client_id=-3", "bad_parameter"),
        ("/reports/client-value?product_id=1", "unknown_parameter"),
        ("/reports/client-value?status=lost", "bad_parameter"),
        ("/reports/order-status?client_id=0", "bad_parameter"),
        ("/reports/order-status?client_id=-1", "bad_parameter"),
        ("/reports/order-status?client_id=1.0", "bad_parameter"),
        ("/reports/order-status?product_id=abc", "bad_parameter"),
        ("/reports/order-status?product_id=99999999999999999999", "bad_parameter"),
        ("/reports/order-status?status=created", "unknown_parameter"),
        ("/reports/orders-by-client?channel=retail%27%20OR%201%3D1", "bad_parameter"),
        ("/clients/abc/orders", "bad_parameter"),
        ("/clients/0/orders", "bad_parameter"),
        ("/clients/%31/orders", "bad_parameter"),
        ("/clients/1001/orders?limit=0", "bad_parameter"),
        ("/clients/1001/orders?limit=1001", "bad_parameter"),
        ("/clients/1001/orders?limit=ten", "bad_parameter"),
        ("/clients/1001/orders?limit=99999999999999999999999", "bad_parameter"),
        ("/clients/1001/orders?next_token=", "bad_parameter"),
        ("/clients/1001/orders?product_id=1", "unknown_parameter"),
        ("/clients/1001/orders?%FF=1", "unknown_parameter"),
        ("/clients/1001/orders?status=%FF", "bad_parameter"),
    ];
    for (uri, code) in bad {
        assert_error(&get(&app, uri).await, 400, code);
    }
    // `/` is the dashboard (tests/dashboard.rs).
    for uri in [
        "/nope",
        "/reports",
        "/reports/nope",
        "/clients/1001",
        "/clients/1001/orders/x",
        "/health/",
        "/reports/broken-rate",
    ] {
        assert_error(&get(&app, uri).await, 404, "not_found");
    }
    assert_error(&get(&app, "/clients/4242/orders").await, 404, "client_not_found");
    let r = call(&app, "POST", "/health").await;
    assert_error(&r, 405, "method_not_allowed");
    assert!(r.headers["allow"].to_str().unwrap().contains("GET"), "{:?}", r.headers);
    assert_error(&call(&app, "DELETE", "/reports/order-status").await, 405, "method_not_allowed");
}

/// An engine that always fails the same way.
#[derive(Debug)]
struct Failing(fn() -> EngineError);

impl QueryEngine for Failing {
    fn name(&self) -> &'static str {
        "failing"
    }
    fn answer<'a>(&'a self, _: &'a Question) -> BoxFuture<'a, Result<ResultSet, EngineError>> {
        let e = (self.0)();
        Box::pin(async move { Err(e) })
    }
}

#[tokio::test]
async fn engine_failures_map_to_statuses_without_details() {
    type Case = (fn() -> EngineError, u16, &'static str);
    let cases: [Case; 5] = [
        (|| EngineError::Timeout(Duration::from_secs(25)), 504, "timeout"),
        (|| EngineError::Throttled { retry_after: Duration::from_secs(3) }, 429, "throttled"),
        (|| EngineError::Failed("s3://secret-bucket/x SELECT 1".into()), 502, "query_failed"),
        (|| EngineError::Lake("/srv/lake: permission denied".into()), 503, "lake_unavailable"),
        (|| EngineError::internal("column `x` is missing"), 500, "internal"),
    ];
    for (make, status, code) in cases {
        let app = duff_api::router(Arc::new(Failing(make)), TokenKey::new("k"));
        for uri in ["/reports/sales-by-product", "/clients/1/orders"] {
            let r = get(&app, uri).await;
            assert_error(&r, status, code);
            let text = r.json.to_string();
            assert!(!text.contains("s3://") && !text.contains("SELECT") && !text.contains("/srv"), "{text}");
            if status == 429 {
                assert_eq!(r.headers["retry-after"], "3");
            }
        }
    }
}

/// An engine answering a result set that is not what the catalog expects.
#[derive(Debug)]
struct Garbage;

impl QueryEngine for Garbage {
    fn name(&self) -> &'static str {
        "garbage"
    }
    fn answer<'a>(&'a self, _: &'a Question) -> BoxFuture<'a, Result<ResultSet, EngineError>> {
        Box::pin(async { Ok(ResultSet { columns: vec!["x".into()], rows: vec![vec![Some("1".into())], vec![None]] }) })
    }
}

#[tokio::test]
async fn an_unexpected_answer_is_a_clean_500() {
    let app = duff_api::router(Arc::new(Garbage), TokenKey::new("k"));
    assert_error(&get(&app, "/reports/sales-by-product").await, 500, "internal");
    assert_error(&get(&app, "/clients/1/orders").await, 500, "internal");
}
