//! The ingestion routes: which files landed, which were refused, which rows went to
//! quarantine, and the data quality per day and source.
//!
//! | route | parameters | sorted by |
//! |---|---|---|
//! | `GET /ingestions` | `outcome`, `from`, `to`, `limit`, `next_token` | newest first: `ingested_at`, `file_id` descending |
//! | `GET /ingestions/{file_id}` | | |
//! | `GET /ingestions/{file_id}/quarantine` | `limit`, `next_token` | `record` |
//! | `GET /reports/data-quality` | `from`, `to` | day, then source prefix |
//!
//! They read the lake's manifests through an [`IngestionSource`] (in practice a
//! [`duff_lake::IngestionIndex`]: manifests held in memory, listed again at most once per
//! refresh interval, only new or not-yet-published ones read again) and, for one file's
//! quarantine, that file's own quarantine objects: never the lake's history.
//!
//! Paging tokens are opaque and tamper-evident like those of `/clients/{client_id}/orders`
//! (HMAC-SHA-256 with the router's [`TokenKey`], bound to the route, its filters and, for a
//! file's quarantine, the file).

use crate::engine::EngineError;
use crate::error::ApiError;
use crate::http::{AppState, Params, RequestId, positive_limit};
use crate::token::TokenKey;
use axum::Router;
use axum::extract::{Extension, RawQuery, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use duff_core::{FileId, Manifest, Outcome, Table};
use duff_lake::{
    Day, IngestionFilter, IngestionIndex, IngestionKey, Ingestions, QuarantinePage, QuarantineQuery, Store,
};
use hmac::Mac;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The default page size of the ingestion routes.
pub const DEFAULT_INGESTION_LIMIT: u32 = 100;

/// The raw text of a quarantined row is cut to this many bytes (at a character boundary)
/// before it is escaped.
pub const RAW_LIMIT: usize = 256;

/// Where the ingestion routes read the manifests and a file's quarantine. Implemented by
/// [`IngestionIndex`] over any store; blocking (the router calls it off the async threads).
pub trait IngestionSource: Send + Sync + std::fmt::Debug {
    /// Every file's manifest, from a listing at most one refresh interval old.
    ///
    /// # Errors
    /// The lake could not be listed or a manifest read.
    fn files(&self) -> duff_lake::Result<Arc<Ingestions>>;

    /// A page of the quarantined rows of the file `manifest` describes.
    ///
    /// # Errors
    /// A quarantine object could not be read.
    fn quarantine(&self, manifest: &Manifest, q: &QuarantineQuery) -> duff_lake::Result<QuarantinePage>;
}

impl<S: Store + 'static> IngestionSource for IngestionIndex<S> {
    fn files(&self) -> duff_lake::Result<Arc<Ingestions>> {
        IngestionIndex::files(self)
    }

    fn quarantine(&self, manifest: &Manifest, q: &QuarantineQuery) -> duff_lake::Result<QuarantinePage> {
        IngestionIndex::quarantine(self, manifest, q)
    }
}

/// The ingestion routes, to be merged into the API's router (their state is its state).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ingestions", get(list))
        .route("/ingestions/{file_id}", get(one))
        .route("/ingestions/{file_id}/quarantine", get(quarantine))
        .route("/reports/data-quality", get(data_quality))
}

fn lake_error(e: duff_lake::Error) -> ApiError {
    ApiError::Engine(EngineError::Lake(Box::new(e)))
}

/// Runs `f` on the source off the async threads (a store's reads block).
async fn blocking<T: Send + 'static>(
    st: &AppState,
    f: impl FnOnce(&dyn IngestionSource) -> duff_lake::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let Some(source) = st.ingestions.clone() else {
        return Err(ApiError::Engine(EngineError::Lake("this API reads no manifests".into())));
    };
    match tokio::task::spawn_blocking(move || f(source.as_ref())).await {
        Ok(r) => r.map_err(lake_error),
        Err(e) => Err(ApiError::Engine(EngineError::Internal(Box::new(e)))),
    }
}

fn reply<T: Serialize>(r: Result<T, ApiError>, id: &RequestId) -> Response {
    match r {
        Ok(body) => axum::Json(body).into_response(),
        Err(e) => e.into_response_for(&id.0),
    }
}

// ---------------------------------------------------------------------------------------
// Paging tokens

const TOKEN_VERSION: u8 = 1;
const TAG_LEN: usize = 16;

