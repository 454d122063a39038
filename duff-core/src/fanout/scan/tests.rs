#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

use duff_testkit::HEADER;

fn cfg() -> IngestConfig {
    IngestConfig::default()
}

/// Rows whose quoted fields hold newlines (LF and CRLF), in CRLF lines, with a blank line.
fn quoted(rows: usize) -> Vec<u8> {
    let mut s = format!("\u{FEFF}\r\n{HEADER}\r\n");
    for i in 0..rows {
        let name = match i % 3 {
            0 => "\"Moe's\nTavern\"".to_owned(),
            1 => "\"Kwik\r\nE\r\nMart\"".to_owned(),
            _ => "Krusty".to_owned(),
        };
        s.push_str(&format!("{i},{name},5678,102,Duff,2.50,6,0.33,Retail,created\r\n"));
        if i == 4 {
            s.push_str("\r\n");
        }
    }
    s.into_bytes()
}

/// Every line start outside quotes after the header, (line, next record, byte), by a naive
/// reference: a record ends at a newline outside quotes; a blank line is no record (a part
/// may start on one).
fn record_starts(bytes: &[u8]) -> Vec<Position> {
    let (mut starts, mut in_quotes, mut line, mut record, mut start) = (Vec::new(), false, 1, 0, 3);
    let mut start_line = 1;
    for (i, b) in bytes.iter().enumerate().skip(3) {
        match b {
            b'"' => in_quotes = !in_quotes,
            b'\n' => {
                line += 1;
                if !in_quotes {
                    if record > 0 {
                        starts.push(Position { line: start_line, record, byte: start as u64 });
                    }
                    let text = &bytes[start..i];
                    if !(text.is_empty() || text == b"\r") {
                        record += 1;
                    }
                    (start, start_line) = (i + 1, line);
                }
            }
            _ => {}
        }
    }
    starts
}

fn scan_in(bytes: &[u8], every: u64, chunk: usize) -> Result<ScanEnd> {
    let mut scan = RecordScan::new(&cfg(), every);
    for c in bytes.chunks(chunk) {
        scan.push(c)?;
    }
    scan.finish()
}

#[test]
fn marks_are_record_starts_across_quoted_newlines_and_crlf() {
    let bytes = quoted(40);
    let starts = record_starts(&bytes);
    assert_eq!(starts.len(), 41, "40 records and a blank line");
    for every in [1, 7, 50, 61, 200, 10_000] {
        let end = scan_in(&bytes, every, bytes.len()).unwrap();
        assert_eq!(end.data_start, starts[0].byte);
        let mut expected = Vec::new();
        let mut next = end.data_start + every;
        for s in &starts {
            if s.byte >= next {
                expected.push(*s);
                next = s.byte + every;
            }
        }
        assert_eq!(end.marks, expected, "every {every} bytes");
    }
}

#[test]
fn marks_do_not_depend_on_how_the_input_is_cut() {
    let bytes = quoted(12);
    let whole = scan_in(&bytes, 40, bytes.len()).unwrap();
    assert!(whole.marks.len() > 3);
    for chunk in 1..=9 {
        let end = scan_in(&bytes, 40, chunk).unwrap();
        assert_eq!((end.data_start, &end.marks), (whole.data_start, &whole.marks));
    }
}

#[test]
fn problems_are_those_of_the_row_ingest_at_the_same_positions() {
    let open_quote = format!("{HEADER}\n1,\"Moe,5678,102,Duff,2.50,6,0.33,Retail,created\n").into_bytes();
    let no_header: &[u8] = b"\n\r\n";
    let missing = b"client_id,client_name\n1,Moe\n".to_vec();
    for bytes in [open_quote, no_header.to_vec(), missing] {
        let scanned = scan_in(&bytes, 10, 3).unwrap_err();
        let meta = crate::lake::FileMeta {
            file_id: crate::lake::FileId::of_bytes(&bytes),
            source: String::new(),
            ingested_at_micros: 0,
        };
        let mut sink = crate::ingest::CollectSink::default();
        let ingested = crate::ingest::ingest_bytes(meta, cfg(), &bytes, &mut sink).unwrap_err();
        assert_eq!((scanned.code(), scanned.position()), (ingested.code(), ingested.position()));
    }
}

#[test]
fn a_record_over_the_limit_is_refused() {
    let cfg = IngestConfig { max_record_bytes: 64, ..IngestConfig::default() };
    let bytes = format!("{HEADER}\n1,\"{}\n", "x".repeat(100)).into_bytes();
    let mut scan = RecordScan::new(&cfg, 10);
    let err = scan.push(&bytes).unwrap_err();
    assert_eq!(err.code(), "record_too_large");
    assert_eq!(err.position().map(|p| (p.line, p.record)), Some((2, 1)));
}
