//! The DataFusion engine: the catalog's SQL over the lake's Parquet, in process. See
//! [`DataFusionEngine`].

use crate::store::{OpenError, OpenLake};
use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::scalar::ScalarValue;
use duff_api::catalog::{CURRENT_STATE, CURRENT_STATE_SQL};
use duff_api::{BoxFuture, Dialect, EngineError, LakeUri, Query, QueryEngine, Question, ResultSet, Value};
use duff_core::{Manifest, Outcome};
use futures::TryStreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Settings of the DataFusion engine.
#[derive(Debug, Clone)]
pub struct DataFusionConfig {
    /// How long a listing of `manifests/` is trusted (0: list on every request).
    pub refresh_interval: Duration,
    /// The deadline of one request (current state + query); past it, [`EngineError::Timeout`].
    pub query_timeout: Duration,
    /// Parallelism (DataFusion's `target_partitions`).
    pub target_partitions: usize,
    /// Answers kept per materialised state (0: none). A state never changes, so an answer
    /// stays right until the lake changes; the cache is dropped with its state, and
    /// emptied when full.
    pub result_cache_entries: usize,
}

impl Default for DataFusionConfig {
    fn default() -> Self {
        DataFusionConfig {
            refresh_interval: Duration::from_secs(1),
            query_timeout: Duration::from_secs(25),
            target_partitions: std::thread::available_parallelism().map_or(2, |n| n.get()),
            result_cache_entries: 256,
        }
    }
}

/// The catalog's queries run by DataFusion over a lake's Parquet, in process.
///
/// # The current state and its cache
///
/// Every report reads `order_line_current`. This engine materialises it in memory by running
/// [`CURRENT_STATE_SQL`] (the body of the Athena view) over two tables:
/// `fact_order_line` (a listing table over `fact_order_line/`, partition column
/// `ingest_date`) and `manifests` (the lake's `manifests/*.json`, parsed).
///
/// The materialised state is keyed by the set of manifest objects: `(key, ETag, size,
/// last modified)` of every `manifests/*.json`. The lake's manifests are listed again at
/// most once every [`DataFusionConfig::refresh_interval`] (default 1 s); when the set
/// differs, the state is rebuilt (new or changed manifests are fetched, known ones are
/// reused). So a file whose manifest has landed is answered by the API at most
/// `refresh_interval` plus one rebuild later, without a restart; one state (a few hundred
/// bytes per order line) is held at a time. A rebuild runs in its own task: a request
/// that times out while waiting does not cancel it, the next request gets its result.
///
/// Answers are cached per state ([`DataFusionConfig::result_cache_entries`], default 256):
/// the state is immutable, so a cached answer is exact until the lake changes, and the cache
/// goes with its state.
///
/// A manifest that cannot be parsed is skipped with a warning: its file counts as not
/// committed. A lake that cannot be listed or read is an [`EngineError::Lake`].
#[derive(Debug, Clone)]
pub struct DataFusionEngine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    lake: OpenLake,
    cfg: DataFusionConfig,
    cache: Mutex<Cache>,
}

/// One manifest as far as the current state needs it.
#[derive(Debug, Clone)]
struct ManifestRow {
    file_id: String,
    source: String,
    ingested_at_micros: i64,
    ingest_date: String,
    outcome: Outcome,
}

/// A listed manifest object: what identifies its version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct ObjectVersion {
    location: String,
    e_tag: Option<String>,
    size: u64,
    last_modified_micros: i64,
}

#[derive(Debug, Default)]
struct Cache {
    listed_at: Option<Instant>,
    /// Parsed manifests by version (`None`: unparsable, skipped).
    manifests: HashMap<ObjectVersion, Option<ManifestRow>>,
    snapshot: Option<Arc<Snapshot>>,
}

/// A query as the answer cache knows it: its SQL and its values.
type AnswerKey = (String, Vec<Value>);

