//! The serving state in a lake: generations folded after commits equal the reference over
//! every published file, through compactions, racing writers, damage and rebuilds.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail loudly")]

use chrono::{TimeZone, Utc};
use duff_core::reports::{self, Report, ReportFilter};
use duff_core::{Channel, IngestConfig, Status};
use duff_lake::{Lake, LocalLake, ServingConfig, ServingSnapshot, Store};
use duff_testkit::{copy_dir, csv_file, order_rows, sample};
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Duration;

/// Compacts often and splits bases in many client partitions, so that small lakes go
/// through every path.
/// Sorts new versions 7 at a time and folds 5 lines at a time, too.
fn tiny() -> ServingConfig {
    ServingConfig {
        max_runs: 2,
        min_compaction_lines: 0,
        lines_per_partition: 8,
        grace: Duration::ZERO,
        chunk_lines: 7,
        window_lines: 5,
        // Row groups smaller than the fold's batches: a window's orders span several.
        row_group_lines: 3,
        model_range_lines: 10,
    }
}

fn lenient() -> IngestConfig {
    IngestConfig { reject_threshold_ppm: 1_000_000, ..IngestConfig::default() }
}

fn at(second: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, second).unwrap()
}

/// A file of generated lines: `n` orders from `start`, statuses moved on by `shift`, and
/// from `shift` 3 on, clients moved too (a line can change client between files).
fn orders(start: i64, n: i64, shift: usize) -> String {
    csv_file(&order_rows(start, n, shift, 7, i64::from(shift >= 3)))
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn filters() -> Vec<ReportFilter> {
    let mut out = vec![ReportFilter::default()];
    for channel in [None, Some(Channel::B2B)] {
        for status in [None, Some(Status::Broken)] {
            for client_id in [None, Some(1003), Some(424242)] {
                for product_id in [None, Some(101)] {
                    out.push(ReportFilter { channel, status, client_id, product_id });
                }
            }
        }
    }
    out
}

/// Every report and filter answered by the snapshot equals the reference over every
/// published file; and the client's lines equal the reference's.
fn assert_serves_the_lake<S: Store>(lake: &Lake<S>, snapshot: &ServingSnapshot) {
    let (state, _) = lake.load_state().unwrap();
    assert_eq!(snapshot.generation.lines, state.len() as u64);
    for f in filters() {
        for r in Report::ALL {
            let want = state.report(r, &f);
            let have = snapshot.answer(lake, r, &f).unwrap();
            assert_eq!(have, want, "{r:?} {f:?}");
        }
    }
    for client in 1000..1008 {
        let have: Vec<_> =
            lake.client_lines(snapshot, client).unwrap().into_iter().map(|l| (l.key, l.status)).collect();
        let want: Vec<_> = state.client_lines(client).into_iter().map(|l| (l.key, l.status)).collect();
        assert_eq!(have, want, "client {client}");
        assert_pages_are_the_lines(lake, snapshot, client);
    }
    let _ = reports::totals(&state, &ReportFilter::default());
}

/// Every page of a client's lines, under a few filters and page sizes, walked to its end,
/// equals the client's lines filtered and cut.
fn assert_pages_are_the_lines<S: Store>(lake: &Lake<S>, snapshot: &ServingSnapshot, client: i64) {
    let lines = lake.client_lines(snapshot, client).unwrap();
    type Keep = fn(Channel, Status) -> bool;
    let keeps: [(&str, Keep); 3] = [
        ("all", |_, _| true),
        ("delivered", |_, s| s == Status::Delivered),
        ("not retail", |c, _| c != Channel::Retail),
    ];
    for (name, keep) in keeps {
        for limit in [1, 2, 5, 1000] {
            let mut after = None;
            let mut pages = 0;
            loop {
                let page = lake.client_page(snapshot, client, after, |h| keep(h.channel, h.status), limit).unwrap();
                let want: Vec<_> = lines
                    .iter()
                    .filter(|l| keep(l.channel, l.status) && after.is_none_or(|a| l.key > a))
                    .take(limit)
                    .cloned()
                    .collect();
                assert_eq!(page, want, "client {client}, {name}, limit {limit}, after {after:?}");
                pages += 1;
                match page.last() {
                    Some(last) if page.len() == limit => after = Some(last.key),
                    _ => break,
                }
                assert!(pages <= lines.len() + 1);
            }
        }
    }
}

/// Never compacts (runs pile up on the first base).
fn piling() -> ServingConfig {
    ServingConfig { max_runs: 100, min_compaction_lines: u64::MAX, ..tiny() }
}

#[test]
fn generations_follow_the_files_and_answer_like_the_reference() {
    for cfg in [tiny(), piling()] {
        generations_follow_the_files(cfg);
    }
}

fn generations_follow_the_files(cfg: ServingConfig) {
    let dir = tempfile::tempdir().unwrap();
    let lake = LocalLake::open(dir.path().join("lake")).unwrap().with_serving(cfg);
    assert!(lake.serving_snapshot().unwrap().is_none(), "no generation before the first file");
    // Day after day: new orders, and updates of earlier ones (statuses move on).
    let days = [orders(1, 30, 0), orders(20, 30, 1), orders(1, 10, 3), orders(45, 5, 1), orders(5, 40, 4)];
    for (i, text) in days.iter().enumerate() {
        let path = write(dir.path(), &format!("day{i}.csv"), text);
        lake.ingest_path(&path, &lenient(), at(i as u32)).unwrap();
        let update = lake.update_serving().unwrap();
        assert_eq!(update.generation, Some(i as u64 + 1));
        assert_eq!(update.files_folded, 1);
        let snapshot = lake.serving_snapshot().unwrap().unwrap();
        assert_serves_the_lake(&lake, &snapshot);
    }
    // Nothing new: nothing done.
    let again = lake.update_serving().unwrap();
    assert_eq!((again.generation, again.files_folded), (Some(5), 0));
    let head = lake.serving_head().unwrap().unwrap();
    assert!(head.runs[0].by_client.len() > 1, "the base is split by client: {:?}", head.runs[0]);
    if cfg == piling() {
        assert_eq!(head.runs.len(), 5, "one run per fold on the first base");
    } else {
        assert!(head.runs.len() <= 3, "compacted: {:?}", head.runs);
    }
    // A reader loads a run's keys file, never its lines by key: without the `by_key` objects
    // of the runs past the base, a new snapshot still answers like the reference. The base
    // has no keys file (no run before it to replace lines of).
    assert_eq!(head.runs[0].keys, None, "{:?}", head.runs[0]);
    for r in head.runs.iter().skip(1) {
        assert!(r.keys.is_some(), "{r:?}");
        lake.store().delete(&r.by_key).unwrap();
    }
    let snapshot = lake.serving_snapshot().unwrap().unwrap();
    assert_serves_the_lake(&lake, &snapshot);
}

#[test]
fn a_delayed_file_folded_last_changes_only_what_it_wins() {
    let dir = tempfile::tempdir().unwrap();
    let lake = LocalLake::open(dir.path().join("lake")).unwrap().with_serving(tiny());
    let late = write(dir.path(), "late.csv", &orders(1, 20, 1));
    let early = write(dir.path(), "early.csv", &orders(1, 25, 0));
    let cfg = lenient();
    // The later instant arrives first; the earlier one (a delayed event) after.
    lake.ingest_file(&late, "incoming/late.csv", at(30).timestamp_micros(), &cfg).unwrap();
    lake.update_serving().unwrap();
    lake.ingest_file(&early, "incoming/early.csv", at(10).timestamp_micros(), &cfg).unwrap();
    lake.update_serving().unwrap();
    assert_serves_the_lake(&lake, &lake.serving_snapshot().unwrap().unwrap());
    // Equal instants: the source breaks the tie, whatever the order of arrival.
    let a = write(dir.path(), "a.csv", &orders(3, 4, 2));
    lake.ingest_file(&a, "incoming/z.csv", at(30).timestamp_micros(), &cfg).unwrap();
    lake.update_serving().unwrap();
    assert_serves_the_lake(&lake, &lake.serving_snapshot().unwrap().unwrap());
}

#[test]
fn a_rebuild_equals_the_folds_and_repairs_a_damaged_state() {
    let dir = tempfile::tempdir().unwrap();
    let lake = LocalLake::open(dir.path().join("lake")).unwrap().with_serving(tiny());
    for (i, name) in ["orders.csv", "day1.csv", "day2.csv"].iter().enumerate() {
        lake.ingest_path(&sample(name), &lenient(), at(i as u32)).unwrap();
        lake.update_serving().unwrap();
    }
    let folded = lake.serving_snapshot().unwrap().unwrap();
    // Damage: an aggregate object of the newest generation disappears.
    let cells = folded.generation.tables["cells_client"].clone();
    lake.store().delete(&cells).unwrap();
    let err = lake.serving_snapshot().unwrap_err();
    assert!(err.to_string().contains("cells_client") || format!("{err:?}").contains("cells_client"), "{err}");
    // One command rebuilds it from the lake alone, equal to what the folds gave.
    let rebuilt = lake.rebuild_serving().unwrap();
    assert_eq!(rebuilt.generation, Some(folded.generation.generation + 1));
    let snapshot = lake.serving_snapshot().unwrap().unwrap();
    assert_eq!(snapshot.cube, folded.cube);
    assert_eq!(
        snapshot.dims.clients.values().map(|c| (c.name.clone(), c.first_seen_micros)).collect::<Vec<_>>(),
        folded.dims.clients.values().map(|c| (c.name.clone(), c.first_seen_micros)).collect::<Vec<_>>()
    );
    assert_serves_the_lake(&lake, &snapshot);
}

#[test]
fn racing_writers_lose_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lake");
    let files: Vec<_> =
        (0..4).map(|i| write(dir.path(), &format!("f{i}.csv"), &orders(1 + i * 7, 12, i as usize))).collect();
    // Four ingests at once, each updating the serving state right after its commit.
    let barrier = Arc::new(Barrier::new(files.len()));
    std::thread::scope(|s| {
        for (i, f) in files.iter().enumerate() {
            let (barrier, root) = (barrier.clone(), root.clone());
            s.spawn(move || {
                let lake = Lake::new(duff_lake::DirStore::open(&root).unwrap(), root.join(format!(".staging-{i}")))
                    .with_serving(tiny());
                lake.ingest_file(f, &format!("incoming/f{i}.csv"), at(i as u32).timestamp_micros(), &lenient())
                    .unwrap();
                barrier.wait();
                lake.update_serving().unwrap();
            });
        }
    });
    let lake = LocalLake::open(&root).unwrap().with_serving(tiny());
    let head = lake.serving_head().unwrap().unwrap();
    assert_eq!(head.files.len(), 4, "every committed file is in the newest generation");
    assert_serves_the_lake(&lake, &lake.serving_snapshot().unwrap().unwrap());
}

