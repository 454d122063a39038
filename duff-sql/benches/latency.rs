//! Latency of every route through the router with the DataFusion engine, over a generated lake.
//!
//! ```text
//! cargo bench -p duff-sql --bench api_latency -- [--lake DIR] [--rows N] [--update-rows N] [--iters K]
//! ```
//!
//! Without a lake in `--lake` (default: the workspace's `target/bench-lake`), builds one: a generated file of
//! `--rows` order lines (default 1 000 000) and a second file of `--update-rows` (default
//! rows / 10) over the same first orders, so that some lines have two versions. Then reports
//! the cold registration of the serving state's newest generation, and per route p50, p99, mean and max over `--iters`
//! requests (default 30, after 2 warm-up requests). Answers are computed on every request
//! unless `--cache N` (then the warm-up fills the per-generation answer cache and the numbers are
//! cache hits). Requests go through the whole router
//! (parsing, SQL, DataFusion, JSON), in process, one at a time.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark fails loudly")]

use axum::body::Body;
use duff_api::{LakeUri, TokenKey};
use duff_core::IngestConfig;
use duff_lake::LocalLake;
use duff_sql::{DataFusionConfig, DataFusionEngine};
use duff_testkit::generate::{Config, write_orders};
use http_body_util::BodyExt;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

struct Args {
    lake: PathBuf,
    rows: u64,
    update_rows: Option<u64>,
    iters: usize,
    cache: usize,
}

fn args() -> Args {
    let mut a =
        Args { lake: PathBuf::from("target/bench-lake"), rows: 1_000_000, update_rows: None, iters: 30, cache: 0 };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "--lake" => a.lake = PathBuf::from(it.next().unwrap()),
            "--rows" => a.rows = it.next().unwrap().parse().unwrap(),
            "--update-rows" => a.update_rows = Some(it.next().unwrap().parse().unwrap()),
            "--iters" => a.iters = it.next().unwrap().parse().unwrap(),
            "--cache" => a.cache = it.next().unwrap().parse().unwrap(),
            _ => {} // `--bench` and filters from cargo
        }
    }
    a
}

fn generate(path: &Path, rows: u64, seed: u64) {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let cfg = Config { rows, seed, ..Config::default() };
    write_orders(&mut w, &cfg).unwrap();
    w.flush().unwrap();
}

fn build_lake(a: &Args) {
    let lake = LocalLake::open(&a.lake).unwrap();
    if lake.manifests().unwrap().is_empty() {
        ingest_generated(a, &lake);
    } else {
        println!("using the lake in {} ({} files)", a.lake.display(), lake.manifests().unwrap().len());
    }
    // The engine reads the serving state: fold the files it does not hold yet (none when the
    // lake's writer kept it up to date), as the pipeline does.
    let t = Instant::now();
    let u = lake.update_serving().unwrap();
    println!(
        "serving state: generation {}, {} lines changed, in {:.1} s",
        u.generation.unwrap_or(0),
        u.lines_changed,
        t.elapsed().as_secs_f64()
    );
}

fn ingest_generated(a: &Args, lake: &LocalLake) {
    let update_rows = a.update_rows.unwrap_or(a.rows / 10);
    let dir = a.lake.parent().unwrap_or(Path::new(".")).to_path_buf();
    for (name, rows, seed) in [("bench-orders.csv", a.rows, 42), ("bench-updates.csv", update_rows, 7)] {
        if rows == 0 {
            continue;
        }
        let csv = dir.join(name);
        let t = Instant::now();
        generate(&csv, rows, seed);
        let g = t.elapsed();
        let t = Instant::now();
        let r = lake.ingest_path(&csv, &IngestConfig::default(), chrono::Utc::now()).unwrap();
        println!(
            "{name}: {rows} rows generated in {:.1} s, ingested in {:.1} s: {}",
            g.as_secs_f64(),
            t.elapsed().as_secs_f64(),
            r.manifest().reconciliation_line()
        );
        let _ = std::fs::remove_file(csv);
    }
}

