//! duff-api integration tests: the router over a real lake built with `duff_lake`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail loudly")]

mod common;
mod deploy;
mod errors;
mod freshness;
mod marts;
mod reference;
mod reports;
mod routes;
mod seam;
