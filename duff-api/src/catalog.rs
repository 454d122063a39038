//! The report catalog: every query the API runs, in one place.
//!
//! Each report has a name, an allow-list of typed filters and SQL text in which every value
//! is a bound parameter. The SQL is written once, in the subset of SQL that DataFusion and
//! Athena (Trino) agree on, and rendered per [`Dialect`] only where they differ:
//!
//! | what | DataFusion | Athena |
//! |---|---|---|
//! | placeholders | `$1`, `$2`, ... | `?` (values sent as `ExecutionParameters`, in order) |
//! | decimal sums | `DECIMAL(28, s)` | `DECIMAL(38, s)` |
//!
//! Both read the lake's serving state (`docs/serving.md`) under the same names: the tables
//! of [`SERVING_TABLES`] (the newest generation's objects: DataFusion reads its record,
//! Athena its symlink manifests) and the view `order_line_current` ([`CURRENT_STATE_SQL`]),
//! never the history of versions. A report filtered on one client groups that client's
//! current lines; every other report sums a few cells (see `Shape`), as the API's serving
//! engine does. Clients and products are named from the dimensions' current rows
//! (`serving_dim_client_current`, `serving_dim_product_current`), whatever the filters, as
//! `duff_core::reports::report` names them.
//!
//! Ratios and averages (`broken_rate`, `avg_order_value`) are computed in the SQL itself with
//! integer arithmetic only (`BIGINT` quotient and remainder, rounded half to even like
//! `duff_core::models`), then scaled back to an exact `DECIMAL` by a multiplication: both
//! engines round a decimal division differently (Trino half up), but they agree on integer
//! `/` and `%` and on decimal products, so the answers are the same to the last digit.
//!
//! Result columns are read by name and normalised by [`Kind`], so the width of a decimal sum
//! or the text of a number never shows in the API's JSON.
//!
//! User input never becomes SQL text: the SQL is assembled only from `&'static str` pieces of
//! this module, chosen by which allow-listed filters are present; every value (ids, enum
//! values, paging keys, page sizes) is a [`Value`] bound as a parameter. Even the page size
//! is a parameter (`ROW_NUMBER() ... <= ?`), because `LIMIT ?` is not portable.

use duff_core::reports::ReportFilter;
use duff_core::{Channel, Status};
use std::fmt::Write as _;

/// The SQL dialect a query is rendered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Apache DataFusion: `$n` placeholders.
    DataFusion,
    /// Amazon Athena (Trino): `?` placeholders bound by `ExecutionParameters`.
    Athena,
}

/// A typed parameter value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    /// A `BIGINT`.
    Int(i64),
    /// A `VARCHAR` (only ever one of the catalog's enum spellings).
    Text(&'static str),
}

impl Value {
    /// The value as an Athena execution parameter: a SQL literal, validated against its
    /// type. Integers are plain digits (with a sign); text is single-quoted with quotes
    /// doubled, and refused when it holds a control character.
    ///
    /// # Errors
    /// A text value with a control character (never produced by the catalog).
    pub fn athena_literal(&self) -> Result<String, InvalidValue> {
        match self {
            Value::Int(i) => Ok(i.to_string()),
            Value::Text(s) => {
                if s.chars().any(char::is_control) {
                    return Err(InvalidValue);
                }
                Ok(format!("'{}'", s.replace('\'', "''")))
            }
        }
    }
}

/// A parameter value that cannot be sent to the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a query parameter holds a control character")]
pub struct InvalidValue;

/// How a result column is turned into JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An integer (ids, counts, units): a JSON number.
    Int,
    /// Money: a JSON string with exactly 2 decimal places.
    Money,
    /// Litres: a JSON string, exact, trailing zeros dropped down to 2 places.
    Litres,
    /// Text: a JSON string.
    Text,
    /// A ratio: a JSON string with exactly 6 decimal places (`"0.333333"`).
    Rate,
    /// An instant: a JSON string in RFC 3339, UTC (`"2026-11-27T08:00:00Z"`), with the
    /// sub-second digits the engine gave (none, 3, 6 or 9, trailing zeros dropped).
    Timestamp,
}

/// A result column the API reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutColumn {
    /// Its name in the result set.
    pub name: &'static str,
    /// How it is rendered.
    pub kind: Kind,
}

const fn col(name: &'static str, kind: Kind) -> OutColumn {
    OutColumn { name, kind }
}

/// A filter a report may accept (its query parameter name is [`Filter::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// `channel`: one of `Retail`, `Online`, `B2B` (any letter case).
    Channel,
    /// `status`: one of `created`, `delivered`, `broken` (any letter case).
    Status,
    /// `client_id`: a positive integer.
    ClientId,
    /// `product_id`: a positive integer.
    ProductId,
}

impl Filter {
    /// The query parameter's name (also the column it filters).
    pub const fn name(self) -> &'static str {
        match self {
            Filter::Channel => "channel",
            Filter::Status => "status",
            Filter::ClientId => "client_id",
            Filter::ProductId => "product_id",
        }
    }

    /// The SQL condition, a fixed text with one placeholder.
    const fn condition(self) -> &'static str {
        match self {
            Filter::Channel => " AND channel = ",
            Filter::Status => " AND status = ",
            Filter::ClientId => " AND client_id = ",
            Filter::ProductId => " AND product_id = ",
        }
    }

    fn value(self, f: &ReportFilter) -> Option<Value> {
        match self {
            Filter::Channel => f.channel.map(|c| Value::Text(c.as_str())),
            Filter::Status => f.status.map(|s| Value::Text(s.as_str())),
            Filter::ClientId => f.client_id.map(Value::Int),
            Filter::ProductId => f.product_id.map(Value::Int),
        }
    }
}

