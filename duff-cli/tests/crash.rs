//! `duff ingest` killed (`SIGKILL`) at random moments, then run again: the lake reports what
//! a clean run's reports, `duff vacuum --older-than 0s` removes the leftovers and `duff check`
//! then finds nothing. Also `duff check` on a damaged lake, and a bad manifest that blocks
//! no other file.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail loudly")]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn duff(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_duff")).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The reports over the lake's current state (rebuilt from the published files), without
/// the generation's number.
fn reports(lake: &Path) -> String {
    let (code, out, err) = duff(&["ingest", "--lake", path(lake), "--rebuild-serving", "--max-rows", "0"]);
    assert_eq!(code, Some(0), "{err}");
    let from = out.find("current state:").unwrap_or_else(|| panic!("{out}"));
    let text = &out[from..];
    match (text.find(" (generation "), text.find('\n')) {
        (Some(g), Some(nl)) if g < nl => format!("{}{}", &text[..g], &text[nl..]),
        _ => text.to_owned(),
    }
}

/// A small xorshift, seeded from the clock (the seed is in every message).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn an_ingest_killed_at_random_moments_then_run_again_reads_like_a_clean_one() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("orders.csv");
    let (code, _, err) = duff(&["generate", "--rows", "5000", "--bad-frac", "0.01", "--out", path(&csv)]);
    assert_eq!(code, Some(0), "{err}");

    let clean = dir.path().join("clean");
    let started = Instant::now();
    let (code, _, err) = duff(&["ingest", "--lake", path(&clean), "--no-reports", path(&csv)]);
    assert_eq!(code, Some(0), "{err}");
    let took = started.elapsed();
    let want = reports(&clean);

    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    let mut rng = Rng(seed);
    let mut killed = 0;
    for round in 0..3 {
        let lake = dir.path().join(format!("lake{round}"));
        let at = Duration::from_micros(rng.next() % took.as_micros().max(1) as u64);
        let what = format!("seed {seed}, round {round}, killed after {at:?} of {took:?}");
        let mut child = Command::new(env!("CARGO_BIN_EXE_duff"))
            .args(["ingest", "--lake", path(&lake), "--no-reports", path(&csv)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(at);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
        // Run again: the same reports as a clean run.
        let (code, _, err) = duff(&["ingest", "--lake", path(&lake), "--no-reports", path(&csv)]);
        assert_eq!(code, Some(0), "{what}: the rerun: {err}");
        assert_eq!(reports(&lake), want, "{what}");
        // The leftovers go; nothing else is wrong.
        let (code, out, err) = duff(&["vacuum", "--lake", path(&lake), "--older-than", "0s"]);
        assert_eq!(code, Some(0), "{what}: vacuum: {out}{err}");
        eprintln!("{what}: {}", out.lines().last().unwrap_or_default());
        let (code, out, err) = duff(&["check", "--lake", path(&lake), "--older-than", "0s"]);
        assert_eq!(code, Some(0), "{what}: check: {out}{err}");
        assert_eq!(reports(&lake), want, "{what}: after vacuum");
    }
    assert!(killed > 0 || took < Duration::from_millis(50), "seed {seed}: no run was killed");
}

#[test]
fn check_lists_problems_exits_1_and_a_bad_manifest_blocks_no_other_file() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    for (p, start) in [(&a, "100"), (&b, "900000")] {
        let (code, _, err) = duff(&["generate", "--rows", "200", "--start-order-id", start, "--out", path(p)]);
        assert_eq!(code, Some(0), "{err}");
    }
    let (code, _, err) = duff(&["ingest", "--lake", path(&lake), "--no-reports", path(&a)]);
    assert_eq!(code, Some(0), "{err}");
    let (code, out, _) = duff(&["check", "--lake", path(&lake)]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("0 problems"), "{out}");

    // A manifest overwritten with garbage: check names it (table and JSON), exits 1.
    let manifests: Vec<_> = std::fs::read_dir(lake.join("manifests")).unwrap().map(|e| e.unwrap().path()).collect();
    std::fs::write(&manifests[0], b"garbage").unwrap();
    let name = manifests[0].file_name().unwrap().to_str().unwrap().to_owned();
    let (code, out, _) = duff(&["check", "--lake", path(&lake)]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("manifest_unreadable") && out.contains(&name), "{out}");
    let (code, out, _) = duff(&["check", "--lake", path(&lake), "--json"]);
    assert_eq!(code, Some(1));
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["problems"][0]["kind"], "manifest_unreadable", "{json}");
    assert_eq!(json["problems"][0]["key"], format!("manifests/{name}"), "{json}");

    // An unrelated file still ingests.
    let (_, out, err) = duff(&["ingest", "--lake", path(&lake), "--no-reports", path(&b)]);
    assert!(out.contains("published"), "{out}{err}");
    assert_eq!(std::fs::read_dir(lake.join("manifests")).unwrap().count(), 2);

    // A usage error exits 2.
    let (code, _, err) = duff(&["vacuum", "--lake", path(&lake), "--older-than", "soon"]);
    assert_eq!(code, Some(2), "{err}");
}
