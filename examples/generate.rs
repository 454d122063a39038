//! Writes a deterministic synthetic orders CSV: see [`duff_testkit::generate`] for the data model.
//!
//! ```text
//! cargo run --release -p duff-cli --example generate -- --rows 1000000 --bad-frac 0.001 --out /tmp/orders_1m.csv
//! ```

use duff_cli::generate::run;
use duff_testkit::generate::{CliError, parse_args};
use std::io;
use std::process::ExitCode;

const USAGE: &str = "usage: generate [--rows N] [--bad-frac F] [--seed S] [--out PATH] \
[--start-order-id K] [--statuses drawn|advanced]

  --rows N            data rows to write (default 1000)
  --bad-frac F        probability in [0, 1] that a row is malformed (default 0.0)
  --seed S            PRNG seed (default 42)
  --out PATH          output file, `-` for stdout (default -)
  --start-order-id K  first order id (default 100000)
  --statuses S        drawn (default), or advanced: the lines of the same seed and first
                      order id with `created` orders moved on to delivered or broken";

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

fn main() -> ExitCode {
    let cfg = match parse_args(std::env::args_os().skip(1)) {
        Ok(cfg) => cfg,
        Err(CliError::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(CliError::Usage(message)) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&cfg) {
        Ok(stats) => {
            eprintln!(
                "generated {} rows ({} bytes, {} malformed) to {}",
                stats.rows, stats.bytes, stats.malformed, cfg.out
            );
            ExitCode::SUCCESS
        }
        // `generate | head` should end quietly.
        Err(e) if cfg.out == "-" && e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write to {}: {e}", cfg.out);
            ExitCode::FAILURE
        }
    }
}
