//! [`ServingEngine`]: the API answered from the lake's serving state (`duff_lake::serving`),
//! never from its history.
//!
//! - A report that is not about one client is read from the generation's aggregates, held
//!   in memory (a few megabytes: product, client and total cells, the dimensions' rows).
//! - A report about one client, and a client's orders, are computed from that client's
//!   current lines, read from the generation's runs (the row groups that hold the client)
//!   and kept in a small cache per generation.
//!
//! Freshness: the newest generation's number is checked at most once per
//! [`ServingEngineConfig::refresh_interval`] (two small reads); a newer generation is loaded
//! in the background while requests keep being answered from the one in memory, then
//! swapped in. Only the very first request waits for a load. A file is therefore answered
//! at most one refresh interval plus one load after its generation is committed.

use crate::catalog::{ClientOrders, Report};
use crate::engine::{BoxFuture, Datum, EngineError, LakeProblem, QueryEngine, ResultSet};
use crate::question::Question;
use duff_core::reports::{self, ReportFilter, Rows};
use duff_core::serving::Line;
use duff_core::serving::tables::LineHead;
use duff_core::{LineKey, Scaled};
use duff_lake::{Lake, ServingSnapshot, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Client reads decoding row groups at the same time.
const CLIENT_READS: usize = 4;

/// How the serving engine follows the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServingEngineConfig {
    /// How long the newest generation's number is trusted before it is read again
    /// (default 1 s; 0 reads it on every request).
    pub refresh_interval: Duration,
    /// Clients whose current lines are kept per generation (default 64: a client of a
    /// 10M-line lake has a few hundred kilobytes of lines).
    pub client_cache_entries: usize,
    /// Load a newer generation in the background, answering from the one in memory
    /// meanwhile (default); `false` makes the request that notices it wait for the load.
    pub refresh_in_background: bool,
}

impl Default for ServingEngineConfig {
    fn default() -> Self {
        ServingEngineConfig {
            refresh_interval: Duration::from_secs(1),
            client_cache_entries: 64,
            refresh_in_background: true,
        }
    }
}

/// The API answered from the serving state of a lake on any [`Store`]. See the
/// [module docs](self).
pub struct ServingEngine<S: Store + 'static> {
    inner: Arc<Inner<S>>,
}

impl<S: Store + 'static> std::fmt::Debug for ServingEngine<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingEngine").field("location", &self.inner.lake.store().location()).finish()
    }
}

struct Inner<S: Store> {
    lake: Lake<S>,
    cfg: ServingEngineConfig,
    /// The generation answering requests.
    current: RwLock<Option<Arc<Loaded>>>,
    /// When the newest generation's number was last read.
    checked: Mutex<Option<Instant>>,
    /// One load at a time.
    loading: tokio::sync::Mutex<()>,
    /// Reads of client lines at a time (each decodes a few row groups): bounds the memory
    /// and keeps the cores for the rest when many clients are asked at once.
    reads: tokio::sync::Semaphore,
    /// The last lake failure `GET /health` reports ([`QueryEngine::health`]).
    problem: Mutex<Option<Problem>>,
}

/// A lake failure of the engine, kept until it is known to be over.
#[derive(Debug, Clone)]
struct Problem {
    kind: LakeProblem,
    /// `None`: loading the newest generation failed (over when a load succeeds);
    /// `Some(g)`: reading an object of generation `g` failed (a generation never changes,
    /// so it is over when another generation is loaded).
    generation: Option<u64>,
    /// The failure with its causes (the object's key), for the log.
    detail: String,
}

/// The error `GET /health` answers for a failure seen earlier.
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
struct Earlier {
    detail: String,
    #[source]
    kind: LakeProblem,
}

/// A loaded generation and its cache of client lines. (Rendered answers are kept by the
/// router, per generation: [`crate::answers`].)
struct Loaded {
    snapshot: ServingSnapshot,
    clients: Mutex<HashMap<i64, Arc<Vec<Line>>>>,
}

fn lake_error(e: duff_lake::Error) -> EngineError {
    EngineError::Lake(Box::new(e))
}

fn join_error(e: tokio::task::JoinError) -> EngineError {
    EngineError::Internal(Box::new(e))
}

