//! The analytics models (docs/models.md), rebuilt from the serving state in bounded memory.
//!
//! | model | built from |
//! |---|---|
//! | `dim_client_scd2`, `dim_product_scd2` | every published file's `dim_client` / `dim_product` observations, in version order (a few rows per client and file) |
//! | `order_line_current` | the serving state's runs, merged in key order and streamed |
//! | `agg_*`, `mart_*` | the serving state's report cells and dimension rows; `mart_sales_daily` gathered while the lines stream |
//! | `fact_order_status_event`, `fact_order_lifecycle` | the facts of every published file in version order, one range of order ids at a time (each range's current lines read from the serving state's row groups) |
//!
//! Memory holds one range of lines (`ServingConfig::model_range_lines`, 2^19 by default),
//! whatever the lake's size. The models are a pure function of the published files: a
//! rebuild writes the same bytes, and equals the models built from every file in memory
//! (`Lake::write_models`, tested).

use crate::serving::Run;
use crate::{Error, Lake, MODELS, Result, Store};
use duff_core::arrow_array::RecordBatch;
use duff_core::models::{Dimensions, SalesDaily};
use duff_core::serving::tables::{self, TableWriter};
use duff_core::serving::{Line, Names};
use duff_core::{Channel, FileId, FileMeta, LineKey, Manifest, Outcome, Status, StatusHistory, Table};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

/// The columns of `order_line_current` as a model: the serving state's lines without what
/// only the serving state needs (`file_seq`, `generation`: they depend on how the state was
/// folded, not on the files).
pub fn model_lines(batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = batch.schema();
    let keep: Vec<usize> = (0..schema.fields().len())
        .filter(|i| !matches!(schema.field(*i).name().as_str(), "file_seq" | "generation"))
        .collect();
    Ok(batch.project(&keep).map_err(duff_core::Error::from)?)
}

fn staged(path: &Path) -> Result<BufWriter<File>> {
    let f = File::create(path).map_err(|source| Error::Io { action: "creating", path: path.to_owned(), source })?;
    Ok(BufWriter::with_capacity(1 << 20, f))
}

