//! The local lake: publish, duplicates, refusals, instants, and the examples run for real.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail loudly")]

use chrono::{TimeZone, Utc};
use duff_core::{IngestConfig, Outcome, Table};
use duff_lake::{IngestResult, LocalLake};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use duff_testkit::sample;

/// Every file of the lake (relative path -> bytes).
fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(root).unwrap().display().to_string(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn ingested(r: IngestResult) -> duff_core::Manifest {
    match r {
        IngestResult::Ingested(m) => m,
        IngestResult::Duplicate(m) => panic!("unexpected duplicate of {}", m.source),
    }
}

#[test]
fn publishes_every_table_under_deterministic_keys() {
    let dir = tempfile::tempdir().unwrap();
    let lake = LocalLake::open(dir.path()).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
    let m = ingested(lake.ingest_path(&sample("day1.csv"), &IngestConfig::default(), now).unwrap());
    assert_eq!(m.outcome, Outcome::Published);
    assert_eq!((m.rows_read, m.rows_accepted, m.rows_quarantined), (44, 42, 2));
    let files = snapshot(dir.path());
    for out in &m.outputs {
        assert!(out.key.contains("ingest_date=2026-11-27/"), "{}", out.key);
        let bytes = files.get(&out.key).unwrap_or_else(|| panic!("{} missing", out.key));
        let rows: usize = duff_core::read_parquet(bytes.clone()).unwrap().iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows as u64, out.rows, "{}", out.key);
    }
    assert!(files.contains_key(&format!("manifests/{}.json", m.file_id)));
    assert!(files.contains_key("dim_status/dim_status.parquet"));
    assert!(files.contains_key("dim_channel/dim_channel.parquet"));
    assert!(!files.keys().any(|k| k.contains(".staging") || k.contains("tmp")), "{:?}", files.keys());
}

#[test]
fn ingesting_the_same_content_again_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lake = LocalLake::open(dir.path()).unwrap();
    let cfg = IngestConfig::default();
    let t = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
    ingested(lake.ingest_path(&sample("day1.csv"), &cfg, t).unwrap());
    let before = snapshot(dir.path());
    // A retry, and a re-upload of the same bytes under another name, a day later.
    let copy = dir.path().join("..").join(format!("copy-{}.csv", std::process::id()));
    std::fs::copy(sample("day1.csv"), &copy).unwrap();
    for path in [sample("day1.csv"), copy.clone()] {
        match lake.ingest_path(&path, &cfg, t + chrono::Duration::days(1)).unwrap() {
            IngestResult::Duplicate(m) => assert_eq!(m.rows_read, 44),
            IngestResult::Ingested(m) => panic!("re-ingested {m:?}"),
        }
    }
    std::fs::remove_file(copy).unwrap();
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn a_file_over_the_threshold_publishes_only_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let lake = LocalLake::open(dir.path()).unwrap();
    let cfg = IngestConfig { reject_threshold_ppm: 10_000, ..IngestConfig::default() };
    let m = ingested(lake.ingest_path(&sample("day1.csv"), &cfg, Utc::now()).unwrap());
    assert_eq!(m.outcome, Outcome::Rejected);
    let files = snapshot(dir.path());
    assert!(
        !files.keys().any(|k| k.starts_with(Table::FactOrderLine.name()) || k.starts_with("quarantine")),
        "{files:?}"
    );
    assert!(files.contains_key(&format!("manifests/{}.json", m.file_id)));
    // A rejected file is not a duplicate: with a looser threshold it can be ingested.
    let m = ingested(lake.ingest_path(&sample("day1.csv"), &IngestConfig::default(), Utc::now()).unwrap());
    assert_eq!(m.outcome, Outcome::Published);
}

#[test]
fn a_file_refused_whole_says_why_in_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "client_id,client_name\n1,a\n").unwrap();
    let lake = LocalLake::open(dir.path().join("lake")).unwrap();
    let m = ingested(lake.ingest_path(&bad, &IngestConfig::default(), Utc::now()).unwrap());
    assert_eq!(m.outcome, Outcome::Failed);
    assert_eq!(m.error.as_ref().map(|e| e.code.as_str()), Some("missing_column"));
    assert_eq!(m.bytes, "client_id,client_name\n1,a\n".len() as u64, "the manifest records the bytes read");
    assert!(m.outputs.is_empty());
    let (state, _) = lake.load_state().unwrap();
    assert!(state.is_empty());
}

