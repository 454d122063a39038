//! Arrow schemas of the lake's tables and one builder per row type.
//!
//! Every builder follows arrow-rs' shape: typed column builders, `append(&row)`,
//! `finish() -> RecordBatch` (checked against the schema by `RecordBatch::try_new`).

use crate::domain::{Channel, MONEY_SCALE, OrderLine, Reason, Status, VOLUME_SCALE};
use crate::error::{ErrorKind, Result};
use crate::lake::FileMeta;
use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Decimal128Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::sync::Arc;

/// `DECIMAL(18, 2)`: money per line.
pub const MONEY: DataType = DataType::Decimal128(18, MONEY_SCALE as i8);
/// `DECIMAL(38, 2)`: sums of money.
pub const MONEY_SUM: DataType = DataType::Decimal128(38, MONEY_SCALE as i8);
/// `DECIMAL(18, 6)`: litres per line.
pub const VOLUME: DataType = DataType::Decimal128(18, VOLUME_SCALE as i8);
/// `DECIMAL(38, 6)`: sums of litres.
pub const VOLUME_SUM: DataType = DataType::Decimal128(38, VOLUME_SCALE as i8);

/// Timestamps are microseconds in UTC.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn f(name: &str, t: DataType) -> Field {
    Field::new(name, t, false)
}

fn lineage_fields() -> [Field; 3] {
    [f("file_id", DataType::Utf8), f("source", DataType::Utf8), f("ingested_at", timestamp_type())]
}

/// Schema of `fact_order_line`: one row per accepted order-line version (every file's view
/// of the line), with its lineage. Partitioned by `ingest_date` in the lake.
pub fn fact_order_line_schema() -> SchemaRef {
    let mut fields = vec![
        f("order_id", DataType::Int64),
        f("product_id", DataType::Int64),
        f("client_id", DataType::Int64),
        f("client_name", DataType::Utf8),
        f("product_description", DataType::Utf8),
        f("unit_price", MONEY),
        f("units", DataType::Int64),
        f("unit_volume_l", VOLUME),
        f("channel", DataType::Utf8),
        f("status", DataType::Utf8),
        f("amount", MONEY),
        f("volume_l", VOLUME),
        f("line", DataType::Int64),
    ];
    fields.extend(lineage_fields());
    Arc::new(Schema::new(fields))
}

/// Schema of `quarantine`: every refused row with its position, raw text and reasons.
pub fn quarantine_schema() -> SchemaRef {
    let mut fields = vec![
        f("line", DataType::Int64),
        f("record", DataType::Int64),
        f("byte", DataType::Int64),
        f("raw", DataType::Utf8),
        f("raw_truncated", DataType::Boolean),
        f("reason_codes", DataType::Utf8),
        f("reasons", DataType::Utf8),
    ];
    fields.extend(lineage_fields());
    Arc::new(Schema::new(fields))
}

/// Schema of `dim_client`: each file's view of each client (the latest line's name).
pub fn dim_client_schema() -> SchemaRef {
    let mut fields = vec![
        f("client_id", DataType::Int64),
        f("client_name", DataType::Utf8),
        f("lines", DataType::Int64),
        f("first_line", DataType::Int64),
        f("last_line", DataType::Int64),
    ];
    fields.extend(lineage_fields());
    Arc::new(Schema::new(fields))
}

/// Schema of `dim_product`: each file's view of each product (the latest line's values).
pub fn dim_product_schema() -> SchemaRef {
    let mut fields = vec![
        f("product_id", DataType::Int64),
        f("product_description", DataType::Utf8),
        f("unit_price", MONEY),
        f("unit_volume_l", VOLUME),
        f("lines", DataType::Int64),
        f("first_line", DataType::Int64),
        f("last_line", DataType::Int64),
    ];
    fields.extend(lineage_fields());
    Arc::new(Schema::new(fields))
}

