//! `duff-local`: the lake in a local directory, the local home of duff-etl.
//!
//! It is an adapter around [`duff_core`]: it reads files, stages each table's Parquet in
//! the lake's `.staging/` folder, publishes by renaming into the deterministic keys of
//! [`duff_core::lake`], and writes the file's manifest last (the commit). The ETL Lambda
//! does the same against S3; only the storage differs.
//!
//! ```no_run
//! use duff_local::{LocalLake, IngestResult};
//! let lake = LocalLake::open("lake")?;
//! match lake.ingest_path("examples/data/orders.csv".as_ref(), &Default::default(), chrono::Utc::now())? {
//!     IngestResult::Ingested(m) | IngestResult::Duplicate(m) => println!("{}", m.reconciliation_line()),
//! }
//! # Ok::<(), duff_local::Error>(())
//! ```
#![deny(missing_docs)]

pub mod generate;
pub mod text;

use chrono::{DateTime, Utc};
use duff_core::lake::{MANIFESTS, manifest_key, next_local_instant};
use duff_core::{
    CurrentState, FileHasher, FileId, FileIngest, FileMeta, IngestConfig, Manifest, Outcome, ParquetSink,
    StatusHistory, Table,
};
use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Errors of the local lake: I/O with the path concerned, or a core error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a path failed.
    #[error("{action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The core refused or failed.
    #[error(transparent)]
    Core(#[from] duff_core::Error),
    /// A manifest in the lake could not be read.
    #[error("reading manifest {path}")]
    Manifest {
        /// The manifest's path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: duff_core::Error,
    },
}

/// A convenient alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io { action, path: path.to_owned(), source }
}

/// What ingesting a file did.
#[derive(Debug, Clone)]
pub enum IngestResult {
    /// The file was processed: see the manifest's outcome.
    Ingested(Manifest),
    /// The same content was already published: nothing changed. The earlier manifest.
    Duplicate(Manifest),
}

/// A lake in a local directory.
#[derive(Debug, Clone)]
pub struct LocalLake {
    root: PathBuf,
}

impl LocalLake {
    /// Opens (creating it if needed) the lake at `root`.
    ///
    /// # Errors
    /// When the folder cannot be created.
    pub fn open(root: impl Into<PathBuf>) -> Result<LocalLake> {
        let root = root.into();
        fs::create_dir_all(root.join(MANIFESTS)).map_err(io("creating the lake folder", &root))?;
        Ok(LocalLake { root })
    }

