//! `duff`: the command line of duff-etl's local home.
//!
//! ```text
//! duff ingest [--lake DIR] [CSV ...]     ingest files into a lake folder, print the reports
//! duff serve [--lake DIR] [--addr A]     the REST API and the dashboard over the lake
//! duff generate [--rows N] [--out PATH]  a synthetic orders CSV
//! duff status [--lake DIR]               the lake's ingestions, newest first
//! duff vacuum [--lake DIR] [--older-than AGE] [--dry-run]   remove crash leftovers
//! duff check [--lake DIR] [--older-than AGE] [--json]       list the lake's problems
//! ```
//!
//! Exit status: 0 on success, 1 when a file was refused whole (ingest) or on an error, 2 on a
//! usage error. `duff <command> --help` lists each command's options.

use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};
use duff_cli::pipeline::{IngestArgs, bundled_sample};
use duff_cli::print_error;
use duff_cli::serve::ServeArgs;
use duff_core::{IngestConfig, Outcome};
use duff_lake::{Day, IngestionFilter};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

fn lake_arg() -> Arg {
    Arg::new("lake").long("lake").value_name("DIR").default_value("lake").help("The lake folder")
}

fn cli() -> Command {
    Command::new("duff")
        .about("Orders CSV files into a validated Parquet lake, its reports, its API and dashboard")
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("ingest")
                .about("Ingest CSV files into the lake, then print the reports (the pipeline example)")
                .arg(lake_arg())
                .arg(
                    Arg::new("reject-threshold")
                        .long("reject-threshold")
                        .value_name("F")
                        .env("DUFF_REJECT_THRESHOLD")
                        .help("Quarantined share above which a file is refused (default 0.05)"),
                )
                .arg(
                    Arg::new("max-rows")
                        .long("max-rows")
                        .value_name("N")
                        .value_parser(value_parser!(usize))
                        .default_value("50")
                        .help("Rows printed per report, 0 for all"),
                )
                .arg(
                    Arg::new("part-mb")
                        .long("part-mb")
                        .value_name("N")
                        .value_parser(value_parser!(u64))
                        .help("Ingest a file of at least two parts of N MiB in parts (0: never)"),
                )
                .arg(
                    Arg::new("threads")
                        .long("threads")
                        .value_name("N")
                        .value_parser(value_parser!(u32).range(1..))
                        .help("Threads ingesting parts (default: one per core)"),
                )
                .arg(Arg::new("no-reports").long("no-reports").action(ArgAction::SetTrue).help("Ingest only"))
                .arg(
                    Arg::new("rebuild-serving")
                        .long("rebuild-serving")
                        .action(ArgAction::SetTrue)
                        .help("Rebuild the serving state from every published file (the repair command; with no CSV, ingests none)"),
                )
                .arg(
                    Arg::new("models")
                        .long("models")
                        .action(ArgAction::SetTrue)
                        .help("Also rebuild the analytics models under DIR/models/"),
                )
                .arg(
                    Arg::new("files")
                        .value_name("CSV")
                        .num_args(0..)
                        .value_parser(value_parser!(PathBuf))
                        .help("Files to ingest (default: the bundled examples/data/orders.csv)"),
                ),
        )
        .subcommand(
            Command::new("serve")
                .about("Serve the REST API and the dashboard (GET /) over the lake")
                .arg(lake_arg())
                .arg(
                    Arg::new("addr")
                        .long("addr")
                        .value_name("HOST:PORT")
                        .value_parser(value_parser!(SocketAddr))
                        .default_value("127.0.0.1:8080")
                        .help("Where to listen"),
                )
                .arg(
                    Arg::new("refresh-ms")
                        .long("refresh-ms")
                        .value_name("N")
                        .value_parser(value_parser!(u64))
                        .default_value("1000")
                        .help("How long a listing of the lake's manifests is trusted"),
                ),
        )
        .subcommand(
            Command::new("generate")
                .about("Write a deterministic synthetic orders CSV")
                .arg(Arg::new("rows").long("rows").value_name("N").help("Data rows to write (default 1000)"))
                .arg(
                    Arg::new("bad-frac")
                        .long("bad-frac")
                        .value_name("F")
                        .help("Probability in [0, 1] that a row is malformed (default 0.0)"),
                )
                .arg(Arg::new("seed").long("seed").value_name("S").help("PRNG seed (default 42)"))
                .arg(Arg::new("out").long("out").value_name("PATH").help("Output file, `-` for stdout (default -)"))
                .arg(
                    Arg::new("start-order-id")
                        .long("start-order-id")
                        .value_name("K")
                        .help("First order id (default 100000)"),
                )
                .arg(
                    Arg::new("statuses")
                        .long("statuses")
                        .value_name("S")
                        .help("drawn (default), or advanced: the same lines with created orders moved on"),
                ),
        )
        .subcommand(
            Command::new("status")
                .about("The lake's ingestions, newest first: outcome, rows read/accepted/quarantined, problems")
                .arg(lake_arg())
                .arg(
                    Arg::new("outcome")
                        .long("outcome")
                        .value_parser(["published", "rejected", "failed"])
                        .help("Only files with this outcome"),
                )
                .arg(
                    Arg::new("from")
                        .long("from")
                        .value_name("YYYY-MM-DD")
                        .help("Only files ingested on this day (UTC) or later"),
                )
                .arg(
                    Arg::new("to")
                        .long("to")
                        .value_name("YYYY-MM-DD")
                        .help("Only files ingested on this day (UTC) or earlier"),
                )
                .arg(
                    Arg::new("limit")
                        .long("limit")
                        .value_name("N")
                        .value_parser(value_parser!(usize))
                        .default_value("50")
                        .help("Files shown, 0 for all"),
                ),
        )
        .subcommand(duff_cli::maintenance::vacuum_command())
        .subcommand(duff_cli::maintenance::check_command())
}

