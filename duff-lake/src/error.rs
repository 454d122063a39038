//! The lake's one error type, and how a broken invariant crosses the core's traits.

use std::path::{Path, PathBuf};

/// Any error, as a cause kept by [`Error::Store`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors of the lake: I/O with the path concerned, a store's failure with its cause, a
/// core error, or a broken invariant of this crate.
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
    Core(duff_core::Error),
    /// A manifest in the lake could not be read.
    #[error("reading manifest {key}")]
    Manifest {
        /// The manifest's key.
        key: String,
        /// The cause.
        #[source]
        source: duff_core::Error,
    },
    /// A manifest names an object that is not in the store.
    #[error("object {key} named by a manifest is missing")]
    MissingObject {
        /// The object's key.
        key: String,
    },
    /// A storage backend failed (S3...).
    #[error("{action} {key}")]
    Store {
        /// What was being done.
        action: &'static str,
        /// The key concerned.
        key: String,
        /// The backend's error (an S3 SDK error, say).
        #[source]
        source: BoxError,
        /// Whether a retry may help (throttling, 5xx, timeouts).
        retryable: bool,
    },
    /// The serving state is not what its records say (rebuild it: `Lake::rebuild_serving`).
    #[error("serving state: {message}")]
    Serving {
        /// What is wrong.
        message: String,
    },
    /// An object of the serving state could not be read.
    #[error("serving state: reading {key}")]
    ServingObject {
        /// The object's key.
        key: String,
        /// The cause.
        #[source]
        source: duff_core::Error,
    },
    /// A broken invariant of this crate (a thread that panicked, a channel closed early): a
    /// bug, neither the input's fault nor the store's.
    #[error("internal error in the {what}: {message}")]
    Internal {
        /// The part of the lake concerned (`parquet writer`, `report reader`...).
        what: &'static str,
        /// What went wrong.
        message: String,
    },
}

impl From<duff_core::Error> for Error {
    /// A core error, or [`Error::Internal`] for one that carries a broken invariant of this
    /// crate (raised where only a core error fits: a sink of the core's).
    fn from(e: duff_core::Error) -> Error {
        match e.into_kind() {
            duff_core::ErrorKind::Io(io) => match io.get_ref().and_then(|c| c.downcast_ref::<Broken>()) {
                Some(b) => Error::Internal { what: b.what, message: b.message.clone() },
                None => Error::Core(duff_core::ErrorKind::Io(io).into()),
            },
            kind => Error::Core(kind.into()),
        }
    }
}

/// A broken invariant found where only a [`duff_core::Error`] fits (in a [`duff_core::TableSink`] or
/// a [`duff_core::fanout::PartSinks`] method): carried as the core error's I/O cause, and
/// turned back into [`Error::Internal`] when the core error becomes this crate's.
#[derive(Debug, thiserror::Error)]
#[error("internal error in the {what}: {message}")]
struct Broken {
    what: &'static str,
    message: String,
}

/// A core error carrying the broken invariant `message` of `what` (see [`Broken`]).
pub(crate) fn broken(what: &'static str, message: impl Into<String>) -> duff_core::Error {
    std::io::Error::other(Broken { what, message: message.into() }).into()
}

/// "the thread panicked", with the panic's message when it has one.
pub(crate) fn panicked(payload: &(dyn std::any::Any + Send)) -> String {
    match payload.downcast_ref::<&str>().map(|s| (*s).to_owned()).or_else(|| payload.downcast_ref::<String>().cloned())
    {
        Some(m) => format!("the thread panicked: {m}"),
        None => "the thread panicked".to_owned(),
    }
}

/// A convenient alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io { action, path: path.to_owned(), source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_invariant_crosses_the_core_as_internal() {
        let e = Error::from(broken("parquet writer", "the writer stopped"));
        assert!(
            matches!(&e, Error::Internal { what: "parquet writer", message } if message == "the writer stopped"),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "internal error in the parquet writer: the writer stopped");
        // Any other core error stays one, its cause kept.
        let disk = Error::from(duff_core::Error::from(std::io::Error::other("disk full")));
        assert!(matches!(&disk, Error::Core(c) if c.code() == "io"), "{disk:?}");
        assert_eq!(std::error::Error::source(&disk).map(ToString::to_string).as_deref(), Some("disk full"));
        let config = duff_core::ErrorKind::Config { name: "x", message: "y".into() };
        assert!(matches!(Error::from(duff_core::Error::from(config)), Error::Core(_)));
    }

    #[test]
    fn a_panic_says_its_message() {
        assert_eq!(panicked(&"boom"), "the thread panicked: boom");
        assert_eq!(panicked(&String::from("bang")), "the thread panicked: bang");
        assert_eq!(panicked(&42), "the thread panicked");
    }

    #[test]
    fn a_store_error_keeps_its_cause() {
        let e =
            Error::Store { action: "writing", key: "lake/x".into(), source: "503 Slow Down".into(), retryable: true };
        assert_eq!(e.to_string(), "writing lake/x");
        assert_eq!(std::error::Error::source(&e).map(ToString::to_string).as_deref(), Some("503 Slow Down"));
    }
}
