//! The reports in one pass over a compact, sorted state: the pipeline's report stage.
//!
//! [`CurrentState`](crate::CurrentState) keeps everything about every order line (for the
//! models and the API); the reports need less. [`ReportState`] keeps one 72-byte row per
//! line version read, with no hash table: [`finish`](ReportState::finish) ranks the files
//! by version, sorts the rows by `(order_id, product_id, version)`, keeps the latest version
//! of each line, and then every report is one scan in key order. The lines of an order are
//! adjacent in that order, so distinct orders are counted without a set per group.
//!
//! Its answers equal the reference functions of [`reports`](crate::reports) over a
//! [`CurrentState`](crate::CurrentState) built from the same files (a property test).

use crate::error::{ErrorKind, Result};
use crate::hash::{IntBuild, IntMap};
use crate::lake::{FileId, FileMeta};
use crate::model::{Channel, MONEY_SCALE, Status};
use crate::number::{format_litres, format_scaled};
use crate::reports::{ChannelSales, ClientSales, ProductSales, ReportFilter, StatusSales, Totals};
use crate::tables::{MONEY, VOLUME};
use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use std::collections::HashMap;

/// The fact columns the reports read (a Parquet projection can skip the others).
pub const REPORT_COLUMNS: [&str; 11] = [
    "order_id",
    "product_id",
    "client_id",
    "client_name",
    "product_description",
    "units",
    "channel",
    "status",
    "amount",
    "volume_l",
    "line",
];

/// Lines are numbered below 2^40 (a trillion lines); the file's rank fills the bits above.
const LINE_BITS: u32 = 40;

/// One version of one order line, as much as the reports need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Row {
    order_id: i64,
    product_id: i64,
    client_id: i64,
    units: i64,
    amount: i64,
    volume: i64,
    /// `(file << 40) | line`: the file's slot while reading, its version rank after
    /// [`ReportState::finish`], so that comparing versions compares two integers.
    version: u64,
    client_name: u32,
    product_description: u32,
    channel: Channel,
    status: Status,
}

/// The compact state of the reports. See the [module docs](self).
#[derive(Debug, Default)]
pub struct ReportState {
    files: Vec<FileMeta>,
    file_index: HashMap<FileId, u32>,
    names: HashMap<Box<str>, u32, IntBuild>,
    name_list: Vec<Box<str>>,
    rows: Vec<Row>,
}

/// Every report, computed by [`ReportState::finish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reports {
    /// Totals of the current lines.
    pub totals: Totals,
    /// Sales by product, sorted by `product_id`.
    pub sales_by_product: Vec<ProductSales>,
    /// Orders, units and sales per status (created, delivered, broken).
    pub order_status: Vec<StatusSales>,
    /// Orders, units and sales per client, sorted by `client_id`.
    pub orders_by_client: Vec<ClientSales>,
    /// Orders, units, sales and litres per channel (Retail, Online, B2B).
    pub sales_by_channel: Vec<ChannelSales>,
}

/// The current (latest) lines, sorted by key: what the reports are computed from. Built by
/// [`ReportState::finish`] (one run) or [`ReportState::finish_all`] (one run per state,
/// merged on the fly when the reports scan them).
#[derive(Debug)]
pub struct SortedLines {
    runs: Vec<Run>,
    /// `rank << 40` of every file known when the runs were finished.
    rank_of: HashMap<FileId, u64>,
}

/// One state's rows, sorted, one version per key, with its names.
#[derive(Debug)]
struct Run {
    names: Vec<Box<str>>,
    rows: Vec<Row>,
}

impl ReportState {
    /// An empty state with room for `lines` line versions (the sum of the manifests'
    /// accepted rows avoids any regrowth).
    pub fn with_capacity(lines: usize) -> Self {
        ReportState { rows: Vec::with_capacity(lines), ..ReportState::default() }
    }

