//! The handler: decode the event, download each object, run the lake's ingest, report.

use crate::config::Config;
use crate::download::{DownloadPolicy, download};
use crate::error::{Error, Result};
use crate::event::{self, Action, Item, ObjectRef, RangeTask, Trigger};
use aws_config::SdkConfig;
use aws_sdk_s3::Client;
use duff_core::{Manifest, Outcome};
use duff_lake::{DirStore, IngestResult, Lake, LakeLocation, PlanOutcome, S3Failure, S3Store, Store};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// The lake on whichever store `DUFF_LAKE_URI` names: one code path for S3 and a folder.
type SharedLake = Lake<Arc<dyn Store>>;

/// What the function needs, built once at cold start and shared by every invocation.
#[derive(Debug, Clone)]
pub struct Deps {
    config: Config,
    s3: Client,
    lake: Arc<SharedLake>,
    download: DownloadPolicy,
}

impl Deps {
    /// Reads the configuration from the environment and builds the S3 client from the
    /// standard AWS sources (region, credentials, `AWS_ENDPOINT_URL`).
    ///
    /// # Errors
    /// [`Error::Config`] naming the missing or invalid variable.
    pub async fn from_env() -> Result<Deps> {
        let config = Config::from_env()?;
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
        Deps::new(config, &sdk)
    }

    /// Builds the S3 client from `sdk` (path-style addressing when a custom endpoint is
    /// configured) and the lake. Must be called inside a Tokio runtime.
    ///
    /// # Errors
    /// [`Error::Config`] when no region is configured or the work folder cannot be created.
    pub fn new(config: Config, sdk: &SdkConfig) -> Result<Deps> {
        if sdk.region().is_none() {
            return Err(Error::Config { name: "AWS_REGION", message: "no AWS region is configured".into() });
        }
        let mut builder = aws_sdk_s3::config::Builder::from(sdk);
        if let Some(url) = &config.endpoint_url {
            builder = builder.endpoint_url(url).force_path_style(true);
        }
        Deps::with_client(config, Client::from_conf(builder.build()))
    }

    /// Builds the lake around an existing client (tests pass a mocked one). Must be called
    /// inside a Tokio runtime.
    ///
    /// # Errors
    /// [`Error::Config`] when the work folder or a local lake folder cannot be created.
    pub fn with_client(config: Config, s3: Client) -> Result<Deps> {
        std::fs::create_dir_all(&config.work_dir).map_err(|e| Error::Config {
            name: "DUFF_WORK_DIR",
            message: format!("cannot create {}: {e}", config.work_dir.display()),
        })?;
        // Outputs are staged in the work folder for S3, inside the lake folder for a local
        // lake (published by rename, as the local pipeline does).
        let (store, staging): (Arc<dyn Store>, _) = match &config.lake {
            LakeLocation::S3 { bucket, prefix } => {
                let handle = tokio::runtime::Handle::try_current()
                    .map_err(|e| Error::Task { what: "the S3 lake needs a Tokio runtime", source: Box::new(e) })?;
                let store = S3Store::new(s3.clone(), bucket, prefix, handle);
                (Arc::new(store), config.work_dir.join("duff-staging"))
            }
            LakeLocation::Dir(path) => {
                let store = DirStore::open(path).map_err(|e| Error::Config {
                    name: "DUFF_LAKE_URI",
                    message: format!("cannot open the lake folder: {e}"),
                })?;
                (Arc::new(store), path.join(".staging"))
            }
        };
        let lake = Arc::new(Lake::new(store, staging));
        Ok(Deps { config, s3, lake, download: DownloadPolicy::default() })
    }

    /// Replaces the download policy (tests shorten the backoff).
    pub fn with_download_policy(mut self, policy: DownloadPolicy) -> Deps {
        self.download = policy;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The S3 client.
    pub fn s3(&self) -> &Client {
        &self.s3
    }
}

/// What became of one record of the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordOutcome {
    /// Ingested: its rows and quarantine are in the lake.
    Published,
    /// Refused whole: too many rows quarantined (see the manifest).
    Rejected,
    /// Refused whole: a file-level problem (see the manifest).
    Failed,
    /// The same content was already published: nothing changed.
    Duplicate,
    /// Nothing to do (test event, folder marker, non-CSV, the lake itself, object gone).
    Ignored,
    /// A malformed event or record.
    Invalid,
    /// A failure; `retryable` says whether the invocation was failed for Lambda to retry.
    Error,
}

