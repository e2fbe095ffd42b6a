//! End-to-end durability: the real `kmipd serve` binary on a temporary data directory takes Creates over mutual
//! TLS from several clients, is killed with SIGKILL in the middle of the stream, and is started again on the same
//! directory. Every key whose success response reached a client must then be there, with the key bytes a Get
//! returned before the kill. A success is sent only after the store's commit is durable, so nothing a client was
//! told exists may be lost.

#[path = "support/kmip.rs"]
mod kmip;
#[path = "support/tls.rs"]
mod tls;

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use kmip::{create_aes256_request, enumeration, item, request, success, text_child, uid};
use kmipd::server::bootstrap::DevFiles;
use kmipd::spec::enums::{operation, query_function};
use kmipd::spec::tag;
use kmipd::ttlv::{Ttlv, Value};
use tls::KmipClient;

/// Client tasks streaming Creates.
const CLIENTS: usize = 3;
/// How long the clients create before the server is killed...
const CREATE_BEFORE_KILL: Duration = Duration::from_millis(1200);
/// ... and how many Creates must have been acknowledged by then; on a loaded machine the kill waits for them.
const MIN_ACKED_BEFORE_KILL: usize = 20;
/// Every how many Creates a client also fetches the key, to compare its bytes after the restart.
const GET_EVERY: usize = 3;
/// How long a starting server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How many Gets one verification request carries.
const GETS_PER_REQUEST: usize = 50;

/// A running `kmipd serve`; killed with SIGKILL when dropped (also when a test fails).
struct Server {
    child: Child,
}

impl Server {
    fn start(data_dir: &Path, listen: SocketAddr, log: &Path) -> Server {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_kmipd"))
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(listen.to_string())
            .env_remove(kmipd::store::MASTER_KEY_ENV)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Server { child }
    }

    /// SIGKILL: no shutdown path runs, no buffer is flushed.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A free loopback port (the small window before the server binds it is acceptable for a test).
fn free_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], tls::free_port()))
}

/// The development CA and admin client certificate `serve` makes in its data directory on first start.
struct Credentials {
    ca_pem: String,
    certificate_pem: String,
    key_pem: String,
}

impl Credentials {
    fn connect(&self, address: SocketAddr) -> std::io::Result<KmipClient> {
        KmipClient::connect_pem(address, &self.ca_pem, &self.certificate_pem, &self.key_pem)
    }
}

