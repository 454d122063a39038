//! The ingestion index: manifests followed incrementally (only new and not-published ones
//! read again), the listing's pages and filters, data quality, and one file's quarantine.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail loudly")]

use chrono::{DateTime, TimeZone, Utc};
use duff_core::{IngestConfig, Manifest, Outcome, Table};
use duff_lake::{
    Day, DirStore, FanOutConfig, IngestResult, IngestionFilter, IngestionIndex, Lake, LocalLake, QuarantineQuery, Store,
};
use duff_testkit::{csv_file, sample};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap()
}

fn manifest(r: IngestResult) -> Manifest {
    match r {
        IngestResult::Ingested(m) => m,
        IngestResult::Duplicate(m) => panic!("unexpected duplicate of {}", m.source),
    }
}

/// A folder store that counts the reads of manifest objects.
#[derive(Debug, Clone)]
struct Counting {
    inner: DirStore,
    manifest_gets: Arc<AtomicU64>,
}

impl Store for Counting {
    fn get(&self, key: &str) -> duff_lake::Result<Option<Vec<u8>>> {
        if key.starts_with("manifests/") {
            self.manifest_gets.fetch_add(1, Ordering::Relaxed);
        }
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
        self.inner.put_if_absent(key, bytes)
    }
    fn delete(&self, key: &str) -> duff_lake::Result<()> {
        self.inner.delete(key)
    }
    fn location(&self) -> String {
        self.inner.location()
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn rows(n: usize, bad_every: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let status = if bad_every > 0 && i % bad_every == 0 { "lost" } else { "created" };
            format!("{},Moe,{},102,Duff Classic,2.50,6,0.33,Retail,{status}", 1000 + i % 7, 5000 + i)
        })
        .collect()
}

#[test]
fn a_refresh_reads_only_new_manifests_and_the_ones_not_published() {
    let dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let gets = Arc::new(AtomicU64::new(0));
    let store = Counting { inner: DirStore::open(dir.path().join("lake")).unwrap(), manifest_gets: gets.clone() };
    let lake = Lake::new(store.clone(), dir.path().join("staging"));
    let cfg = IngestConfig::default();
    // Published, failed (a missing column), rejected (half its rows quarantined).
    let published =
        manifest(lake.ingest_file(&sample("day1.csv"), "in/day1.csv", at(27, 8).timestamp_micros(), &cfg).unwrap());
    let bad = write(files.path(), "bad.csv", "order_id,status\n1,created\n");
    let failed = manifest(lake.ingest_file(&bad, "in/bad.csv", at(27, 9).timestamp_micros(), &cfg).unwrap());
    let half = write(files.path(), "half.csv", &csv_file(&rows(10, 2)));
    let rejected = manifest(lake.ingest_file(&half, "other/half.csv", at(28, 8).timestamp_micros(), &cfg).unwrap());
    assert_eq!(
        (published.outcome, failed.outcome, rejected.outcome),
        (Outcome::Published, Outcome::Failed, Outcome::Rejected)
    );

    let index = IngestionIndex::new(store, Duration::ZERO);
    gets.store(0, Ordering::Relaxed);
    let first = index.files().unwrap();
    assert_eq!(first.len(), 3);
    assert_eq!(gets.load(Ordering::Relaxed), 3);
    // Newest first.
    let sources: Vec<&str> = first.files().iter().map(|m| m.source.as_str()).collect();
    assert_eq!(sources, ["other/half.csv", "in/bad.csv", "in/day1.csv"]);

    // Again: the two refused files' manifests are read again (they may be replaced), the
    // published one is not.
    gets.store(0, Ordering::Relaxed);
    index.files().unwrap();
    assert_eq!(gets.load(Ordering::Relaxed), 2);
    assert_eq!(index.manifests_read(), 5);

    // The rejected content ingested again with a higher threshold is published: the same
    // manifest key, replaced; the index sees it.
    let lenient = IngestConfig { reject_threshold_ppm: 600_000, ..IngestConfig::default() };
    let again = manifest(lake.ingest_file(&half, "other/half.csv", at(28, 9).timestamp_micros(), &lenient).unwrap());
    assert_eq!((again.outcome, &again.file_id), (Outcome::Published, &rejected.file_id));
    // A new file.
    let more = write(files.path(), "more.csv", &csv_file(&rows(3, 0)));
    manifest(lake.ingest_file(&more, "in/more.csv", at(29, 8).timestamp_micros(), &cfg).unwrap());
    gets.store(0, Ordering::Relaxed);
    let now = index.files().unwrap();
    assert_eq!(gets.load(Ordering::Relaxed), 3, "the failed one, the rejected one (now published), the new one");
    assert_eq!(now.len(), 4);
    let id = duff_core::FileId::parse(&rejected.file_id).unwrap();
    assert_eq!(now.get(&id).unwrap().outcome, Outcome::Published);
    // Published now: never read again.
    gets.store(0, Ordering::Relaxed);
    index.files().unwrap();
    assert_eq!(gets.load(Ordering::Relaxed), 1, "only the failed one");
}

