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

/// The number of client and total slices: `(channel or all) × (status or all)`.
const SLICES: usize = 16;

/// The number of product cells per product: `channel × status`.
const PRODUCT_CELLS: usize = 9;

/// The place of a channel (or all, first) in [`Slice`] order.
fn channel_rank(c: Option<Channel>) -> usize {
    match c {
        None => 0,
        Some(Channel::Retail) => 1,
        Some(Channel::Online) => 2,
        Some(Channel::B2B) => 3,
    }
}

/// The place of a status (or all, first) in [`Slice`] order.
fn status_rank(s: Option<Status>) -> usize {
    match s {
        None => 0,
        Some(Status::Created) => 1,
        Some(Status::Delivered) => 2,
        Some(Status::Broken) => 3,
    }
}

/// The slot of a slice among a client's [`SLICES`] cells, in the order of [`Slice`].
fn slot(c: Option<Channel>, s: Option<Status>) -> usize {
    channel_rank(c) * 4 + status_rank(s)
}

/// The slice of a slot (the inverse of [`slot`]).
fn slice_of(slot: usize) -> Slice {
    let c = [None, Some(Channel::Retail), Some(Channel::Online), Some(Channel::B2B)];
    let s = [None, Some(Status::Created), Some(Status::Delivered), Some(Status::Broken)];
    (c[slot / 4], s[slot % 4])
}

/// The four slots a line belongs to: by channel and status, by channel, by status, all.
fn slots(l: &Line) -> [usize; 4] {
    let (c, s) = (Some(l.channel), Some(l.status));
    [slot(c, s), slot(c, None), slot(None, s), slot(None, None)]
}

/// The slot of a line among its product's [`PRODUCT_CELLS`] cells, in `(channel, status)`
/// order.
fn product_slot(l: &Line) -> usize {
    (channel_rank(Some(l.channel)) - 1) * 3 + status_rank(Some(l.status)) - 1
}

/// The `(channel, status)` of a product slot (the inverse of [`product_slot`]).
fn product_cell_of(slot: usize) -> (Channel, Status) {
    (Channel::ALL[slot / 3], Status::ALL[slot % 3])
}

/// Every cell of some ids (clients or products), `N` per id: one hash lookup finds all of an
/// id's cells, which lie together.
#[derive(Debug, Clone)]
struct IdCells<const N: usize> {
    /// The place of each id's cells in `cells`.
    index: IntMap<i64, usize>,
    /// Each id with its cells, in the order the ids were first met.
    cells: Vec<(i64, [Sums; N])>,
    /// The id found last and its place (an order's lines usually share a client).
    last: Option<(i64, usize)>,
}

impl<const N: usize> Default for IdCells<N> {
    fn default() -> Self {
        IdCells { index: IntMap::default(), cells: Vec::new(), last: None }
    }
}

impl<const N: usize> IdCells<N> {
    /// The cells of `id`, created empty when new.
    fn of(&mut self, id: i64) -> &mut [Sums; N] {
        let i = match self.last {
            Some((last, i)) if last == id => i,
            _ => {
                let next = self.cells.len();
                let i = *self.index.entry(id).or_insert(next);
                if i == next {
                    self.cells.push((id, [Sums::default(); N]));
                }
                self.last = Some((id, i));
                i
            }
        };
        &mut self.cells[i].1
    }

    /// Every id's cells, by id.
    fn sorted(&self) -> impl Iterator<Item = &(i64, [Sums; N])> {
        let mut order: Vec<(i64, usize)> = self.index.iter().map(|(id, i)| (*id, *i)).collect();
        order.sort_unstable();
        order.into_iter().map(|(_, i)| &self.cells[i])
    }
}

