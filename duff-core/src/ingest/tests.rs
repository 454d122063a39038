#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::lake::FileId;

use duff_testkit::HEADER;

/// A file with what moves line and record counts: a byte-order mark and blank lines before
/// the header, CRLF, quoted newlines, a repeated line, bad rows, a blank line in the data.
fn tricky() -> Vec<u8> {
    let rows = [
        "1001,Moe's Tavern,5678,102,Duff Classic,2.50,6,0.33,Retail,created",
        "1002,\"Kwik-E-Mart\r\nSpringfield\",5679,103,Duff Lite,2.00,12,0.5,B2B,delivered",
        "1003,Krusty Burger,5680,104,Duff Dry,3.00,eight,0.25,Online,broken",
        "",
        "1001,Moe's Tavern,5678,102,Duff Classic,2.50,6,0.33,Retail,created",
        "1004,\"Springfield\nMall\",5681,105,\"Duff \"\"Special\"\"\",4.00,24,1.00,Retail,created",
        "1005,Moe's Tavern,5682,102,Duff Classic,2.50,6,0.33,B2B,delivered",
    ];
    format!("\u{FEFF}\n\r\n{HEADER}\r\n{}\r\n", rows.join("\r\n")).into_bytes()
}

fn meta(bytes: &[u8]) -> FileMeta {
    FileMeta { file_id: FileId::of_bytes(bytes), source: "t.csv".into(), ingested_at_micros: 1_795_000_000_000_000 }
}

fn lenient() -> IngestConfig {
    IngestConfig { reject_threshold_ppm: 1_000_000, batch_rows: 2, ..IngestConfig::default() }
}

/// The manifest and every batch of an ingest fed in the given pieces.
fn ingest_in(bytes: &[u8], pieces: &[&[u8]]) -> (Manifest, CollectSink) {
    let mut sink = CollectSink::default();
    let mut ingest = FileIngest::new(meta(bytes), lenient());
    for p in pieces {
        ingest.push(p, &mut sink).unwrap();
    }
    (ingest.finish(&mut sink).unwrap(), sink)
}

#[test]
fn a_chunk_boundary_anywhere_gives_the_same_output() {
    let bytes = tricky();
    let (whole, whole_sink) = ingest_in(&bytes, &[&bytes]);
    assert_eq!((whole.rows_read, whole.rows_accepted, whole.rows_quarantined), (6, 4, 2), "{whole:?}");
    assert_eq!(whole.blank_lines, 3, "two before the header, one in the data");
    for cut in 0..=bytes.len() {
        let (m, sink) = ingest_in(&bytes, &[&bytes[..cut], &bytes[cut..]]);
        assert_eq!(m, whole, "cut at byte {cut}");
        assert_eq!(sink.batches, whole_sink.batches, "cut at byte {cut}");
    }
    for size in 1..=5 {
        let pieces: Vec<&[u8]> = bytes.chunks(size).collect();
        assert_eq!(ingest_in(&bytes, &pieces).0, whole, "pieces of {size} bytes");
    }
}

#[test]
fn push_reader_equals_push() {
    let bytes = tricky();
    let mut sink = CollectSink::default();
    let m = ingest_reader(meta(&bytes), lenient(), &mut &bytes[..], &mut sink).unwrap();
    assert_eq!(m, ingest_in(&bytes, &[&bytes]).0);
}

