//! `duff-core`: the pure, I/O-free heart of duff-etl.
//!
//! It turns the bytes of a Duff Beer orders CSV into validated, typed Arrow batches for a
//! star-schema lake, a quarantine of every refused row (with its line and every reason),
//! and a manifest that reconciles exactly (`rows read = accepted + quarantined`, decimal
//! totals). It never reads a clock, the environment or the network: time, identities and
//! configuration are passed in, so the same code runs in AWS Lambda and on a laptop.
//!
//! # Where each concept lives
//!
//! The embedder's types are re-exported here; the public modules hold the rest.
//!
//! - `config`: [`IngestConfig`], the settings of an ingest (reject threshold, batch size).
//! - `ingest`: [`FileIngest`], the streaming ingest of one file (bytes in, batches and a
//!   [`Manifest`] out), its sinks ([`TableSink`], [`CollectSink`]) and [`ingest_bytes`].
//! - `reader`: the CSV record scanner and the header line, shared by the ingest and the
//!   fan-out's record scan.
//! - `columns`: the required columns ([`Column`]) and the resolved [`Header`].
//! - `validate`: one row's fields to an [`OrderLine`] or every [`Reason`] it breaks.
//! - `domain`: the domain's vocabulary: [`OrderLine`], [`Channel`], [`Status`], [`Reason`],
//!   [`ReasonCode`], the scales [`MONEY_SCALE`] and [`VOLUME_SCALE`].
//! - `number`: exact decimals from bytes into scaled integers, and back to text.
//! - [`manifest`]: the per-file commit record ([`Manifest`], [`Outcome`]) and the counts it
//!   reconciles ([`FileSummary`]).
//! - [`fanout`]: a big file in parts (plan, record scan, part ingest, merge) equal to one pass.
//! - [`tables`]: the Arrow schemas of the lake's tables and their builders.
//! - [`parquet_io`]: Parquet encoding to any `Write` ([`ParquetSink`]) and decoding back.
//! - [`lake`]: file identities ([`FileId`], [`FileMeta`]), object keys, partitions ([`Table`]).
//! - `state`: files over time: [`CurrentState`] (latest version of each order line) and
//!   [`StatusHistory`].
//! - [`serving`]: the serving state: the current lines, the dimensions' current rows and the
//!   report cells, folded file by file ([`serving::Cube`], [`serving::fold_orders`]), and
//!   its Arrow tables.
//! - [`reports`]: the exact aggregates behind the reports (the reference functions).
//! - `error`: [`Error`], file-level errors with a [`Position`]; row problems are [`Reason`]s.
//! - `hash`: a fast hasher for integer keys.
//!
//! # Example
//!
//! ```
//! use duff_core::{CollectSink, CurrentState, FileId, FileMeta, IngestConfig, Outcome, Table};
//! use duff_core::reports::{self, ReportFilter};
//! use chrono::{TimeZone, Utc};
//!
//! let csv = b"client_id,client_name,order_id,product_id,product_description,product_price,product_ccf,product_volume,point_of_sale_channel,status
//! 1001,Moe's Tavern,5678,102,Duff Classic,2.50,6,0.33,Retail,created
//! 1002,Kwik-E-Mart,5679,103,Duff Lite,2.00,12,0.5,B2B,delivered
//! 1003,Krusty Burger,5680,104,Duff Dry,3.00,eight,0.25,Online,broken
//! ";
//! let meta = FileMeta::new(FileId::of_bytes(csv), "orders.csv", Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap());
//! let mut sink = CollectSink::default();
//! let cfg = IngestConfig { reject_threshold_ppm: 500_000, ..IngestConfig::default() };
//! let manifest = duff_core::ingest_bytes(meta.clone(), cfg, csv, &mut sink)?;
//!
//! assert_eq!(manifest.outcome, Outcome::Published);
//! assert_eq!((manifest.rows_read, manifest.rows_accepted, manifest.rows_quarantined), (3, 2, 1));
//! assert_eq!(manifest.totals.amount, "39.00"); // 2.50 × 6 + 2.00 × 12, exact
//! assert_eq!(manifest.quarantined_by_reason["not_an_integer"], 1);
//!
//! let mut state = CurrentState::new();
//! for batch in &sink.batches[&Table::FactOrderLine] {
//!     state.apply_batch(&meta, batch)?;
//! }
//! let by_product = reports::sales_by_product(&state, &ReportFilter::default());
//! assert_eq!(by_product[0].product_id, 102);
//! assert_eq!(by_product[0].sales, "15.00");
//! assert_eq!(by_product[0].volume_l, "1.98");
//! # Ok::<(), duff_core::Error>(())
//! ```
#![deny(missing_docs)]

pub use arrow_array;
pub use bytes;

mod columns;
mod config;
mod domain;
mod error;
pub mod fanout;
mod hash;
mod ingest;
pub mod lake;
pub mod manifest;
pub mod models;
mod number;
pub mod parquet_io;
mod reader;
pub mod reports;
pub mod serving;
mod state;
pub mod tables;
mod validate;

pub use columns::{Column, Header};
pub use config::IngestConfig;
pub use domain::{Channel, MONEY_SCALE, OrderLine, Reason, ReasonCode, Status, VOLUME_SCALE};
pub use error::{Error, ErrorKind, Position, Result, error_causes, error_chain};
pub use ingest::{
    CollectSink, FileIngest, Finish, MAX_FIELD_BYTES, PartOutput, RepeatedLines, TableSink, ingest_bytes, ingest_reader,
};
pub use lake::{FileHasher, FileId, FileMeta, Table};
pub use manifest::{FileSummary, Manifest, Outcome};
pub use number::{Litres, Scaled, format_litres, format_scaled};
pub use parquet_io::{ParquetSink, read_parquet, to_parquet_bytes, write_parquet};
pub use serving::Line;
pub use state::{
    CurrentState, FactRow, LineKey, StatusChange, StatusHistory, for_each_fact, order_status_history_schema, sort_files,
};