impl RecordOutcome {
    /// The outcome as written in the response and the logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            RecordOutcome::Published => "published",
            RecordOutcome::Rejected => "rejected",
            RecordOutcome::Failed => "failed",
            RecordOutcome::Duplicate => "duplicate",
            RecordOutcome::Ignored => "ignored",
            RecordOutcome::Invalid => "invalid",
            RecordOutcome::Error => "error",
        }
    }
}

/// One record's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordReport {
    /// `s3://bucket/key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The outcome.
    pub outcome: RecordOutcome,
    /// Why (ignored, invalid, rejected, failed, error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// For errors: whether the invocation was failed so that Lambda retries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    /// The content identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    /// The ingest instant (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingested_at: Option<String>,
    /// Rows read, accepted, quarantined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<[u64; 3]>,
    /// The manifest's reconciliation line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciliation: Option<String>,
}

/// The function's response: one report per record.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Response {
    /// The kind of event (absent when it was not recognised).
    pub trigger: Option<Trigger>,
    /// One report per record (none for a successful `refresh_models`).
    pub records: Vec<RecordReport>,
    /// What a `refresh_models` invocation rebuilt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<ModelsReport>,
    /// A fan-out plan step that cut the file into parts: the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanReport>,
    /// A fan-out plan step that cut the file into parts: one item per part, each the
    /// `range` of that part's invocation (the state machine's Distributed Map iterates them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Vec<RangeItem>>,
    /// A fan-out part step: what the part did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<duff_lake::PartReport>,
    /// An `update_serving` or `rebuild_serving` invocation: what the fold did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving: Option<ServingReport>,
    /// A `vacuum` invocation: what it removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vacuum: Option<VacuumSummary>,
}

/// What a `vacuum` invocation did (see [`duff_lake::VacuumReport`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VacuumSummary {
    /// Leftovers removed (objects; a fan-out work folder counts once).
    pub removed: usize,
    /// Leftovers kept because younger than the age.
    pub kept_young: usize,
    /// Objects and records of older serving generations removed.
    pub serving_removed: usize,
    /// Manifests that cannot be parsed (their files' objects were kept).
    pub unreadable_manifests: Vec<String>,
    /// The age, in seconds.
    pub older_than_secs: u64,
}

/// The plan of a fanned-out file, as the plan step answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanReport {
    /// The content identity.
    pub file_id: String,
    /// The ingest instant (the work objects' folder, and the instant of every row).
    pub ingested_at_micros: i64,
    /// How many parts.
    pub parts: usize,
    /// The object's size.
    pub bytes: u64,
}

/// One part to ingest: the `range` object of its invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeItem {
    /// The part.
    pub part: usize,
    /// The content identity.
    pub file_id: String,
    /// The ingest instant.
    pub ingested_at_micros: i64,
}

/// The `action` of a maintenance invocation that rebuilds the analytics models
/// (`{"action": "refresh_models"}`), sent by the EventBridge Scheduler schedule of
/// `deploy/template.yaml`.
pub const REFRESH_MODELS: &str = Action::RefreshModels.name();

/// The `action` of the serving step (`{"action": "update_serving"}`), which the ingest
/// state machine runs after each published file: [`duff_lake::Lake::update_serving`] folds
/// every published file that the newest generation of the serving state does not hold yet
/// and commits the next generation (docs/serving.md).
pub const UPDATE_SERVING: &str = Action::UpdateServing.name();

/// The `action` that rebuilds the serving state from the published files alone
/// (`{"action": "rebuild_serving"}`, [`duff_lake::Lake::rebuild_serving`]): the operator's
/// repair after a serving object was lost or damaged (docs/deploy.md).
pub const REBUILD_SERVING: &str = Action::RebuildServing.name();

/// The `action` that removes crash leftovers older than a day (`{"action": "vacuum"}`,
/// [`duff_lake::Lake::vacuum`] with [`duff_lake::vacuum::DEFAULT_AGE`]), sent by the
/// EventBridge Scheduler schedule `VacuumSchedule` of `deploy/template.yaml`.
pub const VACUUM: &str = Action::Vacuum.name();

/// Every action a maintenance invocation may name.
pub const ACTIONS: [&str; 4] = [REFRESH_MODELS, UPDATE_SERVING, REBUILD_SERVING, VACUUM];

