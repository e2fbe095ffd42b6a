//! Zones as separate `kmipd serve` processes (zone a the sequencer, zone b the follower, r the remote region),
//! node-to-node over mutual TLS with node certificates, KMIP clients over mutual TLS to either zone node:
//! SIGKILL of either zone node refuses changes (naming the zone) while reads go on from the other, and the
//! node catches up when restarted; `kill -9` during a stream of creates loses no acknowledged key in either
//! zone; a partition (a stalling proxy between the zone nodes) refuses changes on both sides and never
//! diverges; the remote copy's lag stays within seconds under load; a region rebuilt from the remote copy has
//! every key the remote had (and is not rebuilt under a running node). The node port takes only the
//! certificate of the node a peer must be (never a client certificate, even from the node CA), and a change
//! made through the follower is owned by, and audited on the sequencer under, the client that asked for it.
//! The sequencer's metrics endpoint shows both zones and the remote copy's sequence and lag. Every wait is
//! bounded.

#[path = "support/kmip.rs"]
mod kmip;
#[path = "support/tls.rs"]
mod tls;
#[path = "support/zoned.rs"]
mod zoned;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use kmipd::pki::{
    CertificateAuthority, KeyType, write_pair, write_private_file, write_public_file,
};
use kmipd::replication::node::{NodeLimits, NodeLink, NodeTls};
use kmipd::replication::wire::Message;
use kmipd::replication::zones::Forwarder;
use kmipd::spec::enums::operation;

use zoned::*;

const WAIT: Duration = Duration::from_secs(20);
const MASTER_KEY_HEX: &str = "8f3a9c1e5b7d2f4608a1c3e5f7092b4d6e8f0a1c3e5b7d9f1a2c4e6f8b0d2f41";

/// Certificates of one deployment: KMIP (server + client) and node (one CA, one certificate per node).
struct Deployment {
    root: tempfile::TempDir,
    ca_pem: String,
    client_pem: String,
    client_key: String,
    /// A second KMIP client, "other".
    other_pem: String,
    other_key: String,
}

/// One node's addresses and process.
struct NodeProc {
    name: &'static str,
    config: PathBuf,
    kmip: SocketAddr,
    node: SocketAddr,
    child: Option<Child>,
}

impl Deployment {
    fn new() -> Deployment {
        let root = tempfile::tempdir().unwrap();
        let (ca, ca_pair) =
            CertificateAuthority::generate("kmip CA", 30, KeyType::EcdsaP256).unwrap();
        let server = ca
            .issue_server(
                &["localhost".into()],
                &["127.0.0.1".parse().unwrap()],
                30,
                KeyType::EcdsaP256,
            )
            .unwrap();
        write_pair(root.path(), "server", &server).unwrap();
        write_public_file(&root.path().join("client-ca.pem"), &ca_pair.certificate_pem).unwrap();
        let client = ca.issue_client("app", 30, KeyType::EcdsaP256).unwrap();
        let other = ca.issue_client("other", 30, KeyType::EcdsaP256).unwrap();
        let (node_ca, node_ca_pair) =
            CertificateAuthority::generate("node CA", 30, KeyType::EcdsaP256).unwrap();
        write_public_file(
            &root.path().join("node-ca.pem"),
            &node_ca_pair.certificate_pem,
        )
        .unwrap();
        write_private_file(
            &root.path().join("node-ca.key"),
            &node_ca_pair.private_key_pem,
        )
        .unwrap();
        for name in ["a", "b", "r"] {
            let pair = node_ca
                .issue_node(
                    name,
                    &["localhost".into()],
                    &["127.0.0.1".parse().unwrap()],
                    30,
                    KeyType::EcdsaP256,
                )
                .unwrap();
            write_pair(root.path(), &format!("node-{name}"), &pair).unwrap();
        }
        // Client certificates from the node CA: one named like zone b, one with b's node name as its CN.
        for (file, cn) in [("client-b", "b"), ("client-b-cn", "b.node.kmipd")] {
            let pair = node_ca.issue_client(cn, 30, KeyType::EcdsaP256).unwrap();
            write_pair(root.path(), file, &pair).unwrap();
        }
        Deployment {
            root,
            ca_pem: ca_pair.certificate_pem.clone(),
            client_pem: client.certificate_pem.clone(),
            client_key: client.private_key_pem.to_string(),
            other_pem: other.certificate_pem.clone(),
            other_key: other.private_key_pem.to_string(),
        }
    }

    fn dir(&self) -> &Path {
        self.root.path()
    }

    /// Writes a node's configuration; `peers`/`remotes` are (zone, node address) pairs.
    fn node(
        &self,
        name: &'static str,
        role: &str,
        peers: &[(&str, SocketAddr)],
        remotes: &[(&str, SocketAddr)],
    ) -> NodeProc {
        let kmip: SocketAddr = format!("127.0.0.1:{}", tls::free_port()).parse().unwrap();
        let node: SocketAddr = format!("127.0.0.1:{}", tls::free_port()).parse().unwrap();
        self.node_at(name, role, kmip, node, peers, remotes)
    }

