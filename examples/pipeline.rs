//! The main job, locally: ingest orders CSV files into a lake in a folder, print a
//! reconciliation line per file, then the reports over the lake's current state.
//!
//! ```text
//! cargo run --release -p duff-cli --example pipeline -- [--lake DIR] [--max-rows N] [--reject-threshold F] [CSV ...]
//! ```
//!
//! Without CSV arguments it ingests the bundled sample `examples/data/orders.csv` (the
//! brief's five rows). Exit status: 0 when every file was ingested (quarantined rows
//! included; a file already in the lake is a duplicate and changes nothing), 1 when a file
//! was refused as a whole, 2 on a usage error.

use duff_cli::pipeline::{IngestArgs, bundled_sample, run};
use duff_core::IngestConfig;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: pipeline [--lake DIR] [--max-rows N] [--reject-threshold F] [--models] [--part-mb N] [--threads N] [--sequence-mb N] [--no-reports] [--rebuild-serving] [CSV ...]
  --lake DIR              the lake folder (default ./lake)
  --part-mb N             ingest a file of at least two parts of N MiB in parts, on several
                          threads (0: never; default 64 on 4 cores or more, else never)
  --threads N             threads ingesting parts (default: one per core)
  --sequence-mb N         a file read in one pass (not in parts) of at least two parts of
                          N MiB is cut into parts as it is read: a repeated line reads
                          again only its part (0: never; default 256)
  --no-reports            ingest only (what the ETL Lambda does), print no report
  --rebuild-serving       rebuild the serving state from every published file instead of
                          folding the new ones (the repair command; with no CSV, ingests none)
  --models                also rebuild the analytics models under DIR/models/ (docs/models.md)
  --max-rows N            rows printed per report, 0 for all (default 50)
  --reject-threshold F    quarantined share above which a file is refused (default 0.05,
                          or DUFF_REJECT_THRESHOLD)
  CSV                     files to ingest (default: the bundled examples/data/orders.csv)";

fn parse_args() -> Result<IngestArgs, String> {
    let mut args = IngestArgs::new();
    if let Ok(t) = std::env::var("DUFF_REJECT_THRESHOLD") {
        args.cfg.reject_threshold_ppm = IngestConfig::parse_reject_threshold(&t).map_err(|e| e.to_string())?;
    }
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |flag: &str| it.next().ok_or_else(|| format!("{flag} needs a value"));
        match a.as_str() {
            "--lake" => args.lake = PathBuf::from(value("--lake")?),
            "--max-rows" => {
                let v = value("--max-rows")?;
                args.max_rows = v.parse().map_err(|_| format!("--max-rows: '{v}' is not a whole number"))?;
            }
            "--reject-threshold" => {
                let v = value("--reject-threshold")?;
                args.cfg.reject_threshold_ppm =
                    IngestConfig::parse_reject_threshold(&v).map_err(|e| format!("--reject-threshold: {e}"))?;
            }
            "--part-mb" => {
                let v = value("--part-mb")?;
                let mb: u64 = v.parse().map_err(|_| format!("--part-mb: '{v}' is not a whole number"))?;
                args.fan_out.part_bytes = if mb == 0 { u64::MAX / 2 } else { mb << 20 };
            }
            "--sequence-mb" => {
                let v = value("--sequence-mb")?;
                let mb: u64 = v.parse().map_err(|_| format!("--sequence-mb: '{v}' is not a whole number"))?;
                args.fan_out.sequence_part_bytes = if mb == 0 { u64::MAX / 2 } else { mb << 20 };
            }
            "--threads" => {
                let v = value("--threads")?;
                args.fan_out.threads = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("--threads: '{v}' is not a positive number"))?;
            }
            "--models" => args.models = true,
            "--no-reports" => args.reports = false,
            "--rebuild-serving" => args.rebuild_serving = true,
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            _ => args.files.push(PathBuf::from(a)),
        }
    }
    if args.files.is_empty() && !args.rebuild_serving {
        args.files.push(bundled_sample());
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
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            duff_cli::print_error(&e);
            ExitCode::from(1)
        }
    }
}
