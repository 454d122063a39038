//! [`S3Store`]: the lake's [`Store`] over S3 (the `s3` feature), and what an S3 SDK failure
//! means ([`classify`]) for both the store and the ETL Lambda's downloads.
//!
//! The [`Store`] trait is synchronous (the ingest is CPU-bound, streaming, and shared with
//! the local pipeline); this implementation drives the SDK's futures with
//! [`Handle::block_on`]. It must therefore be called from a thread that is not running
//! async tasks: the Lambdas run the lake's steps in [`tokio::task::spawn_blocking`].
//!
//! - `put_if_absent` is a `PutObject` with `If-None-Match: *`: a `412` means another
//!   writer committed first (`Ok(false)`). This is the manifest commit.
//! - `put_file` streams the staged file: one `PutObject` below the multipart threshold,
//!   otherwise a multipart upload, aborted if any part fails.
//! - `copy` is a server-side `CopyObject` (the fan-out's merge moves parts' objects).
//! - Every failure is an [`Error::Store`] saying whether a retry may help.

use crate::{BoxError, Error, Result, Store};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use std::path::Path;
use tokio::runtime::Handle;

/// Objects at least this large are uploaded in parts (16 MiB).
pub const MULTIPART_THRESHOLD: u64 = 16 << 20;
/// The size of each part of a multipart upload (16 MiB; S3's minimum is 5 MiB).
pub const PART_SIZE: u64 = 16 << 20;

/// What an S3 failure means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Failure {
    /// Throttling, a 5xx, a timeout, a lost connection: a later attempt may succeed.
    Retryable,
    /// The object (or version) does not exist (404).
    NotFound,
    /// A precondition failed (412): the object is not the one the request named.
    PreconditionFailed,
    /// Anything else (403 access denied, 400...): retrying the same request will not help.
    Permanent,
}

/// Classifies an SDK error: what it means for the caller.
pub fn classify<E, R>(err: &SdkError<E, R>) -> S3Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HttpStatus,
{
    match err {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => S3Failure::Retryable,
        SdkError::DispatchFailure(d) if d.is_user() => S3Failure::Permanent,
        SdkError::DispatchFailure(_) => S3Failure::Retryable,
        SdkError::ServiceError(se) => {
            let status = se.raw().status_code();
            classify_service(status, err.code())
        }
        _ => S3Failure::Permanent,
    }
}

/// An [`Error::Store`] keeping the SDK error `e` as its source, retryable when S3 says a
/// retry may help; `full_key` is the object's S3 key.
fn sdk_error<E>(action: &'static str, full_key: String, e: SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let retryable = classify(&e) == S3Failure::Retryable;
    Error::Store { action, key: full_key, source: Box::new(e), retryable }
}

/// The status of a raw HTTP response (implemented for the SDK's response type).
pub trait HttpStatus {
    /// The HTTP status code.
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// Classifies a service error by its HTTP status and S3 error code.
pub fn classify_service(status: u16, code: Option<&str>) -> S3Failure {
    const RETRYABLE_CODES: [&str; 8] = [
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "InternalError",
        "ServiceUnavailable",
        // A concurrent conditional write on the same key: S3 asks the caller to retry.
        "ConditionalRequestConflict",
    ];
    match (status, code) {
        (_, Some(c)) if RETRYABLE_CODES.contains(&c) => S3Failure::Retryable,
        (404, _) | (_, Some("NoSuchKey" | "NoSuchVersion" | "NotFound")) => S3Failure::NotFound,
        (412, _) | (_, Some("PreconditionFailed")) => S3Failure::PreconditionFailed,
        (408 | 429, _) | (500..=599, _) => S3Failure::Retryable,
        _ => S3Failure::Permanent,
    }
}

/// A lake under `s3://bucket/prefix`.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    /// Empty, or ends with `/`.
    prefix: String,
    handle: Handle,
    multipart_threshold: u64,
    part_size: u64,
}

impl S3Store {
    /// The store rooted at `s3://bucket/prefix`, running the SDK's futures on `handle`.
    pub fn new(client: Client, bucket: impl Into<String>, prefix: &str, handle: Handle) -> S3Store {
        let prefix = prefix.trim_matches('/');
        let prefix = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
        S3Store {
            client,
            bucket: bucket.into(),
            prefix,
            handle,
            multipart_threshold: MULTIPART_THRESHOLD,
            part_size: PART_SIZE,
        }
    }

