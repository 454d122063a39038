//! `duff-sql`: DataFusion over the duff-etl lake, with the Athena table names.
//!
//! The lake's Parquet is read in process by Apache DataFusion under the names the Athena
//! database gives it (docs/athena.md): the serving state's newest generation (`serving_*`,
//! and the view `order_line_current` over its runs), so that the SQL of `duff_api::catalog`
//! runs here as it runs in Athena, over the same objects:
//!
//! - [`DataFusionEngine`]: a [`duff_api::QueryEngine`] answering the API's questions with
//!   the catalog's SQL (the `serve` example; `DUFF_QUERY_ENGINE=datafusion` in the API
//!   Lambda), and running any catalog query ([`DataFusionEngine::run`]): the tests of this
//!   crate check the catalog's SQL, the SQL of Athena's views, against `duff_core`.
//! - [`lake_context`]: every table and view of the Athena database (the history tables too),
//!   for ad-hoc SQL (the `sql` example) and the tests of the views.
//! - A local folder, or `s3://bucket/prefix` with the `s3` feature (object_store's `aws`).
//!
//! DataFusion takes long to compile, so this crate stands apart: the API itself (`duff-api`)
//! does not depend on it.
//!
//! # Example
//!
//! ```no_run
//! use duff_api::{LakeUri, TokenKey, router};
//! use duff_sql::{DataFusionConfig, DataFusionEngine};
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

mod engine;
mod store;
mod tables;

pub use engine::{DataFusionConfig, DataFusionEngine};
pub use store::OpenError;
pub use tables::lake_context;
