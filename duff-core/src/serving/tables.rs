//! The serving state as Arrow tables (stored as Parquet, read by the API and by Athena).
//!
//! | table | grain | columns |
//! |---|---|---|
//! | lines ([`lines_schema`]) | one current order line | the line's values, `updated_at`, `first_seen_at`, `file_id`, `line`, `file_seq`, `generation` |
//! | `cells_product` | `(product_id, channel, status)` | `orders, lines, units, sales, volume_l` |
//! | `cells_client` | `(client_id, channel or NULL, status or NULL)` | the same |
//! | `cells_total` | `(channel or NULL, status or NULL)` | the same |
//! | `dim_client_current` | one client | `client_name, first_seen_at, last_seen_at`, and the version it comes from |
//! | `dim_product_current` | one product | `product_description`, and the version it comes from |
//! | `files` | one folded file | `file_seq, file_id, source, ingested_at, rank` |
//!
//! `NULL` in a cell's channel or status means "every channel" or "every status". Sums are
//! `DECIMAL(38, s)`; counts and units `BIGINT`.

use super::cube::Cube;
use super::dims::{ClientRow, Dims, ProductRow};
use super::files::{FileTable, Version};
use super::line::{Line, Names};
use crate::error::{ErrorKind, Result};
use crate::reports::Sums;
use crate::state::LineKey;
use crate::tables::{MONEY, MONEY_SUM, VOLUME, VOLUME_SUM, timestamp_type};
use crate::{Channel, Status};
use arrow_array::builder::{Decimal128Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use std::sync::Arc;

fn field(name: &str, t: DataType, nullable: bool) -> Field {
    Field::new(name, t, nullable)
}

fn text() -> DataType {
    DataType::Utf8
}

/// The schema of a run of current lines (and of Athena's `order_line_current`).
pub fn lines_schema() -> SchemaRef {
    let ts = timestamp_type();
    Arc::new(Schema::new(vec![
        field("order_id", DataType::Int64, false),
        field("product_id", DataType::Int64, false),
        field("client_id", DataType::Int64, false),
        field("client_name", text(), false),
        field("product_description", text(), false),
        field("unit_price", MONEY, false),
        field("units", DataType::Int64, false),
        field("unit_volume_l", VOLUME, false),
        field("channel", text(), false),
        field("status", text(), false),
        field("amount", MONEY, false),
        field("volume_l", VOLUME, false),
        field("updated_at", ts.clone(), false),
        field("first_seen_at", ts, false),
        field("file_id", text(), false),
        field("line", DataType::Int64, false),
        field("file_seq", DataType::Int64, false),
        field("generation", DataType::Int64, false),
    ]))
}

/// The schema of a run's keys file: its lines' keys alone, in key order (what a reader
/// loads to know which lines a later run replaces, without reading the lines).
pub fn keys_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![field("order_id", DataType::Int64, false), field("product_id", DataType::Int64, false)]))
}

/// Encodes keys as a batch of [`keys_schema`].
///
/// # Errors
/// Never in practice (the columns match the schema).
pub fn keys_batch<'a>(keys: impl Iterator<Item = &'a LineKey>) -> Result<RecordBatch> {
    let (lo, _) = keys.size_hint();
    let mut o = Vec::with_capacity(lo);
    let mut p = Vec::with_capacity(lo);
    for k in keys {
        o.push(k.order_id);
        p.push(k.product_id);
    }
    Ok(RecordBatch::try_new(
        keys_schema(),
        vec![Arc::new(arrow_array::Int64Array::from(o)), Arc::new(arrow_array::Int64Array::from(p))],
    )?)
}

/// The schema of a run's files sorted by client: [`lines_schema`] without what only SQL
/// readers use (`updated_at`, `file_id`, `generation`), the [`LINE_COLUMNS`].
pub fn client_lines_schema() -> SchemaRef {
    let all = lines_schema();
    let fields: Vec<Field> =
        all.fields().iter().filter(|f| LINE_COLUMNS.contains(&f.name().as_str())).map(|f| f.as_ref().clone()).collect();
    Arc::new(Schema::new(fields))
}

fn ts_builder(n: usize) -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC")
}

/// Encodes lines (in the order given) as a batch of [`lines_schema`], written by
/// `generation`.
///
/// # Errors
/// A line whose file is not in `files`.
pub fn lines_batch<'a>(
    files: &FileTable,
    lines: impl ExactSizeIterator<Item = &'a Line>,
    generation: u64,
) -> Result<RecordBatch> {
    encode_lines(files, lines, Some(generation))
}

/// Encodes lines (in the order given) as a batch of [`client_lines_schema`]: the
/// [`lines_batch`] without the columns only SQL readers use, never built.
///
/// # Errors
/// A line whose file is not in `files`.
pub fn client_lines_batch<'a>(
    files: &FileTable,
    lines: impl ExactSizeIterator<Item = &'a Line>,
) -> Result<RecordBatch> {
    encode_lines(files, lines, None)
}

/// The columns of [`lines_schema`] (`generation` given) or of [`client_lines_schema`].
fn encode_lines<'a>(
    files: &FileTable,
    lines: impl ExactSizeIterator<Item = &'a Line>,
    generation: Option<u64>,
) -> Result<RecordBatch> {
    let n = lines.len();
    let d = |t: DataType| Decimal128Builder::with_capacity(n).with_data_type(t);
    let int = || Vec::<i64>::with_capacity(n);
    // Names and descriptions are a few tens of bytes; channels and statuses a few.
    let text = |bytes: usize| StringBuilder::with_capacity(n, n * bytes);
    let (mut order_id, mut product_id, mut client_id) = (int(), int(), int());
    let (mut client_name, mut description) = (text(24), text(32));
    let (mut unit_price, mut units, mut unit_volume) = (d(MONEY), int(), d(VOLUME));
    let (mut channel, mut status) = (text(8), text(10));
    let (mut amount, mut volume) = (d(MONEY), d(VOLUME));
    let mut first = ts_builder(n);
    let (mut line, mut seq) = (int(), int());
    // The columns only SQL readers use.
    let mut sql = generation
        .map(|g| (ts_builder(n), StringBuilder::with_capacity(n, n * 32), i64::try_from(g).unwrap_or(i64::MAX)));
    for l in lines {
        let f = files.get(l.version.file).ok_or_else(|| ErrorKind::Schema {
            table: "order_line_current",
            message: format!("file seq {} is not in the state's file table", l.version.file),
        })?;
        order_id.push(l.key.order_id);
        product_id.push(l.key.product_id);
        client_id.push(l.client_id);
        client_name.append_value(&l.client_name);
        description.append_value(&l.product_description);
        unit_price.append_value(i128::from(l.unit_price));
        units.push(l.units);
        unit_volume.append_value(i128::from(l.unit_volume));
        channel.append_value(l.channel.as_str());
        status.append_value(l.status.as_str());
        amount.append_value(i128::from(l.amount));
        volume.append_value(i128::from(l.volume));
        first.append_value(l.first_seen_micros);
        line.push(i64::try_from(l.version.line).unwrap_or(i64::MAX));
        seq.push(i64::from(l.version.file));
        if let Some((updated, file_id, _)) = &mut sql {
            updated.append_value(f.ingested_at_micros);
            file_id.append_value(f.file_id.as_str());
        }
    }
    let ints = |v: Vec<i64>| -> ArrayRef { Arc::new(arrow_array::Int64Array::from(v)) };
    let mut cols: Vec<ArrayRef> = vec![
        ints(order_id),
        ints(product_id),
        ints(client_id),
        Arc::new(client_name.finish()),
        Arc::new(description.finish()),
        Arc::new(unit_price.finish()),
        ints(units),
        Arc::new(unit_volume.finish()),
        Arc::new(channel.finish()),
        Arc::new(status.finish()),
        Arc::new(amount.finish()),
        Arc::new(volume.finish()),
    ];
    let Some((mut updated, mut file_id, generation)) = sql else {
        cols.extend([Arc::new(first.finish()) as ArrayRef, ints(line), ints(seq)]);
        return Ok(RecordBatch::try_new(client_lines_schema(), cols)?);
    };
    cols.extend([
        Arc::new(updated.finish()) as ArrayRef,
        Arc::new(first.finish()),
        Arc::new(file_id.finish()),
        ints(line),
        ints(seq),
        ints(vec![generation; n]),
    ]);
    Ok(RecordBatch::try_new(lines_schema(), cols)?)
}

