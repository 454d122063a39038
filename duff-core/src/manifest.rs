//! The per-file manifest: what was read, what was kept, what was refused and why, and the
//! objects written. Written last, it is the file's commit record in the lake.

use crate::columns::Header;
use crate::config::IngestConfig;
use crate::domain::{MONEY_SCALE, OrderLine, Reason, ReasonCode};
use crate::error::Error;
use crate::lake::{FileMeta, Table, format_instant};
use crate::number::format_scaled;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The manifest format version.
pub const MANIFEST_VERSION: u32 = 1;

/// What became of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Its accepted rows and its quarantine are in the lake.
    Published,
    /// Too many rows were quarantined: nothing of it is published.
    Rejected,
    /// A file-level problem (no header, missing column, not CSV...): nothing is published.
    Failed,
}

impl Outcome {
    /// The outcome as written in the manifest.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Published => "published",
            Outcome::Rejected => "rejected",
            Outcome::Failed => "failed",
        }
    }
}

/// An object written for a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputObject {
    /// Its table.
    pub table: Table,
    /// Its key, relative to the lake root.
    pub key: String,
    /// Rows in it.
    pub rows: u64,
}

/// One example of a quarantined row, kept in the manifest (useful when the quarantine is
/// not published because the file was rejected).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Line (1-based).
    pub line: u64,
    /// Reason codes.
    pub reason_codes: Vec<String>,
    /// Messages.
    pub message: String,
    /// The start of the row's text.
    pub raw: String,
}

/// A file-level error, as recorded in a failed file's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileError {
    /// Stable code ([`Error::code`]).
    pub code: String,
    /// The message, naming the problem and where.
    pub message: String,
    /// 1-based line, when the problem has a position.
    pub line: Option<u64>,
    /// 0-based byte offset, when the problem has a position.
    pub byte: Option<u64>,
}

/// Exact totals of the accepted rows, as decimal strings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Totals {
    /// Sum of `product_ccf`.
    pub units: String,
    /// Sum of `amount` (2 places).
    pub amount: String,
    /// Sum of `volume_l` (litres, exact).
    pub volume_l: String,
}

/// The manifest of one file. Serialised as one line of JSON (so that Athena can read the
/// `manifests/` folder as a table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_VERSION`].
    pub manifest_version: u32,
    /// Content identity.
    pub file_id: String,
    /// Where the file came from.
    pub source: String,
    /// When it was ingested (RFC 3339, UTC, microseconds).
    pub ingested_at: String,
    /// The same instant in microseconds since the epoch (for ordering).
    pub ingested_at_micros: i64,
    /// The `ingest_date` partition of its objects.
    pub ingest_date: String,
    /// What became of it.
    pub outcome: Outcome,
    /// Why it was rejected or failed.
    pub message: Option<String>,
    /// The file-level error of a failed file.
    pub error: Option<FileError>,
    /// Size in bytes (as far as it was read).
    pub bytes: u64,
    /// The delimiter recognised from the header.
    pub delimiter: Option<String>,
    /// The header's normalised names, in file order.
    pub header: Vec<String>,
    /// Header names that are not required columns (ignored).
    pub extra_columns: Vec<String>,
    /// Data rows read. Always `rows_accepted + rows_quarantined`.
    pub rows_read: u64,
    /// Rows accepted.
    pub rows_accepted: u64,
    /// Rows quarantined.
    pub rows_quarantined: u64,
    /// Quarantined rows per reason code (a row with two reasons counts under both).
    pub quarantined_by_reason: BTreeMap<String, u64>,
    /// Blank lines skipped (not rows).
    pub blank_lines: u64,
    /// Exact totals of the accepted rows.
    pub totals: Totals,
    /// The reject threshold applied (a fraction).
    pub reject_threshold: String,
    /// `rows_quarantined / rows_read`, rounded to 6 places for display only.
    pub quarantined_share: String,
    /// The objects written (empty unless published).
    pub outputs: Vec<OutputObject>,
    /// Up to 10 quarantined rows, as examples.
    pub sample_problems: Vec<Problem>,
    /// The duff-core version that wrote it.
    pub writer: String,
}

