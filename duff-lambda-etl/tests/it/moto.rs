//! A real S3-compatible server for the end-to-end tests: `moto` (PyPI), started on a free
//! loopback port and stopped when the test ends — even if the test process dies, because
//! the server exits when its standard input (a pipe from this process) closes.
//!
//! `moto[server]` is installed with pip (`--user`) when it is not importable.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const LAUNCHER: &str = r#"
import os, sys
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()  # returns at EOF: the test process closed the pipe or died
os._exit(0)
"#;

const PROBE: &str =
    "import moto, flask, flask_cors; from moto.moto_server.threaded_moto_server import ThreadedMotoServer";

/// Serialises installs between tests running in parallel.
static INSTALL: Mutex<()> = Mutex::new(());

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

fn importable() -> bool {
    Command::new(python()).args(["-c", PROBE]).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Makes sure `moto[server]` can be imported, installing it if needed.
fn ensure_moto() {
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if importable() {
        return;
    }
    let base = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--user", "moto[server]>=5,<6"];
    let tries: Vec<Vec<&str>> = vec![
        base.to_vec(),
        // Inside a virtual environment --user is refused: install into it.
        base.iter().copied().filter(|a| *a != "--user").collect(),
        // Debian's system Python refuses --user installs unless told (PEP 668).
        [&base[..], &["--break-system-packages"]].concat(),
    ];
    let mut log = String::new();
    for args in tries {
        match Command::new(python()).args(&args).output() {
            Ok(out) if out.status.success() && importable() => return,
            Ok(out) => log.push_str(&format!(
                "$ {} {}\n{}{}\n",
                python(),
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )),
            Err(e) => log.push_str(&format!("cannot run {}: {e}\n", python())),
        }
    }
    panic!(
        "the end-to-end tests need moto[server] (a local S3), and installing it failed.\n\
         Install it by hand: {} -m pip install --user 'moto[server]'\n{log}",
        python()
    );
}

/// A running moto server.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

impl Moto {
    /// Installs moto if needed, starts it and waits until it answers.
    pub fn start() -> Moto {
        ensure_moto();
        let mut child = Command::new(python())
            .args(["-c", LAUNCHER])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python()));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        let Ok(port) = line.trim().parse::<u16>() else {
            let _ = child.kill();
            panic!("moto did not start (printed {line:?})");
        };
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto is not accepting connections on {endpoint}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Moto { child, endpoint }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
