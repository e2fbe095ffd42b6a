//! Throughput and latency of the key lifecycle over mutual TLS: Create, Get and Locate against the real
//! listener and engine, with 1 and with 8 concurrent clients (each its own connection and thread), and Locate
//! with 100,000 objects in the store.
//!
//! Run with `cargo bench --bench lifecycle`. Every measurement runs for a fixed time budget, so the whole run
//! stays well under 60 seconds. The 100,000 objects are registered over the same TLS connection in batches of
//! [`POPULATE_BATCH`] Register items per request message (one store transaction per item): only the
//! population step's own time is reported, not measured as throughput.

#[path = "../tests/support/kmip.rs"]
mod kmip;
#[path = "../tests/support/engine.rs"]
mod test_engine;
#[path = "../tests/support/tls.rs"]
mod tls;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use kmipd::spec::enums::{cryptographic_algorithm, key_format_type, object_type, operation};
use kmipd::spec::tag;
use kmipd::ttlv::{Ttlv, Value};

use kmip::*;

/// How long each measurement runs.
const BUDGET: Duration = Duration::from_secs(3);
/// The objects Locate searches among.
const LOCATE_POPULATION: usize = 100_000;
/// Register items per request message while populating.
const POPULATE_BATCH: usize = 500;
/// The upper bound of the population step; past it the Locate figures are taken with what is stored.
const POPULATE_BUDGET: Duration = Duration::from_secs(25);
const V14: (i32, i32) = (1, 4);

fn create_request() -> Ttlv {
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

fn register_item(n: usize) -> Ttlv {
    let mut material = [0u8; 32];
    material[..8].copy_from_slice(&(n as u64).to_be_bytes());
    item(
        operation::REGISTER,
        vec![
            enumeration(tag::OBJECT_TYPE, object_type::SYMMETRIC_KEY),
            template_attribute(vec![
                attribute("Cryptographic Usage Mask", None, Value::Integer(12)),
                attribute_structure("Name", name_value(&format!("bench-key-{n}"))),
            ]),
            structure(
                tag::SYMMETRIC_KEY,
                vec![structure(
                    tag::KEY_BLOCK,
                    vec![
                        enumeration(tag::KEY_FORMAT_TYPE, key_format_type::RAW),
                        structure(tag::KEY_VALUE, vec![bytes(tag::KEY_MATERIAL, &material)]),
                        enumeration(tag::CRYPTOGRAPHIC_ALGORITHM, cryptographic_algorithm::AES),
                        int(tag::CRYPTOGRAPHIC_LENGTH, 256),
                    ],
                )],
            ),
        ],
    )
}

fn locate_by_name(n: usize) -> Ttlv {
    request(
        V14,
        vec![item(
            operation::LOCATE,
            vec![attribute_structure(
                "Name",
                name_value(&format!("bench-key-{n}")),
            )],
        )],
    )
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
            "{what:<28} {clients} client(s): {:>8.0} ops/s  p50 {:>7.2} ms  p99 {:>7.2} ms  ({n} ops)",
            n as f64 / self.wall.as_secs_f64(),
            at(0.50).as_secs_f64() * 1e3,
            at(0.99).as_secs_f64() * 1e3,
        );
    }
}

/// Runs `op` on `clients` connections at once for [`BUDGET`]; `op` gets the client and a running counter and
/// must check its answer.
fn measure(
    server: &tls::TlsServer,
    clients: usize,
    op: impl Fn(&mut tls::KmipClient, usize) + Send + Sync + 'static,
) -> Run {
    let op = Arc::new(op);
    let start = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|worker| {
            let mut client = server.connect();
            let op = op.clone();
            thread::spawn(move || {
                let mut latencies = Vec::new();
                let mut i = worker;
                while start.elapsed() < BUDGET {
                    let t = Instant::now();
                    op(&mut client, i);
                    latencies.push(t.elapsed());
                    i += clients;
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

fn created_id(client: &mut tls::KmipClient) -> String {
    text_child(
        only_success(&client.send(&create_request())),
        tag::UNIQUE_IDENTIFIER,
    )
}

fn main() {
    let total = Instant::now();
    let fresh = test_engine::fresh();
    let server = tls::TlsServer::start(fresh.engine.clone());

    for clients in [1, 8] {
        measure(&server, clients, |c, _| {
            created_id(c);
        })
        .report("Create AES-256", clients);
    }

    let mut setup = server.connect();
    let ids: Arc<Vec<String>> = Arc::new((0..64).map(|_| created_id(&mut setup)).collect());
    for clients in [1, 8] {
        let ids = ids.clone();
        measure(&server, clients, move |c, i| {
            let id = &ids[i % ids.len()];
            let got = c.send(&request(V14, vec![item(operation::GET, vec![uid(id)])]));
            only_success(&got);
        })
        .report("Get", clients);
    }

    // Populate, then Locate by Name among everything stored.
    let populate = Instant::now();
    let mut stored = 0;
    while stored < LOCATE_POPULATION && populate.elapsed() < POPULATE_BUDGET {
        let batch = (stored..(stored + POPULATE_BATCH).min(LOCATE_POPULATION))
            .map(register_item)
            .collect::<Vec<_>>();
        let count = batch.len();
        let answer = setup.send(&request(V14, batch));
        for item in batch_items(&answer) {
            success(item);
        }
        stored += count;
    }
    println!(
        "populated {stored} Register'd keys in {:.1} s ({:.0} objects/s; {} per message)",
        populate.elapsed().as_secs_f64(),
        stored as f64 / populate.elapsed().as_secs_f64(),
        POPULATE_BATCH
    );
    for clients in [1, 8] {
        measure(&server, clients, move |c, i| {
            let n = (i * 7919) % stored;
            let found = c.send(&locate_by_name(n));
            assert_eq!(
                only_success(&found)
                    .children_with(tag::UNIQUE_IDENTIFIER)
                    .count(),
                1,
                "Locate by Name finds exactly one key"
            );
        })
        .report(&format!("Locate by Name of {stored}"), clients);
    }
    println!("total {:.1} s", total.elapsed().as_secs_f64());
}