#[test]
fn local_instants_never_tie_and_latest_state_wins() {
    let dir = tempfile::tempdir().unwrap();
    let lake = LocalLake::open(dir.path()).unwrap();
    let cfg = IngestConfig::default();
    let frozen = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
    let a = ingested(lake.ingest_path(&sample("day1.csv"), &cfg, frozen).unwrap());
    let b = ingested(lake.ingest_path(&sample("day2.csv"), &cfg, frozen).unwrap());
    assert!(b.ingested_at_micros > a.ingested_at_micros);
    let (state, history) = lake.load_state().unwrap();
    // day2 moves 12 lines of day1 from created to delivered/broken and adds 14 lines.
    assert_eq!(state.len(), 42 + 14);
    let updated = history.changes.iter().filter(|c| c.from.is_some()).count();
    assert_eq!(updated, 12);
    let line = state.lines().into_iter().find(|l| l.key.order_id == 7000 && l.key.product_id == 106).unwrap().clone();
    assert_eq!(line.status, duff_core::Status::Broken);
    assert_eq!(line.first_seen_micros, a.ingested_at_micros);
}

/// What runs just before the racing store's first create-if-absent.
type Hook = Box<dyn FnOnce(&duff_lake::DirStore) + Send>;

/// A store on which another ingest commits just before this one does.
struct Racing {
    inner: duff_lake::DirStore,
    hook: std::sync::Mutex<Option<Hook>>,
}

impl duff_lake::Store for Racing {
    fn get(&self, key: &str) -> duff_lake::Result<Option<Vec<u8>>> {
        self.inner.get(key)
    }
    fn list(&self, prefix: &str) -> duff_lake::Result<Vec<String>> {
        self.inner.list(prefix)
    }
    fn put_file(&self, key: &str, path: &Path) -> duff_lake::Result<()> {
        self.inner.put_file(key, path)
    }
    fn put_bytes(&self, key: &str, bytes: &[u8]) -> duff_lake::Result<()> {
        self.inner.put_bytes(key, bytes)
    }
    fn put_if_absent(&self, key: &str, bytes: &[u8]) -> duff_lake::Result<bool> {
        let hook = self.hook.lock().unwrap().take();
        if let Some(h) = hook {
            h(&self.inner);
        }
        self.inner.put_if_absent(key, bytes)
    }
    fn delete(&self, key: &str) -> duff_lake::Result<()> {
        self.inner.delete(key)
    }
    fn location(&self) -> String {
        self.inner.location()
    }
}

fn racing_lake(dir: &Path, other: &'static str, other_instant: i64) -> duff_lake::Lake<Racing> {
    let inner = duff_lake::DirStore::open(dir.join("lake")).unwrap();
    let staging = dir.join("staging-b");
    let hook: Hook = Box::new(move |store: &duff_lake::DirStore| {
        let lake = duff_lake::Lake::new(store.clone(), staging);
        let r = lake.ingest_file(&sample(other), other, other_instant, &IngestConfig::default()).unwrap();
        assert!(matches!(r, IngestResult::Ingested(_)));
    });
    duff_lake::Lake::new(Racing { inner, hook: std::sync::Mutex::new(Some(hook)) }, dir.join("staging-a"))
}

#[test]
fn concurrent_ingests_of_the_same_content_leave_only_the_winner() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 27, 23, 59, 59).unwrap().timestamp_micros();
    let t1 = t0 + 2_000_000; // the next day: other partition keys
    let lake = racing_lake(dir.path(), "day1.csv", t1);
    let r = lake.ingest_file(&sample("day1.csv"), "day1.csv", t0, &IngestConfig::default()).unwrap();
    let winner = match r {
        IngestResult::Duplicate(m) => m,
        IngestResult::Ingested(m) => panic!("the loser committed {m:?}"),
    };
    assert_eq!(winner.ingested_at_micros, t1);
    let files = snapshot(&dir.path().join("lake"));
    let data: Vec<&String> = files
        .keys()
        .filter(|k| k.ends_with(".parquet") && !k.starts_with("dim_status") && !k.starts_with("dim_channel"))
        .collect();
    let mut expected: Vec<&String> = winner.outputs.iter().map(|o| &o.key).collect();
    expected.sort();
    assert_eq!(data, expected, "only the winner's objects remain");
}

