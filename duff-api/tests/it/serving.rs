//! The serving engine answers every route like the reference over the whole history, sees
//! new files without a restart, and reports a damaged serving state as an unreadable lake.

use crate::common::*;
use crate::reference::ReferenceEngine;
use duff_api::{Report, ServingEngine, ServingEngineConfig, TokenKey, router};
use duff_lake::Store;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Every filter combination a report accepts (with values present and absent in the data).
fn queries(report: Report) -> Vec<String> {
    let mut out = vec![String::new()];
    for f in report.filters() {
        let values: &[&str] = match f.name() {
            "channel" => &["Retail", "online", "B2B"],
            "status" => &["created", "Delivered", "broken"],
            "client_id" => &["1001", "1008", "4242"],
            _ => &["102", "106", "999"],
        };
        let mut next = Vec::new();
        for q in &out {
            next.push(q.clone());
            for v in values {
                let sep = if q.is_empty() { "" } else { "&" };
                next.push(format!("{q}{sep}{}={v}", f.name()));
            }
        }
        out = next;
    }
    out
}

/// Every report under every filter combination, and clients' orders page by page: the same
/// status and JSON from the serving engine and the reference.
async fn same_answers(root: &Path) -> usize {
    let serving = app(root);
    let reference = router(Arc::new(ReferenceEngine::load(root)), TokenKey::new("test secret"));
    let mut uris = Vec::new();
    for report in Report::ALL {
        uris.extend(queries(report).into_iter().map(|q| format!("/reports/{}?{q}", report.name())));
    }
    for client in [1001, 1002, 1005, 1006, 1007, 1008, 4242] {
        for q in ["", "limit=1", "limit=2&status=delivered", "channel=online", "status=BROKEN&channel=Retail"] {
            uris.push(format!("/clients/{client}/orders?{q}"));
        }
    }
    let mut checked = 0;
    while let Some(uri) = uris.pop() {
        let (mut a, mut b) = (get(&serving, &uri).await, get(&reference, &uri).await);
        for r in [&mut a, &mut b] {
            if let Some(e) = r.json.get_mut("error").and_then(|e| e.as_object_mut()) {
                e.remove("request_id");
            }
        }
        assert_eq!((a.status, &a.json), (b.status, &b.json), "{uri}");
        if let Some(t) = a.json["next_token"].as_str() {
            let base = uri.split("&next_token=").next().unwrap_or(&uri);
            uris.push(format!("{base}&next_token={t}"));
        }
        checked += 1;
        assert!(checked < 5_000, "paging does not end: {uri}");
    }
    checked
}

#[tokio::test]
async fn the_serving_state_answers_every_route_like_the_whole_history() {
    let (dir, _lake) = lake_with(&["day1.csv", "day2.csv", "orders.csv"]);
    assert!(same_answers(dir.path()).await > 250);
}

#[tokio::test]
async fn equal_instants_and_a_delayed_file_answer_like_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let rows = |status: &str, client: &str| {
        csv_file(&[
            format!("1001,{client},5678,102,Duff Classic,2.50,6,0.33,Retail,{status}"),
            format!("1002,Kwik-E-Mart,5679,103,Duff Lite,2.00,12,0.5,B2B,{status}"),
        ])
    };
    ingest_at(dir.path(), "incoming/b.csv", at(10), &rows("delivered", "Moe's"));
    ingest_at(dir.path(), "incoming/a.csv", at(10), &rows("broken", "Moe's Tavern"));
    ingest_at(dir.path(), "incoming/late.csv", at(9), &rows("created", "Moe"));
    same_answers(dir.path()).await;
    let r = get(&app(dir.path()), "/reports/order-status").await;
    assert_eq!(r.json["rows"][0]["status"], "delivered", "b.csv sorts after a.csv at equal instants");
}

