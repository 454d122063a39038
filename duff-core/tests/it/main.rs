//! duff-core's integration tests: one binary, one module per theme.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail loudly")]

mod brief;
mod common;
mod fanout;
mod file_level;
mod models;
mod over_time;
mod parquet;
mod properties;
mod rules;
mod serving;
