//! A file ingested while the API runs is visible without a restart.

use crate::common::*;
use duff_core::IngestConfig;
use std::time::Duration;

#[tokio::test]
async fn new_files_are_visible_without_a_restart() {
    let (dir, lake) = lake_with(&["day1.csv"]);
    let app = app(dir.path());
    let r = get(&app, "/reports/order-status").await;
    let before = r.json.clone();
    assert_error(&get(&app, "/clients/1005/orders").await, 404, "client_not_found");
    lake.ingest_path(&sample("orders.csv"), &IngestConfig::default(), at(12)).unwrap();
    // The engine answers from the serving state: the file counts once a generation holds it.
    lake.update_serving().unwrap();
    let r = get(&app, "/clients/1005/orders").await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_ne!(get(&app, "/reports/order-status").await.json, before);
    let (state, _) = lake.load_state().unwrap();
    let r = get(&app, "/reports/orders-by-client").await;
    assert_eq!(
        r.json["rows"].as_array().unwrap().len(),
        duff_core::reports::orders_by_client(&state, &Default::default()).len()
    );
}

#[tokio::test]
async fn the_listing_is_trusted_for_the_refresh_interval_only() {
    let (dir, lake) = lake_with(&["orders.csv"]);
    let interval = Duration::from_millis(1500);
    let cfg = duff_sql::DataFusionConfig { refresh_interval: interval, ..Default::default() };
    let engine = duff_sql::DataFusionEngine::new(&duff_api::LakeUri::Local(dir.path().to_owned()), cfg).unwrap();
    let listed = std::time::Instant::now();
    assert_eq!(engine.current_lines().await.unwrap(), 5);
    lake.ingest_path(&sample("day1.csv"), &IngestConfig::default(), at(12)).unwrap();
    lake.update_serving().unwrap();
    // Within the interval the cached state answers (checked only when this machine was quick
    // enough to ask within it); after it, the new file is in.
    let asked = listed.elapsed();
    let lines = engine.current_lines().await.unwrap();
    if asked < interval {
        assert_eq!(lines, 5);
    }
    tokio::time::sleep(interval.saturating_sub(listed.elapsed()) + Duration::from_millis(50)).await;
    assert_eq!(engine.current_lines().await.unwrap(), 5 + 42);
}

#[tokio::test]
async fn unpublished_and_uncommitted_files_are_not_visible() {
    let (dir, lake) = lake_with(&["orders.csv"]);
    let engine = crate::engine(dir.path());
    assert_eq!(engine.current_lines().await.unwrap(), 5);
    // A rejected file (threshold 0: its quarantined row refuses it) publishes nothing.
    let strict = IngestConfig { reject_threshold_ppm: 0, ..IngestConfig::default() };
    let m = lake.ingest_path(&sample("day2.csv"), &strict, at(12)).unwrap();
    assert!(matches!(m, duff_lake::IngestResult::Ingested(ref m) if m.outcome == duff_core::Outcome::Rejected));
    lake.update_serving().unwrap();
    assert_eq!(engine.current_lines().await.unwrap(), 5);
    // Parquet without a manifest (a crash before the commit) is ignored; a broken manifest is skipped.
    let fact = std::fs::read_dir(dir.path().join("fact_order_line")).unwrap().next().unwrap().unwrap().path();
    let object = std::fs::read_dir(&fact).unwrap().next().unwrap().unwrap().path();
    std::fs::copy(&object, fact.join("00000000000000000000000000000000.parquet")).unwrap();
    std::fs::write(dir.path().join("manifests/broken.json"), b"{not json").unwrap();
    assert_eq!(engine.current_lines().await.unwrap(), 5);
}
