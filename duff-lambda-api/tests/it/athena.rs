//! The Athena engine against mocked Athena (aws-smithy-mocks): the happy path over several
//! result pages, a failed query, throttling, and a deadline that passes.

use aws_sdk_athena::Client;
use aws_sdk_athena::config::retry::RetryConfig;
use aws_sdk_athena::operation::get_query_execution::GetQueryExecutionOutput;
use aws_sdk_athena::operation::get_query_results::GetQueryResultsOutput;
use aws_sdk_athena::operation::start_query_execution::{StartQueryExecutionError, StartQueryExecutionOutput};
use aws_sdk_athena::operation::stop_query_execution::StopQueryExecutionOutput;
use aws_sdk_athena::types::error::TooManyRequestsException;
use aws_sdk_athena::types::{
    AthenaError, ColumnInfo, Datum, QueryExecution, QueryExecutionState, QueryExecutionStatus, ResultSet,
    ResultSetMetadata, Row,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use duff_api::{EngineError, Report, TokenKey};
use duff_core::reports::ReportFilter;
use duff_lambda_api::{AthenaConfig, AthenaEngine};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

fn client(rules: &[&Rule]) -> Client {
    mock_client!(aws_sdk_athena, RuleMode::MatchAny, rules, |c| c.retry_config(RetryConfig::disabled()))
}

fn config() -> AthenaConfig {
    AthenaConfig {
        first_poll: Duration::from_millis(1),
        max_poll: Duration::from_millis(5),
        ..AthenaConfig::new("duff", "duff-api")
    }
}

fn started() -> Rule {
    mock!(Client::start_query_execution)
        .match_requests(|r| {
            r.work_group() == Some("duff-api")
                && r.query_execution_context().and_then(|c| c.database()) == Some("duff")
                && r.client_request_token().is_some_and(|t| (32..=128).contains(&t.len()))
        })
        .then_output(|| StartQueryExecutionOutput::builder().query_execution_id("q-1").build())
}

fn state(s: QueryExecutionState) -> GetQueryExecutionOutput {
    let status = QueryExecutionStatus::builder().state(s).build();
    GetQueryExecutionOutput::builder()
        .query_execution(QueryExecution::builder().query_execution_id("q-1").status(status).build())
        .build()
}

fn row(values: &[Option<&str>]) -> Row {
    let mut r = Row::builder();
    for v in values {
        let d = match v {
            Some(t) => Datum::builder().var_char_value(*t).build(),
            None => Datum::builder().build(),
        };
        r = r.data(d);
    }
    r.build()
}

/// Pages of a result set as Athena returns them: the header row first, `per_page` rows a page.
fn pages(columns: &[&str], rows: &[Vec<Option<&str>>], per_page: usize) -> Vec<GetQueryResultsOutput> {
    let mut all = vec![row(&columns.iter().map(|c| Some(*c)).collect::<Vec<_>>())];
    all.extend(rows.iter().map(|r| row(r)));
    let chunks: Vec<Vec<Row>> = all.chunks(per_page).map(<[Row]>::to_vec).collect();
    let n = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut meta = ResultSetMetadata::builder();
            for c in columns {
                meta = meta.column_info(ColumnInfo::builder().name(*c).r#type("varchar").build().unwrap());
            }
            let set = ResultSet::builder().set_rows(Some(chunk)).result_set_metadata(meta.build()).build();
            let mut out = GetQueryResultsOutput::builder().result_set(set);
            if i + 1 < n {
                out = out.next_token(format!("page-{}", i + 1));
            }
            out.build()
        })
        .collect()
}

fn results(pages: Vec<GetQueryResultsOutput>) -> Rule {
    let pages = Arc::new(pages);
    mock!(Client::get_query_results).then_compute_output(move |req| {
        let i = req.next_token().and_then(|t| t.strip_prefix("page-")).map_or(0, |n| n.parse::<usize>().unwrap());
        pages[i].clone()
    })
}

#[tokio::test]
async fn running_then_succeeded_reads_every_page() {
    let start = started();
    let poll = mock!(Client::get_query_execution)
        .sequence()
        .output(|| state(QueryExecutionState::Queued))
        .output(|| state(QueryExecutionState::Running))
        .times(3)
        .output(|| state(QueryExecutionState::Succeeded))
        .repeatedly()
        .build();
    let cols = ["status", "orders", "units", "sales"];
    let rows = vec![
        vec![Some("created"), Some("2"), Some("30"), Some("79.0000")],
        vec![Some("delivered"), Some("2"), Some("18"), Some("39.00")],
        vec![Some("broken"), Some("1"), Some("8"), Some("24.00")],
    ];
    let get = results(pages(&cols, &rows, 2));
    let engine = AthenaEngine::new(client(&[&start, &poll, &get]), config());

    let filter = ReportFilter { channel: Some(duff_core::Channel::Retail), ..ReportFilter::default() };
    let q = Report::OrderStatus.query(&filter);
    let rs = engine.run(&q).await.unwrap();
    assert_eq!(rs.columns, cols);
    assert_eq!(rs.rows.len(), 3, "the header row is skipped, every page read");
    assert_eq!(rs.rows[2][0].as_ref().map(duff_api::Datum::text).as_deref(), Some("broken"));
    assert_eq!(poll.num_calls(), 5);
    assert_eq!(get.num_calls(), 2);

    // Through the router: the decimals are normalised like DataFusion's.
    let app = duff_api::router(Arc::new(engine), TokenKey::new("k"));
    let req =
        http::Request::builder().uri("/reports/order-status?channel=retail").body(axum::body::Body::empty()).unwrap();
    let res = app.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["rows"][0], serde_json::json!({"status": "created", "orders": 2, "units": 30, "sales": "79.00"}));
}