impl Manifest {
    /// A published manifest with nothing read yet.
    pub(crate) fn new(meta: &FileMeta, cfg: &IngestConfig, bytes: u64) -> Manifest {
        Manifest {
            manifest_version: MANIFEST_VERSION,
            file_id: meta.file_id.to_string(),
            source: meta.source.clone(),
            ingested_at: format_instant(meta.ingested_at_micros),
            ingested_at_micros: meta.ingested_at_micros,
            ingest_date: meta.ingest_date(),
            outcome: Outcome::Published,
            message: None,
            error: None,
            bytes,
            delimiter: None,
            header: Vec::new(),
            extra_columns: Vec::new(),
            rows_read: 0,
            rows_accepted: 0,
            rows_quarantined: 0,
            quarantined_by_reason: BTreeMap::new(),
            blank_lines: 0,
            totals: Totals { units: "0".into(), amount: "0.00".into(), volume_l: "0.00".into() },
            reject_threshold: cfg.reject_threshold_text(),
            quarantined_share: "0".into(),
            outputs: Vec::new(),
            sample_problems: Vec::new(),
            writer: concat!("duff-core ", env!("CARGO_PKG_VERSION")).into(),
        }
    }

    /// The manifest of a file refused by a file-level error.
    pub fn failed(meta: &FileMeta, cfg: &IngestConfig, bytes: u64, error: &Error) -> Manifest {
        let mut m = Manifest::new(meta, cfg, bytes);
        m.outcome = Outcome::Failed;
        m.message = Some(error.to_string());
        m.error = Some(FileError {
            code: error.code().into(),
            message: error.to_string(),
            line: error.position().map(|p| p.line),
            byte: error.position().map(|p| p.byte),
        });
        m
    }

    /// The manifest of a file from its counts: applies the reject threshold (a rejected file
    /// publishes no output).
    pub(crate) fn of_file(
        meta: &FileMeta,
        cfg: &IngestConfig,
        bytes: u64,
        header: &Header,
        summary: &FileSummary,
        problems: Vec<Problem>,
        outputs: Vec<OutputObject>,
    ) -> Manifest {
        let rejected = summary.over_threshold(cfg.reject_threshold_ppm);
        let mut m = Manifest::new(meta, cfg, bytes);
        m.set_header(header);
        m.set_summary(summary);
        m.outputs = if rejected { Vec::new() } else { outputs };
        m.sample_problems = problems;
        if rejected {
            m.outcome = Outcome::Rejected;
            m.message = Some(format!(
                "{} of {} rows quarantined ({}), above the reject threshold {}: nothing of this file is published",
                summary.rows_quarantined, summary.rows_read, m.quarantined_share, m.reject_threshold
            ));
        }
        m
    }

    pub(crate) fn set_header(&mut self, h: &Header) {
        self.delimiter = Some(char::from(h.delimiter).to_string());
        self.header = h.names.clone();
        self.extra_columns = h.extra_columns.clone();
    }

    pub(crate) fn set_summary(&mut self, s: &FileSummary) {
        self.rows_read = s.rows_read;
        self.rows_accepted = s.rows_accepted;
        self.rows_quarantined = s.rows_quarantined;
        self.blank_lines = s.blank_lines;
        self.quarantined_by_reason = s.by_reason.iter().map(|(c, n)| (c.as_str().to_owned(), *n)).collect();
        self.totals = Totals {
            units: s.units.to_string(),
            amount: format_scaled(s.amount, MONEY_SCALE),
            volume_l: crate::number::format_litres(s.volume),
        };
        self.quarantined_share = if s.rows_read == 0 {
            "0".into()
        } else {
            // Display only: the threshold decision is made on exact integers.
            let ppm =
                (u128::from(s.rows_quarantined) * 1_000_000 + u128::from(s.rows_read) / 2) / u128::from(s.rows_read);
            crate::number::to_decimal(ppm as i128, 6).map(|d| d.normalize().to_string()).unwrap_or_default()
        };
    }

    /// True when `rows_read = rows_accepted + rows_quarantined` and the per-reason counts
    /// are consistent with `rows_quarantined`.
    pub fn reconciles(&self) -> bool {
        let max_reason = self.quarantined_by_reason.values().copied().max().unwrap_or(0);
        let sum_reason: u64 = self.quarantined_by_reason.values().sum();
        self.rows_read == self.rows_accepted + self.rows_quarantined
            && max_reason <= self.rows_quarantined
            && (self.rows_quarantined == 0) == (sum_reason == 0)
    }

