//! Zones as separate `kmipd serve` processes. Node-to-node traffic runs on its own port over mutual TLS with
//! node certificates (a CA of their own): the sequencer node (zone a) commits every change in its zone and
//! ships it to the follower node (zone b), which applies it durably before the sequencer answers; a follower
//! node sends the changes its clients ask for to the sequencer instead of making them itself; a remote-region
//! node receives the stream asynchronously and reports its lag. Blocking I/O on a few threads: node links are
//! few and long-lived.
//!
//! Chaining to the node CA is not enough to be a node: every node certificate carries its node's name,
//! `<zone>.node.kmipd`, as a DNS subject alternative name ([`node_name`]). A link checks that the node it
//! reached presents the certificate of the zone it meant to reach; the node port identifies every connecting
//! peer by that name, refuses a certificate naming no configured node (a KMIP client certificate never names
//! one, even from the same CA), and lets each peer send only what its role sends ([`NodePeers`]).
//!
//! Rooms: [`peers`] (who may be a node, node TLS), [`link`] (the connection to one peer node), [`remote`]
//! (shipping to the remote region), [`status`] (what `kmipd status` prints); this file starts a node and
//! serves its port.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rustls::{ServerConnection, StreamOwned};
use serde::{Deserialize, Serialize};

use super::commit_ids::RecentCommits;
use super::origin::Origin;
use super::wire::{self, Message};
use super::zones::ZonedStore;
use crate::store::{Mutation, StoreError};

mod link;
mod peers;
mod remote;
mod status;
#[cfg(test)]
mod tests;

pub use crate::mtls::{NODE_NAME_SUFFIX, node_name, valid_zone_name};
use link::NODE_IDLE_LIMIT;
#[cfg(test)]
use link::change_bytes;
pub use link::{
    DEFAULT_BATCH_MAX_BYTES, NodeLimits, NodeLink, RefuseChanges, batch_len, restore_from_remote,
};
use peers::certified_zones;
pub use peers::{NodeAccessError, NodePeers, NodeTls};
pub use remote::{RemoteShipper, RemoteStatus};
pub use status::{NodeStatus, ZoneReport};

/// What this node is (`[node] role` in the configuration: "sequencer", "follower" or "remote").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    /// Orders every change and ships it to the zone follower (and the remote region).
    Sequencer,
    /// The other zone: applies what the sequencer ships; sends its clients' changes to the sequencer.
    Follower,
    /// The remote region: receives the stream asynchronously.
    Remote,
}

/// A running node: its node-port listener and shippers; stops its threads when dropped.
pub struct Node {
    /// The zones this node commits through.
    pub store: Arc<ZonedStore>,
    role: NodeRole,
    zone: String,
    remotes: Vec<Arc<RemoteShipper>>,
    /// The peer a follower forwards to (its sequencer), for status.
    sequencer: Option<Arc<NodeLink>>,
    /// Who may connect and send what.
    peers: NodePeers,
    /// Where forwarded changes are recorded under their client's identity.
    audit: Option<Arc<dyn ForwardedAudit>>,
    /// The outcomes of the latest forwarded commits, by request id (sequencer).
    recent_commits: RecentCommits,
    /// Most bytes of changes in one `ChangesSince` answer.
    batch_max_bytes: usize,
    stop: Arc<AtomicBool>,
    /// The node port actually bound.
    pub address: SocketAddr,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_millis(200));
    }
}

