//! Criterion benchmarks of duff-etl's core stages: `cargo bench -p duff-bench --bench core`.
//!
//! The benchmarks live in `core.rs`; this package exists so that criterion is compiled only
//! when benchmarking, not for `cargo run -p duff-cli --example pipeline`. The end-to-end comparison with
//! DuckDB and Polars is `benches/compare.sh`.