/// What an `update_serving` or `rebuild_serving` invocation did (see
/// [`duff_lake::ServingUpdate`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServingReport {
    /// The newest generation after the fold (`None`: no file was ever published).
    pub generation: Option<u64>,
    /// Files folded by this invocation (0: the newest generation already held every
    /// published file, e.g. because a concurrent step folded this one's file too).
    pub files_folded: usize,
    /// Current lines that changed.
    pub lines_changed: u64,
    /// Whether the runs were merged into a new base.
    pub compacted: bool,
    /// Commit races lost to a concurrent writer (each one folded again on top of the winner).
    pub retries: u32,
    /// Wall time of the whole update, retries included.
    pub elapsed_ms: u64,
    /// Wall time of each step of the last fold, in order (`read`, `lookup`, `fold`, `write`,
    /// `compact`, `commit`; only the steps that ran).
    pub steps: Vec<ServingStep>,
}

/// One step of a fold and its wall time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServingStep {
    /// The step.
    pub step: String,
    /// Its wall time.
    pub ms: u64,
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl From<&duff_lake::ServingUpdate> for ServingReport {
    fn from(u: &duff_lake::ServingUpdate) -> ServingReport {
        ServingReport {
            generation: u.generation,
            files_folded: u.files_folded,
            lines_changed: u.lines_changed,
            compacted: u.compacted,
            retries: u.retries,
            elapsed_ms: millis(u.elapsed),
            steps: u.steps.iter().map(|(step, d)| ServingStep { step: (*step).to_owned(), ms: millis(*d) }).collect(),
        }
    }
}

/// The models a `refresh_models` invocation wrote under `models/` (see
/// [`duff_lake::Lake::refresh_models`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelsReport {
    /// Each model written, in order, with its rows.
    pub tables: Vec<ModelTable>,
    /// How long the rebuild took.
    pub elapsed_ms: u64,
}

/// One model written by `refresh_models`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelTable {
    /// Its name (`models/<name>/<name>.parquet`).
    pub name: String,
    /// Its rows.
    pub rows: u64,
}

impl Response {
    /// The outcomes, in record order.
    pub fn outcomes(&self) -> Vec<RecordOutcome> {
        self.records.iter().map(|r| r.outcome).collect()
    }
}

fn report(source: Option<String>, outcome: RecordOutcome, message: impl Into<String>) -> RecordReport {
    RecordReport {
        source,
        outcome,
        message: Some(message.into()),
        retryable: None,
        file_id: None,
        ingested_at: None,
        rows: None,
        reconciliation: None,
    }
}

fn manifest_report(result: &IngestResult) -> RecordReport {
    let m: &Manifest = result.manifest();
    let outcome = match (result, m.outcome) {
        (IngestResult::Duplicate(_), _) => RecordOutcome::Duplicate,
        (_, Outcome::Published) => RecordOutcome::Published,
        (_, Outcome::Rejected) => RecordOutcome::Rejected,
        (_, Outcome::Failed) => RecordOutcome::Failed,
    };
    RecordReport {
        source: Some(m.source.clone()),
        outcome,
        message: m.message.clone(),
        retryable: None,
        file_id: Some(m.file_id.clone()),
        ingested_at: Some(m.ingested_at.clone()),
        rows: Some([m.rows_read, m.rows_accepted, m.rows_quarantined]),
        reconciliation: Some(m.reconciliation_line()),
    }
}

