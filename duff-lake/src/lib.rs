//! `duff-lake`: the lake of duff-etl on any object store, and the protocol that writes it.
//!
//! It is an adapter around [`duff_core`]: it reads files, stages each table's Parquet in
//! a local folder, puts the objects under the deterministic keys of [`duff_core::lake`],
//! and writes the file's manifest last (the commit). [`Lake`] is generic over a [`Store`]:
//! a folder ([`DirStore`]) for the local pipeline, S3 (`S3Store`, feature `s3`) in the
//! Lambdas. Same protocol, same bytes.
//!
//! | module | what |
//! |---|---|
//! | this page | [`Lake`]: the one-pass ingest and its commit, the readers of the lake |
//! | [`models`] | the analytics models, rebuilt from the serving state in bounded memory |
//! | [`parts`] | a big file in parts: plan, parts, merge (threads here, Lambdas in AWS) |
//! | [`serving`] | the serving state: generations of the current lines and report aggregates, folded after each commit |
//! | [`store`] | the [`Store`] seam and [`DirStore`], a lake in a folder |
//! | [`vacuum`] | leftovers of crashed writers, and [`Lake::vacuum`] which removes them |
//! | [`check`] | [`Lake::check`], the lake's fsck: every problem listed |
//! | [`failpoint`] | a [`Store`] that fails or "crashes" at a chosen write, for crash tests |
//! | [`location`] | [`LakeLocation`]: `s3://bucket/prefix` or a local directory, parsed once |
//! | `s3` | `S3Store`, the [`Store`] over S3, and the classification of S3 failures (feature `s3`) |
//!
//! ```no_run
//! use duff_lake::{LocalLake, IngestResult};
//! let lake = LocalLake::open("lake")?;
//! match lake.ingest_path("examples/data/orders.csv".as_ref(), &Default::default(), chrono::Utc::now())? {
//!     IngestResult::Ingested(m) | IngestResult::Duplicate(m) => println!("{}", m.reconciliation_line()),
//! }
//! # Ok::<(), duff_lake::Error>(())
//! ```
#![deny(missing_docs)]

pub mod check;
mod error;
pub mod failpoint;
pub mod ingestions;
pub mod location;
pub mod models;
pub mod parts;
#[cfg(feature = "s3")]
pub mod s3;
pub mod serving;
pub mod store;
pub mod vacuum;

pub use check::{CheckReport, Problem, ProblemKind};
pub use error::{BoxError, Error, Result};
use error::{broken, io, panicked};
pub use ingestions::{
    Day, IngestionFilter, IngestionIndex, IngestionKey, Ingestions, QualityRow, QuarantinePage, QuarantineQuery,
    QuarantineRow,
};
pub use location::{LakeLocation, LocationError};
pub use parts::{FANOUT, FanKey, PartReport, PlanOutcome, SourceOf};
#[cfg(feature = "s3")]
pub use s3::{S3Failure, S3Store};
pub use serving::{Generation, ServingConfig, ServingSnapshot, ServingUpdate};
pub use store::{DirStore, Listed, Store};
pub use vacuum::{Leftover, LeftoverKind, ManifestScan, VacuumReport};

use chrono::{DateTime, Utc};
use duff_core::arrow_array::RecordBatch;
use duff_core::lake::{MANIFESTS, manifest_key, next_local_instant};
use duff_core::tables::DimensionViews;
use duff_core::{
    CurrentState, FileHasher, FileId, FileIngest, FileMeta, Finish, IngestConfig, Manifest, Outcome, ParquetSink,
    RepeatedLines, StatusHistory, Table, TableSink,
};
use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// What ingesting a file did.
#[derive(Debug, Clone)]
pub enum IngestResult {
    /// The file was processed: see the manifest's outcome.
    Ingested(Manifest),
    /// The same content was already published: nothing changed. The earlier manifest.
    Duplicate(Manifest),
}

impl IngestResult {
    /// The manifest (the new one, or the earlier one of a duplicate).
    pub fn manifest(&self) -> &Manifest {
        match self {
            IngestResult::Ingested(m) | IngestResult::Duplicate(m) => m,
        }
    }
}

/// A lake in a local folder.
pub type LocalLake = Lake<DirStore>;

