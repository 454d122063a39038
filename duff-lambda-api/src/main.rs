//! The API Lambda: configuration and SDK clients once at cold start, then every API Gateway
//! request through [`duff_lambda_api::handle`].

use duff_lambda_api::{Config, EngineChoice};
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
    let athena = match config.engine {
        EngineChoice::Athena { .. } => {
            // Region, credentials and AWS_ENDPOINT_URL from the standard AWS variables.
            let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
            Some(aws_sdk_athena::Client::new(&sdk))
        }
        EngineChoice::DataFusion { .. } => None,
    };
    let app = duff_lambda_api::app(&config, athena)?;
    tracing::info!(lake = %config.lake, engine = ?config.engine, "duff-lambda-api ready");
    lambda_http::run(service_fn(move |req| duff_lambda_api::handle(app.clone(), req))).await
}
