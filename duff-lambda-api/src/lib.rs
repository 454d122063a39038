//! `duff-lambda-api`: the duff-etl REST API as an AWS Lambda function behind an API Gateway
//! REST API (proxy integration). Its binary is this package's default binary.
//!
//! - [`Config`]: the environment, read once at cold start; a missing or
//!   invalid variable stops the function with a message naming it.
//! - The default engine is [`duff_api::ServingEngine`]: every route answered from the lake's
//!   serving state (docs/serving.md), read from S3 through `duff_lake::S3Store` (the same
//!   engine `serve` runs over a folder). [`Clients`] builds the S3 client once at cold start
//!   and [`app`] loads the newest generation before the first request.
//! - With `DUFF_QUERY_ENGINE=athena`, [`AthenaEngine`] runs the catalog's queries in Athena;
//!   with `DUFF_QUERY_ENGINE=datafusion`, `duff_sql::DataFusionEngine` reads the lake's
//!   history directly (cargo feature `datafusion`, on by default; a build without it refuses
//!   that setting at cold start). Neither is on the default path.
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
use duff_api::{ServingEngine, ServingEngineConfig};
use duff_lake::{DirStore, Lake, LakeLocation, S3Store, Store};
use http_body_util::BodyExt;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use std::convert::Infallible;
use std::sync::Arc;
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

/// An error of the cold start (an engine that cannot be built), for the runtime to report.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The SDK clients the configured engine needs, built once at cold start and shared by every
/// request (each holds its connection pool).
#[derive(Debug, Clone, Default)]
pub struct Clients {
    /// Athena, for `DUFF_QUERY_ENGINE=athena`.
    pub athena: Option<aws_sdk_athena::Client>,
    /// S3, for the serving engine over an `s3://` lake.
    pub s3: Option<aws_sdk_s3::Client>,
}

impl Clients {
    /// The clients `config`'s engine needs, from the standard AWS sources (region,
    /// credentials) and `sdk`; the S3 client addresses `config.s3_endpoint` path-style when
    /// one is set.
    ///
    /// # Errors
    /// [`ConfigError::Missing`]`("AWS_REGION")` when an AWS client is needed and no region is
    /// configured.
    pub fn from_sdk(config: &Config, sdk: &aws_config::SdkConfig) -> Result<Clients, ConfigError> {
        let needs_s3 = matches!(config.engine, EngineChoice::Serving { .. }) && config.lake.dir().is_none();
        let needs_athena = matches!(config.engine, EngineChoice::Athena { .. });
        if (needs_s3 || needs_athena) && sdk.region().is_none() {
            return Err(ConfigError::Missing("AWS_REGION"));
        }
        let s3 = needs_s3.then(|| {
            let mut builder = aws_sdk_s3::config::Builder::from(sdk);
            if let Some(url) = &config.s3_endpoint {
                builder = builder.endpoint_url(url).force_path_style(true);
            }
            aws_sdk_s3::Client::from_conf(builder.build())
        });
        Ok(Clients { athena: needs_athena.then(|| aws_sdk_athena::Client::new(sdk)), s3 })
    }
}

/// The lake's store for the serving engine: S3 through `clients.s3`, or a folder. Must be
/// called inside a Tokio runtime (the S3 store runs its requests on it).
///
/// # Errors
/// An S3 lake without an S3 client or outside a runtime; a folder that cannot be opened.
pub fn lake_store(config: &Config, clients: &Clients) -> Result<Arc<dyn Store>, BoxError> {
    match &config.lake {
        LakeLocation::S3 { bucket, prefix } => {
            let client = clients.s3.clone().ok_or("the serving engine over S3 needs an S3 client")?;
            let handle = tokio::runtime::Handle::try_current()?;
            Ok(Arc::new(S3Store::new(client, bucket, prefix, handle)))
        }
        LakeLocation::Dir(dir) => Ok(Arc::new(DirStore::open(dir)?)),
    }
}

/// The router answering from the serving state in `store`, refreshed every `refresh`. The
/// newest generation is loaded before it returns, so that the first request does not wait
/// for it; a lake that cannot be read now is logged and loaded again by the first request
/// (which answers 503 `lake_unavailable` if it still cannot be).
pub async fn serving_app(config: &Config, store: Arc<dyn Store>, refresh: std::time::Duration) -> Router {
    // The ingestion routes read the manifests and the quarantine from the same store.
    let ingestions = Arc::new(duff_lake::IngestionIndex::new(store.clone(), refresh));
    // The engine only reads: nothing is ever staged.
    let lake = Lake::new(store, std::env::temp_dir().join("duff-api-staging"));
    let cfg = ServingEngineConfig { refresh_interval: refresh, ..ServingEngineConfig::default() };
    let engine = ServingEngine::new(lake, cfg);
    match engine.refresh().await {
        Ok((generation, lines)) => tracing::info!(generation, lines, "serving state loaded at cold start"),
        Err(e) => tracing::warn!(error = %e, "the serving state could not be loaded at cold start"),
    }
    duff_api::router_with_ingestions(Arc::new(engine), config.tokens.clone(), ingestions)
}

/// The router for `config`: builds the engine it names with the clients built at cold start.
///
/// # Errors
/// When the engine cannot be built: a missing client, a lake that cannot be opened, or
/// DataFusion in a build without it (feature `datafusion`).
pub async fn app(config: &Config, clients: &Clients) -> Result<Router, BoxError> {
    let engine: Arc<dyn duff_api::QueryEngine> = match &config.engine {
        EngineChoice::Serving { refresh } => {
            return Ok(serving_app(config, lake_store(config, clients)?, *refresh).await);
        }
        EngineChoice::Athena { database, workgroup } => {
            let client = clients.athena.clone().ok_or("the Athena engine needs an Athena client")?;
            let mut cfg = AthenaConfig::new(database, workgroup);
            cfg.deadline = config.query_timeout;
            Arc::new(AthenaEngine::new(client, cfg))
        }
        #[cfg(feature = "datafusion")]
        EngineChoice::DataFusion { refresh } => {
            let cfg = duff_sql::DataFusionConfig {
                refresh_interval: *refresh,
                query_timeout: config.query_timeout,
                ..duff_sql::DataFusionConfig::default()
            };
            Arc::new(duff_sql::DataFusionEngine::new(&config.lake_uri(), cfg)?)
        }
        #[cfg(not(feature = "datafusion"))]
        EngineChoice::DataFusion { .. } => {
            return Err(
                "DUFF_QUERY_ENGINE=datafusion: this build has no DataFusion engine (cargo feature `datafusion`)".into(),
            );
        }
    };
    Ok(duff_api::router(engine, config.tokens.clone()))
}