/// A lake on some [`Store`], with a local folder to stage outputs in.
///
/// The ingest protocol, the same for every store:
/// 1. the manifest `manifests/<file_id>.json` says `published` already: a duplicate, stop;
/// 2. stream the file through [`FileIngest`], each table's Parquet staged locally;
/// 3. when the file is accepted, put each staged object under its deterministic key;
/// 4. commit: create the manifest if absent (or replace a `rejected`/`failed` one). When
///    another ingest of the same content committed first, remove the objects this one put
///    (unless they are that ingest's own keys) and report a duplicate.
#[derive(Debug, Clone)]
pub struct Lake<S: Store> {
    store: S,
    staging: PathBuf,
    fan_out: FanOutConfig,
    serving: serving::ServingConfig,
    progress: Progress,
}

/// Where a lake reports the bytes it reads from a local file it ingests (a progress bar);
/// nowhere by default. See [`Lake::with_progress`].
#[derive(Clone, Default)]
pub struct Progress(Option<std::sync::Arc<dyn Fn(u64) + Send + Sync>>);

impl Progress {
    /// Reports to `f`, called with the number of bytes just read.
    pub fn to(f: impl Fn(u64) + Send + Sync + 'static) -> Progress {
        Progress(Some(std::sync::Arc::new(f)))
    }

    fn read(&self, n: usize) {
        if let Some(f) = &self.0 {
            f(n as u64);
        }
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Progress(reported)" } else { "Progress(none)" })
    }
}

/// A reader that reports what it reads.
struct Reported<'a, R> {
    inner: R,
    progress: &'a Progress,
}

impl<R: Read> Read for Reported<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.read(n);
        Ok(n)
    }
}

impl<R: duff_core::fanout::ByteSource> duff_core::fanout::ByteSource for Reported<'_, R> {
    fn len(&self) -> u64 {
        self.inner.len()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> duff_core::Result<usize> {
        let n = self.inner.read_at(offset, buf)?;
        self.progress.read(n);
        Ok(n)
    }
}

/// When and how a big file is ingested in parts (see [`duff_core::fanout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanOutConfig {
    /// Target size of a part; a file of at least two parts is fanned out.
    pub part_bytes: u64,
    /// Threads that ingest parts at the same time.
    pub threads: usize,
    /// The part size of a file read in one pass (one below two `part_bytes`) and of at
    /// least two of these: it is cut into parts as it is read, without a plan pass
    /// ([`duff_core::fanout::ingest_in_sequence`]), so a file with repeated lines reads
    /// again only the parts that hold them, not all of it.
    pub sequence_part_bytes: u64,
}

impl Default for FanOutConfig {
    /// One thread per core, parts of 64 MiB — on machines of four cores or more. On fewer
    /// cores a file is read once, pipelined (one thread reads and validates, another encodes
    /// Parquet), which measured faster on two cores than planned parts (whose record scan is
    /// an extra pass): docs/performance.md; it is cut into parts of 256 MiB as it is read
    /// (at each part's end the reading thread waits for the part's encoder to finish:
    /// parts of 64 MiB slowed a 10M-row ingest, 256 MiB did not, docs/performance.md).
    fn default() -> Self {
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let part_bytes = if threads >= 4 { 64 << 20 } else { u64::MAX / 2 };
        FanOutConfig { part_bytes, threads, sequence_part_bytes: 256 << 20 }
    }
}

impl LocalLake {
    /// Opens (creating it if needed) the lake in the folder `root`; outputs are staged in
    /// `root/.staging` (hidden from readers) and published by rename.
    ///
    /// # Errors
    /// When the folder cannot be created.
    pub fn open(root: impl Into<PathBuf>) -> Result<LocalLake> {
        let root = root.into();
        let store = DirStore::open(&root)?;
        Ok(Lake {
            store,
            staging: root.join(".staging"),
            fan_out: FanOutConfig::default(),
            serving: serving::ServingConfig::default(),
            progress: Progress::default(),
        })
    }

    /// The lake's root folder.
    pub fn root(&self) -> &Path {
        self.store.root()
    }

    /// Ingests the local file at `path` at the instant `now`, moved forward if needed so
    /// that it is later than every earlier ingest of this lake (two local ingests never tie).
    ///
    /// # Errors
    /// See [`Lake::ingest_file`].
    pub fn ingest_path(&self, path: &Path, cfg: &IngestConfig, now: DateTime<Utc>) -> Result<IngestResult> {
        // A manifest that cannot be parsed does not stop unrelated files (`check` lists it).
        let latest = self.scan_manifests()?.manifests.iter().map(|m| m.ingested_at_micros).max();
        let instant = next_local_instant(now.timestamp_micros(), latest);
        self.ingest_file(path, &path.display().to_string(), instant, cfg)
    }
}

