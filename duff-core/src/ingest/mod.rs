//! Streaming ingestion of one orders file: bytes in, Arrow batches and a manifest out.
//!
//! [`FileIngest`] is a push parser: feed it the file in pieces of any size with
//! [`push`](FileIngest::push) (or hand it an `impl Read` with [`ingest_reader`]), then call
//! [`finish`](FileIngest::finish). Batches of at most [`IngestConfig::batch_rows`] rows go to a
//! [`TableSink`] as they fill, so memory stays bounded: besides one batch per table, it
//! holds one entry per distinct client and product, and 8 bytes per row for the index that
//! finds repeated lines.
//!
//! What the sink receives is *staged*: publish it only when the returned manifest's
//! outcome is [`Outcome::Published`] (a file over the reject threshold is refused whole).

use crate::columns::{Column, Header};
use crate::config::IngestConfig;
use crate::domain::{OrderLine, Reason, ReasonCode};
use crate::error::{ErrorKind, Position, Result};
use crate::hash::IntMap;
use crate::lake::{FileHasher, FileMeta, Table};
use crate::manifest::{FileSummary, Manifest, OutputObject, Problem, SAMPLE_PROBLEMS};
use crate::reader::{Field, Scan, scan_record};
use crate::tables::{
    ClientSeen, DimensionViews, FactOrderLineBuilder, ProductSeen, QuarantineBuilder, QuarantinedRow, RAW_TEXT_LIMIT,
    dim_client_batch, dim_product_batch,
};
use crate::validate::{shown, validate};
use arrow_array::RecordBatch;
use repeats::{HashSetU64, LineIndex};
use std::collections::BTreeMap;
use std::io::Read;

mod repeats;
#[cfg(test)]
mod tests;

pub use repeats::RepeatedLines;
pub(crate) use repeats::{repeated, sort_u64};

/// Where batches go. Implemented by Parquet writers, collectors in tests, uploaders.
pub trait TableSink {
    /// Receives one batch of `table`.
    ///
    /// # Errors
    /// Whatever writing the batch may fail with; ingestion stops with that error.
    fn write_batch(&mut self, table: Table, batch: RecordBatch) -> Result<()>;

    /// The [`DimensionViews`](crate::tables::DimensionViews) of every fact batch written so
    /// far, for a sink that computes them where the batches go (an encoding thread), so
    /// that an ingest started with [`FileIngest::views_from_sink`] does not on its reading
    /// thread. `None` (the default): this sink does not.
    fn dimension_views(&mut self) -> Option<Result<crate::tables::DimensionViews>> {
        None
    }

    /// True when this sink computes the views ([`dimension_views`](Self::dimension_views)
    /// returns them): an ingest then leaves them to it ([`FileIngest::views_from`]). False
    /// by default.
    fn computes_views(&self) -> bool {
        false
    }
}

/// A sink that keeps every batch in memory, per table (tests, small files).
#[derive(Debug, Default)]
pub struct CollectSink {
    /// Batches received, per table, in order.
    pub batches: BTreeMap<Table, Vec<RecordBatch>>,
}

impl CollectSink {
    /// Total rows received for `table`.
    pub fn rows(&self, table: Table) -> usize {
        self.batches.get(&table).map_or(0, |b| b.iter().map(RecordBatch::num_rows).sum())
    }
}

impl TableSink for CollectSink {
    fn write_batch(&mut self, table: Table, batch: RecordBatch) -> Result<()> {
        self.batches.entry(table).or_default().push(batch);
        Ok(())
    }
}

/// The longest field accepted; a longer one quarantines its row (`field_too_long`).
pub const MAX_FIELD_BYTES: usize = 64 * 1024;

/// How an ingest that deferred the search for repeated lines ends.
#[derive(Debug)]
pub enum Finish {
    /// No line repeats: the file's manifest, as [`FileIngest::finish`] returns it.
    Done(Box<Manifest>),
    /// Some lines repeat: what the sink received is void; ingest the file again with
    /// [`FileIngest::with_repeats`] (into a fresh sink).
    ReadAgain(RepeatedLines),
}

