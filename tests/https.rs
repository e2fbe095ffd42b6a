//! KMIP over HTTPS against `kmipd serve --https-listen`: curl, an HTTP client kmipd did not write, POSTs
//! requests in the three encodings of the HTTPS profile (TTLV, XML, JSON) with the embedded default's admin
//! certificate; the head of the profile's own test case (MSGENC-HTTPS-M-1-10: HTTP/1.0 with keep-alive, two
//! Query requests with a Maximum Response Size) runs over one raw TLS connection; what is not a KMIP request
//! gets its HTTP status; and the access policy holds on this door exactly as on the KMIP port.

#[path = "support/kmip.rs"]
mod kmip;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/tls.rs"]
mod tls;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use kmipd::pki::{CertificateAuthority, KeyType};
use kmipd::spec::DICTIONARY;
use kmipd::spec::enums::{operation, result_reason};
use kmipd::spec::tag;
use kmipd::ttlv::{self, Limits, Value};

use kmip::*;
use serve::Serve;
use tls::KmipClient;

const V14: (i32, i32) = (1, 4);

type Stream = rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>;

/// A running server with an HTTPS listener.
struct Https {
    serve: Serve,
    address: SocketAddr,
    _dir: tempfile::TempDir,
}

fn start() -> Https {
    let dir = tempfile::tempdir().unwrap();
    let port = tls::free_port();
    let address: SocketAddr = ([127, 0, 0, 1], port).into();
    let serve = Serve::start_with_args(
        &dir.path().join("data"),
        &["--https-listen", &address.to_string()],
    );
    Https {
        serve,
        address,
        _dir: dir,
    }
}

impl Https {
    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.serve.data_dir.join(name)).unwrap()
    }

    /// A raw TLS connection to the HTTPS listener presenting the certificate given.
    fn raw(&self, certificate_pem: &str, key_pem: &str) -> Stream {
        KmipClient::connect_pem(self.address, &self.file("ca.pem"), certificate_pem, key_pem)
            .unwrap()
            .into_stream()
    }

    fn raw_admin(&self) -> Stream {
        self.raw(&self.file("admin.pem"), &self.file("admin.key"))
    }
}

/// What curl got back: status code, Content-Type and body; None when curl could not talk to the server.
fn curl(
    https: &Https,
    identity: (&Path, &Path),
    content_type: &str,
    body: &[u8],
) -> Option<(u16, String, Vec<u8>)> {
    if Command::new("curl").arg("--version").output().is_err() {
        serve::cannot_run("tests/https.rs", "curl is not installed");
        return None;
    }
    let work = tempfile::tempdir().unwrap();
    let request = work.path().join("request");
    let response = work.path().join("response");
    std::fs::write(&request, body).unwrap();
    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "30"])
        .arg("--cacert")
        .arg(https.serve.data_dir.join("ca.pem"))
        .arg("--cert")
        .arg(identity.0)
        .arg("--key")
        .arg(identity.1)
        .args(["-H", &format!("Content-Type: {content_type}")])
        .arg("--data-binary")
        .arg(format!("@{}", request.display()))
        .args(["--output"])
        .arg(&response)
        .args(["--write-out", "%{http_code} %{content_type}"])
        .arg(format!("https://127.0.0.1:{}/kmip", https.address.port()))
        .output()
        .unwrap();
    if !output.status.success() {
        return None;
    }
    let said = String::from_utf8(output.stdout).unwrap();
    let (code, kind) = said.split_once(' ').unwrap();
    Some((
        code.parse().unwrap(),
        kind.to_string(),
        std::fs::read(&response).unwrap_or_default(),
    ))
}

fn admin(https: &Https) -> (std::path::PathBuf, std::path::PathBuf) {
    (
        https.serve.data_dir.join("admin.pem"),
        https.serve.data_dir.join("admin.key"),
    )
}

fn limits() -> Limits {
    Limits {
        max_message_bytes: 16 << 20,
        ..Limits::DEFAULT
    }
}