impl<S: Store + 'static> ServingEngine<S> {
    /// An engine over `lake`.
    pub fn new(lake: Lake<S>, cfg: ServingEngineConfig) -> ServingEngine<S> {
        ServingEngine {
            inner: Arc::new(Inner {
                lake,
                cfg,
                current: RwLock::new(None),
                checked: Mutex::new(None),
                loading: tokio::sync::Mutex::new(()),
                reads: tokio::sync::Semaphore::new(CLIENT_READS),
                problem: Mutex::new(None),
            }),
        }
    }

    /// Loads the newest generation now (a server calls it before listening) and returns
    /// its number and current lines (0 and 0 for a lake without a generation).
    ///
    /// # Errors
    /// The lake cannot be read.
    pub async fn refresh(&self) -> Result<(u64, u64), EngineError> {
        Inner::load_newest(&self.inner).await?;
        Ok(self.loaded().map_or((0, 0), |l| (l.snapshot.generation.generation, l.snapshot.generation.lines)))
    }

    /// The number of the generation in memory (`None` before the first load).
    pub fn loaded_generation(&self) -> Option<u64> {
        self.loaded().map(|l| l.snapshot.generation.generation)
    }

    fn loaded(&self) -> Option<Arc<Loaded>> {
        self.inner.current.read().ok().and_then(|g| g.clone())
    }

    /// The generation to answer from: the one in memory, refreshed in the background when
    /// the refresh interval passed; loaded now only when none is in memory.
    async fn snapshot(&self) -> Result<Option<Arc<Loaded>>, EngineError> {
        let due = {
            let mut checked = self.inner.checked.lock().map_err(|_| EngineError::internal("a lock was poisoned"))?;
            let due = checked.is_none_or(|t| t.elapsed() >= self.inner.cfg.refresh_interval);
            if due {
                *checked = Some(Instant::now());
            }
            due
        };
        match self.loaded() {
            None => {
                Inner::load_newest(&self.inner).await?;
                Ok(self.loaded())
            }
            Some(_) if due && !self.inner.cfg.refresh_in_background => {
                Inner::load_newest(&self.inner).await?;
                Ok(self.loaded())
            }
            Some(current) => {
                if due {
                    let inner = self.inner.clone();
                    tokio::spawn(async move {
                        if let Err(e) = Inner::load_newest(&inner).await {
                            let causes = duff_core::error_causes(&e);
                            tracing::error!(error = %e, causes, "the serving state could not be refreshed");
                        }
                    });
                }
                Ok(Some(current))
            }
        }
    }

    /// A client's current lines in `g`, from the cache or the runs.
    async fn client_lines(&self, g: &Arc<Loaded>, client_id: i64) -> Result<Arc<Vec<Line>>, EngineError> {
        // A client without current lines has no report cell: nothing to read.
        if !g.snapshot.cube.has_client(client_id) {
            return Ok(Arc::new(Vec::new()));
        }
        if let Some(hit) = g.clients.lock().ok().and_then(|c| c.get(&client_id).cloned()) {
            return Ok(hit);
        }
        let lines = self.read(g, move |lake, snapshot| lake.client_lines(snapshot, client_id)).await?;
        let lines = Arc::new(lines);
        if let Ok(mut cache) = g.clients.lock() {
            if cache.len() >= self.inner.cfg.client_cache_entries {
                cache.clear();
            }
            cache.insert(client_id, lines.clone());
        }
        Ok(lines)
    }

    /// Runs a read of `g`'s run objects (on a blocking thread, at most [`CLIENT_READS`] at
    /// once, unless the store's reads are local), noting a damaged object for `GET /health`.
    async fn read<T: Send + 'static>(
        &self,
        g: &Arc<Loaded>,
        read: impl FnOnce(&Lake<S>, &ServingSnapshot) -> duff_lake::Result<T> + Send + 'static,
    ) -> Result<T, EngineError> {
        // A local folder is read on this thread: a few hundred microseconds of decoding,
        // cheaper than the hand-over to a blocking thread and back, and no more threads
        // than cores competing for them under load. A store over the network (S3) is read
        // on a blocking thread, at most `CLIENT_READS` at once.
        let result = if self.inner.lake.store().reads_are_local() {
            read(&self.inner.lake, &g.snapshot)
        } else {
            let _permit = self.inner.reads.acquire().await.map_err(|_| EngineError::internal("the engine stopped"))?;
            let (inner, g2) = (self.inner.clone(), g.clone());
            tokio::task::spawn_blocking(move || read(&inner.lake, &g2.snapshot)).await.map_err(join_error)?
        };
        result.map_err(|e| {
            // A transient store failure (throttling, a timeout) is no damage.
            if !matches!(e, duff_lake::Error::Store { retryable: true, .. }) {
                self.inner.note(Some(g.snapshot.generation.generation), &e);
            }
            lake_error(e)
        })
    }

    async fn answer_report(
        &self,
        g: &Arc<Loaded>,
        report: Report,
        filter: &ReportFilter,
    ) -> Result<ResultSet, EngineError> {
        let r = core_report(report);
        let rows = match g.snapshot.report(r, filter) {
            Some(rows) => rows,
            None => {
                let client = r.accepted(filter).client_id.unwrap_or_default();
                let lines = self.client_lines(g, client).await?;
                reports::report(r, lines.iter(), &g.snapshot.dims, filter)
            }
        };
        Ok(result_of(rows))
    }

    /// A page of a client's lines: from the kept lines when the client's are kept, else
    /// only the page's lines decoded ([`Lake::client_page`]).
    async fn answer_client_orders(&self, g: &Arc<Loaded>, q: &ClientOrders) -> Result<ResultSet, EngineError> {
        let name = g.snapshot.dims.client_name(q.client_id);
        let known = g.snapshot.cube.has_client(q.client_id);
        if !known {
            return Ok(client_orders(q, false, &[], name));
        }
        if let Some(hit) = g.clients.lock().ok().and_then(|c| c.get(&q.client_id).cloned()) {
            return Ok(client_orders(q, true, &hit, name));
        }
        let q2 = *q;
        let after = q.after.map(|k| LineKey { order_id: k.order_id, product_id: k.product_id });
        let page = self
            .read(g, move |lake, snapshot| {
                let keep = |h: &LineHead| q2.keeps(h.channel, h.status);
                lake.client_page(snapshot, q2.client_id, after, keep, q2.limit as usize + 1)
            })
            .await?;
        Ok(client_orders(q, true, &page, name))
    }
}

