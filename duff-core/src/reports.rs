//! The reports, computed the plain way from the current lines: the reference answers.
//!
//! Each order line counts once, in its latest version. `orders` counts distinct
//! `order_id`s, `lines` counts order lines, `units` sums `product_ccf`, `sales` sums `amount`
//! and `volume_l` sums litres, all exact. Names and descriptions come from the dimensions'
//! current rows ([`crate::serving::Dims`]): a client's name is the one on its latest
//! line version whatever the filters, and so are its first and last sighting.
//!
//! These functions group lines one by one; the serving state
//! ([`crate::serving::Cube`]) answers the same questions from aggregates maintained
//! file by file, and is tested equal to them. The API uses these functions as they are for
//! the questions about one client (its lines are few).

use crate::CurrentState;
use crate::number::{format_litres, format_scaled};
use crate::serving::{Cube, Dims, Line};
use crate::tables::{MONEY_SUM, VOLUME_SUM};
use crate::{Channel, MONEY_SCALE, Status};
use arrow_array::builder::{Decimal128Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Filters of the reports (every one optional; all given must hold).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ReportFilter {
    /// Only this channel.
    pub channel: Option<Channel>,
    /// Only this status.
    pub status: Option<Status>,
    /// Only this client.
    pub client_id: Option<i64>,
    /// Only this product.
    pub product_id: Option<i64>,
}

impl ReportFilter {
    /// True when the line passes every filter.
    pub fn keeps(&self, l: &Line) -> bool {
        self.channel.is_none_or(|c| c == l.channel)
            && self.status.is_none_or(|s| s == l.status)
            && self.client_id.is_none_or(|c| c == l.client_id)
            && self.product_id.is_none_or(|p| p == l.key.product_id)
    }
}

/// The reports, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Report {
    /// Orders, units, sales and litres per product; filters `channel`, `status`.
    SalesByProduct,
    /// Orders, units and sales per status; filters `client_id`, `product_id`, `channel`.
    OrderStatus,
    /// Orders, units and sales per client; filters `channel`, `status`.
    OrdersByClient,
    /// Orders, units, sales and litres per channel; filters `status`, `client_id`, `product_id`.
    SalesByChannel,
    /// Lines, broken lines and their share per product; filters `channel`, `client_id`.
    BrokenRateByProduct,
    /// Lines, broken lines and their share per channel; filters `client_id`, `product_id`.
    BrokenRateByChannel,
    /// Orders, lines, units, sales, average order value, first and last sighting per client;
    /// filters `channel`, `status`, `client_id`.
    ClientValue,
}

impl Report {
    /// Every report.
    pub const ALL: [Report; 7] = [
        Report::SalesByProduct,
        Report::OrderStatus,
        Report::OrdersByClient,
        Report::SalesByChannel,
        Report::BrokenRateByProduct,
        Report::BrokenRateByChannel,
        Report::ClientValue,
    ];

    /// The filter with only the filters this report accepts.
    pub fn accepted(self, f: &ReportFilter) -> ReportFilter {
        let (channel, status, client, product) = match self {
            Report::SalesByProduct | Report::OrdersByClient => (true, true, false, false),
            Report::OrderStatus => (true, false, true, true),
            Report::SalesByChannel => (false, true, true, true),
            Report::BrokenRateByProduct => (true, false, true, false),
            Report::BrokenRateByChannel => (false, false, true, true),
            Report::ClientValue => (true, true, true, false),
        };
        ReportFilter {
            channel: f.channel.filter(|_| channel),
            status: f.status.filter(|_| status),
            client_id: f.client_id.filter(|_| client),
            product_id: f.product_id.filter(|_| product),
        }
    }
}