#[test]
fn curl_speaks_kmip_in_ttlv_xml_and_json() {
    let https = start();
    let (cert, key) = admin(&https);
    let identity = (cert.as_path(), key.as_path());

    // TTLV: Create.
    let Some((code, kind, body)) = curl(
        &https,
        identity,
        "application/octet-stream",
        &ttlv::encode(&create_aes256_request()),
    ) else {
        return;
    };
    assert_eq!((code, kind.as_str()), (200, "application/octet-stream"));
    let created = ttlv::decode(&body, &limits()).unwrap();
    let uid = text_child(only_success(&created), tag::UNIQUE_IDENTIFIER);

    // XML: Get of the key just made answers with its material.
    let get = request(V14, vec![item(operation::GET, vec![kmip::uid(&uid)])]);
    let (code, kind, body) = curl(
        &https,
        identity,
        "text/xml",
        ttlv::xml::to_xml(&get, &DICTIONARY).as_bytes(),
    )
    .unwrap();
    assert_eq!((code, kind.as_str()), (200, "text/xml"));
    let answer =
        ttlv::xml::from_xml(std::str::from_utf8(&body).unwrap(), &DICTIONARY, &limits()).unwrap();
    assert_eq!(raw_key_material(only_success(&answer)).len(), 32);

    // JSON: the same Get, answered in JSON with the same key bytes.
    let (code, kind, body) = curl(
        &https,
        identity,
        "application/json",
        ttlv::json::to_json(&get, &DICTIONARY).as_bytes(),
    )
    .unwrap();
    assert_eq!((code, kind.as_str()), (200, "application/json"));
    let again =
        ttlv::json::from_json(std::str::from_utf8(&body).unwrap(), &DICTIONARY, &limits()).unwrap();
    assert_eq!(
        raw_key_material(only_success(&again)),
        raw_key_material(only_success(&answer))
    );

    // The KMIP port serves the same store.
    let mut kmip = https.serve.connect();
    let over_kmip = kmip.send(&get);
    assert_eq!(
        raw_key_material(only_success(&over_kmip)),
        raw_key_material(only_success(&answer))
    );
}