/// The reports of `/reports/{name}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Report {
    /// `sales-by-product`: orders, units, sales and litres per product, sorted by `product_id`.
    SalesByProduct,
    /// `order-status`: orders, units and sales per status, sorted created, delivered, broken.
    OrderStatus,
    /// `orders-by-client`: orders, units and sales per client, sorted by `client_id`.
    OrdersByClient,
    /// `sales-by-channel`: orders, units, sales and litres per channel, sorted Retail, Online, B2B.
    SalesByChannel,
    /// `broken-rate-by-product`: lines, broken lines and their share per product, sorted by
    /// `product_id` (the mart `mart_broken_rate_by_product`).
    BrokenRateByProduct,
    /// `broken-rate-by-channel`: lines, broken lines and their share per channel, sorted
    /// Retail, Online, B2B (the mart `mart_broken_rate_by_channel`).
    BrokenRateByChannel,
    /// `client-value`: orders, lines, units, sales, average order value, first and last seen
    /// per client, sorted by `client_id` (the mart `mart_client_value`).
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

    /// The report's name (its path segment).
    pub const fn name(self) -> &'static str {
        match self {
            Report::SalesByProduct => "sales-by-product",
            Report::OrderStatus => "order-status",
            Report::OrdersByClient => "orders-by-client",
            Report::SalesByChannel => "sales-by-channel",
            Report::BrokenRateByProduct => "broken-rate-by-product",
            Report::BrokenRateByChannel => "broken-rate-by-channel",
            Report::ClientValue => "client-value",
        }
    }

    /// The report named `name`.
    pub fn from_name(name: &str) -> Option<Report> {
        Report::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The filters it accepts (every other query parameter is refused).
    pub const fn filters(self) -> &'static [Filter] {
        match self {
            Report::SalesByProduct | Report::OrdersByClient => &[Filter::Channel, Filter::Status],
            Report::OrderStatus => &[Filter::ClientId, Filter::ProductId, Filter::Channel],
            Report::SalesByChannel => &[Filter::Status, Filter::ClientId, Filter::ProductId],
            Report::BrokenRateByProduct => &[Filter::Channel, Filter::ClientId],
            Report::BrokenRateByChannel => &[Filter::ClientId, Filter::ProductId],
            Report::ClientValue => &[Filter::Channel, Filter::Status, Filter::ClientId],
        }
    }

    /// The columns of its rows, in JSON order.
    pub const fn columns(self) -> &'static [OutColumn] {
        match self {
            Report::SalesByProduct => &SALES_BY_PRODUCT_COLUMNS,
            Report::OrderStatus => &ORDER_STATUS_COLUMNS,
            Report::OrdersByClient => &ORDERS_BY_CLIENT_COLUMNS,
            Report::SalesByChannel => &SALES_BY_CHANNEL_COLUMNS,
            Report::BrokenRateByProduct => &BROKEN_RATE_BY_PRODUCT_COLUMNS,
            Report::BrokenRateByChannel => &BROKEN_RATE_BY_CHANNEL_COLUMNS,
            Report::ClientValue => &CLIENT_VALUE_COLUMNS,
        }
    }

    /// The report's query with `filter` bound. Filters the report does not accept are
    /// ignored (the HTTP layer refuses them before).
    ///
    /// The query reads the serving state the way the API's serving engine does: a report
    /// filtered on one client groups that client's current lines (`order_line_current`), any
    /// other report sums cells (`serving_cells_*`, each report's `Shape` in this module); names come from the
    /// dimensions' current rows. The pieces are chosen by which filters are present, never
    /// by their values.
    pub fn query(self, filter: &ReportFilter) -> Query {
        let has = |f: Filter| self.filters().contains(&f) && f.value(filter).is_some();
        let shape = self.shape(has(Filter::ClientId), has(Filter::ProductId));
        let mut q = Query::new(self.name());
        for s in shape.head {
            q.sql(s);
        }
        for f in self.filters() {
            match f.value(filter) {
                Some(v) => {
                    q.sql(f.condition());
                    q.param(v);
                }
                None => {
                    if let Some((_, absent)) = shape.absent.iter().find(|(a, _)| a == f) {
                        q.sql(absent);
                    }
                }
            }
        }
        for s in shape.tail {
            q.sql(s);
        }
        q
    }

    /// The SQL shape of the report, given whether a client and a product are chosen.
    const fn shape(self, client: bool, product: bool) -> &'static Shape {
        match (self, client, product) {
            (Report::SalesByProduct, _, _) => &SALES_BY_PRODUCT,
            (Report::OrderStatus, true, _) => &ORDER_STATUS_LINES,
            (Report::OrderStatus, false, true) => &ORDER_STATUS_PRODUCT_CELLS,
            (Report::OrderStatus, false, false) => &ORDER_STATUS_TOTAL_CELLS,
            (Report::OrdersByClient, _, _) => &ORDERS_BY_CLIENT,
            (Report::SalesByChannel, true, _) => &SALES_BY_CHANNEL_LINES,
            (Report::SalesByChannel, false, true) => &SALES_BY_CHANNEL_PRODUCT_CELLS,
            (Report::SalesByChannel, false, false) => &SALES_BY_CHANNEL_TOTAL_CELLS,
            (Report::BrokenRateByProduct, true, _) => &BROKEN_RATE_BY_PRODUCT_LINES,
            (Report::BrokenRateByProduct, false, _) => &BROKEN_RATE_BY_PRODUCT_CELLS,
            (Report::BrokenRateByChannel, true, _) => &BROKEN_RATE_BY_CHANNEL_LINES,
            (Report::BrokenRateByChannel, false, _) => &BROKEN_RATE_BY_CHANNEL_CELLS,
            (Report::ClientValue, true, _) => &CLIENT_VALUE_LINES,
            (Report::ClientValue, false, _) => &CLIENT_VALUE_CELLS,
        }
    }
}

