//! The aggregates behind the reports, computed from the current state of the order lines.
//!
//! Each order line counts once, in its latest version. `orders` counts distinct `order_id`s,
//! `units` sums `product_ccf`, `sales` sums `amount` and `volume_l` sums litres, all exact.
//! These are the reference answers: the SQL engines' answers are tested against them.

use crate::hash::IntMap;
use crate::model::{Channel, MONEY_SCALE, Status};
use crate::number::{format_litres, format_scaled};
use crate::state::{CurrentState, LineKey, LineState};
use crate::tables::{MONEY_SUM, VOLUME_SUM};
use arrow_array::builder::{Decimal128Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::sync::Arc;

/// Filters of the reports (every one optional; all given must hold).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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
    fn keeps(&self, k: &LineKey, l: &LineState) -> bool {
        self.channel.is_none_or(|c| c == l.channel)
            && self.status.is_none_or(|s| s == l.status)
            && self.client_id.is_none_or(|c| c == l.client_id)
            && self.product_id.is_none_or(|p| p == k.product_id)
    }
}

/// A row of the sales-by-product report (sorted by `product_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductSales {
    /// Product.
    pub product_id: i64,
    /// Its description on its latest line.
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

/// A row of the order-status report (sorted created, delivered, broken).
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

/// A row of the orders-by-client report (sorted by `client_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSales {
    /// Client.
    pub client_id: i64,
    /// Its name on its latest line.
    pub client_name: String,
    /// Distinct orders.
    pub orders: u64,
    /// Units.
    pub units: i128,
    /// Sales (2 places).
    pub sales: String,
}

/// A row of the sales-by-channel report (sorted Retail, Online, B2B).
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

#[derive(Default)]
struct Acc<'a> {
    orders: Vec<i64>,
    units: i128,
    amount: i128,
    volume: i128,
    latest: Option<&'a LineState>,
}

impl<'a> Acc<'a> {
    fn add(&mut self, state: &CurrentState, k: &LineKey, l: &'a LineState) {
        self.orders.push(k.order_id);
        self.units += i128::from(l.units);
        self.amount += i128::from(l.amount);
        self.volume += i128::from(l.volume);
        let newer = self.latest.is_none_or(|old| state.cmp_versions(l, old) == Ordering::Greater);
        if newer {
            self.latest = Some(l);
        }
    }

    fn distinct_orders(&mut self) -> u64 {
        self.orders.sort_unstable();
        self.orders.dedup();
        self.orders.len() as u64
    }

    fn sales(&self) -> String {
        format_scaled(self.amount, MONEY_SCALE)
    }

    fn litres(&self) -> String {
        format_litres(self.volume)
    }
}

