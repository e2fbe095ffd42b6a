//! Abuse resistance at the edge, over real mutual TLS: identities that cannot collide (credential users versus
//! certificate names, server certificates used as clients), certificate revocation lists read again when they
//! change, no TLS session resumption, and the bounds on what one request or one client may cost.

#[path = "support/kmip.rs"]
mod kmip;
#[path = "support/tls.rs"]
mod tls;

use std::io::Read;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use kmipd::access::AccessControl;
use kmipd::access::policy::{Policy, hash_password};
use kmipd::ops::{Engine, EngineConfig};
use kmipd::pki::KeyType;
use kmipd::spec::enums::{
    credential_type, cryptographic_algorithm, object_type, operation, query_function, result_reason,
};
use kmipd::spec::tag;
use kmipd::ttlv::{Ttlv, Value};
use rcgen::ExtendedKeyUsagePurpose;
use rustls::pki_types::pem::PemObject;

use kmip::*;

const V14: (i32, i32) = (1, 4);

thread_local! {
    /// The data directories of the engines a test made, removed when its thread ends.
    static TEMP_DIRS: std::cell::RefCell<Vec<tempfile::TempDir>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn engine(policy: &str) -> Arc<Engine> {
    engine_with(policy, |_| {})
}

fn engine_with(policy: &str, adjust: impl FnOnce(&mut EngineConfig)) -> Arc<Engine> {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_owned();
    // Removed when the test's thread ends (the engine outlives this function in the test's server).
    TEMP_DIRS.with(|dirs| dirs.borrow_mut().push(dir));
    let mut config = EngineConfig {
        data_dir,
        access: AccessControl {
            // "": the embedded default (every authenticated identity a user of its own objects).
            policy: Arc::new(if policy.is_empty() {
                Policy::embedded_default()
            } else {
                Policy::from_toml(policy).unwrap()
            }),
            audit: None,
        },
        ..EngineConfig::default()
    };
    adjust(&mut config);
    Arc::new(Engine::open(config).unwrap())
}

fn query() -> Ttlv {
    request(
        V14,
        vec![item(
            operation::QUERY,
            vec![enumeration(
                tag::QUERY_FUNCTION,
                query_function::QUERY_OPERATIONS,
            )],
        )],
    )
}

fn create_aes() -> Ttlv {
    request(
        V14,
        vec![item(
            operation::CREATE,
            vec![
                enumeration(tag::OBJECT_TYPE, object_type::SYMMETRIC_KEY),
                template_attribute(vec![
                    attribute(
                        "Cryptographic Algorithm",
                        None,
                        Value::Enumeration(cryptographic_algorithm::AES),
                    ),
                    attribute("Cryptographic Length", None, Value::Integer(256)),
                    attribute("Cryptographic Usage Mask", None, Value::Integer(12)),
                ]),
            ],
        )],
    )
}

fn with_credential(username: &str, password: &str, inner: Ttlv) -> Ttlv {
    let credential = structure(
        tag::AUTHENTICATION,
        vec![structure(
            tag::CREDENTIAL,
            vec![
                enumeration(tag::CREDENTIAL_TYPE, credential_type::USERNAME_AND_PASSWORD),
                structure(
                    tag::CREDENTIAL_VALUE,
                    vec![text(tag::USERNAME, username), text(tag::PASSWORD, password)],
                ),
            ],
        )],
    );
    let items: Vec<Ttlv> = inner.children_with(tag::BATCH_ITEM).cloned().collect();
    request_with(V14, vec![credential], items)
}

fn reason(response: &Ttlv) -> u32 {
    failure_reason(batch_items(response)[0])
}

/// Whether the server lets a client presenting `pair` through: the handshake completes and a Query is
/// answered (in TLS 1.3 the server's verdict on the client certificate arrives after the client's handshake).
fn admitted(server: &tls::TlsServer, pair: &kmipd::pki::IssuedPair) -> bool {
    match server.try_connect_pair(pair) {
        Err(_) => false,
        Ok(mut client) => client.try_send(&query()).is_ok(),
    }
}

#[test]
fn a_server_auth_only_certificate_is_refused_as_a_client_while_no_eku_and_client_auth_are_accepted()
{
    let server = tls::TlsServer::start(engine(""));
    let ca = server.ca();
    let issue = |purposes: &[ExtendedKeyUsagePurpose]| {
        ca.issue_client_for("db-1", 30, KeyType::EcdsaP256, purposes)
            .unwrap()
    };
    assert!(admitted(
        &server,
        &issue(&[ExtendedKeyUsagePurpose::ClientAuth])
    ));
    assert!(admitted(&server, &issue(&[])));
    assert!(admitted(
        &server,
        &issue(&[
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth
        ])
    ));
    assert!(!admitted(
        &server,
        &issue(&[ExtendedKeyUsagePurpose::ServerAuth])
    ));
    // The server's own kind of certificate, from the same CA.
    let server_certificate = tls::localhost_server(ca);
    assert!(!admitted(&server, &server_certificate));
}

#[test]
fn a_certificate_named_like_a_credential_user_gets_none_of_its_rights() {
    let hash = hash_password("tape passphrase").unwrap();
    let server = tls::TlsServer::start(engine(&format!(
        "users_may_create = false\n\
         [[credentials]]\nusername = \"backup\"\npassword_argon2 = \"{hash}\"\n\
         [[rules]]\nsubjects = [\"credential:backup\"]\noperations = [\"create\", \"get\"]\n"
    )));
    // The credential user creates.
    let mut robot = server.connect_as("tape-robot");
    only_success(&robot.send(&with_credential("backup", "tape passphrase", create_aes())));
    // A certificate whose CN is the credential user's name is a stranger: Query only.
    let mut impostor = server.connect_as("backup");
    only_success(&impostor.send(&query()));
    assert_eq!(
        reason(&impostor.send(&create_aes())),
        result_reason::PERMISSION_DENIED
    );
    // A certificate named inside the credential namespace is refused outright.
    let mut squatter = server.connect_as("credential:backup");
    assert_eq!(
        reason(&squatter.send(&create_aes())),
        result_reason::AUTHENTICATION_NOT_SUCCESSFUL
    );
}

#[test]
fn a_revoked_client_certificate_is_refused_and_a_fresh_crl_applies_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let crl_path = dir.path().join("clients.crl");
    let alice_holder = std::sync::Mutex::new(None);
    let server = tls::TlsServer::start_with_ca(engine(""), |config, ca| {
        let alice = ca.issue_client("alice", 30, KeyType::EcdsaP256).unwrap();
        // The first list revokes nothing.
        std::fs::write(&crl_path, ca.revocation_list(&[], 1, 7).unwrap()).unwrap();
        config.tls.client_crl = Some(crl_path.clone());
        *alice_holder.lock().unwrap() = Some(alice);
    });
    let alice = alice_holder.lock().unwrap().take().unwrap();
    let bob = server
        .ca()
        .issue_client("bob", 30, KeyType::EcdsaP256)
        .unwrap();
    assert!(admitted(&server, &alice));
    assert!(admitted(&server, &bob));

    // A new list revoking alice replaces the file (written aside, then renamed, as operators should); DER
    // this time.
    let pem = server
        .ca()
        .revocation_list(&[&alice.certificate_pem], 2, 7)
        .unwrap();
    let der =
        rustls::pki_types::CertificateRevocationListDer::from_pem_slice(pem.as_bytes()).unwrap();
    let fresh = dir.path().join("clients.crl.new");
    std::fs::write(&fresh, der.as_ref()).unwrap();
    std::fs::rename(&fresh, &crl_path).unwrap();
    assert!(!admitted(&server, &alice));
    assert!(admitted(&server, &bob));

    // An unreadable list refuses everyone (revocation fails closed) until it is fixed.
    std::fs::write(&crl_path, b"not a CRL").unwrap();
    assert!(!admitted(&server, &bob));
    std::fs::write(&crl_path, pem).unwrap();
    assert!(admitted(&server, &bob));
    assert!(!admitted(&server, &alice));
}