/// A column by name, checked: its type (a text column may be plain or dictionary-encoded)
/// and no nulls.
fn col<'a>(b: &'a RecordBatch, table: &'static str, name: &str, t: &DataType) -> Result<&'a ArrayRef> {
    let c = b
        .column_by_name(name)
        .ok_or_else(|| ErrorKind::Schema { table, message: format!("column `{name}` is missing") })?;
    if c.data_type() != t {
        return Err(ErrorKind::Schema {
            table,
            message: format!("column `{name}` is {}, expected {t}", c.data_type()),
        }
        .into());
    }
    Ok(c)
}

/// Reads a text column, plain or `Dictionary(Int32, Utf8)`, value by value.
#[derive(Clone, Copy)]
enum Texts<'a> {
    Plain(&'a arrow_array::StringArray),
    Dict(&'a arrow_array::DictionaryArray<Int32Type>, &'a arrow_array::StringArray),
}

impl<'a> Texts<'a> {
    fn of(b: &'a RecordBatch, table: &'static str, name: &str) -> Result<Texts<'a>> {
        let c = b
            .column_by_name(name)
            .ok_or_else(|| ErrorKind::Schema { table, message: format!("column `{name}` is missing") })?;
        if let Some(s) = c.as_string_opt::<i32>() {
            return Ok(Texts::Plain(s));
        }
        if let Some(d) = c.as_dictionary_opt::<Int32Type>()
            && let Some(v) = d.values().as_string_opt::<i32>()
        {
            return Ok(Texts::Dict(d, v));
        }
        Err(ErrorKind::Schema { table, message: format!("column `{name}` is {}, expected text", c.data_type()) }.into())
    }

    fn get(&self, r: usize) -> Option<&'a str> {
        match self {
            Texts::Plain(s) => s.is_valid(r).then(|| s.value(r)),
            Texts::Dict(d, v) => {
                let k = d.keys();
                if !k.is_valid(r) {
                    return None;
                }
                usize::try_from(k.value(r)).ok().filter(|i| *i < v.len()).map(|i| v.value(i))
            }
        }
    }
}

/// A text column's values turned into `T` by `parse`: once per dictionary value when the
/// column is a dictionary, else once per row.
struct Parsed<'a, T> {
    texts: Texts<'a>,
    values: Vec<Option<T>>,
}

impl<'a, T: Clone> Parsed<'a, T> {
    fn of(texts: Texts<'a>, mut parse: impl FnMut(&str) -> Option<T>) -> Parsed<'a, T> {
        let values = match &texts {
            Texts::Dict(_, v) => (0..v.len()).map(|i| v.is_valid(i).then(|| v.value(i)).and_then(&mut parse)).collect(),
            Texts::Plain(_) => Vec::new(),
        };
        Parsed { texts, values }
    }

    fn get(&self, r: usize, parse: impl FnOnce(&str) -> Option<T>) -> Option<T> {
        match &self.texts {
            Texts::Dict(d, _) => {
                let k = d.keys();
                k.is_valid(r)
                    .then(|| k.value(r))
                    .and_then(|i| usize::try_from(i).ok())
                    .and_then(|i| self.values.get(i).cloned().flatten())
            }
            Texts::Plain(_) => self.texts.get(r).and_then(parse),
        }
    }
}

/// A dictionary column's values as shared copies (`None` for a plain column).
fn shared_texts<'a>(texts: Texts<'a>, names: &mut Names) -> Option<Parsed<'a, Arc<str>>> {
    matches!(texts, Texts::Dict(..)).then(|| Parsed::of(texts, |s| Some(names.get(s))))
}

fn channel_of(s: &str) -> Option<Channel> {
    Channel::parse(s.as_bytes())
}

fn status_of(s: &str) -> Option<Status> {
    Status::parse(s.as_bytes())
}

fn bad(table: &'static str, what: &str, r: usize) -> crate::Error {
    ErrorKind::Schema { table, message: format!("invalid {what} at row {r}") }.into()
}

/// The columns of a run file that [`decode_lines`] reads: readers decode only these (the
/// others, `updated_at`, `file_id` and `generation`, are for SQL readers). [`decode_facts`]
/// reads those a fact file has (all but `first_seen_at` and `file_seq`, the file's own).
pub const LINE_COLUMNS: [&str; 15] = [
    "order_id",
    "product_id",
    "client_id",
    "client_name",
    "product_description",
    "unit_price",
    "units",
    "unit_volume_l",
    "channel",
    "status",
    "amount",
    "volume_l",
    "first_seen_at",
    "line",
    "file_seq",
];

/// Decodes a batch of [`lines_schema`] (text columns plain or dictionary-encoded) into
/// lines, calling `f` for each; names are shared through `names`.
///
/// # Errors
/// A missing column, a column of another type, a null or a value out of its domain.
pub fn decode_lines(batch: &RecordBatch, names: &mut Names, f: impl FnMut(Line)) -> Result<()> {
    decode(batch, "order_line_current", None, names, f)
}

/// Decodes a `fact_order_line` batch (text columns plain or dictionary-encoded) into the
/// lines it holds, as versions of the file of seq `file` first seen at `instant`, calling
/// `f` for each: what [`super::NewVersions::add_batch`] reads. Read as dictionaries
/// ([`fact_batches`]), names are shared and channels and statuses parsed once per
/// dictionary value, not once per row.
///
/// # Errors
/// A missing column, a column of another type, a null or a value out of its domain.
pub fn decode_facts(
    batch: &RecordBatch,
    file: u32,
    instant: i64,
    names: &mut Names,
    f: impl FnMut(Line),
) -> Result<()> {
    decode(batch, "fact_order_line", Some((file, instant)), names, f)
}

/// Where [`decode`] finds a line's file and first sighting.
#[derive(Clone, Copy)]
enum Sighting<'a> {
    /// A fact file's lines: its seq and its instant, for every line.
    File(u32, i64),
    /// A run's lines: the `file_seq` and `first_seen_at` columns.
    Columns(&'a arrow_array::PrimitiveArray<Int64Type>, &'a arrow_array::PrimitiveArray<TimestampMicrosecondType>),
}

