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
}

/// The rows of an answer as text: the common ground of Arrow batches, Athena's result
/// pages and answers computed in memory. `None` is SQL `NULL`. Integers are plain decimal digits; decimals are exact
/// decimal text at the column's scale.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultSet {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// Rows, each with one value per column.
    pub rows: Vec<Vec<Option<String>>>,
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
}