/// The SQL of a report for one combination of present filters: `head`, then one condition
/// per filter in [`Report::filters`] order (`AND column = ?` when given; the `absent` text,
/// if any, when not), then `tail`.
///
/// Cells keep `channel` and `status` `NULL` for "every channel" and "every status"
/// (`serving_cells_client`, `serving_cells_total`): a report over them selects the slice
/// with `AND channel IS NULL` when the filter is absent, so that each group is one cell.
/// Distinct orders are only ever read from a cell, or counted over one client's lines:
/// they do not add up across clients or slices. `serving_cells_product` cells do add up
/// within a product (an order has one line per product), and every figure but distinct
/// orders adds up anywhere.
#[derive(Debug)]
struct Shape {
    head: &'static [&'static str],
    absent: &'static [(Filter, &'static str)],
    tail: &'static [&'static str],
}

const SALES_BY_PRODUCT_COLUMNS: [OutColumn; 6] = [
    col("product_id", Kind::Int),
    col("product_description", Kind::Text),
    col("orders", Kind::Int),
    col("units", Kind::Int),
    col("sales", Kind::Money),
    col("volume_l", Kind::Litres),
];
const ORDER_STATUS_COLUMNS: [OutColumn; 4] =
    [col("status", Kind::Text), col("orders", Kind::Int), col("units", Kind::Int), col("sales", Kind::Money)];
const ORDERS_BY_CLIENT_COLUMNS: [OutColumn; 5] = [
    col("client_id", Kind::Int),
    col("client_name", Kind::Text),
    col("orders", Kind::Int),
    col("units", Kind::Int),
    col("sales", Kind::Money),
];
const SALES_BY_CHANNEL_COLUMNS: [OutColumn; 5] = [
    col("channel", Kind::Text),
    col("orders", Kind::Int),
    col("units", Kind::Int),
    col("sales", Kind::Money),
    col("volume_l", Kind::Litres),
];
const BROKEN_RATE_BY_PRODUCT_COLUMNS: [OutColumn; 5] = [
    col("product_id", Kind::Int),
    col("product_description", Kind::Text),
    col("lines", Kind::Int),
    col("broken_lines", Kind::Int),
    col("broken_rate", Kind::Rate),
];
const BROKEN_RATE_BY_CHANNEL_COLUMNS: [OutColumn; 4] = [
    col("channel", Kind::Text),
    col("lines", Kind::Int),
    col("broken_lines", Kind::Int),
    col("broken_rate", Kind::Rate),
];
const CLIENT_VALUE_COLUMNS: [OutColumn; 9] = [
    col("client_id", Kind::Int),
    col("client_name", Kind::Text),
    col("orders", Kind::Int),
    col("lines", Kind::Int),
    col("units", Kind::Int),
    col("sales", Kind::Money),
    col("avg_order_value", Kind::Money),
    col("first_seen_at", Kind::Timestamp),
    col("last_seen_at", Kind::Timestamp),
];

/// Marts served as Athena views only (no route): aggregates over the current state that an
/// analyst queries directly, with the same SQL the DataFusion engine can run (tested equal to
/// `duff_core::models::mart_batches`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MartView {
    /// `mart_product_mix_by_channel`: units, sales, litres and share of the channel's sales
    /// per (channel, product), sorted Retail, Online, B2B then `product_id`.
    ProductMixByChannel,
    /// `mart_sales_daily`: orders, units, sales and litres per (day first seen, channel),
    /// sorted by day then Retail, Online, B2B.
    SalesDaily,
}

impl MartView {
    /// Every mart view.
    pub const ALL: [MartView; 2] = [MartView::ProductMixByChannel, MartView::SalesDaily];

    /// The view's name (the model's name in `models/`).
    pub const fn name(self) -> &'static str {
        match self {
            MartView::ProductMixByChannel => "mart_product_mix_by_channel",
            MartView::SalesDaily => "mart_sales_daily",
        }
    }

    /// The view's columns.
    pub const fn columns(self) -> &'static [OutColumn] {
        match self {
            MartView::ProductMixByChannel => &PRODUCT_MIX_COLUMNS,
            MartView::SalesDaily => &SALES_DAILY_COLUMNS,
        }
    }

    /// The view's body as a query (no parameters).
    pub fn query(self) -> Query {
        let mut q = Query::new(self.name());
        q.sql(match self {
            MartView::ProductMixByChannel => PRODUCT_MIX_BY_CHANNEL_SQL,
            MartView::SalesDaily => SALES_DAILY_SQL,
        });
        q
    }
}

