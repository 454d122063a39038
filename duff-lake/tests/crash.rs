//! Crashes at every write: an ingest (one pass, and in parts) and the serving update that
//! follows it are stopped at each of their writes in turn (an error at that write, or a
//! "crash": every later call fails), then run again on a healthy store. Whatever the
//! moment, the lake then reads like a clean run's (manifests, reports, serving answers,
//! history by the SQL views' rule, models, ingestion index), `vacuum` at age 0 removes
//! every leftover and no committed object, and `check` finds nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail loudly")]

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use chrono::{TimeZone, Utc};
use duff_core::reports::{Report, ReportFilter};
use duff_core::{Channel, IngestConfig, Outcome, Status, Table};
use duff_lake::failpoint::{FailMode, Failpoint};
use duff_lake::{DirStore, FanOutConfig, IngestionIndex, Lake, LocalLake, ServingConfig, Store};
use duff_testkit::{copy_dir, csv_file, order_rows};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn lenient() -> IngestConfig {
    IngestConfig { reject_threshold_ppm: 1_000_000, ..IngestConfig::default() }
}

fn micros(second: u32) -> i64 {
    Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, second).unwrap().timestamp_micros()
}

/// Two client partitions, a compaction at every update and no grace: the serving update
/// writes a run, merges it into a new base, removes it, and vacuums the older generation.
fn serving() -> ServingConfig {
    ServingConfig {
        lines_per_partition: 32,
        max_runs: 0,
        min_compaction_lines: 0,
        grace: Duration::ZERO,
        ..ServingConfig::default()
    }
}

/// `n` orders from `start` (1 to 3 lines each), statuses moved on by `shift`, a bad row.
fn orders(start: i64, n: i64, shift: usize) -> String {
    let mut rows = order_rows(start, n, shift, 5, 0);
    rows.push("1001,Client 1001,x,100,Product 100,1.00,1,0.500,Retail,created".into());
    csv_file(&rows)
}

/// A crash scenario: a lake holding two files and their serving state (two generations),
/// then a third file ingested (as `fan_out` says) and folded.
struct Scenario {
    dir: tempfile::TempDir,
    base: PathBuf,
    file: PathBuf,
    fan_out: FanOutConfig,
}

const ONE_PASS: FanOutConfig = FanOutConfig { part_bytes: u64::MAX / 2, threads: 1, sequence_part_bytes: u64::MAX / 2 };
/// Parts of about 400 bytes, on one thread (the writes come in one order).
const PARTS: FanOutConfig = FanOutConfig { part_bytes: 400, threads: 1, sequence_part_bytes: u64::MAX / 2 };
/// One reading cut into parts of about 400 bytes as it goes.
const IN_SEQUENCE: FanOutConfig = FanOutConfig { part_bytes: u64::MAX / 2, threads: 1, sequence_part_bytes: 400 };

impl Scenario {
    fn new(fan_out: FanOutConfig) -> Scenario {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("day0.csv");
        std::fs::write(&first, orders(1, 12, 0)).unwrap();
        let file = dir.path().join("day1.csv");
        std::fs::write(&file, orders(6, 14, 1)).unwrap();
        let base = dir.path().join("base");
        let lake = LocalLake::open(&base).unwrap().with_serving(serving()).with_fan_out(ONE_PASS);
        lake.ingest_file(&first, "incoming/day0.csv", micros(0), &lenient()).unwrap();
        lake.update_serving().unwrap();
        let second = dir.path().join("day0b.csv");
        std::fs::write(&second, orders(30, 3, 2)).unwrap();
        lake.ingest_file(&second, "incoming/day0b.csv", micros(0) + 1, &lenient()).unwrap();
        lake.update_serving().unwrap();
        Scenario { dir, base, file, fan_out }
    }

    /// A fresh copy of the base lake.
    fn copy(&self, name: &str) -> PathBuf {
        let root = self.dir.path().join(name);
        let _ = std::fs::remove_dir_all(&root);
        copy_dir(&self.base, &root);
        root
    }

    fn lake<S: Store>(&self, store: S, root: &Path, fan_out: FanOutConfig) -> Lake<S> {
        Lake::new(store, root.join(".staging")).with_serving(serving()).with_fan_out(fan_out)
    }

    /// The ingest and the serving update, on `lake`.
    fn run<S: Store>(&self, lake: &Lake<S>, instant: i64) -> duff_lake::Result<()> {
        lake.ingest_file(&self.file, "incoming/day1.csv", instant, &lenient())?;
        lake.update_serving()?;
        Ok(())
    }