/// What a node is started with.
pub struct NodeSetup {
    /// Its role.
    pub role: NodeRole,
    /// Its zone name.
    pub zone: String,
    /// The node port.
    pub listen: SocketAddr,
    /// TLS material.
    pub tls: NodeTls,
    /// Limits.
    pub limits: NodeLimits,
    /// For a follower: the link to the sequencer.
    pub sequencer: Option<Arc<NodeLink>>,
    /// For the sequencer: remote-region links.
    pub remotes: Vec<Arc<NodeLink>>,
    /// How often remotes are shipped to and a follower checks it is current.
    pub interval: Duration,
    /// Sequencer: the age of a remote's oldest missing change past which its lag alarm is raised.
    pub remote_lag_alarm: Duration,
    /// The nodes that may connect to the node port, by zone, and what each may send.
    pub peers: NodePeers,
    /// The audit log forwarded changes are recorded in (the engine's); None: not recorded.
    pub audit: Option<Arc<dyn ForwardedAudit>>,
}

impl Node {
    /// Binds the node port and starts serving peers, shipping to remotes (sequencer) and checking currency
    /// against the sequencer (follower).
    pub fn start(setup: NodeSetup, store: Arc<ZonedStore>) -> std::io::Result<Arc<Node>> {
        let listener = TcpListener::bind(setup.listen)?;
        let address = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        match setup.role {
            NodeRole::Follower => {
                if store.local_last_seq().unwrap_or(0) == 0 {
                    store.refuse_reads(Some(
                        "this node's zone is empty and has not caught up with the sequencer yet"
                            .into(),
                    ));
                }
                if let Some(link) = &setup.sequencer {
                    store.forward_changes_to(link.clone());
                    start_currency_check(link.clone(), store.clone(), setup.interval, stop.clone());
                }
            }
            NodeRole::Remote => {
                store.forward_changes_to(Arc::new(RefuseChanges(setup.zone.clone())));
                store.refuse_reads(Some(
                    "this is the remote-region copy, possibly behind: it is not served as current"
                        .into(),
                ));
            }
            NodeRole::Sequencer => {}
        }
        let remotes = if setup.role == NodeRole::Sequencer {
            setup
                .remotes
                .iter()
                .map(|l| {
                    RemoteShipper::start(
                        l.clone(),
                        store.clone(),
                        setup.interval,
                        setup.remote_lag_alarm,
                        stop.clone(),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        let node = Arc::new(Node {
            store,
            role: setup.role,
            zone: setup.zone,
            remotes,
            sequencer: setup.sequencer,
            peers: setup.peers,
            audit: setup.audit,
            recent_commits: RecentCommits::new(
                setup.limits.remembered_commits,
                setup.limits.timeout,
            ),
            batch_max_bytes: setup.limits.batch_max_bytes,
            stop: stop.clone(),
            address,
        });
        let weak = Arc::downgrade(&node);
        let tls = setup.tls.server.clone();
        let limits = setup.limits;
        std::thread::Builder::new()
            .name("kmipd-node".into())
            .spawn(move || accept_loop(listener, tls, limits, weak, stop))?;
        tracing::info!(%address, role = ?node.role, zone = %node.zone, "node port listening");
        Ok(node)
    }

    /// This node's status document.
    /// Answers one message from the node of zone `from` (identified by its certificate).
    fn answer(&self, message: Message, from: &str) -> Message {
        if let Err(e) = self.peers.allow(from, &message) {
            tracing::warn!(peer = %from, error = %e, "node message refused");
            return Message::Error {
                zone: String::new(),
                message: e.to_string(),
            };
        }
        let result = match message {
            Message::LastSeq => self.store.local_last_seq().map(|held| Message::Seq {
                held,
                acked: self.store.acked_seq(),
            }),
            Message::ChangesSince { after, max } => self
                .store
                .local_changes_since(after, usize::try_from(max).unwrap_or(usize::MAX))
                .map(|mut changes| {
                    changes.truncate(batch_len(&changes, usize::MAX, self.batch_max_bytes));
                    Message::Changes(changes)
                }),
            Message::Apply(changes) => {
                if self.role == NodeRole::Sequencer {
                    Err(StoreError::Internal(
                        "the sequencer takes no shipped changes",
                    ))
                } else {
                    self.store
                        .apply_shipped(&changes)
                        .map(|held| Message::Seq { held, acked: 0 })
                }
            }
            Message::Commit {
                request_id,
                origin,
                mutations,
            } => {
                let started = Instant::now();
                let objects = changed_objects(&mutations);
                let mut first = false;
                let committed = self.recent_commits.run_once(request_id, || {
                    first = true;
                    self.store.commit(mutations)
                });
                // A repeat (the follower sent it again) is not a second change: audited once.
                if first {
                    self.audit_forwarded(from, origin, objects, &committed, started);
                }
                committed.map(|held| Message::Seq {
                    held,
                    acked: self.store.acked_seq(),
                })
            }
            Message::Status => serde_json::to_string(&self.status())
                .map(Message::Text)
                .map_err(|_| StoreError::Internal("status does not serialise")),
            _ => Err(StoreError::Internal("not a request")),
        };
        result.unwrap_or_else(|e| match e {
            StoreError::ZoneUnavailable { zone, reason } => Message::Error {
                zone,
                message: reason,
            },
            StoreError::VersionConflict {
                uid,
                expected,
                found,
            } => Message::Conflict {
                uid,
                expected,
                found,
            },
            other => Message::Error {
                zone: String::new(),
                message: other.to_string(),
            },
        })
    }
}

impl Node {
    /// The sequencer's audit line of a change a follower node forwarded: the client's identity and address
    /// (as the follower authenticated them), the follower's zone in the source, the client's operation.
    fn audit_forwarded(
        &self,
        from: &str,
        origin: Origin,
        objects: Vec<String>,
        committed: &Result<u64, StoreError>,
        started: Instant,
    ) {
        let Some(log) = &self.audit else {
            return;
        };
        let identity = if origin.identity.is_empty() {
            format!("node {from}")
        } else {
            origin.identity
        };
        log.forwarded(ForwardedChange {
            identity,
            source: format!("node {from} for {}", origin.source),
            operation: if origin.operation.is_empty() {
                "(forwarded change)".to_string()
            } else {
                origin.operation
            },
            objects,
            refused: committed
                .as_ref()
                .err()
                .map(|e| e.to_kmip().reason.name().to_string()),
            duration: started.elapsed(),
        });
    }
}

/// A change a follower forwarded, as the sequencer's audit log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedChange {
    /// The client's identity as the follower authenticated it (`node ZONE` when no client asked).
    pub identity: String,
    /// The follower's zone and the client's address.
    pub source: String,
    /// The client's operation.
    pub operation: String,
    /// The objects the change writes.
    pub objects: Vec<String>,
    /// The Result Reason when the sequencer refused the change; None when it committed.
    pub refused: Option<String>,
    /// Time the sequencer spent on it.
    pub duration: Duration,
}

/// Where the sequencer records the changes its followers forward: the engine's audit log, which lives in a
/// layer above replication and is handed in as this seam.
pub trait ForwardedAudit: Send + Sync {
    /// Records one forwarded change; a failure to record is the implementation's to report.
    fn forwarded(&self, change: ForwardedChange);
}

/// The objects a forwarded change writes, for its audit line (grant keys are not objects).
fn changed_objects(mutations: &[Mutation]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in mutations {
        let uid = match m {
            Mutation::Put(o) => &o.uid,
            Mutation::Delete { uid, .. } => uid,
            Mutation::SetAccess { .. } | Mutation::ClearAccess { .. } => continue,
        };
        if !out.contains(uid) {
            out.push(uid.clone());
        }
    }
    out
}

/// A follower refuses reads while it holds less than the sequencer acknowledged (e.g. it lost its file);
/// while the sequencer is unreachable it keeps its last verdict (every acknowledged change reached it, since
/// the sequencer acknowledges nothing this zone has not applied).
fn start_currency_check(
    link: Arc<NodeLink>,
    store: Arc<ZonedStore>,
    interval: Duration,
    stop: Arc<AtomicBool>,
) {
    let check = move || {
        if let Ok((_, acked)) = link.seqs()
            && let Ok(held) = store.local_last_seq()
        {
            if held >= acked {
                store.refuse_reads(None);
            } else {
                store.refuse_reads(Some(format!(
                    "this zone holds sequence {held} but zone {} acknowledged {acked}; catching up",
                    link.zone()
                )));
            }
        }
    };
    let spawned = std::thread::Builder::new()
        .name("kmipd-currency".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                check();
                std::thread::sleep(interval);
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the follower currency check");
    }
}

fn accept_loop(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    limits: NodeLimits,
    node: std::sync::Weak<Node>,
    stop: Arc<AtomicBool>,
) {
    let open = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Ok(tcp) = stream else { continue };
        if open.load(Ordering::SeqCst) >= limits.max_connections {
            tracing::warn!("node connection refused: too many open");
            continue;
        }
        let node = node.clone();
        let tls = tls.clone();
        let open = open.clone();
        open.fetch_add(1, Ordering::SeqCst);
        let spawned = std::thread::Builder::new()
            .name("kmipd-node-conn".into())
            .spawn(move || {
                if let Err(e) = serve_peer(tcp, tls, limits, &node) {
                    tracing::debug!(error = %e, "node connection ended");
                }
                open.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot serve a node connection");
        }
    }
}

fn serve_peer(
    tcp: TcpStream,
    tls: Arc<rustls::ServerConfig>,
    limits: NodeLimits,
    node: &std::sync::Weak<Node>,
) -> std::io::Result<()> {
    let mut tcp = tcp;
    tcp.set_nodelay(true)?;
    tcp.set_write_timeout(Some(limits.timeout))?;
    // A peer may stay idle between changes for a while, not forever. (The handshake gets as long: a loaded
    // peer can be slow to finish it, and the peer's own timeout is what bounds its wait.)
    tcp.set_read_timeout(Some(NODE_IDLE_LIMIT))?;
    let mut conn = ServerConnection::new(tls).map_err(std::io::Error::other)?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)?;
    }
    let Some(me) = node.upgrade() else {
        return Ok(());
    };
    let identified = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or(NodeAccessError::NoCertificate)
        .and_then(|der| me.peers.identify(der));
    let own_zone = me.zone.clone();
    drop(me);
    let mut stream = StreamOwned::new(conn, tcp);
    let from = match identified {
        Ok(zone) => zone,
        Err(e) => {
            tracing::warn!(peer = ?stream.sock.peer_addr().ok(), error = %e, "node connection refused");
            // Said once, as the answer to whatever the peer sends first (read, briefly, so that closing does
            // not reset the connection before the peer reads the answer); then the connection is closed.
            let frame = Message::Error {
                zone: own_zone,
                message: e.to_string(),
            }
            .encode();
            stream.write_all(&frame).and_then(|()| stream.flush())?;
            stream.sock.set_read_timeout(Some(limits.timeout))?;
            let _ = wire::read_frame(&mut stream, limits.max_frame_bytes).map(wire::wipe);
            return Err(std::io::Error::new(std::io::ErrorKind::PermissionDenied, e));
        }
    };
    let started = Instant::now();
    loop {
        let body = wire::read_frame(&mut stream, limits.max_frame_bytes)?;
        let message = Message::decode(&body);
        wire::wipe(body);
        let Some(node) = node.upgrade() else {
            return Ok(());
        };
        let answer = match message {
            Ok(m) => node.answer(m, &from),
            Err(e) => Message::Error {
                zone: String::new(),
                message: e.to_string(),
            },
        };
        let frame = answer.encode();
        let written = stream.write_all(&frame).and_then(|()| stream.flush());
        wire::wipe(frame);
        written?;
        if node.stop.load(Ordering::Relaxed) {
            tracing::debug!(open_for = ?started.elapsed(), "node connection closed at stop");
            return Ok(());
        }
    }
}