const PRODUCT_MIX_COLUMNS: [OutColumn; 6] = [
    col("channel", Kind::Text),
    col("product_id", Kind::Int),
    col("units", Kind::Int),
    col("sales", Kind::Money),
    col("volume_l", Kind::Litres),
    col("share_of_channel_sales", Kind::Rate),
];
const SALES_DAILY_COLUMNS: [OutColumn; 6] = [
    col("day", Kind::Text),
    col("channel", Kind::Text),
    col("orders", Kind::Int),
    col("units", Kind::Int),
    col("sales", Kind::Money),
    col("volume_l", Kind::Litres),
];

// share = product's sales / channel's sales to 6 places, half to even, in integers (see
// BROKEN_RATE_BY_PRODUCT_HEAD); NULL when the channel sold for 0.00 (NULLIF).
const PRODUCT_MIX_BY_CHANNEL_SQL: &str = "SELECT g.channel, g.product_id, g.units, g.sales, g.volume_l,
  CAST((g.sales_cents * 1000000) / NULLIF(c.channel_cents, 0)
    + CASE WHEN 2 * ((g.sales_cents * 1000000) % NULLIF(c.channel_cents, 0)) > c.channel_cents
      OR (2 * ((g.sales_cents * 1000000) % NULLIF(c.channel_cents, 0)) = c.channel_cents
        AND ((g.sales_cents * 1000000) / NULLIF(c.channel_cents, 0)) % 2 = 1)
      THEN 1 ELSE 0 END AS DECIMAL(18, 0)) * CAST('0.000001' AS DECIMAL(7, 6)) AS share_of_channel_sales
FROM (
  SELECT channel, product_id, SUM(units) AS units, SUM(amount) AS sales, SUM(volume_l) AS volume_l,
    CAST(SUM(amount) * 100 AS BIGINT) AS sales_cents
  FROM order_line_current
  GROUP BY channel, product_id
) g
JOIN (
  SELECT channel, CAST(SUM(amount) * 100 AS BIGINT) AS channel_cents
  FROM order_line_current
  GROUP BY channel
) c ON c.channel = g.channel
ORDER BY CASE g.channel WHEN 'Retail' THEN 1 WHEN 'Online' THEN 2 WHEN 'B2B' THEN 3 ELSE 4 END, g.channel, g.product_id";

const SALES_DAILY_SQL: &str = "SELECT d.day, d.channel, COUNT(DISTINCT d.order_id) AS orders, SUM(d.units) AS units,
  SUM(d.amount) AS sales, SUM(d.volume_l) AS volume_l
FROM (
  SELECT CAST(CAST(first_seen_at AS DATE) AS VARCHAR) AS day, channel, order_id, units, amount, volume_l
  FROM order_line_current
) d
GROUP BY d.day, d.channel
ORDER BY d.day, CASE d.channel WHEN 'Retail' THEN 1 WHEN 'Online' THEN 2 WHEN 'B2B' THEN 3 ELSE 4 END, d.channel";

/// A view of the lake's Athena database (`deploy/athena/views.sql`, generated from this
/// list; `duff_sql` registers the same views for local SQL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// The view's name.
    pub name: String,
    /// What it holds (a comment above it in views.sql).
    pub comment: String,
    /// Its body (no parameters).
    pub query: Query,
}

/// The views of the Athena database, in the order they are created: the current lines
/// (`order_line_current`, which the others read), the history of statuses, each report
/// without filters (named like its route, `_` for `-`), and the marts.
pub fn views() -> Vec<View> {
    let fixed = |name: &'static str, sql: &'static str| {
        let mut q = Query::new(name);
        q.sql(sql);
        q
    };
    let mut out = vec![
        View {
            name: CURRENT_STATE.to_owned(),
            comment: "The current order lines: the newest version of each, from the serving state.".to_owned(),
            query: fixed(CURRENT_STATE, CURRENT_STATE_SQL),
        },
        View {
            name: "order_status_history".to_owned(),
            comment: "Every first observation and change of status of every order line, in version order.".to_owned(),
            query: fixed("order_status_history", STATUS_HISTORY_SQL),
        },
    ];
    for r in Report::ALL {
        out.push(View {
            name: r.name().replace('-', "_"),
            comment: format!("GET /reports/{} without filters.", r.name()),
            query: r.query(&ReportFilter::default()),
        });
    }
    for m in MartView::ALL {
        out.push(View {
            name: m.name().to_owned(),
            comment: format!("The mart {} (models.md), always current.", m.name()),
            query: m.query(),
        });
    }
    out
}

/// The key of an order line, as used by keyset paging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PageKey {
    /// `order_id`.
    pub order_id: i64,
    /// `product_id`.
    pub product_id: i64,
}

/// The query of `/clients/{client_id}/orders`: the client's current order lines sorted by
/// `(order_id, product_id)`, after `after` when given, at most `limit + 1` of them (one more
/// than a page, to know whether another page follows).
///
/// Every row carries `client_name` (the client's current dimension row). A client without
/// current lines gives no row (404); a known client whose lines the filters exclude gives
/// one row whose order columns are NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientOrders {
    /// The client.
    pub client_id: i64,
    /// Only lines in this status.
    pub status: Option<Status>,
    /// Only lines of this channel.
    pub channel: Option<Channel>,
    /// Lines strictly after this key.
    pub after: Option<PageKey>,
    /// Page size (1..=1000).
    pub limit: u32,
}

