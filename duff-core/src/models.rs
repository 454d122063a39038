//! Analytics models built from the lake: slowly changing dimensions (type 2), the order-line
//! lifecycle (an accumulating snapshot), and marts an analyst queries directly.
//!
//! | model | grain | built from |
//! |---|---|---|
//! | `dim_client_scd2` | one version of a client's attributes | `dim_client` observations, in version order |
//! | `dim_product_scd2` | one version of a product's attributes | `dim_product` observations, in version order |
//! | `fact_order_lifecycle` | one order line | [`StatusHistory`] + [`CurrentState`] |
//! | `mart_client_value` | one client | [`CurrentState`] |
//! | `mart_broken_rate_by_product` / `_by_channel` | one product / channel | [`CurrentState`] |
//! | `mart_product_mix_by_channel` | one (channel, product) | [`CurrentState`] |
//! | `mart_sales_daily` | one (first-seen day, channel) | [`CurrentState`] |
//!
//! Surrogate keys are stable: the same natural key gets the same key on every run and
//! machine ([`surrogate_key`]). Ratios are exact decimals rounded half-to-even to 6 places;
//! money stays exact (averages are rounded half-to-even to the cent).

use crate::domain::{Channel, Status};
use crate::error::{ErrorKind, Result};
use crate::hash::IntMap;
use crate::lake::{FileMeta, micros_to_datetime};
use crate::reports::{ClientValue, Report, ReportFilter, Rows, Sums, ratio6};
use crate::serving::{Cube, Dims, Line};
use crate::state::{CurrentState, LineKey, StatusHistory};
use crate::tables::{MONEY, MONEY_SUM, VOLUME, VOLUME_SUM, timestamp_builder, timestamp_type};
use arrow_array::builder::{BooleanBuilder, Decimal128Builder, Int64Builder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A stable surrogate key for a natural key: XXH3-64 of `kind` and the id, made positive.
pub fn surrogate_key(kind: &str, id: i64) -> i64 {
    let mut bytes = kind.as_bytes().to_vec();
    bytes.push(0);
    bytes.extend_from_slice(&id.to_le_bytes());
    (xxhash_rust::xxh3::xxh3_64(&bytes) & (i64::MAX as u64)) as i64
}

/// A version key: the surrogate key of `(kind, id, valid_from)`.
fn version_key(kind: &str, id: i64, valid_from: i64) -> i64 {
    let mut bytes = kind.as_bytes().to_vec();
    bytes.push(0);
    bytes.extend_from_slice(&id.to_le_bytes());
    bytes.extend_from_slice(&valid_from.to_le_bytes());
    (xxhash_rust::xxh3::xxh3_64(&bytes) & (i64::MAX as u64)) as i64
}

/// Product attributes that version a product.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ProductAttrs {
    description: String,
    unit_price: i64,
    unit_volume: i64,
}

#[derive(Debug, Clone)]
struct Version<A> {
    id: i64,
    attrs: A,
    valid_from: i64,
    valid_to: Option<i64>,
    file_id: String,
}

#[derive(Debug, Clone)]
struct Scd2<A> {
    versions: Vec<Version<A>>,
    current: IntMap<i64, usize>,
}

impl<A> Default for Scd2<A> {
    fn default() -> Self {
        Scd2 { versions: Vec::new(), current: IntMap::default() }
    }
}

impl<A: PartialEq> Scd2<A> {
    fn observe(&mut self, id: i64, attrs: A, at: i64, file_id: &str) {
        if let Some(&i) = self.current.get(&id) {
            if self.versions[i].attrs == attrs {
                return;
            }
            self.versions[i].valid_to = Some(at);
        }
        self.current.insert(id, self.versions.len());
        self.versions.push(Version { id, attrs, valid_from: at, valid_to: None, file_id: file_id.to_owned() });
    }

    /// Versions sorted by id, then valid_from.
    fn sorted(&self) -> Vec<&Version<A>> {
        let mut v: Vec<&Version<A>> = self.versions.iter().collect();
        v.sort_by_key(|x| (x.id, x.valid_from));
        v
    }
}