/// Changes to a [`Cube`], gathered order by order and applied at once ([`Cube::apply`]):
/// cells found by one hash lookup per client (and per product) while a file is folded,
/// then one ordered merge.
#[derive(Debug, Clone, Default)]
pub struct CubeDelta {
    /// Per product, its `(channel, status)` cells.
    products: IdCells<PRODUCT_CELLS>,
    /// Per client, its `(channel or all, status or all)` cells.
    clients: IdCells<SLICES>,
    /// The `(channel or all, status or all)` cells, by slot.
    totals: [Sums; SLICES],
    /// Scratch of [`CubeDelta::add_lines`]: the clients of one order, each with the slots
    /// that already counted the order.
    order_clients: Vec<(i64, u16)>,
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

    /// [`CubeDelta::add_order`] over an iterator of the order's lines.
    pub fn add_lines<'a, I>(&mut self, lines: I, sign: i64)
    where
        I: Iterator<Item = &'a Line> + Clone,
    {
        // The order counts once in each cell it has lines in: the slots of each of its
        // clients (and of the totals) that already counted it.
        let mut seen = std::mem::take(&mut self.order_clients);
        let mut totals_seen = 0u16;
        for l in lines {
            let line = Sums {
                orders: 0,
                lines: sign,
                units: i128::from(sign) * i128::from(l.units),
                amount: i128::from(sign) * i128::from(l.amount),
                volume: i128::from(sign) * i128::from(l.volume),
            };
            // An order has one line per product: each line is one order of its product cell.
            let p = &mut self.products.of(l.key.product_id)[product_slot(l)];
            p.add(&line);
            p.orders += sign;
            let slots = slots(l);
            let mask = slots.iter().fold(0u16, |m, s| m | 1 << s);
            let new_for_client = match seen.iter_mut().find(|(c, _)| *c == l.client_id) {
                Some((_, counted)) => {
                    let new = mask & !*counted;
                    *counted |= mask;
                    new
                }
                None => {
                    seen.push((l.client_id, mask));
                    mask
                }
            };
            let new_for_totals = mask & !totals_seen;
            totals_seen |= mask;
            let client = self.clients.of(l.client_id);
            for s in slots {
                let bit = 1u16 << s;
                client[s].add(&line);
                if new_for_client & bit != 0 {
                    client[s].orders += sign;
                }
                self.totals[s].add(&line);
                if new_for_totals & bit != 0 {
                    self.totals[s].orders += sign;
                }
            }
        }
        seen.clear();
        self.order_clients = seen;
    }
}

/// Adds `delta` (sorted by key, each key once) to `cells`; a group left without lines
/// disappears (the reports list only groups with lines).
fn merge<K: Ord + Copy>(cells: &mut BTreeMap<K, Sums>, delta: impl Iterator<Item = (K, Sums)>) {
    let delta = delta.filter(|(_, d)| !d.is_zero());
    if cells.is_empty() {
        // A first build: the sorted cells are laid out at once.
        *cells = delta.collect();
        return;
    }
    for (k, d) in delta {
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
        let products = delta.products.sorted().flat_map(|(id, cells)| {
            cells.iter().enumerate().map(move |(slot, d)| {
                let (c, s) = product_cell_of(slot);
                ((*id, c, s), *d)
            })
        });
        merge(&mut self.products, products);
        let clients = delta.clients.sorted().flat_map(|(id, cells)| {
            cells.iter().enumerate().map(move |(slot, d)| {
                let (c, s) = slice_of(slot);
                ((*id, c, s), *d)
            })
        });
        merge(&mut self.clients, clients);
        merge(&mut self.totals, delta.totals.iter().enumerate().map(|(slot, d)| (slice_of(slot), *d)));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_the_order_of_their_cells() {
        let slices: Vec<Slice> = (0..SLICES).map(slice_of).collect();
        assert!(slices.windows(2).all(|w| w[0] < w[1]), "{slices:?}");
        for (i, (c, s)) in slices.iter().enumerate() {
            assert_eq!(slot(*c, *s), i);
        }
        let cells: Vec<(Channel, Status)> = (0..PRODUCT_CELLS).map(product_cell_of).collect();
        assert!(cells.windows(2).all(|w| w[0] < w[1]), "{cells:?}");
        assert_eq!(cells.len(), Channel::ALL.len() * Status::ALL.len());
    }
}