    fn node_at(
        &self,
        name: &'static str,
        role: &str,
        kmip: SocketAddr,
        node: SocketAddr,
        peers: &[(&str, SocketAddr)],
        remotes: &[(&str, SocketAddr)],
    ) -> NodeProc {
        let list = |items: &[(&str, SocketAddr)]| {
            items
                .iter()
                .map(|(z, a)| format!("{{ zone = \"{z}\", address = \"{a}\" }}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let text = format!(
            "listen = \"{kmip}\"\ndata_dir = \"data-{name}\"\n\
             [tls]\ncert_chain = \"server.pem\"\nprivate_key = \"server.key\"\nclient_ca = \"client-ca.pem\"\n\
             [node]\nrole = \"{role}\"\nzone = \"{name}\"\nlisten = \"{node}\"\n\
             cert_chain = \"node-{name}.pem\"\nprivate_key = \"node-{name}.key\"\nca = \"node-ca.pem\"\n\
             timeout = \"1s\"\ninterval = \"100ms\"\npeers = [{}]\nremotes = [{}]\n",
            list(peers),
            list(remotes)
        );
        let config = self.dir().join(format!("{name}.toml"));
        std::fs::write(&config, text).unwrap();
        NodeProc {
            name,
            config,
            kmip,
            node,
            child: None,
        }
    }

    /// A node link to `zone` at `address`, presenting certificate `<cert>.pem` (from the deployment's files).
    fn link(&self, cert: &str, zone: &str, address: SocketAddr) -> NodeLink {
        let tls = NodeTls::load(
            &self.dir().join(format!("{cert}.pem")),
            &self.dir().join(format!("{cert}.key")),
            &self.dir().join("node-ca.pem"),
        )
        .unwrap();
        let limits = NodeLimits {
            timeout: Duration::from_secs(5),
            ..NodeLimits::default()
        };
        NodeLink::new(zone, &address.to_string(), "localhost", &tls, limits).unwrap()
    }

    /// A KMIP connection to `node` as client "other".
    fn other_client(&self, node: &NodeProc) -> tls::KmipClient {
        tls::KmipClient::connect_with_pem(node.kmip, &self.ca_pem, &self.other_pem, &self.other_key)
    }

    fn client(&self, node: &NodeProc) -> Option<tls::KmipClient> {
        TcpStream::connect(node.kmip).ok()?;
        Some(tls::KmipClient::connect_with_pem(
            node.kmip,
            &self.ca_pem,
            &self.client_pem,
            &self.client_key,
        ))
    }

    /// A client once the node accepts connections.
    fn wait_client(&self, node: &NodeProc) -> tls::KmipClient {
        let mut client = None;
        wait_until(WAIT, &format!("node {} listens", node.name), || {
            client = self.client(node);
            client.is_some()
        });
        client.unwrap()
    }

    fn zone_dir(&self, name: &str) -> PathBuf {
        self.dir()
            .join(format!("data-{name}"))
            .join(format!("zone-{name}"))
    }

    /// Opens a node's zone file on its own (as another process).
    fn zone(&self, name: &str) -> kmipd::store::Store {
        let master = kmipd::store::MasterKey::from_bytes(
            hex::decode(MASTER_KEY_HEX).unwrap().try_into().unwrap(),
        );
        kmipd::store::Store::open(
            &self.zone_dir(name).join(kmipd::store::DB_FILE_NAME),
            master,
        )
        .unwrap()
    }
}

fn kmipd(config: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kmipd"));
    command
        .args(args)
        .arg("--config")
        .arg(config)
        .env("KMIPD_MASTER_KEY", MASTER_KEY_HEX)
        .env("RUST_LOG", "warn");
    command
}

impl NodeProc {
    fn start(&mut self) {
        let child = kmipd(&self.config, &["serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
        }
    }

    /// `kmipd status` for this node, parsed; None while it does not answer (e.g. still starting).
    fn try_status(&self) -> Option<serde_json::Value> {
        let out = kmipd(&self.config, &["status"]).output().unwrap();
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).unwrap())
    }

    /// `kmipd status` for this node, parsed.
    fn status(&self) -> serde_json::Value {
        let out = kmipd(&self.config, &["status"]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn create(client: &mut tls::KmipClient, name: &str) -> Result<String, String> {
    outcome(&client.send(&create_request(name))).map(|p| uid_of(&p))
}

fn assert_reads_go_on(client: &mut tls::KmipClient, uid: &str, name: &str) {
    outcome(&client.send(&on_uid(operation::GET, uid))).expect("Get");
    outcome(&client.send(&on_uid(operation::GET_ATTRIBUTES, uid))).expect("Get Attributes");
    let found = outcome(&client.send(&locate_by_name(name))).expect("Locate");
    assert_eq!(located(&found), vec![uid.to_string()]);
}

/// Locate by `name` finds nothing.
fn assert_not_found(client: &mut tls::KmipClient, name: &str) {
    let found = outcome(&client.send(&locate_by_name(name))).expect("Locate");
    assert_eq!(
        located(&found),
        Vec::<String>::new(),
        "refused {name} is visible"
    );
}

/// A create succeeds on `node` within the wait (fresh connection each try: the node may be restarting).
fn wait_create(d: &Deployment, node: &NodeProc, name: &str) -> String {
    let mut uid = None;
    wait_until(
        WAIT,
        &format!("a change is accepted through {}", node.name),
        || {
            uid = d.client(node).and_then(|mut c| create(&mut c, name).ok());
            uid.is_some()
        },
    );
    uid.unwrap()
}

/// Every node in `nodes` answers a Get of every uid from its own zone file (a running node holds its file
/// exclusively: no other process can open it).
fn assert_zones_hold(d: &Deployment, nodes: &[&NodeProc], uids: &[String]) {
    for node in nodes {
        let mut client = d.wait_client(node);
        for uid in uids {
            outcome(&client.send(&on_uid(operation::GET, uid)))
                .unwrap_or_else(|e| panic!("zone {} lacks acknowledged {uid}: {e}", node.name));
        }
    }
}

/// Zone a (sequencer), zone b (follower) and remote r, started.
fn three_nodes(d: &Deployment) -> (NodeProc, NodeProc, NodeProc) {
    three_nodes_with(d, "")
}

/// Three nodes as [`three_nodes`], with `a_config` (TOML) appended to the sequencer's configuration.
fn three_nodes_with(d: &Deployment, a_config: &str) -> (NodeProc, NodeProc, NodeProc) {
    let a_kmip: SocketAddr = format!("127.0.0.1:{}", tls::free_port()).parse().unwrap();
    let a_node: SocketAddr = format!("127.0.0.1:{}", tls::free_port()).parse().unwrap();
    let mut r = d.node("r", "remote", &[("a", a_node)], &[]);
    let b_node: SocketAddr = format!("127.0.0.1:{}", tls::free_port()).parse().unwrap();
    let mut a = d.node_at(
        "a",
        "sequencer",
        a_kmip,
        a_node,
        &[("b", b_node)],
        &[("r", r.node)],
    );
    if !a_config.is_empty() {
        let mut config = std::fs::OpenOptions::new()
            .append(true)
            .open(&a.config)
            .unwrap();
        std::io::Write::write_all(&mut config, a_config.as_bytes()).unwrap();
    }
    let b_kmip: SocketAddr = format!("127.0.0.1:{}", tls::free_port()).parse().unwrap();
    let mut b = d.node_at("b", "follower", b_kmip, b_node, &[("a", a.node)], &[]);
    r.start();
    b.start();
    a.start();
    (a, b, r)
}

#[test]
fn sigkill_of_either_zone_node_refuses_changes_keeps_reads_and_it_catches_up() {
    let d = Deployment::new();
    let (mut a, mut b, _r) = three_nodes(&d);
    let first = wait_create(&d, &a, "first");
    // Node b accepts changes once its periodic check has seen it hold what the sequencer acknowledged.
    let first_b = wait_create(&d, &b, "first-b");
    let mut via_a = d.wait_client(&a);
    let mut via_b = d.wait_client(&b);
    let mut acked = vec![first.clone(), first_b];
    for i in 0..10 {
        acked.push(create(&mut via_a, &format!("a-{i}")).unwrap());
        acked.push(create(&mut via_b, &format!("b-{i}")).unwrap());
    }
    assert_zones_hold(&d, &[&a, &b], &acked);

    // Zone b's node dies: changes through a are refused naming b; reads through a go on.
    b.kill();
    let refused = create(&mut via_a, "refused").unwrap_err();
    assert!(refused.contains("zone b"), "{refused}");
    assert_reads_go_on(&mut via_a, &first, "first");
    // No dirty read: the refused Create is not found through a, then or after b returns, nor through b.
    assert_not_found(&mut via_a, "refused");
    b.start();
    acked.push(wait_create(&d, &a, "after-b"));
    let mut via_b = d.wait_client(&b);
    assert_reads_go_on(&mut via_b, &first, "first");
    assert_zones_hold(&d, &[&a, &b], &acked);
    let mut via_a = d.wait_client(&a);
    assert_not_found(&mut via_a, "refused");
    assert_not_found(&mut via_b, "refused");

    // Zone a's node (the sequencer) dies: changes through b are refused naming a; reads through b go on.
    a.kill();
    let refused = create(&mut via_b, "refused-a").unwrap_err();
    assert!(refused.contains("zone a"), "{refused}");
    assert_reads_go_on(&mut via_b, &first, "first");
    a.start();
    acked.push(wait_create(&d, &b, "after-a"));
    assert_zones_hold(&d, &[&a, &b], &acked);
    let status = a.status();
    assert_eq!(status["role"], "sequencer");
    assert!(
        status["zones"]
            .as_array()
            .unwrap()
            .iter()
            .all(|z| z["up"] == true),
        "{status}"
    );
}

/// At most this many Creates per writer in a kill test (the stream ends at the kill, long before).
const MAX_STREAM: usize = 100_000;

/// How a writer's stream ended at the kill.
#[derive(Debug)]
struct StreamEnd {
    /// The node it wrote through.
    via: &'static str,
    /// Its Creates acknowledged before.
    acknowledged: usize,
    /// When its last, unacknowledged request was sent.
    sent: Instant,
    /// What that request got instead (a transport error, a refusal naming zone a).
    why: String,
}

#[test]
fn kill_9_of_the_sequencer_during_creates_loses_no_acknowledged_key() {
    let d = Deployment::new();
    let (mut a, b, _r) = three_nodes(&d);
    wait_create(&d, &a, "warm");
    // Zone b takes changes too (it has caught up with the sequencer) before the writers start: a refusal
    // through b before the kill fails the test.
    wait_create(&d, &b, "warm-b");
    let acked = Arc::new(std::sync::Mutex::new(Vec::new()));
    // Each writer creates until its stream ends at the kill: through a, the connection dies (an I/O error);
    // through b, the change is refused naming zone a. Any other ending fails the test.
    let writers: Vec<_> = [("a", &a), ("b", &b), ("a", &a), ("b", &b)]
        .iter()
        .enumerate()
        .map(|(t, (via, node))| {
            let via = *via;
            let mut client = d.wait_client(node);
            let acked = acked.clone();
            std::thread::spawn(move || -> Result<StreamEnd, String> {
                let mut mine = 0;
                for i in 0..MAX_STREAM {
                    let sent = Instant::now();
                    let answer = match client.try_send(&create_request(&format!("s-{t}-{i}"))) {
                        Ok(answer) => answer,
                        Err(e) if via == "a" => {
                            return Ok(StreamEnd {
                                via,
                                acknowledged: mine,
                                sent,
                                why: e.to_string(),
                            });
                        }
                        Err(e) => return Err(format!("connection to b failed: {e}")),
                    };
                    match outcome(&answer) {
                        Ok(p) => {
                            acked.lock().unwrap().push(uid_of(&p));
                            mine += 1;
                        }
                        Err(e) if via == "b" && e.contains("zone a") => {
                            return Ok(StreamEnd {
                                via,
                                acknowledged: mine,
                                sent,
                                why: e,
                            });
                        }
                        Err(e) => return Err(format!("through {via}, refused: {e}")),
                    }
                }
                Err(format!("{MAX_STREAM} creates through {via} and no kill"))
            })
        })
        .collect();
    wait_until(WAIT, "creates are acknowledged", || {
        acked.lock().unwrap().len() >= 40
    });
    let killed = Instant::now();
    a.kill();
    let ends: Vec<StreamEnd> = writers
        .into_iter()
        .map(|w| {
            w.join()
                .expect("a writer thread panicked")
                .expect("a writer's stream ended otherwise than by the kill")
        })
        .collect();
    // Writes through each node were acknowledged before the kill.
    for via in ["a", "b"] {
        let through: usize = ends
            .iter()
            .filter(|e| e.via == via)
            .map(|e| e.acknowledged)
            .sum();
        assert!(
            through > 0,
            "no write through {via} was acknowledged: {ends:?}"
        );
    }
    // The kill cut requests in flight: some request sent before it was never acknowledged.
    assert!(
        ends.iter().any(|e| e.sent < killed),
        "no request was in flight at the kill: {ends:?}"
    );
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 40);
    assert_eq!(
        acked.len(),
        ends.iter().map(|e| e.acknowledged).sum::<usize>()
    );
    for end in &ends {
        eprintln!(
            "through {}: {} acknowledged, then {}",
            end.via, end.acknowledged, end.why
        );
    }
    // Before a returns, b already holds every acknowledged key.
    assert_zones_hold(&d, &[&b], &acked);
    a.start();
    wait_create(&d, &a, "after");
    assert_zones_hold(&d, &[&a, &b], &acked);
}

/// A TCP proxy whose traffic the test can stall (bytes held, connections kept) or let through. Dropping it
/// closes it: its accepting thread and every copying thread end and are joined.
struct Proxy {
    address: SocketAddr,
    /// 0 forward, 1 stall, 2 closed.
    mode: Arc<AtomicU8>,
    accepting: Option<std::thread::JoinHandle<()>>,
    copying: Arc<std::sync::Mutex<Vec<std::thread::JoinHandle<()>>>>,
}

/// How often a copying thread looks at whether its proxy was closed while it waits for bytes.
const PROXY_POLL: Duration = Duration::from_millis(100);

impl Proxy {
    fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let mode = Arc::new(AtomicU8::new(0));
        let copying = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (m, threads) = (mode.clone(), copying.clone());
        let accepting = std::thread::spawn(move || {
            for inbound in listener.incoming() {
                if m.load(Ordering::SeqCst) == 2 {
                    break;
                }
                let Ok(inbound) = inbound else { continue };
                let Ok(outbound) = TcpStream::connect(target) else {
                    continue;
                };
                for (mut from, mut to) in [
                    (inbound.try_clone().unwrap(), outbound.try_clone().unwrap()),
                    (outbound, inbound),
                ] {
                    let m = m.clone();
                    from.set_read_timeout(Some(PROXY_POLL)).unwrap();
                    threads.lock().unwrap().push(std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        let stalled = || {
                            while m.load(Ordering::SeqCst) == 1 {
                                std::thread::sleep(Duration::from_millis(20));
                            }
                            m.load(Ordering::SeqCst) == 2
                        };
                        loop {
                            if stalled() {
                                break;
                            }
                            let n = match from.read(&mut buf) {
                                Ok(0) => break,
                                Ok(n) => n,
                                Err(e)
                                    if matches!(
                                        e.kind(),
                                        std::io::ErrorKind::WouldBlock
                                            | std::io::ErrorKind::TimedOut
                                    ) =>
                                {
                                    continue;
                                }
                                Err(_) => break,
                            };
                            if stalled() || to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    }));
                }
            }
        });
        Proxy {
            address,
            mode,
            accepting: Some(accepting),
            copying,
        }
    }

    fn stall(&self, on: bool) {
        self.mode.store(u8::from(on), Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.mode.store(2, Ordering::SeqCst);
        // Wakes the accepting thread, which then sees it is closed.
        let _ = TcpStream::connect(self.address);
        if let Some(accepting) = self.accepting.take() {
            let _ = accepting.join();
        }
        for thread in std::mem::take(&mut *self.copying.lock().unwrap()) {
            let _ = thread.join();
        }
    }
}

#[test]
fn a_partition_between_the_zones_refuses_changes_on_both_sides_and_never_diverges() {
    let d = Deployment::new();
    let a_kmip: SocketAddr = format!("127.0.0.1:{}", tls::free_port()).parse().unwrap();
    let a_node: SocketAddr = format!("127.0.0.1:{}", tls::free_port()).parse().unwrap();
    let b_kmip: SocketAddr = format!("127.0.0.1:{}", tls::free_port()).parse().unwrap();
    let b_node: SocketAddr = format!("127.0.0.1:{}", tls::free_port()).parse().unwrap();
    let to_b = Proxy::start(b_node);
    let to_a = Proxy::start(a_node);
    let mut a = d.node_at(
        "a",
        "sequencer",
        a_kmip,
        a_node,
        &[("b", to_b.address)],
        &[],
    );
    let mut b = d.node_at("b", "follower", b_kmip, b_node, &[("a", to_a.address)], &[]);
    b.start();
    a.start();
    let kept = wait_create(&d, &a, "kept");
    let mut via_a = d.wait_client(&a);
    let mut via_b = d.wait_client(&b);
    // b serves once its currency check (every 100 ms) has seen it hold what a acknowledged.
    wait_create(&d, &b, "through-b");

    to_b.stall(true);
    to_a.stall(true);
    let started = Instant::now();
    let on_a = create(&mut via_a, "partitioned-a").unwrap_err();
    assert!(on_a.contains("zone b"), "{on_a}");
    let on_b = create(&mut via_b, "partitioned-b").unwrap_err();
    assert!(on_b.contains("zone a"), "{on_b}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "refusals took {:?}",
        started.elapsed()
    );
    assert_reads_go_on(&mut via_a, &kept, "kept");
    assert_reads_go_on(&mut via_b, &kept, "kept");

    to_b.stall(false);
    to_a.stall(false);
    let mut acked = vec![kept, wait_create(&d, &a, "healed-a")];
    acked.push(wait_create(&d, &b, "healed-b"));
    assert_zones_hold(&d, &[&a, &b], &acked);
    // Never diverged: the two change logs are identical (read once the nodes stopped: each holds its file).
    a.kill();
    b.kill();
    assert_eq!(
        d.zone("a").changes_since(0, usize::MAX).unwrap(),
        d.zone("b").changes_since(0, usize::MAX).unwrap()
    );
}

#[test]
fn remote_lag_stays_within_seconds_under_load_and_the_region_is_rebuilt_from_it() {
    let d = Deployment::new();
    let (mut a, mut b, mut r) = three_nodes(&d);
    wait_create(&d, &a, "warm");
    // Node b accepts changes once its periodic check has seen it hold what the sequencer acknowledged.
    wait_create(&d, &b, "warm-b");
    let writers: Vec<_> = (0..8)
        .map(|t| {
            let mut client = d.wait_client(if t % 2 == 0 { &a } else { &b });
            std::thread::spawn(move || {
                (0..25)
                    .map(|i| create(&mut client, &format!("load-{t}-{i}")).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut worst_lag = 0.0f64;
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.join().unwrap());
        let status = a.status();
        let lag = status["remotes"][0]["lag_seconds"].as_f64().unwrap();
        worst_lag = worst_lag.max(lag);
    }
    assert!(worst_lag < 5.0, "remote lag reached {worst_lag} s");
    wait_until(WAIT, "the remote catches up", || {
        let s = a.status();
        s["remotes"][0]["lag_changes"] == 0 && s["remotes"][0]["reachable"] == true
    });

    // Never under a running node: the restore takes the data directory's lock first.
    let refused = kmipd(&a.config, &["restore", "--from-remote"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("in use by a running kmipd"), "{said}");
    assert!(
        a.status()["last_seq"].as_u64().unwrap() >= acked.len() as u64,
        "zone a untouched and serving"
    );

    // The region is lost (both zone nodes and their files); it is rebuilt from the remote copy.
    a.kill();
    b.kill();
    std::fs::remove_dir_all(d.zone_dir("a")).unwrap();
    std::fs::remove_dir_all(d.zone_dir("b")).unwrap();
    let out = kmipd(&a.config, &["restore", "--from-remote"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::create_dir_all(d.zone_dir("b")).unwrap();
    // Zone b starts empty while zone a is still down: it must not answer as if it were current.
    b.start();
    let mut via_b = d.wait_client(&b);
    let stale = outcome(&via_b.send(&on_uid(operation::GET, &acked[0]))).unwrap_err();
    assert!(stale.contains("not caught up"), "{stale}");
    a.start();
    acked.push(wait_create(&d, &b, "after-restore"));
    wait_until(WAIT, "zone b serves reads once current", || {
        outcome(&via_b.send(&on_uid(operation::GET, &acked[0]))).is_ok()
    });
    assert_zones_hold(&d, &[&a, &b], &acked);
    r.kill();
}

/// An error's text, for matching.
fn refusal<T: std::fmt::Debug>(result: Result<T, kmipd::store::StoreError>) -> String {
    result.expect_err("must be refused").to_string()
}

#[test]
fn the_node_port_takes_only_the_certificate_of_the_node_a_peer_must_be() {
    let d = Deployment::new();
    let (a, b, _r) = three_nodes(&d);
    wait_create(&d, &a, "up");

    // Client certificates from the node CA itself: one whose CN is zone b's name, one whose CN is b's node
    // name. Neither carries a node name as a DNS name, so neither is a node.
    for cert in ["client-b", "client-b-cn"] {
        let said = refusal(d.link(cert, "a", a.node).seqs());
        assert!(
            said.contains("names no node of this deployment"),
            "{cert}: {said}"
        );
        let said = refusal(d.link(cert, "b", b.node).seqs());
        assert!(
            said.contains("names no node of this deployment"),
            "{cert}: {said}"
        );
    }
    // A KMIP client certificate (client CA) does not even complete the handshake.
    let kmip_client = tempfile::tempdir().unwrap();
    std::fs::write(kmip_client.path().join("app.pem"), &d.client_pem).unwrap();
    std::fs::write(kmip_client.path().join("app.key"), &d.client_key).unwrap();
    let tls = NodeTls::load(
        &kmip_client.path().join("app.pem"),
        &kmip_client.path().join("app.key"),
        &d.dir().join("node-ca.pem"),
    )
    .unwrap();
    let link = NodeLink::new(
        "a",
        &a.node.to_string(),
        "localhost",
        &tls,
        NodeLimits::default(),
    )
    .unwrap();
    assert!(link.seqs().is_err());

    // A valid node certificate of the wrong node: the remote's may read from the sequencer (it is one of
    // its nodes) but not forward changes as if it were follower b; to zone b it is no node at all.
    let as_remote = d.link("node-r", "a", a.node);
    as_remote
        .seqs()
        .expect("the remote reads the sequence numbers");
    let said = refusal(as_remote.commit(&Default::default(), Vec::new()));
    assert!(
        said.contains("node r may not send changes to commit"),
        "{said}"
    );
    let said = refusal(
        d.link("node-r", "b", b.node)
            .call(&Message::Apply(Vec::new())),
    );
    assert!(said.contains("names no node of this deployment"), "{said}");
    // Follower b ships nothing either; only zone a does.
    let said = refusal(
        d.link("node-b", "b", b.node)
            .call(&Message::Apply(Vec::new())),
    );
    assert!(
        said.contains("node b may not send shipped changes"),
        "{said}"
    );
    // A node reached where zone b was expected, presenting zone a's certificate, is not zone b.
    let said = refusal(d.link("node-a", "b", a.node).seqs());
    assert!(
        said.contains("does not name b.node.kmipd (it names a.node.kmipd)"),
        "{said}"
    );
    // The rightful peers still work: b forwards, a ships.
    d.link("node-b", "a", a.node).seqs().unwrap();
    wait_create(&d, &b, "through b");
}

#[test]
fn a_key_made_through_the_follower_is_owned_and_audited_as_its_client() {
    let d = Deployment::new();
    let (a, b, _r) = three_nodes(&d);
    wait_create(&d, &a, "up");
    let uid = wait_create(&d, &b, "made through b");

    // Owned by client "app": it reads the key on both zones, client "other" on neither.
    for node in [&a, &b] {
        let mut app = d.wait_client(node);
        outcome(&app.send(&on_uid(operation::GET, &uid))).expect("the creator gets its key");
        let mut other = d.other_client(node);
        let refused = outcome(&other.send(&on_uid(operation::GET, &uid))).unwrap_err();
        // Another client's object is answered as if it did not exist.
        assert!(
            refused.contains("no object has Unique Identifier"),
            "zone {}: {refused}",
            node.name
        );
    }

    // The sequencer's audit log names the client (and the follower it came through), not the node.
    let log =
        std::fs::read_to_string(d.dir().join("data-a").join("audit").join("audit.log")).unwrap();
    let line: serde_json::Value = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|l| {
            l["operation"] == "Create"
                && l["objects"]
                    .as_array()
                    .is_some_and(|o| o.iter().any(|u| u == uid.as_str()))
        })
        .expect("an audit line on the sequencer names the key");
    assert_eq!(line["identity"], "app", "{line}");
    assert_eq!(line["operation"], "Create", "{line}");
    assert_eq!(line["status"], "success", "{line}");
    let source = line["source"].as_str().unwrap();
    assert!(source.starts_with("node b for 127.0.0.1:"), "{line}");
    // The follower records its client as well.
    let log =
        std::fs::read_to_string(d.dir().join("data-b").join("audit").join("audit.log")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains(&uid) && l.contains("\"identity\":\"app\"")),
        "{log}"
    );
}

#[test]
fn a_follower_started_with_another_nodes_certificate_is_not_taken_for_zone_b() {
    let d = Deployment::new();
    let b_node: SocketAddr = format!("127.0.0.1:{}", tls::free_port()).parse().unwrap();
    let mut a = d.node("a", "sequencer", &[("b", b_node)], &[("r", free_addr())]);
    let b_kmip: SocketAddr = format!("127.0.0.1:{}", tls::free_port()).parse().unwrap();
    let mut b = d.node_at("b", "follower", b_kmip, b_node, &[("a", a.node)], &[]);
    // Node b's configuration points at the remote's certificate: a valid node certificate, of node r.
    let right = std::fs::read_to_string(&b.config).unwrap();
    std::fs::write(&b.config, right.replace("node-b.", "node-r.")).unwrap();
    b.start();
    a.start();
    let mut via_a = d.wait_client(&a);
    wait_until(
        WAIT,
        "zone a reports zone b down: the node at b is not zone b",
        || {
            let Some(status) = a.try_status() else {
                return false;
            };
            status["zones"].as_array().unwrap().iter().any(|z| {
                z["name"] == "b"
                    && z["up"] == false
                    && z["reason"].as_str().is_some_and(|r| {
                        r.contains("does not name b.node.kmipd (it names r.node.kmipd)")
                    })
            })
        },
    );
    let refused = create(&mut via_a, "refused").unwrap_err();
    assert!(refused.contains("changes are refused"), "{refused}");
    // Nor may it forward its clients' changes to the sequencer as zone b (once it has seen it is current:
    // until then it refuses them itself).
    let mut via_b = d.wait_client(&b);
    wait_until(WAIT, "the sequencer refuses b's commits", || {
        let refused = create(&mut via_b, "refused too").unwrap_err();
        refused.contains("node r may not send changes to commit")
    });

    // With a certificate of its own (issued as an operator would) it is zone b again, and changes go through
    // on both nodes.
    b.kill();
    let issued = Command::new(env!("CARGO_BIN_EXE_kmipd"))
        .args(["cert", "issue-node", "--zone", "b", "--dns", "localhost"])
        .args(["--ip", "127.0.0.1", "--ca-cert"])
        .arg(d.dir().join("node-ca.pem"))
        .arg("--ca-key")
        .arg(d.dir().join("node-ca.key"))
        .arg("--out")
        .arg(d.dir().join("issued"))
        .output()
        .unwrap();
    assert!(
        issued.status.success(),
        "{}",
        String::from_utf8_lossy(&issued.stderr)
    );
    std::fs::write(&b.config, right.replace("node-b.", "issued/node-b.")).unwrap();
    b.start();
    wait_create(&d, &a, "accepted");
    wait_create(&d, &b, "accepted too");
}

fn free_addr() -> SocketAddr {
    format!("127.0.0.1:{}", tls::free_port()).parse().unwrap()
}

#[test]
fn the_sequencer_prunes_only_what_the_remote_holds_and_a_lagging_remote_catches_up_from_the_log() {
    let d = Deployment::new();
    // The sequencer prunes every 100 ms whatever every copy holds, keeping only the last change; a remote whose
    // oldest missing change is a second old raises the lag alarm.
    let (a, b, mut r) = three_nodes_with(
        &d,
        "remote_lag_alarm = \"1s\"\n[zones]\nchange_log_retention = \"0s\"\nchange_log_keep = 1\nprune_interval = \"100ms\"\n",
    );
    let mut client = d.wait_client(&a);
    let mut acked = vec![wait_create(&d, &a, "warm")];
    acked.extend((0..9).map(|i| create(&mut client, &format!("first-{i}")).unwrap()));
    let remote_level = |a: &NodeProc| {
        let s = a.status();
        s["remotes"][0]["lag_changes"] == 0 && s["remotes"][0]["reachable"] == true
    };
    wait_until(WAIT, "the remote holds everything", || remote_level(&a));
    assert_eq!(a.status()["remotes"][0]["lag_alarm"], false);
    let first_retained = || a.status()["first_retained_seq"].as_u64().unwrap_or(0);
    // Pruned up to what the remote holds (no change is in flight: the sequencer knows what it holds).
    let remote_held = r.status()["last_seq"].as_u64().unwrap();
    wait_until(
        WAIT,
        "the log is pruned up to what the remote holds",
        || first_retained() == remote_held,
    );

    // The remote is down while changes go on: the log keeps everything it lacks.
    r.kill();
    assert_eq!(d.zone("r").last_seq().unwrap(), remote_held);
    acked.extend((0..10).map(|i| create(&mut client, &format!("second-{i}")).unwrap()));
    // Several pruning passes run after those changes (instead of a sleep that hoped they would).
    let passes = || a.status()["prune_passes"].as_u64().unwrap_or(0);
    let before = passes();
    wait_until(WAIT, "three more pruning passes", || passes() >= before + 3);
    assert_eq!(
        first_retained(),
        remote_held,
        "pruned what the remote lacks"
    );
    // Unreachable, its lag grows from what it last held, and past a second the alarm is raised.
    wait_until(WAIT, "the lag alarm is raised", || {
        let s = a.status();
        s["remotes"][0]["lag_alarm"] == true
            && s["remotes"][0]["lag_changes"].as_u64() >= Some(10)
            && s["remotes"][0]["lag_seconds"].as_f64() > Some(1.0)
    });
    // It returns and catches up from the log; then pruning moves on, and the alarm is cleared.
    r.start();
    wait_until(WAIT, "the remote catches up", || remote_level(&a));
    wait_until(WAIT, "the lag alarm is cleared", || {
        a.status()["remotes"][0]["lag_alarm"] == false
    });
    // The remote refuses KMIP reads: its file is read once it stopped.
    r.kill();
    let remote = d.zone("r");
    for uid in &acked {
        assert!(
            remote.exists(uid).unwrap(),
            "remote lacks acknowledged {uid}"
        );
    }
    drop(remote);
    r.start();
    wait_until(WAIT, "the remote is back", || remote_level(&a));
    wait_until(WAIT, "pruning moves on", || first_retained() > remote_held);
    assert_zones_hold(&d, &[&a, &b], &acked);

    // A remote that lost its copy needs changes no log holds any more: it is refused, never skipped ahead.
    r.kill();
    std::fs::remove_dir_all(d.zone_dir("r")).unwrap();
    r.start();
    wait_until(WAIT, "the empty remote is refused", || {
        let s = a.status();
        s["remotes"][0]["error"].as_str().is_some_and(|e| {
            e.contains("remote r holds changes up to 0") && e.contains("re-seeded")
        })
    });
    assert_eq!(r.status()["last_seq"].as_u64(), Some(0));
    assert!(create(&mut client, "still-served").is_ok());
    drop((a, b, r));
}

/// A follower that lost the answer to a forwarded commit sends the same message again (NodeLink does, once, on
/// a broken or timed-out exchange). The sequencer applies a request id once and answers the repeat with the
/// first sequence number; the same change under a new id is refused by the compare-and-set (the object exists
/// now), so a retried create or destroy is never applied twice.
#[test]
fn a_forwarded_commit_sent_again_is_applied_once_and_answered_alike() {
    use kmipd::replication::origin::Origin;
    use kmipd::store::{Mutation, ObjectRecord};

    let d = Deployment::new();
    let (a, _b, _r) = three_nodes(&d);
    wait_create(&d, &a, "up");
    let as_b = d.link("node-b", "a", a.node);
    let commit = |request_id: [u8; 16]| Message::Commit {
        request_id,
        origin: Origin::default(),
        mutations: vec![Mutation::Put(ObjectRecord::new("forwarded-twice", 2, 1))],
    };
    let seq = |answer: Message| match answer {
        Message::Seq { held, .. } => held,
        other => panic!("not a sequence number: {other:?}"),
    };
    let first = seq(as_b.call(&commit([0x5a; 16])).unwrap());
    let (held, _) = as_b.seqs().unwrap();
    assert_eq!(held, first);
    // The same request id again: answered with the first outcome, nothing committed.
    assert_eq!(seq(as_b.call(&commit([0x5a; 16])).unwrap()), first);
    assert_eq!(as_b.seqs().unwrap().0, held);
    // The same change as a new request: refused, since it was based on the object not existing; the follower
    // gets the refusal as a conflict (its operation may read again), not as an opaque failure.
    let refused = as_b.call(&commit([0x5b; 16])).unwrap_err();
    assert!(refused.is_version_conflict(), "{refused}");
    assert!(refused.to_string().contains("changed by another request"));
    assert_eq!(as_b.seqs().unwrap().0, held);
}

/// Issue 11, finding 4: a remote copy whose history differs from the sequencer's (here: a change written into
/// its file that the sequencer never made, as an unacknowledged tail of a zone a since rebuilt would be) is
/// refused on the next shipment by the hash chain over the log, never merged: it keeps what it held, and the
/// sequencer's status names the refusal as the remote's error.
#[test]
fn a_remote_whose_history_differs_is_refused_by_the_hash_chain() {
    let d = Deployment::new();
    let (a, _b, mut r) = three_nodes(&d);
    wait_create(&d, &a, "first");
    wait_until(WAIT, "the remote catches up", || {
        let s = a.status();
        s["remotes"][0]["lag_changes"] == 0 && s["remotes"][0]["reachable"] == true
    });
    r.kill();
    // A change of its own in the remote's file, at the sequence number the sequencer will use next.
    let forged = {
        let store = d.zone("r");
        store
            .commit(vec![kmipd::store::Mutation::Put(
                kmipd::store::ObjectRecord::new("never-made", 2, 1),
            )])
            .unwrap()
    };
    r.start();
    let made = wait_create(&d, &a, "second");
    wait_until(WAIT, "the sequencer reports the remote's refusal", || {
        a.status()["remotes"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("hash chain"))
    });
    r.kill();
    let remote = d.zone("r");
    assert_eq!(remote.last_seq().unwrap(), forged, "nothing was merged");
    assert!(remote.get(&made).unwrap().is_none());
}

/// The body of `GET /metrics` from a node's metrics endpoint.
fn scrape(address: SocketAddr) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    answer
}

#[test]
fn the_sequencers_metrics_show_both_zones_and_the_remote_copy() {
    let d = Deployment::new();
    let metrics = free_addr();
    let (a, _b, _r) = three_nodes_with(&d, &format!("\n[metrics]\nlisten = \"{metrics}\"\n"));
    wait_create(&d, &a, "counted");
    let value = |text: &str, series: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|v| v.parse::<f64>().ok())
    };
    wait_until(WAIT, "the remote is counted as caught up", || {
        let text = scrape(metrics);
        let held = value(&text, "kmipd_remote_last_sequence{zone=\"r\"}");
        held.is_some_and(|h| h >= 1.0)
            && held == value(&text, "kmipd_zone_last_sequence{zone=\"a\"}")
            && value(&text, "kmipd_remote_reachable{zone=\"r\"}") == Some(1.0)
            && value(&text, "kmipd_remote_lag_changes{zone=\"r\"}") == Some(0.0)
            && value(&text, "kmipd_remote_lag_seconds{zone=\"r\"}") == Some(0.0)
    });
    let text = scrape(metrics);
    for zone in ["a", "b"] {
        assert!(
            text.contains(&format!("kmipd_zone_up{{zone=\"{zone}\"}} 1\n")),
            "{text}"
        );
    }
    assert!(
        text.contains("kmipd_requests_total{operation=\"Create\",result=\"success\"}"),
        "{text}"
    );
}