/// A materialised current state, and the answers computed over it.
struct Snapshot {
    key: Vec<ObjectVersion>,
    ctx: SessionContext,
    answers: std::sync::Mutex<HashMap<AnswerKey, Arc<ResultSet>>>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").field("manifests", &self.key.len()).finish_non_exhaustive()
    }
}

impl DataFusionEngine {
    /// An engine over the lake at `lake`.
    ///
    /// # Errors
    /// When the lake's object store cannot be set up (or `s3://` without the `s3` feature).
    pub fn new(lake: &LakeUri, cfg: DataFusionConfig) -> Result<DataFusionEngine, OpenError> {
        let lake = crate::store::open(lake)?;
        Ok(DataFusionEngine { inner: Arc::new(Inner { lake, cfg, cache: Mutex::new(Cache::default()) }) })
    }

    /// The number of order lines in the current state (refreshing it first).
    ///
    /// # Errors
    /// As [`DataFusionEngine::run`].
    pub async fn current_lines(&self) -> Result<usize, EngineError> {
        let snap = self.snapshot().await?;
        let df = snap.ctx.table(CURRENT_STATE).await.map_err(|e| EngineError::Internal(e.into()))?;
        df.count().await.map_err(|e| EngineError::Internal(e.into()))
    }

    async fn snapshot(&self) -> Result<Arc<Snapshot>, EngineError> {
        let inner = self.inner.clone();
        // Its own task: a caller that gives up does not cancel a rebuild half-way.
        tokio::spawn(async move { inner.refresh().await })
            .await
            .map_err(|e| EngineError::internal(format!("the refresh task failed: {e}")))?
    }

    /// Runs `query` (any query of the catalog, [`MartView`](duff_api::MartView)s included) with
    /// its parameters bound and returns every row, within
    /// [`DataFusionConfig::query_timeout`].
    ///
    /// # Errors
    /// [`EngineError::Timeout`] past the deadline, [`EngineError::Lake`] when the lake cannot
    /// be read, [`EngineError::Failed`] when the query fails.
    pub async fn run(&self, query: &Query) -> Result<ResultSet, EngineError> {
        let deadline = self.inner.cfg.query_timeout;
        tokio::time::timeout(deadline, self.execute(query)).await.map_err(|_| EngineError::Timeout(deadline))?
    }

    async fn execute(&self, query: &Query) -> Result<ResultSet, EngineError> {
        let snap = self.snapshot().await?;
        let sql = query.sql_text(Dialect::DataFusion);
        let key = (sql, query.params().to_vec());
        let cached = snap.answers.lock().ok().and_then(|a| a.get(&key).cloned());
        if let Some(rs) = cached {
            return Ok(ResultSet::clone(&rs));
        }
        let params: Vec<ScalarValue> = query
            .params()
            .iter()
            .map(|v| match v {
                Value::Int(i) => ScalarValue::Int64(Some(*i)),
                Value::Text(s) => ScalarValue::Utf8(Some((*s).to_owned())),
            })
            .collect();
        let failed = |e: datafusion::error::DataFusionError| EngineError::Failed(e.into());
        let df = snap.ctx.sql(&key.0).await.map_err(failed)?.with_param_values(params).map_err(failed)?;
        let batches = df.collect().await.map_err(failed)?;
        let rs = to_result_set(&batches)?;
        let max = self.inner.cfg.result_cache_entries;
        if max > 0
            && let Ok(mut answers) = snap.answers.lock()
        {
            if answers.len() >= max {
                answers.clear();
            }
            answers.insert(key, Arc::new(rs.clone()));
        }
        Ok(rs)
    }
}

impl QueryEngine for DataFusionEngine {
    fn name(&self) -> &'static str {
        "datafusion"
    }

    fn answer<'a>(&'a self, question: &'a Question) -> BoxFuture<'a, Result<ResultSet, EngineError>> {
        Box::pin(async move { self.run(&question.query()).await })
    }
}

fn lake_error(e: impl std::error::Error + Send + Sync + 'static) -> EngineError {
    EngineError::Lake(Box::new(e))
}