#[tokio::test]
async fn a_file_published_while_serving_is_answered_without_a_restart() {
    let (dir, lake) = lake_with(&["day1.csv"]);
    let cfg = ServingEngineConfig { refresh_interval: Duration::ZERO, ..ServingEngineConfig::default() };
    let engine = ServingEngine::new(duff_lake::LocalLake::open(dir.path()).unwrap(), cfg);
    assert_eq!(engine.refresh().await.unwrap().0, 1);
    let app = router(Arc::new(engine), TokenKey::new("k"));
    let before = get(&app, "/reports/order-status").await.json;
    lake.ingest_path(&sample("day2.csv"), &duff_core::IngestConfig::default(), at(12)).unwrap();
    lake.update_serving().unwrap();
    // The request that notices the new generation is answered from the one in memory while
    // the new one loads in the background; a later one gets it.
    let mut after = before.clone();
    for _ in 0..200 {
        after = get(&app, "/reports/order-status").await.json;
        if after != before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_ne!(after, before, "day2 never showed");
    let reference = router(Arc::new(ReferenceEngine::load(dir.path())), TokenKey::new("k"));
    assert_eq!(after, get(&reference, "/reports/order-status").await.json);
}

/// `GET /health` of a degraded engine: 503, `status` degraded, the kind of problem, and the
/// one error object (lake_unavailable) with the request's id.
fn assert_degraded(r: &Reply, problem: &str) {
    assert_eq!(r.status, 503, "{}", r.json);
    assert_eq!(r.json["status"], "degraded", "{}", r.json);
    assert_eq!(r.json["problem"], problem, "{}", r.json);
    let e = &r.json["error"];
    assert_eq!(e["code"], "lake_unavailable", "{}", r.json);
    assert_eq!(e["request_id"].as_str().unwrap(), r.headers["x-request-id"].to_str().unwrap());
    assert_eq!(r.json.as_object().unwrap().len(), 3, "{}", r.json);
}

#[tokio::test]
async fn a_damaged_serving_state_is_a_503_not_a_wrong_answer() {
    let (dir, lake) = lake_with(&["day1.csv", "day2.csv"]);
    let app = app(dir.path());
    assert_eq!(get(&app, "/health").await.json, serde_json::json!({"status": "ok"}));
    let head = lake.serving_head().unwrap().unwrap();
    let key = &head.tables["cells_total"];
    lake.store().delete(key).unwrap();
    let app = crate::common::app(dir.path());
    let r = get(&app, "/reports/order-status").await;
    assert_error(&r, 503, "lake_unavailable");
    // The message names the kind of problem, never the key or a path.
    let message = r.json["error"]["message"].as_str().unwrap();
    assert!(message.contains("missing"), "{message}");
    assert!(!message.contains(key.as_str()) && !message.contains("serving/"), "{message}");
    let r = get(&app, "/health").await;
    assert_degraded(&r, "missing_object");
    assert!(!r.json.to_string().contains("serving/"), "{}", r.json);
    // Rebuilt from the lake by one call, it answers again.
    lake.rebuild_serving().unwrap();
    assert_eq!(get(&app, "/reports/order-status").await.status, 200);
    let r = get(&app, "/health").await;
    assert_eq!((r.status, r.json), (200, serde_json::json!({"status": "ok"})));
}

#[tokio::test]
async fn a_damaged_run_is_a_503_and_health_tells_until_the_rebuild() {
    let (dir, lake) = lake_with(&["day1.csv", "day2.csv"]);
    // The engine in memory, as `serve` holds it (the newest generation checked on every
    // request, loaded in the request that notices it).
    let app = app(dir.path());
    assert_eq!(get(&app, "/health").await.status, 200);
    // Every run object holding clients, truncated: the generation still loads (its cells and
    // dimensions are whole), a client's lines do not.
    let head = lake.serving_head().unwrap().unwrap();
    for run in &head.runs {
        for key in &run.by_client {
            let bytes = lake.store().get(key).unwrap().unwrap();
            lake.store().put_bytes(key, &bytes[..bytes.len() / 2]).unwrap();
        }
    }
    assert_eq!(get(&app, "/health").await.status, 200, "/health reads no run");
    assert_eq!(get(&app, "/reports/order-status").await.status, 200, "the cells are whole");
    let r = get(&app, "/clients/1001/orders").await;
    assert_error(&r, 503, "lake_unavailable");
    assert!(r.json["error"]["message"].as_str().unwrap().contains("damaged"), "{}", r.json);
    // The failure is remembered for the generation: /health tells, without reading again.
    assert_degraded(&get(&app, "/health").await, "damaged_object");
    assert_degraded(&get(&app, "/health").await, "damaged_object");
    lake.rebuild_serving().unwrap();
    assert_eq!(get(&app, "/clients/1001/orders").await.status, 200);
    assert_eq!(get(&app, "/health").await.status, 200);
}