impl<S: Store> Lake<S> {
    /// Rebuilds the analytics models from the lake and writes each one to
    /// `models/<name>/<name>.parquet` (replacing the previous build), then
    /// `models/_build.json` naming the files they reflect. Returns `(name, rows)` per model.
    ///
    /// The serving state is brought up to date first; the models are built from it and from
    /// the facts, one range of order ids at a time (see the [module docs](self)).
    ///
    /// # Errors
    /// Unreadable lake objects or write failures.
    pub fn refresh_models(&self) -> Result<Vec<(String, usize)>> {
        self.update_serving()?;
        let Some(snapshot) = self.serving_snapshot()? else {
            return self.write_models(&crate::Loaded::default());
        };
        let mut published: Vec<Manifest> =
            self.manifests()?.into_iter().filter(|m| m.outcome == Outcome::Published).collect();
        published.sort_by(|a, b| {
            (a.ingested_at_micros, &a.source, &a.file_id).cmp(&(b.ingested_at_micros, &b.source, &b.file_id))
        });
        let metas: Vec<FileMeta> = published.iter().map(Manifest::meta).collect::<duff_core::Result<_>>()?;
        let mut written: Vec<(String, usize)> = Vec::new();
        let file_id = FileId::of_bytes(b"models");
        self.with_staging(&file_id, |staging| {
            let mut names = Names::default();
            // Slowly changing dimensions: every file's observations, in version order.
            let mut dims = Dimensions::new();
            for (m, meta) in published.iter().zip(&metas) {
                for out in m.outputs.iter().filter(|o| matches!(o.table, Table::DimClient | Table::DimProduct)) {
                    let bytes =
                        self.store.get(&out.key)?.ok_or_else(|| Error::MissingObject { key: out.key.clone() })?;
                    for batch in duff_core::parquet_io::parquet_batches(bytes)? {
                        match out.table {
                            Table::DimClient => dims.apply_clients(meta, &batch?)?,
                            _ => dims.apply_products(meta, &batch?)?,
                        }
                    }
                }
            }
            let mut tables: Vec<(&str, RecordBatch)> =
                vec![("dim_client_scd2", dims.client_batch()?), ("dim_product_scd2", dims.product_batch()?)];
            drop(dims);

            // The current lines, streamed in key order: the model, the daily sales, and the
            // order ids where each range of lines starts.
            let path = staging.join("order_line_current.parquet");
            let files = snapshot.generation.file_table()?;
            let range = self.serving.model_range_lines.max(1);
            let mut writer: Option<TableWriter<BufWriter<File>>> = None;
            let mut daily = SalesDaily::new();
            let mut order: Vec<Line> = Vec::new();
            let mut batch: Vec<Line> = Vec::with_capacity(1 << 14);
            let mut starts: Vec<i64> = Vec::new();
            let mut count = 0usize;
            let mut merge = crate::serving::RunMerge::open(self, &snapshot.generation.runs)?;
            let flush = |batch: &mut Vec<Line>, writer: &mut Option<TableWriter<BufWriter<File>>>| -> Result<()> {
                let b = model_lines(&tables::lines_batch(&files, batch.iter(), 0)?)?;
                match writer {
                    Some(w) => w.write(&b)?,
                    None => {
                        let mut w = TableWriter::new(staged(&path)?, b.schema())?;
                        w.write(&b)?;
                        *writer = Some(w);
                    }
                }
                batch.clear();
                Ok(())
            };
            while let Some(l) = merge.next_line(&mut names)? {
                if order.first().is_some_and(|o| o.key.order_id != l.key.order_id) {
                    daily.add_order(&order.iter().collect::<Vec<_>>());
                    if count >= starts.len() * range {
                        starts.push(order[0].key.order_id);
                    }
                    count += order.len();
                    batch.append(&mut order);
                    if batch.len() >= 1 << 14 {
                        flush(&mut batch, &mut writer)?;
                    }
                }
                order.push(l);
            }
            if !order.is_empty() {
                daily.add_order(&order.iter().collect::<Vec<_>>());
                if count >= starts.len() * range {
                    starts.push(order[0].key.order_id);
                }
                count += order.len();
                batch.append(&mut order);
            }
            flush(&mut batch, &mut writer)?;
            if let Some(w) = writer {
                w.finish()?;
            }
            let key = format!("{MODELS}/order_line_current/order_line_current.parquet");
            self.store.put_file(&key, &path)?;

            tables.extend(duff_core::reports::aggregate_batches_of(&snapshot.cube, &snapshot.dims)?);
            tables.extend(duff_core::models::mart_batches_of(&snapshot.cube, &snapshot.dims, &daily)?);

            // History and lifecycle, one range of order ids at a time.
            let events_path = staging.join("fact_order_status_event.parquet");
            let lifecycle_path = staging.join("fact_order_lifecycle.parquet");
            let mut events: Option<TableWriter<BufWriter<File>>> = None;
            let mut lifecycle: Option<TableWriter<BufWriter<File>>> = None;
            let (mut events_rows, mut lifecycle_rows) = (0, 0);
            let bounds: Vec<(i64, i64)> = if starts.is_empty() {
                vec![(i64::MIN, i64::MAX)]
            } else {
                let mut v: Vec<(i64, i64)> = starts.windows(2).map(|w| (w[0], w[1] - 1)).collect();
                v.push((starts[starts.len() - 1], i64::MAX));
                v[0].0 = i64::MIN;
                v
            };
            for (lo, hi) in bounds {
                let in_range = |k: &LineKey| lo <= k.order_id && k.order_id <= hi;
                let mut history = StatusHistory::new();
                for (m, meta) in published.iter().zip(&metas) {
                    for out in m.outputs.iter().filter(|o| o.table == Table::FactOrderLine) {
                        self.for_each_fact_batch(&out.key, lo, hi, |b| history.apply_batch_where(meta, b, in_range))?;
                    }
                }
                let current = self.current_of_range(&snapshot.generation.runs, lo, hi, &mut names)?;
                let e = history.to_batch()?;
                let l = duff_core::models::lifecycle_batch_with(&history, |k| current.get(k).copied())?;
                events_rows += e.num_rows();
                lifecycle_rows += l.num_rows();
                for (w, p, b) in [(&mut events, &events_path, e), (&mut lifecycle, &lifecycle_path, l)] {
                    match w {
                        Some(w) => w.write(&b)?,
                        None => {
                            let mut nw = TableWriter::new(staged(p)?, b.schema())?;
                            nw.write(&b)?;
                            *w = Some(nw);
                        }
                    }
                }
            }
            for (name, w, p) in [
                ("fact_order_status_event", events, &events_path),
                ("fact_order_lifecycle", lifecycle, &lifecycle_path),
            ] {
                if let Some(w) = w {
                    w.finish()?;
                    self.store.put_file(&format!("{MODELS}/{name}/{name}.parquet"), p)?;
                }
            }
            written.push(("order_line_current".to_owned(), count));
            written.push(("fact_order_status_event".to_owned(), events_rows));
            written.push(("fact_order_lifecycle".to_owned(), lifecycle_rows));
            for (name, batch) in &tables {
                let key = format!("{MODELS}/{name}/{name}.parquet");
                self.store.put_bytes(&key, &duff_core::to_parquet_bytes(std::slice::from_ref(batch))?)?;
                written.push(((*name).to_owned(), batch.num_rows()));
            }
            Ok(())
        })?;
        // The order of `write_models`: the dimensions, the lines, the history, then the rest.
        let rank = |n: &str| {
            [
                "dim_client_scd2",
                "dim_product_scd2",
                "order_line_current",
                "fact_order_status_event",
                "fact_order_lifecycle",
            ]
            .iter()
            .position(|x| *x == n)
            .unwrap_or(5)
        };
        written.sort_by_key(|(n, _)| rank(n));
        let files: Vec<&str> = published.iter().map(|m| m.file_id.as_str()).collect();
        let build = serde_json::json!({
            "tables": written.iter().map(|(n, rows)| serde_json::json!({"name": n, "rows": rows})).collect::<Vec<_>>(),
            "files": files,
        });
        let mut bytes = build.to_string().into_bytes();
        bytes.push(b'\n');
        self.store.put_bytes(&format!("{MODELS}/_build.json"), &bytes)?;
        Ok(written)
    }

