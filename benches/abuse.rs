//! What the abuse cases of a hostile client cost a running `kmipd serve`, each against a fresh server process
//! whose peak resident memory (VmHWM in /proc) is printed before and after: a 1,500-item RNG Retrieve batch of
//! 64 KiB each, a Username/Password Credential for an unknown user against a plain Query, a stream flood from
//! one identity against another identity's Init, and a pre-handshake flood of idle TCP connections from one
//! address against a client from another address.
//!
//! Run with `cargo bench --bench abuse` (Linux: it reads /proc and binds 127.0.0.2). The whole run takes a
//! few tens of seconds, most of it starting the four servers.

mod support;

use std::io::BufRead;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kmipd::pki::{CertificateAuthority, IssuedPair, KeyType};
use kmipd::spec::enums::{credential_type, hashing_algorithm, operation, query_function};
use kmipd::spec::tag;
use kmipd::ttlv::{Ttlv, Value};

use support::kmip::*;
use support::tls::{KmipClient, free_port};

/// Idle connections of the pre-handshake flood (the issue's figure).
const FLOOD_CONNECTIONS: usize = 1_030;
/// Requests per side of the credential comparison (within one second of the default rate's burst).
const CREDENTIAL_ROUNDS: usize = 50;

/// A `kmipd serve` on a free loopback port with the embedded default configuration.
struct Served {
    child: Child,
    address: SocketAddr,
    dir: tempfile::TempDir,
    ca: CertificateAuthority,
    ca_pem: String,
}

impl Served {
    fn start() -> Served {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_kmipd"))
            .args(["serve", "--data-dir"])
            .arg(dir.path())
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env_remove("KMIPD_MASTER_KEY")
            .env("RUST_LOG", "warn,kmipd::server::listener=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        while stderr.read_line(&mut line).unwrap_or(0) > 0 {
            if line.contains("listening for KMIP over TLS") {
                break;
            }
            line.clear();
        }
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while stderr.read_line(&mut sink).unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        let ca = CertificateAuthority::load(&dir.path().join("ca.pem"), &dir.path().join("ca.key"))
            .unwrap();
        let ca_pem = std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();
        Served {
            child,
            address: format!("127.0.0.1:{port}").parse().unwrap(),
            dir,
            ca,
            ca_pem,
        }
    }

    fn identity(&self, name: &str) -> IssuedPair {
        self.ca.issue_client(name, 1, KeyType::EcdsaP256).unwrap()
    }

    fn connect(&self, pair: &IssuedPair) -> KmipClient {
        KmipClient::connect_pem(
            self.address,
            &self.ca_pem,
            &pair.certificate_pem,
            &pair.private_key_pem,
        )
        .unwrap()
    }

    /// Peak resident set size of the server process so far, in MiB.
    fn peak_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(f64::NAN);
        kib / 1024.0
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = &self.dir;
    }
}

fn query() -> Ttlv {
    request(
        (1, 4),
        vec![item(
            operation::QUERY,
            vec![enumeration(
                tag::QUERY_FUNCTION,
                query_function::QUERY_OPERATIONS,
            )],
        )],
    )
}

fn with_unknown_credential(inner: &Ttlv) -> Ttlv {
    let credential = structure(
        tag::AUTHENTICATION,
        vec![structure(
            tag::CREDENTIAL,
            vec![
                enumeration(tag::CREDENTIAL_TYPE, credential_type::USERNAME_AND_PASSWORD),
                structure(
                    tag::CREDENTIAL_VALUE,
                    vec![text(tag::USERNAME, "nobody"), text(tag::PASSWORD, "guess")],
                ),
            ],
        )],
    );
    let items: Vec<Ttlv> = inner.children_with(tag::BATCH_ITEM).cloned().collect();
    request_with((1, 4), vec![credential], items)
}

fn outcome(response: &Ttlv) -> String {
    let items = batch_items(response);
    let failed = items
        .iter()
        .filter(|i| i.child(tag::RESULT_REASON).is_some())
        .count();
    let reason = items
        .first()
        .and_then(|i| i.child(tag::RESULT_REASON))
        .map(|r| format!("{:?}", r.value))
        .unwrap_or_else(|| "success".into());
    format!("{} items, {failed} failed, first: {reason}", items.len())
}

fn report(case: &str, served: &Served, before: f64, detail: &str) {
    println!(
        "{case:<44} peak RSS {before:>6.1} -> {:>6.1} MiB  {detail}",
        served.peak_mib()
    );
}

