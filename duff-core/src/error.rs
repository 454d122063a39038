//! The crate's one error type, shaped like the `csv` crate's: a boxed [`ErrorKind`]
//! with a [`Position`] where one applies.
//!
//! These are *file-level* errors: the whole file is refused. Problems with a single row
//! are not errors; they are [`crate::Reason`]s attached to a quarantined row.

use std::fmt;

/// A convenient alias for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The causes of `e` (its [`source`](std::error::Error::source) chain), each after `": "`;
/// empty when it has none. For logs and messages on one line, where the cause (a lake
/// object's key, the I/O error) matters as much as the error.
pub fn error_causes(e: &dyn std::error::Error) -> String {
    let mut out = String::new();
    for c in std::iter::successors(e.source(), |c| c.source()) {
        out.push_str(": ");
        out.push_str(&c.to_string());
    }
    out
}

/// `e`'s message followed by its causes ([`error_causes`]), on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    format!("{e}{}", error_causes(e))
}

/// Where in the input something happened.
///
/// `line` is 1-based and counts physical lines (the header is line 1; a quoted field with
/// a newline makes a record span several lines, and the record's line is the one it starts
/// on). `record` is 0-based and counts records, the header being record 0. `byte` is the
/// 0-based offset of the record's first byte in the file (a UTF-8 byte-order mark counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct Position {
    /// 1-based physical line where the record starts.
    pub line: u64,
    /// 0-based record index; the header is record 0.
    pub record: u64,
    /// 0-based byte offset of the record's first byte.
    pub byte: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, record {}, byte {}", self.line, self.record, self.byte)
    }
}

/// An error that refuses a whole file, or a failure to encode or decode tables.
#[derive(Debug)]
pub struct Error(Box<ErrorKind>);

