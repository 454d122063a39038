//! The routes: shapes, sorting, paging. Run over the serving state here, and over
//! DataFusion by duff-sql's tests (which include this file).

use crate::common::*;
use duff_core::{MONEY_SCALE, format_litres, format_scaled};
use serde_json::{Value, json};

#[tokio::test]
async fn health() {
    let (dir, _lake) = lake_with(&[]);
    let app = app(dir.path());
    let r = get(&app, "/health").await;
    assert_eq!((r.status, r.json.clone()), (200, json!({"status": "ok"})));
    assert!(r.headers.contains_key("x-request-id"));
    assert_eq!(r.headers["content-type"], "application/json");
}

#[tokio::test]
async fn an_empty_lake_answers_reports_with_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    // Not even the folder: still an empty lake.
    let app = app(&dir.path().join("missing"));
    for name in duff_api::Report::ALL.map(duff_api::Report::name) {
        let r = get(&app, &format!("/reports/{name}")).await;
        assert_eq!((r.status, r.json), (200, json!({"rows": []})), "{name}");
    }
    assert_error(&get(&app, "/clients/1001/orders").await, 404, "client_not_found");
}

/// The client's lines as the core sees them, in the API's JSON.
fn core_orders(lake: &duff_lake::LocalLake, client_id: i64, keep: impl Fn(&Value) -> bool) -> (String, Vec<Value>) {
    let (state, _) = lake.load_state().unwrap();
    let lines = state.client_lines(client_id);
    let name = state.dims().client_name(client_id).to_owned();
    let orders = lines
        .iter()
        .map(|l| {
            json!({"order_id": l.key.order_id, "product_id": l.key.product_id,
                "product_description": &*l.product_description, "units": l.units,
                "unit_price": format_scaled(i128::from(l.unit_price), MONEY_SCALE),
                "amount": format_scaled(i128::from(l.amount), MONEY_SCALE),
                "volume_l": format_litres(i128::from(l.volume)),
                "channel": l.channel.as_str(), "status": l.status.as_str()})
        })
        .filter(|o| keep(o))
        .collect();
    (name, orders)
}

async fn all_pages(app: &axum::Router, first: &str) -> (Vec<Value>, usize, Value) {
    let mut uri = first.to_owned();
    let mut orders = Vec::new();
    let mut pages = 0;
    loop {
        let r = get(app, &uri).await;
        assert_eq!(r.status, 200, "{uri}: {}", r.json);
        pages += 1;
        assert!(pages < 1_000, "paging does not end: {uri}");
        let page = r.json["orders"].as_array().unwrap();
        orders.extend(page.iter().cloned());
        match r.json["next_token"].as_str() {
            Some(t) => {
                assert!(!page.is_empty());
                let sep = if first.contains('?') { '&' } else { '?' };
                uri = format!("{first}{sep}next_token={t}");
            }
            None => return (orders, pages, r.json),
        }
    }
}

#[tokio::test]
async fn client_orders_page_through_every_line_in_order() {
    let (dir, lake) = lake_with(&["day1.csv", "day2.csv"]);
    let app = app(dir.path());
    // 1008 (The Frying Dutchman) has lines in both files; 1007's name has a comma.
    for client in [1008, 1007, 1002] {
        let (name, expected) = core_orders(&lake, client, |_| true);
        assert!(expected.len() >= 4, "{client}");
        let (whole, pages, last) = all_pages(&app, &format!("/clients/{client}/orders")).await;
        assert_eq!(pages, 1);
        assert_eq!(last["client_id"], client);
        assert_eq!(last["client_name"], name.as_str());
        assert_eq!(last["next_token"], Value::Null);
        assert_eq!(whole, expected, "{client}");
        for limit in [1, 2, 3] {
            let (paged, pages, _) = all_pages(&app, &format!("/clients/{client}/orders?limit={limit}")).await;
            assert_eq!(paged, expected, "{client} limit {limit}");
            assert_eq!(pages, expected.len().div_ceil(limit), "{client}");
        }
    }
}

#[tokio::test]
async fn client_orders_filter_by_status_and_channel() {
    let (dir, lake) = lake_with(&["day1.csv", "day2.csv"]);
    let app = app(dir.path());
    let (_, expected) = core_orders(&lake, 1008, |o| o["status"] == "delivered" && o["channel"] == "Online");
    assert!(!expected.is_empty());
    let (got, _, _) = all_pages(&app, "/clients/1008/orders?status=Delivered&channel=ONLINE&limit=1").await;
    assert_eq!(got, expected);
    // A known client whose lines the filters exclude: 200, no orders.
    let r = get(&app, "/clients/1006/orders?channel=Online").await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["orders"], json!([]));
    assert_eq!(r.json["client_name"], "Lard Lad \"Donuts\"");
    assert_eq!(r.json["next_token"], Value::Null);
}

#[tokio::test]
async fn the_client_name_is_the_one_on_its_latest_line() {
    let dir = tempfile::tempdir().unwrap();
    ingest_at(dir.path(), "a.csv", at(9), &csv_file(&["7,Old Name,1,1,Duff,1.00,1,0.5,Retail,created"]));
    ingest_at(dir.path(), "b.csv", at(10), &csv_file(&["7,New Name,2,1,Duff,1.00,1,0.5,Retail,created"]));
    let app = app(dir.path());
    let r = get(&app, "/clients/7/orders").await;
    assert_eq!(r.json["client_name"], "New Name");
    assert_eq!(r.json["orders"].as_array().unwrap().len(), 2);
    let r = get(&app, "/reports/orders-by-client").await;
    assert_eq!(r.json["rows"][0]["client_name"], "New Name");
    assert_eq!(r.json["rows"][0]["orders"], 2);
}

#[tokio::test]
async fn paging_tokens_are_bound_to_their_query() {
    let (dir, _lake) = lake_with(&["day1.csv", "day2.csv"]);
    let app = app(dir.path());
    let r = get(&app, "/clients/1008/orders?limit=1").await;
    let token = r.json["next_token"].as_str().unwrap().to_owned();
    // The same token with other filters, another client, edited, or from another key.
    for uri in [
        format!("/clients/1008/orders?status=created&next_token={token}"),
        format!("/clients/1007/orders?next_token={token}"),
        format!("/clients/1008/orders?next_token={}x", &token[..token.len() - 1]),
        "/clients/1008/orders?next_token=AAAA".to_owned(),
    ] {
        assert_error(&get(&app, &uri).await, 400, "bad_parameter");
    }
    let other = app_with_key(dir.path(), "another secret");
    assert_error(&get(&other, &format!("/clients/1008/orders?next_token={token}")).await, 400, "bad_parameter");
    // The page size may change between pages.
    let r = get(&app, &format!("/clients/1008/orders?limit=1000&next_token={token}")).await;
    assert_eq!(r.status, 200, "{}", r.json);
}
