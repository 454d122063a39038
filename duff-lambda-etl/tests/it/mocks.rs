//! S3 faults with `aws-smithy-mocks`: retries, a cut stream, a lost commit race, access denied,
//! multipart uploads.

use aws_sdk_s3::Client;
use aws_sdk_s3::operation::abort_multipart_upload::AbortMultipartUploadOutput;
use aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput;
use aws_sdk_s3::operation::create_multipart_upload::CreateMultipartUploadOutput;
use aws_sdk_s3::operation::delete_object::DeleteObjectOutput;
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::operation::upload_part::UploadPartOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::error::NoSuchKey;
use aws_smithy_mocks::{MockResponse, RuleMode, mock, mock_client};
use bytes::Bytes;
use duff_core::{FileId, IngestConfig};
use duff_lake::{LakeLocation, S3Store};
use duff_lake::{LocalLake, Store};
use duff_lambda_etl::download::{DownloadPolicy, download};
use duff_lambda_etl::event::ObjectRef;
use duff_lambda_etl::{Config, Deps, RecordOutcome, handle};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

const ETAG: &str = "9b2cf535f27731c974343645a3985328";

fn csv() -> Vec<u8> {
    std::fs::read(duff_testkit::sample("orders.csv")).unwrap()
}

/// A body that yields some bytes, then (optionally) a connection reset or a stall.
struct CutBody {
    data: Option<Bytes>,
    cut: bool,
    stall: bool,
}

impl http_body::Body for CutBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        if let Some(d) = self.data.take() {
            return Poll::Ready(Some(Ok(http_body::Frame::data(d))));
        }
        if self.stall {
            return Poll::Pending; // never woken: only the stall timeout ends the wait
        }
        if self.cut {
            self.cut = false;
            let e = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset by peer");
            return Poll::Ready(Some(Err(e)));
        }
        Poll::Ready(None)
    }
}

fn body(bytes: &[u8], cut: bool) -> ByteStream {
    ByteStream::from_body_1_x(CutBody { data: Some(Bytes::copy_from_slice(bytes)), cut, stall: false })
}

fn whole_object(bytes: Vec<u8>) -> impl Fn() -> GetObjectOutput + Send + Sync + 'static {
    move || {
        GetObjectOutput::builder()
            .body(body(&bytes, false))
            .content_length(bytes.len() as i64)
            .e_tag(format!("\"{ETAG}\""))
            .build()
    }
}

fn object_ref(size: usize) -> ObjectRef {
    ObjectRef {
        bucket: "duff-raw".into(),
        key: "incoming/orders.csv".into(),
        version_id: None,
        etag: Some(ETAG.into()),
        size: Some(size as u64),
        event_time_micros: Some(1_795_770_000_000_000),
    }
}

fn s3_event(size: usize) -> serde_json::Value {
    serde_json::json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-27T09:00:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "EXAMPLE"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
               "bucket": {"name": "duff-raw", "ownerIdentity": {"principalId": "EXAMPLE"}, "arn": "arn:aws:s3:::duff-raw"},
               "object": {"key": "incoming/orders.csv", "size": size, "eTag": ETAG, "sequencer": "0A"}}
    }]})
}

fn quick() -> DownloadPolicy {
    DownloadPolicy { max_resumes: 2, first_backoff: Duration::from_millis(1), stall_timeout: Duration::from_secs(5) }
}

fn config(lake: LakeLocation, work: &std::path::Path) -> Config {
    Config { lake, ingest: IngestConfig::default(), work_dir: work.to_owned(), endpoint_url: None }
}

const ACCESS_DENIED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>R</RequestId></Error>"#;
const PRECONDITION_FAILED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message><Condition>If-None-Match</Condition></Error>"#;

#[tokio::test]
async fn get_503_twice_then_success() {
    let data = csv();
    let rule = mock!(Client::get_object)
        .match_requests(|r| r.if_match() == Some(&format!("\"{ETAG}\"")) && r.version_id().is_none())
        .sequence()
        .http_status(503, None)
        .times(2)
        .output(whole_object(data.clone()))
        .build();
    let client = mock_client!(aws_sdk_s3, RuleMode::Sequential, [&rule]);
    let dir = tempfile::tempdir().unwrap();
    let dl = download(&client, &object_ref(data.len()), dir.path(), &quick()).await.unwrap();
    assert_eq!(rule.num_calls(), 3);
    assert_eq!(std::fs::read(&dl.file).unwrap(), data);
    assert_eq!((dl.bytes, dl.resumes, dl.etag.as_deref()), (data.len() as u64, 0, Some(ETAG)));
}

