//! The mart routes (`broken-rate-by-*`, `client-value`) against duff-core's marts
//! (`duff_core::models::mart_batches`) on the same lake, and the half-to-even rounding of
//! their ratios on values where rounding half up would differ.

use crate::common::*;
use crate::reports::instant;
use duff_core::arrow_array::cast::AsArray;
use duff_core::arrow_array::types::{Decimal128Type, Int64Type, TimestampMicrosecondType};
use duff_core::arrow_array::{Array, RecordBatch};
use duff_core::format_scaled;
use serde_json::{Value, json};

fn mart(name: &str, state: &duff_core::CurrentState) -> RecordBatch {
    duff_core::models::mart_batches(state).unwrap().into_iter().find(|(n, _)| *n == name).unwrap().1
}

/// A mart's column, every value as the API's JSON would write it.
fn column(b: &RecordBatch, name: &str) -> Vec<Value> {
    let c = b.column_by_name(name).unwrap_or_else(|| panic!("{name}"));
    (0..b.num_rows())
        .map(|i| {
            if let Some(a) = c.as_primitive_opt::<Int64Type>() {
                json!(a.value(i))
            } else if let Some(a) = c.as_primitive_opt::<Decimal128Type>() {
                if a.is_null(i) {
                    Value::Null
                } else if name == "volume_l" {
                    json!(duff_core::format_litres(a.value(i)))
                } else {
                    json!(format_scaled(a.value(i), a.scale() as u32))
                }
            } else if let Some(a) = c.as_primitive_opt::<TimestampMicrosecondType>() {
                json!(instant(a.value(i)))
            } else {
                json!(c.as_string::<i32>().value(i))
            }
        })
        .collect()
}

fn route_column(r: &Reply, name: &str) -> Vec<Value> {
    r.json["rows"].as_array().unwrap().iter().map(|row| row[name].clone()).collect()
}

#[tokio::test]
async fn mart_routes_equal_the_core_marts() {
    let (dir, lake) = lake_with(&["day1.csv", "day2.csv", "orders.csv"]);
    let (state, _) = lake.load_state().unwrap();
    let app = app(dir.path());
    let cases: [(&str, &str, &[&str]); 3] = [
        (
            "/reports/broken-rate-by-product",
            "mart_broken_rate_by_product",
            &["product_id", "lines", "broken_lines", "broken_rate"],
        ),
        ("/reports/broken-rate-by-channel", "mart_broken_rate_by_channel", &["lines", "broken_lines", "broken_rate"]),
        (
            "/reports/client-value",
            "mart_client_value",
            &[
                "client_id",
                "client_name",
                "orders",
                "lines",
                "units",
                "sales",
                "avg_order_value",
                "first_seen_at",
                "last_seen_at",
            ],
        ),
    ];
    for (uri, name, columns) in cases {
        let r = get(&app, uri).await;
        assert_eq!(r.status, 200, "{uri}: {}", r.json);
        let m = mart(name, &state);
        assert!(m.num_rows() > 1, "{name}");
        for c in columns {
            assert_eq!(route_column(&r, c), column(&m, c), "{uri} {c}");
        }
    }
    // Both sorted Retail, Online, B2B.
    let r = get(&app, "/reports/broken-rate-by-channel").await;
    assert_eq!(route_column(&r, "channel"), [json!("Retail"), json!("Online"), json!("B2B")]);
    assert_eq!(route_column(&r, "channel"), column(&mart("mart_broken_rate_by_channel", &state), "channel"));
    // Something is broken in the sample, and not everything.
    let rates = route_column(&r, "broken_rate");
    assert!(rates.iter().any(|v| v != "0.000000" && v != "1.000000"), "{rates:?}");
}

#[tokio::test]
async fn ratios_round_half_to_even_like_the_core() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    // Product 1: 128 lines, 1 broken: 1/128 = 0.0078125, half to even 0.007812 (half up: ...13).
    // Product 2: 128 lines, 3 broken: 3/128 = 0.0234375 -> 0.023438.
    for i in 0..128 {
        let s1 = if i == 0 { "broken" } else { "created" };
        let s2 = if i < 3 { "broken" } else { "delivered" };
        rows.push(format!("9,Big,{},1,Duff,1.00,1,0.5,B2B,{s1}", 1000 + i));
        rows.push(format!("9,Big,{},2,Duff Lite,1.00,1,0.5,Online,{s2}", 1000 + i));
    }
    // Client 7: 2 orders, 0.05 in all: 0.025 -> 0.02 (half up: 0.03).
    rows.push("7,Tie,1,1,Duff,0.01,2,0.5,Retail,created".into());
    rows.push("7,Tie,2,1,Duff,0.03,1,0.5,Retail,created".into());
    // Client 8: 2 orders, 0.15 in all: 0.075 -> 0.08.
    rows.push("8,Odd,3,1,Duff,0.05,1,0.5,Retail,created".into());
    rows.push("8,Odd,4,1,Duff,0.10,1,0.5,Retail,created".into());
    ingest_at(dir.path(), "s3://raw/ties.csv", at(9), &csv_file(&rows));
    let app = app(dir.path());
    let (state, _) = duff_lake::LocalLake::open(dir.path()).unwrap().load_state().unwrap();

    let r = get(&app, "/reports/broken-rate-by-product").await;
    assert_eq!(route_column(&r, "product_id"), [json!(1), json!(2)]);
    assert_eq!(route_column(&r, "lines"), [json!(132), json!(128)]);
    // Product 1 also has clients 7 and 8's 4 lines (created): 1/132 = 0.00757575... -> 0.007576.
    assert_eq!(route_column(&r, "broken_rate"), [json!("0.007576"), json!("0.023438")]);
    let r = get(&app, "/reports/broken-rate-by-product?client_id=9").await;
    assert_eq!(route_column(&r, "broken_rate"), [json!("0.007812"), json!("0.023438")]);
    assert_eq!(route_column(&r, "product_description"), [json!("Duff"), json!("Duff Lite")]);
    let r = get(&app, "/reports/broken-rate-by-channel").await;
    assert_eq!(route_column(&r, "channel"), [json!("Retail"), json!("Online"), json!("B2B")]);
    assert_eq!(route_column(&r, "broken_rate"), [json!("0.000000"), json!("0.023438"), json!("0.007812")]);
    assert_eq!(route_column(&r, "broken_rate"), column(&mart("mart_broken_rate_by_channel", &state), "broken_rate"));

    let r = get(&app, "/reports/client-value").await;
    let rows = r.json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["client_id"], 7);
    assert_eq!((&rows[0]["sales"], &rows[0]["avg_order_value"]), (&json!("0.05"), &json!("0.02")));
    assert_eq!((&rows[1]["sales"], &rows[1]["avg_order_value"]), (&json!("0.15"), &json!("0.08")));
    assert_eq!(
        (&rows[2]["sales"], &rows[2]["avg_order_value"], &rows[2]["orders"]),
        (&json!("256.00"), &json!("2.00"), &json!(128))
    );
    assert_eq!(rows[0]["first_seen_at"], "2026-11-27T09:00:00Z");
    assert_eq!(route_column(&r, "avg_order_value"), column(&mart("mart_client_value", &state), "avg_order_value"));
}