fn rng_batch() {
    let served = Served::start();
    let mut client = served.connect(&served.identity("rng"));
    only_success(&client.send(&query()));
    let before = served.peak_mib();
    let batch = request(
        (1, 4),
        vec![item(operation::RNG_RETRIEVE, vec![int(tag::DATA_LENGTH, 65_536)]); 1_500],
    );
    let start = Instant::now();
    let response = client.send(&batch);
    let took = start.elapsed();
    report(
        "RNG Retrieve 1,500 x 64 KiB in one batch",
        &served,
        before,
        &format!("{:.1} ms, {}", took.as_secs_f64() * 1e3, outcome(&response)),
    );
}

fn unknown_credential() {
    let served = Served::start();
    let mut client = served.connect(&served.identity("prober"));
    only_success(&client.send(&query()));
    let before = served.peak_mib();
    let time = |client: &mut KmipClient, request: &Ttlv| {
        let start = Instant::now();
        for _ in 0..CREDENTIAL_ROUNDS {
            client.send(request);
        }
        start.elapsed().as_secs_f64() * 1e3 / CREDENTIAL_ROUNDS as f64
    };
    let probing = with_unknown_credential(&query());
    let refused = outcome(&client.send(&probing));
    // Query, the probe, Query again: the first pass also warms the connection up.
    let plain = time(&mut client, &query());
    let unknown = time(&mut client, &probing);
    let plain_again = time(&mut client, &query());
    report(
        "Query vs unknown-user Credential + Query",
        &served,
        before,
        &format!(
            "{plain:.2} / {plain_again:.2} ms vs {unknown:.2} ms per request ({refused}; Argon2 would be tens of ms)"
        ),
    );
}

fn hash_init() -> Ttlv {
    request(
        (2, 0),
        vec![item(
            operation::HASH,
            vec![
                structure(
                    tag::CRYPTOGRAPHIC_PARAMETERS,
                    vec![enumeration(
                        tag::HASHING_ALGORITHM,
                        hashing_algorithm::SHA_256,
                    )],
                ),
                bytes(tag::DATA, b"abc"),
                Ttlv::new(tag::INIT_INDICATOR, Value::Boolean(true)),
            ],
        )],
    )
}

fn stream_flood() {
    let served = Served::start();
    let mut flood = served.connect(&served.identity("flood"));
    only_success(&flood.send(&query()));
    let before = served.peak_mib();
    let mut opened = 0;
    let mut refusal = String::new();
    for _ in 0..64 {
        let response = flood.send(&hash_init());
        if batch_items(&response)[0]
            .child(tag::RESULT_REASON)
            .is_some()
        {
            refusal = outcome(&response);
            break;
        }
        opened += 1;
    }
    let mut other = served.connect(&served.identity("other"));
    let start = Instant::now();
    let answer = other.send(&hash_init());
    report(
        "Hash stream flood vs another identity's Init",
        &served,
        before,
        &format!(
            "flood opened {opened} then {refusal}; other's Init in {:.2} ms: {}",
            start.elapsed().as_secs_f64() * 1e3,
            outcome(&answer)
        ),
    );
}

fn handshake_flood() {
    let served = Served::start();
    let pair = served.identity("elsewhere");
    let before = served.peak_mib();
    let idle: Vec<TcpStream> = (0..FLOOD_CONNECTIONS)
        .filter_map(|_| TcpStream::connect(served.address).ok())
        .collect();
    // Count the ones the server closed at once (end of stream within a short wait).
    let mut closed = 0;
    for tcp in &idle {
        tcp.set_read_timeout(Some(Duration::from_millis(2)))
            .unwrap();
        let mut byte = [0u8; 1];
        if matches!(std::io::Read::read(&mut &*tcp, &mut byte), Ok(0)) {
            closed += 1;
        }
    }
    let tcp = support::tls::connect_from([127, 0, 0, 2].into(), served.address);
    let start = Instant::now();
    let answered = KmipClient::over_tcp(tcp, &served.ca_pem, &pair)
        .and_then(|mut c| c.try_send(&query()))
        .map(|r| outcome(&r))
        .unwrap_or_else(|e| format!("refused: {e}"));
    report(
        "1,030 idle TCP connections from 127.0.0.1",
        &served,
        before,
        &format!(
            "{} opened, {closed} closed by the server at once; a client from 127.0.0.2 in {:.1} ms: {answered}",
            idle.len(),
            start.elapsed().as_secs_f64() * 1e3
        ),
    );
}

fn main() {
    let total = Instant::now();
    rng_batch();
    unknown_credential();
    stream_flood();
    handshake_flood();
    println!("total {:.1} s", total.elapsed().as_secs_f64());
}