impl<S: Store> Lake<S> {
    /// A lake on `store`, staging outputs in the local folder `staging`.
    pub fn new(store: S, staging: impl Into<PathBuf>) -> Lake<S> {
        Lake {
            store,
            staging: staging.into(),
            fan_out: FanOutConfig::default(),
            serving: serving::ServingConfig::default(),
            progress: Progress::default(),
        }
    }

    /// The same lake, reporting the bytes it reads from the local files it ingests to
    /// `progress`: a file is read twice (its hash, then its rows), and once more when it
    /// holds repeated lines (only the parts holding them, for a file cut into parts as it is
    /// read: [`FanOutConfig::sequence_part_bytes`]), so the reports add up to two to three
    /// times its size.
    pub fn with_progress(mut self, progress: Progress) -> Lake<S> {
        self.progress = progress;
        self
    }

    /// The same lake, keeping its serving state as `serving` says.
    pub fn with_serving(mut self, serving: serving::ServingConfig) -> Lake<S> {
        self.serving = serving;
        self
    }

    /// The same lake, fanning big files out as `fan_out` says.
    pub fn with_fan_out(mut self, fan_out: FanOutConfig) -> Lake<S> {
        self.fan_out = fan_out;
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Every manifest in the lake, sorted by version `(ingested_at, source, file_id)`.
    ///
    /// # Errors
    /// An unreadable listing or manifest.
    pub fn manifests(&self) -> Result<Vec<Manifest>> {
        let mut out = Vec::new();
        for key in self.store.list(&format!("{MANIFESTS}/"))? {
            if !key.ends_with(".json") {
                continue;
            }
            if let Some(bytes) = self.store.get(&key)? {
                let m = Manifest::from_json(&bytes).map_err(|source| Error::Manifest { key: key.clone(), source })?;
                out.push(m);
            }
        }
        out.sort_by(|a, b| {
            (a.ingested_at_micros, &a.source, &a.file_id).cmp(&(b.ingested_at_micros, &b.source, &b.file_id))
        });
        Ok(out)
    }

    /// The manifest of the content `file_id`, if any.
    ///
    /// # Errors
    /// An unreadable manifest.
    pub fn manifest(&self, file_id: &FileId) -> Result<Option<Manifest>> {
        let key = manifest_key(file_id);
        match self.store.get(&key)? {
            Some(bytes) => Ok(Some(Manifest::from_json(&bytes).map_err(|source| Error::Manifest { key, source })?)),
            None => Ok(None),
        }
    }

    /// Ingests the local file `path` (a download, in Lambda) as `source`, ingested at
    /// `ingested_at_micros`, following the protocol in the [type docs](Lake).
    ///
    /// # Errors
    /// Storage or read failures (nothing is committed then; a retry converges). A file
    /// refused whole is not an error: see the manifest's outcome.
    pub fn ingest_file(
        &self,
        path: &Path,
        source: &str,
        ingested_at_micros: i64,
        cfg: &IngestConfig,
    ) -> Result<IngestResult> {
        let size = fs::metadata(path).map_err(io("reading", path))?.len();
        if size >= self.fan_out.part_bytes.saturating_mul(2) {
            return self.ingest_in_parts(path, source, ingested_at_micros, cfg);
        }
        let file_id = hash_reader(
            Reported { inner: File::open(path).map_err(io("opening", path))?, progress: &self.progress },
            path,
        )?;
        let earlier = self.manifest(&file_id)?;
        if let Some(m) = earlier.as_ref().filter(|m| m.outcome == Outcome::Published) {
            return Ok(IngestResult::Duplicate(m.clone()));
        }
        let meta = FileMeta { file_id, source: source.to_owned(), ingested_at_micros };
        let manifest = self.with_staging(&meta.file_id, |staging| {
            if size >= self.fan_out.sequence_part_bytes.saturating_mul(2) {
                self.stage_in_sequence(&meta, cfg, path, staging)
            } else {
                self.stage_in(&meta, cfg, path, staging)
            }
        })?;
        self.commit(&meta, earlier.as_ref(), manifest)
    }

    /// Commits `manifest` (see the [type docs](Lake)): writes the static dimensions if
    /// needed, then creates the manifest if absent or replaces a refused one (`earlier`).
    /// When another ingest of the same content committed first, removes the objects this
    /// one put (unless they are that ingest's own keys) and reports a duplicate.
    pub(crate) fn commit(
        &self,
        meta: &FileMeta,
        earlier: Option<&Manifest>,
        manifest: Manifest,
    ) -> Result<IngestResult> {
        self.write_static_dims()?;
        // Not when the content is published already: the objects are the winner's then.
        if manifest.outcome == Outcome::Published
            && !self.manifest(&meta.file_id)?.is_some_and(|m| m.outcome == Outcome::Published)
        {
            self.remove_other_attempts(meta, &manifest)?;
        }
        let bytes = manifest.to_json_line()?;
        let key = manifest_key(&meta.file_id);
        let committed = match earlier {
            None => self.store.put_if_absent(&key, &bytes)?,
            Some(_) => {
                self.store.put_bytes(&key, &bytes)?;
                true
            }
        };
        if committed {
            return Ok(IngestResult::Ingested(manifest));
        }
        // Another ingest of the same content committed first: keep its objects, drop ours.
        let winner = self.manifest(&meta.file_id)?;
        let theirs: Vec<&str> = winner.iter().flat_map(|w| w.outputs.iter().map(|o| o.key.as_str())).collect();
        for out in manifest.outputs.iter().filter(|o| !theirs.contains(&o.key.as_str())) {
            self.store.delete(&out.key)?;
        }
        match winner {
            Some(w) if w.outcome == Outcome::Published => Ok(IngestResult::Duplicate(w)),
            _ => Ok(IngestResult::Ingested(manifest)),
        }
    }

    /// Removes the objects of an earlier attempt at the same content and instant that this
    /// manifest does not list (a retry of the same event cut into other parts, or in one
    /// pass after parts): once the manifest is committed, the rows of the table objects
    /// carrying its `(file_id, ingested_at)` are exactly those of the objects it lists, the
    /// rule the SQL views read the history by (docs/lake.md, "What a reader may rely on").
    fn remove_other_attempts(&self, meta: &FileMeta, manifest: &Manifest) -> Result<()> {
        let listed: std::collections::BTreeSet<&str> = manifest.outputs.iter().map(|o| o.key.as_str()).collect();
        for table in Table::PER_FILE {
            let key = table.object_key(meta);
            let Some(stem) = key.strip_suffix(".parquet") else { continue };
            for other in self.store.list(stem)? {
                if !listed.contains(other.as_str()) {
                    self.store.delete(&other)?;
                }
            }
        }
        Ok(())
    }

    /// A big file: planned (hashed and cut in one pass), its parts ingested on
    /// [`FanOutConfig::threads`] threads, merged: the protocol of [`parts`], as the ETL
    /// Lambda's fan-out runs it, with the parts on threads instead of invocations.
    fn ingest_in_parts(
        &self,
        path: &Path,
        source: &str,
        ingested_at_micros: i64,
        cfg: &IngestConfig,
    ) -> Result<IngestResult> {
        let file = FileSource::open(path)?;
        let planned = duff_core::fanout::plan(cfg, &file, self.fan_out.part_bytes)?;
        let (key, parts) = match self.plan_parts(planned, source, ingested_at_micros, cfg)? {
            PlanOutcome::Done(result) => return Ok(*result),
            PlanOutcome::Parts { key, parts, .. } => (key, parts),
        };
        let source_of = |_| -> Result<Box<dyn duff_core::fanout::ByteSource>> { Ok(Box::new(FileSource::open(path)?)) };
        for r in
            duff_core::fanout::parallel(parts, self.fan_out.threads, &|k| self.ingest_part(&key, k, &source_of, cfg))
        {
            r?;
        }
        self.merge_parts(&key, cfg, &source_of)
    }

    /// Runs `f` in a new local staging folder, removed afterwards whatever happened.
    pub(crate) fn with_staging<T>(&self, file_id: &FileId, f: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let staging = self.staging.join(format!("{file_id}-{}-{n}", std::process::id()));
        fs::create_dir_all(&staging).map_err(io("creating", &staging))?;
        let result = f(&staging);
        let _ = fs::remove_dir_all(&staging);
        let _ = fs::remove_dir(&self.staging); // only when empty: another ingest may be staging
        result
    }

    /// Streams the file through the core, staging each table locally; puts the objects
    /// when the file is accepted. Returns the manifest (not yet committed).
    fn stage_in(&self, meta: &FileMeta, cfg: &IngestConfig, path: &Path, staging: &Path) -> Result<Manifest> {
        let size = fs::metadata(path).map_err(io("reading", path))?.len();
        // The first reading defers the search for repeated lines (a sort at the end instead
        // of a random probe per line); a file that has some is read a second time.
        let mut repeats: Option<RepeatedLines> = None;
        let (outcome, bytes) = loop {
            let file = File::open(path).map_err(io("opening", path))?;
            let mut reader = Reported { inner: file, progress: &self.progress };
            let (outcome, bytes) = stage_pass(meta, cfg, &mut reader, staging, size, repeats.as_ref());
            match outcome {
                Ok(Finish::ReadAgain(r)) if repeats.is_none() => repeats = Some(r),
                Ok(Finish::ReadAgain(_)) => {
                    return Err(Error::Internal {
                        what: "search for repeated lines",
                        message: "the second reading asked for a third".into(),
                    });
                }
                Ok(Finish::Done(m)) => break (Ok(*m), bytes),
                Err(e) => break (Err(e), bytes),
            }
        };
        let manifest = match outcome {
            Ok(m) => m,
            Err(e) if e.is_input_error() => return Ok(Manifest::failed(meta, cfg, bytes, &e)),
            Err(e) => return Err(e.into()),
        };
        if manifest.outcome == Outcome::Published {
            for out in &manifest.outputs {
                self.store.put_file(&out.key, &staging.join(format!("{}.parquet", out.table.name())))?;
            }
        }
        Ok(manifest)
    }

    /// As [`stage_in`](Self::stage_in), the file cut into parts as it is read
    /// ([`duff_core::fanout::ingest_in_sequence`]): each part's tables are staged apart
    /// and put under [`Table::part_key`], the dimensions under [`Table::object_key`].
    fn stage_in_sequence(&self, meta: &FileMeta, cfg: &IngestConfig, path: &Path, staging: &Path) -> Result<Manifest> {
        let source = Reported { inner: FileSource::open(path)?, progress: &self.progress };
        let sinks = StagedParts { dir: staging, one_reader: true };
        let fan =
            match duff_core::fanout::ingest_in_sequence(meta, cfg, &source, self.fan_out.sequence_part_bytes, &sinks) {
                Ok(fan) => fan,
                Err(e) if e.is_input_error() => {
                    return Ok(Manifest::failed(meta, cfg, duff_core::fanout::ByteSource::len(&source), &e));
                }
                Err(e) => return Err(e.into()),
            };
        if fan.manifest.outcome == Outcome::Published {
            let staged =
                fan.manifest.outputs.iter().filter(|o| matches!(o.table, Table::FactOrderLine | Table::Quarantine));
            for out in staged {
                let Some(k) = (0..fan.parts).find(|&k| out.key == out.table.part_key(meta, k)) else {
                    let message = format!("{} is no part's key", out.key);
                    return Err(Error::Internal { what: "ingest in sequence", message });
                };
                self.put_staged_part(meta, staging, out.table, k)?;
            }
            self.put_dimensions(meta, &fan.dimensions)?;
        }
        Ok(fan.manifest)
    }

    /// Puts part `k`'s `table`, staged in `staging` ([`part_file`]), under its final key.
    pub(crate) fn put_staged_part(&self, meta: &FileMeta, staging: &Path, table: Table, k: usize) -> Result<()> {
        self.store.put_file(&table.part_key(meta, k), &staging.join(part_file(table, k)))
    }

    /// Puts the dimensions of a file ingested in parts ([`duff_core::fanout::FanOut`]).
    pub(crate) fn put_dimensions(&self, meta: &FileMeta, dimensions: &[(Table, RecordBatch)]) -> Result<()> {
        for (table, batch) in dimensions {
            self.store
                .put_bytes(&table.object_key(meta), &duff_core::to_parquet_bytes(std::slice::from_ref(batch))?)?;
        }
        Ok(())
    }

    fn write_static_dims(&self) -> Result<()> {
        for (table, batch) in [
            (Table::DimChannel, duff_core::tables::dim_channel_batch()?),
            (Table::DimStatus, duff_core::tables::dim_status_batch()?),
        ] {
            let key = table.static_key();
            if self.store.get(&key)?.is_none() {
                self.store.put_bytes(&key, &duff_core::to_parquet_bytes(&[batch])?)?;
            }
        }
        Ok(())
    }

    /// Reads every published file's facts, in version order, into the current state of
    /// the order lines and the history of their statuses.
    ///
    /// # Errors
    /// Unreadable manifests or Parquet objects.
    pub fn load_state(&self) -> Result<(CurrentState, StatusHistory)> {
        let loaded = self.load(false)?;
        Ok((loaded.state, loaded.history))
    }

    /// Reads every published file, in version order: facts into the current state and the
    /// status history, and (when `dimensions`) client and product observations into the
    /// slowly changing dimensions.
    ///
    /// # Errors
    /// Unreadable manifests or Parquet objects.
    pub fn load(&self, dimensions: bool) -> Result<Loaded> {
        let mut loaded = Loaded::default();
        for m in self.manifests()?.into_iter().filter(|m| m.outcome == Outcome::Published) {
            let meta = m.meta()?;
            loaded.state_files.push(m.file_id.clone());
            for out in &m.outputs {
                let wanted = out.table == Table::FactOrderLine
                    || (dimensions && matches!(out.table, Table::DimClient | Table::DimProduct));
                if !wanted {
                    continue;
                }
                let bytes = self.store.get(&out.key)?.ok_or_else(|| Error::MissingObject { key: out.key.clone() })?;
                for batch in duff_core::parquet_io::parquet_batches(bytes)? {
                    let batch = batch?;
                    match out.table {
                        Table::FactOrderLine => {
                            loaded.state.apply_batch(&meta, &batch)?;
                            loaded.history.apply_batch(&meta, &batch)?;
                        }
                        Table::DimClient => loaded.dimensions.apply_clients(&meta, &batch)?,
                        _ => loaded.dimensions.apply_products(&meta, &batch)?,
                    }
                }
            }
        }
        Ok(loaded)
    }

    /// Writes the analytics models built from `loaded`, every published file read into
    /// memory (the reference [`refresh_models`](Self::refresh_models) is tested against; it
    /// needs about a gigabyte per million lines).
    ///
    /// # Errors
    /// Write failures.
    pub fn write_models(&self, loaded: &Loaded) -> Result<Vec<(String, usize)>> {
        let mut tables: Vec<(&str, RecordBatch)> = vec![
            ("dim_client_scd2", loaded.dimensions.client_batch()?),
            ("dim_product_scd2", loaded.dimensions.product_batch()?),
            ("order_line_current", models::model_lines(&loaded.state.to_batch()?)?),
            ("fact_order_status_event", loaded.history.to_batch()?),
            ("fact_order_lifecycle", duff_core::models::lifecycle_batch(&loaded.state, &loaded.history)?),
        ];
        tables.extend(duff_core::reports::aggregate_batches(&loaded.state)?);
        tables.extend(duff_core::models::mart_batches(&loaded.state)?);
        let mut written = Vec::new();
        for (name, batch) in &tables {
            let key = format!("{MODELS}/{name}/{name}.parquet");
            self.store.put_bytes(&key, &duff_core::to_parquet_bytes(std::slice::from_ref(batch))?)?;
            written.push(((*name).to_owned(), batch.num_rows()));
        }
        let build = serde_json::json!({
            "tables": written.iter().map(|(n, rows)| serde_json::json!({"name": n, "rows": rows})).collect::<Vec<_>>(),
            "files": loaded.state_files,
        });
        let mut bytes = build.to_string().into_bytes();
        bytes.push(b'\n');
        self.store.put_bytes(&format!("{MODELS}/_build.json"), &bytes)?;
        Ok(written)
    }
}

/// The folder of the derived analytics models.
pub const MODELS: &str = "models";

/// Everything read from a lake by [`Lake::load`].
#[derive(Debug, Default)]
pub struct Loaded {
    /// Latest version of every order line.
    pub state: CurrentState,
    /// Every status change.
    pub history: StatusHistory,
    /// Slowly changing dimensions (empty unless asked for).
    pub dimensions: duff_core::models::Dimensions,
    /// The published files read, by content id, in version order.
    pub state_files: Vec<String>,
}

/// Hands batches to the Parquet writer thread.
struct ChannelSink(std::sync::mpsc::SyncSender<Staged>);

/// What the reading thread sends the encoding thread.
enum Staged {
    /// A batch to encode.
    Batch(Table, RecordBatch),
    /// A request for the dimension views of the fact batches sent so far.
    Views(std::sync::mpsc::SyncSender<duff_core::Result<DimensionViews>>),
}

fn writer_stopped() -> duff_core::Error {
    broken("parquet writer", "the writer stopped")
}

impl TableSink for ChannelSink {
    fn write_batch(&mut self, table: Table, batch: RecordBatch) -> duff_core::Result<()> {
        self.0.send(Staged::Batch(table, batch)).map_err(|_| writer_stopped())
    }

