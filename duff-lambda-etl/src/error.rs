//! The function's one error type, and how S3 SDK failures are classified.
//!
//! The rule (CONTRACT §5): the function returns an error to Lambda only when a retry can
//! help. [`Error::is_retryable`] says which; the handler turns everything else into an
//! outcome in its response.

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use std::path::PathBuf;

/// A convenient alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What an S3 failure means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Failure {
    /// Throttling, a 5xx, a timeout, a lost connection: a later attempt may succeed.
    Retryable,
    /// The object (or version) does not exist (404).
    NotFound,
    /// A precondition failed (412): the object is not the one the request named.
    PreconditionFailed,
    /// Anything else (403 access denied, 400...): retrying the same request will not help.
    Permanent,
}

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
    #[error("{action} s3://{bucket}/{key}: {message}")]
    S3 {
        /// What was being done.
        action: &'static str,
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// The SDK's message, with its causes.
        message: String,
        /// What the failure means.
        failure: S3Failure,
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
    /// The blocking ingest task did not finish (it panicked or was cancelled).
    #[error("ingest task: {0}")]
    Task(String),
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
            Error::Lake(_) => "Duff.Lake",
            Error::Task(_) => "Duff.Task",
        }
    }

    /// The message with every cause, for logs and responses.
    pub fn full_message(&self) -> String {
        let mut s = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            s.push_str(": ");
            s.push_str(&c.to_string());
            cause = c.source();
        }
        s
    }
}

impl From<Error> for lambda_runtime::Diagnostic {
    fn from(e: Error) -> Self {
        lambda_runtime::Diagnostic { error_type: e.error_type().to_owned(), error_message: e.full_message() }
    }
}

/// Classifies an SDK error: what it means, and a message with its causes.
pub fn classify<E, R>(err: &SdkError<E, R>) -> (S3Failure, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HttpStatus,
{
    let message = DisplayErrorContext(err).to_string();
    let failure = match err {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => S3Failure::Retryable,
        SdkError::DispatchFailure(d) if d.is_user() => S3Failure::Permanent,
        SdkError::DispatchFailure(_) => S3Failure::Retryable,
        SdkError::ServiceError(se) => {
            let status = se.raw().status_code();
            classify_service(status, err.code())
        }
        _ => S3Failure::Permanent,
    };
    (failure, message)
}

/// The status of a raw HTTP response (implemented for the SDK's response type).
pub trait HttpStatus {
    /// The HTTP status code.
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// Classifies a service error by its HTTP status and S3 error code.
pub fn classify_service(status: u16, code: Option<&str>) -> S3Failure {
    const RETRYABLE_CODES: [&str; 8] = [
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "InternalError",
        "ServiceUnavailable",
        // A concurrent conditional write on the same key: S3 asks the caller to retry.
        "ConditionalRequestConflict",
    ];
    match (status, code) {
        (_, Some(c)) if RETRYABLE_CODES.contains(&c) => S3Failure::Retryable,
        (404, _) | (_, Some("NoSuchKey" | "NoSuchVersion" | "NotFound")) => S3Failure::NotFound,
        (412, _) | (_, Some("PreconditionFailed")) => S3Failure::PreconditionFailed,
        (408 | 429, _) | (500..=599, _) => S3Failure::Retryable,
        _ => S3Failure::Permanent,
    }
}

/// Builds an [`Error::S3`] from an SDK error.
pub fn s3_error<E, R>(action: &'static str, bucket: &str, key: &str, err: &SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HttpStatus,
{
    let (failure, message) = classify(err);
    Error::S3 { action, bucket: bucket.to_owned(), key: key.to_owned(), message, failure }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_errors_are_classified_by_status_and_code() {
        assert_eq!(classify_service(503, Some("SlowDown")), S3Failure::Retryable);
        assert_eq!(classify_service(500, None), S3Failure::Retryable);
        assert_eq!(classify_service(429, None), S3Failure::Retryable);
        assert_eq!(classify_service(400, Some("RequestTimeout")), S3Failure::Retryable);
        assert_eq!(classify_service(409, Some("ConditionalRequestConflict")), S3Failure::Retryable);
        assert_eq!(classify_service(403, Some("AccessDenied")), S3Failure::Permanent);
        assert_eq!(classify_service(404, Some("NoSuchKey")), S3Failure::NotFound);
        assert_eq!(classify_service(404, None), S3Failure::NotFound);
        assert_eq!(classify_service(412, Some("PreconditionFailed")), S3Failure::PreconditionFailed);
        assert_eq!(classify_service(400, Some("InvalidArgument")), S3Failure::Permanent);
    }

    #[test]
    fn only_transient_failures_are_retryable() {
        let s3 = |failure| Error::S3 {
            action: "reading",
            bucket: "b".into(),
            key: "k".into(),
            message: "m".into(),
            failure,
        };
        assert!(s3(S3Failure::Retryable).is_retryable());
        assert!(!s3(S3Failure::Permanent).is_retryable());
        assert!(!s3(S3Failure::NotFound).is_retryable());
        let store = |retryable| {
            Error::Lake(duff_lake::Error::Store { action: "writing", key: "k".into(), message: "m".into(), retryable })
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
}