/// The streaming ingest of one file. See the [crate docs](crate).
pub struct FileIngest {
    meta: FileMeta,
    cfg: IngestConfig,
    header: Option<Header>,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    buf_offset: u64,
    /// Line on which the next record starts.
    line: u64,
    /// File offset of the first record after the header (once the header was read here).
    data_start: Option<u64>,
    /// Index of the next record (the header is record 0).
    record: u64,
    fields: Vec<Field>,
    reasons: Vec<Reason>,
    seen: LineIndex,
    fact: FactOrderLineBuilder,
    quarantine: QuarantineBuilder,
    /// The file's client and product views (unless the sink computes them).
    views: DimensionViews,
    summary: FileSummary,
    problems: Vec<Problem>,
    /// The content identity of the bytes fed (not of a part: the identity is the whole file's).
    hasher: FileHasher,
    bytes: u64,
    /// Records starting at or after this file offset are left to the next part.
    stop_at: u64,
    /// The record at `stop_at` was reached: further input is ignored.
    done: bool,
    /// A part of a fanned-out file: the content identity is not verified, dimensions are
    /// returned, not written.
    is_part: bool,
    /// The sink computes the client and product views ([`TableSink::dimension_views`]).
    views_from_sink: bool,
}

impl std::fmt::Debug for FileIngest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileIngest")
            .field("meta", &self.meta)
            .field("line", &self.line)
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

impl FileIngest {
    /// Starts the ingest of the file described by `meta`.
    pub fn new(meta: FileMeta, cfg: IngestConfig) -> Self {
        let batch = cfg.batch_rows.max(1);
        FileIngest {
            fact: FactOrderLineBuilder::new(meta.clone(), batch),
            quarantine: QuarantineBuilder::new(meta.clone()),
            meta,
            cfg,
            header: None,
            buf: Vec::new(),
            buf_offset: 0,
            line: 1,
            data_start: None,
            record: 0,
            fields: Vec::with_capacity(16),
            reasons: Vec::new(),
            seen: LineIndex::Set(HashSetU64::default()),
            views: DimensionViews::default(),
            summary: FileSummary::default(),
            problems: Vec::new(),
            hasher: FileHasher::default(),
            bytes: 0,
            stop_at: u64::MAX,
            done: false,
            is_part: false,
            views_from_sink: false,
        }
    }

    /// Starts the ingest of one byte range of a file whose header was read elsewhere (the
    /// fan-out of a big file): `start` is the position of the range's first record. The
    /// range's [`FileSummary`] and states merge with those of the other ranges.
    ///
    /// Two things need the whole file and are the merge step's: the content identity (not
    /// verified here) and repeated lines across ranges (each range finds its own).
    pub fn for_range(meta: FileMeta, cfg: IngestConfig, header: Header, start: Position) -> Self {
        let mut ingest = FileIngest::new(meta, cfg);
        ingest.header = Some(header);
        ingest.line = start.line;
        ingest.record = start.record;
        ingest.buf_offset = start.byte;
        ingest.is_part = true;
        ingest
    }

    /// Defers the search for repeated lines to the end: each line's hash is appended to a
    /// vector (8 bytes per line, no random access), sorted by
    /// [`finish_deferred`](Self::finish_deferred). Faster on big files; a file with repeated
    /// lines must then be read twice. `expected_bytes` (the file's size, or 0) sizes the
    /// vector once the first block shows the average line length.
    pub fn deferring_repeats(mut self, expected_bytes: u64) -> Self {
        self.seen = LineIndex::deferred(expected_bytes);
        self
    }

    /// Starts the second reading of a file whose first reading found `repeats`: only
    /// those lines are tracked (the first of each is kept, the others are quarantined as
    /// `duplicate_line`); the result equals a one-pass ingest with the full index.
    pub fn with_repeats(mut self, repeats: &RepeatedLines) -> Self {
        self.seen = LineIndex::known(&repeats.0, &[]);
        self
    }

    /// Ends an ingest started with [`deferring_repeats`](Self::deferring_repeats): sorts
    /// the line hashes and either finishes (no repeats) or asks for a second reading.
    ///
    /// # Errors
    /// As [`finish`](Self::finish).
    pub fn finish_deferred(mut self, sink: &mut dyn TableSink) -> Result<Finish> {
        self.process(true, sink)?;
        if let LineIndex::Deferred { .. } = self.seen {
            let repeats = repeated(&self.seen.take_sorted());
            if !repeats.is_empty() {
                return Ok(Finish::ReadAgain(RepeatedLines(repeats)));
            }
        }
        self.finish(sink).map(|m| Finish::Done(Box::new(m)))
    }

