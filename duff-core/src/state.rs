//! Files over time: the latest state of every order line, and the history of its statuses.
//!
//! Every published file adds one *version* of each order line it holds. The latest version
//! of a line is the one with the greatest `(ingested_at, source, file_id, line)`: the
//! instant first (a delayed event never overwrites newer state), then the source key and the
//! content hash to break equal instants, then the line within the file.
//!
//! [`CurrentState`] keeps one entry per order line; applying files in any order, or merging
//! states built apart, gives the same result (the latest version wins, a total order).
//! [`StatusHistory`] needs the files in version order (see [`sort_files`]) and records each
//! change of status.

use crate::domain::{Channel, Status};
use crate::error::{ErrorKind, Result};
use crate::hash::IntMap;
use crate::lake::FileMeta;
use crate::serving::{ClientRow, Dims, FileTable, Line, Names, ProductRow, Version};
use crate::tables::{MONEY, VOLUME, column, timestamp_builder};
use arrow_array::builder::{Int64Builder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Int64Type};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use std::cmp::Ordering;
use std::sync::Arc;

/// The grain: one order line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LineKey {
    /// `order_id`.
    pub order_id: i64,
    /// `product_id`.
    pub product_id: i64,
}

/// A row of `fact_order_line` in plain Rust values, as read back from the lake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactRow<'a> {
    /// Key.
    pub key: LineKey,
    /// `client_id`.
    pub client_id: i64,
    /// `client_name`.
    pub client_name: &'a str,
    /// `product_description`.
    pub product_description: &'a str,
    /// Cents.
    pub unit_price: i64,
    /// Units.
    pub units: i64,
    /// Millionths of a litre.
    pub unit_volume: i64,
    /// Cents.
    pub amount: i64,
    /// Millionths of a litre.
    pub volume: i64,
    /// Channel.
    pub channel: Channel,
    /// Status.
    pub status: Status,
    /// Line in the file.
    pub line: u64,
}

/// Column accessors over a `fact_order_line` batch.
struct FactColumns<'a> {
    order_id: &'a arrow_array::PrimitiveArray<Int64Type>,
    product_id: &'a arrow_array::PrimitiveArray<Int64Type>,
    client_id: &'a arrow_array::PrimitiveArray<Int64Type>,
    client_name: &'a arrow_array::StringArray,
    product_description: &'a arrow_array::StringArray,
    unit_price: &'a arrow_array::PrimitiveArray<Decimal128Type>,
    units: &'a arrow_array::PrimitiveArray<Int64Type>,
    unit_volume: &'a arrow_array::PrimitiveArray<Decimal128Type>,
    channel: &'a arrow_array::StringArray,
    status: &'a arrow_array::StringArray,
    amount: &'a arrow_array::PrimitiveArray<Decimal128Type>,
    volume: &'a arrow_array::PrimitiveArray<Decimal128Type>,
    line: &'a arrow_array::PrimitiveArray<Int64Type>,
}

impl<'a> FactColumns<'a> {
    fn new(b: &'a RecordBatch) -> Result<Self> {
        let i = |n| column(b, n, &DataType::Int64).map(|c| c.as_primitive::<Int64Type>());
        let s = |n| column(b, n, &DataType::Utf8).map(|c| c.as_string::<i32>());
        let m = |n| column(b, n, &MONEY).map(|c| c.as_primitive::<Decimal128Type>());
        let v = |n| column(b, n, &VOLUME).map(|c| c.as_primitive::<Decimal128Type>());
        Ok(FactColumns {
            order_id: i("order_id")?,
            product_id: i("product_id")?,
            client_id: i("client_id")?,
            client_name: s("client_name")?,
            product_description: s("product_description")?,
            unit_price: m("unit_price")?,
            units: i("units")?,
            unit_volume: v("unit_volume_l")?,
            channel: s("channel")?,
            status: s("status")?,
            amount: m("amount")?,
            volume: v("volume_l")?,
            line: i("line")?,
        })
    }