impl ClientOrders {
    /// The filters `/clients/{id}/orders` accepts besides `limit` and `next_token`.
    pub const FILTERS: [Filter; 2] = [Filter::Status, Filter::Channel];

    /// Whether a line of `channel` in `status` passes the filters.
    pub fn keeps(&self, channel: Channel, status: Status) -> bool {
        self.status.is_none_or(|s| s == status) && self.channel.is_none_or(|c| c == channel)
    }

    /// Whether the line `(order_id, product_id)` comes after the page's start.
    pub fn is_after(&self, order_id: i64, product_id: i64) -> bool {
        self.after.is_none_or(|a| (order_id, product_id) > (a.order_id, a.product_id))
    }

    /// The columns of its rows, in JSON order of an order line.
    pub const COLUMNS: [OutColumn; 9] = [
        col("order_id", Kind::Int),
        col("product_id", Kind::Int),
        col("product_description", Kind::Text),
        col("units", Kind::Int),
        col("unit_price", Kind::Money),
        col("amount", Kind::Money),
        col("volume_l", Kind::Litres),
        col("channel", Kind::Text),
        col("status", Kind::Text),
    ];

    /// The query.
    pub fn query(&self) -> Query {
        let mut q = Query::new("client-orders");
        q.sql(CLIENT_ORDERS_NAME);
        q.param(Value::Int(self.client_id));
        q.sql(CLIENT_ORDERS_PAGE);
        q.param(Value::Int(self.client_id));
        if let Some(s) = self.status {
            q.sql(Filter::Status.condition());
            q.param(Value::Text(s.as_str()));
        }
        if let Some(c) = self.channel {
            q.sql(Filter::Channel.condition());
            q.param(Value::Text(c.as_str()));
        }
        if let Some(k) = self.after {
            q.sql(" AND (order_id > ");
            q.param(Value::Int(k.order_id));
            q.sql(" OR (order_id = ");
            q.param(Value::Int(k.order_id));
            q.sql(" AND product_id > ");
            q.param(Value::Int(k.product_id));
            q.sql("))");
        }
        q.sql(CLIENT_ORDERS_RANK);
        q.param(Value::Int(i64::from(self.limit) + 1));
        q.sql(CLIENT_ORDERS_TAIL);
        q
    }
}

/// A piece of a query: fixed SQL text or the n-th parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Sql(&'static str),
    Param(usize),
}

/// A query of the catalog: SQL pieces and the values bound to its placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    name: &'static str,
    parts: Vec<Part>,
    params: Vec<Value>,
}

impl Query {
    fn new(name: &'static str) -> Query {
        Query { name, parts: Vec::new(), params: Vec::new() }
    }

    fn sql(&mut self, s: &'static str) {
        self.parts.push(Part::Sql(s));
    }

    fn param(&mut self, v: Value) {
        self.parts.push(Part::Param(self.params.len()));
        self.params.push(v);
    }

    /// The query's name (for logs and metrics).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The SQL text for `dialect`, with placeholders where the values go.
    pub fn sql_text(&self, dialect: Dialect) -> String {
        let mut s = String::with_capacity(1024);
        for p in &self.parts {
            match (p, dialect) {
                (Part::Sql(t), _) => s.push_str(t),
                (Part::Param(i), Dialect::DataFusion) => {
                    let _ = write!(s, "${}", i + 1);
                }
                (Part::Param(_), Dialect::Athena) => s.push('?'),
            }
        }
        s
    }

    /// The values of the placeholders, in order.
    pub fn params(&self) -> &[Value] {
        &self.params
    }
}

/// The name of the current-state relation: the current order lines.
pub const CURRENT_STATE: &str = "order_line_current";

/// The tables of the serving state, by their names in SQL (the Athena tables of
/// `deploy/athena/tables.sql`, the tables `duff_sql` registers), each with the name of the
/// table in a generation's record (`duff_lake::Generation::tables`); `serving_lines` is
/// every run's `by_key` file instead.
pub const SERVING_TABLES: [(&str, &str); 7] = [
    ("serving_lines", "lines"),
    ("serving_cells_product", "cells_product"),
    ("serving_cells_client", "cells_client"),
    ("serving_cells_total", "cells_total"),
    ("serving_dim_client_current", "dim_client_current"),
    ("serving_dim_product_current", "dim_product_current"),
    ("serving_files", "files"),
];

/// The current order lines: per `(order_id, product_id)`, the row of `serving_lines` with
/// the greatest `generation`.
///
/// `serving_lines` holds every run of the newest generation of the serving state
/// (`docs/serving.md`): the base, then the lines each later fold changed, each run's rows
/// carrying the number of the generation that wrote it. A key appears at most once per run,
/// and the current version of a line is in the newest run that holds its key: a row is
/// current when no row of the same key has a greater `generation`. The version rule
/// itself (which of two versions of a line wins) was applied by the fold, once, in
/// `duff_core::serving`; this SQL only picks the newest run.
///
/// Written as an outer join that keeps the rows without a newer one, so that a filter on
/// the view (`WHERE client_id = ?`) applies to the rows before the join: a question about
/// one client looks up that client's keys, it does not group every line.
///
/// Athena: the body of the view `order_line_current`. DataFusion: the same view, over the
/// newest generation's tables (see `duff_sql::DataFusionEngine`).
pub const CURRENT_STATE_SQL: &str =
    "SELECT l.order_id, l.product_id, l.client_id, l.client_name, l.product_description, l.unit_price,
  l.units, l.unit_volume_l, l.channel, l.status, l.amount, l.volume_l, l.updated_at, l.first_seen_at, l.file_id,
  l.line, l.file_seq, l.generation
