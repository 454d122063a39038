//! The lake's ingestions: every file's manifest, held in memory and followed as files land,
//! and one file's quarantined rows.
//!
//! [`IngestionIndex`] answers "which files landed, which were refused, which rows went to
//! quarantine" without reading the lake's history on every question:
//!
//! - it lists `manifests/` at most once per refresh interval (like the serving engine, see
//!   docs/serving.md), and reads only the manifests it does not hold yet and the ones it
//!   holds that are not `published` (a refused file's manifest is replaced when the same
//!   content is ingested again; a published one never changes: the ingest protocol stops at
//!   a published manifest, see [`Lake`](crate::Lake));
//! - what it holds is an immutable [`Ingestions`]: the manifests, newest first, with the
//!   listing's pages and the data-quality aggregates computed from it;
//! - a file's quarantined rows are read from that file's own quarantine objects, which its
//!   manifest lists ([`IngestionIndex::quarantine`]).
//!
//! ```no_run
//! use duff_lake::{IngestionIndex, LocalLake};
//! use std::time::Duration;
//! let lake = LocalLake::open("lake")?;
//! let index = IngestionIndex::new(lake.store().clone(), Duration::from_secs(1));
//! for m in index.files()?.files() {
//!     println!("{} {} {}", m.ingested_at, m.outcome.as_str(), m.source);
//! }
//! # Ok::<(), duff_lake::Error>(())
//! ```

use crate::{Error, Result, Store};
use chrono::NaiveDate;
use duff_core::arrow_array::cast::AsArray;
use duff_core::arrow_array::types::Int64Type;
use duff_core::arrow_array::{Array, RecordBatch};
use duff_core::lake::{MANIFESTS, manifest_key, micros_to_datetime};
use duff_core::{FileId, Manifest, Outcome, Table};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// A calendar day (UTC), `YYYY-MM-DD`: the unit of the listing's date filters and of the
/// data-quality report (a file's day is its `ingest_date`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(NaiveDate);

impl Day {
    /// Parses `YYYY-MM-DD` (exactly: ten characters, a real calendar day).
    pub fn parse(s: &str) -> Option<Day> {
        if s.len() != 10 {
            return None;
        }
        let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        (d.format("%Y-%m-%d").to_string() == s).then_some(Day(d))
    }

    /// The UTC day of an instant (microseconds since the epoch).
    pub fn of_micros(micros: i64) -> Day {
        Day(micros_to_datetime(micros).date_naive())
    }
}

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

/// Which files a listing keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestionFilter {
    /// Only files with this outcome.
    pub outcome: Option<Outcome>,
    /// Only files ingested on this day or later (UTC).
    pub from: Option<Day>,
    /// Only files ingested on this day or earlier (UTC).
    pub to: Option<Day>,
}

impl IngestionFilter {
    /// True when the filter keeps `m`.
    pub fn keeps(&self, m: &Manifest) -> bool {
        let day = Day::of_micros(m.ingested_at_micros);
        self.outcome.is_none_or(|o| o == m.outcome)
            && self.from.is_none_or(|f| day >= f)
            && self.to.is_none_or(|t| day <= t)
    }
}

/// Where a page of the listing ends: its last file. The listing is sorted newest first, by
/// `(ingested_at, file_id)` descending (a file id is unique in a lake: the order is total).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IngestionKey {
    /// The file's ingest instant (microseconds since the epoch).
    pub ingested_at_micros: i64,
    /// The file.
    pub file_id: FileId,
}

impl IngestionKey {
    /// The key of a manifest; `None` when its `file_id` is not one (not written by duff-core).
    pub fn of(m: &Manifest) -> Option<IngestionKey> {
        Some(IngestionKey { ingested_at_micros: m.ingested_at_micros, file_id: FileId::parse(&m.file_id)? })
    }
}

/// The files of a lake at one listing: every manifest, newest first. Immutable: a refresh
/// builds a new one.
#[derive(Debug, Default)]
pub struct Ingestions {
    /// Newest first.
    files: Vec<Arc<Manifest>>,
    /// Manifest key -> index in `files`.
    by_key: HashMap<String, usize>,
}

/// One group of the data-quality report: the files of one day whose sources share a prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QualityRow {
    /// The files' day (UTC).
    pub day: String,
    /// The source keys' prefix: everything up to the last `/` included (`incoming/`), empty
    /// for a source without one.
    pub source_prefix: String,
    /// Files in the group.
    pub files: u64,
    /// Of which published.
    pub published: u64,
    /// Of which rejected (too many quarantined rows).
    pub rejected: u64,
    /// Of which failed (refused whole).
    pub failed: u64,
    /// Data rows read.
    pub rows_read: u64,
    /// Rows quarantined.
    pub rows_quarantined: u64,
    /// Quarantined rows per reason code (a row with two reasons counts under both).
    pub quarantined_by_reason: BTreeMap<String, u64>,
}

