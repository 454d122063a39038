//! `duff-cli`: the command line of duff-etl's local home.
//!
//! - [`text`]: plain-text tables for terminals (the reports the `pipeline` example prints).
#![deny(missing_docs)]

pub mod text;
