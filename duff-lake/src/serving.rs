//! The serving state in the lake: the current order lines and the report aggregates,
//! kept up to date as files are published, in committed *generations*.
//!
//! ```text
//! serving/_generations/<n>.json        the commit record of generation n (20 digits), created if absent
//! serving/_head                        the newest generation's number (a hint: readers probe past it)
//! serving/g<n>-<nonce>/...             the objects generation n's writer put (Parquet)
//! serving/_athena/<table>/manifest     the newest generation's objects, one URI per line (Athena symlink tables)
//! ```
//!
//! A generation lists the files folded so far, its *runs* of current lines (the first is the
//! base, each later run holds the lines one fold changed: the current line of a key is in the
//! newest run that holds it), and its aggregates (`cells_*`, `dim_*_current`, `files`).
//!
//! **Writing** ([`Lake::update_serving`]): read the newest generation, fold the published
//! files it does not list yet ([`duff_core::serving`]: only the orders those files touch
//! are read back, from the row groups whose statistics hold them), put the new objects
//! under a folder of their own, then create the next generation's record only if absent.
//! A writer that loses that race deletes its objects and folds again on top of the winner.
//! No lock: concurrent ingests each run the update after their commit, and every published
//! file ends up in a generation. Runs are merged into a new base (*compaction*) when they
//! hold more than a quarter of the base's lines, or too many runs ([`ServingConfig`]).
//!
//! **Reading** ([`ServingSnapshot`]): the aggregates answer every report that is not about
//! one client; a client's lines are read from each run's `by_client` file (the row groups
//! holding that client), newest run first.
//!
//! The state is a pure function of the published files: [`Lake::rebuild_serving`] folds
//! them all again into a new generation (after damage, or to check).

use crate::{Error, Lake, Result, Store};
use duff_core::lake::MANIFESTS;
use duff_core::reports::{Report, ReportFilter, Rows};
use duff_core::serving::tables::{self, LineHead, TableWriter};
use duff_core::serving::{Cube, Dims, FileTable, Line, Names, NewVersions};
use duff_core::{Channel, FileId, FileMeta, LineKey, Manifest, Outcome, Status, Table};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The folder of the serving state.
pub const SERVING: &str = "serving";
const GENERATIONS: &str = "serving/_generations";
const HEAD: &str = "serving/_head";
const ATHENA: &str = "serving/_athena";
/// The commit records' format.
pub const SERVING_FORMAT: u32 = 1;
/// How the serving state is laid out and compacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServingConfig {
    /// Runs beyond the base that trigger a compaction (default 16).
    pub max_runs: usize,
    /// Lines in the runs beyond the base that never trigger a compaction (default 2^20):
    /// past this, the runs are compacted once they hold more than a quarter of the base.
    pub min_compaction_lines: u64,
    /// Lines per `by_client` partition of a base, on average (default 2^18; a base is split
    /// by `client_id mod n`), and the most lines a thread sorts at a time when it writes a
    /// partition set aside (a range of its clients at a time, whatever the partition's
    /// size: two threads sort at once).
    pub lines_per_partition: u64,
    /// How long objects that the newest two generations no longer name are kept, for
    /// readers that loaded an older generation (default 5 minutes).
    pub grace: Duration,
    /// New versions sorted in memory before a chunk is set aside in a local file (default
    /// 2^20: a fold holds about this many lines, whatever the size of the files). Facts that
    /// list their orders by `order_id` are not set aside: they stream to the fold in chunks
    /// of at most `window_lines`.
    pub chunk_lines: usize,
    /// New lines folded at a time (default 2^16; their orders' lines are read per window).
    pub window_lines: usize,
    /// Lines per row group of a run's `by_key` file (default 2^14,
    /// `tables::SERVING_ROW_GROUP_ROWS`: a fold looking for a few orders decodes little
    /// more than their row groups).
    pub row_group_lines: usize,
    /// Lines per range when the analytics models' history is rebuilt (default 2^19: memory
    /// holds one range, about 500 B a line with its status history; at 10M lines the
    /// refresh peaks near 400 MB with 2^19, 1.2 GB with 2^21, benches/serving.sh).
    pub model_range_lines: usize,
}

impl Default for ServingConfig {
    fn default() -> ServingConfig {
        ServingConfig {
            max_runs: 16,
            min_compaction_lines: 1 << 20,
            lines_per_partition: 1 << 18,
            grace: Duration::from_secs(300),
            chunk_lines: 1 << 20,
            window_lines: 1 << 16,
            row_group_lines: tables::SERVING_ROW_GROUP_ROWS,
            model_range_lines: 1 << 19,
        }
    }
}
/// Lines encoded per batch when writing runs.
const BATCH_LINES: usize = 1 << 14;

/// A folded file, as a generation lists it (its position is its seq).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Content id.
    pub file_id: String,
    /// Source key.
    pub source: String,
    /// Ingest instant, microseconds.
    pub ingested_at_micros: i64,
}

/// A run of current lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// The generation that wrote it.
    pub generation: u64,
    /// Its lines.
    pub lines: u64,
    /// The lines sorted by `(order_id, product_id)`.
    pub by_key: String,
    /// The same lines split by `client_id` (partition `client_id mod len`), each file sorted
    /// by `(client_id, order_id, product_id)`.
    pub by_client: Vec<String>,
    /// The lines' keys alone, in key order (`tables::keys_schema`): what a reader loads to
    /// know which lines this run replaces in the runs before it. Absent from runs written
    /// before it existed: their keys are read from `by_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<String>,
}

/// The commit record of a generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generation {
    /// [`SERVING_FORMAT`].
    pub format: u32,
    /// Its number (the first is 1).
    pub generation: u64,
    /// When it was committed (the writer's clock), microseconds.
    pub committed_at_micros: i64,
    /// The folded files, in seq order.
    pub files: Vec<FileEntry>,
    /// Runs of current lines, the base first.
    pub runs: Vec<Run>,
    /// The aggregate tables by name (`cells_product`, `cells_client`, `cells_total`,
    /// `dim_client_current`, `dim_product_current`, `files`): their keys.
    pub tables: BTreeMap<String, String>,
    /// Current order lines.
    pub lines: u64,
}

impl Generation {
    /// The file table of the folded files.
    ///
    /// # Errors
    /// A file id that is not 32 hex digits.
    pub fn file_table(&self) -> Result<FileTable> {
        let mut metas = Vec::with_capacity(self.files.len());
        for f in &self.files {
            let file_id = FileId::parse(&f.file_id).ok_or_else(|| Error::Serving {
                message: format!("generation {} lists a file id that is not 32 hex digits", self.generation),
            })?;
            metas.push(FileMeta { file_id, source: f.source.clone(), ingested_at_micros: f.ingested_at_micros });
        }
        Ok(FileTable::from_files(metas))
    }

    /// Every object it names.
    pub fn objects(&self) -> BTreeSet<&str> {
        let mut out: BTreeSet<&str> = self.tables.values().map(String::as_str).collect();
        for r in &self.runs {
            out.insert(&r.by_key);
            out.extend(r.by_client.iter().map(String::as_str));
            out.extend(r.keys.as_deref());
        }
        out
    }
}

fn generation_key(n: u64) -> String {
    format!("{GENERATIONS}/{n:020}.json")
}

/// What an update of the serving state did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServingUpdate {
    /// The newest generation after the update (`None`: no file was ever published).
    pub generation: Option<u64>,
    /// Files folded by this update.
    pub files_folded: usize,
    /// Lines that changed.
    pub lines_changed: u64,
    /// Whether the runs were merged into a new base.
    pub compacted: bool,
    /// Commit races lost (the fold was redone on top of the winner).
    pub retries: u32,
    /// Wall time.
    pub elapsed: Duration,
    /// Wall time per step of the last fold: `read` (aggregates and the new files' facts),
    /// `lookup` (the touched orders' lines), `fold`, `write` (runs and aggregates),
    /// `compact`, `commit`.
    pub steps: Vec<(&'static str, Duration)>,
}

/// A stored object opened for reading: a local file (read by row group) or its bytes.
pub(crate) enum Object {
    File(File),
    Bytes(duff_core::bytes::Bytes),
}

impl<S: Store> Lake<S> {
    pub(crate) fn open_object(&self, key: &str) -> Result<Object> {
        if let Some(path) = self.store.local_path(key) {
            return match File::open(&path) {
                Ok(f) => Ok(Object::File(f)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::MissingObject { key: key.to_owned() }),
                Err(source) => Err(Error::Io { action: "opening", path, source }),
            };
        }
        let bytes = self.store.get(key)?.ok_or_else(|| Error::MissingObject { key: key.to_owned() })?;
        Ok(Object::Bytes(bytes.into()))
    }

    /// The lines of a run file whose `column` statistics may match, for which `keep` holds.
    pub(crate) fn read_run_lines(
        &self,
        key: &str,
        column: &str,
        wanted: impl Fn(i64, i64) -> bool,
        names: &mut Names,
        keep: impl FnMut(Line),
    ) -> Result<()> {
        read_lines_where(self.open_object(key)?, key, column, wanted, names, keep)
    }

    fn read_table(&self, key: &str) -> Result<Vec<duff_core::arrow_array::RecordBatch>> {
        let bytes = self.store.get(key)?.ok_or_else(|| Error::MissingObject { key: key.to_owned() })?;
        duff_core::read_parquet(bytes).map_err(|source| Error::ServingObject { key: key.to_owned(), source })
    }

    /// The newest committed generation, if any.
    ///
    /// # Errors
    /// Unreadable records or listings.
    pub fn serving_head(&self) -> Result<Option<Generation>> {
        // The hint, then every record past it (a writer may have died before moving it).
        let hint = match self.store.get(HEAD)? {
            Some(b) => String::from_utf8_lossy(&b).trim().parse::<u64>().ok(),
            None => None,
        };
        let mut n = match hint {
            Some(n) => n,
            None => {
                let keys = self.store.list(&format!("{GENERATIONS}/"))?;
                keys.iter()
                    .filter_map(|k| k.rsplit('/').next()?.strip_suffix(".json")?.parse::<u64>().ok())
                    .max()
                    .unwrap_or(0)
            }
        };
        let mut newest = None;
        if n > 0 {
            newest = self.generation(n)?;
        }
        loop {
            match self.generation(n + 1)? {
                Some(g) => {
                    newest = Some(g);
                    n += 1;
                }
                None => return Ok(newest),
            }
        }
    }

