//! Event decoding: pure functions from the invocation's JSON to the objects to ingest.
//!
//! Three shapes are accepted:
//! - an **S3 notification** (`{"Records": [...]}`, possibly several records). Keys are
//!   form-encoded by S3 (`a+b%2Bc.csv` is `a b+c.csv`) and decoded here; `eventTime` has
//!   milliseconds. The `s3:TestEvent` S3 sends when a notification is configured is ignored.
//! - an **EventBridge** event from S3 (`"source": "aws.s3"`, `"detail-type": "Object Created"`).
//!   Its keys are *not* encoded (they are taken as they are); `time` has whole seconds.
//! - a **Step Functions** task input `{"bucket", "key", "version_id"?, "etag"?, "event_time"?}`
//!   with a plain key. Without `event_time` the object's `Last-Modified` is the ingest instant.
//!   With a `range` object it is one step of the big-file fan-out ([`RangeTask`]): the
//!   plan (`{"plan": true, "length": N}`), one part (`{"part": k, "file_id", "ingested_at_micros"}`)
//!   or the merge (`{"merge": true, "file_id", "ingested_at_micros", "parts"?}`).
//!
//! Every candidate is then screened: folder markers (key ending in `/`), keys that do not
//! end in `.csv` (any case) and keys inside the lake (the loop guard) are ignored.

use crate::error::{Error, Result};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::s3::S3Event;
use chrono::{DateTime, Utc};
use duff_lake::LakeLocation;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What kind of invocation this was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// An S3 event notification.
    S3Notification,
    /// The test event S3 sends when a notification is configured.
    S3TestEvent,
    /// An EventBridge event from S3.
    EventBridge,
    /// A Step Functions task input.
    StepFunctions,
    /// A maintenance invocation: `{"action": "refresh_models"}` (EventBridge Scheduler).
    RefreshModels,
    /// The serving step: `{"action": "update_serving"}` (the ingest state machine, after a
    /// file is published).
    UpdateServing,
    /// The serving state's repair: `{"action": "rebuild_serving"}` (the operator).
    RebuildServing,
    /// The removal of crash leftovers: `{"action": "vacuum"}` (EventBridge Scheduler).
    Vacuum,
}

/// A maintenance invocation: `{"action": "<name>"}`, from a schedule, the ingest state
/// machine or an operator. An event with an `action` member is nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `refresh_models`: rebuild the analytics models from the whole lake.
    RefreshModels,
    /// `update_serving`: fold the published files the serving state does not hold yet.
    UpdateServing,
    /// `rebuild_serving`: rebuild the serving state from the published files alone.
    RebuildServing,
    /// `vacuum`: remove what crashed writers left and no reader counts, once older than
    /// [`duff_lake::vacuum::DEFAULT_AGE`].
    Vacuum,
}

impl Action {
    /// Every action, in the order the messages list them.
    pub const ALL: [Action; 4] = [Action::RefreshModels, Action::UpdateServing, Action::RebuildServing, Action::Vacuum];

    /// The action's name in the invocation (`{"action": "<name>"}`).
    pub const fn name(self) -> &'static str {
        match self {
            Action::RefreshModels => "refresh_models",
            Action::UpdateServing => "update_serving",
            Action::RebuildServing => "rebuild_serving",
            Action::Vacuum => "vacuum",
        }
    }

    /// The trigger the response names.
    pub const fn trigger(self) -> Trigger {
        match self {
            Action::RefreshModels => Trigger::RefreshModels,
            Action::UpdateServing => Trigger::UpdateServing,
            Action::RebuildServing => Trigger::RebuildServing,
            Action::Vacuum => Trigger::Vacuum,
        }
    }
}

