//! Fan-out of a big file: byte ranges ("parts") processed apart, then merged into exactly
//! what one pass over the file gives. The same steps run on threads locally
//! ([`ingest_parts`], `duff_lake::Lake`) and in separate Lambda invocations under a Step
//! Functions Distributed Map (each step's output is serialisable).
//!
//! # The method
//!
//! 1. **Plan** ([`Planner`]): one sequential pass hashes the file (its content identity)
//!    and scans its records (record boundaries only, no validation: the record scan of
//!    `duff-core/src/fanout/scan.rs`, apart from the row ingest), marking the first
//!    record start at or after every `part_bytes` bytes. The scan tracks the quote state
//!    from the file's first byte, so a part start is never inside a record, quoted
//!    newlines included, and each start comes with its exact line and record numbers. A
//!    file-level problem the scan meets (no header, a missing column, a quote left open,
//!    not text) refuses the file here, as one pass would.
//! 2. **Ingest** every part apart ([`ingest_range`]): it needs only the header's bytes and
//!    its own (`[start, end)` of [`PartRange`]); it writes its fact and quarantine rows to
//!    its own sink and returns a [`PartOutput`]: counts, sample problems, its views of
//!    clients and products, and the sorted 64-bit hashes of its lines.
//! 3. **Repeats** ([`find_repeats`]): the sorted hashes show the lines that repeat a line
//!    of the same or an earlier part; only the parts holding such lines are ingested again,
//!    tracking just those hashes ([`PartRepeats`]).
//! 4. **Merge** ([`merge`]): the summaries add up, the first sample problems are kept, the
//!    dimensions merge (the latest line of a client or product wins), and the manifest is
//!    built as one pass builds it.
//!
//! [`ingest_in_sequence`] runs steps 2–4 with no plan: one reader cuts the parts as it
//! goes, each part's ingest stopping at the first record past its size and handing the
//! bytes beyond to the next, so a file read by one thread still reads again only the parts
//! holding repeated lines.
//!
//! Limits: the plan is one sequential pass (record finding and hashing, several times
//! faster than ingesting, but bound to one reader); a part is at least one record, so a
//! file with one huge record does not split. The output differs from one pass only in how
//! the fact and quarantine rows are cut into objects (one per part: [`Table::part_key`]).

use crate::columns::Header;
use crate::config::IngestConfig;
use crate::error::{ErrorKind, Position, Result};
use crate::hash::IntMap;
use crate::ingest::{FileIngest, PartOutput, TableSink, repeated, sort_u64};
use crate::lake::{FileHasher, FileId, FileMeta, Table};
use crate::manifest::{FileSummary, Manifest, OutputObject, Problem, SAMPLE_PROBLEMS};
use crate::tables::{ClientSeen, ProductSeen, dim_client_batch, dim_product_batch};
use arrow_array::RecordBatch;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

mod scan;

use scan::RecordScan;

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

/// Feeds `ingest` from `from` until it is done or the source ends (read straight into the
/// ingest's buffer).
fn feed(source: &dyn ByteSource, ingest: &mut FileIngest, from: u64, sink: &mut dyn TableSink) -> Result<()> {
    ingest.push_reader(&mut At { source, at: from }, sink)
}

/// `source` read in order from the offset `at`.
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