#[test]
fn concurrent_ingests_of_different_files_both_land() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap().timestamp_micros();
    let lake = racing_lake(dir.path(), "day2.csv", t0 + 1);
    let r = lake.ingest_file(&sample("day1.csv"), "day1.csv", t0, &IngestConfig::default()).unwrap();
    assert!(matches!(r, IngestResult::Ingested(_)));
    let local = LocalLake::open(dir.path().join("lake")).unwrap();
    assert_eq!(local.manifests().unwrap().len(), 2);
    let (state, history) = local.load_state().unwrap();
    assert_eq!(state.len(), 42 + 14);
    assert_eq!(history.changes.iter().filter(|c| c.from.is_some()).count(), 12);
}

#[test]
fn models_are_rebuilt_whole_and_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let lake = LocalLake::open(dir.path()).unwrap();
    let t = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
    ingested(lake.ingest_path(&sample("day1.csv"), &IngestConfig::default(), t).unwrap());
    ingested(lake.ingest_path(&sample("day2.csv"), &IngestConfig::default(), t).unwrap());
    let first = lake.refresh_models().unwrap();
    let snap = snapshot(dir.path());
    assert_eq!(lake.refresh_models().unwrap(), first);
    assert_eq!(snapshot(dir.path()), snap, "a rebuild writes the same bytes");
    let rows: BTreeMap<String, usize> = first.into_iter().collect();
    assert_eq!(rows["order_line_current"], 56);
    assert_eq!(rows["fact_order_lifecycle"], 56);
    assert_eq!(rows["fact_order_status_event"], 56 + 12);
    let build = String::from_utf8(snap["models/_build.json"].clone()).unwrap();
    assert!(build.contains("\"files\":[\""), "{build}");
    let current =
        duff_core::read_parquet(snap["models/order_line_current/order_line_current.parquet"].clone()).unwrap();
    assert_eq!(current[0].num_rows(), 56);
}

#[test]
fn a_file_with_repeated_lines_is_read_twice_and_equals_one_pass() {
    // The lake defers the search for repeated lines and reads such a file again; the
    // result must equal the one-pass ingest of the core (full line index).
    let dir = tempfile::tempdir().unwrap();
    let lake = LocalLake::open(dir.path()).unwrap();
    let csv = std::fs::read_to_string(sample("day1.csv")).unwrap();
    let mut lines: Vec<&str> = csv.lines().collect();
    let repeated = lines[3];
    lines.push(repeated);
    lines.insert(10, repeated);
    let text = lines.join("\n") + "\n";
    let path = dir.path().join("repeats.csv");
    std::fs::write(&path, &text).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
    let m = ingested(lake.ingest_path(&path, &IngestConfig::default(), now).unwrap());
    assert_eq!(m.quarantined_by_reason.get("duplicate_line"), Some(&2), "{m:?}");

    let meta = m.meta().unwrap();
    let mut sink = duff_core::CollectSink::default();
    let one = duff_core::ingest_bytes(meta, IngestConfig::default(), text.as_bytes(), &mut sink).unwrap();
    assert_eq!(m, one);
    let files = snapshot(dir.path());
    for out in &m.outputs {
        let got = duff_core::read_parquet(files[&out.key].clone()).unwrap();
        // Both read back the same way: equal batches mean equal rows in equal order.
        let want = duff_core::read_parquet(duff_core::to_parquet_bytes(&sink.batches[&out.table]).unwrap()).unwrap();
        assert_eq!(got, want, "{}", out.table.name());
    }
}

#[test]
fn a_file_ingested_in_parts_equals_one_pass() {
    // Small parts force the fan-out on the sample file, planned or cut as read; quoted
    // fields and a repeated line included. Everything but how rows are cut into objects
    // must equal one pass.
    let planned = duff_lake::FanOutConfig { part_bytes: 300, threads: 2, sequence_part_bytes: u64::MAX / 2 };
    let in_sequence = duff_lake::FanOutConfig { part_bytes: u64::MAX / 2, threads: 2, sequence_part_bytes: 300 };
    for (name, fan) in [("planned", planned), ("in_sequence", in_sequence)] {
        parts_equal_one_pass(name, fan);
    }
}

