//! Request heads kept within what the HTTP parser takes, so that every refusal is the API's.
//!
//! hyper answers a request whose head it cannot parse on its own, with an empty body and
//! no request id: a target longer than an `http::Uri` holds (64 KiB) is a bare 414, a head
//! larger than its read buffer or with more than 100 headers a bare 431. The API's bounds
//! are smaller (`duff_api::MAX_URI_BYTES`, `MAX_HEADER_BYTES`, `MAX_HEADERS`) and its router
//! refuses what exceeds them in the JSON error shape; this guard sees every request head
//! before hyper does and, for one hyper could not parse ([`MAX_HEAD_BYTES`] or more than
//! [`PARSER_MAX_HEADERS`] headers), drops the rest of that head and hands hyper instead a
//! small head that exceeds the same API bound (its target, or its headers) with
//! `connection: close`: the router answers it 414 or 431 like any other, with the request's
//! id, and the connection ends.
//!
//! Every other byte goes to hyper unchanged and in order: a head once complete, a body
//! framed by `Content-Length` as it comes, everything after a chunked body's head (hyper
//! frames it; the guard no longer looks at that connection).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The largest request head (request line and headers) handed to hyper: above the API's
/// bounds together (so that whatever they accept passes), far below hyper's read buffer
/// (~400 KB) and `http::Uri`'s 64 KiB.
pub const MAX_HEAD_BYTES: usize = 32 * 1024;
/// hyper's own bound on the headers of a request (its default `max_headers`).
pub const PARSER_MAX_HEADERS: usize = 100;
/// The most bytes of a refused head dropped before it is answered: beyond, the answer goes
/// out while the client still sends (it may then see the connection reset).
pub const MAX_DISCARD_BYTES: usize = 8 << 20;

const _: () = assert!(duff_api::MAX_URI_BYTES + duff_api::MAX_HEADER_BYTES + 64 <= MAX_HEAD_BYTES);
const _: () = assert!(duff_api::MAX_HEADERS <= PARSER_MAX_HEADERS);

/// Which API bound a refused head exceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// The request line: the API's 414.
    Uri,
    /// The header section: the API's 431.
    Headers,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a head into `held`.
    Head,
    /// Forwarding this many more body bytes.
    Body(u64),
    /// Forwarding everything (after a chunked body's head).
    Through,
    /// Dropping the rest of a refused head.
    Refusing(Refusal),
    /// The refusal was handed over: dropping everything.
    Drain,
}

/// The guard's view of one connection's incoming bytes: a pure state machine, fed what the
/// socket gives, writing what hyper may read.
#[derive(Debug)]
pub struct Scanner {
    state: State,
    /// The head being read.
    held: Vec<u8>,
    /// Where the current line of `held` starts.
    line_start: usize,
    /// The length of the request line, once read.
    request_line: Option<usize>,
    /// Header lines read.
    headers: usize,
    /// While refusing: bytes dropped, the length of the current line.
    discarded: usize,
    line_len: usize,
    /// The refused request's method (for a `HEAD`, the answer has no body).
    method: &'static str,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new()
    }
}

impl Scanner {
    /// A connection's start.
    pub fn new() -> Scanner {
        Scanner {
            state: State::Head,
            held: Vec::new(),
            line_start: 0,
            request_line: None,
            headers: 0,
            discarded: 0,
            line_len: 0,
            method: "GET",
        }
    }