/// A report's rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rows {
    /// [`Report::SalesByProduct`], sorted by `product_id`.
    SalesByProduct(Vec<ProductSales>),
    /// [`Report::OrderStatus`], sorted created, delivered, broken.
    OrderStatus(Vec<StatusSales>),
    /// [`Report::OrdersByClient`], sorted by `client_id`.
    OrdersByClient(Vec<ClientSales>),
    /// [`Report::SalesByChannel`], sorted Retail, Online, B2B.
    SalesByChannel(Vec<ChannelSales>),
    /// [`Report::BrokenRateByProduct`], sorted by `product_id`.
    BrokenRateByProduct(Vec<ProductBrokenRate>),
    /// [`Report::BrokenRateByChannel`], sorted Retail, Online, B2B.
    BrokenRateByChannel(Vec<ChannelBrokenRate>),
    /// [`Report::ClientValue`], sorted by `client_id`.
    ClientValue(Vec<ClientValue>),
}

impl Rows {
    /// The number of rows.
    pub fn len(&self) -> usize {
        match self {
            Rows::SalesByProduct(v) => v.len(),
            Rows::OrderStatus(v) => v.len(),
            Rows::OrdersByClient(v) => v.len(),
            Rows::SalesByChannel(v) => v.len(),
            Rows::BrokenRateByProduct(v) => v.len(),
            Rows::BrokenRateByChannel(v) => v.len(),
            Rows::ClientValue(v) => v.len(),
        }
    }

    /// True without rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A row of the sales-by-product report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductSales {
    /// Product.
    pub product_id: i64,
    /// Its current description.
    pub product_description: String,
    /// Distinct orders.
    pub orders: u64,
    /// Units.
    pub units: i128,
    /// Sales (2 places).
    pub sales: String,
    /// Litres, exact (trailing zeros dropped down to 2 places).
    pub volume_l: String,
}

/// A row of the order-status report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusSales {
    /// Status.
    pub status: Status,
    /// Distinct orders with a line in this status.
    pub orders: u64,
    /// Units.
    pub units: i128,
    /// Sales (2 places).
    pub sales: String,
}

/// A row of the orders-by-client report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSales {
    /// Client.
    pub client_id: i64,
    /// Its current name.
    pub client_name: String,
    /// Distinct orders.
    pub orders: u64,
    /// Units.
    pub units: i128,
    /// Sales (2 places).
    pub sales: String,
}

/// A row of the sales-by-channel report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelSales {
    /// Channel.
    pub channel: Channel,
    /// Distinct orders.
    pub orders: u64,
    /// Units.
    pub units: i128,
    /// Sales (2 places).
    pub sales: String,
    /// Litres, exact (trailing zeros dropped down to 2 places).
    pub volume_l: String,
}

/// A row of the broken-rate-by-product report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductBrokenRate {
    /// Product.
    pub product_id: i64,
    /// Its current description.
    pub product_description: String,
    /// Order lines.
    pub lines: u64,
    /// Order lines whose status is `broken`.
    pub broken_lines: u64,
    /// `broken_lines / lines`, 6 places, rounded half to even.
    pub broken_rate: String,
}

/// A row of the broken-rate-by-channel report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelBrokenRate {
    /// Channel.
    pub channel: Channel,
    /// Order lines.
    pub lines: u64,
    /// Order lines whose status is `broken`.
    pub broken_lines: u64,
    /// `broken_lines / lines`, 6 places, rounded half to even.
    pub broken_rate: String,
}

/// A row of the client-value report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientValue {
    /// Client.
    pub client_id: i64,
    /// Its current name.
    pub client_name: String,
    /// Distinct orders.
    pub orders: u64,
    /// Order lines.
    pub lines: u64,
    /// Units.
    pub units: i128,
    /// Sales (2 places).
    pub sales: String,
    /// `sales / orders`, to the cent, rounded half to even.
    pub avg_order_value: String,
    /// `ingested_at` of the client's earliest line version, microseconds.
    pub first_seen_micros: i64,
    /// `ingested_at` of the client's latest line version, microseconds.
    pub last_seen_micros: i64,
}

/// Order lines, distinct orders and sums of a group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sums {
    /// Distinct orders.
    pub orders: i64,
    /// Order lines.
    pub lines: i64,
    /// Units.
    pub units: i128,
    /// `amount`, cents.
    pub amount: i128,
    /// `volume_l`, millionths of a litre.
    pub volume: i128,
}

