//! File-level failures: the whole file is refused, with what and where.

use crate::common::*;
use duff_core::{ErrorKind, IngestConfig};

fn fails(csv: &[u8]) -> duff_core::Error {
    match ingest_with(csv, lenient()) {
        Ok((m, _)) => panic!("expected a file-level error, got {m:?}"),
        Err(e) => {
            assert!(e.is_input_error(), "{e}");
            e
        }
    }
}

#[test]
fn no_header() {
    for csv in [&b""[..], b"\xEF\xBB\xBF", b"\n\n", b"\r\n", b"   \n"] {
        assert!(matches!(fails(csv).kind(), ErrorKind::NoHeader), "{csv:?}");
    }
}

#[test]
fn missing_required_column_is_named() {
    let header = HEADER.replace(",product_volume", "");
    let e = fails(format!("{header}\n1,2\n").as_bytes());
    assert!(matches!(e.kind(), ErrorKind::MissingColumn { name: "product_volume", .. }), "{e}");
    assert_eq!(e.position().map(|p| p.line), Some(1));
    assert!(e.to_string().contains("product_volume"), "{e}");
}

#[test]
fn duplicated_required_column() {
    let e = fails(format!("{HEADER},Status\n").as_bytes());
    assert!(matches!(e.kind(), ErrorKind::DuplicateColumn { name: "status", first: 10, second: 11, .. }), "{e}");
}

#[test]
fn a_quote_left_open_at_the_end_fails_instead_of_swallowing_rows() {
    // The csv crate would silently make one record of the last three lines.
    let csv = csv_file(&[
        row_with("order_id", "1"),
        row_with("status", "\"created"),
        row_with("order_id", "3"),
        row_with("order_id", "4"),
    ]);
    let e = fails(csv.as_bytes());
    match e.kind() {
        ErrorKind::UnterminatedQuote { pos } => {
            assert_eq!((pos.line, pos.record), (3, 2), "{e}");
            assert_eq!(pos.byte as usize, HEADER.len() + 1 + row_with("order_id", "1").len() + 1);
        }
        k => panic!("unexpected {k:?}"),
    }
    assert!(e.to_string().contains("line 3"), "{e}");
}

#[test]
fn the_csv_crate_really_merges_those_rows() {
    // Documents why the check above exists: a plain csv::Reader accepts the file.
    let csv = csv_file(&[row_with("status", "\"created"), row_with("order_id", "3")]);
    let mut r = csv::ReaderBuilder::new().from_reader(csv.as_bytes());
    let records: Vec<_> = r.records().collect();
    assert_eq!(records.len(), 1, "the open quote swallowed the next row");
    assert!(records[0].is_ok());
}

#[test]
fn gzip_utf16_zip_and_binary_are_not_csv_text() {
    let cases: [(&[u8], &str); 5] = [
        (b"\x1f\x8b\x08\x00\x00\x00", "gzip"),
        (b"\xff\xfec\x00l\x00i\x00", "UTF-16"),
        (b"c\x00l\x00i\x00e\x00", "UTF-16"),
        (b"PK\x03\x04\x14\x00", "ZIP"),
        (b"client_id,\x00name\n", "NUL"),
    ];
    for (bytes, what) in cases {
        let e = fails(bytes);
        assert!(matches!(e.kind(), ErrorKind::NotCsvText { .. }), "{what}: {e}");
        assert!(e.to_string().contains(what), "{what}: {e}");
    }
    let mut utf16 = vec![0xFF, 0xFE];
    for c in HEADER.encode_utf16() {
        utf16.extend_from_slice(&c.to_le_bytes());
    }
    assert!(matches!(fails(&utf16).kind(), ErrorKind::NotCsvText { .. }));
}

#[test]
fn a_header_that_is_not_utf8() {
    let e = fails(b"client_id,client_n\xe9me\n");
    assert!(matches!(e.kind(), ErrorKind::NotCsvText { .. }), "{e}");
}

#[test]
fn bare_cr_line_endings_are_refused_clearly() {
    let csv = format!("{HEADER}\r{}\r", row_with("status", "created"));
    let e = fails(csv.as_bytes());
    assert!(matches!(e.kind(), ErrorKind::UnsupportedLineEnding { .. }), "{e}");
}

#[test]
fn a_record_beyond_the_limit_fails_the_file() {
    let cfg = IngestConfig { max_record_bytes: 1000, ..lenient() };
    let csv = format!("{HEADER}\n{}\n\"{}", row_with("status", "created"), "x\n".repeat(2000));
    let mut sink = duff_core::CollectSink::default();
    let mut ingest = duff_core::FileIngest::new(meta_at(csv.as_bytes(), "t", T0), cfg);
    // Fed in small pieces, the limit trips before the end of input.
    let mut err = None;
    for chunk in csv.as_bytes().chunks(100) {
        if let Err(e) = ingest.push(chunk, &mut sink) {
            err = Some(e);
            break;
        }
    }
    let e = err.expect("record too large");
    assert!(matches!(e.kind(), ErrorKind::RecordTooLarge { limit: 1000, .. }), "{e}");
}

#[test]
fn content_identity_is_verified() {
    let csv = BRIEF.as_bytes();
    let mut sink = duff_core::CollectSink::default();
    let meta = meta_at(b"other content", "t", T0);
    let e = duff_core::ingest_bytes(meta, lenient(), csv, &mut sink).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::ContentMismatch { .. }), "{e}");
    assert!(!e.is_input_error());
}

#[test]
fn failed_manifest_says_what_and_where() {
    let e = fails(format!("{}\n", HEADER.replace("status", "state")).as_bytes());
    let meta = meta_at(b"x", "s3://raw/incoming/bad.csv", T0);
    let m = duff_core::Manifest::failed(&meta, &IngestConfig::default(), 10, &e);
    assert_eq!(m.outcome, duff_core::Outcome::Failed);
    let err = m.error.as_ref().unwrap();
    assert_eq!((err.code.as_str(), err.line), ("missing_column", Some(1)));
    assert!(m.outputs.is_empty());
    assert!(m.reconciliation_line().contains("failed"));
}
