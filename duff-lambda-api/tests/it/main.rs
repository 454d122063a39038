//! duff-lambda-api integration tests: real API Gateway REST proxy events through the
//! handler, and the Athena engine against mocked Athena responses.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail loudly")]

mod athena;
mod handler;
