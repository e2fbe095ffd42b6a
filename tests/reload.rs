//! Live reload through `kmipd serve` itself: after the server certificate is replaced and SIGHUP sent, new
//! connections get the new certificate while a connection opened before goes on answering; a reload with a
//! broken key is refused (logged), and the running certificate stays in force. The allow-list is taken anew
//! from the configuration file the same way, and an invalid one is refused.

#[path = "support/kmip.rs"]
mod kmip;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/tls.rs"]
mod tls;

use std::path::Path;
use std::time::{Duration, Instant};

use kmipd::pki::{CertificateAuthority, KeyType, write_pair};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// Longest wait for a reload to show.
const WAIT: Duration = Duration::from_secs(60);

/// The certificate a new connection is served.
fn served_certificate(server: &serve::Serve) -> Vec<u8> {
    let stream = server.connect().into_stream();
    stream
        .conn
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|c| c.to_vec())
        .expect("the server presented a certificate")
}

fn der_of(pem_file: &Path) -> Vec<u8> {
    CertificateDer::from_pem_file(pem_file).unwrap().to_vec()
}

fn hangup(server: &serve::Serve) {
    let pid = i32::try_from(server.pid()).unwrap();
    // SAFETY: sends SIGHUP to the child this test started and still holds.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
}

/// A Query on an open connection answers with success.
fn still_answers(client: &mut tls::KmipClient) {
    let response = client.send(&kmip::request(
        (1, 4),
        vec![kmip::item(
            kmipd::spec::enums::operation::QUERY,
            vec![kmip::enumeration(kmipd::spec::tag::QUERY_FUNCTION, 1)],
        )],
    ));
    kmip::only_success(&response);
}

#[test]
fn sighup_serves_a_new_certificate_to_new_connections_and_keeps_open_ones() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let log = temp.path().join("stderr.log");
    let stderr = std::fs::File::create(&log).unwrap();
    let server = serve::Serve::start_with(&data, |command| {
        command
            .env("RUST_LOG", "info")
            .stderr(stderr.try_clone().unwrap());
    });
    let mut open = server.connect();
    still_answers(&mut open);
    let first = served_certificate(&server);
    assert_eq!(first, der_of(&data.join("server.pem")));

    // A new server certificate from the same CA, put in place by rename.
    let ca = CertificateAuthority::load(&data.join("ca.pem"), &data.join("ca.key")).unwrap();
    let pair = ca
        .issue_server(
            &["localhost".to_string()],
            &["127.0.0.1".parse().unwrap()],
            30,
            KeyType::EcdsaP384,
        )
        .unwrap();
    let staging = temp.path().join("staging");
    std::fs::create_dir(&staging).unwrap();
    write_pair(&staging, "server", &pair).unwrap();
    std::fs::rename(staging.join("server.key"), data.join("server.key")).unwrap();
    std::fs::rename(staging.join("server.pem"), data.join("server.pem")).unwrap();
    let second = der_of(&data.join("server.pem"));
    assert_ne!(first, second);
    hangup(&server);

    let deadline = Instant::now() + WAIT;
    while served_certificate(&server) != second {
        assert!(
            Instant::now() < deadline,
            "the new certificate is not served"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The connection opened before the reload goes on.
    still_answers(&mut open);

    // A broken key: the reload is refused and the running certificate stays.
    std::fs::write(staging.join("broken.key"), "not a key\n").unwrap();
    std::fs::rename(staging.join("broken.key"), data.join("server.key")).unwrap();
    hangup(&server);
    let deadline = Instant::now() + WAIT;
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("reload refused")
    {
        assert!(
            Instant::now() < deadline,
            "no refused reload in the log:\n{}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(served_certificate(&server), second);
    still_answers(&mut open);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("reloaded the server certificate"), "{text}");
}

/// A Query from loopback address `source`: whether it was answered (an address outside the allow-list is
/// closed before the handshake).
fn answered_from(server: &serve::Serve, source: [u8; 4]) -> bool {
    let read = |name: &str| std::fs::read_to_string(server.data_dir.join(name)).unwrap();
    let admin = kmipd::pki::IssuedPair {
        certificate_pem: read("admin.pem"),
        private_key_pem: zeroize::Zeroizing::new(read("admin.key")),
    };
    let tcp = tls::connect_from(source.into(), ([127, 0, 0, 1], server.port).into());
    let Ok(mut client) = tls::KmipClient::over_tcp(tcp, &read("ca.pem"), &admin) else {
        return false;
    };
    client
        .try_send(&kmip::request(
            (1, 4),
            vec![kmip::item(
                kmipd::spec::enums::operation::QUERY,
                vec![kmip::enumeration(kmipd::spec::tag::QUERY_FUNCTION, 1)],
            )],
        ))
        .is_ok()
}

#[test]
fn sighup_reloads_the_allow_list_from_the_configuration_file() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    // The development certificates, made by a first start of the embedded default.
    drop(serve::Serve::start(&data));
    let config = temp.path().join("kmipd.toml");
    let write_config = |allow: &str| {
        let file = |name: &str| data.join(name).to_string_lossy().into_owned();
        let text = format!(
            "data_dir = {:?}\n[tls]\ncert_chain = {:?}\nprivate_key = {:?}\nclient_ca = {:?}\n\
             [access]\nallow = {allow}\n",
            data.to_string_lossy(),
            file("server.pem"),
            file("server.key"),
            file("client-ca.pem"),
        );
        // Replaced by rename, as an operator's tooling would.
        let staging = temp.path().join("kmipd.toml.new");
        std::fs::write(&staging, text).unwrap();
        std::fs::rename(&staging, &config).unwrap();
    };
    write_config("[\"127.0.0.1/32\"]");
    let log = temp.path().join("stderr.log");
    let stderr = std::fs::File::create(&log).unwrap();
    let server = serve::Serve::start_with(&data, |command| {
        command
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info")
            .stderr(stderr.try_clone().unwrap());
    });
    let mut open = server.connect();
    assert!(!answered_from(&server, [127, 0, 0, 2]));

    write_config("[\"127.0.0.1/32\", \"127.0.0.2/32\"]");
    hangup(&server);
    let deadline = Instant::now() + WAIT;
    while !answered_from(&server, [127, 0, 0, 2]) {
        assert!(Instant::now() < deadline, "127.0.0.2 is still refused");
        std::thread::sleep(Duration::from_millis(50));
    }
    still_answers(&mut open);

    // An entry that is not an address: refused, and 127.0.0.2 stays allowed.
    write_config("[\"127.0.0.1/32\", \"not-an-address\"]");
    hangup(&server);
    let deadline = Instant::now() + WAIT;
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("reload refused")
    {
        assert!(Instant::now() < deadline, "no refused reload in the log");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("not-an-address")
    );
    assert!(answered_from(&server, [127, 0, 0, 2]));
    still_answers(&mut open);
}