#[tokio::test]
async fn a_stream_cut_half_way_is_resumed_with_a_ranged_get() {
    let data = csv();
    let half = data.len() / 2;
    let (first, rest) = (data[..half].to_vec(), data[half..].to_vec());
    let total = data.len();
    let cut = mock!(Client::get_object).match_requests(|r| r.range().is_none()).then_output(move || {
        GetObjectOutput::builder()
            .body(body(&first, true))
            .content_length(total as i64)
            .e_tag(format!("\"{ETAG}\""))
            .build()
    });
    let expected_range = format!("bytes={half}-");
    let resumed = mock!(Client::get_object)
        .match_requests(move |r| r.range() == Some(&expected_range) && r.if_match() == Some(&format!("\"{ETAG}\"")))
        .then_output(move || {
            GetObjectOutput::builder()
                .body(body(&rest, false))
                .content_length((total - half) as i64)
                .content_range(format!("bytes {half}-{}/{total}", total - 1))
                .e_tag(format!("\"{ETAG}\""))
                .build()
        });
    let client = mock_client!(aws_sdk_s3, RuleMode::Sequential, [&cut, &resumed]);
    let dir = tempfile::tempdir().unwrap();
    let dl = download(&client, &object_ref(total), dir.path(), &quick()).await.unwrap();
    assert_eq!((cut.num_calls(), resumed.num_calls(), dl.resumes), (1, 1, 1));
    assert_eq!(std::fs::read(&dl.file).unwrap(), data, "the pieces glue back to the object");
}

#[tokio::test]
async fn a_stalled_stream_is_resumed() {
    let data = csv();
    let half = data.len() / 2;
    let (first, rest) = (data[..half].to_vec(), data[half..].to_vec());
    let total = data.len();
    let stalled = mock!(Client::get_object).match_requests(|r| r.range().is_none()).then_output(move || {
        let stall = CutBody { data: Some(Bytes::copy_from_slice(&first)), cut: false, stall: true };
        GetObjectOutput::builder()
            .body(ByteStream::from_body_1_x(stall))
            .content_length(total as i64)
            .e_tag(format!("\"{ETAG}\""))
            .build()
    });
    let resumed = mock!(Client::get_object).match_requests(|r| r.range().is_some()).then_output(move || {
        GetObjectOutput::builder()
            .body(body(&rest, false))
            .content_length((total - half) as i64)
            .content_range(format!("bytes {half}-{}/{total}", total - 1))
            .e_tag(format!("\"{ETAG}\""))
            .build()
    });
    let client = mock_client!(aws_sdk_s3, RuleMode::Sequential, [&stalled, &resumed]);
    let dir = tempfile::tempdir().unwrap();
    let policy = DownloadPolicy { stall_timeout: Duration::from_millis(100), ..quick() };
    let dl = download(&client, &object_ref(total), dir.path(), &policy).await.unwrap();
    assert_eq!(dl.resumes, 1);
    assert_eq!(std::fs::read(&dl.file).unwrap(), data);
}

#[tokio::test]
async fn a_stream_cut_every_time_fails_retryably_and_publishes_nothing() {
    let data = csv();
    let total = data.len();
    // Every response delivers 100 bytes from where it was asked to start, then breaks.
    let always_cut = mock!(Client::get_object).then_compute_output(move |r| {
        let start: usize =
            r.range().and_then(|h| h.strip_prefix("bytes=")?.strip_suffix('-')?.parse().ok()).unwrap_or(0);
        let end = (start + 100).min(total);
        GetObjectOutput::builder()
            .body(body(&csv()[start..end], true))
            .content_length((total - start) as i64)
            .content_range(format!("bytes {start}-{}/{total}", total - 1))
            .e_tag(format!("\"{ETAG}\""))
            .build()
    });
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&always_cut]);
    let work = tempfile::tempdir().unwrap();
    let lake_dir = tempfile::tempdir().unwrap();
    let deps = Deps::with_client(config(LakeLocation::Dir(lake_dir.path().into()), work.path()), client)
        .unwrap()
        .with_download_policy(quick());
    let err = handle(&deps, &s3_event(total)).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(err.error_type(), "Duff.Retryable");
    assert!(err.to_string().contains("cut 3 times, last after 300 bytes"), "{err}");
    assert_eq!(always_cut.num_calls(), 3);
    assert!(LocalLake::open(lake_dir.path()).unwrap().manifests().unwrap().is_empty());
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0, "the partial download is removed");
}

