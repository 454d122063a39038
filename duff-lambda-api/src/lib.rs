//! duff-lambda-api
