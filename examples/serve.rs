//! The REST API over a local lake: the same router and engine the Lambda hosts.
//!
//! ```text
//! cargo run --release -p duff-cli --example serve -- [--lake DIR] [--addr 127.0.0.1:8080] [--refresh-ms N]
//! curl -s localhost:8080/reports/sales-by-product
//! ```
//!
//! Answers come from the lake's serving state (brought up to date at start, for a lake
//! whose files were published without it); files ingested meanwhile (`--example pipeline`)
//! are answered within `--refresh-ms` (default 1000) plus the load of the new generation,
//! without a restart. Paging tokens are signed with `DUFF_PAGING_SECRET` when set, else
//! with a key derived from the lake path. Stops on Ctrl-C.

use duff_cli::serve::{ServeArgs, serve};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: serve [--lake DIR] [--addr HOST:PORT] [--refresh-ms N]
  --lake DIR         the lake folder (default ./lake)
  --addr HOST:PORT   where to listen (default 127.0.0.1:8080)
  --refresh-ms N     how long a listing of the lake's manifests is trusted (default 1000)";

fn parse_args() -> Result<ServeArgs, String> {
    let mut args = ServeArgs::default();
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
    duff_cli::logging::init();
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
    duff_cli::serve::with_bounded_arenas();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(serve(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", duff_core::error_chain(e.as_ref()));
            ExitCode::from(1)
        }
    }
}