#[tokio::test]
async fn the_handler_retries_503_and_ingests_the_exact_bytes() {
    let data = csv();
    let rule =
        mock!(Client::get_object).sequence().http_status(503, None).times(2).output(whole_object(data.clone())).build();
    let client = mock_client!(aws_sdk_s3, RuleMode::Sequential, [&rule]);
    let work = tempfile::tempdir().unwrap();
    let lake_dir = tempfile::tempdir().unwrap();
    let deps = Deps::with_client(config(LakeLocation::Dir(lake_dir.path().into()), work.path()), client).unwrap();
    let resp = handle(&deps, &s3_event(data.len())).await.unwrap();
    assert_eq!(resp.outcomes(), [RecordOutcome::Published]);
    assert_eq!(rule.num_calls(), 3);
    assert_eq!(resp.records[0].file_id.as_deref(), Some(FileId::of_bytes(&data).as_str()));
    let line = resp.records[0].reconciliation.as_deref().unwrap();
    assert!(line.starts_with("s3://duff-raw/incoming/orders.csv: published  read "), "{line}");
}

#[tokio::test]
async fn access_denied_is_reported_not_retried() {
    let rule = mock!(Client::get_object).sequence().http_status(403, Some(ACCESS_DENIED.into())).build();
    let client = mock_client!(aws_sdk_s3, RuleMode::Sequential, [&rule]);
    let work = tempfile::tempdir().unwrap();
    let lake_dir = tempfile::tempdir().unwrap();
    let deps = Deps::with_client(config(LakeLocation::Dir(lake_dir.path().into()), work.path()), client).unwrap();
    let resp = handle(&deps, &s3_event(10)).await.unwrap();
    assert_eq!(rule.num_calls(), 1, "a 403 is not retried by the SDK");
    assert_eq!(resp.outcomes(), [RecordOutcome::Error]);
    assert_eq!(resp.records[0].retryable, Some(false));
    let msg = resp.records[0].message.as_deref().unwrap();
    assert!(msg.contains("AccessDenied"), "{msg}");
}

#[tokio::test]
async fn an_object_overwritten_since_the_event_is_ignored() {
    let rule = mock!(Client::get_object).sequence().http_status(412, Some(PRECONDITION_FAILED.into())).build();
    let client = mock_client!(aws_sdk_s3, RuleMode::Sequential, [&rule]);
    let work = tempfile::tempdir().unwrap();
    let lake_dir = tempfile::tempdir().unwrap();
    let deps = Deps::with_client(config(LakeLocation::Dir(lake_dir.path().into()), work.path()), client).unwrap();
    let resp = handle(&deps, &s3_event(10)).await.unwrap();
    assert_eq!(resp.outcomes(), [RecordOutcome::Ignored]);
    assert!(resp.records[0].message.as_deref().unwrap().contains("overwritten"));
}

#[tokio::test]
async fn a_store_error_when_writing_is_retryable_when_s3_says_so() {
    let data = csv();
    let source = mock!(Client::get_object)
        .match_requests(|r| r.bucket() == Some("duff-raw"))
        .then_output(whole_object(data.clone()));
    let missing = mock!(Client::get_object).then_error(|| GetObjectError::NoSuchKey(NoSuchKey::builder().build()));
    let slow_down = mock!(Client::put_object).sequence().http_status(503, None).repeatedly().build();
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&source, &missing, &slow_down]);
    let work = tempfile::tempdir().unwrap();
    let lake = LakeLocation::S3 { bucket: "duff-lake".into(), prefix: "lake".into() };
    let deps = Deps::with_client(config(lake, work.path()), client).unwrap();
    let err = handle(&deps, &s3_event(data.len())).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    let d: lambda_runtime::Diagnostic = err.into();
    assert_eq!(d.error_type, "Duff.Retryable");
    assert!(
        d.error_message.contains("s3://duff-lake/lake") || d.error_message.contains("lake/"),
        "{}",
        d.error_message
    );
}