/// Handles one invocation: an S3, EventBridge or Step Functions event (ingest), or a
/// maintenance action (`{"action": ...}`, one of [`ACTIONS`]).
///
/// An ingest returns `Err` only when a retry can help (duff-lambda-etl/README.md, "Error policy"): a transient S3 failure
/// or a stream cut too often, for any record (the records already ingested are duplicates
/// on the retry, which changes nothing). Everything else is an outcome in the response.
/// The fan-out's steps and the serving actions fail on every failure (the state machine
/// records it).
///
/// # Errors
/// The first retryable error of an ingest; any failure of a fan-out step or serving action.
pub async fn handle(deps: &Deps, event: &Value) -> Result<Response> {
    if let Some(action) = event::decode_action(event) {
        return handle_action(deps, action).await;
    }
    let decoded = match event::decode(event, &deps.config.lake) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "invalid event");
            return Ok(Response {
                trigger: None,
                records: vec![report(None, RecordOutcome::Invalid, e.to_string())],
                ..Response::default()
            });
        }
    };
    if let [Item::Range(obj, task)] = &decoded.items[..] {
        return handle_range(deps, obj, task).await;
    }
    let mut records = Vec::with_capacity(decoded.items.len());
    let mut retry: Option<Error> = None;
    for item in decoded.items {
        let rec = match item {
            Item::Ignore { source, reason } => {
                tracing::info!(source = source.as_deref().unwrap_or(""), reason, outcome = "ignored", "record ignored");
                report(source, RecordOutcome::Ignored, reason)
            }
            Item::Invalid { source, reason } => {
                tracing::warn!(source = source.as_deref().unwrap_or(""), reason, outcome = "invalid", "invalid record");
                report(source, RecordOutcome::Invalid, reason)
            }
            Item::Range(obj, _) => {
                let reason = "a fan-out step ('range') comes alone in a Step Functions task input";
                report(Some(obj.source()), RecordOutcome::Invalid, reason)
            }
            Item::Ingest(obj) => match ingest_one(deps, &obj).await {
                Ok(result) => {
                    let rec = manifest_report(&result);
                    let m = result.manifest();
                    tracing::info!(
                        source = m.source,
                        outcome = rec.outcome.as_str(),
                        file_id = m.file_id,
                        ingested_at = m.ingested_at,
                        rows_read = m.rows_read,
                        rows_accepted = m.rows_accepted,
                        rows_quarantined = m.rows_quarantined,
                        units = m.totals.units,
                        amount = m.totals.amount,
                        volume_l = m.totals.volume_l,
                        "{}",
                        m.reconciliation_line()
                    );
                    rec
                }
                Err(e) if let Some(vanished) = Vanished::of(&e) => vanished.ignored(&obj),
                Err(e) => {
                    let retryable = e.is_retryable();
                    tracing::error!(
                        source = obj.source(),
                        error_type = e.error_type(),
                        retryable,
                        error = e.full_message(),
                        outcome = "error",
                        "ingest failed"
                    );
                    let mut rec = report(Some(obj.source()), RecordOutcome::Error, e.full_message());
                    rec.retryable = Some(retryable);
                    if retryable && retry.is_none() {
                        retry = Some(e);
                    }
                    rec
                }
            },
        };
        records.push(rec);
    }
    if let Some(e) = retry {
        return Err(e);
    }
    Ok(Response { trigger: Some(decoded.trigger), records, ..Response::default() })
}

/// A maintenance invocation (`{"action": ...}`, one of [`ACTIONS`]):
/// - [`REFRESH_MODELS`] rebuilds the analytics models from the whole lake with the same code
///   as the local pipeline's `--models` ([`duff_lake::Lake::refresh_models`]);
/// - [`UPDATE_SERVING`] and [`REBUILD_SERVING`] fold the published files into the serving
///   state ([`serving_action`]).
///
/// An unknown action is `invalid`.
///
/// # Errors
/// A retryable failure (S3 5xx, throttling) while reading the lake or writing the models;
/// any failure of a serving action.
async fn handle_action(deps: &Deps, action: std::result::Result<Action, String>) -> Result<Response> {
    match action {
        Ok(Action::RefreshModels) => refresh_models(deps).await,
        Ok(Action::UpdateServing) => serving_action(deps, false).await,
        Ok(Action::RebuildServing) => serving_action(deps, true).await,
        Ok(Action::Vacuum) => vacuum_action(deps).await,
        Err(reason) => {
            tracing::warn!(reason, outcome = "invalid", "invalid action");
            Ok(Response {
                trigger: None,
                records: vec![report(None, RecordOutcome::Invalid, reason)],
                ..Response::default()
            })
        }
    }
}

/// The serving step (`rebuild: false`, [`duff_lake::Lake::update_serving`]) or the repair
/// (`rebuild: true`, [`duff_lake::Lake::rebuild_serving`]), on a blocking thread. Concurrent
/// invocations need no lock: each commits its generation only if absent, and one that loses
/// the race folds again on top of the winner (docs/serving.md).
///
/// # Errors
/// Every failure fails the invocation, so that the state machine retries it (`Duff.Retryable`:
/// S3 5xx, throttling) or records it (`Duff.ServingDamaged`: rebuild with
/// `{"action": "rebuild_serving"}`; other `Duff.*` types otherwise).
async fn serving_action(deps: &Deps, rebuild: bool) -> Result<Response> {
    let (trigger, what) = if rebuild {
        (Trigger::RebuildServing, "rebuilding the serving state")
    } else {
        (Trigger::UpdateServing, "updating the serving state")
    };
    let result = blocking(deps, move |lake| if rebuild { lake.rebuild_serving() } else { lake.update_serving() }).await;
    match result {
        Ok(update) => {
            let serving = ServingReport::from(&update);
            let steps: Vec<String> = serving.steps.iter().map(|s| format!("{} {} ms", s.step, s.ms)).collect();
            tracing::info!(
                generation = serving.generation,
                files_folded = serving.files_folded,
                lines_changed = serving.lines_changed,
                compacted = serving.compacted,
                retries = serving.retries,
                elapsed_ms = serving.elapsed_ms,
                steps = steps.join(", "),
                "{what}: done"
            );
            Ok(Response { trigger: Some(trigger), serving: Some(serving), ..Response::default() })
        }
        Err(e) => Err(logged_failure(what, e)),
    }
}

