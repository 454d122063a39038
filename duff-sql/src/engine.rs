//! The DataFusion engine: the catalog's SQL over the serving state's Parquet, in process.
//! See [`DataFusionEngine`].

use crate::store::{OpenError, OpenLake};
use crate::tables;
use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use duff_api::catalog::CURRENT_STATE;
use duff_api::{BoxFuture, Dialect, EngineError, LakeUri, Query, QueryEngine, Question, ResultSet, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Settings of the DataFusion engine.
#[derive(Debug, Clone)]
pub struct DataFusionConfig {
    /// How long the newest generation's number is trusted before it is read again (0: read
    /// it on every request).
    pub refresh_interval: Duration,
    /// The deadline of one request (a refresh included); past it, [`EngineError::Timeout`].
    pub query_timeout: Duration,
    /// Parallelism (DataFusion's `target_partitions`).
    pub target_partitions: usize,
    /// Answers kept per generation (0: none). A generation never changes, so an answer
    /// stays right until a newer one is committed; the cache goes with its generation, and
    /// is emptied when full.
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

/// The catalog's queries run by DataFusion over a lake's serving state, in process.
///
/// # Tables and freshness
///
/// The engine reads the newest committed generation of the lake's serving state
/// (`docs/serving.md`) with `duff_lake`'s own reader ([`duff_lake::Lake::serving_head`]
/// over the lake's object store), and registers its objects under the Athena names of
/// [`duff_api::catalog::SERVING_TABLES`]: `serving_lines` (every run's `by_key` file, read
/// from Parquet as queries need it) and the aggregate tables (`serving_cells_*`,
/// `serving_dim_*_current`, `serving_files`: a few megabytes, read into memory once per
/// generation), then the view `order_line_current`
/// ([`CURRENT_STATE_SQL`](duff_api::catalog::CURRENT_STATE_SQL)). It never reads the history
/// of versions: an answer costs what the current data costs.
///
/// The newest generation's number is read again at most once every
/// [`DataFusionConfig::refresh_interval`] (default 1 s: the head hint and one probe); when
/// it changed, the newer generation's tables are registered in a new context (its
/// aggregates read) and swapped in. So a file is answered at most `refresh_interval` plus
/// one registration after its generation is committed, without a restart. A refresh runs in
/// its own task: a request that times out while waiting does not cancel it.
///
/// Answers are cached per generation ([`DataFusionConfig::result_cache_entries`], default
/// 256): a generation is immutable, so a cached answer is exact until a newer one exists,
/// and the cache goes with its generation.
///
/// A lake without a generation (nothing published yet, or a missing folder) answers with
/// empty tables. A lake that cannot be read, or a generation naming a missing object, is an
/// [`EngineError::Lake`] (the API's 503: rebuild the serving state, `docs/serving.md`).
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

#[derive(Debug, Default)]
struct Cache {
    checked_at: Option<Instant>,
    snapshot: Option<Arc<Snapshot>>,
}

/// A query as the answer cache knows it: its SQL and its values.
type AnswerKey = (String, Vec<Value>);

/// A generation's tables, and the answers computed over them.
struct Snapshot {
    /// The generation (`None`: the lake has none yet).
    generation: Option<u64>,
    ctx: SessionContext,
    answers: std::sync::Mutex<HashMap<AnswerKey, Arc<ResultSet>>>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").field("generation", &self.generation).finish_non_exhaustive()
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

    /// The number of current order lines (rows of `order_line_current`), refreshing first.
    ///
    /// # Errors
    /// As [`DataFusionEngine::run`].
    pub async fn current_lines(&self) -> Result<usize, EngineError> {
        let snap = self.snapshot().await?;
        let df = snap.ctx.table(CURRENT_STATE).await.map_err(|e| EngineError::Internal(e.into()))?;
        df.count().await.map_err(|e| EngineError::Lake(e.into()))
    }

    /// The generation the engine answers from, refreshing first (`None`: the lake has none).
    ///
    /// # Errors
    /// As [`DataFusionEngine::run`].
    pub async fn generation(&self) -> Result<Option<u64>, EngineError> {
        Ok(self.snapshot().await?.generation)
    }

    async fn snapshot(&self) -> Result<Arc<Snapshot>, EngineError> {
        let inner = self.inner.clone();
        // Its own task: a caller that gives up does not cancel a refresh half-way.
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
        let batches = df.collect().await.map_err(tables::execution_error)?;
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

impl Inner {
    /// Reads the newest generation's number (unless read within `refresh_interval`) and
    /// registers its tables when it changed.
    async fn refresh(&self) -> Result<Arc<Snapshot>, EngineError> {
        let mut cache = self.cache.lock().await;
        if let (Some(at), Some(snap)) = (cache.checked_at, &cache.snapshot)
            && at.elapsed() < self.cfg.refresh_interval
        {
            return Ok(snap.clone());
        }
        let checked_at = Instant::now();
        let head = tables::serving_head(&self.lake).await?;
        let generation = head.as_ref().map(|g| g.generation);
        if let Some(snap) = &cache.snapshot
            && snap.generation == generation
        {
            let snap = snap.clone();
            cache.checked_at = Some(checked_at);
            return Ok(snap);
        }
        let started = Instant::now();
        let ctx = tables::session(&self.lake, self.cfg.target_partitions)?;
        tables::register_serving(&ctx, &self.lake, head.as_ref()).await?;
        tracing::info!(
            generation = generation.unwrap_or(0),
            lines = head.as_ref().map_or(0, |g| g.lines),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "serving state registered"
        );
        let snap = Arc::new(Snapshot { generation, ctx, answers: std::sync::Mutex::new(HashMap::new()) });
        cache.snapshot = Some(snap.clone());
        cache.checked_at = Some(checked_at);
        Ok(snap)
    }
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
                .map(|(c, f)| (!c.is_null(r)).then(|| duff_api::Datum::Text(f.value(r).to_string())))
                .collect();
            rows.push(row);
        }
    }
    Ok(ResultSet { columns, rows })
}