/// Another invocation of the same content committed first: the manifest write gets a 412,
/// this one removes the objects it put and reports a duplicate.
#[tokio::test]
async fn losing_the_manifest_commit_race_is_a_duplicate() {
    let data = csv();
    // The winner ingested the same content at another instant (another delivery).
    let local = tempfile::tempdir().unwrap();
    let staged = local.path().join("orders.csv");
    std::fs::write(&staged, &data).unwrap();
    let winner_lake = LocalLake::open(local.path().join("lake")).unwrap();
    let winner = winner_lake
        .ingest_file(&staged, "s3://duff-raw/incoming/orders.csv", 1_795_770_001_000_000, &IngestConfig::default())
        .unwrap();
    let winner_manifest = winner.manifest().clone();
    let manifest_key = format!("manifests/{}.json", winner_manifest.file_id);
    let winner_json = winner_lake.store().get(&manifest_key).unwrap().unwrap();

    let source = mock!(Client::get_object)
        .match_requests(|r| r.bucket() == Some("duff-raw"))
        .then_output(whole_object(data.clone()));
    let full_manifest_key = format!("lake/{manifest_key}");
    let manifest = mock!(Client::get_object)
        .match_requests(move |r| r.key() == Some(&full_manifest_key))
        .sequence()
        .error(|| GetObjectError::NoSuchKey(NoSuchKey::builder().build()))
        .output(move || GetObjectOutput::builder().body(ByteStream::from(winner_json.clone())).build())
        .repeatedly()
        .build();
    let missing = mock!(Client::get_object).then_error(|| GetObjectError::NoSuchKey(NoSuchKey::builder().build()));
    let commit = mock!(Client::put_object)
        .match_requests(|r| r.if_none_match() == Some("*"))
        .sequence()
        .http_status(412, Some(PRECONDITION_FAILED.into()))
        .build();
    let put = mock!(Client::put_object).then_output(|| PutObjectOutput::builder().build());
    let deleted = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&deleted);
    let delete = mock!(Client::delete_object)
        .match_requests(move |r| {
            seen.lock().unwrap().push(r.key().unwrap_or_default().to_owned());
            true
        })
        .then_output(|| DeleteObjectOutput::builder().build());
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&source, &manifest, &missing, &commit, &put, &delete]);
    let work = tempfile::tempdir().unwrap();
    let lake = LakeLocation::S3 { bucket: "duff-lake".into(), prefix: "lake".into() };
    let deps = Deps::with_client(config(lake, work.path()), client).unwrap();

    let resp = handle(&deps, &s3_event(data.len())).await.unwrap();
    assert_eq!(resp.outcomes(), [RecordOutcome::Duplicate]);
    assert_eq!(commit.num_calls(), 1);
    assert_eq!(resp.records[0].ingested_at.as_deref(), Some(winner_manifest.ingested_at.as_str()));
    let deleted = deleted.lock().unwrap().clone();
    assert_eq!(deleted.len(), winner_manifest.outputs.len(), "{deleted:?}");
    for key in &deleted {
        assert!(key.starts_with("lake/") && key.contains("20261127T090000.000000Z"), "only our objects: {key}");
        assert!(!winner_manifest.outputs.iter().any(|o| format!("lake/{}", o.key) == *key));
    }
}

/// Part numbers and lengths seen by the mocked `UploadPart`.
type SeenParts = Arc<Mutex<Vec<(i32, i64)>>>;

