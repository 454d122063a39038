//! Folding new files into the current lines and the aggregates.
//!
//! 1. [`NewVersions`] reads the new files' facts: the latest new version of every line they
//!    hold (and its earliest sighting), and what they say of clients and products.
//! 2. The caller fetches the current lines of every order the new versions touch
//!    ([`NewVersions::orders`]) from wherever the state lives.
//! 3. [`fold_orders`] applies the new versions to those orders: the lines that changed,
//!    and the aggregates updated order by order.
//!
//! Steps 2 and 3 can run a range of orders at a time (the lines are sorted by key), so a
//! big file is folded in bounded memory.

use super::cube::{Cube, CubeDelta};
use super::dims::{Dims, Sightings};
use super::files::FileTable;
use super::line::{Line, Names};
use crate::error::Result;
use crate::lake::FileMeta;
use arrow_array::RecordBatch;
use std::sync::OnceLock;

/// The new versions of the lines of some files, sorted by key, one per line.
#[derive(Debug, Default)]
pub struct NewVersions {
    names: Names,
    lines: Vec<Line>,
    sorted: bool,
    /// What the files said of clients and products.
    sightings: Sightings,
    /// The same as [`Dims`], built when asked for ([`NewVersions::dims`]).
    dims: OnceLock<Dims>,
}

impl NewVersions {
    /// None yet.
    pub fn new() -> NewVersions {
        NewVersions::default()
    }

    /// Reads one `fact_order_line` batch of the file `meta`, which must be in `files`.
    ///
    /// # Errors
    /// A file not in `files`, or a batch without the fact schema.
    pub fn add_batch(&mut self, files: &FileTable, meta: &FileMeta, batch: &RecordBatch) -> Result<()> {
        let seq = files.seq_of(&meta.file_id).ok_or_else(|| crate::ErrorKind::Schema {
            table: "fact_order_line",
            message: format!("file {} is not in the state's file table", meta.file_id),
        })?;
        self.lines.reserve(batch.num_rows());
        self.dims.take();
        let names = &mut self.names;
        let (lines, sightings) = (&mut self.lines, &mut self.sightings);
        super::tables::decode_facts(batch, seq, meta.ingested_at_micros, names, |v| {
            sightings.observe(files, &v);
            lines.push(v);
        })?;
        self.sorted = false;
        Ok(())
    }

    /// Sorts by key and keeps one version per line: the latest, with the earliest sighting.
    fn settle(&mut self, files: &FileTable) {
        if self.sorted {
            return;
        }
        // In place: versions that compare equal are one row read twice (same file and line),
        // so an unstable sort gives the same lines, without a buffer the size of the input.
        let by_version = |a: &Line, b: &Line| a.key.cmp(&b.key).then_with(|| files.cmp(a.version, b.version));
        // Files usually list their facts order by order: each order's few lines sorted, the
        // whole is then found sorted in one pass (files read together are sorted at once).
        for order in self.lines.chunk_by_mut(|a, b| a.key.order_id == b.key.order_id) {
            order.sort_unstable_by(by_version);
        }
        self.lines.sort_unstable_by(by_version);
        // `dedup_by` hands the later version first and the one kept second.
        self.lines.dedup_by(|later, kept| {
            let same = later.key == kept.key;
            if same {
                kept.absorb(later, files);
            }
            same
        });
        self.sorted = true;
    }

    /// The new versions, one per line, sorted by key.
    pub fn lines(&mut self, files: &FileTable) -> &[Line] {
        self.settle(files);
        &self.lines
    }

    /// Takes the new versions read so far, one per line, sorted by key (what the files said
    /// of clients and products stays): a caller reading more than fits in memory sorts
    /// and sets aside a chunk at a time, then merges the chunks.
    pub fn take_sorted(&mut self, files: &FileTable) -> Vec<Line> {
        self.settle(files);
        self.sorted = false;
        std::mem::take(&mut self.lines)
    }