/// Waits until the server answers a Query over mutual TLS, then returns its credentials.
fn wait_ready(
    data_dir: &Path,
    address: SocketAddr,
    server: &mut Server,
    log: &Path,
) -> Credentials {
    let files = DevFiles::in_dir(data_dir);
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!(
                "kmipd serve exited with {status}: {}",
                fs::read_to_string(log).unwrap_or_default()
            );
        }
        let credentials = (|| {
            Some(Credentials {
                ca_pem: fs::read_to_string(&files.ca_certificate).ok()?,
                certificate_pem: fs::read_to_string(&files.admin_certificate).ok()?,
                key_pem: fs::read_to_string(&files.admin_key).ok()?,
            })
        })();
        if let Some(credentials) = credentials {
            let query = request(
                (1, 4),
                vec![item(
                    operation::QUERY,
                    vec![enumeration(
                        tag::QUERY_FUNCTION,
                        query_function::QUERY_OPERATIONS,
                    )],
                )],
            );
            if let Ok(answer) = credentials
                .connect(address)
                .and_then(|mut c| c.try_send(&query))
            {
                success(kmip::batch_items(&answer)[0]);
                return credentials;
            }
        }
        assert!(
            Instant::now() < deadline,
            "kmipd serve did not start: {}",
            fs::read_to_string(log).unwrap_or_default()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

fn key_material(get_payload: &Ttlv) -> Vec<u8> {
    let material = get_payload
        .child(tag::SYMMETRIC_KEY)
        .and_then(|k| k.child(tag::KEY_BLOCK))
        .and_then(|b| b.child(tag::KEY_VALUE))
        .and_then(|v| v.child(tag::KEY_MATERIAL))
        .unwrap_or_else(|| panic!("Get returned no key material: {get_payload:?}"));
    match &material.value {
        Value::ByteString(b) => b.as_slice().to_vec(),
        other => panic!("Key Material is not bytes: {other:?}"),
    }
}

/// What one client learnt before the kill: the identifiers whose Create succeeded, and the key bytes of those
/// it fetched.
#[derive(Default)]
struct Acknowledged {
    created: Vec<String>,
    fetched: Vec<(String, Vec<u8>)>,
    /// Whether the client's stream was cut by the kill (rather than running out of time first).
    cut: bool,
}

/// Creates keys until the connection breaks or `stop` is set; only complete success responses count.
fn stream_creates(mut client: KmipClient, stop: &AtomicBool, count: &AtomicUsize) -> Acknowledged {
    let mut acked = Acknowledged::default();
    let create = create_aes256_request();
    while !stop.load(Ordering::Relaxed) {
        let Ok(answer) = client.try_send(&create) else {
            acked.cut = true;
            break;
        };
        let id = text_child(
            success(kmip::batch_items(&answer)[0]),
            tag::UNIQUE_IDENTIFIER,
        );
        acked.created.push(id.clone());
        count.fetch_add(1, Ordering::Relaxed);
        if acked.created.len() % GET_EVERY == 0 {
            let get = request((1, 4), vec![item(operation::GET, vec![uid(&id)])]);
            let Ok(answer) = client.try_send(&get) else {
                acked.cut = true;
                break;
            };
            acked
                .fetched
                .push((id, key_material(success(kmip::batch_items(&answer)[0]))));
        }
    }
    acked
}

#[test]
fn sigkill_during_creates_loses_no_acknowledged_key() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir: PathBuf = dir.path().join("data");
    let log = dir.path().join("kmipd.log");
    let address = free_port();
    let mut server = Server::start(&data_dir, address, &log);
    let credentials = Arc::new(wait_ready(&data_dir, address, &mut server, &log));

    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let client = credentials.connect(address).unwrap();
            let stop = Arc::clone(&stop);
            let count = Arc::clone(&count);
            thread::spawn(move || stream_creates(client, &stop, &count))
        })
        .collect();
    let started = Instant::now();
    thread::sleep(CREATE_BEFORE_KILL);
    let deadline = Instant::now() + START_TIMEOUT;
    while count.load(Ordering::Relaxed) < MIN_ACKED_BEFORE_KILL && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    server.kill();
    let streamed = started.elapsed();
    // Clients whose request was in flight see the connection cut; any other stops at its next check.
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<Acknowledged> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let created: Vec<&String> = acked.iter().flat_map(|a| &a.created).collect();
    let fetched: Vec<&(String, Vec<u8>)> = acked.iter().flat_map(|a| &a.fetched).collect();
    println!(
        "{} creates acknowledged by {CLIENTS} clients in {streamed:.2?}, {} keys fetched, {} streams cut by the kill",
        created.len(),
        fetched.len(),
        acked.iter().filter(|a| a.cut).count()
    );
    assert!(
        created.len() >= MIN_ACKED_BEFORE_KILL,
        "too few creates before the kill to test anything: {}",
        created.len()
    );
    assert!(
        acked.iter().any(|a| a.cut),
        "the kill cut no stream: it did not happen in the middle of the creates"
    );

    let mut server = Server::start(&data_dir, address, &log);
    let credentials = wait_ready(&data_dir, address, &mut server, &log);
    let mut client = credentials.connect(address).unwrap();
    let mut restored = Vec::with_capacity(created.len());
    for chunk in created.chunks(GETS_PER_REQUEST) {
        let gets = chunk
            .iter()
            .map(|id| item(operation::GET, vec![uid(id)]))
            .collect();
        let answer = client.try_send(&request((1, 4), gets)).unwrap();
        let items = kmip::batch_items(&answer);
        assert_eq!(items.len(), chunk.len());
        for (id, answer) in chunk.iter().zip(items) {
            let payload = success(answer);
            assert_eq!(&text_child(payload, tag::UNIQUE_IDENTIFIER), *id);
            restored.push(((*id).clone(), key_material(payload)));
        }
    }
    for (id, before) in fetched {
        let after = restored
            .iter()
            .find(|(r, _)| r == id)
            .map(|(_, bytes)| bytes)
            .unwrap();
        assert_eq!(after, before, "key {id} changed across the kill");
    }
    // The restarted server goes on creating.
    let answer = client.try_send(&create_aes256_request()).unwrap();
    success(kmip::batch_items(&answer)[0]);
}

/// Destroy while three other connections Get the same key: rounds of the race the lost update needed.
const DESTROY_RACE_ROUNDS: usize = 60;
/// Connections that Get the key while it is destroyed.
const DESTROY_RACE_GETTERS: usize = 3;
/// How often a Destroy refused because a concurrent Get changed the key first is sent again.
const DESTROY_RETRIES: usize = 10;