#[tokio::test]
async fn values_travel_as_typed_execution_parameters() {
    let start = mock!(Client::start_query_execution)
        .match_requests(|r| {
            let sql = r.query_string().unwrap_or("");
            r.execution_parameters() == ["1008", "1008", "'delivered'", "1009"].map(String::from)
                && sql.matches('?').count() == 4
                && !sql.contains("1008")
                && !sql.contains('$')
        })
        .then_output(|| StartQueryExecutionOutput::builder().query_execution_id("q-1").build());
    let poll = mock!(Client::get_query_execution).then_output(|| state(QueryExecutionState::Succeeded));
    let get = results(pages(&["client_name"], &[], 10));
    let engine = AthenaEngine::new(client(&[&start, &poll, &get]), config());
    let q = duff_api::ClientOrders {
        client_id: 1008,
        status: Some(duff_core::Status::Delivered),
        channel: None,
        after: None,
        limit: 1008,
    }
    .query();
    let rs = engine.run(&q).await.unwrap();
    assert!(rs.rows.is_empty());
    assert_eq!(start.num_calls(), 1);
}

#[tokio::test]
async fn a_failed_query_is_a_clean_502() {
    let start = started();
    let poll = mock!(Client::get_query_execution).then_output(|| {
        let status = QueryExecutionStatus::builder()
            .state(QueryExecutionState::Failed)
            .state_change_reason("HIVE_BAD_DATA: s3://duff-lake-secret/fact_order_line/x.parquet near SELECT order_id")
            .athena_error(AthenaError::builder().error_category(2).error_type(1006).build())
            .build();
        GetQueryExecutionOutput::builder()
            .query_execution(QueryExecution::builder().query_execution_id("q-1").status(status).build())
            .build()
    });
    let engine = AthenaEngine::new(client(&[&start, &poll]), config());
    let e = engine.run(&Report::SalesByProduct.query(&ReportFilter::default())).await.unwrap_err();
    assert!(matches!(e, EngineError::Failed(_)), "{e:?}");

    let app = duff_api::router(Arc::new(engine), TokenKey::new("k"));
    let req = http::Request::builder().uri("/reports/sales-by-product").body(axum::body::Body::empty()).unwrap();
    let res = app.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 502);
    let text = String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(text.contains("query_failed"), "{text}");
    assert!(!text.contains("s3://") && !text.contains("SELECT") && !text.contains("HIVE"), "{text}");
}

#[tokio::test]
async fn throttling_is_a_429_with_retry_after() {
    let start = mock!(Client::start_query_execution).then_error(|| {
        StartQueryExecutionError::TooManyRequestsException(
            TooManyRequestsException::builder().message("Rate exceeded").build(),
        )
    });
    let engine = AthenaEngine::new(client(&[&start]), AthenaConfig { retry_after: Duration::from_secs(2), ..config() });
    let e = engine.run(&Report::OrderStatus.query(&ReportFilter::default())).await.unwrap_err();
    assert!(matches!(e, EngineError::Throttled { retry_after } if retry_after == Duration::from_secs(2)), "{e:?}");

    let app = duff_api::router(Arc::new(engine), TokenKey::new("k"));
    let req = http::Request::builder().uri("/reports/order-status").body(axum::body::Body::empty()).unwrap();
    let res = app.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "2");
}

#[tokio::test]
async fn a_query_past_its_deadline_is_stopped_and_a_504() {
    let start = started();
    let poll = mock!(Client::get_query_execution).then_output(|| state(QueryExecutionState::Running));
    let stop = mock!(Client::stop_query_execution)
        .match_requests(|r| r.query_execution_id() == Some("q-1"))
        .then_output(|| StopQueryExecutionOutput::builder().build());
    let cfg = AthenaConfig { deadline: Duration::from_millis(60), ..config() };
    let engine = AthenaEngine::new(client(&[&start, &poll, &stop]), cfg);
    let t = std::time::Instant::now();
    let e = engine.run(&Report::OrdersByClient.query(&ReportFilter::default())).await.unwrap_err();
    assert!(matches!(e, EngineError::Timeout(_)), "{e:?}");
    assert!(t.elapsed() < Duration::from_secs(2));
    assert!(poll.num_calls() >= 2);
    assert_eq!(stop.num_calls(), 1);

    let app = duff_api::router(Arc::new(engine), TokenKey::new("k"));
    let req = http::Request::builder().uri("/clients/1/orders").body(axum::body::Body::empty()).unwrap();
    assert_eq!(app.oneshot(req).await.unwrap().status(), 504);
    assert_eq!(stop.num_calls(), 2);
}

