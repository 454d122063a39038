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
