//! The API over a lake's serving state: latency per route, throughput and errors under load
//! over real HTTP, the process's peak memory, and how soon a new file is answered.
//!
//! ```text
//! cargo run --release -p duff-cli --example generate -- --rows 10000000 --out /tmp/o10m.csv
//! cargo run --release -p duff-cli --example generate -- --rows 1000000 --statuses advanced --out /tmp/u1m.csv
//! cargo run --release -p duff-cli --example pipeline -- --lake /tmp/lake10m --no-reports /tmp/o10m.csv /tmp/u1m.csv
//! cargo bench -p duff-api --bench serving -- --lake /tmp/lake10m [--requests 10000] [--concurrency 64] [--fresh FILE.csv]
//! ```
//!
//! Each route is asked with filters and clients that vary from request to request (the
//! engine's cache of client lines keeps 256 clients per generation: the generated lakes have
//! 5,000), so that most answers are computed, not cached.

use duff_api::{ServingEngine, ServingEngineConfig, TokenKey, router};
use duff_lake::LocalLake;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

struct Args {
    lake: PathBuf,
    requests: usize,
    concurrency: usize,
    fresh: Option<PathBuf>,
    /// Only the load, sent to a server started apart (`duff serve`), whose own memory can
    /// then be read from outside.
    server: Option<std::net::SocketAddr>,
}

