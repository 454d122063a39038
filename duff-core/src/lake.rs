//! The lake's layout: file identities, deterministic object keys, Hive-style partitions.
//!
//! The same keys are used under a local directory and under an `s3://bucket/prefix`:
//!
//! ```text
//! manifests/<file_id>.json                                        one per file, written last (the commit)
//! fact_order_line/ingest_date=YYYY-MM-DD/<instant>_<file_id>.parquet  accepted order-line versions
//! quarantine/ingest_date=YYYY-MM-DD/<instant>_<file_id>.parquet       refused rows: line, raw text, reasons
//! dim_client/ingest_date=YYYY-MM-DD/<instant>_<file_id>.parquet       each file's view of each client
//! dim_product/ingest_date=YYYY-MM-DD/<instant>_<file_id>.parquet      each file's view of each product
//! dim_channel/dim_channel.parquet                                 static
//! dim_status/dim_status.parquet                                   static
//! ```
//!
//! `<instant>` is `ingested_at` as `YYYYMMDDTHHMMSS.ffffffZ`, `<file_id>` the content hash.
//! Every object is written under a key derived from the file's content and its ingest, so a
//! retry of the same event rewrites identical bytes, two ingests of the same content at
//! different instants never overwrite each other (the loser of the manifest commit removes
//! its objects), and ingests of different files never touch the same key: no coordination
//! is needed beyond the manifest's create-if-absent.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use std::fmt;
use xxhash_rust::xxh3::Xxh3Default;

/// A file's identity: the XXH3-128 hash of its bytes, as 32 lower-case hex digits.
///
/// XXH3 is not cryptographic; it identifies re-deliveries and re-uploads of the same
/// content (accidental collisions: ~2^-128 per pair), not adversarial inputs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct FileId(String);

impl FileId {
    /// The identity of `bytes`.
    pub fn of_bytes(bytes: &[u8]) -> FileId {
        FileId::from_hash(xxhash_rust::xxh3::xxh3_128(bytes))
    }

    fn from_hash(h: u128) -> FileId {
        FileId(format!("{h:032x}"))
    }

    /// Parses 32 hex digits.
    pub fn parse(s: &str) -> Option<FileId> {
        (s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            .then(|| FileId(s.to_owned()))
    }

    /// The hex text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Computes a [`FileId`] over bytes fed in pieces.
#[derive(Clone)]
pub struct FileHasher(Box<Xxh3Default>);

impl fmt::Debug for FileHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FileHasher")
    }
}

impl Default for FileHasher {
    fn default() -> Self {
        FileHasher(Box::new(Xxh3Default::new()))
    }
}

impl FileHasher {
    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The identity of everything fed.
    pub fn finish(&self) -> FileId {
        FileId::from_hash(self.0.digest128())
    }
}

/// What the core needs to know about a file besides its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// Content identity.
    pub file_id: FileId,
    /// Where the file came from (`s3://bucket/key` or a local path), for lineage.
    pub source: String,
    /// When it was ingested, in microseconds since the Unix epoch (UTC).
    pub ingested_at_micros: i64,
}

impl FileMeta {
    /// A file's metadata with `ingested_at` as a `DateTime`.
    pub fn new(file_id: FileId, source: impl Into<String>, ingested_at: DateTime<Utc>) -> FileMeta {
        FileMeta { file_id, source: source.into(), ingested_at_micros: ingested_at.timestamp_micros() }
    }

    /// `ingested_at` as a `DateTime`.
    pub fn ingested_at(&self) -> DateTime<Utc> {
        micros_to_datetime(self.ingested_at_micros)
    }

    /// The `ingest_date` partition value (`YYYY-MM-DD`, UTC).
    pub fn ingest_date(&self) -> String {
        self.ingested_at().format("%Y-%m-%d").to_string()
    }

    /// The order of file versions: "latest" is the greatest `(ingested_at, source, file_id)`.
    /// Equal instants (EventBridge times have whole seconds) are broken by the source key,
    /// then by the content hash, so every reader picks the same winner.
    pub fn version_key(&self) -> (i64, &str, &str) {
        (self.ingested_at_micros, self.source.as_str(), self.file_id.as_str())
    }
}

