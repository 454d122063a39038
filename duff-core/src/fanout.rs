//! Fan-out of a big file: byte ranges ("parts") processed apart, then merged into exactly
//! what one pass over the file gives.
//!
//! # The method
//!
//! 1. **Guess** part starts: the first line start after each multiple of `part_bytes`. A
//!    guess may fall inside a quoted field that holds a newline; nothing trusts it yet.
//! 2. **Scan** every part from its guess to the next one, in parallel: only record
//!    boundaries are found (no validation), counting lines and records. The first part
//!    starts at the file's start, so its end is a true record boundary; walking the parts
//!    in order, a part whose guess equals the previous part's true end is confirmed and its
//!    counts give the next true start. A part whose guess was wrong (inside quotes) is
//!    scanned again from the true start. So the starts are exact — line, record and byte —
//!    whatever the quoting; the only cost of a bad guess is one part scanned twice.
//! 3. **Ingest** every part from its exact start to the next, in parallel, each into its own
//!    sink (its own Parquet objects), deferring the search for repeated lines.
//! 4. **Merge**: the sorted line hashes of the parts show the lines that repeat a line of
//!    the same or an earlier part; only the parts that hold such lines are read again. The
//!    summaries add up, the first sample problems are kept, the dimensions merge (the
//!    latest line of a client or product wins), and the manifest is built as one pass
//!    builds it.
//!
//! Limits: the scan phase reads the whole file once more (record finding only, several times
//! faster than ingesting); a part is at least one record, so a file with one huge record
//! does not split. The output differs from one pass only in how the fact and quarantine
//! rows are cut into objects (one per part: [`Table::part_key`]).

use crate::columns::Header;
use crate::error::{ErrorKind, Position, Result};
use crate::hash::IntMap;
use crate::ingest::{FileIngest, IngestConfig, PartOutput, TableSink, manifest_of};
use crate::lake::{FileMeta, Table};
use crate::manifest::{Manifest, OutputObject};
use crate::tables::{ClientSeen, ProductSeen, dim_client_batch, dim_product_batch};
use arrow_array::RecordBatch;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Random access to the bytes of a file (a local file, a downloaded object, a slice).
pub trait ByteSource: Sync {
    /// The file's length.
    fn len(&self) -> u64;

    /// True for an empty file.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads up to `buf.len()` bytes at `offset`; returns how many (0 at the end).
    ///
    /// # Errors
    /// Read failures.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize>;
}

impl ByteSource for &[u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(<[u8]>::len(self));
        let n = buf.len().min(<[u8]>::len(self) - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }
}

/// Where the parts' rows go: one sink per part (e.g. a Parquet file per table and part).
pub trait PartSinks: Sync {
    /// The sink of one part.
    type Sink: TableSink;

    /// Opens the sink of part `part`; opening it again (a second reading) replaces it.
    ///
    /// # Errors
    /// Whatever opening may fail with.
    fn open(&self, part: usize) -> Result<Self::Sink>;

    /// Closes (flushes) the sink of part `part`.
    ///
    /// # Errors
    /// Whatever flushing may fail with.
    fn close(&self, part: usize, sink: Self::Sink) -> Result<()>;
}

/// The merged result of a fanned-out ingest.
#[derive(Debug)]
pub struct FanOut {
    /// The file's manifest, as one pass would build it (outputs: one fact and quarantine
    /// object per part, keys from [`Table::part_key`]).
    pub manifest: Manifest,
    /// The `dim_client` and `dim_product` batches of the whole file, for the caller to
    /// write under their [`Table::object_key`] (when the file is published).
    pub dimensions: Vec<(Table, RecordBatch)>,
    /// How many parts were ingested.
    pub parts: usize,
    /// How many parts were read a second time (their lines repeat earlier lines).
    pub parts_read_again: usize,
}

/// The start of the first line after `window[0]`'s position: just after its first `\n`.
pub fn next_line_start(window: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', window).map(|i| i + 1)
}