/// A store on which another writer commits a generation just before this one does.
struct Racing {
    inner: duff_lake::DirStore,
    other: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl Store for Racing {
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
        if key.starts_with("serving/_generations/")
            && let Some(other) = self.other.lock().unwrap().take()
        {
            other();
        }
        self.inner.put_if_absent(key, bytes)
    }
    fn delete(&self, key: &str) -> duff_lake::Result<()> {
        self.inner.delete(key)
    }
    fn location(&self) -> String {
        self.inner.location()
    }
    fn local_path(&self, key: &str) -> Option<std::path::PathBuf> {
        self.inner.local_path(key)
    }
}

#[test]
fn a_writer_that_loses_the_commit_race_folds_again_on_top_of_the_winner() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lake");
    let a = write(dir.path(), "a.csv", &orders(1, 20, 0));
    let b = write(dir.path(), "b.csv", &orders(10, 20, 1));
    let plain = LocalLake::open(&root).unwrap().with_serving(tiny());
    plain.ingest_file(&a, "incoming/a.csv", at(1).timestamp_micros(), &lenient()).unwrap();
    // The lake as another writer saw it: file a only.
    let seen_before = dir.path().join("before");
    copy_dir(&root, &seen_before);
    plain.ingest_file(&b, "incoming/b.csv", at(2).timestamp_micros(), &lenient()).unwrap();
    // Just before this writer creates generation 1 (with a and b), the other writer, who
    // listed the lake before b was committed, commits its generation 1 (with a only).
    let (from, to) = (seen_before.clone(), root.clone());
    let racing = Lake::new(
        Racing {
            inner: duff_lake::DirStore::open(&root).unwrap(),
            other: std::sync::Mutex::new(Some(Box::new(move || {
                let other = LocalLake::open(&from).unwrap().with_serving(tiny());
                assert_eq!(other.update_serving().unwrap().generation, Some(1));
                copy_dir(&from.join("serving"), &to.join("serving"));
            }))),
        },
        root.join(".staging-racing"),
    )
    .with_serving(tiny());
    let update = racing.update_serving().unwrap();
    assert_eq!(update.retries, 1, "{update:?}");
    assert_eq!(update.generation, Some(2), "b is folded on top of the winner's generation");
    assert_eq!(update.files_folded, 1);
    let head = plain.serving_head().unwrap().unwrap();
    assert_eq!(head.files.len(), 2);
    assert_serves_the_lake(&plain, &plain.serving_snapshot().unwrap().unwrap());
    // The loser's first objects are gone: every object under serving/g... is named by a record.
    let named: Vec<String> = [plain.generation(1).unwrap().unwrap(), head]
        .iter()
        .flat_map(|g| g.objects().into_iter().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    for key in plain.store().list("serving/g").unwrap() {
        assert!(named.contains(&key), "{key} is named by no generation");
    }
}

