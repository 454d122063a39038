//! The report catalog: every query the API runs, in one place.
//!
//! Each report has a name, an allow-list of typed filters and SQL text in which every value
//! is a bound parameter. The SQL is written once, in the subset of SQL that DataFusion and
//! Athena (Trino) agree on, and rendered per [`Dialect`] only where they differ:
//!
//! | what | DataFusion | Athena |
//! |---|---|---|
//! | placeholders | `$1`, `$2`, ... | `?` (values sent as `ExecutionParameters`, in order) |
//! | `order_line_current` | a table the engine materialises from [`CURRENT_STATE_SQL`] | a view whose body is [`CURRENT_STATE_SQL`] (`deploy/athena/`) |
//! | decimal sums | `DECIMAL(28, s)` | `DECIMAL(38, s)` |
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    pub fn query(self, filter: &ReportFilter) -> Query {
        let mut q = Query::new(self.name());
        let (head, tail) = match self {
            Report::SalesByProduct => (SALES_BY_PRODUCT_HEAD, SALES_BY_PRODUCT_TAIL),
            Report::OrderStatus => (ORDER_STATUS_HEAD, ORDER_STATUS_TAIL),
            Report::OrdersByClient => (ORDERS_BY_CLIENT_HEAD, ORDERS_BY_CLIENT_TAIL),
            Report::SalesByChannel => (SALES_BY_CHANNEL_HEAD, SALES_BY_CHANNEL_TAIL),
            Report::BrokenRateByProduct => (BROKEN_RATE_BY_PRODUCT_HEAD, BROKEN_RATE_BY_PRODUCT_TAIL),
            Report::BrokenRateByChannel => (BROKEN_RATE_BY_CHANNEL_HEAD, BROKEN_RATE_BY_CHANNEL_TAIL),
            Report::ClientValue => (CLIENT_VALUE_HEAD, CLIENT_VALUE_TAIL),
        };
        q.sql(head);
        for f in self.filters() {
            if let Some(v) = f.value(filter) {
                q.sql(f.condition());
                q.param(v);
            }
        }
        q.sql(tail);
        q
    }
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
/// Every row carries `client_name` (the name on the client's latest line). A client with
/// no line at all gives no row (404); a known client whose lines the filters exclude gives
/// one row whose order columns are NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// The name of the current-state relation every report reads.
pub const CURRENT_STATE: &str = "order_line_current";

/// The current state of the order lines: the latest version of every `(order_id,
/// product_id)` among the files whose manifest says `published` (matching `file_id` and
/// `ingest_date`), latest = greatest `(ingested_at, source, file_id, line)`, as
/// `duff_core::CurrentState` defines it. With the first time the line was seen and its
/// number of versions.
///
/// The version order is made one `BIGINT`, `version = file_rank × 2^40 + line`, where
/// `file_rank` numbers the published files by `(ingested_at, source, file_id)`: the latest
/// version of a line is then a `MAX` (a hash aggregate and a hash join, no sort of the
/// facts), and `version` identifies a current row, so that the reports find the values of a
/// group's latest line with a join on `(key, MAX(version))` instead of a window. Lines past
/// 2^40 in one file or more than 2^23 files would overflow: neither is near.
///
/// Athena: the body of the view `order_line_current`. DataFusion: materialised into a
/// table of that name (see `duff_sql::DataFusionEngine`).
pub const CURRENT_STATE_SQL: &str = "WITH files AS (
  SELECT file_id, ingest_date,
    CAST(ROW_NUMBER() OVER (ORDER BY ingested_at_micros, source, file_id) AS BIGINT) AS file_rank
  FROM manifests
  WHERE outcome = 'published'
),
versions AS (
  SELECT f.order_id, f.product_id, f.client_id, f.client_name, f.product_description, f.unit_price, f.units,
    f.unit_volume_l, f.channel, f.status, f.amount, f.volume_l, f.ingested_at, f.source, f.file_id, f.line,
    f.ingest_date, files.file_rank * 1099511627776 + f.line AS version
  FROM fact_order_line f
  JOIN files ON files.file_id = f.file_id AND files.ingest_date = f.ingest_date
),
latest AS (
  SELECT order_id, product_id, MAX(version) AS version, MIN(ingested_at) AS first_seen_at, COUNT(*) AS versions
  FROM versions
  GROUP BY order_id, product_id
)
-- One row per line even if an object of a committed file exists twice (a writer that lost a
-- commit race and crashed before removing its copy): the copies hold the same values.
SELECT v.order_id, v.product_id, MIN(v.client_id) AS client_id, MIN(v.client_name) AS client_name,
  MIN(v.product_description) AS product_description, MIN(v.unit_price) AS unit_price, MIN(v.units) AS units,
  MIN(v.unit_volume_l) AS unit_volume_l, MIN(v.channel) AS channel, MIN(v.status) AS status,
  MIN(v.amount) AS amount, MIN(v.volume_l) AS volume_l, MIN(v.ingested_at) AS updated_at,
  MIN(latest.first_seen_at) AS first_seen_at, MIN(latest.versions) AS versions, MIN(v.source) AS source,
  MIN(v.file_id) AS file_id, MIN(v.line) AS line, MIN(v.ingest_date) AS ingest_date, v.version
