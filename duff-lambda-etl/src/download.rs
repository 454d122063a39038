//! Downloading exactly the object version an event names, streamed to a local file.
//!
//! - The first `GetObject` names the version (`versionId`) when the event has one, else it
//!   sends `If-Match` with the event's ETag: a `412` means the key was overwritten since
//!   the event (the new upload has its own event), a `404` that it was deleted.
//! - The body is written to a temporary file chunk by chunk: the object is never held in
//!   memory.
//! - A stream cut mid-way is resumed with a ranged `GetObject` (`Range: bytes=N-`) pinned
//!   to the ETag (and version) of the first response, so that the bytes glued together are
//!   those of one object. After [`DownloadPolicy::max_resumes`] cuts the download fails
//!   with a retryable error and nothing is published.
//! - A stream that stalls (no bytes for [`DownloadPolicy::stall_timeout`]) counts as cut.
//! - Request-level retries (5xx, throttling, timeouts) are the SDK's (standard mode).

use crate::error::{Error, Result, s3_error};
use crate::event::{ObjectRef, bare_etag};
use aws_sdk_s3::Client;
use duff_lake::{BoxError, S3Failure};
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// How hard to try when the body stream is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadPolicy {
    /// Ranged GETs allowed after cuts, for one download.
    pub max_resumes: u32,
    /// The pause before the first resume, doubled after each.
    pub first_backoff: Duration,
    /// How long the body may deliver nothing before the stream is treated as cut.
    pub stall_timeout: Duration,
}

impl Default for DownloadPolicy {
    fn default() -> Self {
        DownloadPolicy {
            max_resumes: 5,
            first_backoff: Duration::from_millis(200),
            stall_timeout: Duration::from_secs(30),
        }
    }
}

/// A downloaded object: a temporary file, removed when this is dropped.
#[derive(Debug)]
pub struct Downloaded {
    /// The local copy.
    pub file: tempfile::TempPath,
    /// Its size.
    pub bytes: u64,
    /// The object's ETag (bare), as S3 returned it.
    pub etag: Option<String>,
    /// The object's version, when versioned.
    pub version_id: Option<String>,
    /// The object's `Last-Modified`, in microseconds since the epoch.
    pub last_modified_micros: Option<i64>,
    /// How many times the stream was resumed.
    pub resumes: u32,
}

/// Where the bytes of a stream go.
enum Out<'a> {
    /// A local file.
    File(tokio::io::BufWriter<tokio::fs::File>),
    /// The fan-out's planner (hashes and scans as the bytes arrive, keeps nothing).
    Planner(&'a mut duff_core::fanout::Planner),
    /// Memory.
    Bytes(&'a mut Vec<u8>),
}

impl Out<'_> {
    async fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        match self {
            Out::File(f) => f.write_all(chunk).await,
            Out::Planner(p) => {
                p.push(chunk);
                Ok(())
            }
            Out::Bytes(v) => {
                v.extend_from_slice(chunk);
                Ok(())
            }
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Out::File(f) => f.flush().await,
            Out::Planner(_) | Out::Bytes(_) => Ok(()),
        }
    }
}

/// What a stream delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Streamed {
    /// Bytes delivered.
    pub bytes: u64,
    /// The object's ETag (bare), as S3 returned it.
    pub etag: Option<String>,
    /// The object's version, when versioned.
    pub version_id: Option<String>,
    /// The object's `Last-Modified`, in microseconds since the epoch.
    pub last_modified_micros: Option<i64>,
    /// How many times the stream was resumed.
    pub resumes: u32,
}

/// Downloads `obj` into a new temporary file in `dir`.
///
/// # Errors
/// [`Error::S3`] (retryable for transient failures and repeated cuts; `NotFound` /
/// `PreconditionFailed` when the object is gone or changed), [`Error::Io`] for local writes.
pub async fn download(client: &Client, obj: &ObjectRef, dir: &Path, policy: &DownloadPolicy) -> Result<Downloaded> {
    let io = |action: &'static str| move |source| Error::Io { action, path: dir.to_owned(), source };
    let tmp = tempfile::Builder::new()
        .prefix("duff-src-")
        .suffix(".csv")
        .tempfile_in(dir)
        .map_err(io("creating a file in"))?;
    let (std_file, path) = tmp.into_parts();
    let mut out = Out::File(tokio::io::BufWriter::with_capacity(1 << 20, tokio::fs::File::from_std(std_file)));
    let s = stream(client, obj, None, policy, &mut out).await.map_err(|e| match e {
        Error::Io { action, source, .. } => Error::Io { action, path: dir.to_owned(), source },
        e => e,
    })?;
    let Streamed { bytes, etag, version_id, last_modified_micros, resumes } = s;
    Ok(Downloaded { file: path, bytes, etag, version_id, last_modified_micros, resumes })
}

/// Streams the whole of `obj` through `planner` (the fan-out's plan): nothing is stored.
///
/// # Errors
/// As [`download`].
pub async fn plan_object(
    client: &Client,
    obj: &ObjectRef,
    policy: &DownloadPolicy,
    planner: &mut duff_core::fanout::Planner,
) -> Result<Streamed> {
    stream(client, obj, None, policy, &mut Out::Planner(planner)).await
}