/// Runs `job(i)` for `i in 0..n` on `threads` threads; results in index order.
pub fn parallel<T: Send>(n: usize, threads: usize, job: &(dyn Fn(usize) -> T + Sync)) -> Vec<T> {
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

/// Some pieces of a file at their offsets (e.g. its header's bytes and one part's, fetched
/// with two ranged GETs). Reading in a gap or past the last piece reads nothing (the end).
#[derive(Debug, Clone, Default)]
pub struct Pieces {
    /// `(offset, bytes)`, sorted by offset, not overlapping.
    pieces: Vec<(u64, Vec<u8>)>,
    len: u64,
}

impl Pieces {
    /// No pieces of a file of `len` bytes.
    pub fn new(len: u64) -> Pieces {
        Pieces { pieces: Vec::new(), len }
    }

    /// Adds the bytes at `offset` (a piece overlapping an earlier one is trimmed).
    pub fn with(mut self, offset: u64, mut bytes: Vec<u8>) -> Pieces {
        if let Some((o, b)) = self.pieces.iter().find(|(o, b)| *o <= offset && offset < o + b.len() as u64) {
            let skip = usize::try_from(o + b.len() as u64 - offset).unwrap_or(usize::MAX).min(bytes.len());
            bytes.drain(..skip);
            return self.with(offset + skip as u64, bytes);
        }
        if !bytes.is_empty() {
            self.pieces.push((offset, bytes));
            self.pieces.sort_by_key(|(o, _)| *o);
        }
        self
    }
}

impl ByteSource for Pieces {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let Some((o, bytes)) = self.pieces.iter().find(|(o, b)| *o <= offset && offset < o + b.len() as u64) else {
            return Ok(0);
        };
        let from = usize::try_from(offset - o).unwrap_or(usize::MAX).min(bytes.len());
        let n = buf.len().min(bytes.len() - from);
        buf[..n].copy_from_slice(&bytes[from..from + n]);
        Ok(n)
    }
}

/// One part of a [`Plan`]: the records that start in `[start.byte, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartRange {
    /// The exact position of the part's first record (part 0: the file's start).
    pub start: Position,
    /// The next part's start byte (the file's length for the last part).
    pub end: u64,
}

impl PartRange {
    /// The part's length in bytes.
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start.byte)
    }

    /// True for a part of no bytes (never in a plan).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How a file is cut into parts: the output of the [`Planner`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    /// The content identity of the whole file.
    pub file_id: FileId,
    /// The file's length.
    pub bytes: u64,
    /// Where the first record after the header starts.
    pub header_end: u64,
    /// The bytes `[0, header_end)`: the header line (with a byte-order mark and blank
    /// lines before it, if any), which every part needs.
    pub header: Vec<u8>,
    /// The parts, in file order; their union is the file.
    pub parts: Vec<PartRange>,
}

impl Plan {
    /// The plan as JSON.
    ///
    /// # Errors
    /// Never in practice (serialisation of plain data).
    pub fn to_json(&self) -> Result<Vec<u8>> {
        Ok(serde_json::to_vec(self)?)
    }

    /// Part `k`.
    ///
    /// # Errors
    /// [`ErrorKind::Internal`] for a part not in the plan.
    pub fn part(&self, k: usize) -> Result<PartRange> {
        self.parts.get(k).copied().ok_or_else(|| {
            let message = format!("part {k} of a plan of {} parts", self.parts.len());
            ErrorKind::Internal { what: "fan-out plan", message }.into()
        })
    }

    /// The header, parsed from [`header`](Self::header).
    ///
    /// # Errors
    /// A file-level problem of the header (none in a plan made by the [`Planner`]).
    pub fn read_header(&self, cfg: &IngestConfig) -> Result<Header> {
        read_header(cfg, &Pieces::new(self.bytes).with(0, self.header.clone()))
    }

    /// A plan read back from [`to_json`](Self::to_json).
    ///
    /// # Errors
    /// Malformed JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Plan> {
        Ok(serde_json::from_slice(bytes)?)
    }
}

/// What planning found: the content identity and size always (a refused file's manifest
/// needs them), and the plan or the file-level problem that refuses the file.
#[derive(Debug)]
pub struct Planned {
    /// The content identity.
    pub file_id: FileId,
    /// The file's length.
    pub bytes: u64,
    /// The plan, or the first file-level problem in file order.
    pub plan: Result<Plan>,
}

/// The fan-out's first step: fed the whole file once, in order, it hashes it and finds the
/// exact part starts (see the [module docs](self)). Memory: one input block.
pub struct Planner {
    scan: Option<RecordScan>,
    /// The bytes fed until the header was read.
    head: Vec<u8>,
    error: Option<crate::Error>,
    hasher: FileHasher,
    bytes: u64,
}

impl std::fmt::Debug for Planner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Planner").field("bytes", &self.bytes).field("error", &self.error).finish_non_exhaustive()
    }
}

impl Planner {
    /// A planner cutting parts of about `part_bytes` (at least one record each).
    pub fn new(cfg: &IngestConfig, part_bytes: u64) -> Planner {
        let scan = RecordScan::new(cfg, part_bytes);
        Planner { scan: Some(scan), head: Vec::new(), error: None, hasher: FileHasher::default(), bytes: 0 }
    }

