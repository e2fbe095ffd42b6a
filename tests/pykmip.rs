//! Interoperability with the real PyKMIP client: starts `kmipd serve` on a fresh data directory
//! and a free loopback port, then has PyKMIP (tests/pykmip/discover_query.py, run from the
//! repository's `.venv`) connect over mutual TLS with the admin certificate the server made for
//! itself, and run Discover Versions and Query in every KMIP version PyKMIP speaks. It exists
//! because a server tested only by code written alongside it can agree with itself and still be
//! wrong: PyKMIP is the open conformance client.
//!
//! When `.venv` lacks PyKMIP the test runs `tests/pykmip/setup-venv.sh` first; when that fails,
//! the test fails (it never skips) and says so.

#[path = "support/pykmip_script.rs"]
mod pykmip_script;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use pykmip_script::{Server, free_loopback_addr, pykmip_python, repo_root};
use serde_json::Value;

/// The KMIP versions PyKMIP 0.11 can speak (its `enums.KMIPVersion`).
const PYKMIP_VERSIONS: [&str; 6] = ["1.0", "1.1", "1.2", "1.3", "1.4", "2.0"];

/// How discover_query.py learns where to connect and with which certificate.
enum Connect<'a> {
    /// Address and the data directory's admin certificate, key and CA, as arguments.
    Directly(SocketAddr, &'a Path),
    /// The `[client]` section of the pykmip.conf the server wrote.
    ByConfig(&'a Path),
}

/// Runs discover_query.py for one version and returns its exit status and parsed JSON.
fn discover_query(python: &Path, connect: Connect, version: &str) -> (Output, Value) {
    let mut command = Command::new(python);
    command.arg(repo_root().join("tests/pykmip/discover_query.py"));
    match connect {
        Connect::Directly(addr, data_dir) => command
            .arg(addr.ip().to_string())
            .arg(addr.port().to_string())
            .arg(data_dir.join("admin.pem"))
            .arg(data_dir.join("admin.key"))
            .arg(data_dir.join("ca.pem")),
        Connect::ByConfig(conf) => command.arg("--config").arg(conf),
    };
    let output = command.arg(version).stdin(Stdio::null()).output().unwrap();
    let json = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "KMIP {version}: discover_query.py printed no JSON ({e}); status {}, \
             stdout {:?}, stderr {:?}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        )
    });
    (output, json)
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Everything wrong with one version's answers; empty when all is well.
fn problems(version: &str, output: &Output, json: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(error) = json.get("error") {
        problems.push(format!("the exchange failed: {error}"));
        return problems;
    }

    let discovered = &json["discover_versions"];
    let versions = strings(&discovered["versions"]);
    // Discover Versions arrived in KMIP 1.1; asked in a 1.0 message, Operation Not Supported is
    // the other answer the specification allows.
    let refused_as_1_0 = version == "1.0"
        && discovered["status"] == "OPERATION_FAILED"
        && discovered["reason"] == "OPERATION_NOT_SUPPORTED";
    if !refused_as_1_0 {
        if discovered["status"] != "SUCCESS" {
            problems.push(format!("Discover Versions failed: {discovered}"));
        } else if !versions.contains(&version) {
            problems.push(format!(
                "Discover Versions returned {versions:?}, without {version}"
            ));
        }
    }

    let queried = &json["query"];
    if queried["status"] != "SUCCESS" {
        problems.push(format!("Query failed: {queried}"));
    } else {
        let operations = strings(&queried["operations"]);
        let mut wanted = vec!["QUERY"];
        if version != "1.0" {
            wanted.push("DISCOVER_VERSIONS");
        }
        for op in wanted {
            if !operations.contains(&op) {
                problems.push(format!("Query operations {operations:?} lack {op}"));
            }
        }
        let vendor = queried["vendor_identification"]
            .as_str()
            .unwrap_or_default();
        if vendor.trim().is_empty() {
            problems.push(format!("Query gave no Vendor Identification: {queried}"));
        }
    }

    let expected_exit = if refused_as_1_0 { 1 } else { 0 };
    if problems.is_empty() && output.status.code() != Some(expected_exit) {
        problems.push(format!(
            "discover_query.py exited with {}, expected {expected_exit}",
            output.status
        ));
    }
    problems
}

