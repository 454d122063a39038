//! Helpers shared by the integration tests.

use duff_core::{CollectSink, FileId, FileMeta, IngestConfig, Manifest, Result, Table};
pub use duff_testkit::{HEADER, csv_file};

/// The brief's five rows.
pub const BRIEF: &str = "client_id,client_name,order_id,product_id,product_description,product_price,product_ccf,product_volume,point_of_sale_channel,status
1001,Moe's Tavern,5678,102,Duff Classic,2.50,6,0.33,Retail,created
1002,Kwik-E-Mart,5679,103,Duff Lite,2.00,12,0.5,B2B,delivered
1003,Krusty Burger,5680,104,Duff Dry,3.00,8,0.25,Online,broken
1004,Springfield Mall,5681,105,Duff Special,4.00,24,1.00,Retail,created
1005,Moe's Tavern,5682,102,Duff Classic,2.50,6,0.33,B2B,delivered
";

pub const T0: i64 = 1_795_000_000_000_000;

pub fn meta_at(bytes: &[u8], source: &str, micros: i64) -> FileMeta {
    FileMeta { file_id: FileId::of_bytes(bytes), source: source.into(), ingested_at_micros: micros }
}

/// A config that never rejects (for tests about single rows).
pub fn lenient() -> IngestConfig {
    IngestConfig { reject_threshold_ppm: 1_000_000, ..IngestConfig::default() }
}

pub fn ingest_with(csv: &[u8], cfg: IngestConfig) -> Result<(Manifest, CollectSink)> {
    let mut sink = CollectSink::default();
    let m = duff_core::ingest_bytes(meta_at(csv, "test.csv", T0), cfg, csv, &mut sink)?;
    Ok((m, sink))
}

pub fn ingest(csv: &str) -> (Manifest, CollectSink) {
    match ingest_with(csv.as_bytes(), lenient()) {
        Ok(r) => r,
        Err(e) => panic!("ingest failed: {e}"),
    }
}

/// A valid row with one column replaced.
pub fn row_with(column: &str, value: &str) -> String {
    let names: Vec<&str> = HEADER.split(',').collect();
    let mut vals =
        vec!["1001", "Moe's Tavern", "5678", "102", "Duff Classic", "2.50", "6", "0.33", "Retail", "created"];
    let i = names.iter().position(|n| *n == column).unwrap_or_else(|| panic!("no column {column}"));
    vals[i] = value;
    vals.join(",")
}

/// Reason codes and messages of the quarantine table's rows.
pub fn quarantine(sink: &CollectSink) -> Vec<(i64, String, String)> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    let mut out = Vec::new();
    for b in sink.batches.get(&Table::Quarantine).into_iter().flatten() {
        let line = b.column_by_name("line").unwrap().as_primitive::<Int64Type>();
        let codes = b.column_by_name("reason_codes").unwrap().as_string::<i32>();
        let msgs = b.column_by_name("reasons").unwrap().as_string::<i32>();
        for r in 0..b.num_rows() {
            out.push((line.value(r), codes.value(r).to_owned(), msgs.value(r).to_owned()));
        }
    }
    out
}

/// The reason codes of a single-row file, or the empty string when it was accepted.
pub fn codes_of_row(row: &str) -> String {
    let (m, sink) = ingest(&csv_file(&[row]));
    assert!(m.reconciles(), "{m:?}");
    let q = quarantine(&sink);
    assert_eq!(q.len() as u64, m.rows_quarantined);
    q.first().map(|(_, c, _)| c.clone()).unwrap_or_default()
}

/// Collects the batches and computes the dimension views of the fact batches.
#[derive(Default)]
pub struct ViewsSink {
    pub inner: CollectSink,
    views: duff_core::tables::DimensionViews,
}

impl duff_core::TableSink for ViewsSink {
    fn write_batch(&mut self, table: Table, batch: duff_core::arrow_array::RecordBatch) -> duff_core::Result<()> {
        if table == Table::FactOrderLine {
            self.views.apply_facts(&batch)?;
        }
        self.inner.write_batch(table, batch)
    }

    fn dimension_views(&mut self) -> Option<duff_core::Result<duff_core::tables::DimensionViews>> {
        Some(Ok(std::mem::take(&mut self.views)))
    }

    fn computes_views(&self) -> bool {
        true
    }
}