    /// The record of generation `n`.
    ///
    /// # Errors
    /// An unreadable or unparsable record.
    pub fn generation(&self, n: u64) -> Result<Option<Generation>> {
        let key = generation_key(n);
        match self.store.get(&key)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::Serving { message: format!("{key} cannot be read: {e}") }),
        }
    }

    /// Folds every published file that the newest generation does not hold yet, and commits
    /// the next generation (see the [module docs](self)). Does nothing when up to date.
    ///
    /// # Errors
    /// Storage failures, or a damaged serving object (rebuild with
    /// [`rebuild_serving`](Self::rebuild_serving)).
    pub fn update_serving(&self) -> Result<ServingUpdate> {
        self.update_serving_with(false)
    }

    /// Folds every published file into an empty state and commits it as the next generation:
    /// the serving state rebuilt from the lake alone.
    ///
    /// # Errors
    /// Storage failures or unreadable lake objects.
    pub fn rebuild_serving(&self) -> Result<ServingUpdate> {
        self.update_serving_with(true)
    }

    fn update_serving_with(&self, rebuild: bool) -> Result<ServingUpdate> {
        let started = Instant::now();
        let mut retries = 0;
        loop {
            let head = self.serving_head()?;
            let known: BTreeSet<&str> = match (&head, rebuild) {
                (Some(g), false) => g.files.iter().map(|f| f.file_id.as_str()).collect(),
                _ => BTreeSet::new(),
            };
            let new = self.unfolded(&known)?;
            if new.is_empty() && !(rebuild && head.is_some()) {
                if let Some(g) = &head {
                    self.athena_manifests_follow(g)?;
                }
                return Ok(ServingUpdate {
                    generation: head.map(|g| g.generation),
                    files_folded: 0,
                    lines_changed: 0,
                    compacted: false,
                    retries,
                    elapsed: started.elapsed(),
                    steps: Vec::new(),
                });
            }
            let next = head.as_ref().map_or(1, |g| g.generation + 1);
            let base = if rebuild { None } else { head.as_ref() };
            let nonce = nonce();
            let folder = format!("{SERVING}/g{next:020}-{nonce}");
            let mut steps = Steps::default();
            let (generation, changed, compacted) = match self.fold_generation(base, &new, next, &folder, &mut steps) {
                Ok(x) => x,
                Err(e) => {
                    let _ = self.store.delete_prefix(&format!("{folder}/"));
                    return Err(e);
                }
            };
            let bytes = serde_json::to_vec_pretty(&generation)
                .map_err(|e| Error::Serving { message: format!("encoding generation {next}: {e}") })?;
            if self.store.put_if_absent(&generation_key(next), &bytes)? {
                self.store.put_bytes(HEAD, format!("{next}\n").as_bytes())?;
                self.write_athena_manifests(&generation)?;
                self.vacuum_serving(&generation, self.serving.grace)?;
                steps.lap("commit");
                return Ok(ServingUpdate {
                    generation: Some(next),
                    files_folded: new.len(),
                    lines_changed: changed,
                    compacted,
                    retries,
                    elapsed: started.elapsed(),
                    steps: steps.done,
                });
            }
            // Another writer committed this generation first: fold again on top of it.
            self.store.delete_prefix(&format!("{folder}/"))?;
            retries += 1;
        }
    }

    /// The published manifests whose file is not in `known`, in version order.
    fn unfolded(&self, known: &BTreeSet<&str>) -> Result<Vec<Manifest>> {
        let mut out = Vec::new();
        for key in self.store.list(&format!("{MANIFESTS}/"))? {
            let Some(id) = key.rsplit('/').next().and_then(|n| n.strip_suffix(".json")) else { continue };
            if known.contains(id) {
                continue;
            }
            let Some(bytes) = self.store.get(&key)? else { continue };
            let m = Manifest::from_json(&bytes).map_err(|source| Error::Manifest { key: key.clone(), source })?;
            if m.outcome == Outcome::Published {
                out.push(m);
            }
        }
        out.sort_by(|a, b| {
            (a.ingested_at_micros, &a.source, &a.file_id).cmp(&(b.ingested_at_micros, &b.source, &b.file_id))
        });
        Ok(out)
    }

    /// Folds `new` into `head` (or into an empty state) and writes generation `next`'s
    /// objects under `folder`. Returns the record (not committed), the lines changed and
    /// whether the runs were compacted.
    fn fold_generation(
        &self,
        head: Option<&Generation>,
        new: &[Manifest],
        next: u64,
        folder: &str,
        steps: &mut Steps,
    ) -> Result<(Generation, u64, bool)> {
        let mut names = Names::default();
        let mut files = match head {
            Some(g) => g.file_table()?,
            None => FileTable::new(),
        };
        let (mut cube, mut dims) = match head {
            Some(g) => self.read_aggregates(g, &mut names)?,
            None => (Cube::new(), Dims::new()),
        };
        let metas: Vec<FileMeta> = new.iter().map(Manifest::meta).collect::<duff_core::Result<_>>()?;
        for m in &metas {
            files.add(m.clone());
        }
        let runs: Vec<Run> = head.map_or_else(Vec::new, |g| g.runs.clone());
        let estimate: u64 = new.iter().map(|m| m.rows_accepted).sum();
        let file_id = FileId::of_bytes(folder.as_bytes());
        let (run, lines_changed) = self.with_staging(&file_id, |staging| {
            let objects: Vec<(&FileMeta, &str)> = new
                .iter()
                .zip(&metas)
                .flat_map(|(m, meta)| {
                    m.outputs.iter().filter(|o| o.table == Table::FactOrderLine).map(move |o| (meta, o.key.as_str()))
                })
                .collect();
            let fold = Fold { files: &files, runs: &runs, objects: &objects, staging, next, estimate };
            // Facts exported by order stream straight to the fold; the first chunk out of key
            // order (they were not listed by order after all) stops that attempt before
            // anything is put, and the fold starts over, merging sorted chunks. Facts whose
            // statistics already show them out of order merge at once.
            let streamed = if self.facts_may_stream(&objects)? { self.fold_new(&fold, true, steps)? } else { None };
            let done = match streamed {
                Some(done) => done,
                None => self.fold_new(&fold, false, steps)?.ok_or_else(|| Error::Internal {
                    what: "serving fold",
                    message: "merged new versions were out of key order".into(),
                })?,
            };
            cube.apply(done.delta);
            duff_core::serving::fold_dims(&files, &mut dims, &done.versions);
            let count = done.writer.count;
            let run = if count > 0 || runs.is_empty() { Some(done.writer.finish(self, folder)?) } else { None };
            steps.lap("write");
            Ok((run, count))
        })?;

        let mut runs = runs;
        let mut compacted = false;
        if let Some(run) = run {
            runs.push(run);
        }
        if runs.len() > 1 {
            let base_lines = runs[0].lines;
            let pending: u64 = runs.iter().skip(1).map(|r| r.lines).sum();
            let cfg = &self.serving;
            if runs.len() - 1 > cfg.max_runs || pending > cfg.min_compaction_lines.max(base_lines / 4) {
                let base = self.compact(&files, &runs, next, folder, &mut names)?;
                // The run just written is in the base now.
                if let Some(last) = runs.last().filter(|r| r.generation == next) {
                    self.store.delete(&last.by_key)?;
                    for k in last.keys.iter().chain(&last.by_client) {
                        self.store.delete(k)?;
                    }
                }
                runs = vec![base];
                compacted = true;
                steps.lap("compact");
            }
        }
        let mut tables_out = BTreeMap::new();
        for (name, batch) in tables::cube_batches(&cube)? {
            tables_out.insert(name.to_owned(), self.put_table(folder, name, &batch)?);
        }
        for (name, batch) in tables::dims_batches(&dims)? {
            tables_out.insert(name.to_owned(), self.put_table(folder, name, &batch)?);
        }
        tables_out.insert("files".into(), self.put_table(folder, "files", &tables::files_batch(&files)?)?);
        let generation = Generation {
            format: SERVING_FORMAT,
            generation: next,
            committed_at_micros: now_micros(),
            files: files
                .files()
                .iter()
                .map(|f| FileEntry {
                    file_id: f.file_id.to_string(),
                    source: f.source.clone(),
                    ingested_at_micros: f.ingested_at_micros,
                })
                .collect(),
            runs,
            tables: tables_out,
            lines: u64::try_from(cube.total().lines).unwrap_or(0),
        };
        steps.lap("write");
        Ok((generation, lines_changed, compacted))
    }

    /// Folds the new files' versions into `fold.runs`' orders: the changed lines go to a
    /// run writer (not finished), the cube's changes to a delta. `streamed`: the facts are
    /// taken to list their orders by `order_id` and stream to the fold as they are read;
    /// `None` when they turn out not to (nothing was put; fold again with `streamed` false).
    /// Otherwise each chunk is sorted and set aside in a local file, and the chunks are
    /// merged back in key order.
    fn fold_new<'f>(&self, fold: &Fold<'f>, streamed: bool, steps: &mut Steps) -> Result<Option<Folded<'f>>> {
        let Fold { files, runs, objects, staging, next, estimate } = *fold;
        let chunk_lines = self.serving.chunk_lines.max(1);
        let mut merged_versions = NewVersions::new();
        let mut new_lines = if streamed {
            // Small chunks: the fold starts after the first one, and memory holds one.
            let chunk = chunk_lines.min(self.serving.window_lines.max(1));
            NewLines::Streamed(Box::new(NewStream::new(NewChunks::new(self, files, objects, chunk, true))))
        } else {
            let mut read = NewChunks::new(self, files, objects, chunk_lines, false);
            let mut chunks = Vec::new();
            let mut last = Vec::new();
            while let Some(chunk) = read.next_chunk()? {
                if read.at_end()? {
                    last = chunk;
                    break;
                }
                let path = staging.join(format!("new_{:04}.parquet", chunks.len()));
                write_local(&path, files, &chunk)?;
                chunks.push(path);
            }
            merged_versions = std::mem::take(&mut read.versions);
            NewLines::Merged(NewMerge::open(&chunks, last, files)?)
        };
        steps.lap("read");
        // Fold a window of orders at a time, in two stages on two threads: one merges the
        // new versions into windows and reads the current lines of each window's orders
        // from the row groups holding them; this one folds each window into the cube's
        // changes and streams the changed lines to the new run (its encoder is a third thread).
        let parts = if runs.is_empty() { self.partitions(estimate) } else { 1 };
        let name = if runs.is_empty() { "base" } else { "run" };
        // A small base (two partitions at most: what the end of the run holds in memory
        // anyway) keeps its partitions in memory instead of setting them aside.
        let in_memory = runs.is_empty() && parts <= 2;
        let mut writer = RunWriter::new(staging, name, files, next, parts, in_memory, self.serving.row_group_lines)?;
        let window_lines = self.serving.window_lines.max(1);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Window>(2);
        // The cube's changes, applied once at the end of the fold.
        let mut delta = duff_core::serving::CubeDelta::new();
        let folded = std::thread::scope(|scope| -> Result<()> {
            // Owned here: when this stage stops on an error, the receiver goes with it and
            // the lookup stage, blocked on a full channel, stops too (the scope waits for it).
            let rx = rx;
            let lookup = std::thread::Builder::new()
                .name("duff-fold-lookup".into())
                .spawn_scoped(scope, {
                    let new_lines = &mut new_lines;
                    move || self.windows(runs, new_lines, window_lines, tx)
                })
                .map_err(|source| Error::Io { action: "starting a thread for", path: staging.to_owned(), source })?;
            steps.lap("read");
            for w in &rx {
                steps.lap("lookup");
                let changed = duff_core::serving::fold_orders_into(files, &mut delta, &w.new, &w.before);
                steps.lap("fold");
                writer.push(changed)?;
                steps.lap("write");
            }
            lookup.join().map_err(|_| Error::Serving { message: "the fold's lookup thread panicked".into() })?
        });
        if let Err(e) = folded {
            // The encoder stops before a second attempt writes the same scratch files.
            let _ = writer.join();
            return match &new_lines {
                NewLines::Streamed(s) if s.out_of_order => Ok(None),
                _ => Err(e),
            };
        }
        let versions = match new_lines {
            NewLines::Streamed(s) => s.chunks.versions,
            NewLines::Merged(_) => merged_versions,
        };
        Ok(Some(Folded { writer, delta, versions }))
    }

    /// The lookup stage of a fold: cuts the merged new versions into windows of whole
    /// orders (about `window_lines` lines) and sends each with the current lines of its
    /// orders in `runs`. Stops early when the fold stage is gone.
    fn windows(
        &self,
        runs: &[Run],
        merged: &mut NewLines<'_, S>,
        window_lines: usize,
        tx: std::sync::mpsc::SyncSender<Window>,
    ) -> Result<()> {
        let mut names = Names::default();
        let mut cache = ObjectCache::default();
        let mut window: Vec<Line> = Vec::with_capacity(window_lines);
        let mut send = |new: Vec<Line>, names: &mut Names| -> Result<bool> {
            let mut orders: Vec<i64> = new.iter().map(|l| l.key.order_id).collect();
            orders.dedup();
            let before = self.lines_of_orders(runs, &orders, names, &mut cache)?;
            Ok(tx.send(Window { new, before }).is_ok())
        };
        while let Some(l) = merged.next_line(&mut names)? {
            if window.len() >= window_lines && window.last().is_some_and(|w| w.key.order_id != l.key.order_id) {
                let full = std::mem::replace(&mut window, Vec::with_capacity(window_lines));
                if !send(full, &mut names)? {
                    return Ok(());
                }
            }
            window.push(l);
        }
        if !window.is_empty() {
            send(window, &mut names)?;
        }
        Ok(())
    }

    fn put_table(&self, folder: &str, name: &str, batch: &duff_core::arrow_array::RecordBatch) -> Result<String> {
        let key = format!("{folder}/{name}.parquet");
        self.store.put_bytes(&key, &tables::to_table_bytes(batch.schema(), std::slice::from_ref(batch))?)?;
        Ok(key)
    }

    /// The aggregates of a generation.
    fn read_aggregates(&self, g: &Generation, names: &mut Names) -> Result<(Cube, Dims)> {
        let mut cube = Cube::new();
        let mut dims = Dims::new();
        for (name, key) in &g.tables {
            let wrap = |source| Error::ServingObject { key: key.clone(), source };
            match name.as_str() {
                "cells_product" | "cells_client" | "cells_total" => {
                    for b in self.read_table(key)? {
                        tables::read_cells(&mut cube, name, &b).map_err(wrap)?;
                    }
                }
                "dim_client_current" | "dim_product_current" => {
                    for b in self.read_table(key)? {
                        tables::read_dims(&mut dims, names, name, &b).map_err(wrap)?;
                    }
                }
                _ => {}
            }
        }
        Ok((cube, dims))
    }

    /// Every current line of the `orders` (sorted), from `runs` (the newest wins), sorted
    /// by key.
    fn lines_of_orders(
        &self,
        runs: &[Run],
        orders: &[i64],
        names: &mut Names,
        cache: &mut ObjectCache,
    ) -> Result<Vec<Line>> {
        let mut found: BTreeMap<LineKey, Line> = BTreeMap::new();
        if orders.is_empty() {
            return Ok(Vec::new());
        }
        let wanted = |lo: i64, hi: i64| {
            let i = orders.partition_point(|o| *o < lo);
            orders.get(i).is_some_and(|o| *o <= hi)
        };
        for run in runs {
            let object = cache.open(self, &run.by_key)?;
            read_lines_where(object, &run.by_key, "order_id", wanted, names, |l| {
                if orders.binary_search(&l.key.order_id).is_ok() {
                    found.insert(l.key, l);
                }
            })?;
        }
        Ok(found.into_values().collect())
    }

    /// Merges `runs` (the newest wins for a key) into one base run of generation `next`,
    /// streamed in key order (see [`RunWriter`]).
    fn compact(&self, files: &FileTable, runs: &[Run], next: u64, folder: &str, names: &mut Names) -> Result<Run> {
        let total: u64 = runs.iter().map(|r| r.lines).sum();
        let parts = self.partitions(total);
        let file_id = FileId::of_bytes(format!("{folder}/compact").as_bytes());
        self.with_staging(&file_id, |staging| {
            let mut writer =
                RunWriter::new(staging, "base", files, next, parts, parts <= 2, self.serving.row_group_lines)?;
            let mut merge = RunMerge::open(self, runs)?;
            let mut batch: Vec<Line> = Vec::with_capacity(BATCH_LINES);
            while let Some(l) = merge.next_line(names)? {
                batch.push(l);
                if batch.len() == BATCH_LINES {
                    writer.push(std::mem::replace(&mut batch, Vec::with_capacity(BATCH_LINES)))?;
                }
            }
            writer.push(batch)?;
            writer.finish(self, folder)
        })
    }

    /// Rewrites the symlink manifests Athena reads when they do not name `g`'s objects (a
    /// writer died between its commit and their rewrite: docs/lake.md, "After a crash").
    fn athena_manifests_follow(&self, g: &Generation) -> Result<()> {
        for (key, text) in self.athena_manifests(g) {
            if self.store.get(&key)?.as_deref() != Some(text.as_bytes()) {
                return self.write_athena_manifests(g);
            }
        }
        Ok(())
    }

    /// Writes the symlink manifests Athena reads ([`Lake::athena_manifests`]).
    fn write_athena_manifests(&self, g: &Generation) -> Result<()> {
        for (key, text) in self.athena_manifests(g) {
            self.store.put_bytes(&key, text.as_bytes())?;
        }
        Ok(())
    }

    /// The symlink manifests Athena reads for `g`, `(key, text)`, one object URI per line:
    /// every run's `by_key` file for `serving_lines`, each aggregate table for its own table.
    fn athena_manifests(&self, g: &Generation) -> Vec<(String, String)> {
        let root = self.store.location();
        let uri = |key: &str| format!("{}/{key}\n", root.trim_end_matches('/'));
        let mut out =
            vec![(format!("{ATHENA}/serving_lines/manifest"), g.runs.iter().map(|r| uri(&r.by_key)).collect())];
        out.extend(g.tables.iter().map(|(name, key)| (format!("{ATHENA}/serving_{name}/manifest"), uri(key))));
        out
    }

    /// Removes what the serving state no longer needs: the objects of generations older than
    /// the previous one that the newest does not name (once the previous generation has been
    /// the newest for `grace`, so that readers moved on), their commit records, and the
    /// leftovers of writers that lost a commit race or died.
    ///
    /// # Errors
    /// Listing or delete failures.
    pub fn vacuum_serving(&self, head: &Generation, grace: Duration) -> Result<usize> {
        let previous = match head.generation.checked_sub(1).filter(|n| *n > 0) {
            Some(n) => self.generation(n)?,
            None => None,
        };
        let settled = match &previous {
            Some(p) => now_micros().saturating_sub(p.committed_at_micros) >= grace.as_micros() as i64,
            None => true,
        };
        if !settled {
            return Ok(0);
        }
        let mut keep: BTreeSet<&str> = head.objects();
        if let Some(p) = &previous {
            keep.extend(p.objects());
        }
        let oldest_kept = previous.as_ref().map_or(head.generation, |p| p.generation);
        let mut removed = 0;
        for key in self.store.list(&format!("{SERVING}/"))? {
            let rest = &key[SERVING.len() + 1..];
            let generation_of = |s: &str| s.get(1..21).and_then(|d| d.parse::<u64>().ok());
            let stale = if let Some(record) = rest.strip_prefix("_generations/") {
                record.strip_suffix(".json").and_then(|d| d.parse::<u64>().ok()).is_some_and(|n| n < oldest_kept)
            } else if rest.starts_with('g') {
                generation_of(rest).is_some_and(|n| n < oldest_kept) && !keep.contains(key.as_str())
            } else {
                false
            };
            if stale {
                self.store.delete(&key)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// A reader of the newest generation (`None` before the first one).
    ///
    /// # Errors
    /// Unreadable records or aggregates.
    pub fn serving_snapshot(&self) -> Result<Option<ServingSnapshot>> {
        match self.serving_head()? {
            Some(g) => Ok(Some(self.snapshot_of(g)?)),
            None => Ok(None),
        }
    }

    /// A reader of generation `g`: its aggregates, and the keys of its runs past the base.
    ///
    /// # Errors
    /// Unreadable aggregates or runs.
    pub fn snapshot_of(&self, g: Generation) -> Result<ServingSnapshot> {
        let mut names = Names::default();
        let (cube, dims) = self.read_aggregates(&g, &mut names)?;
        let mut keys = Vec::with_capacity(g.runs.len().saturating_sub(1));
        for r in g.runs.iter().skip(1) {
            let key = r.keys.as_ref().unwrap_or(&r.by_key);
            let wrap = |source| Error::ServingObject { key: key.clone(), source };
            let mut k = match self.open_object(key)? {
                Object::File(f) => tables::read_keys(f).map_err(wrap)?,
                Object::Bytes(b) => tables::read_keys(b).map_err(wrap)?,
            };
            k.sort_unstable();
            keys.push(k);
        }
        Ok(ServingSnapshot {
            generation: g,
            cube,
            dims,
            run_keys: keys,
            footers: Default::default(),
            ranges: Default::default(),
        })
    }

    /// The current lines of one client in `snapshot`, sorted by key.
    ///
    /// # Errors
    /// Unreadable run objects (one removed by a vacuum after a long pause, say: load the
    /// newest snapshot again).
    pub fn client_lines(&self, snapshot: &ServingSnapshot, client_id: i64) -> Result<Vec<Line>> {
        let mut names = Names::default();
        // Each current line is in one run only (the newest holding its key): no merging.
        let mut out: Vec<Line> = Vec::new();
        for part in self.client_parts(snapshot, client_id)? {
            // The client's lines come in key order: each newer run's keys are searched from
            // where the previous line was found (galloping), not from the start.
            let mut seen = KeyCursors::new(part.newer);
            out.reserve(part.footer.rows(&part.groups));
            part.lines(&mut names, |l| {
                if l.client_id == client_id && !seen.contains(l.key) {
                    out.push(l);
                }
            })?;
        }
        out.sort_unstable_by_key(|l| l.key);
        Ok(out)
    }

    /// A page of one client's current lines in `snapshot`: the first `limit` by key after
    /// `after`, of those whose head `keep` accepts; what [`Lake::client_lines`] filtered
    /// and cut would give.
    ///
    /// Only the lines of the page are decoded whole: the others' heads (key, client,
    /// channel, status: five columns of fifteen) are enough to choose them.
    ///
    /// # Errors
    /// Unreadable run objects, as [`Lake::client_lines`].
    pub fn client_page(
        &self,
        snapshot: &ServingSnapshot,
        client_id: i64,
        after: Option<LineKey>,
        keep: impl Fn(&LineHead) -> bool,
        limit: usize,
    ) -> Result<Vec<Line>> {
        let parts = self.client_parts(snapshot, client_id)?;
        // The chosen lines: (key, part, row among the part's rows).
        let mut chosen: Vec<(LineKey, usize, usize)> = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let mut seen = KeyCursors::new(part.newer);
            let (mut row, mut of_part) = (0usize, 0usize);
            part.heads(|h| {
                // A run's lines come sorted by client, then key: past the client's lines,
                // or past its first `limit` candidates, none of its lines can be on the page.
                if of_part == limit || h.client_id > client_id {
                    return std::ops::ControlFlow::Break(());
                }
                if h.client_id == client_id && after.is_none_or(|a| h.key > a) && keep(&h) && !seen.contains(h.key) {
                    chosen.push((h.key, i, row));
                    of_part += 1;
                }
                row += 1;
                std::ops::ControlFlow::Continue(())
            })?;
        }
        chosen.sort_unstable();
        chosen.truncate(limit);
        chosen.sort_unstable_by_key(|&(_, part, row)| (part, row));
        let mut names = Names::default();
        let mut out: Vec<Line> = Vec::with_capacity(chosen.len());
        for (i, part) in parts.iter().enumerate() {
            let of_part = &chosen[chosen.partition_point(|c| c.1 < i)..chosen.partition_point(|c| c.1 <= i)];
            let rows: Vec<usize> = of_part.iter().map(|c| c.2).collect();
            let mut want = of_part.iter().map(|c| c.0);
            let mut wrong = false;
            part.lines_at(&rows, &mut names, |l| {
                wrong |= want.next() != Some(l.key);
                out.push(l);
            })?;
            if wrong || want.next().is_some() {
                return Err(Error::Serving {
                    message: format!("{}: the lines read at the chosen rows are not the lines chosen", part.key),
                });
            }
        }
        out.sort_unstable_by_key(|l| l.key);
        Ok(out)
    }

    /// The row groups of each run of `snapshot` that may hold `client_id`, fetched: one
    /// ranged read per run (the client's row groups are next to each other in a file
    /// sorted by client).
    fn client_parts<'a>(&self, snapshot: &'a ServingSnapshot, client_id: i64) -> Result<Vec<ClientPart<'a>>> {
        let mut out = Vec::new();
        let runs = &snapshot.generation.runs;
        for (i, run) in runs.iter().enumerate() {
            let parts = run.by_client.len();
            let Some(key) = run.by_client.get(partition(client_id, parts.max(1))) else { continue };
            let wrap = |source| Error::ServingObject { key: key.clone(), source };
            let footer = self.footer(snapshot, key)?;
            let groups =
                footer.row_groups_where("client_id", |lo, hi| lo <= client_id && client_id <= hi).map_err(wrap)?;
            if groups.is_empty() {
                continue;
            }
            let (start, len) = footer.byte_range(&groups);
            let kept = snapshot.ranges.lock().ok().and_then(|r| r.get(i, client_id));
            let bytes = match kept {
                Some(b) => b,
                None => {
                    let b: duff_core::bytes::Bytes = self
                        .store
                        .get_range(key, start, len)?
                        .ok_or_else(|| Error::MissingObject { key: key.clone() })?
                        .into();
                    if let Ok(mut r) = snapshot.ranges.lock() {
                        r.keep(i, client_id, &b);
                    }
                    b
                }
            };
            out.push(ClientPart {
                key,
                footer,
                start,
                bytes,
                groups,
                // Later runs hold newer versions: a line in one of them is not current here.
                newer: &snapshot.run_keys[i.min(snapshot.run_keys.len())..],
            });
        }
        Ok(out)
    }

    /// The footer of a run file of `snapshot`, read (one ranged read of its end, two when
    /// the footer is long) the first time it is asked for, then kept with the snapshot.
    fn footer(&self, snapshot: &ServingSnapshot, key: &str) -> Result<Arc<tables::Footer>> {
        if let Some(f) = snapshot.footers.lock().ok().and_then(|m| m.get(key).cloned()) {
            return Ok(f);
        }
        let footer = Arc::new(self.read_footer(key)?);
        if let Ok(mut m) = snapshot.footers.lock() {
            m.insert(key.to_owned(), footer.clone());
        }
        Ok(footer)
    }

    /// The footer of a Parquet object, from one ranged read of its end (two when it is
    /// longer than [`tables::Footer::TAIL_GUESS`]).
    fn read_footer(&self, key: &str) -> Result<tables::Footer> {
        let wrap = |source| Error::ServingObject { key: key.to_owned(), source };
        let missing = || Error::MissingObject { key: key.to_owned() };
        let (tail, size) = self.store.get_tail(key, tables::Footer::TAIL_GUESS)?.ok_or_else(missing)?;
        let footer = match tables::Footer::parse(&tail, size).map_err(wrap)? {
            Ok(f) => f,
            Err(need) => {
                let (tail, size) = self.store.get_tail(key, need)?.ok_or_else(missing)?;
                tables::Footer::parse(&tail, size).map_err(wrap)?.map_err(|_| Error::ServingObject {
                    key: key.to_owned(),
                    source: duff_core::ErrorKind::Schema {
                        table: "serving",
                        message: "the footer is longer than the file's end".into(),
                    }
                    .into(),
                })?
            }
        };
        Ok(footer)
    }

    /// False when the `order_id` statistics of the fact objects show that, read one after
    /// the other, they do not list their orders by `order_id` (a row group that starts
    /// before the previous one ended): the fold then merges without trying to stream
    /// first (files folded together, each listed by order but starting over, would
    /// otherwise be streamed up to the first one that starts over). True otherwise, even
    /// without statistics: the stream checks the order itself. Reads the footers alone.
    fn facts_may_stream(&self, objects: &[(&FileMeta, &str)]) -> Result<bool> {
        let mut previous = i64::MIN;
        for (_, key) in objects {
            let footer = self.read_footer(key)?;
            let ranges = footer
                .column_ranges("order_id")
                .map_err(|source| Error::ServingObject { key: (*key).to_owned(), source })?;
            for (lo, hi) in ranges.into_iter().flatten() {
                if lo < previous {
                    return Ok(false);
                }
                previous = hi;
            }
        }
        Ok(true)
    }
}