/// `base64url(version ‖ payload ‖ tag)`, the tag over the route's scope and the payload.
fn seal(key: &TokenKey, scope: &[u8], payload: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(1 + payload.len() + TAG_LEN);
    bytes.push(TOKEN_VERSION);
    bytes.extend_from_slice(payload);
    if let Some(mut mac) = key.mac() {
        mac.update(b"duff-ingestions\0");
        mac.update(&[TOKEN_VERSION]);
        mac.update(&(scope.len() as u64).to_be_bytes());
        mac.update(scope);
        mac.update(payload);
        bytes.extend_from_slice(&mac.finalize().into_bytes()[..TAG_LEN]);
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The payload of `token` when `key` sealed it for `scope` and it is `len` bytes long.
fn open(key: &TokenKey, scope: &[u8], token: &str, len: usize) -> Option<Vec<u8>> {
    if token.len() > 128 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    if bytes.len() != 1 + len + TAG_LEN || bytes[0] != TOKEN_VERSION {
        return None;
    }
    let payload = &bytes[1..=len];
    let mut mac = key.mac()?;
    mac.update(b"duff-ingestions\0");
    mac.update(&[TOKEN_VERSION]);
    mac.update(&(scope.len() as u64).to_be_bytes());
    mac.update(scope);
    mac.update(payload);
    mac.verify_truncated_left(&bytes[1 + len..]).ok()?;
    Some(payload.to_vec())
}

fn bad_token() -> ApiError {
    ApiError::bad("next_token", "is not a token of this query (filters changed?)")
}

// ---------------------------------------------------------------------------------------
// Parameters

fn limit_of(p: &Params) -> Result<usize, ApiError> {
    Ok(match p.get("limit") {
        Some(l) => positive_limit(l)? as usize,
        None => DEFAULT_INGESTION_LIMIT as usize,
    })
}

fn day_of(p: &Params, name: &'static str) -> Result<Option<Day>, ApiError> {
    p.get(name).map(|v| Day::parse(v).ok_or_else(|| ApiError::bad(name, "must be a date YYYY-MM-DD (UTC)"))).transpose()
}

fn filter_of(p: &Params) -> Result<IngestionFilter, ApiError> {
    let outcome = match p.get("outcome") {
        None => None,
        Some(v) => Some(
            [Outcome::Published, Outcome::Rejected, Outcome::Failed]
                .into_iter()
                .find(|o| o.as_str().eq_ignore_ascii_case(v))
                .ok_or_else(|| ApiError::bad("outcome", "must be one of published, rejected, failed"))?,
        ),
    };
    Ok(IngestionFilter { outcome, from: day_of(p, "from")?, to: day_of(p, "to")? })
}

/// The file id of `/ingestions/{file_id}...`, read from the path as sent (hex digits only).
fn file_id_of(uri: &Uri) -> Result<FileId, ApiError> {
    let segment = uri.path().split('/').nth(2).unwrap_or("");
    FileId::parse(segment).ok_or_else(|| ApiError::bad("file_id", "must be 32 lowercase hexadecimal digits"))
}

// ---------------------------------------------------------------------------------------
// Bodies

#[derive(Serialize)]
struct TotalsBody<'a> {
    units: &'a str,
    amount: &'a str,
    volume_l: &'a str,
}

/// A file's line in the listing.
#[derive(Serialize)]
struct Summary<'a> {
    file_id: &'a str,
    source: &'a str,
    ingested_at: &'a str,
    ingest_date: &'a str,
    outcome: &'static str,
    message: Option<&'a str>,
    bytes: u64,
    rows_read: u64,
    rows_accepted: u64,
    rows_quarantined: u64,
    quarantined_share: String,
    quarantined_by_reason: &'a BTreeMap<String, u64>,
    totals: TotalsBody<'a>,
}

/// `rows_quarantined / rows_read` with exactly 6 decimals, rounded half to even (`"0"` of
/// nothing read: `"0.000000"`).
fn share(quarantined: u64, read: u64) -> String {
    let ppm = duff_core::reports::ratio6(i128::from(quarantined), i128::from(read)).unwrap_or(0);
    duff_core::format_scaled(ppm, 6)
}

fn summary(m: &Manifest) -> Summary<'_> {
    Summary {
        file_id: &m.file_id,
        source: &m.source,
        ingested_at: &m.ingested_at,
        ingest_date: &m.ingest_date,
        outcome: m.outcome.as_str(),
        message: m.message.as_deref(),
        bytes: m.bytes,
        rows_read: m.rows_read,
        rows_accepted: m.rows_accepted,
        rows_quarantined: m.rows_quarantined,
        quarantined_share: share(m.rows_quarantined, m.rows_read),
        quarantined_by_reason: &m.quarantined_by_reason,
        totals: TotalsBody { units: &m.totals.units, amount: &m.totals.amount, volume_l: &m.totals.volume_l },
    }
}

#[derive(Serialize)]
struct Listing<'a> {
    ingestions: Vec<Summary<'a>>,
    next_token: Option<String>,
}