/// Type-2 slowly changing dimensions of clients and products, built from each published
/// file's `dim_client` / `dim_product` observations applied in version order: a new version
/// starts whenever a name, description, price or volume differs from the current one.
#[derive(Debug, Default, Clone)]
pub struct Dimensions {
    clients: Scd2<String>,
    products: Scd2<ProductAttrs>,
    last_file: Option<FileMeta>,
}

fn col<'a>(b: &'a RecordBatch, table: &'static str, name: &str) -> Result<&'a ArrayRef> {
    b.column_by_name(name)
        .filter(|c| c.null_count() == 0)
        .ok_or_else(|| ErrorKind::Schema { table, message: format!("column `{name}` is missing or has nulls") }.into())
}

impl Dimensions {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    fn check_order(&mut self, meta: &FileMeta) -> Result<()> {
        if let Some(last) = &self.last_file
            && meta.version_key() < last.version_key()
        {
            return Err(ErrorKind::Internal {
                what: "dimensions",
                message: format!("file {} applied after a newer file", meta.file_id),
            }
            .into());
        }
        self.last_file = Some(meta.clone());
        Ok(())
    }

    /// Applies one file's `dim_client` batch. Files must come in version order.
    ///
    /// # Errors
    /// A file older than one applied before, or a batch without the `dim_client` schema.
    pub fn apply_clients(&mut self, meta: &FileMeta, batch: &RecordBatch) -> Result<()> {
        self.check_order(meta)?;
        let t = "dim_client";
        let ids = col(batch, t, "client_id")?.as_primitive_opt::<Int64Type>();
        let names = col(batch, t, "client_name")?.as_string_opt::<i32>();
        let (Some(ids), Some(names)) = (ids, names) else {
            return Err(ErrorKind::Schema { table: t, message: "unexpected column types".into() }.into());
        };
        for r in 0..batch.num_rows() {
            self.clients.observe(
                ids.value(r),
                names.value(r).to_owned(),
                meta.ingested_at_micros,
                meta.file_id.as_str(),
            );
        }
        Ok(())
    }

    /// Applies one file's `dim_product` batch. Files must come in version order.
    ///
    /// # Errors
    /// A file older than one applied before, or a batch without the `dim_product` schema.
    pub fn apply_products(&mut self, meta: &FileMeta, batch: &RecordBatch) -> Result<()> {
        self.check_order(meta)?;
        let t = "dim_product";
        let ids = col(batch, t, "product_id")?.as_primitive_opt::<Int64Type>();
        let desc = col(batch, t, "product_description")?.as_string_opt::<i32>();
        let price = col(batch, t, "unit_price")?.as_primitive_opt::<Decimal128Type>();
        let volume = col(batch, t, "unit_volume_l")?.as_primitive_opt::<Decimal128Type>();
        let (Some(ids), Some(desc), Some(price), Some(volume)) = (ids, desc, price, volume) else {
            return Err(ErrorKind::Schema { table: t, message: "unexpected column types".into() }.into());
        };
        let small = |v: i128| {
            i64::try_from(v).map_err(|_| ErrorKind::Schema { table: t, message: "decimal out of range".into() })
        };
        for r in 0..batch.num_rows() {
            let attrs = ProductAttrs {
                description: desc.value(r).to_owned(),
                unit_price: small(price.value(r))?,
                unit_volume: small(volume.value(r))?,
            };
            self.products.observe(ids.value(r), attrs, meta.ingested_at_micros, meta.file_id.as_str());
        }
        Ok(())
    }

    /// `dim_client_scd2`: `client_key, client_version_key, client_id, client_name,
    /// valid_from, valid_to (null while current), is_current, version, file_id`.
    ///
    /// # Errors
    /// Only if the columns disagree with the schema (a bug).
    pub fn client_batch(&self) -> Result<RecordBatch> {
        let versions = self.clients.sorted();
        let mut b = ScdColumns::new("client", versions.len());
        let mut names = StringBuilder::new();
        b.push_all(&versions, |v| names.append_value(&v.attrs));
        b.finish("client", vec![(Field::new("client_name", DataType::Utf8, false), Arc::new(names.finish()))])
    }

