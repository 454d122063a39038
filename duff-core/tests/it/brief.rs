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

#[test]
fn aggregate_tables_match_the_report_rows() {
    let (_, sink) = ingest(BRIEF);
    let meta = meta_at(BRIEF.as_bytes(), "test.csv", T0);
    let mut s = CurrentState::new();
    for b in &sink.batches[&Table::FactOrderLine] {
        s.apply_batch(&meta, b).unwrap();
    }
    let aggs = reports::aggregate_batches(&s).unwrap();
    let names: Vec<&str> = aggs.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["agg_sales_by_product", "agg_order_status", "agg_orders_by_client", "agg_sales_by_channel"]);
    let text = arrow_cast_free_format(&aggs[0].1);
    assert_eq!(
        text,
        vec![
            "102|Duff Classic|2|12|30.00|3.960000",
            "103|Duff Lite|1|12|24.00|6.000000",
            "104|Duff Dry|1|8|24.00|2.000000",
            "105|Duff Special|1|24|96.00|24.000000",
        ]
    );
    assert_eq!(
        arrow_cast_free_format(&aggs[1].1),
        vec!["created|2|30|111.00", "delivered|2|18|39.00", "broken|1|8|24.00"]
    );
}

/// Rows as `a|b|c` text, decimals with their scale (no dependency on arrow's pretty printer).
fn arrow_cast_free_format(b: &arrow_array::RecordBatch) -> Vec<String> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Decimal128Type, Int64Type};
    (0..b.num_rows())
        .map(|r| {
            b.columns()
                .iter()
                .map(|c| match c.data_type() {
                    arrow_schema::DataType::Int64 => c.as_primitive::<Int64Type>().value(r).to_string(),
                    arrow_schema::DataType::Decimal128(_, s) => {
                        duff_core::format_scaled(c.as_primitive::<Decimal128Type>().value(r), *s as u32)
                    }
                    _ => c.as_string::<i32>().value(r).to_owned(),
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}