    /// The lake's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every manifest in the lake, sorted by version `(ingested_at, source, file_id)`.
    ///
    /// # Errors
    /// An unreadable folder or manifest.
    pub fn manifests(&self) -> Result<Vec<Manifest>> {
        let dir = self.root.join(MANIFESTS);
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io("listing", &dir))? {
            let path = entry.map_err(io("listing", &dir))?.path();
            if path.extension().is_some_and(|e| e == "json") {
                let bytes = fs::read(&path).map_err(io("reading", &path))?;
                let m = Manifest::from_json(&bytes).map_err(|source| Error::Manifest { path: path.clone(), source })?;
                out.push(m);
            }
        }
        out.sort_by(|a, b| {
            (a.ingested_at_micros, &a.source, &a.file_id).cmp(&(b.ingested_at_micros, &b.source, &b.file_id))
        });
        Ok(out)
    }

    fn manifest(&self, file_id: &FileId) -> Result<Option<Manifest>> {
        let path = self.root.join(manifest_key(file_id));
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(Manifest::from_json(&bytes).map_err(|source| Error::Manifest { path, source })?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Io { action: "reading", path, source: e }),
        }
    }

    /// Ingests the file at `path`, at the instant `now` (moved forward if needed so that it
    /// is later than every earlier ingest of this lake).
    ///
    /// A file whose content was already published is a duplicate: nothing changes. A file
    /// refused whole (file-level error, or over the reject threshold) publishes nothing
    /// but its manifest, which says why.
    ///
    /// # Errors
    /// I/O failures of the lake or of reading `path`. A refused file is not an error: see
    /// the manifest's outcome.
    pub fn ingest_path(&self, path: &Path, cfg: &IngestConfig, now: DateTime<Utc>) -> Result<IngestResult> {
        let file_id = hash_file(path)?;
        if let Some(m) = self.manifest(&file_id)?
            && m.outcome == Outcome::Published
        {
            return Ok(IngestResult::Duplicate(m));
        }
        let latest = self.manifests()?.iter().map(|m| m.ingested_at_micros).max();
        let instant = next_local_instant(now.timestamp_micros(), latest);
        let meta = FileMeta { file_id, source: path.display().to_string(), ingested_at_micros: instant };
        let mut reader = File::open(path).map_err(io("opening", path))?;
        self.ingest_reader(meta, cfg, &mut reader).map(IngestResult::Ingested)
    }

    /// Ingests `reader`, whose content identity and instant are in `meta`: stages every
    /// table, publishes them when the file is accepted, then writes the manifest.
    ///
    /// # Errors
    /// I/O failures (the staged files are removed).
    pub fn ingest_reader(&self, meta: FileMeta, cfg: &IngestConfig, reader: &mut dyn Read) -> Result<Manifest> {
        let staging = self.root.join(".staging").join(format!("{}-{}", meta.file_id, std::process::id()));
        fs::create_dir_all(&staging).map_err(io("creating", &staging))?;
        let result = self.stage_and_publish(&meta, cfg, reader, &staging);
        // Whatever happened, nothing stays staged.
        let _ = fs::remove_dir_all(&staging);
        if let Some(parent) = staging.parent() {
            let _ = fs::remove_dir(parent); // only when empty: another ingest may be staging
        }
        let manifest = result?;
        self.write_static_dims()?;
        let path = self.root.join(manifest_key(&meta.file_id));
        write_atomic(&path, &manifest.to_json_line()?)?;
        Ok(manifest)
    }

    fn stage_and_publish(
        &self,
        meta: &FileMeta,
        cfg: &IngestConfig,
        reader: &mut dyn Read,
        staging: &Path,
    ) -> Result<Manifest> {
        let mut sink = ParquetSink::new(|table: Table| {
            let p = staging.join(format!("{}.parquet", table.name()));
            let f = File::create(&p)?;
            Ok(BufWriter::with_capacity(1 << 20, f))
        });
        let mut ingest = FileIngest::new(meta.clone(), cfg.clone());
        let outcome = ingest.push_reader(reader, &mut sink).and_then(|()| ingest.finish(&mut sink));
        let manifest = match outcome {
            Ok(m) => m,
            Err(e) if e.is_input_error() => return Ok(Manifest::failed(meta, cfg, 0, &e)),
            Err(e) => return Err(e.into()),
        };
        for (_, mut w) in sink.finish()? {
            w.flush().map_err(io("writing", staging))?;
        }
        if manifest.outcome != Outcome::Published {
            return Ok(manifest);
        }
        for out in &manifest.outputs {
            let from = staging.join(format!("{}.parquet", out.table.name()));
            let to = self.root.join(&out.key);
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent).map_err(io("creating", parent))?;
            }
            fs::rename(&from, &to).map_err(io("publishing", &to))?;
        }
        Ok(manifest)
    }

    fn write_static_dims(&self) -> Result<()> {
        for (table, batch) in [
            (Table::DimChannel, duff_core::tables::dim_channel_batch()?),
            (Table::DimStatus, duff_core::tables::dim_status_batch()?),
        ] {
            let path = self.root.join(table.static_key());
            if !path.exists() {
                write_atomic(&path, &duff_core::to_parquet_bytes(&[batch])?)?;
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
        let mut state = CurrentState::new();
        let mut history = StatusHistory::new();
        for m in self.manifests()?.into_iter().filter(|m| m.outcome == Outcome::Published) {
            let meta = m.meta();
            for out in m.outputs.iter().filter(|o| o.table == Table::FactOrderLine) {
                let path = self.root.join(&out.key);
                let bytes = fs::read(&path).map_err(io("reading", &path))?;
                for batch in duff_core::parquet_batches(bytes)? {
                    let batch = batch?;
                    state.apply_batch(&meta, &batch)?;
                    history.apply_batch(&meta, &batch)?;
                }
            }
        }
        Ok((state, history))
    }
}

/// The content identity of a file (one fast pass: XXH3 runs at memory speed).
///
/// # Errors
/// When the file cannot be read.
pub fn hash_file(path: &Path) -> Result<FileId> {
    let mut f = File::open(path).map_err(io("opening", path))?;
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

/// Writes `bytes` to `path` through a temporary file and a rename: readers see the old
/// content or the new, never a part.
///
/// # Errors
/// I/O failures.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io("creating", parent))?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    fs::write(&tmp, bytes).map_err(io("writing", &tmp))?;
    fs::rename(&tmp, path).map_err(io("renaming into", path))
}
