//! `kmipd bench` against `kmipd serve` (embedded default) and against `kmipd bench echo-server`, each its own
//! process: a short run of several operations completes requests without errors, the echo run too, and a
//! request the server refuses is counted as an error (and fails the command), never as an operation.

#[path = "support/echo.rs"]
mod echo;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/tls.rs"]
mod tls;

use std::path::Path;
use std::process::{Command, Output};

use echo::Echo;

/// Seconds of load per run: long enough for a few hundred requests, short enough for the suite.
const SECONDS: &str = "1";

fn bench(server: &str, data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kmipd"))
        .args(["bench", "--server", server, "--data-dir"])
        .arg(data_dir)
        .args(["--seconds", SECONDS, "--json"])
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// The JSON report of a run.
fn report_of(output: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_else(|| {
        panic!(
            "no report; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    serde_json::from_str(line).unwrap_or_else(|e| panic!("report {line:?}: {e}"))
}

/// A run that must have completed requests and had no error.
fn clean_run(server: &str, data_dir: &Path, args: &[&str]) -> serde_json::Value {
    let output = bench(server, data_dir, args);
    assert!(
        output.status.success(),
        "kmipd bench {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report = report_of(&output);
    assert!(report["ops"].as_u64().unwrap() > 0, "{args:?}: {report}");
    assert_eq!(report["errors"].as_u64(), Some(0), "{args:?}: {report}");
    assert!(report["ops_per_second"].as_f64().unwrap() > 0.0);
    assert!(report["p99_ms"].as_f64().unwrap() >= report["p50_ms"].as_f64().unwrap());
    report
}

#[test]
fn bench_drives_kmipd_and_the_echo_server_and_counts_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = serve::Serve::start(&data);
    let address = format!("127.0.0.1:{}", server.port);

    for (op, extra) in [
        ("get", &["--connections", "2"][..]),
        ("encrypt", &["--depth", "4"][..]),
        ("decrypt", &[][..]),
        ("sign", &[][..]),
        ("mac", &[][..]),
        ("create", &[][..]),
        ("register", &[][..]),
        ("locate", &["--fill", "60", "--connections", "2"][..]),
        ("locate-attrs", &["--fill", "60"][..]),
        ("destroy", &["--fill", "60"][..]),
    ] {
        let mut args = vec!["--op", op];
        args.extend_from_slice(extra);
        let report = clean_run(&address, &data, &args);
        if op == "destroy" {
            // Each object can be destroyed once: the run stops when they are gone, never more.
            assert!(report["ops"].as_u64().unwrap() <= 60, "{report}");
        }
    }
    clean_run(
        &address,
        &data,
        &[
            "--op",
            "sign",
            "--sign-key",
            "ed25519",
            "--kmip-version",
            "2.1",
        ],
    );

    // The transport ceiling: the same client against the echo server, pipelined too.
    let echo = Echo::start(&data);
    let report = clean_run(
        &echo.address,
        &data,
        &["--op", "echo", "--depth", "4", "--connections", "2"],
    );
    assert_eq!(report["depth"].as_u64(), Some(4));
    assert_eq!(report["connections"].as_u64(), Some(2));

    // A refused request is an error, not an operation: Get of an object that does not exist.
    let output = bench(&address, &data, &["--op", "get", "--uid", "no-such-object"]);
    assert!(!output.status.success(), "a run with errors must fail");
    let report = report_of(&output);
    assert_eq!(report["ops"].as_u64(), Some(0), "{report}");
    assert!(report["errors"].as_u64().unwrap() > 0, "{report}");
    let kinds = report["error_kinds"].as_object().unwrap();
    assert!(
        kinds.keys().any(|k| k.starts_with("Item Not Found")),
        "{report}"
    );

    // The echo server answers with the request itself: a KMIP response check would refuse it, so a Get run
    // against the echo counts every answer as an error.
    let output = bench(&echo.address, &data, &["--op", "get", "--uid", "x"]);
    assert!(!output.status.success());
    let report = report_of(&output);
    assert_eq!(report["ops"].as_u64(), Some(0), "{report}");
    assert!(report["errors"].as_u64().unwrap() > 0, "{report}");
}