/// One run's row groups that may hold a client, fetched ([`Lake::client_parts`]).
struct ClientPart<'a> {
    key: &'a String,
    footer: Arc<tables::Footer>,
    start: u64,
    bytes: duff_core::bytes::Bytes,
    groups: Vec<usize>,
    /// The keys of the runs newer than this one.
    newer: &'a [Vec<LineKey>],
}

impl ClientPart<'_> {
    fn error(&self, source: duff_core::Error) -> Error {
        Error::ServingObject { key: self.key.clone(), source }
    }

    /// [`tables::Footer::read_lines`] of the part.
    fn lines(&self, names: &mut Names, f: impl FnMut(Line)) -> Result<()> {
        let (start, bytes, groups) = (self.start, self.bytes.clone(), self.groups.clone());
        self.footer.read_lines(start, bytes, groups, names, f).map_err(|e| self.error(e))
    }

    /// [`tables::Footer::read_heads`] of the part.
    fn heads(&self, f: impl FnMut(LineHead) -> std::ops::ControlFlow<()>) -> Result<()> {
        let (start, bytes, groups) = (self.start, self.bytes.clone(), self.groups.clone());
        self.footer.read_heads(start, bytes, groups, f).map_err(|e| self.error(e))
    }

    /// [`tables::Footer::read_lines_at`] of the part.
    fn lines_at(&self, rows: &[usize], names: &mut Names, f: impl FnMut(Line)) -> Result<()> {
        let (start, bytes, groups) = (self.start, self.bytes.clone(), self.groups.clone());
        self.footer.read_lines_at(start, bytes, groups, rows, names, f).map_err(|e| self.error(e))
    }
}

