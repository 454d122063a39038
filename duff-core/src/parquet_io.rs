//! Parquet encoding to any `Write`, with explicit writer properties, and decoding back.
//!
//! The same batches always give the same bytes: no timestamps or hostnames are written,
//! and `created_by` names only this crate's version.

use crate::error::Result;
use crate::ingest::TableSink;
use crate::lake::Table;
use arrow_array::RecordBatch;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::schema::types::ColumnPath;
use std::collections::BTreeMap;
use std::io::Write;

/// Rows per row group: large enough for good compression and pruning, small enough that
/// the writer's buffered row group stays within a few tens of MiB.
pub const ROW_GROUP_ROWS: usize = 1 << 20;

/// The writer properties of every lake object: ZSTD level 1, Parquet 1.0 data pages (read
/// by Athena, DataFusion, DuckDB, Polars, Spark), dictionary encoding, page statistics.
pub fn writer_properties() -> WriterProperties {
    writer_properties_with_row_groups(ROW_GROUP_ROWS)
}

/// Encodes `batches` (all of one schema) as one Parquet file into `w`.
///
/// # Errors
/// Encoding or writing failures.
pub fn write_parquet<W: Write + Send>(w: W, batches: &[RecordBatch]) -> Result<W> {
    let schema = match batches.first() {
        Some(b) => b.schema(),
        None => return Err(crate::ErrorKind::Schema { table: "?", message: "no batch to write".into() }.into()),
    };
    let mut writer = ArrowWriter::try_new(w, schema, Some(writer_properties()))?;
    for b in batches {
        writer.write(b)?;
    }
    Ok(writer.into_inner()?)
}

/// Encodes batches to a `Vec<u8>`.
///
/// # Errors
/// Encoding failures.
pub fn to_parquet_bytes(batches: &[RecordBatch]) -> Result<Vec<u8>> {
    write_parquet(Vec::new(), batches)
}

/// Decodes a whole Parquet file held in memory.
///
/// # Errors
/// When the bytes are not a readable Parquet file.
pub fn read_parquet(bytes: impl Into<Bytes>) -> Result<Vec<RecordBatch>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes.into())?.with_batch_size(64 * 1024).build()?;
    let mut out = Vec::new();
    for b in reader {
        out.push(b?);
    }
    Ok(out)
}

/// Decodes a Parquet file held in memory batch by batch (bounded memory).
///
/// # Errors
/// When the bytes are not a readable Parquet file; each batch may fail to decode.
pub fn parquet_batches(bytes: impl Into<Bytes>) -> Result<impl Iterator<Item = Result<RecordBatch>>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes.into())?.with_batch_size(64 * 1024).build()?;
    Ok(reader.map(|b| b.map_err(crate::Error::from)))
}

/// A reader whose text (`Utf8`) columns decode as `Dictionary(Int32, Utf8)`: a Parquet
/// dictionary page becomes the array's dictionary, so a reader handles each distinct value
/// once instead of once per row.
fn dictionary_builder<R: parquet::file::reader::ChunkReader + 'static>(
    reader: R,
) -> Result<ParquetRecordBatchReaderBuilder<R>> {
    use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
    let md = ArrowReaderMetadata::load(&reader, ArrowReaderOptions::new())?;
    let schema = md.schema();
    let dict = arrow_schema::DataType::Dictionary(
        Box::new(arrow_schema::DataType::Int32),
        Box::new(arrow_schema::DataType::Utf8),
    );
    let fields: Vec<arrow_schema::Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let f = f.as_ref().clone();
            if f.data_type() == &arrow_schema::DataType::Utf8 { f.with_data_type(dict.clone()) } else { f }
        })
        .collect();
    let hinted = std::sync::Arc::new(arrow_schema::Schema::new_with_metadata(fields, schema.metadata().clone()));
    let md = ArrowReaderMetadata::try_new(md.metadata().clone(), ArrowReaderOptions::new().with_schema(hinted))?;
    Ok(ParquetRecordBatchReaderBuilder::new_with_metadata(reader, md))
}

