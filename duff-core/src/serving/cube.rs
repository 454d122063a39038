//! The report aggregates, maintained order by order as files are folded.
//!
//! Three tables of cells hold every figure the reports show when no client is chosen:
//!
//! | cells | key | figures |
//! |---|---|---|
//! | `products` | `(product_id, channel, status)` | lines, units, amount, volume (an order has one line per product, so lines are also its distinct orders) |
//! | `clients` | `(client_id, channel or all, status or all)` | distinct orders, lines, units, amount, volume |
//! | `totals` | `(channel or all, status or all)` | distinct orders, lines, units, amount, volume |
//!
//! Distinct orders do not add up across groups, so the cells are kept per *order*: when a
//! file changes some lines of an order, the order's whole contribution before is taken out
//! and its contribution after is put in ([`Cube::add_order`]). Every figure is then exact,
//! whatever the order of the files. A report filtered on one client is answered from that
//! client's lines instead ([`crate::reports::report`]).

use super::dims::Dims;
use super::line::Line;
use crate::hash::IntMap;
use crate::reports::{ChannelBrokenRate, ProductBrokenRate, Report, ReportFilter, Rows, Sums, broken_rate};
use crate::{Channel, Status};
use std::collections::BTreeMap;

/// `(channel or all, status or all)`.
pub type Slice = (Option<Channel>, Option<Status>);

/// `(client_id, channel or all, status or all)`.
pub type ClientSlice = (i64, Option<Channel>, Option<Status>);

/// The four slices a line belongs to: by channel and status, by channel, by status, all.
fn slices(l: &Line) -> [Slice; 4] {
    [(Some(l.channel), Some(l.status)), (Some(l.channel), None), (None, Some(l.status)), (None, None)]
}

/// The aggregates behind the reports: cells per product, per client and in total, each by
/// channel and status (see [`crate::serving`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cube {
    /// `(product_id, channel, status)` cells.
    pub products: BTreeMap<(i64, Channel, Status), Sums>,
    /// `(client_id, channel or all, status or all)` cells.
    pub clients: BTreeMap<ClientSlice, Sums>,
    /// `(channel or all, status or all)` cells.
    pub totals: BTreeMap<Slice, Sums>,
}

/// Changes to a [`Cube`], gathered order by order and applied at once ([`Cube::apply`]):
/// hashing cells while a file is folded, then one ordered merge.
#[derive(Debug, Clone, Default)]
pub struct CubeDelta {
    products: IntMap<(i64, Channel, Status), Sums>,
    clients: IntMap<ClientSlice, Sums>,
    totals: IntMap<Slice, Sums>,
    /// Scratch of [`CubeDelta::add_lines`]: one order's client and total cells.
    order_clients: Vec<(ClientSlice, Sums)>,
    order_totals: Vec<(Slice, Sums)>,
}

impl CubeDelta {
    /// No change.
    pub fn new() -> CubeDelta {
        CubeDelta::default()
    }

    /// Adds (`sign` = 1) or takes out (`sign` = -1) the contribution of one order: `lines`
    /// must be every current line of one `order_id`.
    pub fn add_order(&mut self, lines: &[&Line], sign: i64) {
        self.add_lines(lines.iter().copied(), sign);
    }

    /// [`CubeDelta::add_order`] over an iterator of the order's lines (walked twice).
    pub fn add_lines<'a, I>(&mut self, lines: I, sign: i64)
    where
        I: Iterator<Item = &'a Line> + Clone,
    {
        // Per line: the product cells (an order has one line per product: one order each).
        for l in lines.clone() {
            let d = self.products.entry((l.key.product_id, l.channel, l.status)).or_default();
            d.add_line(l, sign);
            d.orders += sign;
        }
        // Per client and slice, and per slice: the order counts once.
        let mut client_cells = std::mem::take(&mut self.order_clients);
        let mut total_cells = std::mem::take(&mut self.order_totals);
        for l in lines {
            for (c, s) in slices(l) {
                let key = (l.client_id, c, s);
                match client_cells.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, d)) => d.add_line(l, sign),
                    None => {
                        let mut d = Sums { orders: sign, ..Sums::default() };
                        d.add_line(l, sign);
                        client_cells.push((key, d));
                    }
                }
                match total_cells.iter_mut().find(|(k, _)| *k == (c, s)) {
                    Some((_, d)) => d.add_line(l, sign),
                    None => {
                        let mut d = Sums { orders: sign, ..Sums::default() };
                        d.add_line(l, sign);
                        total_cells.push(((c, s), d));
                    }
                }
            }
        }
        for (k, d) in client_cells.drain(..) {
            self.clients.entry(k).or_default().add(&d);
        }
        for (k, d) in total_cells.drain(..) {
            self.totals.entry(k).or_default().add(&d);
        }
        self.order_clients = client_cells;
        self.order_totals = total_cells;
    }
}

