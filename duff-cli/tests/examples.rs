//! The examples run for real, as a user runs them: exit codes, output, determinism.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail loudly")]

use chrono::Utc;
use duff_core::IngestConfig;
use duff_lake::{IngestResult, LocalLake};
use duff_testkit::repo;
use std::path::{Path, PathBuf};
use std::process::Command;

fn ingested(r: IngestResult) -> duff_core::Manifest {
    match r {
        IngestResult::Ingested(m) => m,
        IngestResult::Duplicate(m) => panic!("unexpected duplicate of {}", m.source),
    }
}

fn example(name: &str) -> PathBuf {
    // Examples are built by `cargo test` next to the test binaries' folder.
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    profile_dir.join("examples").join(name)
}

#[test]
fn the_pipeline_example_runs_on_the_bundled_samples() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(example("pipeline")).current_dir(repo()).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let lake = dir.path().join("lake");
    let lake = lake.to_str().unwrap();
    let (code, out, err) = run(&["--lake", lake]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("examples/data/orders.csv: published  read 5 = accepted 5 + quarantined 0"), "{out}");
    assert!(out.contains("sales 174.00"), "{out}");
    assert!(out.contains("       102  Duff Classic              2     12  30.00      3.96"), "{out}");
    // Two more files: quarantine and status updates; the brief's file again is a duplicate.
    let (code, out, _) = run(&[
        "--lake",
        lake,
        "--models",
        "examples/data/day1.csv",
        "examples/data/day2.csv",
        "examples/data/orders.csv",
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("models: 14 tables rebuilt"), "{out}");
    assert!(dir.path().join("lake/models/fact_order_lifecycle/fact_order_lifecycle.parquet").exists());
    assert!(out.contains("read 44 = accepted 42 + quarantined 2"), "{out}");
    assert!(out.contains("duplicate of examples/data/orders.csv"), "{out}");
    // A file refused whole: exit status 1, and the message names the missing column.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "order_id,status\n1,created\n").unwrap();
    let (code, out, _) = run(&["--lake", lake, bad.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("failed") && out.contains("`client_id` is missing"), "{out}");
    // Usage errors: 2.
    assert_eq!(run(&["--bogus"]).0, Some(2));
}

#[test]
fn the_generate_example_is_deterministic_and_ingestible() {
    let dir = tempfile::tempdir().unwrap();
    let out = |name: &str| {
        let path = dir.path().join(name);
        let status = Command::new(example("generate"))
            .args(["--rows", "2000", "--bad-frac", "0.01", "--seed", "7", "--out", path.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(status.success());
        path
    };
    let (a, b) = (out("a.csv"), out("b.csv"));
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let lake = LocalLake::open(dir.path().join("lake")).unwrap();
    let m = ingested(lake.ingest_path(&a, &IngestConfig::default(), Utc::now()).unwrap());
    assert_eq!(m.rows_read, 2000);
    assert!(m.reconciles());
    assert!(m.rows_quarantined >= 15 && m.rows_quarantined <= 30, "{m:?}");
}

/// A file big enough for a progress bar gets none when stderr is not a terminal (a pipe
/// here, a log in CI): the output stays what it was.
#[test]
fn no_progress_bar_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("big.csv");
    let status = Command::new(example("generate")).args(["--rows", "100000", "--out"]).arg(&csv).status().unwrap();
    assert!(status.success());
    assert!(std::fs::metadata(&csv).unwrap().len() >= duff_cli::pipeline::PROGRESS_BYTES);
    let out = Command::new(example("pipeline"))
        .args(["--no-reports", "--lake"])
        .arg(dir.path().join("lake"))
        .arg(&csv)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("[=") && !stderr.contains("updating the serving state"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "no terminal escapes: {stderr}");
}
