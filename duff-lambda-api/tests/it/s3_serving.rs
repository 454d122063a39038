//! End to end against a real S3-compatible server (moto): files ingested by the ETL function,
//! the serving state updated by its `update_serving` action, then every route answered by
//! this function's default engine (the serving engine over `S3Store`), configured as in
//! Lambda. Each answer equals the one the same code gives over a local copy of the lake (same
//! files, same instants); the S3 GETs and bytes of each request are counted by a wrapper
//! around the store and printed.

use crate::moto::Moto;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::primitives::ByteStream;
use chrono::DateTime;
use duff_core::IngestConfig;
use duff_lake::{LocalLake, Store};
use duff_lambda_api::{Clients, Config, EngineChoice};
use duff_lambda_etl::RecordOutcome;
use lambda_http::{Body, RequestExt};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const RAW: &str = "duff-raw";
const LAKE: &str = "duff-lake";

/// Reads through to the store, counting what each read cost.
struct Counting {
    inner: Arc<dyn Store>,
    reads: Mutex<Vec<Read>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Read {
    /// A GET (whole or ranged): the key and the bytes it returned (0 when absent).
    Get(String, usize),
    /// A listing (one or more LIST requests).
    List(String),
}

impl Counting {
    /// The reads since the last call.
    fn take(&self) -> Vec<Read> {
        std::mem::take(&mut *self.reads.lock().unwrap())
    }

    fn note(&self, r: Read) {
        self.reads.lock().unwrap().push(r);
    }
}

impl Store for Counting {
    fn get(&self, key: &str) -> duff_lake::Result<Option<Vec<u8>>> {
        let got = self.inner.get(key)?;
        self.note(Read::Get(key.to_owned(), got.as_ref().map_or(0, Vec::len)));
        Ok(got)
    }
    fn get_range(&self, key: &str, start: u64, len: u64) -> duff_lake::Result<Option<Vec<u8>>> {
        let got = self.inner.get_range(key, start, len)?;
        self.note(Read::Get(key.to_owned(), got.as_ref().map_or(0, Vec::len)));
        Ok(got)
    }
    fn get_tail(&self, key: &str, len: u64) -> duff_lake::Result<Option<(Vec<u8>, u64)>> {
        let got = self.inner.get_tail(key, len)?;
        self.note(Read::Get(key.to_owned(), got.as_ref().map_or(0, |(b, _)| b.len())));
        Ok(got)
    }
    fn list(&self, prefix: &str) -> duff_lake::Result<Vec<String>> {
        self.note(Read::List(prefix.to_owned()));
        self.inner.list(prefix)
    }
    fn put_file(&self, key: &str, path: &Path) -> duff_lake::Result<()> {
        self.inner.put_file(key, path)
    }
    fn put_bytes(&self, key: &str, bytes: &[u8]) -> duff_lake::Result<()> {
        self.inner.put_bytes(key, bytes)
    }
    fn put_if_absent(&self, key: &str, bytes: &[u8]) -> duff_lake::Result<bool> {
        self.inner.put_if_absent(key, bytes)
    }
    fn delete(&self, key: &str) -> duff_lake::Result<()> {
        self.inner.delete(key)
    }
    fn location(&self) -> String {
        self.inner.location()
    }
    fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.inner.local_path(key)
    }
}

/// `v` with every `source` and `source_prefix` cut to what follows its last `/`.
fn sources_by_name(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    if (k == "source" || k == "source_prefix" || k == "prefix")
                        && let Value::String(s) = x
                    {
                        *s = s.rsplit('/').next().unwrap_or_default().to_owned();
                    }
                    walk(x);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

/// The freshness check of the serving engine: the head and the probe past it (once per
/// refresh interval, from a background task: counted apart from the request's own reads).
fn is_freshness_check(r: &Read) -> bool {
    matches!(r, Read::Get(k, _) if k == "serving/_head" || k.starts_with("serving/_generations/"))
}

/// GETs and bytes of a request's own reads (listings must not happen).
fn cost(reads: &[Read]) -> (usize, usize) {
    let own: Vec<&Read> = reads.iter().filter(|r| !is_freshness_check(r)).collect();
    assert!(!own.iter().any(|r| matches!(r, Read::List(_))), "a request listed the lake: {own:?}");
    (own.len(), own.iter().map(|r| if let Read::Get(_, n) = r { *n } else { 0 }).sum())
}

async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "duff-tests"))
        .load()
        .await
}