fn multipart_client(fail_part: Option<i32>) -> (Client, [aws_smithy_mocks::Rule; 4], SeenParts) {
    let parts = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&parts);
    let create = mock!(Client::create_multipart_upload)
        .match_requests(|r| r.bucket() == Some("duff-lake") && r.key() == Some("lake/big.parquet"))
        .then_output(|| CreateMultipartUploadOutput::builder().upload_id("up-1").build());
    let upload = mock!(Client::upload_part)
        .match_requests(move |r| {
            seen.lock().unwrap().push((r.part_number().unwrap_or(0), r.content_length().unwrap_or(-1)));
            r.upload_id() == Some("up-1")
        })
        .then_compute_response(move |r| {
            let n = r.part_number().unwrap_or(0);
            if Some(n) == fail_part {
                let meta = aws_sdk_s3::error::ErrorMetadata::builder().code("AccessDenied").message("denied").build();
                return MockResponse::Error(aws_sdk_s3::operation::upload_part::UploadPartError::generic(meta));
            }
            MockResponse::Output(UploadPartOutput::builder().e_tag(format!("\"part-{n}\"")).build())
        });
    let complete = mock!(Client::complete_multipart_upload)
        .match_requests(|r| {
            let parts = r.multipart_upload().map(|m| m.parts().len()).unwrap_or(0);
            r.upload_id() == Some("up-1") && parts == 3
        })
        .then_output(|| CompleteMultipartUploadOutput::builder().build());
    let abort = mock!(Client::abort_multipart_upload)
        .match_requests(|r| r.upload_id() == Some("up-1"))
        .then_output(|| AbortMultipartUploadOutput::builder().build());
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&create, &upload, &complete, &abort]);
    (client, [create, upload, complete, abort], parts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_files_are_uploaded_in_parts() {
    let (client, [create, upload, complete, abort], parts) = multipart_client(None);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.parquet");
    std::fs::write(&file, vec![7u8; 2500]).unwrap();
    let store =
        S3Store::new(client, "duff-lake", "lake/", tokio::runtime::Handle::current()).with_multipart(1000, 1000);
    tokio::task::spawn_blocking(move || store.put_file("big.parquet", &file)).await.unwrap().unwrap();
    assert_eq!((create.num_calls(), upload.num_calls(), complete.num_calls(), abort.num_calls()), (1, 3, 1, 0));
    assert_eq!(*parts.lock().unwrap(), [(1, 1000), (2, 1000), (3, 500)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_part_aborts_the_multipart_upload() {
    let (client, [_, _, complete, abort], _) = multipart_client(Some(2));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.parquet");
    std::fs::write(&file, vec![7u8; 2500]).unwrap();
    let store = S3Store::new(client, "duff-lake", "lake", tokio::runtime::Handle::current()).with_multipart(1000, 1000);
    let err = tokio::task::spawn_blocking(move || store.put_file("big.parquet", &file)).await.unwrap().unwrap_err();
    assert!(matches!(err, duff_lake::Error::Store { retryable: false, .. }), "{err}");
    assert_eq!((complete.num_calls(), abort.num_calls()), (0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_if_absent_maps_412_to_false() {
    let first = mock!(Client::put_object)
        .match_requests(|r| r.if_none_match() == Some("*") && r.key() == Some("m/x.json"))
        .sequence()
        .output(|| PutObjectOutput::builder().build())
        .http_status(412, Some(PRECONDITION_FAILED.into()))
        .build();
    let client = mock_client!(aws_sdk_s3, RuleMode::Sequential, [&first]);
    let store = S3Store::new(client, "duff-lake", "m", tokio::runtime::Handle::current());
    let results = tokio::task::spawn_blocking(move || {
        (store.put_if_absent("x.json", b"{}").unwrap(), store.put_if_absent("x.json", b"{}").unwrap())
    })
    .await
    .unwrap();
    assert_eq!(results, (true, false));
}

/// `{"action": "refresh_models"}`: an S3 5xx while reading the lake fails the invocation
/// retryably; an access error is reported, not retried; an empty lake rebuilds empty models.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshing_the_models_follows_the_error_policy() {
    let lake = || LakeLocation::S3 { bucket: "duff-lake".into(), prefix: "lake".into() };
    let refresh = serde_json::json!({"action": "refresh_models"});

    // The models are built from the serving state, brought up to date first: its head is
    // read before the manifests are listed.
    let slow_down = mock!(Client::list_objects_v2).sequence().http_status(503, None).repeatedly().build();
    let get_slow = mock!(Client::get_object).sequence().http_status(503, None).repeatedly().build();
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&slow_down, &get_slow]);
    let work = tempfile::tempdir().unwrap();
    let deps = Deps::with_client(config(lake(), work.path()), client).unwrap();
    let err = handle(&deps, &refresh).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(lambda_runtime::Diagnostic::from(err).error_type, "Duff.Retryable");

    let denied =
        mock!(Client::list_objects_v2).sequence().http_status(403, Some(ACCESS_DENIED.into())).repeatedly().build();
    let get_denied =
        mock!(Client::get_object).sequence().http_status(403, Some(ACCESS_DENIED.into())).repeatedly().build();
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&denied, &get_denied]);
    let deps = Deps::with_client(config(lake(), work.path()), client).unwrap();
    let resp = handle(&deps, &refresh).await.unwrap();
    assert_eq!(resp.trigger, Some(duff_lambda_etl::event::Trigger::RefreshModels));
    assert_eq!(resp.outcomes(), [RecordOutcome::Error]);
    assert_eq!(resp.records[0].retryable, Some(false));
    assert!(resp.models.is_none());

    // An empty lake: every model written, with no rows, and _build.json last.
    let written = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = written.clone();
    let empty = mock!(Client::list_objects_v2)
        .then_output(|| aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output::builder().build());
    let put = mock!(Client::put_object).then_compute_output(move |r| {
        seen.lock().unwrap().push(r.key().unwrap_or_default().to_owned());
        PutObjectOutput::builder().build()
    });
    // The serving state (its head, its first generation) is absent in an empty lake.
    let no_head = mock!(Client::get_object)
        .match_requests(|r| r.key().is_some_and(|k| k.starts_with("lake/serving/")))
        .then_error(|| GetObjectError::NoSuchKey(NoSuchKey::builder().build()));
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&empty, &put, &no_head]);
    let deps = Deps::with_client(config(lake(), work.path()), client).unwrap();
    let resp = handle(&deps, &refresh).await.unwrap();
    let models = resp.models.clone().unwrap_or_else(|| panic!("{resp:#?}"));
    assert!(models.tables.iter().all(|t| t.rows == 0), "{models:?}");
    let keys = written.lock().unwrap().clone();
    assert_eq!(keys.len(), models.tables.len() + 1);
    assert_eq!(keys.last().map(String::as_str), Some("lake/models/_build.json"));
    for t in &models.tables {
        assert!(keys.contains(&format!("lake/models/{0}/{0}.parquet", t.name)), "{keys:?}");
    }
}