/// Decodes the named columns of a Parquet file read through `reader` (a `File`, `Bytes`...),
/// one row group in memory at a time: every row group, or only `groups`. Text columns come
/// as `Dictionary(Int32, Utf8)`; names absent from the file are ignored.
///
/// # Errors
/// When the file is not readable Parquet; each batch may fail to decode.
pub fn parquet_reader_projected<R: parquet::file::reader::ChunkReader + 'static>(
    reader: R,
    columns: &[&str],
    groups: Option<Vec<usize>>,
) -> Result<impl Iterator<Item = Result<RecordBatch>> + Send + use<R>> {
    let mut builder = dictionary_builder(reader)?;
    let mask = parquet::arrow::ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
    builder = builder.with_projection(mask).with_batch_size(64 * 1024);
    if let Some(groups) = groups {
        builder = builder.with_row_groups(groups);
    }
    Ok(builder.build()?.map(|b| b.map_err(crate::Error::from)))
}

/// The number of rows of each row group of a Parquet file (reads only its footer).
///
/// # Errors
/// When the file is not readable Parquet.
pub fn parquet_row_groups<R: parquet::file::reader::ChunkReader>(reader: &R) -> Result<Vec<u64>> {
    use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
    let md = ArrowReaderMetadata::load(reader, ArrowReaderOptions::new())?;
    Ok(md.metadata().row_groups().iter().map(|g| u64::try_from(g.num_rows()).unwrap_or(0)).collect())
}

/// A [`TableSink`] that streams each table into its own Parquet writer, opened on the
/// table's first batch by `open` (a file, a temporary file, a multipart upload...).
pub struct ParquetSink<W: Write + Send, F: FnMut(Table) -> Result<W>> {
    open: F,
    writers: BTreeMap<Table, ArrowWriter<W>>,
}

impl<W: Write + Send, F: FnMut(Table) -> Result<W>> std::fmt::Debug for ParquetSink<W, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetSink").field("tables", &self.writers.keys().collect::<Vec<_>>()).finish()
    }
}

impl<W: Write + Send, F: FnMut(Table) -> Result<W>> ParquetSink<W, F> {
    /// A sink that opens writers with `open`.
    pub fn new(open: F) -> Self {
        ParquetSink { open, writers: BTreeMap::new() }
    }

    /// Closes every Parquet file and returns the underlying writers, per table.
    ///
    /// # Errors
    /// Encoding or writing failures.
    pub fn finish(self) -> Result<BTreeMap<Table, W>> {
        let mut out = BTreeMap::new();
        for (t, w) in self.writers {
            out.insert(t, w.into_inner()?);
        }
        Ok(out)
    }
}

impl<W: Write + Send, F: FnMut(Table) -> Result<W>> TableSink for ParquetSink<W, F> {
    fn write_batch(&mut self, table: Table, batch: RecordBatch) -> Result<()> {
        let writer = match self.writers.entry(table) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let w = (self.open)(table)?;
                e.insert(ArrowWriter::try_new(w, batch.schema(), Some(writer_properties()))?)
            }
        };
        writer.write(&batch)?;
        Ok(())
    }
}

/// [`writer_properties`] with row groups of `rows` rows: smaller row groups let a reader
/// that knows a key range (from the row groups' statistics) decode only what it needs.
pub fn writer_properties_with_row_groups(rows: usize) -> WriterProperties {
    let mut props = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(rows.max(1)))
        .set_created_by(concat!("duff-core version ", env!("CARGO_PKG_VERSION")).to_owned());
    for name in UNFILTERED_TEXT_COLUMNS {
        props = props.set_column_statistics_enabled(ColumnPath::from(name), EnabledStatistics::None);
    }
    props.build()
}

/// Text columns no query filters on (names, descriptions, lineage, a refused row's text):
/// their minimum and maximum would cost a comparison of every value for no reader.
/// Channels and statuses, which queries filter on, keep theirs. (A name here applies to
/// every table with a column of that name.)
pub const UNFILTERED_TEXT_COLUMNS: [&str; 5] = ["client_name", "product_description", "file_id", "source", "raw"];
