//! The REST API (docs/api.md) as one axum [`Router`], hosted by `lambda_http` in AWS and by
//! the `serve` example locally.
//!
//! | route | sorted by |
//! |---|---|
//! | `GET /health` | |
//! | `GET /clients/{client_id}/orders` | `order_id`, `product_id` |
//! | `GET /reports/sales-by-product` | `product_id` |
//! | `GET /reports/order-status` | status lifecycle: `created`, `delivered`, `broken` |
//! | `GET /reports/orders-by-client` | `client_id` |
//! | `GET /reports/sales-by-channel` | `Retail`, `Online`, `B2B` |
//! | `GET /reports/broken-rate-by-product` | `product_id` |
//! | `GET /reports/broken-rate-by-channel` | `Retail`, `Online`, `B2B` |
//! | `GET /reports/client-value` | `client_id` |
//! | `GET /ingestions`, `/ingestions/{file_id}`, `/ingestions/{file_id}/quarantine`, `/reports/data-quality` | see [`crate::ingestions`] |
//! | `GET /` | the dashboard ([`crate::dashboard`]) |
//!
//! Each route's request becomes a [`Question`] for the engine (its parameters checked
//! against the route's allow-list and typed first: bad input never reaches the engine); the
//! answer is rendered by [`render`] alone.
//!
//! Every response carries an `x-request-id` header; errors carry it in their body too. The
//! id is the [`RequestId`] extension when the host put one in the request (the Lambda
//! invocation's id), otherwise one is generated.
//!
//! Before any route, a request is checked against the API's bounds: a target (path and
//! query) of at most [`MAX_URI_BYTES`] (else 414 `uri_too_long`), a header section of at
//! most [`MAX_HEADER_BYTES`] and [`MAX_HEADERS`] headers (else 431 `headers_too_large`), a
//! declared body of at most [`MAX_BODY_BYTES`] (else 413 `content_too_large`): each in the
//! one error shape with the request's id. A server whose own parser has smaller bounds
//! must keep such requests away from it (`duff-cli/src/serve.rs` does).
//!
//! `HEAD` is answered like `GET` without the body (RFC 9110 §9.3.2): same status and headers.

use crate::answers::{AnswerCache, DEFAULT_ANSWER_CACHE_BYTES};
use crate::catalog::{ClientOrders, Filter, PageKey, Report};
use crate::engine::QueryEngine;
use crate::error::ApiError;
use crate::ingestions::IngestionSource;
use crate::question::Question;
use crate::render;
use crate::token::{TokenKey, TokenScope};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, RawQuery, Request, State};
use axum::http::{HeaderValue, Method, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use duff_core::reports::ReportFilter;
use duff_core::{Channel, Status};
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The default page size of `/clients/{client_id}/orders`.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest page size.
pub const MAX_LIMIT: u32 = 1000;

/// The longest request target (path and query, as sent), in bytes: longer is a 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// The largest header section (each header counted as `name: value` and its line end), in
/// bytes: larger is a 431.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// The most headers a request may carry: more is a 431.
pub const MAX_HEADERS: usize = 100;
/// The largest body a request may declare (`Content-Length`), in bytes: no route reads a
/// body, a larger one is a 413 (a chunked body, of unknown length, too).
pub const MAX_BODY_BYTES: u64 = 64 * 1024;

/// Every route of the router, as written in the OpenAPI document.
pub const ROUTES: [&str; 14] = [
    "/health",
    "/clients/{client_id}/orders",
    "/reports/sales-by-product",
    "/reports/order-status",
    "/reports/orders-by-client",
    "/reports/sales-by-channel",
    "/reports/broken-rate-by-product",
    "/reports/broken-rate-by-channel",
    "/reports/client-value",
    "/ingestions",
    "/ingestions/{file_id}",
    "/ingestions/{file_id}/quarantine",
    "/reports/data-quality",
    "/",
];

/// The id of a request, shown in error bodies and the `x-request-id` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    /// A new id: unique within the process and unlikely to repeat across processes.
    pub fn generate() -> RequestId {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let mut seed = Vec::with_capacity(32);
        seed.extend_from_slice(&now.to_le_bytes());
        seed.extend_from_slice(&n.to_le_bytes());
        seed.extend_from_slice(&std::process::id().to_le_bytes());
        RequestId(format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&seed)))
    }
}

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    engine: Arc<dyn QueryEngine>,
    pub(crate) tokens: Arc<TokenKey>,
    pub(crate) ingestions: Option<Arc<dyn IngestionSource>>,
    answers: Arc<AnswerCache>,
}