impl<S: Store + 'static> Inner<S> {
    /// Keeps a lake failure for `GET /health`: of a load (`generation` `None`) or of a read
    /// in generation `generation`. A load failure is not hidden by a later read failure.
    fn note(&self, generation: Option<u64>, e: &duff_lake::Error) {
        let detail = duff_core::error_chain(e);
        if let Ok(mut p) = self.problem.lock()
            && (generation.is_none() || p.as_ref().is_none_or(|p| p.generation.is_some()))
        {
            *p = Some(Problem { kind: LakeProblem::of(e), generation, detail });
        }
    }

    /// Forgets the problems a successful load ends: a load failure, and with a new
    /// generation `loaded`, the read failures of older ones.
    fn clear(&self, loaded: Option<u64>) {
        if let Ok(mut p) = self.problem.lock() {
            let over = p.as_ref().is_some_and(|p| match p.generation {
                None => true,
                Some(g) => loaded.is_some_and(|l| l != g),
            });
            if over {
                *p = None;
            }
        }
    }

    /// Reads the newest generation's number and loads it if it is not the one in memory.
    async fn load_newest(inner: &Arc<Inner<S>>) -> Result<(), EngineError> {
        let result = Inner::load_newest_inner(inner).await;
        match &result {
            Ok(loaded) => inner.clear(*loaded),
            Err(e) => {
                if let EngineError::Lake(cause) = e
                    && let Some(le) = cause.downcast_ref::<duff_lake::Error>()
                {
                    inner.note(None, le);
                }
            }
        }
        result.map(|_| ())
    }

    /// [`Inner::load_newest`]: the number of the generation it loaded, if it loaded one.
    async fn load_newest_inner(inner: &Arc<Inner<S>>) -> Result<Option<u64>, EngineError> {
        let _one = inner.loading.lock().await;
        let me = inner.clone();
        let head = tokio::task::spawn_blocking(move || me.lake.serving_head())
            .await
            .map_err(join_error)?
            .map_err(lake_error)?;
        let Some(head) = head else { return Ok(None) };
        let have = inner.current.read().ok().and_then(|g| g.as_ref().map(|l| l.snapshot.generation.generation));
        if have == Some(head.generation) {
            return Ok(None);
        }
        let number = head.generation;
        let me = inner.clone();
        let started = Instant::now();
        let snapshot = tokio::task::spawn_blocking(move || me.lake.snapshot_of(head))
            .await
            .map_err(join_error)?
            .map_err(lake_error)?;
        tracing::info!(
            generation = snapshot.generation.generation,
            lines = snapshot.generation.lines,
            ms = started.elapsed().as_millis() as u64,
            "serving state loaded"
        );
        let loaded = Arc::new(Loaded { snapshot, clients: Mutex::new(HashMap::new()) });
        if let Ok(mut g) = inner.current.write() {
            *g = Some(loaded);
        }
        Ok(Some(number))
    }
}