    /// `dim_product_scd2`: `product_key, product_version_key, product_id,
    /// product_description, unit_price, unit_volume_l, valid_from, valid_to, is_current,
    /// version, file_id`.
    ///
    /// # Errors
    /// Only if the columns disagree with the schema (a bug).
    pub fn product_batch(&self) -> Result<RecordBatch> {
        let versions = self.products.sorted();
        let mut b = ScdColumns::new("product", versions.len());
        let mut desc = StringBuilder::new();
        let mut price = Decimal128Builder::new().with_data_type(MONEY);
        let mut volume = Decimal128Builder::new().with_data_type(VOLUME);
        b.push_all(&versions, |v| {
            desc.append_value(&v.attrs.description);
            price.append_value(i128::from(v.attrs.unit_price));
            volume.append_value(i128::from(v.attrs.unit_volume));
        });
        b.finish(
            "product",
            vec![
                (Field::new("product_description", DataType::Utf8, false), Arc::new(desc.finish())),
                (Field::new("unit_price", MONEY, false), Arc::new(price.finish())),
                (Field::new("unit_volume_l", VOLUME, false), Arc::new(volume.finish())),
            ],
        )
    }
}

/// The columns every SCD2 table shares.
struct ScdColumns {
    key: Int64Builder,
    version_key: Int64Builder,
    id: Int64Builder,
    valid_from: arrow_array::builder::TimestampMicrosecondBuilder,
    valid_to: arrow_array::builder::TimestampMicrosecondBuilder,
    is_current: BooleanBuilder,
    version: Int64Builder,
    file_id: StringBuilder,
    kind: &'static str,
}

impl ScdColumns {
    fn new(kind: &'static str, n: usize) -> Self {
        ScdColumns {
            key: Int64Builder::with_capacity(n),
            version_key: Int64Builder::with_capacity(n),
            id: Int64Builder::with_capacity(n),
            valid_from: timestamp_builder(n),
            valid_to: timestamp_builder(n),
            is_current: BooleanBuilder::with_capacity(n),
            version: Int64Builder::with_capacity(n),
            file_id: StringBuilder::new(),
            kind,
        }
    }

    fn push_all<A>(&mut self, versions: &[&Version<A>], mut attrs: impl FnMut(&Version<A>)) {
        let mut prev: Option<i64> = None;
        let mut n = 0;
        for v in versions {
            n = if prev == Some(v.id) { n + 1 } else { 1 };
            prev = Some(v.id);
            self.key.append_value(surrogate_key(self.kind, v.id));
            self.version_key.append_value(version_key(self.kind, v.id, v.valid_from));
            self.id.append_value(v.id);
            self.valid_from.append_value(v.valid_from);
            self.valid_to.append_option(v.valid_to);
            self.is_current.append_value(v.valid_to.is_none());
            self.version.append_value(n);
            self.file_id.append_value(&v.file_id);
            attrs(v);
        }
    }

    fn finish(mut self, kind: &str, attrs: Vec<(Field, ArrayRef)>) -> Result<RecordBatch> {
        let mut fields = vec![
            Field::new(format!("{kind}_key"), DataType::Int64, false),
            Field::new(format!("{kind}_version_key"), DataType::Int64, false),
            Field::new(format!("{kind}_id"), DataType::Int64, false),
        ];
        let mut cols: Vec<ArrayRef> =
            vec![Arc::new(self.key.finish()), Arc::new(self.version_key.finish()), Arc::new(self.id.finish())];
        for (f, c) in attrs {
            fields.push(f);
            cols.push(c);
        }
        fields.extend([
            Field::new("valid_from", timestamp_type(), false),
            Field::new("valid_to", timestamp_type(), true),
            Field::new("is_current", DataType::Boolean, false),
            Field::new("version", DataType::Int64, false),
            Field::new("file_id", DataType::Utf8, false),
        ]);
        cols.extend([
            Arc::new(self.valid_from.finish()) as ArrayRef,
            Arc::new(self.valid_to.finish()),
            Arc::new(self.is_current.finish()),
            Arc::new(self.version.finish()),
            Arc::new(self.file_id.finish()),
        ]);
        Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
    }
}

