//! Analytics models: SCD2 across files, lifecycle milestones and illegal transitions, marts.

use crate::common::*;
use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Int64Type, TimestampMicrosecondType};
use duff_core::models::{self, Dimensions};
use duff_core::{CollectSink, CurrentState, FileMeta, StatusHistory, Table};

const HOUR: i64 = 3_600_000_000;

fn file(rows: &[String]) -> String {
    let mut s = format!("{HEADER}\n");
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s
}

/// Ingests files at T0, T0+1h, ... and applies them in version order to every model input.
fn lake(files: &[Vec<String>]) -> (CurrentState, StatusHistory, Dimensions) {
    let (mut state, mut history, mut dims) = (CurrentState::new(), StatusHistory::new(), Dimensions::new());
    for (i, rows) in files.iter().enumerate() {
        let csv = file(rows);
        let meta: FileMeta = meta_at(csv.as_bytes(), &format!("f{i}.csv"), T0 + i as i64 * HOUR);
        let mut sink = CollectSink::default();
        duff_core::ingest_bytes(meta.clone(), lenient(), csv.as_bytes(), &mut sink).unwrap();
        for b in sink.batches.get(&Table::FactOrderLine).into_iter().flatten() {
            state.apply_batch(&meta, b).unwrap();
            history.apply_batch(&meta, b).unwrap();
        }
        for b in sink.batches.get(&Table::DimClient).into_iter().flatten() {
            dims.apply_clients(&meta, b).unwrap();
        }
        for b in sink.batches.get(&Table::DimProduct).into_iter().flatten() {
            dims.apply_products(&meta, b).unwrap();
        }
    }
    (state, history, dims)
}

fn ints(b: &arrow_array::RecordBatch, c: &str) -> Vec<Option<i64>> {
    let a = b.column_by_name(c).unwrap().as_primitive::<Int64Type>();
    (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i))).collect()
}

fn strs(b: &arrow_array::RecordBatch, c: &str) -> Vec<Option<String>> {
    let a = b.column_by_name(c).unwrap().as_string::<i32>();
    (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i).to_owned())).collect()
}

fn times(b: &arrow_array::RecordBatch, c: &str) -> Vec<Option<i64>> {
    let a = b.column_by_name(c).unwrap().as_primitive::<TimestampMicrosecondType>();
    (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i))).collect()
}

fn decs(b: &arrow_array::RecordBatch, c: &str) -> Vec<Option<String>> {
    let a = b.column_by_name(c).unwrap().as_primitive::<Decimal128Type>();
    let scale = a.scale() as u32;
    (0..a.len()).map(|i| a.is_valid(i).then(|| duff_core::format_scaled(a.value(i), scale))).collect()
}

#[test]
fn scd2_dimensions_version_on_change_across_files() {
    let renamed = row_with("client_name", "Moe's Tavern & Grill").replace(",5678,", ",2,");
    let repriced = row_with("product_price", "2.75").replace(",5678,", ",3,");
    let (_, _, dims) = lake(&[
        vec![row_with("status", "created")],
        vec![row_with("status", "delivered")], // nothing changed: no new version
        vec![renamed],
        vec![repriced],
    ]);
    let c = dims.client_batch().unwrap();
    assert_eq!(
        strs(&c, "client_name"),
        vec![Some("Moe's Tavern".into()), Some("Moe's Tavern & Grill".into()), Some("Moe's Tavern".into())]
    );
    assert_eq!(times(&c, "valid_from"), vec![Some(T0), Some(T0 + 2 * HOUR), Some(T0 + 3 * HOUR)]);
    assert_eq!(times(&c, "valid_to"), vec![Some(T0 + 2 * HOUR), Some(T0 + 3 * HOUR), None]);
    assert_eq!(ints(&c, "version"), vec![Some(1), Some(2), Some(3)]);
    let keys = ints(&c, "client_key");
    assert!(keys.iter().all(|k| *k == Some(models::surrogate_key("client", 1001))), "one stable key per client");
    let vkeys = ints(&c, "client_version_key");
    assert_ne!(vkeys[0], vkeys[1]);
    let p = dims.product_batch().unwrap();
    assert_eq!(decs(&p, "unit_price"), vec![Some("2.50".into()), Some("2.75".into())]);
    let current = p.column_by_name("is_current").unwrap().as_boolean();
    assert_eq!((current.value(0), current.value(1)), (false, true));
    // Out of order application is refused.
    let mut d = Dimensions::new();
    let csv = file(&[row_with("status", "created")]);
    let (_, sink) = ingest(&csv);
    let late = meta_at(csv.as_bytes(), "b", T0 + HOUR);
    let early = meta_at(csv.as_bytes(), "a", T0);
    d.apply_clients(&late, &sink.batches[&Table::DimClient][0]).unwrap();
    assert!(d.apply_clients(&early, &sink.batches[&Table::DimClient][0]).is_err());
}