#[test]
fn vacuum_keeps_what_readers_may_use_and_removes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let lake = LocalLake::open(dir.path().join("lake")).unwrap().with_serving(tiny());
    for i in 0..5 {
        let p = write(dir.path(), &format!("f{i}.csv"), &orders(1 + i * 3, 10, i as usize));
        lake.ingest_path(&p, &lenient(), at(i as u32)).unwrap();
        lake.update_serving().unwrap();
    }
    let head = lake.serving_head().unwrap().unwrap();
    let previous = lake.generation(head.generation - 1).unwrap().unwrap();
    let mut kept: Vec<&str> = head.objects().into_iter().collect();
    kept.extend(previous.objects());
    for key in lake.store().list("serving/g").unwrap() {
        assert!(kept.contains(&key.as_str()), "{key} should have been removed");
    }
    for key in &kept {
        assert!(lake.store().get(key).unwrap().is_some(), "{key} was removed");
    }
    // Records older than the previous generation are gone too.
    assert!(lake.generation(1).unwrap().is_none());
}

/// The lines of `orders`, listed order after order in the given order, each order's lines
/// by descending product, and every fifth order's first line listed again with its status
/// moved on (a second version of a line in one file: the later line wins).
fn listed(orders: impl IntoIterator<Item = i64>) -> Vec<String> {
    let mut out = Vec::new();
    for o in orders {
        let mut lines = order_rows(o, 1, 0, 7, 0);
        lines.reverse();
        if o % 5 == 0 {
            lines.push(order_rows(o, 1, 1, 7, 0)[0].clone());
        }
        out.extend(lines);
    }
    out
}

