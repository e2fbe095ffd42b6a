//! `kmipd serve` as a child process of a test, behind a guard that kills and reaps it when dropped, so a failing
//! assertion never leaves a server running; and what a test does when a tool it needs is missing (fail in CI,
//! say so on a developer's machine).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::tls;

/// How long `kmipd serve` may take to start listening (a loaded 2-core machine, a tracer attached).
pub const START_WAIT: Duration = Duration::from_secs(60);

/// True when running under continuous integration (`CI=true`), where every test must run.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A test cannot run here because `reason` (a missing tool, a refused capability): in CI that fails the test;
/// elsewhere it is said on stderr and the caller returns.
pub fn cannot_run(test: &str, reason: &str) {
    assert!(
        !in_ci(),
        "{test}: {reason}; CI must provide it (.ci/run installs what the tests need)"
    );
    eprintln!("SKIPPED {test}: {reason} (CI=true makes this a failure)");
}

/// A running `kmipd serve` (possibly under a wrapper such as a tracer); killed and reaped when dropped.
pub struct Serve {
    child: Child,
    /// The loopback port it listens on.
    pub port: u16,
    /// Its data directory (embedded default: certificates and zones inside).
    pub data_dir: PathBuf,
}

impl Serve {
    /// `kmipd serve` with the embedded default on `data_dir`.
    pub fn start(data_dir: &Path) -> Serve {
        Serve::start_wrapped(data_dir, None)
    }

    /// `kmipd serve` run by `wrapper` (its program and arguments, the kmipd command line appended), or
    /// directly when `None`. Returns once a client can connect.
    pub fn start_wrapped(data_dir: &Path, wrapper: Option<Command>) -> Serve {
        Serve::start_configured(data_dir, wrapper, |_| {})
    }

    /// `kmipd serve` with the embedded default on `data_dir`, its command line and environment extended by
    /// `configure` (more flags, environment variables). Returns once a client can connect.
    pub fn start_with(data_dir: &Path, configure: impl FnOnce(&mut Command)) -> Serve {
        Serve::start_configured(data_dir, None, configure)
    }

    fn start_configured(
        data_dir: &Path,
        wrapper: Option<Command>,
        configure: impl FnOnce(&mut Command),
    ) -> Serve {
        let port = tls::free_port();
        let kmipd = env!("CARGO_BIN_EXE_kmipd");
        let mut command = match wrapper {
            Some(mut w) => {
                w.arg(kmipd);
                w
            }
            None => Command::new(kmipd),
        };
        command
            .args(["serve", "--data-dir"])
            .arg(data_dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env_remove("KMIPD_MASTER_KEY")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        configure(&mut command);
        let mut child = command.spawn().unwrap();
        // The embedded default prints where its certificates are; the reader ends when the child does.
        if let Some(stdout) = child.stdout.take() {
            std::thread::spawn(move || for _ in BufReader::new(stdout).lines() {});
        }
        let mut serve = Serve {
            child,
            port,
            data_dir: data_dir.to_path_buf(),
        };
        let start = Instant::now();
        while serve.try_connect().is_none() {
            if let Some(status) = serve.child.try_wait().ok().flatten() {
                panic!("kmipd serve exited before accepting a connection: {status}");
            }
            assert!(
                start.elapsed() < START_WAIT,
                "kmipd serve did not accept a connection within {START_WAIT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        serve
    }

    /// A client with the admin certificate the embedded default wrote; `None` until it listens.
    pub fn try_connect(&self) -> Option<tls::KmipClient> {
        let read = |name: &str| std::fs::read_to_string(self.data_dir.join(name)).ok();
        let (ca, cert, key) = (read("ca.pem")?, read("admin.pem")?, read("admin.key")?);
        tls::KmipClient::connect_pem(([127, 0, 0, 1], self.port).into(), &ca, &cert, &key).ok()
    }

    /// A connected client (panics if the server does not accept one).
    pub fn connect(&self) -> tls::KmipClient {
        self.try_connect()
            .expect("kmipd serve accepts a connection")
    }

    /// The process id of the child (the wrapper's, when wrapped).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the child to exit by itself.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}
