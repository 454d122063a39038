//! The storage seam: the few object operations the lake needs, with a folder
//! implementation here and an S3 one in the `s3` module (feature `s3`).

use crate::error::io;
use crate::{Error, Result};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A listed object and when it was last written, when the store says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its key.
    pub key: String,
    /// When it was last written (`None`: the store does not say).
    pub modified: Option<SystemTime>,
}

/// Object storage under the lake root. Keys are `/`-separated and relative to the root.
pub trait Store: Send + Sync {
    /// Whether reads are served by this machine (a folder: the page cache, at worst the
    /// local disk) rather than over a network. A server may then read on the thread that
    /// answers the request instead of handing the read to a blocking thread. `false` by
    /// default.
    fn reads_are_local(&self) -> bool {
        false
    }

    /// Reads an object; `None` when it does not exist.
    ///
    /// # Errors
    /// Any failure other than "not found".
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// Every key under `prefix` (recursively), in lexicographic order.
    ///
    /// # Errors
    /// Listing failures.
    fn list(&self, prefix: &str) -> Result<Vec<String>>;

    /// Every key under `prefix` (recursively), in lexicographic order, with the time each
    /// object was last written. By default [`list`](Store::list) without times; stores
    /// override it (a file's modification time, S3's `LastModified`). `vacuum` removes only
    /// objects whose time is known to be old enough (or every leftover, with an age of 0).
    ///
    /// # Errors
    /// Listing failures.
    fn list_modified(&self, prefix: &str) -> Result<Vec<Listed>> {
        Ok(self.list(prefix)?.into_iter().map(|key| Listed { key, modified: None }).collect())
    }

    /// Reads `len` bytes of an object from byte `start` (fewer at its end); `None` when it
    /// does not exist. By default the whole object is read; stores override it with a
    /// ranged read.
    ///
    /// # Errors
    /// Any failure other than "not found".
    fn get_range(&self, key: &str, start: u64, len: u64) -> Result<Option<Vec<u8>>> {
        Ok(self.get(key)?.map(|b| {
            let from = usize::try_from(start).unwrap_or(usize::MAX).min(b.len());
            let to = usize::try_from(start.saturating_add(len)).unwrap_or(usize::MAX).min(b.len());
            b[from..to].to_vec()
        }))
    }

    /// Reads the last `len` bytes of an object (all of it when shorter) and its size; `None`
    /// when it does not exist. By default the whole object is read; stores override it with
    /// a ranged read.
    ///
    /// # Errors
    /// Any failure other than "not found".
    fn get_tail(&self, key: &str, len: u64) -> Result<Option<(Vec<u8>, u64)>> {
        Ok(self.get(key)?.map(|b| {
            let size = b.len() as u64;
            let from = b.len().saturating_sub(usize::try_from(len).unwrap_or(usize::MAX));
            (b[from..].to_vec(), size)
        }))
    }

    /// Writes a local file's content under `key` (overwriting).
    ///
    /// # Errors
    /// Read or write failures.
    fn put_file(&self, key: &str, path: &Path) -> Result<()>;

    /// Writes `bytes` under `key` (overwriting); readers see the old or the new object.
    ///
    /// # Errors
    /// Write failures.
    fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<()>;

    /// Writes `bytes` under `key` only if no object is there; `Ok(false)` when one was.
    ///
    /// # Errors
    /// Write failures.
    fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<bool>;

    /// Removes an object (no error if absent).
    ///
    /// # Errors
    /// Failures other than "not found".
    fn delete(&self, key: &str) -> Result<()>;

    /// Copies the object `from` to `to` (overwriting); readers see the old or the new
    /// object. By default a read and a write; stores override it with a server-side copy.
    ///
    /// # Errors
    /// A missing source ([`Error::MissingObject`]), read or write failures.
    fn copy(&self, from: &str, to: &str) -> Result<()> {
        let bytes = self.get(from)?.ok_or_else(|| Error::MissingObject { key: from.to_owned() })?;
        self.put_bytes(to, &bytes)
    }

    /// Removes every object under `prefix` (a folder's worth of work objects). By default
    /// a listing and a delete per object.
    ///
    /// # Errors
    /// Listing or delete failures.
    fn delete_prefix(&self, prefix: &str) -> Result<()> {
        for key in self.list(prefix)? {
            self.delete(&key)?;
        }
        Ok(())
    }

    /// Where the store is, for messages (`/path/to/lake`, `s3://bucket/prefix`).
    fn location(&self) -> String;