#[test]
fn the_listing_is_read_again_only_once_the_interval_passed() {
    let dir = tempfile::tempdir().unwrap();
    let lake = LocalLake::open(dir.path()).unwrap();
    lake.ingest_path(&sample("orders.csv"), &IngestConfig::default(), at(27, 8)).unwrap();
    let slow = IngestionIndex::new(lake.store().clone(), Duration::from_secs(3600));
    let eager = IngestionIndex::new(lake.store().clone(), Duration::ZERO);
    assert_eq!(slow.files().unwrap().len(), 1);
    assert_eq!(eager.files().unwrap().len(), 1);
    lake.ingest_path(&sample("day1.csv"), &IngestConfig::default(), at(27, 9)).unwrap();
    // Within its interval the slow index answers from memory; a forced refresh lists.
    assert_eq!(slow.files().unwrap().len(), 1);
    assert_eq!(eager.files().unwrap().len(), 2);
    assert_eq!(slow.refresh().unwrap().len(), 2);
}

#[test]
fn a_damaged_manifest_is_an_error_naming_it_and_is_not_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let lake = LocalLake::open(dir.path()).unwrap();
    lake.ingest_path(&sample("orders.csv"), &IngestConfig::default(), at(27, 8)).unwrap();
    let index = IngestionIndex::new(lake.store().clone(), Duration::from_secs(3600));
    assert_eq!(index.files().unwrap().len(), 1);
    let key = format!("manifests/{}.json", "0".repeat(32));
    lake.store().put_bytes(&key, b"{not json").unwrap();
    let err = index.refresh().unwrap_err();
    assert!(err.to_string().contains(&key), "{err}");
    // The failed refresh is not trusted for an interval: the next call lists again.
    assert!(index.files().is_err());
    lake.store().delete(&key).unwrap();
    assert_eq!(index.files().unwrap().len(), 1);
}