impl AppState {
    fn new(engine: Arc<dyn QueryEngine>, tokens: TokenKey, ingestions: Option<Arc<dyn IngestionSource>>) -> AppState {
        AppState {
            engine,
            tokens: Arc::new(tokens),
            ingestions,
            answers: Arc::new(AnswerCache::new(DEFAULT_ANSWER_CACHE_BYTES)),
        }
    }

    /// The JSON body answering `question`: kept per generation of the engine's data, and
    /// computed once for identical requests in flight ([`crate::answers`]).
    async fn body<T, F>(&self, question: &Question, render: F) -> Result<Bytes, ApiError>
    where
        T: Serialize,
        F: FnOnce(crate::ResultSet) -> Result<T, ApiError>,
    {
        let generation = self.engine.generation().await?;
        self.answers
            .get_or_compute(generation, question, async {
                let rs = self.engine.answer(question).await?;
                // Sized once for the rows (about 24 bytes a value, names included), rather than
                // grown and copied as the body is written.
                let mut out = Vec::with_capacity(64 + 24 * rs.rows.len() * rs.columns.len());
                let answer = render(rs)?;
                serde_json::to_writer(&mut out, &answer).map_err(crate::EngineError::internal)?;
                out.shrink_to_fit();
                Ok(Bytes::from(out))
            })
            .await
    }
}

/// A JSON response of an already rendered body.
fn json(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

/// The API's router over `engine`, signing paging tokens with `tokens`. The ingestion
/// routes answer 503 `lake_unavailable` (no manifests to read): see [`router_with_ingestions`].
pub fn router(engine: Arc<dyn QueryEngine>, tokens: TokenKey) -> Router {
    build(AppState::new(engine, tokens, None))
}

/// The API's router over `engine`, the ingestion routes reading `ingestions` (in practice a
/// [`duff_lake::IngestionIndex`] over the same lake).
pub fn router_with_ingestions(
    engine: Arc<dyn QueryEngine>,
    tokens: TokenKey,
    ingestions: Arc<dyn IngestionSource>,
) -> Router {
    build(AppState::new(engine, tokens, Some(ingestions)))
}

fn build(state: AppState) -> Router {
    let mut r = Router::new()
        .route(ROUTES[0], get(health))
        .route(ROUTES[1], get(client_orders))
        .merge(crate::ingestions::routes())
        .route("/", get(crate::dashboard::dashboard));
    for report in Report::ALL {
        r = r.route(
            &format!("/reports/{}", report.name()),
            get(move |s: State<AppState>, q: RawQuery, id: Extension<RequestId>| run_report(report, s, q, id)),
        );
    }
    r.fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(middleware::from_fn(within_bounds))
        .layer(middleware::from_fn(with_request_id))
}

/// Refuses a request beyond the API's bounds ([`MAX_URI_BYTES`], [`MAX_HEADER_BYTES`],
/// [`MAX_HEADERS`], [`MAX_BODY_BYTES`]) before any route.
async fn within_bounds(Extension(id): Extension<RequestId>, req: Request, next: Next) -> Response {
    match out_of_bounds(&req) {
        Some(e) => e.into_response_for(&id.0),
        None => next.run(req).await,
    }
}

fn out_of_bounds(req: &Request) -> Option<ApiError> {
    let uri = req.uri();
    let target = uri.path_and_query().map_or(uri.path().len(), |pq| pq.as_str().len());
    if target > MAX_URI_BYTES {
        return Some(ApiError::UriTooLong { limit: MAX_URI_BYTES });
    }
    let headers = req.headers();
    let bytes: usize = headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    if bytes > MAX_HEADER_BYTES || headers.len() > MAX_HEADERS {
        return Some(ApiError::HeadersTooLarge { limit: MAX_HEADER_BYTES, count: MAX_HEADERS });
    }
    let declared =
        headers.get(header::CONTENT_LENGTH).map(|v| v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()));
    let too_large = match declared {
        Some(Some(n)) => n > MAX_BODY_BYTES,
        // An unreadable length: hyper refuses it before us; any other host, here.
        Some(None) => true,
        None => headers.contains_key(header::TRANSFER_ENCODING),
    };
    too_large.then_some(ApiError::BodyTooLarge { limit: MAX_BODY_BYTES })
}