fn parts_equal_one_pass(name: &str, fan: duff_lake::FanOutConfig) {
    let csv = std::fs::read_to_string(sample("day1.csv")).unwrap();
    let mut lines: Vec<&str> = csv.lines().collect();
    let repeated = lines[5];
    lines.push("7001,\"Quoted, with\nnewline\",9001,101,Duff,1.00,1,0.5,Retail,created");
    lines.push(repeated);
    let text = lines.join("\n") + "\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("parts.csv");
    std::fs::write(&path, &text).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
    let cfg = IngestConfig { reject_threshold_ppm: 1_000_000, ..IngestConfig::default() };

    let one_lake = LocalLake::open(dir.path().join("one")).unwrap();
    let one = ingested(one_lake.ingest_path(&path, &cfg, now).unwrap());
    let parts_lake = LocalLake::open(dir.path().join("parts")).unwrap().with_fan_out(fan);
    let parts = ingested(parts_lake.ingest_path(&path, &cfg, now).unwrap());

    let facts = parts.outputs.iter().filter(|o| o.table == Table::FactOrderLine).count();
    assert!(facts > 3, "{name}: the file was cut into parts: {:?}", parts.outputs);
    assert!(parts.outputs.iter().any(|o| o.key.ends_with("-00001.parquet")));
    assert_eq!(parts.quarantined_by_reason.get("duplicate_line"), Some(&1));
    let files = snapshot(&dir.path().join("parts"));
    for out in &parts.outputs {
        let rows: usize = duff_core::read_parquet(files[&out.key].clone()).unwrap().iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows as u64, out.rows, "{}", out.key);
    }
    let (mut a, mut b) = (one.clone(), parts.clone());
    a.outputs.clear();
    b.outputs.clear();
    assert_eq!(a, b, "{name}");
    // The same lines, the same reports.
    let one_state = one_lake.load_state().unwrap().0.to_batch().unwrap();
    let parts_state = parts_lake.load_state().unwrap().0.to_batch().unwrap();
    assert_eq!(one_state, parts_state, "{name}");
    assert!(!dir.path().join("parts/_fanout").exists(), "no empty work folder stays");
    // Nothing but the committed objects remains: the work objects are gone.
    let named: Vec<&str> = parts.outputs.iter().map(|o| o.key.as_str()).collect();
    for key in files.keys() {
        let expected = named.contains(&key.as_str())
            || key.starts_with("manifests/")
            || key.starts_with("dim_channel/")
            || key.starts_with("dim_status/");
        assert!(expected, "{name}: left over: {key}");
    }
}

/// A file of the samples with a repeated line and a quoted newline, and the one-pass lake of it.
fn parts_fixture(dir: &Path) -> (PathBuf, duff_core::Manifest, IngestConfig, chrono::DateTime<Utc>) {
    let csv = std::fs::read_to_string(sample("day1.csv")).unwrap();
    let mut lines: Vec<&str> = csv.lines().collect();
    let repeated = lines[3];
    lines.push("7001,\"Quoted, with\nnewline\",9001,101,Duff,1.00,1,0.5,Retail,created");
    lines.push(repeated);
    let text = lines.join("\n") + "\n";
    let path = dir.join("steps.csv");
    std::fs::write(&path, &text).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
    let cfg = IngestConfig { reject_threshold_ppm: 1_000_000, ..IngestConfig::default() };
    let one = ingested(LocalLake::open(dir.join("one")).unwrap().ingest_path(&path, &cfg, now).unwrap());
    (path, one, cfg, now)
}