    /// Line versions read so far.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when no line was read.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn file_slot(&mut self, meta: &FileMeta) -> Result<u64> {
        if let Some(&i) = self.file_index.get(&meta.file_id) {
            return Ok(u64::from(i));
        }
        let i = u32::try_from(self.files.len())
            .ok()
            .filter(|i| *i < (1 << (64 - LINE_BITS)))
            .ok_or_else(|| ErrorKind::Schema { table: "fact_order_line", message: "too many files".into() })?;
        self.files.push(meta.clone());
        self.file_index.insert(meta.file_id.clone(), i);
        Ok(u64::from(i))
    }

    fn name(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.names.get(s) {
            return i;
        }
        let i = self.name_list.len() as u32;
        self.name_list.push(s.into());
        self.names.insert(s.into(), i);
        i
    }

    /// Reads one batch of the `fact_order_line` table of the file `meta` (the whole
    /// schema, or just [`REPORT_COLUMNS`]). Files and batches may come in any order.
    ///
    /// # Errors
    /// When a needed column is missing, has another type or holds nulls, or a value is out
    /// of its domain.
    pub fn apply_batch(&mut self, meta: &FileMeta, batch: &RecordBatch) -> Result<()> {
        let file = self.file_slot(meta)? << LINE_BITS;
        let i = |n| column(batch, n, &DataType::Int64).map(|c| c.as_primitive::<Int64Type>());
        let d = |n, t| column(batch, n, t).map(|c| c.as_primitive::<Decimal128Type>());
        let (order_id, product_id, client_id, units, line) =
            (i("order_id")?, i("product_id")?, i("client_id")?, i("units")?, i("line")?);
        let (amount, volume) = (d("amount", &MONEY)?, d("volume_l", &VOLUME)?);
        let bad = |what: &str, r: usize| ErrorKind::Schema {
            table: "fact_order_line",
            message: format!("invalid {what} at row {r} of a batch of file {}", meta.file_id),
        };
        // Text columns, plain or dictionary-encoded (then each distinct value is handled once).
        let client_name = self.text_ids(text_column(batch, "client_name")?, |st, v| Some(st.name(v)))?;
        let product_description =
            self.text_ids(text_column(batch, "product_description")?, |st, v| Some(st.name(v)))?;
        let channel = self.text_ids(text_column(batch, "channel")?, |_, v| Channel::parse(v.as_bytes()))?;
        let status = self.text_ids(text_column(batch, "status")?, |_, v| Status::parse(v.as_bytes()))?;
        self.rows.reserve(batch.num_rows());
        for r in 0..batch.num_rows() {
            let l = u64::try_from(line.value(r)).ok().filter(|l| *l < 1 << LINE_BITS).ok_or_else(|| bad("line", r))?;
            self.rows.push(Row {
                order_id: order_id.value(r),
                product_id: product_id.value(r),
                client_id: client_id.value(r),
                units: units.value(r),
                amount: i64::try_from(amount.value(r)).map_err(|_| bad("amount", r))?,
                volume: i64::try_from(volume.value(r)).map_err(|_| bad("volume_l", r))?,
                version: file | l,
                client_name: client_name.get(r).ok_or_else(|| bad("client_name", r))?,
                product_description: product_description.get(r).ok_or_else(|| bad("product_description", r))?,
                channel: channel.get(r).ok_or_else(|| bad("channel", r))?,
                status: status.get(r).ok_or_else(|| bad("status", r))?,
            });
        }
        Ok(())
    }

    /// Maps a text column's values with `f` (interning, parsing): per row for a plain
    /// column (consecutive equal values mapped once), per distinct value for a dictionary.
    fn text_ids<'b, T: Copy>(
        &mut self,
        col: TextColumn<'b>,
        mut f: impl FnMut(&mut ReportState, &str) -> Option<T>,
    ) -> Result<Mapped<'b, T>> {
        Ok(match col {
            TextColumn::Plain(a) => {
                let mut out = Vec::with_capacity(a.len());
                let mut last: Option<(&str, Option<T>)> = None;
                for v in a.iter() {
                    let v = v.unwrap_or_default();
                    let id = match last {
                        Some((prev, id)) if prev == v => id,
                        _ => f(self, v),
                    };
                    last = Some((v, id));
                    out.push(id);
                }
                Mapped::Rows(out)
            }
            TextColumn::Dict { keys, values } => {
                let ids: Vec<Option<T>> = values.iter().map(|v| f(self, v.unwrap_or_default())).collect();
                Mapped::Keys { keys, ids }
            }
        })
    }

    /// Keeps the latest version of every line: files ranked by `(ingested_at, source,
    /// file_id)`, then lines by number (the rule of [`CurrentState`](crate::CurrentState)).
    pub fn finish(self) -> SortedLines {
        ReportState::finish_all(vec![self])
    }

    /// [`finish`](Self::finish) for states built apart (e.g. on several threads, each
    /// reading some of the lake's objects or row groups): the same lines as one state that
    /// read everything. No row is copied from one state to another.
    pub fn finish_all(states: Vec<ReportState>) -> SortedLines {
        ReportState::finish_all_with(states, &[])
    }

    /// [`finish_all`](Self::finish_all), ranking `more_files` too (files whose facts will be
    /// streamed to [`SortedLines::reports_with_streams`]).
    pub fn finish_all_with(states: Vec<ReportState>, more_files: &[FileMeta]) -> SortedLines {
        // One ranking of every file seen by any state.
        let mut all: Vec<&FileMeta> = states.iter().flat_map(|s| s.files.iter()).chain(more_files).collect();
        all.sort_by(|a, b| a.version_key().cmp(&b.version_key()));
        all.dedup_by(|a, b| a.file_id == b.file_id);
        let rank_of: HashMap<FileId, u64> =
            all.iter().enumerate().map(|(r, m)| (m.file_id.clone(), (r as u64) << LINE_BITS)).collect();
        let line_mask = (1u64 << LINE_BITS) - 1;
        let runs = states
            .into_iter()
            .map(|state| {
                let ReportState { files, mut rows, name_list, .. } = state;
                let rank: Vec<u64> = files.iter().map(|m| rank_of.get(&m.file_id).copied().unwrap_or(0)).collect();
                for row in &mut rows {
                    row.version = rank[(row.version >> LINE_BITS) as usize] | (row.version & line_mask);
                }
                // Latest version first within a key, then keep the first of each key.
                rows.sort_unstable_by(|a, b| {
                    (a.order_id, a.product_id, std::cmp::Reverse(a.version)).cmp(&(
                        b.order_id,
                        b.product_id,
                        std::cmp::Reverse(b.version),
                    ))
                });
                rows.dedup_by(|later, kept| later.order_id == kept.order_id && later.product_id == kept.product_id);
                Run { names: name_list, rows }
            })
            .collect();
        SortedLines { runs, rank_of }
    }
}