/// [`decode_lines`] (`version` `None`: each line's file and first sighting are columns) and
/// [`decode_facts`] (`version`: the file's, for every line).
fn decode(
    batch: &RecordBatch,
    table: &'static str,
    version: Option<(u32, i64)>,
    names: &mut Names,
    mut f: impl FnMut(Line),
) -> Result<()> {
    let t = table;
    let i = |n| col(batch, t, n, &DataType::Int64).map(|c| c.as_primitive::<Int64Type>());
    let m = |n| col(batch, t, n, &MONEY).map(|c| c.as_primitive::<Decimal128Type>());
    let v = |n| col(batch, t, n, &VOLUME).map(|c| c.as_primitive::<Decimal128Type>());
    let heads = HeadColumns::of(batch, t)?;
    let (units, line) = (i("units")?, i("line")?);
    let (unit_price, amount, unit_volume, volume) =
        (m("unit_price")?, m("amount")?, v("unit_volume_l")?, v("volume_l")?);
    // Each line's file and first sighting: the file's own for facts, columns of a run.
    let sighting = match version {
        Some((file, instant)) => Sighting::File(file, instant),
        None => Sighting::Columns(
            i("file_seq")?,
            col(batch, t, "first_seen_at", &timestamp_type())?.as_primitive::<TimestampMicrosecondType>(),
        ),
    };
    let client_name = Texts::of(batch, t, "client_name")?;
    let description = Texts::of(batch, t, "product_description")?;
    // A client's name and a product's description repeat row after row: the shared copy of
    // the last one seen per id is compared before `names` hashes the text.
    let mut last_client: Option<(i64, Arc<str>)> = None;
    let mut descriptions: crate::hash::IntMap<i64, Arc<str>> = crate::hash::IntMap::default();
    // Dictionary columns (as a footer reads them): one shared copy per dictionary value.
    let client_names = shared_texts(client_name, names);
    let descriptions_of = shared_texts(description, names);
    for r in 0..batch.num_rows() {
        let small = |a: &arrow_array::PrimitiveArray<Decimal128Type>, what| {
            a.is_valid(r).then(|| a.value(r)).and_then(|x| i64::try_from(x).ok()).ok_or_else(|| bad(t, what, r))
        };
        let int = |a: &arrow_array::PrimitiveArray<Int64Type>, what| {
            a.is_valid(r).then(|| a.value(r)).ok_or_else(|| bad(t, what, r))
        };
        let LineHead { key, client_id: client, channel, status } = heads.head(r)?;
        let (file, first_seen_micros) = match sighting {
            Sighting::File(file, instant) => (file, instant),
            Sighting::Columns(seq, first) => (
                u32::try_from(int(seq, "file_seq")?).map_err(|_| bad(t, "file_seq", r))?,
                first.is_valid(r).then(|| first.value(r)).ok_or_else(|| bad(t, "first_seen_at", r))?,
            ),
        };
        let name = match &client_names {
            Some(dict) => dict.get(r, |_| None).ok_or_else(|| bad(t, "client_name", r))?,
            None => {
                let name = client_name.get(r).ok_or_else(|| bad(t, "client_name", r))?;
                match &last_client {
                    Some((id, shared)) if *id == client && **shared == *name => shared.clone(),
                    _ => {
                        let shared = names.get(name);
                        last_client = Some((client, shared.clone()));
                        shared
                    }
                }
            }
        };
        let product_description = match &descriptions_of {
            Some(dict) => dict.get(r, |_| None).ok_or_else(|| bad(t, "product_description", r))?,
            None => {
                let text = description.get(r).ok_or_else(|| bad(t, "product_description", r))?;
                match descriptions.get(&key.product_id) {
                    Some(shared) if **shared == *text => shared.clone(),
                    _ => {
                        let shared = names.get(text);
                        descriptions.insert(key.product_id, shared.clone());
                        shared
                    }
                }
            }
        };
        f(Line {
            key,
            client_id: client,
            client_name: name,
            product_description,
            unit_price: small(unit_price, "unit_price")?,
            units: int(units, "units")?,
            unit_volume: small(unit_volume, "unit_volume_l")?,
            amount: small(amount, "amount")?,
            volume: small(volume, "volume_l")?,
            channel,
            status,
            version: Version { file, line: u64::try_from(int(line, "line")?).map_err(|_| bad(t, "line", r))? },
            first_seen_micros,
        });
    }
    Ok(())
}

fn cell_fields(key: Vec<Field>) -> SchemaRef {
    let mut fields = key;
    fields.extend([
        field("orders", DataType::Int64, false),
        field("lines", DataType::Int64, false),
        field("units", DataType::Int64, false),
        field("sales", MONEY_SUM, false),
        field("volume_l", VOLUME_SUM, false),
    ]);
    Arc::new(Schema::new(fields))
}

/// Schema of `cells_product`.
pub fn cells_product_schema() -> SchemaRef {
    cell_fields(vec![
        field("product_id", DataType::Int64, false),
        field("channel", text(), false),
        field("status", text(), false),
    ])
}

/// Schema of `cells_client`.
pub fn cells_client_schema() -> SchemaRef {
    cell_fields(vec![
        field("client_id", DataType::Int64, false),
        field("channel", text(), true),
        field("status", text(), true),
    ])
}

/// Schema of `cells_total`.
pub fn cells_total_schema() -> SchemaRef {
    cell_fields(vec![field("channel", text(), true), field("status", text(), true)])
}

/// The figures of cells, column by column.
struct SumCols {
    orders: Int64Builder,
    lines: Int64Builder,
    units: Int64Builder,
    sales: Decimal128Builder,
    volume: Decimal128Builder,
}

impl SumCols {
    fn new(n: usize) -> SumCols {
        SumCols {
            orders: Int64Builder::with_capacity(n),
            lines: Int64Builder::with_capacity(n),
            units: Int64Builder::with_capacity(n),
            sales: Decimal128Builder::with_capacity(n).with_data_type(MONEY_SUM),
            volume: Decimal128Builder::with_capacity(n).with_data_type(VOLUME_SUM),
        }
    }

    fn push(&mut self, s: &Sums) -> Result<()> {
        let units = i64::try_from(s.units)
            .map_err(|_| ErrorKind::Schema { table: "cells", message: "units beyond BIGINT".into() })?;
        self.orders.append_value(s.orders);
        self.lines.append_value(s.lines);
        self.units.append_value(units);
        self.sales.append_value(s.amount);
        self.volume.append_value(s.volume);
        Ok(())
    }

    fn finish(mut self, mut cols: Vec<ArrayRef>) -> Vec<ArrayRef> {
        cols.push(Arc::new(self.orders.finish()));
        cols.push(Arc::new(self.lines.finish()));
        cols.push(Arc::new(self.units.finish()));
        cols.push(Arc::new(self.sales.finish()));
        cols.push(Arc::new(self.volume.finish()));
        cols
    }
}

