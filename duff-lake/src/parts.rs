//! Big files in parts, through the store: the protocol of the ETL Lambda's Step Functions
//! fan-out (one plan, one invocation per part, one merge), which [`Lake::ingest_file`] also
//! runs locally, with the parts on threads. The core steps are [`duff_core::fanout`]'s.
//!
//! Work objects live under `_fanout/<file_id>/<ingested_at_micros>/` (outside every table's
//! prefix, so no reader sees them):
//!
//! ```text
//! plan.json                                 the core's Plan plus the file's source
//! <digest>/fact_order_line-kkkkk.parquet    a part's accepted rows (when it has some)
//! <digest>/quarantine-kkkkk.parquet         a part's refused rows (when it has some)
//! <digest>/part-kkkkk.hashes                the part's sorted line hashes (8 bytes per line)
//! <digest>/part-kkkkk.json                  the part's counts, problems, dimension views: last
//! ```
//!
//! `<digest>` is the XXH3-128 of `plan.json` (32 hex digits): parts of different cuts of the
//! same file (a plan stored again after the part size changed) never mix.
//!
//! 1. [`Lake::plan_parts`]: a duplicate (the content is published) or a file refused at
//!    planning ends here, its manifest committed; otherwise the plan is stored.
//! 2. [`Lake::ingest_part`], for every part, anywhere, in any order, retried at will: the
//!    same part gives the same objects under the same keys. A part whose output is stored
//!    already is not read again.
//! 3. [`Lake::merge_parts`]: reads every part's output, reads again only the parts holding
//!    repeated lines, builds the manifest; when the file is published, copies each part's
//!    objects to their final keys (the second readings are put from local staging) and
//!    writes the dimensions; commits the manifest as a one-pass ingest does; then removes
//!    the work objects. Final keys are written by merges only, and two merges of the same
//!    plan write the same bytes.

use crate::{Error, IngestResult, Lake, Result, StagedParts, Store, part_file};
use duff_core::fanout::{ByteSource, PartRange, Plan, Planned};
use duff_core::{FileId, FileMeta, IngestConfig, Manifest, Outcome, PartOutput, Table};

/// The prefix of the fan-out's work objects.
pub const FANOUT: &str = "_fanout";

/// One fanned-out ingest: the content and its instant (the work objects' folder).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FanKey {
    /// The content identity.
    pub file_id: FileId,
    /// The ingest instant, in microseconds since the epoch.
    pub ingested_at_micros: i64,
}

impl FanKey {
    /// `_fanout/<file_id>/<ingested_at_micros>/`.
    pub fn prefix(&self) -> String {
        format!("{FANOUT}/{}/{}/", self.file_id, self.ingested_at_micros)
    }

    fn plan(&self) -> String {
        format!("{}plan.json", self.prefix())
    }
}

/// The folder of one plan's parts: `<prefix>/<plan digest>/`. A plan stored again with other
/// parts (a retry after `RangeBytes` changed) gets another folder, so the outputs of two
/// different cuts of the file never mix.
#[derive(Debug, Clone)]
struct PartsDir(String);

impl PartsDir {
    fn of(key: &FanKey, plan_json: &[u8]) -> PartsDir {
        PartsDir(format!("{}{}/", key.prefix(), FileId::of_bytes(plan_json)))
    }

    fn object(&self, table: Table, k: usize) -> String {
        format!("{}{}-{k:05}.parquet", self.0, table.name())
    }

    fn output(&self, k: usize) -> String {
        format!("{}part-{k:05}.json", self.0)
    }

    fn hashes(&self, k: usize) -> String {
        format!("{}part-{k:05}.hashes", self.0)
    }
}

/// The stored plan: the core's, and what the file's manifest needs besides.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct StoredPlan {
    source: String,
    ingested_at_micros: i64,
    plan: Plan,
}

impl StoredPlan {
    fn meta(&self) -> FileMeta {
        FileMeta {
            file_id: self.plan.file_id.clone(),
            source: self.source.clone(),
            ingested_at_micros: self.ingested_at_micros,
        }
    }
}

/// Gives the bytes of one part of the file (a local file, or one ranged GET in Lambda).
pub type SourceOf<'a> = dyn Fn(PartRange) -> Result<Box<dyn ByteSource>> + Sync + 'a;

