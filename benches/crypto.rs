//! Throughput and latency of the cryptographic services over mutual TLS against the real listener and engine:
//! AES-256-GCM Encrypt of 64 bytes (server-generated IV) and HMAC-SHA-256 MAC of 64 bytes, each with 1 and 16
//! concurrent clients (each its own connection and thread). Prints operations per second and p50/p99 latency.
//!
//! Run with `cargo bench --bench crypto`. A case is one entry of [`cases`]: how to make its key and the
//! request it repeats; more (signatures) join the list the same way. Every measurement runs for a fixed time
//! budget, so the whole run stays under half a minute.

#[path = "../tests/support/kmip.rs"]
mod kmip;
#[path = "../tests/support/engine.rs"]
mod test_engine;
#[path = "../tests/support/tls.rs"]
mod tls;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use kmipd::spec::enums::{block_cipher_mode, cryptographic_algorithm, object_type, operation};
use kmipd::spec::tag;
use kmipd::ttlv::{Ttlv, Value};

use kmip::*;

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
        vec![item(
            operation::CREATE,
            vec![
                enumeration(tag::OBJECT_TYPE, object_type::SYMMETRIC_KEY),
                template_attribute(vec![
                    attribute(
                        "Cryptographic Algorithm",
                        None,
                        Value::Enumeration(algorithm),
                    ),
                    attribute("Cryptographic Length", None, Value::Integer(length)),
                    attribute("Cryptographic Usage Mask", None, Value::Integer(mask)),
                ]),
            ],
        )],
    ));
    let id = text_child(only_success(&created), tag::UNIQUE_IDENTIFIER);
    only_success(&client.send(&request(
        V14,
        vec![item(operation::ACTIVATE, vec![uid(&id)])],
    )));
    id
}

/// Latencies of one measurement, and its wall time.
struct Run {
    latencies: Vec<Duration>,
    wall: Duration,
}

impl Run {
    fn report(&mut self, what: &str, clients: usize) {
        self.latencies.sort();
        let n = self.latencies.len();
        let at = |q: f64| self.latencies[((n as f64 * q) as usize).min(n - 1)];
        println!(
            "{what:<28} {clients:>2} client(s): {:>8.0} ops/s  p50 {:>7.2} ms  p99 {:>7.2} ms  ({n} ops)",
            n as f64 / self.wall.as_secs_f64(),
            at(0.50).as_secs_f64() * 1e3,
            at(0.99).as_secs_f64() * 1e3,
        );
    }
}

/// Sends `request` on `clients` connections at once for [`BUDGET`], checking every answer succeeded.
fn measure(server: &tls::TlsServer, clients: usize, request: Arc<Ttlv>) -> Run {
    let start = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let mut client = server.connect();
            let request = request.clone();
            thread::spawn(move || {
                let mut latencies = Vec::new();
                while start.elapsed() < BUDGET {
                    let t = Instant::now();
                    only_success(&client.send(&request));
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.join().expect("a client thread failed"));
    }
    Run {
        latencies,
        wall: start.elapsed(),
    }
}

fn main() {
    let total = Instant::now();
    let fresh = test_engine::fresh();
    let server = tls::TlsServer::start(fresh.engine.clone());
    let mut setup = server.connect();
    for case in cases() {
        let id = make_key(&mut setup, case.key);
        let request = Arc::new((case.request)(&id));
        for clients in CLIENTS {
            measure(&server, clients, request.clone()).report(case.name, clients);
        }
    }
    println!("total {:.1} s", total.elapsed().as_secs_f64());
}
