//! `kmipd serve --metrics-listen`: after a Create and a Get over mutual TLS, `/metrics` (Prometheus text
//! format) counts both by operation and result, shows the open connection, both zones and the audit lines;
//! `/healthz` answers; `/readyz` is 200 with every zone up and 503 with zone b down, its JSON naming each
//! zone (and `kmipd healthcheck` exits accordingly). The HTTP side refuses oversized requests and unknown paths.

#[path = "support/kmip.rs"]
mod kmip;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/tls.rs"]
mod tls;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use kmipd::spec::enums::operation;

use kmip::*;

/// One HTTP request to the metrics endpoint: the status code and the body.
fn http(address: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

fn get(address: SocketAddr, path: &str) -> (u16, String) {
    http(
        address,
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes(),
    )
}

/// The value of the sample named `series` (name and labels exactly as exposed).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// `kmipd healthcheck --address ADDR --path PATH`: whether it exited 0.
fn healthcheck(address: SocketAddr, path: &str) -> bool {
    std::process::Command::new(env!("CARGO_BIN_EXE_kmipd"))
        .args([
            "healthcheck",
            "--address",
            &address.to_string(),
            "--path",
            path,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

fn start(data: &std::path::Path) -> (serve::Serve, SocketAddr) {
    let metrics: SocketAddr = ([127, 0, 0, 1], tls::free_port()).into();
    let server = serve::Serve::start_with(data, |command| {
        command.args(["--metrics-listen", &metrics.to_string()]);
    });
    (server, metrics)
}

#[test]
fn metrics_count_operations_and_show_both_zones_and_health_answers() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let (server, metrics) = start(&data);
    let mut client = server.connect();
    let created = client.send(&create_aes256_request());
    let uid = text_child(only_success(&created), kmipd::spec::tag::UNIQUE_IDENTIFIER);
    let got = client.send(&request(
        (1, 4),
        vec![item(operation::GET, vec![kmip::uid(&uid)])],
    ));
    only_success(&got);
    // An unknown object: a failed Get.
    let missing = client.send(&request(
        (1, 4),
        vec![item(operation::GET, vec![kmip::uid("no-such-object")])],
    ));
    assert!(batch_items(&missing).iter().all(|i| failure_reason(i) != 0));

    // The scheduler takes a backup when the server starts: wait until it is counted (bounded).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let text = loop {
        let (code, text) = get(metrics, "/metrics");
        assert_eq!(code, 200, "{text}");
        if sample(&text, "kmipd_scheduled_backups_total{result=\"ok\"}") == Some(1.0) {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the start-up backup is not counted:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let value =
        |series: &str| sample(&text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"));
    assert_eq!(
        value("kmipd_requests_total{operation=\"Create\",result=\"success\"}"),
        1.0
    );
    assert_eq!(
        value("kmipd_requests_total{operation=\"Get\",result=\"success\"}"),
        1.0
    );
    assert_eq!(
        value("kmipd_requests_total{operation=\"Get\",result=\"failure\"}"),
        1.0
    );
    assert_eq!(
        value("kmipd_request_duration_seconds_count{operation=\"Get\"}"),
        2.0
    );
    assert_eq!(value("kmipd_open_connections"), 1.0);
    assert_eq!(value("kmipd_zone_up{zone=\"a\"}"), 1.0);
    assert_eq!(value("kmipd_zone_up{zone=\"b\"}"), 1.0);
    let seq_a = value("kmipd_zone_last_sequence{zone=\"a\"}");
    assert!(seq_a >= 1.0, "{text}");
    assert_eq!(value("kmipd_zone_last_sequence{zone=\"b\"}"), seq_a);
    assert_eq!(value("kmipd_acknowledged_sequence"), seq_a);
    // The Create's intent and result lines and the two Gets' lines at least.
    assert!(value("kmipd_audit_lines_total") >= 4.0, "{text}");
    assert_eq!(value("kmipd_last_scheduled_backup_ok"), 1.0);
    assert!(value("kmipd_last_backup_age_seconds") >= 0.0, "{text}");
    assert!(value("kmipd_backups") >= 1.0, "{text}");
    assert!(text.contains("# TYPE kmipd_request_duration_seconds histogram"));

    drop(client);
    let (code, body) = get(metrics, "/healthz");
    assert_eq!((code, body.as_str()), (200, "ok\n"));
    let (code, body) = get(metrics, "/readyz");
    assert_eq!(code, 200, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["ready"], true);
    let zones = report["zones"].as_array().unwrap();
    let names: Vec<&str> = zones.iter().filter_map(|z| z["name"].as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert!(zones.iter().all(|z| z["up"] == true));
    assert!(healthcheck(metrics, "/healthz") && healthcheck(metrics, "/readyz"));

    // Bounded: an unknown path, another method, a head beyond the limit.
    assert_eq!(get(metrics, "/nothing").0, 404);
    assert_eq!(http(metrics, b"POST /metrics HTTP/1.1\r\n\r\n").0, 405);
    let mut huge = b"GET /metrics HTTP/1.1\r\nX-Filler: ".to_vec();
    huge.extend(std::iter::repeat_n(
        b'a',
        kmipd::metrics::DEFAULT_MAX_REQUEST_BYTES,
    ));
    huge.extend_from_slice(b"\r\n\r\n");
    assert_eq!(http(metrics, &huge).0, 431);
    drop(server);
}

#[test]
fn readiness_is_503_while_a_zone_is_down() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let (mut server, _) = start(&data);
    server.kill();
    // Zone b's disk is gone at start: its directory replaced by a plain file.
    std::fs::rename(data.join("zone-b"), data.join("zone-b.away")).unwrap();
    std::fs::write(data.join("zone-b"), b"not a directory").unwrap();
    let (server, metrics) = start(&data);
    let (code, body) = get(metrics, "/readyz");
    assert_eq!(code, 503, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["ready"], false);
    let b = report["zones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["name"] == "b")
        .unwrap();
    assert_eq!(b["up"], false);
    assert!(
        b["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{body}"
    );
    let (code, text) = get(metrics, "/metrics");
    assert_eq!(code, 200);
    assert_eq!(
        sample(&text, "kmipd_zone_up{zone=\"b\"}"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "kmipd_zone_up{zone=\"a\"}"),
        Some(1.0),
        "{text}"
    );
    // The process still serves.
    assert_eq!(get(metrics, "/healthz").0, 200);
    assert!(healthcheck(metrics, "/healthz"));
    assert!(!healthcheck(metrics, "/readyz"));
    drop(server);
}
