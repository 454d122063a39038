//! An RFC 4180 record scanner over a byte buffer: the fast path of the reader.
//!
//! It finds one record at a time in a buffer that holds whole records (and possibly the
//! start of the next one), without copying or allocating: fields are returned as byte
//! ranges into the buffer. Quoted fields may hold delimiters, doubled quotes and newlines;
//! records end with LF or CRLF. Two things the `csv` crate does not report are reported
//! here: a quote that is never closed (the `csv` crate silently merges every following row
//! into the last field) and text after a closing quote.
//!
//! [`read_header`] reads the header line at the start of a file with the same scanner (the
//! one header reading of the row ingest and of the fan-out's record scan).

use crate::columns::{self, Header};
use crate::error::{ErrorKind, Position, Result};
use memchr::{memchr, memchr2};

/// One field of a record: a byte range of the buffer, and whether it needs unescaping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field {
    /// Start (inclusive) in the buffer, after an opening quote.
    pub start: usize,
    /// End (exclusive) in the buffer, before a closing quote.
    pub end: usize,
    /// The field was quoted and holds doubled quotes (`""`) to unescape.
    pub escaped: bool,
}

/// The outcome of scanning for one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// A complete record.
    Record {
        /// Offset just after the record's terminator (where the next record starts).
        next: usize,
        /// Offset of the end of the record's text (before `\n` or `\r\n`).
        raw_end: usize,
        /// Index of the first field with text after its closing quote, if any.
        bad_quote: Option<usize>,
        /// Newlines inside quoted fields (the record spans this many more lines).
        inner_newlines: u64,
    },
    /// The buffer ends inside the record and more input may follow.
    NeedMore,
    /// End of input inside a quoted field.
    Unterminated,
}

/// Scans the record that starts at `start`. `eof` says that no input follows `buf`.
/// `start < buf.len()` is required.
pub(crate) fn scan_record(buf: &[u8], start: usize, delim: u8, eof: bool, fields: &mut Vec<Field>) -> Scan {
    fields.clear();
    let n = buf.len();
    let mut i = start;
    let mut bad_quote = None;
    // Newlines inside quoted fields (the only place a record holds one).
    let mut inner = 0u64;
    loop {
        if i < n && buf[i] == b'"' {
            let fstart = i + 1;
            let mut j = fstart;
            let mut escaped = false;
            let close = loop {
                let Some(k) = memchr(b'"', &buf[j..]) else {
                    return if eof { Scan::Unterminated } else { Scan::NeedMore };
                };
                let q = j + k;
                if q + 1 < n {
                    if buf[q + 1] == b'"' {
                        escaped = true;
                        j = q + 2;
                        continue;
                    }
                    break q;
                }
                if !eof {
                    return Scan::NeedMore;
                }
                break q;
            };
            let span = &buf[fstart..close];
            if memchr(b'\n', span).is_some() {
                inner += memchr::memchr_iter(b'\n', span).count() as u64;
            }
            i = close + 1;
            if i >= n {
                fields.push(Field { start: fstart, end: close, escaped });
                return record(n, n, bad_quote, inner);
            }
            match buf[i] {
                c if c == delim => {
                    fields.push(Field { start: fstart, end: close, escaped });
                    i += 1;
                }
                b'\n' => {
                    fields.push(Field { start: fstart, end: close, escaped });
                    return record(i + 1, i, bad_quote, inner);
                }
                b'\r' if i + 1 < n && buf[i + 1] == b'\n' => {
                    fields.push(Field { start: fstart, end: close, escaped });
                    return record(i + 2, i, bad_quote, inner);
                }
                b'\r' if i + 1 >= n => {
                    if !eof {
                        return Scan::NeedMore;
                    }
                    fields.push(Field { start: fstart, end: close, escaped });
                    return record(n, i, bad_quote, inner);
                }
                _ => {
                    // Text after the closing quote: keep the whole field raw, flag the record.
                    bad_quote.get_or_insert(fields.len());
                    match memchr2(delim, b'\n', &buf[i..]) {
                        Some(k) => {
                            let e = i + k;
                            if buf[e] == delim {
                                fields.push(Field { start: fstart - 1, end: e, escaped: false });
                                i = e + 1;
                            } else {
                                let end = strip_cr(buf, i, e);
                                fields.push(Field { start: fstart - 1, end, escaped: false });
                                return record(e + 1, end, bad_quote, inner);
                            }
                        }
                        None if eof => {
                            let end = strip_cr(buf, i, n);
                            fields.push(Field { start: fstart - 1, end, escaped: false });
                            return record(n, end, bad_quote, inner);
                        }
                        None => return Scan::NeedMore,
                    }
                }
            }
        } else {
            match memchr2(delim, b'\n', &buf[i..]) {
                Some(k) => {
                    let e = i + k;
                    if buf[e] == delim {
                        fields.push(Field { start: i, end: e, escaped: false });
                        i = e + 1;
                    } else {
                        let end = strip_cr(buf, i, e);
                        fields.push(Field { start: i, end, escaped: false });
                        return record(e + 1, end, bad_quote, inner);
                    }
                }
                None if eof => {
                    let end = strip_cr(buf, i, n);
                    fields.push(Field { start: i, end, escaped: false });
                    return record(n, end, bad_quote, inner);
                }
                None => return Scan::NeedMore,
            }
        }
    }
}