#[test]
fn facts_listed_by_order_stream_to_the_fold_and_others_merge_both_like_the_reference() {
    // Chunks of 5 lines, orders of 1 to 4: orders straddle chunks. A base of 8 lines per
    // partition sets its partitions aside; of 64, it has two and keeps them in memory.
    for lines_per_partition in [8, 64] {
        folds_alike(ServingConfig { chunk_lines: 5, window_lines: 5, lines_per_partition, ..piling() });
    }
}

fn folds_alike(cfg: ServingConfig) {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, Vec<Vec<String>>); 4] = [
        // Listed by order: streamed, a chunk at a time.
        ("ordered", vec![listed(1..=40)]),
        // The same lines, last order first: sorted in chunks set aside and merged.
        ("reversed", vec![listed((1..=40).rev())]),
        // Two files folded at once, the second's orders after the first's: one stream.
        ("two-ordered", vec![listed(1..=25), listed(26..=40)]),
        // Two files folded at once, both listed by order but the second starts over.
        ("two-overlapping", vec![listed(1..=30), listed(20..=40)]),
    ];
    let mut folded = Vec::new();
    for (name, files) in cases {
        let lake = LocalLake::open(dir.path().join(name)).unwrap().with_serving(cfg);
        for (i, rows) in files.iter().enumerate() {
            let path = write(dir.path(), &format!("{name}-{i}.csv"), &csv_file(rows));
            lake.ingest_path(&path, &lenient(), at(i as u32)).unwrap();
        }
        let update = lake.update_serving().unwrap();
        assert_eq!(update.files_folded, files.len(), "{name}");
        let snapshot = lake.serving_snapshot().unwrap().unwrap();
        let parts = snapshot.generation.runs[0].by_client.len();
        assert_eq!(parts > 2, cfg.lines_per_partition == 8, "{name}: {parts} partitions");
        assert_serves_the_lake(&lake, &snapshot);
        // Every value of a client's lines (read from its partition) is the reference's.
        let (state, _) = lake.load_state().unwrap();
        let values = |l: &duff_core::serving::Line| {
            let names = (l.client_name.to_string(), l.product_description.to_string());
            let figures = (l.unit_price, l.units, l.unit_volume, l.amount, l.volume);
            (l.key, l.client_id, names, figures, l.channel, l.status, l.version.line, l.first_seen_micros)
        };
        let mut lines = Vec::new();
        for client in 1000..1007 {
            let have = lake.client_lines(&snapshot, client).unwrap();
            let want: Vec<_> = state.client_lines(client).into_iter().map(values).collect();
            assert_eq!(have.iter().map(values).collect::<Vec<_>>(), want, "{name}: client {client}");
            lines.extend(have);
        }
        lines.sort_unstable_by_key(|l| l.key);
        folded.push((name, snapshot.cube, lines));
    }
    // Same lines in every lake (the overlapping case holds orders 1 to 40 too, the second
    // file winning where they overlap), and the ordered and reversed files fold alike.
    let (_, cube, lines) = &folded[0];
    assert_eq!((&folded[1].1, &folded[1].2.len()), (cube, &lines.len()));
    assert_eq!(
        folded[1].2.iter().map(|l| (l.key, l.status, l.first_seen_micros)).collect::<Vec<_>>(),
        lines.iter().map(|l| (l.key, l.status, l.first_seen_micros)).collect::<Vec<_>>()
    );
    assert_eq!(&folded[2].1, cube, "two files listed by order fold like one");
}