/// A text column as read: plain, or dictionary-encoded (Parquet dictionaries read as such).
enum TextColumn<'a> {
    Plain(&'a arrow_array::StringArray),
    Dict { keys: &'a [i32], values: &'a arrow_array::StringArray },
}

/// A text column mapped to ids or enums.
enum Mapped<'a, T> {
    Rows(Vec<Option<T>>),
    Keys { keys: &'a [i32], ids: Vec<Option<T>> },
}

impl<T: Copy> Mapped<'_, T> {
    fn get(&self, r: usize) -> Option<T> {
        match self {
            Mapped::Rows(v) => v.get(r).copied().flatten(),
            Mapped::Keys { keys, ids } => {
                keys.get(r).and_then(|k| usize::try_from(*k).ok()).and_then(|k| ids.get(k)).copied().flatten()
            }
        }
    }
}

fn text_column<'a>(batch: &'a RecordBatch, name: &str) -> Result<TextColumn<'a>> {
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let c = by_name(batch, name)?;
    if c.data_type() == &dict && c.null_count() == 0 {
        let d = c.as_dictionary::<arrow_array::types::Int32Type>();
        if let Some(values) = d.values().as_string_opt::<i32>() {
            return Ok(TextColumn::Dict { keys: d.keys().values(), values });
        }
    }
    column(batch, name, &DataType::Utf8).map(|c| TextColumn::Plain(c.as_string::<i32>()))
}

fn by_name<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a arrow_array::ArrayRef> {
    Ok(batch.column_by_name(name).ok_or_else(|| ErrorKind::Schema {
        table: "fact_order_line",
        message: format!("column `{name}` is missing"),
    })?)
}

fn column<'a>(batch: &'a RecordBatch, name: &str, t: &DataType) -> Result<&'a dyn Array> {
    let c = by_name(batch, name)?;
    if c.data_type() != t || c.null_count() > 0 {
        return Err(ErrorKind::Schema {
            table: "fact_order_line",
            message: format!(
                "column `{name}` is {} with {} nulls, expected {t} without",
                c.data_type(),
                c.null_count()
            ),
        }
        .into());
    }
    Ok(c.as_ref())
}