    /// Feeds the next bytes of the file.
    pub fn push(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.bytes += bytes.len() as u64;
        if self.scan.as_ref().is_some_and(|s| s.header().is_none()) {
            self.head.extend_from_slice(bytes);
        }
        if let Some(scan) = self.scan.as_mut()
            && let Err(e) = scan.push(bytes)
        {
            self.error = Some(e);
            self.scan = None;
        }
    }

    /// Reads `reader` to the end, feeding every byte.
    ///
    /// # Errors
    /// Read failures (the plan is then incomplete: start again).
    pub fn push_reader(&mut self, reader: &mut dyn std::io::Read) -> std::io::Result<()> {
        let mut block = vec![0u8; 1 << 20];
        loop {
            match reader.read(&mut block) {
                Ok(0) => return Ok(()),
                Ok(n) => self.push(&block[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Ends the input: the identity, the size, and the plan or the problem.
    pub fn finish(self) -> Planned {
        let file_id = self.hasher.finish();
        let bytes = self.bytes;
        let mut head = self.head;
        let plan = match (self.error, self.scan) {
            (Some(e), _) => Err(e),
            (None, None) => Err(ErrorKind::NoHeader.into()),
            (None, Some(scan)) => scan.finish().map(|end| {
                let mut starts = vec![Position::default()];
                starts.extend(end.marks.into_iter().filter(|m| m.byte < bytes));
                let ends: Vec<u64> = starts.iter().skip(1).map(|p| p.byte).chain([bytes]).collect();
                let parts = starts.into_iter().zip(ends).map(|(start, end)| PartRange { start, end }).collect();
                head.truncate(usize::try_from(end.data_start).unwrap_or(usize::MAX));
                Plan { file_id: file_id.clone(), bytes, header_end: end.data_start, header: head, parts }
            }),
        };
        Planned { file_id, bytes, plan }
    }
}

/// Plans the file in `source` (see [`Planner`]).
///
/// # Errors
/// Read failures (a file-level problem is in [`Planned::plan`]).
pub fn plan(cfg: &IngestConfig, source: &dyn ByteSource, part_bytes: u64) -> Result<Planned> {
    let mut planner = Planner::new(cfg, part_bytes);
    let mut block = vec![0u8; 1 << 20];
    let mut at = 0;
    loop {
        let n = source.read_at(at, &mut block)?;
        if n == 0 {
            break;
        }
        planner.push(&block[..n]);
        at += n as u64;
    }
    Ok(planner.finish())
}

/// Reads the header from the start of `source`.
///
/// # Errors
/// A file-level problem of the header, read failures.
pub fn read_header(cfg: &IngestConfig, source: &dyn ByteSource) -> Result<Header> {
    const BLOCK: usize = 1 << 20;
    let mut buf = Vec::new();
    loop {
        let len = buf.len();
        buf.resize(len + BLOCK, 0);
        let n = source.read_at(len as u64, &mut buf[len..])?;
        buf.truncate(len + n);
        let eof = n == 0;
        if let Some(read) = crate::reader::read_header(&buf, eof, cfg.max_record_bytes)? {
            return Ok(read.header);
        }
        if eof {
            // `read_header` at the end of input reads a header or fails.
            return Err(ErrorKind::NoHeader.into());
        }
    }
}

/// The lines of one part to track in its second reading ([`find_repeats`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRepeats {
    /// The part.
    pub part: usize,
    /// The hashes of its lines that repeat a line (of this part or an earlier one), sorted.
    pub repeats: Vec<u64>,
    /// Those of them already met in earlier parts (their first line here is a repeat too).
    pub earlier: Vec<u64>,
}

/// Ingests part `k` of `plan` from `source` (which needs only the part's bytes: the
/// header comes with the plan) into `sink`. `repeats`: `None` for the first reading (line
/// hashes collected), the part's [`PartRepeats`] for a second one.
///
/// # Errors
/// A part not in the plan, a file-level problem in the part, read or sink failures.
pub fn ingest_range(
    meta: &FileMeta,
    cfg: &IngestConfig,
    plan: &Plan,
    k: usize,
    source: &dyn ByteSource,
    repeats: Option<&PartRepeats>,
    sink: &mut dyn TableSink,
) -> Result<PartOutput> {
    let part = plan.part(k)?;
    let ingest = if k == 0 {
        FileIngest::new(meta.clone(), cfg.clone()).as_first_range()
    } else {
        FileIngest::for_range(meta.clone(), cfg.clone(), plan.read_header(cfg)?, part.start)
    };
    let ingest = ingest.stopping_at(if k + 1 == plan.parts.len() { u64::MAX } else { part.end });
    let mut ingest = match repeats {
        Some(r) => ingest.with_part_repeats(&r.repeats, &r.earlier),
        None => ingest.deferring_repeats(part.len()),
    }
    .views_from(sink);
    feed(source, &mut ingest, part.start.byte, sink)?;
    ingest.finish_part(sink)
}

/// [`ingest_range`] into a sink of its own from `sinks`, closed also when the ingest
/// fails (an encoding thread is joined, not left running).
///
/// # Errors
/// As [`ingest_range`], and the sinks' failures to open or close.
pub fn ingest_range_into<K: PartSinks>(
    meta: &FileMeta,
    cfg: &IngestConfig,
    plan: &Plan,
    k: usize,
    source: &dyn ByteSource,
    repeats: Option<&PartRepeats>,
    sinks: &K,
) -> Result<PartOutput> {
    let mut sink = sinks.open(k)?;
    let out = ingest_range(meta, cfg, plan, k, source, repeats, &mut sink);
    let closed = sinks.close(k, sink);
    let out = out?;
    closed?;
    Ok(out)
}

/// The parts to read again, from every part's sorted line hashes (in part order): those
/// holding a line that repeats a line of the same or an earlier part.
///
/// Up to 8 parts (`FEW_PARTS`), each part's hashes are intersected with each earlier part's
/// (two sorted runs walked side by side, no branch to mispredict: O(parts × lines)); more
/// parts, one merge of all of them (a heap over the parts' cursors: O(lines × log parts)).
/// Neither copies a part's hashes, which at 10M lines would be another 80 MB.
pub fn find_repeats<'a>(hashes: impl IntoIterator<Item = &'a [u64]>) -> Vec<PartRepeats> {
    let parts: Vec<&[u64]> = hashes.into_iter().collect();
    if parts.len() <= FEW_PARTS { repeats_pairwise(&parts) } else { repeats_merged(&parts) }
}

/// The most parts [`find_repeats`] compares pairwise: 8 parts walk each line at most 7
/// times, about what a heap's sifting costs per line, without its mispredicted branches.
const FEW_PARTS: usize = 8;

/// [`find_repeats`] by intersecting every pair of parts.
fn repeats_pairwise(parts: &[&[u64]]) -> Vec<PartRepeats> {
    let mut found = Vec::new();
    for (part, hashes) in parts.iter().enumerate() {
        let mut earlier: Vec<u64> = Vec::new();
        for before in &parts[..part] {
            common(hashes, before, &mut earlier);
        }
        earlier.sort_unstable();
        earlier.dedup();
        let mut repeats = repeated(hashes);
        repeats.extend_from_slice(&earlier);
        repeats.sort_unstable();
        repeats.dedup();
        if !repeats.is_empty() {
            found.push(PartRepeats { part, repeats, earlier });
        }
    }
    found
}

/// Appends to `out` the values of the sorted `a` that are also in the sorted `b` (each
/// once per position met; the caller dedups).
fn common(a: &[u64], b: &[u64], out: &mut Vec<u64>) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        if x == y {
            out.push(x);
        }
        i += usize::from(x <= y);
        j += usize::from(y <= x);
    }
}

/// [`find_repeats`] by one merge of all the parts.
fn repeats_merged(parts: &[&[u64]]) -> Vec<PartRepeats> {
    use std::cmp::Reverse;
    let mut found: Vec<PartRepeats> =
        (0..parts.len()).map(|part| PartRepeats { part, repeats: Vec::new(), earlier: Vec::new() }).collect();
    let mut next = vec![0usize; parts.len()];
    let mut heap: std::collections::BinaryHeap<Reverse<(u64, usize)>> =
        parts.iter().enumerate().filter_map(|(p, h)| h.first().map(|&v| Reverse((v, p)))).collect();
    // The parts holding the current value, in part order, with how often each holds it.
    let mut holders: Vec<(usize, usize)> = Vec::new();
    while let Some(Reverse((value, _))) = heap.peek().copied() {
        holders.clear();
        while let Some(&Reverse((v, p))) = heap.peek() {
            if v != value {
                break;
            }
            heap.pop();
            let from = next[p];
            let run = parts[p][from..].iter().take_while(|&&x| x == value).count();
            next[p] = from + run;
            if let Some(&v) = parts[p].get(next[p]) {
                heap.push(Reverse((v, p)));
            }
            holders.push((p, run));
        }
        holders.sort_unstable();
        for (i, &(p, run)) in holders.iter().enumerate() {
            if i > 0 {
                found[p].earlier.push(value);
                found[p].repeats.push(value);
            } else if run > 1 {
                found[p].repeats.push(value);
            }
        }
    }
    found.retain(|f| !f.repeats.is_empty());
    found
}

/// Ingests the file in `source` in parts of about `part_bytes`, on `threads` threads,
/// each part into its own sink from `sinks`; merges the parts. See the [module docs](self).
/// `meta.file_id` must be the content's identity (the plan computes it and checks).
///
/// # Errors
/// The first file-level problem in file order (as one pass reports it), a content
/// identity other than `meta.file_id`, read or sink failures.
pub fn ingest_parts<K: PartSinks>(
    meta: &FileMeta,
    cfg: &IngestConfig,
    source: &dyn ByteSource,
    part_bytes: u64,
    threads: usize,
    sinks: &K,
) -> Result<FanOut> {
    let planned = plan(cfg, source, part_bytes)?;
    if planned.file_id != meta.file_id {
        let (expected, actual) = (meta.file_id.to_string(), planned.file_id.to_string());
        return Err(ErrorKind::ContentMismatch { expected, actual }.into());
    }
    let plan = planned.plan?;
    let mut outputs = Vec::with_capacity(plan.parts.len());
    for r in parallel(plan.parts.len(), threads, &|k| ingest_range_into(meta, cfg, &plan, k, source, None, sinks)) {
        outputs.push(r?);
    }
    let again = find_repeats(outputs.iter().map(|o| o.hashes.as_slice()));
    for out in &mut outputs {
        out.hashes = Vec::new(); // 8 bytes a line, not needed past this point
    }
    read_again_and_merge(meta, cfg, &plan, outputs, again, source, threads, sinks)
}

/// Ingests the file in `source` in one reading from its first byte to its last, cut into
/// parts of about `part_bytes` as it goes (each part into its own sink from `sinks`); then
/// reads again only the parts holding repeated lines, and merges, as [`ingest_parts`] does.
///
/// No plan pass: a part ends at the first record that starts at or after `part_bytes`
/// past its start, as its own ingest finds it, and the bytes read past that record start
/// the next part. For one reader (two cores: one reads and validates, the sink's thread
/// encodes), where a plan pass would be a second reading of the file; the parts are what
/// spares a file with a repeated line a second reading of all of it.
///
/// # Errors
/// As [`ingest_parts`].
pub fn ingest_in_sequence<K: PartSinks>(
    meta: &FileMeta,
    cfg: &IngestConfig,
    source: &dyn ByteSource,
    part_bytes: u64,
    sinks: &K,
) -> Result<FanOut> {
    /// Reads `source` in order, hashing every byte (the content identity).
    struct Hashed<'a> {
        inner: At<'a>,
        hasher: FileHasher,
    }
    impl std::io::Read for Hashed<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.hasher.update(&buf[..n]);
            Ok(n)
        }
    }
    let mut reader = Hashed { inner: At { source, at: 0 }, hasher: FileHasher::default() };
    let (mut parts, mut outputs) = (Vec::new(), Vec::new());
    let mut header: Option<(Header, u64)> = None;
    let mut start = Position::default();
    let mut rest = Vec::new();
    // Every line's hash, part after part, each part's sorted: `segments` says where.
    let (mut hashes, mut segments) = (Vec::new(), Vec::new());
    loop {
        let k = parts.len();
        let ingest = match &header {
            None => FileIngest::new(meta.clone(), cfg.clone()).as_first_range(),
            Some((h, _)) => FileIngest::for_range(meta.clone(), cfg.clone(), h.clone(), start),
        };
        let ingest = ingest.stopping_at(start.byte.saturating_add(part_bytes));
        let mut sink = sinks.open(k)?;
        // One vector of hashes for the whole reading, sized once from the file's size as
        // one pass's is: one allocation, given back whole (a vector per part, freed apart,
        // left more memory resident after the ingest). Each part's share is sorted in
        // place as the part ends.
        let mut ingest = if k == 0 {
            ingest.deferring_repeats(source.len())
        } else {
            ingest.deferring_repeats_after(std::mem::take(&mut hashes))
        }
        .views_from(&sink);
        let read = || -> Result<(PartOutput, bool, Option<u64>)> {
            ingest.push(&std::mem::take(&mut rest), &mut sink)?;
            if !ingest.is_done() {
                ingest.push_reader(&mut reader, &mut sink)?;
            }
            // Known unless the header ends the file: then it is read as the part finishes,
            // and no record follows it.
            let data_start = ingest.data_start();
            let stopped = ingest.is_done();
            if stopped {
                rest = ingest.take_rest();
            }
            Ok((ingest.finish_part_appended(&mut sink)?, stopped, data_start))
        };
        let read = read();
        let closed = sinks.close(k, sink); // also after a failure: its thread is joined
        let (mut out, stopped, data_start) = read?;
        closed?;
        if header.is_none() {
            header = out.header.clone().map(|h| (h, data_start.unwrap_or(source.len())));
        }
        hashes = std::mem::take(&mut out.hashes);
        let from = segments.last().map_or(0, |r: &std::ops::Range<usize>| r.end);
        sort_u64(&mut hashes[from..]);
        segments.push(from..hashes.len());
        let last = !stopped || (rest.is_empty() && reader.inner.at >= source.len());
        parts.push(PartRange { start, end: if last { source.len() } else { out.end.byte } });
        start = out.end;
        outputs.push(out);
        if last {
            break;
        }
    }
    let file_id = reader.hasher.finish();
    if file_id != meta.file_id {
        let (expected, actual) = (meta.file_id.to_string(), file_id.to_string());
        return Err(ErrorKind::ContentMismatch { expected, actual }.into());
    }
    let Some((_, header_end)) = header else {
        return Err(ErrorKind::NoHeader.into()); // the first part fails without one
    };
    let mut head = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(At { source, at: 0 }, header_end), &mut head)?;
    let plan = Plan { file_id, bytes: source.len(), header_end, header: head, parts };
    let again = find_repeats(segments.into_iter().map(|r| &hashes[r]));
    drop(hashes);
    read_again_and_merge(meta, cfg, &plan, outputs, again, source, 1, sinks)
}

