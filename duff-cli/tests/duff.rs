//! The `duff` binary as a user runs it: help on each command, exit codes, `ingest` printing
//! what the `pipeline` example prints, `generate` writing what the `generate` example writes,
//! `status` listing the ingestions newest first.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail loudly")]

use duff_testkit::repo;
use std::path::{Path, PathBuf};
use std::process::Command;

fn duff(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_duff")).current_dir(repo()).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().join("examples").join(name)
}

#[test]
fn help_on_every_command_and_usage_errors_exit_2() {
    let (code, out, _) = duff(&["--help"]);
    assert_eq!(code, Some(0));
    for cmd in ["ingest", "serve", "generate", "status"] {
        assert!(out.contains(cmd), "{out}");
        let (code, out, err) = duff(&[cmd, "--help"]);
        assert_eq!(code, Some(0), "{cmd}: {err}");
        assert!(out.contains(&format!("Usage: duff {cmd}")), "{out}");
    }
    for args in [
        &["nope"][..],
        &["ingest", "--max-rows", "x"],
        &["ingest", "--reject-threshold", "2"],
        &["status", "--outcome", "lost"],
        &["status", "--from", "2026-02-30"],
        &["generate", "--rows", "-1"],
        &["serve", "--addr", "nowhere"],
    ] {
        let (code, _, err) = duff(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains("error"), "{args:?}: {err}");
    }
}

#[test]
fn ingest_is_the_pipeline_and_status_lists_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let files = ["examples/data/day1.csv", "examples/data/day2.csv"];
    let (code, out, err) = duff(&[&["ingest", "--lake", a.to_str().unwrap()][..], &files[..]].concat());
    assert_eq!(code, Some(0), "{err}");
    let piped = Command::new(example("pipeline"))
        .current_dir(repo())
        .args([&["--lake", b.to_str().unwrap()][..], &files[..]].concat())
        .output()
        .unwrap();
    let same = |s: &str, lake: &Path| s.replace(lake.to_str().unwrap(), "LAKE");
    assert_eq!(same(&out, &a), same(&String::from_utf8_lossy(&piped.stdout), &b));
    assert!(out.contains("examples/data/day1.csv: published  read 44 = accepted 42 + quarantined 2"), "{out}");

    // A file refused whole: exit 1, as the pipeline.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "order_id,status\n1,created\n").unwrap();
    let (code, _, _) = duff(&["ingest", "--lake", a.to_str().unwrap(), "--no-reports", bad.to_str().unwrap()]);
    assert_eq!(code, Some(1));

    let (code, out, err) = duff(&["status", "--lake", a.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().skip(2).collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].contains(" failed ") && lines[0].ends_with("missing_column"), "{out}");
    assert!(lines[1].contains("examples/data/day2.csv") && lines[1].contains("not_a_decimal 1"), "{out}");
    assert!(lines[2].contains("examples/data/day1.csv") && lines[2].contains("1646.22"), "{out}");
    let (_, out, _) = duff(&["status", "--lake", a.to_str().unwrap(), "--outcome", "published", "--limit", "1"]);
    assert_eq!(out.lines().count(), 4, "{out}");
    assert!(out.contains("day2.csv") && out.contains("... 1 more files"), "{out}");
}

#[test]
fn generate_writes_what_the_example_writes() {
    let args = ["--rows", "50", "--bad-frac", "0.1", "--seed", "7"];
    let (code, out, err) = duff(&[&["generate"][..], &args[..]].concat());
    assert_eq!(code, Some(0), "{err}");
    let ex = Command::new(example("generate")).args(args).output().unwrap();
    assert_eq!(out, String::from_utf8_lossy(&ex.stdout));
    assert_eq!(out.lines().count(), 51);
}

#[test]
fn a_damaged_manifest_blocks_the_reports_with_its_key_but_not_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let lake = lake.to_str().unwrap();
    let (code, _, err) = duff(&["ingest", "--lake", lake, "examples/data/day1.csv"]);
    assert_eq!(code, Some(0), "{err}");
    let manifests = std::path::Path::new(lake).join("manifests");
    let damaged = std::fs::read_dir(&manifests).unwrap().next().unwrap().unwrap().path();
    std::fs::write(&damaged, b"garbage").unwrap();
    let key = format!("manifests/{}", damaged.file_name().unwrap().to_str().unwrap());
    // The new file lands; the reports are refused, naming the manifest.
    let (code, out, err) = duff(&["ingest", "--lake", lake, "examples/data/orders.csv"]);
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains("orders.csv: published"), "{out}");
    assert!(err.contains(&key), "{err}");
    assert!(!out.contains("current state"), "reported over a damaged lake: {out}");
    // Without reports, the same ingest of another file succeeds.
    let (code, _, err) = duff(&["ingest", "--lake", lake, "--no-reports", "examples/data/day2.csv"]);
    assert_eq!(code, Some(0), "{err}");
}