FROM serving_lines l
LEFT JOIN serving_lines n
  ON n.order_id = l.order_id AND n.product_id = l.product_id AND n.generation > l.generation
WHERE n.order_id IS NULL";

/// The history of statuses: every first observation and every change of status of an order
/// line, in version order, among published files (as `duff_core::StatusHistory` records it).
/// Athena: the view `order_status_history`.
///
/// It reads the history itself (`fact_order_line`), keeping the rows of committed objects
/// only: those whose `(file_id, ingested_at)` is a folded (so published) file's in
/// `serving_files`. A crashed ingest's objects carry another instant (a rerun gets a new one,
/// a retry of the same event rewrites the same keys, and a commit removes an earlier
/// attempt's extra objects at its own instant: docs/lake.md, "What a reader may rely on").
/// Versions are ordered by `serving_files.rank` (every folded file's place in the version
/// order, computed by `duff_core::serving`) and line: the rule is not written again here. A
/// file is in the history once its generation is committed, like in `order_line_current`.
pub const STATUS_HISTORY_SQL: &str = "SELECT order_id, product_id, from_status, to_status, changed_at, file_id, line
FROM (
  SELECT f.order_id, f.product_id,
    LAG(f.status) OVER (PARTITION BY f.order_id, f.product_id ORDER BY s.rank, f.line) AS from_status,
    f.status AS to_status, f.ingested_at AS changed_at, f.file_id, f.line
  FROM fact_order_line f
  JOIN serving_files s ON s.file_id = f.file_id AND s.ingested_at = f.ingested_at
) h
WHERE from_status IS NULL OR from_status <> to_status";

const STATUS_ORDER: &str =
    "CASE status WHEN 'created' THEN 1 WHEN 'delivered' THEN 2 WHEN 'broken' THEN 3 ELSE 4 END, status";
const CHANNEL_ORDER: &str =
    "CASE channel WHEN 'Retail' THEN 1 WHEN 'Online' THEN 2 WHEN 'B2B' THEN 3 ELSE 4 END, channel";

const NO_CHANNEL: (Filter, &str) = (Filter::Channel, " AND channel IS NULL");
const NO_STATUS: (Filter, &str) = (Filter::Status, " AND status IS NULL");