/// `end`, less one when the byte before it (within the field starting at `from`) is `\r`.
#[inline]
fn strip_cr(buf: &[u8], from: usize, end: usize) -> usize {
    if end > from && buf[end - 1] == b'\r' { end - 1 } else { end }
}

#[inline]
fn record(next: usize, raw_end: usize, bad_quote: Option<usize>, inner_newlines: u64) -> Scan {
    Scan::Record { next, raw_end, bad_quote, inner_newlines }
}

/// The text of a field with doubled quotes collapsed, into `out`.
pub(crate) fn unescape_into(raw: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut rest = raw;
    while let Some(k) = memchr(b'"', rest) {
        out.extend_from_slice(&rest[..=k]);
        // Skip the second quote of a pair.
        rest = rest.get(k + 2..).unwrap_or(&[]);
    }
    out.extend_from_slice(rest);
}

/// The header line, read from the start of a file.
#[derive(Debug)]
pub(crate) struct HeaderRead {
    /// The resolved header.
    pub header: Header,
    /// Offset just after the header record (where the first data record starts).
    pub next: usize,
    /// The line after the header (1-based; blank lines before the header and newlines
    /// inside its quoted fields counted).
    pub next_line: u64,
    /// Blank lines skipped before the header.
    pub blank_lines: u64,
}

/// Reads the header from `buf`, the first bytes of a file (`eof`: the whole file).
/// `Ok(None)`: `buf` does not hold the whole header line yet (feed more, and call again with
/// the longer buffer). A result depends only on `buf` and `eof`.
///
/// # Errors
/// The file-level problems of a header: not CSV text, no header, an unsupported line
/// ending, a header longer than `max_record_bytes`, an unterminated quote, missing or
/// duplicate columns.
pub(crate) fn read_header(buf: &[u8], eof: bool, max_record_bytes: usize) -> Result<Option<HeaderRead>> {
    let pos_at = |line: u64, byte: usize| Position { line, record: 0, byte: byte as u64 };
    if !eof && buf.len() < 4 {
        return Ok(None);
    }
    sniff_binary(buf)?;
    let mut start = if buf.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
    let mut line = 1;
    // Leading blank lines are skipped (and counted).
    loop {
        let rest = &buf[start..];
        if rest.starts_with(b"\n") {
            start += 1;
        } else if rest.starts_with(b"\r\n") {
            start += 2;
        } else if rest == b"\r" && !eof {
            return Ok(None);
        } else {
            break;
        }
        line += 1;
    }
    if start >= buf.len() {
        return if eof { Err(ErrorKind::NoHeader.into()) } else { Ok(None) };
    }
    let line_end = match memchr(b'\n', &buf[start..]) {
        Some(k) => start + k,
        None if eof => buf.len(),
        None if buf.len() - start > max_record_bytes => {
            let pos = pos_at(line, start);
            return Err(match memchr(b'\r', &buf[start..]) {
                Some(k) => ErrorKind::UnsupportedLineEnding { pos: pos_at(line, start + k) },
                None => ErrorKind::RecordTooLarge { pos, limit: max_record_bytes },
            }
            .into());
        }
        None => return Ok(None),
    };
    let text = &buf[start..line_end];
    let pos = pos_at(line, start);
    if let Some(k) = memchr(0, text) {
        return Err(
            ErrorKind::NotCsvText { what: format!("binary data (a NUL byte at byte {})", start + k), pos }.into()
        );
    }
    if let Some(k) = memchr(b'\r', text).filter(|k| start + k + 1 < line_end) {
        return Err(ErrorKind::UnsupportedLineEnding { pos: pos_at(line, start + k) }.into());
    }
    if std::str::from_utf8(text).is_err() {
        return Err(ErrorKind::NotCsvText { what: "the header line is not UTF-8 text".into(), pos }.into());
    }
    let delim = columns::detect_delimiter(text);
    let mut fields = Vec::new();
    let (next, next_line) = match scan_record(buf, start, delim, eof, &mut fields) {
        Scan::Record { next, raw_end, inner_newlines, .. } => {
            if buf[start..raw_end].iter().all(u8::is_ascii_whitespace) {
                return Err(ErrorKind::NoHeader.into());
            }
            (next, line + 1 + inner_newlines)
        }
        Scan::NeedMore => return Ok(None),
        Scan::Unterminated => return Err(ErrorKind::UnterminatedQuote { pos }.into()),
    };
    let mut scratch = Vec::new();
    let names = fields
        .iter()
        .map(|f| {
            unescape_into(&buf[f.start..f.end], &mut scratch);
            String::from_utf8_lossy(&scratch).into_owned()
        })
        .collect();
    let header = columns::resolve(names, delim, pos)?;
    Ok(Some(HeaderRead { header, next, next_line, blank_lines: line - 1 }))
}

