//! The Athena engine: the catalog's SQL run by Amazon Athena over the lake's Glue tables
//! (`deploy/athena/`), with the values bound as `ExecutionParameters`.
//!
//! One query is: `StartQueryExecution` (SQL with `?` placeholders, each value validated
//! against its type and quoted as a literal, the database, the workgroup, and a fresh
//! `ClientRequestToken` so that the SDK's retries never start it twice); then
//! `GetQueryExecution` polled with exponential backoff until it succeeds, fails or the
//! deadline passes (then `StopQueryExecution`, best effort, and a timeout); then
//! `GetQueryResults` page after page (the header row of the first page skipped).
//!
//! The deadline covers the whole query and stays below API Gateway's 29 s integration
//! timeout (default 25 s; stopping takes at most [`AthenaConfig::stop_timeout`] more).
//! Throttling (`TooManyRequestsException`, after the SDK's own retries) is
//! [`EngineError::Throttled`] (429 with `Retry-After`). A failed or cancelled query is
//! [`EngineError::Failed`]: Athena's reason (which may name S3 paths or quote the SQL) goes
//! to the log, never to the client.

use aws_sdk_athena::Client;
use aws_sdk_athena::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState};
use duff_api::{BoxFuture, Dialect, EngineError, Query, QueryEngine, Question, ResultSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Settings of the Athena engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AthenaConfig {
    /// The Glue database holding the lake's tables and views.
    pub database: String,
    /// The workgroup (it holds the result location and the scan limits).
    pub workgroup: String,
    /// The deadline of one query, from start to last result page.
    pub deadline: Duration,
    /// The first wait between two polls.
    pub first_poll: Duration,
    /// The longest wait between two polls.
    pub max_poll: Duration,
    /// How long to wait for `StopQueryExecution` after the deadline.
    pub stop_timeout: Duration,
    /// Rows per `GetQueryResults` page (at most 1000).
    pub page_size: i32,
    /// The `Retry-After` of a throttled request.
    pub retry_after: Duration,
}

impl AthenaConfig {
    /// The defaults for `database` and `workgroup`.
    pub fn new(database: impl Into<String>, workgroup: impl Into<String>) -> AthenaConfig {
        AthenaConfig {
            database: database.into(),
            workgroup: workgroup.into(),
            deadline: Duration::from_secs(25),
            first_poll: Duration::from_millis(100),
            max_poll: Duration::from_secs(1),
            stop_timeout: Duration::from_secs(2),
            page_size: 1000,
            retry_after: Duration::from_secs(1),
        }
    }
}

/// Runs catalog queries on Athena (how: the module docs of `duff-lambda-api/src/athena.rs`).
#[derive(Debug, Clone)]
pub struct AthenaEngine {
    client: Client,
    cfg: AthenaConfig,
}

impl AthenaEngine {
    /// An engine using `client`.
    pub fn new(client: Client, cfg: AthenaConfig) -> AthenaEngine {
        AthenaEngine { client, cfg }
    }
}

impl QueryEngine for AthenaEngine {
    fn name(&self) -> &'static str {
        "athena"
    }

    fn answer<'a>(&'a self, question: &'a Question) -> BoxFuture<'a, Result<ResultSet, EngineError>> {
        Box::pin(async move { self.run(&question.query()).await })
    }
}

/// A fresh idempotency token (Athena wants 32 to 128 characters).
fn request_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut seed = now.to_le_bytes().to_vec();
    seed.extend_from_slice(&n.to_le_bytes());
    seed.extend_from_slice(&std::process::id().to_le_bytes());
    format!("duff-api-{:032x}", xxhash_rust::xxh3::xxh3_128(&seed))
}

fn is_throttling<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    matches!(e.code(), Some("TooManyRequestsException" | "ThrottlingException"))
}

fn failed(what: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::Failed(format!("{what}: {e}").into())
}

impl AthenaEngine {
    /// The time left before `deadline`, or a timeout error.
    fn left(&self, deadline: Instant) -> Result<Duration, EngineError> {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(EngineError::Timeout(self.cfg.deadline))
    }

    /// Runs an SDK call within the time left.
    async fn within<T>(&self, deadline: Instant, call: impl Future<Output = T>) -> Result<T, EngineError> {
        tokio::time::timeout(self.left(deadline)?, call).await.map_err(|_| EngineError::Timeout(self.cfg.deadline))
    }