#[test]
fn deferred_repeat_search_reads_again_only_when_lines_repeat() {
    let bytes = tricky();
    let (one_pass, _) = ingest_in(&bytes, &[&bytes]);
    let mut first = FileIngest::new(meta(&bytes), lenient()).deferring_repeats(bytes.len() as u64);
    let mut sink = CollectSink::default();
    first.push(&bytes, &mut sink).unwrap();
    let repeats = match first.finish_deferred(&mut sink).unwrap() {
        Finish::ReadAgain(r) => r,
        Finish::Done(m) => panic!("a repeated line was missed: {m:?}"),
    };
    assert_eq!(repeats.len(), 1, "one line repeats");
    let mut second = FileIngest::new(meta(&bytes), lenient()).with_repeats(&repeats);
    let mut sink = CollectSink::default();
    second.push(&bytes, &mut sink).unwrap();
    let m = second.finish(&mut sink).unwrap();
    assert_eq!(m, one_pass, "the second reading equals one pass");
    assert_eq!(m.quarantined_by_reason["duplicate_line"], 1);

    // Without repeats, the first reading is the result.
    let unique = format!("{HEADER}\n1001,Moe's Tavern,5678,102,Duff Classic,2.50,6,0.33,Retail,created\n");
    let (one_pass, _) = ingest_in(unique.as_bytes(), &[unique.as_bytes()]);
    let mut first = FileIngest::new(meta(unique.as_bytes()), lenient()).deferring_repeats(0);
    let mut sink = CollectSink::default();
    first.push(unique.as_bytes(), &mut sink).unwrap();
    match first.finish_deferred(&mut sink).unwrap() {
        Finish::Done(m) => assert_eq!(*m, one_pass),
        Finish::ReadAgain(r) => panic!("no line repeats, yet {} do", r.len()),
    }
}

#[test]
fn a_part_stops_before_the_record_at_its_end_and_the_next_goes_on_from_there() {
    let bytes = tricky();
    let (whole, _) = ingest_in(&bytes, &[&bytes]);
    // The start of the line holding record 3 ("1003,...").
    let end = bytes.windows(5).position(|w| w == b"1003,").unwrap() as u64;
    let mut a = FileIngest::new(meta(&bytes), lenient()).as_first_range().stopping_at(end);
    let mut sink = CollectSink::default();
    a.push(&bytes, &mut sink).unwrap();
    assert!(a.is_done());
    let start = a.next_position();
    assert_eq!((start.line, start.record, start.byte), (7, 3, end), "BOM, 2 blank lines, header, 1 row, 2 lines");
    let header = a.header().cloned().unwrap();
    let first = a.finish_part(&mut sink).unwrap();
    assert_eq!(first.summary.rows_read, 2);
    let mut b = FileIngest::for_range(meta(&bytes), lenient(), header, start);
    b.push(&bytes[usize::try_from(end).unwrap()..], &mut sink).unwrap();
    let second = b.finish_part(&mut sink).unwrap();
    let mut summary = first.summary;
    summary.merge(&second.summary);
    assert_eq!(summary.rows_read, whole.rows_read);
    assert_eq!(summary.rows_accepted + summary.rows_quarantined, whole.rows_read);
    assert_eq!(second.end.byte, bytes.len() as u64);
}

#[test]
fn the_content_identity_is_checked_for_a_whole_file_only() {
    let bytes = tricky();
    let wrong = FileMeta { file_id: FileId::of_bytes(b"other"), ..meta(&bytes) };
    let mut ingest = FileIngest::new(wrong.clone(), lenient());
    let mut sink = CollectSink::default();
    ingest.push(&bytes, &mut sink).unwrap();
    let err = ingest.finish(&mut sink).unwrap_err();
    assert_eq!(err.code(), "content_mismatch");
    let mut part = FileIngest::new(wrong, lenient()).as_first_range();
    part.push(&bytes, &mut sink).unwrap();
    assert!(part.finish_part(&mut sink).is_ok(), "a part's identity is the merge's to check");
}

#[test]
fn views_left_to_a_sink_that_does_not_compute_them_is_an_internal_failure() {
    let bytes = tricky();
    let mut ingest = FileIngest::new(meta(&bytes), lenient()).views_from_sink();
    let mut sink = CollectSink::default();
    ingest.push(&bytes, &mut sink).unwrap();
    let err = ingest.finish(&mut sink).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Internal { what: "table sink", .. }), "{err:?}");
    assert_eq!(err.code(), "internal");
    assert!(!err.is_input_error() && err.position().is_none());
    assert!(err.to_string().starts_with("internal failure in table sink: "), "{err}");
}
