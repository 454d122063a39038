//! The ETL Lambda's binary: configuration and clients built once, then the runtime loop.

use duff_lambda_etl::{Deps, function_handler, init_tracing};
use lambda_runtime::{service_fn, tracing};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let deps = match Deps::from_env().await {
        Ok(deps) => deps,
        Err(e) => {
            // Stops the function at cold start; the message names the variable.
            tracing::error!(error_type = e.error_type(), error = %e, "invalid configuration");
            return Err(e.into());
        }
    };
    tracing::info!(lake = %deps.config().lake, work_dir = %deps.config().work_dir.display(), "cold start");
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event| function_handler(deps, event))).await
}