/// Adds `delta` to `cells`; a group left without lines disappears (the reports list only
/// groups with lines).
fn merge<K: Ord + std::hash::Hash + Copy>(cells: &mut BTreeMap<K, Sums>, delta: IntMap<K, Sums>) {
    for (k, d) in delta {
        if d.is_zero() {
            continue;
        }
        let cell = cells.entry(k).or_default();
        cell.add(&d);
        if cell.is_zero() {
            cells.remove(&k);
        }
    }
}

impl Cube {
    /// No line.
    pub fn new() -> Cube {
        Cube::default()
    }

    /// Applies changes gathered by a [`CubeDelta`].
    pub fn apply(&mut self, delta: CubeDelta) {
        merge(&mut self.products, delta.products);
        merge(&mut self.clients, delta.clients);
        merge(&mut self.totals, delta.totals);
    }

    /// Adds (`sign` = 1) or takes out (`sign` = -1) the contribution of one order: `lines`
    /// must be every current line of one `order_id`.
    pub fn add_order(&mut self, lines: &[&Line], sign: i64) {
        let mut d = CubeDelta::new();
        d.add_order(lines, sign);
        self.apply(d);
    }

    /// Builds the cube of a whole state: `orders` gives every current line, grouped by order.
    pub fn of_orders<'a>(orders: impl IntoIterator<Item = Vec<&'a Line>>) -> Cube {
        let mut d = CubeDelta::new();
        for o in orders {
            d.add_order(&o, 1);
        }
        let mut c = Cube::new();
        c.apply(d);
        c
    }

    /// Lines, units, amount and litres of every current line.
    pub fn total(&self) -> Sums {
        self.totals.get(&(None, None)).copied().unwrap_or_default()
    }

    /// True when a client has current lines.
    pub fn has_client(&self, client_id: i64) -> bool {
        self.clients.contains_key(&(client_id, None, None))
    }

    /// A report from the cells, or `None` when the cells cannot answer it: a client filter
    /// together with a product (filter or grouping: `sales-by-product`,
    /// `broken-rate-by-product`). Answer those from the client's lines with
    /// [`crate::reports::report`].
    pub fn report(&self, report: Report, dims: &Dims, filter: &ReportFilter) -> Option<Rows> {
        let f = report.accepted(filter);
        if f.client_id.is_some()
            && (f.product_id.is_some() || matches!(report, Report::SalesByProduct | Report::BrokenRateByProduct))
        {
            return None;
        }
        // The `(channel or all, status or all)` cell of the lines asked for: of every client,
        // or of the one filtered on.
        let cell = |c: Option<Channel>, s: Option<Status>| match f.client_id {
            Some(id) => self.clients.get(&(id, c, s)),
            None => self.totals.get(&(c, s)),
        };
        // The `(channel, status)` slice of every client, or the one cell of the client
        // filtered on (a lookup, not a scan of every client's cells).
        let client_slice = || -> Vec<(i64, &Sums)> {
            match f.client_id {
                Some(id) => self.clients.get(&(id, f.channel, f.status)).map(|s| (id, s)).into_iter().collect(),
                None => self
                    .clients
                    .iter()
                    .filter(|((_, c, s), _)| (*c, *s) == (f.channel, f.status))
                    .map(|((id, _, _), s)| (*id, s))
                    .collect(),
            }
        };
        let keep = |c: Channel, s: Status| f.channel.is_none_or(|x| x == c) && f.status.is_none_or(|x| x == s);
        // Product cells summed per `key`, for the lines of `f` (and `product_id` when given).
        let by_product_cells = |key: &dyn Fn(i64, Channel, Status) -> Option<Group>| {
            let mut out: BTreeMap<Group, Sums> = BTreeMap::new();
            for (&(p, c, s), sums) in &self.products {
                if keep(c, s)
                    && f.product_id.is_none_or(|x| x == p)
                    && let Some(k) = key(p, c, s)
                {
                    out.entry(k).or_default().add(sums);
                }
            }
            out
        };
        Some(match report {
            Report::SalesByProduct => Rows::SalesByProduct(
                by_product_cells(&|p, _, _| Some(Group::Product(p)))
                    .into_iter()
                    .filter_map(|(g, s)| g.product().map(|p| s.product_sales(p, dims)))
                    .collect(),
            ),
            Report::OrderStatus => {
                let rows = match f.product_id {
                    Some(_) => by_product_cells(&|_, _, s| Some(Group::Status(s)))
                        .into_iter()
                        .filter_map(|(g, sums)| g.status().map(|s| sums.status_sales(s)))
                        .collect(),
                    None => Status::ALL
                        .into_iter()
                        .filter_map(|s| cell(f.channel, Some(s)).map(|sums| sums.status_sales(s)))
                        .collect(),
                };
                Rows::OrderStatus(rows)
            }
            Report::OrdersByClient => {
                Rows::OrdersByClient(client_slice().into_iter().map(|(id, sums)| sums.client_sales(id, dims)).collect())
            }
            Report::SalesByChannel => {
                let rows = match f.product_id {
                    Some(_) => by_product_cells(&|_, c, _| Some(Group::Channel(c)))
                        .into_iter()
                        .filter_map(|(g, sums)| g.channel().map(|c| sums.channel_sales(c)))
                        .collect(),
                    None => Channel::ALL
                        .into_iter()
                        .filter_map(|c| cell(Some(c), f.status).map(|sums| sums.channel_sales(c)))
                        .collect(),
                };
                Rows::SalesByChannel(rows)
            }
            Report::BrokenRateByProduct => {
                let all = by_product_cells(&|p, _, _| Some(Group::Product(p)));
                let broken = by_product_cells(&|p, _, s| (s == Status::Broken).then_some(Group::Product(p)));
                Rows::BrokenRateByProduct(
                    all.into_iter()
                        .filter_map(|(g, sums)| {
                            let p = g.product()?;
                            let b = broken.get(&g).map_or(0, |b| b.lines);
                            let (lines, broken_lines, broken_rate) = broken_rate(sums.lines, b);
                            Some(ProductBrokenRate {
                                product_id: p,
                                product_description: dims.product_description(p).to_owned(),
                                lines,
                                broken_lines,
                                broken_rate,
                            })
                        })
                        .collect(),
                )
            }
            Report::BrokenRateByChannel => {
                let figures: Vec<(Channel, i64, i64)> = match f.product_id {
                    Some(_) => {
                        let all = by_product_cells(&|_, c, _| Some(Group::Channel(c)));
                        let broken = by_product_cells(&|_, c, s| (s == Status::Broken).then_some(Group::Channel(c)));
                        all.iter()
                            .filter_map(|(g, s)| Some((g.channel()?, s.lines, broken.get(g).map_or(0, |b| b.lines))))
                            .collect()
                    }
                    None => Channel::ALL
                        .into_iter()
                        .filter_map(|c| {
                            let all = cell(Some(c), None)?;
                            let b = cell(Some(c), Some(Status::Broken)).map_or(0, |b| b.lines);
                            Some((c, all.lines, b))
                        })
                        .collect(),
                };
                Rows::BrokenRateByChannel(
                    figures
                        .into_iter()
                        .map(|(channel, all, b)| {
                            let (lines, broken_lines, broken_rate) = broken_rate(all, b);
                            ChannelBrokenRate { channel, lines, broken_lines, broken_rate }
                        })
                        .collect(),
                )
            }
            Report::ClientValue => {
                Rows::ClientValue(client_slice().into_iter().map(|(id, sums)| sums.client_value(id, dims)).collect())
            }
        })
    }
}

/// A group of product cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    Product(i64),
    Status(Status),
    Channel(Channel),
}

impl Group {
    fn product(self) -> Option<i64> {
        if let Group::Product(p) = self { Some(p) } else { None }
    }

    fn status(self) -> Option<Status> {
        if let Group::Status(s) = self { Some(s) } else { None }
    }

    fn channel(self) -> Option<Channel> {
        if let Group::Channel(c) = self { Some(c) } else { None }
    }
}