impl Sums {
    /// Adds one line, `sign` times (1 or -1).
    pub fn add_line(&mut self, l: &Line, sign: i64) {
        self.lines += sign;
        self.units += i128::from(sign) * i128::from(l.units);
        self.amount += i128::from(sign) * i128::from(l.amount);
        self.volume += i128::from(sign) * i128::from(l.volume);
    }

    /// Adds another group's sums (its orders must be distinct from this group's).
    pub fn add(&mut self, o: &Sums) {
        self.orders += o.orders;
        self.lines += o.lines;
        self.units += o.units;
        self.amount += o.amount;
        self.volume += o.volume;
    }

    /// True when every figure is zero (a group without lines).
    pub fn is_zero(&self) -> bool {
        *self == Sums::default()
    }

    fn sales(&self) -> String {
        format_scaled(self.amount, MONEY_SCALE)
    }

    fn litres(&self) -> String {
        format_litres(self.volume)
    }

    pub(crate) fn product_sales(&self, product_id: i64, dims: &Dims) -> ProductSales {
        ProductSales {
            product_id,
            product_description: dims.product_description(product_id).to_owned(),
            orders: self.orders.max(0) as u64,
            units: self.units,
            sales: self.sales(),
            volume_l: self.litres(),
        }
    }

    pub(crate) fn status_sales(&self, status: Status) -> StatusSales {
        StatusSales { status, orders: self.orders.max(0) as u64, units: self.units, sales: self.sales() }
    }

    pub(crate) fn client_sales(&self, client_id: i64, dims: &Dims) -> ClientSales {
        ClientSales {
            client_id,
            client_name: dims.client_name(client_id).to_owned(),
            orders: self.orders.max(0) as u64,
            units: self.units,
            sales: self.sales(),
        }
    }

    pub(crate) fn channel_sales(&self, channel: Channel) -> ChannelSales {
        ChannelSales {
            channel,
            orders: self.orders.max(0) as u64,
            units: self.units,
            sales: self.sales(),
            volume_l: self.litres(),
        }
    }

    pub(crate) fn client_value(&self, client_id: i64, dims: &Dims) -> ClientValue {
        let seen = dims.clients.get(&client_id);
        ClientValue {
            client_id,
            client_name: dims.client_name(client_id).to_owned(),
            orders: self.orders.max(0) as u64,
            lines: self.lines.max(0) as u64,
            units: self.units,
            sales: self.sales(),
            avg_order_value: div_half_even(self.amount, i128::from(self.orders))
                .map_or_else(String::new, |c| format_scaled(c, MONEY_SCALE)),
            first_seen_micros: seen.map_or(0, |c| c.first_seen_micros),
            last_seen_micros: seen.map_or(0, |c| c.last_seen_micros),
        }
    }
}

/// A broken rate's figures: lines, broken lines, and the rate as text.
pub(crate) fn broken_rate(lines: i64, broken: i64) -> (u64, u64, String) {
    let rate = ratio6(i128::from(broken), i128::from(lines)).map_or_else(String::new, |r| format_scaled(r, 6));
    (lines.max(0) as u64, broken.max(0) as u64, rate)
}

/// `numerator / denominator` as a scaled decimal (6 places), rounded half to even.
pub fn ratio6(numerator: i128, denominator: i128) -> Option<i128> {
    div_half_even(numerator.checked_mul(1_000_000)?, denominator)
}

/// Exact decimal text (`"-12.5"`, `"0.046875"`) as a scaled integer with `scale` places;
/// `None` for anything else or more places than `scale`. The reverse of
/// [`crate::format_scaled`].
pub fn parse_scaled(text: &str, scale: u32) -> Option<i128> {
    let (neg, t) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || frac.len() > scale as usize {
        return None;
    }
    let mut v: i128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        v = v.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    for _ in frac.len()..scale as usize {
        v = v.checked_mul(10)?;
    }
    Some(if neg { -v } else { v })
}

/// Integer division rounded half to even; `None` for a zero denominator.
pub fn div_half_even(n: i128, d: i128) -> Option<i128> {
    if d == 0 {
        return None;
    }
    let (q, r) = (n / d, n % d);
    let twice = 2 * r.abs();
    let up = twice > d.abs() || (twice == d.abs() && q % 2 != 0);
    Some(if up { q + (n.signum() * d.signum()) } else { q })
}