/// Groups the filtered lines by `key`; groups come out sorted by key. Lines are visited in
/// no particular order: every figure is order-independent (sums, distinct counts, and the
/// latest version under a total order).
fn group<'a, K: Ord + std::hash::Hash>(
    state: &'a CurrentState,
    filter: &ReportFilter,
    key: impl Fn(&LineKey, &LineState) -> K,
) -> Vec<(K, Acc<'a>)> {
    let mut groups: IntMap<K, Acc<'a>> = IntMap::default();
    for (k, l) in state.iter() {
        if filter.keeps(k, l) {
            groups.entry(key(k, l)).or_default().add(state, k, l);
        }
    }
    let mut out: Vec<(K, Acc<'a>)> = groups.into_iter().collect();
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Sales by product.
pub fn sales_by_product(state: &CurrentState, filter: &ReportFilter) -> Vec<ProductSales> {
    group(state, filter, |k, _| k.product_id)
        .into_iter()
        .map(|(product_id, mut a)| ProductSales {
            product_id,
            product_description: a.latest.map(|l| state.product_description(l).to_owned()).unwrap_or_default(),
            orders: a.distinct_orders(),
            units: a.units,
            sales: a.sales(),
            volume_l: a.litres(),
        })
        .collect()
}

/// Orders, units and sales per status.
pub fn order_status(state: &CurrentState, filter: &ReportFilter) -> Vec<StatusSales> {
    group(state, filter, |_, l| l.status)
        .into_iter()
        .map(|(status, mut a)| StatusSales { status, orders: a.distinct_orders(), units: a.units, sales: a.sales() })
        .collect()
}

/// Orders, units and sales per client.
pub fn orders_by_client(state: &CurrentState, filter: &ReportFilter) -> Vec<ClientSales> {
    group(state, filter, |_, l| l.client_id)
        .into_iter()
        .map(|(client_id, mut a)| ClientSales {
            client_id,
            client_name: a.latest.map(|l| state.client_name(l).to_owned()).unwrap_or_default(),
            orders: a.distinct_orders(),
            units: a.units,
            sales: a.sales(),
        })
        .collect()
}

/// Orders, units, sales and litres per channel.
pub fn sales_by_channel(state: &CurrentState, filter: &ReportFilter) -> Vec<ChannelSales> {
    group(state, filter, |_, l| l.channel)
        .into_iter()
        .map(|(channel, mut a)| ChannelSales {
            channel,
            orders: a.distinct_orders(),
            units: a.units,
            sales: a.sales(),
            volume_l: a.litres(),
        })
        .collect()
}

/// Totals over every current line that the filter keeps: distinct orders, lines, units,
/// sales and litres.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
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

/// Totals of the current state.
pub fn totals(state: &CurrentState, filter: &ReportFilter) -> Totals {
    let mut groups = group(state, filter, |_, _| ());
    match groups.first_mut().map(|(_, a)| a) {
        Some(a) => Totals {
            lines: a.orders.len() as u64,
            orders: a.distinct_orders(),
            units: a.units,
            sales: a.sales(),
            volume_l: a.litres(),
        },
        None => Totals { orders: 0, lines: 0, units: 0, sales: "0.00".into(), volume_l: "0.00".into() },
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
    let f = ReportFilter::default();
    let by_product = group(state, &f, |k, _| k.product_id);
    let by_status = group(state, &f, |_, l| l.status);
    let by_client = group(state, &f, |_, l| l.client_id);
    let by_channel = group(state, &f, |_, l| l.channel);
    Ok(vec![
        (
            "agg_sales_by_product",
            agg_batch(
                by_product,
                ("product_id", DataType::Int64),
                Some("product_description"),
                true,
                |k, b: &mut Keys| b.int(*k),
                |l| state.product_description(l).to_owned(),
            )?,
        ),
        (
            "agg_order_status",
            agg_batch(
                by_status,
                ("status", DataType::Utf8),
                None,
                false,
                |k, b| b.text(k.as_str()),
                |_| String::new(),
            )?,
        ),
        (
            "agg_orders_by_client",
            agg_batch(
                by_client,
                ("client_id", DataType::Int64),
                Some("client_name"),
                false,
                |k, b| b.int(*k),
                |l| state.client_name(l).to_owned(),
            )?,
        ),
        (
            "agg_sales_by_channel",
            agg_batch(
                by_channel,
                ("channel", DataType::Utf8),
                None,
                true,
                |k, b| b.text(k.as_str()),
                |_| String::new(),
            )?,
        ),
    ])
}

/// The key column of an aggregate.
enum Keys {
    Int(Int64Builder),
    Text(StringBuilder),
}

impl Keys {
    fn int(&mut self, v: i64) {
        if let Keys::Int(b) = self {
            b.append_value(v);
        }
    }

    fn text(&mut self, v: &str) {
        if let Keys::Text(b) = self {
            b.append_value(v);
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            Keys::Int(mut b) => Arc::new(b.finish()),
            Keys::Text(mut b) => Arc::new(b.finish()),
        }
    }
}

fn agg_batch<K>(
    groups: Vec<(K, Acc<'_>)>,
    key: (&str, DataType),
    name: Option<&str>,
    with_volume: bool,
    push_key: impl Fn(&K, &mut Keys),
    name_of: impl Fn(&LineState) -> String,
) -> crate::Result<RecordBatch> {
    let n = groups.len();
    let mut keys = match key.1 {
        DataType::Int64 => Keys::Int(Int64Builder::with_capacity(n)),
        _ => Keys::Text(StringBuilder::new()),
    };
    let mut names = StringBuilder::new();
    let mut orders = Int64Builder::with_capacity(n);
    let mut units = Int64Builder::with_capacity(n);
    let mut sales = Decimal128Builder::with_capacity(n).with_data_type(MONEY_SUM);
    let mut volume = Decimal128Builder::with_capacity(n).with_data_type(VOLUME_SUM);
    let too_big =
        |what: &str| crate::ErrorKind::Schema { table: "aggregates", message: format!("{what} beyond BIGINT") };
    for (k, mut acc) in groups {
        push_key(&k, &mut keys);
        names.append_value(acc.latest.map(&name_of).unwrap_or_default());
        orders.append_value(i64::try_from(acc.distinct_orders()).map_err(|_| too_big("orders"))?);
        units.append_value(i64::try_from(acc.units).map_err(|_| too_big("units"))?);
        sales.append_value(acc.amount);
        volume.append_value(acc.volume);
    }
    let mut fields = vec![Field::new(key.0, key.1, false)];
    let mut cols: Vec<ArrayRef> = vec![keys.finish()];
    if let Some(name) = name {
        fields.push(Field::new(name, DataType::Utf8, false));
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
