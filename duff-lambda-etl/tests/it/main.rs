//! Integration tests of the ETL function: S3 faults against mocks, and end to end against a
//! real S3-compatible server (moto, started by the tests).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail loudly")]

mod e2e;
mod mocks;
mod moto;
