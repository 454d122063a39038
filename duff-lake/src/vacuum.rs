//! Leftovers and their removal: what a crashed or refused writer left that no reader counts.
//!
//! A reader counts only the objects a published manifest lists (docs/lake.md, "What a reader
//! may rely on"). Whatever else a writer leaves is a *leftover*:
//!
//! | kind | what | where |
//! |---|---|---|
//! | [`LeftoverKind::TableObject`] | an object under a table's prefix (`fact_order_line/`, `quarantine/`, `dim_client/`, `dim_product/`) that no published manifest lists: an ingest that died before its commit, a refused re-ingest | the store |
//! | [`LeftoverKind::FanOutWork`] | a work folder `_fanout/<file_id>/<micros>/` (one entry per folder) | the store |
//! | [`LeftoverKind::ServingObject`] | an object under `serving/g<n>-<nonce>/` that generation `n`'s record does not name (a writer that lost the commit race or died), or of a generation never committed | the store |
//! | [`LeftoverKind::Staging`] | a local staging folder of a process that is gone | the lake's local staging folder |
//! | [`LeftoverKind::TempFile`] | a hidden temporary file of a killed write (`.<name>.tmp-<pid>-<n>`) | a lake in a folder |
//!
//! Only leftovers **older than a stated age** are removed ([`Lake::vacuum`]): an ingest in
//! flight puts its objects before its manifest, so an object young enough may still be
//! committed. The age is measured from the time the store gives (a file's modification
//! time, S3's `LastModified`); an object of unknown time is kept unless the age is zero.
//! The rule is safe as long as an ingest commits within that age of its first put (24 hours
//! by default; a Lambda runs at most 15 minutes). An object whose file name carries the id
//! of a manifest that cannot be parsed is never removed (that manifest may list it).

use crate::serving::{Generation, SERVING};
use crate::store::Listed;
use crate::{Error, Lake, Result, Store};
use duff_core::lake::MANIFESTS;
use duff_core::{Manifest, Outcome, Table};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The default age past which leftovers are removed: 24 hours.
pub const DEFAULT_AGE: Duration = Duration::from_secs(24 * 3600);

/// What kind of leftover (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeftoverKind {
    /// An object under a table's prefix that no published manifest lists.
    TableObject,
    /// A fan-out work folder.
    FanOutWork,
    /// A serving-state object that no committed generation of its folder names.
    ServingObject,
    /// A local staging folder of a process that is gone.
    Staging,
    /// A hidden temporary file of a killed write, in a lake in a folder.
    TempFile,
}

impl LeftoverKind {
    /// The kind's name (`table_object`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            LeftoverKind::TableObject => "table_object",
            LeftoverKind::FanOutWork => "fanout_work",
            LeftoverKind::ServingObject => "serving_object",
            LeftoverKind::Staging => "staging",
            LeftoverKind::TempFile => "temp_file",
        }
    }
}

/// One leftover.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Leftover {
    /// Its kind.
    pub kind: LeftoverKind,
    /// Its key in the store (a folder ends with `/`), or its local path (staging, temp files).
    pub key: String,
    /// How long ago it was last written, when known (seconds).
    pub age_secs: Option<u64>,
}

/// What [`Lake::vacuum`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct VacuumReport {
    /// The leftovers removed (listed only, on a dry run).
    pub removed: Vec<Leftover>,
    /// Whether this was a dry run (nothing removed).
    pub dry_run: bool,
    /// Leftovers kept because they are younger than the age, or of unknown age.
    pub kept_young: usize,
    /// Manifests that cannot be parsed: the objects named after their file ids were kept.
    pub unreadable_manifests: Vec<String>,
    /// Objects and records of older serving generations removed by the serving state's
    /// own vacuum ([`Lake::vacuum_serving`], run with the same age).
    pub serving_removed: usize,
}

/// The lake's manifests, read one by one: those that parse, and the keys of those that do
/// not (with the error).
#[derive(Debug, Default)]
pub struct ManifestScan {
    /// Every manifest that parses, sorted by version `(ingested_at, source, file_id)`.
    pub manifests: Vec<Manifest>,
    /// `(key, error)` of every manifest that cannot be read or parsed.
    pub unreadable: Vec<(String, Error)>,
}

impl ManifestScan {
    /// Every key a published manifest lists.
    pub fn committed(&self) -> BTreeSet<&str> {
        self.manifests
            .iter()
            .filter(|m| m.outcome == Outcome::Published)
            .flat_map(|m| m.outputs.iter().map(|o| o.key.as_str()))
            .collect()
    }

    /// The file ids of the unreadable manifests (`manifests/<file_id>.json`).
    fn unreadable_ids(&self) -> Vec<&str> {
        self.unreadable
            .iter()
            .filter_map(|(k, _)| k.rsplit('/').next().and_then(|n| n.strip_suffix(".json")))
            .filter(|id| !id.is_empty())
            .collect()
    }
}

/// Whether something last written at `modified` is older than `age` at `now` (an unknown
/// time is old enough only for an age of zero).
pub(crate) fn old_enough(modified: Option<SystemTime>, now: SystemTime, age: Duration) -> bool {
    age.is_zero() || modified.is_some_and(|m| now.duration_since(m).is_ok_and(|d| d >= age))
}