#[test]
fn the_fan_out_steps_run_apart_in_any_order_and_retried() {
    // As the Step Functions fan-out runs them: plan, parts in any order (one retried), a
    // merge tried too early, the merge, and a duplicate merge.
    let dir = tempfile::tempdir().unwrap();
    let (path, one, cfg, now) = parts_fixture(dir.path());
    let lake = LocalLake::open(dir.path().join("steps")).unwrap();
    let file = duff_lake::FileSource::open(&path).unwrap();
    let planned = duff_core::fanout::plan(&cfg, &file, 200).unwrap();
    let micros = now.timestamp_micros();
    let duff_lake::PlanOutcome::Parts { key, parts, .. } =
        lake.plan_parts(planned, &path.display().to_string(), micros, &cfg).unwrap()
    else {
        panic!("expected parts");
    };
    assert!(parts > 3, "{parts} parts");
    let source_of = |_: duff_core::fanout::PartRange| -> duff_lake::Result<Box<dyn duff_core::fanout::ByteSource>> {
        Ok(Box::new(duff_lake::FileSource::open(&path)?))
    };
    let mut rows = [0u64; 3];
    for k in (1..parts).rev() {
        let r = lake.ingest_part(&key, k, &source_of, &cfg).unwrap();
        for (t, n) in rows.iter_mut().zip(r.rows) {
            *t += n;
        }
    }
    let too_early = lake.merge_parts(&key, &cfg, &source_of);
    assert!(
        matches!(too_early, Err(duff_lake::Error::MissingObject { ref key }) if key.ends_with("part-00000.json")),
        "{too_early:?}"
    );
    let r = lake.ingest_part(&key, 0, &source_of, &cfg).unwrap();
    for (t, n) in rows.iter_mut().zip(r.rows) {
        *t += n;
    }
    assert_eq!(lake.ingest_part(&key, 0, &source_of, &cfg).unwrap(), r, "a retried part reports the same");
    assert!(lake.ingest_part(&key, parts, &source_of, &cfg).is_err(), "no such part");
    // The parts' first readings count the repeated line as accepted; the merge quarantines it.
    assert_eq!(rows[0], one.rows_read);

    let merged = ingested(lake.merge_parts(&key, &cfg, &source_of).unwrap());
    let (mut a, mut b) = (one.clone(), merged.clone());
    a.outputs.clear();
    b.outputs.clear();
    assert_eq!(a, b);
    assert_eq!(merged.quarantined_by_reason.get("duplicate_line"), Some(&1));
    assert!(!snapshot(&dir.path().join("steps")).keys().any(|k| k.starts_with("_fanout")), "work objects removed");
    assert!(matches!(lake.merge_parts(&key, &cfg, &source_of).unwrap(), IngestResult::Duplicate(_)));
    // A late part of another run of the same event: nothing to do, no error.
    assert!(lake.ingest_part(&key, 1, &source_of, &cfg).unwrap().published_already);
    // Planning the same content again: a duplicate at once.
    // (A plan stored again with other parts is covered below.)
    let planned = duff_core::fanout::plan(&cfg, &file, 200).unwrap();
    assert!(matches!(
        lake.plan_parts(planned, "again.csv", micros + 1, &cfg).unwrap(),
        duff_lake::PlanOutcome::Done(r) if matches!(*r, IngestResult::Duplicate(_))
    ));
}

#[test]
fn a_plan_stored_again_with_other_parts_never_mixes_their_outputs() {
    // A run cut the file in parts of 200 bytes and ingested some; a retry of the same event
    // after the part size changed cuts it in parts of 500: the merge must see only the
    // second cut's parts.
    let dir = tempfile::tempdir().unwrap();
    let (path, one, cfg, now) = parts_fixture(dir.path());
    let lake = LocalLake::open(dir.path().join("replan")).unwrap();
    let file = duff_lake::FileSource::open(&path).unwrap();
    let source = path.display().to_string();
    let micros = now.timestamp_micros();
    let plan_with = |bytes: u64| match lake
        .plan_parts(duff_core::fanout::plan(&cfg, &file, bytes).unwrap(), &source, micros, &cfg)
        .unwrap()
    {
        duff_lake::PlanOutcome::Parts { key, parts, .. } => (key, parts),
        other => panic!("expected parts, got {other:?}"),
    };
    let source_of = |_: duff_core::fanout::PartRange| -> duff_lake::Result<Box<dyn duff_core::fanout::ByteSource>> {
        Ok(Box::new(duff_lake::FileSource::open(&path)?))
    };
    let (key, small) = plan_with(200);
    for k in 0..small {
        lake.ingest_part(&key, k, &source_of, &cfg).unwrap();
    }
    let (again, large) = plan_with(500);
    assert_eq!(again, key, "same file, same instant: the same work folder");
    assert!(large < small);
    assert!(lake.merge_parts(&key, &cfg, &source_of).is_err(), "the new cut's parts are not ingested yet");
    for k in 0..large {
        lake.ingest_part(&key, k, &source_of, &cfg).unwrap();
    }
    let merged = ingested(lake.merge_parts(&key, &cfg, &source_of).unwrap());
    let (mut a, mut b) = (one.clone(), merged.clone());
    a.outputs.clear();
    b.outputs.clear();
    assert_eq!(a, b);
    assert_eq!(merged.outputs.iter().filter(|o| o.table == Table::FactOrderLine).count(), large);
    assert!(!snapshot(&dir.path().join("replan")).keys().any(|k| k.starts_with("_fanout")), "both cuts removed");
}