/// Objects read during one fold, fetched once each from a store that keeps no local file.
#[derive(Default)]
struct ObjectCache {
    bytes: BTreeMap<String, duff_core::bytes::Bytes>,
}

impl ObjectCache {
    fn open<S: Store>(&mut self, lake: &Lake<S>, key: &str) -> Result<Object> {
        if let Some(b) = self.bytes.get(key) {
            return Ok(Object::Bytes(b.clone()));
        }
        let object = lake.open_object(key)?;
        if let Object::Bytes(b) = &object {
            self.bytes.insert(key.to_owned(), b.clone());
        }
        Ok(object)
    }
}

/// The lines of a run object whose `column` statistics may match, for which `keep` holds.
fn read_lines_where(
    object: Object,
    key: &str,
    column: &str,
    wanted: impl Fn(i64, i64) -> bool,
    names: &mut Names,
    mut keep: impl FnMut(Line),
) -> Result<()> {
    let wrap = |source| Error::ServingObject { key: key.to_owned(), source };
    match object {
        Object::File(f) => {
            let groups = tables::row_groups_where(&f, column, wanted).map_err(wrap)?;
            if !groups.is_empty() {
                tables::read_lines(f, Some(groups), names, &mut keep).map_err(wrap)?;
            }
        }
        Object::Bytes(b) => {
            let groups = tables::row_groups_where(&b, column, wanted).map_err(wrap)?;
            if !groups.is_empty() {
                tables::read_lines(b, Some(groups), names, &mut keep).map_err(wrap)?;
            }
        }
    }
    Ok(())
}