FROM versions v
JOIN latest ON latest.order_id = v.order_id AND latest.product_id = v.product_id AND latest.version = v.version
GROUP BY v.order_id, v.product_id, v.version";

/// The history of statuses: every first observation and every change of status of an order
/// line, in version order, among published files (as `duff_core::StatusHistory` records it).
/// Athena: the view `order_status_history`.
pub const STATUS_HISTORY_SQL: &str = "SELECT order_id, product_id, from_status, to_status, changed_at, file_id, line
FROM (
  SELECT f.order_id, f.product_id,
    LAG(f.status) OVER (PARTITION BY f.order_id, f.product_id
      ORDER BY f.ingested_at, f.source, f.file_id, f.line) AS from_status,
    f.status AS to_status, f.ingested_at AS changed_at, f.file_id, f.line
  FROM fact_order_line f
  JOIN manifests m ON m.file_id = f.file_id AND m.ingest_date = f.ingest_date
  WHERE m.outcome = 'published'
) h
WHERE from_status IS NULL OR from_status <> to_status";

const SALES_BY_PRODUCT_HEAD: &str = "SELECT g.product_id, d.product_description, g.orders, g.units, g.sales, g.volume_l
FROM (
  SELECT product_id, COUNT(DISTINCT order_id) AS orders, SUM(units) AS units, SUM(amount) AS sales,
    SUM(volume_l) AS volume_l, MAX(version) AS latest
  FROM order_line_current
  WHERE TRUE";
const SALES_BY_PRODUCT_TAIL: &str = "
  GROUP BY product_id
) g
JOIN order_line_current d ON d.product_id = g.product_id AND d.version = g.latest
ORDER BY g.product_id";

const ORDER_STATUS_HEAD: &str =
    "SELECT status, COUNT(DISTINCT order_id) AS orders, SUM(units) AS units, SUM(amount) AS sales
FROM order_line_current
WHERE TRUE";
const ORDER_STATUS_TAIL: &str = "
GROUP BY status
ORDER BY CASE status WHEN 'created' THEN 1 WHEN 'delivered' THEN 2 WHEN 'broken' THEN 3 ELSE 4 END, status";

const ORDERS_BY_CLIENT_HEAD: &str = "SELECT g.client_id, d.client_name, g.orders, g.units, g.sales
FROM (
  SELECT client_id, COUNT(DISTINCT order_id) AS orders, SUM(units) AS units, SUM(amount) AS sales,
    MAX(version) AS latest
  FROM order_line_current
  WHERE TRUE";
const ORDERS_BY_CLIENT_TAIL: &str = "
  GROUP BY client_id
) g
JOIN order_line_current d ON d.client_id = g.client_id AND d.version = g.latest
ORDER BY g.client_id";

const SALES_BY_CHANNEL_HEAD: &str =
    "SELECT channel, COUNT(DISTINCT order_id) AS orders, SUM(units) AS units, SUM(amount) AS sales,
  SUM(volume_l) AS volume_l
FROM order_line_current
WHERE TRUE";
const SALES_BY_CHANNEL_TAIL: &str = "
GROUP BY channel
ORDER BY CASE channel WHEN 'Retail' THEN 1 WHEN 'Online' THEN 2 WHEN 'B2B' THEN 3 ELSE 4 END, channel";