/// Feeds `ingest` from `from` until it is done or the source ends (read straight into the
/// ingest's buffer).
fn feed(source: &dyn ByteSource, ingest: &mut FileIngest, from: u64, sink: &mut dyn TableSink) -> Result<()> {
    struct At<'a> {
        source: &'a dyn ByteSource,
        at: u64,
    }
    impl std::io::Read for At<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.source.read_at(self.at, buf).map_err(std::io::Error::other)?;
            self.at += n as u64;
            Ok(n)
        }
    }
    ingest.push_reader(&mut At { source, at: from }, sink)
}

/// Runs `job(i)` for `i in 0..n` on `threads` threads; results in index order.
fn parallel<T: Send>(n: usize, threads: usize, job: &(dyn Fn(usize) -> T + Sync)) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, n.max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let r = job(i);
                    if let Ok(mut all) = results.lock() {
                        all[i] = Some(r);
                    }
                }
            });
        }
    });
    results.into_inner().unwrap_or_default().into_iter().flatten().collect()
}

/// One part's exact range.
#[derive(Debug, Clone, Copy)]
struct Part {
    start: Position,
    /// The next part's start byte (`u64::MAX` for the last part).
    end: u64,
}

impl Part {
    fn ingest(&self, index: usize, meta: &FileMeta, cfg: &IngestConfig, header: &Header) -> FileIngest {
        let ingest = if index == 0 {
            FileIngest::new(meta.clone(), cfg.clone()).as_first_range()
        } else {
            FileIngest::for_range(meta.clone(), cfg.clone(), header.clone(), self.start)
        };
        ingest.stopping_at(self.end)
    }
}

/// Reads the header; returns it and where the data starts.
fn read_header(meta: &FileMeta, cfg: &IngestConfig, source: &dyn ByteSource) -> Result<(Header, u64)> {
    let mut ingest = FileIngest::new(meta.clone(), cfg.clone()).as_first_range().scanning().stopping_at(0);
    let mut none = crate::ingest::CollectSink::default();
    feed(source, &mut ingest, 0, &mut none)?;
    let (end, header) = ingest.finish_scan_with_header()?;
    match header {
        Some(h) => Ok((h, end.byte)),
        None => Err(ErrorKind::NoHeader.into()),
    }
}

/// Guessed starts of parts 1.. (part 0 starts at the file's start).
fn guess_starts(source: &dyn ByteSource, len: u64, data_start: u64, part_bytes: u64) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    let mut window = vec![0u8; 64 * 1024];
    let mut target = data_start.saturating_add(part_bytes.max(1));
    while target < len {
        // The first line start at or after `target` (a newline may sit right before it).
        let mut at = target - 1;
        let start = loop {
            let n = source.read_at(at, &mut window)?;
            if n == 0 {
                break None;
            }
            if let Some(k) = next_line_start(&window[..n]) {
                break Some(at + k as u64);
            }
            at += n as u64;
        };
        match start {
            Some(s) if s < len && out.last().is_none_or(|l| s > *l) => out.push(s),
            Some(_) => {}
            None => break,
        }
        target = target.saturating_add(part_bytes.max(1));
    }
    Ok(out)
}

/// Scans one part from `start` up to `stop`: returns where the next part starts, its line
/// and record counted from `start`'s (zero for relative counts).
fn scan(
    meta: &FileMeta,
    cfg: &IngestConfig,
    header: &Header,
    source: &dyn ByteSource,
    start: Position,
    stop: u64,
) -> Result<Position> {
    let mut ingest =
        FileIngest::for_range(meta.clone(), cfg.clone(), header.clone(), start).scanning().stopping_at(stop);
    let mut none = crate::ingest::CollectSink::default();
    feed(source, &mut ingest, start.byte, &mut none)?;
    ingest.finish_scan()
}

