//! An RFC 4180 record scanner over a byte buffer: the fast path of the reader.
//!
//! It finds one record at a time in a buffer that holds whole records (and possibly the
//! start of the next one), without copying or allocating: fields are returned as byte
//! ranges into the buffer. Quoted fields may hold delimiters, doubled quotes and newlines;
//! records end with LF or CRLF. Two things the `csv` crate does not report are reported
//! here: a quote that is never closed (the `csv` crate silently merges every following row
//! into the last field) and text after a closing quote.

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