/// `{"action": "vacuum"}`: removes the leftovers older than a day, on a blocking thread
/// (docs/lake.md, "After a crash").
///
/// # Errors
/// Listing, read or delete failures (retryable ones are `Duff.Retryable`).
async fn vacuum_action(deps: &Deps) -> Result<Response> {
    let age = duff_lake::vacuum::DEFAULT_AGE;
    match blocking(deps, move |lake| lake.vacuum(age, false)).await {
        Ok(report) => {
            let summary = VacuumSummary {
                removed: report.removed.len(),
                kept_young: report.kept_young,
                serving_removed: report.serving_removed,
                unreadable_manifests: report.unreadable_manifests.clone(),
                older_than_secs: age.as_secs(),
            };
            for l in &report.removed {
                tracing::info!(kind = l.kind.as_str(), key = %l.key, age_secs = l.age_secs, "vacuum: removed");
            }
            for key in &report.unreadable_manifests {
                tracing::warn!(key = %key, "vacuum: a manifest cannot be parsed; its file's objects were kept");
            }
            tracing::info!(
                removed = summary.removed,
                kept_young = summary.kept_young,
                serving_removed = summary.serving_removed,
                "vacuum: done"
            );
            Ok(Response { trigger: Some(Trigger::Vacuum), vacuum: Some(summary), ..Response::default() })
        }
        Err(e) => Err(logged_failure("vacuum", e)),
    }
}

/// Logs an action's failure (its error type, whether a retry can help, the whole cause
/// chain) and returns the error.
fn logged_failure(what: &str, e: Error) -> Error {
    tracing::error!(
        error_type = e.error_type(),
        retryable = e.is_retryable(),
        error = e.full_message(),
        outcome = "error",
        "{what} failed"
    );
    e
}

/// `{"action": "refresh_models"}`: see [`handle_action`].
///
/// # Errors
/// A retryable failure (S3 5xx, throttling) while reading the lake or writing the models.
async fn refresh_models(deps: &Deps) -> Result<Response> {
    let started = std::time::Instant::now();
    let result = blocking(deps, |lake| lake.refresh_models()).await;
    let trigger = Some(Trigger::RefreshModels);
    match result {
        Ok(written) => {
            let elapsed_ms = millis(started.elapsed());
            let tables: Vec<ModelTable> =
                written.into_iter().map(|(name, rows)| ModelTable { name, rows: rows as u64 }).collect();
            let lines = tables.iter().find(|t| t.name == "order_line_current").map_or(0, |t| t.rows);
            tracing::info!(tables = tables.len(), order_lines = lines, elapsed_ms, "models rebuilt");
            Ok(Response {
                trigger,
                records: Vec::new(),
                models: Some(ModelsReport { tables, elapsed_ms }),
                ..Response::default()
            })
        }
        Err(e) => {
            let retryable = e.is_retryable();
            tracing::error!(
                error_type = e.error_type(),
                retryable,
                error = e.full_message(),
                outcome = "error",
                "refreshing the models failed"
            );
            if retryable {
                return Err(e);
            }
            let mut rec = report(None, RecordOutcome::Error, e.full_message());
            rec.retryable = Some(false);
            Ok(Response { trigger, records: vec![rec], ..Response::default() })
        }
    }
}

async fn ingest_one(deps: &Deps, obj: &ObjectRef) -> Result<IngestResult> {
    let dl = download(&deps.s3, obj, &deps.config.work_dir, &deps.download).await?;
    let micros = obj.ingest_instant(dl.last_modified_micros)?;
    tracing::debug!(source = obj.source(), bytes = dl.bytes, resumes = dl.resumes, "downloaded");
    let (path, source, cfg) = (dl.file.to_path_buf(), obj.source(), deps.config.ingest.clone());
    let result = blocking(deps, move |lake| lake.ingest_file(&path, &source, micros, &cfg)).await;
    drop(dl); // removes the download
    result
}

