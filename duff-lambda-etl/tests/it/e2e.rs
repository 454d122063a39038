//! End to end against a real S3-compatible server (moto): upload the bundled samples, run the
//! handler in-process on S3 and EventBridge events, and compare the S3 lake with the lake the
//! local pipeline builds from the same files at the same instants.

use crate::moto::Moto;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::Client;
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use duff_core::reports::{self, ReportFilter};
use duff_core::{IngestConfig, Outcome};
use duff_lake::{Lake, LocalLake, S3Store, Store};
use duff_lambda_etl::{Config, Deps, RecordOutcome, handle};
use duff_testkit::sample;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

const RAW: &str = "duff-raw";
const LAKE: &str = "duff-lake";

/// The configuration as the function reads it from its environment.
fn config(moto: &Moto, work: &Path) -> Config {
    let vars = BTreeMap::from([
        ("DUFF_LAKE_URI", "s3://duff-lake/lake".to_owned()),
        ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
        ("DUFF_WORK_DIR", work.display().to_string()),
    ]);
    Config::from_lookup(|name| vars.get(name).cloned().ok_or(std::env::VarError::NotPresent)).unwrap()
}

/// Region and dummy credentials as the standard variables would give them; the endpoint
/// comes from the function's configuration (`AWS_ENDPOINT_URL`, path-style).
async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "duff-tests"))
        .load()
        .await
}

async fn create_bucket(s3: &Client, bucket: &str) {
    s3.create_bucket().bucket(bucket).send().await.unwrap();
}

/// A moto server with the raw and lake buckets, the function's dependencies built on it, a
/// work folder, and the S3 client.
async fn start() -> (Moto, tempfile::TempDir, Deps, Client) {
    let moto = Moto::start();
    let work = tempfile::tempdir().unwrap();
    let deps = Deps::new(config(&moto, work.path()), &sdk_config().await).unwrap();
    let s3 = deps.s3().clone();
    create_bucket(&s3, RAW).await;
    create_bucket(&s3, LAKE).await;
    (moto, work, deps, s3)
}

struct Uploaded {
    key: String,
    etag: String,
    size: usize,
    version_id: Option<String>,
}

async fn upload(s3: &Client, key: &str, bytes: Vec<u8>) -> Uploaded {
    let size = bytes.len();
    let out = s3.put_object().bucket(RAW).key(key).body(ByteStream::from(bytes)).send().await.unwrap();
    let etag = out.e_tag().unwrap().trim_matches('"').to_owned();
    Uploaded { key: key.to_owned(), etag, size, version_id: out.version_id().map(str::to_owned) }
}

/// Form-encodes a key the way S3 writes it in notifications (`/` kept, space as `+`).
fn form_encode(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' | b'/' => (b as char).to_string(),
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn s3_record(o: &Uploaded, time: &str) -> Value {
    let mut object =
        json!({"key": form_encode(&o.key), "size": o.size, "eTag": o.etag, "sequencer": "0055AED6DCD90281E5"});
    if let Some(v) = &o.version_id {
        object["versionId"] = v.clone().into();
    }
    json!({
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": time, "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:EXAMPLE"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "EXAMPLE", "x-amz-id-2": "EXAMPLE"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "duff-incoming",
               "bucket": {"name": RAW, "ownerIdentity": {"principalId": "EXAMPLE"}, "arn": "arn:aws:s3:::duff-raw"},
               "object": object}
    })
}

fn s3_event(records: &[(&Uploaded, &str)]) -> Value {
    json!({"Records": records.iter().map(|(o, t)| s3_record(o, t)).collect::<Vec<_>>()})
}

fn eventbridge_event(o: &Uploaded, time: &str) -> Value {
    json!({
        "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103", "detail-type": "Object Created",
        "source": "aws.s3", "account": "111122223333", "time": time, "region": "us-east-1",
        "resources": ["arn:aws:s3:::duff-raw"],
        "detail": {"version": "0", "bucket": {"name": RAW},
                   "object": {"key": o.key, "size": o.size, "etag": o.etag, "sequencer": "617f08299329d189"},
                   "request-id": "N4N7GDK58NMKJ12R", "requester": "111122223333", "reason": "PutObject"}
    })
}

