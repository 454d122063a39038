//! Fan-out: a file ingested in parts, merged, equals one pass, for any input and part size.

use crate::common::*;
use duff_core::fanout::{
    FanOut, PartSinks, Pieces, Planner, find_repeats, ingest_in_sequence, ingest_parts, ingest_range, merge,
};
use duff_core::{CollectSink, Table, read_parquet, to_parquet_bytes};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Each part's batches in memory; a second reading replaces the first.
#[derive(Default)]
struct MemParts(Mutex<BTreeMap<usize, CollectSink>>);

impl PartSinks for MemParts {
    type Sink = CollectSink;
    fn open(&self, _part: usize) -> duff_core::Result<CollectSink> {
        Ok(CollectSink::default())
    }
    fn close(&self, part: usize, sink: CollectSink) -> duff_core::Result<()> {
        self.0.lock().unwrap().insert(part, sink);
        Ok(())
    }
}

/// Like [`MemParts`], but each sink computes the client and product views of its fact
/// batches (as the lake's encoding threads do), so the parts' ingests leave them to it.
#[derive(Default)]
struct ViewParts(Mutex<BTreeMap<usize, CollectSink>>);

impl PartSinks for ViewParts {
    type Sink = ViewsSink;
    fn open(&self, _part: usize) -> duff_core::Result<ViewsSink> {
        Ok(ViewsSink::default())
    }
    fn close(&self, part: usize, sink: ViewsSink) -> duff_core::Result<()> {
        self.0.lock().unwrap().insert(part, sink.inner);
        Ok(())
    }
}

/// The rows of some batches, re-cut the same way (so batch boundaries do not matter).
fn rows_of(batches: Vec<duff_core::arrow_array::RecordBatch>) -> Vec<duff_core::arrow_array::RecordBatch> {
    if batches.is_empty() {
        return batches;
    }
    read_parquet(to_parquet_bytes(&batches).unwrap()).unwrap()
}

/// The fan-out as separate invocations run it: the plan fed in `chunk`-byte pushes, each
/// part given only the header's bytes and its own, every part output stored as JSON and
/// raw hashes and read back, the repeated parts read again, the merge from stored outputs.
fn distributed(
    meta: &duff_core::FileMeta,
    cfg: &duff_core::IngestConfig,
    bytes: &[u8],
    part_bytes: u64,
    chunk: usize,
) -> duff_core::Result<(FanOut, BTreeMap<usize, CollectSink>)> {
    let mut planner = Planner::new(cfg, part_bytes);
    for c in bytes.chunks(chunk.max(1)) {
        planner.push(c);
    }
    let planned = planner.finish();
    assert_eq!(planned.file_id, meta.file_id, "the plan hashes the whole file");
    assert_eq!(planned.bytes, bytes.len() as u64);
    let plan = duff_core::fanout::Plan::from_json(&planned.plan?.to_json()?)?;
    assert_eq!(plan.header, bytes[..plan.header_end as usize]);
    let source_of = |k: usize| {
        let part = plan.parts[k];
        Pieces::new(plan.bytes).with(part.start.byte, bytes[part.start.byte as usize..part.end as usize].to_vec())
    };
    let mut sinks = BTreeMap::new();
    let mut stored = Vec::new();
    for k in 0..plan.parts.len() {
        let mut sink = CollectSink::default();
        let out = ingest_range(meta, cfg, &plan, k, &source_of(k), None, &mut sink)?;
        sinks.insert(k, sink);
        stored.push((out.to_json()?, out.hashes_to_bytes()));
    }
    let mut outputs = Vec::new();
    for (json, hashes) in &stored {
        outputs.push(duff_core::PartOutput::from_json(json, duff_core::PartOutput::hashes_from_bytes(hashes)?)?);
    }
    let again = find_repeats(outputs.iter().map(|o| o.hashes()));
    for a in &again {
        let mut sink = CollectSink::default();
        outputs[a.part] = ingest_range(meta, cfg, &plan, a.part, &source_of(a.part), Some(a), &mut sink)?;
        sinks.insert(a.part, sink);
    }
    let mut fan = merge(meta, cfg, &plan, outputs)?;
    fan.parts_read_again = again.len();
    Ok((fan, sinks))
}

fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[0-9]{1,4}",
        2 => "(Retail|online|created|DELIVERED|lost)",
        2 => "[ a-z]{0,6}",
        2 => "\"[a-z,\"\n ]{0,8}\"",
        1 => "[\",\r\n]{1,2}",
    ]
}

fn text() -> impl Strategy<Value = String> {
    let valid = (1u32..5, 1000u32..1030, 100u32..104, 1u32..9, 0usize..3).prop_map(|(c, o, p, u, s)| {
        format!(
            "{c},\"Client, {c}\",{o},{p},\"Line\nbreak {p}\",1.{u}0,{u},0.5,Retail,{}",
            ["created", "delivered", "broken"][s]
        )
    });
    let arbitrary = prop::collection::vec(field(), 8..12).prop_map(|f| f.join(","));
    let row = prop_oneof![4 => valid, 2 => arbitrary, 1 => Just(String::new())];
    (prop::collection::vec(row, 0..40), prop::collection::vec(any::<prop::sample::Index>(), 0..4), any::<bool>())
        .prop_map(|(mut rows, copies, crlf)| {
            for c in copies {
                if !rows.is_empty() {
                    let r = rows[c.index(rows.len())].clone();
                    rows.push(r);
                }
            }
            let nl = if crlf { "\r\n" } else { "\n" };
            let mut s = format!("{HEADER}{nl}");
            for r in rows {
                s.push_str(&r);
                s.push_str(nl);
            }
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parts_merged_equal_one_pass(
        csv in text(),
        part_bytes in 1u64..400,
        threads in 1usize..4,
        chunk in 1usize..64,
        cut in any::<prop::sample::Index>(),
    ) {
        // Sometimes the file ends without its last newline, or mid-record.
        let bytes = if cut.index(4) == 0 { &csv.as_bytes()[..cut.index(csv.len() + 1)] } else { csv.as_bytes() };
        let meta = meta_at(bytes, "t.csv", T0);
        let cfg = duff_core::IngestConfig { batch_rows: 5, ..lenient() };
        let mut one_sink = CollectSink::default();
        let one = duff_core::ingest_bytes(meta.clone(), cfg.clone(), bytes, &mut one_sink);
        let sinks = MemParts::default();
        let threaded = ingest_parts(&meta, &cfg, &bytes, part_bytes, threads, &sinks)
            .map(|fan| (fan, sinks.0.into_inner().unwrap()));
        let apart = distributed(&meta, &cfg, bytes, part_bytes, chunk);
        let views = ViewParts::default();
        let sequence = ingest_in_sequence(&meta, &cfg, &bytes, part_bytes, &views)
            .map(|fan| (fan, views.0.into_inner().unwrap()));
        for fan in [threaded, apart, sequence] {
            match (&one, fan) {
                (Ok(one), Ok((fan, parts))) => {
                    let mut m = fan.manifest.clone();
                    // Rows per table add up to one pass's objects.
                    let per_table = |outs: &[duff_core::manifest::OutputObject]| {
                        let mut t: BTreeMap<Table, u64> = BTreeMap::new();
                        for o in outs { *t.entry(o.table).or_default() += o.rows; }
                        t
                    };
                    prop_assert_eq!(per_table(&m.outputs), per_table(&one.outputs));
                    let mut o = one.clone();
                    m.outputs.clear();
                    o.outputs.clear();
                    prop_assert_eq!(m, o);
                    prop_assert_eq!(parts.len(), fan.parts);
                    for table in [Table::FactOrderLine, Table::Quarantine] {
                        let fanned: Vec<_> = parts.values().flat_map(|s| s.batches.get(&table).cloned().unwrap_or_default()).collect();
                        let whole = one_sink.batches.get(&table).cloned().unwrap_or_default();
                        prop_assert_eq!(rows_of(fanned), rows_of(whole), "{}", table.name());
                    }
                    for (table, batch) in &fan.dimensions {
                        prop_assert_eq!(Some(batch), one_sink.batches.get(table).and_then(|b| b.first()), "{}", table.name());
                    }
                    prop_assert_eq!(fan.dimensions.len(), one_sink.batches.keys().filter(|t| matches!(t, Table::DimClient | Table::DimProduct)).count());
                }
                (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
                (a, b) => prop_assert!(false, "one pass {:?} vs parts {:?}", a.as_ref().map(|m| m.outcome), b.map(|f| f.0.manifest.outcome)),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Few parts (compared pairwise) and many (merged): the repeats a reference finds with
    /// sets, whatever the parts.
    #[test]
    fn find_repeats_finds_what_sets_find(parts in prop::collection::vec(prop::collection::vec(0u64..40, 0..30), 0..14)) {
        let parts: Vec<Vec<u64>> = parts.into_iter().map(|mut p| { p.sort_unstable(); p }).collect();
        let mut expected = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (part, hashes) in parts.iter().enumerate() {
            let mut counts = BTreeMap::new();
            for h in hashes {
                *counts.entry(*h).or_insert(0) += 1;
            }
            let earlier: Vec<u64> = counts.keys().copied().filter(|h| seen.contains(h)).collect();
            let repeats: Vec<u64> = counts.iter().filter(|(h, n)| **n > 1 || seen.contains(*h)).map(|(h, _)| *h).collect();
            if !repeats.is_empty() {
                expected.push(duff_core::fanout::PartRepeats { part, repeats, earlier });
            }
            seen.extend(counts.into_keys());
        }
        prop_assert_eq!(find_repeats(parts.iter().map(Vec::as_slice)), expected);
    }
}

#[test]
fn a_quoted_newline_never_starts_a_part() {
    // Part size 1: a part starts at every record, never after the newline inside quotes.
    let csv = csv_file(&[
        "1,A,10,100,\"two\nlines\",1.00,1,0.5,Retail,created",
        "2,B,11,100,\"x\ny\",1.00,1,0.5,Retail,created",
    ]);
    let bytes = csv.as_bytes();
    let meta = meta_at(bytes, "t.csv", T0);
    let sinks = MemParts::default();
    let fan = ingest_parts(&meta, &lenient(), &bytes, 1, 2, &sinks).unwrap();
    assert_eq!((fan.manifest.rows_read, fan.manifest.rows_accepted), (2, 2));
    assert_eq!(fan.parts, 2, "one part per record");
    let lines: Vec<i64> = sinks
        .0
        .into_inner()
        .unwrap()
        .values()
        .flat_map(|s| {
            s.batches[&Table::FactOrderLine]
                .iter()
                .flat_map(|b| {
                    let col = b.column_by_name("line").unwrap();
                    duff_core::arrow_array::cast::AsArray::as_primitive::<duff_core::arrow_array::types::Int64Type>(col)
                        .values()
                        .to_vec()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(lines, vec![2, 4], "line numbers count the quoted newlines");
}

#[test]
fn a_line_repeated_across_parts_is_quarantined_once() {
    let row = "1,A,10,100,Lager,1.00,1,0.5,Retail,created";
    let csv = csv_file(&[row, "2,B,11,100,Lager,1.00,1,0.5,Retail,created", row]);
    let bytes = csv.as_bytes();
    let meta = meta_at(bytes, "t.csv", T0);
    let sinks = MemParts::default();
    let fan = ingest_parts(&meta, &lenient(), &bytes, 10, 2, &sinks).unwrap();
    assert_eq!(fan.parts, 3);
    assert_eq!(fan.parts_read_again, 1);
    assert_eq!(fan.manifest.quarantined_by_reason.get("duplicate_line"), Some(&1));
    assert_eq!(fan.manifest.sample_problems[0].line, 4);
}

#[test]
fn in_sequence_a_repeated_line_reads_again_only_its_part() {
    let row = |o: u32| format!("1,A,{o},100,Lager,1.00,1,0.5,Retail,created");
    let mut rows: Vec<String> = (10..40).map(row).collect();
    rows.push(row(12)); // repeats a line of the first part, in the last one
    let csv = csv_file(&rows.iter().map(String::as_str).collect::<Vec<_>>());
    let bytes = csv.as_bytes();
    let meta = meta_at(bytes, "t.csv", T0);
    let sinks = ViewParts::default();
    let fan = ingest_in_sequence(&meta, &lenient(), &bytes, 200, &sinks).unwrap();
    assert!(fan.parts >= 5, "{} parts", fan.parts);
    assert_eq!(fan.parts_read_again, 1, "only the part holding the repeat is read again");
    assert_eq!(fan.manifest.quarantined_by_reason.get("duplicate_line"), Some(&1));
    assert_eq!((fan.manifest.rows_read, fan.manifest.rows_accepted), (31, 30));
    assert_eq!(fan.manifest.sample_problems[0].line, 32);
    let one = duff_core::ingest_bytes(meta.clone(), lenient(), bytes, &mut CollectSink::default()).unwrap();
    let mut m = fan.manifest.clone();
    m.outputs.clear();
    let mut o = one.clone();
    o.outputs.clear();
    assert_eq!(m, o);
}

#[test]
fn in_sequence_another_content_is_a_mismatch() {
    let csv = csv_file(&["1,A,10,100,Lager,1.00,1,0.5,Retail,created"]);
    let meta = meta_at(b"other bytes", "t.csv", T0);
    let e = ingest_in_sequence(&meta, &lenient(), &csv.as_bytes(), 10, &ViewParts::default()).unwrap_err();
    assert!(matches!(e.kind(), duff_core::ErrorKind::ContentMismatch { .. }), "{e:?}");
}

#[test]
fn steps_handed_what_no_step_wrote_fail_as_internal() {
    let csv = csv_file(&["1,A,10,100,Lager,1.00,1,0.5,Retail,created"]);
    let bytes = csv.as_bytes();
    let meta = meta_at(bytes, "t.csv", T0);
    let plan = duff_core::fanout::plan(&lenient(), &bytes, 1 << 20).unwrap().plan.unwrap();
    let internal = |e: duff_core::Error| {
        assert!(matches!(e.kind(), duff_core::ErrorKind::Internal { .. }), "{e:?}");
        assert_eq!(e.code(), "internal");
        assert!(!e.is_input_error());
    };
    internal(plan.part(1).unwrap_err());
    internal(merge(&meta, &lenient(), &plan, Vec::new()).unwrap_err());
    internal(duff_core::PartOutput::hashes_from_bytes(&[0; 9]).unwrap_err());
    let out = ingest_range(&meta, &lenient(), &plan, 0, &bytes, None, &mut CollectSink::default()).unwrap();
    internal(duff_core::PartOutput::from_json(&out.to_json().unwrap(), Vec::new()).unwrap_err());
}

#[test]
fn in_sequence_a_file_of_its_header_alone_is_published_empty() {
    // The header is read only at the end of the input when nothing follows it.
    for header in [HEADER.to_string(), format!("{HEADER}\r\n"), format!("{HEADER}\n")] {
        let bytes = header.as_bytes();
        let meta = meta_at(bytes, "t.csv", T0);
        let one = duff_core::ingest_bytes(meta.clone(), lenient(), bytes, &mut CollectSink::default()).unwrap();
        let fan = ingest_in_sequence(&meta, &lenient(), &bytes, 1, &ViewParts::default()).unwrap();
        let mut m = fan.manifest;
        m.outputs.clear();
        assert_eq!(m, one, "{header:?}");
    }
}