    /// The encoding thread computes the views as the fact batches pass.
    fn dimension_views(&mut self) -> Option<duff_core::Result<DimensionViews>> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        if self.0.send(Staged::Views(tx)).is_err() {
            return Some(Err(writer_stopped()));
        }
        Some(rx.recv().unwrap_or_else(|_| Err(writer_stopped())))
    }

    fn computes_views(&self) -> bool {
        true
    }
}

/// One reading of the file: this thread reads and validates, a second one encodes Parquet
/// into `staging`. Returns the outcome and the bytes read.
fn stage_pass(
    meta: &FileMeta,
    cfg: &IngestConfig,
    reader: &mut dyn Read,
    staging: &Path,
    size: u64,
    repeats: Option<&RepeatedLines>,
) -> (duff_core::Result<Finish>, u64) {
    std::thread::scope(|scope| {
        // A hand-over, not a queue: the encoding thread (Parquet and the dimension views) is
        // the slower one, so queued batches (~10 MB each at the default 32K rows) would only
        // add memory: a queue of 2–4 cost 30–100 MB of peak at 10M rows (docs/performance.md).
        let (tx, rx) = std::sync::mpsc::sync_channel::<Staged>(0);
        let encode = move || encode_staged(staging, |table| format!("{}.parquet", table.name()), rx, true);
        let writer = match std::thread::Builder::new().name("duff-parquet".into()).spawn_scoped(scope, encode) {
            Ok(w) => w,
            Err(e) => return (Err(e.into()), 0),
        };
        let mut sink = ChannelSink(tx);
        // The encoding thread computes the client and product views: less per row here.
        let ingest = FileIngest::new(meta.clone(), cfg.clone()).views_from(&sink);
        let mut ingest = match repeats {
            Some(r) => ingest.with_repeats(r),
            None => ingest.deferring_repeats(size),
        };
        let pushed = ingest.push_reader(reader, &mut sink);
        let bytes = ingest.bytes_read();
        let read = pushed.and_then(|()| match repeats {
            Some(_) => ingest.finish(&mut sink).map(|m| Finish::Done(Box::new(m))),
            None => ingest.finish_deferred(&mut sink),
        });
        drop(sink);
        let written = writer.join().unwrap_or_else(|p| Err(broken("parquet writer", panicked(&*p))));
        let outcome = match (read, written) {
            // The writer's own error explains a closed channel best.
            (Err(_), Err(w)) | (Ok(_), Err(w)) => Err(w),
            (read, Ok(())) => read,
        };
        (outcome, bytes)
    })
}