/// Sums of one group, and the latest line seen in it (for its name).
#[derive(Debug, Default, Clone, Copy)]
struct Acc {
    orders: u64,
    lines: u64,
    units: i128,
    amount: i128,
    volume: i128,
    /// `(version, run, name)` of the group's latest line.
    latest: Option<(u64, u32, u32)>,
    /// The last order counted in this group (rows come sorted by order).
    last_order: Option<i64>,
}

impl Acc {
    fn add(&mut self, row: &Row, run: u32, name: u32) {
        if self.last_order != Some(row.order_id) {
            self.orders += 1;
            self.last_order = Some(row.order_id);
        }
        self.lines += 1;
        self.units += i128::from(row.units);
        self.amount += i128::from(row.amount);
        self.volume += i128::from(row.volume);
        if self.latest.is_none_or(|(v, _, _)| row.version > v) {
            self.latest = Some((row.version, run, name));
        }
    }

    fn sales(&self) -> String {
        format_scaled(self.amount, MONEY_SCALE)
    }
}

impl SortedLines {
    /// A cursor over each finished run.
    fn run_cursors(&self) -> Vec<Box<dyn Cursor + '_>> {
        self.runs.iter().map(|run| Box::new(RunCursor { run, at: 0 }) as Box<dyn Cursor + '_>).collect()
    }

    /// Calls `f` with every current line in key order (the runs merged: for a key in
    /// several runs, the latest version) and its run.
    fn for_each(&self, f: impl FnMut(&Row, usize)) {
        let mut cursors = self.run_cursors();
        // Runs never fail.
        let _ = merge_each(&mut cursors, f);
    }

    /// Current order lines.
    pub fn len(&self) -> usize {
        if self.runs.len() == 1 {
            return self.runs[0].rows.len();
        }
        let mut n = 0;
        self.for_each(|_, _| n += 1);
        n
    }

    /// True when there is no current line.
    pub fn is_empty(&self) -> bool {
        self.runs.iter().all(|r| r.rows.is_empty())
    }

    /// Every report over the lines that `filter` keeps, in one scan.
    pub fn reports(&self, filter: &ReportFilter) -> Reports {
        let mut cursors = self.run_cursors();
        let mut acc = Accumulators::default();
        // Runs never fail.
        let _ = merge_each(&mut cursors, |row, run| acc.add(row, run as u32, filter));
        acc.finish(&cursors)
    }

    /// The reports over these lines and `streams` merged: each stream is one file's
    /// `fact_order_line` batches **in key order** (`(order_id, product_id)` never decreasing;
    /// equal keys in line order), ranked with the files given to
    /// [`ReportState::finish_all_with`]. Nothing of a stream is held but its current batch.
    ///
    /// # Errors
    /// A stream's error, a batch without the fact schema, a stream out of key order, or a
    /// stream of a file that was not ranked.
    pub fn reports_with_streams<'a>(
        &'a self,
        streams: Vec<(FileMeta, FactBatches<'a>)>,
        filter: &ReportFilter,
    ) -> Result<Reports> {
        let mut cursors = self.run_cursors();
        for (meta, batches) in streams {
            let rank = self.rank_of.get(&meta.file_id).copied().ok_or_else(|| ErrorKind::Schema {
                table: "fact_order_line",
                message: format!("file {} was not ranked before its facts were streamed", meta.file_id),
            })?;
            cursors.push(Box::new(StreamCursor {
                meta,
                rank,
                batches,
                state: ReportState::default(),
                at: 0,
                last_key: None,
            }));
        }
        let mut acc = Accumulators::default();
        merge_each(&mut cursors, |row, run| acc.add(row, run as u32, filter))?;
        Ok(acc.finish(&cursors))
    }
}

/// One file's `fact_order_line` batches, as a stream.
pub type FactBatches<'a> = Box<dyn Iterator<Item = Result<RecordBatch>> + 'a>;

/// The groups of every report.
#[derive(Debug, Default)]
struct Accumulators {
    total: Acc,
    by_product: IntMap<i64, Acc>,
    by_client: IntMap<i64, Acc>,
    by_status: [Acc; 3],
    by_channel: [Acc; 3],
}