/// One order line's lifecycle, from its status changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lifecycle {
    /// When the line was first seen.
    pub first_seen: i64,
    /// First time seen as created.
    pub created_at: Option<i64>,
    /// First time seen as delivered.
    pub delivered_at: Option<i64>,
    /// First time seen as broken.
    pub broken_at: Option<i64>,
    /// Status changes after the first observation.
    pub transitions: u64,
    /// The first transition that is not allowed (`delivered->broken`, `broken->created`...):
    /// delivered and broken are final.
    pub illegal: Option<(Status, Status)>,
}

/// The lifecycle of every order line, sorted by line.
pub fn lifecycles(history: &StatusHistory) -> Vec<(LineKey, Lifecycle)> {
    let mut out: IntMap<LineKey, Lifecycle> = IntMap::default();
    for c in &history.changes {
        let l = out.entry(c.key).or_insert_with(|| Lifecycle { first_seen: c.at_micros, ..Lifecycle::default() });
        let slot = match c.to {
            Status::Created => &mut l.created_at,
            Status::Delivered => &mut l.delivered_at,
            Status::Broken => &mut l.broken_at,
        };
        slot.get_or_insert(c.at_micros);
        if let Some(from) = c.from {
            l.transitions += 1;
            let legal = from == Status::Created && c.to != Status::Created;
            if !legal && l.illegal.is_none() {
                l.illegal = Some((from, c.to));
            }
        }
    }
    let mut out: Vec<(LineKey, Lifecycle)> = out.into_iter().collect();
    out.sort_unstable_by_key(|(k, _)| *k);
    out
}

/// `fact_order_lifecycle`: one row per order line with its milestones, the lags between
/// them (seconds), its current status and channel, and the first illegal transition.
///
/// # Errors
/// Only if the columns disagree with the schema (a bug).
pub fn lifecycle_batch(state: &CurrentState, history: &StatusHistory) -> Result<RecordBatch> {
    lifecycle_batch_with(history, |k| state.get(k).map(|l| (l.client_id, l.channel, l.status)))
}

/// [`lifecycle_batch`] with the current `(client_id, channel, status)` of a line given by
/// `current` (a lake reads them from its serving state, one range of lines at a time).
///
/// # Errors
/// Only if the columns disagree with the schema (a bug).
pub fn lifecycle_batch_with(
    history: &StatusHistory,
    current: impl Fn(&LineKey) -> Option<(i64, Channel, Status)>,
) -> Result<RecordBatch> {
    let lc = lifecycles(history);
    let n = lc.len();
    let mut order_id = Int64Builder::with_capacity(n);
    let mut product_id = Int64Builder::with_capacity(n);
    let mut client_id = Int64Builder::with_capacity(n);
    let mut channel = StringBuilder::new();
    let mut current_status = StringBuilder::new();
    let (mut first, mut created, mut delivered, mut broken) =
        (timestamp_builder(n), timestamp_builder(n), timestamp_builder(n), timestamp_builder(n));
    let mut lag_delivered = Int64Builder::with_capacity(n);
    let mut lag_broken = Int64Builder::with_capacity(n);
    let mut transitions = Int64Builder::with_capacity(n);
    let mut illegal = BooleanBuilder::with_capacity(n);
    let mut illegal_detail = StringBuilder::new();
    for (k, l) in &lc {
        let Some((client, ch, status)) = current(k) else { continue };
        order_id.append_value(k.order_id);
        product_id.append_value(k.product_id);
        client_id.append_value(client);
        channel.append_value(ch.as_str());
        current_status.append_value(status.as_str());
        first.append_value(l.first_seen);
        created.append_option(l.created_at);
        delivered.append_option(l.delivered_at);
        broken.append_option(l.broken_at);
        let lag = |end: Option<i64>| Some((end? - l.created_at?) / 1_000_000);
        lag_delivered.append_option(lag(l.delivered_at));
        lag_broken.append_option(lag(l.broken_at));
        transitions.append_value(l.transitions as i64);
        illegal.append_value(l.illegal.is_some());
        illegal_detail.append_option(l.illegal.map(|(a, b)| format!("{a}->{b}")));
    }
    let ts = timestamp_type();
    let schema = Schema::new(vec![
        Field::new("order_id", DataType::Int64, false),
        Field::new("product_id", DataType::Int64, false),
        Field::new("client_id", DataType::Int64, false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("current_status", DataType::Utf8, false),
        Field::new("first_seen_at", ts.clone(), false),
        Field::new("created_at", ts.clone(), true),
        Field::new("delivered_at", ts.clone(), true),
        Field::new("broken_at", ts, true),
        Field::new("seconds_created_to_delivered", DataType::Int64, true),
        Field::new("seconds_created_to_broken", DataType::Int64, true),
        Field::new("transitions", DataType::Int64, false),
        Field::new("illegal_transition", DataType::Boolean, false),
        Field::new("illegal_detail", DataType::Utf8, true),
    ]);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(order_id.finish()),
        Arc::new(product_id.finish()),
        Arc::new(client_id.finish()),
        Arc::new(channel.finish()),
        Arc::new(current_status.finish()),
        Arc::new(first.finish()),
        Arc::new(created.finish()),
        Arc::new(delivered.finish()),
        Arc::new(broken.finish()),
        Arc::new(lag_delivered.finish()),
        Arc::new(lag_broken.finish()),
        Arc::new(transitions.finish()),
        Arc::new(illegal.finish()),
        Arc::new(illegal_detail.finish()),
    ];
    Ok(RecordBatch::try_new(Arc::new(schema), cols)?)
}