/// A local file read at offsets (each part's thread reads its own range).
#[derive(Debug)]
pub struct FileSource {
    file: File,
    len: u64,
}

impl FileSource {
    /// Opens the file at `path`.
    ///
    /// # Errors
    /// When it cannot be opened.
    pub fn open(path: &Path) -> Result<FileSource> {
        let file = File::open(path).map_err(io("opening", path))?;
        let len = file.metadata().map_err(io("reading", path))?.len();
        Ok(FileSource { file, len })
    }
}

impl duff_core::fanout::ByteSource for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> duff_core::Result<usize> {
        loop {
            match std::os::unix::fs::FileExt::read_at(&self.file, buf, offset) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => return Ok(r?),
            }
        }
    }
}

/// Encodes the batches received on `rx` into one Parquet file per table in `dir`, named by
/// `file_name`: the encoding thread of one pass and of each part.
fn encode_staged(
    dir: &Path,
    file_name: impl Fn(Table) -> String,
    rx: std::sync::mpsc::Receiver<Staged>,
    compute_views: bool,
) -> duff_core::Result<()> {
    let mut sink = ParquetSink::new(|table: Table| {
        let f = File::create(dir.join(file_name(table)))?;
        Ok(BufWriter::with_capacity(1 << 20, f))
    });
    // The dimension views of the fact batches, for an ingest started with `views_from_sink`.
    let mut views = DimensionViews::default();
    for msg in rx {
        match msg {
            Staged::Batch(table, batch) => {
                if compute_views && table == Table::FactOrderLine {
                    views.apply_facts(&batch)?;
                }
                sink.write_batch(table, batch)?;
            }
            Staged::Views(reply) => {
                let answer = if compute_views {
                    Ok(std::mem::take(&mut views))
                } else {
                    Err(broken("parquet writer", "no views computed"))
                };
                let _ = reply.send(answer);
            }
        }
    }
    for (_, mut w) in sink.finish()? {
        w.flush()?;
    }
    Ok(())
}