/// The cube's three tables: `cells_product`, `cells_client`, `cells_total`.
///
/// # Errors
/// A unit sum beyond BIGINT.
pub fn cube_batches(cube: &Cube) -> Result<[(&'static str, RecordBatch); 3]> {
    let n = cube.products.len();
    let (mut p, mut c, mut s) = (Int64Builder::with_capacity(n), StringBuilder::new(), StringBuilder::new());
    let mut sums = SumCols::new(n);
    for ((product, channel, status), x) in &cube.products {
        p.append_value(*product);
        c.append_value(channel.as_str());
        s.append_value(status.as_str());
        sums.push(x)?;
    }
    let products = RecordBatch::try_new(
        cells_product_schema(),
        sums.finish(vec![Arc::new(p.finish()), Arc::new(c.finish()), Arc::new(s.finish())]),
    )?;
    let n = cube.clients.len();
    let (mut id, mut c, mut s) = (Int64Builder::with_capacity(n), StringBuilder::new(), StringBuilder::new());
    let mut sums = SumCols::new(n);
    for ((client, channel, status), x) in &cube.clients {
        id.append_value(*client);
        c.append_option(channel.map(Channel::as_str));
        s.append_option(status.map(Status::as_str));
        sums.push(x)?;
    }
    let clients = RecordBatch::try_new(
        cells_client_schema(),
        sums.finish(vec![Arc::new(id.finish()), Arc::new(c.finish()), Arc::new(s.finish())]),
    )?;
    let n = cube.totals.len();
    let (mut c, mut s) = (StringBuilder::new(), StringBuilder::new());
    let mut sums = SumCols::new(n);
    for ((channel, status), x) in &cube.totals {
        c.append_option(channel.map(Channel::as_str));
        s.append_option(status.map(Status::as_str));
        sums.push(x)?;
    }
    let totals =
        RecordBatch::try_new(cells_total_schema(), sums.finish(vec![Arc::new(c.finish()), Arc::new(s.finish())]))?;
    Ok([("cells_product", products), ("cells_client", clients), ("cells_total", totals)])
}

/// Reads the figures of row `r`.
fn sums_at(b: &RecordBatch, table: &'static str, r: usize) -> Result<Sums> {
    let i = |n| col(b, table, n, &DataType::Int64).map(|c| c.as_primitive::<Int64Type>());
    let (orders, lines, units) = (i("orders")?, i("lines")?, i("units")?);
    let sales = col(b, table, "sales", &MONEY_SUM)?.as_primitive::<Decimal128Type>();
    let volume = col(b, table, "volume_l", &VOLUME_SUM)?.as_primitive::<Decimal128Type>();
    Ok(Sums {
        orders: orders.value(r),
        lines: lines.value(r),
        units: i128::from(units.value(r)),
        amount: sales.value(r),
        volume: volume.value(r),
    })
}

fn opt_channel(t: &Texts<'_>, table: &'static str, r: usize) -> Result<Option<Channel>> {
    t.get(r).map(|s| Channel::parse(s.as_bytes()).ok_or_else(|| bad(table, "channel", r))).transpose()
}

fn opt_status(t: &Texts<'_>, table: &'static str, r: usize) -> Result<Option<Status>> {
    t.get(r).map(|s| Status::parse(s.as_bytes()).ok_or_else(|| bad(table, "status", r))).transpose()
}

/// Folds cells read back from their three tables into `cube` (`table` names the batch).
///
/// # Errors
/// An unknown table name, or a batch that does not have its table's schema.
pub fn read_cells(cube: &mut Cube, table: &str, b: &RecordBatch) -> Result<()> {
    match table {
        "cells_product" => {
            const T: &str = "cells_product";
            let p = col(b, T, "product_id", &DataType::Int64)?.as_primitive::<Int64Type>();
            let (c, s) = (Texts::of(b, T, "channel")?, Texts::of(b, T, "status")?);
            for r in 0..b.num_rows() {
                let ch = opt_channel(&c, T, r)?.ok_or_else(|| bad(T, "channel", r))?;
                let st = opt_status(&s, T, r)?.ok_or_else(|| bad(T, "status", r))?;
                cube.products.insert((p.value(r), ch, st), sums_at(b, T, r)?);
            }
        }
        "cells_client" => {
            const T: &str = "cells_client";
            let id = col(b, T, "client_id", &DataType::Int64)?.as_primitive::<Int64Type>();
            let (c, s) = (Texts::of(b, T, "channel")?, Texts::of(b, T, "status")?);
            for r in 0..b.num_rows() {
                cube.clients.insert((id.value(r), opt_channel(&c, T, r)?, opt_status(&s, T, r)?), sums_at(b, T, r)?);
            }
        }
        "cells_total" => {
            const T: &str = "cells_total";
            let (c, s) = (Texts::of(b, T, "channel")?, Texts::of(b, T, "status")?);
            for r in 0..b.num_rows() {
                cube.totals.insert((opt_channel(&c, T, r)?, opt_status(&s, T, r)?), sums_at(b, T, r)?);
            }
        }
        other => {
            return Err(
                ErrorKind::Schema { table: "cells", message: format!("`{other}` is not a table of cells") }.into()
            );
        }
    }
    Ok(())
}

/// Schema of `dim_client_current`.
pub fn dim_client_current_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("client_id", DataType::Int64, false),
        field("client_name", text(), false),
        field("first_seen_at", timestamp_type(), false),
        field("last_seen_at", timestamp_type(), false),
        field("file_seq", DataType::Int64, false),
        field("line", DataType::Int64, false),
    ]))
}

/// Schema of `dim_product_current`.
pub fn dim_product_current_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("product_id", DataType::Int64, false),
        field("product_description", text(), false),
        field("file_seq", DataType::Int64, false),
        field("line", DataType::Int64, false),
    ]))
}

/// The dimensions' two tables: `dim_client_current`, `dim_product_current`.
///
/// # Errors
/// Only if the columns disagree with the schemas (a bug).
pub fn dims_batches(dims: &Dims) -> Result<[(&'static str, RecordBatch); 2]> {
    let n = dims.clients.len();
    let mut id = Int64Builder::with_capacity(n);
    let mut name = StringBuilder::new();
    let (mut first, mut last) = (ts_builder(n), ts_builder(n));
    let (mut seq, mut line) = (Int64Builder::with_capacity(n), Int64Builder::with_capacity(n));
    for (k, c) in &dims.clients {
        id.append_value(*k);
        name.append_value(&c.name);
        first.append_value(c.first_seen_micros);
        last.append_value(c.last_seen_micros);
        seq.append_value(i64::from(c.version.file));
        line.append_value(i64::try_from(c.version.line).unwrap_or(i64::MAX));
    }
    let clients = RecordBatch::try_new(
        dim_client_current_schema(),
        vec![
            Arc::new(id.finish()),
            Arc::new(name.finish()),
            Arc::new(first.finish()),
            Arc::new(last.finish()),
            Arc::new(seq.finish()),
            Arc::new(line.finish()),
        ],
    )?;
    let n = dims.products.len();
    let mut id = Int64Builder::with_capacity(n);
    let mut desc = StringBuilder::new();
    let (mut seq, mut line) = (Int64Builder::with_capacity(n), Int64Builder::with_capacity(n));
    for (k, p) in &dims.products {
        id.append_value(*k);
        desc.append_value(&p.description);
        seq.append_value(i64::from(p.version.file));
        line.append_value(i64::try_from(p.version.line).unwrap_or(i64::MAX));
    }
    let products = RecordBatch::try_new(
        dim_product_current_schema(),
        vec![Arc::new(id.finish()), Arc::new(desc.finish()), Arc::new(seq.finish()), Arc::new(line.finish())],
    )?;
    Ok([("dim_client_current", clients), ("dim_product_current", products)])
}

fn version_at(
    seq: &arrow_array::PrimitiveArray<Int64Type>,
    line: &arrow_array::PrimitiveArray<Int64Type>,
    table: &'static str,
    r: usize,
) -> Result<Version> {
    Ok(Version {
        file: u32::try_from(seq.value(r)).map_err(|_| bad(table, "file_seq", r))?,
        line: u64::try_from(line.value(r)).map_err(|_| bad(table, "line", r))?,
    })
}

/// Folds dimension rows read back from `dim_client_current` or `dim_product_current`.
///
/// # Errors
/// An unknown table name, or a batch that does not have its table's schema.
pub fn read_dims(dims: &mut Dims, names: &mut Names, table: &str, b: &RecordBatch) -> Result<()> {
    match table {
        "dim_client_current" => {
            const T: &str = "dim_client_current";
            let i = |n| col(b, T, n, &DataType::Int64).map(|c| c.as_primitive::<Int64Type>());
            let t = |n| col(b, T, n, &timestamp_type()).map(|c| c.as_primitive::<TimestampMicrosecondType>());
            let (id, seq, line, first, last) =
                (i("client_id")?, i("file_seq")?, i("line")?, t("first_seen_at")?, t("last_seen_at")?);
            let name = Texts::of(b, T, "client_name")?;
            for r in 0..b.num_rows() {
                dims.clients.insert(
                    id.value(r),
                    ClientRow {
                        name: names.get(name.get(r).ok_or_else(|| bad(T, "client_name", r))?),
                        version: version_at(seq, line, T, r)?,
                        first_seen_micros: first.value(r),
                        last_seen_micros: last.value(r),
                    },
                );
            }
        }
        "dim_product_current" => {
            const T: &str = "dim_product_current";
            let i = |n| col(b, T, n, &DataType::Int64).map(|c| c.as_primitive::<Int64Type>());
            let (id, seq, line) = (i("product_id")?, i("file_seq")?, i("line")?);
            let desc = Texts::of(b, T, "product_description")?;
            for r in 0..b.num_rows() {
                dims.products.insert(
                    id.value(r),
                    ProductRow {
                        description: names.get(desc.get(r).ok_or_else(|| bad(T, "product_description", r))?),
                        version: version_at(seq, line, T, r)?,
                    },
                );
            }
        }
        other => {
            return Err(
                ErrorKind::Schema { table: "dims", message: format!("`{other}` is not a dimension table") }.into()
            );
        }
    }
    Ok(())
}

/// Schema of `files`.
pub fn files_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("file_seq", DataType::Int64, false),
        field("file_id", text(), false),
        field("source", text(), false),
        field("ingested_at", timestamp_type(), false),
        field("rank", DataType::Int64, false),
    ]))
}