/// Groups the lines the filter keeps by `key`: sums, and distinct orders counted exactly.
fn group<'a, K: Ord + Copy>(
    lines: impl IntoIterator<Item = &'a Line>,
    filter: &ReportFilter,
    key: impl Fn(&Line) -> K,
) -> BTreeMap<K, Sums> {
    let mut groups: BTreeMap<K, (Sums, Vec<i64>)> = BTreeMap::new();
    for l in lines {
        if filter.keeps(l) {
            let (s, orders) = groups.entry(key(l)).or_default();
            s.add_line(l, 1);
            orders.push(l.key.order_id);
        }
    }
    groups
        .into_iter()
        .map(|(k, (mut s, mut orders))| {
            orders.sort_unstable();
            orders.dedup();
            s.orders = orders.len() as i64;
            (k, s)
        })
        .collect()
}

/// A report over `lines` (the current lines, in any order), with the names of `dims`.
pub fn report<'a>(
    report: Report,
    lines: impl IntoIterator<Item = &'a Line> + Clone,
    dims: &Dims,
    filter: &ReportFilter,
) -> Rows {
    let f = report.accepted(filter);
    match report {
        Report::SalesByProduct => Rows::SalesByProduct(
            group(lines, &f, |l| l.key.product_id).into_iter().map(|(p, s)| s.product_sales(p, dims)).collect(),
        ),
        Report::OrderStatus => {
            Rows::OrderStatus(group(lines, &f, |l| l.status).into_iter().map(|(k, s)| s.status_sales(k)).collect())
        }
        Report::OrdersByClient => Rows::OrdersByClient(
            group(lines, &f, |l| l.client_id).into_iter().map(|(c, s)| s.client_sales(c, dims)).collect(),
        ),
        Report::SalesByChannel => {
            Rows::SalesByChannel(group(lines, &f, |l| l.channel).into_iter().map(|(k, s)| s.channel_sales(k)).collect())
        }
        Report::BrokenRateByProduct => {
            let all = group(lines.clone(), &f, |l| l.key.product_id);
            let broken = group(lines, &ReportFilter { status: Some(Status::Broken), ..f }, |l| l.key.product_id);
            Rows::BrokenRateByProduct(
                all.into_iter()
                    .map(|(p, s)| {
                        let b = broken.get(&p).map_or(0, |b| b.lines);
                        let (lines, broken_lines, broken_rate) = broken_rate(s.lines, b);
                        ProductBrokenRate {
                            product_id: p,
                            product_description: dims.product_description(p).to_owned(),
                            lines,
                            broken_lines,
                            broken_rate,
                        }
                    })
                    .collect(),
            )
        }
        Report::BrokenRateByChannel => {
            let all = group(lines.clone(), &f, |l| l.channel);
            let broken = group(lines, &ReportFilter { status: Some(Status::Broken), ..f }, |l| l.channel);
            Rows::BrokenRateByChannel(
                all.into_iter()
                    .map(|(c, s)| {
                        let (lines, broken_lines, broken_rate) =
                            broken_rate(s.lines, broken.get(&c).map_or(0, |b| b.lines));
                        ChannelBrokenRate { channel: c, lines, broken_lines, broken_rate }
                    })
                    .collect(),
            )
        }
        Report::ClientValue => Rows::ClientValue(
            group(lines, &f, |l| l.client_id).into_iter().map(|(c, s)| s.client_value(c, dims)).collect(),
        ),
    }
}

/// Totals over every current line that the filter keeps: distinct orders, lines, units,
/// sales and litres.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineTotals {
    /// Distinct orders.
    pub orders: u64,
    /// Order lines.
    pub lines: u64,
    /// Units.
    pub units: i128,
    /// Sales (2 places).
    pub sales: String,
    /// Litres, exact (trailing zeros dropped down to 2 places).
    pub volume_l: String,
}

impl From<Sums> for LineTotals {
    fn from(s: Sums) -> LineTotals {
        LineTotals {
            orders: s.orders.max(0) as u64,
            lines: s.lines.max(0) as u64,
            units: s.units,
            sales: s.sales(),
            volume_l: s.litres(),
        }
    }
}

