//! What two-zone durability costs: Create throughput and latency (p50, p99) over mutual TLS with one zone, two
//! zones in one process (the embedded default), and two zone nodes on loopback (the sequencer and its follower
//! connected by node-to-node mutual TLS), each with 1 and 32 concurrent clients (one connection and thread
//! each). Every change is fsynced in every zone before it is acknowledged; concurrent changes share fsyncs.
//!
//! Run with `cargo bench --bench replication`; each measurement runs for a fixed budget (about 25 s in all).

mod support;

use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use kmipd::ops::{Engine, EngineConfig};
use kmipd::pki::{CertificateAuthority, KeyType};
use kmipd::replication::node::{
    Node, NodeLimits, NodeLink, NodePeers, NodeRole, NodeSetup, NodeTls,
};
use kmipd::replication::{NodeZone, ZonesConfig};
use kmipd::store::{DB_FILE_NAME, MasterKey, MasterKeySource, Store};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use support::kmip::create_aes256_request;
use support::{budget, measure_request, tls};

/// How long each measurement runs.
const BUDGET: Duration = Duration::from_secs(3);
const MASTER_KEY_HEX: &str = "5d1e0c3b7a9f2e4d6c8b0a1f3e5d7c9b2a4f6e8d0c1b3a5f7e9d2c4b6a8f0e1d";

/// Runs Creates on `clients` connections for the budget and prints throughput and latency.
fn measure(setup: &str, server: &tls::TlsServer, clients: usize) {
    measure_request(server, clients, budget(BUDGET), &create_aes256_request())
        .report(&format!("Create, {setup}"), clients);
}

fn master() -> MasterKey {
    MasterKey::from_bytes(hex::decode(MASTER_KEY_HEX).unwrap().try_into().unwrap())
}

fn engine_config(dir: &Path, zones: ZonesConfig) -> EngineConfig {
    EngineConfig {
        data_dir: dir.to_owned(),
        master_key: MasterKeySource::Env("KMIPD_BENCH_MASTER_KEY".into()),
        zones: Some(zones),
        ..EngineConfig::default()
    }
}

/// Node TLS material of zones a and b: one CA, each node's certificate naming its node and localhost.
fn node_tls() -> (NodeTls, NodeTls) {
    let (ca, ca_pair) = CertificateAuthority::generate("node CA", 30, KeyType::EcdsaP256).unwrap();
    let tls = |zone: &str| node_tls_of(&ca, &ca_pair.certificate_pem, zone);
    (tls("a"), tls("b"))
}

fn node_tls_of(ca: &CertificateAuthority, ca_pem: &str, zone: &str) -> NodeTls {
    let pair = ca
        .issue_node(
            zone,
            &["localhost".into()],
            &["127.0.0.1".parse().unwrap()],
            30,
            KeyType::EcdsaP256,
        )
        .unwrap();
    let chain = vec![CertificateDer::from_pem_slice(pair.certificate_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(pair.private_key_pem.as_bytes()).unwrap();
    let cas = [CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap()];
    NodeTls::from_parts(chain, key, &cas, Path::new("node-ca.pem")).unwrap()
}

fn free_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn main() {
    // SAFETY of the test setup: the variable is set before any thread that reads the environment starts.
    unsafe { std::env::set_var("KMIPD_BENCH_MASTER_KEY", MASTER_KEY_HEX) };
    let total = Instant::now();

    // One zone: a single store file.
    let one = tempfile::tempdir().unwrap();
    let store = Store::open(&one.path().join(DB_FILE_NAME), master()).unwrap();
    let engine = Engine::with_store(EngineConfig::default(), Arc::new(store)).unwrap();
    let server = tls::TlsServer::start(Arc::new(engine));
    for clients in [1, 32] {
        measure("one zone", &server, clients);
    }
    drop(server);

    // Two zones in one process (the embedded default).
    let two = tempfile::tempdir().unwrap();
    let engine = Engine::open(engine_config(
        two.path(),
        ZonesConfig::default_in(two.path()),
    ))
    .unwrap();
    let server = tls::TlsServer::start(Arc::new(engine));
    for clients in [1, 32] {
        measure("two zones, one process", &server, clients);
    }
    drop(server);

    // Two zone nodes on loopback: the follower (zone b), then the sequencer (zone a) shipping to it.
    let nodes = tempfile::tempdir().unwrap();
    let (a_tls, b_tls) = node_tls();
    let limits = NodeLimits::default();
    let (a_node, b_node) = (free_addr(), free_addr());
    let b_zones = ZonesConfig::one_local("b", nodes.path().join("zone-b"));
    let b_engine = Engine::open(engine_config(nodes.path(), b_zones)).unwrap();
    let sequencer_link =
        Arc::new(NodeLink::new("a", &a_node.to_string(), "localhost", &b_tls, limits).unwrap());
    let _b = Node::start(
        NodeSetup {
            role: NodeRole::Follower,
            zone: "b".into(),
            listen: b_node,
            tls: b_tls,
            limits,
            sequencer: Some(sequencer_link),
            remotes: Vec::new(),
            interval: Duration::from_millis(200),
            remote_lag_alarm: Duration::from_secs(60),
            peers: NodePeers {
                own: "b".into(),
                sequencer: Some("a".into()),
                ..NodePeers::default()
            },
            audit: None,
        },
        b_engine.store().clone(),
    )
    .unwrap();
    let mut a_zones = ZonesConfig::one_local("a", nodes.path().join("zone-a"));
    a_zones.nodes.push(NodeZone {
        name: "b".into(),
        address: b_node.to_string(),
        replica: Arc::new(
            NodeLink::new("b", &b_node.to_string(), "localhost", &a_tls, limits).unwrap(),
        ),
    });
    let a_engine = Arc::new(Engine::open(engine_config(nodes.path(), a_zones)).unwrap());
    let _a = Node::start(
        NodeSetup {
            role: NodeRole::Sequencer,
            zone: "a".into(),
            listen: a_node,
            tls: a_tls,
            limits,
            sequencer: None,
            remotes: Vec::new(),
            interval: Duration::from_millis(200),
            remote_lag_alarm: Duration::from_secs(60),
            peers: NodePeers {
                own: "a".into(),
                followers: vec!["b".into()],
                ..NodePeers::default()
            },
            audit: None,
        },
        a_engine.store().clone(),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while a_engine.store().status().iter().any(|z| !z.up) {
        assert!(Instant::now() < deadline, "zone b node never came up");
        thread::sleep(Duration::from_millis(50));
    }
    let server = tls::TlsServer::start(a_engine.clone());
    for clients in [1, 32] {
        measure("two zone nodes, loopback", &server, clients);
    }
    drop(server);
    println!("total {:.1} s", total.elapsed().as_secs_f64());
}
