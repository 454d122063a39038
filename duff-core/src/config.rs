//! The settings of an ingest.

use crate::error::{Error, ErrorKind, Result};

/// Settings of an ingest. Parse and validate once (at cold start), then reuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestConfig {
    /// Quarantined share (parts per million of rows read) above which the file is refused.
    pub reject_threshold_ppm: u32,
    /// Rows per Arrow batch (and per Parquet write). The default, 32Ki rows (~10 MB of fact
    /// batch), keeps the batches in flight between a reading and an encoding thread small.
    pub batch_rows: usize,
    /// The largest record accepted before the file is refused (a stray quote).
    pub max_record_bytes: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig { reject_threshold_ppm: 50_000, batch_rows: 32 * 1024, max_record_bytes: 16 << 20 }
    }
}

impl IngestConfig {
    /// Parses a reject threshold written as a fraction between 0 and 1 (`"0.05"` is 5 %),
    /// with at most 6 decimal places.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] naming `DUFF_REJECT_THRESHOLD` when the text is not such a fraction.
    pub fn parse_reject_threshold(text: &str) -> Result<u32> {
        let bad = || -> Error {
            ErrorKind::Config {
                name: "DUFF_REJECT_THRESHOLD",
                message: format!("'{text}' is not a fraction between 0 and 1 with at most 6 decimals (e.g. 0.05)"),
            }
            .into()
        };
        let ppm = crate::number::parse_decimal(text.trim().as_bytes(), 6).map_err(|_| bad())?;
        if ppm > 1_000_000 {
            return Err(bad());
        }
        u32::try_from(ppm).map_err(|_| bad())
    }

    /// The threshold as a decimal fraction (`"0.05"`).
    pub fn reject_threshold_text(&self) -> String {
        crate::number::to_decimal(i128::from(self.reject_threshold_ppm), 6)
            .map(|d| d.normalize().to_string())
            .unwrap_or_default()
    }
}
