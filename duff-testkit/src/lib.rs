//! `duff-testkit`: what the test suites and benchmarks of duff-etl share.
//!
//! - [`generate`]: the deterministic synthetic orders generator (its command line is the
//!   `generate` example: `cargo run --release --example generate -- --rows 1000000`).
//! - [`csv_file`], [`HEADER`], [`repo`], [`sample`]: building test files and finding the
//!   bundled samples, written once for every crate's tests.
//!
//! It depends on nothing (not even `duff-core`), so that `duff-core`'s own tests can use it.
//!
//! ```
//! let csv = duff_testkit::csv_file(&["1,Moe,10,102,Duff,2.50,6,0.33,Retail,created"]);
//! assert!(csv.starts_with(duff_testkit::HEADER));
//! assert_eq!(csv.lines().count(), 2);
//! ```
#![deny(missing_docs)]

pub mod generate;

use std::path::{Path, PathBuf};

/// The header of an orders file, columns in the brief's order.
pub const HEADER: &str = "client_id,client_name,order_id,product_id,product_description,product_price,product_ccf,product_volume,point_of_sale_channel,status";

/// An orders file: [`HEADER`], then `rows`, each ended by `\n`.
pub fn csv_file<S: AsRef<str>>(rows: &[S]) -> String {
    let mut s = String::with_capacity(HEADER.len() + 1 + rows.iter().map(|r| r.as_ref().len() + 1).sum::<usize>());
    s.push_str(HEADER);
    s.push('\n');
    for r in rows {
        s.push_str(r.as_ref());
        s.push('\n');
    }
    s
}

/// The repository's root folder (this crate's parent).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A bundled sample: `examples/data/<name>` (`orders.csv`, `day1.csv`, `day2.csv`).
pub fn sample(name: &str) -> PathBuf {
    repo().join("examples/data").join(name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn samples_exist() {
        for name in ["orders.csv", "day1.csv", "day2.csv"] {
            assert!(super::sample(name).is_file(), "{name}");
        }
    }
}