/// Columns that are the same for every row of one file.
fn lineage_columns(meta: &FileMeta, n: usize) -> [ArrayRef; 3] {
    [
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(meta.file_id.as_str(), n))),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(meta.source.as_str(), n))),
        Arc::new(TimestampMicrosecondArray::from(vec![meta.ingested_at_micros; n]).with_timezone("UTC")),
    ]
}

fn money_builder(capacity: usize) -> Decimal128Builder {
    Decimal128Builder::with_capacity(capacity).with_data_type(MONEY)
}

fn volume_builder(capacity: usize) -> Decimal128Builder {
    Decimal128Builder::with_capacity(capacity).with_data_type(VOLUME)
}

/// Builds `fact_order_line` batches.
#[derive(Debug)]
pub struct FactOrderLineBuilder {
    meta: FileMeta,
    order_id: Int64Builder,
    product_id: Int64Builder,
    client_id: Int64Builder,
    client_name: StringBuilder,
    product_description: StringBuilder,
    unit_price: Decimal128Builder,
    units: Int64Builder,
    unit_volume_l: Decimal128Builder,
    channel: StringBuilder,
    status: StringBuilder,
    amount: Decimal128Builder,
    volume_l: Decimal128Builder,
    line: Int64Builder,
}

impl FactOrderLineBuilder {
    /// A builder for rows of the file `meta`, with room for `capacity` rows.
    pub fn new(meta: FileMeta, capacity: usize) -> Self {
        FactOrderLineBuilder {
            meta,
            order_id: Int64Builder::with_capacity(capacity),
            product_id: Int64Builder::with_capacity(capacity),
            client_id: Int64Builder::with_capacity(capacity),
            client_name: StringBuilder::with_capacity(capacity, capacity * 16),
            product_description: StringBuilder::with_capacity(capacity, capacity * 16),
            unit_price: money_builder(capacity),
            units: Int64Builder::with_capacity(capacity),
            unit_volume_l: volume_builder(capacity),
            channel: StringBuilder::with_capacity(capacity, capacity * 6),
            status: StringBuilder::with_capacity(capacity, capacity * 9),
            amount: money_builder(capacity),
            volume_l: volume_builder(capacity),
            line: Int64Builder::with_capacity(capacity),
        }
    }

    /// Appends one accepted line found at `line` (1-based) of the file.
    pub fn append(&mut self, line: u64, row: &OrderLine<'_>) {
        self.order_id.append_value(row.order_id);
        self.product_id.append_value(row.product_id);
        self.client_id.append_value(row.client_id);
        self.client_name.append_value(&row.client_name);
        self.product_description.append_value(&row.product_description);
        self.unit_price.append_value(i128::from(row.unit_price));
        self.units.append_value(row.units);
        self.unit_volume_l.append_value(i128::from(row.unit_volume));
        self.channel.append_value(row.channel.as_str());
        self.status.append_value(row.status.as_str());
        self.amount.append_value(i128::from(row.amount));
        self.volume_l.append_value(i128::from(row.volume));
        self.line.append_value(line as i64);
    }

    /// Rows appended since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.line.len()
    }

    /// True when no row is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns the pending rows as a batch and resets the builder.
    ///
    /// # Errors
    /// Only if the columns disagree with the schema (a bug).
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let n = self.len();
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(self.order_id.finish()),
            Arc::new(self.product_id.finish()),
            Arc::new(self.client_id.finish()),
            Arc::new(self.client_name.finish()),
            Arc::new(self.product_description.finish()),
            Arc::new(self.unit_price.finish()),
            Arc::new(self.units.finish()),
            Arc::new(self.unit_volume_l.finish()),
            Arc::new(self.channel.finish()),
            Arc::new(self.status.finish()),
            Arc::new(self.amount.finish()),
            Arc::new(self.volume_l.finish()),
            Arc::new(self.line.finish()),
        ];
        cols.extend(lineage_columns(&self.meta, n));
        Ok(RecordBatch::try_new(fact_order_line_schema(), cols)?)
    }
}

