//! Every report's DataFusion answer equals duff-core's reference aggregates on the same lake.

use crate::common::*;
use duff_api::{Filter, Report, ServingEngine, ServingEngineConfig};
use duff_core::reports::{self, ReportFilter};
use duff_core::{Channel, CurrentState, Status};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// `n / d` rounded half to even (an implementation independent of duff-core's).
fn half_even(n: i128, d: i128) -> i128 {
    let (q, r) = (n / d, n % d);
    if 2 * r > d || (2 * r == d && q % 2 == 1) { q + 1 } else { q }
}

fn scaled(v: i128, scale: u32) -> String {
    let p = 10i128.pow(scale);
    format!("{}.{:0width$}", v / p, v % p, width = scale as usize)
}

pub fn instant(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros).unwrap().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn keeps(f: &ReportFilter, l: &duff_core::Line) -> bool {
    f.channel.is_none_or(|c| c == l.channel)
        && f.status.is_none_or(|s| s == l.status)
        && f.client_id.is_none_or(|c| c == l.client_id)
        && f.product_id.is_none_or(|p| p == l.key.product_id)
}

/// The mart routes' answers computed here, from the current lines alone; names, first and
/// last sightings from the dimensions' current rows (whatever the filters).
fn expected_mart(report: Report, state: &CurrentState, f: &ReportFilter) -> Vec<Value> {
    #[derive(Default)]
    struct G {
        lines: i128,
        broken: i128,
        orders: std::collections::BTreeSet<i64>,
        units: i128,
        cents: i128,
    }
    let mut groups: BTreeMap<i64, G> = BTreeMap::new();
    for l in state.iter().filter(|l| keeps(f, l)) {
        let key = match report {
            Report::BrokenRateByProduct => l.key.product_id,
            Report::BrokenRateByChannel => Channel::ALL.iter().position(|c| *c == l.channel).unwrap() as i64,
            _ => l.client_id,
        };
        let g = groups.entry(key).or_default();
        g.lines += 1;
        g.broken += i128::from(l.status == Status::Broken);
        g.orders.insert(l.key.order_id);
        g.units += i128::from(l.units);
        g.cents += i128::from(l.amount);
    }
    let dims = state.dims();
    groups
        .into_iter()
        .map(|(id, g)| {
            let rate = scaled(half_even(g.broken * 1_000_000, g.lines), 6);
            match report {
                Report::BrokenRateByProduct => json!({"product_id": id,
                    "product_description": dims.product_description(id), "lines": g.lines as i64,
                    "broken_lines": g.broken as i64, "broken_rate": rate}),
                Report::BrokenRateByChannel => json!({"channel": Channel::ALL[id as usize].as_str(),
                    "lines": g.lines as i64, "broken_lines": g.broken as i64, "broken_rate": rate}),
                _ => {
                    let orders = g.orders.len() as i128;
                    let client = &dims.clients[&id];
                    json!({"client_id": id, "client_name": dims.client_name(id), "orders": orders as i64,
                        "lines": g.lines as i64, "units": g.units as i64, "sales": scaled(g.cents, 2),
                        "avg_order_value": scaled(half_even(g.cents, orders), 2),
                        "first_seen_at": instant(client.first_seen_micros),
                        "last_seen_at": instant(client.last_seen_micros)})
                }
            }
        })
        .collect()
}

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
        Report::BrokenRateByProduct | Report::BrokenRateByChannel | Report::ClientValue => {
            expected_mart(report, state, f)
        }
    };
    json!({ "rows": rows })
}

/// The router over the API's serving engine on the lake in `root` (reading its newest
/// generation on every request).
fn serving_app(root: &std::path::Path) -> axum::Router {
    let cfg = ServingEngineConfig {
        refresh_interval: std::time::Duration::ZERO,
        refresh_in_background: false,
        ..ServingEngineConfig::default()
    };
    let engine = ServingEngine::new(duff_lake::LocalLake::open(root).unwrap(), cfg);
    duff_api::router(std::sync::Arc::new(engine), duff_api::TokenKey::new("test secret"))
}

/// Every combination of the report's filters over a few values (unknown ids included).
pub fn filters(report: Report) -> Vec<(String, ReportFilter)> {
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
    let serving = serving_app(dir.path());
    for report in Report::ALL {
        for (q, f) in filters(report) {
            let uri = format!("/reports/{}?{q}", report.name());
            let r = get(&app, &uri).await;
            assert_eq!(r.status, 200, "{uri}: {}", r.json);
            assert_eq!(r.json, expected(report, &state, &f), "{uri}");
            assert_eq!(r.json, get(&serving, &uri).await.json, "{uri}: DataFusion and the serving engine");
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
    let a = csv_file(&["1,Moe,10,1,Duff,1.00,1,0.5,Retail,created", "2,Barney,11,1,Duff,1.00,2,0.5,Online,created"]);
    let b = csv_file(&["1,Moe's,10,1,Duff Max,1.00,1,0.5,Retail,delivered"]);
    let c = csv_file(&["2,Barney G,11,1,Duff,1.00,2,0.5,Online,broken"]);
    let instants: Vec<i64> = [("s3://raw/b.csv", &b), ("s3://raw/a.csv", &a), ("s3://raw/c.csv", &c)]
        .into_iter()
        .map(|(source, csv)| ingest_at(dir.path(), source, at(9), csv).ingested_at_micros)
        .collect();
    assert_eq!(instants, [at(9).timestamp_micros(); 3], "the three files share their instant");
    let (state, _) = duff_lake::LocalLake::open(dir.path()).unwrap().load_state().unwrap();
    let app = app(dir.path());
    let serving = serving_app(dir.path());
    for report in Report::ALL {
        let uri = format!("/reports/{}", report.name());
        let r = get(&app, &uri).await;
        assert_eq!(r.json, expected(report, &state, &ReportFilter::default()), "{uri}");
        assert_eq!(r.json, get(&serving, &uri).await.json, "{uri}: DataFusion and the serving engine");
    }
    let r = get(&app, "/reports/order-status").await;
    assert_eq!(r.json["rows"][0]["status"], "delivered", "{}", r.json);
    assert_eq!(r.json["rows"][1]["status"], "broken", "{}", r.json);
}