/// Writes lines to a local Parquet file of the lines' schema.
fn write_local(path: &Path, files: &FileTable, lines: &[Line]) -> Result<()> {
    let mut w = TableWriter::scratch(open_staged(path)?, tables::lines_schema())?;
    for chunk in lines.chunks(BATCH_LINES) {
        w.write(&tables::lines_batch(files, chunk.iter(), 0)?)?;
    }
    if lines.is_empty() {
        w.write(&tables::lines_batch(files, std::iter::empty(), 0)?)?;
    }
    w.finish()?;
    Ok(())
}

/// What a fold of new files reads and where it stages.
#[derive(Clone, Copy)]
struct Fold<'f> {
    files: &'f FileTable,
    runs: &'f [Run],
    objects: &'f [(&'f FileMeta, &'f str)],
    staging: &'f Path,
    next: u64,
    /// Lines the new files hold (the partitions of a first base).
    estimate: u64,
}

/// A fold of new files done, not yet put: its run (to finish; it counts the lines that
/// changed), the cube's changes, and what the files say of clients and products.
struct Folded<'f> {
    writer: RunWriter<'f>,
    delta: duff_core::serving::CubeDelta,
    versions: NewVersions,
}

/// A run written as its lines come (sorted by key): the lines go to an encoder thread that
/// streams the `by_key` file and sets the `by_client` partitions aside in local scratch
/// files ([`Spill`]; a base of two partitions at most keeps them in memory); at the end the
/// partitions are sorted and encoded two at a time, so that the fold and the encoding share
/// the machine's two cores and memory holds two partitions' worth of lines, not the run.
struct RunWriter<'a> {
    files: &'a FileTable,
    generation: u64,
    name: &'static str,
    staging: &'a Path,
    count: u64,
    lines: Option<std::sync::mpsc::SyncSender<Vec<Line>>>,
    encoder: Option<std::thread::JoinHandle<Result<Encoded>>>,
}

/// What the encoder thread holds: the `by_key` file and the partitions' scratch files.
struct Encoded {
    by_key: TableWriter<BufWriter<File>>,
    /// The keys file (a base has none: no run before it to replace lines of).
    keys: Option<TableWriter<BufWriter<File>>>,
    /// The partitions' scratch files (none when the partitions stay in memory).
    spills: Vec<Spill>,
    /// The names of the spilled lines.
    names: SpillNames,
    /// The partitions kept in memory.
    pending: Vec<Vec<Line>>,
}

/// Bytes of a spilled line: ten 64-bit values, the file's seq and two name indexes, the
/// channel and the status.
const SPILLED: usize = 10 * 8 + 3 * 4 + 2;

/// A partition's lines set aside in a local file as fixed-width records and read back once
/// by the same process: no encoding, names by their index in the run's [`SpillNames`].
struct Spill {
    path: std::path::PathBuf,
    w: BufWriter<File>,
}

/// The names of spilled lines, each once, by index. A name is found by the address of its
/// shared copy (`Names` shares one copy per text), which the table keeps alive: no other
/// text can take that address while it lives.
#[derive(Default)]
struct SpillNames {
    index: HashMap<usize, u32, std::hash::BuildHasherDefault<AddressHasher>>,
    names: Vec<Arc<str>>,
}

impl SpillNames {
    fn id(&mut self, name: &Arc<str>) -> u32 {
        let names = &mut self.names;
        *self.index.entry(Arc::as_ptr(name).cast::<u8>() as usize).or_insert_with(|| {
            names.push(name.clone());
            u32::try_from(names.len() - 1).unwrap_or(u32::MAX)
        })
    }
}

/// Hashes an address (a multiplication: addresses are distinct and aligned).
#[derive(Default)]
struct AddressHasher(u64);

impl std::hash::Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
    }
}

impl Spill {
    fn create(path: std::path::PathBuf) -> Result<Spill> {
        Ok(Spill { w: open_staged(&path)?, path })
    }

    fn write(&mut self, l: &Line, names: &mut SpillNames) -> Result<()> {
        use std::io::Write;
        let mut r = [0u8; SPILLED];
        let values = [
            l.key.order_id,
            l.key.product_id,
            l.client_id,
            l.unit_price,
            l.units,
            l.unit_volume,
            l.amount,
            l.volume,
            l.first_seen_micros,
            i64::from_ne_bytes(l.version.line.to_ne_bytes()),
        ];
        for (i, v) in values.iter().enumerate() {
            r[i * 8..i * 8 + 8].copy_from_slice(&v.to_ne_bytes());
        }
        let ids = [l.version.file, names.id(&l.client_name), names.id(&l.product_description)];
        for (i, v) in ids.iter().enumerate() {
            r[80 + i * 4..84 + i * 4].copy_from_slice(&v.to_ne_bytes());
        }
        r[92] = Channel::ALL.iter().position(|c| *c == l.channel).unwrap_or(0) as u8;
        r[93] = Status::ALL.iter().position(|s| *s == l.status).unwrap_or(0) as u8;
        self.w.write_all(&r).map_err(|source| Error::Io { action: "writing", path: self.path.clone(), source })
    }

    /// Closes the file for writing: what was written can be read back.
    fn close(&mut self) -> Result<()> {
        use std::io::Write;
        let path = &self.path;
        self.w.flush().map_err(|source| Error::Io { action: "writing", path: path.clone(), source })
    }

    /// Calls `f` with each record written, in order (the file stays).
    fn for_each_record(&self, mut f: impl FnMut(&[u8; SPILLED]) -> Result<()>) -> Result<()> {
        use std::io::Read;
        let io = |action| move |source| Error::Io { action, path: self.path.clone(), source };
        let file = File::open(&self.path).map_err(io("opening"))?;
        let len = file.metadata().map_err(io("reading"))?.len();
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
        let mut r = [0u8; SPILLED];
        for _ in 0..len / SPILLED as u64 {
            reader.read_exact(&mut r).map_err(io("reading"))?;
            f(&r)?;
        }
        Ok(())
    }

    /// Calls `write` with the lines of the partition sorted by `(client_id, key)`, a slice
    /// at a time, holding about `limit` lines at most whatever the partition's size: the
    /// clients are taken in ranges of at most `limit` lines, each range read from the file
    /// and sorted on its own. A client with more lines than that is a range of its own,
    /// streamed as read (its lines were written in key order). The file is removed.
    fn by_client(
        mut self,
        names: &[Arc<str>],
        limit: usize,
        mut write: impl FnMut(&[Line]) -> Result<()>,
    ) -> Result<()> {
        self.close()?;
        let io = |source| Error::Io { action: "reading", path: self.path.clone(), source };
        let records = std::fs::metadata(&self.path).map_err(io)?.len() / SPILLED as u64;
        // Ranges of clients `(first, last)`, each of at most `limit` lines or one client. A
        // partition of at most `limit` lines is one range: its clients are not counted.
        let mut ranges: Vec<(i64, i64, usize)> = Vec::new();
        if records <= limit as u64 {
            ranges.push((i64::MIN, i64::MAX, usize::try_from(records).unwrap_or(limit)));
        } else {
            let mut per_client: BTreeMap<i64, usize> = BTreeMap::new();
            self.for_each_record(|r| {
                *per_client.entry(record_client(r)).or_default() += 1;
                Ok(())
            })?;
            for (&client, &n) in &per_client {
                match ranges.last_mut() {
                    Some((_, last, lines)) if *lines + n <= limit => {
                        *last = client;
                        *lines += n;
                    }
                    _ => ranges.push((client, client, n)),
                }
            }
        }
        let mut lines: Vec<Line> = Vec::new();
        for (first, last, n) in ranges {
            lines.reserve_exact(n.min(limit.max(BATCH_LINES)).saturating_sub(lines.capacity()));
            let streamed = first == last;
            let mut previous: Option<LineKey> = None;
            self.for_each_record(|r| {
                let client = record_client(r);
                if client < first || client > last {
                    return Ok(());
                }
                let line = self.line(r, names)?;
                if streamed && previous.is_some_and(|p| p >= line.key) {
                    return Err(Error::Internal {
                        what: "run encoder",
                        message: format!("{} is out of key order at {:?}", self.path.display(), line.key),
                    });
                }
                previous = Some(line.key);
                lines.push(line);
                if streamed && lines.len() == BATCH_LINES {
                    write(&lines)?;
                    lines.clear();
                }
                Ok(())
            })?;
            if !streamed {
                lines.sort_unstable_by_key(|l| (l.client_id, l.key));
            }
            for chunk in lines.chunks(BATCH_LINES) {
                write(chunk)?;
            }
            lines.clear();
        }
        let _ = std::fs::remove_file(&self.path);
        Ok(())
    }