fn age_of(modified: Option<SystemTime>, now: SystemTime) -> Option<u64> {
    modified.and_then(|m| now.duration_since(m).ok()).map(|d| d.as_secs())
}

/// Whether the process `pid` still runs (this one does). Without `/proc`, every process is
/// taken as gone: the age alone decides.
fn process_alive(pid: u32) -> bool {
    pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists()
}

/// `<stem>-<pid>-<n>`: the pid.
fn pid_of(name: &str) -> Option<u32> {
    let mut it = name.rsplitn(3, '-');
    let _n = it.next()?.parse::<u64>().ok()?;
    it.next()?.parse().ok()
}

/// The newest modification time of a folder and everything in it.
fn newest_time(path: &Path) -> Option<SystemTime> {
    let mut newest = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if let Ok(t) = std::fs::metadata(&p).and_then(|m| m.modified()) {
                newest = Some(newest.map_or(t, |n| n.max(t)));
            }
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    newest
}

impl<S: Store> Lake<S> {
    /// Every manifest, read one by one: one that cannot be parsed is reported, never in the
    /// way of the others (see [`ManifestScan`]).
    ///
    /// # Errors
    /// Listing or read failures of the store (not a manifest's content).
    pub fn scan_manifests(&self) -> Result<ManifestScan> {
        let mut scan = ManifestScan::default();
        for key in self.store.list(&format!("{MANIFESTS}/"))? {
            if !key.ends_with(".json") {
                continue;
            }
            let Some(bytes) = self.store.get(&key)? else { continue };
            match Manifest::from_json(&bytes) {
                Ok(m) => scan.manifests.push(m),
                Err(source) => scan.unreadable.push((key.clone(), Error::Manifest { key, source })),
            }
        }
        scan.manifests.sort_by(|a, b| {
            (a.ingested_at_micros, &a.source, &a.file_id).cmp(&(b.ingested_at_micros, &b.source, &b.file_id))
        });
        Ok(scan)
    }

    /// Every leftover (see the [module docs](self)), whatever its age, with its time.
    ///
    /// # Errors
    /// Listing or read failures of the store.
    pub fn leftovers(&self) -> Result<Vec<(Leftover, Option<SystemTime>)>> {
        let scan = self.scan_manifests()?;
        self.leftovers_of(&scan)
    }