#[test]
fn a_file_refused_in_parts_leaves_no_objects() {
    let planned = duff_lake::FanOutConfig { part_bytes: 200, threads: 2, sequence_part_bytes: u64::MAX / 2 };
    let in_sequence = duff_lake::FanOutConfig { part_bytes: u64::MAX / 2, threads: 2, sequence_part_bytes: 200 };
    for (name, fan) in [("planned", planned), ("in_sequence", in_sequence)] {
        refused_in_parts_leaves_no_objects(name, fan);
    }
}

fn refused_in_parts_leaves_no_objects(name: &str, fan: duff_lake::FanOutConfig) {
    // A refused file leaves its manifest, and the static dimensions any commit writes.
    let committed_only =
        |k: &str| k.starts_with("manifests/") || k.starts_with("dim_channel/") || k.starts_with("dim_status/");
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _, now) = parts_fixture(dir.path());
    // Rejected at the merge (threshold 0: any quarantined row refuses the file).
    let strict = IngestConfig { reject_threshold_ppm: 0, ..IngestConfig::default() };
    let lake = LocalLake::open(dir.path().join("strict")).unwrap().with_fan_out(fan);
    let m = ingested(lake.ingest_path(&path, &strict, now).unwrap());
    assert_eq!(m.outcome, Outcome::Rejected, "{name}");
    let keys: Vec<String> = snapshot(&dir.path().join("strict")).into_keys().collect();
    assert!(keys.iter().all(|k| committed_only(k)), "{name}: {keys:?}");
    // Refused at the plan (or, read in sequence, by the first part): a missing column.
    let bad = dir.path().join("bad.csv");
    let mut text = std::fs::read_to_string(&path).unwrap().replacen("status", "state", 1);
    text.push_str(&"\n".repeat(500));
    std::fs::write(&bad, text).unwrap();
    let lake = LocalLake::open(dir.path().join("bad")).unwrap().with_fan_out(fan);
    let m = ingested(lake.ingest_path(&bad, &IngestConfig::default(), now).unwrap());
    assert_eq!(m.outcome, Outcome::Failed, "{name}");
    assert!(m.message.as_deref().unwrap_or_default().contains("status"), "{name}: {:?}", m.message);
    let keys: Vec<String> = snapshot(&dir.path().join("bad")).into_keys().collect();
    assert!(keys.iter().all(|k| committed_only(k)), "{name}: {keys:?}");
    // A quote left open at the end: refused by the last part, after the others were staged.
    let open = dir.path().join("open.csv");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("7002,\"never closed,9002,101,Duff,1.00,1,0.5,Retail,created\n");
    std::fs::write(&open, text).unwrap();
    let lake = LocalLake::open(dir.path().join("open")).unwrap().with_fan_out(fan);
    let m = ingested(lake.ingest_path(&open, &IngestConfig::default(), now).unwrap());
    assert_eq!(m.outcome, Outcome::Failed, "{name}");
    assert_eq!(m.error.as_ref().map(|e| e.code.as_str()), Some("unterminated_quote"), "{name}: {m:?}");
    let keys: Vec<String> = snapshot(&dir.path().join("open")).into_keys().collect();
    assert!(keys.iter().all(|k| committed_only(k)), "{name}: {keys:?}");
}