    /// Changes when uploads go multipart and the part size (S3 needs parts of 5 MiB or
    /// more except the last; tests use smaller ones against mocks).
    pub fn with_multipart(mut self, threshold: u64, part_size: u64) -> S3Store {
        self.multipart_threshold = threshold;
        self.part_size = part_size.max(1);
        self
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The full S3 key of a lake key.
    pub fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// [`sdk_error`] for the lake key `key`.
    fn err<E>(&self, action: &'static str, key: &str, e: SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        sdk_error(action, self.full_key(key), e)
    }

    /// A failure on this side of the request (reading the staged file...): not retryable.
    fn local_err(action: &'static str, full_key: &str, source: impl Into<BoxError>) -> Error {
        Error::Store { action, key: full_key.to_owned(), source: source.into(), retryable: false }
    }

    fn put_multipart(&self, key: &str, path: &Path, size: u64) -> Result<()> {
        let full = self.full_key(key);
        let created = self
            .handle
            .block_on(self.client.create_multipart_upload().bucket(&self.bucket).key(&full).send())
            .map_err(|e| self.err("starting the multipart upload of", key, e))?;
        let Some(upload_id) = created.upload_id else {
            return Err(Self::local_err("starting the multipart upload of", &full, "S3 returned no upload id"));
        };
        match self.upload_parts(&full, &upload_id, path, size) {
            Ok(parts) => {
                let done = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
                let completed = self.handle.block_on(
                    self.client
                        .complete_multipart_upload()
                        .bucket(&self.bucket)
                        .key(&full)
                        .upload_id(&upload_id)
                        .multipart_upload(done)
                        .send(),
                );
                completed.map(|_| ()).map_err(|e| {
                    self.abort(&full, &upload_id);
                    self.err("completing the multipart upload of", key, e)
                })
            }
            Err(e) => {
                self.abort(&full, &upload_id);
                Err(e)
            }
        }
    }

    fn upload_parts(&self, full: &str, upload_id: &str, path: &Path, size: u64) -> Result<Vec<CompletedPart>> {
        let mut parts = Vec::new();
        let mut offset = 0;
        let mut number = 1;
        while offset < size || (size == 0 && number == 1) {
            let len = self.part_size.min(size - offset);
            let body = self
                .handle
                .block_on(ByteStream::read_from().path(path).offset(offset).length(Length::Exact(len)).build())
                .map_err(|e| Self::local_err("reading the staged file for", full, e))?;
            let out = self
                .handle
                .block_on(
                    self.client
                        .upload_part()
                        .bucket(&self.bucket)
                        .key(full)
                        .upload_id(upload_id)
                        .part_number(number)
                        .content_length(i64::try_from(len).unwrap_or(i64::MAX))
                        .body(body)
                        .send(),
                )
                .map_err(|e| sdk_error("uploading a part of", full.to_owned(), e))?;
            parts.push(CompletedPart::builder().set_e_tag(out.e_tag).part_number(number).build());
            offset += len;
            number += 1;
        }
        Ok(parts)
    }

    /// Best effort: a failed abort leaves parts that the bucket's lifecycle rule
    /// (`AbortIncompleteMultipartUpload`) removes.
    fn abort(&self, full: &str, upload_id: &str) {
        let aborted = self
            .handle
            .block_on(self.client.abort_multipart_upload().bucket(&self.bucket).key(full).upload_id(upload_id).send());
        if let Err(e) = aborted {
            tracing::warn!(key = full, error = %aws_sdk_s3::error::DisplayErrorContext(&e), "aborting a multipart upload failed");
        }
    }
}

impl S3Store {
    /// A GET, ranged when `range` is given (`bytes=...`): the bytes and the object's size
    /// (from `Content-Range`, else the bytes' length when the whole object came back).
    fn get_ranged(&self, key: &str, range: Option<&str>) -> Result<Option<(Vec<u8>, u64)>> {
        let request = self.client.get_object().bucket(&self.bucket).key(self.full_key(key));
        let got = self.handle.block_on(request.set_range(range.map(str::to_owned)).send());
        let out = match got {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) if classify(&e) == S3Failure::NotFound => return Ok(None),
            Err(e) => return Err(self.err("reading", key, e)),
        };
        let size = out.content_range().and_then(|r| r.rsplit('/').next()).and_then(|n| n.parse::<u64>().ok());
        // A body cut mid-way: the GET again may succeed.
        let bytes = self.handle.block_on(out.body.collect()).map_err(|e| Error::Store {
            action: "reading",
            key: self.full_key(key),
            source: Box::new(e),
            retryable: true,
        })?;
        let bytes = bytes.to_vec();
        let size = size.unwrap_or(bytes.len() as u64);
        Ok(Some((bytes, size)))
    }
}

