//! The function's one error type (S3 SDK failures are classified by [`duff_lake::s3::classify`]).
//!
//! The rule (duff-lambda-etl/README.md, "Error policy"): the function returns an error to Lambda only when a retry can
//! help. [`Error::is_retryable`] says which; the handler turns everything else into an
//! outcome in its response.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use duff_lake::BoxError;
use duff_lake::s3::{HttpStatus, S3Failure, classify};
use std::path::PathBuf;

/// A convenient alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of the ETL function.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration variable is missing or invalid (stops the function at cold start).
    #[error("{name}: {message}")]
    Config {
        /// The environment variable.
        name: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The event is not one the function understands, or is malformed.
    #[error("invalid event: {0}")]
    Event(String),
    /// An S3 request failed.
    #[error("{action} s3://{bucket}/{key}{}", detail(.message.as_deref()))]
    S3 {
        /// What was being done.
        action: &'static str,
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// What went wrong when no SDK error says it (a stream cut too often, a wrong
        /// range...).
        message: Option<String>,
        /// What the failure means.
        failure: S3Failure,
        /// The SDK's error, when a request failed.
        #[source]
        source: Option<BoxError>,
    },
    /// Writing the downloaded object to the local disk failed.
    #[error("{action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The local path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The lake (ingest, storage) failed.
    #[error("lake")]
    Lake(#[from] duff_lake::Error),
    /// A task of the function could not run or finish: the blocking lake task panicked or
    /// was cancelled, or no Tokio runtime was there to run the S3 store.
    #[error("{what}")]
    Task {
        /// Which task.
        what: &'static str,
        /// The cause (the task's join error...).
        #[source]
        source: BoxError,
    },
}

/// A serving state that is not what its records say, or one of its objects missing or
/// unreadable: the repair is `{"action": "rebuild_serving"}` (docs/serving.md).
fn serving_damaged(e: &duff_lake::Error) -> bool {
    match e {
        duff_lake::Error::Serving { .. } | duff_lake::Error::ServingObject { .. } => true,
        duff_lake::Error::MissingObject { key } => {
            key.strip_prefix(duff_lake::serving::SERVING).is_some_and(|rest| rest.starts_with('/'))
        }
        _ => false,
    }
}

/// `": message"`, or nothing.
fn detail(message: Option<&str>) -> String {
    message.map(|m| format!(": {m}")).unwrap_or_default()
}

impl Error {
    /// Whether a later attempt of the same invocation may succeed (S3 5xx, throttling,
    /// timeouts, a lost connection). Only these make the function return an error.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::S3 { failure, .. } => *failure == S3Failure::Retryable,
            Error::Lake(duff_lake::Error::Store { retryable, .. }) => *retryable,
            _ => false,
        }
    }

    /// A stable name for the kind of error (the Lambda `errorType`).
    pub fn error_type(&self) -> &'static str {
        match self {
            _ if self.is_retryable() => "Duff.Retryable",
            Error::Config { .. } => "Duff.Config",
            Error::Event(_) => "Duff.InvalidEvent",
            Error::S3 { failure: S3Failure::NotFound, .. } => "Duff.SourceNotFound",
            Error::S3 { failure: S3Failure::PreconditionFailed, .. } => "Duff.SourceChanged",
            Error::S3 { .. } => "Duff.S3",
            Error::Io { .. } => "Duff.LocalIo",
            Error::Lake(e) if serving_damaged(e) => "Duff.ServingDamaged",
            Error::Lake(_) => "Duff.Lake",
            Error::Task { .. } => "Duff.Task",
        }
    }

    /// The message with every cause, for logs and responses.
    pub fn full_message(&self) -> String {
        duff_core::error_chain(self)
    }
}

impl From<Error> for lambda_runtime::Diagnostic {
    fn from(e: Error) -> Self {
        lambda_runtime::Diagnostic { error_type: e.error_type().to_owned(), error_message: e.full_message() }
    }
}

/// An [`Error::S3`] keeping the SDK error `err` as its source.
pub fn s3_error<E, R>(action: &'static str, bucket: &str, key: &str, err: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + HttpStatus + Send + Sync + 'static,
{
    let failure = classify(&err);
    Error::S3 {
        action,
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        message: None,
        failure,
        source: Some(Box::new(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_failures_are_retryable() {
        let s3 = |failure| Error::S3 {
            action: "reading",
            bucket: "b".into(),
            key: "k".into(),
            message: Some("m".into()),
            failure,
            source: None,
        };
        assert!(s3(S3Failure::Retryable).is_retryable());
        assert!(!s3(S3Failure::Permanent).is_retryable());
        assert!(!s3(S3Failure::NotFound).is_retryable());
        let store = |retryable| {
            Error::Lake(duff_lake::Error::Store { action: "writing", key: "k".into(), source: "m".into(), retryable })
        };
        assert!(store(true).is_retryable());
        assert!(!store(false).is_retryable());
        assert!(!Error::Event("x".into()).is_retryable());
        assert_eq!(store(true).error_type(), "Duff.Retryable");
        assert_eq!(s3(S3Failure::Permanent).error_type(), "Duff.S3");
        let d: lambda_runtime::Diagnostic = store(true).into();
        assert_eq!(d.error_type, "Duff.Retryable");
        assert!(d.error_message.contains("writing k: m"), "{}", d.error_message);
    }

    #[test]
    fn a_damaged_serving_state_has_its_own_error_type() {
        let lake = |e| Error::Lake(e).error_type();
        assert_eq!(lake(duff_lake::Error::Serving { message: "m".into() }), "Duff.ServingDamaged");
        assert_eq!(
            lake(duff_lake::Error::MissingObject { key: "serving/g1-x/cells.parquet".into() }),
            "Duff.ServingDamaged"
        );
        // A fact object named by a manifest is the lake's damage: rebuilding the serving
        // state would not help.
        assert_eq!(lake(duff_lake::Error::MissingObject { key: "fact_order_line/x.parquet".into() }), "Duff.Lake");
        assert_eq!(lake(duff_lake::Error::MissingObject { key: "servingx/y".into() }), "Duff.Lake");
        let throttled = duff_lake::Error::Store {
            action: "reading",
            key: "serving/_head".into(),
            source: "503".into(),
            retryable: true,
        };
        assert_eq!(lake(throttled), "Duff.Retryable");
    }
}