// Products: their cells summed (a product's cells add up, distinct orders included).
const SALES_BY_PRODUCT: Shape = Shape {
    head: &["SELECT g.product_id, COALESCE(d.product_description, '') AS product_description, g.orders, g.units,
  g.sales, g.volume_l
FROM (
  SELECT product_id, SUM(orders) AS orders, SUM(units) AS units, SUM(sales) AS sales, SUM(volume_l) AS volume_l
  FROM serving_cells_product
  WHERE TRUE"],
    absent: &[],
    tail: &["
  GROUP BY product_id
) g
LEFT JOIN serving_dim_product_current d ON d.product_id = g.product_id
ORDER BY g.product_id"],
};

const ORDER_STATUS_LINES: Shape = Shape {
    head: &["SELECT status, COUNT(DISTINCT order_id) AS orders, SUM(units) AS units, SUM(amount) AS sales
FROM order_line_current
WHERE TRUE"],
    absent: &[],
    tail: &[
        "
GROUP BY status
ORDER BY ",
        STATUS_ORDER,
    ],
};
const ORDER_STATUS_PRODUCT_CELLS: Shape = Shape {
    head: &["SELECT status, SUM(orders) AS orders, SUM(units) AS units, SUM(sales) AS sales
FROM serving_cells_product
WHERE TRUE"],
    absent: &[],
    tail: &[
        "
GROUP BY status
ORDER BY ",
        STATUS_ORDER,
    ],
};
// One cell per status (of the channel, or of every channel).
const ORDER_STATUS_TOTAL_CELLS: Shape = Shape {
    head: &["SELECT status, orders, units, sales
FROM serving_cells_total
WHERE status IS NOT NULL"],
    absent: &[NO_CHANNEL],
    tail: &[
        "
ORDER BY ",
        STATUS_ORDER,
    ],
};

// One cell per client (of the channel and status, or of all of them).
const ORDERS_BY_CLIENT: Shape = Shape {
    head: &["SELECT c.client_id, COALESCE(d.client_name, '') AS client_name, c.orders, c.units, c.sales
FROM (
  SELECT client_id, orders, units, sales
  FROM serving_cells_client
  WHERE TRUE"],
    absent: &[NO_CHANNEL, NO_STATUS],
    tail: &["
) c
LEFT JOIN serving_dim_client_current d ON d.client_id = c.client_id
ORDER BY c.client_id"],
};

const SALES_BY_CHANNEL_LINES: Shape = Shape {
    head: &["SELECT channel, COUNT(DISTINCT order_id) AS orders, SUM(units) AS units, SUM(amount) AS sales,
  SUM(volume_l) AS volume_l
FROM order_line_current
WHERE TRUE"],
    absent: &[],
    tail: &[
        "
GROUP BY channel
ORDER BY ",
        CHANNEL_ORDER,
    ],
};
const SALES_BY_CHANNEL_PRODUCT_CELLS: Shape = Shape {
    head: &[
        "SELECT channel, SUM(orders) AS orders, SUM(units) AS units, SUM(sales) AS sales, SUM(volume_l) AS volume_l
FROM serving_cells_product
WHERE TRUE",
    ],
    absent: &[],
    tail: &[
        "
GROUP BY channel
ORDER BY ",
        CHANNEL_ORDER,
    ],
};
// One cell per channel (of the status, or of every status).
const SALES_BY_CHANNEL_TOTAL_CELLS: Shape = Shape {
    head: &["SELECT channel, orders, units, sales, volume_l
FROM serving_cells_total
WHERE channel IS NOT NULL"],
    absent: &[NO_STATUS],
    tail: &[
        "
ORDER BY ",
        CHANNEL_ORDER,
    ],
};

// broken_rate = broken_lines / lines to 6 places, rounded half to even, in integers only:
// q = n / d and r = n % d with n = broken_lines × 10^6 (BIGINT truncating division, the same
// in both engines), plus one when 2r > d or (2r = d and q is odd); then an exact DECIMAL
// product scales the millionths back.
const BROKEN_RATE: &str = "CAST((g.broken_lines * 1000000) / g.lines
    + CASE WHEN 2 * ((g.broken_lines * 1000000) % g.lines) > g.lines
      OR (2 * ((g.broken_lines * 1000000) % g.lines) = g.lines AND ((g.broken_lines * 1000000) / g.lines) % 2 = 1)
      THEN 1 ELSE 0 END AS DECIMAL(18, 0)) * CAST('0.000001' AS DECIMAL(7, 6)) AS broken_rate";
const BROKEN_RATE_BY_PRODUCT_HEAD: &str =
    "SELECT g.product_id, COALESCE(d.product_description, '') AS product_description, g.lines,
  g.broken_lines, ";
const BROKEN_RATE_BY_PRODUCT_TAIL: &str = "
  GROUP BY product_id
) g
LEFT JOIN serving_dim_product_current d ON d.product_id = g.product_id
ORDER BY g.product_id";
const BROKEN_RATE_BY_PRODUCT_LINES: Shape = Shape {
    head: &[
        BROKEN_RATE_BY_PRODUCT_HEAD,
        BROKEN_RATE,
        "
FROM (
  SELECT product_id, COUNT(*) AS lines, SUM(CASE WHEN status = 'broken' THEN 1 ELSE 0 END) AS broken_lines
  FROM order_line_current
  WHERE TRUE",
    ],
    absent: &[],
    tail: &[BROKEN_RATE_BY_PRODUCT_TAIL],
};
const BROKEN_RATE_BY_PRODUCT_CELLS: Shape = Shape {
    head: &[
        BROKEN_RATE_BY_PRODUCT_HEAD,
        BROKEN_RATE,
        "
FROM (
  SELECT product_id, SUM(lines) AS lines, SUM(CASE WHEN status = 'broken' THEN lines ELSE 0 END) AS broken_lines
  FROM serving_cells_product
  WHERE TRUE",
    ],
    absent: &[],
    tail: &[BROKEN_RATE_BY_PRODUCT_TAIL],
};

const BROKEN_RATE_BY_CHANNEL_TAIL: &str = "
  GROUP BY channel
) g
ORDER BY CASE g.channel WHEN 'Retail' THEN 1 WHEN 'Online' THEN 2 WHEN 'B2B' THEN 3 ELSE 4 END, g.channel";
const BROKEN_RATE_BY_CHANNEL_LINES: Shape = Shape {
    head: &[
        "SELECT g.channel, g.lines, g.broken_lines, ",
        BROKEN_RATE,
        "
FROM (
  SELECT channel, COUNT(*) AS lines, SUM(CASE WHEN status = 'broken' THEN 1 ELSE 0 END) AS broken_lines
  FROM order_line_current
  WHERE TRUE",
    ],
    absent: &[],
    tail: &[BROKEN_RATE_BY_CHANNEL_TAIL],
};
const BROKEN_RATE_BY_CHANNEL_CELLS: Shape = Shape {
    head: &[
        "SELECT g.channel, g.lines, g.broken_lines, ",
        BROKEN_RATE,
        "
FROM (
  SELECT channel, SUM(lines) AS lines, SUM(CASE WHEN status = 'broken' THEN lines ELSE 0 END) AS broken_lines
  FROM serving_cells_product
  WHERE TRUE",
    ],
    absent: &[],
    tail: &[BROKEN_RATE_BY_CHANNEL_TAIL],
};

// avg_order_value = sales / orders to the cent, rounded half to even, in integers only (as
// BROKEN_RATE above, on the sales in cents). First and last seen are the client's (its
// dimension row), whatever the filters.
const CLIENT_VALUE_HEAD: &str =
    "SELECT g.client_id, COALESCE(d.client_name, '') AS client_name, g.orders, g.lines, g.units, g.sales,
  CAST(g.sales_cents / g.orders
    + CASE WHEN 2 * (g.sales_cents % g.orders) > g.orders
      OR (2 * (g.sales_cents % g.orders) = g.orders AND (g.sales_cents / g.orders) % 2 = 1)
      THEN 1 ELSE 0 END AS DECIMAL(18, 0)) * CAST('0.01' AS DECIMAL(3, 2)) AS avg_order_value,
  d.first_seen_at, d.last_seen_at
FROM (";
const CLIENT_VALUE_TAIL: &str = "
) g
LEFT JOIN serving_dim_client_current d ON d.client_id = g.client_id
ORDER BY g.client_id";
const CLIENT_VALUE_LINES: Shape = Shape {
    head: &[
        CLIENT_VALUE_HEAD,
        "
  SELECT client_id, COUNT(DISTINCT order_id) AS orders, COUNT(*) AS lines, SUM(units) AS units,
    SUM(amount) AS sales, CAST(SUM(amount) * 100 AS BIGINT) AS sales_cents
  FROM order_line_current
  WHERE TRUE",
    ],
    absent: &[],
    tail: &[
        "
  GROUP BY client_id",
        CLIENT_VALUE_TAIL,
    ],
};
const CLIENT_VALUE_CELLS: Shape = Shape {
    head: &[
        CLIENT_VALUE_HEAD,
        "
  SELECT client_id, orders, lines, units, sales, CAST(sales * 100 AS BIGINT) AS sales_cents
  FROM serving_cells_client
  WHERE TRUE",
    ],
    absent: &[NO_CHANNEL, NO_STATUS],
    tail: &[CLIENT_VALUE_TAIL],
};

// The client's name from its dimension row, when it has current lines (its cell of every
// channel and status exists exactly then).
const CLIENT_ORDERS_NAME: &str = "WITH client AS (
  SELECT d.client_name
  FROM serving_dim_client_current d
  JOIN serving_cells_client c ON c.client_id = d.client_id AND c.channel IS NULL AND c.status IS NULL
  WHERE d.client_id = ";
const CLIENT_ORDERS_PAGE: &str = "
),
page AS (
  SELECT order_id, product_id, product_description, units, unit_price, amount, volume_l, channel, status FROM (
    SELECT order_id, product_id, product_description, units, unit_price, amount, volume_l, channel, status,
      ROW_NUMBER() OVER (ORDER BY order_id, product_id) AS page_rank
    FROM order_line_current
    WHERE client_id = ";
const CLIENT_ORDERS_RANK: &str = "
  ) r
  WHERE page_rank <= ";
const CLIENT_ORDERS_TAIL: &str = "
)
SELECT client.client_name, page.order_id, page.product_id, page.product_description, page.units, page.unit_price,
  page.amount, page.volume_l, page.channel, page.status
FROM client LEFT JOIN page ON TRUE
ORDER BY page.order_id, page.product_id";

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders(sql: &str) -> (usize, usize) {
        (sql.matches('?').count(), sql.matches('$').count())
    }

    #[test]
    fn dialects_differ_only_in_placeholders() {
        let f = ReportFilter { channel: Some(Channel::B2B), status: Some(Status::Broken), ..ReportFilter::default() };
        for r in Report::ALL {
            let q = r.query(&f);
            let df = q.sql_text(Dialect::DataFusion);
            let athena = q.sql_text(Dialect::Athena);
            let n = q.params().len();
            assert_eq!(placeholders(&athena), (n, 0), "{}", r.name());
            assert_eq!(placeholders(&df), (0, n), "{}", r.name());
            let mut renumbered = athena.clone();
            for i in 1..=n {
                renumbered = renumbered.replacen('?', &format!("${i}"), 1);
            }
            assert_eq!(renumbered, df);
        }
    }

    #[test]
    fn only_allowed_filters_are_bound() {
        let f = ReportFilter {
            channel: Some(Channel::Online),
            status: Some(Status::Created),
            client_id: Some(7),
            product_id: Some(9),
        };
        assert_eq!(Report::SalesByProduct.query(&f).params(), &[Value::Text("Online"), Value::Text("created")]);
        assert_eq!(Report::OrderStatus.query(&f).params(), &[Value::Int(7), Value::Int(9), Value::Text("Online")]);
        assert_eq!(Report::OrdersByClient.query(&ReportFilter::default()).params(), &[]);
        let sql = Report::OrderStatus.query(&f).sql_text(Dialect::DataFusion);
        assert!(sql.contains("AND client_id = $1 AND product_id = $2 AND channel = $3"), "{sql}");
    }

    #[test]
    fn client_orders_binds_every_value() {
        let q = ClientOrders {
            client_id: 1001,
            status: Some(Status::Delivered),
            channel: None,
            after: Some(PageKey { order_id: 5678, product_id: 102 }),
            limit: 100,
        }
        .query();
        assert_eq!(
            q.params(),
            &[
                Value::Int(1001),
                Value::Int(1001),
                Value::Text("delivered"),
                Value::Int(5678),
                Value::Int(5678),
                Value::Int(102),
                Value::Int(101)
            ]
        );
        let sql = q.sql_text(Dialect::Athena);
        assert!(!sql.contains("1001") && !sql.contains("5678") && !sql.contains("delivered"), "{sql}");
    }

    #[test]
    fn athena_literals_are_typed_and_quoted() {
        assert_eq!(Value::Int(-5).athena_literal(), Ok("-5".into()));
        assert_eq!(Value::Text("B2B").athena_literal(), Ok("'B2B'".into()));
        assert_eq!(Value::Text("it's").athena_literal(), Ok("'it''s'".into()));
        assert_eq!(Value::Text("a\nb").athena_literal(), Err(InvalidValue));
    }

    #[test]
    fn report_names_round_trip() {
        for r in Report::ALL {
            assert_eq!(Report::from_name(r.name()), Some(r));
        }
        assert_eq!(Report::from_name("nope"), None);
    }
}