impl<S: Store + 'static> QueryEngine for ServingEngine<S> {
    fn name(&self) -> &'static str {
        "serving"
    }

    fn answer<'a>(&'a self, question: &'a Question) -> BoxFuture<'a, Result<ResultSet, EngineError>> {
        Box::pin(async move {
            let Some(g) = self.snapshot().await? else { return Ok(ResultSet::default()) };
            match question {
                Question::Report(r, f) => self.answer_report(&g, *r, f).await,
                Question::ClientOrders(q) => self.answer_client_orders(&g, q).await,
            }
        })
    }

    /// The generation the next answers come from (after the same freshness check as
    /// [`QueryEngine::answer`]); `None` while the lake has none.
    fn generation(&self) -> BoxFuture<'_, Result<Option<u64>, EngineError>> {
        Box::pin(async move { Ok(self.snapshot().await?.map(|g| g.snapshot.generation.generation)) })
    }

    /// Healthy when the newest generation loads (the same freshness check as an answer:
    /// its record, cells and dimensions, at most once per refresh interval; never a
    /// client's lines) and no read of the generation in memory failed for want of an
    /// object or for a damaged one. A lake without a generation is healthy (it answers
    /// empty reports).
    fn health(&self) -> BoxFuture<'_, Result<(), EngineError>> {
        Box::pin(async move {
            self.snapshot().await?;
            let earlier = self.inner.problem.lock().ok().and_then(|p| p.clone());
            match earlier {
                None => Ok(()),
                Some(p) => Err(EngineError::Lake(Box::new(Earlier { detail: p.detail, kind: p.kind }))),
            }
        })
    }
}

/// The core's report of an API report.
pub fn core_report(r: Report) -> reports::Report {
    match r {
        Report::SalesByProduct => reports::Report::SalesByProduct,
        Report::OrderStatus => reports::Report::OrderStatus,
        Report::OrdersByClient => reports::Report::OrdersByClient,
        Report::SalesByChannel => reports::Report::SalesByChannel,
        Report::BrokenRateByProduct => reports::Report::BrokenRateByProduct,
        Report::BrokenRateByChannel => reports::Report::BrokenRateByChannel,
        Report::ClientValue => reports::Report::ClientValue,
    }
}

fn set(columns: &[&str], rows: Vec<Vec<Option<Datum>>>) -> ResultSet {
    ResultSet { columns: columns.iter().map(|c| (*c).to_owned()).collect(), rows }
}

fn some(v: impl ToString) -> Option<Datum> {
    Some(Datum::Text(v.to_string()))
}

fn text(t: String) -> Option<Datum> {
    Some(Datum::Text(t))
}