    /// The object as a local file, when the store keeps it in one (readers then stream it
    /// instead of holding its bytes). `None` by default.
    fn local_path(&self, key: &str) -> Option<PathBuf> {
        let _ = key;
        None
    }
}

/// A shared store is a store (every method, overrides included, is the inner store's): a
/// lake built once on an `Arc<dyn Store>` runs the same code on a folder and on S3.
impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    fn reads_are_local(&self) -> bool {
        (**self).reads_are_local()
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        (**self).get(key)
    }

    fn get_range(&self, key: &str, start: u64, len: u64) -> Result<Option<Vec<u8>>> {
        (**self).get_range(key, start, len)
    }

    fn get_tail(&self, key: &str, len: u64) -> Result<Option<(Vec<u8>, u64)>> {
        (**self).get_tail(key, len)
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        (**self).list(prefix)
    }

    fn list_modified(&self, prefix: &str) -> Result<Vec<Listed>> {
        (**self).list_modified(prefix)
    }

    fn put_file(&self, key: &str, path: &Path) -> Result<()> {
        (**self).put_file(key, path)
    }

    fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<()> {
        (**self).put_bytes(key, bytes)
    }

    fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<bool> {
        (**self).put_if_absent(key, bytes)
    }

    fn delete(&self, key: &str) -> Result<()> {
        (**self).delete(key)
    }

    fn copy(&self, from: &str, to: &str) -> Result<()> {
        (**self).copy(from, to)
    }

    fn delete_prefix(&self, prefix: &str) -> Result<()> {
        (**self).delete_prefix(prefix)
    }

    fn location(&self) -> String {
        (**self).location()
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        (**self).local_path(key)
    }
}

/// A store shows as its location (`Store("s3://bucket/prefix")`).
impl std::fmt::Debug for dyn Store + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Store").field(&self.location()).finish()
    }
}

/// A lake in a local folder.
#[derive(Debug, Clone)]
pub struct DirStore {
    root: PathBuf,
}

impl DirStore {
    /// The store rooted at `root` (created if needed).
    ///
    /// # Errors
    /// When the folder cannot be created.
    pub fn open(root: impl Into<PathBuf>) -> Result<DirStore> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(io("creating the lake folder", &root))?;
        Ok(DirStore { root })
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    /// A temporary sibling of `path`, unique to this process and call.
    fn tmp_for(path: &Path) -> PathBuf {
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
    }

    /// The objects under `prefix` (hidden entries skipped), sorted, with their modification
    /// times when `times`.
    /// A prefix that does not end with `/` matches the start of names, as in S3
    /// (`t/x=1/2026` lists `t/x=1/20260101.parquet`).
    fn walk(&self, prefix: &str, times: bool) -> Result<Vec<Listed>> {
        let (folder, name_start) = match prefix.rsplit_once('/') {
            _ if prefix.is_empty() || prefix.ends_with('/') => (prefix, ""),
            Some((folder, start)) => (folder, start),
            None => ("", prefix),
        };
        let mut out = Vec::new();
        let mut stack = vec![self.path(folder)];
        while let Some(dir) = stack.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::Io { action: "listing", path: dir, source: e }),
            };
            for entry in entries {
                let path = entry.map_err(io("listing", &dir))?.path();
                let hidden = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
                let outside = !name_start.is_empty()
                    && dir == self.path(folder)
                    && !path.file_name().is_some_and(|n| n.to_string_lossy().starts_with(name_start));
                if hidden || outside {
                    continue;
                }
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(rel) = path.strip_prefix(&self.root) {
                    let key = rel.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/");
                    // A file removed since the listing has no time: it is skipped by vacuum.
                    let modified = if times { fs::metadata(&path).and_then(|m| m.modified()).ok() } else { None };
                    out.push(Listed { key, modified });
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn parent_dir(path: &Path) -> Result<()> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io("creating", parent))?;
        }
        Ok(())
    }
}