    fn row(&self, r: usize) -> Result<FactRow<'a>> {
        let bad =
            |what: &str| ErrorKind::Schema { table: "fact_order_line", message: format!("invalid {what} at row {r}") };
        let small = |v: i128, what: &str| i64::try_from(v).map_err(|_| bad(what));
        Ok(FactRow {
            key: LineKey { order_id: self.order_id.value(r), product_id: self.product_id.value(r) },
            client_id: self.client_id.value(r),
            client_name: self.client_name.value(r),
            product_description: self.product_description.value(r),
            unit_price: small(self.unit_price.value(r), "unit_price")?,
            units: self.units.value(r),
            unit_volume: small(self.unit_volume.value(r), "unit_volume_l")?,
            amount: small(self.amount.value(r), "amount")?,
            volume: small(self.volume.value(r), "volume_l")?,
            channel: Channel::parse(self.channel.value(r).as_bytes()).ok_or_else(|| bad("channel"))?,
            status: Status::parse(self.status.value(r).as_bytes()).ok_or_else(|| bad("status"))?,
            line: u64::try_from(self.line.value(r)).map_err(|_| bad("line"))?,
        })
    }
}

/// Calls `f` for every row of a `fact_order_line` batch.
///
/// # Errors
/// When the batch does not have the `fact_order_line` schema, or `f` fails.
pub fn for_each_fact(batch: &RecordBatch, mut f: impl FnMut(FactRow<'_>) -> Result<()>) -> Result<()> {
    let cols = FactColumns::new(batch)?;
    for r in 0..batch.num_rows() {
        f(cols.row(r)?)?;
    }
    Ok(())
}

/// Sorts files into version order (oldest first): `(ingested_at, source, file_id)`.
pub fn sort_files<T>(files: &mut [(FileMeta, T)]) {
    files.sort_by(|(a, _), (b, _)| a.version_key().cmp(&b.version_key()));
}

/// The latest version of every order line, in memory, with the dimensions' current rows:
/// the whole state of a small lake, and the reference the serving state is tested against.
///
/// Applying versions in any order, or merging states built apart, gives the same state:
/// each line keeps its latest version ([`Line::absorb`]), and the dimensions their latest
/// and earliest sightings ([`Dims`]).
#[derive(Debug, Default, Clone)]
pub struct CurrentState {
    files: FileTable,
    names: Names,
    lines: IntMap<LineKey, Line>,
    dims: Dims,
}

impl CurrentState {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of order lines.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// True when there is no order line.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    fn upsert(&mut self, line: Line) {
        self.dims.observe(&self.files, &line);
        match self.lines.get_mut(&line.key) {
            Some(old) => old.absorb(&line, &self.files),
            None => {
                self.lines.insert(line.key, line);
            }
        }
    }

    /// Applies one version of one line from the file `meta`.
    pub fn apply_row(&mut self, meta: &FileMeta, row: &FactRow<'_>) {
        let seq = self.files.add(meta.clone());
        let line = Line::from_fact(row, seq, meta.ingested_at_micros, &mut self.names);
        self.upsert(line);
    }

    /// Applies every row of a `fact_order_line` batch of the file `meta`.
    ///
    /// # Errors
    /// When the batch does not have the `fact_order_line` schema.
    pub fn apply_batch(&mut self, meta: &FileMeta, batch: &RecordBatch) -> Result<()> {
        let seq = self.files.add(meta.clone());
        let cols = FactColumns::new(batch)?;
        for r in 0..batch.num_rows() {
            let row = cols.row(r)?;
            let line = Line::from_fact(&row, seq, meta.ingested_at_micros, &mut self.names);
            self.upsert(line);
        }
        Ok(())
    }

    /// Merges a state built apart (another file, or another byte range of one file).
    /// Associative, commutative and idempotent: the latest version of each line wins and
    /// the earliest first sighting is kept, so merging a state twice changes nothing.
    pub fn merge(&mut self, other: &CurrentState) {
        let seqs: Vec<u32> = other.files.files().iter().map(|f| self.files.add(f.clone())).collect();
        let remap = |v: Version| Version { file: seqs.get(v.file as usize).copied().unwrap_or(v.file), line: v.line };
        for l in other.lines.values() {
            let mut l = l.clone();
            l.version = remap(l.version);
            l.client_name = self.names.get(&l.client_name);
            l.product_description = self.names.get(&l.product_description);
            match self.lines.get_mut(&l.key) {
                Some(old) => old.absorb(&l, &self.files),
                None => {
                    self.lines.insert(l.key, l);
                }
            }
        }
        for (id, c) in &other.dims.clients {
            let row = ClientRow { version: remap(c.version), name: self.names.get(&c.name), ..c.clone() };
            self.dims.observe_client(&self.files, *id, row);
        }
        for (id, p) in &other.dims.products {
            let row = ProductRow { version: remap(p.version), description: self.names.get(&p.description) };
            self.dims.observe_product(&self.files, *id, row);
        }
    }

    /// The latest version of one line.
    pub fn get(&self, key: &LineKey) -> Option<&Line> {
        self.lines.get(key)
    }

    /// Every line, in no particular order (cheaper than [`lines`](Self::lines)).
    pub fn iter(&self) -> impl Iterator<Item = &Line> + Clone {
        self.lines.values()
    }

    /// Every line, sorted by key.
    pub fn lines(&self) -> Vec<&Line> {
        let mut v: Vec<&Line> = self.lines.values().collect();
        v.sort_unstable_by_key(|l| l.key);
        v
    }

    /// The lines of one client, sorted by key.
    pub fn client_lines(&self, client_id: i64) -> Vec<&Line> {
        let mut v: Vec<&Line> = self.lines.values().filter(|l| l.client_id == client_id).collect();
        v.sort_unstable_by_key(|l| l.key);
        v
    }

    /// The files applied, and the version order.
    pub fn files(&self) -> &FileTable {
        &self.files
    }

    /// The current rows of the client and product dimensions.
    pub fn dims(&self) -> &Dims {
        &self.dims
    }

    /// The file of a line's latest version.
    pub fn file_of(&self, l: &Line) -> Option<&FileMeta> {
        self.files.get(l.version.file)
    }

    /// The version order of two lines' latest versions.
    pub fn cmp_versions(&self, a: &Line, b: &Line) -> Ordering {
        self.files.cmp(a.version, b.version)
    }

    /// The report cells of the whole state (what the serving state maintains file by file).
    pub fn cube(&self) -> crate::serving::Cube {
        crate::serving::Cube::of_orders(self.orders())
    }

    /// Every line, grouped by order, orders sorted by id.
    pub fn orders(&self) -> Vec<Vec<&Line>> {
        let mut out: Vec<Vec<&Line>> = Vec::new();
        for l in self.lines() {
            match out.last_mut() {
                Some(o) if o[0].key.order_id == l.key.order_id => o.push(l),
                _ => out.push(vec![l]),
            }
        }
        out
    }

    /// A report over the whole state ([`reports::report`](crate::reports::report)).
    pub fn report(
        &self,
        report: crate::reports::Report,
        filter: &crate::reports::ReportFilter,
    ) -> crate::reports::Rows {
        crate::reports::report(report, self.iter(), &self.dims, filter)
    }

    /// The `order_line_current` table: one row per order line, sorted by key.
    ///
    /// # Errors
    /// Only if the columns disagree with the schema (a bug).
    pub fn to_batch(&self) -> Result<RecordBatch> {
        crate::serving::tables::lines_batch(&self.files, self.lines().into_iter(), 0)
    }
}