/// A report's rows as the answer a SQL engine gives (the shape [`Question`] describes).
pub fn result_of(rows: Rows) -> ResultSet {
    match rows {
        Rows::SalesByProduct(v) => set(
            &["product_id", "product_description", "orders", "units", "sales", "volume_l"],
            v.into_iter()
                .map(|r| {
                    vec![
                        some(r.product_id),
                        text(r.product_description),
                        some(r.orders),
                        some(r.units),
                        text(r.sales),
                        text(r.volume_l),
                    ]
                })
                .collect(),
        ),
        Rows::OrderStatus(v) => set(
            &["status", "orders", "units", "sales"],
            v.into_iter()
                .map(|r| vec![some(r.status.as_str()), some(r.orders), some(r.units), text(r.sales)])
                .collect(),
        ),
        Rows::OrdersByClient(v) => set(
            &["client_id", "client_name", "orders", "units", "sales"],
            v.into_iter()
                .map(|r| vec![some(r.client_id), text(r.client_name), some(r.orders), some(r.units), text(r.sales)])
                .collect(),
        ),
        Rows::SalesByChannel(v) => set(
            &["channel", "orders", "units", "sales", "volume_l"],
            v.into_iter()
                .map(|r| vec![some(r.channel.as_str()), some(r.orders), some(r.units), text(r.sales), text(r.volume_l)])
                .collect(),
        ),
        Rows::BrokenRateByProduct(v) => set(
            &["product_id", "product_description", "lines", "broken_lines", "broken_rate"],
            v.into_iter()
                .map(|r| {
                    vec![
                        some(r.product_id),
                        text(r.product_description),
                        some(r.lines),
                        some(r.broken_lines),
                        text(r.broken_rate),
                    ]
                })
                .collect(),
        ),
        Rows::BrokenRateByChannel(v) => set(
            &["channel", "lines", "broken_lines", "broken_rate"],
            v.into_iter()
                .map(|r| vec![some(r.channel.as_str()), some(r.lines), some(r.broken_lines), text(r.broken_rate)])
                .collect(),
        ),
        Rows::ClientValue(v) => set(
            &[
                "client_id",
                "client_name",
                "orders",
                "lines",
                "units",
                "sales",
                "avg_order_value",
                "first_seen_at",
                "last_seen_at",
            ],
            v.into_iter()
                .map(|r| {
                    vec![
                        some(r.client_id),
                        text(r.client_name),
                        some(r.orders),
                        some(r.lines),
                        some(r.units),
                        text(r.sales),
                        text(r.avg_order_value),
                        text(duff_core::lake::format_instant(r.first_seen_micros)),
                        text(duff_core::lake::format_instant(r.last_seen_micros)),
                    ]
                })
                .collect(),
        ),
    }
}

/// A page of a client's orders, shaped as [`Question::ClientOrders`] says, from the
/// client's current lines sorted by key (all of them, or a part that holds the page): no
/// row when the client has no line (`known` false); one row of NULLs (but the name) when
/// the filters keep none.
pub fn client_orders(q: &ClientOrders, known: bool, lines: &[Line], client_name: &str) -> ResultSet {
    const COLUMNS: [&str; 10] = [
        "client_name",
        "order_id",
        "product_id",
        "product_description",
        "units",
        "unit_price",
        "amount",
        "volume_l",
        "channel",
        "status",
    ];
    if !known {
        return set(&COLUMNS, Vec::new());
    }
    let name: Arc<str> = Arc::from(client_name);
    let decimal = |mantissa: i64, scale: u32| Some(Datum::Decimal(Scaled { mantissa: i128::from(mantissa), scale }));
    let rows: Vec<Vec<Option<Datum>>> = lines
        .iter()
        .filter(|l| q.keeps(l.channel, l.status) && q.is_after(l.key.order_id, l.key.product_id))
        .take(q.limit as usize + 1)
        .map(|l| {
            vec![
                Some(Datum::Shared(name.clone())),
                Some(Datum::Int(l.key.order_id)),
                Some(Datum::Int(l.key.product_id)),
                Some(Datum::Shared(l.product_description.clone())),
                Some(Datum::Int(l.units)),
                decimal(l.unit_price, duff_core::MONEY_SCALE),
                decimal(l.amount, duff_core::MONEY_SCALE),
                decimal(l.volume, duff_core::VOLUME_SCALE),
                Some(Datum::Static(l.channel.as_str())),
                Some(Datum::Static(l.status.as_str())),
            ]
        })
        .collect();
    if rows.is_empty() {
        let mut only_name = vec![None; COLUMNS.len()];
        only_name[0] = Some(Datum::Shared(name));
        return set(&COLUMNS, vec![only_name]);
    }
    set(&COLUMNS, rows)
}