    /// Marks this ingest as the first byte range of a fanned-out file (it reads the header;
    /// the content identity, being the whole file's, is not verified).
    pub fn as_first_range(mut self) -> Self {
        self.is_part = true;
        self
    }

    /// Ends this part before the first record that starts at or after the file offset
    /// `end` (the record running across `end` is this part's). Feed input until
    /// [`is_done`](Self::is_done); input after that is ignored.
    pub fn stopping_at(mut self, end: u64) -> Self {
        self.stop_at = end;
        self
    }

    /// Leaves the per-file client and product views to the sink, which computes them from
    /// the fact batches ([`TableSink::dimension_views`]): the reading thread then does less
    /// per row. The sink must compute them, or finishing fails ([`ErrorKind::Internal`]).
    pub fn views_from_sink(mut self) -> Self {
        self.views_from_sink = true;
        self
    }

    /// [`views_from_sink`](Self::views_from_sink) when `sink` computes the views
    /// ([`TableSink::computes_views`]); as is otherwise.
    pub fn views_from(self, sink: &dyn TableSink) -> Self {
        if sink.computes_views() { self.views_from_sink() } else { self }
    }

    /// True once the record at the [`stopping_at`](Self::stopping_at) offset was reached.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Where the next record starts (after everything fed so far was handled).
    pub fn next_position(&self) -> Position {
        Position { line: self.line, record: self.record, byte: self.buf_offset }
    }

    /// The header, once it has been read.
    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    /// Bytes fed so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// Counts so far.
    pub fn summary(&self) -> &FileSummary {
        &self.summary
    }

    /// Feeds the next bytes of the file.
    ///
    /// # Errors
    /// A file-level problem (see [`ErrorKind`]) or a sink failure. After an error the
    /// ingest must be dropped; the file is refused.
    pub fn push(&mut self, bytes: &[u8], sink: &mut dyn TableSink) -> Result<()> {
        if self.done {
            return Ok(());
        }
        if !self.is_part {
            self.hasher.update(bytes);
        }
        self.bytes += bytes.len() as u64;
        self.buf.extend_from_slice(bytes);
        self.process(false, sink)
    }

    /// Reads `reader` to the end, in blocks, feeding every byte.
    ///
    /// # Errors
    /// As [`push`](Self::push), and read failures.
    pub fn push_reader(&mut self, reader: &mut dyn Read, sink: &mut dyn TableSink) -> Result<()> {
        const BLOCK: usize = 1 << 20;
        loop {
            if self.done {
                return Ok(());
            }
            let len = self.buf.len();
            self.buf.resize(len + BLOCK, 0);
            let n = loop {
                match reader.read(&mut self.buf[len..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.buf.truncate(len);
                        return Err(e.into());
                    }
                }
            };
            self.buf.truncate(len + n);
            if n == 0 {
                return Ok(());
            }
            if !self.is_part {
                self.hasher.update(&self.buf[len..]);
            }
            self.bytes += n as u64;
            self.process(false, sink)?;
        }
    }

    /// Ends the input: flushes the last batches, checks the content identity, applies the
    /// reject threshold and returns the file's manifest.
    ///
    /// # Errors
    /// A file-level problem, a content identity different from `meta.file_id`
    /// ([`ErrorKind::ContentMismatch`]), or a sink failure.
    pub fn finish(mut self, sink: &mut dyn TableSink) -> Result<Manifest> {
        self.flush_all(sink)?;
        let Some(header) = self.header.take() else {
            return Err(ErrorKind::NoHeader.into());
        };
        let outputs = [
            (Table::FactOrderLine, self.summary.rows_accepted),
            (Table::Quarantine, self.summary.rows_quarantined),
            (Table::DimClient, self.views.clients() as u64),
            (Table::DimProduct, self.views.products() as u64),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(table, rows)| OutputObject { table, key: table.object_key(&self.meta), rows })
        .collect();
        Ok(Manifest::of_file(&self.meta, &self.cfg, self.bytes, &header, &self.summary, self.problems, outputs))
    }