/// One change of status of an order line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    /// The line.
    pub key: LineKey,
    /// The status before (`None` for the first observation).
    pub from: Option<Status>,
    /// The status after.
    pub to: Status,
    /// `ingested_at` of the file that showed it.
    pub at_micros: i64,
    /// That file, as an index into [`StatusHistory::files`].
    pub file: u32,
    /// Its line there.
    pub line: u64,
}

/// The history of statuses, built from files applied in version order.
#[derive(Debug, Default, Clone)]
pub struct StatusHistory {
    last: IntMap<LineKey, Status>,
    /// The files applied, in version order.
    pub files: Vec<FileMeta>,
    /// Every change, in version order.
    pub changes: Vec<StatusChange>,
}

impl StatusHistory {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one file's facts. Files must come in version order (see [`sort_files`]);
    /// within a file, rows must come in line order (as the lake stores them).
    ///
    /// # Errors
    /// A file older than one already applied, or a batch without the fact schema.
    pub fn apply_batch(&mut self, meta: &FileMeta, batch: &RecordBatch) -> Result<()> {
        self.apply_batch_where(meta, batch, |_| true)
    }

    /// [`apply_batch`](Self::apply_batch) for the lines `keep` holds only: a history built
    /// one range of lines at a time, in bounded memory.
    ///
    /// # Errors
    /// A file older than one already applied, or a batch without the fact schema.
    pub fn apply_batch_where(
        &mut self,
        meta: &FileMeta,
        batch: &RecordBatch,
        keep: impl Fn(&LineKey) -> bool,
    ) -> Result<()> {
        match self.files.last() {
            Some(last) if last.file_id == meta.file_id => {}
            Some(last) if meta.version_key() < last.version_key() => {
                return Err(ErrorKind::Internal {
                    what: "status history",
                    message: format!("file {} applied after a newer file", meta.file_id),
                }
                .into());
            }
            _ => self.files.push(meta.clone()),
        }
        let file = (self.files.len() - 1) as u32;
        for_each_fact(batch, |row| {
            if !keep(&row.key) {
                return Ok(());
            }
            let prev = self.last.insert(row.key, row.status);
            if prev != Some(row.status) {
                self.changes.push(StatusChange {
                    key: row.key,
                    from: prev,
                    to: row.status,
                    at_micros: meta.ingested_at_micros,
                    file,
                    line: row.line,
                });
            }
            Ok(())
        })
    }