#[test]
fn lifecycle_milestones_lags_and_illegal_transitions() {
    let line = |order: &str, status: &str| row_with("order_id", order).replace(",created", &format!(",{status}"));
    let (state, history, _) = lake(&[
        vec![line("1", "created"), line("2", "created"), line("3", "delivered")],
        vec![line("1", "created"), line("2", "broken")],
        vec![line("1", "delivered"), line("3", "broken")],
    ]);
    let b = models::lifecycle_batch(&state, &history).unwrap();
    assert_eq!(ints(&b, "order_id"), vec![Some(1), Some(2), Some(3)]);
    assert_eq!(
        strs(&b, "current_status"),
        vec![Some("delivered".into()), Some("broken".into()), Some("broken".into())]
    );
    assert_eq!(times(&b, "created_at"), vec![Some(T0), Some(T0), None]);
    assert_eq!(times(&b, "delivered_at"), vec![Some(T0 + 2 * HOUR), None, Some(T0)]);
    assert_eq!(ints(&b, "seconds_created_to_delivered"), vec![Some(7200), None, None]);
    assert_eq!(ints(&b, "seconds_created_to_broken"), vec![None, Some(3600), None]);
    assert_eq!(ints(&b, "transitions"), vec![Some(1), Some(1), Some(1)]);
    let illegal = b.column_by_name("illegal_transition").unwrap().as_boolean();
    assert_eq!((illegal.value(0), illegal.value(1), illegal.value(2)), (false, false, true));
    assert_eq!(strs(&b, "illegal_detail")[2].as_deref(), Some("delivered->broken"));
}

#[test]
fn marts_on_the_brief() {
    let rows: Vec<String> = BRIEF.lines().skip(1).map(str::to_owned).collect();
    let (state, _, _) = lake(&[rows]);
    let marts = models::mart_batches(&state).unwrap();
    let names: Vec<&str> = marts.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "mart_client_value",
            "mart_broken_rate_by_product",
            "mart_broken_rate_by_channel",
            "mart_product_mix_by_channel",
            "mart_sales_daily"
        ]
    );
    let cv = &marts[0].1;
    assert_eq!(ints(cv, "client_id")[0], Some(1001));
    assert_eq!(decs(cv, "avg_order_value")[3].as_deref(), Some("96.00"));
    let by_channel = &marts[2].1;
    assert_eq!(strs(by_channel, "channel"), vec![Some("Retail".into()), Some("Online".into()), Some("B2B".into())]);
    assert_eq!(
        decs(by_channel, "broken_rate"),
        vec![Some("0.000000".into()), Some("1.000000".into()), Some("0.000000".into())]
    );
    let mix = &marts[3].1;
    // Retail: product 102 sells 15.00 of 111.00 = 0.135135 (half-even), product 105 96.00 of 111.00.
    assert_eq!(decs(mix, "share_of_channel_sales")[0..2], [Some("0.135135".into()), Some("0.864865".into())]);
    let daily = &marts[4].1;
    assert_eq!(decs(daily, "sales").iter().flatten().cloned().collect::<Vec<_>>(), vec!["111.00", "24.00", "39.00"]);
}
