//! The plan's record scan: record boundaries only, no validation.

use crate::columns::Header;
use crate::config::IngestConfig;
use crate::error::{ErrorKind, Position, Result};
use crate::reader::{Field, Scan, read_header, scan_record};

/// Finds the records of a file fed in order, from its first byte, in pieces of any size:
/// reads the header, counts lines and records, and marks the first record start at or after
/// every `every` bytes past the previous mark (the first one `every` bytes past the header).
/// The quote state is tracked from the file's start, so a mark is never inside a record
/// (quoted newlines included) and comes with its exact line and record numbers.
///
/// It meets the same file-level problems as the row ingest, at the same positions: a
/// header problem, a quote left open, a record over [`IngestConfig::max_record_bytes`].
/// Nothing else is checked. Memory: the unfinished record and the marks.
#[derive(Debug)]
pub(crate) struct RecordScan {
    max_record_bytes: usize,
    header: Option<Header>,
    /// Input not yet scanned (the start of an unfinished record).
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    buf_offset: u64,
    /// Line on which the next record starts.
    line: u64,
    /// Index of the next record (the header is record 0).
    record: u64,
    fields: Vec<Field>,
    /// Where the first record after the header starts (0 until the header is read).
    data_start: u64,
    /// The distance between marks (at least 1).
    every: u64,
    /// The next mark is the first record starting at or after this offset.
    next_mark: u64,
    marks: Vec<Position>,
}

/// What a [`RecordScan`] found (it read a header).
#[derive(Debug)]
pub(crate) struct ScanEnd {
    /// Where the first record after the header starts.
    pub(crate) data_start: u64,
    /// The marked record starts, in file order.
    pub(crate) marks: Vec<Position>,
}

impl RecordScan {
    /// A scan marking a record start about every `every` bytes.
    pub(crate) fn new(cfg: &IngestConfig, every: u64) -> RecordScan {
        RecordScan {
            max_record_bytes: cfg.max_record_bytes,
            header: None,
            buf: Vec::new(),
            buf_offset: 0,
            line: 1,
            record: 0,
            fields: Vec::with_capacity(16),
            data_start: 0,
            every: every.max(1),
            next_mark: u64::MAX,
            marks: Vec::new(),
        }
    }

    /// The header, once it has been read.
    pub(crate) fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    /// Feeds the next bytes of the file.
    ///
    /// # Errors
    /// The first file-level problem met (the scan must then be dropped).
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<()> {
        self.buf.extend_from_slice(bytes);
        self.process(false)
    }

    /// Ends the input.
    ///
    /// # Errors
    /// The first file-level problem met, [`ErrorKind::NoHeader`] for a file without one.
    pub(crate) fn finish(mut self) -> Result<ScanEnd> {
        self.process(true)?;
        if self.header.is_none() {
            return Err(ErrorKind::NoHeader.into());
        }
        Ok(ScanEnd { data_start: self.data_start, marks: self.marks })
    }

    fn process(&mut self, eof: bool) -> Result<()> {
        let buf = std::mem::take(&mut self.buf);
        let result = self.scan(&buf, eof);
        self.buf = buf;
        let consumed = result?;
        self.buf.drain(..consumed);
        self.buf_offset += consumed as u64;
        Ok(())
    }

    /// Scans every complete record in `buf`; returns how many bytes were consumed.
    fn scan(&mut self, buf: &[u8], eof: bool) -> Result<usize> {
        let mut pos = 0;
        let delim = match &self.header {
            Some(header) => header.delimiter,
            None => {
                let Some(read) = read_header(buf, eof, self.max_record_bytes)? else {
                    return Ok(0);
                };
                let delim = read.header.delimiter;
                self.header = Some(read.header);
                self.line = read.next_line;
                self.record = 1;
                pos = read.next;
                self.data_start = self.buf_offset + pos as u64;
                self.next_mark = self.data_start.saturating_add(self.every);
                delim
            }
        };
        let mut fields = std::mem::take(&mut self.fields);
        let result = loop {
            // A mark needs a record there: at the end of the buffer, wait for more input.
            if self.buf_offset + pos as u64 >= self.next_mark && pos < buf.len() {
                let at = self.position(pos);
                self.marks.push(at);
                self.next_mark = at.byte.saturating_add(self.every);
            }
            if pos >= buf.len() {
                break Ok(pos);
            }
            match scan_record(buf, pos, delim, eof, &mut fields) {
                Scan::Record { next, raw_end, inner_newlines, .. } => {
                    // A blank line is not a record.
                    if raw_end > pos {
                        self.record += 1;
                    }
                    self.line += 1 + inner_newlines;
                    pos = next;
                }
                Scan::NeedMore if buf.len() - pos > self.max_record_bytes => {
                    let limit = self.max_record_bytes;
                    break Err(ErrorKind::RecordTooLarge { pos: self.position(pos), limit }.into());
                }
                Scan::NeedMore => break Ok(pos),
                Scan::Unterminated => break Err(ErrorKind::UnterminatedQuote { pos: self.position(pos) }.into()),
            }
        };
        self.fields = fields;
        result
    }

    fn position(&self, at: usize) -> Position {
        Position { line: self.line, record: self.record, byte: self.buf_offset + at as u64 }
    }
}

#[cfg(test)]
mod tests;