    /// Calls `f` with each batch of the fact object `key` that may hold orders in `[lo, hi]`
    /// (its row groups' statistics say which).
    fn for_each_fact_batch(
        &self,
        key: &str,
        lo: i64,
        hi: i64,
        mut f: impl FnMut(&RecordBatch) -> duff_core::Result<()>,
    ) -> Result<()> {
        let wrap = |source| Error::ServingObject { key: key.to_owned(), source };
        let wanted = |a: i64, b: i64| a <= hi && lo <= b;
        match self.open_object(key)? {
            crate::serving::Object::File(file) => {
                let groups = tables::row_groups_where(&file, "order_id", wanted).map_err(wrap)?;
                for b in tables::lines_reader(file, Some(groups)).map_err(wrap)? {
                    f(&b.map_err(wrap)?)?;
                }
            }
            crate::serving::Object::Bytes(bytes) => {
                let groups = tables::row_groups_where(&bytes, "order_id", wanted).map_err(wrap)?;
                for b in tables::lines_reader(bytes, Some(groups)).map_err(wrap)? {
                    f(&b.map_err(wrap)?)?;
                }
            }
        }
        Ok(())
    }

    /// The current `(client_id, channel, status)` of every line of the orders in `[lo, hi]`.
    fn current_of_range(
        &self,
        runs: &[Run],
        lo: i64,
        hi: i64,
        names: &mut Names,
    ) -> Result<BTreeMap<LineKey, (i64, Channel, Status)>> {
        let mut out = BTreeMap::new();
        for run in runs {
            self.read_run_lines(
                &run.by_key,
                "order_id",
                |a, b| a <= hi && lo <= b,
                names,
                |l| {
                    if lo <= l.key.order_id && l.key.order_id <= hi {
                        out.insert(l.key, (l.client_id, l.channel, l.status));
                    }
                },
            )?;
        }
        Ok(out)
    }
}
