//! duff-lambda-etl