fn lookup<'a>(vars: &'a [(&'static str, String)]) -> impl Fn(&str) -> Option<String> + 'a {
    |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
}

/// An API Gateway REST proxy event for `GET path?query` (the health fixture, re-pathed).
fn event(path: &str, query: &[(&str, &str)]) -> lambda_http::Request {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/health.json");
    let mut ev: Value = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    ev["path"] = path.into();
    ev["resource"] = path.into();
    if !query.is_empty() {
        ev["queryStringParameters"] = query.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
        ev["multiValueQueryStringParameters"] = query.iter().map(|(k, v)| ((*k).to_owned(), json!([v]))).collect();
    }
    let mut ctx = lambda_http::Context::default();
    ctx.request_id = "e2e".into();
    lambda_http::request::from_str(&ev.to_string()).unwrap().with_lambda_context(ctx)
}

async fn answer(app: &axum::Router, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let res = duff_lambda_api::handle(app.clone(), event(path, query)).await.unwrap();
    let json = match res.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap(),
        other => panic!("{path}: not a text body: {other:?}"),
    };
    (res.status().as_u16(), json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_answered_from_the_serving_state_in_s3() {
    let moto = Moto::start();
    let sdk = sdk_config().await;
    let work = tempfile::tempdir().unwrap();
    let local_dir = tempfile::tempdir().unwrap();

    // The ETL function, configured as in Lambda, ingests three files one by one (a Step
    // Functions task input each) and folds them with its serving action.
    let etl_vars = [
        ("DUFF_LAKE_URI", format!("s3://{LAKE}/lake")),
        ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
        ("DUFF_WORK_DIR", work.path().display().to_string()),
    ];
    let etl_config = duff_lambda_etl::Config::from_lookup(|k| {
        etl_vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()).ok_or(std::env::VarError::NotPresent)
    })
    .unwrap();
    let etl = duff_lambda_etl::Deps::new(etl_config, &sdk).unwrap();
    let s3 = etl.s3().clone();
    for bucket in [RAW, LAKE] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let local = LocalLake::open(local_dir.path()).unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data");
    // The samples, and a generated file big enough that a run's by_client partition is
    // many times a client's row groups (so that ranged reads show).
    let generated_dir = tempfile::tempdir().unwrap();
    let generated = generated_dir.path().join("generated.csv");
    let cfg = duff_testkit::generate::Config { rows: 20_000, start_order_id: 900_000, ..Default::default() };
    duff_testkit::generate::write_orders(&mut std::fs::File::create(&generated).unwrap(), &cfg).unwrap();
    let files = [data.join("day1.csv"), data.join("day2.csv"), data.join("orders.csv"), generated];
    for (i, path) in files.iter().enumerate() {
        let name = path.file_name().unwrap().to_str().unwrap();
        let bytes = std::fs::read(path).unwrap();
        let key = format!("incoming/{name}");
        s3.put_object().bucket(RAW).key(&key).body(ByteStream::from(bytes)).send().await.unwrap();
        let at = format!("2026-11-27T{:02}:00:00Z", 9 + i);
        let task = json!({"bucket": RAW, "key": key, "event_time": at});
        let resp = duff_lambda_etl::handle(&etl, &task).await.unwrap();
        assert_eq!(resp.outcomes(), [RecordOutcome::Published], "{resp:#?}");
        let instant = DateTime::parse_from_rfc3339(&at).unwrap().to_utc();
        local.ingest_path(path, &IngestConfig::default(), instant).unwrap();
        if i == 0 {
            // A first generation after the first file: the others make a second run.
            let first = duff_lambda_etl::handle(&etl, &json!({"action": "update_serving"})).await.unwrap();
            assert_eq!(first.serving.map(|s| (s.generation, s.files_folded)), Some((Some(1), 1)));
            local.update_serving().unwrap();
        }
    }
    let resp = duff_lambda_etl::handle(&etl, &json!({"action": "update_serving"})).await.unwrap();
    let serving = resp.serving.unwrap();
    assert_eq!((serving.generation, serving.files_folded, serving.retries), (Some(2), 3, 0), "{serving:?}");
    let again = duff_lambda_etl::handle(&etl, &json!({"action": "update_serving"})).await.unwrap();
    assert_eq!(again.serving.map(|s| (s.generation, s.files_folded)), Some((Some(2), 0)), "nothing new to fold");
    local.update_serving().unwrap();

    // This function, configured as in Lambda: the serving engine is the default.
    let secret = ("DUFF_PAGING_SECRET", "e2e secret".to_owned());
    let hour = ("DUFF_REFRESH_MS", "3600000".to_owned());
    let s3_vars = [
        ("DUFF_LAKE_URI", format!("s3://{LAKE}/lake")),
        ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
        secret.clone(),
        hour.clone(),
    ];
    let config = Config::from_lookup(lookup(&s3_vars)).unwrap();
    assert!(matches!(config.engine, EngineChoice::Serving { .. }), "{:?}", config.engine);
    let clients = Clients::from_sdk(&config, &sdk).unwrap();
    assert!(clients.s3.is_some() && clients.athena.is_none());
    let store =
        Arc::new(Counting { inner: duff_lambda_api::lake_store(&config, &clients).unwrap(), reads: Mutex::default() });
    let refresh = std::time::Duration::from_secs(3600);
    let app = duff_lambda_api::serving_app(&config, store.clone(), refresh).await;
    let cold = store.take();
    let cold_gets: Vec<&Read> = cold.iter().filter(|r| matches!(r, Read::Get(..))).collect();
    let cold_bytes: usize = cold.iter().map(|r| if let Read::Get(_, n) = r { *n } else { 0 }).sum();
    assert!(!cold.iter().any(|r| matches!(r, Read::List(_))), "the cold start listed the lake: {cold:?}");

    // The same code over a local copy of the lake.
    let local_vars = [("DUFF_LAKE_URI", local_dir.path().display().to_string()), secret, hour];
    let local_config = Config::from_lookup(lookup(&local_vars)).unwrap();
    let reference = duff_lambda_api::app(&local_config, &Clients::default()).await.unwrap();

    let mut requests: Vec<(String, Vec<(&str, &str)>)> = vec![("/health".into(), vec![])];
    for report in duff_api::Report::ALL {
        let path = format!("/reports/{}", report.name());
        requests.push((path.clone(), vec![]));
        requests.push((path.clone(), vec![("channel", "b2b")]));
        requests.push((path, vec![("client_id", "1008")]));
    }
    requests.push(("/clients/1008/orders".into(), vec![]));
    requests.push(("/clients/1008/orders".into(), vec![("status", "delivered"), ("limit", "2")]));
    requests.push(("/clients/1001/orders".into(), vec![]));
    requests.push(("/clients/4242/orders".into(), vec![]));
    // The ingestion routes over the same store.
    requests.push(("/ingestions".into(), vec![]));
    requests.push(("/ingestions".into(), vec![("outcome", "published"), ("limit", "2")]));
    requests.push(("/reports/data-quality".into(), vec![]));

    let mut table = Vec::new();
    let mut ok = 0;
    for (path, query) in &requests {
        store.take();
        let got = answer(&app, path, query).await;
        let reads = store.take();
        let want = answer(&reference, path, query).await;
        if path == "/reports/data-quality" {
            // Grouped by source prefix, which differs between the homes (one S3 prefix here,
            // two local folders there): the same files and rows in all.
            let sums = |v: &Value| {
                let rows = v["rows"].as_array().cloned().unwrap_or_default();
                let n = |k: &str| rows.iter().map(|r| r[k].as_u64().unwrap_or(0)).sum::<u64>();
                (n("files"), n("rows_read"), n("rows_quarantined"))
            };
            assert_eq!((got.0, sums(&got.1)), (want.0, sums(&want.1)), "GET {path}");
            assert_eq!(sums(&got.1), (4, 20_076, 3));
        } else if path.starts_with("/ingestions") {
            // Where a file came from differs between the homes (s3://duff-raw/incoming/x.csv
            // here, a local path there): compared by the file's name.
            assert_eq!(
                (got.0, sources_by_name(got.1.clone())),
                (want.0, sources_by_name(want.1)),
                "GET {path}?{query:?}"
            );
        } else {
            assert_eq!(got, want, "GET {path}?{query:?}: the S3 answer differs from the local one");
        }
        ok += usize::from(got.0 == 200);
        if path.starts_with("/ingestions") || path == "/reports/data-quality" {
            // The ingestion routes list the manifests (once per refresh interval).
            table.push(format!("{:>4} {:>3} reads          GET {path}?{query:?}", got.0, reads.len()));
            continue;
        }
        let (gets, bytes) = cost(&reads);
        let client = path.starts_with("/clients/") || query.iter().any(|(k, _)| *k == "client_id");
        if !client || path == "/clients/4242/orders" {
            // A report not about one client, or a client without lines (a 404): the cells
            // in memory answer it.
            assert_eq!((gets, bytes), (0, 0), "GET {path}?{query:?} read the lake: {reads:?}");
        }
        table.push(format!("{:>4} {:>3} GETs {:>8} B  GET {path}?{query:?}", got.0, gets, bytes));
    }
    assert!(ok >= requests.len() / 2, "{ok} answers of {} were 200", requests.len());

    // A client's first request reads, in its partition of each run, the footer (the end of
    // the object) and then the client's row groups, each by a ranged GET: never a whole
    // object. The next request is answered from the engine's cache.
    store.take();
    let first = answer(&app, "/clients/1002/orders", &[]).await;
    let reads = store.take();
    let (gets, bytes) = cost(&reads);
    assert_eq!(first.0, 200, "{}", first.1);
    assert!((2..=6).contains(&gets), "a footer and a range per run (two runs): {reads:?}");
    for r in reads.iter().filter(|r| !is_freshness_check(r)) {
        if let Read::Get(key, n) = r {
            let (inner, k) = (store.inner.clone(), key.clone());
            let whole =
                tokio::task::spawn_blocking(move || inner.get(&k)).await.unwrap().unwrap().map_or(0, |b| b.len());
            assert!(*n < whole, "{key}: {n} B read of {whole} B, a ranged read was expected");
        }
    }
    let _ = answer(&app, "/clients/1002/orders", &[("limit", "1")]).await;
    assert_eq!(cost(&store.take()), (0, 0), "a client's second request is read from the cache");

    eprintln!(
        "s3 serving e2e: cold start {} GETs, {} B ({:?})",
        cold_gets.len(),
        cold_bytes,
        cold.iter()
            .map(|r| if let Read::Get(k, n) = r { format!("{k} {n} B") } else { String::new() })
            .collect::<Vec<_>>()
    );
    eprintln!("s3 serving e2e: first request of a client: {gets} GETs, {bytes} B");
    for line in table {
        eprintln!("  {line}");
    }
}
