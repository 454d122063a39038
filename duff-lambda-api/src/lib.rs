//! `duff-lambda-api`: the duff-etl REST API as an AWS Lambda function behind an API Gateway
//! REST API (proxy integration). Its binary is this package's default binary.
//!
//! - [`Config`]: the environment, read once at cold start; a missing or
//!   invalid variable stops the function with a message naming it.
//! - [`AthenaEngine`]: the catalog's queries run by Athena (the default engine); with
//!   `DUFF_QUERY_ENGINE=datafusion`, `duff_sql::DataFusionEngine` reads the lake in S3
//!   directly (cargo feature `datafusion`, on by default; a build without it refuses that
//!   setting at cold start).
//! - [`handle`]: one API Gateway request through [`duff_api::router`]: the stage is
//!   dropped from the path (`/prod/health` is `/health`) and the Lambda invocation's id is
//!   the request id of the answer.
#![deny(missing_docs)]

mod athena;
mod config;

pub use athena::{AthenaConfig, AthenaEngine};
pub use config::{Config, ConfigError, EngineChoice};

use axum::Router;
use axum::body::Body as AxumBody;
use duff_api::RequestId;
use http_body_util::BodyExt;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use std::convert::Infallible;
use tower::ServiceExt;

/// The path of the request without the API Gateway stage: API Gateway gives the resource
/// path (`/health`) and `lambda_http` puts the stage in front (`/prod/health`); a path that
/// already starts with the stage loses it too.
pub fn path_without_stage(req: &Request) -> String {
    let raw = req.raw_http_path();
    let path = if raw.is_empty() { req.uri().path() } else { raw };
    let stage = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.stage.clone(),
        _ => None,
    };
    if let Some(stage) = stage.filter(|s| !s.is_empty() && s != "$default") {
        let prefix = format!("/{stage}");
        if path == prefix {
            return "/".to_owned();
        }
        if let Some(rest) = path.strip_prefix(&prefix)
            && rest.starts_with('/')
        {
            return rest.to_owned();
        }
    }
    path.to_owned()
}

/// Percent-encodes what a URI path may not hold (API Gateway hands the path decoded).
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@%".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Answers one API Gateway request with `app`. Never fails: every problem is an HTTP answer.
///
/// # Errors
/// None (the `Result` is what `lambda_http` expects).
pub async fn handle(app: Router, req: Request) -> Result<Response<Body>, Infallible> {
    let id = req
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .filter(|s| !s.is_empty())
        .map_or_else(RequestId::generate, RequestId);
    let path = encode_path(&path_without_stage(&req));
    let uri = match req.uri().query() {
        Some(q) if !q.is_empty() => format!("{path}?{q}"),
        _ => path,
    };
    let (mut parts, body) = req.into_parts();
    // A path that is not a URI path even encoded goes to the router as an unknown route.
    parts.uri = uri.parse().unwrap_or_else(|_| http::Uri::from_static("/%20"));
    parts.extensions.insert(id);
    let req = http::Request::from_parts(parts, AxumBody::from(body.to_vec()));
    let res = match app.oneshot(req).await {
        Ok(res) => res,
        Err(never) => match never {},
    };
    let (mut parts, body) = res.into_parts();
    let bytes = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            // Never happens with the router's JSON bodies; answer in the API's error shape.
            tracing::error!(error = %e, "reading the response body");
            parts.status = http::StatusCode::INTERNAL_SERVER_ERROR;
            parts.headers.remove(http::header::CONTENT_LENGTH);
            parts.headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
            axum::body::Bytes::from_static(INTERNAL_ERROR)
        }
    };
    let body = match String::from_utf8(bytes.to_vec()) {
        Ok(text) if text.is_empty() => Body::Empty,
        Ok(text) => Body::Text(text),
        Err(e) => Body::Binary(e.into_bytes()),
    };
    Ok(Response::from_parts(parts, body))
}

const INTERNAL_ERROR: &[u8] =
    br#"{"error":{"code":"internal","message":"the response could not be produced","request_id":""}}"#;

/// The router for `config`: builds the engine it names. `athena` is the Athena client (built
/// once at cold start, used when the engine is Athena).
///
/// # Errors
/// When the DataFusion engine cannot open the lake, or was not built (feature `datafusion`).
pub fn app(
    config: &Config,
    athena: Option<aws_sdk_athena::Client>,
) -> Result<Router, Box<dyn std::error::Error + Send + Sync>> {
    let engine: std::sync::Arc<dyn duff_api::QueryEngine> = match (&config.engine, athena) {
        (EngineChoice::Athena { database, workgroup }, Some(client)) => {
            let mut cfg = AthenaConfig::new(database, workgroup);
            cfg.deadline = config.query_timeout;
            std::sync::Arc::new(AthenaEngine::new(client, cfg))
        }
        (EngineChoice::Athena { .. }, None) => return Err("the Athena engine needs an Athena client".into()),
        #[cfg(feature = "datafusion")]
        (EngineChoice::DataFusion { refresh }, _) => {
            let cfg = duff_sql::DataFusionConfig {
                refresh_interval: *refresh,
                query_timeout: config.query_timeout,
                ..duff_sql::DataFusionConfig::default()
            };
            std::sync::Arc::new(duff_sql::DataFusionEngine::new(&config.lake_uri(), cfg)?)
        }
        #[cfg(not(feature = "datafusion"))]
        (EngineChoice::DataFusion { .. }, _) => {
            return Err(
                "DUFF_QUERY_ENGINE=datafusion: this build has no DataFusion engine (cargo feature `datafusion`)".into(),
            );
        }
    };
    Ok(duff_api::router(engine, config.tokens.clone()))
}