/// Refuses content that is not CSV text at all, from its first bytes.
fn sniff_binary(buf: &[u8]) -> Result<()> {
    let pos = Position::default();
    let what = if buf.starts_with(&[0x1F, 0x8B]) {
        "gzip-compressed data (decompress the file first)"
    } else if buf.starts_with(&[0xFF, 0xFE]) || buf.starts_with(&[0xFE, 0xFF]) {
        "UTF-16 text (byte-order mark FF FE / FE FF); save the file as UTF-8"
    } else if buf.starts_with(b"PK\x03\x04") {
        "a ZIP archive (an .xlsx workbook?); export the sheet as CSV"
    } else if buf.len() >= 2 && (buf[0] == 0 || buf[1] == 0) {
        "UTF-16 text or binary data (NUL bytes); save the file as UTF-8"
    } else {
        return Ok(());
    };
    Err(ErrorKind::NotCsvText { what: what.into(), pos }.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], delim: u8) -> Result<Vec<Vec<String>>, &'static str> {
        let mut fields = Vec::new();
        let mut pos = 0;
        let mut out = Vec::new();
        while pos < input.len() {
            match scan_record(input, pos, delim, true, &mut fields) {
                Scan::Record { next, .. } => {
                    let mut scratch = Vec::new();
                    out.push(
                        fields
                            .iter()
                            .map(|f| {
                                unescape_into(&input[f.start..f.end], &mut scratch);
                                String::from_utf8_lossy(&scratch).into_owned()
                            })
                            .collect(),
                    );
                    pos = next;
                }
                Scan::NeedMore => return Err("need more"),
                Scan::Unterminated => return Err("unterminated"),
            }
        }
        Ok(out)
    }

    #[test]
    fn rfc4180_quoting_and_line_endings() {
        let got = all(b"a,\"b,c\",\"d \"\"e\"\"\"\r\n\"x\ny\",,z\n", b',').unwrap();
        assert_eq!(got, vec![vec!["a", "b,c", "d \"e\""], vec!["x\ny", "", "z"]]);
    }

    #[test]
    fn last_record_without_newline_and_cr() {
        assert_eq!(all(b"a,b\r\nc,d", b',').unwrap(), vec![vec!["a", "b"], vec!["c", "d"]]);
        assert_eq!(all(b"a,\"b\"\r\n", b',').unwrap(), vec![vec!["a", "b"]]);
        assert_eq!(all(b"a,\"b\"\r", b',').unwrap(), vec![vec!["a", "b"]]);
    }

    #[test]
    fn unterminated_quote_is_reported_not_merged() {
        assert_eq!(all(b"a,b\nc,\"d\ne,f\ng,h\n", b','), Err("unterminated"));
    }

    #[test]
    fn need_more_until_the_record_is_complete() {
        let mut f = Vec::new();
        assert_eq!(scan_record(b"a,b", 0, b',', false, &mut f), Scan::NeedMore);
        assert_eq!(scan_record(b"a,\"b\n", 0, b',', false, &mut f), Scan::NeedMore);
        // A quote at the very end may be the first of a doubled pair.
        assert_eq!(scan_record(b"a,\"b\"", 0, b',', false, &mut f), Scan::NeedMore);
        assert_eq!(scan_record(b"a,b\r", 0, b',', false, &mut f), Scan::NeedMore);
        assert!(matches!(scan_record(b"a,b\n", 0, b',', false, &mut f), Scan::Record { next: 4, .. }));
    }

    #[test]
    fn text_after_closing_quote_is_flagged() {
        let mut f = Vec::new();
        let s = scan_record(b"a,\"b\"c,d\n", 0, b',', true, &mut f);
        assert!(matches!(s, Scan::Record { bad_quote: Some(1), .. }), "{s:?}");
        assert_eq!(f.len(), 3);
    }

    #[test]
    fn inner_newlines_are_counted() {
        let mut f = Vec::new();
        let s = scan_record(b"\"a\nb\nc\",d\n", 0, b',', true, &mut f);
        assert!(matches!(s, Scan::Record { inner_newlines: 2, .. }), "{s:?}");
    }

    #[test]
    fn other_delimiters() {
        assert_eq!(all(b"a;\"b;c\"\n", b';').unwrap(), vec![vec!["a", "b;c"]]);
        assert_eq!(all(b"a\tb|c\n", b'\t').unwrap(), vec![vec!["a", "b|c"]]);
    }
}
