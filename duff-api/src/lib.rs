//! `duff-api`: the duff-etl REST API, independent of where it is hosted.
//!
//! - [`catalog`]: every report's SQL (one text for DataFusion and Athena, rendered per
//!   [`Dialect`]), its allow-listed typed filters and its result columns.
//! - [`Question`]: what a route asks (a report and its filters, a page of a client's
//!   orders), and the shape of its answer.
//! - [`QueryEngine`]: the seam between the API and an engine, which answers questions;
//!   [`DataFusionEngine`] runs the catalog over the lake's Parquet in process (local
//!   directory, or `s3://` with the `s3` feature). The Athena engine lives in
//!   `duff-lambda-api`.
//! - [`router`]: the axum [`Router`](axum::Router) of CONTRACT §3, hosted by `lambda_http`
//!   (`duff-lambda-api`) and by the `serve` example.
//! - [`TokenKey`]: opaque, tamper-evident paging tokens.
//!
//! # Example
//!
//! ```no_run
//! use duff_api::{DataFusionConfig, DataFusionEngine, LakeUri, TokenKey, router};
//! use std::sync::Arc;
//!
//! # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//! let lake = LakeUri::parse("lake")?;
//! let engine = DataFusionEngine::new(&lake, DataFusionConfig::default())?;
//! let app = router(Arc::new(engine), TokenKey::for_lake(&lake.to_string()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub mod catalog;
mod datafusion_engine;
mod engine;
mod error;
mod http;
mod lake;
mod question;
pub mod render;
mod token;

pub use catalog::{ClientOrders, Dialect, Filter, Kind, MartView, PageKey, Query, Report, Value};
pub use datafusion_engine::{DataFusionConfig, DataFusionEngine};
pub use engine::{BoxError, BoxFuture, EngineError, QueryEngine, ResultSet};
pub use error::ApiError;
pub use http::{AppState, DEFAULT_LIMIT, MAX_LIMIT, ROUTES, RequestId, router};
pub use lake::{LakeUri, LakeUriError};
pub use question::Question;
pub use token::{TokenKey, TokenScope};