/// The prefix of a source key that the data-quality report groups by: up to the last `/`
/// included, empty when there is none.
pub fn source_prefix(source: &str) -> &str {
    source.rfind('/').map_or("", |i| &source[..=i])
}

impl Ingestions {
    fn new(mut files: Vec<Arc<Manifest>>) -> Ingestions {
        files.sort_by(|a, b| {
            (b.ingested_at_micros, b.file_id.as_str()).cmp(&(a.ingested_at_micros, a.file_id.as_str()))
        });
        let by_key = files.iter().enumerate().map(|(i, m)| (manifest_key_of(m), i)).collect();
        Ingestions { files, by_key }
    }

    /// Every file, newest first.
    pub fn files(&self) -> &[Arc<Manifest>] {
        &self.files
    }

    /// How many files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when the lake holds no manifest.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The manifest of `file_id`.
    pub fn get(&self, file_id: &FileId) -> Option<&Arc<Manifest>> {
        self.by_key.get(&manifest_key(file_id)).and_then(|&i| self.files.get(i))
    }

    /// A page of the listing: at most `limit` files that `filter` keeps, newest first, after
    /// `after` (the previous page's last file) when given; and the key to pass as `after` for
    /// the next page, when more files follow.
    pub fn page(
        &self,
        filter: &IngestionFilter,
        after: Option<&IngestionKey>,
        limit: usize,
    ) -> (Vec<Arc<Manifest>>, Option<IngestionKey>) {
        let start = match after {
            // The first file strictly after `after` in the listing's (descending) order.
            Some(a) => self.files.partition_point(|m| {
                (m.ingested_at_micros, m.file_id.as_str()) >= (a.ingested_at_micros, a.file_id.as_str())
            }),
            None => 0,
        };
        let mut kept = self.files[start..].iter().filter(|m| filter.keeps(m));
        let page: Vec<Arc<Manifest>> = kept.by_ref().take(limit).cloned().collect();
        let more = kept.next().is_some();
        let next = if more && limit > 0 { page.last().and_then(|m| IngestionKey::of(m)) } else { None };
        (page, next)
    }

    /// The data-quality report over the files `filter` keeps: one row per day and source
    /// prefix, sorted by day, then prefix.
    pub fn data_quality(&self, filter: &IngestionFilter) -> Vec<QualityRow> {
        let mut groups: BTreeMap<(Day, &str), QualityRow> = BTreeMap::new();
        for m in self.files.iter().filter(|m| filter.keeps(m)) {
            let day = Day::of_micros(m.ingested_at_micros);
            let prefix = source_prefix(&m.source);
            let g = groups.entry((day, prefix)).or_insert_with(|| QualityRow {
                day: day.to_string(),
                source_prefix: prefix.to_owned(),
                ..QualityRow::default()
            });
            g.files += 1;
            match m.outcome {
                Outcome::Published => g.published += 1,
                Outcome::Rejected => g.rejected += 1,
                Outcome::Failed => g.failed += 1,
            }
            g.rows_read += m.rows_read;
            g.rows_quarantined += m.rows_quarantined;
            for (code, n) in &m.quarantined_by_reason {
                *g.quarantined_by_reason.entry(code.clone()).or_default() += n;
            }
        }
        groups.into_values().collect()
    }
}

fn manifest_key_of(m: &Manifest) -> String {
    format!("{MANIFESTS}/{}.json", m.file_id)
}

/// Which quarantined rows of a file to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuarantineQuery {
    /// Only rows after this record index (the previous page's last row).
    pub after_record: Option<i64>,
    /// At most this many rows.
    pub limit: usize,
    /// Raw text is cut to at most this many bytes (at a character boundary).
    pub raw_limit: usize,
}

/// A quarantined row, as the quarantine table holds it (docs/lake.md), its raw text cut to
/// the query's limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineRow {
    /// 1-based physical line where the row starts (the header is line 1).
    pub line: i64,
    /// 0-based record index (the header is record 0): the order of the rows.
    pub record: i64,
    /// Byte offset of the row in the file.
    pub byte: i64,
    /// The row's text, cut at [`QuarantineQuery::raw_limit`] bytes.
    pub raw: String,
    /// True when `raw` is not the whole row (cut at ingest, 64 KiB, or by the query).
    pub raw_truncated: bool,
    /// The reason codes, in the order the rules found them.
    pub reason_codes: Vec<String>,
    /// The reasons' messages (`column: message; ...`).
    pub reasons: String,
}

