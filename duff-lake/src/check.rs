//! `check`, the lake's fsck: every problem that makes a reader fail or miss data, listed
//! (never repaired here).
//!
//! | kind | what | the way out |
//! |---|---|---|
//! | `manifest_unreadable` | a manifest that cannot be parsed | ingest the file again (its content id is the key's name), or restore the manifest |
//! | `object_missing` | an object a published manifest lists is not in the store | restore it, or remove the manifest and ingest the file again |
//! | `object_unreadable` | such an object is not Parquet, or holds another number of rows than the manifest says | the same |
//! | `leftover` | what [`Lake::vacuum`] would remove at the age checked | `vacuum` |
//! | `serving_unreadable` | the serving state's newest record cannot be read | rebuild the serving state |
//! | `serving_object_missing` | an object the newest generation names is missing or not Parquet | rebuild the serving state |
//!
//! Every object a published manifest lists is read and decoded whole: `check` costs one
//! reading of the lake.

use crate::vacuum::{LeftoverKind, ManifestScan};
use crate::{Lake, Result, Store};
use duff_core::Outcome;
use std::time::{Duration, SystemTime};

/// What kind of problem (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A manifest that cannot be parsed.
    ManifestUnreadable,
    /// An object a published manifest lists is missing.
    ObjectMissing,
    /// An object a published manifest lists is not Parquet, or not the rows it says.
    ObjectUnreadable,
    /// Something [`Lake::vacuum`] would remove.
    Leftover,
    /// The serving state's records cannot be read.
    ServingUnreadable,
    /// An object of the newest serving generation is missing or not Parquet.
    ServingObjectMissing,
}

impl ProblemKind {
    /// The kind's name (`manifest_unreadable`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::ManifestUnreadable => "manifest_unreadable",
            ProblemKind::ObjectMissing => "object_missing",
            ProblemKind::ObjectUnreadable => "object_unreadable",
            ProblemKind::Leftover => "leftover",
            ProblemKind::ServingUnreadable => "serving_unreadable",
            ProblemKind::ServingObjectMissing => "serving_object_missing",
        }
    }
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// Its kind.
    pub kind: ProblemKind,
    /// The key concerned (a local path for local leftovers).
    pub key: String,
    /// What is wrong, with the cause.
    pub detail: String,
}

/// What [`Lake::check`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CheckReport {
    /// Every problem, in the order of the table above, then by key.
    pub problems: Vec<Problem>,
    /// Manifests read.
    pub manifests: usize,
    /// Objects of published manifests read.
    pub objects: usize,
    /// The newest serving generation checked, if any.
    pub generation: Option<u64>,
}

impl CheckReport {
    /// Whether the lake is sound.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl<S: Store> Lake<S> {
    /// Lists every problem of the lake (see the [module docs](self)); leftovers count when
    /// older than `leftovers_older_than` (what `vacuum` with that age removes).
    ///
    /// # Errors
    /// Listing or read failures of the store itself (a damaged object is a problem, not an
    /// error).
    pub fn check(&self, leftovers_older_than: Duration) -> Result<CheckReport> {
        let scan: ManifestScan = self.scan_manifests()?;
        let mut report = CheckReport { manifests: scan.manifests.len() + scan.unreadable.len(), ..Default::default() };
        let mut problems = Vec::new();
        for (key, e) in &scan.unreadable {
            problems.push(Problem {
                kind: ProblemKind::ManifestUnreadable,
                key: key.clone(),
                detail: duff_core::error_chain(e),
            });
        }
        for m in scan.manifests.iter().filter(|m| m.outcome == Outcome::Published) {
            for out in &m.outputs {
                report.objects += 1;
                let problem = |kind, detail: String| Problem { kind, key: out.key.clone(), detail };
                let Some(bytes) = self.store.get(&out.key)? else {
                    problems.push(problem(
                        ProblemKind::ObjectMissing,
                        format!("listed by the published manifest of {} ({})", m.file_id, m.source),
                    ));
                    continue;
                };
                let rows = duff_core::parquet_io::parquet_batches(bytes).and_then(|batches| {
                    batches.map(|b| b.map(|b| b.num_rows() as u64)).sum::<duff_core::Result<u64>>()
                });
                match rows {
                    Err(e) => problems.push(problem(ProblemKind::ObjectUnreadable, duff_core::error_chain(&e))),
                    Ok(n) if n != out.rows => problems.push(problem(
                        ProblemKind::ObjectUnreadable,
                        format!("{n} rows where the manifest of {} says {}", m.file_id, out.rows),
                    )),
                    Ok(_) => {}
                }
            }
        }
        let now = SystemTime::now();
        for (l, modified) in self.leftovers_of(&scan)? {
            if !crate::vacuum::old_enough(modified, now, leftovers_older_than) {
                continue;
            }
            let what = match l.kind {
                LeftoverKind::TableObject => "listed by no published manifest",
                LeftoverKind::FanOutWork => "fan-out work folder",
                LeftoverKind::ServingObject => "serving object named by no committed generation",
                LeftoverKind::Staging => "staging folder of a process that is gone",
                LeftoverKind::TempFile => "temporary file of a killed write",
            };
            let age = l.age_secs.map_or_else(|| "age unknown".to_owned(), |s| format!("{s} s old"));
            problems.push(Problem { kind: ProblemKind::Leftover, key: l.key, detail: format!("{what}, {age}") });
        }
        match self.serving_head() {
            Err(e) => problems.push(Problem {
                kind: ProblemKind::ServingUnreadable,
                key: crate::serving::SERVING.to_owned(),
                detail: duff_core::error_chain(&e),
            }),
            Ok(None) => {}
            Ok(Some(g)) => {
                report.generation = Some(g.generation);
                for key in g.objects() {
                    let detail = match self.store.get_tail(key, 4) {
                        Err(e) => Some(duff_core::error_chain(&e)),
                        Ok(None) => Some(format!("named by generation {}, missing", g.generation)),
                        Ok(Some((tail, _))) if tail != b"PAR1" => {
                            Some(format!("named by generation {}, not a Parquet object", g.generation))
                        }
                        Ok(Some(_)) => None,
                    };
                    if let Some(detail) = detail {
                        problems.push(Problem { kind: ProblemKind::ServingObjectMissing, key: key.to_owned(), detail });
                    }
                }
            }
        }
        problems.sort_by(|a, b| (a.kind, &a.key).cmp(&(b.kind, &b.key)));
        report.problems = problems;
        Ok(report)
    }
}