const RATE: DataType = DataType::Decimal128(9, 6);

/// `mart_sales_daily`'s figures, gathered from the current lines one order at a time (in any
/// order of orders): per (day the line was first seen, channel), distinct orders, units,
/// sales and litres. Memory holds the groups, not the lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SalesDaily {
    groups: BTreeMap<(String, Channel), Sums>,
}

impl SalesDaily {
    /// No line.
    pub fn new() -> SalesDaily {
        SalesDaily::default()
    }

    /// Adds one order: `lines` must be every current line of one `order_id`.
    pub fn add_order(&mut self, lines: &[&Line]) {
        let mut seen: Vec<(String, Channel)> = Vec::new();
        for l in lines {
            let key = (micros_to_datetime(l.first_seen_micros).format("%Y-%m-%d").to_string(), l.channel);
            let g = self.groups.entry(key.clone()).or_default();
            g.add_line(l, 1);
            if !seen.contains(&key) {
                g.orders += 1;
                seen.push(key);
            }
        }
    }

    /// The `mart_sales_daily` table, sorted by day then channel.
    ///
    /// # Errors
    /// Only if the columns disagree with the schema (a bug).
    pub fn batch(&self) -> Result<RecordBatch> {
        let mut t = Table::default();
        let daily_row = |t: &mut Table, d: &str, channel: &str, s: &Sums| {
            t.text("day", d);
            t.text("channel", channel);
            t.int("orders", s.orders);
            t.int("units", i64::try_from(s.units).unwrap_or(i64::MAX));
            t.dec("sales", MONEY_SUM, Some(s.amount));
            t.dec("volume_l", VOLUME_SUM, Some(s.volume));
        };
        for ((d, channel), s) in &self.groups {
            daily_row(&mut t, d, channel.as_str(), s);
        }
        t.finish_or_empty(|t| daily_row(t, "", "", &Sums::default()))
    }
}

/// A rate as text (`"0.046875"`) back to millionths.
fn rate_millionths(text: &str) -> Option<i128> {
    crate::reports::parse_scaled(text, 6)
}

/// The marts, as `(table name, batch)`: `mart_client_value`, `mart_broken_rate_by_product`,
/// `mart_broken_rate_by_channel`, `mart_product_mix_by_channel`, `mart_sales_daily`.
///
/// # Errors
/// Only if the columns disagree with the schemas (a bug).
pub fn mart_batches(state: &CurrentState) -> Result<Vec<(&'static str, RecordBatch)>> {
    let mut daily = SalesDaily::new();
    for o in state.orders() {
        daily.add_order(&o);
    }
    mart_batches_of(&state.cube(), state.dims(), &daily)
}