const NO_SUCH_KEY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>"#;

/// The fan-out's merge copies parts' objects server-side: the source is URL-encoded under
/// the lake prefix; a missing source is `MissingObject`, a 5xx is retryable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_is_a_server_side_copy_with_mapped_errors() {
    use aws_sdk_s3::operation::copy_object::CopyObjectOutput;
    let ok = mock!(Client::copy_object)
        .match_requests(|r| {
            r.bucket() == Some("duff-lake")
                && r.key() == Some("lake/fact_order_line/ingest_date=2026-11-27/a b.parquet")
                && r.copy_source() == Some("duff-lake/lake/_fanout/f%C3%A9/fact_order_line-00001.parquet")
        })
        .then_output(|| CopyObjectOutput::builder().build());
    let missing = mock!(Client::copy_object).sequence().http_status(404, Some(NO_SUCH_KEY.into())).build();
    // The SDK retries a 5xx (standard mode: 3 attempts) before the store sees it.
    let unavailable = mock!(Client::copy_object).sequence().http_status(503, None).times(3).build();
    let client = mock_client!(aws_sdk_s3, RuleMode::Sequential, [&ok, &missing, &unavailable]);
    let store = S3Store::new(client, "duff-lake", "lake", tokio::runtime::Handle::current());
    let results = tokio::task::spawn_blocking(move || {
        let from = "_fanout/fé/fact_order_line-00001.parquet";
        let to = "fact_order_line/ingest_date=2026-11-27/a b.parquet";
        [store.copy(from, to), store.copy(from, to), store.copy(from, to)]
    })
    .await
    .unwrap();
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(
        matches!(&results[1], Err(duff_lake::Error::MissingObject { key }) if key.ends_with("00001.parquet")),
        "{:?}",
        results[1]
    );
    assert!(matches!(&results[2], Err(duff_lake::Error::Store { retryable: true, .. })), "{:?}", results[2]);
    assert_eq!((ok.num_calls(), missing.num_calls(), unavailable.num_calls()), (1, 1, 3));
}

