//! The `kmipd` binary's log output as an operator's log collector sees it: written to a pipe, it must be plain
//! text with no ANSI colour escapes.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Longest wait for the server to start listening.
const START_WAIT: Duration = Duration::from_secs(60);

#[test]
fn serve_logs_to_a_pipe_without_colour_escapes() {
    // The data directory inside a temporary one: the default backup destinations are its siblings.
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kmipd"))
        .args(["serve", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("KMIPD_MASTER_KEY")
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let (lines, seen) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut line = Vec::new();
        while stderr.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
            let _ = lines.send(String::from_utf8_lossy(&line).into_owned());
            all.append(&mut line);
        }
        let _ = stderr.read_to_end(&mut all);
        all
    });
    let deadline = std::time::Instant::now() + START_WAIT;
    let mut listening = false;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match seen.recv_timeout(left) {
            Ok(line) if line.contains("listening for KMIP over TLS") => {
                listening = true;
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let all = reader.join().unwrap();
    let text = String::from_utf8_lossy(&all);
    assert!(
        listening,
        "kmipd serve did not log that it listens:\n{text}"
    );
    assert!(text.contains(" INFO "), "no INFO level in:\n{text}");
    assert!(
        !all.contains(&0x1b),
        "ESC (ANSI colour) bytes in piped log output:\n{text:?}"
    );
}
