//! `ingest` (the `pipeline` example, `duff ingest`): ingest orders CSV files into a lake in a
//! folder, print a reconciliation line per file, then the reports over the lake's current
//! state.

use crate::text::table;
use duff_core::reports::{Report, ReportFilter, Rows};
use duff_core::{IngestConfig, Outcome};
use duff_lake::{FanOutConfig, IngestResult, LocalLake};
use std::path::PathBuf;
use std::time::Instant;

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

/// What to ingest and what to print.
#[derive(Debug, Clone)]
pub struct IngestArgs {
    /// The lake folder.
    pub lake: PathBuf,
    /// Also rebuild the analytics models.
    pub models: bool,
    /// Print the reports.
    pub reports: bool,
    /// Rebuild the serving state from every published file instead of folding the new ones.
    pub rebuild_serving: bool,
    /// Rows printed per report, 0 for all.
    pub max_rows: usize,
    /// The ingest configuration (reject threshold).
    pub cfg: IngestConfig,
    /// How large files are split into parts.
    pub fan_out: FanOutConfig,
    /// The files to ingest.
    pub files: Vec<PathBuf>,
}

impl IngestArgs {
    /// The defaults: `./lake`, reports of 50 rows, no models, the default configuration, no
    /// file (see [`bundled_sample`]).
    pub fn new() -> IngestArgs {
        IngestArgs {
            lake: PathBuf::from("lake"),
            models: false,
            reports: true,
            rebuild_serving: false,
            max_rows: 50,
            cfg: IngestConfig::default(),
            fan_out: FanOutConfig::default(),
            files: Vec::new(),
        }
    }
}

impl Default for IngestArgs {
    fn default() -> IngestArgs {
        IngestArgs::new()
    }
}

/// `examples/data/orders.csv`, relative to the current folder when run from the
/// repository root, else from the source tree this example was built in.
pub fn bundled_sample() -> PathBuf {
    let rel = PathBuf::from("examples/data/orders.csv");
    if rel.exists() { rel } else { PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/data/orders.csv")) }
}

/// Files from this size on get a progress bar (when stderr is a terminal).
pub const PROGRESS_BYTES: u64 = 8 << 20;

/// A progress bar on stderr for a file of at least [`PROGRESS_BYTES`], when stderr is a
/// terminal (`None` otherwise: nothing is drawn into logs or pipes). The lake reads a file
/// twice (its hash, then its rows), so the bar counts twice its size.
fn progress_bar(path: &std::path::Path) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    let size = std::fs::metadata(path).ok()?.len();
    if size < PROGRESS_BYTES || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::with_draw_target(Some(2 * size), indicatif::ProgressDrawTarget::stderr());
    let style =
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(path.display().to_string());
    Some(bar)
}

/// Ingests every file and prints the reports; `Ok(false)` when a file was refused.
///
/// # Errors
/// The lake could not be opened, read or written.
pub fn run(args: &IngestArgs) -> duff_lake::Result<bool> {
    let lake = LocalLake::open(&args.lake)?.with_fan_out(args.fan_out);
    say!("lake: {}", lake.root().display());
    let mut all_ok = true;
    for path in &args.files {
        let started = Instant::now();
        let bar = progress_bar(path);
        let result = match &bar {
            Some(bar) => {
                let bar = bar.clone();
                let lake = lake.clone().with_progress(duff_lake::Progress::to(move |n| bar.inc(n)));
                lake.ingest_path(path, &args.cfg, chrono::Utc::now())
            }
            None => lake.ingest_path(path, &args.cfg, chrono::Utc::now()),
        };
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let result = result?;
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
    // A big fold (a first big file, a compaction, a rebuild) takes a while: a spinner says
    // so on a terminal.
    let big = args.rebuild_serving
        || args.files.iter().any(|p| std::fs::metadata(p).is_ok_and(|m| m.len() >= PROGRESS_BYTES));
    let spinner = (big && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
        let s = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            s.set_style(style);
        }
        s.set_message("updating the serving state");
        s.enable_steady_tick(std::time::Duration::from_millis(120));
        s
    });
    let update = if args.rebuild_serving { lake.rebuild_serving() } else { lake.update_serving() };
    if let Some(s) = spinner {
        s.finish_and_clear();
    }
    let update = update?;
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
    // A damaged lake is never reported over: the reports would silently leave out what the
    // unreadable manifest names (`duff check` lists every problem).
    if let Some((_, e)) = lake.scan_manifests()?.unreadable.into_iter().next() {
        return Err(e);
    }
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
