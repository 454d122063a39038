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

use crate::error::{ErrorKind, Result};
use crate::hash::IntMap;
use crate::lake::FileMeta;
use crate::model::{Channel, Status};
use crate::tables::{MONEY, VOLUME, column, timestamp_builder};
use arrow_array::builder::{Decimal128Builder, Int64Builder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Int64Type};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

/// The grain: one order line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LineKey {
    /// `order_id`.
    pub order_id: i64,
    /// `product_id`.
    pub product_id: i64,
}

/// Interned strings (names and descriptions repeat across many lines).
#[derive(Debug, Default, Clone)]
struct Strings {
    ids: HashMap<Arc<str>, u32, crate::hash::IntBuild>,
    values: Vec<Arc<str>>,
}

impl Strings {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = self.values.len() as u32;
        let v: Arc<str> = Arc::from(s);
        self.values.push(v.clone());
        self.ids.insert(v, i);
        i
    }

    fn get(&self, i: u32) -> &str {
        self.values.get(i as usize).map_or("", |s| s)
    }
}

/// One order line in its latest version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineState {
    /// Index of the version's file in the state's file list.
    file: u32,
    /// Line of the version in its file.
    pub line: u64,
    /// `client_id`.
    pub client_id: i64,
    client_name: u32,
    product_description: u32,
    /// Unit price (cents).
    pub unit_price: i64,
    /// Units.
    pub units: i64,
    /// Litres per unit (millionths).
    pub unit_volume: i64,
    /// `amount` (cents).
    pub amount: i64,
    /// `volume_l` (millionths of a litre).
    pub volume: i64,
    /// Channel.
    pub channel: Channel,
    /// Status.
    pub status: Status,
    /// `ingested_at` of the earliest version seen.
    pub first_seen_micros: i64,
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

/// The latest version of every order line. See the [crate docs](crate).
#[derive(Debug, Default, Clone)]
pub struct CurrentState {
    files: Vec<FileMeta>,
    file_index: HashMap<crate::lake::FileId, u32>,
    strings: Strings,
    lines: IntMap<LineKey, LineState>,
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

    fn file_slot(&mut self, meta: &FileMeta) -> u32 {
        if let Some(&i) = self.file_index.get(&meta.file_id) {
            return i;
        }
        let i = self.files.len() as u32;
        self.files.push(meta.clone());
        self.file_index.insert(meta.file_id.clone(), i);
        i
    }

    fn version_cmp(&self, a: (u32, u64), b: (u32, u64)) -> Ordering {
        if a.0 == b.0 {
            return a.1.cmp(&b.1);
        }
        let fa = &self.files[a.0 as usize];
        let fb = &self.files[b.0 as usize];
        fa.version_key().cmp(&fb.version_key()).then(a.1.cmp(&b.1))
    }

    /// Applies one version of one line from the file `meta`.
    pub fn apply_row(&mut self, meta: &FileMeta, row: &FactRow<'_>) {
        let file = self.file_slot(meta);
        self.apply_in(file, meta.ingested_at_micros, row);
    }

    fn apply_in(&mut self, file: u32, ingested_at_micros: i64, row: &FactRow<'_>) {
        let client_name = self.strings.intern(row.client_name);
        let product_description = self.strings.intern(row.product_description);
        let new = LineState {
            file,
            line: row.line,
            client_id: row.client_id,
            client_name,
            product_description,
            unit_price: row.unit_price,
            units: row.units,
            unit_volume: row.unit_volume,
            amount: row.amount,
            volume: row.volume,
            channel: row.channel,
            status: row.status,
            first_seen_micros: ingested_at_micros,
        };
        self.upsert(row.key, new);
    }

    fn upsert(&mut self, key: LineKey, new: LineState) {
        let newer = match self.lines.get(&key) {
            None => {
                self.lines.insert(key, new);
                return;
            }
            Some(old) => self.version_cmp((new.file, new.line), (old.file, old.line)) == Ordering::Greater,
        };
        if let Some(old) = self.lines.get_mut(&key) {
            let first = old.first_seen_micros.min(new.first_seen_micros);
            if newer {
                *old = new;
            }
            old.first_seen_micros = first;
        }
    }

    /// Applies every row of a `fact_order_line` batch of the file `meta`.
    ///
    /// # Errors
    /// When the batch does not have the `fact_order_line` schema.
    pub fn apply_batch(&mut self, meta: &FileMeta, batch: &RecordBatch) -> Result<()> {
        let cols = FactColumns::new(batch)?;
        let file = self.file_slot(meta);
        for r in 0..batch.num_rows() {
            let row = cols.row(r)?;
            self.apply_in(file, meta.ingested_at_micros, &row);
        }
        Ok(())
    }

    /// Merges a state built apart (another file, or another byte range of one file).
    /// Associative, commutative and idempotent: the latest version of each line wins and
    /// the earliest `first_seen` is kept, so merging a state twice changes nothing.
    pub fn merge(&mut self, other: &CurrentState) {
        for (key, line) in &other.lines {
            let mut l = line.clone();
            l.file = self.file_slot(&other.files[line.file as usize]);
            l.client_name = self.strings.intern(other.strings.get(line.client_name));
            l.product_description = self.strings.intern(other.strings.get(line.product_description));
            self.upsert(*key, l);
        }
    }

    /// The latest version of one line.
    pub fn get(&self, key: &LineKey) -> Option<&LineState> {
        self.lines.get(key)
    }

    /// Every line, in no particular order (cheaper than [`lines`](Self::lines)).
    pub fn iter(&self) -> impl Iterator<Item = (&LineKey, &LineState)> {
        self.lines.iter()
    }