fn listing_scope(f: &IngestionFilter) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(b"list\0");
    s.extend_from_slice(f.outcome.map_or("", Outcome::as_str).as_bytes());
    s.push(0);
    s.extend_from_slice(f.from.map(|d| d.to_string()).unwrap_or_default().as_bytes());
    s.push(0);
    s.extend_from_slice(f.to.map(|d| d.to_string()).unwrap_or_default().as_bytes());
    s
}

/// `ingested_at_micros ‖ file_id` (8 + 32 bytes).
const LIST_PAYLOAD: usize = 8 + 32;

async fn list(State(st): State<AppState>, RawQuery(q): RawQuery, Extension(id): Extension<RequestId>) -> Response {
    let result = async {
        let p = Params::parse(q.as_deref(), &["outcome", "from", "to", "limit", "next_token"])?;
        let filter = filter_of(&p)?;
        let limit = limit_of(&p)?;
        let scope = listing_scope(&filter);
        let after = match p.get("next_token") {
            None => None,
            Some(t) => {
                let payload = open(&st.tokens, &scope, t, LIST_PAYLOAD).ok_or_else(bad_token)?;
                let (micros, file_id) = payload.split_at(8);
                let micros = i64::from_be_bytes(micros.try_into().map_err(|_| bad_token())?);
                let file_id = std::str::from_utf8(file_id).ok().and_then(FileId::parse).ok_or_else(bad_token)?;
                Some(IngestionKey { ingested_at_micros: micros, file_id })
            }
        };
        let files = blocking(&st, |s| s.files()).await?;
        let (page, next) = files.page(&filter, after.as_ref(), limit);
        let next_token = next.map(|k| {
            let mut payload = Vec::with_capacity(LIST_PAYLOAD);
            payload.extend_from_slice(&k.ingested_at_micros.to_be_bytes());
            payload.extend_from_slice(k.file_id.as_str().as_bytes());
            seal(&st.tokens, &scope, &payload)
        });
        let body = Listing { ingestions: page.iter().map(|m| summary(m)).collect(), next_token };
        Ok::<_, ApiError>(serde_json::to_value(body).map_err(|e| EngineError::Internal(Box::new(e)))?)
    }
    .await;
    reply(result, &id)
}

#[derive(Serialize)]
struct FileErrorBody<'a> {
    code: &'a str,
    message: &'a str,
    line: Option<u64>,
    byte: Option<u64>,
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    line: u64,
    reason_codes: &'a [String],
    message: &'a str,
    raw: String,
}

#[derive(Serialize)]
struct Detail<'a> {
    #[serde(flatten)]
    summary: Summary<'a>,
    delimiter: Option<&'a str>,
    header: &'a [String],
    extra_columns: &'a [String],
    blank_lines: u64,
    reject_threshold: &'a str,
    error: Option<FileErrorBody<'a>>,
    sample_problems: Vec<ProblemBody<'a>>,
    /// Quarantined rows published in the quarantine table (0 for a refused file: nothing of
    /// it is published, its sample problems are what is kept).
    quarantine_rows_published: u64,
}

async fn one(
    State(st): State<AppState>,
    uri: Uri,
    RawQuery(q): RawQuery,
    Extension(id): Extension<RequestId>,
) -> Response {
    let result = async {
        let file_id = file_id_of(&uri)?;
        Params::parse(q.as_deref(), &[])?;
        let files = blocking(&st, |s| s.files()).await?;
        let m = files.get(&file_id).ok_or_else(|| ApiError::UnknownFile(file_id.to_string()))?;
        let body = Detail {
            summary: summary(m),
            delimiter: m.delimiter.as_deref(),
            header: &m.header,
            extra_columns: &m.extra_columns,
            blank_lines: m.blank_lines,
            reject_threshold: &m.reject_threshold,
            error: m.error.as_ref().map(|e| FileErrorBody {
                code: &e.code,
                message: &e.message,
                line: e.line,
                byte: e.byte,
            }),
            sample_problems: m
                .sample_problems
                .iter()
                .map(|p| ProblemBody {
                    line: p.line,
                    reason_codes: &p.reason_codes,
                    message: &p.message,
                    raw: escape(cut(&p.raw, RAW_LIMIT)),
                })
                .collect(),
            quarantine_rows_published: published_quarantine(m),
        };
        Ok::<_, ApiError>(serde_json::to_value(body).map_err(|e| EngineError::Internal(Box::new(e)))?)
    }
    .await;
    reply(result, &id)
}

