//! Throughput and latency of Sign over mutual TLS: ECDSA P-256 (SHA-256, DER signatures) and Ed25519 against the
//! real listener and engine, with 1 and with 16 concurrent clients (each its own connection and thread), signing
//! 64 bytes. Each answer is checked (success, a signature of the right shape) and one signature per scheme is
//! verified through Signature Verify before measuring.
//!
//! Run with `cargo bench --bench signing`. Each measurement runs for a fixed time budget, so the whole run takes
//! about ten seconds.

mod support;

use std::time::{Duration, Instant};

use kmipd::spec::enums::{cryptographic_algorithm, operation, validity_indicator};
use kmipd::spec::tag;
use kmipd::ttlv::{Ttlv, Value};

use support::kmip::*;
use support::{BenchServer, budget, measure, tls};

/// How long each measurement runs.
const BUDGET: Duration = Duration::from_secs(2);
/// The concurrency levels measured.
const CLIENTS: [usize; 2] = [1, 16];
/// The message signed.
const MESSAGE: [u8; 64] = [0x5A; 64];
const V21: (i32, i32) = (2, 1);

/// Creates an active key pair of `algorithm` (Sign / Verify masks); (private, public).
fn key_pair(client: &mut tls::KmipClient, algorithm: u32) -> (String, String) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let answer = client.send(&request(
        V21,
        vec![item(
            operation::CREATE_KEY_PAIR,
            vec![
                structure(
                    tag::COMMON_ATTRIBUTES,
                    vec![
                        enumeration(tag::CRYPTOGRAPHIC_ALGORITHM, algorithm),
                        Ttlv::new(tag::ACTIVATION_DATE, Value::DateTime(now - 60)),
                    ],
                ),
                structure(
                    tag::PRIVATE_KEY_ATTRIBUTES,
                    vec![int(tag::CRYPTOGRAPHIC_USAGE_MASK, 1)],
                ),
                structure(
                    tag::PUBLIC_KEY_ATTRIBUTES,
                    vec![int(tag::CRYPTOGRAPHIC_USAGE_MASK, 2)],
                ),
            ],
        )],
    ));
    let payload = only_success(&answer);
    (
        text_child(payload, tag::PRIVATE_KEY_UNIQUE_IDENTIFIER),
        text_child(payload, tag::PUBLIC_KEY_UNIQUE_IDENTIFIER),
    )
}

fn sign(client: &mut tls::KmipClient, private: &str) -> Vec<u8> {
    let answer = client.send(&request(
        V21,
        vec![item(
            operation::SIGN,
            vec![uid(private), bytes(tag::DATA, &MESSAGE)],
        )],
    ));
    match &only_success(&answer)
        .child(tag::SIGNATURE_DATA)
        .map(|s| &s.value)
    {
        Some(Value::ByteString(b)) => b.as_slice().to_vec(),
        other => panic!("Sign answered no Signature Data: {other:?}"),
    }
}

fn check_verifies(client: &mut tls::KmipClient, public: &str, signature: &[u8]) {
    let answer = client.send(&request(
        V21,
        vec![item(
            operation::SIGNATURE_VERIFY,
            vec![
                uid(public),
                bytes(tag::DATA, &MESSAGE),
                bytes(tag::SIGNATURE_DATA, signature),
            ],
        )],
    ));
    let indicator = only_success(&answer)
        .child(tag::VALIDITY_INDICATOR)
        .map(|v| &v.value);
    assert_eq!(
        indicator,
        Some(&Value::Enumeration(validity_indicator::VALID))
    );
}

fn main() {
    let total = Instant::now();
    let bench = BenchServer::start();
    let mut setup = bench.server.connect();
    for (what, algorithm, signature_len) in [
        (
            "Sign ECDSA P-256 SHA-256",
            cryptographic_algorithm::EC,
            8..=72,
        ),
        ("Sign Ed25519", cryptographic_algorithm::ED25519, 64..=64),
    ] {
        let (private, public) = key_pair(&mut setup, algorithm);
        let first = sign(&mut setup, &private);
        assert!(
            signature_len.contains(&first.len()),
            "{what}: {} bytes",
            first.len()
        );
        check_verifies(&mut setup, &public, &first);
        for clients in CLIENTS {
            measure(&bench.server, clients, budget(BUDGET), |c, _| {
                let s = sign(c, &private);
                assert!(signature_len.contains(&s.len()));
            })
            .report(what, clients);
        }
    }
    println!("total {:.1} s", total.elapsed().as_secs_f64());
}
