//! The brief's five rows give the numbers the customer expects.

use crate::common::*;
use duff_core::reports::{self, ReportFilter};
use duff_core::{CurrentState, Status, Table};

#[test]
fn the_brief_sample_gives_the_expected_reports() {
    let (m, sink) = ingest(BRIEF);
    assert_eq!((m.rows_read, m.rows_accepted, m.rows_quarantined), (5, 5, 0));
    assert_eq!(m.totals.amount, "174.00");
    let meta = meta_at(BRIEF.as_bytes(), "test.csv", T0);
    let mut s = CurrentState::new();
    for b in &sink.batches[&Table::FactOrderLine] {
        s.apply_batch(&meta, b).unwrap();
    }
    let f = ReportFilter::default();
    let p: Vec<_> = reports::sales_by_product(&s, &f)
        .into_iter()
        .map(|r| (r.product_id, r.orders, r.units, r.sales, r.volume_l))
        .collect();
    assert_eq!(
        p,
        vec![
            (102, 2, 12, "30.00".into(), "3.96".into()),
            (103, 1, 12, "24.00".into(), "6.00".into()),
            (104, 1, 8, "24.00".into(), "2.00".into()),
            (105, 1, 24, "96.00".into(), "24.00".into()),
        ]
    );
    let st: Vec<_> = reports::order_status(&s, &f).into_iter().map(|r| (r.status, r.orders, r.sales)).collect();
    assert_eq!(
        st,
        vec![
            (Status::Created, 2, "111.00".into()),
            (Status::Delivered, 2, "39.00".into()),
            (Status::Broken, 1, "24.00".into()),
        ]
    );
    assert_eq!(reports::totals(&s, &f).sales, "174.00");
    let c = reports::orders_by_client(&s, &f);
    assert_eq!(c.len(), 5);
    assert_eq!((c[0].client_id, c[0].client_name.as_str(), c[0].sales.as_str()), (1001, "Moe's Tavern", "15.00"));
    let ch: Vec<_> = reports::sales_by_channel(&s, &f).into_iter().map(|r| (r.channel.as_str(), r.sales)).collect();
    assert_eq!(ch, vec![("Retail", "111.00".into()), ("Online", "24.00".into()), ("B2B", "39.00".into())]);
    // Filters.
    let retail = ReportFilter { channel: Some(duff_core::Channel::Retail), ..f };
    assert_eq!(reports::totals(&s, &retail).sales, "111.00");
    let one = ReportFilter { client_id: Some(1002), ..f };
    assert_eq!(reports::totals(&s, &one).units, 12);
}