/// A page of a file's quarantined rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuarantinePage {
    /// The rows, by record index.
    pub rows: Vec<QuarantineRow>,
    /// True when rows follow the last one.
    pub more: bool,
}

/// The manifests of a lake on any [`Store`], held in memory and refreshed at most once per
/// interval. See the [module docs](self).
pub struct IngestionIndex<S: Store> {
    store: S,
    refresh_interval: Duration,
    /// The files of the last successful listing (`None` before the first).
    current: RwLock<Option<Arc<Ingestions>>>,
    /// When the listing was last taken (`None`: never, or the last refresh failed). Held
    /// during a refresh: one at a time.
    checked: Mutex<Option<Instant>>,
    manifests_read: AtomicU64,
}

impl<S: Store> std::fmt::Debug for IngestionIndex<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestionIndex")
            .field("store", &self.store.location())
            .field("refresh_interval", &self.refresh_interval)
            .finish_non_exhaustive()
    }
}

fn poisoned() -> Error {
    Error::Internal { what: "ingestion index", message: "a lock was poisoned".into() }
}

impl<S: Store> IngestionIndex<S> {
    /// An index of the lake on `store`, listing its manifests again at most once per
    /// `refresh_interval` (0: on every call of [`files`](Self::files)). Nothing is read yet.
    pub fn new(store: S, refresh_interval: Duration) -> IngestionIndex<S> {
        IngestionIndex {
            store,
            refresh_interval,
            current: RwLock::new(None),
            checked: Mutex::new(None),
            manifests_read: AtomicU64::new(0),
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// How many manifest objects this index has read so far (for logs and tests: a refresh
    /// reads only new manifests and those not published).
    pub fn manifests_read(&self) -> u64 {
        self.manifests_read.load(Ordering::Relaxed)
    }

    /// The files, from a listing at most one refresh interval old. When a refresh is due
    /// and another caller is refreshing, the files in memory (the previous listing) are
    /// returned instead of waiting for it; the first call waits.
    ///
    /// # Errors
    /// The listing or a manifest could not be read, or a manifest is not one: the error
    /// names its key (nothing is remembered of a failed refresh: the next call lists again).
    pub fn files(&self) -> Result<Arc<Ingestions>> {
        let mut checked = match self.checked.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::WouldBlock) => {
                if let Some(current) = self.current()? {
                    return Ok(current);
                }
                self.checked.lock().map_err(|_| poisoned())?
            }
            Err(std::sync::TryLockError::Poisoned(_)) => return Err(poisoned()),
        };
        if let Some(t) = *checked
            && t.elapsed() < self.refresh_interval
            && let Some(current) = self.current()?
        {
            return Ok(current);
        }
        self.refresh_locked(&mut checked)
    }

    /// Lists the manifests now, whatever the interval (a server calls it before listening).
    ///
    /// # Errors
    /// As [`files`](Self::files).
    pub fn refresh(&self) -> Result<Arc<Ingestions>> {
        let mut checked = self.checked.lock().map_err(|_| poisoned())?;
        self.refresh_locked(&mut checked)
    }

    /// The files of the last successful listing, if any.
    fn current(&self) -> Result<Option<Arc<Ingestions>>> {
        self.current.read().map(|c| c.clone()).map_err(|_| poisoned())
    }

    fn refresh_locked(&self, checked: &mut Option<Instant>) -> Result<Arc<Ingestions>> {
        let started = Instant::now();
        *checked = None;
        let previous = self.current()?.unwrap_or_default();
        let mut files = Vec::new();
        for key in self.store.list(&format!("{MANIFESTS}/"))? {
            if !key.ends_with(".json") {
                continue;
            }
            let known = previous.by_key.get(&key).and_then(|&i| previous.files.get(i));
            match known {
                // A published manifest never changes.
                Some(m) if m.outcome == Outcome::Published => files.push(m.clone()),
                _ => {
                    self.manifests_read.fetch_add(1, Ordering::Relaxed);
                    if let Some(bytes) = self.store.get(&key)? {
                        let m = Manifest::from_json(&bytes).map_err(|source| Error::Manifest { key, source })?;
                        files.push(Arc::new(m));
                    }
                }
            }
        }
        let fresh = Arc::new(Ingestions::new(files));
        *self.current.write().map_err(|_| poisoned())? = Some(fresh.clone());
        *checked = Some(started);
        Ok(fresh)
    }