    /// The writes of a clean run.
    fn writes(&self) -> Vec<String> {
        let root = self.copy("count");
        let store = Failpoint::new(DirStore::open(&root).unwrap(), FailMode::Fail, None);
        let lake = self.lake(store, &root, self.fan_out);
        self.run(&lake, micros(1)).unwrap();
        if std::env::var_os("SHOW_WRITES").is_some() {
            eprintln!("{:#?}", lake.store().writes());
        }
        lake.store().writes()
    }

    /// What a clean run at `instant` (in parts or not) reads like, and its keys.
    fn reference(&self, instant: i64, fan_out: FanOutConfig) -> (Observed, Vec<String>) {
        let root = self.copy("reference");
        let lake = self.lake(DirStore::open(&root).unwrap(), &root, fan_out);
        self.run(&lake, instant).unwrap();
        let observed = observe(&lake);
        (observed, keys(&lake))
    }
}

/// What the lake's readers see.
#[derive(Debug, PartialEq)]
struct Observed {
    manifests: Vec<String>,
    answers: Vec<String>,
    state: arrow_array::RecordBatch,
    history: arrow_array::RecordBatch,
    view_rows: Vec<String>,
    models: BTreeMap<String, Vec<u8>>,
    ingestions: Vec<(String, Outcome)>,
    /// The Athena symlink manifests of the serving tables, writers' nonces left out.
    athena: Vec<String>,
}