#[test]
fn pages_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let lake = LocalLake::open(dir.path()).unwrap();
    let cfg = IngestConfig::default();
    // 7 files over three days, two of them at the same instant (their ids break the tie).
    let mut ids = Vec::new();
    for (i, (day, hour)) in [(25, 8), (25, 9), (26, 8), (26, 8), (26, 10), (27, 7), (27, 23)].into_iter().enumerate() {
        let rows: Vec<String> = rows(3, 0).into_iter().map(|r| r.replacen("Moe", &format!("Moe{i}"), 1)).collect();
        let p = write(files.path(), &format!("f{i}.csv"), &csv_file(&rows));
        let m =
            manifest(lake.ingest_file(&p, &format!("in/f{i}.csv"), at(day, hour).timestamp_micros(), &cfg).unwrap());
        ids.push((m.ingested_at_micros, m.file_id));
    }
    let bad = write(files.path(), "bad.csv", "nothing useful\n");
    let failed = manifest(lake.ingest_file(&bad, "in/bad.csv", at(26, 12).timestamp_micros(), &cfg).unwrap());
    assert_eq!(failed.outcome, Outcome::Failed);
    ids.push((failed.ingested_at_micros, failed.file_id.clone()));
    ids.sort();
    ids.reverse();

    let index = IngestionIndex::new(lake.store().clone(), Duration::ZERO);
    let all = index.files().unwrap();
    let listed: Vec<(i64, String)> = all.files().iter().map(|m| (m.ingested_at_micros, m.file_id.clone())).collect();
    assert_eq!(listed, ids);

    // Every page size walks the same listing, filtered or not.
    let filters = [
        IngestionFilter::default(),
        IngestionFilter { outcome: Some(Outcome::Published), ..IngestionFilter::default() },
        IngestionFilter { outcome: Some(Outcome::Failed), ..IngestionFilter::default() },
        IngestionFilter { from: Day::parse("2026-11-26"), to: Day::parse("2026-11-26"), ..IngestionFilter::default() },
        IngestionFilter { from: Day::parse("2026-11-27"), ..IngestionFilter::default() },
        IngestionFilter {
            to: Day::parse("2026-11-25"),
            outcome: Some(Outcome::Published),
            ..IngestionFilter::default()
        },
        IngestionFilter { from: Day::parse("2026-11-28"), to: Day::parse("2026-11-20"), ..IngestionFilter::default() },
    ];
    let expected_lens = [8, 7, 1, 4, 2, 2, 0];
    for (filter, want) in filters.iter().zip(expected_lens) {
        let whole: Vec<String> = all.files().iter().filter(|m| filter.keeps(m)).map(|m| m.file_id.clone()).collect();
        assert_eq!(whole.len(), want, "{filter:?}");
        for limit in 1..=9 {
            let (mut walked, mut after) = (Vec::new(), None);
            loop {
                let (page, next) = all.page(filter, after.as_ref(), limit);
                assert!(page.len() <= limit);
                walked.extend(page.iter().map(|m| m.file_id.clone()));
                match next {
                    Some(k) => after = Some(k),
                    None => break,
                }
            }
            assert_eq!(walked, whole, "{filter:?} limit {limit}");
        }
    }
}

#[test]
fn data_quality_per_day_and_source_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let lake = LocalLake::open(dir.path()).unwrap();
    let cfg = IngestConfig::default();
    let ingest = |path: &Path, source: &str, t: DateTime<Utc>| {
        manifest(lake.ingest_file(path, source, t.timestamp_micros(), &cfg).unwrap())
    };
    let d1 = ingest(&sample("day1.csv"), "incoming/day1.csv", at(27, 8));
    let d2 = ingest(&sample("day2.csv"), "incoming/day2.csv", at(27, 9));
    let half = write(files.path(), "half.csv", &csv_file(&rows(10, 2)));
    let rej = ingest(&half, "manual/half.csv", at(27, 10));
    let o = ingest(&sample("orders.csv"), "orders.csv", at(28, 1));
    assert_eq!(rej.outcome, Outcome::Rejected);

    let index = IngestionIndex::new(lake.store().clone(), Duration::ZERO);
    let q = index.files().unwrap().data_quality(&IngestionFilter::default());
    let got: Vec<(&str, &str, u64, u64, u64, u64, u64)> = q
        .iter()
        .map(|r| {
            (
                r.day.as_str(),
                r.source_prefix.as_str(),
                r.files,
                r.published,
                r.rejected,
                r.rows_read,
                r.rows_quarantined,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "2026-11-27",
                "incoming/",
                2,
                2,
                0,
                d1.rows_read + d2.rows_read,
                d1.rows_quarantined + d2.rows_quarantined
            ),
            ("2026-11-27", "manual/", 1, 0, 1, rej.rows_read, rej.rows_quarantined),
            ("2026-11-28", "", 1, 1, 0, o.rows_read, 0),
        ]
    );
    let mut reasons = d1.quarantined_by_reason.clone();
    for (c, n) in &d2.quarantined_by_reason {
        *reasons.entry(c.clone()).or_default() += n;
    }
    assert_eq!(q[0].quarantined_by_reason, reasons);
    let only = IngestionFilter { from: Day::parse("2026-11-28"), ..IngestionFilter::default() };
    assert_eq!(index.files().unwrap().data_quality(&only).len(), 1);
}