#[test]
fn tls_sessions_are_never_resumed() {
    use std::io::Write;
    let server = tls::TlsServer::start(engine(""));
    let pair = server
        .ca()
        .issue_client("carol", 30, KeyType::EcdsaP256)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(server.ca_pem().as_bytes()).unwrap())
        .unwrap();
    for versions in [
        &[&rustls::version::TLS13][..],
        &[&rustls::version::TLS12][..],
    ] {
        // One client configuration, so its session cache carries any ticket or session ID over.
        let config = Arc::new(
            rustls::ClientConfig::builder_with_provider(kmipd::mtls::provider())
                .with_protocol_versions(versions)
                .unwrap()
                .with_root_certificates(roots.clone())
                .with_client_auth_cert(
                    vec![
                        rustls::pki_types::CertificateDer::from_pem_slice(
                            pair.certificate_pem.as_bytes(),
                        )
                        .unwrap(),
                    ],
                    rustls::pki_types::PrivateKeyDer::from_pem_slice(
                        pair.private_key_pem.as_bytes(),
                    )
                    .unwrap(),
                )
                .unwrap(),
        );
        for _ in 0..2 {
            let mut tcp = TcpStream::connect(server.address).unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut conn = rustls::ClientConnection::new(
                config.clone(),
                rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            )
            .unwrap();
            let mut stream = rustls::Stream::new(&mut conn, &mut tcp);
            // A whole request and response, so that any ticket the server sends is received.
            stream.write_all(&kmipd::ttlv::encode(&query())).unwrap();
            let mut header = [0u8; 8];
            stream.read_exact(&mut header).unwrap();
            let mut body = vec![
                0u8;
                u32::from_be_bytes([header[4], header[5], header[6], header[7]])
                    as usize
            ];
            stream.read_exact(&mut body).unwrap();
            assert_eq!(
                conn.handshake_kind(),
                Some(rustls::HandshakeKind::Full),
                "{versions:?}"
            );
        }
    }
}