/// What planning decided.
#[derive(Debug, Clone)]
pub enum PlanOutcome {
    /// Nothing to fan out: a duplicate, or the file refused whole at planning (its manifest
    /// is committed).
    Done(Box<IngestResult>),
    /// The plan is stored: ingest parts `0..parts`, then merge.
    Parts {
        /// Where the work objects go.
        key: FanKey,
        /// How many parts.
        parts: usize,
        /// The file's length.
        bytes: u64,
    },
}

/// What one part's ingest did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartReport {
    /// The part.
    pub part: usize,
    /// Rows read, accepted, quarantined (first reading: a repeated line counts as accepted
    /// until the merge).
    pub rows: [u64; 3],
    /// The content was published already (by another run of the same event): nothing done.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub published_already: bool,
}

impl<S: Store> Lake<S> {
    /// Step 1: records the plan of the file `planned` (from a [`duff_core::fanout::Planner`]
    /// fed the whole file) ingested as `source` at `ingested_at_micros`.
    ///
    /// # Errors
    /// Storage failures, or a planning failure that is not the file's fault.
    pub fn plan_parts(
        &self,
        planned: Planned,
        source: &str,
        ingested_at_micros: i64,
        cfg: &IngestConfig,
    ) -> Result<PlanOutcome> {
        let earlier = self.manifest(&planned.file_id)?;
        if let Some(m) = earlier.as_ref().filter(|m| m.outcome == Outcome::Published) {
            return Ok(PlanOutcome::Done(Box::new(IngestResult::Duplicate(m.clone()))));
        }
        let meta = FileMeta { file_id: planned.file_id.clone(), source: source.to_owned(), ingested_at_micros };
        let plan = match planned.plan {
            Ok(plan) => plan,
            Err(e) if e.is_input_error() => {
                let manifest = Manifest::failed(&meta, cfg, planned.bytes, &e);
                return self.commit(&meta, earlier.as_ref(), manifest).map(|r| PlanOutcome::Done(Box::new(r)));
            }
            Err(e) => return Err(e.into()),
        };
        let key = FanKey { file_id: meta.file_id.clone(), ingested_at_micros };
        let (parts, bytes) = (plan.parts.len(), plan.bytes);
        let stored = StoredPlan { source: source.to_owned(), ingested_at_micros, plan };
        let json = serde_json::to_vec(&stored).map_err(|e| Error::Core(e.into()))?;
        self.store.put_bytes(&key.plan(), &json)?;
        Ok(PlanOutcome::Parts { key, parts, bytes })
    }

    /// The stored plan and the folder of its parts.
    fn stored_plan(&self, key: &FanKey) -> Result<(StoredPlan, PartsDir)> {
        let plan_key = key.plan();
        let bytes = self.store.get(&plan_key)?.ok_or_else(|| Error::MissingObject { key: plan_key.clone() })?;
        let plan = serde_json::from_slice(&bytes).map_err(|e| Error::Manifest { key: plan_key, source: e.into() })?;
        Ok((plan, PartsDir::of(key, &bytes)))
    }

    /// Step 2: ingests part `k` of the plan under `key`, reading its bytes from
    /// `source_of(range)` (which needs only that part's range of the file; not called when
    /// the part's output is stored already or the content is published), and stores its
    /// objects and output.
    ///
    /// # Errors
    /// No plan, a part not in it, read, ingest or storage failures.
    pub fn ingest_part(
        &self,
        key: &FanKey,
        k: usize,
        source_of: &SourceOf<'_>,
        cfg: &IngestConfig,
    ) -> Result<PartReport> {
        // Another run of the same event merged already (and removed the work objects).
        if self.manifest(&key.file_id)?.is_some_and(|m| m.outcome == Outcome::Published) {
            return Ok(PartReport { part: k, rows: [0; 3], published_already: true });
        }
        let (stored, dir) = self.stored_plan(key)?;
        if let (Some(json), Some(hashes)) = (self.store.get(&dir.output(k))?, self.store.get(&dir.hashes(k))?)
            && let Ok(out) = PartOutput::hashes_from_bytes(&hashes).and_then(|h| PartOutput::from_json(&json, h))
        {
            return Ok(report(k, &out)); // stored by an earlier attempt: the same bytes again
        }
        let source = source_of(stored.plan.part(k)?)?;
        let meta = stored.meta();
        let out = self.with_staging(&meta.file_id, |staging| {
            // Into `<table>-<k>.parquet` files in `staging`, encoded on a thread of the part's own.
            let sinks = StagedParts { dir: staging, one_reader: false };
            let out = duff_core::fanout::ingest_range_into(&meta, cfg, &stored.plan, k, source.as_ref(), None, &sinks)?;
            for (table, rows) in
                [(Table::FactOrderLine, out.summary.rows_accepted), (Table::Quarantine, out.summary.rows_quarantined)]
            {
                if rows > 0 {
                    self.store.put_file(&dir.object(table, k), &staging.join(part_file(table, k)))?;
                }
            }
            Ok(out)
        })?;
        self.store.put_bytes(&dir.hashes(k), &out.hashes_to_bytes())?;
        self.store.put_bytes(&dir.output(k), &out.to_json()?)?;
        Ok(report(k, &out))
    }

