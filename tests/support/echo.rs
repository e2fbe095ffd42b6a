//! `kmipd bench echo-server` as a child process on a free port, with the certificates of a data directory,
//! killed and reaped when dropped: the transport ceiling for the load benchmark and the `kmipd bench` test.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running echo server.
pub struct Echo {
    child: Child,
    /// The address it listens on (`host:port`).
    pub address: String,
}

impl Echo {
    /// Starts it with the certificates of `data_dir` and waits for the line that names its address.
    pub fn start(data_dir: &Path) -> Echo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kmipd"))
            .args([
                "bench",
                "echo-server",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(data_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .trim()
            .strip_prefix("echo server listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Echo { child, address }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