/// Ingests the file in `source` in parts of about `part_bytes`, on `threads` threads,
/// each part into its own sink from `sinks`; merges the parts. See the [module docs](self).
///
/// The content identity (`meta.file_id`) is not checked here: hash the file first.
///
/// # Errors
/// The first file-level problem in file order (as one pass reports it), read or sink
/// failures.
pub fn ingest_parts<K: PartSinks>(
    meta: &FileMeta,
    cfg: &IngestConfig,
    source: &dyn ByteSource,
    part_bytes: u64,
    threads: usize,
    sinks: &K,
) -> Result<FanOut> {
    let len = source.len();
    let (header, data_start) = read_header(meta, cfg, source)?;
    let guesses = guess_starts(source, len, data_start, part_bytes)?;

    // Phase 1: scan every part from its guess, in parallel.
    let stop_of = |k: usize| guesses.get(k).copied().unwrap_or(u64::MAX);
    let scans: Vec<Result<Position>> = parallel(guesses.len() + 1, threads, &|k| {
        if k == 0 {
            let mut ingest =
                FileIngest::new(meta.clone(), cfg.clone()).as_first_range().scanning().stopping_at(stop_of(0));
            let mut none = crate::ingest::CollectSink::default();
            feed(source, &mut ingest, 0, &mut none)?;
            ingest.finish_scan()
        } else {
            let guess = Position { line: 0, record: 0, byte: guesses[k - 1] };
            scan(meta, cfg, &header, source, guess, stop_of(k))
        }
    });

    // Exact starts, in order; a wrong guess is scanned again from the true start.
    let mut parts = vec![Part { start: Position::default(), end: u64::MAX }];
    let mut scans = scans.into_iter();
    let mut end = scans.next().unwrap_or_else(|| Err(ErrorKind::NoHeader.into()))?;
    for (k, guessed) in scans.enumerate().map(|(i, s)| (i + 1, s)) {
        if end.byte >= len || end.byte >= stop_of(k) {
            continue; // the previous part ran over this one's range: nothing starts here
        }
        let start = end;
        end = match guessed {
            Ok(rel) if start.byte == guesses[k - 1] => {
                Position { line: start.line + rel.line, record: start.record + rel.record, byte: rel.byte }
            }
            // A wrong guess, or a problem to report with its true position: scan from the
            // true start.
            _ => scan(meta, cfg, &header, source, start, stop_of(k))?,
        };
        if let Some(last) = parts.last_mut() {
            last.end = start.byte;
        }
        parts.push(Part { start, end: u64::MAX });
    }

    // Phase 2: ingest every part, in parallel, deferring the search for repeated lines.
    let run = |k: usize, repeats: Option<(&[u64], &[u64])>| -> Result<PartOutput> {
        let part = parts[k];
        let ingest = part.ingest(k, meta, cfg, &header);
        let mut ingest = match repeats {
            Some((r, seen)) => ingest.with_part_repeats(r, seen),
            None => ingest.deferring_repeats(part.end.min(len).saturating_sub(part.start.byte)),
        };
        let mut sink = sinks.open(k)?;
        feed(source, &mut ingest, part.start.byte, &mut sink)?;
        let out = ingest.finish_part(&mut sink)?;
        sinks.close(k, sink)?;
        Ok(out)
    };
    let mut outputs = Vec::with_capacity(parts.len());
    for r in parallel(parts.len(), threads, &|k| run(k, None)) {
        outputs.push(r?);
    }

    // Repeated lines: within a part, or of a line of an earlier part.
    let mut earlier: Vec<u64> = Vec::new();
    let mut again: Vec<(usize, Vec<u64>, Vec<u64>)> = Vec::new();
    for (k, out) in outputs.iter_mut().enumerate() {
        let hashes = std::mem::take(&mut out.hashes);
        let mut within: Vec<u64> = hashes.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect();
        within.dedup();
        let mut unique = hashes;
        unique.dedup();
        let before = intersect(&unique, &earlier);
        if !within.is_empty() || !before.is_empty() {
            let mut repeats = union(&within, &before);
            repeats.dedup();
            again.push((k, repeats, before));
        }
        earlier = union(&earlier, &unique);
    }
    drop(earlier);
    let parts_read_again = again.len();
    let redone = parallel(again.len(), threads, &|i| {
        let (k, repeats, before) = &again[i];
        run(*k, Some((repeats, before)))
    });
    for (r, (k, _, _)) in redone.into_iter().zip(&again) {
        outputs[*k] = r?;
    }

    let mut merged = merge(meta, cfg, len, &header, outputs)?;
    merged.parts_read_again = parts_read_again;
    Ok(merged)
}

