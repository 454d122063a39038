//! The query engine seam: one trait, two real implementations (DataFusion over the lake in
//! this crate; Athena in `duff-lambda-api`).

use crate::catalog::Query;
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A boxed, sendable future (object-safe async trait methods).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A boxed error cause.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// Runs catalog queries.
pub trait QueryEngine: Send + Sync + fmt::Debug {
    /// A short name for logs (`datafusion`, `athena`).
    fn name(&self) -> &'static str;

    /// Runs `query` with its parameters bound and returns every row.
    fn run<'a>(&'a self, query: &'a Query) -> BoxFuture<'a, Result<ResultSet, EngineError>>;
}

/// The rows of a query as text: the common ground of Arrow batches and Athena's result
/// pages. `None` is SQL `NULL`. Integers are plain decimal digits; decimals are exact
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
