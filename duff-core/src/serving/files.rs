//! The files of a state and the version order of their lines: the one place the rule is
//! written.
//!
//! The latest version of an order line is the one with the greatest `(ingested_at, source,
//! file_id, line)`: the instant first (a delayed event never overwrites newer state), then
//! the source key and the content hash to break equal instants, then the line within the
//! file. [`FileMeta::version_key`] orders files; [`FileTable::cmp`] adds the line.

use crate::lake::{FileId, FileMeta};
use std::cmp::Ordering;
use std::collections::HashMap;

/// One version of an order line: the file it came from, named by its position in a
/// [`FileTable`] (its *seq*), and its line in that file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Version {
    /// The file's seq in its [`FileTable`].
    pub file: u32,
    /// The physical line of the row in its file (the header is line 1).
    pub line: u64,
}

/// Lines are numbered below 2^40 (a trillion lines); a file's rank fills the bits above,
/// so that a version compares as one integer ([`FileTable::version_number`]).
pub const LINE_BITS: u32 = 40;

/// The files folded into a state, in the order they were folded (append-only: a file's
/// seq never changes), with their rank in version order.
#[derive(Debug, Clone, Default)]
pub struct FileTable {
    files: Vec<FileMeta>,
    index: HashMap<FileId, u32>,
    /// `rank[seq]`: the file's position in version order (oldest 0).
    rank: Vec<u32>,
}

impl FileTable {
    /// No file.
    pub fn new() -> FileTable {
        FileTable::default()
    }

    /// The table of `files`, in this seq order. A file listed twice keeps its first seq.
    pub fn from_files(files: impl IntoIterator<Item = FileMeta>) -> FileTable {
        let mut t = FileTable::new();
        for f in files {
            t.push(f);
        }
        t.rerank();
        t
    }

    fn push(&mut self, meta: FileMeta) -> u32 {
        if let Some(&seq) = self.index.get(&meta.file_id) {
            return seq;
        }
        let seq = u32::try_from(self.files.len()).unwrap_or(u32::MAX);
        self.index.insert(meta.file_id.clone(), seq);
        self.files.push(meta);
        seq
    }

    fn rerank(&mut self) {
        let mut order: Vec<u32> = (0..self.files.len() as u32).collect();
        order.sort_by(|a, b| self.files[*a as usize].version_key().cmp(&self.files[*b as usize].version_key()));
        self.rank = vec![0; self.files.len()];
        for (r, seq) in order.into_iter().enumerate() {
            self.rank[seq as usize] = r as u32;
        }
    }

    /// Adds a file (or finds it) and returns its seq.
    pub fn add(&mut self, meta: FileMeta) -> u32 {
        let before = self.files.len();
        let seq = self.push(meta);
        if self.files.len() != before {
            self.rerank();
        }
        seq
    }

    /// The number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when no file was folded.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Every file, in seq order.
    pub fn files(&self) -> &[FileMeta] {
        &self.files
    }

    /// The file of seq `seq`.
    pub fn get(&self, seq: u32) -> Option<&FileMeta> {
        self.files.get(seq as usize)
    }

    /// The seq of a file, if it was folded.
    pub fn seq_of(&self, file_id: &FileId) -> Option<u32> {
        self.index.get(file_id).copied()
    }

    /// The rank of a file in version order (0 for the oldest).
    pub fn rank(&self, seq: u32) -> u32 {
        self.rank.get(seq as usize).copied().unwrap_or(0)
    }

    /// `ingested_at` of a version's file.
    pub fn instant(&self, v: Version) -> i64 {
        self.get(v.file).map_or(i64::MIN, |f| f.ingested_at_micros)
    }

    /// A version as one integer, `rank × 2^40 + line`, ordered as [`cmp`](Self::cmp) while the
    /// table does not change (a later file may shift the ranks).
    pub fn version_number(&self, v: Version) -> u64 {
        (u64::from(self.rank(v.file)) << LINE_BITS) | (v.line & ((1 << LINE_BITS) - 1))
    }

    /// The version order: the file's `(ingested_at, source, file_id)`, then the line.
    pub fn cmp(&self, a: Version, b: Version) -> Ordering {
        if a.file == b.file {
            return a.line.cmp(&b.line);
        }
        self.rank(a.file).cmp(&self.rank(b.file)).then(a.line.cmp(&b.line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::FileId;

    fn meta(name: &str, micros: i64) -> FileMeta {
        FileMeta { file_id: FileId::of_bytes(name.as_bytes()), source: name.into(), ingested_at_micros: micros }
    }

    #[test]
    fn versions_follow_instant_then_source_then_line() {
        let mut t = FileTable::new();
        let late = t.add(meta("a.csv", 20));
        let early = t.add(meta("z.csv", 10));
        let tie = t.add(meta("b.csv", 20));
        let v = |file, line| Version { file, line };
        // A delayed file (added last, earlier instant) ranks first.
        assert_eq!(t.cmp(v(early, 99), v(late, 2)), Ordering::Less);
        // Equal instants: the source breaks the tie.
        assert_eq!(t.cmp(v(late, 5), v(tie, 2)), Ordering::Less);
        assert_eq!(t.cmp(v(tie, 2), v(tie, 3)), Ordering::Less);
        assert!(t.version_number(v(tie, 2)) > t.version_number(v(late, 5)));
        // Adding a known file changes nothing.
        assert_eq!(t.add(meta("a.csv", 20)), late);
        assert_eq!(t.len(), 3);
    }
}
