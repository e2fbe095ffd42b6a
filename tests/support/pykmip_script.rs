//! Runs one PyKMIP client script (tests/pykmip/*.py, from the repository's `.venv`) against a real
//! `kmipd serve`: the harness the PyKMIP step tests share. When `.venv` lacks PyKMIP it runs
//! `tests/pykmip/setup-venv.sh` first; when that fails, the test fails (it never skips).

#![allow(dead_code)]

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long the server may take to create its data directory and start listening.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The virtualenv's Python with PyKMIP importable, installing it with setup-venv.sh when needed.
pub fn pykmip_python() -> PathBuf {
    let python = repo_root().join(".venv/bin/python");
    let has_pykmip = |python: &Path| {
        Command::new(python)
            .args(["-c", "import kmip.pie.client"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has_pykmip(&python) {
        let setup = repo_root().join("tests/pykmip/setup-venv.sh");
        let status = Command::new("bash").arg(&setup).status();
        assert!(
            status.as_ref().is_ok_and(|s| s.success()) && has_pykmip(&python),
            "PyKMIP is missing from {} and {} did not install it ({status:?})",
            python.display(),
            setup.display()
        );
    }
    python
}

/// `kmipd serve`, killed when dropped so that a failed assertion leaves no process behind.
pub struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Starts `kmipd serve` on `data_dir` and `addr`, its output in `log`, and waits until it listens.
    pub fn start(data_dir: &Path, addr: SocketAddr, log: PathBuf) -> Server {
        Server::start_with(data_dir, addr, log, &[])
    }

    /// Like [`Server::start`], with further `serve` arguments.
    pub fn start_with(data_dir: &Path, addr: SocketAddr, log: PathBuf, args: &[&str]) -> Server {
        let out = fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_kmipd"))
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(addr.to_string())
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap();
        let mut server = Server { child, log };
        server.wait_until_listening(addr);
        server
    }

    /// What the server printed so far, for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_until_listening(&mut self, addr: SocketAddr) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("kmipd serve exited with {status}:\n{}", self.log());
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "kmipd serve did not listen on {addr}:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback address whose port nobody listens on right now.
pub fn free_loopback_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Runs `tests/pykmip/<script>` against a fresh `kmipd serve` on a free loopback port with the admin
/// certificate the server made, and fails unless at least `min_steps` steps ran and every one succeeded
/// (`what` names them in the failure message).
pub fn run_script(script: &str, min_steps: usize, what: &str) {
    let python = pykmip_python();
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("kmipd-data");
    let addr = free_loopback_addr();
    let server = Server::start(&data_dir, addr, temp.path().join("kmipd.log"));

    let output = Command::new(&python)
        .arg(repo_root().join("tests/pykmip").join(script))
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .arg(data_dir.join("admin.pem"))
        .arg(data_dir.join("admin.key"))
        .arg(data_dir.join("ca.pem"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{script} printed no JSON ({e}); status {}, stdout {:?}, stderr {:?}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    if let Some(error) = json.get("error") {
        panic!(
            "PyKMIP could not connect: {error}\nserver log:\n{}",
            server.log()
        );
    }
    let steps = json["steps"].as_array().cloned().unwrap_or_default();
    for step in &steps {
        eprintln!("{step}");
    }
    let failed: Vec<String> = steps
        .iter()
        .filter(|s| s["ok"] != Value::Bool(true))
        .map(|s| format!("{}: {}", s["step"], s["error"]))
        .collect();
    assert!(steps.len() >= min_steps, "only {} steps ran", steps.len());
    assert!(
        failed.is_empty() && output.status.success(),
        "PyKMIP {what} steps failed:\n{}\n\nserver log:\n{}",
        failed.join("\n"),
        server.log()
    );
}