/// The fan-out's last two steps: reads again the parts of `outputs` (first readings, in
/// part order) that hold repeated lines (`again`, from [`find_repeats`]), on `threads`
/// threads, then merges.
#[allow(clippy::too_many_arguments, reason = "the fan-out's state, each part of it needed")]
fn read_again_and_merge<K: PartSinks>(
    meta: &FileMeta,
    cfg: &IngestConfig,
    plan: &Plan,
    mut outputs: Vec<PartOutput>,
    again: Vec<PartRepeats>,
    source: &dyn ByteSource,
    threads: usize,
    sinks: &K,
) -> Result<FanOut> {
    let redone = parallel(again.len(), threads, &|i| {
        ingest_range_into(meta, cfg, plan, again[i].part, source, Some(&again[i]), sinks)
    });
    for (r, a) in redone.into_iter().zip(&again) {
        outputs[a.part] = r?;
    }
    let mut merged = merge(meta, cfg, plan, outputs)?;
    merged.parts_read_again = again.len();
    Ok(merged)
}

/// Merges the parts' outputs (in file order, second readings in place) into the file's
/// manifest and dimensions.
///
/// # Errors
/// [`ErrorKind::Internal`] for outputs not one per part of the plan; dimension batches (a bug).
pub fn merge(meta: &FileMeta, cfg: &IngestConfig, plan: &Plan, outputs: Vec<PartOutput>) -> Result<FanOut> {
    let header = &plan.read_header(cfg)?;
    let parts = outputs.len();
    if parts != plan.parts.len() {
        let message = format!("{parts} part outputs for a plan of {} parts", plan.parts.len());
        return Err(ErrorKind::Internal { what: "fan-out merge", message }.into());
    }
    let bytes = plan.bytes;
    let mut summary = FileSummary::default();
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
    problems.truncate(SAMPLE_PROBLEMS);
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
    let manifest = Manifest::of_file(meta, cfg, bytes, header, &summary, problems, objects);
    Ok(FanOut { manifest, dimensions, parts, parts_read_again: 0 })
}

