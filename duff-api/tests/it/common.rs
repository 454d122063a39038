//! A lake in a temporary folder and a way to call the router over the engine under test
//! (`engine_under_test` of the test crate's `main.rs`). Shared with duff-sql's tests, which
//! run the route tests over DataFusion.

use axum::Router;
use axum::body::Body;
use chrono::{DateTime, TimeZone, Utc};
use duff_api::TokenKey;
use duff_core::{IngestConfig, Manifest, Outcome};
use duff_lake::{IngestResult, LocalLake};
use http_body_util::BodyExt;
use std::path::Path;
use tower::ServiceExt;

pub use duff_testkit::{csv_file, sample};

pub fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, hour, 0, 0).unwrap()
}

/// A lake holding the sample files, ingested one after the other (each followed by the
/// update of the serving state, as the pipeline and the ETL do).
pub fn lake_with(files: &[&str]) -> (tempfile::TempDir, LocalLake) {
    let dir = tempfile::tempdir().unwrap();
    let lake = LocalLake::open(dir.path()).unwrap();
    for (i, f) in files.iter().enumerate() {
        lake.ingest_path(&sample(f), &IngestConfig::default(), at(8 + i as u32)).unwrap();
        lake.update_serving().unwrap();
    }
    (dir, lake)
}

/// Ingests the file at `path` into the lake in `root` as `source`, at exactly `instant`
/// (two files may share one, as two S3 events of the same second do), by the lake's own
/// protocol, then updates the serving state. The file must be published.
pub fn ingest_path_at(root: &Path, path: &Path, source: &str, instant: DateTime<Utc>) -> Manifest {
    let lake = LocalLake::open(root).unwrap();
    let m = match lake.ingest_file(path, source, instant.timestamp_micros(), &IngestConfig::default()).unwrap() {
        IngestResult::Ingested(m) if m.outcome == Outcome::Published => m,
        other => panic!("{source}: not published: {other:?}"),
    };
    lake.update_serving().unwrap();
    m
}

/// The same for the orders file `csv` (see [`csv_file`]).
pub fn ingest_at(root: &Path, source: &str, instant: DateTime<Utc>, csv: &str) -> Manifest {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), csv).unwrap();
    ingest_path_at(root, file.path(), source, instant)
}

/// The router over the engine under test on the lake in `root`.
pub fn app(root: &Path) -> Router {
    app_with_key(root, "test secret")
}

/// The same, signing paging tokens with the key `secret`.
pub fn app_with_key(root: &Path, secret: &str) -> Router {
    duff_api::router(crate::engine_under_test(root), TokenKey::new(secret))
}

pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub json: serde_json::Value,
}

pub async fn call(app: &Router, method: &str, uri: &str) -> Reply {
    let req = http::Request::builder().method(method).uri(uri).body(Body::empty()).unwrap();
    send(app, req).await
}

/// The status, headers and body bytes of the router's answer to `req`.
pub async fn raw(app: &Router, req: http::Request<Body>) -> (u16, http::HeaderMap, axum::body::Bytes) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.into_body().collect().await.unwrap().to_bytes())
}

/// The router's answer to `req`, its body parsed as JSON (`Null` when empty).
pub async fn send(app: &Router, req: http::Request<Body>) -> Reply {
    let uri = req.uri().to_string();
    let (status, headers, bytes) = raw(app, req).await;
    let json = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{uri}: not JSON ({e}): {bytes:?}"))
    };
    Reply { status, headers, json }
}

pub async fn get(app: &Router, uri: &str) -> Reply {
    call(app, "GET", uri).await
}

/// Asserts an error reply: status, code, and the one error shape.
pub fn assert_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.json);
    let e = &r.json["error"];
    assert_eq!(e["code"], code, "{}", r.json);
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", r.json);
    let id = e["request_id"].as_str().unwrap();
    assert!(!id.is_empty());
    assert_eq!(r.headers["x-request-id"].to_str().unwrap(), id);
    assert_eq!(r.json.as_object().unwrap().len(), 1, "{}", r.json);
    assert_eq!(e.as_object().unwrap().len(), 3, "{}", r.json);
}
