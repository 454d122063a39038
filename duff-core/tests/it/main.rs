//! duff-core's integration tests: one binary, one module per theme.

mod brief;
mod common;
mod file_level;
mod over_time;
mod parquet;
mod properties;
mod rules;