    /// Step 3: merges the parts under `key` into the file's manifest, reading again the
    /// parts that hold repeated lines (from `source_of(range)`, which needs only that
    /// part's bytes), publishes and commits (see the [module docs](self)).
    ///
    /// # Errors
    /// No plan, a part not ingested yet ([`Error::MissingObject`]), read, ingest or storage
    /// failures.
    pub fn merge_parts(&self, key: &FanKey, cfg: &IngestConfig, source_of: &SourceOf<'_>) -> Result<IngestResult> {
        let earlier = self.manifest(&key.file_id)?;
        if let Some(m) = earlier.as_ref().filter(|m| m.outcome == Outcome::Published) {
            return Ok(IngestResult::Duplicate(m.clone()));
        }
        let (stored, dir) = self.stored_plan(key)?;
        let meta = stored.meta();
        let mut outputs = Vec::with_capacity(stored.plan.parts.len());
        for k in 0..stored.plan.parts.len() {
            let json = self.store.get(&dir.output(k))?.ok_or_else(|| Error::MissingObject { key: dir.output(k) })?;
            let hashes = self.store.get(&dir.hashes(k))?.ok_or_else(|| Error::MissingObject { key: dir.hashes(k) })?;
            outputs.push(PartOutput::from_json(&json, PartOutput::hashes_from_bytes(&hashes)?)?);
        }
        let again = duff_core::fanout::find_repeats(outputs.iter().map(PartOutput::hashes));
        self.with_staging(&meta.file_id, |staging| {
            let sinks = StagedParts { dir: staging, one_reader: false };
            for a in &again {
                let source = source_of(stored.plan.parts[a.part])?;
                outputs[a.part] = duff_core::fanout::ingest_range_into(
                    &meta,
                    cfg,
                    &stored.plan,
                    a.part,
                    source.as_ref(),
                    Some(a),
                    &sinks,
                )?;
            }
            let rows: Vec<[u64; 2]> =
                outputs.iter().map(|o| [o.summary.rows_accepted, o.summary.rows_quarantined]).collect();
            let fan = duff_core::fanout::merge(&meta, cfg, &stored.plan, outputs)?;
            if fan.manifest.outcome == Outcome::Published {
                for (k, [accepted, quarantined]) in rows.into_iter().enumerate() {
                    let read_again = again.iter().any(|a| a.part == k);
                    for (table, n) in [(Table::FactOrderLine, accepted), (Table::Quarantine, quarantined)] {
                        if n == 0 {
                            continue;
                        }
                        if read_again {
                            self.put_staged_part(&meta, staging, table, k)?;
                        } else {
                            self.store.copy(&dir.object(table, k), &table.part_key(&meta, k))?;
                        }
                    }
                }
                self.put_dimensions(&meta, &fan.dimensions)?;
            }
            let result = self.commit(&meta, earlier.as_ref(), fan.manifest)?;
            self.store.delete_prefix(&key.prefix())?;
            Ok(result)
        })
    }
}

fn report(k: usize, out: &PartOutput) -> PartReport {
    let s = &out.summary;
    PartReport { part: k, rows: [s.rows_read, s.rows_accepted, s.rows_quarantined], published_already: false }
}
