//! The main job, locally: ingest orders CSV files into a lake in a folder, print a
//! reconciliation line per file, then the reports over the lake's current state.
//!
//! ```text
//! cargo run --release --example pipeline -- [--lake DIR] [--max-rows N] [--reject-threshold F] [CSV ...]
//! ```
//!
//! Without CSV arguments it ingests the bundled sample `examples/data/orders.csv` (the
//! brief's five rows). Exit status: 0 when every file was ingested (quarantined rows
//! included; a file already in the lake is a duplicate and changes nothing), 1 when a file
//! was refused as a whole, 2 on a usage error.

use duff_cli::text::table;
use duff_core::reports::{Report, ReportFilter, Rows};
use duff_core::{IngestConfig, Outcome};
use duff_lake::{FanOutConfig, IngestResult, LocalLake};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "usage: pipeline [--lake DIR] [--max-rows N] [--reject-threshold F] [--models] [--part-mb N] [--threads N] [--no-reports] [--rebuild-serving] [CSV ...]
  --lake DIR              the lake folder (default ./lake)
  --part-mb N             ingest a file of at least two parts of N MiB in parts, on several
                          threads (0: never; default 64 on 4 cores or more, else never)
  --threads N             threads ingesting parts (default: one per core)
  --no-reports            ingest only (what the ETL Lambda does), print no report
  --rebuild-serving       rebuild the serving state from every published file instead of
                          folding the new ones (the repair command; with no CSV, ingests none)
  --models                also rebuild the analytics models under DIR/models/ (docs/models.md)
  --max-rows N            rows printed per report, 0 for all (default 50)
  --reject-threshold F    quarantined share above which a file is refused (default 0.05,
                          or DUFF_REJECT_THRESHOLD)
  CSV                     files to ingest (default: the bundled examples/data/orders.csv)";

/// `println!` that ends the program quietly when stdout is closed (`pipeline | head`).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: writing to stdout: {e}");
            std::process::exit(1);
        }
    }};
}

struct Args {
    lake: PathBuf,
    models: bool,
    reports: bool,
    rebuild_serving: bool,
    max_rows: usize,
    cfg: IngestConfig,
    fan_out: FanOutConfig,
    files: Vec<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        lake: PathBuf::from("lake"),
        models: false,
        reports: true,
        rebuild_serving: false,
        max_rows: 50,
        cfg: IngestConfig::default(),
        fan_out: FanOutConfig::default(),
        files: Vec::new(),
    };
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

/// `examples/data/orders.csv`, relative to the current folder when run from the
/// repository root, else from the source tree this example was built in.
fn bundled_sample() -> PathBuf {
    let rel = PathBuf::from("examples/data/orders.csv");
    if rel.exists() { rel } else { PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/data/orders.csv")) }
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
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::from(1)
        }
    }
}