/// A part's bytes: one ranged GET pinned by the ETag, resumed from where a cut stream
/// stopped, still within the part.
#[tokio::test]
async fn a_part_is_read_with_ranged_gets_resumed_within_the_part() {
    let data = csv();
    let (start, end) = (10usize, data.len() - 7);
    let half = start + (end - start) / 2;
    let total = data.len();
    let (first, rest) = (data[start..half].to_vec(), data[half..end].to_vec());
    let first_range = format!("bytes={start}-{}", end - 1);
    let cut = mock!(Client::get_object)
        .match_requests(move |r| r.range() == Some(&first_range) && r.if_match() == Some(&format!("\"{ETAG}\"")))
        .then_output(move || {
            GetObjectOutput::builder()
                .body(body(&first, true))
                .content_length((end - start) as i64)
                .content_range(format!("bytes {start}-{}/{total}", end - 1))
                .e_tag(format!("\"{ETAG}\""))
                .build()
        });
    let resumed_range = format!("bytes={half}-{}", end - 1);
    let resumed = mock!(Client::get_object)
        .match_requests(move |r| r.range() == Some(&resumed_range) && r.if_match() == Some(&format!("\"{ETAG}\"")))
        .then_output(move || {
            GetObjectOutput::builder()
                .body(body(&rest, false))
                .content_length((end - half) as i64)
                .content_range(format!("bytes {half}-{}/{total}", end - 1))
                .e_tag(format!("\"{ETAG}\""))
                .build()
        });
    let client = mock_client!(aws_sdk_s3, RuleMode::Sequential, [&cut, &resumed]);
    let got = duff_lambda_etl::download::get_range(&client, &object_ref(total), start as u64, end as u64, &quick())
        .await
        .unwrap();
    assert_eq!((cut.num_calls(), resumed.num_calls()), (1, 1));
    assert_eq!(got, data[start..end], "the part's bytes, exactly");
}

/// A store failure keeps the SDK's error as its cause (the S3 code, the request id) and
/// says whether a retry may help; the error chain of the response shows the code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_errors_keep_the_sdk_error_as_their_source() {
    use aws_sdk_s3::config::http::HttpResponse;
    use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
    let denied = mock!(Client::get_object).sequence().http_status(403, Some(ACCESS_DENIED.into())).build();
    let slow_down = mock!(Client::put_object).sequence().http_status(503, None).repeatedly().build();
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&denied, &slow_down]);
    let store = S3Store::new(client, "duff-lake", "lake", tokio::runtime::Handle::current());
    let (got, put) =
        tokio::task::spawn_blocking(move || (store.get("manifests/x.json"), store.put_bytes("x.json", b"{}")))
            .await
            .unwrap();
    let got = got.unwrap_err();
    assert!(
        matches!(&got, duff_lake::Error::Store { retryable: false, key, .. } if key == "lake/manifests/x.json"),
        "{got:?}"
    );
    let source = std::error::Error::source(&got).expect("the SDK error is kept");
    let sdk = source.downcast_ref::<SdkError<GetObjectError, HttpResponse>>().expect("as the SDK's own type");
    assert_eq!(sdk.code(), Some("AccessDenied"));
    let put = put.unwrap_err();
    assert!(matches!(&put, duff_lake::Error::Store { retryable: true, .. }), "{put:?}");
    assert!(std::error::Error::source(&put).is_some(), "{put:?}");
}

/// A failed download keeps the SDK's error as its cause.
#[tokio::test]
async fn a_download_error_keeps_the_sdk_error_as_its_source() {
    let rule = mock!(Client::get_object).sequence().http_status(403, Some(ACCESS_DENIED.into())).build();
    let client = mock_client!(aws_sdk_s3, RuleMode::Sequential, [&rule]);
    let dir = tempfile::tempdir().unwrap();
    let err = download(&client, &object_ref(10), dir.path(), &quick()).await.unwrap_err();
    assert_eq!(err.error_type(), "Duff.S3");
    assert_eq!(err.to_string(), "reading s3://duff-raw/incoming/orders.csv");
    let source = std::error::Error::source(&err).expect("the SDK error is kept");
    let sdk =
        source.downcast_ref::<aws_sdk_s3::error::SdkError<GetObjectError, aws_sdk_s3::config::http::HttpResponse>>();
    assert!(sdk.is_some(), "{source:?}");
    assert!(err.full_message().contains("AccessDenied"), "{}", err.full_message());
}

