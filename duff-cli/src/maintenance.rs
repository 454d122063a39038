//! `duff vacuum` and `duff check`: the lake's housekeeping (docs/lake.md, "After a crash").
//!
//! - `vacuum` removes what crashed or refused writers left and no reader counts (objects no
//!   published manifest lists, fan-out work folders, serving objects of no generation, local
//!   staging and temporary files), once older than `--older-than` (24 h by default);
//!   `--dry-run` only lists them. Never an object a published manifest lists.
//! - `check` lists every problem (a manifest that cannot be parsed, a listed object missing
//!   or not readable as Parquet, leftovers `vacuum` would remove, a serving object missing)
//!   as a table or `--json`, and exits 1 when there is one.

use crate::print_error;
use crate::text::table;
use clap::{Arg, ArgAction, ArgMatches, Command};
use duff_lake::LocalLake;
use duff_lake::vacuum::DEFAULT_AGE;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Parses an age: a whole number and a unit, `s`, `m`, `h` or `d` (`24h`, `90m`, `0s`; `0`
/// alone is zero).
///
/// # Errors
/// Anything else, with what is expected.
pub fn parse_age(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let bad = || format!("'{s}' is not an age such as 24h, 90m, 30s or 2d");
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(secs).map(Duration::from_secs).ok_or_else(bad)
}

fn lake_arg() -> Arg {
    Arg::new("lake").long("lake").value_name("DIR").default_value("lake").help("The lake folder")
}

fn age_arg(help: &'static str) -> Arg {
    Arg::new("older-than").long("older-than").value_name("AGE").default_value("24h").help(help)
}

/// The `vacuum` subcommand.
pub fn vacuum_command() -> Command {
    Command::new("vacuum")
        .about("Remove crash leftovers no reader counts (never a committed object), once older than an age")
        .arg(lake_arg())
        .arg(age_arg("Only leftovers last written longer ago than this (24h, 90m, 0s...)"))
        .arg(Arg::new("dry-run").long("dry-run").action(ArgAction::SetTrue).help("List what would be removed"))
}

/// The `check` subcommand.
pub fn check_command() -> Command {
    Command::new("check")
        .about("List every problem of the lake (unreadable manifests, missing or damaged objects, leftovers); exit 1 if any")
        .arg(lake_arg())
        .arg(age_arg("Leftovers count as problems when older than this (0s: all)"))
        .arg(Arg::new("json").long("json").action(ArgAction::SetTrue).help("Print the report as JSON"))
}

fn open(m: &ArgMatches) -> Result<(LocalLake, Duration), ExitCode> {
    let age = match m.get_one::<String>("older-than").map(|a| parse_age(a)) {
        Some(Ok(age)) => age,
        Some(Err(e)) => {
            eprintln!("error: --older-than: {e}\n\nFor more information, try '--help'.");
            return Err(ExitCode::from(2));
        }
        None => DEFAULT_AGE,
    };
    let lake = m.get_one::<String>("lake").cloned().unwrap_or_else(|| "lake".into());
    match LocalLake::open(PathBuf::from(lake)) {
        Ok(l) => Ok((l, age)),
        Err(e) => {
            print_error(&e);
            Err(ExitCode::from(1))
        }
    }
}

fn age_text(secs: Option<u64>) -> String {
    secs.map_or_else(|| "?".to_owned(), |s| s.to_string())
}

/// Runs `duff vacuum`: 0 when done, 1 on an error.
pub fn run_vacuum(m: &ArgMatches) -> ExitCode {
    let (lake, age) = match open(m) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let dry_run = m.get_flag("dry-run");
    match lake.vacuum(age, dry_run) {
        Ok(report) => {
            let rows: Vec<Vec<String>> = report
                .removed
                .iter()
                .map(|l| vec![l.kind.as_str().to_owned(), age_text(l.age_secs), l.key.clone()])
                .collect();
            if !rows.is_empty() {
                println!("{}", table(&["kind", "age_s", "key"], &rows, &[1]).trim_end());
            }
            let verb = if dry_run { "would remove" } else { "removed" };
            println!(
                "{verb} {} leftovers older than {}s; kept {} younger ones{}",
                report.removed.len(),
                age.as_secs(),
                report.kept_young,
                if dry_run { String::new() } else { format!("; {} old serving objects", report.serving_removed) }
            );
            for key in &report.unreadable_manifests {
                eprintln!("warning: {key} cannot be parsed: the objects of its file were kept (see `duff check`)");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            print_error(&e);
            ExitCode::from(1)
        }
    }
}

/// Runs `duff check`: 0 when the lake is sound, 1 when a problem was found or on an error.
pub fn run_check(m: &ArgMatches) -> ExitCode {
    let (lake, age) = match open(m) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let report = match lake.check(age) {
        Ok(r) => r,
        Err(e) => {
            print_error(&e);
            return ExitCode::from(1);
        }
    };
    if m.get_flag("json") {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("error: encoding the report: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        let rows: Vec<Vec<String>> =
            report.problems.iter().map(|p| vec![p.kind.as_str().to_owned(), p.key.clone(), p.detail.clone()]).collect();
        if !rows.is_empty() {
            println!("{}", table(&["problem", "key", "detail"], &rows, &[]).trim_end());
        }
        println!(
            "{} problems; {} manifests, {} objects read; serving generation {}",
            report.problems.len(),
            report.manifests,
            report.objects,
            report.generation.map_or_else(|| "none".to_owned(), |g| g.to_string())
        );
    }
    if report.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(parse_age("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_age("90m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_age("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_age("0"), Ok(Duration::ZERO));
        assert_eq!(parse_age("2d"), Ok(Duration::from_secs(172_800)));
        for bad in ["", "h", "24", "1.5h", "-1h", "3w", "99999999999999999999d"] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
    }
}