    /// One JSON line (with a trailing newline).
    ///
    /// # Errors
    /// Never in practice (serialisation of plain data).
    pub fn to_json_line(&self) -> crate::Result<Vec<u8>> {
        let mut v = serde_json::to_vec(self)?;
        v.push(b'\n');
        Ok(v)
    }

    /// Parses a manifest.
    ///
    /// # Errors
    /// When `bytes` is not a manifest.
    pub fn from_json(bytes: &[u8]) -> crate::Result<Manifest> {
        Ok(serde_json::from_slice(bytes)?)
    }

    /// The file's [`FileMeta`] (identity, source, instant).
    ///
    /// # Errors
    /// When `file_id` is not 32 hex digits (a manifest not written by duff-core).
    pub fn meta(&self) -> crate::Result<FileMeta> {
        let file_id = crate::lake::FileId::parse(&self.file_id).ok_or_else(|| crate::ErrorKind::Schema {
            table: "manifests",
            message: format!("file_id '{}' is not 32 hex digits", self.file_id),
        })?;
        Ok(FileMeta { file_id, source: self.source.clone(), ingested_at_micros: self.ingested_at_micros })
    }

    /// The one-line reconciliation printed per file:
    /// `read = accepted + quarantined`, the exact totals and the outcome.
    pub fn reconciliation_line(&self) -> String {
        let mut s = format!(
            "{}: {}  read {} = accepted {} + quarantined {}  units {}  amount {}  volume {} L",
            self.source,
            self.outcome.as_str(),
            self.rows_read,
            self.rows_accepted,
            self.rows_quarantined,
            self.totals.units,
            self.totals.amount,
            self.totals.volume_l
        );
        if !self.quarantined_by_reason.is_empty() {
            let reasons: Vec<String> = self.quarantined_by_reason.iter().map(|(c, n)| format!("{c}={n}")).collect();
            s.push_str(&format!("  [{}]", reasons.join(" ")));
        }
        if let Some(m) = &self.message
            && self.outcome != Outcome::Published
        {
            s.push_str(&format!("  ({m})"));
        }
        s
    }
}

/// How many example problems a manifest keeps.
pub(crate) const SAMPLE_PROBLEMS: usize = 10;

/// Counts and exact totals of one file, or of a part of one (a byte range).
///
/// Summaries [`merge`](FileSummary::merge): merging is associative and commutative, so
/// parts processed apart add up to the whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileSummary {
    /// Data rows read (blank lines are not rows).
    pub rows_read: u64,
    /// Rows accepted into the lake.
    pub rows_accepted: u64,
    /// Rows quarantined.
    pub rows_quarantined: u64,
    /// Blank lines skipped.
    pub blank_lines: u64,
    /// Quarantined rows per reason (a row with two reasons counts under both).
    pub by_reason: BTreeMap<ReasonCode, u64>,
    /// Sum of `product_ccf` over accepted rows.
    pub units: i128,
    /// Sum of `amount` over accepted rows, in cents.
    pub amount: i128,
    /// Sum of `volume_l` over accepted rows, in millionths of a litre.
    pub volume: i128,
}

impl FileSummary {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &FileSummary) {
        self.rows_read += other.rows_read;
        self.rows_accepted += other.rows_accepted;
        self.rows_quarantined += other.rows_quarantined;
        self.blank_lines += other.blank_lines;
        for (code, n) in &other.by_reason {
            *self.by_reason.entry(*code).or_default() += n;
        }
        self.units += other.units;
        self.amount += other.amount;
        self.volume += other.volume;
    }

    pub(crate) fn accept(&mut self, row: &OrderLine<'_>) {
        self.rows_read += 1;
        self.rows_accepted += 1;
        self.units += i128::from(row.units);
        self.amount += i128::from(row.amount);
        self.volume += i128::from(row.volume);
    }

    pub(crate) fn quarantine(&mut self, reasons: &[Reason]) {
        self.rows_read += 1;
        self.rows_quarantined += 1;
        let mut codes: Vec<ReasonCode> = reasons.iter().map(|r| r.code).collect();
        codes.sort_unstable();
        codes.dedup();
        for c in codes {
            *self.by_reason.entry(c).or_default() += 1;
        }
    }

    /// True when the quarantined share is strictly above `ppm` parts per million.
    pub fn over_threshold(&self, ppm: u32) -> bool {
        u128::from(self.rows_quarantined) * 1_000_000 > u128::from(self.rows_read) * u128::from(ppm)
    }
}
