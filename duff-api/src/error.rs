//! The API's errors and their one JSON shape:
//! `{"error":{"code":"...","message":"...","request_id":"..."}}`.

use crate::engine::EngineError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A query parameter the route does not know.
    #[error("unknown query parameter `{0}`")]
    UnknownParameter(String),
    /// A parameter with a bad value (or given twice).
    #[error("{name}: {message}")]
    BadParameter {
        /// The parameter.
        name: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// No such route.
    #[error("no route {0}")]
    NoRoute(String),
    /// The route exists, not with this method.
    #[error("method {0} is not allowed here")]
    MethodNotAllowed(String),
    /// The request's target (path and query) is longer than the API takes.
    #[error("the request URI is longer than {limit} bytes")]
    UriTooLong {
        /// The largest target, in bytes.
        limit: usize,
    },
    /// The request's header section is larger than the API takes.
    #[error("the request's headers are larger than {limit} bytes, or more than {count} of them")]
    HeadersTooLarge {
        /// The largest header section, in bytes.
        limit: usize,
        /// The most headers.
        count: usize,
    },
    /// The request declares a body larger than the API takes (no route reads one).
    #[error("the request body is larger than {limit} bytes (no route reads a body)")]
    BodyTooLarge {
        /// The largest body, in bytes.
        limit: u64,
    },
    /// The client has no order line.
    #[error("client {0} has no orders")]
    UnknownClient(i64),
    /// No manifest of this file in the lake.
    #[error("no file {0} was ingested")]
    UnknownFile(String),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl ApiError {
    /// A bad parameter.
    pub fn bad(name: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::BadParameter { name, message: message.into() }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::UnknownParameter(_) | ApiError::BadParameter { .. } => StatusCode::BAD_REQUEST,
            ApiError::NoRoute(_) | ApiError::UnknownClient(_) | ApiError::UnknownFile(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            ApiError::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Engine(e) => match e {
                EngineError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
                EngineError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
                EngineError::Failed(_) => StatusCode::BAD_GATEWAY,
                EngineError::Lake(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::UnknownParameter(_) => "unknown_parameter",
            ApiError::BadParameter { .. } => "bad_parameter",
            ApiError::NoRoute(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::UriTooLong { .. } => "uri_too_long",
            ApiError::HeadersTooLarge { .. } => "headers_too_large",
            ApiError::BodyTooLarge { .. } => "content_too_large",
            ApiError::UnknownClient(_) => "client_not_found",
            ApiError::UnknownFile(_) => "file_not_found",
            ApiError::Engine(e) => match e {
                EngineError::Timeout(_) => "timeout",
                EngineError::Throttled { .. } => "throttled",
                EngineError::Failed(_) => "query_failed",
                EngineError::Lake(_) => "lake_unavailable",
                _ => "internal",
            },
        }
    }

    /// The message shown to the caller: this error's own text, and for a lake that could
    /// not be read, the kind of problem ([`EngineError::lake_problem`]); never a key or a
    /// path (those are logged).
    pub fn message(&self) -> String {
        match self {
            ApiError::Engine(e) => match e.lake_problem() {
                Some(p) => format!("{e}: {p}"),
                None => e.to_string(),
            },
            _ => self.to_string(),
        }
    }

    /// The error object of the JSON body: `{"code","message","request_id"}`.
    pub fn error_object(&self, request_id: &str) -> serde_json::Value {
        serde_json::json!({ "code": self.code(), "message": self.message(), "request_id": request_id })
    }

    /// Logs a server-side failure (5xx, 429) with its whole cause chain, where a lake error
    /// names the object's key; a caller's mistake is not logged.
    pub(crate) fn log(&self, request_id: &str, status: StatusCode) {
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            let causes = duff_core::error_causes(self);
            tracing::error!(request_id, status = status.as_u16(), code = self.code(), error = %self, causes, "request failed");
        }
    }

    /// The response, with the request's id in the body.
    pub fn into_response_for(self, request_id: &str) -> Response {
        let status = self.status();
        self.log(request_id, status);
        let retry_after = match &self {
            ApiError::Engine(EngineError::Throttled { retry_after }) => Some(retry_after.as_secs().max(1)),
            _ => None,
        };
        let body = serde_json::json!({ "error": self.error_object(request_id) });
        let mut res = (status, axum::Json(body)).into_response();
        if let Some(secs) = retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}