/// Ingests every file and prints the reports; `Ok(false)` when a file was refused.
fn run(args: &Args) -> duff_lake::Result<bool> {
    let lake = LocalLake::open(&args.lake)?.with_fan_out(args.fan_out);
    say!("lake: {}", lake.root().display());
    let mut all_ok = true;
    for path in &args.files {
        let started = Instant::now();
        let result = lake.ingest_path(path, &args.cfg, chrono::Utc::now())?;
        let secs = started.elapsed().as_secs_f64();
        match result {
            IngestResult::Ingested(m) => {
                let rate = m.bytes as f64 / secs.max(1e-9) / 1e6;
                say!("{}", m.reconciliation_line());
                eprintln!("  ({secs:.3} s, {rate:.0} MB/s, file_id {})", m.file_id);
                if m.outcome != Outcome::Published {
                    all_ok = false;
                    for p in &m.sample_problems {
                        eprintln!("  line {}: {}", p.line, p.message);
                    }
                }
            }
            IngestResult::Duplicate(m) => {
                say!("{}: duplicate of {} ingested at {}: nothing changed", path.display(), m.source, m.ingested_at);
            }
        }
    }

    // The serving state (what the API and the reports read) follows the new files.
    let update = if args.rebuild_serving { lake.rebuild_serving()? } else { lake.update_serving()? };
    let steps: Vec<String> = update.steps.iter().map(|(n, d)| format!("{n} {:.3}", d.as_secs_f64())).collect();
    eprintln!(
        "(serving state: generation {}, {} files folded, {} lines changed{}, {:.3} s: {})",
        update.generation.unwrap_or(0),
        update.files_folded,
        update.lines_changed,
        if update.compacted { ", runs compacted" } else { "" },
        update.elapsed.as_secs_f64(),
        steps.join(", ")
    );
    if !args.reports {
        return Ok(all_ok);
    }
    let started = Instant::now();
    let Some(snapshot) = lake.serving_snapshot()? else {
        say!(
            "
the lake holds no published file yet"
        );
        return Ok(all_ok);
    };
    let all = ReportFilter::default();
    let t = snapshot.cube.total();
    say!(
        "\ncurrent state: {} order lines, {} orders, {} units, sales {}, {} L (generation {})",
        t.lines,
        t.orders,
        t.units,
        duff_core::format_scaled(t.amount, 2),
        duff_core::format_litres(t.volume),
        snapshot.generation.generation
    );

    let rows: Vec<Vec<String>> = match snapshot.answer(&lake, Report::SalesByProduct, &all)? {
        Rows::SalesByProduct(rows) => rows
            .into_iter()
            .map(|r| {
                vec![
                    r.product_id.to_string(),
                    r.product_description,
                    r.orders.to_string(),
                    r.units.to_string(),
                    r.sales,
                    r.volume_l,
                ]
            })
            .collect(),
        _ => Vec::new(),
    };
    print_report(
        "Sales by product",
        &["product_id", "product_description", "orders", "units", "sales", "volume_l"],
        rows,
        &[0, 2, 3, 4, 5],
        args.max_rows,
    );

    let rows = match snapshot.answer(&lake, Report::OrderStatus, &all)? {
        Rows::OrderStatus(rows) => rows
            .into_iter()
            .map(|r| vec![r.status.to_string(), r.orders.to_string(), r.units.to_string(), r.sales])
            .collect(),
        _ => Vec::new(),
    };
    print_report("Order status", &["status", "orders", "units", "sales"], rows, &[1, 2, 3], args.max_rows);

    let rows = match snapshot.answer(&lake, Report::OrdersByClient, &all)? {
        Rows::OrdersByClient(rows) => rows
            .into_iter()
            .map(|r| vec![r.client_id.to_string(), r.client_name, r.orders.to_string(), r.units.to_string(), r.sales])
            .collect(),
        _ => Vec::new(),
    };
    print_report(
        "Orders by client",
        &["client_id", "client_name", "orders", "units", "sales"],
        rows,
        &[0, 2, 3, 4],
        args.max_rows,
    );
    if args.models {
        let models = lake.refresh_models()?;
        say!(
            "\nmodels: {} tables rebuilt under {}/models/ ({})",
            models.len(),
            lake.root().display(),
            models.iter().map(|(n, rows)| format!("{n} {rows}")).collect::<Vec<_>>().join(", ")
        );
    }
    eprintln!("(reports from the serving state in {:.3} s)", started.elapsed().as_secs_f64());
    Ok(all_ok)
}

fn print_report(title: &str, headers: &[&str], mut rows: Vec<Vec<String>>, right: &[usize], max: usize) {
    let total = rows.len();
    if max > 0 && total > max {
        rows.truncate(max);
    }
    say!("\n{title}\n{}", table(headers, &rows, right).trim_end());
    if rows.len() < total {
        say!("... {} more rows (--max-rows 0 prints all {total})", total - rows.len());
    }
}
