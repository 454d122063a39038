//! The API Lambda: configuration and SDK clients once at cold start, then every API Gateway
//! request through [`duff_lambda_api::handle`].

use duff_lambda_api::{Clients, Config};
use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            // Stops the cold start with a message naming the variable.
            tracing::error!(error = %e, "invalid configuration");
            return Err(e.into());
        }
    };
    // Region and credentials from the standard AWS variables; clients built once.
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let clients = match Clients::from_sdk(&config, &sdk) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "invalid configuration");
            return Err(e.into());
        }
    };
    let app = duff_lambda_api::app(&config, &clients).await?;
    tracing::info!(lake = %config.lake, engine = ?config.engine, "duff-lambda-api ready");
    lambda_http::run(service_fn(move |req| duff_lambda_api::handle(app.clone(), req))).await
}
