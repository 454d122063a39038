//! `generate` (the `generate` example, `duff generate`): a deterministic synthetic orders CSV
//! (see [`duff_testkit::generate`] for the data model).

use duff_testkit::generate::{Config, OUTPUT_BUFFER_BYTES, Stats, write_orders};
use std::fs::File;
use std::io::{self, BufWriter, Write};

/// Generates into `cfg.out` (a file, or stdout for `-`) and flushes.
///
/// # Errors
/// The output cannot be created or written.
pub fn run(cfg: &Config) -> io::Result<Stats> {
    if cfg.out == "-" {
        let mut w = BufWriter::with_capacity(OUTPUT_BUFFER_BYTES, io::stdout().lock());
        let stats = write_orders(&mut w, cfg)?;
        w.flush()?;
        Ok(stats)
    } else {
        let file = File::create(&cfg.out)?;
        let mut w = BufWriter::with_capacity(OUTPUT_BUFFER_BYTES, file);
        let stats = write_orders(&mut w, cfg)?;
        w.flush()?;
        Ok(stats)
    }
}
