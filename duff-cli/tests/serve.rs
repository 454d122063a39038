//! `duff serve` over real TCP: requests hyper could not parse answered in the API's JSON
//! error shape, HEAD like GET, and a damaged serving state served degraded, loudly (503s,
//! `/health`, the object's key in the log on stderr, nothing on stdout).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail loudly")]

use duff_core::IngestConfig;
use duff_lake::{LocalLake, Store};
use duff_testkit::sample;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A lake of the sample files, its serving state up to date.
fn lake() -> (tempfile::TempDir, LocalLake) {
    let dir = tempfile::tempdir().unwrap();
    let lake = LocalLake::open(dir.path()).unwrap();
    for (i, f) in ["day1.csv", "day2.csv"].iter().enumerate() {
        let at = chrono::DateTime::from_timestamp(1_800_000_000 + i as i64 * 3600, 0).unwrap();
        lake.ingest_path(&sample(f), &IngestConfig::default(), at).unwrap();
        lake.update_serving().unwrap();
    }
    (dir, lake)
}

/// `duff serve` on a free port of 127.0.0.1, with `RUST_LOG` set to `rust_log` (unset for
/// `None`).
struct Server {
    child: Child,
    addr: SocketAddr,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Server {
    fn start(root: &std::path::Path, rust_log: Option<&str>) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_duff"));
        cmd.args(["serve", "--lake", root.to_str().unwrap(), "--addr", "127.0.0.1:0", "--refresh-ms", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_remove("RUST_LOG")
            .env_remove("MALLOC_ARENA_MAX");
        if let Some(v) = rust_log {
            cmd.env("RUST_LOG", v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line.trim().rsplit("http://").next().unwrap().parse().unwrap_or_else(|e| panic!("{line}: {e}"));
        Server { child, addr, stdout }
    }

    /// Stops the server: what it wrote on stdout after its first line, and on stderr.
    fn stop(mut self) -> (String, String) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let mut out = String::new();
        self.stdout.read_to_string(&mut out).unwrap();
        let mut err = String::new();
        self.child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        (out, err)
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    }
}

/// A test that fails midway stops its server too.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// The one error shape, with the request's id in the body and the header.
    fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{:?}", String::from_utf8_lossy(&self.body));
        let j = self.json();
        assert_eq!(j["error"]["code"], code, "{j}");
        let id = j["error"]["request_id"].as_str().unwrap();
        assert!(!id.is_empty());
        assert_eq!(self.header("x-request-id"), Some(id));
        assert_eq!(self.header("content-type"), Some("application/json"));
    }
}

/// Reads one response (a HEAD's has no body, whatever its length says).
fn read_reply(r: &mut impl BufRead, head_request: bool) -> Reply {
    let mut status_line = String::new();
    r.read_line(&mut status_line).unwrap();
    let status = status_line.split(' ').nth(1).unwrap_or_else(|| panic!("{status_line:?}")).parse().unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').unwrap();
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let mut reply = Reply { status, headers, body: Vec::new() };
    let len: usize = reply.header("content-length").map_or(0, |v| v.parse().unwrap());
    if !head_request {
        reply.body.resize(len, 0);
        r.read_exact(&mut reply.body).unwrap();
    }
    reply
}

/// Sends `request` (a whole head) on a new connection and reads the reply.
fn exchange(server: &Server, request: &[u8]) -> Reply {
    let mut s = server.connect();
    s.write_all(request).unwrap();
    read_reply(&mut BufReader::new(s), request.starts_with(b"HEAD "))
}

fn get(server: &Server, target: &str) -> Reply {
    exchange(server, format!("GET {target} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
}

/// `serve` starts itself again with two malloc arenas (its peak memory under load: docs/api.md).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn serve_runs_with_two_malloc_arenas() {
    let (dir, _lake) = lake();
    let server = Server::start(dir.path(), None);
    let environ = std::fs::read(format!("/proc/{}/environ", server.child.id())).unwrap();
    assert!(environ.split(|b| *b == 0).any(|v| v == b"MALLOC_ARENA_MAX=2"), "{}", String::from_utf8_lossy(&environ));
    // The same server, answering.
    assert_eq!(get(&server, "/health").status, 200);
}

#[test]
fn requests_the_parser_cannot_take_are_answered_in_the_error_shape() {
    let (dir, _lake) = lake();
    let server = Server::start(dir.path(), None);
    // 100 KB and 1 MB of query: beyond what an http::Uri holds (64 KiB).
    for n in [100_000, 1_000_000] {
        let r = get(&server, &format!("/health?q={}", "x".repeat(n)));
        r.assert_error(414, "uri_too_long");
        assert!(r.json()["error"]["message"].as_str().unwrap().contains("8192"), "{}", r.json());
    }
    // Headers over hyper's read buffer, and more headers than it parses.
    let big = format!("GET /health HTTP/1.1\r\nhost: x\r\nx-a: {}\r\n\r\n", "v".repeat(500_000));
    exchange(&server, big.as_bytes()).assert_error(431, "headers_too_large");
    let many: String = (0..150).map(|i| format!("x-h{i}: 1\r\n")).collect();
    exchange(&server, format!("GET /health HTTP/1.1\r\n{many}\r\n").as_bytes()).assert_error(431, "headers_too_large");
    // Within the parser's bounds, beyond the API's: the router's own refusal.
    get(&server, &format!("/health?q={}", "x".repeat(10_000))).assert_error(414, "uri_too_long");
    // A HEAD beyond them: the same status, no body.
    let r = exchange(&server, format!("HEAD /health?q={} HTTP/1.1\r\nhost: x\r\n\r\n", "x".repeat(100_000)).as_bytes());
    assert_eq!(r.status, 414);
    assert!(r.header("x-request-id").is_some());
    // HEAD follows GET.
    let (g, h) = (get(&server, "/health"), exchange(&server, b"HEAD /health HTTP/1.1\r\nhost: x\r\n\r\n"));
    assert_eq!((g.status, h.status), (200, 200));
    assert_eq!(g.json(), serde_json::json!({"status": "ok"}));
    assert_eq!(h.header("content-length"), g.header("content-length"));
    // Requests within the bounds, pipelined on one connection with a body between them,
    // all answered in order.
    let mut s = server.connect();
    s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\nPOST /health HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhelloGET /reports/order-status HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    assert_eq!(read_reply(&mut r, false).status, 200);
    read_reply(&mut r, false).assert_error(405, "method_not_allowed");
    let orders = read_reply(&mut r, false);
    assert_eq!(orders.status, 200);
    assert!(orders.json()["rows"].as_array().is_some_and(|rows| !rows.is_empty()));
    // Without RUST_LOG, duff-etl's crates log at info: the load of the generation.
    let (out, err) = server.stop();
    assert!(err.contains("serving state loaded"), "{err}");
    assert!(!out.contains("serving state loaded"), "{out}");
}

#[test]
fn a_damaged_serving_state_is_served_degraded_and_logged_with_its_key() {
    let (dir, lake) = lake();
    let head = lake.serving_head().unwrap().unwrap();
    let key = head.tables["cells_total"].clone();
    lake.store().delete(&key).unwrap();
    let server = Server::start(dir.path(), None);
    let report = get(&server, "/reports/order-status");
    report.assert_error(503, "lake_unavailable");
    let health = get(&server, "/health");
    assert_eq!(health.status, 503);
    assert_eq!(health.json()["status"], "degraded");
    assert_eq!(health.json()["problem"], "missing_object");
    let (out, err) = server.stop();
    // The log (stderr, default filter): each failed request's line names its id and the
    // object's key; stdout holds none of it.
    for reply in [&report, &health] {
        let id = reply.json()["error"]["request_id"].as_str().unwrap().to_owned();
        let line = err.lines().find(|l| l.contains(&id)).unwrap_or_else(|| panic!("no line of {id}: {err}"));
        assert!(line.contains("request failed") && line.contains(&key), "{line}");
    }
    assert!(!out.contains(&key) && !out.contains("request failed"), "{out}");

    // RUST_LOG is honoured: `off` logs nothing.
    let server = Server::start(dir.path(), Some("off"));
    get(&server, "/reports/order-status").assert_error(503, "lake_unavailable");
    let (_, err) = server.stop();
    assert!(!err.contains(&key), "{err}");
}