    /// The line of a record.
    fn line(&self, r: &[u8; SPILLED], names: &[Arc<str>]) -> Result<Line> {
        let damaged =
            || Error::Internal { what: "run encoder", message: format!("{} is damaged", self.path.display()) };
        let v = |i: usize| i64::from_ne_bytes(r[i * 8..i * 8 + 8].try_into().unwrap_or_default());
        let id = |i: usize| u32::from_ne_bytes(r[80 + i * 4..84 + i * 4].try_into().unwrap_or_default());
        let name = |i: usize| names.get(id(i) as usize).cloned().ok_or_else(damaged);
        Ok(Line {
            key: LineKey { order_id: v(0), product_id: v(1) },
            client_id: v(2),
            client_name: name(1)?,
            product_description: name(2)?,
            unit_price: v(3),
            units: v(4),
            unit_volume: v(5),
            amount: v(6),
            volume: v(7),
            channel: *Channel::ALL.get(usize::from(r[92])).ok_or_else(damaged)?,
            status: *Status::ALL.get(usize::from(r[93])).ok_or_else(damaged)?,
            version: duff_core::serving::Version { file: id(0), line: u64::from_ne_bytes(v(9).to_ne_bytes()) },
            first_seen_micros: v(8),
        })
    }
}

/// The client of a spilled record.
fn record_client(r: &[u8; SPILLED]) -> i64 {
    i64::from_ne_bytes(r[16..24].try_into().unwrap_or_default())
}

impl Encoded {
    fn push(&mut self, files: &FileTable, generation: u64, lines: Vec<Line>) -> Result<()> {
        for chunk in lines.chunks(BATCH_LINES) {
            self.by_key.write(&tables::lines_batch(files, chunk.iter(), generation)?)?;
            if let Some(keys) = &mut self.keys {
                keys.write(&tables::keys_batch(chunk.iter().map(|l| &l.key))?)?;
            }
        }
        let parts = self.pending.len();
        if self.spills.is_empty() {
            for l in lines {
                self.pending[partition(l.client_id, parts)].push(l);
            }
        } else {
            for l in &lines {
                self.spills[partition(l.client_id, parts)].write(l, &mut self.names)?;
            }
        }
        Ok(())
    }
}

impl<'a> RunWriter<'a> {
    fn new(
        staging: &'a Path,
        name: &'static str,
        files: &'a FileTable,
        generation: u64,
        parts: usize,
        in_memory: bool,
        row_group_lines: usize,
    ) -> Result<RunWriter<'a>> {
        let by_key =
            TableWriter::lines(open_staged(&staging.join(format!("{name}_by_key.parquet")))?, row_group_lines)?;
        let mut spills = Vec::with_capacity(parts);
        for p in 0..if in_memory { 0 } else { parts.max(1) } {
            spills.push(Spill::create(staging.join(format!("{name}_spill_{p:03}")))?);
        }
        // Readers load the keys of the runs after the base only (`Lake::snapshot_of`).
        let keys = match name {
            "base" => None,
            _ => Some(TableWriter::keys(open_staged(&staging.join(format!("{name}_keys.parquet")))?)?),
        };
        let mut encoded =
            Encoded { by_key, keys, spills, names: SpillNames::default(), pending: vec![Vec::new(); parts.max(1)] };
        // One batch queued: the encoder sets the pace of a first fold, so a longer queue
        // (4 batches of a window's lines) only held more lines (peak RSS at 10M lines
        // 179–201 MiB against 203–225 MiB, same time: docs/performance.md).
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Line>>(1);
        let owned = files.clone();
        let encoder = std::thread::Builder::new()
            .name("duff-run-encoder".into())
            .spawn(move || {
                for lines in rx {
                    encoded.push(&owned, generation, lines)?;
                }
                Ok(encoded)
            })
            .map_err(|e| Error::Internal { what: "run encoder", message: format!("cannot start: {e}") })?;
        Ok(RunWriter { files, generation, name, staging, count: 0, lines: Some(tx), encoder: Some(encoder) })
    }

    /// Appends lines, sorted by key and after every line pushed before.
    fn push(&mut self, lines: Vec<Line>) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        self.count += lines.len() as u64;
        let sent = self.lines.as_ref().is_some_and(|tx| tx.send(lines).is_ok());
        if sent {
            return Ok(());
        }
        // The encoder stopped: its error says why.
        self.join()?;
        Err(Error::Internal { what: "run encoder", message: "stopped before the end of the run".into() })
    }

    /// Waits for the encoder thread.
    fn join(&mut self) -> Result<Encoded> {
        self.lines = None;
        let handle = self
            .encoder
            .take()
            .ok_or_else(|| Error::Internal { what: "run encoder", message: "joined twice".into() })?;
        handle.join().map_err(|p| Error::Internal { what: "run encoder", message: crate::error::panicked(&*p) })?
    }

    /// Closes the files and puts them under `folder`.
    fn finish<S: Store>(mut self, lake: &Lake<S>, folder: &str) -> Result<Run> {
        let (files, generation, name, staging) = (self.files, self.generation, self.name, self.staging);
        let Encoded { mut by_key, keys, spills, names: spilled, pending } = self.join()?;
        if self.count == 0 {
            by_key.write(&tables::lines_batch(files, std::iter::empty(), generation)?)?;
        }
        by_key.finish()?;
        let by_key = format!("{folder}/{name}_by_key.parquet");
        lake.store.put_file(&by_key, &staging.join(format!("{name}_by_key.parquet")))?;
        let keys = match keys {
            Some(mut w) => {
                if self.count == 0 {
                    w.write(&tables::keys_batch(std::iter::empty())?)?;
                }
                w.finish()?;
                let key = format!("{folder}/{name}_keys.parquet");
                lake.store.put_file(&key, &staging.join(format!("{name}_keys.parquet")))?;
                Some(key)
            }
            None => None,
        };
        let mut spills = spills.into_iter();
        let work: Vec<(usize, Option<Spill>, Vec<Line>)> =
            pending.into_iter().enumerate().map(|(p, l)| (p, spills.next(), l)).collect();
        let work = std::sync::Mutex::new(work.into_iter());
        let spilled = &spilled.names;
        // Lines a thread sorts at a time: a partition's worth.
        let limit = usize::try_from(lake.serving.lines_per_partition).unwrap_or(usize::MAX).max(1);
        // `names`: the thread's own copy of the spilled names. Lines read back share their
        // names; with one copy for both threads, every line read and dropped would move the
        // reference counts of the same few descriptions from core to core.
        let sort = |(p, spill, pending): (usize, Option<Spill>, Vec<Line>), names: &[Arc<str>]| -> Result<()> {
            let sorted = staging.join(format!("{name}_by_client_{p:03}.parquet"));
            let mut w = TableWriter::by_client(open_staged(&sorted)?)?;
            let mut empty = true;
            let mut write = |lines: &[Line]| -> Result<()> {
                empty = false;
                Ok(w.write(&tables::client_lines_batch(files, lines.iter())?)?)
            };
            match spill {
                // Sorted a range of clients at a time: a partition's size (a few large
                // clients can make one several times the average) does not set the memory.
                Some(spill) => spill.by_client(names, limit, &mut write)?,
                None => {
                    // Sorting the lines themselves, not a permutation of them: the file's
                    // batches are then encoded from consecutive lines (gathering lines from
                    // all over the partition cost more than the sort saved, measured at 10M
                    // lines).
                    let mut lines = pending;
                    lines.sort_unstable_by_key(|l| (l.client_id, l.key));
                    for chunk in lines.chunks(BATCH_LINES) {
                        write(chunk)?;
                    }
                }
            }
            if empty {
                w.write(&tables::client_lines_batch(files, std::iter::empty())?)?;
            }
            w.finish()?;
            Ok(())
        };
        let next = || work.lock().ok().and_then(|mut w| w.next());
        let parts = std::thread::scope(|scope| -> Result<usize> {
            let helper = scope.spawn(|| -> Result<usize> {
                let names: Vec<Arc<str>> = spilled.iter().map(|n| Arc::from(&**n)).collect();
                let mut n = 0;
                while let Some(item) = next() {
                    sort(item, &names)?;
                    n += 1;
                }
                Ok(n)
            });
            let mut n = 0;
            while let Some(item) = next() {
                sort(item, spilled)?;
                n += 1;
            }
            let theirs = helper
                .join()
                .map_err(|p| Error::Internal { what: "run encoder", message: crate::error::panicked(&*p) })??;
            Ok(n + theirs)
        })?;
        let mut by_client = Vec::with_capacity(parts);
        for p in 0..parts {
            let key = format!("{folder}/{name}_by_client_{p:03}.parquet");
            lake.store.put_file(&key, &staging.join(format!("{name}_by_client_{p:03}.parquet")))?;
            by_client.push(key);
        }
        Ok(Run { generation, lines: self.count, by_key, by_client, keys })
    }
}

