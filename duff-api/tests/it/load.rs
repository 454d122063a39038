//! Load at a size that fits CI: the router served over real TCP on 127.0.0.1, 64 connections
//! sending 3,200 requests drawn from every route (new clients most of the time, so that
//! clients' lines are read, not only kept answers), while a new file is folded in the
//! middle. Every answer must be a 200 (or a 404 for a drawn client without lines); after the
//! run, a sample of the same requests must answer as the reference over every published
//! file does (kept answers are never stale). Requests per second and p50/p99 are printed,
//! not asserted (the machine is shared). The bench `duff-api/benches/serving.rs` does the
//! same at 10M lines.

use crate::common::*;
use duff_api::{ServingEngine, ServingEngineConfig, TokenKey, router};
use duff_core::IngestConfig;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONNECTIONS: usize = 64;
const PER_CONNECTION: usize = 50;

/// One GET on a kept-alive connection: its status and body.
async fn get(conn: &mut tokio::net::TcpStream, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let mut buf = Vec::new();
    let (status, body) = duff_testkit::http_get(conn, path, &mut buf).await?;
    Ok((status, buf[body].to_vec()))
}

/// The `i`-th request of connection `c`: every route, clients and filters drawn.
fn path(c: usize, i: usize) -> String {
    let n = c * PER_CONNECTION + i;
    let client = 1000 + (n * 7919) % 5000;
    let channel = ["Retail", "Online", "B2B"][n % 3];
    let status = ["created", "delivered", "broken"][(n / 3) % 3];
    match n % 9 {
        0 => format!("/reports/sales-by-product?channel={channel}"),
        1 => format!("/reports/order-status?client_id={client}"),
        2 => format!("/reports/orders-by-client?status={status}"),
        3 => format!("/reports/sales-by-channel?client_id={client}&status={status}"),
        4 => format!("/reports/broken-rate-by-product?client_id={client}"),
        5 => "/reports/broken-rate-by-channel".to_owned(),
        6 => format!("/reports/client-value?status={status}"),
        7 => format!("/clients/{client}/orders?limit=50"),
        _ => format!("/clients/{client}/orders?status={status}&channel={channel}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_connections_get_only_right_answers_while_a_file_lands() {
    let dir = tempfile::tempdir().unwrap();
    let lake = duff_lake::LocalLake::open(dir.path()).unwrap();
    let generated = |name: &str, cfg: duff_testkit::generate::Config| {
        let p = dir.path().join(name);
        duff_testkit::generate::write_orders(&mut std::fs::File::create(&p).unwrap(), &cfg).unwrap();
        p
    };
    let base = duff_testkit::generate::Config { rows: 30_000, ..Default::default() };
    lake.ingest_path(&generated("base.csv", base.clone()), &IngestConfig::default(), at(1)).unwrap();
    lake.update_serving().unwrap();
    let later = generated("later.csv", duff_testkit::generate::Config { rows: 10_000, advanced: true, ..base });

    let cfg = ServingEngineConfig { refresh_interval: Duration::from_millis(50), ..ServingEngineConfig::default() };
    let engine = Arc::new(ServingEngine::new(duff_lake::LocalLake::open(dir.path()).unwrap(), cfg));
    engine.refresh().await.unwrap();
    let app = router(engine.clone(), TokenKey::new("load"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    // A new file folded while the requests run (a generation swapped in under load).
    let folding = tokio::task::spawn_blocking({
        let lake = lake.clone();
        move || {
            std::thread::sleep(Duration::from_millis(100));
            lake.ingest_path(&later, &IngestConfig::default(), at(2)).unwrap();
            lake.update_serving().unwrap()
        }
    });
    let started = Instant::now();
    let mut clients = Vec::new();
    for c in 0..CONNECTIONS {
        clients.push(tokio::spawn(async move {
            let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
            let mut out = Vec::with_capacity(PER_CONNECTION);
            for i in 0..PER_CONNECTION {
                let p = path(c, i);
                let t = Instant::now();
                let (status, _) = get(&mut conn, &p).await.unwrap();
                out.push((p, status, t.elapsed()));
            }
            out
        }));
    }
    let mut answers = Vec::new();
    for c in clients {
        answers.extend(c.await.unwrap());
    }
    let elapsed = started.elapsed();
    let update = folding.await.unwrap();
    assert_eq!(update.files_folded, 1);

    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for (_, s, _) in &answers {
        *statuses.entry(*s).or_default() += 1;
    }
    let mut times: Vec<Duration> = answers.iter().map(|(_, _, t)| *t).collect();
    times.sort_unstable();
    let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize].as_secs_f64() * 1000.0;
    eprintln!(
        "load: {} requests, concurrency {CONNECTIONS}, {:.2} s, {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms, statuses {statuses:?}",
        answers.len(),
        elapsed.as_secs_f64(),
        answers.len() as f64 / elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.99),
    );
    // Unknown clients are 404s (the draw covers ids with no line); everything else a 200.
    for (p, s, _) in &answers {
        assert!(*s == 200 || (*s == 404 && p.starts_with("/clients/")), "{p}: {s}");
    }
    assert!(statuses.get(&200).copied().unwrap_or(0) > answers.len() / 2, "{statuses:?}");

    // After the run, on the newest generation: the same request alone gives the reference's
    // answer (kept bodies are never stale).
    engine.refresh().await.unwrap();
    let reference = router(Arc::new(crate::reference::ReferenceEngine::load(dir.path())), TokenKey::new("load"));
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    for (p, _, _) in answers.iter().step_by(37) {
        let (status, body) = get(&mut conn, p).await.unwrap();
        let want = crate::common::get(&reference, p).await;
        assert_eq!(status, want.status, "{p}");
        // (Request ids differ, by design.)
        let without_id = |mut v: serde_json::Value| {
            if let Some(e) = v.get_mut("error").and_then(|e| e.as_object_mut()) {
                e.remove("request_id");
            }
            v
        };
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(without_id(body), without_id(want.json), "{p}");
    }
    server.abort();
}