/// The action of a maintenance invocation: `None` when `event` has no `action` member (it
/// is an ingest event), `Some(Err(reason))` when the action is not a known name (a string
/// that names no action, or not a string).
pub fn decode_action(event: &Value) -> Option<std::result::Result<Action, String>> {
    let action = event.as_object()?.get("action")?;
    let found = Action::ALL.into_iter().find(|a| action.as_str() == Some(a.name()));
    Some(found.ok_or_else(|| {
        let known: Vec<String> = Action::ALL.iter().map(|a| format!("\"{}\"", a.name())).collect();
        format!("unknown action {action} (known: {})", known.join(", "))
    }))
}

/// An object to ingest: exactly the version the event names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// The bucket.
    pub bucket: String,
    /// The key, decoded.
    pub key: String,
    /// The version, when the bucket is versioned.
    pub version_id: Option<String>,
    /// The ETag, without quotes.
    pub etag: Option<String>,
    /// The size in bytes, when the event says.
    pub size: Option<u64>,
    /// The event's time in microseconds since the epoch (the ingest instant).
    pub event_time_micros: Option<i64>,
}

impl ObjectRef {
    /// The source recorded in the manifest: `s3://bucket/key`.
    pub fn source(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// The ingest instant, in microseconds since the epoch: the event's time, else the
    /// object's `Last-Modified` (`last_modified_micros`, from the GET).
    ///
    /// # Errors
    /// [`Error::Event`] when there is neither.
    pub fn ingest_instant(&self, last_modified_micros: Option<i64>) -> Result<i64> {
        self.event_time_micros
            .or(last_modified_micros)
            .ok_or_else(|| Error::Event("no event time and no Last-Modified: the ingest instant is unknown".into()))
    }
}

/// One step of the big-file fan-out (docs/deploy.md, "Big files"), asked by the state
/// machine with a `range` object in the Step Functions task input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeTask {
    /// Stream the object once: hash it, cut it into parts of about `part_bytes`, store the plan.
    Plan {
        /// The target size of a part.
        part_bytes: u64,
    },
    /// Ingest one part of a stored plan.
    Part {
        /// The plan's file and instant.
        key: duff_lake::FanKey,
        /// The part.
        part: usize,
    },
    /// Merge the parts of a stored plan, publish and commit.
    Merge {
        /// The plan's file and instant.
        key: duff_lake::FanKey,
    },
}

/// The `range` object of a task input (every step's fields; which are set says the step).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeInput {
    #[serde(default)]
    plan: bool,
    #[serde(default)]
    merge: bool,
    #[serde(default)]
    length: Option<u64>,
    /// Accepted and ignored (the plan reads the object's real size).
    #[serde(default)]
    #[allow(dead_code, reason = "accepted for older state machine definitions")]
    object_size: Option<u64>,
    #[serde(default)]
    part: Option<usize>,
    /// The number of parts: accepted and ignored (the merge reads the stored plan).
    #[serde(default)]
    #[allow(dead_code, reason = "informational: the stored plan is the truth")]
    parts: Option<usize>,
    #[serde(default)]
    file_id: Option<String>,
    #[serde(default)]
    ingested_at_micros: Option<i64>,
}

impl RangeInput {
    fn task(self) -> std::result::Result<RangeTask, String> {
        let key = |file_id: Option<String>, micros: Option<i64>| match (file_id, micros) {
            (Some(id), Some(ingested_at_micros)) => duff_core::FileId::parse(&id)
                .map(|file_id| duff_lake::FanKey { file_id, ingested_at_micros })
                .ok_or_else(|| format!("range.file_id '{id}' is not 32 hex digits")),
            _ => Err("range needs file_id and ingested_at_micros".to_owned()),
        };
        match (self.plan, self.part, self.merge) {
            (true, None, false) => match self.length {
                Some(n) if n > 0 => Ok(RangeTask::Plan { part_bytes: n }),
                _ => Err("range.plan needs a positive length".into()),
            },
            (false, Some(part), false) => {
                Ok(RangeTask::Part { key: key(self.file_id, self.ingested_at_micros)?, part })
            }
            (false, None, true) => Ok(RangeTask::Merge { key: key(self.file_id, self.ingested_at_micros)? }),
            _ => {
                Err("range must be exactly one of a plan (plan: true), a part (part: k) or a merge (merge: true)"
                    .into())
            }
        }
    }
}

