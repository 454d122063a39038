//! The ingestion routes over a real lake: the listing (newest first, filters, pages, tokens
//! bound to their filters), one file's manifest (a refused file's error, sample problems),
//! a file's quarantined rows (paged, escaped, cut at the stated length), the data-quality
//! report, and bad input answered 4xx in the one error shape.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail loudly")]

use axum::Router;
use axum::body::Body;
use chrono::{DateTime, TimeZone, Utc};
use duff_api::ingestions::RAW_LIMIT;
use duff_api::{ServingEngine, ServingEngineConfig, TokenKey};
use duff_core::{IngestConfig, Manifest, Outcome, Table};
use duff_lake::{IngestResult, IngestionIndex, LocalLake};
use duff_testkit::{csv_file, sample};
use http_body_util::BodyExt;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap()
}

fn ingest(lake: &LocalLake, path: &Path, source: &str, t: DateTime<Utc>, cfg: &IngestConfig) -> Manifest {
    match lake.ingest_file(path, source, t.timestamp_micros(), cfg).unwrap() {
        IngestResult::Ingested(m) => m,
        IngestResult::Duplicate(m) => panic!("duplicate {}", m.source),
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    lake: LocalLake,
    app: Router,
    day1: Manifest,
    failed: Manifest,
    rejected: Manifest,
    long: Manifest,
}

/// The long row's text: a tab, a backslash and an escape character, and more than
/// `RAW_LIMIT` bytes (with a two-byte character across the cut).
fn long_row() -> String {
    let mut name = "Moe\\Tab\there ".to_owned();
    name.push_str(&"x".repeat(RAW_LIMIT - 20));
    name.push_str("ééééé\u{1b}");
    name.push_str(&"y".repeat(100));
    format!("1001,{name},9001,102,Duff Classic,2.50,6,0.33,Phone,created")
}

/// day1.csv, day2.csv (incoming/, the 27th), orders.csv (no prefix, the 28th), a failed file
/// (a missing column), a rejected one (half its rows quarantined) and a file whose one bad
/// row is long (manual/, the 28th).
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let lake = LocalLake::open(dir.path().join("lake")).unwrap();
    let cfg = IngestConfig::default();
    let day1 = ingest(&lake, &sample("day1.csv"), "incoming/day1.csv", at(27, 8), &cfg);
    ingest(&lake, &sample("day2.csv"), "incoming/day2.csv", at(27, 9), &cfg);
    ingest(&lake, &sample("orders.csv"), "orders.csv", at(28, 7), &cfg);
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "order_id,status\n1,created\n").unwrap();
    let failed = ingest(&lake, &bad, "incoming/bad.csv", at(27, 10), &cfg);
    let rows: Vec<String> = (0..10)
        .map(|i| {
            let status = if i % 2 == 0 { "lost" } else { "created" };
            format!("{},Moe,{},102,Duff Classic,2.50,6,0.33,Retail,{status}", 1000 + i, 5000 + i)
        })
        .collect();
    let half = dir.path().join("half.csv");
    std::fs::write(&half, csv_file(&rows)).unwrap();
    let rejected = ingest(&lake, &half, "manual/half.csv", at(28, 8), &cfg);
    let good: Vec<String> =
        (0..20).map(|i| format!("{},Moe,{},102,Duff Classic,2.50,6,0.33,Retail,created", 1001, 6000 + i)).collect();
    let mut text = csv_file(&good);
    text.push_str(&long_row());
    text.push('\n');
    let long_path = dir.path().join("long.csv");
    std::fs::write(&long_path, text).unwrap();
    let long = ingest(&lake, &long_path, "manual/long.csv", at(28, 9), &cfg);
    assert_eq!(
        (day1.outcome, failed.outcome, rejected.outcome, long.outcome),
        (Outcome::Published, Outcome::Failed, Outcome::Rejected, Outcome::Published)
    );
    lake.update_serving().unwrap();
    let app = app_over(&lake);
    Fixture { _dir: dir, lake, app, day1, failed, rejected, long }
}