/// A key or text with the serving writers' nonces left out (`serving/g<n>-<nonce>/`).
fn without_nonces(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("serving/g") {
        let (head, tail) = rest.split_at(i + "serving/g".len());
        out.push_str(head);
        let digits = tail.get(..20).filter(|d| d.bytes().all(|b| b.is_ascii_digit()));
        match (digits, tail.get(20..21)) {
            (Some(d), Some("-")) => {
                out.push_str(d);
                out.push_str("-*");
                rest = tail.get(33..).unwrap_or_default();
            }
            _ => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// Every key of the lake, nonces left out.
fn keys<S: Store>(lake: &Lake<S>) -> Vec<String> {
    let mut keys: Vec<String> = lake.store().list("").unwrap().iter().map(|k| without_nonces(k)).collect();
    keys.sort();
    keys
}

fn filters() -> Vec<ReportFilter> {
    vec![
        ReportFilter::default(),
        ReportFilter { channel: Some(Channel::B2B), ..Default::default() },
        ReportFilter { status: Some(Status::Broken), ..Default::default() },
        ReportFilter { client_id: Some(1003), ..Default::default() },
        ReportFilter { client_id: Some(1002), product_id: Some(101), ..Default::default() },
    ]
}

/// The fact rows as the SQL views read them (`deploy/athena/views.sql`): every object under
/// `fact_order_line/`, keeping the rows whose `(file_id, ingested_at)` is a published file's.
fn view_rows<S: Store>(lake: &Lake<S>) -> Vec<String> {
    let published: BTreeSet<(String, i64)> = lake
        .manifests()
        .unwrap()
        .into_iter()
        .filter(|m| m.outcome == Outcome::Published)
        .map(|m| (m.file_id.clone(), m.ingested_at_micros))
        .collect();
    let mut rows = Vec::new();
    for key in lake.store().list(&format!("{}/", Table::FactOrderLine.name())).unwrap() {
        let bytes = lake.store().get(&key).unwrap().unwrap();
        for b in duff_core::parquet_io::parquet_batches(bytes).unwrap() {
            let b = b.unwrap();
            let col = |n: &str| b.column_by_name(n).unwrap().clone();
            let (order, product, line) = (col("order_id"), col("product_id"), col("line"));
            let (file, status, at) = (col("file_id"), col("status"), col("ingested_at"));
            for i in 0..b.num_rows() {
                let file_id = file.as_string::<i32>().value(i).to_owned();
                let at = at.as_primitive::<TimestampMicrosecondType>().value(i);
                if published.contains(&(file_id.clone(), at)) {
                    rows.push(format!(
                        "{} {} {} {} {file_id} {at}",
                        order.as_primitive::<Int64Type>().value(i),
                        product.as_primitive::<Int64Type>().value(i),
                        status.as_string::<i32>().value(i),
                        line.as_primitive::<Int64Type>().value(i),
                    ));
                }
            }
        }
    }
    rows.sort();
    rows
}

fn observe(lake: &Lake<DirStore>) -> Observed {
    let mut manifests: Vec<String> =
        lake.manifests().unwrap().iter().map(|m| String::from_utf8(m.to_json_line().unwrap()).unwrap()).collect();
    manifests.sort();
    let snapshot = lake.serving_snapshot().unwrap().unwrap();
    let mut answers = Vec::new();
    for f in filters() {
        for r in Report::ALL {
            answers.push(format!("{r:?} {f:?} {:?}", snapshot.answer(lake, r, &f).unwrap()));
        }
    }
    let (state, history) = lake.load_state().unwrap();
    lake.refresh_models().unwrap();
    let models = lake
        .store()
        .list(&format!("{}/", duff_lake::MODELS))
        .unwrap()
        .into_iter()
        .map(|k| {
            let bytes = lake.store().get(&k).unwrap().unwrap();
            (k, bytes)
        })
        .collect();
    let index = IngestionIndex::new(lake.store().clone(), Duration::ZERO);
    let ingestions = index.files().unwrap().files().iter().map(|m| (m.file_id.clone(), m.outcome)).collect();
    let athena = lake
        .store()
        .list("serving/_athena/")
        .unwrap()
        .iter()
        .map(|k| {
            let text = String::from_utf8(lake.store().get(k).unwrap().unwrap()).unwrap();
            format!("{k}: {}", without_nonces(&text.replace(&lake.store().location(), "<root>")))
        })
        .collect();
    Observed {
        manifests,
        answers,
        state: state.to_batch().unwrap(),
        history: history.to_batch().unwrap(),
        view_rows: view_rows(lake),
        models,
        ingestions,
        athena,
    }
}

/// `have` equals `want`, field by field (the first difference is named).
fn assert_same(have: &Observed, want: &Observed, at: &str) {
    let at = format!("{at}: the rerun reads unlike a clean run");
    assert_eq!(have.manifests, want.manifests, "{at}: manifests");
    assert_eq!(have.ingestions, want.ingestions, "{at}: ingestion index");
    assert_eq!(have.answers, want.answers, "{at}: serving answers");
    assert_eq!(have.state, want.state, "{at}: current state");
    assert_eq!(have.history, want.history, "{at}: status history");
    assert_eq!(have.view_rows, want.view_rows, "{at}: history by the views' rule");
    assert_eq!(have.models.keys().collect::<Vec<_>>(), want.models.keys().collect::<Vec<_>>(), "{at}: models");
    for (k, v) in &have.models {
        assert!(want.models.get(k) == Some(v), "{at}: model {k}");
    }
    assert_eq!(have.athena, want.athena, "{at}: Athena symlink manifests");
}

/// Every key a reader relies on: the objects of published manifests and of the newest
/// serving generation.
fn committed<S: Store>(lake: &Lake<S>) -> BTreeSet<String> {
    let mut keys: BTreeSet<String> = lake
        .manifests()
        .unwrap()
        .iter()
        .filter(|m| m.outcome == Outcome::Published)
        .flat_map(|m| m.outputs.iter().map(|o| o.key.clone()))
        .collect();
    if let Some(g) = lake.serving_head().unwrap() {
        keys.extend(g.objects().into_iter().map(str::to_owned));
    }
    keys
}

/// Stops the scenario at every write, in both modes, reruns it on a healthy store with
/// `rerun(n)` (instant, ingest configuration), and checks the lake against a clean run.
/// Only the writes for which `which` holds.
fn crash_at_every_write(
    scenario: &Scenario,
    which: impl Fn(&str) -> bool,
    rerun: impl Fn(usize) -> (i64, FanOutConfig),
) {
    let writes = scenario.writes();
    assert!(writes.len() > 5, "{writes:?}");
    let mut references: BTreeMap<(i64, bool), (Observed, Vec<String>)> = BTreeMap::new();
    for mode in [FailMode::Fail, FailMode::Crash] {
        for n in (0..writes.len()).filter(|&n| which(&writes[n])) {
            let at = format!("{mode:?} at write {n} ({})", writes[n]);
            let root = scenario.copy("crash");
            let store = Failpoint::new(DirStore::open(&root).unwrap(), mode, Some(n));
            let lake = scenario.lake(store, &root, scenario.fan_out);
            let result = scenario.run(&lake, micros(1));
            assert!(lake.store().tripped(), "{at}: the failpoint was not reached");
            if mode == FailMode::Crash {
                assert!(result.is_err(), "{at}: a crash is an error");
            }
            drop(lake);
            // The rerun, on a healthy store.
            let (instant, fan_out) = rerun(n);
            let healthy = scenario.lake(DirStore::open(&root).unwrap(), &root, fan_out);
            scenario.run(&healthy, instant).unwrap_or_else(|e| panic!("{at}: the rerun failed: {e:?}"));
            let file_id = duff_lake::hash_file(&scenario.file).unwrap();
            let m = healthy.manifest(&file_id).unwrap().unwrap();
            let in_parts = m.outputs.iter().any(|o| o.key.ends_with("-00001.parquet"));
            let final_cfg = if in_parts { scenario.fan_out } else { ONE_PASS };
            let (want, want_keys) = references
                .entry((m.ingested_at_micros, in_parts))
                .or_insert_with(|| scenario.reference(m.ingested_at_micros, final_cfg));
            let want = &*want;
            assert_same(&observe(&healthy), want, &at);
            // Vacuum at age 0: every leftover goes, no committed object does.
            let keep = committed(&healthy);
            let report = healthy.vacuum(Duration::ZERO, false).unwrap();
            for l in &report.removed {
                assert!(!keep.contains(&l.key), "{at}: vacuum removed the committed {}", l.key);
            }
            for k in &keep {
                assert!(healthy.store().get(k).unwrap().is_some(), "{at}: {k} is gone");
            }
            let check = healthy.check(Duration::ZERO).unwrap();
            assert!(check.is_clean(), "{at}: check after vacuum: {:#?}", check.problems);
            assert_eq!(&keys(&healthy), want_keys, "{at}: the objects after vacuum are a clean run's");
            let after = healthy.serving_snapshot().unwrap().unwrap();
            let answers: Vec<String> = filters()
                .iter()
                .flat_map(|f| Report::ALL.map(|r| format!("{r:?} {f:?} {:?}", after.answer(&healthy, r, f).unwrap())))
                .collect();
            assert_eq!(answers, want.answers, "{at}: answers after vacuum");
            assert_eq!(view_rows(&healthy), want.view_rows, "{at}: history after vacuum");
        }
    }
}

#[test]
fn a_one_pass_ingest_and_its_serving_update_survive_a_crash_at_every_write() {
    let scenario = Scenario::new(ONE_PASS);
    // The rerun: the same event again (same instant), or a later local run.
    crash_at_every_write(&scenario, |_| true, |n| (if n % 2 == 0 { micros(1) } else { micros(2) }, ONE_PASS));
}

#[test]
fn an_ingest_in_parts_survives_a_crash_at_every_write() {
    in_parts_survives_a_crash_at_every_write(PARTS, PARTS.part_bytes);
}

#[test]
fn an_ingest_cut_as_it_is_read_survives_a_crash_at_every_write() {
    in_parts_survives_a_crash_at_every_write(IN_SEQUENCE, IN_SEQUENCE.sequence_part_bytes);
}

/// An ingest in parts of `part_bytes` (planned, or cut as the file is read), stopped at
/// each write.
fn in_parts_survives_a_crash_at_every_write(in_parts: FanOutConfig, part_bytes: u64) {
    let scenario = Scenario::new(in_parts);
    let size = std::fs::metadata(&scenario.file).unwrap().len();
    assert!(size >= 4 * part_bytes, "{size} bytes: several parts");
    // The rerun: the same event (same instant) in parts again, in parts at a later
    // instant, or at the same instant in one pass (an earlier cut's part objects then
    // share the instant of the committed manifest).
    // The serving update's writes are the one-pass test's.
    crash_at_every_write(
        &scenario,
        |w| !w.contains(" serving/"),
        |n| match n % 3 {
            0 => (micros(1), in_parts),
            1 => (micros(2), in_parts),
            _ => (micros(1), ONE_PASS),
        },
    );
}

/// Leftovers are removed only past the age, and `check` lists them until then.
#[test]
fn leftovers_wait_for_their_age_and_check_lists_them() {
    let scenario = Scenario::new(PARTS);
    let writes = scenario.writes();
    // Crash at the manifest's commit: the objects and the work folder are put.
    let commit = writes.iter().position(|w| w.starts_with("put_if_absent manifests/")).unwrap();
    let root = scenario.copy("young");
    let store = Failpoint::new(DirStore::open(&root).unwrap(), FailMode::Crash, Some(commit));
    let lake = scenario.lake(store, &root, PARTS);
    assert!(scenario.run(&lake, micros(1)).is_err());
    let healthy = scenario.lake(DirStore::open(&root).unwrap(), &root, PARTS);
    let day = Duration::from_secs(24 * 3600);
    let dry = healthy.vacuum(Duration::ZERO, true).unwrap();
    assert!(dry.removed.iter().any(|l| l.kind == duff_lake::LeftoverKind::TableObject), "{dry:?}");
    let young = healthy.vacuum(day, false).unwrap();
    assert!(young.removed.is_empty() && young.kept_young == dry.removed.len(), "{young:?}");
    assert!(healthy.check(day).unwrap().is_clean(), "young leftovers are no problem yet");
    let found = healthy.check(Duration::ZERO).unwrap();
    assert_eq!(found.problems.len(), dry.removed.len(), "{found:#?}");
    assert!(found.problems.iter().all(|p| p.kind == duff_lake::ProblemKind::Leftover));
    // A dry run removed nothing; the real one removes what it listed.
    assert_eq!(healthy.check(Duration::ZERO).unwrap().problems.len(), dry.removed.len());
    let done = healthy.vacuum(Duration::ZERO, false).unwrap();
    let keys = |r: &duff_lake::VacuumReport| r.removed.iter().map(|l| l.key.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&done), keys(&dry));
    assert!(healthy.check(Duration::ZERO).unwrap().is_clean());
}

/// A damaged lake: `check` names every problem, a manifest that cannot be parsed blocks
/// neither the ingest of other files nor loses its objects to `vacuum`, and the serving
/// rebuild refuses to fold over it, naming its key.
#[test]
fn check_lists_damage_and_a_bad_manifest_blocks_no_other_file() {
    let dir = tempfile::tempdir().unwrap();
    let lake = LocalLake::open(dir.path().join("lake")).unwrap().with_serving(serving()).with_fan_out(ONE_PASS);
    let file = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let (a, b, c) = (file("a.csv", orders(1, 10, 0)), file("b.csv", orders(5, 10, 1)), file("c.csv", orders(40, 5, 2)));
    let ma = lake.ingest_file(&a, "a.csv", micros(0), &lenient()).unwrap().manifest().clone();
    let mb = lake.ingest_file(&b, "b.csv", micros(1), &lenient()).unwrap().manifest().clone();
    lake.update_serving().unwrap();
    assert!(lake.check(Duration::ZERO).unwrap().is_clean());

    // Damage: a's manifest overwritten with garbage, one of b's objects removed, another
    // truncated, an object of the serving state removed.
    let bad = format!("manifests/{}.json", ma.file_id);
    lake.store().put_bytes(&bad, b"{not json").unwrap();
    let gone = mb.outputs.iter().find(|o| o.table == Table::DimClient).unwrap().key.clone();
    lake.store().delete(&gone).unwrap();
    let cut = mb.outputs.iter().find(|o| o.table == Table::FactOrderLine).unwrap().key.clone();
    let bytes = lake.store().get(&cut).unwrap().unwrap();
    lake.store().put_bytes(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let head = lake.serving_head().unwrap().unwrap();
    let cells = head.tables["cells_total"].clone();
    lake.store().delete(&cells).unwrap();

    let report = lake.check(Duration::ZERO).unwrap();
    let found: Vec<(duff_lake::ProblemKind, &str)> = report.problems.iter().map(|p| (p.kind, p.key.as_str())).collect();
    use duff_lake::ProblemKind::*;
    assert_eq!(
        found,
        vec![
            (ManifestUnreadable, bad.as_str()),
            (ObjectMissing, gone.as_str()),
            (ObjectUnreadable, cut.as_str()),
            (ServingObjectMissing, cells.as_str())
        ],
        "{report:#?}"
    );

    // An unrelated new file still ingests; a rebuild of the serving state names the bad
    // manifest.
    let mc = lake.ingest_path(&c, &lenient(), Utc::now()).unwrap();
    assert!(matches!(&mc, duff_lake::IngestResult::Ingested(m) if m.outcome == Outcome::Published), "{mc:?}");
    let err = lake.rebuild_serving().unwrap_err();
    assert!(format!("{err}").contains(&bad), "{err}");
    // Vacuum keeps the objects named after the unreadable manifest's file id.
    let vacuumed = lake.vacuum(Duration::ZERO, false).unwrap();
    assert_eq!(vacuumed.unreadable_manifests, vec![bad.clone()]);
    assert!(vacuumed.removed.is_empty(), "{vacuumed:?}");
    for o in &ma.outputs {
        assert!(lake.store().get(&o.key).unwrap().is_some(), "{} kept", o.key);
    }
    // Once the manifest is back, the objects are committed again and nothing is a leftover.
    lake.store().put_bytes(&bad, &ma.to_json_line().unwrap()).unwrap();
    let left = lake.check(Duration::ZERO).unwrap();
    assert!(left.problems.iter().all(|p| p.key != bad && p.kind != Leftover), "{left:#?}");
}