fn usage_error(message: String) -> ExitCode {
    eprintln!("error: {message}\n\nFor more information, try '--help'.");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    duff_cli::logging::init();
    let matches = match cli().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    match matches.subcommand() {
        Some(("ingest", m)) => ingest(m),
        Some(("serve", m)) => serve(m),
        Some(("generate", m)) => generate(m),
        Some(("status", m)) => status(m),
        Some(("vacuum", m)) => duff_cli::maintenance::run_vacuum(m),
        Some(("check", m)) => duff_cli::maintenance::run_check(m),
        _ => ExitCode::from(2),
    }
}

fn lake_of(m: &ArgMatches) -> String {
    m.get_one::<String>("lake").cloned().unwrap_or_else(|| "lake".into())
}

fn ingest(m: &ArgMatches) -> ExitCode {
    let mut args = IngestArgs::new();
    args.lake = PathBuf::from(lake_of(m));
    if let Some(t) = m.get_one::<String>("reject-threshold") {
        match IngestConfig::parse_reject_threshold(t) {
            Ok(ppm) => args.cfg.reject_threshold_ppm = ppm,
            Err(e) => return usage_error(format!("--reject-threshold: {e}")),
        }
    }
    args.max_rows = m.get_one::<usize>("max-rows").copied().unwrap_or(50);
    if let Some(&mb) = m.get_one::<u64>("part-mb") {
        args.fan_out.part_bytes = if mb == 0 { u64::MAX / 2 } else { mb << 20 };
    }
    if let Some(&n) = m.get_one::<u32>("threads") {
        args.fan_out.threads = n as usize;
    }
    args.reports = !m.get_flag("no-reports");
    args.models = m.get_flag("models");
    args.rebuild_serving = m.get_flag("rebuild-serving");
    args.files = m.get_many::<PathBuf>("files").map(|f| f.cloned().collect()).unwrap_or_default();
    if args.files.is_empty() && !args.rebuild_serving {
        args.files.push(bundled_sample());
    }
    match duff_cli::pipeline::run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            print_error(&e);
            ExitCode::from(1)
        }
    }
}

fn serve(m: &ArgMatches) -> ExitCode {
    duff_cli::serve::with_bounded_arenas();
    let args = ServeArgs {
        lake: lake_of(m),
        addr: m.get_one::<SocketAddr>("addr").copied().unwrap_or_else(|| ServeArgs::default().addr),
        refresh: Duration::from_millis(m.get_one::<u64>("refresh-ms").copied().unwrap_or(1000)),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(duff_cli::serve::serve(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            print_error(e.as_ref());
            ExitCode::from(1)
        }
    }
}

fn generate(m: &ArgMatches) -> ExitCode {
    // The generator's own parser validates the values (one set of rules for both commands).
    let mut raw: Vec<OsString> = Vec::new();
    for flag in ["rows", "bad-frac", "seed", "out", "start-order-id", "statuses"] {
        if let Some(v) = m.get_one::<String>(flag) {
            raw.push(format!("--{flag}").into());
            raw.push(v.into());
        }
    }
    let cfg = match duff_testkit::generate::parse_args(raw) {
        Ok(cfg) => cfg,
        Err(duff_testkit::generate::CliError::Usage(message)) => return usage_error(message),
        Err(duff_testkit::generate::CliError::Help) => return ExitCode::SUCCESS,
    };
    match duff_cli::generate::run(&cfg) {
        Ok(stats) => {
            eprintln!(
                "generated {} rows ({} bytes, {} malformed) to {}",
                stats.rows, stats.bytes, stats.malformed, cfg.out
            );
            ExitCode::SUCCESS
        }
        Err(e) if cfg.out == "-" && e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write to {}: {e}", cfg.out);
            ExitCode::FAILURE
        }
    }
}

fn status(m: &ArgMatches) -> ExitCode {
    let day = |name: &str| -> Result<Option<Day>, String> {
        m.get_one::<String>(name)
            .map(|v| Day::parse(v).ok_or_else(|| format!("--{name}: '{v}' is not a date YYYY-MM-DD")))
            .transpose()
    };
    let filter = match (day("from"), day("to")) {
        (Ok(from), Ok(to)) => IngestionFilter {
            outcome: m.get_one::<String>("outcome").and_then(|o| {
                [Outcome::Published, Outcome::Rejected, Outcome::Failed].into_iter().find(|x| x.as_str() == o)
            }),
            from,
            to,
        },
        (Err(e), _) | (_, Err(e)) => return usage_error(e),
    };
    let limit = m.get_one::<usize>("limit").copied().unwrap_or(50);
    match duff_cli::status::status_table(&PathBuf::from(lake_of(m)), &filter, limit) {
        Ok((text, more)) => {
            println!("{}", text.trim_end());
            if more > 0 {
                println!("... {more} more files (--limit 0 shows all)");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            print_error(&e);
            ExitCode::from(1)
        }
    }
}