    pub(crate) fn leftovers_of(&self, scan: &ManifestScan) -> Result<Vec<(Leftover, Option<SystemTime>)>> {
        let now = SystemTime::now();
        let committed = scan.committed();
        let protected = scan.unreadable_ids();
        let mut out = Vec::new();
        let mut push = |kind, key: String, modified: Option<SystemTime>| {
            out.push((Leftover { kind, key, age_secs: age_of(modified, now) }, modified));
        };
        for table in Table::PER_FILE {
            for Listed { key, modified } in self.store.list_modified(&format!("{}/", table.name()))? {
                let name = key.rsplit('/').next().unwrap_or_default();
                if committed.contains(key.as_str()) || protected.iter().any(|id| name.contains(id)) {
                    continue;
                }
                push(LeftoverKind::TableObject, key, modified);
            }
        }
        // Fan-out work, one entry per folder `_fanout/<file_id>/<micros>/`, as new as its
        // newest object.
        let mut folders: BTreeMap<String, Option<SystemTime>> = BTreeMap::new();
        for Listed { key, modified } in self.store.list_modified(&format!("{}/", crate::parts::FANOUT))? {
            let folder: String = match key.splitn(4, '/').collect::<Vec<_>>()[..] {
                [root, file, micros, _] => format!("{root}/{file}/{micros}/"),
                _ => key.clone(),
            };
            let entry = folders.entry(folder).or_insert(modified);
            *entry = match (*entry, modified) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None, // one object of unknown time: the folder's time is unknown
            };
        }
        for (folder, modified) in folders {
            push(LeftoverKind::FanOutWork, folder, modified);
        }
        for (key, modified) in self.serving_leftovers()? {
            push(LeftoverKind::ServingObject, key, modified);
        }
        // Local leftovers: staging folders and temporary files of processes that are gone.
        if let Ok(entries) = std::fs::read_dir(&self.staging) {
            for e in entries.flatten() {
                let path = e.path();
                let name = e.file_name().to_string_lossy().into_owned();
                if pid_of(&name).is_some_and(|pid| !process_alive(pid)) {
                    push(LeftoverKind::Staging, path.display().to_string(), newest_time(&path));
                }
            }
        }
        if let Some(root) = self.store.local_path("") {
            for (path, modified) in temp_files(&root) {
                push(LeftoverKind::TempFile, path.display().to_string(), modified);
            }
        }
        Ok(out)
    }

    /// Objects under `serving/g<n>-<nonce>/` that generation `n`'s record does not name, or
    /// of a generation past the newest (never committed), with their times.
    fn serving_leftovers(&self) -> Result<Vec<(String, Option<SystemTime>)>> {
        // An unreadable serving state is `check`'s to report; vacuum leaves it alone.
        let Ok(head) = self.serving_head() else { return Ok(Vec::new()) };
        let newest = head.as_ref().map_or(0, |g| g.generation);
        let previous = match newest.checked_sub(1).filter(|n| *n > 0) {
            Some(n) => self.generation(n).ok().flatten(),
            None => None,
        };
        let mut named: BTreeSet<String> = BTreeSet::new();
        for g in head.iter().chain(previous.iter()) {
            named.extend(g.objects().into_iter().map(str::to_owned));
        }
        let mut records: BTreeMap<u64, Option<Generation>> = BTreeMap::new();
        let mut out = Vec::new();
        for Listed { key, modified } in self.store.list_modified(&format!("{SERVING}/"))? {
            let rest = &key[SERVING.len() + 1..];
            let Some(n) = rest.strip_prefix('g').and_then(|r| r.get(..20)).and_then(|d| d.parse::<u64>().ok()) else {
                continue;
            };
            let record = match records.get(&n) {
                Some(r) => r.clone(),
                None => match self.generation(n) {
                    Ok(r) => {
                        records.insert(n, r.clone());
                        r
                    }
                    Err(_) => continue, // an unreadable record: its objects are kept
                },
            };
            let leftover = match record {
                // A generation's own folder holds its objects only if its record names them:
                // later generations carry forward what earlier records name, nothing else.
                Some(g) => !g.objects().contains(key.as_str()),
                // Never committed (in flight, or its writer died); or older than the previous
                // generation, its record removed by the serving vacuum (which died before
                // its objects went), and named by neither of the newest two.
                None => n > newest || (n + 1 < newest && !named.contains(&key)),
            };
            if leftover {
                out.push((key, modified));
            }
        }
        Ok(out)
    }

    /// Removes the leftovers older than `older_than` (see the [module docs](self)); on a
    /// `dry_run`, only lists them. Never removes an object a published manifest lists, nor
    /// one named after a manifest that cannot be parsed.
    ///
    /// # Errors
    /// Listing, read or delete failures.
    pub fn vacuum(&self, older_than: Duration, dry_run: bool) -> Result<VacuumReport> {
        let scan = self.scan_manifests()?;
        let now = SystemTime::now();
        let mut report = VacuumReport {
            dry_run,
            unreadable_manifests: scan.unreadable.iter().map(|(k, _)| k.clone()).collect(),
            ..VacuumReport::default()
        };
        for (leftover, modified) in self.leftovers_of(&scan)? {
            if !old_enough(modified, now, older_than) {
                report.kept_young += 1;
                continue;
            }
            if !dry_run {
                match leftover.kind {
                    LeftoverKind::TableObject | LeftoverKind::ServingObject => self.store.delete(&leftover.key)?,
                    LeftoverKind::FanOutWork => self.store.delete_prefix(&leftover.key)?,
                    LeftoverKind::Staging => {
                        let path = PathBuf::from(&leftover.key);
                        match std::fs::remove_dir_all(&path) {
                            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                                return Err(Error::Io { action: "removing", path, source: e });
                            }
                            _ => {}
                        }
                    }
                    LeftoverKind::TempFile => {
                        let path = PathBuf::from(&leftover.key);
                        match std::fs::remove_file(&path) {
                            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                                return Err(Error::Io { action: "removing", path, source: e });
                            }
                            _ => {}
                        }
                    }
                }
            }
            report.removed.push(leftover);
        }
        if !dry_run {
            let _ = std::fs::remove_dir(&self.staging); // only when empty
            // The serving state's own vacuum, with the same age as its grace: an update that
            // died before it (or found nothing new since) left older generations behind.
            if let Ok(Some(head)) = self.serving_head() {
                report.serving_removed = self.vacuum_serving(&head, older_than)?;
            }
        }
        Ok(report)
    }
}

/// The hidden temporary files of killed writes under `root` (`.<name>.tmp-<pid>-<n>` of a
/// process that is gone), with their times; the staging folder is not entered.
fn temp_files(root: &Path) -> Vec<(PathBuf, Option<SystemTime>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                let tmp = name.rsplit_once(".tmp-").map(|(_, t)| format!("x-{t}"));
                if path.is_file() && tmp.as_deref().and_then(pid_of).is_some_and(|pid| !process_alive(pid)) {
                    out.push((path.clone(), std::fs::metadata(&path).and_then(|m| m.modified()).ok()));
                }
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_pids() {
        let now = SystemTime::now();
        let hour = Duration::from_secs(3600);
        assert!(old_enough(None, now, Duration::ZERO));
        assert!(!old_enough(None, now, hour), "an unknown time is young");
        assert!(old_enough(Some(now - 2 * hour), now, hour));
        assert!(!old_enough(Some(now - hour / 2), now, hour));
        assert!(!old_enough(Some(now + hour), now, hour), "a time in the future is young");
        assert_eq!(pid_of("0123abc-4242-7"), Some(4242));
        assert_eq!(pid_of("x-17-0"), Some(17));
        assert_eq!(pid_of("nothing"), None);
        assert!(process_alive(std::process::id()));
    }
}