/// The staged Parquet files of a part: `<table>-<part>.parquet`.
fn part_file(table: Table, part: usize) -> String {
    format!("{}-{part}.parquet", table.name())
}

/// Each part's tables staged as Parquet files in `dir`, encoded on a thread of the part's
/// own (the part's reading thread validates while it encodes, as in one pass).
struct StagedParts<'a> {
    dir: &'a Path,
    /// The parts of one reading of the file, one after the other
    /// ([`duff_core::fanout::ingest_in_sequence`]): as in [`stage_pass`], the encoding
    /// thread computes the client and product views, and batches are handed over, not
    /// queued. Otherwise (parts on several threads) a part's reader may run 4 batches ahead.
    one_reader: bool,
}

/// A part's sink: batches go to the part's encoding thread.
struct PipedSink {
    /// The encoding thread computes the client and product views.
    views: bool,
    tx: Option<std::sync::mpsc::SyncSender<Staged>>,
    writer: Option<std::thread::JoinHandle<duff_core::Result<()>>>,
}

impl PipedSink {
    /// Sends `msg` to the encoding thread; when it stopped, its own error explains why.
    fn send(&mut self, msg: Staged) -> duff_core::Result<()> {
        if self.tx.as_ref().is_some_and(|tx| tx.send(msg).is_ok()) {
            return Ok(());
        }
        self.tx = None;
        match self.writer.take().map(std::thread::JoinHandle::join) {
            Some(Ok(Err(e))) => Err(e),
            Some(Err(p)) => Err(broken("parquet writer", panicked(&*p))),
            Some(Ok(Ok(()))) | None => Err(writer_stopped()),
        }
    }
}