    /// Takes `bytes` from the socket and appends to `out` what hyper may read now.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) {
        while !bytes.is_empty() {
            match self.state {
                State::Through => {
                    out.extend_from_slice(bytes);
                    return;
                }
                State::Drain => return,
                State::Body(n) => {
                    let take = usize::try_from(n).unwrap_or(usize::MAX).min(bytes.len());
                    out.extend_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    let left = n - take as u64;
                    self.state = if left == 0 { State::Head } else { State::Body(left) };
                }
                State::Head => {
                    let b = bytes[0];
                    bytes = &bytes[1..];
                    self.head_byte(b, out);
                }
                State::Refusing(kind) => {
                    let b = bytes[0];
                    bytes = &bytes[1..];
                    self.discarded += 1;
                    let end = b == b'\n' && self.line_len == 0;
                    if b == b'\n' {
                        self.line_len = 0;
                    } else if b != b'\r' {
                        self.line_len += 1;
                    }
                    if end || self.discarded >= MAX_DISCARD_BYTES {
                        out.extend_from_slice(&refused_head(kind, self.method));
                        self.state = State::Drain;
                    }
                }
            }
        }
    }

    /// The socket closed: hyper gets what is left (a partial head makes it close quietly).
    pub fn end(&mut self, out: &mut Vec<u8>) {
        if self.state == State::Head {
            out.append(&mut self.held);
        }
    }

    fn head_byte(&mut self, b: u8, out: &mut Vec<u8>) {
        self.held.push(b);
        if b == b'\n' {
            let mut line = &self.held[self.line_start..self.held.len() - 1];
            if let Some(stripped) = line.strip_suffix(b"\r") {
                line = stripped;
            }
            let empty = line.is_empty();
            self.line_start = self.held.len();
            match self.request_line {
                // Empty lines before the request line are skipped by the parser.
                None if empty => {}
                None => self.request_line = Some(line.len()),
                Some(_) if empty => return self.head_done(out),
                Some(_) => {
                    self.headers += 1;
                    if self.headers > PARSER_MAX_HEADERS {
                        return self.refuse(Refusal::Headers, 0);
                    }
                }
            }
        }
        if self.held.len() > MAX_HEAD_BYTES {
            let kind = match self.request_line {
                Some(n) if n <= duff_api::MAX_URI_BYTES => Refusal::Headers,
                _ => Refusal::Uri,
            };
            let line_len = self.held.len() - self.line_start;
            self.refuse(kind, line_len);
        }
    }

    fn refuse(&mut self, kind: Refusal, line_len: usize) {
        let start = self.held.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(0);
        let method = self.held[start..].split(|b| *b == b' ').next().unwrap_or_default();
        self.method = if method == b"HEAD" { "HEAD" } else { "GET" };
        tracing::debug!(?kind, bytes = self.held.len(), "request head beyond the parser's bounds refused");
        self.held = Vec::new();
        self.discarded = 0;
        self.line_len = line_len;
        self.state = State::Refusing(kind);
    }

    /// A whole head: to hyper, then its body's framing.
    fn head_done(&mut self, out: &mut Vec<u8>) {
        let mut length: Option<u64> = None;
        let mut through = false;
        for line in self.held.split(|b| *b == b'\n').skip(1) {
            let Some(colon) = line.iter().position(|b| *b == b':') else { continue };
            let (name, value) = (&line[..colon], String::from_utf8_lossy(&line[colon + 1..]));
            if name.eq_ignore_ascii_case(b"content-length") {
                match (length, value.trim().parse::<u64>()) {
                    (None, Ok(n)) => length = Some(n),
                    // Twice, or not a number: hyper refuses the request and closes.
                    _ => through = true,
                }
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") || name.eq_ignore_ascii_case(b"upgrade") {
                through = true;
            }
        }
        out.append(&mut self.held);
        self.line_start = 0;
        self.request_line = None;
        self.headers = 0;
        self.state = match length {
            _ if through => State::Through,
            Some(n) if n > 0 => State::Body(n),
            _ => State::Head,
        };
    }
}

/// A head that the API refuses for the same reason as the one dropped, closing the
/// connection after the answer.
fn refused_head(kind: Refusal, method: &str) -> Vec<u8> {
    let mut h = Vec::with_capacity(duff_api::MAX_HEADER_BYTES + 128);
    h.extend_from_slice(method.as_bytes());
    h.extend_from_slice(b" /");
    match kind {
        Refusal::Uri => {
            h.resize(h.len() + duff_api::MAX_URI_BYTES, b'x');
            h.extend_from_slice(b" HTTP/1.1\r\nconnection: close\r\n\r\n");
        }
        Refusal::Headers => {
            h.extend_from_slice(b" HTTP/1.1\r\nconnection: close\r\nx-refused: ");
            h.resize(h.len() + duff_api::MAX_HEADER_BYTES, b'x');
            h.extend_from_slice(b"\r\n\r\n");
        }
    }
    h
}