fn rng_retrieve(length: i32) -> Ttlv {
    item(operation::RNG_RETRIEVE, vec![int(tag::DATA_LENGTH, length)])
}

#[test]
fn a_batch_of_rng_items_over_the_response_budget_is_refused_before_any_work() {
    let engine = engine_with("", |c| c.crypto.max_response_bytes = 1 << 20);
    let server = tls::TlsServer::start(engine);
    let mut client = server.connect();
    // 1,500 items of 64 KiB (94 MiB) and 17 of them (1.06 MiB): every item is refused, none generated.
    for count in [1500, 17] {
        let response = client.send(&request(V14, vec![rng_retrieve(65536); count]));
        let items = batch_items(&response);
        assert_eq!(items.len(), count);
        for item in items {
            assert_eq!(failure_reason(item), result_reason::RESPONSE_TOO_LARGE);
            assert!(item.child(tag::RESPONSE_PAYLOAD).is_none());
        }
    }
    // Within the budget the batch is served.
    let response = client.send(&request(V14, vec![rng_retrieve(65536); 15]));
    for item in batch_items(&response) {
        assert_eq!(
            success(item).child(tag::DATA).map(|d| match &d.value {
                Value::ByteString(b) => b.len(),
                _ => 0,
            }),
            Some(65536)
        );
    }
}

#[test]
fn an_unknown_credential_runs_no_password_hash_and_a_known_one_is_hashed_once_per_connection() {
    let hash = hash_password("tape passphrase").unwrap();
    let engine = engine(&format!(
        "[[credentials]]\nusername = \"backup\"\npassword_argon2 = \"{hash}\"\n"
    ));
    let policy = engine.config().access.policy.clone();
    let server = tls::TlsServer::start(engine);
    let mut client = server.connect_as("tape-robot");
    for _ in 0..5 {
        assert_eq!(
            reason(&client.send(&with_credential("nobody", "guess", query()))),
            result_reason::AUTHENTICATION_NOT_SUCCESSFUL
        );
    }
    assert_eq!(policy.password_hashes_run(), 0);
    for _ in 0..5 {
        only_success(&client.send(&with_credential("backup", "tape passphrase", query())));
    }
    assert_eq!(policy.password_hashes_run(), 1);
    // A new connection verifies again.
    let mut again = server.connect_as("tape-robot");
    only_success(&again.send(&with_credential("backup", "tape passphrase", query())));
    assert_eq!(policy.password_hashes_run(), 2);
}

#[test]
fn one_identity_cannot_take_every_stream_slot_over_tls() {
    use kmipd::spec::enums::hashing_algorithm;
    let engine = engine_with("", |c| {
        c.crypto.max_open_streams = 4;
        c.crypto.max_open_streams_per_identity = 2;
    });
    let server = tls::TlsServer::start(engine);
    let init = || {
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
    };
    let mut flood = server.connect_as("flood");
    only_success(&flood.send(&init()));
    only_success(&flood.send(&init()));
    assert_eq!(
        reason(&flood.send(&init())),
        result_reason::SERVER_LIMIT_EXCEEDED
    );
    let mut other = server.connect_as("other");
    only_success(&other.send(&init()));
}

