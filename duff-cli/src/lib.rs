//! `duff-cli`: the command line of duff-etl's local home: the `duff` binary
//! (`src/bin/duff.rs`) and the `pipeline`, `generate` and `serve` examples, thin wrappers over
//! the same modules.
//!
//! - [`pipeline`]: ingest files into a lake folder and print the reports (`duff ingest`).
//! - [`serve`]: the REST API and the dashboard over a lake folder (`duff serve`).
//! - [`generate`]: a synthetic orders CSV (`duff generate`).
//! - [`logging`]: the log on stderr, filtered by `RUST_LOG`.
//! - [`status`]: the lake's ingestions as a table (`duff status`).
//! - [`maintenance`]: `duff vacuum` (crash leftovers) and `duff check` (the lake's fsck).
//! - [`text`]: plain-text tables for terminals.
#![deny(missing_docs)]

pub mod generate;
pub mod logging;
pub mod maintenance;
pub mod pipeline;
pub mod serve;
pub mod status;
pub mod text;

/// Prints `e` on stderr as the commands do: `error: ...`, then one `  caused by: ...` line
/// per cause (a lake object's key, the I/O error).
pub fn print_error(e: &dyn std::error::Error) {
    eprintln!("error: {e}");
    for c in std::iter::successors(e.source(), |c| c.source()) {
        eprintln!("  caused by: {c}");
    }
}