impl Accumulators {
    fn add(&mut self, row: &Row, run: u32, filter: &ReportFilter) {
        let keep = filter.channel.is_none_or(|c| c == row.channel)
            && filter.status.is_none_or(|s| s == row.status)
            && filter.client_id.is_none_or(|c| c == row.client_id)
            && filter.product_id.is_none_or(|p| p == row.product_id);
        if !keep {
            return;
        }
        self.total.add(row, run, 0);
        self.by_product.entry(row.product_id).or_default().add(row, run, row.product_description);
        self.by_client.entry(row.client_id).or_default().add(row, run, row.client_name);
        self.by_status[status_slot(row.status)].add(row, run, 0);
        self.by_channel[channel_slot(row.channel)].add(row, run, 0);
    }

    fn finish(self, cursors: &[Box<dyn Cursor + '_>]) -> Reports {
        let name = |a: &Acc| -> String {
            a.latest
                .and_then(|(_, run, n)| cursors.get(run as usize).and_then(|c| c.name(n)))
                .map(str::to_owned)
                .unwrap_or_default()
        };
        let Accumulators { total, by_product, by_client, by_status, by_channel } = self;
        let mut products: Vec<(i64, Acc)> = by_product.into_iter().collect();
        products.sort_unstable_by_key(|(k, _)| *k);
        let mut clients: Vec<(i64, Acc)> = by_client.into_iter().collect();
        clients.sort_unstable_by_key(|(k, _)| *k);
        Reports {
            totals: Totals {
                orders: total.orders,
                lines: total.lines,
                units: total.units,
                sales: total.sales(),
                volume_l: format_litres(total.volume),
            },
            sales_by_product: products
                .iter()
                .map(|(product_id, a)| ProductSales {
                    product_id: *product_id,
                    product_description: name(a),
                    orders: a.orders,
                    units: a.units,
                    sales: a.sales(),
                    volume_l: format_litres(a.volume),
                })
                .collect(),
            order_status: Status::ALL
                .into_iter()
                .filter(|s| by_status[status_slot(*s)].lines > 0)
                .map(|s| {
                    let a = &by_status[status_slot(s)];
                    StatusSales { status: s, orders: a.orders, units: a.units, sales: a.sales() }
                })
                .collect(),
            orders_by_client: clients
                .iter()
                .map(|(client_id, a)| ClientSales {
                    client_id: *client_id,
                    client_name: name(a),
                    orders: a.orders,
                    units: a.units,
                    sales: a.sales(),
                })
                .collect(),
            sales_by_channel: Channel::ALL
                .into_iter()
                .filter(|c| by_channel[channel_slot(*c)].lines > 0)
                .map(|c| {
                    let a = &by_channel[channel_slot(c)];
                    ChannelSales {
                        channel: c,
                        orders: a.orders,
                        units: a.units,
                        sales: a.sales(),
                        volume_l: format_litres(a.volume),
                    }
                })
                .collect(),
        }
    }
}

/// Rows in key order, one source of the merge.
trait Cursor {
    /// The row at the head (`None` at the end).
    fn peek(&mut self) -> Result<Option<Row>>;
    /// Moves past the head.
    fn advance(&mut self);
    /// Every row from the head to the end of what is loaded (`None` at the end), consumed.
    fn take_loaded(&mut self) -> Result<Option<&[Row]>>;
    /// A name of this source.
    fn name(&self, n: u32) -> Option<&str>;
}

/// A finished run: sorted, one version per key.
struct RunCursor<'a> {
    run: &'a Run,
    at: usize,
}

impl Cursor for RunCursor<'_> {
    fn peek(&mut self) -> Result<Option<Row>> {
        Ok(self.run.rows.get(self.at).copied())
    }
    fn advance(&mut self) {
        self.at += 1;
    }
    fn take_loaded(&mut self) -> Result<Option<&[Row]>> {
        let rest = self.run.rows.get(self.at..).filter(|r| !r.is_empty());
        self.at = self.run.rows.len();
        Ok(rest)
    }
    fn name(&self, n: u32) -> Option<&str> {
        self.run.names.get(n as usize).map(|s| &**s)
    }
}