fn micros(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp_micros()
}

/// Every object of the S3 lake: key (relative to the lake) -> bytes.
async fn s3_lake_objects(s3: &Client) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let listed = s3.list_objects_v2().bucket(LAKE).prefix("lake/").send().await.unwrap();
    assert!(!listed.is_truncated().unwrap_or(false));
    for o in listed.contents() {
        let key = o.key().unwrap();
        let body = s3.get_object().bucket(LAKE).key(key).send().await.unwrap().body.collect().await.unwrap();
        out.insert(key.strip_prefix("lake/").unwrap().to_owned(), body.to_vec());
    }
    out
}

fn local_lake_objects(lake: &LocalLake) -> BTreeMap<String, Vec<u8>> {
    let store = lake.store();
    store.list("").unwrap().into_iter().map(|k| (k.clone(), store.get(&k).unwrap().unwrap())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_s3_lake_equals_the_local_lake_and_redelivery_changes_nothing() {
    let started = Instant::now();
    let (_moto, work, deps, s3) = start().await;
    let server_up = started.elapsed();

    // Keys that need decoding in S3 notifications: space, plus, non-ASCII, percent.
    let orders = upload(&s3, "incoming/2026/orders a+b.csv", std::fs::read(sample("orders.csv")).unwrap()).await;
    let day1 = upload(&s3, "incoming/café day1.csv", std::fs::read(sample("day1.csv")).unwrap()).await;
    let day2 = upload(&s3, "incoming/100% day2.csv", std::fs::read(sample("day2.csv")).unwrap()).await;
    let (t_orders, t_day1, t_day2) = ("2026-11-27T09:00:00.250Z", "2026-11-27T09:10:00Z", "2026-11-27T09:20:00.500Z");

    // One S3 notification with two records (orders, day2), then day1's EventBridge event,
    // delivered late: its earlier instant must not overwrite day2's newer states.
    let first = s3_event(&[(&orders, t_orders), (&day2, t_day2)]);
    let resp = handle(&deps, &first).await.unwrap();
    assert_eq!(resp.outcomes(), [RecordOutcome::Published, RecordOutcome::Published], "{resp:#?}");
    assert_eq!(resp.records[0].source.as_deref(), Some("s3://duff-raw/incoming/2026/orders a+b.csv"));
    let resp = handle(&deps, &eventbridge_event(&day1, t_day1)).await.unwrap();
    assert_eq!(resp.outcomes(), [RecordOutcome::Published], "{resp:#?}");
    assert_eq!(resp.records[0].source.as_deref(), Some("s3://duff-raw/incoming/café day1.csv"));
    let handled = started.elapsed();

    // The local pipeline's lake from the same files, sources and instants, in the same order.
    let local_dir = tempfile::tempdir().unwrap();
    let local = LocalLake::open(local_dir.path()).unwrap();
    let cfg = IngestConfig::default();
    for (file, o, t) in [("orders.csv", &orders, t_orders), ("day2.csv", &day2, t_day2), ("day1.csv", &day1, t_day1)] {
        let source = format!("s3://{RAW}/{}", o.key);
        let r = local.ingest_file(&sample(file), &source, micros(t), &cfg).unwrap();
        assert_eq!(r.manifest().outcome, Outcome::Published);
    }

    // Byte for byte: the same keys, the same Parquet objects, the same manifests.
    let in_s3 = s3_lake_objects(&s3).await;
    let in_dir = local_lake_objects(&local);
    assert_eq!(in_s3.keys().collect::<Vec<_>>(), in_dir.keys().collect::<Vec<_>>());
    // 3 manifests, fact + client + product per file, a quarantine for the two files that
    // have refused rows (orders.csv has none), and the 2 static dimensions.
    assert_eq!(in_s3.len(), 3 + 3 * 3 + 2 + 2, "{:?}", in_s3.keys());
    for (key, bytes) in &in_s3 {
        assert!(bytes == &in_dir[key], "{key} differs between the S3 lake and the local lake");
    }

    // Row for row: read the Parquet back from S3 through the S3 store.
    let s3_lake = Lake::new(
        S3Store::new(s3.clone(), LAKE, "lake", tokio::runtime::Handle::current()),
        work.path().join("reader-staging"),
    );
    let (state, history) = tokio::task::spawn_blocking(move || s3_lake.load_state().unwrap()).await.unwrap();
    let (local_state, local_history) = local.load_state().unwrap();
    assert!(!state.is_empty());
    assert_eq!(state.to_batch().unwrap(), local_state.to_batch().unwrap());
    assert_eq!(history.to_batch().unwrap(), local_history.to_batch().unwrap());
    let all = ReportFilter::default();
    assert_eq!(reports::sales_by_product(&state, &all), reports::sales_by_product(&local_state, &all));
    assert_eq!(reports::order_status(&state, &all), reports::order_status(&local_state, &all));
    assert_eq!(reports::orders_by_client(&state, &all), reports::orders_by_client(&local_state, &all));

    // The same events again, and the same content under another key: nothing changes.
    let resp = handle(&deps, &first).await.unwrap();
    assert_eq!(resp.outcomes(), [RecordOutcome::Duplicate, RecordOutcome::Duplicate]);
    let resp = handle(&deps, &eventbridge_event(&day1, t_day1)).await.unwrap();
    assert_eq!(resp.outcomes(), [RecordOutcome::Duplicate]);
    let copy = upload(&s3, "incoming/copy of day1.csv", std::fs::read(sample("day1.csv")).unwrap()).await;
    let resp = handle(&deps, &s3_event(&[(&copy, "2026-11-27T10:00:00.000Z")])).await.unwrap();
    assert_eq!(resp.outcomes(), [RecordOutcome::Duplicate]);
    assert_eq!(s3_lake_objects(&s3).await, in_s3, "redelivery changed the lake");
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0, "downloads and staging are removed");

    // The scheduled model rebuild: the same models, byte for byte, as the local pipeline's
    // `--models` over the same files.
    let resp = handle(&deps, &json!({"action": "refresh_models"})).await.unwrap();
    assert_eq!(resp.trigger, Some(duff_lambda_etl::event::Trigger::RefreshModels));
    assert!(resp.records.is_empty(), "{resp:#?}");
    let models = resp.models.expect("a models report");
    let local_models = local.refresh_models().unwrap();
    let reported: Vec<(String, usize)> = models.tables.iter().map(|t| (t.name.clone(), t.rows as usize)).collect();
    assert_eq!(reported, local_models);
    assert!(models.tables.iter().any(|t| t.name == "order_line_current" && t.rows == state.len() as u64));
    let in_s3 = s3_lake_objects(&s3).await;
    let in_dir = local_lake_objects(&local);
    let model_keys: Vec<&String> = in_s3.keys().filter(|k| k.starts_with("models/")).collect();
    assert_eq!(model_keys.len(), local_models.len() + 1, "one object per model and _build.json");
    assert_eq!(model_keys, in_dir.keys().filter(|k| k.starts_with("models/")).collect::<Vec<_>>());
    for key in model_keys {
        assert!(in_s3[key] == in_dir[key], "{key} differs between the S3 lake and the local lake");
    }
    // A rebuild over the same lake writes the same bytes; an unknown action changes nothing.
    let again = handle(&deps, &json!({"action": "refresh_models"})).await.unwrap();
    assert_eq!(again.models.map(|m| m.tables), Some(models.tables));
    let resp = handle(&deps, &json!({"action": "defragment"})).await.unwrap();
    assert_eq!(resp.outcomes(), [RecordOutcome::Invalid], "{resp:#?}");
    assert_eq!(s3_lake_objects(&s3).await, in_s3, "rebuilding again changed the models");
    // The scheduled vacuum: a sound lake has no leftover; nothing changes.
    let resp = handle(&deps, &json!({"action": "vacuum"})).await.unwrap();
    assert_eq!(resp.trigger, Some(duff_lambda_etl::event::Trigger::Vacuum));
    let vacuum = resp.vacuum.expect("a vacuum report");
    assert_eq!((vacuum.removed, vacuum.kept_young, vacuum.older_than_secs), (0, 0, 86_400), "{vacuum:?}");
    assert_eq!(s3_lake_objects(&s3).await, in_s3, "vacuum changed a sound lake");

    eprintln!(
        "e2e: moto up with its buckets in {server_up:.2?}, 3 files handled at {handled:.2?}, whole test {:.2?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_versions_refusals_and_ignored_events() {
    let (_moto, work, deps, s3) = start().await;
    let versioning = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning().bucket(RAW).versioning_configuration(versioning).send().await.unwrap();

    // A versioned key overwritten before its first event is handled: the event's version is read.
    let v1 = upload(&s3, "incoming/orders.csv", std::fs::read(sample("day1.csv")).unwrap()).await;
    let v2 = upload(&s3, "incoming/orders.csv", std::fs::read(sample("day2.csv")).unwrap()).await;
    assert!(v1.version_id.is_some() && v1.version_id != v2.version_id);
    let resp = handle(&deps, &s3_event(&[(&v1, "2026-11-27T09:00:00.000Z")])).await.unwrap();
    assert_eq!(resp.outcomes(), [RecordOutcome::Published]);
    let day1_id = duff_core::FileId::of_bytes(&std::fs::read(sample("day1.csv")).unwrap());
    assert_eq!(resp.records[0].file_id.as_deref(), Some(day1_id.as_str()));

    // Without a version, the ETag pins the content: an overwritten object is ignored (its
    // new content has its own event).
    let mut stale = v1;
    stale.version_id = None;
    let resp = handle(&deps, &s3_event(&[(&stale, "2026-11-27T09:00:01.000Z")])).await.unwrap();
    assert_eq!(resp.outcomes(), [RecordOutcome::Ignored], "{resp:#?}");

    // Refused whole: not an error for Lambda, recorded in the manifest.
    let mut bad = std::fs::read(sample("orders.csv")).unwrap();
    for i in 0..10 {
        bad.extend_from_slice(format!("{},Bad Row,{},1,x,1.999,1,1,Retail,created\n", 9000 + i, 9000 + i).as_bytes());
    }
    let rejected = upload(&s3, "incoming/bad rows.csv", bad).await;
    let failed = upload(&s3, "incoming/no header.CSV", b"order_id;client\n1;2\n".to_vec()).await;
    let notes = upload(&s3, "incoming/notes.txt", b"hello".to_vec()).await;
    let folder = upload(&s3, "incoming/2027/", Vec::new()).await;
    let event = s3_event(&[
        (&rejected, "2026-11-27T11:00:00.000Z"),
        (&failed, "2026-11-27T11:00:01.000Z"),
        (&notes, "2026-11-27T11:00:02.000Z"),
        (&folder, "2026-11-27T11:00:03.000Z"),
    ]);
    let resp = handle(&deps, &event).await.unwrap();
    assert_eq!(
        resp.outcomes(),
        [RecordOutcome::Rejected, RecordOutcome::Failed, RecordOutcome::Ignored, RecordOutcome::Ignored],
        "{resp:#?}"
    );
    let lake = Lake::new(
        S3Store::new(s3.clone(), LAKE, "lake", tokio::runtime::Handle::current()),
        work.path().join("reader-staging"),
    );
    let manifests = tokio::task::spawn_blocking(move || lake.manifests().unwrap()).await.unwrap();
    let outcomes: Vec<Outcome> = manifests.iter().map(|m| m.outcome).collect();
    assert_eq!(outcomes, [Outcome::Published, Outcome::Rejected, Outcome::Failed]);
    assert!(manifests[1].outputs.is_empty() && manifests[2].outputs.is_empty());
    assert!(manifests[2].error.as_ref().is_some_and(|e| e.code == "missing_column"), "{:?}", manifests[2].error);

    // A Step Functions task input as the ingest state machine sends it (nulls included):
    // without an event time, the object's Last-Modified is the ingest instant.
    let sfn = upload(&s3, "incoming/from step functions.csv", std::fs::read(sample("orders.csv")).unwrap()).await;
    let input = json!({"bucket": RAW, "key": sfn.key, "version_id": sfn.version_id, "etag": format!("\"{}\"", sfn.etag),
                       "event_time": null});
    let resp = handle(&deps, &input).await.unwrap();
    assert_eq!(resp.outcomes(), [RecordOutcome::Published], "{resp:#?}");
    let head = s3.head_object().bucket(RAW).key(&sfn.key).send().await.unwrap();
    let modified = chrono::DateTime::from_timestamp_millis(head.last_modified().unwrap().to_millis().unwrap()).unwrap();
    let ingested_at = chrono::DateTime::parse_from_rfc3339(resp.records[0].ingested_at.as_deref().unwrap()).unwrap();
    assert_eq!(ingested_at, modified);
    // The fan-out's plan of the same content finds it published.
    let ranged = json!({"bucket": RAW, "key": sfn.key, "range": {"plan": true, "length": 1024, "object_size": 462}});
    assert_eq!(handle(&deps, &ranged).await.unwrap().outcomes(), [RecordOutcome::Duplicate]);

    // The manifest commit is a real conditional write on this server too.
    let store = S3Store::new(s3.clone(), LAKE, "scratch", tokio::runtime::Handle::current());
    let created = tokio::task::spawn_blocking(move || {
        [store.put_if_absent("m.json", b"1").unwrap(), store.put_if_absent("m.json", b"2").unwrap()]
    });
    assert_eq!(created.await.unwrap(), [true, false]);
    let kept = s3.get_object().bucket(LAKE).key("scratch/m.json").send().await.unwrap().body.collect().await.unwrap();
    assert_eq!(kept.to_vec(), b"1");

    // The S3 test event and the lake's own objects are ignored.
    let test_event = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-27T08:00:00.000Z",
                            "Bucket": RAW, "RequestId": "R", "HostId": "H"});
    assert_eq!(handle(&deps, &test_event).await.unwrap().outcomes(), [RecordOutcome::Ignored]);
    let own = Uploaded { key: "lake/quarantine/x.csv".into(), etag: "e".into(), size: 1, version_id: None };
    let mut event = s3_event(&[(&own, "2026-11-27T12:00:00.000Z")]);
    event["Records"][0]["s3"]["bucket"]["name"] = LAKE.into();
    let resp = handle(&deps, &event).await.unwrap();
    assert_eq!(resp.outcomes(), [RecordOutcome::Ignored]);
    assert_eq!(resp.records[0].message.as_deref(), Some("inside the lake (loop guard)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_file_through_the_fan_out_steps_equals_a_whole_file_ingest() {
    // The state machine's big-file path, step by step with the JSON it passes: the plan,
    // every part (in reverse order, one retried), the merge. The lake must equal a
    // whole-file ingest of the same bytes at the same instant, minus how rows are cut
    // into objects, and keep no work objects.
    let (_moto, work, deps, s3) = start().await;

    let mut csv = Vec::new();
    let gen_cfg = duff_testkit::generate::Config { rows: 4000, bad_frac: 0.01, ..Default::default() };
    duff_testkit::generate::write_orders(&mut csv, &gen_cfg).unwrap();
    let repeated = csv.split(|b| *b == b'\n').nth(7).unwrap().to_vec();
    csv.extend_from_slice(b"9001,\"Quoted, with\nnewline\",990001,101,Duff,1.00,1,0.5,Retail,created\n");
    csv.extend_from_slice(&repeated);
    csv.push(b'\n');
    let big = upload(&s3, "incoming/big orders.csv", csv.clone()).await;
    let time = "2026-11-27T11:00:00Z";
    let task =
        |range: Value| json!({"bucket": RAW, "key": big.key, "etag": big.etag, "event_time": time, "range": range});

    let plan = handle(&deps, &task(json!({"plan": true, "length": 60_000, "object_size": big.size}))).await.unwrap();
    let plan = serde_json::to_value(&plan).unwrap();
    let ranges = plan["ranges"].as_array().cloned().unwrap_or_default();
    assert!(ranges.len() >= 4, "{plan:#}");
    assert_eq!(plan["plan"]["parts"], ranges.len());
    assert_eq!(plan["plan"]["bytes"], csv.len());
    let mut read = 0;
    for item in ranges.iter().rev() {
        let resp = handle(&deps, &task(item.clone())).await.unwrap();
        let part = resp.part.expect("a part report");
        read += part.rows[0];
        if part.part == 1 {
            let again = handle(&deps, &task(item.clone())).await.unwrap();
            assert_eq!(again.part, Some(part), "a retried part reports the same");
        }
    }
    let merge = json!({"merge": true, "file_id": plan["plan"]["file_id"], "ingested_at_micros": plan["plan"]["ingested_at_micros"], "parts": ranges.len()});
    let resp = handle(&deps, &task(merge.clone())).await.unwrap();
    assert_eq!(resp.outcomes(), [RecordOutcome::Published], "{resp:#?}");
    assert_eq!(resp.records[0].rows.map(|r| r[0]), Some(read));

    // The whole-file ingest of the same bytes, source and instant.
    let local_dir = tempfile::tempdir().unwrap();
    let local = LocalLake::open(local_dir.path()).unwrap();
    let path = local_dir.path().join("big.csv");
    std::fs::write(&path, &csv).unwrap();
    let source = format!("s3://{RAW}/{}", big.key);
    let whole = local.ingest_file(&path, &source, micros(time), &IngestConfig::default()).unwrap();
    let s3_lake = Lake::new(
        S3Store::new(s3.clone(), LAKE, "lake", tokio::runtime::Handle::current()),
        work.path().join("reader-staging"),
    );
    let reader = s3_lake.clone();
    let (manifests, (state, history)) =
        tokio::task::spawn_blocking(move || (reader.manifests().unwrap(), reader.load_state().unwrap())).await.unwrap();
    let (mut fanned, mut one) = (manifests[0].clone(), whole.manifest().clone());
    assert!(fanned.outputs.iter().any(|o| o.key.ends_with("-00001.parquet")), "{:?}", fanned.outputs);
    assert_eq!(fanned.quarantined_by_reason.get("duplicate_line"), Some(&1));
    fanned.outputs.clear();
    one.outputs.clear();
    assert_eq!(fanned, one);
    let (local_state, local_history) = local.load_state().unwrap();
    assert_eq!(state.to_batch().unwrap(), local_state.to_batch().unwrap());
    assert_eq!(history.to_batch().unwrap(), local_history.to_batch().unwrap());
    let objects = s3_lake_objects(&s3).await;
    assert!(!objects.keys().any(|k| k.starts_with("_fanout/")), "work objects removed: {:?}", objects.keys());
    for out in &manifests[0].outputs {
        assert!(objects.contains_key(&out.key), "{} named by the manifest", out.key);
    }

    // Another run of the same event: the plan says duplicate, a late part and the merge
    // change nothing.
    let again = handle(&deps, &task(json!({"plan": true, "length": 60_000}))).await.unwrap();
    assert_eq!(again.outcomes(), [RecordOutcome::Duplicate]);
    assert!(again.ranges.is_none());
    let late = handle(&deps, &task(ranges[2].clone())).await.unwrap();
    assert!(late.part.is_some_and(|p| p.published_already));
    let resp = handle(&deps, &task(merge)).await.unwrap();
    assert_eq!(resp.outcomes(), [RecordOutcome::Duplicate]);
    assert_eq!(s3_lake_objects(&s3).await, objects, "a second run changed the lake");

    // A step on a plan that does not exist fails the invocation (the Map fails and records it).
    let bogus = json!({"part": 0, "file_id": "0123456789abcdef0123456789abcdef", "ingested_at_micros": 1});
    let err = handle(&deps, &task(bogus)).await.unwrap_err();
    assert!(err.full_message().contains("plan.json"), "{}", err.full_message());
}
