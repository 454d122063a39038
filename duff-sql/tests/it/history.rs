//! The history of statuses in SQL (the Athena view `order_status_history`) agrees with
//! `duff_core::StatusHistory`.

use crate::common::*;
use datafusion::arrow::datatypes::DataType;
use duff_api::catalog::STATUS_HISTORY_SQL;

#[tokio::test]
async fn the_status_history_view_agrees_with_the_core() {
    use datafusion::arrow::array::{RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::datasource::file_format::parquet::ParquetFormat;
    use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
    use std::sync::Arc;

    let (dir, lake) = lake_with(&["day1.csv", "day2.csv", "orders.csv"]);
    let (_, history) = lake.load_state().unwrap();
    let ctx = datafusion::prelude::SessionContext::new();
    let url = ListingTableUrl::parse(format!("{}/fact_order_line/", dir.path().display())).unwrap();
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(vec![("ingest_date".into(), DataType::Utf8)]);
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(duff_core::tables::fact_order_line_schema());
    ctx.register_table("fact_order_line", Arc::new(ListingTable::try_new(config).unwrap())).unwrap();
    let ms = lake.manifests().unwrap();
    let schema = Arc::new(Schema::new(
        ["file_id", "ingest_date", "outcome"].map(|n| Field::new(n, DataType::Utf8, false)).to_vec(),
    ));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(ms.iter().map(|m| m.file_id.clone()))),
            Arc::new(StringArray::from_iter_values(ms.iter().map(|m| m.ingest_date.clone()))),
            Arc::new(StringArray::from_iter_values(ms.iter().map(|m| m.outcome.as_str()))),
        ],
    )
    .unwrap();
    ctx.register_table("manifests", Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap())).unwrap();
    let sql = format!(
        "SELECT order_id, product_id, from_status, to_status FROM ({STATUS_HISTORY_SQL}) x ORDER BY order_id, product_id, changed_at, file_id, line"
    );
    let rows: Vec<String> = ctx
        .sql(&sql)
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
