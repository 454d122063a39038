//! A [`Store`] that fails on purpose, for crash tests: [`Failpoint`] wraps a store, counts
//! its writes (`put_*`, `copy`, `delete`, `delete_prefix`) and, from a chosen write on,
//! either fails that one write ([`FailMode::Fail`]: the caller sees an error and goes on
//! as it sees fit) or stops like a killed process ([`FailMode::Crash`]: that write and every
//! later call, reads included, fail without touching the store).
//!
//! ```
//! use duff_lake::failpoint::{FailMode, Failpoint};
//! use duff_lake::{DirStore, Store};
//! let dir = tempfile::tempdir()?;
//! let store = Failpoint::new(DirStore::open(dir.path())?, FailMode::Crash, Some(1));
//! store.put_bytes("a.json", b"1")?; // write 0 happens
//! assert!(store.put_bytes("b.json", b"2").is_err()); // write 1: the crash
//! assert!(store.get("a.json").is_err()); // nothing answers after it
//! assert_eq!(store.writes(), vec!["put_bytes a.json".to_owned()]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::store::{Listed, Store};
use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// What happens at the failing write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailMode {
    /// That write returns an error without writing; later calls work.
    Fail,
    /// That write and every later call return an error without touching the store: the
    /// process died there.
    Crash,
}

/// A store that fails at its write number `fail_at` (0-based), as [`FailMode`] says, and
/// records the writes that went through (see the [module docs](self)).
#[derive(Debug)]
pub struct Failpoint<S> {
    inner: S,
    mode: FailMode,
    fail_at: Option<usize>,
    done: Mutex<Vec<String>>,
    attempted: Mutex<usize>,
    crashed: AtomicBool,
}

impl<S: Store> Failpoint<S> {
    /// Wraps `inner`; `fail_at: None` never fails (a counting store).
    pub fn new(inner: S, mode: FailMode, fail_at: Option<usize>) -> Failpoint<S> {
        Failpoint {
            inner,
            mode,
            fail_at,
            done: Mutex::new(Vec::new()),
            attempted: Mutex::new(0),
            crashed: AtomicBool::new(false),
        }
    }

    /// The writes that reached the store, in order (`"<operation> <key>"`).
    pub fn writes(&self) -> Vec<String> {
        self.done.lock().map(|d| d.clone()).unwrap_or_default()
    }

    /// Whether the failing write was reached.
    pub fn tripped(&self) -> bool {
        self.crashed.load(Ordering::SeqCst) || self.attempted.lock().is_ok_and(|n| self.fail_at.is_some_and(|f| *n > f))
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn error(key: &str, what: &'static str) -> Error {
        Error::Store { action: what, key: key.to_owned(), source: "failpoint".into(), retryable: false }
    }

    fn read(&self, key: &str) -> Result<()> {
        if self.crashed.load(Ordering::SeqCst) {
            Err(Failpoint::<S>::error(key, "reading after a crash"))
        } else {
            Ok(())
        }
    }

    /// Counts a write of `key`, runs it unless it is the failing one.
    fn write<T>(&self, op: &str, key: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.read(key)?;
        let n = {
            let mut a = self.attempted.lock().map_err(|_| Failpoint::<S>::error(key, "counting"))?;
            *a += 1;
            *a - 1
        };
        if Some(n) == self.fail_at {
            if self.mode == FailMode::Crash {
                self.crashed.store(true, Ordering::SeqCst);
            }
            return Err(Failpoint::<S>::error(key, "writing (failpoint)"));
        }
        let out = f()?;
        if let Ok(mut d) = self.done.lock() {
            d.push(format!("{op} {key}"));
        }
        Ok(out)
    }
}

impl<S: Store> Store for Failpoint<S> {
    fn reads_are_local(&self) -> bool {
        self.inner.reads_are_local()
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.read(key)?;
        self.inner.get(key)
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.read(prefix)?;
        self.inner.list(prefix)
    }

    fn list_modified(&self, prefix: &str) -> Result<Vec<Listed>> {
        self.read(prefix)?;
        self.inner.list_modified(prefix)
    }

    fn get_range(&self, key: &str, start: u64, len: u64) -> Result<Option<Vec<u8>>> {
        self.read(key)?;
        self.inner.get_range(key, start, len)
    }

    fn get_tail(&self, key: &str, len: u64) -> Result<Option<(Vec<u8>, u64)>> {
        self.read(key)?;
        self.inner.get_tail(key, len)
    }

    fn put_file(&self, key: &str, path: &Path) -> Result<()> {
        self.write("put_file", key, || self.inner.put_file(key, path))
    }

    fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<()> {
        self.write("put_bytes", key, || self.inner.put_bytes(key, bytes))
    }

    fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<bool> {
        self.write("put_if_absent", key, || self.inner.put_if_absent(key, bytes))
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.write("delete", key, || self.inner.delete(key))
    }

    fn copy(&self, from: &str, to: &str) -> Result<()> {
        self.write("copy", to, || self.inner.copy(from, to))
    }

    fn delete_prefix(&self, prefix: &str) -> Result<()> {
        self.write("delete_prefix", prefix, || self.inner.delete_prefix(prefix))
    }

    fn location(&self) -> String {
        self.inner.location()
    }

    /// The inner store's local file, until the crash (then every read goes through
    /// [`get`](Store::get), which fails).
    fn local_path(&self, key: &str) -> Option<PathBuf> {
        if self.crashed.load(Ordering::SeqCst) { None } else { self.inner.local_path(key) }
    }
}