impl Store for S3Store {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.get_ranged(key, None)?.map(|(bytes, _)| bytes))
    }

    fn get_range(&self, key: &str, start: u64, len: u64) -> Result<Option<Vec<u8>>> {
        if len == 0 {
            return Ok(Some(Vec::new()));
        }
        let range = format!("bytes={start}-{}", start.saturating_add(len) - 1);
        Ok(self.get_ranged(key, Some(&range))?.map(|(bytes, _)| bytes))
    }

    fn get_tail(&self, key: &str, len: u64) -> Result<Option<(Vec<u8>, u64)>> {
        if len == 0 {
            return Ok(self.get(key)?.map(|b| {
                let n = b.len() as u64;
                (Vec::new(), n)
            }));
        }
        self.get_ranged(key, Some(&format!("bytes=-{len}")))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let mut pages =
            self.client.list_objects_v2().bucket(&self.bucket).prefix(self.full_key(prefix)).into_paginator().send();
        let mut keys = Vec::new();
        while let Some(page) = self.handle.block_on(pages.next()) {
            let page = page.map_err(|e| self.err("listing", prefix, e))?;
            for obj in page.contents() {
                if let Some(rel) = obj.key().and_then(|k| k.strip_prefix(self.prefix.as_str())) {
                    keys.push(rel.to_owned());
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    fn list_modified(&self, prefix: &str) -> Result<Vec<crate::store::Listed>> {
        let mut pages =
            self.client.list_objects_v2().bucket(&self.bucket).prefix(self.full_key(prefix)).into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = self.handle.block_on(pages.next()) {
            let page = page.map_err(|e| self.err("listing", prefix, e))?;
            for obj in page.contents() {
                if let Some(rel) = obj.key().and_then(|k| k.strip_prefix(self.prefix.as_str())) {
                    let modified = obj.last_modified().and_then(|t| std::time::SystemTime::try_from(*t).ok());
                    out.push(crate::store::Listed { key: rel.to_owned(), modified });
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn put_file(&self, key: &str, path: &Path) -> Result<()> {
        let size = std::fs::metadata(path)
            .map_err(|e| Error::Io { action: "reading the size of", path: path.to_owned(), source: e })?
            .len();
        if size >= self.multipart_threshold {
            return self.put_multipart(key, path, size);
        }
        let body = self
            .handle
            .block_on(ByteStream::from_path(path))
            .map_err(|e| Self::local_err("reading the staged file for", &self.full_key(key), e))?;
        self.handle
            .block_on(self.client.put_object().bucket(&self.bucket).key(self.full_key(key)).body(body).send())
            .map(|_| ())
            .map_err(|e| self.err("writing", key, e))
    }

    fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let body = ByteStream::from(bytes.to_vec());
        self.handle
            .block_on(self.client.put_object().bucket(&self.bucket).key(self.full_key(key)).body(body).send())
            .map(|_| ())
            .map_err(|e| self.err("writing", key, e))
    }

    fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<bool> {
        let body = ByteStream::from(bytes.to_vec());
        let put = self.handle.block_on(
            self.client.put_object().bucket(&self.bucket).key(self.full_key(key)).if_none_match("*").body(body).send(),
        );
        match put {
            Ok(_) => Ok(true),
            Err(e) if classify(&e) == S3Failure::PreconditionFailed => Ok(false),
            Err(e) => Err(self.err("creating", key, e)),
        }
    }

    /// A server-side `CopyObject` (the bytes never pass through the function). One request
    /// copies up to 5 GB: a part's Parquet is far below (parts are at most `RangeBytes` of CSV).
    fn copy(&self, from: &str, to: &str) -> Result<()> {
        let source = format!("{}/{}", self.bucket, self.full_key(from));
        let encoded: String = source
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        let copied = self.handle.block_on(
            self.client.copy_object().bucket(&self.bucket).key(self.full_key(to)).copy_source(encoded).send(),
        );
        match copied {
            Ok(_) => Ok(()),
            Err(e) if classify(&e) == S3Failure::NotFound => Err(Error::MissingObject { key: from.to_owned() }),
            Err(e) => Err(self.err("copying into", to, e)),
        }
    }

    fn delete(&self, key: &str) -> Result<()> {
        let deleted =
            self.handle.block_on(self.client.delete_object().bucket(&self.bucket).key(self.full_key(key)).send());
        match deleted {
            Ok(_) => Ok(()),
            Err(e) if classify(&e) == S3Failure::NotFound => Ok(()),
            Err(e) => Err(self.err("removing", key, e)),
        }
    }

    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix.trim_end_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_errors_are_classified_by_status_and_code() {
        assert_eq!(classify_service(503, Some("SlowDown")), S3Failure::Retryable);
        assert_eq!(classify_service(500, None), S3Failure::Retryable);
        assert_eq!(classify_service(429, None), S3Failure::Retryable);
        assert_eq!(classify_service(400, Some("RequestTimeout")), S3Failure::Retryable);
        assert_eq!(classify_service(409, Some("ConditionalRequestConflict")), S3Failure::Retryable);
        assert_eq!(classify_service(403, Some("AccessDenied")), S3Failure::Permanent);
        assert_eq!(classify_service(404, Some("NoSuchKey")), S3Failure::NotFound);
        assert_eq!(classify_service(404, None), S3Failure::NotFound);
        assert_eq!(classify_service(412, Some("PreconditionFailed")), S3Failure::PreconditionFailed);
        assert_eq!(classify_service(400, Some("InvalidArgument")), S3Failure::Permanent);
    }
}