#[test]
fn pykmip_discovers_versions_and_queries_in_every_version_it_speaks() {
    let python = pykmip_python();
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("kmipd-data");
    let addr = free_loopback_addr();
    let server = Server::start(&data_dir, addr, data.path().join("kmipd.log"));

    for file in ["ca.pem", "admin.pem", "admin.key", "pykmip.conf"] {
        assert!(
            data_dir.join(file).is_file(),
            "kmipd serve did not create {} in its data directory; it printed:\n{}",
            file,
            server.log()
        );
    }

    let mut failures = Vec::new();
    for version in PYKMIP_VERSIONS {
        let (output, json) = discover_query(&python, Connect::Directly(addr, &data_dir), version);
        eprintln!("KMIP {version}: {json}");
        for problem in problems(version, &output, &json) {
            failures.push(format!("KMIP {version}: {problem}"));
        }
    }
    // The pykmip.conf the server wrote must be enough for PyKMIP to connect (at its default 1.2).
    let conf = data_dir.join("pykmip.conf");
    let (output, json) = discover_query(&python, Connect::ByConfig(&conf), "1.2");
    eprintln!("KMIP 1.2 through pykmip.conf: {json}");
    for problem in problems("1.2", &output, &json) {
        failures.push(format!("KMIP 1.2 through {}: {problem}", conf.display()));
    }
    assert!(
        failures.is_empty(),
        "PyKMIP against kmipd:\n{}\n\nserver log:\n{}",
        failures.join("\n"),
        server.log()
    );
}

/// The judgement above, on answers the PyKMIP 0.11 software server gave to this same script.
mod judging {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    fn output(code: i32) -> Output {
        Output {
            status: ExitStatus::from_raw(code << 8),
            stdout: Vec::new(),
            stderr: Vec::new(),
        }
    }

    fn answer(discover: &str) -> Value {
        let text = format!(
            r#"{{"kmip_version": "1.2", "discover_versions": {discover},
                "query": {{"status": "SUCCESS", "reason": null, "message": null,
                           "operations": ["CREATE", "QUERY", "DISCOVER_VERSIONS"],
                           "object_types": [],
                           "vendor_identification": "PyKMIP 0.11.0 Software Server",
                           "server_information": false}}}}"#
        );
        serde_json::from_str(&text).unwrap()
    }

    const LISTED: &str = r#"{"status": "SUCCESS", "versions": ["2.0", "1.4", "1.2", "1.0"]}"#;
    const REFUSED: &str = r#"{"status": "OPERATION_FAILED", "reason": "OPERATION_NOT_SUPPORTED",
                              "message": "DiscoverVersions is not supported by KMIP 1.0"}"#;

    #[test]
    fn a_listed_version_passes_and_an_unlisted_one_fails() {
        assert_eq!(
            problems("1.2", &output(0), &answer(LISTED)),
            Vec::<String>::new()
        );
        let found = problems("1.3", &output(0), &answer(LISTED));
        assert!(
            found.len() == 1 && found[0].contains("without 1.3"),
            "{found:?}"
        );
    }

    #[test]
    fn only_a_1_0_message_may_refuse_discover_versions() {
        assert_eq!(
            problems("1.0", &output(1), &answer(REFUSED)),
            Vec::<String>::new()
        );
        assert!(!problems("1.1", &output(1), &answer(REFUSED)).is_empty());
    }

    #[test]
    fn a_failed_exchange_or_missing_vendor_fails() {
        let error = serde_json::json!({"kmip_version": "1.2", "error": "SSLError: handshake"});
        assert!(!problems("1.2", &output(2), &error).is_empty());
        let mut no_vendor = answer(LISTED);
        no_vendor["query"]["vendor_identification"] = Value::Null;
        assert!(!problems("1.2", &output(0), &no_vendor).is_empty());
        let mut no_query_op = answer(LISTED);
        no_query_op["query"]["operations"] = serde_json::json!(["CREATE"]);
        assert!(!problems("1.2", &output(0), &no_query_op).is_empty());
    }
}