/// One HTTP exchange on an open connection: the status line, the head's fields and the body.
fn exchange(
    stream: &mut impl ReadWrite,
    request: &[u8],
) -> (String, Vec<(String, String)>, Vec<u8>) {
    stream.write_all(request).unwrap();
    stream.flush().unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().to_string();
    let fields: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = fields
        .iter()
        .find(|(n, _)| n == "content-length")
        .map(|(_, v)| v.parse().unwrap())
        .unwrap();
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    (status, fields, body)
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// A Query of operations and objects in KMIP 1.0 with a Maximum Response Size, as MSGENC-HTTPS-M-1-10 sends.
fn query_at_most(bytes: i32) -> Vec<u8> {
    ttlv::encode(&request_with(
        (1, 0),
        vec![int(tag::MAXIMUM_RESPONSE_SIZE, bytes)],
        vec![item(
            operation::QUERY,
            vec![
                enumeration(tag::QUERY_FUNCTION, 1),
                enumeration(tag::QUERY_FUNCTION, 2),
            ],
        )],
    ))
}

/// The head MSGENC-HTTPS-M-1-10 sends (HTTP/1.0, keep-alive, padded Content-Length).
fn profile_head(length: usize) -> Vec<u8> {
    format!(
        "POST /kmip HTTP/1.0\r\nPragma: no-cache\r\nCache-Control: no-cache\r\nConnection: keep-alive\r\nContent-Type: application/octet-stream\r\nContent-Length: {length}       \r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn the_profile_test_case_runs_over_one_keep_alive_connection() {
    let https = start();
    let mut stream = https.raw_admin();
    // TIME 0: the answer would exceed 256 bytes.
    let body = query_at_most(256);
    let mut message = profile_head(body.len());
    message.extend_from_slice(&body);
    let (status, fields, answer) = exchange(&mut stream, &message);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(
        field(&fields, "content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(field(&fields, "connection"), Some("keep-alive"));
    let response = ttlv::decode(&answer, &limits()).unwrap();
    assert_eq!(response_version(&response), (1, 0));
    assert_eq!(
        failure_reason(batch_items(&response)[0]),
        result_reason::RESPONSE_TOO_LARGE
    );
    // TIME 1: on the same connection, with room for the answer.
    let body = query_at_most(16 * 1024);
    let mut message = profile_head(body.len());
    message.extend_from_slice(&body);
    let (status, _, answer) = exchange(&mut stream, &message);
    assert_eq!(status, "HTTP/1.1 200 OK");
    let response = ttlv::decode(&answer, &limits()).unwrap();
    let operations = only_success(&response)
        .children_with(tag::OPERATION)
        .count();
    assert!(operations > 10, "Query lists the operations: {operations}");
}

#[test]
fn what_is_not_a_kmip_request_gets_its_http_status() {
    let https = start();
    let query = ttlv::encode(&request(
        V14,
        vec![item(
            operation::QUERY,
            vec![enumeration(tag::QUERY_FUNCTION, 1)],
        )],
    ));
    let post = |path: &str, content_type: &str, body: &[u8]| {
        let mut message = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        message.extend_from_slice(body);
        message
    };
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            b"GET /kmip HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
            "HTTP/1.1 405 Method Not Allowed",
        ),
        (
            post("/other", "application/octet-stream", &query),
            "HTTP/1.1 404 Not Found",
        ),
        (
            post("/kmip", "text/plain", &query),
            "HTTP/1.1 415 Unsupported Media Type",
        ),
        (
            b"POST /kmip HTTP/1.1\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                .to_vec(),
            "HTTP/1.1 411 Length Required",
        ),
        (
            b"POST /kmip HTTP/1.1\r\nContent-Type: text/xml\r\nContent-Length: 999999999\r\n\r\n"
                .to_vec(),
            "HTTP/1.1 413 Content Too Large",
        ),
        (
            post("/kmip", "text/xml", b"<RequestMessage><Nonsense"),
            "HTTP/1.1 400 Bad Request",
        ),
    ];
    for (message, expected) in cases {
        let mut stream = https.raw_admin();
        let (status, fields, _) = exchange(&mut stream, &message);
        assert_eq!(status, expected);
        assert_eq!(field(&fields, "connection"), Some("close"));
        if expected.contains("405") {
            assert_eq!(field(&fields, "allow"), Some("POST"));
        }
    }
    // After all that, the listener still serves.
    let mut stream = https.raw_admin();
    let (status, _, answer) = exchange(
        &mut stream,
        &post("/kmip", "application/octet-stream", &query),
    );
    assert_eq!(status, "HTTP/1.1 200 OK");
    only_success(&ttlv::decode(&answer, &limits()).unwrap());
}

#[test]
fn the_access_policy_holds_over_https() {
    let https = start();
    let mut admin = https.serve.connect();
    let created = admin.send(&create_aes256_request());
    let uid = text_child(only_success(&created), tag::UNIQUE_IDENTIFIER);
    let ca = CertificateAuthority::load(
        &https.serve.data_dir.join("ca.pem"),
        &https.serve.data_dir.join("ca.key"),
    )
    .unwrap();
    let bob = ca.issue_client("bob", 30, KeyType::EcdsaP256).unwrap();
    let get = |id: &str| {
        let body = ttlv::encode(&request(
            V14,
            vec![item(operation::GET, vec![kmip::uid(id)])],
        ));
        let mut message = format!(
            "POST /kmip HTTP/1.1\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        message.extend_from_slice(&body);
        message
    };
    let mut stream = https.raw(&bob.certificate_pem, &bob.private_key_pem);
    let (_, _, theirs) = exchange(&mut stream, &get(&uid));
    let (_, _, missing) = exchange(&mut stream, &get("no-such-object"));
    let answer = |bytes: &[u8], id: &str| {
        let response = ttlv::decode(bytes, &limits()).unwrap();
        let item = batch_items(&response)[0].clone();
        let reason = failure_reason(&item);
        let message = match item.child(tag::RESULT_MESSAGE).map(|m| &m.value) {
            Some(Value::TextString(t)) => t.replace(id, "ID"),
            _ => String::new(),
        };
        (reason, message)
    };
    let (reason, message) = answer(&theirs, &uid);
    assert_ne!(reason, 0, "bob may not Get the admin's key over HTTPS");
    assert_eq!(
        (reason, message),
        answer(&missing, "no-such-object"),
        "a key bob may not see is answered like one that does not exist"
    );

    // A certificate of another CA never reaches HTTP.
    let (other_ca, _) =
        CertificateAuthority::generate("another CA", 30, KeyType::EcdsaP256).unwrap();
    let stranger = other_ca
        .issue_client("admin", 30, KeyType::EcdsaP256)
        .unwrap();
    let refused = KmipClient::connect_pem(
        https.address,
        &https.file("ca.pem"),
        &stranger.certificate_pem,
        &stranger.private_key_pem,
    )
    .and_then(|c| {
        let mut stream = c.into_stream();
        stream.write_all(&get(&uid))?;
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte)
    });
    assert!(refused.is_err(), "a stranger's certificate is refused");
}
