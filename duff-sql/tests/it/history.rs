//! The history of statuses in SQL (the Athena view `order_status_history`) agrees with
//! `duff_core::StatusHistory`.

use crate::common::*;

#[tokio::test]
async fn the_status_history_view_agrees_with_the_core() {
    let (dir, lake) = lake_with(&["day1.csv", "day2.csv", "orders.csv"]);
    let (_, history) = lake.load_state().unwrap();
    // The lake's tables under their Athena names, and the view over them.
    let ctx = duff_sql::lake_context(&duff_api::LakeUri::Local(dir.path().to_owned())).await.unwrap();
    let sql = "SELECT order_id, product_id, from_status, to_status FROM order_status_history
        ORDER BY order_id, product_id, changed_at, file_id, line";
    let rows: Vec<String> = ctx
        .sql(sql)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap()
        .iter()
        .flat_map(|b| {
            let text =
                datafusion::arrow::util::pretty::pretty_format_batches(std::slice::from_ref(b)).unwrap().to_string();
            text.lines()
                .skip(3)
                .filter(|l| l.starts_with('|'))
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut changes: Vec<_> = history.changes.iter().collect();
    changes.sort_by_key(|c| c.key);
    let expected: Vec<String> = changes
        .iter()
        .map(|c| {
            format!(
                "| {} | {} | {} | {} |",
                c.key.order_id,
                c.key.product_id,
                c.from.map_or("", |s| s.as_str()),
                c.to.as_str()
            )
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
        })
        .collect();
    assert_eq!(rows, expected);
    assert!(history.changes.iter().any(|c| c.from.is_some()), "the lake has status changes");
}

/// An ingest killed between its Parquet objects and its manifest, then run again at a later
/// instant (same content, same `file_id`, same day): the killed run's objects stay under
/// `fact_order_line/` until `vacuum`, and the view does not count them.
#[tokio::test]
async fn the_status_history_view_ignores_a_crashed_runs_objects() {
    use duff_lake::failpoint::{FailMode, Failpoint};
    use duff_lake::{DirStore, Lake, Store};
    let (dir, lake) = lake_with(&["day1.csv", "day2.csv"]);
    let file = duff_testkit::sample("orders.csv");
    let cfg = duff_core::IngestConfig::default();
    let at = |s| chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 27, 20, 0, s).unwrap().timestamp_micros();
    // The writes of a run, counted on another lake holding a file; the run dies at its commit: its objects
    // are put, its manifest is not.
    let other = tempfile::tempdir().unwrap();
    let counted = Lake::new(Failpoint::new(DirStore::open(other.path()).unwrap(), FailMode::Crash, None), other.path());
    counted.ingest_file(&duff_testkit::sample("day1.csv"), "day1.csv", at(0), &cfg).unwrap();
    let before = counted.store().writes().len();
    counted.ingest_file(&file, "orders.csv", at(0), &cfg).unwrap();
    let writes = &counted.store().writes()[before..];
    let commit = writes.iter().position(|w| w.starts_with("put_if_absent manifests/")).unwrap();
    let store = Failpoint::new(DirStore::open(dir.path()).unwrap(), FailMode::Crash, Some(commit));
    assert!(Lake::new(store, dir.path().join(".staging")).ingest_file(&file, "orders.csv", at(0), &cfg).is_err());
    // The rerun, a second later.
    lake.ingest_file(&file, "orders.csv", at(1), &cfg).unwrap();
    lake.update_serving().unwrap();
    let facts = lake.store().list("fact_order_line/").unwrap();
    assert_eq!(facts.len(), 4, "three committed objects and the killed run's: {facts:?}");

    let (_, history) = lake.load_state().unwrap();
    let ctx = duff_sql::lake_context(&duff_api::LakeUri::Local(dir.path().to_owned())).await.unwrap();
    let count = async |sql: &str| -> i64 {
        let b = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        b[0].column(0).as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().unwrap().value(0)
    };
    assert_eq!(count("SELECT COUNT(*) FROM order_status_history").await, history.changes.len() as i64);
    // Copies of a line tie in the view's order: the killed run's instant must not show.
    assert_eq!(count("SELECT COUNT(DISTINCT changed_at) FROM order_status_history").await, 3, "one per file");
    // The table itself holds the killed run's rows: a reader of it applies the views' rule.
    let published: u64 = lake.manifests().unwrap().iter().map(|m| m.rows_accepted).sum();
    assert!(count("SELECT COUNT(*) FROM fact_order_line").await > published as i64);
    let committed = "SELECT COUNT(*) FROM fact_order_line f
        JOIN serving_files s ON s.file_id = f.file_id AND s.ingested_at = f.ingested_at";
    assert_eq!(count(committed).await, published as i64);
}
