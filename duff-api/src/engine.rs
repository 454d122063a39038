//! The engine seam: one trait, answering the router's [`Question`]s. The SQL engines
//! (DataFusion over the lake in `duff-sql`, Athena in `duff-lambda-api`) run the
//! question's catalog query; an engine may as well answer from memory.

use crate::question::Question;
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A boxed, sendable future (object-safe async trait methods).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A boxed error cause.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// Answers the API's questions.
pub trait QueryEngine: Send + Sync + fmt::Debug {
    /// A short name for logs (`datafusion`, `athena`).
    fn name(&self) -> &'static str;

    /// Answers `question` with every row of its answer, in the shape [`Question`] describes
    /// (a SQL engine runs [`Question::query`] with its parameters bound).
    fn answer<'a>(&'a self, question: &'a Question) -> BoxFuture<'a, Result<ResultSet, EngineError>>;

    /// The generation of the data the next answers come from, when the engine can tell: a
    /// number that grows whenever its answers may change. The router keeps rendered answers
    /// until it changes ([`crate::answers`]). `None` (the default) keeps nothing.
    fn generation(&self) -> BoxFuture<'_, Result<Option<u64>, EngineError>> {
        Box::pin(async { Ok(None) })
    }

    /// Whether the engine can answer now, checked cheaply for `GET /health`: never a query,
    /// never a read of more than the engine needs to hold its data. The default answers
    /// `Ok` (an engine that holds nothing, like Athena's, is as healthy as its next query).
    ///
    /// # Errors
    /// What keeps the engine from answering ([`EngineError::Lake`] for a lake it cannot
    /// load or read: see [`EngineError::lake_problem`]).
    fn health(&self) -> BoxFuture<'_, Result<(), EngineError>> {
        Box::pin(async { Ok(()) })
    }
}

/// The rows of an answer: the common ground of Arrow batches, Athena's result pages and
/// answers computed in memory. `None` is SQL `NULL`. An engine that answers in text writes
/// integers as plain decimal digits and decimals as exact decimal text at the column's
/// scale; an engine that has the values gives them as they are ([`Datum`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultSet {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// Rows, each with one value per column.
    pub rows: Vec<Vec<Option<Datum>>>,
}

/// One value of a [`ResultSet`]: text, as an engine answering in text writes it (Athena,
/// SQL over Arrow), or the value itself from an engine that has it (the serving engine),
/// which the router then takes without parsing text back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datum {
    /// Text: a name, or a number or an instant as an engine writes it.
    Text(String),
    /// Text shared by many rows (a name).
    Shared(std::sync::Arc<str>),
    /// A fixed text (a channel, a status).
    Static(&'static str),
    /// An integer.
    Int(i64),
    /// An exact decimal.
    Decimal(duff_core::Scaled),
}

impl Datum {
    /// The value as text (what an engine answering in text would have written).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow;
        match self {
            Datum::Text(t) => Cow::Borrowed(t),
            Datum::Shared(t) => Cow::Borrowed(t),
            Datum::Static(t) => Cow::Borrowed(t),
            Datum::Int(i) => Cow::Owned(i.to_string()),
            Datum::Decimal(d) => Cow::Owned(d.to_string()),
        }
    }
}

impl From<String> for Datum {
    fn from(t: String) -> Datum {
        Datum::Text(t)
    }
}

impl From<&str> for Datum {
    fn from(t: &str) -> Datum {
        Datum::Text(t.to_owned())
    }
}

impl ResultSet {
    /// The index of the column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }
}

/// Why a query gave no answer. The messages are safe to show: no SQL, no lake path, no
/// engine detail (those go to the log through [`std::error::Error::source`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The query did not finish before the deadline (it was cancelled).
    #[error("the query did not finish within {} s", .0.as_secs())]
    Timeout(Duration),
    /// The engine refuses more work for now.
    #[error("the query engine is busy")]
    Throttled {
        /// When to try again.
        retry_after: Duration,
    },
    /// The engine ran the query and it failed.
    #[error("the query failed")]
    Failed(#[source] BoxError),
    /// The lake could not be read (listing, a manifest, an object).
    #[error("the lake could not be read")]
    Lake(#[source] BoxError),
    /// The engine's answer did not have the expected shape (a bug).
    #[error("the query engine answered unexpectedly")]
    Internal(#[source] BoxError),
}

impl EngineError {
    /// An [`EngineError::Internal`] with a message.
    pub fn internal(msg: impl fmt::Display) -> EngineError {
        EngineError::Internal(msg.to_string().into())
    }

    /// The kind of lake failure of an [`EngineError::Lake`], when its cause tells (a
    /// [`duff_lake::Error`], or a [`LakeProblem`] itself, anywhere in the chain).
    pub fn lake_problem(&self) -> Option<LakeProblem> {
        let EngineError::Lake(cause) = self else { return None };
        let mut next: Option<&(dyn StdError + 'static)> = Some(cause.as_ref());
        while let Some(e) = next {
            if let Some(e) = e.downcast_ref::<duff_lake::Error>() {
                return Some(LakeProblem::of(e));
            }
            if let Some(p) = e.downcast_ref::<LakeProblem>() {
                return Some(*p);
            }
            next = e.source();
        }
        None
    }
}

/// What kind of lake failure kept an engine from answering: shown to callers (the 503's
/// message, `GET /health`'s `problem`), where the object's key and the cause are not (they
/// go to the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum LakeProblem {
    /// An object the lake's records name is not in the store.
    #[error("an object of the lake is missing")]
    MissingObject,
    /// An object is there but cannot be decoded (damaged, truncated), or a record
    /// contradicts another.
    #[error("an object of the lake is damaged")]
    DamagedObject,
    /// The store itself failed (I/O, S3): perhaps transient.
    #[error("the lake's storage failed")]
    Storage,
}

impl LakeProblem {
    /// The stable name: `missing_object`, `damaged_object`, `storage_error`.
    pub fn as_str(self) -> &'static str {
        match self {
            LakeProblem::MissingObject => "missing_object",
            LakeProblem::DamagedObject => "damaged_object",
            LakeProblem::Storage => "storage_error",
        }
    }

    /// The kind of a lake error.
    pub fn of(e: &duff_lake::Error) -> LakeProblem {
        match e {
            duff_lake::Error::MissingObject { .. } => LakeProblem::MissingObject,
            duff_lake::Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                LakeProblem::MissingObject
            }
            duff_lake::Error::Io { .. } | duff_lake::Error::Store { .. } | duff_lake::Error::Internal { .. } => {
                LakeProblem::Storage
            }
            // Manifests, serving records and objects that do not decode, core errors.
            _ => LakeProblem::DamagedObject,
        }
    }
}
