//! The engine seam: an engine without SQL (`reference.rs` of duff-api's tests) and the
//! DataFusion engine answer every route with the same JSON on the same lake.

use crate::common::*;
use crate::reference::ReferenceEngine;
use crate::reports::filters;
use duff_api::{Report, TokenKey, router};
use std::path::Path;
use std::sync::Arc;

/// Every report under every filter combination, and every client's orders in pages of a
/// few sizes and filters: the same status and JSON from both routers.
async fn same_answers(root: &Path) {
    let sql = app(root);
    let memory = router(Arc::new(ReferenceEngine::load(root)), TokenKey::new("test secret"));
    let mut uris = Vec::new();
    for report in Report::ALL {
        uris.extend(filters(report).into_iter().map(|(q, _)| format!("/reports/{}?{q}", report.name())));
    }
    for client in [1001, 1002, 1005, 1006, 1007, 1008, 4242] {
        for q in ["", "limit=1", "limit=2&status=delivered", "channel=online", "status=BROKEN&channel=Retail"] {
            uris.push(format!("/clients/{client}/orders?{q}"));
        }
    }
    let mut pages = 0;
    while let Some(uri) = uris.pop() {
        let (mut a, mut b) = (get(&sql, &uri).await, get(&memory, &uri).await);
        // Errors differ only by their request id.
        for r in [&mut a, &mut b] {
            if let Some(e) = r.json.get_mut("error").and_then(|e| e.as_object_mut()) {
                e.remove("request_id");
            }
        }
        assert_eq!((a.status, &a.json), (b.status, &b.json), "{uri}");
        // Follow the pages (the same token works on both: same key, same last line).
        if let Some(t) = a.json["next_token"].as_str() {
            let base = uri.split("&next_token=").next().unwrap_or(&uri);
            uris.push(format!("{base}&next_token={t}"));
            pages += 1;
        }
    }
    assert!(pages > 0, "no route was paged");
}

#[tokio::test]
async fn an_engine_without_sql_answers_every_route_like_datafusion() {
    let (dir, _lake) = lake_with(&["day1.csv", "day2.csv", "orders.csv"]);
    same_answers(dir.path()).await;
}
