//! Parquet encoding: roundtrips, determinism, explicit writer properties.

use crate::common::*;
use duff_core::{Table, read_parquet, to_parquet_bytes};
use parquet::file::reader::{FileReader, SerializedFileReader};

fn sample() -> duff_core::CollectSink {
    let csv = format!(
        "{BRIEF}{}\n{}\n",
        row_with("status", "lost"),
        row_with("order_id", "77").replace("Moe's Tavern", "\"Moe's, \"\"Bar\"\"\"")
    );
    ingest(&csv).1
}

#[test]
fn every_table_roundtrips() {
    let sink = sample();
    for table in [Table::FactOrderLine, Table::Quarantine, Table::DimClient, Table::DimProduct] {
        let batches = &sink.batches[&table];
        let bytes = to_parquet_bytes(batches).unwrap();
        let back = read_parquet(bytes).unwrap();
        assert_eq!(&back, batches, "{table:?}");
    }
    for b in [duff_core::tables::dim_channel_batch().unwrap(), duff_core::tables::dim_status_batch().unwrap()] {
        assert_eq!(read_parquet(to_parquet_bytes(std::slice::from_ref(&b)).unwrap()).unwrap(), vec![b]);
    }
}

#[test]
fn the_same_input_gives_byte_identical_output() {
    let a = to_parquet_bytes(&sample().batches[&Table::FactOrderLine]).unwrap();
    let b = to_parquet_bytes(&sample().batches[&Table::FactOrderLine]).unwrap();
    assert_eq!(a, b);
}

#[test]
fn writer_properties_are_explicit() {
    let bytes = to_parquet_bytes(&sample().batches[&Table::FactOrderLine]).unwrap();
    let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
    let meta = reader.metadata();
    assert!(meta.file_metadata().created_by().unwrap_or("").starts_with("duff-core version"));
    let rg = meta.row_group(0);
    for col in rg.columns() {
        assert!(matches!(col.compression(), parquet::basic::Compression::ZSTD(_)), "{:?}", col.column_path());
        // Every column has statistics but the text no query filters on.
        let unfiltered = duff_core::parquet_io::UNFILTERED_TEXT_COLUMNS.contains(&col.column_path().string().as_str());
        assert_eq!(col.statistics().is_some(), !unfiltered, "statistics for {:?}", col.column_path());
    }
    // Decimals are stored as INT64 (precision 18), as Athena expects for DECIMAL(18,s).
    let schema = meta.file_metadata().schema_descr();
    let amount = schema.columns().iter().find(|c| c.name() == "amount").unwrap();
    assert_eq!(amount.physical_type(), parquet::basic::Type::INT64);
}

#[test]
fn parquet_sink_streams_tables_to_writers() {
    let csv = BRIEF.as_bytes();
    let mut sink = duff_core::ParquetSink::new(|_t| Ok(Vec::new()));
    let m = duff_core::ingest_bytes(meta_at(csv, "t", T0), lenient(), csv, &mut sink).unwrap();
    let files = sink.finish().unwrap();
    let facts = read_parquet(files[&Table::FactOrderLine].clone()).unwrap();
    assert_eq!(facts.iter().map(|b| b.num_rows() as u64).sum::<u64>(), m.rows_accepted);
    assert!(!files.contains_key(&Table::Quarantine));
}