/// One step of the big-file fan-out (see [`RangeTask`] and [`duff_lake::parts`]). Every
/// failure fails the invocation (`Duff.Retryable` when a retry can help, another `Duff.*`
/// type otherwise), so that the state machine's Map or task fails and records the error;
/// a file refused or found a duplicate at the plan, and an object gone or overwritten
/// since the event, are outcomes in `records` as for a whole file.
///
/// # Errors
/// Any failure of the step.
async fn handle_range(deps: &Deps, obj: &ObjectRef, task: &RangeTask) -> Result<Response> {
    let result = range_step(deps, obj, task).await;
    let trigger = Some(Trigger::StepFunctions);
    match result {
        Ok(resp) => Ok(Response { trigger, ..resp }),
        // An object overwritten since the plan fails the part or the merge: the parts
        // already read are of the old content.
        Err(e)
            if let Some(vanished) = Vanished::of(&e)
                && (vanished != Vanished::Overwritten || matches!(task, RangeTask::Plan { .. })) =>
        {
            Ok(Response { trigger, records: vec![vanished.ignored(obj)], ..Response::default() })
        }
        Err(e) => {
            tracing::error!(
                source = obj.source(),
                step = ?task,
                error_type = e.error_type(),
                retryable = e.is_retryable(),
                error = e.full_message(),
                outcome = "error",
                "fan-out step failed"
            );
            Err(e)
        }
    }
}

/// Runs `job` on the lake on a blocking thread: the lake is synchronous, and [`S3Store`]
/// blocks on the runtime's handle, which only a thread outside the runtime's workers may.
async fn blocking<T: Send + 'static>(
    deps: &Deps,
    job: impl FnOnce(&SharedLake) -> duff_lake::Result<T> + Send + 'static,
) -> Result<T> {
    let lake = Arc::clone(&deps.lake);
    tokio::task::spawn_blocking(move || job(&lake))
        .await
        .map_err(|e| Error::Task { what: "the blocking lake task did not finish", source: Box::new(e) })?
        .map_err(Error::from)
}

/// An object gone or overwritten since its event: the record is `ignored`, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Vanished {
    /// Deleted (`404`): a deletion needs nothing. The error's message.
    Gone(String),
    /// Overwritten (`412` on the ETag the event named): the new upload has its own event.
    Overwritten,
}

impl Vanished {
    /// The case of `e`, when it is one.
    fn of(e: &Error) -> Option<Vanished> {
        match e {
            Error::S3 { failure: S3Failure::NotFound, .. } => Some(Vanished::Gone(e.full_message())),
            Error::S3 { failure: S3Failure::PreconditionFailed, .. } => Some(Vanished::Overwritten),
            _ => None,
        }
    }

    /// The `ignored` record of `obj`, logged.
    fn ignored(&self, obj: &ObjectRef) -> RecordReport {
        let reason = match self {
            Vanished::Gone(message) => format!("the object (version) no longer exists: {message}"),
            Vanished::Overwritten => {
                "the object was overwritten since the event (the new upload has its own event)".to_owned()
            }
        };
        tracing::warn!(source = obj.source(), reason, outcome = "ignored", "record ignored");
        report(Some(obj.source()), RecordOutcome::Ignored, reason)
    }
}