/// A quarantined row, as handed to [`QuarantineBuilder::append`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantinedRow {
    /// Where the row is.
    pub pos: crate::Position,
    /// The row's text (invalid UTF-8 replaced by U+FFFD), at most [`RAW_TEXT_LIMIT`] bytes.
    pub raw: String,
    /// True when `raw` was cut at the limit.
    pub raw_truncated: bool,
    /// Every violated rule.
    pub reasons: Vec<Reason>,
}

/// The most bytes of a quarantined row's text kept in the quarantine table.
pub const RAW_TEXT_LIMIT: usize = 64 * 1024;

/// Builds `quarantine` batches.
#[derive(Debug)]
pub struct QuarantineBuilder {
    meta: FileMeta,
    line: Int64Builder,
    record: Int64Builder,
    byte: Int64Builder,
    raw: StringBuilder,
    raw_truncated: BooleanBuilder,
    reason_codes: StringBuilder,
    reasons: StringBuilder,
}

impl QuarantineBuilder {
    /// A builder for rows of the file `meta`.
    pub fn new(meta: FileMeta) -> Self {
        QuarantineBuilder {
            meta,
            line: Int64Builder::new(),
            record: Int64Builder::new(),
            byte: Int64Builder::new(),
            raw: StringBuilder::new(),
            raw_truncated: BooleanBuilder::new(),
            reason_codes: StringBuilder::new(),
            reasons: StringBuilder::new(),
        }
    }

    /// Appends one quarantined row.
    pub fn append(&mut self, row: &QuarantinedRow) {
        self.line.append_value(row.pos.line as i64);
        self.record.append_value(row.pos.record as i64);
        self.byte.append_value(row.pos.byte as i64);
        self.raw.append_value(&row.raw);
        self.raw_truncated.append_value(row.raw_truncated);
        let codes: Vec<&str> = row.reasons.iter().map(|r| r.code.as_str()).collect();
        self.reason_codes.append_value(codes.join(","));
        let msgs: Vec<String> = row.reasons.iter().map(ToString::to_string).collect();
        self.reasons.append_value(msgs.join("; "));
    }

    /// Rows pending.
    pub fn len(&self) -> usize {
        self.line.len()
    }

    /// True when no row is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns the pending rows as a batch and resets the builder.
    ///
    /// # Errors
    /// Only if the columns disagree with the schema (a bug).
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let n = self.len();
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(self.line.finish()),
            Arc::new(self.record.finish()),
            Arc::new(self.byte.finish()),
            Arc::new(self.raw.finish()),
            Arc::new(self.raw_truncated.finish()),
            Arc::new(self.reason_codes.finish()),
            Arc::new(self.reasons.finish()),
        ];
        cols.extend(lineage_columns(&self.meta, n));
        Ok(RecordBatch::try_new(quarantine_schema(), cols)?)
    }
}

/// One file's view of a client.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClientSeen {
    /// The name on the client's last line in the file.
    pub client_name: String,
    /// Lines of the client in the file.
    pub lines: u64,
    /// First line (1-based).
    pub first_line: u64,
    /// Last line (1-based).
    pub last_line: u64,
}

/// One file's view of a product.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProductSeen {
    /// The description on the product's last line in the file.
    pub product_description: String,
    /// Unit price in cents on that line.
    pub unit_price: i64,
    /// Litres per unit (millionths) on that line.
    pub unit_volume: i64,
    /// Lines of the product in the file.
    pub lines: u64,
    /// First line (1-based).
    pub first_line: u64,
    /// Last line (1-based).
    pub last_line: u64,
}

/// One file's views of its clients and products, built from its fact batches in file order:
/// what [`FileIngest`](crate::FileIngest) builds row by row, computed instead where the
/// batches go (an encoding thread), off the reading thread (see
/// [`TableSink::dimension_views`](crate::TableSink::dimension_views)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DimensionViews {
    pub(crate) clients: crate::hash::IntMap<i64, ClientSeen>,
    pub(crate) products: crate::hash::IntMap<i64, ProductSeen>,
}

