//! Every report's DataFusion answer equals duff-core's reference aggregates on the same lake.

use crate::common::*;
use duff_api::{Filter, Report};
use duff_core::reports::{self, ReportFilter};
use duff_core::{Channel, CurrentState, Status};
use serde_json::{Value, json};

fn expected(report: Report, state: &CurrentState, f: &ReportFilter) -> Value {
    let rows: Vec<Value> = match report {
        Report::SalesByProduct => reports::sales_by_product(state, f)
            .into_iter()
            .map(|r| {
                json!({"product_id": r.product_id, "product_description": r.product_description, "orders": r.orders,
                    "units": r.units as i64, "sales": r.sales, "volume_l": r.volume_l})
            })
            .collect(),
        Report::OrderStatus => reports::order_status(state, f)
            .into_iter()
            .map(
                |r| json!({"status": r.status.as_str(), "orders": r.orders, "units": r.units as i64, "sales": r.sales}),
            )
            .collect(),
        Report::OrdersByClient => reports::orders_by_client(state, f)
            .into_iter()
            .map(|r| {
                json!({"client_id": r.client_id, "client_name": r.client_name, "orders": r.orders,
                    "units": r.units as i64, "sales": r.sales})
            })
            .collect(),
        Report::SalesByChannel => reports::sales_by_channel(state, f)
            .into_iter()
            .map(|r| {
                json!({"channel": r.channel.as_str(), "orders": r.orders, "units": r.units as i64,
                    "sales": r.sales, "volume_l": r.volume_l})
            })
            .collect(),
    };
    json!({ "rows": rows })
}

/// Every combination of the report's filters over a few values (unknown ids included).
fn filters(report: Report) -> Vec<(String, ReportFilter)> {
    let mut out = vec![(String::new(), ReportFilter::default())];
    for &filter in report.filters() {
        let mut next = Vec::new();
        for (q, f) in &out {
            next.push((q.clone(), *f));
            let values: Vec<(String, ReportFilter)> = match filter {
                Filter::Channel => Channel::ALL
                    .iter()
                    // Any letter case is accepted.
                    .map(|c| {
                        (format!("channel={}", c.as_str().to_lowercase()), ReportFilter { channel: Some(*c), ..*f })
                    })
                    .collect(),
                Filter::Status => Status::ALL
                    .iter()
                    .map(|s| (format!("status={}", s.as_str().to_uppercase()), ReportFilter { status: Some(*s), ..*f }))
                    .collect(),
                Filter::ClientId => [1002, 1008, 99_999]
                    .iter()
                    .map(|c| (format!("client_id={c}"), ReportFilter { client_id: Some(*c), ..*f }))
                    .collect(),
                Filter::ProductId => [104, 107, 99_999]
                    .iter()
                    .map(|p| (format!("product_id={p}"), ReportFilter { product_id: Some(*p), ..*f }))
                    .collect(),
            };
            for (vq, vf) in values {
                let q = if q.is_empty() { vq } else { format!("{q}&{vq}") };
                next.push((q, vf));
            }
        }
        out = next;
    }
    out
}

async fn check_lake(files: &[&str]) {
    let (dir, lake) = lake_with(files);
    let (state, _) = lake.load_state().unwrap();
    let app = app(dir.path());
    for report in Report::ALL {
        for (q, f) in filters(report) {
            let uri = format!("/reports/{}?{q}", report.name());
            let r = get(&app, &uri).await;
            assert_eq!(r.status, 200, "{uri}: {}", r.json);
            assert_eq!(r.json, expected(report, &state, &f), "{uri}");
        }
    }
}

#[tokio::test]
async fn reports_equal_the_core_on_the_brief_sample() {
    check_lake(&["orders.csv"]).await;
}

#[tokio::test]
async fn reports_equal_the_core_over_files_with_status_updates() {
    // day2 updates statuses of day1's lines (and quarantines a row); orders.csv adds more.
    check_lake(&["day1.csv", "day2.csv", "orders.csv"]).await;
}

#[tokio::test]
async fn the_brief_sample_answers_the_contract_numbers() {
    let (dir, _lake) = lake_with(&["orders.csv"]);
    let app = app(dir.path());
    let r = get(&app, "/reports/sales-by-product").await;
    assert_eq!(
        r.json["rows"][0],
        json!({"product_id": 102, "product_description": "Duff Classic", "orders": 2, "units": 12,
            "sales": "30.00", "volume_l": "3.96"})
    );
    let r = get(&app, "/reports/order-status").await;
    let statuses: Vec<&str> =
        r.json["rows"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["created", "delivered", "broken"]);
    let r = get(&app, "/reports/sales-by-channel").await;
    let channels: Vec<&str> =
        r.json["rows"].as_array().unwrap().iter().map(|r| r["channel"].as_str().unwrap()).collect();
    assert_eq!(channels, ["Retail", "Online", "B2B"]);
}

#[tokio::test]
async fn equal_instants_are_broken_like_the_core() {
    // Two files at the same second (EventBridge precision): the greater source wins, then
    // the greater file_id; the core and the SQL must agree.
    let dir = tempfile::tempdir().unwrap();
    let head = "client_id,client_name,order_id,product_id,product_description,product_price,product_ccf,product_volume,point_of_sale_channel,status\n";
    let a = format!("{head}1,Moe,10,1,Duff,1.00,1,0.5,Retail,created\n2,Barney,11,1,Duff,1.00,2,0.5,Online,created\n");
    let b = format!("{head}1,Moe's,10,1,Duff Max,1.00,1,0.5,Retail,delivered\n");
    let c = format!("{head}2,Barney G,11,1,Duff,1.00,2,0.5,Online,broken\n");
    ingest_bytes(dir.path(), "s3://raw/b.csv", at(9), b.as_bytes());
    ingest_bytes(dir.path(), "s3://raw/a.csv", at(9), a.as_bytes());
    ingest_bytes(dir.path(), "s3://raw/c.csv", at(9), c.as_bytes());
    let (state, _) = duff_local::LocalLake::open(dir.path()).unwrap().load_state().unwrap();
    let app = app(dir.path());
    for report in Report::ALL {
        let r = get(&app, &format!("/reports/{}", report.name())).await;
        assert_eq!(r.json, expected(report, &state, &ReportFilter::default()), "{}", report.name());
    }
    let r = get(&app, "/reports/order-status").await;
    assert_eq!(r.json["rows"][0]["status"], "delivered", "{}", r.json);
    assert_eq!(r.json["rows"][1]["status"], "broken", "{}", r.json);
}
