//! `duff-testkit`: what the test suites and benchmarks of duff-etl share.
//!
//! - [`generate`]: the deterministic synthetic orders generator (its command line is the
//!   `generate` example: `cargo run --release -p duff-cli --example generate -- --rows 1000000`).
//! - [`csv_file`], [`HEADER`], [`repo`], [`sample`]: building test files and finding the
//!   bundled samples, written once for every crate's tests.
//!
//! It depends on nothing (not even `duff-core`), so that `duff-core`'s own tests can use it.
//!
//! ```
//! let csv = duff_testkit::csv_file(&["1,Moe,10,102,Duff,2.50,6,0.33,Retail,created"]);
//! assert!(csv.starts_with(duff_testkit::HEADER));
//! assert_eq!(csv.lines().count(), 2);
//! ```
#![deny(missing_docs)]

pub mod generate;

use std::path::{Path, PathBuf};

/// The header of an orders file, columns in the brief's order.
pub const HEADER: &str = "client_id,client_name,order_id,product_id,product_description,product_price,product_ccf,product_volume,point_of_sale_channel,status";

/// An orders file: [`HEADER`], then `rows`, each ended by `\n`.
pub fn csv_file<S: AsRef<str>>(rows: &[S]) -> String {
    let mut s = String::with_capacity(HEADER.len() + 1 + rows.iter().map(|r| r.as_ref().len() + 1).sum::<usize>());
    s.push_str(HEADER);
    s.push('\n');
    for r in rows {
        s.push_str(r.as_ref());
        s.push('\n');
    }
    s
}

/// The repository's root folder (this crate's parent).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A bundled sample: `examples/data/<name>` (`orders.csv`, `day1.csv`, `day2.csv`).
pub fn sample(name: &str) -> PathBuf {
    repo().join("examples/data").join(name)
}

/// The rows of `n` small orders from order id `start` (1 to 3 lines each, products from 100),
/// for tests whose files update each other's lines: statuses moved on by `status_shift`,
/// clients `1000 + (order_id + client_shift) % clients` (another `client_shift` moves lines
/// to other clients). Each field is a function of the order and product ids, so two files
/// covering the same orders hold versions of the same lines.
pub fn order_rows(start: i64, n: i64, status_shift: usize, clients: i64, client_shift: i64) -> Vec<String> {
    let statuses = ["created", "delivered", "broken"];
    let channels = ["Retail", "Online", "B2B"];
    (0..n)
        .flat_map(|i| {
            let o = start + i;
            let client = 1000 + (o + client_shift) % clients.max(1);
            (0..1 + o % 3).map(move |p| {
                format!(
                    "{client},Client {client},{o},{},Product {},{}.{:02},{},0.{:03},{},{}",
                    100 + p,
                    100 + p,
                    1 + o % 5,
                    o % 100,
                    1 + (o + p) % 9,
                    1 + o % 999,
                    channels[((o + p) % 3) as usize],
                    statuses[((o as usize) + status_shift) % 3]
                )
            })
        })
        .collect()
}

/// Copies the folder `from` (recursively) into `to`.
///
/// # Panics
/// On any I/O error (a test helper).
#[allow(clippy::unwrap_used, reason = "a test helper fails loudly")]
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// One HTTP/1.1 `GET` of `path` on a kept-alive connection, for load tests and benches: the
/// status, and where the body is in `buf` (which holds the whole response; reused between
/// requests). Reads exactly the response (its `content-length`), so the next request can
/// follow on the same connection.
///
/// # Errors
/// I/O errors, or the connection closed before the whole response.
pub async fn http_get(
    conn: &mut tokio::net::TcpStream,
    path: &str,
    buf: &mut Vec<u8>,
) -> std::io::Result<(u16, std::ops::Range<usize>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    conn.write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes()).await?;
    buf.clear();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let status: u16 = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < end + 4 + len {
            let n = conn.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        return Ok((status, end + 4..end + 4 + len));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn samples_exist() {
        for name in ["orders.csv", "day1.csv", "day2.csv"] {
            assert!(super::sample(name).is_file(), "{name}");
        }
    }
}
