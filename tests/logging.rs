//! The `kmipd` binary's log output as an operator's log collector sees it: written to a pipe, it must be plain
//! text with no ANSI colour escapes; with `--log-format json` every line is one JSON object and client text in
//! it is still escaped.

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

#[path = "support/kmip.rs"]
mod kmip;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/tls.rs"]
mod tls;

#[test]
fn serve_logs_json_lines_with_client_text_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let stderr = std::fs::File::create(&log).unwrap();
    let mut server = serve::Serve::start_with(&dir.path().join("data"), |command| {
        command
            .args(["--log-format", "json"])
            .env("RUST_LOG", "info")
            .stderr(stderr.try_clone().unwrap());
    });
    // A client's Log message that tries to end the line, forge another and drive a terminal (ESC and the
    // C1 CSI, which JSON escaping alone would leave raw).
    let forged =
        "hello\n{\"level\":\"ERROR\",\"fields\":{\"message\":\"forged\"}}\u{1b}[2K\u{9b}31m";
    let answer = server.connect().send(&kmip::request(
        (1, 4),
        vec![kmip::item(
            kmipd::spec::enums::operation::LOG,
            vec![kmip::text(kmipd::spec::tag::LOG_MESSAGE, forged)],
        )],
    ));
    kmip::only_success(&answer);
    server.kill();
    let bytes = std::fs::read(&log).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{9b}'),
        "raw control characters in the log:\n{text:?}"
    );
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
        })
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "listening for KMIP over TLS"),
        "{text}"
    );
    let logged = lines
        .iter()
        .find(|l| l["fields"].to_string().contains("hello"))
        .unwrap_or_else(|| panic!("the client's Log message is not in:\n{text}"));
    assert_eq!(logged["level"], "INFO");
    let fields = logged["fields"].as_object().unwrap();
    assert!(
        fields.values().any(|v| v
            == "hello\\n{\"level\":\"ERROR\",\"fields\":{\"message\":\"forged\"}}\\u{1b}[2K\\u{9b}31m"),
        "{logged}"
    );
    assert!(
        !lines.iter().any(|l| l["fields"]["message"] == "forged"),
        "{text}"
    );
}