// broken_rate = broken_lines / lines to 6 places, rounded half to even, in integers only:
// q = n / d and r = n % d with n = broken_lines × 10^6 (BIGINT truncating division, the same
// in both engines), plus one when 2r > d or (2r = d and q is odd); then an exact DECIMAL
// product scales the millionths back.
const BROKEN_RATE_BY_PRODUCT_HEAD: &str = "SELECT g.product_id, d.product_description, g.lines, g.broken_lines,
  CAST((g.broken_lines * 1000000) / g.lines
    + CASE WHEN 2 * ((g.broken_lines * 1000000) % g.lines) > g.lines
      OR (2 * ((g.broken_lines * 1000000) % g.lines) = g.lines AND ((g.broken_lines * 1000000) / g.lines) % 2 = 1)
      THEN 1 ELSE 0 END AS DECIMAL(18, 0)) * CAST('0.000001' AS DECIMAL(7, 6)) AS broken_rate
FROM (
  SELECT product_id, COUNT(*) AS lines, SUM(CASE WHEN status = 'broken' THEN 1 ELSE 0 END) AS broken_lines,
    MAX(version) AS latest
  FROM order_line_current
  WHERE TRUE";
const BROKEN_RATE_BY_PRODUCT_TAIL: &str = "
  GROUP BY product_id
) g
JOIN order_line_current d ON d.product_id = g.product_id AND d.version = g.latest
ORDER BY g.product_id";

const BROKEN_RATE_BY_CHANNEL_HEAD: &str = "SELECT g.channel, g.lines, g.broken_lines,
  CAST((g.broken_lines * 1000000) / g.lines
    + CASE WHEN 2 * ((g.broken_lines * 1000000) % g.lines) > g.lines
      OR (2 * ((g.broken_lines * 1000000) % g.lines) = g.lines AND ((g.broken_lines * 1000000) / g.lines) % 2 = 1)
      THEN 1 ELSE 0 END AS DECIMAL(18, 0)) * CAST('0.000001' AS DECIMAL(7, 6)) AS broken_rate
FROM (
  SELECT channel, COUNT(*) AS lines, SUM(CASE WHEN status = 'broken' THEN 1 ELSE 0 END) AS broken_lines
  FROM order_line_current
  WHERE TRUE";
const BROKEN_RATE_BY_CHANNEL_TAIL: &str = "
  GROUP BY channel
) g
ORDER BY CASE g.channel WHEN 'Retail' THEN 1 WHEN 'Online' THEN 2 WHEN 'B2B' THEN 3 ELSE 4 END, g.channel";

// avg_order_value = sales / orders to the cent, rounded half to even, in integers only (as
// broken_rate above, on the sales in cents).
const CLIENT_VALUE_HEAD: &str = "SELECT g.client_id, d.client_name, g.orders, g.lines, g.units, g.sales,
  CAST(g.sales_cents / g.orders
    + CASE WHEN 2 * (g.sales_cents % g.orders) > g.orders
      OR (2 * (g.sales_cents % g.orders) = g.orders AND (g.sales_cents / g.orders) % 2 = 1)
      THEN 1 ELSE 0 END AS DECIMAL(18, 0)) * CAST('0.01' AS DECIMAL(3, 2)) AS avg_order_value,
  g.first_seen_at, g.last_seen_at
FROM (
  SELECT client_id, COUNT(DISTINCT order_id) AS orders, COUNT(*) AS lines, SUM(units) AS units,
    SUM(amount) AS sales, CAST(SUM(amount) * 100 AS BIGINT) AS sales_cents, MIN(first_seen_at) AS first_seen_at,
    MAX(updated_at) AS last_seen_at, MAX(version) AS latest
  FROM order_line_current
  WHERE TRUE";
const CLIENT_VALUE_TAIL: &str = "
  GROUP BY client_id
) g
JOIN order_line_current d ON d.client_id = g.client_id AND d.version = g.latest
ORDER BY g.client_id";

const CLIENT_ORDERS_NAME: &str = "WITH client AS (
  SELECT client_name FROM (
    SELECT client_name, ROW_NUMBER() OVER (ORDER BY version DESC) AS name_rank
    FROM order_line_current
    WHERE client_id = ";
const CLIENT_ORDERS_PAGE: &str = "
  ) n
  WHERE name_rank = 1
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