/// The marts from the report cells, the dimensions' current rows and the daily sales: what
/// a serving state holds, so that a lake of any size builds them in bounded memory. The
/// first three are the reports of the same names without filters
/// ([`Cube::report`](crate::serving::Cube::report)): the API's routes and the models agree
/// by construction.
///
/// # Errors
/// Only if the columns disagree with the schemas (a bug).
pub fn mart_batches_of(cube: &Cube, dims: &Dims, daily: &SalesDaily) -> Result<Vec<(&'static str, RecordBatch)>> {
    let mut out = Vec::new();
    let all = ReportFilter::default();

    // Client value: orders, lines, units, sales, average order value, first and last seen.
    let mut t = Table::default();
    let client_row = |t: &mut Table, v: &ClientValue| {
        t.int("client_id", v.client_id);
        t.text("client_name", &v.client_name);
        t.int("orders", i64::try_from(v.orders).unwrap_or(i64::MAX));
        t.int("lines", i64::try_from(v.lines).unwrap_or(i64::MAX));
        t.int("units", i64::try_from(v.units).unwrap_or(i64::MAX));
        t.dec("sales", MONEY_SUM, crate::reports::parse_scaled(&v.sales, 2));
        t.dec("avg_order_value", MONEY_SUM, crate::reports::parse_scaled(&v.avg_order_value, 2));
        t.ts("first_seen_at", v.first_seen_micros);
        t.ts("last_seen_at", v.last_seen_micros);
    };
    let empty_client = ClientValue {
        client_id: 0,
        client_name: String::new(),
        orders: 0,
        lines: 0,
        units: 0,
        sales: "0.00".into(),
        avg_order_value: String::new(),
        first_seen_micros: 0,
        last_seen_micros: 0,
    };
    if let Some(Rows::ClientValue(rows)) = cube.report(Report::ClientValue, dims, &all) {
        for v in &rows {
            client_row(&mut t, v);
        }
    }
    out.push(("mart_client_value", t.finish_or_empty(|t| client_row(t, &empty_client))?));

    // Broken rate by product and by channel.
    let broken = |t: &mut Table, lines: u64, broken: u64, rate: &str| {
        t.int("lines", i64::try_from(lines).unwrap_or(i64::MAX));
        t.int("broken_lines", i64::try_from(broken).unwrap_or(i64::MAX));
        t.dec("broken_rate", RATE, rate_millionths(rate));
    };
    let mut t = Table::default();
    if let Some(Rows::BrokenRateByProduct(rows)) = cube.report(Report::BrokenRateByProduct, dims, &all) {
        for r in &rows {
            t.int("product_id", r.product_id);
            broken(&mut t, r.lines, r.broken_lines, &r.broken_rate);
        }
    }
    let empty = |t: &mut Table| {
        t.int("product_id", 0);
        broken(t, 0, 0, "");
    };
    out.push(("mart_broken_rate_by_product", t.finish_or_empty(empty)?));
    let mut t = Table::default();
    if let Some(Rows::BrokenRateByChannel(rows)) = cube.report(Report::BrokenRateByChannel, dims, &all) {
        for r in &rows {
            t.text("channel", r.channel.as_str());
            broken(&mut t, r.lines, r.broken_lines, &r.broken_rate);
        }
    }
    let empty = |t: &mut Table| {
        t.text("channel", "");
        broken(t, 0, 0, "");
    };
    out.push(("mart_broken_rate_by_channel", t.finish_or_empty(empty)?));

    // Product mix per channel: each product's share of the channel's sales (product cells
    // summed over statuses).
    let mut mix: BTreeMap<(Channel, i64), Sums> = BTreeMap::new();
    let mut channel_sales: BTreeMap<Channel, i128> = BTreeMap::new();
    for ((product, channel, _), s) in &cube.products {
        mix.entry((*channel, *product)).or_default().add(s);
        *channel_sales.entry(*channel).or_default() += s.amount;
    }
    let mut t = Table::default();
    let mix_row = |t: &mut Table, channel: &str, product: i64, s: &Sums, channel_sales: i128| {
        t.text("channel", channel);
        t.int("product_id", product);
        t.int("units", i64::try_from(s.units).unwrap_or(i64::MAX));
        t.dec("sales", MONEY_SUM, Some(s.amount));
        t.dec("volume_l", VOLUME_SUM, Some(s.volume));
        t.dec("share_of_channel_sales", RATE, ratio6(s.amount, channel_sales));
    };
    for ((channel, product), s) in &mix {
        mix_row(&mut t, channel.as_str(), *product, s, channel_sales.get(channel).copied().unwrap_or(0));
    }
    out.push(("mart_product_mix_by_channel", t.finish_or_empty(|t| mix_row(t, "", 0, &Sums::default(), 0))?));

    out.push(("mart_sales_daily", daily.batch()?));
    Ok(out)
}

