//! `duff-api`: the duff-etl REST API, independent of where it is hosted.
//!
//! - [`catalog`]: every report's SQL (one text for DataFusion and Athena, rendered per
//!   [`Dialect`]), its allow-listed typed filters and its result columns.
//! - [`Question`]: what a route asks (a report and its filters, a page of a client's
//!   orders), and the shape of its answer.
//! - [`QueryEngine`]: the seam between the API and an engine, which answers questions.
//!   [`ServingEngine`] answers from the lake's serving state (`duff_lake::serving`), in
//!   milliseconds whatever the lake's history: the default, locally and in AWS. The SQL
//!   engines live elsewhere: DataFusion over the lake is `duff_sql::DataFusionEngine` (a
//!   crate apart, so that this one builds without DataFusion), Athena is in `duff-lambda-api`.
//! - [`answers`]: rendered answers kept per generation, one computation per question in
//!   flight.
//! - [`router`]: the axum [`Router`](axum::Router) of the REST API, hosted by `lambda_http`
//!   (`duff-lambda-api`) and by the `serve` example.
//! - [`TokenKey`]: opaque, tamper-evident paging tokens.
//! - [`LakeUri`]: where the lake lives (`DUFF_LAKE_URI`).
//!
//! # Example
//!
//! ```no_run
//! use duff_api::{ServingEngine, ServingEngineConfig, TokenKey, router};
//! use std::sync::Arc;
//!
//! # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//! let lake = duff_lake::LocalLake::open("lake")?;
//! let engine = ServingEngine::new(lake, ServingEngineConfig::default());
//! engine.refresh().await?; // load the newest generation before the first request
//! let app = router(Arc::new(engine), TokenKey::new("a secret"));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub mod answers;
pub mod catalog;
pub mod dashboard;
mod engine;
mod error;
mod http;
pub mod ingestions;
mod lake;
mod question;
pub mod render;
pub mod serving_engine;
mod token;

pub use catalog::{ClientOrders, Dialect, Filter, Kind, MartView, PageKey, Query, Report, Value};
pub use engine::{BoxError, BoxFuture, Datum, EngineError, LakeProblem, QueryEngine, ResultSet};
pub use error::ApiError;
pub use http::{
    AppState, DEFAULT_LIMIT, MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_HEADERS, MAX_LIMIT, MAX_URI_BYTES, ROUTES,
    RequestId, router, router_with_ingestions,
};
pub use ingestions::IngestionSource;
pub use lake::{LakeUri, LakeUriError};
pub use question::Question;
pub use serving_engine::{ServingEngine, ServingEngineConfig};
pub use token::{TokenKey, TokenScope};