struct Stats {
    p50: Duration,
    p99: Duration,
    mean: Duration,
    max: Duration,
}

fn stats(mut d: Vec<Duration>) -> Stats {
    d.sort();
    let pick = |q: f64| d[((d.len() as f64 - 1.0) * q).round() as usize];
    let mean = d.iter().sum::<Duration>() / d.len() as u32;
    Stats { p50: pick(0.50), p99: pick(0.99), mean, max: d[d.len() - 1] }
}

async fn get(app: &axum::Router, uri: &str) -> (u16, serde_json::Value) {
    let req = http::Request::builder().uri(uri).body(Body::empty()).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn main() {
    let a = args();
    build_lake(&a);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        // By default every request computes its answer (--cache N keeps N answers per generation).
        let cfg = DataFusionConfig { result_cache_entries: a.cache, ..DataFusionConfig::default() };
        let engine = DataFusionEngine::new(&LakeUri::Local(a.lake.clone()), cfg).unwrap();
        let t = Instant::now();
        let lines = engine.current_lines().await.unwrap();
        println!(
            "current state: {lines} order lines, counted in {:.2} s (cold: read the generation, register its tables, count order_line_current)",
            t.elapsed().as_secs_f64()
        );
        let app = duff_api::router(Arc::new(engine), TokenKey::new("bench"));
        let (_, clients) = get(&app, "/reports/orders-by-client").await;
        let ids: Vec<i64> = clients["rows"].as_array().unwrap().iter().map(|r| r["client_id"].as_i64().unwrap()).collect();
        let client = ids[ids.len() / 2];
        let cases: Vec<(String, String)> = vec![
            ("health".into(), "/health".into()),
            ("sales-by-product".into(), "/reports/sales-by-product".into()),
            ("sales-by-product ?channel&status".into(), "/reports/sales-by-product?channel=Retail&status=delivered".into()),
            ("order-status".into(), "/reports/order-status".into()),
            ("order-status ?client_id".into(), format!("/reports/order-status?client_id={client}")),
            ("orders-by-client".into(), "/reports/orders-by-client".into()),
            ("orders-by-client ?status".into(), "/reports/orders-by-client?status=broken".into()),
            ("sales-by-channel".into(), "/reports/sales-by-channel".into()),
            ("broken-rate-by-product".into(), "/reports/broken-rate-by-product".into()),
            ("broken-rate-by-product ?channel".into(), "/reports/broken-rate-by-product?channel=B2B".into()),
            ("broken-rate-by-channel".into(), "/reports/broken-rate-by-channel".into()),
            ("client-value".into(), "/reports/client-value".into()),
            ("client-value ?client_id".into(), format!("/reports/client-value?client_id={client}")),
            ("clients/{id}/orders (100)".into(), format!("/clients/{client}/orders")),
            ("clients/{id}/orders ?status (1000)".into(), format!("/clients/{client}/orders?status=delivered&limit=1000")),
        ];
        println!("\n{} requests per route after 2 warm-up requests; milliseconds", a.iters);
        println!("{:<38} {:>9} {:>9} {:>9} {:>9} {:>6}", "route", "p50", "p99", "mean", "max", "rows");
        for (name, uri) in cases {
            let mut rows = 0;
            for _ in 0..2 {
                let (s, body) = get(&app, &uri).await;
                assert_eq!(s, 200, "{uri}: {body}");
            }
            let mut d = Vec::with_capacity(a.iters);
            for _ in 0..a.iters {
                let t = Instant::now();
                let (s, body) = get(&app, &uri).await;
                d.push(t.elapsed());
                assert_eq!(s, 200);
                rows = body["rows"].as_array().or(body["orders"].as_array()).map_or(0, Vec::len);
            }
            let s = stats(d);
            println!(
                "{name:<38} {:>9} {:>9} {:>9} {:>9} {rows:>6}",
                ms(s.p50),
                ms(s.p99),
                ms(s.mean),
                ms(s.max)
            );
        }
    });
}