/// One thing the invocation asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// Ingest this object.
    Ingest(ObjectRef),
    /// One step of the fan-out of this object.
    Range(ObjectRef, RangeTask),
    /// Nothing to do (a test event, a folder marker, a non-CSV key, the lake's own objects,
    /// an event that is not an object creation).
    Ignore {
        /// `s3://bucket/key`, when there is one.
        source: Option<String>,
        /// Why.
        reason: String,
    },
    /// A malformed record or input: nothing can be done with it, a retry will not help.
    Invalid {
        /// `s3://bucket/key`, when there is one.
        source: Option<String>,
        /// What is wrong.
        reason: String,
    },
}

/// A decoded invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The kind of event.
    pub trigger: Trigger,
    /// One item per record (one for EventBridge and Step Functions).
    pub items: Vec<Item>,
}

/// The detail of an S3 EventBridge event (only the fields used).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct S3EventBridgeDetail {
    /// The bucket.
    #[serde(default)]
    pub bucket: Option<NamedBucket>,
    /// The object.
    #[serde(default)]
    pub object: Option<EventBridgeObject>,
    /// Why the event was sent (`PutObject`, `CompleteMultipartUpload`, `CopyObject`...).
    #[serde(default)]
    pub reason: Option<String>,
}

/// `detail.bucket`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct NamedBucket {
    /// The bucket's name.
    pub name: String,
}

/// `detail.object`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct EventBridgeObject {
    /// The key, not encoded.
    pub key: String,
    /// Size in bytes.
    #[serde(default)]
    pub size: Option<u64>,
    /// ETag.
    #[serde(default)]
    pub etag: Option<String>,
    /// Version.
    #[serde(default)]
    pub version_id: Option<String>,
}

/// The Step Functions task input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskInput {
    bucket: String,
    key: String,
    #[serde(default)]
    version_id: Option<String>,
    #[serde(default)]
    etag: Option<String>,
    #[serde(default)]
    event_time: Option<String>,
    #[serde(default)]
    range: Option<RangeInput>,
}