/// Microseconds since the epoch to a `DateTime` (saturating outside chrono's range).
pub fn micros_to_datetime(micros: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(micros).single().unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// RFC 3339 with microseconds and `Z`, as written in manifests.
pub fn format_instant(micros: i64) -> String {
    micros_to_datetime(micros).to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The local clock rule: an instant strictly after every earlier ingest, so that two files
/// ingested one after the other locally never tie even if the clock is coarse or steps back.
pub fn next_local_instant(now_micros: i64, latest_micros: Option<i64>) -> i64 {
    match latest_micros {
        Some(last) if now_micros <= last => last.saturating_add(1),
        _ => now_micros,
    }
}

/// A table of the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    /// Accepted order-line versions.
    FactOrderLine,
    /// Refused rows.
    Quarantine,
    /// Per-file client observations.
    DimClient,
    /// Per-file product observations.
    DimProduct,
    /// Static channel dimension.
    DimChannel,
    /// Static status dimension.
    DimStatus,
}

impl Table {
    /// The tables written for each file, in write order.
    pub const PER_FILE: [Table; 4] = [Table::FactOrderLine, Table::Quarantine, Table::DimClient, Table::DimProduct];

    /// The table's name (its top-level folder).
    pub const fn name(self) -> &'static str {
        match self {
            Table::FactOrderLine => "fact_order_line",
            Table::Quarantine => "quarantine",
            Table::DimClient => "dim_client",
            Table::DimProduct => "dim_product",
            Table::DimChannel => "dim_channel",
            Table::DimStatus => "dim_status",
        }
    }

    /// True for tables partitioned by `ingest_date` (one object per file).
    pub const fn is_per_file(self) -> bool {
        matches!(self, Table::FactOrderLine | Table::Quarantine | Table::DimClient | Table::DimProduct)
    }

    /// The object key of this table's data for `meta` (relative to the lake root).
    pub fn object_key(self, meta: &FileMeta) -> String {
        if self.is_per_file() {
            format!(
                "{}/ingest_date={}/{}_{}.parquet",
                self.name(),
                meta.ingest_date(),
                meta.ingested_at().format("%Y%m%dT%H%M%S%.6fZ"),
                meta.file_id
            )
        } else {
            format!("{0}/{0}.parquet", self.name())
        }
    }

    /// The object key of part `part` of this table's data for `meta`, for a file ingested
    /// in parts (see [`crate::fanout`]): part 0 has the [`object_key`](Self::object_key),
    /// part `k` adds `-k` with five digits (`..._<file_id>-00001.parquet`).
    pub fn part_key(self, meta: &FileMeta, part: usize) -> String {
        let key = self.object_key(meta);
        match (part, key.strip_suffix(".parquet")) {
            (0, _) | (_, None) => key,
            (k, Some(stem)) => format!("{stem}-{k:05}.parquet"),
        }
    }

    /// The object key of a static table.
    pub fn static_key(self) -> String {
        format!("{0}/{0}.parquet", self.name())
    }
}

/// The folder holding manifests.
pub const MANIFESTS: &str = "manifests";

/// The manifest key of a file (relative to the lake root).
pub fn manifest_key(file_id: &FileId) -> String {
    format!("{MANIFESTS}/{file_id}.json")
}

/// Decodes an object key as S3 puts it in event notifications: form-encoded, so `+` is a
/// space and `%XX` a byte (`a+b%2Bc.csv` is `a b+c.csv`). Returns `None` when the escapes
/// do not decode to UTF-8.
pub fn decode_s3_event_key(key: &str) -> Option<String> {
    let b = key.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> FileMeta {
        FileMeta {
            file_id: FileId::of_bytes(b"x"),
            source: "s3://raw/incoming/a.csv".into(),
            ingested_at_micros: 1_764_201_600_000_000, // 2025-11-27T00:00:00Z
        }
    }

    #[test]
    fn keys_are_hive_partitioned_and_deterministic() {
        let m = meta();
        assert_eq!(
            Table::FactOrderLine.object_key(&m),
            format!("fact_order_line/ingest_date=2025-11-27/20251127T000000.000000Z_{}.parquet", m.file_id)
        );
        assert_eq!(Table::DimStatus.object_key(&m), "dim_status/dim_status.parquet");
        assert_eq!(Table::FactOrderLine.part_key(&m, 0), Table::FactOrderLine.object_key(&m));
        assert_eq!(
            Table::Quarantine.part_key(&m, 12),
            format!("quarantine/ingest_date=2025-11-27/20251127T000000.000000Z_{}-00012.parquet", m.file_id)
        );
        assert_eq!(manifest_key(&m.file_id), format!("manifests/{}.json", m.file_id));
        assert_eq!(m.file_id.as_str().len(), 32);
        assert_eq!(FileId::parse(m.file_id.as_str()), Some(m.file_id.clone()));
        assert_eq!(FileId::parse("xyz"), None);
    }

    #[test]
    fn streaming_hash_equals_whole() {
        let data = b"client_id,client_name\n1,a\n".repeat(1000);
        let mut h = FileHasher::default();
        for c in data.chunks(7) {
            h.update(c);
        }
        assert_eq!(h.finish(), FileId::of_bytes(&data));
        assert_ne!(FileId::of_bytes(b"a"), FileId::of_bytes(b"b"));
    }

    #[test]
    fn local_instants_never_tie() {
        assert_eq!(next_local_instant(10, None), 10);
        assert_eq!(next_local_instant(10, Some(5)), 10);
        assert_eq!(next_local_instant(10, Some(10)), 11);
        assert_eq!(next_local_instant(3, Some(10)), 11);
        assert_eq!(format_instant(1_764_201_600_000_001), "2025-11-27T00:00:00.000001Z");
    }

    #[test]
    fn s3_event_keys_are_form_decoded() {
        assert_eq!(decode_s3_event_key("a+b%2Bc.csv").as_deref(), Some("a b+c.csv"));
        assert_eq!(decode_s3_event_key("caf%C3%A9.csv").as_deref(), Some("café.csv"));
        assert_eq!(decode_s3_event_key("100%25.csv").as_deref(), Some("100%.csv"));
        assert_eq!(decode_s3_event_key("incoming/x.csv").as_deref(), Some("incoming/x.csv"));
        assert_eq!(decode_s3_event_key("bad%FF.csv"), None);
        assert_eq!(decode_s3_event_key("trail%2").as_deref(), Some("trail%2"));
    }
}