/// A small column-by-name table builder for the marts (columns in first-use order).
#[derive(Default)]
struct Table {
    order: Vec<String>,
    cols: BTreeMap<String, Col>,
}

enum Col {
    Int(Int64Builder),
    Text(StringBuilder),
    Dec(Decimal128Builder, DataType),
    Ts(arrow_array::builder::TimestampMicrosecondBuilder),
}

impl Table {
    fn slot(&mut self, name: &str, make: impl FnOnce() -> Col) -> &mut Col {
        if !self.cols.contains_key(name) {
            self.order.push(name.to_owned());
        }
        self.cols.entry(name.to_owned()).or_insert_with(make)
    }

    fn int(&mut self, name: &str, v: i64) {
        if let Col::Int(b) = self.slot(name, || Col::Int(Int64Builder::new())) {
            b.append_value(v);
        }
    }

    fn text(&mut self, name: &str, v: &str) {
        if let Col::Text(b) = self.slot(name, || Col::Text(StringBuilder::new())) {
            b.append_value(v);
        }
    }

    fn dec(&mut self, name: &str, t: DataType, v: Option<i128>) {
        let make = || Col::Dec(Decimal128Builder::new().with_data_type(t.clone()), t.clone());
        if let Col::Dec(b, _) = self.slot(name, make) {
            b.append_option(v);
        }
    }

    fn ts(&mut self, name: &str, v: i64) {
        if let Col::Ts(b) = self.slot(name, || Col::Ts(timestamp_builder(0))) {
            b.append_value(v);
        }
    }

    /// The table, or when no row was added (an empty lake), an empty table with the columns
    /// `row` adds (the columns are only known from their first value).
    fn finish_or_empty(self, row: impl FnOnce(&mut Table)) -> Result<RecordBatch> {
        if !self.order.is_empty() {
            return self.finish();
        }
        let mut t = Table::default();
        row(&mut t);
        Ok(t.finish()?.slice(0, 0))
    }

    fn finish(mut self) -> Result<RecordBatch> {
        let mut fields = Vec::new();
        let mut cols: Vec<ArrayRef> = Vec::new();
        for name in &self.order {
            let Some(c) = self.cols.remove(name) else { continue };
            let (t, a): (DataType, ArrayRef) = match c {
                Col::Int(mut b) => (DataType::Int64, Arc::new(b.finish())),
                Col::Text(mut b) => (DataType::Utf8, Arc::new(b.finish())),
                Col::Dec(mut b, t) => (t, Arc::new(b.finish())),
                Col::Ts(mut b) => (timestamp_type(), Arc::new(b.finish())),
            };
            fields.push(Field::new(name, t, true));
            cols.push(a);
        }
        Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_state_gives_empty_marts_with_their_columns() {
        let marts = mart_batches(&CurrentState::new()).unwrap();
        assert_eq!(marts.len(), 5);
        for (name, b) in &marts {
            assert_eq!(b.num_rows(), 0, "{name}");
            assert!(b.num_columns() >= 4, "{name}");
        }
        let client = &marts[0].1;
        assert_eq!(client.schema().field_with_name("avg_order_value").unwrap().data_type(), &MONEY_SUM);
    }

    const PINNED: i64 = 7_097_887_586_322_402_256;

    #[test]
    fn surrogate_keys_are_stable_and_distinct() {
        assert_eq!(surrogate_key("client", 1001), surrogate_key("client", 1001));
        assert_ne!(surrogate_key("client", 1001), surrogate_key("product", 1001));
        assert_ne!(surrogate_key("client", 1001), surrogate_key("client", 1002));
        assert!(surrogate_key("client", -5) >= 0);
        // A fixed value: keys must not change between releases.
        assert_eq!(surrogate_key("client", 1001), PINNED);
    }
}