    /// [`take_sorted`](Self::take_sorted), except the lines of the greatest order read so
    /// far, which stay for the next take: when the files list their orders by `order_id`,
    /// an order whose lines straddle two takes is taken whole with the second.
    pub fn take_sorted_whole_orders(&mut self, files: &FileTable) -> Vec<Line> {
        self.settle(files);
        let Some(last) = self.lines.last().map(|l| l.key.order_id) else { return Vec::new() };
        let cut = self.lines.partition_point(|l| l.key.order_id < last);
        let rest = self.lines.split_off(cut);
        // What stays is sorted, one version per line: `sorted` still holds.
        std::mem::replace(&mut self.lines, rest)
    }

    /// The orders the new versions touch, sorted.
    pub fn orders(&mut self, files: &FileTable) -> Vec<i64> {
        self.settle(files);
        let mut v: Vec<i64> = self.lines.iter().map(|l| l.key.order_id).collect();
        v.dedup();
        v
    }

    /// What the new files say of clients and products.
    pub fn dims(&self) -> &Dims {
        self.dims.get_or_init(|| self.sightings.to_dims())
    }

    /// The number of lines with a new version.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// True when the files held no line.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// Applies `new` (new versions, sorted by key, one per line) to `before` (every current
/// line of the orders `new` touches, sorted by key): updates `cube` order by order and
/// returns the lines that changed (new lines, newer versions, or an earlier first
/// sighting), sorted by key.
pub fn fold_orders(files: &FileTable, cube: &mut Cube, new: &[Line], before: &[Line]) -> Vec<Line> {
    let mut delta = CubeDelta::new();
    let changed = fold_orders_into(files, &mut delta, new, before);
    cube.apply(delta);
    changed
}

/// [`fold_orders`], adding the orders' changes to `delta` instead of a cube: a fold of many
/// windows applies one delta at its end, not one per window (the cube's ordered maps cost
/// more to update than the delta's hash maps).
pub fn fold_orders_into(files: &FileTable, delta: &mut CubeDelta, new: &[Line], before: &[Line]) -> Vec<Line> {
    // At most one changed line per new version (every one, in a first fold).
    let mut changed = Vec::with_capacity(new.len());
    // The order after the fold (every old line, the new versions folded in), reused.
    let mut after: Vec<Line> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < new.len() {
        let order = new[i].key.order_id;
        let i_end = i + new[i..].iter().take_while(|l| l.key.order_id == order).count();
        while j < before.len() && before[j].key.order_id < order {
            j += 1;
        }
        let j_end = j + before[j..].iter().take_while(|l| l.key.order_id == order).count();
        let (old, fresh) = (&before[j..j_end], &new[i..i_end]);
        if old.is_empty() {
            // A new order: its lines are the new versions.
            changed.extend_from_slice(fresh);
            delta.add_lines(fresh.iter(), 1);
            i = i_end;
            j = j_end;
            continue;
        }
        let changed_before = changed.len();
        after.clear();
        let (mut a, mut b) = (0, 0);
        loop {
            match (old.get(a), fresh.get(b)) {
                (None, None) => break,
                (Some(o), Some(n)) if o.key == n.key => {
                    let mut l = o.clone();
                    l.absorb(n, files);
                    if &l != o {
                        changed.push(l.clone());
                    }
                    after.push(l);
                    a += 1;
                    b += 1;
                }
                (Some(o), None) => {
                    after.push(o.clone());
                    a += 1;
                }
                (Some(o), Some(n)) if o.key < n.key => {
                    after.push(o.clone());
                    a += 1;
                }
                (_, Some(n)) => {
                    changed.push(n.clone());
                    after.push(n.clone());
                    b += 1;
                }
            }
        }
        if changed.len() > changed_before {
            delta.add_lines(old.iter(), -1);
            delta.add_lines(after.iter(), 1);
        }
        i = i_end;
        j = j_end;
    }
    changed
}

/// Folds `new` into `dims`.
pub fn fold_dims(files: &FileTable, dims: &mut Dims, new: &NewVersions) {
    new.sightings.fold_into(files, dims);
}