/// Decodes an invocation and screens its objects against `lake`.
///
/// # Errors
/// [`Error::Event`] when the JSON is none of the accepted shapes or is malformed as a whole
/// (a malformed single record becomes an [`Item::Invalid`]).
pub fn decode(event: &Value, lake: &LakeLocation) -> Result<Decoded> {
    let obj = event.as_object().ok_or_else(|| Error::Event("the event is not a JSON object".into()))?;
    let (trigger, items) = if obj.contains_key("Records") {
        (Trigger::S3Notification, decode_s3_notification(event)?)
    } else if obj.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        let reason = "s3:TestEvent (sent when a notification is configured)".to_owned();
        (Trigger::S3TestEvent, vec![Item::Ignore { source: None, reason }])
    } else if obj.contains_key("detail-type") {
        (Trigger::EventBridge, vec![decode_eventbridge(event)?])
    } else if obj.contains_key("bucket") && obj.contains_key("key") {
        (Trigger::StepFunctions, vec![decode_task_input(event)])
    } else {
        let keys: Vec<&str> = obj.keys().map(String::as_str).take(8).collect();
        return Err(Error::Event(format!(
            "not an S3 notification, an EventBridge event or a Step Functions task input (keys: {})",
            keys.join(", ")
        )));
    };
    Ok(Decoded { trigger, items: items.into_iter().map(|i| screen(i, lake)).collect() })
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// An ETag without its quotes (events carry it bare, responses quoted).
pub fn bare_etag(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

fn decode_s3_notification(event: &Value) -> Result<Vec<Item>> {
    let parsed: S3Event =
        serde_json::from_value(event.clone()).map_err(|e| Error::Event(format!("malformed S3 notification: {e}")))?;
    let items = parsed
        .records
        .into_iter()
        .map(|r| {
            let bucket = r.s3.bucket.name.unwrap_or_default();
            let raw_key = r.s3.object.key.unwrap_or_default();
            let raw_source = format!("s3://{bucket}/{raw_key}");
            let name = r.event_name.unwrap_or_default();
            if !name.contains("ObjectCreated:") {
                let reason = format!("event '{name}' is not an object creation");
                return Item::Ignore { source: Some(raw_source), reason };
            }
            if bucket.is_empty() || raw_key.is_empty() {
                return Item::Invalid { source: None, reason: "record without a bucket name or object key".into() };
            }
            let Some(key) = duff_core::lake::decode_s3_event_key(&raw_key) else {
                let reason = format!("the key '{raw_key}' does not decode to UTF-8");
                return Item::Invalid { source: Some(raw_source), reason };
            };
            Item::Ingest(ObjectRef {
                bucket,
                key,
                version_id: non_empty(r.s3.object.version_id),
                etag: non_empty(r.s3.object.e_tag).map(|e| bare_etag(&e).to_owned()),
                size: r.s3.object.size.and_then(|s| u64::try_from(s).ok()),
                event_time_micros: Some(r.event_time.timestamp_micros()),
            })
        })
        .collect();
    Ok(items)
}

fn decode_eventbridge(event: &Value) -> Result<Item> {
    let ev: EventBridgeEvent<S3EventBridgeDetail> =
        serde_json::from_value(event.clone()).map_err(|e| Error::Event(format!("malformed EventBridge event: {e}")))?;
    if ev.source != "aws.s3" || ev.detail_type != "Object Created" {
        let reason = format!("EventBridge '{}' from '{}' is not an S3 object creation", ev.detail_type, ev.source);
        return Ok(Item::Ignore { source: None, reason });
    }
    let (Some(bucket), Some(object)) = (ev.detail.bucket, ev.detail.object) else {
        return Ok(Item::Invalid { source: None, reason: "detail without bucket or object".into() });
    };
    if bucket.name.is_empty() || object.key.is_empty() {
        return Ok(Item::Invalid { source: None, reason: "empty bucket name or object key".into() });
    }
    Ok(Item::Ingest(ObjectRef {
        bucket: bucket.name,
        key: object.key,
        version_id: non_empty(object.version_id),
        etag: non_empty(object.etag).map(|e| bare_etag(&e).to_owned()),
        size: object.size,
        event_time_micros: ev.time.map(|t| t.timestamp_micros()),
    }))
}

fn decode_task_input(event: &Value) -> Item {
    let source = || {
        let s = |k: &str| event.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        Some(format!("s3://{}/{}", s("bucket"), s("key")))
    };
    let input: TaskInput = match serde_json::from_value(event.clone()) {
        Ok(i) => i,
        Err(e) => return Item::Invalid { source: source(), reason: format!("malformed task input: {e}") },
    };
    let range = match input.range.map(RangeInput::task) {
        None => None,
        Some(Ok(task)) => Some(task),
        Some(Err(reason)) => return Item::Invalid { source: source(), reason },
    };
    if input.bucket.is_empty() || input.key.is_empty() {
        return Item::Invalid { source: source(), reason: "empty bucket or key".into() };
    }
    let event_time_micros = match input.event_time.as_deref().map(DateTime::parse_from_rfc3339) {
        None => None,
        Some(Ok(t)) => Some(t.with_timezone(&Utc).timestamp_micros()),
        Some(Err(e)) => {
            let reason = format!("event_time is not an RFC 3339 instant: {e}");
            return Item::Invalid { source: source(), reason };
        }
    };
    let obj = ObjectRef {
        bucket: input.bucket,
        key: input.key,
        version_id: non_empty(input.version_id),
        etag: non_empty(input.etag).map(|e| bare_etag(&e).to_owned()),
        size: None,
        event_time_micros,
    };
    match range {
        None => Item::Ingest(obj),
        Some(task) => Item::Range(obj, task),
    }
}

/// Applies the ignore rules to a candidate.
fn screen(item: Item, lake: &LakeLocation) -> Item {
    let (obj, range) = match item {
        Item::Ingest(obj) => (obj, None),
        Item::Range(obj, task) => (obj, Some(task)),
        other => return other,
    };
    let reason = if obj.key.ends_with('/') {
        "a folder marker"
    } else if lake.contains(&obj.bucket, &obj.key) {
        "inside the lake (loop guard)"
    } else if !obj.key.to_ascii_lowercase().ends_with(".csv") {
        "not a .csv key"
    } else {
        return match range {
            None => Item::Ingest(obj),
            Some(task) => Item::Range(obj, task),
        };
    };
    Item::Ignore { source: Some(obj.source()), reason: reason.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lake() -> LakeLocation {
        LakeLocation::S3 { bucket: "duff-lake".into(), prefix: "lake".into() }
    }

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    fn ingest(item: &Item) -> &ObjectRef {
        match item {
            Item::Ingest(o) => o,
            other => panic!("expected an object to ingest, got {other:?}"),
        }
    }

    fn micros(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp_micros()
    }

    #[test]
    fn s3_notification_with_several_records_and_encoded_keys() {
        let d = decode(&fixture("s3-put-several.json"), &lake()).unwrap();
        assert_eq!(d.trigger, Trigger::S3Notification);
        let keys: Vec<String> = d.items.iter().map(|i| ingest(i).key.clone()).collect();
        assert_eq!(keys, ["incoming/a b+c.csv", "incoming/café.csv", "incoming/100%.csv", "incoming/ORDERS.CSV"]);
        let first = ingest(&d.items[0]);
        assert_eq!(first.bucket, "duff-raw");
        assert_eq!(first.etag.as_deref(), Some("0123456789abcdef0123456789abcdef"));
        assert_eq!(first.version_id.as_deref(), Some("3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"));
        assert_eq!(first.size, Some(1024));
        assert_eq!(first.event_time_micros, Some(micros("2026-11-27T09:00:00.123Z")));
        assert_eq!(first.source(), "s3://duff-raw/incoming/a b+c.csv");
        assert_eq!(ingest(&d.items[1]).version_id, None);
    }

    #[test]
    fn s3_test_event_is_ignored() {
        let d = decode(&fixture("s3-test-event.json"), &lake()).unwrap();
        assert_eq!(d.trigger, Trigger::S3TestEvent);
        assert!(matches!(&d.items[..], [Item::Ignore { source: None, reason }] if reason.contains("s3:TestEvent")));
    }

    #[test]
    fn folder_markers_non_csv_the_lake_and_deletions_are_ignored() {
        let d = decode(&fixture("s3-ignored.json"), &lake()).unwrap();
        let reasons: Vec<(Option<&str>, &str)> = d
            .items
            .iter()
            .map(|i| match i {
                Item::Ignore { source, reason } => (source.as_deref(), reason.as_str()),
                other => panic!("expected ignored, got {other:?}"),
            })
            .collect();
        assert_eq!(
            reasons,
            [
                (Some("s3://duff-raw/incoming/2026/"), "a folder marker"),
                (Some("s3://duff-raw/incoming/orders.xlsx"), "not a .csv key"),
                (Some("s3://duff-raw/incoming/orders.csv.gz"), "not a .csv key"),
                (Some("s3://duff-lake/lake/quarantine/x.csv"), "inside the lake (loop guard)"),
                (Some("s3://duff-raw/incoming/old.csv"), "event 'ObjectRemoved:Delete' is not an object creation"),
            ]
        );
    }

    #[test]
    fn eventbridge_keys_are_taken_as_they_are() {
        let d = decode(&fixture("eventbridge-object-created.json"), &lake()).unwrap();
        assert_eq!(d.trigger, Trigger::EventBridge);
        let o = ingest(&d.items[0]);
        // Not form-decoded: a '+' stays a '+', '%41' stays as written.
        assert_eq!(o.key, "incoming/a+b %41.csv");
        assert_eq!(o.bucket, "duff-raw");
        assert_eq!(o.etag.as_deref(), Some("b1946ac92492d2347c6235b4d2611184"));
        assert_eq!(o.version_id.as_deref(), Some("IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"));
        assert_eq!(o.size, Some(5));
        assert_eq!(o.event_time_micros, Some(micros("2026-11-27T09:00:00Z")));
    }

    #[test]
    fn eventbridge_other_detail_types_are_ignored() {
        let mut ev = fixture("eventbridge-object-created.json");
        ev["detail-type"] = "Object Deleted".into();
        let d = decode(&ev, &lake()).unwrap();
        assert!(matches!(&d.items[..], [Item::Ignore { reason, .. }] if reason.contains("Object Deleted")));
    }

    #[test]
    fn step_functions_input() {
        let d = decode(&fixture("stepfunctions-task.json"), &lake()).unwrap();
        assert_eq!(d.trigger, Trigger::StepFunctions);
        let o = ingest(&d.items[0]);
        assert_eq!(o.key, "incoming/a b+c.csv");
        assert_eq!(o.etag.as_deref(), Some("0123456789abcdef0123456789abcdef"));
        assert_eq!(o.event_time_micros, Some(micros("2026-11-27T09:00:00.5Z")));
        let minimal = serde_json::json!({"bucket": "duff-raw", "key": "x.csv"});
        let o = ingest(&decode(&minimal, &lake()).unwrap().items[0]).clone();
        assert_eq!((o.version_id, o.etag, o.event_time_micros), (None, None, None));
    }

    #[test]
    fn step_functions_range_steps() {
        let id = "0123456789abcdef0123456789abcdef";
        let with = |range: Value| serde_json::json!({"bucket": "duff-raw", "key": "x.csv", "range": range});
        let one = |range: Value| decode(&with(range), &lake()).unwrap().items.remove(0);
        let plan = serde_json::json!({"plan": true, "length": 268_435_456, "object_size": 5});
        assert!(matches!(one(plan), Item::Range(o, RangeTask::Plan { part_bytes: 268_435_456 }) if o.key == "x.csv"));
        let part = serde_json::json!({"part": 3, "file_id": id, "ingested_at_micros": 7});
        assert!(
            matches!(one(part), Item::Range(_, RangeTask::Part { key, part: 3 }) if key.file_id.to_string() == id && key.ingested_at_micros == 7)
        );
        let merge = serde_json::json!({"merge": true, "file_id": id, "ingested_at_micros": 7, "parts": 4});
        assert!(matches!(one(merge), Item::Range(_, RangeTask::Merge { key }) if key.ingested_at_micros == 7));
        for (bad, why) in [
            (serde_json::json!({"start": 0, "end": 99}), "start"),
            (serde_json::json!({"plan": true}), "positive length"),
            (serde_json::json!({"plan": true, "merge": true, "length": 5}), "exactly one"),
            (serde_json::json!({"part": 1, "file_id": id}), "ingested_at_micros"),
            (serde_json::json!({"merge": true, "file_id": "zz", "ingested_at_micros": 1}), "32 hex"),
        ] {
            let item = one(bad);
            assert!(
                matches!(&item, Item::Invalid { reason, source: Some(s) } if reason.contains(why) && s == "s3://duff-raw/x.csv"),
                "{item:?}"
            );
        }
        // A range in the lake is screened like a whole object.
        let looped =
            serde_json::json!({"bucket": "duff-lake", "key": "lake/x.csv", "range": {"plan": true, "length": 9}});
        assert!(matches!(&decode(&looped, &lake()).unwrap().items[..], [Item::Ignore { .. }]));
    }

    #[test]
    fn step_functions_unknown_fields_are_refused() {
        let typo = serde_json::json!({"bucket": "duff-raw", "key": "x.csv", "versionId": "v"});
        assert!(
            matches!(&decode(&typo, &lake()).unwrap().items[..], [Item::Invalid { reason, .. }] if reason.contains("versionId"))
        );
        let bad_time = serde_json::json!({"bucket": "duff-raw", "key": "x.csv", "event_time": "yesterday"});
        assert!(
            matches!(&decode(&bad_time, &lake()).unwrap().items[..], [Item::Invalid { reason, .. }] if reason.contains("event_time"))
        );
    }

    #[test]
    fn unknown_and_malformed_events_are_errors() {
        assert!(
            matches!(decode(&serde_json::json!({"hello": 1}), &lake()), Err(Error::Event(m)) if m.contains("hello"))
        );
        assert!(matches!(decode(&serde_json::json!([1]), &lake()), Err(Error::Event(_))));
        let no_time = serde_json::json!({"Records": [{"s3": {}}]});
        assert!(matches!(decode(&no_time, &lake()), Err(Error::Event(m)) if m.contains("malformed S3 notification")));
    }

    #[test]
    fn undecodable_keys_are_invalid() {
        let mut ev = fixture("s3-put-several.json");
        ev["Records"][0]["s3"]["object"]["key"] = "bad%FF.csv".into();
        let d = decode(&ev, &lake()).unwrap();
        assert!(matches!(&d.items[0], Item::Invalid { reason, .. } if reason.contains("UTF-8")));
    }

    #[test]
    fn maintenance_actions_are_decoded_from_their_fixtures() {
        for (file, action) in [
            ("action-refresh-models.json", Action::RefreshModels),
            ("action-update-serving.json", Action::UpdateServing),
            ("action-rebuild-serving.json", Action::RebuildServing),
            ("action-vacuum.json", Action::Vacuum),
        ] {
            assert_eq!(decode_action(&fixture(file)), Some(Ok(action)), "{file}");
            assert_eq!(serde_json::to_value(action.trigger()).unwrap(), action.name(), "the trigger names the action");
        }
        // Ingest events have no action.
        for file in ["s3-put-several.json", "eventbridge-object-created.json", "stepfunctions-task.json"] {
            assert_eq!(decode_action(&fixture(file)), None, "{file}");
        }
        assert_eq!(decode_action(&serde_json::json!([1])), None);
    }

    #[test]
    fn unknown_actions_are_refused_with_the_known_ones() {
        for bad in [serde_json::json!({"action": "update-serving"}), serde_json::json!({"action": 1})] {
            let reason = decode_action(&bad).unwrap().unwrap_err();
            assert!(reason.contains(r#"known: "refresh_models", "update_serving", "rebuild_serving""#), "{reason}");
        }
    }

    #[test]
    fn etags_lose_their_quotes() {
        assert_eq!(bare_etag("\"abc\""), "abc");
        assert_eq!(bare_etag("abc-2"), "abc-2");
    }

    #[test]
    fn the_ingest_instant_is_the_event_time_else_last_modified() {
        let mut o = ObjectRef {
            bucket: "b".into(),
            key: "k.csv".into(),
            version_id: None,
            etag: None,
            size: None,
            event_time_micros: Some(5),
        };
        assert_eq!(o.ingest_instant(Some(9)).unwrap(), 5, "the event's time first");
        assert_eq!(o.ingest_instant(None).unwrap(), 5);
        o.event_time_micros = None;
        assert_eq!(o.ingest_instant(Some(9)).unwrap(), 9, "else Last-Modified");
        let e = o.ingest_instant(None).unwrap_err();
        assert!(matches!(&e, Error::Event(m) if m.contains("ingest instant is unknown")), "{e}");
    }
}