async fn with_request_id(mut req: Request, next: Next) -> Response {
    let id = req.extensions().get::<RequestId>().cloned().unwrap_or_else(RequestId::generate);
    req.extensions_mut().insert(id.clone());
    let mut res = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&id.0) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}

fn clip(s: &str) -> String {
    const MAX: usize = 100;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

async fn no_route(uri: Uri, Extension(id): Extension<RequestId>) -> Response {
    ApiError::NoRoute(clip(uri.path())).into_response_for(&id.0)
}

async fn method_not_allowed(method: Method, Extension(id): Extension<RequestId>) -> Response {
    ApiError::MethodNotAllowed(clip(method.as_str())).into_response_for(&id.0)
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

/// `GET /health`: `{"status":"ok"}` when the engine can answer ([`QueryEngine::health`]:
/// cheap, no query), else a 503 `{"status":"degraded","problem":"...","error":{...}}`:
/// `problem` is the kind of lake failure (`missing_object`, `damaged_object`,
/// `storage_error`) or the error's code, `error` the one error object (with the request's
/// id), so that a client reading errors and a monitor reading `status` both understand it.
async fn health(State(st): State<AppState>, RawQuery(q): RawQuery, Extension(id): Extension<RequestId>) -> Response {
    if let Err(e) = Params::parse(q.as_deref(), &[]) {
        return e.into_response_for(&id.0);
    }
    match st.engine.health().await {
        Ok(()) => axum::Json(Health { status: "ok" }).into_response(),
        Err(e) => {
            let problem = e.lake_problem().map(|p| p.as_str());
            let e = ApiError::Engine(e);
            let status = axum::http::StatusCode::SERVICE_UNAVAILABLE;
            e.log(&id.0, status);
            let body = serde_json::json!({
                "status": "degraded",
                "problem": problem.unwrap_or(e.code()),
                "error": e.error_object(&id.0),
            });
            (status, axum::Json(body)).into_response()
        }
    }
}

/// The query parameters of a request, checked against the route's allow-list: an unknown
/// name, a name given twice or an empty value is refused.
#[derive(Debug, Default)]
pub(crate) struct Params {
    values: Vec<(&'static str, String)>,
}

impl Params {
    pub(crate) fn parse(raw: Option<&str>, allowed: &[&'static str]) -> Result<Params, ApiError> {
        let mut p = Params::default();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let Some(&name) = allowed.iter().find(|a| **a == k) else {
                return Err(ApiError::UnknownParameter(clip(&k)));
            };
            if p.values.iter().any(|(n, _)| *n == name) {
                return Err(ApiError::bad(name, "given more than once"));
            }
            if v.is_empty() {
                return Err(ApiError::bad(name, "is empty"));
            }
            p.values.push((name, v.into_owned()));
        }
        Ok(p)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    fn filter(&self, f: Filter) -> Result<Option<FilterValue>, ApiError> {
        let Some(v) = self.get(f.name()) else { return Ok(None) };
        let name = f.name();
        Ok(Some(match f {
            Filter::Channel => FilterValue::Channel(
                Channel::parse(v.as_bytes())
                    .ok_or_else(|| ApiError::bad(name, "must be one of Retail, Online, B2B"))?,
            ),
            Filter::Status => FilterValue::Status(
                Status::parse(v.as_bytes())
                    .ok_or_else(|| ApiError::bad(name, "must be one of created, delivered, broken"))?,
            ),
            Filter::ClientId | Filter::ProductId => FilterValue::Id(positive_int(name, v)?),
        }))
    }
}

enum FilterValue {
    Channel(Channel),
    Status(Status),
    Id(i64),
}

/// A positive integer written in ASCII digits (no sign, no spaces), at most `i64::MAX`.
fn positive_int(name: &'static str, v: &str) -> Result<i64, ApiError> {
    let bad = || ApiError::bad(name, "must be a positive integer");
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match v.parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(bad()),
    }
}

/// A page size: an integer from 1 to [`MAX_LIMIT`].
pub(crate) fn positive_limit(l: &str) -> Result<u32, ApiError> {
    let range = || ApiError::bad("limit", format!("must be an integer from 1 to {MAX_LIMIT}"));
    if !l.bytes().all(|b| b.is_ascii_digit()) || l.len() > 4 {
        return Err(range());
    }
    l.parse().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(range)
}

fn report_filter(report: Report, p: &Params) -> Result<ReportFilter, ApiError> {
    let mut f = ReportFilter::default();
    for &filter in report.filters() {
        match (filter, p.filter(filter)?) {
            (_, None) => {}
            (_, Some(FilterValue::Channel(c))) => f.channel = Some(c),
            (_, Some(FilterValue::Status(s))) => f.status = Some(s),
            (Filter::ClientId, Some(FilterValue::Id(i))) => f.client_id = Some(i),
            (_, Some(FilterValue::Id(i))) => f.product_id = Some(i),
        }
    }
    Ok(f)
}

#[derive(Serialize)]
struct Rows {
    rows: Vec<render::Row>,
}

async fn run_report(
    report: Report,
    State(st): State<AppState>,
    RawQuery(q): RawQuery,
    Extension(id): Extension<RequestId>,
) -> Response {
    let result = async {
        let names: Vec<&'static str> = report.filters().iter().map(|f| f.name()).collect();
        let params = Params::parse(q.as_deref(), &names)?;
        let question = Question::report(report, &report_filter(report, &params)?);
        st.body(&question, |rs| Ok(Rows { rows: render::rows(&rs, question.columns())? })).await
    }
    .await;
    match result {
        Ok(body) => json(body),
        Err(e) => e.into_response_for(&id.0),
    }
}

#[derive(Serialize)]
struct ClientOrdersBody {
    client_id: i64,
    client_name: String,
    orders: Vec<render::Row>,
    next_token: Option<String>,
}

async fn client_orders(
    State(st): State<AppState>,
    uri: Uri,
    RawQuery(q): RawQuery,
    Extension(id): Extension<RequestId>,
) -> Response {
    match client_orders_inner(&st, &uri, q.as_deref()).await {
        Ok(body) => json(body),
        Err(e) => e.into_response_for(&id.0),
    }
}

async fn client_orders_inner(st: &AppState, uri: &Uri, q: Option<&str>) -> Result<Bytes, ApiError> {
    // `/clients/{client_id}/orders`: the segment is read from the path as sent (a client id
    // is digits only, so no percent-decoding is needed: anything else is refused).
    let segment = uri.path().split('/').nth(2).unwrap_or("");
    let client_id = positive_int("client_id", segment)?;
    let params = Params::parse(q, &["status", "channel", "limit", "next_token"])?;
    let mut query = ClientOrders { client_id, status: None, channel: None, after: None, limit: DEFAULT_LIMIT };
    for f in ClientOrders::FILTERS {
        match params.filter(f)? {
            Some(FilterValue::Status(s)) => query.status = Some(s),
            Some(FilterValue::Channel(c)) => query.channel = Some(c),
            _ => {}
        }
    }
    if let Some(l) = params.get("limit") {
        query.limit = positive_limit(l)?;
    }
    let scope = TokenScope { client_id, status: query.status, channel: query.channel };
    if let Some(t) = params.get("next_token") {
        query.after = Some(
            st.tokens
                .open(&scope, t)
                .ok_or_else(|| ApiError::bad("next_token", "is not a token of this query (filters changed?)"))?,
        );
    }
    st.body(&Question::ClientOrders(query), |rs| client_orders_body(st, query, scope, &rs)).await
}

/// The page of `query` in the engine's answer `rs`.
fn client_orders_body(
    st: &AppState,
    query: ClientOrders,
    scope: TokenScope,
    rs: &crate::ResultSet,
) -> Result<ClientOrdersBody, ApiError> {
    let client_id = query.client_id;
    let Some(name_idx) = rs.column("client_name") else {
        // No row at all: the client has no order line.
        return Err(if rs.rows.is_empty() {
            ApiError::UnknownClient(client_id)
        } else {
            crate::EngineError::internal("column `client_name` is missing").into()
        });
    };
    let Some(first) = rs.rows.first() else { return Err(ApiError::UnknownClient(client_id)) };
    let client_name = first.get(name_idx).and_then(Option::as_ref).map(|v| v.text().into_owned()).unwrap_or_default();
    let idx = render::column_indexes(rs, &ClientOrders::COLUMNS)?;
    let order_id_idx = idx[0];
    let mut orders = Vec::with_capacity(rs.rows.len());
    for r in &rs.rows {
        // The LEFT JOIN's NULL row: a known client whose lines the filters exclude.
        if r.get(order_id_idx).is_none_or(Option::is_none) {
            continue;
        }
        orders.push(render::row(r, &ClientOrders::COLUMNS, &idx)?);
    }
    let mut next_token = None;
    if orders.len() > query.limit as usize {
        orders.truncate(query.limit as usize);
        if let Some(last) = orders.last() {
            let key = match (last.get("order_id"), last.get("product_id")) {
                (Some(render::Cell::Int(o)), Some(render::Cell::Int(p))) => PageKey {
                    order_id: i64::try_from(*o).unwrap_or(i64::MAX),
                    product_id: i64::try_from(*p).unwrap_or(i64::MAX),
                },
                _ => return Err(crate::EngineError::internal("the page's last key is missing").into()),
            };
            next_token = Some(st.tokens.seal(&scope, key));
        }
    }
    Ok(ClientOrdersBody { client_id, client_name, orders, next_token })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_integers_only() {
        assert_eq!(positive_int("x", "1001").ok(), Some(1001));
        assert_eq!(positive_int("x", "007").ok(), Some(7));
        for bad in ["0", "-1", "+1", "1.0", " 1", "1e3", "", "9223372036854775808", "x"] {
            assert!(positive_int("x", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn params_are_allow_listed() {
        assert!(Params::parse(Some("status=created&channel=b2b"), &["status", "channel"]).is_ok());
        assert!(matches!(Params::parse(Some("nope=1"), &["status"]), Err(ApiError::UnknownParameter(_))));
        assert!(matches!(Params::parse(Some("status=a&status=b"), &["status"]), Err(ApiError::BadParameter { .. })));
        assert!(matches!(Params::parse(Some("status="), &["status"]), Err(ApiError::BadParameter { .. })));
        assert!(Params::parse(None, &[]).is_ok());
        assert!(Params::parse(Some(""), &[]).is_ok());
    }
}