impl TableSink for PipedSink {
    fn write_batch(&mut self, table: Table, batch: RecordBatch) -> duff_core::Result<()> {
        self.send(Staged::Batch(table, batch))
    }

    /// The encoding thread computes the views as the fact batches pass (when the part's
    /// sinks were opened to: [`StagedParts::one_reader`]).
    fn dimension_views(&mut self) -> Option<duff_core::Result<DimensionViews>> {
        if !self.views {
            return None;
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        Some(self.send(Staged::Views(tx)).and_then(|()| rx.recv().unwrap_or_else(|_| Err(writer_stopped()))))
    }

    fn computes_views(&self) -> bool {
        self.views
    }
}

impl duff_core::fanout::PartSinks for StagedParts<'_> {
    type Sink = PipedSink;

    fn open(&self, part: usize) -> duff_core::Result<Self::Sink> {
        let dir = self.dir.to_path_buf();
        let (tx, rx) = std::sync::mpsc::sync_channel::<Staged>(if self.one_reader { 0 } else { 4 });
        let views = self.one_reader;
        let writer = std::thread::Builder::new()
            .name("duff-parquet".into())
            .spawn(move || encode_staged(&dir, |table| part_file(table, part), rx, views))?;
        Ok(PipedSink { views, tx: Some(tx), writer: Some(writer) })
    }

    fn close(&self, _part: usize, mut sink: Self::Sink) -> duff_core::Result<()> {
        sink.tx = None;
        match sink.writer.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(p)) => Err(broken("parquet writer", panicked(&*p))),
            None => Ok(()),
        }
    }
}

/// The content identity of a file (one fast pass: XXH3 runs at memory speed).
///
/// # Errors
/// When the file cannot be read.
pub fn hash_file(path: &Path) -> Result<FileId> {
    hash_reader(File::open(path).map_err(io("opening", path))?, path)
}

fn hash_reader(mut f: impl Read, path: &Path) -> Result<FileId> {
    let mut h = FileHasher::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io("reading", path))?;
        if n == 0 {
            return Ok(h.finish());
        }
        h.update(&buf[..n]);
    }
}
