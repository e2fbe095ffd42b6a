//! Throughput and latency of the cryptographic services over mutual TLS against the real listener and engine:
//! AES-256-GCM Encrypt of 64 bytes (server-generated IV) and HMAC-SHA-256 MAC of 64 bytes, each with 1 and 16
//! concurrent clients (each its own connection and thread). Prints operations per second and p50/p99 latency.
//!
//! Run with `cargo bench --bench crypto`. A case is one entry of [`cases`]: how to make its key and the
//! request it repeats; more (signatures) join the list the same way. Every measurement runs for a fixed time
//! budget, so the whole run stays under half a minute.

mod support;

use std::time::{Duration, Instant};

use kmipd::spec::enums::{block_cipher_mode, cryptographic_algorithm, operation};
use kmipd::spec::tag;
use kmipd::ttlv::Ttlv;

use support::kmip::*;
use support::{BenchServer, budget, measure_request, tls};

/// How long each measurement runs.
const BUDGET: Duration = Duration::from_secs(2);
/// The concurrent client counts measured.
const CLIENTS: [usize; 2] = [1, 16];
const V14: (i32, i32) = (1, 4);
/// The data each operation processes.
const DATA: [u8; 64] = [0x5a; 64];

/// One benchmarked operation: the key it needs (made and activated once) and the request it repeats.
struct Case {
    /// What is measured, as printed.
    name: &'static str,
    /// Cryptographic Algorithm, Cryptographic Length and Cryptographic Usage Mask of its key.
    key: (u32, i32, i32),
    /// The request, for the key's Unique Identifier.
    request: fn(&str) -> Ttlv,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "AES-256-GCM Encrypt 64 B",
            key: (cryptographic_algorithm::AES, 256, 4 | 8),
            request: |id| {
                request(
                    V14,
                    vec![item(
                        operation::ENCRYPT,
                        vec![
                            uid(id),
                            structure(
                                tag::CRYPTOGRAPHIC_PARAMETERS,
                                vec![
                                    enumeration(tag::BLOCK_CIPHER_MODE, block_cipher_mode::GCM),
                                    int(tag::TAG_LENGTH, 16),
                                ],
                            ),
                            bytes(tag::DATA, &DATA),
                        ],
                    )],
                )
            },
        },
        Case {
            name: "HMAC-SHA-256 MAC 64 B",
            key: (cryptographic_algorithm::HMAC_SHA256, 256, 0x80 | 0x100),
            request: |id| {
                request(
                    V14,
                    vec![item(operation::MAC, vec![uid(id), bytes(tag::DATA, &DATA)])],
                )
            },
        },
    ]
}

/// Creates and activates the key a case needs.
fn make_key(client: &mut tls::KmipClient, (algorithm, length, mask): (u32, i32, i32)) -> String {
    let created = client.send(&request(
        V14,
        vec![create_symmetric_key(algorithm, length, mask)],
    ));
    let id = text_child(only_success(&created), tag::UNIQUE_IDENTIFIER);
    only_success(&client.send(&request(
        V14,
        vec![item(operation::ACTIVATE, vec![uid(&id)])],
    )));
    id
}

fn main() {
    let total = Instant::now();
    let bench = BenchServer::start();
    let mut setup = bench.server.connect();
    for case in cases() {
        let id = make_key(&mut setup, case.key);
        let request = (case.request)(&id);
        for clients in CLIENTS {
            measure_request(&bench.server, clients, budget(BUDGET), &request)
                .report(case.name, clients);
        }
    }
    println!("total {:.1} s", total.elapsed().as_secs_f64());
}