/// The sorted values in both sorted slices.
fn intersect(a: &[u64], b: &[u64]) -> Vec<u64> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// The sorted values of two sorted, duplicate-free slices, without duplicates.
fn union(a: &[u64], b: &[u64]) -> Vec<u64> {
    let (mut i, mut j, mut out) = (0, 0, Vec::with_capacity(a.len() + b.len()));
    while i < a.len() || j < b.len() {
        let next = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => {
                i += 1;
                j += 1;
                *x
            }
            (Some(x), Some(y)) if x < y => {
                i += 1;
                *x
            }
            (Some(_), Some(y)) | (None, Some(y)) => {
                j += 1;
                *y
            }
            (Some(x), None) => {
                i += 1;
                *x
            }
            (None, None) => break,
        };
        out.push(next);
    }
    out
}

/// Merges the parts' outputs (in file order) into the file's manifest and dimensions.
fn merge(meta: &FileMeta, cfg: &IngestConfig, bytes: u64, header: &Header, outputs: Vec<PartOutput>) -> Result<FanOut> {
    let parts = outputs.len();
    let mut summary = crate::ingest::FileSummary::default();
    let mut problems = Vec::new();
    let mut clients: IntMap<i64, ClientSeen> = IntMap::default();
    let mut products: IntMap<i64, ProductSeen> = IntMap::default();
    let mut objects = Vec::new();
    for (k, out) in outputs.into_iter().enumerate() {
        summary.merge(&out.summary);
        problems.extend(out.problems);
        for (table, rows) in
            [(Table::FactOrderLine, out.summary.rows_accepted), (Table::Quarantine, out.summary.rows_quarantined)]
        {
            if rows > 0 {
                objects.push(OutputObject { table, key: table.part_key(meta, k), rows });
            }
        }
        for (id, c) in out.clients {
            clients
                .entry(id)
                .and_modify(|m| {
                    m.lines += c.lines;
                    m.first_line = m.first_line.min(c.first_line);
                    if c.last_line > m.last_line {
                        m.last_line = c.last_line;
                        m.client_name.clone_from(&c.client_name);
                    }
                })
                .or_insert(c);
        }
        for (id, p) in out.products {
            products
                .entry(id)
                .and_modify(|m| {
                    m.lines += p.lines;
                    m.first_line = m.first_line.min(p.first_line);
                    if p.last_line > m.last_line {
                        m.last_line = p.last_line;
                        m.product_description.clone_from(&p.product_description);
                        m.unit_price = p.unit_price;
                        m.unit_volume = p.unit_volume;
                    }
                })
                .or_insert(p);
        }
    }
    problems.truncate(crate::ingest::SAMPLE_PROBLEMS);
    // Outputs in one pass's order: facts, quarantine, then the dimensions.
    objects.sort_by_key(|o| o.table);
    let mut dimensions = Vec::new();
    if !clients.is_empty() {
        objects.push(OutputObject {
            table: Table::DimClient,
            key: Table::DimClient.object_key(meta),
            rows: clients.len() as u64,
        });
        dimensions.push((Table::DimClient, dim_client_batch(meta, clients.iter().map(|(k, v)| (*k, v)))?));
    }
    if !products.is_empty() {
        objects.push(OutputObject {
            table: Table::DimProduct,
            key: Table::DimProduct.object_key(meta),
            rows: products.len() as u64,
        });
        dimensions.push((Table::DimProduct, dim_product_batch(meta, products.iter().map(|(k, v)| (*k, v)))?));
    }
    let manifest = manifest_of(meta, cfg, bytes, header, &summary, problems, objects);
    Ok(FanOut { manifest, dimensions, parts, parts_read_again: 0 })
}
