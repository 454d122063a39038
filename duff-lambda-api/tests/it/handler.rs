//! API Gateway REST proxy events (tests/data/*.json) through `handle`: over a lake in a
//! temporary folder answered by the serving engine (the default) and by DataFusion (feature
//! `datafusion`), and how the path is read.

use std::path::Path;

mod fixtures {
    use chrono::{TimeZone, Utc};
    use duff_core::IngestConfig;
    use duff_lambda_api::Config;
    use lambda_http::{Body, RequestExt};
    use serde_json::Value;
    use std::path::Path;

    fn lake() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let lake = duff_lake::LocalLake::open(dir.path()).unwrap();
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/data");
        for (i, f) in ["day1.csv", "day2.csv"].iter().enumerate() {
            let at = Utc.with_ymd_and_hms(2026, 11, 27, 9 + i as u32, 0, 0).unwrap();
            lake.ingest_path(&data.join(f), &IngestConfig::default(), at).unwrap();
            // DataFusion reads the serving state: update it, as the ETL does after each file.
            lake.update_serving().unwrap();
        }
        lake.update_serving().unwrap();
        dir
    }

    /// The function as configured by its environment; `engine` `None` is the default.
    async fn app(lake: &Path, engine: Option<&str>) -> axum::Router {
        let mut vars = vec![
            ("DUFF_LAKE_URI", lake.display().to_string()),
            ("DUFF_REFRESH_MS", "0".to_owned()),
            ("DUFF_PAGING_SECRET", "fixture secret".to_owned()),
        ];
        if let Some(engine) = engine {
            vars.push(("DUFF_QUERY_ENGINE", engine.to_owned()));
        }
        let config = Config::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).unwrap();
        let clients = duff_lambda_api::Clients::default();
        duff_lambda_api::app(&config, &clients).await.unwrap()
    }

    struct Answer {
        status: u16,
        headers: http::HeaderMap,
        json: Value,
    }

    async fn invoke(app: &axum::Router, fixture: &str) -> Answer {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(fixture);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut ctx = lambda_http::Context::default();
        ctx.request_id = format!("lambda-{fixture}");
        let req = lambda_http::request::from_str(&text).unwrap().with_lambda_context(ctx);
        let res = duff_lambda_api::handle(app.clone(), req).await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let json = match res.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap(),
            other => panic!("{fixture}: not a text body: {other:?}"),
        };
        Answer { status, headers, json }
    }

    fn assert_error(a: &Answer, fixture: &str, status: u16, code: &str) {
        assert_eq!(a.status, status, "{fixture}: {}", a.json);
        assert_eq!(a.json["error"]["code"], code, "{fixture}: {}", a.json);
        // The request id is the Lambda invocation's.
        assert_eq!(a.json["error"]["request_id"], format!("lambda-{fixture}"));
    }

    #[tokio::test]
    async fn every_fixture_answers_as_the_contract_says_from_the_serving_state() {
        let dir = lake();
        every_fixture_answers(&app(dir.path(), None).await).await;
    }

    #[cfg(feature = "datafusion")]
    #[tokio::test]
    async fn every_fixture_answers_as_the_contract_says_with_datafusion() {
        let dir = lake();
        every_fixture_answers(&app(dir.path(), Some("datafusion")).await).await;
    }

    async fn every_fixture_answers(app: &axum::Router) {
        let a = invoke(app, "health.json").await;
        assert_eq!((a.status, a.json.clone()), (200, serde_json::json!({"status": "ok"})));
        assert_eq!(a.headers["x-request-id"], "lambda-health.json");
        assert_eq!(a.headers["content-type"], "application/json");

        let a = invoke(app, "client_orders.json").await;
        assert_eq!(a.status, 200, "{}", a.json);
        assert_eq!(a.json["client_id"], 1008);
        assert_eq!(a.json["client_name"], "The Frying Dutchman");
        let orders = a.json["orders"].as_array().unwrap();
        assert_eq!(orders.len(), 2);
        assert!(orders.iter().all(|o| o["status"] == "delivered"));
        assert!(a.json["next_token"].is_string());

        let a = invoke(app, "sales_by_product.json").await;
        assert_eq!(a.status, 200, "{}", a.json);
        assert!(!a.json["rows"].as_array().unwrap().is_empty());

        // The stage in the path is dropped too.
        let a = invoke(app, "order_status_stage_in_path.json").await;
        assert_eq!(a.status, 200, "{}", a.json);
        assert_eq!(a.json["rows"][0]["status"], "created");

        assert_error(
            &invoke(app, "client_orders_unknown.json").await,
            "client_orders_unknown.json",
            404,
            "client_not_found",
        );
        assert_error(
            &invoke(app, "client_orders_bad_id.json").await,
            "client_orders_bad_id.json",
            400,
            "bad_parameter",
        );
        let f = "orders_by_client_unknown_param.json";
        assert_error(&invoke(app, f).await, f, 400, "unknown_parameter");
        let f = "sales_by_channel_repeated_param.json";
        assert_error(&invoke(app, f).await, f, 400, "bad_parameter");
        let f = "client_value_bad_client_id.json";
        assert_error(&invoke(app, f).await, f, 400, "bad_parameter");
        let a = invoke(app, "broken_rate_by_product_b2b.json").await;
        assert_eq!(a.status, 200, "{}", a.json);
        let rows = a.json["rows"].as_array().unwrap();
        assert!(!rows.is_empty());
        assert!(rows.iter().all(|r| r["broken_rate"].as_str().is_some_and(|v| v.len() == 8)), "{}", a.json);
        assert_error(&invoke(app, "unknown_route.json").await, "unknown_route.json", 404, "not_found");
        assert_error(&invoke(app, "post_health.json").await, "post_health.json", 405, "method_not_allowed");
    }
}