    /// The `order_status_history` table, sorted by key then version.
    ///
    /// # Errors
    /// Only if the columns disagree with the schema (a bug).
    pub fn to_batch(&self) -> Result<RecordBatch> {
        let mut idx: Vec<usize> = (0..self.changes.len()).collect();
        // Stable: changes of one line stay in version order.
        idx.sort_by_key(|&i| self.changes[i].key);
        let n = idx.len();
        let mut order_id = Int64Builder::with_capacity(n);
        let mut product_id = Int64Builder::with_capacity(n);
        let mut from = StringBuilder::new();
        let mut to = StringBuilder::new();
        let mut at = timestamp_builder(n);
        let mut file_id = StringBuilder::new();
        let mut line = Int64Builder::with_capacity(n);
        for i in idx {
            let c = &self.changes[i];
            order_id.append_value(c.key.order_id);
            product_id.append_value(c.key.product_id);
            from.append_option(c.from.map(Status::as_str));
            to.append_value(c.to.as_str());
            at.append_value(c.at_micros);
            file_id.append_value(self.files.get(c.file as usize).map_or("", |f| f.file_id.as_str()));
            line.append_value(c.line as i64);
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(order_id.finish()),
            Arc::new(product_id.finish()),
            Arc::new(from.finish()),
            Arc::new(to.finish()),
            Arc::new(at.finish()),
            Arc::new(file_id.finish()),
            Arc::new(line.finish()),
        ];
        Ok(RecordBatch::try_new(order_status_history_schema(), cols)?)
    }
}

/// Schema of `order_status_history`.
pub fn order_status_history_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("order_id", DataType::Int64, false),
        Field::new("product_id", DataType::Int64, false),
        Field::new("from_status", DataType::Utf8, true),
        Field::new("to_status", DataType::Utf8, false),
        Field::new("changed_at", crate::tables::timestamp_type(), false),
        Field::new("file_id", DataType::Utf8, false),
        Field::new("line", DataType::Int64, false),
    ]))
}
