//! `GET /`: the dashboard, one HTML page shipped in the binary.
//!
//! The page (`dashboard.html`, its style `dashboard.css` and its script `dashboard.js`, all
//! three included at compile time) reads the API's own JSON routes from the same origin and
//! draws them as SVG, with the exact numbers beside each chart. It makes no other request:
//! the answer carries a Content-Security-Policy that allows only the inline script and style
//! whose SHA-256 it names, `fetch` to the same origin, and nothing else (no external script,
//! font, image or frame). See docs/dashboard.md.

use crate::error::ApiError;
use crate::http::{Params, RequestId};
use axum::extract::{Extension, RawQuery};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

const TEMPLATE: &str = include_str!("dashboard.html");
const STYLE: &str = include_str!("dashboard.css");
const SCRIPT: &str = include_str!("dashboard.js");

/// The page and its Content-Security-Policy.
#[derive(Debug)]
pub struct Page {
    /// The HTML.
    pub html: String,
    /// The `content-security-policy` header's value.
    pub csp: String,
}

fn sha256(text: &str) -> String {
    format!("'sha256-{}'", STANDARD.encode(Sha256::digest(text.as_bytes())))
}

/// The dashboard page, built once.
pub fn page() -> &'static Page {
    static PAGE: OnceLock<Page> = OnceLock::new();
    PAGE.get_or_init(|| Page {
        html: TEMPLATE.replace("{{STYLE}}", STYLE).replace("{{SCRIPT}}", SCRIPT),
        csp: format!(
            "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; img-src data:; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            sha256(SCRIPT),
            sha256(STYLE)
        ),
    })
}

pub(crate) async fn dashboard(RawQuery(q): RawQuery, Extension(id): Extension<RequestId>) -> Response {
    if let Err(e) = Params::parse(q.as_deref(), &[]) {
        return e.into_response_for(&id.0);
    }
    let p = page();
    let Ok(csp) = HeaderValue::from_str(&p.csp) else {
        return ApiError::Engine(crate::EngineError::internal("the page's policy is not a header value"))
            .into_response_for(&id.0);
    };
    let mut res = axum::response::Html(p.html.as_str()).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_holds_its_script_and_style_and_the_policy_names_them() {
        let p = page();
        assert!(!p.html.contains("{{"));
        assert!(p.html.contains(&format!("<script>{SCRIPT}</script>")));
        assert!(p.html.contains(&format!("<style>{STYLE}</style>")));
        assert!(p.csp.contains(&sha256(SCRIPT)) && p.csp.contains(&sha256(STYLE)));
        assert!(p.csp.starts_with("default-src 'none'"));
        // Nothing leaves the origin: no absolute URL in the page (the SVG namespace is an
        // identifier, never fetched).
        let without_ns = p.html.replace("http://www.w3.org/2000/svg", "");
        assert!(!without_ns.contains("http://") && !without_ns.contains("https://") && !without_ns.contains("//cdn"));
    }
}