/// A build without DataFusion refuses `DUFF_QUERY_ENGINE=datafusion` at cold start, with a
/// message naming the variable and the feature.
#[cfg(not(feature = "datafusion"))]
#[tokio::test]
async fn without_the_feature_datafusion_is_refused() {
    let vars = [("DUFF_LAKE_URI", "/tmp/lake"), ("DUFF_QUERY_ENGINE", "datafusion")];
    let config =
        duff_lambda_api::Config::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned()))
            .unwrap();
    let e = duff_lambda_api::app(&config, &duff_lambda_api::Clients::default()).await.unwrap_err().to_string();
    assert!(e.contains("DUFF_QUERY_ENGINE") && e.contains("`datafusion`"), "{e}");
}

#[test]
fn the_stage_is_dropped_from_paths() {
    for (fixture, want) in [
        ("health.json", "/health"),
        ("order_status_stage_in_path.json", "/reports/order-status"),
        ("client_orders.json", "/clients/1008/orders"),
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(fixture);
        let req = lambda_http::request::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert!(req.uri().path().starts_with("/prod/"), "lambda_http puts the stage in front");
        assert_eq!(duff_lambda_api::path_without_stage(&req), want);
    }
}

/// The clients are the engine's: S3 for the serving engine over an `s3://` lake (which needs a
/// region, checked at cold start), none over a folder, Athena for Athena.
#[test]
fn the_clients_are_the_ones_the_engine_needs() {
    let read = |vars: &[(&str, &str)]| {
        duff_lambda_api::Config::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned()))
            .unwrap()
    };
    let sdk = || aws_config::SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest());
    let no_region = sdk().build();
    let s3_lake = read(&[("DUFF_LAKE_URI", "s3://lake-bucket/lake")]);
    let e = duff_lambda_api::Clients::from_sdk(&s3_lake, &no_region).unwrap_err();
    assert_eq!(e, duff_lambda_api::ConfigError::Missing("AWS_REGION"));
    let local = read(&[("DUFF_LAKE_URI", "/tmp/lake")]);
    let c = duff_lambda_api::Clients::from_sdk(&local, &no_region).unwrap();
    assert!(c.s3.is_none() && c.athena.is_none());
    let region = sdk().region(aws_config::Region::new("eu-west-1")).build();
    let c = duff_lambda_api::Clients::from_sdk(&s3_lake, &region).unwrap();
    assert!(c.s3.is_some() && c.athena.is_none());
    let athena = read(&[
        ("DUFF_LAKE_URI", "s3://lake-bucket/lake"),
        ("DUFF_QUERY_ENGINE", "athena"),
        ("DUFF_ATHENA_DATABASE", "duff"),
        ("DUFF_ATHENA_WORKGROUP", "duff-api"),
    ]);
    let c = duff_lambda_api::Clients::from_sdk(&athena, &region).unwrap();
    assert!(c.s3.is_none() && c.athena.is_some());
}