fn app_over(lake: &LocalLake) -> Router {
    let cfg = ServingEngineConfig {
        refresh_interval: Duration::ZERO,
        refresh_in_background: false,
        ..ServingEngineConfig::default()
    };
    let index = Arc::new(IngestionIndex::new(lake.store().clone(), Duration::ZERO));
    let engine = Arc::new(ServingEngine::new(lake.clone(), cfg));
    duff_api::router_with_ingestions(engine, TokenKey::new("test secret"), index)
}

async fn get(app: &Router, uri: &str) -> (u16, Value) {
    let req = http::Request::builder().uri(uri).body(Body::empty()).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{uri}: not JSON ({e})")))
}

async fn ok(app: &Router, uri: &str) -> Value {
    let (status, json) = get(app, uri).await;
    assert_eq!(status, 200, "{uri}: {json}");
    json
}

fn assert_error(uri: &str, (status, json): (u16, Value), want_status: u16, code: &str) {
    assert_eq!(status, want_status, "{uri}: {json}");
    assert_eq!(json["error"]["code"], code, "{uri}: {json}");
    assert!(json["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(json["error"]["request_id"].as_str().is_some_and(|m| !m.is_empty()));
}

/// Every page of `uri` (which has a query string or not), `key` holding the rows.
async fn walk(app: &Router, uri: &str, key: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let sep = if uri.contains('?') { '&' } else { '?' };
    let mut next: Option<String> = None;
    for _ in 0..1000 {
        let page_uri = match &next {
            Some(t) => format!("{uri}{sep}next_token={t}"),
            None => uri.to_owned(),
        };
        let page = ok(app, &page_uri).await;
        out.extend(page[key].as_array().unwrap().iter().cloned());
        match page["next_token"].as_str() {
            Some(t) => next = Some(t.to_owned()),
            None => return out,
        }
    }
    panic!("{uri}: more than 1000 pages");
}

fn ids(rows: &[Value]) -> Vec<String> {
    rows.iter().map(|r| r["file_id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn the_listing_newest_first_with_filters_and_pages() {
    let f = fixture();
    let manifests = f.lake.manifests().unwrap();
    let mut want: Vec<&Manifest> = manifests.iter().collect();
    want.sort_by(|a, b| (b.ingested_at_micros, &b.file_id).cmp(&(a.ingested_at_micros, &a.file_id)));

    let all = ok(&f.app, "/ingestions").await;
    let rows = all["ingestions"].as_array().unwrap();
    assert_eq!(all["next_token"], Value::Null);
    assert_eq!(ids(rows), want.iter().map(|m| m.file_id.clone()).collect::<Vec<_>>());
    // Each row is its manifest's figures.
    for (row, m) in rows.iter().zip(&want) {
        assert_eq!(row["source"], m.source.as_str());
        assert_eq!(row["ingested_at"], m.ingested_at.as_str());
        assert_eq!(row["outcome"], m.outcome.as_str());
        assert_eq!(row["rows_read"], m.rows_read);
        assert_eq!(row["rows_accepted"], m.rows_accepted);
        assert_eq!(row["rows_quarantined"], m.rows_quarantined);
        assert_eq!(row["totals"]["amount"], m.totals.amount.as_str());
        assert_eq!(row["totals"]["units"], m.totals.units.as_str());
        assert_eq!(row["totals"]["volume_l"], m.totals.volume_l.as_str());
        assert_eq!(row["quarantined_by_reason"], serde_json::to_value(&m.quarantined_by_reason).unwrap());
    }
    let d1 = rows.iter().find(|r| r["file_id"] == f.day1.file_id.as_str()).unwrap();
    assert_eq!(
        d1["quarantined_share"],
        duff_core::format_scaled(
            duff_core::reports::ratio6(i128::from(f.day1.rows_quarantined), i128::from(f.day1.rows_read)).unwrap(),
            6,
        )
    );
    assert_eq!(d1["totals"]["amount"], f.day1.totals.amount.as_str());

    // Filters: outcome (any letter case), date range (UTC days, both ends included).
    let only = |pred: &dyn Fn(&Manifest) -> bool| -> Vec<String> {
        want.iter().filter(|m| pred(m)).map(|m| m.file_id.clone()).collect()
    };
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("outcome=failed", only(&|m| m.outcome == Outcome::Failed)),
        ("outcome=Rejected", only(&|m| m.outcome == Outcome::Rejected)),
        ("outcome=published", only(&|m| m.outcome == Outcome::Published)),
        ("from=2026-11-28", only(&|m| m.ingest_date.as_str() >= "2026-11-28")),
        ("to=2026-11-27", only(&|m| m.ingest_date.as_str() <= "2026-11-27")),
        (
            "from=2026-11-27&to=2026-11-27&outcome=published",
            only(&|m| m.ingest_date == "2026-11-27" && m.outcome == Outcome::Published),
        ),
        ("from=2026-11-29", vec![]),
        ("from=2026-11-28&to=2026-11-27", vec![]),
    ];
    for (q, want_ids) in &cases {
        let got = ok(&f.app, &format!("/ingestions?{q}")).await;
        assert_eq!(&ids(got["ingestions"].as_array().unwrap()), want_ids, "{q}");
        // Every page size walks the same listing.
        for limit in [1, 2, 5] {
            let walked = walk(&f.app, &format!("/ingestions?{q}&limit={limit}"), "ingestions").await;
            assert_eq!(&ids(&walked), want_ids, "{q} limit {limit}");
        }
    }
}

#[tokio::test]
async fn listing_tokens_are_bound_to_their_filters() {
    let f = fixture();
    let page = ok(&f.app, "/ingestions?limit=2&outcome=published").await;
    let t = page["next_token"].as_str().unwrap().to_owned();
    // The same filters (another page size): accepted.
    ok(&f.app, &format!("/ingestions?outcome=published&limit=1&next_token={t}")).await;
    for uri in [
        format!("/ingestions?next_token={t}"),
        format!("/ingestions?outcome=failed&next_token={t}"),
        format!("/ingestions?outcome=published&from=2026-11-01&next_token={t}"),
        format!("/ingestions/{}/quarantine?next_token={t}", f.day1.file_id),
        format!("/ingestions?outcome=published&next_token={}A", &t[..t.len() - 1]),
    ] {
        assert_error(&uri, get(&f.app, &uri).await, 400, "bad_parameter");
    }
}

#[tokio::test]
async fn one_file_with_its_error_or_its_sample_problems() {
    let f = fixture();
    let failed = ok(&f.app, &format!("/ingestions/{}", f.failed.file_id)).await;
    let e = f.failed.error.as_ref().unwrap();
    assert_eq!(failed["outcome"], "failed");
    assert_eq!(failed["error"]["code"], e.code.as_str());
    assert_eq!(failed["error"]["message"], e.message.as_str());
    assert_eq!(failed["error"]["line"], serde_json::to_value(e.line).unwrap());
    assert_eq!(failed["error"]["byte"], serde_json::to_value(e.byte).unwrap());
    assert_eq!(failed["quarantine_rows_published"], 0);

    let rejected = ok(&f.app, &format!("/ingestions/{}", f.rejected.file_id)).await;
    assert_eq!(rejected["outcome"], "rejected");
    assert_eq!(rejected["error"], Value::Null);
    assert!(rejected["message"].as_str().unwrap().contains("reject threshold"));
    let problems = rejected["sample_problems"].as_array().unwrap();
    assert_eq!(problems.len(), f.rejected.sample_problems.len());
    assert!(!problems.is_empty());
    for (p, m) in problems.iter().zip(&f.rejected.sample_problems) {
        assert_eq!(p["line"], m.line);
        assert_eq!(p["reason_codes"], serde_json::to_value(&m.reason_codes).unwrap());
    }
    assert_eq!(rejected["quarantine_rows_published"], 0);

    let day1 = ok(&f.app, &format!("/ingestions/{}", f.day1.file_id)).await;
    assert_eq!(day1["quarantine_rows_published"], f.day1.rows_quarantined);
    assert_eq!(day1["header"], serde_json::to_value(&f.day1.header).unwrap());

    // A well-formed id of no file: 404; not an id: 400.
    let unknown = format!("/ingestions/{}", "0".repeat(32));
    assert_error(&unknown, get(&f.app, &unknown).await, 404, "file_not_found");
    let unknown_q = format!("/ingestions/{}/quarantine", "ab".repeat(16));
    assert_error(&unknown_q, get(&f.app, &unknown_q).await, 404, "file_not_found");
    for uri in ["/ingestions/xyz", "/ingestions/ABCDEF0123456789ABCDEF0123456789", "/ingestions/%30/quarantine"] {
        assert_error(uri, get(&f.app, uri).await, 400, "bad_parameter");
    }
}

/// The quarantined rows of `m`, straight from its quarantine objects: (line, record, byte).
fn table_rows(lake: &LocalLake, m: &Manifest) -> Vec<(i64, i64, i64)> {
    use duff_core::arrow_array::cast::AsArray;
    use duff_core::arrow_array::types::Int64Type;
    let mut out = Vec::new();
    for o in m.outputs.iter().filter(|o| o.table == Table::Quarantine) {
        for b in duff_core::read_parquet(std::fs::read(lake.root().join(&o.key)).unwrap()).unwrap() {
            let int = |n: &str| b.column_by_name(n).unwrap().as_primitive::<Int64Type>().clone();
            let (line, record, byte) = (int("line"), int("record"), int("byte"));
            for i in 0..b.num_rows() {
                out.push((line.value(i), record.value(i), byte.value(i)));
            }
        }
    }
    out.sort_by_key(|r| r.1);
    out
}

#[tokio::test]
async fn a_files_quarantine_paged_escaped_and_cut() {
    let f = fixture();
    let want = table_rows(&f.lake, &f.day1);
    assert_eq!(want.len() as u64, f.day1.rows_quarantined);
    assert!(!want.is_empty());
    for limit in [1, 2, 100] {
        let uri = format!("/ingestions/{}/quarantine?limit={limit}", f.day1.file_id);
        let rows = walk(&f.app, &uri, "rows").await;
        let got: Vec<(i64, i64, i64)> = rows
            .iter()
            .map(|r| (r["line"].as_i64().unwrap(), r["record"].as_i64().unwrap(), r["byte"].as_i64().unwrap()))
            .collect();
        assert_eq!(got, want, "limit {limit}");
        assert!(rows.iter().all(|r| !r["reason_codes"].as_array().unwrap().is_empty()));
    }
    let page = ok(&f.app, &format!("/ingestions/{}/quarantine", f.day1.file_id)).await;
    assert_eq!(page["raw_limit"], RAW_LIMIT);
    assert_eq!(page["source"], "incoming/day1.csv");

    // The long row: cut at RAW_LIMIT bytes of its text (a character boundary), then escaped.
    let page = ok(&f.app, &format!("/ingestions/{}/quarantine", f.long.file_id)).await;
    let rows = page["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row["raw_truncated"], true);
    let full = long_row();
    let mut end = RAW_LIMIT;
    while !full.is_char_boundary(end) {
        end -= 1;
    }
    let cut = &full[..end];
    let escaped = cut.replace('\\', "\\\\").replace('\t', "\\t").replace('\u{1b}', "\\u{1b}");
    assert_eq!(row["raw"], escaped.as_str());
    assert!(row["raw"].as_str().unwrap().contains("Moe\\\\Tab\\there"));
    assert!(row["reason_codes"].as_array().unwrap().contains(&serde_json::json!("unknown_channel")), "{row}");
    assert_eq!(row["line"], 22);

    // A refused file published no quarantine: no rows (its sample problems are in its manifest).
    let page = ok(&f.app, &format!("/ingestions/{}/quarantine", f.rejected.file_id)).await;
    assert_eq!(page["rows"], serde_json::json!([]));
    assert_eq!(page["outcome"], "rejected");
}

#[tokio::test]
async fn data_quality_per_day_and_source_prefix() {
    let f = fixture();
    let q = ok(&f.app, "/reports/data-quality").await;
    let rows = q["rows"].as_array().unwrap();
    let keys: Vec<(String, String, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["day"].as_str().unwrap().into(),
                r["source_prefix"].as_str().unwrap().into(),
                r["files"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            ("2026-11-27".into(), "incoming/".into(), 3),
            ("2026-11-28".into(), "".into(), 1),
            ("2026-11-28".into(), "manual/".into(), 2),
        ]
    );
    let manifests = f.lake.manifests().unwrap();
    for r in rows {
        let group: Vec<&Manifest> = manifests
            .iter()
            .filter(|m| {
                m.ingest_date == r["day"].as_str().unwrap()
                    && duff_lake::ingestions::source_prefix(&m.source) == r["source_prefix"].as_str().unwrap()
            })
            .collect();
        let read: u64 = group.iter().map(|m| m.rows_read).sum();
        let quarantined: u64 = group.iter().map(|m| m.rows_quarantined).sum();
        assert_eq!(r["rows_read"], read);
        assert_eq!(r["rows_quarantined"], quarantined);
        let ppm = duff_core::reports::ratio6(i128::from(quarantined), i128::from(read)).unwrap_or(0);
        assert_eq!(r["quarantined_share"], duff_core::format_scaled(ppm, 6));
        let n = |o: Outcome| group.iter().filter(|m| m.outcome == o).count() as u64;
        assert_eq!(
            (r["published"].as_u64(), r["rejected"].as_u64(), r["failed"].as_u64()),
            (Some(n(Outcome::Published)), Some(n(Outcome::Rejected)), Some(n(Outcome::Failed)))
        );
    }
    assert_eq!(rows[0]["failed"], 1);
    let only = ok(&f.app, "/reports/data-quality?from=2026-11-28&to=2026-11-28").await;
    assert_eq!(only["rows"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn bad_input_is_a_400_and_without_manifests_a_503() {
    let f = fixture();
    let id = &f.day1.file_id;
    let cases = [
        ("/ingestions?outcome=lost".to_owned(), "bad_parameter"),
        ("/ingestions?outcome=".to_owned(), "bad_parameter"),
        ("/ingestions?outcome=duplicate".to_owned(), "bad_parameter"),
        ("/ingestions?from=2026-13-01".to_owned(), "bad_parameter"),
        ("/ingestions?from=2026-11-31".to_owned(), "bad_parameter"),
        ("/ingestions?to=27-11-2026".to_owned(), "bad_parameter"),
        ("/ingestions?from=2026-11-27T00:00:00Z".to_owned(), "bad_parameter"),
        ("/ingestions?limit=0".to_owned(), "bad_parameter"),
        ("/ingestions?limit=1001".to_owned(), "bad_parameter"),
        ("/ingestions?next_token=abc".to_owned(), "bad_parameter"),
        ("/ingestions?status=created".to_owned(), "unknown_parameter"),
        ("/ingestions?limit=1&limit=2".to_owned(), "bad_parameter"),
        (format!("/ingestions/{id}?limit=1"), "unknown_parameter"),
        (format!("/ingestions/{id}/quarantine?limit=-1"), "bad_parameter"),
        (format!("/ingestions/{id}/quarantine?outcome=failed"), "unknown_parameter"),
        (format!("/ingestions/{id}/quarantine?next_token=%27%20OR%201%3D1"), "bad_parameter"),
        ("/reports/data-quality?outcome=failed".to_owned(), "unknown_parameter"),
        ("/reports/data-quality?from=yesterday".to_owned(), "bad_parameter"),
    ];
    for (uri, code) in &cases {
        assert_error(uri, get(&f.app, uri).await, 400, code);
    }
    // A router built without an ingestion source says so in the error shape.
    let cfg =
        ServingEngineConfig { refresh_interval: Duration::ZERO, refresh_in_background: false, ..Default::default() };
    let plain = duff_api::router(Arc::new(ServingEngine::new(f.lake.clone(), cfg)), TokenKey::new("k"));
    assert_error("/ingestions", get(&plain, "/ingestions").await, 503, "lake_unavailable");
}

#[tokio::test]
async fn a_file_landing_while_serving_is_listed() {
    let f = fixture();
    let before = ok(&f.app, "/ingestions").await["ingestions"].as_array().unwrap().len();
    let p = f._dir.path().join("late.csv");
    std::fs::write(&p, csv_file(&["4242,Moe,1001,102,Duff Classic,2.50,6,0.33,Retail,created".to_owned()])).unwrap();
    let m = ingest(&f.lake, &p, "late/late.csv", at(29, 1), &IngestConfig::default());
    let after = ok(&f.app, "/ingestions?limit=1").await;
    assert_eq!(after["ingestions"][0]["file_id"], m.file_id.as_str());
    assert_eq!(ok(&f.app, "/ingestions").await["ingestions"].as_array().unwrap().len(), before + 1);
}