/// A connection seen through a [`Scanner`]: reads go through it, writes go straight out.
#[derive(Debug)]
pub struct Guarded<T> {
    inner: T,
    scanner: Scanner,
    /// Bytes hyper may read, from `pos` on.
    out: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl<T> Guarded<T> {
    /// Guards `inner`.
    pub fn new(inner: T) -> Guarded<T> {
        Guarded { inner, scanner: Scanner::new(), out: Vec::new(), pos: 0, eof: false }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.pos < this.out.len() {
                let n = buf.remaining().min(this.out.len() - this.pos);
                buf.put_slice(&this.out[this.pos..this.pos + n]);
                this.pos += n;
                if this.pos == this.out.len() {
                    this.out.clear();
                    this.pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0u8; 8192];
            let mut rb = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
            if rb.filled().is_empty() {
                this.eof = true;
                this.scanner.end(&mut this.out);
            } else {
                this.scanner.feed(rb.filled(), &mut this.out);
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Guarded<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A TCP listener whose connections are [`Guarded`], for `axum::serve`.
#[derive(Debug)]
pub struct GuardedListener(pub tokio::net::TcpListener);

impl axum::serve::Listener for GuardedListener {
    type Io = Guarded<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, addr)) => return (Guarded::new(stream), addr),
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    /// What hyper reads when the socket gives `input` in chunks of `step` bytes.
    fn through(input: &[u8], step: usize) -> Vec<u8> {
        let mut s = Scanner::new();
        let mut out = Vec::new();
        for chunk in input.chunks(step) {
            s.feed(chunk, &mut out);
        }
        s.end(&mut out);
        out
    }

    #[test]
    fn heads_within_the_bounds_and_bodies_pass_unchanged() {
        let target = format!("/reports/order-status?client_id={}", "1".repeat(duff_api::MAX_URI_BYTES - 40));
        let big_header = "v".repeat(duff_api::MAX_HEADER_BYTES - 20);
        let many: String = (0..PARSER_MAX_HEADERS - 2).map(|i| format!("x-h{i}: 1\r\n")).collect();
        let input = [
            "\r\nGET /health HTTP/1.1\r\nhost: a\r\n\r\n".to_owned(),
            format!("GET {target} HTTP/1.1\r\nx-big: {big_header}\r\n\r\n"),
            "POST /health HTTP/1.1\r\ncontent-length: 20\r\n\r\nGET /x HTTP/1.1\r\n\r\n\n\n".to_owned(),
            // A body is not a head, however long its lines.
            format!("POST /x HTTP/1.1\r\nContent-Length: 40000\r\n\r\n{}", "y".repeat(40_000)),
            format!("GET /health HTTP/1.1\nhost: a\n{many}\n"),
            "POST /x HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n".to_owned(),
            format!("5\r\nhello\r\n0\r\n\r\nGET /{} HTTP/1.1\r\n\r\n", "x".repeat(100_000)),
        ]
        .concat();
        for step in [1, 7, 8192, input.len()] {
            assert_eq!(through(input.as_bytes(), step), input.as_bytes(), "step {step}");
        }
    }

    #[test]
    fn a_head_the_parser_cannot_take_becomes_one_the_api_refuses() {
        let long =
            format!("GET /health?q={} HTTP/1.1\r\nhost: a\r\n\r\nGET /next HTTP/1.1\r\n\r\n", "x".repeat(100_000));
        let headers = format!("GET / HTTP/1.1\r\nx-a: {}\r\nx-b: {}\r\n\r\n", "v".repeat(20_000), "v".repeat(20_000));
        let many: String = (0..=PARSER_MAX_HEADERS).map(|i| format!("x-h{i}: 1\r\n")).collect();
        let many = format!("HEAD / HTTP/1.1\r\n{many}\r\n");
        let cases = [
            (long.as_str(), refused_head(Refusal::Uri, "GET")),
            (headers.as_str(), refused_head(Refusal::Headers, "GET")),
            (many.as_str(), refused_head(Refusal::Headers, "HEAD")),
        ];
        for (input, expected) in cases {
            for step in [1, 1000, input.len()] {
                // The rest (a pipelined request) is dropped: the connection closes.
                assert_eq!(through(input.as_bytes(), step), expected, "step {step}");
            }
        }
        // After a request that passed, on the same connection.
        let input = format!("GET /health HTTP/1.1\r\n\r\n{long}");
        let mut expected = b"GET /health HTTP/1.1\r\n\r\n".to_vec();
        expected.extend(refused_head(Refusal::Uri, "GET"));
        assert_eq!(through(input.as_bytes(), 4096), expected);
        // The synthetic heads exceed the API's bounds, and only just.
        let uri = String::from_utf8(refused_head(Refusal::Uri, "GET")).unwrap();
        assert_eq!(uri.split(' ').nth(1).unwrap().len(), duff_api::MAX_URI_BYTES + 1);
        let h = refused_head(Refusal::Headers, "GET");
        assert!(h.len() > duff_api::MAX_HEADER_BYTES && h.len() < MAX_HEAD_BYTES);
    }
}