fn published_quarantine(m: &Manifest) -> u64 {
    m.outputs.iter().filter(|o| o.table == Table::Quarantine).map(|o| o.rows).sum()
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The text with backslashes and control characters written visibly (`\\`, `\t`, `\r`,
/// `\n`, `\u{1b}`): what a terminal or a page shows is what the file held.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

#[derive(Serialize)]
struct QuarantineRowBody {
    line: i64,
    record: i64,
    byte: i64,
    reason_codes: Vec<String>,
    reasons: String,
    raw: String,
    raw_truncated: bool,
}

#[derive(Serialize)]
struct QuarantineBody<'a> {
    file_id: &'a str,
    source: &'a str,
    outcome: &'static str,
    raw_limit: usize,
    rows: Vec<QuarantineRowBody>,
    next_token: Option<String>,
}

async fn quarantine(
    State(st): State<AppState>,
    uri: Uri,
    RawQuery(q): RawQuery,
    Extension(id): Extension<RequestId>,
) -> Response {
    let result = async {
        let file_id = file_id_of(&uri)?;
        let p = Params::parse(q.as_deref(), &["limit", "next_token"])?;
        let limit = limit_of(&p)?;
        let mut scope = b"quarantine\0".to_vec();
        scope.extend_from_slice(file_id.as_str().as_bytes());
        let after_record = match p.get("next_token") {
            None => None,
            Some(t) => {
                let payload = open(&st.tokens, &scope, t, 8).ok_or_else(bad_token)?;
                Some(i64::from_be_bytes(payload.as_slice().try_into().map_err(|_| bad_token())?))
            }
        };
        let files = blocking(&st, |s| s.files()).await?;
        let m = files.get(&file_id).ok_or_else(|| ApiError::UnknownFile(file_id.to_string()))?.clone();
        let query = QuarantineQuery { after_record, limit, raw_limit: RAW_LIMIT };
        let manifest = m.clone();
        let page = blocking(&st, move |s| s.quarantine(&manifest, &query)).await?;
        let next_token = match (page.more, page.rows.last()) {
            (true, Some(last)) => Some(seal(&st.tokens, &scope, &last.record.to_be_bytes())),
            _ => None,
        };
        let rows = page
            .rows
            .into_iter()
            .map(|r| QuarantineRowBody {
                line: r.line,
                record: r.record,
                byte: r.byte,
                reason_codes: r.reason_codes,
                reasons: r.reasons,
                raw: escape(&r.raw),
                raw_truncated: r.raw_truncated,
            })
            .collect();
        let body = QuarantineBody {
            file_id: &m.file_id,
            source: &m.source,
            outcome: m.outcome.as_str(),
            raw_limit: RAW_LIMIT,
            rows,
            next_token,
        };
        Ok::<_, ApiError>(serde_json::to_value(body).map_err(|e| EngineError::Internal(Box::new(e)))?)
    }
    .await;
    reply(result, &id)
}

#[derive(Serialize)]
struct QualityRowBody {
    day: String,
    source_prefix: String,
    files: u64,
    published: u64,
    rejected: u64,
    failed: u64,
    rows_read: u64,
    rows_quarantined: u64,
    quarantined_share: String,
    quarantined_by_reason: BTreeMap<String, u64>,
}

#[derive(Serialize)]
struct Quality {
    rows: Vec<QualityRowBody>,
}

async fn data_quality(
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    Extension(id): Extension<RequestId>,
) -> Response {
    let result = async {
        let p = Params::parse(q.as_deref(), &["from", "to"])?;
        let filter = IngestionFilter { outcome: None, from: day_of(&p, "from")?, to: day_of(&p, "to")? };
        let files = blocking(&st, |s| s.files()).await?;
        let rows = files
            .data_quality(&filter)
            .into_iter()
            .map(|r| QualityRowBody {
                quarantined_share: share(r.rows_quarantined, r.rows_read),
                day: r.day,
                source_prefix: r.source_prefix,
                files: r.files,
                published: r.published,
                rejected: r.rejected,
                failed: r.failed,
                rows_read: r.rows_read,
                rows_quarantined: r.rows_quarantined,
                quarantined_by_reason: r.quarantined_by_reason,
            })
            .collect();
        Ok::<_, ApiError>(Quality { rows })
    }
    .await;
    reply(result, &id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_cuts() {
        assert_eq!(escape("a,b\tc\r\n\\\u{1b}é"), "a,b\\tc\\r\\n\\\\\\u{1b}é");
        assert_eq!(cut("aé", 2), "a");
        assert_eq!(share(1, 3), "0.333333");
        assert_eq!(share(0, 0), "0.000000");
        assert_eq!(share(2, 3), "0.666667");
    }

    #[test]
    fn tokens_are_bound_to_their_scope() {
        let k = TokenKey::new("k");
        let t = seal(&k, b"a", b"12345678");
        assert_eq!(open(&k, b"a", &t, 8).as_deref(), Some(&b"12345678"[..]));
        assert_eq!(open(&k, b"b", &t, 8), None);
        assert_eq!(open(&TokenKey::new("other"), b"a", &t, 8), None);
        assert_eq!(open(&k, b"a", &t, 7), None);
        assert_eq!(open(&k, b"a", "", 8), None);
    }
}