    /// Ends the input of a part of a fanned-out file (see [`for_range`](Self::for_range)
    /// and [`crate::fanout`]): flushes its fact and quarantine batches and returns what
    /// the merge needs (counts, sample problems, dimensions, sorted line hashes).
    ///
    /// # Errors
    /// A file-level problem in the part, or a sink failure.
    pub fn finish_part(mut self, sink: &mut dyn TableSink) -> Result<PartOutput> {
        self.flush_all(sink)?;
        let hashes = self.seen.take_sorted();
        Ok(PartOutput {
            summary: self.summary,
            problems: self.problems,
            clients: self.views.clients,
            products: self.views.products,
            header: self.header,
            hashes,
            end: Position { line: self.line, record: self.record, byte: self.buf_offset },
        })
    }

    /// Handles the end of input and sends every pending batch.
    fn flush_all(&mut self, sink: &mut dyn TableSink) -> Result<()> {
        self.process(true, sink)?;
        if !self.is_part {
            let actual = self.hasher.finish();
            if actual != self.meta.file_id {
                return Err(ErrorKind::ContentMismatch {
                    expected: self.meta.file_id.to_string(),
                    actual: actual.to_string(),
                }
                .into());
            }
        }
        if self.header.is_none() {
            return Err(ErrorKind::NoHeader.into());
        }
        if !self.fact.is_empty() {
            sink.write_batch(Table::FactOrderLine, self.fact.finish()?)?;
        }
        if !self.quarantine.is_empty() {
            sink.write_batch(Table::Quarantine, self.quarantine.finish()?)?;
        }
        if self.views_from_sink {
            let views = sink.dimension_views().unwrap_or_else(|| {
                let message = "the ingest leaves the dimension views to a sink that does not compute them".into();
                Err(ErrorKind::Internal { what: "table sink", message }.into())
            })?;
            self.views = views;
        }
        if self.views.clients() > 0 && !self.is_part {
            sink.write_batch(
                Table::DimClient,
                dim_client_batch(&self.meta, self.views.clients.iter().map(|(k, v)| (*k, v)))?,
            )?;
        }
        if self.views.products() > 0 && !self.is_part {
            sink.write_batch(
                Table::DimProduct,
                dim_product_batch(&self.meta, self.views.products.iter().map(|(k, v)| (*k, v)))?,
            )?;
        }
        Ok(())
    }

