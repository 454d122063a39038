//! The `duff` binary's log: `tracing` events as text lines on stderr (stdout keeps what the
//! commands print: tables, reports), filtered by `RUST_LOG`.

use tracing_subscriber::EnvFilter;

/// The filter without `RUST_LOG`: `info` for duff-etl's crates, `warn` for the rest.
pub const DEFAULT_FILTER: &str =
    "warn,duff=info,duff_cli=info,duff_api=info,duff_lake=info,duff_core=info,duff_sql=info";

/// The filter of `rust_log` (the value of `RUST_LOG`), or [`DEFAULT_FILTER`] when it is
/// unset or empty. A value that does not parse is reported on stderr and replaced by the
/// default.
pub fn filter(rust_log: Option<&str>) -> EnvFilter {
    match rust_log.map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => EnvFilter::try_new(v).unwrap_or_else(|e| {
            eprintln!("warning: RUST_LOG={v:?} is not a log filter ({e}): using {DEFAULT_FILTER}");
            EnvFilter::new(DEFAULT_FILTER)
        }),
        None => EnvFilter::new(DEFAULT_FILTER),
    }
}

/// Installs the log (once per process; a second call changes nothing).
pub fn init() {
    let rust_log = std::env::var("RUST_LOG").ok();
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter(rust_log.as_deref())).with_writer(std::io::stderr).try_init();
}