#[test]
fn the_serving_state_of_a_generated_lake_equals_the_reference() {
    // A generated file, the samples, and day2 updating statuses of day1: every report of
    // the serving state equals the reference functions over the full current state.
    let dir = tempfile::tempdir().unwrap();
    let lake = LocalLake::open(dir.path().join("lake")).unwrap();
    let generated = dir.path().join("gen.csv");
    let mut out = std::fs::File::create(&generated).unwrap();
    let gen_cfg = duff_testkit::generate::Config { rows: 3000, bad_frac: 0.01, ..Default::default() };
    duff_testkit::generate::write_orders(&mut out, &gen_cfg).unwrap();
    drop(out);
    let cfg = IngestConfig { reject_threshold_ppm: 1_000_000, ..IngestConfig::default() };
    let t = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
    for (i, path) in [generated, sample("day1.csv"), sample("day2.csv"), sample("orders.csv")].iter().enumerate() {
        ingested(lake.ingest_path(path, &cfg, t + chrono::Duration::seconds(i as i64)).unwrap());
        lake.update_serving().unwrap();
    }
    let (state, _) = lake.load_state().unwrap();
    let snapshot = lake.serving_snapshot().unwrap().unwrap();
    for filter in [
        duff_core::reports::ReportFilter::default(),
        duff_core::reports::ReportFilter { status: Some(duff_core::Status::Delivered), ..Default::default() },
        duff_core::reports::ReportFilter { client_id: Some(1002), ..Default::default() },
    ] {
        for r in duff_core::reports::Report::ALL {
            assert_eq!(snapshot.answer(&lake, r, &filter).unwrap(), state.report(r, &filter), "{r:?} {filter:?}");
        }
    }
}

/// The bytes a lake reports reading add up to its passes over the file: the hash and the
/// rows, and one more when the file repeats a line (the second reading finds them), or
/// only the parts that hold a repeat, for a file cut into parts as it is read.
#[test]
fn progress_counts_every_byte_of_every_pass() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let read = Arc::new(AtomicU64::new(0));
    let seen = read.clone();
    let lake = LocalLake::open(dir.path()).unwrap().with_progress(duff_lake::Progress::to(move |n| {
        seen.fetch_add(n, Ordering::Relaxed);
    }));
    let plain = sample("day1.csv");
    let size = std::fs::metadata(&plain).unwrap().len();
    let at = Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap();
    lake.ingest_path(&plain, &IngestConfig::default(), at).unwrap();
    assert_eq!(read.swap(0, Ordering::Relaxed), 2 * size);

    let twice = dir.path().join("twice.csv");
    let row = "1,Moe,10,102,Duff Classic,2.50,6,0.33,Retail,created";
    std::fs::write(&twice, duff_testkit::csv_file(&[row, "2,Barney,11,103,Duff Lite,2.00,6,0.5,B2B,created", row]))
        .unwrap();
    let size = std::fs::metadata(&twice).unwrap().len();
    let m = ingested(
        lake.ingest_path(&twice, &IngestConfig { reject_threshold_ppm: 1_000_000, ..IngestConfig::default() }, at)
            .unwrap(),
    );
    assert_eq!(m.rows_quarantined, 1, "{m:?}");
    assert_eq!(read.swap(0, Ordering::Relaxed), 3 * size);

    // Cut into parts as it is read: only the part holding the repeat is read again.
    let fan = duff_lake::FanOutConfig { part_bytes: u64::MAX / 2, threads: 1, sequence_part_bytes: 200 };
    let lake = lake.with_fan_out(fan);
    let long = dir.path().join("long.csv");
    let mut rows: Vec<String> =
        (0..40).map(|o| format!("1,Moe,{},102,Duff Classic,2.50,6,0.33,Retail,created", 100 + o)).collect();
    rows.push(rows[39].clone());
    std::fs::write(&long, duff_testkit::csv_file(&rows)).unwrap();
    let size = std::fs::metadata(&long).unwrap().len();
    let m = ingested(
        lake.ingest_path(&long, &IngestConfig { reject_threshold_ppm: 1_000_000, ..IngestConfig::default() }, at)
            .unwrap(),
    );
    assert_eq!(m.quarantined_by_reason.get("duplicate_line"), Some(&1), "{m:?}");
    assert!(m.outputs.iter().any(|o| o.key.ends_with("-00005.parquet")), "in parts: {m:?}");
    let read = read.load(Ordering::Relaxed);
    assert!(read > 2 * size && read <= 2 * size + 400, "{read} bytes read for {size}");
}