/// Reads the bytes `[start, end)` of `obj` into memory (one part of a fanned-out file),
/// pinned to the object's version or ETag like [`download`].
///
/// # Errors
/// As [`download`].
pub async fn get_range(
    client: &Client,
    obj: &ObjectRef,
    start: u64,
    end: u64,
    policy: &DownloadPolicy,
) -> Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(usize::try_from(end.saturating_sub(start)).unwrap_or(0));
    if end > start {
        stream(client, obj, Some(start..end), policy, &mut Out::Bytes(&mut bytes)).await?;
    }
    Ok(bytes)
}

/// The stream of `obj` (or of `range` of it) into `out`, resumed after cuts.
async fn stream(
    client: &Client,
    obj: &ObjectRef,
    range: Option<std::ops::Range<u64>>,
    policy: &DownloadPolicy,
    out: &mut Out<'_>,
) -> Result<Streamed> {
    let io = |action: &'static str| move |source| Error::Io { action, path: obj.key.clone().into(), source };
    let base = range.as_ref().map_or(0, |r| r.start);
    let mut written: u64 = 0;
    let mut total: Option<u64> = match &range {
        Some(r) => Some(r.end - r.start),
        None => obj.size,
    };
    let mut etag: Option<String> = obj.etag.clone();
    let mut version_id = obj.version_id.clone();
    let mut last_modified_micros = None;
    let mut resumes = 0;
    let mut backoff = policy.first_backoff;
    loop {
        let mut req = client.get_object().bucket(&obj.bucket).key(&obj.key);
        if let Some(v) = &version_id {
            req = req.version_id(v);
        }
        // The first request pins the version, or else the event's ETag; a resume pins both.
        if let Some(e) = &etag
            && (written > 0 || version_id.is_none())
        {
            req = req.if_match(format!("\"{e}\""));
        }
        match &range {
            Some(r) => req = req.range(format!("bytes={}-{}", base + written, r.end - 1)),
            None if written > 0 => req = req.range(format!("bytes={written}-")),
            None => {}
        }
        let resp = req.send().await.map_err(|e| {
            let no_such_key = e.as_service_error().is_some_and(|s| s.is_no_such_key());
            let mut err = s3_error("reading", &obj.bucket, &obj.key, e);
            if let Error::S3 { failure, .. } = &mut err
                && no_such_key
            {
                *failure = S3Failure::NotFound;
            }
            err
        })?;
        let asked = base + written;
        if (written > 0 || range.is_some())
            && let Some(got) = resp.content_range()
            && !got.starts_with(&format!("bytes {asked}-"))
        {
            return Err(Error::S3 {
                action: "resuming",
                bucket: obj.bucket.clone(),
                key: obj.key.clone(),
                message: Some(format!("asked for bytes {asked}- and got '{got}'")),
                failure: S3Failure::Retryable,
                source: None,
            });
        }
        if written == 0 {
            etag = resp.e_tag().map(|e| bare_etag(e).to_owned()).or(etag);
            version_id = resp.version_id().map(str::to_owned).or(version_id);
            last_modified_micros = resp.last_modified().and_then(|t| t.to_millis().ok()).map(|ms| ms * 1000);
            if range.is_none()
                && let Some(len) = resp.content_length().and_then(|l| u64::try_from(l).ok())
            {
                total = Some(len);
            }
        }
        let mut body = resp.body;
        // Why the stream stopped before its end: the body's error, or a stall.
        let cut: Option<BoxError> = loop {
            let Ok(next) = tokio::time::timeout(policy.stall_timeout, body.next()).await else {
                break Some(format!("no data for {:?}", policy.stall_timeout).into());
            };
            match next {
                Some(Ok(chunk)) => {
                    out.write(&chunk).await.map_err(io("writing the download in"))?;
                    written += chunk.len() as u64;
                }
                Some(Err(e)) => break Some(Box::new(e)),
                None => break None,
            }
        };
        let short = total.is_some_and(|t| written < t);
        if cut.is_none() && !short {
            break;
        }
        if cut.is_some() && !short {
            // Every byte arrived but the stream still failed (a checksum validated at the
            // end, say): nothing to resume, the bytes cannot be trusted.
            return Err(Error::S3 {
                action: "reading",
                bucket: obj.bucket.clone(),
                key: obj.key.clone(),
                message: Some(format!("the stream failed after {written} bytes")),
                failure: S3Failure::Retryable,
                source: cut,
            });
        }
        let cut = cut.unwrap_or_else(|| "the body ended early".into());
        if resumes >= policy.max_resumes {
            return Err(Error::S3 {
                action: "reading",
                bucket: obj.bucket.clone(),
                key: obj.key.clone(),
                message: Some(format!("the stream was cut {} times, last after {written} bytes", resumes + 1)),
                failure: S3Failure::Retryable,
                source: Some(cut),
            });
        }
        resumes += 1;
        tracing::warn!(
            bucket = obj.bucket,
            key = obj.key,
            written,
            resumes,
            cause = %cut,
            "object stream cut, resuming with a ranged GET"
        );
        tokio::time::sleep(backoff).await;
        backoff = backoff.saturating_mul(2);
    }
    if let Some(t) = total
        && written != t
    {
        return Err(Error::S3 {
            action: "reading",
            bucket: obj.bucket.clone(),
            key: obj.key.clone(),
            message: Some(format!("got {written} bytes, the object has {t}")),
            failure: S3Failure::Retryable,
            source: None,
        });
    }
    out.flush().await.map_err(io("writing the download in"))?;
    Ok(Streamed { bytes: written, etag, version_id, last_modified_micros, resumes })
}