async fn range_step(deps: &Deps, obj: &ObjectRef, task: &RangeTask) -> Result<Response> {
    let cfg = deps.config.ingest.clone();
    match task {
        RangeTask::Plan { part_bytes } => {
            let mut planner = duff_core::fanout::Planner::new(&cfg, *part_bytes);
            let streamed = crate::download::plan_object(&deps.s3, obj, &deps.download, &mut planner).await?;
            let micros = obj.ingest_instant(streamed.last_modified_micros)?;
            let planned = planner.finish();
            let source = obj.source();
            match blocking(deps, move |lake| lake.plan_parts(planned, &source, micros, &cfg)).await? {
                PlanOutcome::Done(result) => {
                    Ok(Response { records: vec![manifest_report(&result)], ..Response::default() })
                }
                PlanOutcome::Parts { key, parts, bytes } => {
                    let file_id = key.file_id.to_string();
                    tracing::info!(source = obj.source(), file_id, parts, bytes, "fan-out planned");
                    let ranges = (0..parts)
                        .map(|part| RangeItem { part, file_id: file_id.clone(), ingested_at_micros: micros })
                        .collect();
                    let plan = PlanReport { file_id, ingested_at_micros: micros, parts, bytes };
                    Ok(Response { plan: Some(plan), ranges: Some(ranges), ..Response::default() })
                }
            }
        }
        RangeTask::Part { key, part } => {
            let (part, key, fetch) = (*part, key.clone(), PartFetcher::new(deps, obj));
            let done = blocking(deps, move |lake| lake.ingest_part(&key, part, &|range| fetch.range(range), &cfg))
                .await
                .map_err(fetch_failure)?;
            tracing::info!(source = obj.source(), part, rows = ?done.rows, published_already = done.published_already, "fan-out part step done");
            Ok(Response { part: Some(done), ..Response::default() })
        }
        RangeTask::Merge { key } => {
            let (key, fetch) = (key.clone(), PartFetcher::new(deps, obj));
            let result = blocking(deps, move |lake| lake.merge_parts(&key, &cfg, &|range| fetch.range(range)))
                .await
                .map_err(fetch_failure)?;
            Ok(Response { records: vec![manifest_report(&result)], ..Response::default() })
        }
    }
}

/// Fetches one part of the object with a ranged GET, from a blocking thread (the lake's
/// steps run there; the GET runs on the runtime's handle).
struct PartFetcher {
    handle: tokio::runtime::Handle,
    s3: Client,
    policy: DownloadPolicy,
    object: ObjectRef,
}

impl PartFetcher {
    fn new(deps: &Deps, obj: &ObjectRef) -> PartFetcher {
        PartFetcher {
            handle: tokio::runtime::Handle::current(),
            s3: deps.s3.clone(),
            policy: deps.download,
            object: obj.clone(),
        }
    }

    fn range(&self, range: duff_core::fanout::PartRange) -> duff_lake::Result<Box<dyn duff_core::fanout::ByteSource>> {
        let read = crate::download::get_range(&self.s3, &self.object, range.start.byte, range.end, &self.policy);
        // The lake's error keeps the GET's own, for `fetch_failure`.
        let bytes = self.handle.block_on(read).map_err(|e| duff_lake::Error::Store {
            action: "reading a part of",
            key: self.object.source(),
            retryable: e.is_retryable(),
            source: Box::new(e),
        })?;
        Ok(Box::new(duff_core::fanout::Pieces::new(range.end).with(range.start.byte, bytes)))
    }
}

/// The error of a part's GET when a lake step failed because of it (the GET's own error
/// says most: object gone, overwritten, throttled); any other error as it is.
fn fetch_failure(e: Error) -> Error {
    match e {
        Error::Lake(duff_lake::Error::Store { action, key, source, retryable }) => match source.downcast::<Error>() {
            Ok(get) => *get,
            Err(source) => Error::Lake(duff_lake::Error::Store { action, key, source, retryable }),
        },
        e => e,
    }
}

