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

    /// The response, with the request's id in the body.
    pub fn into_response_for(self, request_id: &str) -> Response {
        let status = self.status();
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            let mut causes = String::new();
            let mut source = std::error::Error::source(&self);
            while let Some(s) = source {
                causes.push_str(": ");
                causes.push_str(&s.to_string());
                source = s.source();
            }
            tracing::error!(request_id, status = status.as_u16(), error = %self, causes, "request failed");
        }
        let retry_after = match &self {
            ApiError::Engine(EngineError::Throttled { retry_after }) => Some(retry_after.as_secs().max(1)),
            _ => None,
        };
        let body = serde_json::json!({
            "error": { "code": self.code(), "message": self.to_string(), "request_id": request_id }
        });
        let mut res = (status, axum::Json(body)).into_response();
        if let Some(secs) = retry_after {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}