    /// Every line, sorted by key.
    pub fn lines(&self) -> Vec<(LineKey, &LineState)> {
        let mut v: Vec<_> = self.lines.iter().map(|(k, l)| (*k, l)).collect();
        v.sort_unstable_by_key(|(k, _)| *k);
        v
    }

    /// The lines of one client, sorted by key.
    pub fn client_lines(&self, client_id: i64) -> Vec<(LineKey, &LineState)> {
        let mut v: Vec<_> = self.lines.iter().filter(|(_, l)| l.client_id == client_id).map(|(k, l)| (*k, l)).collect();
        v.sort_unstable_by_key(|(k, _)| *k);
        v
    }

    /// The client name on a line's latest version.
    pub fn client_name(&self, l: &LineState) -> &str {
        self.strings.get(l.client_name)
    }

    /// The product description on a line's latest version.
    pub fn product_description(&self, l: &LineState) -> &str {
        self.strings.get(l.product_description)
    }

    /// The file of a line's latest version.
    pub fn file_of(&self, l: &LineState) -> &FileMeta {
        &self.files[l.file as usize]
    }

    /// The version order of two lines' latest versions.
    pub fn cmp_versions(&self, a: &LineState, b: &LineState) -> Ordering {
        self.version_cmp((a.file, a.line), (b.file, b.line))
    }

    /// The `order_line_current` table: one row per order line, sorted by key.
    ///
    /// # Errors
    /// Only if the columns disagree with the schema (a bug).
    pub fn to_batch(&self) -> Result<RecordBatch> {
        let lines = self.lines();
        let n = lines.len();
        let mut b = CurrentBuilder::new(n);
        for (k, l) in &lines {
            b.order_id.append_value(k.order_id);
            b.product_id.append_value(k.product_id);
            b.client_id.append_value(l.client_id);
            b.client_name.append_value(self.client_name(l));
            b.product_description.append_value(self.product_description(l));
            b.unit_price.append_value(i128::from(l.unit_price));
            b.units.append_value(l.units);
            b.unit_volume.append_value(i128::from(l.unit_volume));
            b.channel.append_value(l.channel.as_str());
            b.status.append_value(l.status.as_str());
            b.amount.append_value(i128::from(l.amount));
            b.volume.append_value(i128::from(l.volume));
            let f = self.file_of(l);
            b.updated_at.append_value(f.ingested_at_micros);
            b.first_seen_at.append_value(l.first_seen_micros);
            b.file_id.append_value(f.file_id.as_str());
            b.line.append_value(l.line as i64);
        }
        b.finish()
    }
}

/// Schema of `order_line_current`.
pub fn order_line_current_schema() -> SchemaRef {
    // The fact's columns up to `volume_l` (the line's values), then the version's lineage.
    let fact = crate::tables::fact_order_line_schema();
    let mut fields: Vec<Field> =
        fact.fields().iter().take_while(|f| f.name() != "line").map(|f| f.as_ref().clone()).collect();
    let f = |n: &str, t: DataType| Field::new(n, t, false);
    fields.extend([
        f("updated_at", crate::tables::timestamp_type()),
        f("first_seen_at", crate::tables::timestamp_type()),
        f("file_id", DataType::Utf8),
        f("line", DataType::Int64),
    ]);
    Arc::new(Schema::new(fields))
}

struct CurrentBuilder {
    order_id: Int64Builder,
    product_id: Int64Builder,
    client_id: Int64Builder,
    client_name: StringBuilder,
    product_description: StringBuilder,
    unit_price: Decimal128Builder,
    units: Int64Builder,
    unit_volume: Decimal128Builder,
    channel: StringBuilder,
    status: StringBuilder,
    amount: Decimal128Builder,
    volume: Decimal128Builder,
    updated_at: arrow_array::builder::TimestampMicrosecondBuilder,
    first_seen_at: arrow_array::builder::TimestampMicrosecondBuilder,
    file_id: StringBuilder,
    line: Int64Builder,
}

impl CurrentBuilder {
    fn new(n: usize) -> Self {
        let d = |t: DataType| Decimal128Builder::with_capacity(n).with_data_type(t);
        CurrentBuilder {
            order_id: Int64Builder::with_capacity(n),
            product_id: Int64Builder::with_capacity(n),
            client_id: Int64Builder::with_capacity(n),
            client_name: StringBuilder::new(),
            product_description: StringBuilder::new(),
            unit_price: d(MONEY),
            units: Int64Builder::with_capacity(n),
            unit_volume: d(VOLUME),
            channel: StringBuilder::new(),
            status: StringBuilder::new(),
            amount: d(MONEY),
            volume: d(VOLUME),
            updated_at: timestamp_builder(n),
            first_seen_at: timestamp_builder(n),
            file_id: StringBuilder::new(),
            line: Int64Builder::with_capacity(n),
        }
    }

    fn finish(mut self) -> Result<RecordBatch> {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.order_id.finish()),
            Arc::new(self.product_id.finish()),
            Arc::new(self.client_id.finish()),
            Arc::new(self.client_name.finish()),
            Arc::new(self.product_description.finish()),
            Arc::new(self.unit_price.finish()),
            Arc::new(self.units.finish()),
            Arc::new(self.unit_volume.finish()),
            Arc::new(self.channel.finish()),
            Arc::new(self.status.finish()),
            Arc::new(self.amount.finish()),
            Arc::new(self.volume.finish()),
            Arc::new(self.updated_at.finish()),
            Arc::new(self.first_seen_at.finish()),
            Arc::new(self.file_id.finish()),
            Arc::new(self.line.finish()),
        ];
        Ok(RecordBatch::try_new(order_line_current_schema(), cols)?)
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