/// One file's facts streamed in key order, a batch at a time.
struct StreamCursor<'a> {
    meta: FileMeta,
    rank: u64,
    batches: FactBatches<'a>,
    /// The current batch's rows (its names accumulate).
    state: ReportState,
    at: usize,
    last_key: Option<(i64, i64)>,
}

impl StreamCursor<'_> {
    /// Loads the next batch when the current one is consumed; false at the end. A batch out
    /// of key order (within itself or after the previous one) is an error.
    fn load(&mut self) -> Result<bool> {
        while self.at >= self.state.rows.len() {
            let Some(batch) = self.batches.next() else { return Ok(false) };
            self.state.rows.clear();
            self.at = 0;
            self.state.apply_batch(&self.meta, &batch?)?;
            let line_mask = (1u64 << LINE_BITS) - 1;
            let mut last = self.last_key;
            for row in &mut self.state.rows {
                row.version = self.rank | (row.version & line_mask);
                let key = (row.order_id, row.product_id);
                if last.is_some_and(|l| key < l) {
                    return Err(ErrorKind::Schema {
                        table: "fact_order_line",
                        message: format!("the facts of file {} are not in key order", self.meta.file_id),
                    }
                    .into());
                }
                last = Some(key);
            }
            self.last_key = last;
        }
        Ok(true)
    }
}

impl Cursor for StreamCursor<'_> {
    fn peek(&mut self) -> Result<Option<Row>> {
        Ok(if self.load()? { Some(self.state.rows[self.at]) } else { None })
    }
    fn advance(&mut self) {
        self.at += 1;
    }
    fn take_loaded(&mut self) -> Result<Option<&[Row]>> {
        if !self.load()? {
            return Ok(None);
        }
        let from = self.at;
        self.at = self.state.rows.len();
        Ok(Some(&self.state.rows[from..]))
    }
    fn name(&self, n: u32) -> Option<&str> {
        self.state.name_list.get(n as usize).map(|s| &**s)
    }
}

/// Merges the cursors in key order: for each key, `f` gets the latest version (greatest
/// `version` over every cursor's rows with that key) and the index of its cursor.
fn merge_each(cursors: &mut [Box<dyn Cursor + '_>], mut f: impl FnMut(&Row, usize)) -> Result<()> {
    loop {
        let mut min: Option<(i64, i64)> = None;
        let (mut live, mut only) = (0, 0);
        for (i, c) in cursors.iter_mut().enumerate() {
            if let Some(r) = c.peek()? {
                let k = (r.order_id, r.product_id);
                min = Some(min.map_or(k, |m| m.min(k)));
                live += 1;
                only = i;
            }
        }
        if live == 1 {
            // The last source with rows: no more comparisons across sources.
            return drain(&mut *cursors[only], only, &mut f);
        }
        let Some(key) = min else { return Ok(()) };
        let mut best: Option<(Row, usize)> = None;
        for (i, c) in cursors.iter_mut().enumerate() {
            while let Some(r) = c.peek()? {
                if (r.order_id, r.product_id) != key {
                    break;
                }
                if best.is_none_or(|(b, _)| r.version > b.version) {
                    best = Some((r, i));
                }
                c.advance();
            }
        }
        if let Some((row, i)) = best {
            f(&row, i);
        }
    }
}

/// [`merge_each`] over one cursor: the latest version of each key, a loaded slice at a time.
fn drain(c: &mut dyn Cursor, i: usize, f: &mut impl FnMut(&Row, usize)) -> Result<()> {
    let mut best: Option<Row> = None;
    while let Some(rows) = c.take_loaded()? {
        for r in rows {
            match &mut best {
                Some(b) if (b.order_id, b.product_id) == (r.order_id, r.product_id) => {
                    if r.version > b.version {
                        *b = *r;
                    }
                }
                Some(b) => {
                    f(b, i);
                    *b = *r;
                }
                None => best = Some(*r),
            }
        }
    }
    if let Some(b) = best {
        f(&b, i);
    }
    Ok(())
}

fn status_slot(s: Status) -> usize {
    match s {
        Status::Created => 0,
        Status::Delivered => 1,
        Status::Broken => 2,
    }
}

fn channel_slot(c: Channel) -> usize {
    match c {
        Channel::Retail => 0,
        Channel::Online => 1,
        Channel::B2B => 2,
    }
}