/// Totals of the lines the filter keeps.
pub fn totals(state: &CurrentState, filter: &ReportFilter) -> LineTotals {
    sums(state.iter(), filter).into()
}

/// The sums of the lines the filter keeps.
pub fn sums<'a>(lines: impl IntoIterator<Item = &'a Line>, filter: &ReportFilter) -> Sums {
    group(lines, filter, |_| ()).remove(&()).unwrap_or_default()
}

/// Sales by product over a whole state (see [`report`]).
pub fn sales_by_product(state: &CurrentState, filter: &ReportFilter) -> Vec<ProductSales> {
    match state.report(Report::SalesByProduct, filter) {
        Rows::SalesByProduct(v) => v,
        _ => Vec::new(),
    }
}

/// Orders, units and sales per status over a whole state (see [`report`]).
pub fn order_status(state: &CurrentState, filter: &ReportFilter) -> Vec<StatusSales> {
    match state.report(Report::OrderStatus, filter) {
        Rows::OrderStatus(v) => v,
        _ => Vec::new(),
    }
}

/// Orders, units and sales per client over a whole state (see [`report`]).
pub fn orders_by_client(state: &CurrentState, filter: &ReportFilter) -> Vec<ClientSales> {
    match state.report(Report::OrdersByClient, filter) {
        Rows::OrdersByClient(v) => v,
        _ => Vec::new(),
    }
}

/// Orders, units, sales and litres per channel over a whole state (see [`report`]).
pub fn sales_by_channel(state: &CurrentState, filter: &ReportFilter) -> Vec<ChannelSales> {
    match state.report(Report::SalesByChannel, filter) {
        Rows::SalesByChannel(v) => v,
        _ => Vec::new(),
    }
}

/// The aggregate tables behind the reports, as Arrow batches (no filter):
/// `agg_sales_by_product` (product_id, product_description, orders, units, sales, volume_l),
/// `agg_order_status` (status, orders, units, sales), `agg_orders_by_client` (client_id,
/// client_name, orders, units, sales) and `agg_sales_by_channel` (channel, orders, units,
/// sales, volume_l). Sums are `DECIMAL(38, s)`, counts `BIGINT`.
///
/// # Errors
/// A count or unit sum beyond BIGINT.
pub fn aggregate_batches(state: &CurrentState) -> crate::Result<Vec<(&'static str, RecordBatch)>> {
    aggregate_batches_of(&state.cube(), state.dims())
}

/// [`aggregate_batches`] from the report cells and the dimensions' current rows (what a
/// serving state holds).
///
/// # Errors
/// A count or unit sum beyond BIGINT.
pub fn aggregate_batches_of(cube: &Cube, dims: &Dims) -> crate::Result<Vec<(&'static str, RecordBatch)>> {
    let mut by_product: BTreeMap<AggKey, Sums> = BTreeMap::new();
    for ((p, _, _), s) in &cube.products {
        by_product.entry(AggKey::Product(*p)).or_default().add(s);
    }
    let by_status: BTreeMap<AggKey, Sums> = cube
        .totals
        .iter()
        .filter_map(|((c, s), x)| Some((AggKey::Status((*s)?), *x)).filter(|_| c.is_none()))
        .collect();
    let by_channel: BTreeMap<AggKey, Sums> = cube
        .totals
        .iter()
        .filter_map(|((c, s), x)| Some((AggKey::Channel((*c)?), *x)).filter(|_| s.is_none()))
        .collect();
    let by_client: BTreeMap<AggKey, Sums> = cube
        .clients
        .iter()
        .filter(|((_, c, s), _)| c.is_none() && s.is_none())
        .map(|((id, _, _), x)| (AggKey::Client(*id), *x))
        .collect();
    let named = |key: &AggKey| match key {
        AggKey::Product(p) => Some(dims.product_description(*p).to_owned()),
        AggKey::Client(c) => Some(dims.client_name(*c).to_owned()),
        _ => None,
    };
    Ok(vec![
        ("agg_sales_by_product", agg_batch(by_product, "product_id", named, true)?),
        ("agg_order_status", agg_batch(by_status, "status", named, false)?),
        ("agg_orders_by_client", agg_batch(by_client, "client_id", named, false)?),
        ("agg_sales_by_channel", agg_batch(by_channel, "channel", named, true)?),
    ])
}