impl Inner {
    /// Lists the manifests (unless listed within `refresh_interval`) and rebuilds the state
    /// when they changed.
    async fn refresh(&self) -> Result<Arc<Snapshot>, EngineError> {
        let mut cache = self.cache.lock().await;
        if let (Some(at), Some(snap)) = (cache.listed_at, &cache.snapshot)
            && at.elapsed() < self.cfg.refresh_interval
        {
            return Ok(snap.clone());
        }
        let listed_at = Instant::now();
        let mut key = self.list_manifests().await?;
        key.sort();
        if let Some(snap) = &cache.snapshot
            && snap.key == key
        {
            let snap = snap.clone();
            cache.listed_at = Some(listed_at);
            return Ok(snap);
        }
        let started = Instant::now();
        let mut manifests = HashMap::with_capacity(key.len());
        for v in &key {
            let row = match cache.manifests.remove(v) {
                Some(row) => row,
                None => self.read_manifest(v).await?,
            };
            manifests.insert(v.clone(), row);
        }
        let rows: Vec<&ManifestRow> = manifests.values().flatten().collect();
        let ctx = self.build(&rows).await?;
        tracing::info!(
            manifests = key.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "current state rebuilt"
        );
        let snap = Arc::new(Snapshot { key, ctx, answers: std::sync::Mutex::new(HashMap::new()) });
        cache.manifests = manifests;
        cache.snapshot = Some(snap.clone());
        cache.listed_at = Some(listed_at);
        Ok(snap)
    }

    async fn list_manifests(&self) -> Result<Vec<ObjectVersion>, EngineError> {
        let prefix = self.lake.root.clone().join(duff_core::lake::MANIFESTS);
        let mut out = Vec::new();
        let mut stream = self.lake.store.list(Some(&prefix));
        loop {
            match stream.try_next().await {
                Ok(Some(meta)) => {
                    if meta.location.extension() == Some("json") {
                        out.push(ObjectVersion {
                            location: meta.location.to_string(),
                            e_tag: meta.e_tag,
                            size: meta.size,
                            last_modified_micros: meta.last_modified.timestamp_micros(),
                        });
                    }
                }
                Ok(None) => return Ok(out),
                // A lake folder that does not exist yet is an empty lake.
                Err(object_store::Error::NotFound { .. }) => return Ok(out),
                Err(e) => return Err(lake_error(e)),
            }
        }
    }

    async fn read_manifest(&self, v: &ObjectVersion) -> Result<Option<ManifestRow>, EngineError> {
        let path = StorePath::from(v.location.as_str());
        let bytes = match self.lake.store.get(&path).await {
            Ok(r) => r.bytes().await.map_err(lake_error)?,
            // Removed since the listing: treat as absent.
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(lake_error(e)),
        };
        match Manifest::from_json(&bytes) {
            Ok(m) => Ok(Some(ManifestRow {
                file_id: m.file_id,
                source: m.source,
                ingested_at_micros: m.ingested_at_micros,
                ingest_date: m.ingest_date,
                outcome: m.outcome,
            })),
            Err(e) => {
                tracing::warn!(manifest = %v.location, error = %e, "skipping a manifest that cannot be parsed");
                Ok(None)
            }
        }
    }

    fn session(&self) -> Result<SessionContext, EngineError> {
        let config = SessionConfig::new()
            .with_target_partitions(self.cfg.target_partitions.max(1))
            .with_information_schema(false);
        let ctx = SessionContext::new_with_config(config);
        if let Some(base) = &self.lake.register {
            let url = ObjectStoreUrl::parse(base).map_err(|e| EngineError::Internal(e.into()))?;
            ctx.register_object_store(url.as_ref(), self.lake.store.clone());
        }
        Ok(ctx)
    }

