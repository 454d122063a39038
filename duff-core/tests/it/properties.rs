//! Property tests of the invariants users rely on.

use crate::common::*;
use duff_core::reports::{self, ReportFilter};
use duff_core::{
    CollectSink, CurrentState, FileIngest, FileMeta, FileSummary, Manifest, Outcome, Table, read_parquet,
    to_parquet_bytes,
};
use proptest::prelude::*;

#[test]
fn an_ingest_leaving_views_to_a_sink_that_computes_none_fails() {
    let csv = format!("{HEADER}\n1,A,10,100,Lager,1.00,1,0.5,Retail,created\n");
    let meta = meta_at(csv.as_bytes(), "t.csv", T0);
    let mut ingest = FileIngest::new(meta, lenient()).views_from_sink();
    let mut sink = CollectSink::default();
    ingest.push(csv.as_bytes(), &mut sink).unwrap();
    let err = ingest.finish(&mut sink).unwrap_err();
    assert!(err.to_string().contains("dimension views"), "{err}");
}

fn cfg() -> ProptestConfig {
    ProptestConfig { cases: 64, ..ProptestConfig::default() }
}

/// Arbitrary field text: mostly plausible values, sometimes quotes, delimiters, newlines.
fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[0-9]{1,4}",
        2 => "[0-9]{1,3}\\.[0-9]{1,3}",
        2 => "(Retail|online|B2B|Phone|created|DELIVERED|broken|lost)",
        2 => "[ a-zA-Z'éü]{0,12}",
        1 => "\"[a-z,;\"\n ]{0,8}\"",
        1 => "[-+.,;\"\r\n]{1,3}",
    ]
}

fn body_rows() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(prop::collection::vec(field(), 8..12).prop_map(|f| f.join(",")), 0..40)
}

/// A valid order line: order ids unique per index, other values drawn.
fn valid_rows() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        (1u32..50, 100u32..110, 0u32..100_000, 1u32..100, 1u32..2_000_000, 0usize..3, 0usize..3),
        1..60,
    )
    .prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (client, product, cents, units, micro, ch, st))| {
                format!(
                    "{client},Client {client},{},{product},Product {product},{}.{:02},{units},{}.{:06},{},{}",
                    1000 + i,
                    cents / 100,
                    cents % 100,
                    micro / 1_000_000,
                    micro % 1_000_000,
                    ["Retail", "Online", "B2B"][ch],
                    ["created", "delivered", "broken"][st]
                )
            })
            .collect()
    })
}

fn csv_of(rows: &[String]) -> String {
    let mut s = format!("{HEADER}\n");
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s
}

fn state(meta: &FileMeta, sink: &CollectSink) -> CurrentState {
    let mut s = CurrentState::new();
    for b in sink.batches.get(&Table::FactOrderLine).into_iter().flatten() {
        s.apply_batch(meta, b).unwrap();
    }
    s
}

fn concat(sink: &CollectSink, t: Table) -> Vec<arrow_array::RecordBatch> {
    sink.batches.get(&t).cloned().unwrap_or_default()
}

