//! Throughput and latency of the key lifecycle over mutual TLS: Create, Get and Locate against the real
//! listener and engine, with 1 and with 8 concurrent clients (each its own connection and thread), and Locate
//! with 100,000 objects in the store.
//!
//! Run with `cargo bench --bench lifecycle`. Every measurement runs for a fixed time budget, so the whole run
//! stays well under 60 seconds.
//!
//! Registering 100,000 keys over the wire takes minutes (each Register is its own durable store transaction,
//! about 140 a second on a small machine), so the population is made through the store API: one key,
//! `bench-key-0`, is registered over TLS like any other, and its stored record is copied 99,999 times in
//! transactions of [`POPULATE_CHUNK`] records, each copy with a new uid and its Name (attribute value and
//! search key) changed to `bench-key-<n>`. The copies are exactly what Register stores, so Locate searches
//! them as it would real keys.

mod support;

use std::time::{Duration, Instant};

use kmipd::spec::enums::{cryptographic_algorithm, key_format_type, object_type, operation};
use kmipd::spec::tag;
use kmipd::store::{Mutation, SearchKey};
use kmipd::ttlv::{self, Limits, Ttlv, Value};

use support::kmip::*;
use support::{BenchServer, budget, measure, test_engine, tls};

/// How long each measurement runs.
const BUDGET: Duration = Duration::from_secs(2);
/// The longest the population may take by default, to keep the whole run under a minute on a loaded machine;
/// when it runs out first, Locate is measured over the keys stored by then, and the count is printed.
/// `KMIPD_BENCH_POPULATE_SECS` changes it (e.g. 300 for the full 100,000 on a slow machine).
const POPULATE_BUDGET: Duration = Duration::from_secs(32);

fn populate_budget() -> Duration {
    std::env::var("KMIPD_BENCH_POPULATE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(POPULATE_BUDGET, Duration::from_secs)
}
/// The objects Locate searches among.
const LOCATE_POPULATION: usize = 100_000;
/// Records per store transaction while populating.
const POPULATE_CHUNK: usize = 5_000;
const V14: (i32, i32) = (1, 4);
/// The identity of the test server's client certificate (`tls::TlsServer::connect`).
const BENCH_CLIENT: &str = "conformance";

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

fn created_id(client: &mut tls::KmipClient) -> String {
    text_child(
        only_success(&client.send(&create_aes256_request())),
        tag::UNIQUE_IDENTIFIER,
    )
}

/// Replaces, anywhere in a value tree, the text `from` by `to`.
fn rename(item: &mut Ttlv, from: &str, to: &str) {
    match &mut item.value {
        Value::Structure(children) => children.iter_mut().for_each(|c| rename(c, from, to)),
        Value::TextString(s) if s == from => *s = to.to_owned(),
        _ => {}
    }
}

/// Stores copies 1..count of the record of `template` (named `bench-key-0`), each with its own uid and Name,
/// until [`populate_budget`] runs out; returns how many keys the store then holds under the `bench-key-` names.
fn populate_copies(fresh: &test_engine::TestEngine, template: &str, count: usize) -> usize {
    let start = Instant::now();
    let budget = populate_budget();
    let store = fresh.engine.store();
    let record = store
        .get(template)
        .unwrap()
        .expect("the template key is stored");
    let limits = Limits::DEFAULT;
    let mut n = 1;
    while n < count && start.elapsed() < budget {
        let mut chunk = Vec::with_capacity(POPULATE_CHUNK);
        while n < count && chunk.len() < POPULATE_CHUNK {
            let uid = store.new_uid().unwrap();
            let name = format!("bench-key-{n}");
            let mut copy = record.clone();
            copy.uid = uid.clone();
            for attribute in &mut copy.attributes {
                let mut value = ttlv::decode(&attribute.value, &limits).unwrap();
                rename(&mut value, template, &uid);
                rename(&mut value, "bench-key-0", &name);
                attribute.value = ttlv::encode(&value);
                if let SearchKey::Text(t) = &mut attribute.search {
                    if t == template {
                        *t = uid.clone();
                    } else if t == "bench-key-0" {
                        *t = name.clone();
                    }
                }
            }
            chunk.push(Mutation::Put(copy));
            // Owned by the benchmark's client, as Register would have made it, so Locate (which returns only
            // what the caller may see) finds it and pays for the access check as it would.
            chunk.push(kmipd::access::grants::set_owner(&uid, BENCH_CLIENT));
            n += 1;
        }
        store.commit(chunk).unwrap();
    }
    n
}

fn main() {
    let total = Instant::now();
    let bench = BenchServer::start();
    let server = &bench.server;

    for clients in [1, 8] {
        measure(server, clients, budget(BUDGET), |c, _| {
            created_id(c);
        })
        .report("Create AES-256", clients);
    }

    let mut setup = server.connect();
    let ids: Vec<String> = (0..64).map(|_| created_id(&mut setup)).collect();
    for clients in [1, 8] {
        measure(server, clients, budget(BUDGET), |c, i| {
            let id = &ids[i % ids.len()];
            let got = c.send(&request(V14, vec![item(operation::GET, vec![uid(id)])]));
            only_success(&got);
        })
        .report("Get", clients);
    }

    // Populate, then Locate by Name among everything stored.
    let populate = Instant::now();
    let answer = setup.send(&request(V14, vec![register_item(0)]));
    let template = text_child(only_success(&answer), tag::UNIQUE_IDENTIFIER);
    let stored = populate_copies(&bench.fresh, &template, LOCATE_POPULATION);
    println!(
        "populated {stored} of {LOCATE_POPULATION} keys through the store API in {:.1} s ({:.0} records/s)",
        populate.elapsed().as_secs_f64(),
        stored as f64 / populate.elapsed().as_secs_f64()
    );
    for clients in [1, 8] {
        measure(server, clients, budget(BUDGET), |c, i| {
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
