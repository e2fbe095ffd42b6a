//! The audit log of a real `kmipd serve` (embedded default, mutual TLS): refused connections (a failed TLS
//! handshake, an unreadable frame) are recorded; `kmipd audit verify` checks the MAC chain with the master key
//! and compares it with the checkpoint stored at clean shutdown, so a cut tail or an edited line fails; and a
//! change whose audit line cannot be written is refused with nothing committed, while a read-only answer is
//! withheld. Each test is bounded (waits end in at most 20 s).

#[path = "support/kmip.rs"]
mod kmip;
#[path = "support/tls.rs"]
mod tls;
#[path = "support/zoned.rs"]
mod zoned;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use kmipd::spec::enums::operation;

use zoned::*;

const WAIT: Duration = Duration::from_secs(20);

/// `kmipd serve` with the embedded default on `data_dir`, and a client once it listens.
fn start_serve(data_dir: &Path) -> (Child, u16, tls::KmipClient) {
    let port = tls::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kmipd"))
        .args(["serve", "--data-dir"])
        .arg(data_dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env_remove("KMIPD_MASTER_KEY")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || for _ in BufReader::new(stdout).lines() {});
    let mut client = None;
    wait_until(WAIT, "kmipd serve accepts a connection", || {
        client = dev_client(data_dir, port);
        client.is_some()
    });
    (child, port, client.unwrap())
}

/// A client with the admin certificate the embedded default wrote; `None` until the server listens.
fn dev_client(data_dir: &Path, port: u16) -> Option<tls::KmipClient> {
    let ca = std::fs::read_to_string(data_dir.join("ca.pem")).ok()?;
    let cert = std::fs::read_to_string(data_dir.join("admin.pem")).ok()?;
    let key = std::fs::read_to_string(data_dir.join("admin.key")).ok()?;
    std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    Some(tls::KmipClient::connect_with_pem(
        ([127, 0, 0, 1], port).into(),
        &ca,
        &cert,
        &key,
    ))
}

/// SIGTERM, then waits (bounded) for the clean exit that stores the final checkpoint.
fn stop_cleanly(mut child: Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "kmipd serve exited with {status}");
            return;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("kmipd serve did not stop within {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn audit_lines(data_dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(data_dir.join("audit").join("audit.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn verify(data_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kmipd"))
        .args(["audit", "verify", "--data-dir"])
        .arg(data_dir)
        .env_remove("KMIPD_MASTER_KEY")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn refused_connections_are_audited_and_audit_verify_checks_the_real_log_against_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    // Inside the temporary directory: the default backup destinations are the data directory's siblings.
    let data_path = dir.path().join("data");
    let data = data_path.as_path();
    let (child, port, mut client) = start_serve(data);
    let uid = uid_of(&outcome(&client.send(&create_request("audited"))).unwrap());
    outcome(&client.send(&on_uid(operation::GET, &uid))).unwrap();

    // Not TLS at all: the handshake fails.
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    raw.write_all(b"GET / HTTP/1.1\r\nHost: kmip\r\n\r\n")
        .unwrap();
    drop(raw);
    // A frame that declares far more than the frame limit: refused unread.
    let mut header = vec![0x42, 0x00, 0x78, 0x01];
    header.extend_from_slice(&u32::MAX.to_be_bytes());
    client.send_bytes(&header);
    drop(client);

    wait_until(WAIT, "both refusals are in the audit log", || {
        let lines = audit_lines(data);
        let refused = |reason: &str| {
            lines
                .iter()
                .any(|l| l["operation"] == "(refused connection)" && l["reason"] == reason)
        };
        refused("TLS handshake failed") && refused("request frame refused")
    });
    let lines = audit_lines(data);
    let handshake = lines
        .iter()
        .find(|l| l["reason"] == "TLS handshake failed")
        .unwrap();
    assert!(
        handshake["source"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert_eq!(handshake["status"], "failure");
    let frame = lines
        .iter()
        .find(|l| l["reason"] == "request frame refused")
        .unwrap();
    // The frame came over an authenticated session: the line names the certificate's identity.
    assert_eq!(frame["identity"], "admin");
    // The Create wrote its intent line before it ran, then its outcome.
    assert!(
        lines
            .iter()
            .any(|l| l["operation"] == "Create" && l["status"] == "intent")
    );
    assert!(lines.iter().any(|l| l["operation"] == "Create"
        && l["status"] == "success"
        && l["objects"][0] == uid.as_str()));

    stop_cleanly(child);
    let last_seq = audit_lines(data).last().unwrap()["seq"].as_u64().unwrap();
    let out = verify(data);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains(&format!("checkpoint at sequence {last_seq} matches")),
        "{said}"
    );

    // Two lines cut off the end: the chain itself is intact, the checkpoint says it was longer.
    let current = data.join("audit").join("audit.log");
    let original = std::fs::read_to_string(&current).unwrap();
    let kept: Vec<&str> = original.lines().collect();
    let cut = kept[..kept.len() - 2].join("\n") + "\n";
    std::fs::write(&current, cut).unwrap();
    let out = verify(data);
    assert!(!out.status.success());
    let said = text(&out.stderr);
    assert!(said.contains("the log was cut"), "{said}");
    assert!(
        said.contains(&format!("records sequence {last_seq}")),
        "{said}"
    );

    // An identity edited in place: the line's MAC no longer verifies.
    std::fs::write(&current, original.replacen("\"admin\"", "\"mallory\"", 1)).unwrap();
    let out = verify(data);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("MAC does not verify"),
        "{}",
        text(&out.stderr)
    );

    // Without the master key, nothing can be verified.
    std::fs::write(&current, &original).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kmipd"))
        .args(["audit", "verify", "--data-dir"])
        .arg(elsewhere.path())
        .arg(data.join("audit"))
        .env_remove("KMIPD_MASTER_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no master key"),
        "{}",
        text(&out.stderr)
    );
    assert!(verify(data).status.success());
}

#[test]
fn a_change_whose_audit_line_cannot_be_written_is_refused_and_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Inside the temporary directory: the default backup destinations are the data directory's siblings.
    let data_path = dir.path().join("data");
    let data = data_path.as_path();
    let (child, _port, mut client) = start_serve(data);
    let existing = uid_of(&outcome(&client.send(&create_request("before"))).unwrap());

    // The audit file is replaced by a directory: no line can be appended.
    let current = data.join("audit").join("audit.log");
    let away = data.join("audit").join("audit.log.away");
    std::fs::rename(&current, &away).unwrap();
    std::fs::create_dir(&current).unwrap();

    let refused = outcome(&client.send(&create_request("unaudited"))).unwrap_err();
    assert!(
        refused.contains("the audit log cannot be written, so the change is refused"),
        "{refused}"
    );
    // A read-only answer is withheld too: no key material leaves unaudited.
    let withheld = outcome(&client.send(&on_uid(operation::GET, &existing))).unwrap_err();
    assert!(withheld.contains("the answer is withheld"), "{withheld}");

    // The file back: the refused Create left nothing behind, and the log goes on where it stopped.
    std::fs::remove_dir(&current).unwrap();
    std::fs::rename(&away, &current).unwrap();
    let found = located(&outcome(&client.send(&locate_by_name("unaudited"))).unwrap());
    assert!(found.is_empty(), "{found:?}");
    let found = located(&outcome(&client.send(&locate_by_name("before"))).unwrap());
    assert_eq!(found, vec![existing.clone()]);
    drop(client);
    stop_cleanly(child);
    let out = verify(data);
    assert!(out.status.success(), "{}", text(&out.stderr));
}