/// The `files` table: every folded file with its rank in version order (oldest 0), so that
/// SQL orders versions by `(rank, line)` without writing the rule again.
///
/// # Errors
/// Only if the columns disagree with the schema (a bug).
pub fn files_batch(files: &FileTable) -> Result<RecordBatch> {
    let n = files.len();
    let (mut seq, mut rank) = (Int64Builder::with_capacity(n), Int64Builder::with_capacity(n));
    let (mut id, mut source, mut at) = (StringBuilder::new(), StringBuilder::new(), ts_builder(n));
    for (i, f) in files.files().iter().enumerate() {
        let s = u32::try_from(i).unwrap_or(u32::MAX);
        seq.append_value(i64::from(s));
        id.append_value(f.file_id.as_str());
        source.append_value(&f.source);
        at.append_value(f.ingested_at_micros);
        rank.append_value(i64::from(files.rank(s)));
    }
    Ok(RecordBatch::try_new(
        files_schema(),
        vec![
            Arc::new(seq.finish()),
            Arc::new(id.finish()),
            Arc::new(source.finish()),
            Arc::new(at.finish()),
            Arc::new(rank.finish()),
        ],
    )?)
}

/// Rows per row group of the serving tables: small enough that a reader looking for a few
/// orders decodes little more than it needs (their statistics say which row groups hold
/// which ids).
pub const SERVING_ROW_GROUP_ROWS: usize = 1 << 14;

/// Rows per row group of the files sorted by client: a client's lines (a few hundred to a
/// few thousand) are one or two row groups, decoded per request.
pub const CLIENT_ROW_GROUP_ROWS: usize = 1 << 10;

/// The columns of a run's lines whose values rarely repeat (an order's id, a line's
/// amount and litres, its line number): a dictionary would hash every value and be dropped
/// for plain encoding once it grows past its page, so they are written plain from the start.
const UNIQUE_LINE_COLUMNS: [&str; 4] = ["order_id", "amount", "volume_l", "line"];

/// `props` without dictionaries for the [`UNIQUE_LINE_COLUMNS`].
fn run_columns(
    mut props: parquet::file::properties::WriterPropertiesBuilder,
) -> parquet::file::properties::WriterPropertiesBuilder {
    for name in UNIQUE_LINE_COLUMNS {
        props = props.set_column_dictionary_enabled(parquet::schema::types::ColumnPath::from(name), false);
    }
    props
}

/// A Parquet file written batch by batch, with the lake's writer properties and row groups
/// of [`SERVING_ROW_GROUP_ROWS`] rows.
pub struct TableWriter<W: std::io::Write + Send> {
    inner: parquet::arrow::ArrowWriter<W>,
}

impl<W: std::io::Write + Send> std::fmt::Debug for TableWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableWriter").finish_non_exhaustive()
    }
}

impl<W: std::io::Write + Send> TableWriter<W> {
    /// A writer of `schema` into `w`.
    ///
    /// # Errors
    /// Encoding failures.
    pub fn new(w: W, schema: SchemaRef) -> Result<TableWriter<W>> {
        TableWriter::with_row_groups(w, schema, SERVING_ROW_GROUP_ROWS)
    }

    /// A writer of `schema` into `w`, with row groups of `rows` rows.
    ///
    /// # Errors
    /// Encoding failures.
    pub fn with_row_groups(w: W, schema: SchemaRef, rows: usize) -> Result<TableWriter<W>> {
        let props = crate::parquet_io::writer_properties_with_row_groups(rows);
        Ok(TableWriter { inner: parquet::arrow::ArrowWriter::try_new(w, schema, Some(props))? })
    }

    /// A writer of a run's file sorted by key ([`lines_schema`]), in row groups of `rows`
    /// lines ([`SERVING_ROW_GROUP_ROWS`] in the lake): the lake's properties,
    /// except for the columns that gain nothing from them: no dictionary where values
    /// rarely repeat (`order_id`, `amount`, `volume_l`, `line`), no statistics of text.
    ///
    /// # Errors
    /// Encoding failures.
    pub fn lines(w: W, rows: usize) -> Result<TableWriter<W>> {
        use parquet::file::properties::EnabledStatistics;
        use parquet::schema::types::ColumnPath;
        let mut props = run_columns(crate::parquet_io::writer_properties_with_row_groups(rows.max(1)).into_builder());
        // Text statistics cost a comparison of every value and no reader uses them: the
        // fold finds orders by `order_id`, SQL readers scan the lines whole.
        for text in ["client_name", "product_description", "channel", "status", "file_id"] {
            props = props.set_column_statistics_enabled(ColumnPath::from(text), EnabledStatistics::None);
        }
        Ok(TableWriter { inner: parquet::arrow::ArrowWriter::try_new(w, lines_schema(), Some(props.build()))? })
    }

    /// A writer of `schema` into `w` for a local scratch file, read back once by the same
    /// process (a sort's spilled chunk): no compression, no dictionaries, no statistics, as
    /// cheap to write and read as Parquet gets.
    ///
    /// # Errors
    /// Encoding failures.
    pub fn scratch(w: W, schema: SchemaRef) -> Result<TableWriter<W>> {
        use parquet::basic::Compression;
        use parquet::file::properties::{EnabledStatistics, WriterProperties};
        let props = WriterProperties::builder()
            .set_compression(Compression::UNCOMPRESSED)
            .set_dictionary_enabled(true)
            .set_statistics_enabled(EnabledStatistics::None)
            .set_max_row_group_row_count(Some(SERVING_ROW_GROUP_ROWS))
            .build();
        Ok(TableWriter { inner: parquet::arrow::ArrowWriter::try_new(w, schema, Some(props))? })
    }