#[cfg(feature = "datafusion")]
/// Athena's spelling of a value the DataFusion engine answered (as JSON): timestamps
/// `YYYY-MM-DD HH:MM:SS.mmm`, decimals at a wider scale.
fn athena_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) if s.ends_with('Z') && s.len() >= 20 => {
            let (date, time) = s.trim_end_matches('Z').split_once('T').unwrap();
            let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
            format!("{date} {hms}.{:0<3}", frac)
        }
        serde_json::Value::String(s) if s.parse::<f64>().is_ok() && s.contains('.') => format!("{s}00"),
        serde_json::Value::String(s) => s.clone(),
        other => panic!("{other}"),
    }
}

#[cfg(feature = "datafusion")]
#[tokio::test]
async fn mart_routes_answer_over_athena_what_datafusion_answers() {
    use duff_api::LakeUri;
    use duff_sql::{DataFusionConfig, DataFusionEngine};
    // A lake with status updates across files, answered by DataFusion.
    let dir = tempfile::tempdir().unwrap();
    let lake = duff_lake::LocalLake::open(dir.path()).unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (i, f) in ["day1.csv", "day2.csv"].iter().enumerate() {
        let at = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 27, 8 + i as u32, 0, 0).unwrap();
        lake.ingest_path(&repo.join("examples/data").join(f), &duff_core::IngestConfig::default(), at).unwrap();
        // DataFusion reads the serving state: update it, as the ETL does after each file.
        lake.update_serving().unwrap();
    }
    let cfg = DataFusionConfig { refresh_interval: Duration::ZERO, ..DataFusionConfig::default() };
    let df = duff_api::router(
        Arc::new(DataFusionEngine::new(&LakeUri::Local(dir.path().to_path_buf()), cfg).unwrap()),
        TokenKey::new("k"),
    );
    for (report, query, params) in [
        (Report::ClientValue, "channel=retail", vec!["'Retail'"]),
        (Report::BrokenRateByProduct, "channel=B2B", vec!["'B2B'"]),
        (Report::BrokenRateByChannel, "", vec![]),
    ] {
        let uri = format!("/reports/{}?{query}", report.name());
        let get = |app: axum::Router, uri: String| async move {
            let req = http::Request::builder().uri(uri).body(axum::body::Body::empty()).unwrap();
            let res = app.oneshot(req).await.unwrap();
            assert_eq!(res.status(), 200);
            serde_json::from_slice::<serde_json::Value>(&res.into_body().collect().await.unwrap().to_bytes()).unwrap()
        };
        let want = get(df.clone(), uri.clone()).await;
        let rows = want["rows"].as_array().unwrap();
        assert!(!rows.is_empty(), "{uri}");
        // Athena gets the same SQL (with `?`) and the value as a typed literal, and answers
        // the same rows in its own spelling.
        let columns: Vec<&str> = report.columns().iter().map(|c| c.name).collect();
        let text: Vec<Vec<String>> =
            rows.iter().map(|r| columns.iter().map(|c| athena_text(&r[*c])).collect()).collect();
        let owned: Vec<Vec<Option<&str>>> = text.iter().map(|r| r.iter().map(|v| Some(v.as_str())).collect()).collect();
        let filter = match report {
            Report::BrokenRateByChannel => ReportFilter::default(),
            Report::BrokenRateByProduct => {
                ReportFilter { channel: Some(duff_core::Channel::B2B), ..ReportFilter::default() }
            }
            _ => ReportFilter { channel: Some(duff_core::Channel::Retail), ..ReportFilter::default() },
        };
        let sql = report.query(&filter).sql_text(duff_api::Dialect::Athena);
        let params: Vec<String> = params.into_iter().map(String::from).collect();
        let start = mock!(Client::start_query_execution)
            .match_requests(move |r| {
                r.query_string() == Some(sql.as_str())
                    && r.execution_parameters() == params.as_slice()
                    && r.query_string().unwrap_or("").matches('?').count() == params.len()
            })
            .then_output(|| StartQueryExecutionOutput::builder().query_execution_id("q-1").build());
        let poll = mock!(Client::get_query_execution).then_output(|| state(QueryExecutionState::Succeeded));
        let results = results(pages(&columns, &owned, 2));
        let athena = duff_api::router(
            Arc::new(AthenaEngine::new(client(&[&start, &poll, &results]), config())),
            TokenKey::new("k"),
        );
        let have = get(athena, uri.clone()).await;
        assert_eq!(have, want, "{uri}");
        assert_eq!(start.num_calls(), 1, "{uri}");
    }
}