/// Membership of keys asked in ascending order in sorted key lists: each list is searched
/// from the position of the previous key asked, by galloping (1, 2, 4... ahead, then a binary
/// search in the last step), so a client's few thousand keys cost a few steps each in lists
/// of millions. A key smaller than the previous one starts over from the beginning.
struct KeyCursors<'a> {
    lists: &'a [Vec<LineKey>],
    at: Vec<usize>,
    last: Option<LineKey>,
}

impl<'a> KeyCursors<'a> {
    fn new(lists: &'a [Vec<LineKey>]) -> KeyCursors<'a> {
        KeyCursors { lists, at: vec![0; lists.len()], last: None }
    }

    /// True when one of the lists holds `key`.
    fn contains(&mut self, key: LineKey) -> bool {
        if self.last.is_some_and(|last| key < last) {
            self.at.iter_mut().for_each(|a| *a = 0);
        }
        self.last = Some(key);
        let mut found = false;
        for (list, at) in self.lists.iter().zip(self.at.iter_mut()) {
            let rest = &list[(*at).min(list.len())..];
            let mut step = 1;
            while step < rest.len() && rest[step - 1] < key {
                step *= 2;
            }
            let bound = step.min(rest.len());
            let i = rest[..bound].partition_point(|k| *k < key);
            *at += i;
            found |= rest.get(i) == Some(&key);
        }
        found
    }
}

/// A window of a fold: the new versions of whole orders, in key order, and the current
/// lines of those orders before them.
struct Window {
    new: Vec<Line>,
    before: Vec<Line>,
}

/// The new versions of a fold in key order: chunks set aside in local files, merged with
/// the last chunk held in memory; versions of one line in several chunks are folded.
struct NewMerge<'a> {
    files: &'a FileTable,
    cursors: Vec<Cursor>,
    last: std::collections::VecDeque<Line>,
}

impl<'a> NewMerge<'a> {
    fn open(chunks: &[std::path::PathBuf], last: Vec<Line>, files: &'a FileTable) -> Result<NewMerge<'a>> {
        let mut cursors = Vec::with_capacity(chunks.len());
        for path in chunks {
            let f = File::open(path).map_err(|source| Error::Io { action: "opening", path: path.clone(), source })?;
            let batches = tables::line_batches(f, None)?;
            cursors.push(Cursor {
                batches: Some(Box::new(batches)),
                buffered: Default::default(),
                key: path.display().to_string(),
            });
        }
        Ok(NewMerge { files, cursors, last: last.into() })
    }

    fn next_line(&mut self, names: &mut Names) -> Result<Option<Line>> {
        let mut min: Option<LineKey> = self.last.front().map(|l| l.key);
        for c in &mut self.cursors {
            if let Some(l) = c.peek(names)? {
                min = Some(min.map_or(l.key, |m| m.min(l.key)));
            }
        }
        let Some(key) = min else { return Ok(None) };
        let mut out: Option<Line> = None;
        let mut take = |l: Line| match &mut out {
            Some(o) => o.absorb(&l, self.files),
            None => out = Some(l),
        };
        for c in &mut self.cursors {
            if c.peek(names)?.is_some_and(|l| l.key == key)
                && let Some(l) = c.buffered.pop_front()
            {
                take(l);
            }
        }
        if self.last.front().is_some_and(|l| l.key == key)
            && let Some(l) = self.last.pop_front()
        {
            take(l);
        }
        Ok(out)
    }
}

/// The batches of a fact object.
type Batches = Box<dyn Iterator<Item = duff_core::Result<duff_core::arrow_array::RecordBatch>> + Send>;

/// The new files' facts read a chunk at a time, in the files' order: each chunk of
/// `chunk_lines` rows sorted by key, one version per line ([`NewVersions`]). What the files
/// say of clients and products stays in `versions` for the end of the fold.
struct NewChunks<'a, S: Store> {
    lake: &'a Lake<S>,
    files: &'a FileTable,
    /// The fact objects not opened yet, with their file.
    objects: std::collections::VecDeque<(&'a FileMeta, &'a str)>,
    /// The object being read.
    batches: Option<(&'a FileMeta, Batches)>,
    /// A batch read ahead, or the rows of a batch past the end of a chunk.
    rest: Option<(&'a FileMeta, duff_core::arrow_array::RecordBatch)>,
    versions: NewVersions,
    chunk_lines: usize,
    /// Keep the greatest order's lines for the next chunk
    /// ([`NewVersions::take_sorted_whole_orders`]).
    whole_orders: bool,
}

impl<'a, S: Store> NewChunks<'a, S> {
    fn new(
        lake: &'a Lake<S>,
        files: &'a FileTable,
        objects: &[(&'a FileMeta, &'a str)],
        chunk_lines: usize,
        whole_orders: bool,
    ) -> NewChunks<'a, S> {
        NewChunks {
            lake,
            files,
            objects: objects.iter().copied().collect(),
            batches: None,
            rest: None,
            versions: NewVersions::new(),
            chunk_lines: chunk_lines.max(1),
            whole_orders,
        }
    }

    /// Reads a non-empty batch ahead into `rest` unless one is there: false at the end of
    /// the files.
    fn fill(&mut self) -> Result<bool> {
        while self.rest.is_none() {
            if let Some((meta, batches)) = &mut self.batches {
                match batches.next() {
                    Some(batch) => {
                        let batch = batch?;
                        if batch.num_rows() > 0 {
                            self.rest = Some((*meta, batch));
                        }
                        continue;
                    }
                    None => self.batches = None,
                }
            }
            let Some((meta, key)) = self.objects.pop_front() else { return Ok(false) };
            let batches: Batches = match self.lake.open_object(key)? {
                Object::File(f) => Box::new(tables::fact_batches(f)?),
                Object::Bytes(b) => Box::new(tables::fact_batches(b)?),
            };
            self.batches = Some((meta, batches));
        }
        Ok(true)
    }

    /// True once every row was read.
    fn at_end(&mut self) -> Result<bool> {
        Ok(!self.fill()?)
    }

    /// The next rows, at most `max`.
    fn piece(&mut self, max: usize) -> Result<Option<(&'a FileMeta, duff_core::arrow_array::RecordBatch)>> {
        if !self.fill()? {
            return Ok(None);
        }
        let Some((meta, batch)) = self.rest.take() else { return Ok(None) };
        let rows = batch.num_rows();
        if rows > max {
            self.rest = Some((meta, batch.slice(max, rows - max)));
            return Ok(Some((meta, batch.slice(0, max))));
        }
        Ok(Some((meta, batch)))
    }

    /// The next chunk, sorted by key with one version per line (`None` once every row was
    /// taken).
    fn next_chunk(&mut self) -> Result<Option<Vec<Line>>> {
        loop {
            let mut read = 0;
            while read < self.chunk_lines {
                let Some((meta, batch)) = self.piece(self.chunk_lines - read)? else { break };
                read += batch.num_rows();
                self.versions.add_batch(self.files, meta, &batch)?;
            }
            if self.at_end()? {
                let last = self.versions.take_sorted(self.files);
                return Ok((!last.is_empty()).then_some(last));
            }
            let chunk = if self.whole_orders {
                self.versions.take_sorted_whole_orders(self.files)
            } else {
                self.versions.take_sorted(self.files)
            };
            // Empty when one order filled the chunk: it goes on in the next.
            if !chunk.is_empty() {
                return Ok(Some(chunk));
            }
        }
    }
}

/// The new versions of a fold whose facts list their orders by `order_id`: chunks taken
/// whole order by order come one after the other in key order, so they stream to the fold
/// as they are read. Each chunk is checked to start after the previous one ended (an error,
/// never a wrong fold, if the facts were not in order after all).
struct NewStream<'a, S: Store> {
    chunks: NewChunks<'a, S>,
    ready: std::vec::IntoIter<Line>,
    last: Option<LineKey>,
    /// Set when a chunk started before the previous one ended.
    out_of_order: bool,
}