    /// A page of the quarantined rows of the file `manifest` describes, by record index,
    /// read from its quarantine objects (a rejected or failed file published none: its
    /// manifest's sample problems are what is kept of its rows).
    ///
    /// Each call reads that file's quarantine objects (never another file's).
    ///
    /// # Errors
    /// A missing or unreadable quarantine object (the error names its key).
    pub fn quarantine(&self, manifest: &Manifest, q: &QuarantineQuery) -> Result<QuarantinePage> {
        let mut rows: Vec<QuarantineRow> = Vec::new();
        let keep = q.limit.saturating_add(1);
        for out in manifest.outputs.iter().filter(|o| o.table == Table::Quarantine && o.rows > 0) {
            let bytes = self.store.get(&out.key)?.ok_or_else(|| Error::MissingObject { key: out.key.clone() })?;
            let unreadable = |source: duff_core::Error| Error::Store {
                action: "reading the quarantine object",
                key: out.key.clone(),
                source: Box::new(source),
                retryable: false,
            };
            for batch in duff_core::parquet_io::parquet_batches(bytes).map_err(unreadable)? {
                let batch = batch.map_err(unreadable)?;
                quarantine_rows(&batch, q, &mut rows).map_err(|m| unreadable(m.into()))?;
                if rows.len() > keep.saturating_mul(4).max(1024) {
                    rows.sort_unstable_by_key(|r| r.record);
                    rows.truncate(keep);
                }
            }
        }
        rows.sort_unstable_by_key(|r| r.record);
        let more = rows.len() > q.limit;
        rows.truncate(q.limit);
        Ok(QuarantinePage { rows, more })
    }
}

/// The malformed-object message of a quarantine batch that lacks a column.
#[derive(Debug, thiserror::Error)]
#[error("the quarantine object has no {0} column of the expected type")]
struct MissingColumn(&'static str);

impl From<MissingColumn> for duff_core::Error {
    fn from(e: MissingColumn) -> duff_core::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e).into()
    }
}

/// Appends the rows of `batch` after `q.after_record` to `out`.
fn quarantine_rows(
    batch: &RecordBatch,
    q: &QuarantineQuery,
    out: &mut Vec<QuarantineRow>,
) -> std::result::Result<(), MissingColumn> {
    let int = |name: &'static str| {
        batch.column_by_name(name).and_then(|c| c.as_primitive_opt::<Int64Type>()).ok_or(MissingColumn(name))
    };
    let text = |name: &'static str| {
        batch.column_by_name(name).and_then(|c| c.as_string_opt::<i32>()).ok_or(MissingColumn(name))
    };
    let (line, record, byte) = (int("line")?, int("record")?, int("byte")?);
    let (raw, codes, reasons) = (text("raw")?, text("reason_codes")?, text("reasons")?);
    let truncated =
        batch.column_by_name("raw_truncated").and_then(|c| c.as_boolean_opt()).ok_or(MissingColumn("raw_truncated"))?;
    for i in 0..batch.num_rows() {
        let rec = record.value(i);
        if q.after_record.is_some_and(|a| rec <= a) {
            continue;
        }
        let full = raw.value(i);
        let cut = cut_at(full, q.raw_limit);
        out.push(QuarantineRow {
            line: line.value(i),
            record: rec,
            byte: byte.value(i),
            raw: cut.to_owned(),
            raw_truncated: cut.len() < full.len() || (truncated.is_valid(i) && truncated.value(i)),
            reason_codes: codes.value(i).split(',').filter(|c| !c.is_empty()).map(str::to_owned).collect(),
            reasons: reasons.value(i).to_owned(),
        });
    }
    Ok(())
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn cut_at(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_exact() {
        assert_eq!(Day::parse("2026-11-27").map(|d| d.to_string()).as_deref(), Some("2026-11-27"));
        for bad in ["2026-11-31", "2026-1-27", "26-11-27", "2026-11-27T00", "", "2026/11/27", "+2026-11-2"] {
            assert_eq!(Day::parse(bad), None, "{bad}");
        }
        assert_eq!(Day::of_micros(0).to_string(), "1970-01-01");
    }

    #[test]
    fn prefixes_and_cuts() {
        assert_eq!(source_prefix("incoming/2026/day1.csv"), "incoming/2026/");
        assert_eq!(source_prefix("day1.csv"), "");
        assert_eq!(cut_at("abc", 5), "abc");
        assert_eq!(cut_at("aé", 2), "a");
        assert_eq!(cut_at("aé", 3), "aé");
    }
}