/// The Lambda entry point: [`handle`] with the error mapped to a stable error type.
///
/// # Errors
/// A [`lambda_runtime::Diagnostic`] with `errorType` `Duff.Retryable` (see [`handle`]).
pub async fn function_handler(
    deps: &Deps,
    event: lambda_runtime::LambdaEvent<Value>,
) -> Result<Response, lambda_runtime::Diagnostic> {
    handle(deps, &event.payload).await.map_err(lambda_runtime::Diagnostic::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_response_shape_is_stable() {
        // The ingest state machine reads `records[0].outcome` (deploy/statemachine).
        let resp = Response {
            trigger: Some(Trigger::StepFunctions),
            records: vec![report(Some("s3://b/k.csv".into()), RecordOutcome::Invalid, "why")],
            ..Response::default()
        };
        let json = serde_json::to_value(&resp).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"trigger": "step_functions",
                               "records": [{"source": "s3://b/k.csv", "outcome": "invalid", "message": "why"}]})
        );
        for o in [
            RecordOutcome::Published,
            RecordOutcome::Rejected,
            RecordOutcome::Failed,
            RecordOutcome::Duplicate,
            RecordOutcome::Ignored,
            RecordOutcome::Invalid,
            RecordOutcome::Error,
        ] {
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        }
        let back: Response = serde_json::from_value(json).unwrap();
        assert_eq!(back, resp);
    }

    #[test]
    fn the_serving_report_shape_is_stable() {
        // The ingest state machine keeps `serving` of this answer in the runs table.
        let update = duff_lake::ServingUpdate {
            generation: Some(7),
            files_folded: 2,
            lines_changed: 41,
            compacted: false,
            retries: 1,
            elapsed: std::time::Duration::from_micros(12_700),
            steps: vec![("read", std::time::Duration::from_millis(3)), ("commit", std::time::Duration::from_millis(9))],
        };
        let resp = Response {
            trigger: Some(Trigger::UpdateServing),
            serving: Some(ServingReport::from(&update)),
            ..Response::default()
        };
        let json = serde_json::to_value(&resp).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"trigger": "update_serving", "records": [],
                               "serving": {"generation": 7, "files_folded": 2, "lines_changed": 41, "compacted": false,
                                           "retries": 1, "elapsed_ms": 12,
                                           "steps": [{"step": "read", "ms": 3}, {"step": "commit", "ms": 9}]}})
        );
        let back: Response = serde_json::from_value(json).unwrap();
        assert_eq!(back, resp);
        assert_eq!(serde_json::to_value(Trigger::RebuildServing).unwrap(), REBUILD_SERVING);
        assert_eq!(serde_json::to_value(Trigger::UpdateServing).unwrap(), UPDATE_SERVING);
    }

    #[test]
    fn an_object_gone_or_overwritten_is_ignored_and_nothing_else() {
        let s3 = |failure| Error::S3 {
            action: "reading",
            bucket: "duff-raw".into(),
            key: "incoming/x.csv".into(),
            message: None,
            failure,
            source: Some("NoSuchKey".into()),
        };
        let gone = "reading s3://duff-raw/incoming/x.csv: NoSuchKey";
        assert_eq!(Vanished::of(&s3(S3Failure::NotFound)), Some(Vanished::Gone(gone.into())));
        assert_eq!(Vanished::of(&s3(S3Failure::PreconditionFailed)), Some(Vanished::Overwritten));
        assert_eq!(Vanished::of(&s3(S3Failure::Retryable)), None);
        assert_eq!(Vanished::of(&s3(S3Failure::Permanent)), None);
        assert_eq!(Vanished::of(&Error::Event("x".into())), None);
        let obj = ObjectRef {
            bucket: "duff-raw".into(),
            key: "incoming/x.csv".into(),
            version_id: None,
            etag: None,
            size: None,
            event_time_micros: None,
        };
        let gone = Vanished::Gone("NoSuchKey".into()).ignored(&obj);
        assert_eq!(
            (gone.outcome, gone.source.as_deref()),
            (RecordOutcome::Ignored, Some("s3://duff-raw/incoming/x.csv"))
        );
        assert_eq!(gone.message.as_deref(), Some("the object (version) no longer exists: NoSuchKey"));
        let overwritten = Vanished::Overwritten.ignored(&obj);
        assert_eq!(overwritten.outcome, RecordOutcome::Ignored);
        assert!(overwritten.message.is_some_and(|m| m.contains("overwritten since the event")));
    }

    /// A lake step that failed because a part's GET did answers the GET's own error, so
    /// that an object gone or overwritten is told apart from a lake failure.
    #[test]
    fn a_failed_part_fetch_surfaces_as_the_get_error() {
        let get = Error::S3 {
            action: "reading",
            bucket: "duff-raw".into(),
            key: "big.csv".into(),
            message: None,
            failure: S3Failure::PreconditionFailed,
            source: Some("412 Precondition Failed".into()),
        };
        let in_lake = Error::Lake(duff_lake::Error::Store {
            action: "reading a part of",
            key: "s3://duff-raw/big.csv".into(),
            retryable: false,
            source: Box::new(get),
        });
        assert!(
            in_lake.full_message().contains("412 Precondition Failed"),
            "the cause is kept: {}",
            in_lake.full_message()
        );
        let back = fetch_failure(in_lake);
        assert!(matches!(&back, Error::S3 { failure: S3Failure::PreconditionFailed, .. }), "{back:?}");
        assert_eq!(back.error_type(), "Duff.SourceChanged");
        // A store failure of the lake itself stays one.
        let store = Error::Lake(duff_lake::Error::Store {
            action: "writing",
            key: "lake/x".into(),
            retryable: true,
            source: "503 Slow Down".into(),
        });
        assert!(matches!(fetch_failure(store), Error::Lake(duff_lake::Error::Store { retryable: true, .. })));
        assert!(matches!(fetch_failure(Error::Event("x".into())), Error::Event(_)));
    }
}
