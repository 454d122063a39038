//! Files over time (README.md, "Files over time"): latest state per order line, history, ties, thresholds.

use crate::common::*;
use duff_core::reports::{self, ReportFilter};
use duff_core::{CollectSink, CurrentState, FileMeta, IngestConfig, Outcome, Status, StatusHistory, Table};

fn file(rows: &[String]) -> String {
    let mut s = format!("{HEADER}\n");
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s
}

fn ingest_at(csv: &str, source: &str, micros: i64) -> (FileMeta, CollectSink) {
    let meta = meta_at(csv.as_bytes(), source, micros);
    let mut sink = CollectSink::default();
    let m = duff_core::ingest_bytes(meta.clone(), lenient(), csv.as_bytes(), &mut sink).unwrap();
    assert_eq!(m.outcome, Outcome::Published);
    (meta, sink)
}

fn state_of(files: &[(FileMeta, CollectSink)]) -> CurrentState {
    let mut s = CurrentState::new();
    for (meta, sink) in files {
        for b in sink.batches.get(&Table::FactOrderLine).into_iter().flatten() {
            s.apply_batch(meta, b).unwrap();
        }
    }
    s
}

fn statuses(s: &CurrentState) -> Vec<(i64, Status)> {
    s.lines().iter().map(|l| (l.key.order_id, l.status)).collect()
}

#[test]
fn the_latest_ingest_wins_whatever_the_processing_order() {
    let day1 = file(&[row_with("status", "created"), row_with("order_id", "2")]);
    let day2 = file(&[row_with("status", "delivered")]);
    let a = ingest_at(&day1, "day1.csv", T0);
    let b = ingest_at(&day2, "day2.csv", T0 + 1_000_000);
    // Processed in order, and with day2's event delivered first (delayed day1 event).
    for files in [vec![a.clone_parts(), b.clone_parts()], vec![b.clone_parts(), a.clone_parts()]] {
        let s = state_of(&files);
        assert_eq!(statuses(&s), vec![(2, Status::Created), (5678, Status::Delivered)]);
        let line = s.lines().into_iter().find(|l| l.key.order_id == 5678).unwrap().clone();
        assert_eq!(line.first_seen_micros, T0);
        // Reports count the line once, in its latest state.
        let t = reports::totals(&s, &ReportFilter::default());
        assert_eq!((t.lines, t.orders), (2, 2));
        let st = reports::order_status(&s, &ReportFilter::default());
        assert_eq!(
            st.iter().map(|r| (r.status, r.orders)).collect::<Vec<_>>(),
            vec![(Status::Created, 1), (Status::Delivered, 1)]
        );
    }
}

#[test]
fn equal_instants_are_broken_by_source_then_content() {
    let x = file(&[row_with("status", "broken")]);
    let y = file(&[row_with("status", "delivered")]);
    let a = ingest_at(&x, "incoming/a.csv", T0);
    let b = ingest_at(&y, "incoming/b.csv", T0);
    for files in [vec![a.clone_parts(), b.clone_parts()], vec![b.clone_parts(), a.clone_parts()]] {
        assert_eq!(statuses(&state_of(&files)), vec![(5678, Status::Delivered)], "b.csv sorts after a.csv");
    }
}

#[test]
fn within_a_file_the_later_line_wins() {
    let f = file(&[row_with("status", "created"), row_with("status", "broken")]);
    let s = state_of(&[ingest_at(&f, "f.csv", T0)]);
    assert_eq!(statuses(&s), vec![(5678, Status::Broken)]);
}

#[test]
fn history_keeps_every_change_in_version_order() {
    let files = [
        ingest_at(&file(&[row_with("status", "created")]), "1.csv", T0),
        ingest_at(&file(&[row_with("status", "created"), row_with("order_id", "7")]), "2.csv", T0 + 1),
        ingest_at(&file(&[row_with("status", "delivered")]), "3.csv", T0 + 2),
    ];
    let mut h = StatusHistory::new();
    for (meta, sink) in &files {
        for b in &sink.batches[&Table::FactOrderLine] {
            h.apply_batch(meta, b).unwrap();
        }
    }
    let changes: Vec<_> = h.changes.iter().map(|c| (c.key.order_id, c.from, c.to, c.at_micros)).collect();
    assert_eq!(
        changes,
        vec![
            (5678, None, Status::Created, T0),
            (7, None, Status::Created, T0 + 1),
            (5678, Some(Status::Created), Status::Delivered, T0 + 2),
        ]
    );
    let batch = h.to_batch().unwrap();
    assert_eq!(batch.num_rows(), 3);
    // Out-of-order application is refused rather than producing a wrong history.
    let mut h2 = StatusHistory::new();
    h2.apply_batch(&files[2].0, &files[2].1.batches[&Table::FactOrderLine][0]).unwrap();
    assert!(h2.apply_batch(&files[0].0, &files[0].1.batches[&Table::FactOrderLine][0]).is_err());
}