impl Store for DirStore {
    fn reads_are_local(&self) -> bool {
        true
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        Some(self.path(key))
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(key);
        match fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Io { action: "reading", path, source: e }),
        }
    }

    fn get_range(&self, key: &str, start: u64, len: u64) -> Result<Option<Vec<u8>>> {
        use std::io::{Read, Seek, SeekFrom};
        let path = self.path(key);
        let mut f = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::Io { action: "opening", path, source: e }),
        };
        // Sized once: reading into a growing vector reallocates and copies it several times.
        let size = f.metadata().map_or(0, |m| m.len());
        let mut out = Vec::with_capacity(usize::try_from(len.min(size.saturating_sub(start))).unwrap_or(0));
        f.seek(SeekFrom::Start(start)).and_then(|_| f.take(len).read_to_end(&mut out)).map_err(|e| Error::Io {
            action: "reading",
            path,
            source: e,
        })?;
        Ok(Some(out))
    }

    fn get_tail(&self, key: &str, len: u64) -> Result<Option<(Vec<u8>, u64)>> {
        let path = self.path(key);
        let size = match fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::Io { action: "reading the size of", path, source: e }),
        };
        let start = size.saturating_sub(len);
        Ok(self.get_range(key, start, size - start)?.map(|b| (b, size)))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self.walk(prefix, false)?.into_iter().map(|l| l.key).collect())
    }

    fn list_modified(&self, prefix: &str) -> Result<Vec<Listed>> {
        self.walk(prefix, true)
    }

    fn put_file(&self, key: &str, path: &Path) -> Result<()> {
        let to = self.path(key);
        DirStore::parent_dir(&to)?;
        // A rename when the staging folder is on the same file system, else a copy.
        if fs::rename(path, &to).is_err() {
            let tmp = DirStore::tmp_for(&to);
            fs::copy(path, &tmp).map_err(io("copying into", &tmp))?;
            fs::rename(&tmp, &to).map_err(io("publishing", &to))?;
        }
        Ok(())
    }

    fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let to = self.path(key);
        DirStore::parent_dir(&to)?;
        let tmp = DirStore::tmp_for(&to);
        fs::write(&tmp, bytes).map_err(io("writing", &tmp))?;
        fs::rename(&tmp, &to).map_err(io("renaming into", &to))
    }

    fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<bool> {
        let to = self.path(key);
        DirStore::parent_dir(&to)?;
        let tmp = DirStore::tmp_for(&to);
        {
            let mut f = fs::File::create(&tmp).map_err(io("writing", &tmp))?;
            f.write_all(bytes).map_err(io("writing", &tmp))?;
        }
        // A hard link fails when the target exists: an atomic create-if-absent.
        let linked = fs::hard_link(&tmp, &to);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(Error::Io { action: "creating", path: to, source: e }),
        }
    }

    fn copy(&self, from: &str, to: &str) -> Result<()> {
        let (src, dst) = (self.path(from), self.path(to));
        DirStore::parent_dir(&dst)?;
        let tmp = DirStore::tmp_for(&dst);
        // A hard link shares the bytes (objects are never modified in place, only replaced).
        if let Err(e) = fs::hard_link(&src, &tmp) {
            if e.kind() == std::io::ErrorKind::NotFound {
                return Err(Error::MissingObject { key: from.to_owned() });
            }
            fs::copy(&src, &tmp).map_err(io("copying into", &tmp))?;
        }
        fs::rename(&tmp, &dst).map_err(io("publishing", &dst))
    }

    fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::Io { action: "removing", path, source: e }),
        }
    }

    /// Removes the folder, then its parents while they are empty (up to the root), so
    /// that no empty work folder stays behind.
    fn delete_prefix(&self, prefix: &str) -> Result<()> {
        let dir = self.path(prefix.trim_end_matches('/'));
        match fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::Io { action: "removing", path: dir, source: e }),
        }
        let mut parent = dir.parent();
        while let Some(p) = parent.filter(|p| p.starts_with(&self.root) && *p != self.root) {
            if fs::remove_dir(p).is_err() {
                break; // not empty (or gone): stop
            }
            parent = p.parent();
        }
        Ok(())
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_store_operations() {
        let dir = tempfile::tempdir().unwrap();
        let s = DirStore::open(dir.path()).unwrap();
        assert_eq!(s.get("a/b.json").unwrap(), None);
        assert!(s.put_if_absent("a/b.json", b"one").unwrap());
        assert!(!s.put_if_absent("a/b.json", b"two").unwrap());
        assert_eq!(s.get("a/b.json").unwrap().as_deref(), Some(&b"one"[..]));
        s.put_bytes("a/b.json", b"three").unwrap();
        assert_eq!(s.get("a/b.json").unwrap().as_deref(), Some(&b"three"[..]));
        let staged = dir.path().join("staged.bin");
        fs::write(&staged, b"data").unwrap();
        s.put_file("t/x=1/f.parquet", &staged).unwrap();
        assert_eq!(
            s.list("").unwrap(),
            vec!["a/b.json", "staged.bin", "t/x=1/f.parquet"]
                .into_iter()
                .filter(|k| *k != "staged.bin" || staged.exists())
                .collect::<Vec<_>>()
        );
        assert_eq!(s.list("t/").unwrap(), vec!["t/x=1/f.parquet"]);
        // A prefix that is not a folder matches the start of names, as in S3.
        assert_eq!(s.list("t/x=1/f").unwrap(), vec!["t/x=1/f.parquet"]);
        assert_eq!(s.list("t/x").unwrap(), vec!["t/x=1/f.parquet"]);
        assert_eq!(s.list("t/x=1/g").unwrap(), Vec::<String>::new());
        assert_eq!(s.list_modified("t/x=1/f").unwrap().len(), 1);
        s.delete("a/b.json").unwrap();
        s.delete("a/b.json").unwrap();
        assert_eq!(s.get("a/b.json").unwrap(), None);
        assert_eq!(s.list("missing/").unwrap(), Vec::<String>::new());
        // A work folder goes with its emptied parents; a non-empty parent stays.
        s.put_bytes("w/f1/i1/a.json", b"1").unwrap();
        s.put_bytes("w/f1/i1/d/b.json", b"2").unwrap();
        s.put_bytes("w/f2/c.json", b"3").unwrap();
        s.delete_prefix("w/f1/i1/").unwrap();
        assert!(!dir.path().join("w/f1").exists());
        assert_eq!(s.list("w/").unwrap(), vec!["w/f2/c.json"]);
        s.delete_prefix("w/f2/").unwrap();
        assert!(!dir.path().join("w").exists());
        assert!(dir.path().exists(), "never the root");
        s.delete_prefix("w/none/").unwrap();
    }

    /// Ranged reads: the folder's (seek) and the default (a whole read, then cut) agree.
    #[test]
    fn ranged_reads() {
        struct WholeOnly(DirStore);
        impl Store for WholeOnly {
            fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
                self.0.get(key)
            }
            fn list(&self, prefix: &str) -> Result<Vec<String>> {
                self.0.list(prefix)
            }
            fn put_file(&self, key: &str, path: &Path) -> Result<()> {
                self.0.put_file(key, path)
            }
            fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<()> {
                self.0.put_bytes(key, bytes)
            }
            fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<bool> {
                self.0.put_if_absent(key, bytes)
            }
            fn delete(&self, key: &str) -> Result<()> {
                self.0.delete(key)
            }
            fn location(&self) -> String {
                self.0.location()
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let s = DirStore::open(dir.path()).unwrap();
        s.put_bytes("o.bin", b"0123456789").unwrap();
        let d = WholeOnly(s.clone());
        for store in [&s as &dyn Store, &d] {
            assert_eq!(store.get_range("o.bin", 2, 3).unwrap().as_deref(), Some(&b"234"[..]));
            assert_eq!(store.get_range("o.bin", 8, 5).unwrap().as_deref(), Some(&b"89"[..]));
            assert_eq!(store.get_range("o.bin", 12, 5).unwrap().as_deref(), Some(&b""[..]));
            assert_eq!(store.get_tail("o.bin", 4).unwrap(), Some((b"6789".to_vec(), 10)));
            assert_eq!(store.get_tail("o.bin", 40).unwrap(), Some((b"0123456789".to_vec(), 10)));
            assert_eq!(store.get_range("none.bin", 0, 1).unwrap(), None);
            assert_eq!(store.get_tail("none.bin", 1).unwrap(), None);
        }
    }

    /// Through an `Arc<dyn Store>`, the folder's own `copy`, `delete_prefix` and
    /// `local_path` are used, not the trait's defaults.
    #[test]
    fn a_shared_store_keeps_the_inner_stores_methods() {
        let dir = tempfile::tempdir().unwrap();
        let s: std::sync::Arc<dyn Store> = std::sync::Arc::new(DirStore::open(dir.path()).unwrap());
        assert_eq!(s.local_path("a/b.json"), Some(dir.path().join("a/b.json")));
        s.put_bytes("w/f/a.json", b"1").unwrap();
        s.copy("w/f/a.json", "t/a.json").unwrap();
        assert_eq!(s.get("t/a.json").unwrap().as_deref(), Some(&b"1"[..]));
        assert!(matches!(s.copy("w/f/none.json", "t/b.json"), Err(Error::MissingObject { .. })));
        s.delete_prefix("w/f/").unwrap();
        assert!(!dir.path().join("w").exists(), "the folder's delete_prefix removes emptied parents");
        assert_eq!(s.location(), dir.path().display().to_string());
        assert_eq!(format!("{s:?}"), format!("Store({:?})", dir.path().display().to_string()));
    }
}