/// Every quarantined row of a file, read straight from its objects, by record.
fn quarantine_table(lake: &LocalLake, m: &Manifest) -> Vec<(i64, i64, i64, String, String)> {
    let mut out = Vec::new();
    for o in m.outputs.iter().filter(|o| o.table == Table::Quarantine) {
        let bytes = std::fs::read(lake.root().join(&o.key)).unwrap();
        for b in duff_core::read_parquet(bytes).unwrap() {
            use duff_core::arrow_array::cast::AsArray;
            use duff_core::arrow_array::types::Int64Type;
            let int = |n: &str| b.column_by_name(n).unwrap().as_primitive::<Int64Type>().clone();
            let text = |n: &str| b.column_by_name(n).unwrap().as_string::<i32>().clone();
            let (line, record, byte, raw, codes) =
                (int("line"), int("record"), int("byte"), text("raw"), text("reason_codes"));
            for i in 0..b.num_rows() {
                out.push((
                    record.value(i),
                    line.value(i),
                    byte.value(i),
                    raw.value(i).to_owned(),
                    codes.value(i).to_owned(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_files_quarantine_in_pages_from_its_own_objects() {
    let dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    // Small parts: the file is ingested in several parts, each with its quarantine object.
    let lake = LocalLake::open(dir.path()).unwrap().with_fan_out(FanOutConfig {
        part_bytes: 2048,
        threads: 2,
        sequence_part_bytes: u64::MAX / 2,
    });
    let lenient = IngestConfig { reject_threshold_ppm: 500_000, ..IngestConfig::default() };
    let big = write(files.path(), "big.csv", &csv_file(&rows(400, 5)));
    let m = manifest(lake.ingest_path(&big, &lenient, at(27, 8)).unwrap());
    let day1 = manifest(lake.ingest_path(&sample("day1.csv"), &lenient, at(27, 9)).unwrap());
    assert_eq!(m.outcome, Outcome::Published);
    let objects = m.outputs.iter().filter(|o| o.table == Table::Quarantine && o.rows > 0).count();
    assert!(objects > 2, "{objects} quarantine objects");
    let want = quarantine_table(&lake, &m);
    assert_eq!(want.len() as u64, m.rows_quarantined);

    let index = IngestionIndex::new(lake.store().clone(), Duration::ZERO);
    for limit in [1, 7, 80, 1000] {
        let (mut got, mut after) = (Vec::new(), None);
        loop {
            let q = QuarantineQuery { after_record: after, limit, raw_limit: 1 << 20 };
            let page = index.quarantine(&m, &q).unwrap();
            assert!(page.rows.len() <= limit);
            after = page.rows.last().map(|r| r.record);
            got.extend(page.rows.into_iter().map(|r| (r.record, r.line, r.byte, r.raw, r.reason_codes.join(","))));
            if !page.more {
                break;
            }
        }
        assert_eq!(got, want, "limit {limit}");
    }

    // day1.csv: its two quarantined rows, with their reasons; raw text cut at the limit.
    let q = index.quarantine(&day1, &QuarantineQuery { after_record: None, limit: 10, raw_limit: 12 }).unwrap();
    assert!(!q.more);
    let lines: Vec<i64> = q.rows.iter().map(|r| r.line).collect();
    let want: Vec<i64> = quarantine_table(&lake, &day1).iter().map(|r| r.1).collect();
    assert_eq!(lines, want);
    assert_eq!(q.rows.len(), 2);
    assert!(q.rows.iter().all(|r| r.raw.len() <= 12 && r.raw_truncated && !r.reason_codes.is_empty()));
    let codes: Vec<String> = q.rows.iter().flat_map(|r| r.reason_codes.clone()).collect();
    assert!(codes.contains(&"unknown_channel".to_owned()), "{codes:?}");
}

#[test]
fn a_missing_quarantine_object_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let lake = LocalLake::open(dir.path()).unwrap();
    let m = manifest(lake.ingest_path(&sample("day1.csv"), &IngestConfig::default(), at(27, 8)).unwrap());
    let key = m.outputs.iter().find(|o| o.table == Table::Quarantine).unwrap().key.clone();
    std::fs::remove_file(lake.root().join(&key)).unwrap();
    let index = IngestionIndex::new(lake.store().clone(), Duration::ZERO);
    let q = QuarantineQuery { after_record: None, limit: 10, raw_limit: 100 };
    let err = index.quarantine(&m, &q).unwrap_err();
    assert!(err.to_string().contains(&key), "{err}");
}
