//! `duff-lambda-etl`: the ETL Lambda of duff-etl, a thin adapter around
//! [`duff_lake::Lake`] (the same ingest protocol and the same bytes as the local
//! `pipeline`).
//!
//! When a CSV lands in S3, the function:
//! 1. decodes the event ([`event`]: S3 notifications, EventBridge "Object Created",
//!    Step Functions task inputs) and ignores what is not an orders CSV;
//! 2. downloads exactly the object version the event names ([`download`]: streamed to a
//!    temporary file, cut streams resumed with ranged GETs);
//! 3. calls [`duff_lake::Lake::ingest_file`] on a [`duff_lake::S3Store`] (or a local folder), which
//!    stages the Parquet outputs locally, puts them under deterministic keys and commits
//!    the manifest last with a create-if-absent write;
//! 4. answers with each record's outcome ([`handler::Response`]), and fails the invocation
//!    only when a retry can help ([`Error::is_retryable`]).
//!
//! Invoked with `{"action": "refresh_models"}` (an EventBridge Scheduler schedule in AWS), it
//! rebuilds the analytics models under `models/` with [`duff_lake::Lake::refresh_models`],
//! the same code as the local `pipeline --models`, and answers what it wrote
//! ([`handler::ModelsReport`]).
//!
//! Invoked with `{"action": "update_serving"}` (the ingest state machine, after each
//! published file), it folds the published files into the serving state the API reads, with
//! [`duff_lake::Lake::update_serving`]; `{"action": "rebuild_serving"}` rebuilds that state
//! from the published files alone ([`duff_lake::Lake::rebuild_serving`], the operator's
//! repair). Both answer what the fold did ([`handler::ServingReport`]).
//!
//! Configuration ([`Config`]) is read once at cold start.
//!
//! ```no_run
//! # async fn run() -> Result<(), duff_lambda_etl::Error> {
//! let deps = duff_lambda_etl::Deps::from_env().await?;
//! let event = serde_json::json!({"bucket": "duff-raw", "key": "incoming/orders.csv"});
//! let response = duff_lambda_etl::handle(&deps, &event).await?;
//! println!("{:?}", response.outcomes());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod config;
pub mod download;
pub mod error;
pub mod event;
pub mod handler;

pub use config::Config;
pub use error::{Error, Result};
pub use handler::{
    ACTIONS, Deps, ModelTable, ModelsReport, REBUILD_SERVING, REFRESH_MODELS, RecordOutcome, RecordReport, Response,
    ServingReport, ServingStep, UPDATE_SERVING, VACUUM, VacuumSummary, function_handler, handle,
};

/// Installs the JSON log subscriber: one JSON object per line with the invocation's span
/// (the runtime's span carries the request id). The level comes from
/// `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `info`. Calling it twice is harmless.
pub fn init_tracing() {
    use lambda_runtime::tracing::subscriber::{EnvFilter, fmt};
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into())
        .to_ascii_lowercase();
    let filter = EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = fmt()
        .json()
        .with_env_filter(filter)
        .with_target(false)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .try_init();
}