    /// A writer of a run's file sorted by client ([`client_lines_schema`]: write
    /// [`client_lines_batch`]es), read a few row groups
    /// per request: row groups of [`CLIENT_ROW_GROUP_ROWS`] rows with statistics of
    /// `client_id` only, compressed with LZ4 rather
    /// than zstd (a reader opens a codec per column chunk, and a zstd codec allocates and
    /// clears its contexts each time: more than the decoding of a client's few row groups).
    ///
    /// # Errors
    /// Encoding failures.
    pub fn by_client(w: W) -> Result<TableWriter<W>> {
        use parquet::basic::Compression;
        use parquet::file::properties::EnabledStatistics;
        use parquet::schema::types::ColumnPath;
        let props =
            run_columns(crate::parquet_io::writer_properties_with_row_groups(CLIENT_ROW_GROUP_ROWS).into_builder())
                .set_compression(Compression::LZ4_RAW)
                // A client's order ids and line numbers ascend: delta-encoded, they take a few
                // bits each (the files are 23 % smaller at 10M lines than plain, for the same
                // CPU). Only this engine reads these files; `by_key`, which SQL engines read,
                // keeps the plain encoding every engine reads.
                .set_column_encoding(ColumnPath::from("order_id"), parquet::basic::Encoding::DELTA_BINARY_PACKED)
                .set_column_encoding(ColumnPath::from("line"), parquet::basic::Encoding::DELTA_BINARY_PACKED)
                // Readers find a client's row groups by `client_id` alone: the other columns'
                // statistics would only make the footer that readers keep per file larger.
                .set_statistics_enabled(EnabledStatistics::None)
                .set_column_statistics_enabled(ColumnPath::from("client_id"), EnabledStatistics::Chunk)
                .build();
        Ok(TableWriter { inner: parquet::arrow::ArrowWriter::try_new(w, client_lines_schema(), Some(props))? })
    }

    /// A writer of a run's keys file ([`keys_schema`]): sorted integers, delta-encoded and
    /// compressed, in one row group (readers load it whole).
    ///
    /// # Errors
    /// Encoding failures.
    pub fn keys(w: W) -> Result<TableWriter<W>> {
        use parquet::basic::{Compression, Encoding, ZstdLevel};
        use parquet::file::properties::{EnabledStatistics, WriterProperties};
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_dictionary_enabled(false)
            .set_encoding(Encoding::DELTA_BINARY_PACKED)
            .set_statistics_enabled(EnabledStatistics::None)
            .set_max_row_group_row_count(None)
            .build();
        Ok(TableWriter { inner: parquet::arrow::ArrowWriter::try_new(w, keys_schema(), Some(props))? })
    }

    /// Appends a batch.
    ///
    /// # Errors
    /// Encoding or writing failures.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        Ok(self.inner.write(batch)?)
    }

    /// Closes the file and returns the underlying writer.
    ///
    /// # Errors
    /// Encoding or writing failures.
    pub fn finish(self) -> Result<W> {
        Ok(self.inner.into_inner()?)
    }
}

/// Encodes `batches` as one Parquet file of the serving tables (see [`TableWriter`]).
///
/// # Errors
/// Encoding failures, or no batch at all.
pub fn to_table_bytes(schema: SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let mut w = TableWriter::new(Vec::new(), schema)?;
    for b in batches {
        w.write(b)?;
    }
    w.finish()
}

/// The row groups of a Parquet file whose `column` (an `Int64`) may hold a value for which
/// `wanted(min, max)` is true, given each row group's statistics. A row group without
/// statistics is kept.
///
/// # Errors
/// When the file's footer cannot be read, or it has no such column.
pub fn row_groups_where<R: parquet::file::reader::ChunkReader>(
    reader: &R,
    column: &str,
    wanted: impl Fn(i64, i64) -> bool,
) -> Result<Vec<usize>> {
    use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
    let md = ArrowReaderMetadata::load(reader, ArrowReaderOptions::new())?;
    groups_where(md.metadata(), column, wanted)
}

fn groups_where(
    meta: &parquet::file::metadata::ParquetMetaData,
    column: &str,
    wanted: impl Fn(i64, i64) -> bool,
) -> Result<Vec<usize>> {
    Ok(column_ranges(meta, column)?
        .into_iter()
        .enumerate()
        .filter(|(_, range)| range.is_none_or(|(lo, hi)| wanted(lo, hi)))
        .map(|(i, _)| i)
        .collect())
}

/// The `(min, max)` of an `Int64` column in each row group, from the statistics (`None`
/// where a row group has none).
fn column_ranges(meta: &parquet::file::metadata::ParquetMetaData, column: &str) -> Result<Vec<Option<(i64, i64)>>> {
    use parquet::file::statistics::Statistics;
    let idx = meta
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.name() == column)
        .ok_or_else(|| ErrorKind::Schema { table: "serving", message: format!("column `{column}` is missing") })?;
    Ok(meta
        .row_groups()
        .iter()
        .map(|g| match g.column(idx).statistics() {
            Some(Statistics::Int64(s)) => s.min_opt().copied().zip(s.max_opt().copied()),
            _ => None,
        })
        .collect())
}

/// A Parquet file's footer, parsed once and kept, so that its row groups can be found and
/// decoded from ranged reads: the readers of a serving generation keep one per file they
/// read, and then fetch only the bytes of the row groups a request needs.
#[derive(Debug, Clone)]
pub struct Footer {
    meta: parquet::arrow::arrow_reader::ArrowReaderMetadata,
    size: u64,
    /// Rows of the largest row group: the batch size of a reader, a batch per row group.
    batch_rows: usize,
}

impl Footer {
    /// Bytes to read from the end of a file to get its footer in one read, most of the time.
    pub const TAIL_GUESS: u64 = 1 << 16;

