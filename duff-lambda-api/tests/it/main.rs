//! duff-lambda-api integration tests: real API Gateway REST proxy events through the
//! handler, the Athena engine against mocked Athena responses, and the serving engine over a
//! real S3-compatible server (moto, started by the tests).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail loudly")]

mod athena;
mod handler;
/// The ETL function's moto launcher, shared as is.
#[path = "../../../duff-lambda-etl/tests/it/moto.rs"]
mod moto;
mod s3_serving;