/// The key of an aggregate's group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum AggKey {
    Product(i64),
    Client(i64),
    Status(Status),
    Channel(Channel),
}

fn agg_batch(
    groups: BTreeMap<AggKey, Sums>,
    key: &str,
    name: impl Fn(&AggKey) -> Option<String>,
    with_volume: bool,
) -> crate::Result<RecordBatch> {
    let n = groups.len();
    let mut ints = Int64Builder::with_capacity(n);
    let mut texts = StringBuilder::new();
    let mut names = StringBuilder::new();
    let mut orders = Int64Builder::with_capacity(n);
    let mut units = Int64Builder::with_capacity(n);
    let mut sales = Decimal128Builder::with_capacity(n).with_data_type(MONEY_SUM);
    let mut volume = Decimal128Builder::with_capacity(n).with_data_type(VOLUME_SUM);
    let too_big =
        |what: &str| crate::ErrorKind::Schema { table: "aggregates", message: format!("{what} beyond BIGINT") };
    let (mut int_key, mut has_name) = (true, false);
    for (k, s) in &groups {
        match k {
            AggKey::Product(i) | AggKey::Client(i) => ints.append_value(*i),
            AggKey::Status(st) => {
                int_key = false;
                texts.append_value(st.as_str());
            }
            AggKey::Channel(c) => {
                int_key = false;
                texts.append_value(c.as_str());
            }
        }
        if let Some(n) = name(k) {
            has_name = true;
            names.append_value(n);
        }
        orders.append_value(s.orders);
        units.append_value(i64::try_from(s.units).map_err(|_| too_big("units"))?);
        sales.append_value(s.amount);
        volume.append_value(s.volume);
    }
    // An empty table still has its key's type: ids are integers, the enums text.
    if groups.is_empty() {
        int_key = key.ends_with("_id");
        has_name = key == "product_id" || key == "client_id";
    }
    let mut fields = vec![Field::new(key, if int_key { DataType::Int64 } else { DataType::Utf8 }, false)];
    let mut cols: Vec<ArrayRef> = vec![if int_key { Arc::new(ints.finish()) } else { Arc::new(texts.finish()) }];
    if has_name {
        let name_col = if key == "product_id" { "product_description" } else { "client_name" };
        fields.push(Field::new(name_col, DataType::Utf8, false));
        cols.push(Arc::new(names.finish()));
    }
    fields.push(Field::new("orders", DataType::Int64, false));
    cols.push(Arc::new(orders.finish()));
    fields.push(Field::new("units", DataType::Int64, false));
    cols.push(Arc::new(units.finish()));
    fields.push(Field::new("sales", MONEY_SUM, false));
    cols.push(Arc::new(sales.finish()));
    if with_volume {
        fields.push(Field::new("volume_l", VOLUME_SUM, false));
        cols.push(Arc::new(volume.finish()));
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_half_to_even() {
        assert_eq!(div_half_even(5, 2), Some(2));
        assert_eq!(div_half_even(7, 2), Some(4));
        assert_eq!(div_half_even(-5, 2), Some(-2));
        assert_eq!(div_half_even(10, 3), Some(3));
        assert_eq!(div_half_even(1, 0), None);
        assert_eq!(ratio6(1, 3), Some(333_333));
        assert_eq!(ratio6(2, 3), Some(666_667));
        assert_eq!(broken_rate(64, 3).2, "0.046875");
        assert_eq!(broken_rate(3, 0).2, "0.000000");
        assert_eq!(parse_scaled("0.046875", 6), Some(46_875));
        assert_eq!(parse_scaled("-12.5", 2), Some(-1250));
        assert_eq!(parse_scaled("7", 2), Some(700));
        for bad in ["", ".5", "1.234", "1e3", "x", "1.2.3"] {
            assert_eq!(parse_scaled(bad, 2), None, "{bad}");
        }
    }
}