#[tokio::test]
async fn client_value_follows_status_updates_and_names() {
    let dir = tempfile::tempdir().unwrap();
    let a = csv_file(&["7,Old,1,1,Duff,2.00,3,0.5,Retail,created", "7,Old,2,1,Duff,1.00,1,0.5,Online,created"]);
    ingest_at(dir.path(), "a.csv", at(9), &a);
    // Order 1 is updated (delivered, 4 units now) and the client renamed, an hour later.
    ingest_at(dir.path(), "b.csv", at(10), &csv_file(&["7,New,1,1,Duff,2.00,4,0.5,Retail,delivered"]));
    let app = app(dir.path());
    let r = get(&app, "/reports/client-value").await;
    assert_eq!(
        r.json,
        json!({"rows": [{"client_id": 7, "client_name": "New", "orders": 2, "lines": 2, "units": 5,
            "sales": "9.00", "avg_order_value": "4.50", "first_seen_at": "2026-11-27T09:00:00Z",
            "last_seen_at": "2026-11-27T10:00:00Z"}]})
    );
    // First and last sightings are the client's (its dimension row), whatever the filters.
    let r = get(&app, "/reports/client-value?status=created").await;
    assert_eq!(r.json["rows"][0]["last_seen_at"], "2026-11-27T10:00:00Z", "{}", r.json);
    assert_eq!(r.json["rows"][0]["sales"], "1.00", "{}", r.json);
    let r = get(&app, "/reports/broken-rate-by-product?channel=online").await;
    assert_eq!(
        r.json,
        json!({"rows": [{"product_id": 1, "product_description": "Duff", "lines": 1,
        "broken_lines": 0, "broken_rate": "0.000000"}]})
    );
}

async fn check_views(dir: &std::path::Path) {
    use duff_api::MartView;
    let (state, _) = duff_lake::LocalLake::open(dir).unwrap().load_state().unwrap();
    let engine = crate::engine(dir);
    for view in MartView::ALL {
        let rs = engine.run(&view.query()).await.unwrap();
        let rows = duff_api::render::rows(&rs, view.columns()).unwrap();
        let json = serde_json::to_value(&rows).unwrap();
        let m = mart(view.name(), &state);
        assert!(m.num_rows() > 2, "{}", view.name());
        for c in view.columns() {
            let have: Vec<Value> = json.as_array().unwrap().iter().map(|r| r[c.name].clone()).collect();
            assert_eq!(have, column(&m, c.name), "{} {}", view.name(), c.name);
        }
    }
}

#[tokio::test]
async fn mart_views_equal_the_core_marts() {
    let (dir, _lake) = lake_with(&["day1.csv", "day2.csv", "orders.csv"]);
    check_views(dir.path()).await;
}

#[tokio::test]
async fn mart_views_over_several_days_equal_the_core_marts() {
    use chrono::TimeZone;
    let dir = tempfile::tempdir().unwrap();
    let ingest = |name: &str, instant| ingest_path_at(dir.path(), &sample(name), &format!("s3://raw/{name}"), instant);
    // Half a second before midnight UTC, the next day, and two days later.
    let late = chrono::Utc.with_ymd_and_hms(2026, 11, 26, 23, 59, 59).unwrap() + chrono::Duration::milliseconds(500);
    ingest("day1.csv", late);
    ingest("day2.csv", at(0));
    ingest("orders.csv", at(0) + chrono::Duration::days(2));
    check_views(dir.path()).await;
    let rs = crate::engine(dir.path()).run(&duff_api::MartView::SalesDaily.query()).await.unwrap();
    let days: std::collections::BTreeSet<_> =
        rs.rows.iter().map(|r| r[0].as_ref().unwrap().text().into_owned()).collect();
    assert_eq!(days.into_iter().collect::<Vec<_>>(), ["2026-11-26", "2026-11-27", "2026-11-29"]);
}
