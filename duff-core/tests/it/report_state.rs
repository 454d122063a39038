//! The compact report state answers exactly like the reference reports over `CurrentState`.

use crate::common::*;
use duff_core::reports::{self, ReportFilter};
use duff_core::{Channel, CollectSink, CurrentState, FileMeta, ReportState, Status, Table};
use proptest::prelude::*;

/// One file: its instant (small, so that files tie), its source, and rows drawn from a small
/// key space (so that lines reappear across files and within a file).
fn file() -> impl Strategy<Value = (i64, u8, Vec<String>, bool)> {
    (
        0i64..3,
        0u8..2,
        any::<bool>(),
        prop::collection::vec(
            (1u32..4, 0u32..3, 1000u32..1012, 100u32..104, 0u32..3000, 1u32..20, 0usize..3, 0usize..3),
            0..40,
        ),
    )
        .prop_map(|(t, source, sorted, mut rows)| {
            // A sorted file (key order, as exports by order id are) may be streamed.
            if sorted {
                rows.sort_by_key(|r| (r.2, r.3));
            }
            let rows = rows
                .into_iter()
                .map(|(client, v, order, product, cents, units, ch, st)| {
                    format!(
                        "{client},Client {client} v{v},{order},{product},Product {product} v{v},{}.{:02},{units},0.{:03},{},{}",
                        cents / 100,
                        cents % 100,
                        (cents % 999) + 1,
                        ["Retail", "online", "B2B"][ch],
                        ["created", "delivered", "BROKEN"][st]
                    )
                })
                .collect();
            (t, source, rows, sorted)
        })
}

fn filters() -> Vec<ReportFilter> {
    vec![
        ReportFilter::default(),
        ReportFilter { channel: Some(Channel::Online), ..ReportFilter::default() },
        ReportFilter { status: Some(Status::Created), ..ReportFilter::default() },
        ReportFilter { client_id: Some(2), product_id: Some(101), ..ReportFilter::default() },
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn compact_reports_equal_the_reference(files in prop::collection::vec(file(), 1..5), states in 1usize..4, spread in any::<u64>()) {
        let mut ingested: Vec<(FileMeta, CollectSink)> = Vec::new();
        for (i, (t, source, rows, _)) in files.iter().enumerate() {
            // Distinct contents even when the rows are equal: a comment-free way is a unique
            // trailing row per file.
            let mut csv = format!("{HEADER}\n");
            for r in rows {
                csv.push_str(r);
                csv.push('\n');
            }
            csv.push_str(&format!("9,Z,{},999,Z,1.00,1,1,Retail,created\n", 90_000 + i));
            let meta = meta_at(csv.as_bytes(), &format!("s3://in/{source}.csv"), T0 + t);
            let mut sink = CollectSink::default();
            duff_core::ingest_bytes(meta.clone(), duff_core::IngestConfig { batch_rows: 3, ..lenient() }, csv.as_bytes(), &mut sink).unwrap();
            ingested.push((meta, sink));
        }
        let mut reference = CurrentState::new();
        for (meta, sink) in &ingested {
            for b in sink.batches.get(&Table::FactOrderLine).into_iter().flatten() {
                reference.apply_batch(meta, b).unwrap();
            }
        }
        // The compact states read the files in reverse order, batches spread over `states`
        // states (as threads do), then merge.
        let mut compact: Vec<ReportState> = (0..states).map(|_| ReportState::with_capacity(0)).collect();
        let mut pick = spread;
        for (meta, sink) in ingested.iter().rev() {
            for b in sink.batches.get(&Table::FactOrderLine).into_iter().flatten() {
                compact[(pick % states as u64) as usize].apply_batch(meta, b).unwrap();
                pick = pick.rotate_left(7) ^ 0x9E37_79B9;
            }
        }
        let lines = ReportState::finish_all(compact);
        prop_assert_eq!(lines.len(), reference.len());
        // The sorted files streamed, the others read into states.
        let mut rest: Vec<ReportState> = vec![ReportState::with_capacity(0)];
        let mut streamed = Vec::new();
        for ((meta, sink), (_, _, _, sorted)) in ingested.iter().zip(&files) {
            let batches = sink.batches.get(&Table::FactOrderLine).cloned().unwrap_or_default();
            if *sorted {
                streamed.push((meta.clone(), batches));
            } else {
                for b in &batches {
                    rest[0].apply_batch(meta, b).unwrap();
                }
            }
        }
        let stream_metas: Vec<FileMeta> = streamed.iter().map(|(m, _)| m.clone()).collect();
        let mixed = ReportState::finish_all_with(rest, &stream_metas);
        for f in filters() {
            let streams = streamed
                .iter()
                .map(|(m, b)| {
                    let it: Box<dyn Iterator<Item = duff_core::Result<duff_core::arrow_array::RecordBatch>>> =
                        Box::new(b.clone().into_iter().map(Ok));
                    (m.clone(), it)
                })
                .collect();
            let got = mixed.reports_with_streams(streams, &f).unwrap();
            prop_assert_eq!(&got, &lines.reports(&f));
            let got = lines.reports(&f);
            prop_assert_eq!(&got.totals, &reports::totals(&reference, &f));
            prop_assert_eq!(&got.sales_by_product, &reports::sales_by_product(&reference, &f));
            prop_assert_eq!(&got.order_status, &reports::order_status(&reference, &f));
            prop_assert_eq!(&got.orders_by_client, &reports::orders_by_client(&reference, &f));
            prop_assert_eq!(&got.sales_by_channel, &reports::sales_by_channel(&reference, &f));
        }
    }
}

#[test]
fn a_later_file_supersedes_and_names_come_from_the_latest_line() {
    let old = format!(
        "{HEADER}\n1,Old name,10,100,Lager,1.00,2,0.5,Retail,created\n1,Old name,11,100,Lager,1.00,1,0.5,Retail,created\n"
    );
    let new = format!("{HEADER}\n1,New name,10,100,Lager,1.00,2,0.5,Retail,delivered\n");
    let mut state = ReportState::with_capacity(3);
    for (csv, t) in [(&new, T0 + 1), (&old, T0)] {
        let meta = meta_at(csv.as_bytes(), "x.csv", t);
        let mut sink = CollectSink::default();
        duff_core::ingest_bytes(meta.clone(), lenient(), csv.as_bytes(), &mut sink).unwrap();
        for b in &sink.batches[&Table::FactOrderLine] {
            state.apply_batch(&meta, b).unwrap();
        }
    }
    let r = state.finish().reports(&ReportFilter::default());
    assert_eq!(r.totals.lines, 2);
    assert_eq!(r.totals.orders, 2);
    assert_eq!(r.totals.sales, "3.00");
    assert_eq!(r.orders_by_client[0].client_name, "New name");
    let statuses: Vec<(Status, u64)> = r.order_status.iter().map(|s| (s.status, s.orders)).collect();
    assert_eq!(statuses, vec![(Status::Created, 1), (Status::Delivered, 1)]);
}