    /// The footer of a file of `size` bytes, from its last bytes `tail`; `Ok(Err(n))` when
    /// the footer needs the last `n` bytes and `tail` is shorter.
    ///
    /// # Errors
    /// When the bytes are not a Parquet footer.
    pub fn parse(tail: &[u8], size: u64) -> Result<std::result::Result<Footer, u64>> {
        use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
        use parquet::file::metadata::ParquetMetaDataReader;
        let bad = |message: &str| ErrorKind::Schema { table: "serving", message: message.to_owned() };
        let end =
            tail.len().checked_sub(8).filter(|_| tail.ends_with(b"PAR1")).ok_or_else(|| bad("not a Parquet file"))?;
        let mut len = [0u8; 4];
        len.copy_from_slice(&tail[end..end + 4]);
        let meta_len = u32::from_le_bytes(len) as usize;
        let need = meta_len as u64 + 8;
        if need > size {
            return Err(bad("a Parquet footer longer than its file").into());
        }
        let Some(start) = end.checked_sub(meta_len) else { return Ok(Err(need)) };
        // Kept for as long as the generation: only what finding and decoding row groups
        // needs (no page encoding or size statistics).
        let options = parquet::file::metadata::ParquetMetaDataOptions::new()
            .with_encoding_stats_policy(parquet::file::metadata::ParquetStatisticsPolicy::SkipAll)
            .with_size_stats_policy(parquet::file::metadata::ParquetStatisticsPolicy::SkipAll);
        let meta = ParquetMetaDataReader::decode_metadata_with_options(&tail[start..end], Some(&options))?;
        let meta = ArrowReaderMetadata::try_new(Arc::new(meta), ArrowReaderOptions::new())?;
        // Text read as dictionaries: a client's row groups repeat a few names, channels and
        // statuses, each then copied, compared and parsed once per value, not once per row.
        let fields: Vec<Field> = meta
            .schema()
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Utf8 => f
                    .as_ref()
                    .clone()
                    .with_data_type(DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))),
                _ => f.as_ref().clone(),
            })
            .collect();
        let schema = Arc::new(Schema::new_with_metadata(fields, meta.schema().metadata().clone()));
        let meta =
            ArrowReaderMetadata::try_new(meta.metadata().clone(), ArrowReaderOptions::new().with_schema(schema))?;
        let rows = meta.metadata().row_groups().iter().map(|g| g.num_rows()).max().unwrap_or(1);
        let batch_rows = usize::try_from(rows).unwrap_or(CLIENT_ROW_GROUP_ROWS).max(1);
        Ok(Ok(Footer { meta, size, batch_rows }))
    }

    /// The row groups whose `column` (an `Int64`) may hold a value for which `wanted(min,
    /// max)` is true (see [`row_groups_where`]).
    ///
    /// # Errors
    /// When the file has no such column.
    pub fn row_groups_where(&self, column: &str, wanted: impl Fn(i64, i64) -> bool) -> Result<Vec<usize>> {
        groups_where(self.meta.metadata(), column, wanted)
    }

    /// The `(min, max)` of `column` (an `Int64`) in each row group, from the statistics
    /// (`None` where a row group has none).
    ///
    /// # Errors
    /// When the file has no such column.
    pub fn column_ranges(&self, column: &str) -> Result<Vec<Option<(i64, i64)>>> {
        column_ranges(self.meta.metadata(), column)
    }

    /// The number of rows in the row groups `groups`.
    pub fn rows(&self, groups: &[usize]) -> usize {
        let meta = self.meta.metadata();
        groups
            .iter()
            .filter_map(|g| meta.row_groups().get(*g))
            .map(|g| usize::try_from(g.num_rows()).unwrap_or(0))
            .sum()
    }

    /// The bytes `(start, len)` that hold the row groups `groups` (from the first one's first
    /// page to the last one's last): one ranged read gets them all.
    pub fn byte_range(&self, groups: &[usize]) -> (u64, u64) {
        let meta = self.meta.metadata();
        let (mut lo, mut hi) = (u64::MAX, 0u64);
        for g in groups.iter().filter_map(|g| meta.row_groups().get(*g)) {
            for c in g.columns() {
                let (start, len) = c.byte_range();
                lo = lo.min(start);
                hi = hi.max(start + len);
            }
        }
        if lo > hi { (0, 0) } else { (lo, hi - lo) }
    }

    /// Decodes the lines of the row groups `groups` from `bytes`, the file's bytes from
    /// `start` on (at least [`Footer::byte_range`] of those groups), calling `f` for each.
    ///
    /// # Errors
    /// When the bytes do not hold the row groups, or they are not a run of lines.
    pub fn read_lines(
        &self,
        start: u64,
        bytes: bytes::Bytes,
        groups: Vec<usize>,
        names: &mut Names,
        mut f: impl FnMut(Line),
    ) -> Result<()> {
        for batch in self.reader(Part { start, bytes, size: self.size }, groups, &LINE_COLUMNS, None)? {
            decode_lines(&batch?, names, &mut f)?;
        }
        Ok(())
    }

    /// Decodes the [`LineHead`]s of the row groups `groups` from `bytes` (as
    /// [`Footer::read_lines`]), calling `f` for each, in file order, until it breaks: five
    /// columns of the fifteen, enough to choose which lines to decode whole
    /// ([`Footer::read_lines_at`]).
    ///
    /// # Errors
    /// When the bytes do not hold the row groups, or they are not a run of lines.
    pub fn read_heads(
        &self,
        start: u64,
        bytes: bytes::Bytes,
        groups: Vec<usize>,
        mut f: impl FnMut(LineHead) -> std::ops::ControlFlow<()>,
    ) -> Result<()> {
        for batch in self.reader(Part { start, bytes, size: self.size }, groups, &HEAD_COLUMNS, None)? {
            if decode_heads(&batch?, &mut f)?.is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Decodes the lines at `rows` alone (ascending positions among the rows of `groups`,
    /// counted from 0 as [`Footer::read_heads`] meets them), calling `f` for each in order.
    /// The other rows are skipped, not decoded.
    ///
    /// # Errors
    /// When the bytes do not hold the row groups, or they are not a run of lines.
    pub fn read_lines_at(
        &self,
        start: u64,
        bytes: bytes::Bytes,
        groups: Vec<usize>,
        rows: &[usize],
        names: &mut Names,
        mut f: impl FnMut(Line),
    ) -> Result<()> {
        // Only the row groups from the first row's to the last row's are read; positions
        // are then counted from the first of them.
        let (Some(&lo), Some(&hi)) = (rows.first(), rows.last()) else { return Ok(()) };
        if !rows.windows(2).all(|w| w[0] < w[1]) {
            return Err(ErrorKind::Schema { table: "serving", message: "rows to read must ascend".into() }.into());
        }
        let (mut first, mut at, mut kept) = (0usize, 0usize, Vec::new());
        for &g in &groups {
            let n = self.rows(&[g]);
            if at + n > lo && at <= hi {
                if kept.is_empty() {
                    first = at;
                }
                kept.push(g);
            }
            at += n;
        }
        // Consecutive positions as ranges: what a selection of rows is made of.
        let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
        for &r in rows {
            let r = r - first;
            match ranges.last_mut() {
                Some(last) if last.end == r => last.end = r + 1,
                _ => ranges.push(r..r + 1),
            }
        }
        let total = self.rows(&kept);
        if hi - first >= total {
            return Err(ErrorKind::Schema {
                table: "serving",
                message: format!("row {hi} is past the row groups read"),
            }
            .into());
        }
        let selection = parquet::arrow::arrow_reader::RowSelection::from_consecutive_ranges(ranges.into_iter(), total);
        for batch in self.reader(Part { start, bytes, size: self.size }, kept, &LINE_COLUMNS, Some(selection))? {
            decode_lines(&batch?, names, &mut f)?;
        }
        Ok(())
    }

    fn reader(
        &self,
        part: Part,
        groups: Vec<usize>,
        columns: &[&str],
        selection: Option<parquet::arrow::arrow_reader::RowSelection>,
    ) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader> {
        let mask = parquet::arrow::ProjectionMask::columns(self.meta.parquet_schema(), columns.iter().copied());
        // A batch per row group: a batch spanning two would mix their dictionaries, which
        // the reader then merges value by value.
        let mut builder =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::new_with_metadata(part, self.meta.clone())
                .with_batch_size(self.batch_rows)
                .with_projection(mask)
                .with_row_groups(groups);
        if let Some(selection) = selection {
            // The rows between are skipped, not decoded and then dropped.
            builder = builder
                .with_row_selection(selection)
                .with_row_selection_policy(parquet::arrow::arrow_reader::RowSelectionPolicy::Selectors);
        }
        Ok(builder.build()?)
    }
}

/// The columns of a [`LineHead`].
pub const HEAD_COLUMNS: [&str; 5] = ["order_id", "product_id", "client_id", "channel", "status"];

/// What a line is chosen by before it is decoded whole: its key, client, channel and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineHead {
    /// The grain.
    pub key: LineKey,
    /// `client_id` of the line.
    pub client_id: i64,
    /// Channel.
    pub channel: Channel,
    /// Status.
    pub status: Status,
}

/// Decodes a batch of [`HEAD_COLUMNS`] (or more), calling `f` for each row until it breaks
/// (then `Break`).
///
/// # Errors
/// A missing column, a column of another type, a null or a value out of its domain.
pub fn decode_heads(
    batch: &RecordBatch,
    mut f: impl FnMut(LineHead) -> std::ops::ControlFlow<()>,
) -> Result<std::ops::ControlFlow<()>> {
    let heads = HeadColumns::of(batch, "order_line_current")?;
    for r in 0..batch.num_rows() {
        if f(heads.head(r)?).is_break() {
            return Ok(std::ops::ControlFlow::Break(()));
        }
    }
    Ok(std::ops::ControlFlow::Continue(()))
}

/// The [`HEAD_COLUMNS`] of a batch of a run file: what [`decode_heads`] and
/// [`decode_lines`] read a line's head from.
struct HeadColumns<'a> {
    /// The table named in errors.
    table: &'static str,
    order_id: &'a arrow_array::PrimitiveArray<Int64Type>,
    product_id: &'a arrow_array::PrimitiveArray<Int64Type>,
    client_id: &'a arrow_array::PrimitiveArray<Int64Type>,
    channel: Parsed<'a, Channel>,
    status: Parsed<'a, Status>,
}