impl DimensionViews {
    /// Adds the rows of one `fact_order_line` batch (batches in file order).
    ///
    /// # Errors
    /// A batch that is not of the fact schema.
    pub fn apply_facts(&mut self, batch: &RecordBatch) -> Result<()> {
        use arrow_array::cast::AsArray;
        use arrow_array::types::{Decimal128Type, Int64Type};
        let col = |n, t: &DataType| column(batch, n, t);
        let client_id = col("client_id", &DataType::Int64)?.as_primitive::<Int64Type>();
        let product_id = col("product_id", &DataType::Int64)?.as_primitive::<Int64Type>();
        let line = col("line", &DataType::Int64)?.as_primitive::<Int64Type>();
        let unit_price = col("unit_price", &MONEY)?.as_primitive::<Decimal128Type>();
        let unit_volume = col("unit_volume_l", &VOLUME)?.as_primitive::<Decimal128Type>();
        let client_name = col("client_name", &DataType::Utf8)?.as_string::<i32>();
        let description = col("product_description", &DataType::Utf8)?.as_string::<i32>();
        let bad = |what: &str, r: usize| crate::ErrorKind::Schema {
            table: "fact_order_line",
            message: format!("invalid {what} at row {r} of a batch"),
        };
        for r in 0..batch.num_rows() {
            let l = u64::try_from(line.value(r)).map_err(|_| bad("line", r))?;
            let price = i64::try_from(unit_price.value(r)).map_err(|_| bad("unit_price", r))?;
            let volume = i64::try_from(unit_volume.value(r)).map_err(|_| bad("unit_volume_l", r))?;
            self.see_client(client_id.value(r), client_name.value(r), l);
            self.see_product(product_id.value(r), description.value(r), price, volume, l);
        }
        Ok(())
    }

    /// Line `line` names client `id` as `name` (lines in file order): the latest name wins.
    pub(crate) fn see_client(&mut self, id: i64, name: &str, line: u64) {
        match self.clients.get_mut(&id) {
            Some(c) => {
                c.lines += 1;
                c.last_line = line;
                if !crate::hash::same_bytes(c.client_name.as_bytes(), name.as_bytes()) {
                    c.client_name = name.to_owned();
                }
            }
            None => {
                let seen = ClientSeen { client_name: name.to_owned(), lines: 1, first_line: line, last_line: line };
                self.clients.insert(id, seen);
            }
        }
    }

    /// Line `line` describes product `id` (lines in file order): the latest line wins.
    pub(crate) fn see_product(&mut self, id: i64, description: &str, unit_price: i64, unit_volume: i64, line: u64) {
        match self.products.get_mut(&id) {
            Some(p) => {
                p.lines += 1;
                p.last_line = line;
                p.unit_price = unit_price;
                p.unit_volume = unit_volume;
                if !crate::hash::same_bytes(p.product_description.as_bytes(), description.as_bytes()) {
                    p.product_description = description.to_owned();
                }
            }
            None => {
                let seen = ProductSeen {
                    product_description: description.to_owned(),
                    unit_price,
                    unit_volume,
                    lines: 1,
                    first_line: line,
                    last_line: line,
                };
                self.products.insert(id, seen);
            }
        }
    }

    /// Clients seen.
    pub fn clients(&self) -> usize {
        self.clients.len()
    }

    /// Products seen.
    pub fn products(&self) -> usize {
        self.products.len()
    }
}

/// Builds the `dim_client` batch of one file, rows sorted by `client_id`.
///
/// # Errors
/// Only if the columns disagree with the schema (a bug).
pub fn dim_client_batch<'a>(
    meta: &FileMeta,
    rows: impl IntoIterator<Item = (i64, &'a ClientSeen)>,
) -> Result<RecordBatch> {
    let mut rows: Vec<_> = rows.into_iter().collect();
    rows.sort_unstable_by_key(|(id, _)| *id);
    let n = rows.len();
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|(id, _)| *id))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|(_, c)| c.client_name.as_str()))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|(_, c)| c.lines as i64))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|(_, c)| c.first_line as i64))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|(_, c)| c.last_line as i64))),
    ];
    cols.extend(lineage_columns(meta, n));
    Ok(RecordBatch::try_new(dim_client_schema(), cols)?)
}