    /// Runs `query` (any query of the catalog) on Athena and returns every row, within
    /// [`AthenaConfig::deadline`].
    ///
    /// # Errors
    /// [`EngineError::Timeout`] past the deadline (the query is stopped),
    /// [`EngineError::Throttled`], [`EngineError::Failed`] when Athena fails the query.
    pub async fn run(&self, query: &Query) -> Result<ResultSet, EngineError> {
        let deadline = Instant::now() + self.cfg.deadline;
        let params = query
            .params()
            .iter()
            .map(|v| v.athena_literal().map_err(|e| EngineError::Internal(e.into())))
            .collect::<Result<Vec<_>, _>>()?;
        let start = self
            .client
            .start_query_execution()
            .query_string(query.sql_text(Dialect::Athena))
            .set_execution_parameters((!params.is_empty()).then_some(params))
            .query_execution_context(QueryExecutionContext::builder().database(&self.cfg.database).build())
            .work_group(&self.cfg.workgroup)
            .client_request_token(request_token())
            .send();
        let started = match self.within(deadline, start).await? {
            Ok(out) => out,
            Err(e) if is_throttling(&e) || e.as_service_error().is_some_and(|s| s.is_too_many_requests_exception()) => {
                return Err(EngineError::Throttled { retry_after: self.cfg.retry_after });
            }
            Err(e) => return Err(failed("StartQueryExecution", aws_sdk_athena::error::DisplayErrorContext(e))),
        };
        let id = started.query_execution_id().unwrap_or_default().to_owned();
        if id.is_empty() {
            return Err(EngineError::internal("StartQueryExecution returned no query execution id"));
        }
        match self.wait(query, &id, deadline).await {
            Ok(()) => {}
            Err(EngineError::Timeout(d)) => {
                self.stop(&id).await;
                return Err(EngineError::Timeout(d));
            }
            Err(e) => return Err(e),
        }
        self.results(&id, deadline).await
    }

    /// Polls until the query succeeded.
    async fn wait(&self, query: &Query, id: &str, deadline: Instant) -> Result<(), EngineError> {
        let mut pause = self.cfg.first_poll;
        loop {
            let poll = self.client.get_query_execution().query_execution_id(id).send();
            match self.within(deadline, poll).await? {
                Ok(out) => {
                    let status = out.query_execution().and_then(|q| q.status());
                    match status.and_then(|s| s.state()) {
                        Some(QueryExecutionState::Succeeded) => return Ok(()),
                        Some(state @ (QueryExecutionState::Failed | QueryExecutionState::Cancelled)) => {
                            let reason = status.and_then(|s| s.state_change_reason()).unwrap_or("");
                            let error_type = status.and_then(|s| s.athena_error()).and_then(|e| e.error_type());
                            // The reason may name S3 locations or quote the SQL: log only.
                            tracing::warn!(
                                query = query.name(),
                                id,
                                state = state.as_str(),
                                error_type,
                                reason,
                                "athena query did not succeed"
                            );
                            return Err(EngineError::Failed(format!("query {id} {}", state.as_str()).into()));
                        }
                        _ => {}
                    }
                }
                // Throttled polls: keep polling, slower, until the deadline.
                Err(e) if is_throttling(&e) => pause = pause.saturating_mul(2),
                Err(e) => return Err(failed("GetQueryExecution", aws_sdk_athena::error::DisplayErrorContext(e))),
            }
            let left = self.left(deadline)?;
            tokio::time::sleep(pause.min(left)).await;
            pause = (pause.saturating_mul(3) / 2).min(self.cfg.max_poll);
        }
    }

    /// Best effort: a query past its deadline should not go on scanning (and costing).
    async fn stop(&self, id: &str) {
        let stop = self.client.stop_query_execution().query_execution_id(id).send();
        match tokio::time::timeout(self.cfg.stop_timeout, stop).await {
            Ok(Ok(_)) => tracing::info!(id, "stopped an athena query past its deadline"),
            Ok(Err(e)) => {
                tracing::warn!(id, error = %aws_sdk_athena::error::DisplayErrorContext(e), "could not stop an athena query")
            }
            Err(_) => tracing::warn!(id, "stopping an athena query timed out"),
        }
    }

    /// Every result page.
    async fn results(&self, id: &str, deadline: Instant) -> Result<ResultSet, EngineError> {
        let mut rs = ResultSet::default();
        let mut token: Option<String> = None;
        let mut first = true;
        loop {
            let page = self
                .client
                .get_query_results()
                .query_execution_id(id)
                .max_results(self.cfg.page_size)
                .set_next_token(token.take())
                .send();
            let out = match self.within(deadline, page).await? {
                Ok(out) => out,
                Err(e)
                    if is_throttling(&e)
                        || e.as_service_error().is_some_and(|s| s.is_too_many_requests_exception()) =>
                {
                    return Err(EngineError::Throttled { retry_after: self.cfg.retry_after });
                }
                Err(e) => return Err(failed("GetQueryResults", aws_sdk_athena::error::DisplayErrorContext(e))),
            };
            let set = out.result_set();
            if first {
                rs.columns = set
                    .and_then(|s| s.result_set_metadata())
                    .map(|m| m.column_info().iter().map(|c| c.name().to_owned()).collect())
                    .unwrap_or_default();
            }
            for (i, row) in set.map(|s| s.rows()).unwrap_or_default().iter().enumerate() {
                let values: Vec<Option<String>> =
                    row.data().iter().map(|d| d.var_char_value().map(str::to_owned)).collect();
                // The first row of a SELECT's first page repeats the column names.
                if first
                    && i == 0
                    && values.iter().map(|v| v.as_deref().unwrap_or("")).eq(rs.columns.iter().map(String::as_str))
                {
                    continue;
                }
                if values.len() != rs.columns.len() {
                    return Err(EngineError::internal(format!(
                        "a row has {} values for {} columns",
                        values.len(),
                        rs.columns.len()
                    )));
                }
                rs.rows.push(values.into_iter().map(|v| v.map(duff_api::Datum::Text)).collect());
            }
            first = false;
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(rs),
            }
        }
    }
}
