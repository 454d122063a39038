//! `serve` (the `serve` example, `duff serve`): the REST API and the dashboard over a local
//! lake, with the same router and engine the API Lambda hosts.
//!
//! Connections go through [`guard`]: a request head hyper could not parse (a 100 KB query,
//! say) is answered by the router in the API's JSON error shape like any other refusal.
//! A serving state that cannot be brought up to date or loaded does not stop the server: it
//! starts degraded (the error logged with its causes, `/health` and the data routes answer
//! 503) and recovers once the state is repaired (`duff ingest --rebuild-serving`).

pub mod guard;

use duff_api::{ServingEngine, ServingEngineConfig, TokenKey};
use duff_lake::{IngestionIndex, LakeLocation, LocalLake};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Where to serve what.
#[derive(Debug, Clone)]
pub struct ServeArgs {
    /// The lake folder.
    pub lake: String,
    /// Where to listen.
    pub addr: SocketAddr,
    /// How long a listing of the lake's manifests is trusted.
    pub refresh: Duration,
}

impl Default for ServeArgs {
    fn default() -> ServeArgs {
        ServeArgs {
            lake: "lake".into(),
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            refresh: Duration::from_secs(1),
        }
    }
}

/// Bounds glibc's malloc arenas to two, by starting this same command again with
/// `MALLOC_ARENA_MAX=2` in its environment (glibc reads it only when a process starts);
/// returns at once when the variable is already set (a value given by the user wins), and
/// when the process cannot be started again (`serve` then goes on with glibc's default).
///
/// glibc gives each thread that allocates under contention an arena of its own and keeps
/// what was freed in it: under 64 concurrent requests over a 10M-line lake `serve` peaked at
/// 262–289 MiB with the default, 195–200 MiB with two arenas, at the same requests per
/// second (docs/api.md). Call it before anything else of `serve` (nothing is lost: the
/// process image is replaced, with the same arguments and pid). Elsewhere than Linux with
/// glibc it does nothing.
pub fn with_bounded_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else { return };
        let err = std::process::Command::new(exe).args(std::env::args_os().skip(1)).env("MALLOC_ARENA_MAX", "2").exec();
        tracing::warn!(error = %err, "could not start again with MALLOC_ARENA_MAX=2: serving with glibc's default arenas");
    }
}

/// Serves the lake in `args.lake` on `args.addr` until Ctrl-C: brings its serving state up to
/// date, loads it, then answers the API's routes and the dashboard.
///
/// # Errors
/// The lake cannot be opened or read, the address cannot be bound.
pub async fn serve(args: &ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
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
    .await?;
    match update {
        Ok(u) if u.files_folded > 0 => {
            tracing::info!(files_folded = u.files_folded, "serving state brought up to date");
        }
        Ok(_) => {}
        Err(e) => {
            let causes = duff_core::error_causes(&e);
            tracing::error!(error = %e, causes, "the serving state could not be brought up to date: serving what it holds");
        }
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
    let loaded = match engine.refresh().await {
        Ok((generation, lines)) => format!("generation {generation}, {lines} order lines"),
        Err(e) => {
            let causes = duff_core::error_causes(&e);
            tracing::error!(error = %e, causes, "the serving state could not be loaded: serving degraded (503) until it can");
            "degraded: the serving state could not be loaded".to_owned()
        }
    };
    let app = duff_api::router_with_ingestions(Arc::new(engine), key, ingestions);
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    println!("serving the lake {location} ({loaded}) on http://{}", listener.local_addr()?);
    let reports: Vec<&str> = duff_api::Report::ALL.iter().map(|r| r.name()).collect();
    println!("  GET /health  /clients/{{client_id}}/orders  /reports/{{{}}}", reports.join(","));
    println!("  GET /ingestions  /ingestions/{{file_id}}  /ingestions/{{file_id}}/quarantine  /reports/data-quality");
    println!("  the dashboard: http://{}/", listener.local_addr()?);
    axum::serve(guard::GuardedListener(listener), app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