impl<'a> HeadColumns<'a> {
    fn of(batch: &'a RecordBatch, table: &'static str) -> Result<HeadColumns<'a>> {
        let i = |n| col(batch, table, n, &DataType::Int64).map(|c| c.as_primitive::<Int64Type>());
        Ok(HeadColumns {
            table,
            order_id: i("order_id")?,
            product_id: i("product_id")?,
            client_id: i("client_id")?,
            channel: Parsed::of(Texts::of(batch, table, "channel")?, channel_of),
            status: Parsed::of(Texts::of(batch, table, "status")?, status_of),
        })
    }

    fn head(&self, r: usize) -> Result<LineHead> {
        let t = self.table;
        let int = |a: &arrow_array::PrimitiveArray<Int64Type>, what| {
            a.is_valid(r).then(|| a.value(r)).ok_or_else(|| bad(t, what, r))
        };
        Ok(LineHead {
            key: LineKey { order_id: int(self.order_id, "order_id")?, product_id: int(self.product_id, "product_id")? },
            client_id: int(self.client_id, "client_id")?,
            channel: self.channel.get(r, channel_of).ok_or_else(|| bad(t, "channel", r))?,
            status: self.status.get(r, status_of).ok_or_else(|| bad(t, "status", r))?,
        })
    }
}

/// Some bytes of a file, from `start`, read as the file (a reader asking for bytes outside
/// them gets an error).
struct Part {
    start: u64,
    bytes: bytes::Bytes,
    size: u64,
}

impl parquet::file::reader::Length for Part {
    fn len(&self) -> u64 {
        self.size
    }
}

impl parquet::file::reader::ChunkReader for Part {
    type T = bytes::buf::Reader<bytes::Bytes>;

    /// A reader of the bytes read from `start` on (a page reader stops at its column chunk's
    /// end, which is inside them).
    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        let available = (self.start + self.bytes.len() as u64).saturating_sub(start);
        Ok(bytes::Buf::reader(self.get_bytes(start, usize::try_from(available).unwrap_or(usize::MAX))?))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<bytes::Bytes> {
        let from = start.checked_sub(self.start).and_then(|o| usize::try_from(o).ok());
        match from.filter(|o| o.saturating_add(length) <= self.bytes.len()) {
            Some(o) => Ok(self.bytes.slice(o..o + length)),
            None => Err(parquet::errors::ParquetError::General(format!(
                "bytes {start}..+{length} are outside the range read ({}..+{})",
                self.start,
                self.bytes.len()
            ))),
        }
    }
}

/// Decodes the lines of a run file (every row group, or only `groups`), calling `f` for each.
///
/// # Errors
/// When the file is not readable Parquet or not a run of lines.
pub fn read_lines<R: parquet::file::reader::ChunkReader + 'static>(
    reader: R,
    groups: Option<Vec<usize>>,
    names: &mut Names,
    mut f: impl FnMut(Line),
) -> Result<()> {
    for batch in line_batches(reader, groups)? {
        decode_lines(&batch?, names, &mut f)?;
    }
    Ok(())
}

/// The batches of a run file (every row group, or only `groups`), every column, text decoded
/// plain (the files are small per row group; dictionary arrays would cost more to build than
/// they save).
///
/// # Errors
/// When the file is not readable Parquet.
pub fn lines_reader<R: parquet::file::reader::ChunkReader + 'static>(
    reader: R,
    groups: Option<Vec<usize>>,
) -> Result<impl Iterator<Item = Result<RecordBatch>> + Send + use<R>> {
    reader_of(reader, groups, false)
}

/// [`lines_reader`] of the [`LINE_COLUMNS`] alone: the batches [`decode_lines`] turns into
/// lines.
///
/// # Errors
/// When the file is not readable Parquet.
pub fn line_batches<R: parquet::file::reader::ChunkReader + 'static>(
    reader: R,
    groups: Option<Vec<usize>>,
) -> Result<impl Iterator<Item = Result<RecordBatch>> + Send + use<R>> {
    reader_of(reader, groups, true)
}

fn reader_of<R: parquet::file::reader::ChunkReader + 'static>(
    reader: R,
    groups: Option<Vec<usize>>,
    decoded_only: bool,
) -> Result<impl Iterator<Item = Result<RecordBatch>> + Send + use<R>> {
    let mut builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(reader)?
        .with_batch_size(SERVING_ROW_GROUP_ROWS);
    if decoded_only {
        let mask = parquet::arrow::ProjectionMask::columns(builder.parquet_schema(), LINE_COLUMNS);
        builder = builder.with_projection(mask);
    }
    if let Some(groups) = groups {
        builder = builder.with_row_groups(groups);
    }
    Ok(builder.build()?.map(|b| b.map_err(crate::Error::from)))
}

/// The keys of a run file or of its keys file ([`keys_schema`]), in file order (two columns
/// decoded).
///
/// # Errors
/// When the file is not readable Parquet or not a run of lines.
pub fn read_keys<R: parquet::file::reader::ChunkReader + 'static>(reader: R) -> Result<Vec<LineKey>> {
    const T: &str = "order_line_current";
    let mut out = Vec::new();
    for batch in crate::parquet_io::parquet_reader_projected(reader, &["order_id", "product_id"], None)? {
        let batch = batch?;
        let o = col(&batch, T, "order_id", &DataType::Int64)?.as_primitive::<Int64Type>();
        let p = col(&batch, T, "product_id", &DataType::Int64)?.as_primitive::<Int64Type>();
        out.extend(o.values().iter().zip(p.values().iter()).map(|(o, p)| LineKey { order_id: *o, product_id: *p }));
    }
    Ok(out)
}

/// The batches of a `fact_order_line` file read through `reader` (a `File`, `Bytes`...), one
/// row group in memory at a time: the columns [`decode_facts`] reads, and those alone (the
/// lineage columns repeat the file's own lineage on every row: decoding them copied two
/// texts per row for nothing), text as dictionaries.
///
/// # Errors
/// When the file is not readable Parquet.
pub fn fact_batches<R: parquet::file::reader::ChunkReader + 'static>(
    reader: R,
) -> Result<impl Iterator<Item = Result<RecordBatch>> + Send + use<R>> {
    // The names a fact file lacks match none of its columns.
    crate::parquet_io::parquet_reader_projected(reader, &LINE_COLUMNS, None)
}