proptest! {
    #![proptest_config(cfg())]

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let _ = ingest_with(&bytes, lenient());
        let mut with_header = format!("{HEADER}\n").into_bytes();
        with_header.extend_from_slice(&bytes);
        let _ = ingest_with(&with_header, lenient());
    }

    #[test]
    fn read_equals_accepted_plus_quarantined(rows in body_rows(), crlf in any::<bool>()) {
        let mut csv = csv_file(&rows);
        if crlf { csv = csv.replace('\n', "\r\n"); }
        match ingest_with(csv.as_bytes(), lenient()) {
            Ok((m, sink)) => {
                prop_assert!(m.reconciles(), "{:?}", m);
                prop_assert_eq!(m.rows_read, m.rows_accepted + m.rows_quarantined);
                prop_assert_eq!(sink.rows(Table::FactOrderLine) as u64, m.rows_accepted);
                prop_assert_eq!(sink.rows(Table::Quarantine) as u64, m.rows_quarantined);
            }
            Err(e) => {
                // Refused whole: a file-level problem of the content, at a record of the
                // data (the header is valid), and a failed manifest that reads nothing.
                prop_assert!(e.is_input_error(), "{e:?}");
                let pos = *e.position().ok_or_else(|| TestCaseError::fail(format!("no position: {e}")))?;
                prop_assert!(pos.record >= 1 && pos.byte < csv.len() as u64, "{e}");
                let failed = Manifest::failed(&meta_at(csv.as_bytes(), "test.csv", T0), &lenient(), csv.len() as u64, &e);
                prop_assert!(failed.reconciles(), "{:?}", failed);
                prop_assert_eq!((failed.rows_read, failed.outcome), (0, Outcome::Failed));
                prop_assert!(failed.outputs.is_empty());
                prop_assert_eq!(failed.error.as_ref().and_then(|f| f.line), Some(pos.line));
                // The rows before the failing record are read, accepted or quarantined,
                // and counted by the position: the records before it, less the header.
                let (before, _) = ingest_with(&csv.as_bytes()[..pos.byte as usize], lenient())
                    .map_err(|e| TestCaseError::fail(format!("the rows before {pos} fail: {e}")))?;
                prop_assert!(before.reconciles(), "{:?}", before);
                prop_assert_eq!(before.rows_read, pos.record - 1, "{}", e);
            }
        }
    }

    #[test]
    fn deferred_repeat_search_equals_one_pass(
        rows in body_rows(),
        valid in valid_rows(),
        copies in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..6),
        batch_rows in 1usize..9,
    ) {
        // Valid and arbitrary rows mixed, some lines copied further down (repeats).
        let mut all: Vec<String> = valid.into_iter().chain(rows).collect();
        for (from, to) in copies {
            let line = all[from.index(all.len())].clone();
            let at = to.index(all.len() + 1);
            all.insert(at, line);
        }
        let csv = csv_of(&all);
        let bytes = csv.as_bytes();
        let meta = meta_at(bytes, "t.csv", T0);
        let cfg = duff_core::IngestConfig { batch_rows, ..lenient() };
        let mut one_sink = CollectSink::default();
        let one = duff_core::ingest_bytes(meta.clone(), cfg.clone(), bytes, &mut one_sink);

        let mut sink = CollectSink::default();
        let mut first = FileIngest::new(meta.clone(), cfg.clone()).deferring_repeats(bytes.len() as u64);
        let mut read_again = false;
        let deferred = first.push(bytes, &mut sink).and_then(|()| first.finish_deferred(&mut sink)).and_then(|f| match f {
            duff_core::Finish::Done(m) => Ok(*m),
            duff_core::Finish::ReadAgain(repeats) => {
                read_again = true;
                sink = CollectSink::default();
                let mut second = FileIngest::new(meta.clone(), cfg.clone()).with_repeats(&repeats);
                second.push(bytes, &mut sink)?;
                second.finish(&mut sink)
            }
        });
        // A second reading happens exactly when the file has repeated lines.
        let repeated = one.as_ref().ok().and_then(|m| m.quarantined_by_reason.get("duplicate_line")).is_some();
        prop_assert!(one.is_err() || read_again == repeated, "read again {read_again}, repeats {repeated}");
        match (one, deferred) {
            (Ok(a), Ok(b)) => {
                prop_assert_eq!(a, b);
                prop_assert_eq!(one_sink.batches, sink.batches);
            }
            (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
            (a, b) => prop_assert!(false, "one pass {:?} vs deferred {:?}", a.map(|m| m.outcome), b.map(|m| m.outcome)),
        }
    }

    #[test]
    fn chunked_input_equals_whole(rows in body_rows(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8)) {
        let csv = csv_of(&rows);
        let bytes = csv.as_bytes();
        let meta = meta_at(bytes, "t.csv", T0);
        let cfg = duff_core::IngestConfig { batch_rows: 7, ..lenient() };
        let mut whole_sink = CollectSink::default();
        let whole = duff_core::ingest_bytes(meta.clone(), cfg.clone(), bytes, &mut whole_sink);
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut sink = CollectSink::default();
        let mut ingest = FileIngest::new(meta, cfg);
        let mut prev = 0;
        let mut err = None;
        for p in points.into_iter().chain([bytes.len()]) {
            if let Err(e) = ingest.push(&bytes[prev..p], &mut sink) { err = Some(e); break; }
            prev = p;
        }
        let chunked = match err { Some(e) => Err(e), None => ingest.finish(&mut sink) };
        match (whole, chunked) {
            (Ok(a), Ok(b)) => {
                prop_assert_eq!(a, b);
                prop_assert_eq!(whole_sink.batches, sink.batches);
            }
            (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
            (a, b) => prop_assert!(false, "whole {:?} vs chunked {:?}", a.map(|m| m.outcome), b.map(|m| m.outcome)),
        }
    }

    #[test]
    fn views_computed_by_the_sink_equal_the_ingests_own(
        valid in valid_rows(),
        noise in body_rows(),
        seed in any::<u64>(),
        batch_rows in 1usize..9,
    ) {
        // The pipelined sink computes the client and product views from the fact batches,
        // off the reading thread: the manifest and every batch (dimensions included) must
        // be the ones the ingest builds itself. Clients repeat with changing names, products
        // with changing prices, among rows that are quarantined.
        let mut rows: Vec<String> = valid
            .into_iter()
            .enumerate()
            .map(|(i, r)| if (seed >> (i % 64)) & 1 == 1 { r.replacen(",Client ", ",Klient ", 1) } else { r })
            .collect();
        for (i, n) in noise.into_iter().enumerate() {
            let at = (seed as usize).wrapping_add(i * 7) % (rows.len() + 1);
            rows.insert(at, n);
        }
        let csv = csv_of(&rows);
        let bytes = csv.as_bytes();
        let meta = meta_at(bytes, "t.csv", T0);
        let cfg = duff_core::IngestConfig { batch_rows, ..lenient() };
        let mut own_sink = CollectSink::default();
        let own = duff_core::ingest_bytes(meta.clone(), cfg.clone(), bytes, &mut own_sink);
        let mut sink = ViewsSink::default();
        let mut ingest = FileIngest::new(meta, cfg).views_from_sink();
        let theirs = ingest.push(bytes, &mut sink).and_then(|()| ingest.finish(&mut sink));
        match (own, theirs) {
            (Ok(a), Ok(b)) => {
                prop_assert_eq!(a, b);
                prop_assert_eq!(own_sink.batches, sink.inner.batches);
            }
            (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
            (a, b) => prop_assert!(false, "own {:?} vs sink's {:?}", a.map(|m| m.outcome), b.map(|m| m.outcome)),
        }
    }

    #[test]
    fn ranges_processed_apart_merge_to_the_whole(rows in valid_rows(), split in any::<prop::sample::Index>()) {
        let csv = csv_of(&rows);
        let meta = meta_at(csv.as_bytes(), "t.csv", T0);
        let cfg = lenient();
        let mut whole_sink = CollectSink::default();
        let whole = duff_core::ingest_bytes(meta.clone(), cfg.clone(), csv.as_bytes(), &mut whole_sink).unwrap();

        // Split at a record boundary: range A holds the header and the first k rows.
        let k = split.index(rows.len() + 1);
        let a_text = csv_of(&rows[..k]);
        let b_text: String = rows[k..].iter().map(|r| format!("{r}\n")).collect();
        let mut sink_a = CollectSink::default();
        let mut a = FileIngest::new(meta.clone(), cfg.clone()).as_first_range();
        a.push(a_text.as_bytes(), &mut sink_a).unwrap();
        let header = a.header().cloned().unwrap();
        let start = a.next_position();
        let mut summary = a.finish_part(&mut sink_a).unwrap().summary;
        let mut sink_b = CollectSink::default();
        let mut b = FileIngest::for_range(meta.clone(), cfg, header, start);
        b.push(b_text.as_bytes(), &mut sink_b).unwrap();
        let summary_b = b.finish_part(&mut sink_b).unwrap().summary;

        // Summaries merge in either order to the whole file's counts and totals.
        let mut other_order = summary_b.clone();
        other_order.merge(&summary);
        summary.merge(&summary_b);
        prop_assert_eq!(&summary, &other_order);
        prop_assert_eq!(summary.rows_read, whole.rows_read);
        prop_assert_eq!(summary.rows_accepted, whole.rows_accepted);
        prop_assert_eq!(duff_core::format_scaled(summary.amount, 2), whole.totals.amount.clone());
        prop_assert_eq!(summary.units.to_string(), whole.totals.units.clone());

        // States built apart merge (idempotently, in any order) to the whole file's state.
        let whole_state = state(&meta, &whole_sink).to_batch().unwrap();
        let sa = state(&meta, &sink_a);
        let sb = state(&meta, &sink_b);
        let mut ab = sa.clone();
        ab.merge(&sb);
        let mut ba = sb.clone();
        ba.merge(&sa);
        ba.merge(&sa);
        prop_assert_eq!(ab.to_batch().unwrap(), whole_state.clone());
        prop_assert_eq!(ba.to_batch().unwrap(), whole_state);
    }

    #[test]
    fn reports_do_not_depend_on_the_order_files_arrive(
        files in prop::collection::vec((valid_rows(), 0i64..3), 1..5),
        seed in any::<u64>(),
    ) {
        // Every file reuses the same order ids (`valid_rows` numbers them from 1), so the
        // files hold versions of the same lines; equal instants are frequent.
        let ingested: Vec<(FileMeta, CollectSink)> = files
            .iter()
            .enumerate()
            .map(|(i, (rows, at))| {
                let csv = csv_of(rows);
                let meta = meta_at(csv.as_bytes(), &format!("f{i}.csv"), T0 + at);
                let (_, sink) = ingest_with(csv.as_bytes(), lenient()).unwrap();
                (meta, sink)
            })
            .collect();
        let reports_of = |order: &[usize]| {
            let mut s = CurrentState::new();
            for &i in order {
                let (meta, sink) = &ingested[i];
                for b in sink.batches.get(&Table::FactOrderLine).into_iter().flatten() {
                    s.apply_batch(meta, b).unwrap();
                }
            }
            let f = ReportFilter::default();
            (
                reports::sales_by_product(&s, &f),
                reports::order_status(&s, &f),
                reports::orders_by_client(&s, &f),
                reports::sales_by_channel(&s, &f),
                reports::totals(&s, &f),
            )
        };
        let in_order: Vec<usize> = (0..ingested.len()).collect();
        let mut shuffled = in_order.clone();
        // A deterministic Fisher-Yates from the seed.
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(reports_of(&in_order), reports_of(&shuffled));
    }

    #[test]
    fn parquet_roundtrip_equals_the_batches(rows in valid_rows()) {
        let (_, sink) = ingest(&csv_of(&rows));
        for t in [Table::FactOrderLine, Table::DimClient, Table::DimProduct] {
            let batches = concat(&sink, t);
            prop_assert_eq!(read_parquet(to_parquet_bytes(&batches).unwrap()).unwrap(), batches);
        }
    }

    #[test]
    fn applying_a_file_twice_equals_once(rows in valid_rows()) {
        let csv = csv_of(&rows);
        let meta = meta_at(csv.as_bytes(), "t", T0);
        let (_, sink) = ingest(&csv);
        let once = state(&meta, &sink);
        let mut twice = once.clone();
        for b in &sink.batches[&Table::FactOrderLine] {
            twice.apply_batch(&meta, b).unwrap();
        }
        prop_assert_eq!(once.to_batch().unwrap(), twice.to_batch().unwrap());
    }

    #[test]
    fn summaries_merge_associatively(a in summary(), b in summary(), c in summary()) {
        let mut left = a.clone(); left.merge(&b); left.merge(&c);
        let mut bc = b.clone(); bc.merge(&c);
        let mut right = a.clone(); right.merge(&bc);
        prop_assert_eq!(&left, &right);
        let mut ba = b.clone(); ba.merge(&a);
        let mut ab = a.clone(); ab.merge(&b);
        prop_assert_eq!(ab, ba);
    }
}

fn summary() -> impl Strategy<Value = FileSummary> {
    (0u64..1000, 0u64..1000, any::<i64>(), any::<i64>(), 0usize..14).prop_map(|(acc, q, amount, volume, code)| {
        let mut s = FileSummary {
            rows_read: acc + q,
            rows_accepted: acc,
            rows_quarantined: q,
            amount: i128::from(amount),
            volume: i128::from(volume),
            units: i128::from(amount / 3),
            ..FileSummary::default()
        };
        if q > 0 {
            s.by_reason.insert(duff_core::ReasonCode::ALL[code], q);
        }
        s
    })
}