fn args() -> Result<Args, String> {
    let mut a = Args { lake: PathBuf::new(), requests: 10_000, concurrency: 64, fresh: None, server: None };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        let mut v = |f: &str| it.next().ok_or(format!("{f} needs a value"));
        match x.as_str() {
            "--lake" => a.lake = PathBuf::from(v("--lake")?),
            "--requests" => a.requests = v("--requests")?.parse().map_err(|_| "--requests: a number")?,
            "--concurrency" => a.concurrency = v("--concurrency")?.parse().map_err(|_| "--concurrency: a number")?,
            "--fresh" => a.fresh = Some(PathBuf::from(v("--fresh")?)),
            "--server" => a.server = Some(v("--server")?.parse().map_err(|_| "--server: HOST:PORT")?),
            "--bench" => {}
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.lake.as_os_str().is_empty() {
        return Err("--lake DIR is required (a lake built by the pipeline example)".into());
    }
    Ok(a)
}

/// A deterministic sequence (xorshift).
struct Seq(u64);

impl Seq {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The routes, each a function of a draw: filters and clients vary.
fn uri(route: usize, s: &mut Seq, clients: &[i64]) -> String {
    let channel = ["Retail", "Online", "B2B"][s.next(3) as usize];
    let status = ["created", "delivered", "broken"][s.next(3) as usize];
    let client = clients[s.next(clients.len() as u64) as usize];
    let product = 1000 + s.next(200);
    match route {
        0 => "/reports/sales-by-product".into(),
        1 => format!("/reports/sales-by-product?channel={channel}&status={status}"),
        2 => format!("/reports/order-status?client_id={client}"),
        3 => format!("/reports/order-status?product_id={product}&channel={channel}"),
        4 => format!("/reports/orders-by-client?status={status}"),
        5 => format!("/reports/sales-by-channel?client_id={client}&status={status}"),
        6 => format!("/reports/broken-rate-by-product?channel={channel}"),
        7 => format!("/reports/broken-rate-by-channel?client_id={client}"),
        8 => format!("/reports/client-value?status={status}"),
        9 => format!("/reports/client-value?client_id={client}"),
        10 => format!("/clients/{client}/orders"),
        _ => format!("/clients/{client}/orders?status={status}&limit=1000"),
    }
}

const ROUTES: usize = 12;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// One HTTP/1.1 request on a kept-alive connection; the status.
async fn http_get(conn: &mut tokio::net::TcpStream, path: &str, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    Ok(duff_testkit::http_get(conn, path, buf).await?.0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let lake = LocalLake::open(&args.lake)?;
    let engine = Arc::new(ServingEngine::new(lake.clone(), ServingEngineConfig::default()));
    let started = Instant::now();
    let (generation, lines) = engine.refresh().await?;
    println!(
        "lake {}: generation {generation}, {lines} current lines, loaded in {:.0} ms, peak RSS {:.0} MiB",
        args.lake.display(),
        started.elapsed().as_secs_f64() * 1000.0,
        peak_rss_mib()
    );
    let snapshot = lake.serving_snapshot()?.ok_or("the lake has no serving state")?;
    let clients: Vec<i64> = snapshot.dims.clients.keys().copied().collect();
    drop(snapshot);
    let app = router(engine.clone(), TokenKey::new("bench"));

    let addr = match args.server {
        // Only the load, against a server started apart.
        Some(addr) => addr,
        None => {
            // Latency per route, one request at a time, in process.
            latency_per_route(&app, &clients, "").await?;
            println!("peak RSS after the requests one at a time: {:.0} MiB", peak_rss_mib());
            // Load over real HTTP.
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let server = app.clone();
            tokio::spawn(async move {
                let _ = axum::serve(listener, server).await;
            });
            addr
        }
    };
    let per_task = args.requests.div_ceil(args.concurrency);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..args.concurrency {
        let clients = clients.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = Seq(0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1));
            let mut conn = tokio::net::TcpStream::connect(addr).await?;
            let mut buf = Vec::new();
            let mut out = Vec::with_capacity(per_task);
            for _ in 0..per_task {
                let route = s.next(ROUTES as u64) as usize;
                let u = uri(route, &mut s, &clients);
                let t0 = Instant::now();
                let status = http_get(&mut conn, &u, &mut buf).await?;
                out.push((t0.elapsed(), status, route));
            }
            Ok::<_, std::io::Error>(out)
        }));
    }
    let mut times = Vec::new();
    let mut by_route = vec![Vec::new(); ROUTES];
    let mut by_status: std::collections::BTreeMap<u16, usize> = Default::default();
    for t in tasks {
        for (d, st, route) in t.await?? {
            times.push(d);
            by_route[route].push(d);
            *by_status.entry(st).or_default() += 1;
        }
    }
    let elapsed = started.elapsed();
    times.sort();
    println!(
        "\nload: {} requests, concurrency {}, {:.1} s, {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; statuses {:?}; peak RSS {:.0} MiB",
        times.len(),
        args.concurrency,
        elapsed.as_secs_f64(),
        times.len() as f64 / elapsed.as_secs_f64(),
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        percentile(&times, 1.0),
        by_status,
        peak_rss_mib()
    );

    // Where the tail is: each route's share of the load and its latency under it.
    let mut s = Seq(1);
    println!("{:<60} {:>8} {:>8} {:>8}", "under load, per route", "requests", "p50", "p99");
    for (route, mut t) in by_route.into_iter().enumerate() {
        t.sort();
        let example = uri(route, &mut s, &clients);
        println!("{:<60} {:>8} {:>8.2} {:>8.2}", example, t.len(), percentile(&t, 0.5), percentile(&t, 0.99));
    }

    if args.server.is_some() {
        return Ok(());
    }
    // A new file while serving: from its generation's commit to the first answer with it.
    if let Some(fresh) = &args.fresh {
        let ask = || async {
            let req = http::Request::builder().uri("/reports/order-status").body(axum::body::Body::empty())?;
            let res = app.clone().oneshot(req).await?;
            let body = http_body_util::BodyExt::collect(res.into_body()).await?.to_bytes();
            Ok::<_, Box<dyn std::error::Error>>(body)
        };
        let lake2 = lake.clone();
        let fresh = fresh.clone();
        let t0 = Instant::now();
        let update = tokio::task::spawn_blocking(move || {
            lake2.ingest_path(&fresh, &duff_core::IngestConfig::default(), chrono::Utc::now())?;
            lake2.update_serving()
        })
        .await??;
        let committed = Instant::now();
        // Requests go on as a client's would (each may notice the new generation); the file
        // is visible once they are answered from its generation.
        let mut seen = None;
        while committed.elapsed() < Duration::from_secs(60) {
            ask().await?;
            if update.generation.is_some() && engine.loaded_generation() == update.generation {
                seen = Some(committed.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        println!(
            "\nfresh file: ingest + serving update {:.2} s (fold {:.2} s), then visible after {}",
            (committed - t0).as_secs_f64(),
            update.elapsed.as_secs_f64(),
            seen.map_or("never (60 s)".to_owned(), |d| format!("{:.2} s", d.as_secs_f64()))
        );
        latency_per_route(&app, &clients, ", right after the new file").await?;
        println!("peak RSS {:.0} MiB", peak_rss_mib());
    }
    Ok(())
}

/// Prints p50, p99 and max per route: 200 requests each, one at a time, in process, with
/// filters and clients drawn.
async fn latency_per_route(app: &axum::Router, clients: &[i64], when: &str) -> Result<(), Box<dyn std::error::Error>> {
    println!("\nms per request (in process, one at a time, 200 requests per route, filters and clients drawn{when})");
    println!("{:<60} {:>8} {:>8} {:>8}", "route", "p50", "p99", "max");
    let mut s = Seq(0x2545_F491_4F6C_DD1D);
    for route in 0..ROUTES {
        let mut times = Vec::with_capacity(200);
        let mut example = String::new();
        for i in 0..200 {
            let u = uri(route, &mut s, clients);
            if i == 0 {
                example = u.clone();
            }
            let req = http::Request::builder().uri(&u).body(axum::body::Body::empty())?;
            let t = Instant::now();
            let res = app.clone().oneshot(req).await?;
            let status = res.status();
            let _ = http_body_util::BodyExt::collect(res.into_body()).await?;
            times.push(t.elapsed());
            if !status.is_success() && status.as_u16() != 404 {
                println!("  {u}: {status}");
            }
        }
        times.sort();
        println!(
            "{:<60} {:>8.2} {:>8.2} {:>8.2}",
            example,
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            percentile(&times, 1.0)
        );
    }
    Ok(())
}
