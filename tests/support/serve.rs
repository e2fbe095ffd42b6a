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

/// A running `kmipd serve`; killed and reaped when dropped.
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
        Serve::start_activated(data_dir, |_| {})
    }

    /// `kmipd serve` with the embedded default on `data_dir` and further `serve` arguments.
    pub fn start_with_args(data_dir: &Path, args: &[&str]) -> Serve {
        Serve::start_activated(data_dir, |command| {
            command.args(args);
        })
    }

    /// `kmipd serve` with the embedded default on `data_dir`, its command line and environment extended by
    /// `configure` (more flags, environment variables). Returns once a client can connect.
    pub fn start_with(data_dir: &Path, configure: impl Fn(&mut Command)) -> Serve {
        Serve::start_activated(data_dir, configure)
    }

    /// Starts `command` (a `kmipd serve` on `port`), its standard output read and dropped: the embedded default
    /// prints where its certificates are; the reader ends when the child does.
    fn spawned(command: &mut Command, port: u16, data_dir: &Path) -> Serve {
        let mut child = command.spawn().unwrap();
        if let Some(stdout) = child.stdout.take() {
            std::thread::spawn(move || for _ in BufReader::new(stdout).lines() {});
        }
        Serve {
            child,
            port,
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// `kmipd serve` on a listening socket this test bound and passes over as descriptor 3 (socket activation,
    /// as a systemd `.socket` unit does): the port is never free for another test to take.
    fn start_activated(data_dir: &Path, configure: impl Fn(&mut Command)) -> Serve {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let fd = listener.as_raw_fd();
        // `exec` keeps the shell's process id, which LISTEN_PID must name.
        let mut command = Command::new("sh");
        command
            .args([
                "-c",
                "LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" \"$@\"",
                env!("CARGO_BIN_EXE_kmipd"),
                "serve",
                "--data-dir",
            ])
            .arg(data_dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env_remove("KMIPD_MASTER_KEY")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        configure(&mut command);
        // SAFETY: dup2 is async-signal-safe; it runs in the child between fork and exec. The copy on 3 has no
        // close-on-exec flag, so it reaches kmipd.
        unsafe {
            command.pre_exec(move || {
                // dup2 onto itself would keep close-on-exec: then the flag is cleared instead.
                let done = if fd == 3 {
                    libc::fcntl(3, libc::F_SETFD, 0)
                } else {
                    libc::dup2(fd, 3)
                };
                if done < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut serve = Serve::spawned(&mut command, port, data_dir);
        drop(listener);
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

    /// The process id of kmipd (the shell that passes it the socket execs it, keeping its id).
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