impl Error {
    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }

    /// Consumes the error, returning its kind.
    pub fn into_kind(self) -> ErrorKind {
        *self.0
    }

    /// Where in the input the problem is, when it is about the input.
    pub fn position(&self) -> Option<&Position> {
        match &*self.0 {
            ErrorKind::UnterminatedQuote { pos }
            | ErrorKind::RecordTooLarge { pos, .. }
            | ErrorKind::MissingColumn { pos, .. }
            | ErrorKind::DuplicateColumn { pos, .. }
            | ErrorKind::NotCsvText { pos, .. }
            | ErrorKind::UnsupportedLineEnding { pos } => Some(pos),
            _ => None,
        }
    }

    /// A short stable machine-readable code for the kind (used in manifests).
    pub fn code(&self) -> &'static str {
        match &*self.0 {
            ErrorKind::NoHeader => "no_header",
            ErrorKind::NotCsvText { .. } => "not_csv_text",
            ErrorKind::UnsupportedLineEnding { .. } => "unsupported_line_ending",
            ErrorKind::MissingColumn { .. } => "missing_column",
            ErrorKind::DuplicateColumn { .. } => "duplicate_column",
            ErrorKind::UnterminatedQuote { .. } => "unterminated_quote",
            ErrorKind::RecordTooLarge { .. } => "record_too_large",
            ErrorKind::ContentMismatch { .. } => "content_mismatch",
            ErrorKind::Config { .. } => "invalid_config",
            ErrorKind::Internal { .. } => "internal",
            ErrorKind::Schema { .. } => "schema_mismatch",
            ErrorKind::Arrow(_) => "arrow",
            ErrorKind::Parquet(_) => "parquet",
            ErrorKind::Json(_) => "json",
            ErrorKind::Io(_) => "io",
        }
    }

    /// True when the error is about the file's content (it will fail again on retry),
    /// false when it is an encoding or I/O failure.
    pub fn is_input_error(&self) -> bool {
        matches!(
            &*self.0,
            ErrorKind::NoHeader
                | ErrorKind::NotCsvText { .. }
                | ErrorKind::UnsupportedLineEnding { .. }
                | ErrorKind::MissingColumn { .. }
                | ErrorKind::DuplicateColumn { .. }
                | ErrorKind::UnterminatedQuote { .. }
                | ErrorKind::RecordTooLarge { .. }
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &*self.0 {
            ErrorKind::Arrow(e) => Some(e),
            ErrorKind::Parquet(e) => Some(e),
            ErrorKind::Json(e) => Some(e),
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error(Box::new(kind))
    }
}

impl From<arrow_schema::ArrowError> for Error {
    fn from(e: arrow_schema::ArrowError) -> Self {
        ErrorKind::Arrow(e).into()
    }
}

impl From<parquet::errors::ParquetError> for Error {
    fn from(e: parquet::errors::ParquetError) -> Self {
        ErrorKind::Parquet(e).into()
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        ErrorKind::Json(e).into()
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        ErrorKind::Io(e).into()
    }
}

/// The kinds of [`Error`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file is empty (or only blank lines / a byte-order mark): there is no header.
    #[error("the file has no header line (it is empty)")]
    NoHeader,
    /// The content is not CSV text at all.
    #[error("not CSV text: {what} ({pos})")]
    NotCsvText {
        /// What was found instead, e.g. "gzip-compressed data".
        what: String,
        /// Where it was detected.
        pos: Position,
    },
    /// Lines end with a bare carriage return (classic Mac OS), which is not supported.
    #[error("lines end with a bare carriage return (CR); convert the file to LF or CRLF line endings ({pos})")]
    UnsupportedLineEnding {
        /// Where the first bare CR is.
        pos: Position,
    },
    /// A required column is absent from the header.
    #[error("required column `{name}` is missing from the header {header:?} ({pos})")]
    MissingColumn {
        /// The missing column.
        name: &'static str,
        /// The header as read (normalised names).
        header: Vec<String>,
        /// The header's position.
        pos: Position,
    },
    /// A required column appears twice in the header.
    #[error("required column `{name}` appears twice in the header, as fields {first} and {second} ({pos})")]
    DuplicateColumn {
        /// The duplicated column.
        name: &'static str,
        /// 1-based index of its first occurrence.
        first: usize,
        /// 1-based index of its second occurrence.
        second: usize,
        /// The header's position.
        pos: Position,
    },
    /// A quoted field is never closed: it would swallow every following row.
    #[error("a quoted field opened at {pos} is never closed before the end of the file")]
    UnterminatedQuote {
        /// The position of the record holding the opening quote.
        pos: Position,
    },
    /// A single record grew beyond the reader's limit (most likely a stray quote).
    #[error("a record starting at {pos} is larger than {limit} bytes (a stray quote?)")]
    RecordTooLarge {
        /// Where the record starts.
        pos: Position,
        /// The limit in bytes.
        limit: usize,
    },
    /// The content hash computed while reading differs from the identity given up front.
    #[error("the file's content hash is {actual}, but it was announced as {expected}")]
    ContentMismatch {
        /// The identity passed in.
        expected: String,
        /// The identity computed from the bytes read.
        actual: String,
    },
    /// An invalid configuration value (a setting given by the operator or the caller).
    #[error("invalid configuration `{name}`: {message}")]
    Config {
        /// The setting's name.
        name: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A broken invariant: a bug, or what one step of the pipeline hands the next (a plan,
    /// a part's output) not being what that step wrote. Never the input file's fault.
    #[error("internal failure in {what}: {message}")]
    Internal {
        /// What failed, e.g. `fan-out merge`.
        what: &'static str,
        /// The invariant that does not hold.
        message: String,
    },
    /// A table read back does not have the expected schema.
    #[error("table `{table}` does not have the expected schema: {message}")]
    Schema {
        /// The table.
        table: &'static str,
        /// What differs.
        message: String,
    },
    /// Building Arrow arrays failed.
    #[error("building Arrow data failed")]
    Arrow(#[source] arrow_schema::ArrowError),
    /// Encoding or decoding Parquet failed.
    #[error("Parquet encoding failed")]
    Parquet(#[source] parquet::errors::ParquetError),
    /// Encoding or decoding JSON failed.
    #[error("JSON encoding failed")]
    Json(#[source] serde_json::Error),
    /// Reading the input or writing output failed.
    #[error("I/O failed")]
    Io(#[source] std::io::Error),
}