impl<'a, S: Store> NewStream<'a, S> {
    fn new(chunks: NewChunks<'a, S>) -> NewStream<'a, S> {
        NewStream { chunks, ready: Vec::new().into_iter(), last: None, out_of_order: false }
    }

    fn next_line(&mut self) -> Result<Option<Line>> {
        loop {
            if let Some(l) = self.ready.next() {
                return Ok(Some(l));
            }
            // The spent chunk's memory goes before the next is read.
            self.ready = Vec::new().into_iter();
            let Some(chunk) = self.chunks.next_chunk()? else { return Ok(None) };
            if let (Some(last), Some(first)) = (self.last, chunk.first())
                && first.key <= last
            {
                self.out_of_order = true;
                return Err(Error::Internal {
                    what: "serving fold",
                    message: format!("the new versions are out of key order: {:?} after {last:?}", first.key),
                });
            }
            self.last = chunk.last().map(|l| l.key);
            self.ready = chunk.into_iter();
        }
    }
}

/// Where a fold's new versions come from, in key order.
enum NewLines<'a, S: Store> {
    /// Sorted chunks set aside in local files, merged.
    Merged(NewMerge<'a>),
    /// Chunks streamed as they are read (facts in order).
    Streamed(Box<NewStream<'a, S>>),
}

impl<S: Store> NewLines<'_, S> {
    fn next_line(&mut self, names: &mut Names) -> Result<Option<Line>> {
        match self {
            NewLines::Merged(m) => m.next_line(names),
            NewLines::Streamed(s) => s.next_line(),
        }
    }
}

/// Wall time per step.
struct Steps {
    last: Instant,
    done: Vec<(&'static str, Duration)>,
}

impl Default for Steps {
    fn default() -> Steps {
        Steps { last: Instant::now(), done: Vec::new() }
    }
}

impl Steps {
    fn lap(&mut self, name: &'static str) {
        let now = Instant::now();
        let d = now - self.last;
        self.last = now;
        match self.done.iter_mut().find(|(n, _)| *n == name) {
            Some((_, t)) => *t += d,
            None => self.done.push((name, d)),
        }
    }
}

impl<S: Store> Lake<S> {
    /// The number of `by_client` partitions of a base of `lines` lines.
    fn partitions(&self, lines: u64) -> usize {
        usize::try_from(lines.div_ceil(self.serving.lines_per_partition.max(1))).unwrap_or(1).clamp(1, 64)
    }
}

/// The partition of a client among `parts`.
fn partition(client_id: i64, parts: usize) -> usize {
    usize::try_from(client_id.rem_euclid(parts.max(1) as i64)).unwrap_or(0)
}

fn open_staged(path: &Path) -> Result<BufWriter<File>> {
    let f = File::create(path).map_err(|source| Error::Io { action: "creating", path: path.to_owned(), source })?;
    Ok(BufWriter::with_capacity(1 << 20, f))
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// A name unique to this writer's attempt.
fn nonce() -> String {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let seed = format!("{}-{}-{n}", std::process::id(), now_micros());
    FileId::of_bytes(seed.as_bytes()).to_string()[..12].to_owned()
}

/// Merges runs' `by_key` files in key order; for a key held by several runs the newest wins.
pub(crate) struct RunMerge {
    cursors: Vec<Cursor>,
}

struct Cursor {
    /// `None` once exhausted: asking a Parquet reader past its end again is not free (it
    /// costs more with every call), so it is asked once.
    batches: Option<Box<dyn Iterator<Item = duff_core::Result<duff_core::arrow_array::RecordBatch>> + Send>>,
    buffered: std::collections::VecDeque<Line>,
    key: String,
}

impl Cursor {
    fn peek(&mut self, names: &mut Names) -> Result<Option<&Line>> {
        while self.buffered.is_empty() {
            let Some(batch) = self.batches.as_mut().and_then(Iterator::next) else {
                self.batches = None;
                return Ok(None);
            };
            let wrap = |source| Error::ServingObject { key: self.key.clone(), source };
            let batch = batch.map_err(wrap)?;
            let buffered = &mut self.buffered;
            tables::decode_lines(&batch, names, |l| buffered.push_back(l)).map_err(wrap)?;
        }
        Ok(self.buffered.front())
    }
}

impl RunMerge {
    pub(crate) fn open<S: Store>(lake: &Lake<S>, runs: &[Run]) -> Result<RunMerge> {
        let mut cursors = Vec::with_capacity(runs.len());
        for r in runs {
            let wrap = |source| Error::ServingObject { key: r.by_key.clone(), source };
            let batches: Box<dyn Iterator<Item = duff_core::Result<duff_core::arrow_array::RecordBatch>> + Send> =
                match lake.open_object(&r.by_key)? {
                    Object::File(f) => Box::new(tables::line_batches(f, None).map_err(wrap)?),
                    Object::Bytes(b) => Box::new(tables::line_batches(b, None).map_err(wrap)?),
                };
            cursors.push(Cursor { batches: Some(batches), buffered: Default::default(), key: r.by_key.clone() });
        }
        Ok(RunMerge { cursors })
    }

    pub(crate) fn next_line(&mut self, names: &mut Names) -> Result<Option<Line>> {
        let mut min: Option<LineKey> = None;
        for c in &mut self.cursors {
            if let Some(l) = c.peek(names)? {
                min = Some(min.map_or(l.key, |m| m.min(l.key)));
            }
        }
        let Some(key) = min else { return Ok(None) };
        let mut winner = None;
        // Runs are oldest first: the last one holding the key wins.
        for c in &mut self.cursors {
            if c.peek(names)?.is_some_and(|l| l.key == key) {
                winner = c.buffered.pop_front();
            }
        }
        Ok(winner)
    }
}

/// A generation of the serving state, loaded for answering: its aggregates in memory, the
/// keys of its runs past the base (to tell a run's lines that a later run replaced).
#[derive(Debug, Clone)]
pub struct ServingSnapshot {
    /// Its record.
    pub generation: Generation,
    /// The report cells.
    pub cube: Cube,
    /// The dimensions' current rows.
    pub dims: Dims,
    /// `run_keys[i]`: the sorted keys of run `i + 1`.
    run_keys: Vec<Vec<LineKey>>,
    /// The footers of the run files read so far (a generation's files never change).
    footers: Arc<Mutex<HashMap<String, Arc<tables::Footer>>>>,
    /// The row groups of clients read lately, as fetched (a client's next page needs no
    /// read of the store).
    ranges: Arc<Mutex<Ranges>>,
}

/// Fetched row groups by `(run, client)` (the run's position in the generation: with the
/// client, it names the partition file read), up to [`Ranges::MAX_BYTES`]: past it, all
/// are dropped and the cache fills again.
#[derive(Default)]
struct Ranges {
    bytes: usize,
    kept: HashMap<(usize, i64), duff_core::bytes::Bytes>,
}

impl std::fmt::Debug for Ranges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ranges").field("ranges", &self.kept.len()).field("bytes", &self.bytes).finish()
    }
}

impl Ranges {
    /// A few hundred clients' row groups (about 30 KB each at 10M lines).
    const MAX_BYTES: usize = 16 << 20;

    fn get(&self, run: usize, client_id: i64) -> Option<duff_core::bytes::Bytes> {
        self.kept.get(&(run, client_id)).cloned()
    }

    fn keep(&mut self, run: usize, client_id: i64, bytes: &duff_core::bytes::Bytes) {
        if self.bytes + bytes.len() > Self::MAX_BYTES {
            self.kept.clear();
            self.bytes = 0;
        }
        if bytes.len() <= Self::MAX_BYTES && self.kept.insert((run, client_id), bytes.clone()).is_none() {
            self.bytes += bytes.len();
        }
    }
}

impl ServingSnapshot {
    /// A report, when it is not about one client (`None`: answer it from the client's
    /// lines, [`Lake::client_lines`] and [`duff_core::reports::report`]).
    pub fn report(&self, report: Report, filter: &ReportFilter) -> Option<Rows> {
        self.cube.report(report, &self.dims, filter)
    }

    /// A report, reading the client's lines through `lake` when it is about one client.
    ///
    /// # Errors
    /// Unreadable run objects.
    pub fn answer<S: Store>(&self, lake: &Lake<S>, report: Report, filter: &ReportFilter) -> Result<Rows> {
        if let Some(rows) = self.report(report, filter) {
            return Ok(rows);
        }
        let client = report.accepted(filter).client_id.unwrap_or_default();
        let lines = lake.client_lines(self, client)?;
        Ok(duff_core::reports::report(report, lines.iter(), &self.dims, filter))
    }

    /// The keys of the runs past the base, newest last, in memory.
    pub fn run_key_count(&self) -> usize {
        self.run_keys.iter().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys(v: &[(i64, i64)]) -> Vec<LineKey> {
        let mut k: Vec<LineKey> = v.iter().map(|&(order_id, product_id)| LineKey { order_id, product_id }).collect();
        k.sort_unstable();
        k.dedup();
        k
    }

    /// The footer check that lets a fold try streaming: files listed by order one after the
    /// other pass it, files whose orders start over do not, and a file's own disorder
    /// inside a row group is left to the stream to find.
    #[test]
    fn facts_whose_row_groups_start_over_merge_without_streaming() {
        let dir = tempfile::tempdir().unwrap();
        let lake = crate::LocalLake::open(dir.path().join("lake")).unwrap();
        let cfg = duff_core::IngestConfig::default();
        let first = duff_testkit::order_rows(1, 30, 0, 7, 0);
        let second = duff_testkit::order_rows(31, 10, 0, 7, 0);
        let mut swapped = first.clone();
        swapped.swap(20, 40);
        for (i, rows) in [&first, &second, &swapped].into_iter().enumerate() {
            let path = dir.path().join(format!("f{i}.csv"));
            std::fs::write(&path, duff_testkit::csv_file(rows)).unwrap();
            lake.ingest_path(&path, &cfg, chrono::Utc::now() + chrono::Duration::seconds(i as i64)).unwrap();
        }
        let new = lake.unfolded(&BTreeSet::new()).unwrap();
        let metas: Vec<FileMeta> = new.iter().map(|m| m.meta().unwrap()).collect();
        let facts: Vec<(&FileMeta, &str)> = new
            .iter()
            .zip(&metas)
            .map(|(m, meta)| {
                let o = m.outputs.iter().find(|o| o.table == Table::FactOrderLine).unwrap();
                (meta, o.key.as_str())
            })
            .collect();
        assert!(lake.facts_may_stream(&facts[..2]).unwrap(), "the second file's orders follow the first's");
        assert!(!lake.facts_may_stream(&[facts[1], facts[0]]).unwrap(), "the second file starts over");
        assert!(!lake.facts_may_stream(&[facts[0], facts[0]]).unwrap());
        assert!(lake.facts_may_stream(&facts[2..]).unwrap(), "one row group: the stream finds its disorder");
        assert!(lake.facts_may_stream(&[]).unwrap());
    }

    proptest! {
        /// Galloping cursors answer as a binary search of every list does, for keys asked in
        /// ascending order (a client's lines) and in any order (starting over).
        #[test]
        fn key_cursors_agree_with_binary_search(
            lists in proptest::collection::vec(proptest::collection::vec((0i64..60, 0i64..4), 0..80), 0..4),
            asked in proptest::collection::vec((0i64..60, 0i64..4), 0..60),
            ascending in any::<bool>(),
        ) {
            let lists: Vec<Vec<LineKey>> = lists.iter().map(|l| keys(l)).collect();
            let mut asked: Vec<LineKey> =
                asked.iter().map(|&(order_id, product_id)| LineKey { order_id, product_id }).collect();
            if ascending {
                asked.sort_unstable();
            }
            let mut cursors = KeyCursors::new(&lists);
            for k in asked {
                let want = lists.iter().any(|l| l.binary_search(&k).is_ok());
                prop_assert_eq!(cursors.contains(k), want, "{:?}", k);
            }
        }
    }
}