/// Builds the `dim_product` batch of one file, rows sorted by `product_id`.
///
/// # Errors
/// Only if the columns disagree with the schema (a bug).
pub fn dim_product_batch<'a>(
    meta: &FileMeta,
    rows: impl IntoIterator<Item = (i64, &'a ProductSeen)>,
) -> Result<RecordBatch> {
    let mut rows: Vec<_> = rows.into_iter().collect();
    rows.sort_unstable_by_key(|(id, _)| *id);
    let n = rows.len();
    let mut price = money_builder(n);
    let mut volume = volume_builder(n);
    for (_, p) in &rows {
        price.append_value(i128::from(p.unit_price));
        volume.append_value(i128::from(p.unit_volume));
    }
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|(id, _)| *id))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|(_, p)| p.product_description.as_str()))),
        Arc::new(price.finish()),
        Arc::new(volume.finish()),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|(_, p)| p.lines as i64))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|(_, p)| p.first_line as i64))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|(_, p)| p.last_line as i64))),
    ];
    cols.extend(lineage_columns(meta, n));
    Ok(RecordBatch::try_new(dim_product_schema(), cols)?)
}

/// The static `dim_channel` table: `channel`, `sort_order`.
///
/// # Errors
/// Only if the columns disagree with the schema (a bug).
pub fn dim_channel_batch() -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![f("channel", DataType::Utf8), f("sort_order", DataType::Int64)]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(Channel::ALL.iter().map(|c| c.as_str()))),
            Arc::new(Int64Array::from_iter_values(1..=Channel::ALL.len() as i64)),
        ],
    )?)
}

/// The static `dim_status` table: `status`, `sort_order`, `is_final`, `description`.
///
/// # Errors
/// Only if the columns disagree with the schema (a bug).
pub fn dim_status_batch() -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        f("status", DataType::Utf8),
        f("sort_order", DataType::Int64),
        f("is_final", DataType::Boolean),
        f("description", DataType::Utf8),
    ]));
    let desc = |s: Status| match s {
        Status::Created => "Order has been created",
        Status::Delivered => "Order has been successfully delivered",
        Status::Broken => "The order was damaged or had issues during delivery",
    };
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(Status::ALL.iter().map(|s| s.as_str()))),
            Arc::new(Int64Array::from_iter_values(1..=Status::ALL.len() as i64)),
            Arc::new(BooleanArray::from_iter(Status::ALL.iter().map(|s| Some(*s != Status::Created)))),
            Arc::new(StringArray::from_iter_values(Status::ALL.iter().map(|s| desc(*s)))),
        ],
    )?)
}

/// A timestamp column builder in UTC.
pub(crate) fn timestamp_builder(capacity: usize) -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC")
}

/// The column `name` of a `fact_order_line` batch, checked to be of type `t` without nulls.
///
/// # Errors
/// [`ErrorKind::Schema`] when it is missing, of another type or has nulls.
pub(crate) fn column<'a>(batch: &'a RecordBatch, name: &str, t: &DataType) -> Result<&'a ArrayRef> {
    let c = batch.column_by_name(name).ok_or_else(|| ErrorKind::Schema {
        table: "fact_order_line",
        message: format!("column `{name}` is missing"),
    })?;
    if c.data_type() != t {
        return Err(ErrorKind::Schema {
            table: "fact_order_line",
            message: format!("column `{name}` is {}, expected {t}", c.data_type()),
        }
        .into());
    }
    if c.null_count() > 0 {
        return Err(
            ErrorKind::Schema { table: "fact_order_line", message: format!("column `{name}` has nulls") }.into()
        );
    }
    Ok(c)
}