/// Whether the server closed `tcp` (end of stream or reset) within the wait, without a byte sent.
fn closed_by_server(mut tcp: TcpStream) -> bool {
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut byte = [0u8; 1];
    match tcp.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn pending_handshakes_are_capped_per_source_address() {
    let server = tls::TlsServer::start_with(engine(""), |c| {
        c.limits.max_pending_per_address = 2;
        c.limits.handshake_timeout = Duration::from_secs(20);
    });
    // Two idle sockets from 127.0.0.1 that never start TLS hold that address's pending places.
    let idle: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(server.address).unwrap())
        .collect();
    // A third from the same address is closed at once.
    assert!(closed_by_server(
        TcpStream::connect(server.address).unwrap()
    ));
    // Another address is not held back: a client from 127.0.0.2 completes its handshake and is served.
    let from_other = tls::connect_from([127, 0, 0, 2].into(), server.address);
    let pair = server
        .ca()
        .issue_client("elsewhere", 30, KeyType::EcdsaP256)
        .unwrap();
    let mut client = tls::KmipClient::over_tcp(from_other, server.ca_pem(), &pair).unwrap();
    only_success(&client.send(&query()));
    // Once the idle sockets go, the address is served again.
    drop(idle);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if admitted(&server, &pair) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "127.0.0.1 still refused after its idle sockets closed"
        );
        std::thread::yield_now();
    }
}

/// A `kmipd serve` process on a free loopback port, its stderr collected; killed when dropped.
struct Served {
    child: std::process::Child,
    port: u16,
    lines: std::sync::mpsc::Receiver<String>,
    dir: tempfile::TempDir,
}

impl Served {
    /// The data directory, inside the temporary one so that the default backup destinations (its siblings)
    /// are removed with it.
    fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    fn start(master_key_hex: &str) -> Served {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let port = tls::free_port();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kmipd"))
            .args(["serve", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("KMIPD_MASTER_KEY", master_key_hex)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let served = Served {
            child,
            port,
            lines,
            dir,
        };
        served.wait_for("listening for KMIP over TLS");
        served
    }

    /// Waits (bounded) for a log line containing `text`; returns it and every line read before it.
    fn wait_for(&self, text: &str) -> Vec<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(text);
                    seen.push(line);
                    if found {
                        return seen;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no log line with {text:?}; saw:\n{}", seen.join("\n"));
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.data_dir().join(name)).unwrap()
    }

    fn connect(&self, pair: &kmipd::pki::IssuedPair) -> tls::KmipClient {
        tls::KmipClient::connect_pem(
            format!("127.0.0.1:{}", self.port).parse().unwrap(),
            &self.file("ca.pem"),
            &pair.certificate_pem,
            &pair.private_key_pem,
        )
        .unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_has_no_core_dumps_no_master_key_in_its_environment_and_escapes_client_text_in_its_log() {
    let key = "5a".repeat(32);
    let served = Served::start(&key);
    let pid = served.child.id();

    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    let values: Vec<&str> = core
        .trim_start_matches("Max core file size")
        .split_whitespace()
        .collect();
    assert_eq!(&values[..2], &["0", "0"], "{core}");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(
        !environ.windows(key.len()).any(|w| w == key.as_bytes()),
        "the master key is still in the process environment block"
    );
    // Everything that needs the master key (store, audit log) used the one taken from the environment: none
    // fell back to generating a key file in the data directory.
    assert!(!served.data_dir().join("master.key").exists());

    // The Log operation's text and a certificate name carrying a line break reach the log escaped.
    let ca = kmipd::pki::CertificateAuthority::load(
        &served.data_dir().join("ca.pem"),
        &served.data_dir().join("ca.key"),
    )
    .unwrap();
    let forger = ca
        .issue_client(
            "db\nFORGED-CN INFO kmipd: client connected identity=admin",
            1,
            KeyType::EcdsaP256,
        )
        .unwrap();
    let mut client = served.connect(&forger);
    let logged = client.send(&request(
        (2, 0),
        vec![item(
            operation::LOG,
            vec![text(
                tag::LOG_MESSAGE,
                "hello\nFORGED-LINE INFO kmipd: grant made\r\u{1b}[2K",
            )],
        )],
    ));
    only_success(&logged);
    let lines = served.wait_for("client log message");
    let all = lines.join("\n");
    assert!(
        lines.iter().all(|l| !l.starts_with("FORGED")),
        "a client forged a log line:\n{all}"
    );
    assert!(all.contains("hello\\nFORGED-LINE"), "{all}");
    assert!(all.contains("db\\nFORGED-CN"), "{all}");
    assert!(!all.contains('\u{1b}'), "{all:?}");
}