    /// Materialises the current state of the files in `manifests` into a new context.
    async fn build(&self, manifests: &[&ManifestRow]) -> Result<SessionContext, EngineError> {
        let internal = |e: datafusion::error::DataFusionError| EngineError::Internal(e.into());
        let build = self.session()?;
        build.register_table("manifests", Arc::new(manifests_table(manifests)?)).map_err(internal)?;
        let published = manifests.iter().any(|m| m.outcome == Outcome::Published);
        if published {
            let url = format!("{}{}/", self.lake.url, duff_core::Table::FactOrderLine.name());
            let url = ListingTableUrl::parse(&url).map_err(internal)?;
            let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet")
                .with_table_partition_cols(vec![("ingest_date".to_owned(), DataType::Utf8)]);
            let config = ListingTableConfig::new(url)
                .with_listing_options(options)
                .with_schema(duff_core::tables::fact_order_line_schema());
            let table = ListingTable::try_new(config).map_err(internal)?;
            build.register_table("fact_order_line", Arc::new(table)).map_err(internal)?;
        } else {
            let mut fields: Vec<Field> =
                duff_core::tables::fact_order_line_schema().fields().iter().map(|f| f.as_ref().clone()).collect();
            fields.push(Field::new("ingest_date", DataType::Utf8, false));
            let empty = MemTable::try_new(Arc::new(Schema::new(fields)), vec![vec![]]).map_err(internal)?;
            build.register_table("fact_order_line", Arc::new(empty)).map_err(internal)?;
        }
        let df = build.sql(CURRENT_STATE_SQL).await.map_err(internal)?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await.map_err(|e| EngineError::Lake(e.into()))?;
        // Spread the batches over the partitions so that the reports scan in parallel.
        let n = self.cfg.target_partitions.max(1);
        let mut parts: Vec<Vec<RecordBatch>> = vec![Vec::new(); n];
        for (i, b) in batches.into_iter().filter(|b| b.num_rows() > 0).enumerate() {
            parts[i % n].push(b);
        }
        let table = MemTable::try_new(schema, parts).map_err(internal)?;
        let ctx = self.session()?;
        ctx.register_table(CURRENT_STATE, Arc::new(table)).map_err(internal)?;
        Ok(ctx)
    }
}

/// The `manifests` table: the columns of the Athena `manifests` table that the current
/// state reads, plus lineage.
fn manifests_table(manifests: &[&ManifestRow]) -> Result<MemTable, EngineError> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("file_id", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("ingested_at_micros", DataType::Int64, false),
        Field::new("ingest_date", DataType::Utf8, false),
        Field::new("outcome", DataType::Utf8, false),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(manifests.iter().map(|m| m.file_id.as_str()))),
        Arc::new(StringArray::from_iter_values(manifests.iter().map(|m| m.source.as_str()))),
        Arc::new(datafusion::arrow::array::Int64Array::from_iter_values(
            manifests.iter().map(|m| m.ingested_at_micros),
        )),
        Arc::new(StringArray::from_iter_values(manifests.iter().map(|m| m.ingest_date.as_str()))),
        Arc::new(StringArray::from_iter_values(manifests.iter().map(|m| m.outcome.as_str()))),
    ];
    let batch = RecordBatch::try_new(schema.clone(), cols).map_err(|e| EngineError::Internal(e.into()))?;
    MemTable::try_new(schema, vec![vec![batch]]).map_err(|e| EngineError::Internal(e.into()))
}

/// Arrow batches as text: integers in decimal digits, decimals exact at their scale
/// (Arrow's display), strings as they are.
fn to_result_set(batches: &[RecordBatch]) -> Result<ResultSet, EngineError> {
    let Some(first) = batches.first() else {
        return Ok(ResultSet::default());
    };
    let columns: Vec<String> = first.schema().fields().iter().map(|f| f.name().clone()).collect();
    let mut rows = Vec::with_capacity(batches.iter().map(RecordBatch::num_rows).sum());
    let options = FormatOptions::default();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| EngineError::Internal(e.into()))?;
        for r in 0..batch.num_rows() {
            let row = batch
                .columns()
                .iter()
                .zip(&formatters)
                .map(|(c, f)| (!c.is_null(r)).then(|| f.value(r).to_string()))
                .collect();
            rows.push(row);
        }
    }
    Ok(ResultSet { columns, rows })
}
