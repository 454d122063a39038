//! The REST API over a local lake: the same router and engine the Lambda hosts.
//!
//! ```text
//! cargo run --release --example serve -- [--lake DIR] [--addr 127.0.0.1:8080] [--refresh-ms N]
//! curl -s localhost:8080/reports/sales-by-product
//! ```
//!
//! Answers come from the lake's serving state (brought up to date at start, for a lake
//! whose files were published without it); files ingested meanwhile (`--example pipeline`)
//! are answered within `--refresh-ms` (default 1000) plus the load of the new generation,
//! without a restart. Paging tokens are signed with `DUFF_PAGING_SECRET` when set, else
//! with a key derived from the lake path. Stops on Ctrl-C.

use duff_api::{ServingEngine, ServingEngineConfig, TokenKey};
use duff_lake::{IngestionIndex, LakeLocation, LocalLake};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

const USAGE: &str = "usage: serve [--lake DIR] [--addr HOST:PORT] [--refresh-ms N]
  --lake DIR         the lake folder (default ./lake)
  --addr HOST:PORT   where to listen (default 127.0.0.1:8080)
  --refresh-ms N     how long a listing of the lake's manifests is trusted (default 1000)";

struct Args {
    lake: String,
    addr: SocketAddr,
    refresh: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut args =
        Args { lake: "lake".into(), addr: SocketAddr::from(([127, 0, 0, 1], 8080)), refresh: Duration::from_secs(1) };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |flag: &str| it.next().ok_or_else(|| format!("{flag} needs a value"));
        match a.as_str() {
            "--lake" => args.lake = value("--lake")?,
            "--addr" => {
                let v = value("--addr")?;
                args.addr = v.parse().map_err(|_| format!("--addr: '{v}' is not HOST:PORT"))?;
            }
            "--refresh-ms" => {
                let v = value("--refresh-ms")?;
                let ms: u64 = v.parse().map_err(|_| format!("--refresh-ms: '{v}' is not a whole number"))?;
                args.refresh = Duration::from_millis(ms);
            }
            "-h" | "--help" => return Err(String::new()),
            s => return Err(format!("unknown argument {s}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            eprintln!("{USAGE}");
            return if e.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut text = e.to_string();
            let mut source = e.source();
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            eprintln!("error: {text}");
            ExitCode::from(1)
        }
    }
}

async fn serve(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let location = LakeLocation::parse(&args.lake)?;
    let Some(root) = location.dir() else {
        return Err(format!("{location}: serve reads a local lake (the API Lambda reads S3)").into());
    };
    let lake = LocalLake::open(root)?;
    // A lake whose files were published without the serving state gets it now.
    let update = tokio::task::spawn_blocking({
        let lake = lake.clone();
        move || lake.update_serving()
    })
    .await??;
    if update.files_folded > 0 {
        println!("serving state brought up to date: {} files folded", update.files_folded);
    }
    let cfg = ServingEngineConfig { refresh_interval: args.refresh, ..ServingEngineConfig::default() };
    // The ingestion routes read the manifests, listed again at most once per interval.
    let ingestions = Arc::new(IngestionIndex::new(lake.store().clone(), args.refresh));
    let engine = ServingEngine::new(lake, cfg);
    let key = match std::env::var("DUFF_PAGING_SECRET") {
        Ok(s) if !s.is_empty() => TokenKey::new(s),
        _ => TokenKey::for_lake(&location.to_string()),
    };
    // Load the newest generation before the first request.
    let (generation, lines) = engine.refresh().await?;
    let app = duff_api::router_with_ingestions(Arc::new(engine), key, ingestions);
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    println!(
        "serving the lake {location} (generation {generation}, {lines} order lines) on http://{}",
        listener.local_addr()?
    );
    let reports: Vec<&str> = duff_api::Report::ALL.iter().map(|r| r.name()).collect();
    println!("  GET /health  /clients/{{client_id}}/orders  /reports/{{{}}}", reports.join(","));
    println!("  GET /ingestions  /ingestions/{{file_id}}  /ingestions/{{file_id}}/quarantine  /reports/data-quality");
    println!("  the dashboard: http://{}/", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