/// A part step whose ranged GET finds the object overwritten since the plan fails as the
/// GET failed (`Duff.SourceChanged`), not as a lake failure: the lake's error carries the
/// GET's, and the handler takes it back out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_of_an_object_overwritten_since_the_plan_fails_as_source_changed() {
    let data = csv();
    let whole = mock!(Client::get_object).match_requests(|r| r.range().is_none()).then_output(whole_object(data));
    let changed = mock!(Client::get_object)
        .match_requests(|r| r.range().is_some())
        .sequence()
        .http_status(412, Some(PRECONDITION_FAILED.into()))
        .repeatedly()
        .build();
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&whole, &changed]);
    let work = tempfile::tempdir().unwrap();
    let lake_dir = tempfile::tempdir().unwrap();
    let deps = Deps::with_client(config(LakeLocation::Dir(lake_dir.path().into()), work.path()), client).unwrap();
    let task = |range: serde_json::Value| {
        serde_json::json!({"bucket": "duff-raw", "key": "incoming/orders.csv", "etag": ETAG,
                           "event_time": "2026-11-27T09:00:00Z", "range": range})
    };
    let plan = handle(&deps, &task(serde_json::json!({"plan": true, "length": 200}))).await.unwrap();
    let ranges = plan.ranges.clone().unwrap_or_else(|| panic!("{plan:#?}"));
    let part = serde_json::to_value(&ranges[0]).unwrap();
    let err = handle(&deps, &task(part)).await.unwrap_err();
    assert_eq!(err.error_type(), "Duff.SourceChanged", "{}", err.full_message());
    assert!(!err.is_retryable());
    assert!(err.full_message().contains("PreconditionFailed"), "{}", err.full_message());
    assert_eq!(changed.num_calls(), 1, "a 412 is not retried");
}

/// `{"action": "update_serving"}` and `{"action": "rebuild_serving"}` fail the invocation on
/// every failure (the state machine retries `Duff.Retryable` and records the rest); an empty
/// lake answers no generation and nothing folded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serving_actions_fail_the_invocation_on_failures() {
    let lake = || LakeLocation::S3 { bucket: "duff-lake".into(), prefix: "lake".into() };
    let work = tempfile::tempdir().unwrap();
    for action in ["update_serving", "rebuild_serving"] {
        let event = serde_json::json!({ "action": action });
        let slow_down = mock!(Client::get_object).sequence().http_status(503, None).repeatedly().build();
        let list_slow = mock!(Client::list_objects_v2).sequence().http_status(503, None).repeatedly().build();
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&slow_down, &list_slow]);
        let deps = Deps::with_client(config(lake(), work.path()), client).unwrap();
        let err = handle(&deps, &event).await.unwrap_err();
        assert!(err.is_retryable(), "{action}: {err}");
        assert_eq!(lambda_runtime::Diagnostic::from(err).error_type, "Duff.Retryable", "{action}");

        let denied =
            mock!(Client::get_object).sequence().http_status(403, Some(ACCESS_DENIED.into())).repeatedly().build();
        let list_denied =
            mock!(Client::list_objects_v2).sequence().http_status(403, Some(ACCESS_DENIED.into())).repeatedly().build();
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&denied, &list_denied]);
        let deps = Deps::with_client(config(lake(), work.path()), client).unwrap();
        let err = handle(&deps, &event).await.unwrap_err();
        assert!(!err.is_retryable(), "{action}: {err}");
        assert_eq!(lambda_runtime::Diagnostic::from(err).error_type, "Duff.Lake", "{action}");

        let empty = mock!(Client::list_objects_v2)
            .then_output(|| aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output::builder().build());
        let absent = mock!(Client::get_object).then_error(|| GetObjectError::NoSuchKey(NoSuchKey::builder().build()));
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&empty, &absent]);
        let deps = Deps::with_client(config(lake(), work.path()), client).unwrap();
        let resp = handle(&deps, &event).await.unwrap();
        assert_eq!(serde_json::to_value(resp.trigger).unwrap(), action);
        let serving = resp.serving.unwrap_or_else(|| panic!("{action}: no serving report"));
        assert_eq!((serving.generation, serving.files_folded, serving.lines_changed), (None, 0, 0), "{action}");
    }
}
