//! `GET /`: the dashboard page, its Content-Security-Policy (the inline script and style by
//! hash, nothing from elsewhere), and the routes it reads answering over a real lake. That it
//! renders in a browser is checked by deploy/dashboard-check.sh (Chromium, headless).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail loudly")]

use axum::Router;
use axum::body::Body;
use base64::Engine as _;
use chrono::{TimeZone, Utc};
use duff_api::{ServingEngine, ServingEngineConfig, TokenKey};
use duff_core::IngestConfig;
use duff_lake::{IngestionIndex, LocalLake};
use duff_testkit::sample;
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

fn app() -> (tempfile::TempDir, Router) {
    let dir = tempfile::tempdir().unwrap();
    let lake = LocalLake::open(dir.path()).unwrap();
    for (i, f) in ["day1.csv", "day2.csv", "orders.csv"].iter().enumerate() {
        let t = Utc.with_ymd_and_hms(2026, 11, 27, 8 + i as u32, 0, 0).unwrap();
        lake.ingest_path(&sample(f), &IngestConfig::default(), t).unwrap();
    }
    lake.update_serving().unwrap();
    let cfg =
        ServingEngineConfig { refresh_interval: Duration::ZERO, refresh_in_background: false, ..Default::default() };
    let index = Arc::new(IngestionIndex::new(lake.store().clone(), Duration::ZERO));
    let app = duff_api::router_with_ingestions(Arc::new(ServingEngine::new(lake, cfg)), TokenKey::new("k"), index);
    (dir, app)
}

async fn get(app: &Router, uri: &str) -> (u16, http::HeaderMap, String) {
    let req = http::Request::builder().uri(uri).body(Body::empty()).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

/// The text between the first `open` and the next `close`.
fn between<'a>(text: &'a str, open: &str, close: &str) -> &'a str {
    let start = text.find(open).unwrap() + open.len();
    &text[start..start + text[start..].find(close).unwrap()]
}

fn hash(text: &str) -> String {
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes())))
}

#[tokio::test]
async fn the_page_under_a_strict_policy_naming_its_script_and_style() {
    let (_dir, app) = app();
    let (status, headers, html) = get(&app, "/").await;
    assert_eq!(status, 200);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let csp = headers["content-security-policy"].to_str().unwrap();
    let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
    assert!(directives.contains(&"default-src 'none'"), "{csp}");
    assert!(directives.contains(&"connect-src 'self'"), "{csp}");
    // The one inline script and the one inline style, by hash; nothing else allowed.
    assert_eq!(html.matches("<script").count(), 1);
    assert_eq!(html.matches("<style").count(), 1);
    let script = between(&html, "<script>", "</script>");
    let style = between(&html, "<style>", "</style>");
    assert!(directives.contains(&format!("script-src {}", hash(script)).as_str()), "{csp}");
    assert!(directives.contains(&format!("style-src {}", hash(style)).as_str()), "{csp}");
    assert!(!csp.contains("unsafe") && !csp.contains('*') && !csp.contains("http"), "{csp}");
    // No inline event handler or style attribute (the policy would block them).
    assert!(!html.contains(" onclick=") && !html.contains(" onload=") && !html.contains(" style=\""));
    // Bad input is refused like on every route.
    let (status, _, body) = get(&app, "/?x=1").await;
    assert_eq!(status, 400);
    assert!(body.contains("unknown_parameter"));
}

#[tokio::test]
async fn every_route_the_page_reads_answers() {
    let (_dir, app) = app();
    let (_, _, html) = get(&app, "/").await;
    let sources: Vec<&str> = html.split("data-source=\"").skip(1).map(|s| &s[..s.find('"').unwrap()]).collect();
    assert_eq!(sources.len(), 5, "{sources:?}");
    for s in sources {
        assert!(!s.starts_with('/'), "{s}: relative, so that the page works under a stage prefix");
        let (status, headers, body) = get(&app, &format!("/{s}")).await;
        assert_eq!(status, 200, "{s}: {body}");
        assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"));
    }
    // The routes the script builds itself.
    let js = between(&html, "<script>", "</script>");
    for route in ["\"ingestions/\" + m[1] + \"/quarantine?limit=100\"", "url(\"ingestions/\" + f.file_id)"] {
        assert!(js.contains(route), "{route}");
    }
}