    fn process(&mut self, eof: bool, sink: &mut dyn TableSink) -> Result<()> {
        let buf = std::mem::take(&mut self.buf);
        let result = self.process_buf(&buf, eof, sink);
        self.buf = buf;
        match result {
            Ok(consumed) => {
                self.seen.size_once(self.bytes - (self.buf.len() - consumed) as u64);
                self.buf.drain(..consumed);
                self.buf_offset += consumed as u64;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Handles every complete record in `buf`; returns how many bytes were consumed.
    fn process_buf(&mut self, buf: &[u8], eof: bool, sink: &mut dyn TableSink) -> Result<usize> {
        let mut pos = 0;
        if self.header.is_none() {
            let Some(read) = crate::reader::read_header(buf, eof, self.cfg.max_record_bytes)? else {
                return Ok(0);
            };
            self.header = Some(read.header);
            self.data_start = Some(self.buf_offset + read.next as u64);
            self.line = read.next_line;
            self.record = 1;
            self.summary.blank_lines += read.blank_lines;
            pos = read.next;
        }
        let Some(delim) = self.header.as_ref().map(|h| h.delimiter) else {
            return Ok(pos);
        };
        let mut fields = std::mem::take(&mut self.fields);
        // One UTF-8 check over the whole block (the common, valid case); rows beyond the
        // first invalid byte are checked one by one.
        let block_start = pos;
        let block: &str = match std::str::from_utf8(&buf[pos..]) {
            Ok(text) => text,
            Err(e) => std::str::from_utf8(&buf[pos..pos + e.valid_up_to()]).unwrap_or_default(),
        };
        let utf8_until = block_start + block.len();
        let text = crate::validate::TextBlock { text: block, base: block_start };
        let result = loop {
            if self.buf_offset + pos as u64 >= self.stop_at {
                self.done = true;
                break Ok(pos);
            }
            if pos >= buf.len() {
                break Ok(pos);
            }
            match scan_record(buf, pos, delim, eof, &mut fields) {
                Scan::Record { next, raw_end, bad_quote, inner_newlines } => {
                    let span = Span { start: pos, raw_end, bad_quote, known_utf8: raw_end <= utf8_until };
                    if let Err(e) = self.handle_record(buf, &text, span, &fields, sink) {
                        break Err(e);
                    }
                    self.line += 1 + inner_newlines;
                    pos = next;
                }
                Scan::NeedMore => {
                    if buf.len() - pos > self.cfg.max_record_bytes {
                        break Err(ErrorKind::RecordTooLarge {
                            pos: self.position(pos),
                            limit: self.cfg.max_record_bytes,
                        }
                        .into());
                    }
                    break Ok(pos);
                }
                Scan::Unterminated => break Err(ErrorKind::UnterminatedQuote { pos: self.position(pos) }.into()),
            }
        };
        self.fields = fields;
        result
    }

    fn position(&self, at: usize) -> Position {
        Position { line: self.line, record: self.record, byte: self.buf_offset + at as u64 }
    }

    fn handle_record(
        &mut self,
        buf: &[u8],
        text: &crate::validate::TextBlock<'_>,
        span: Span,
        fields: &[Field],
        sink: &mut dyn TableSink,
    ) -> Result<()> {
        let Span { start, raw_end, bad_quote, known_utf8 } = span;
        let raw = &buf[start..raw_end];
        if raw.is_empty() {
            self.summary.blank_lines += 1;
            return Ok(());
        }
        let Some(header) = self.header.as_ref() else {
            return Err(ErrorKind::NoHeader.into());
        };
        let pos = self.position(start);
        self.record += 1;
        let mut reasons = std::mem::take(&mut self.reasons);
        reasons.clear();

        if !self.seen.insert(xxhash_rust::xxh3::xxh3_64(raw)) {
            reasons.push(Reason::new(
                ReasonCode::DuplicateLine,
                None,
                "repeats, byte for byte, an earlier line of this file".into(),
            ));
        }
        if let Some(e) = (!known_utf8).then(|| std::str::from_utf8(raw).err()).flatten() {
            reasons.push(Reason::new(
                ReasonCode::InvalidUtf8,
                None,
                format!("not valid UTF-8 at byte {} of the row", e.valid_up_to()),
            ));
        }
        if let Some(i) = bad_quote {
            reasons.push(Reason::new(
                ReasonCode::BadQuoting,
                column_at(header, i),
                format!("field {} ({}) has text after its closing quote", i + 1, header.field_name(i)),
            ));
        }
        for (i, f) in fields.iter().enumerate() {
            if f.end - f.start > MAX_FIELD_BYTES {
                reasons.push(Reason::new(
                    ReasonCode::FieldTooLong,
                    column_at(header, i),
                    format!(
                        "field {} ({}) is {} bytes, over the {MAX_FIELD_BYTES}-byte limit",
                        i + 1,
                        header.field_name(i),
                        f.end - f.start
                    ),
                ));
            }
        }
        let row = if fields.len() == header.width {
            validate(buf, known_utf8.then_some(text), fields, header, &mut reasons)
        } else {
            reasons.push(Reason::new(
                ReasonCode::FieldCount,
                None,
                format!("has {} fields, the header has {}", fields.len(), header.width),
            ));
            None
        };
        let result = match row {
            Some(row) if reasons.is_empty() => self.accept(pos.line, &row, sink),
            _ => self.reject(pos, raw, &reasons, sink),
        };
        self.reasons = reasons;
        result
    }

    fn accept(&mut self, line: u64, row: &OrderLine<'_>, sink: &mut dyn TableSink) -> Result<()> {
        self.summary.accept(row);
        self.fact.append(line, row);
        if self.views_from_sink {
            if self.fact.len() >= self.cfg.batch_rows {
                sink.write_batch(Table::FactOrderLine, self.fact.finish()?)?;
            }
            return Ok(());
        }
        self.views.see_client(row.client_id, &row.client_name, line);
        self.views.see_product(row.product_id, &row.product_description, row.unit_price, row.unit_volume, line);
        if self.fact.len() >= self.cfg.batch_rows {
            sink.write_batch(Table::FactOrderLine, self.fact.finish()?)?;
        }
        Ok(())
    }

    fn reject(&mut self, pos: Position, raw: &[u8], reasons: &[Reason], sink: &mut dyn TableSink) -> Result<()> {
        self.summary.quarantine(reasons);
        let cut = raw.len().min(RAW_TEXT_LIMIT);
        let mut text = String::from_utf8_lossy(&raw[..cut]).into_owned();
        if cut < raw.len() {
            // Never end inside a character that the cut split.
            while text.ends_with('\u{FFFD}') && !raw[..cut].ends_with("\u{FFFD}".as_bytes()) {
                text.pop();
            }
        }
        if self.problems.len() < SAMPLE_PROBLEMS {
            self.problems.push(Problem {
                line: pos.line,
                reason_codes: reasons.iter().map(|r| r.code.as_str().to_owned()).collect(),
                message: reasons.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
                raw: shown(raw),
            });
        }
        self.quarantine.append(&QuarantinedRow {
            pos,
            raw: text,
            raw_truncated: cut < raw.len(),
            reasons: reasons.to_vec(),
        });
        if self.quarantine.len() >= self.cfg.batch_rows {
            sink.write_batch(Table::Quarantine, self.quarantine.finish()?)?;
        }
        Ok(())
    }
}

/// What one part of a fanned-out file hands to the merge ([`FileIngest::finish_part`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartOutput {
    /// Counts and totals of the part.
    pub summary: FileSummary,
    /// The part's first sample problems, in line order.
    pub problems: Vec<Problem>,
    pub(crate) clients: IntMap<i64, ClientSeen>,
    pub(crate) products: IntMap<i64, ProductSeen>,
    /// The header (read by the first part, given to the others).
    pub header: Option<Header>,
    /// The hashes of the part's lines, sorted (8 bytes per line).
    pub(crate) hashes: Vec<u64>,
    /// Where the next part starts.
    pub end: Position,
}

impl FileIngest {
    /// The bytes fed but not handled: after [`is_done`](Self::is_done), those from the
    /// record at the stopping offset on (the next part's first bytes), leaving none here.
    pub(crate) fn take_rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Where the first record after the header starts, once this ingest read the header.
    pub(crate) fn data_start(&self) -> Option<u64> {
        self.data_start
    }

    /// Defers the search for repeated lines as [`deferring_repeats`](Self::deferring_repeats)
    /// does, appending the hashes to `hashes` (those of the earlier parts of one reading).
    pub(crate) fn deferring_repeats_after(mut self, hashes: Vec<u64>) -> Self {
        self.seen = LineIndex::deferred_after(hashes);
        self
    }

    /// As [`finish_part`](Self::finish_part), the hashes left as appended (not sorted:
    /// the earlier parts' first, then this part's, in line order).
    pub(crate) fn finish_part_appended(mut self, sink: &mut dyn TableSink) -> Result<PartOutput> {
        let hashes = self.seen.take_appended();
        let mut out = self.finish_part(sink)?;
        out.hashes = hashes;
        Ok(out)
    }

    /// Starts the second reading of one part whose first reading (or an earlier part) met
    /// repeated lines: `repeats` are the hashes that repeat, `seen_before` those of them
    /// already met in earlier parts (so their first line here is a repeat too).
    pub(crate) fn with_part_repeats(mut self, repeats: &[u64], seen_before: &[u64]) -> Self {
        self.seen = LineIndex::known(repeats, seen_before);
        self
    }
}

/// Where one record is in the buffer, and what the scanner found out about it.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    raw_end: usize,
    bad_quote: Option<usize>,
    /// The block check proved the record valid UTF-8.
    known_utf8: bool,
}

fn column_at(header: &Header, i: usize) -> Option<Column> {
    Column::ALL.into_iter().find(|c| header.field_of(*c) == i)
}

/// Ingests a whole file from a reader: the one-call form of [`FileIngest`].
///
/// # Errors
/// As [`FileIngest::push`] and [`FileIngest::finish`].
pub fn ingest_reader(
    meta: FileMeta,
    cfg: IngestConfig,
    reader: &mut dyn Read,
    sink: &mut dyn TableSink,
) -> Result<Manifest> {
    let mut ingest = FileIngest::new(meta, cfg);
    ingest.push_reader(reader, sink)?;
    ingest.finish(sink)
}

/// Ingests a file held in memory.
///
/// # Errors
/// As [`ingest_reader`].
pub fn ingest_bytes(meta: FileMeta, cfg: IngestConfig, bytes: &[u8], sink: &mut dyn TableSink) -> Result<Manifest> {
    let mut ingest = FileIngest::new(meta, cfg);
    ingest.push(bytes, sink)?;
    ingest.finish(sink)
}