/// A [`PartOutput`] as stored between the steps of a distributed fan-out (the hashes go
/// apart, as raw little-endian `u64`s: [`PartOutput::hashes_to_bytes`]).
#[derive(serde::Serialize, serde::Deserialize)]
struct PartRecord {
    summary: FileSummary,
    problems: Vec<Problem>,
    clients: Vec<(i64, ClientSeen)>,
    products: Vec<(i64, ProductSeen)>,
    end: Position,
    /// How many hashes go with it (a check on the hashes object).
    hashes: u64,
}

impl PartOutput {
    /// The part's output as JSON, without its line hashes (see
    /// [`hashes_to_bytes`](Self::hashes_to_bytes)) and header. Deterministic: the same part
    /// gives the same bytes.
    ///
    /// # Errors
    /// Never in practice (serialisation of plain data).
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let mut clients: Vec<(i64, ClientSeen)> = self.clients.iter().map(|(k, v)| (*k, v.clone())).collect();
        clients.sort_unstable_by_key(|(k, _)| *k);
        let mut products: Vec<(i64, ProductSeen)> = self.products.iter().map(|(k, v)| (*k, v.clone())).collect();
        products.sort_unstable_by_key(|(k, _)| *k);
        let record = PartRecord {
            summary: self.summary.clone(),
            problems: self.problems.clone(),
            clients,
            products,
            end: self.end,
            hashes: self.hashes.len() as u64,
        };
        Ok(serde_json::to_vec(&record)?)
    }

    /// A part's output read back from [`to_json`](Self::to_json) and its hashes.
    ///
    /// # Errors
    /// Malformed JSON; [`ErrorKind::Internal`] for hashes that are not the ones written with
    /// it (count or order).
    pub fn from_json(json: &[u8], hashes: Vec<u64>) -> Result<PartOutput> {
        let r: PartRecord = serde_json::from_slice(json)?;
        if r.hashes != hashes.len() as u64 || hashes.windows(2).any(|w| w[0] > w[1]) {
            let message = format!("{} line hashes (sorted?) for a part that wrote {}", hashes.len(), r.hashes);
            return Err(ErrorKind::Internal { what: "fan-out part hashes", message }.into());
        }
        Ok(PartOutput {
            summary: r.summary,
            problems: r.problems,
            clients: r.clients.into_iter().collect(),
            products: r.products.into_iter().collect(),
            header: None,
            hashes,
            end: r.end,
        })
    }

    /// The sorted hashes of the part's lines.
    pub fn hashes(&self) -> &[u64] {
        &self.hashes
    }

    /// The hashes as raw little-endian `u64`s (8 bytes per line).
    pub fn hashes_to_bytes(&self) -> Vec<u8> {
        self.hashes.iter().flat_map(|h| h.to_le_bytes()).collect()
    }

    /// Hashes read back from [`hashes_to_bytes`](Self::hashes_to_bytes).
    ///
    /// # Errors
    /// [`ErrorKind::Internal`] for a length that is not a multiple of 8.
    pub fn hashes_from_bytes(bytes: &[u8]) -> Result<Vec<u64>> {
        if !bytes.len().is_multiple_of(8) {
            let message = format!("{} bytes is not a whole number of 8-byte hashes", bytes.len());
            return Err(ErrorKind::Internal { what: "fan-out part hashes", message }.into());
        }
        Ok(bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect())
    }
}