/// The answer of a Get: the key bytes, or the failed item's Result Reason.
fn get_outcome(client: &mut KmipClient, id: &str) -> Result<Vec<u8>, u32> {
    let answer = client
        .try_send(&request((1, 4), vec![item(operation::GET, vec![uid(id)])]))
        .unwrap();
    let first = kmip::batch_items(&answer)[0];
    if first.child(tag::RESULT_STATUS).map(|s| &s.value)
        == Some(&Value::Enumeration(
            kmipd::spec::enums::result_status::SUCCESS,
        ))
    {
        Ok(key_material(success(first)))
    } else {
        Err(kmip::failure_reason(first))
    }
}

/// Issue 11, finding 3: a Get that clears Fresh wrote back the record it loaded, so a Destroy acknowledged
/// between that load and that write was undone and the key material came back. Over real TLS against
/// `kmipd serve`: after an acknowledged Destroy, no Get (started after the acknowledgement, on any connection)
/// returns key material, and the key stays destroyed.
#[test]
fn no_key_material_after_an_acknowledged_destroy_under_concurrent_gets() {
    use kmipd::kmip::ResultReason;
    use std::sync::Barrier;

    let dir = tempfile::tempdir().unwrap();
    let data_dir: PathBuf = dir.path().join("data");
    let log = dir.path().join("kmipd.log");
    let address = free_port();
    let mut server = Server::start(&data_dir, address, &log);
    let credentials = wait_ready(&data_dir, address, &mut server, &log);
    let mut main = credentials.connect(address).unwrap();
    let mut getters: Vec<KmipClient> = (0..DESTROY_RACE_GETTERS)
        .map(|_| credentials.connect(address).unwrap())
        .collect();
    // What 1.4 answers a Get of a destroyed key (Item Not Found: 1.x has no Object Destroyed).
    let destroyed = ResultReason::ItemNotFound.code_in(kmipd::kmip::ProtocolVersion::V1_4);
    let (mut destroy_conflicts, mut gets_before_ack) = (0, 0);
    for round in 0..DESTROY_RACE_ROUNDS {
        let answer = main.try_send(&create_aes256_request()).unwrap();
        let id = text_child(
            success(kmip::batch_items(&answer)[0]),
            tag::UNIQUE_IDENTIFIER,
        );
        let acked = AtomicBool::new(false);
        let start = Barrier::new(DESTROY_RACE_GETTERS + 1);
        let served_before_ack = AtomicUsize::new(0);
        thread::scope(|s| {
            for client in getters.iter_mut() {
                let (id, acked, start, served) = (&id, &acked, &start, &served_before_ack);
                s.spawn(move || {
                    start.wait();
                    // Gets until the Destroy is acknowledged (material allowed: they race it)...
                    while !acked.load(Ordering::SeqCst) {
                        if get_outcome(client, id).is_ok() {
                            served.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    // ... then one that starts after the acknowledgement: it must not see the key.
                    assert_eq!(
                        get_outcome(client, id).map(|_| "key material"),
                        Err(destroyed),
                        "round {round}: a Get after the acknowledged Destroy of {id}"
                    );
                });
            }
            start.wait();
            let mut tries = 0;
            loop {
                let answer = main
                    .try_send(&request(
                        (1, 4),
                        vec![item(operation::DESTROY, vec![uid(&id)])],
                    ))
                    .unwrap();
                let first = kmip::batch_items(&answer)[0];
                if first.child(tag::RESULT_STATUS).map(|s| &s.value)
                    == Some(&Value::Enumeration(
                        kmipd::spec::enums::result_status::SUCCESS,
                    ))
                {
                    break;
                }
                // Refused because a Get changed the key after Destroy read it: nothing was written; again.
                let message = text_child(first, tag::RESULT_MESSAGE);
                assert!(
                    message.contains("changed by another request"),
                    "round {round}: Destroy failed: {message}"
                );
                destroy_conflicts += 1;
                tries += 1;
                assert!(
                    tries < DESTROY_RETRIES,
                    "round {round}: Destroy kept conflicting"
                );
            }
            acked.store(true, Ordering::SeqCst);
        });
        gets_before_ack += served_before_ack.load(Ordering::Relaxed);
        assert_eq!(
            get_outcome(&mut main, &id).map(|_| "key material"),
            Err(destroyed),
            "round {round}: the destroyed key {id} is readable again"
        );
    }
    println!(
        "{DESTROY_RACE_ROUNDS} rounds: {gets_before_ack} Gets served before the Destroy was acknowledged, \
         {destroy_conflicts} Destroys refused by a concurrent change and sent again"
    );
}