#[test]
fn reject_threshold_is_exact() {
    // 1 bad row in 20 is exactly 5 %: not above the default threshold.
    let mut rows: Vec<String> = (1..=19).map(|i| row_with("order_id", &i.to_string())).collect();
    rows.push(row_with("status", "lost"));
    let csv = file(&rows);
    let (m, _) = ingest_with(csv.as_bytes(), IngestConfig::default()).unwrap();
    assert_eq!((m.outcome, m.rows_quarantined), (Outcome::Published, 1));
    assert_eq!(m.quarantined_share, "0.05");
    // One more bad row: 2 in 21 > 5 %: the file is refused whole, with the reason.
    rows.push(row_with("status", "gone"));
    let csv = file(&rows);
    let (m, _) = ingest_with(csv.as_bytes(), IngestConfig::default()).unwrap();
    assert_eq!(m.outcome, Outcome::Rejected);
    assert!(m.outputs.is_empty(), "nothing published");
    assert!(m.message.as_deref().unwrap_or("").contains("above the reject threshold 0.05"), "{m:?}");
    assert!(m.reconciles());
    assert_eq!(m.sample_problems.len(), 2);
    // The threshold is configurable.
    let cfg = IngestConfig {
        reject_threshold_ppm: IngestConfig::parse_reject_threshold("0.1").unwrap(),
        ..IngestConfig::default()
    };
    assert_eq!(ingest_with(csv.as_bytes(), cfg).unwrap().0.outcome, Outcome::Published);
}

#[test]
fn threshold_configuration_is_validated() {
    assert_eq!(IngestConfig::parse_reject_threshold("0.05").unwrap(), 50_000);
    assert_eq!(IngestConfig::parse_reject_threshold("1").unwrap(), 1_000_000);
    assert_eq!(IngestConfig::parse_reject_threshold("0").unwrap(), 0);
    for bad in ["", "5%", "-0.1", "1.5", "abc", "0.0000001"] {
        let e = IngestConfig::parse_reject_threshold(bad).unwrap_err();
        assert!(e.to_string().contains("DUFF_REJECT_THRESHOLD"), "{bad}: {e}");
    }
}

#[test]
fn manifest_records_everything_and_roundtrips() {
    let (m, _) = ingest(&file(&[row_with("status", "created"), row_with("status", "lost"), row_with("order_id", "9")]));
    assert_eq!((m.rows_read, m.rows_accepted, m.rows_quarantined), (3, 2, 1));
    assert_eq!(m.quarantined_by_reason.get("unknown_status"), Some(&1));
    assert_eq!(m.totals.units, "12");
    assert_eq!(m.totals.amount, "30.00");
    assert_eq!(m.totals.volume_l, "3.96");
    let tables: Vec<_> = m.outputs.iter().map(|o| (o.table.name(), o.rows)).collect();
    assert_eq!(tables, vec![("fact_order_line", 2), ("quarantine", 1), ("dim_client", 1), ("dim_product", 1)]);
    let line = m.to_json_line().unwrap();
    assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1, "one JSON line");
    let back = duff_core::Manifest::from_json(&line).unwrap();
    assert_eq!(back, m);
    assert_eq!(back.meta().unwrap().ingested_at_micros, T0);
    let forged = duff_core::Manifest { file_id: "../../etc".into(), ..back };
    assert!(forged.meta().is_err(), "a file id that is not 32 hex digits is refused");
}

trait CloneParts {
    fn clone_parts(&self) -> (FileMeta, CollectSink);
}

impl CloneParts for (FileMeta, CollectSink) {
    fn clone_parts(&self) -> (FileMeta, CollectSink) {
        (self.0.clone(), CollectSink { batches: self.1.batches.clone() })
    }
}
