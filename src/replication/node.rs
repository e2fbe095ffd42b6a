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

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConnection, ServerConnection, StreamOwned};
use serde::{Deserialize, Serialize};

use super::commit_ids::RecentCommits;
use super::origin::Origin;
use super::wire::{self, Message};
use super::zones::{Forwarder, Replica, ZonedStore, age_of};
use crate::mtls::{
    CrlFile, TlsError, build_server_tls_config_with_crl, provider, read_certificates,
    read_private_key,
};
use crate::store::{ChangeRecord, Mutation, Store, StoreError};

pub use crate::mtls::{NODE_NAME_SUFFIX, node_name, valid_zone_name};

/// The zones whose node names certificate `der` carries (lower case).
fn certified_zones(der: &[u8]) -> Result<Vec<String>, String> {
    use x509_parser::extensions::GeneralName;
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| format!("unreadable peer certificate: {e}"))?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| format!("malformed subject alternative names: {e}"))?;
    Ok(san
        .map(|s| s.value.general_names.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(dns) => {
                let dns = dns.to_ascii_lowercase();
                dns.strip_suffix(NODE_NAME_SUFFIX).map(str::to_string)
            }
            _ => None,
        })
        .collect())
}

/// Why a connection on the node port, or a message on it, is refused.
#[derive(Debug, thiserror::Error)]
pub enum NodeAccessError {
    /// The peer presented no certificate.
    #[error("node port: the peer presented no certificate")]
    NoCertificate,
    /// The certificate cannot be read.
    #[error("node port: {0}")]
    Certificate(String),
    /// The certificate names no node this node knows (e.g. a KMIP client certificate).
    #[error(
        "node port: the certificate names no node of this deployment (expected a DNS name <zone>{NODE_NAME_SUFFIX} of one of: {known})"
    )]
    NotANode {
        /// The zones this node accepts.
        known: String,
    },
    /// The certificate names several known nodes: it cannot say which one connected.
    #[error("node port: the certificate names several nodes ({0}); a node certificate names one")]
    SeveralNodes(String),
    /// A known node sent what its role never sends.
    #[error("node {zone} may not send {what} to this node")]
    NotAllowed {
        /// The peer's zone.
        zone: String,
        /// The message.
        what: &'static str,
    },
}

/// Which nodes may connect to this node's port and what each may send, by the zone its certificate names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodePeers {
    /// This node's own zone (its own `kmipd status` connects with its certificate).
    pub own: String,
    /// The zone whose shipped changes this node applies: a follower's or remote's sequencer.
    pub sequencer: Option<String>,
    /// Zones that forward their clients' changes here: a sequencer's followers.
    pub followers: Vec<String>,
    /// Zones that only read sequence numbers and changes here: a sequencer's remote-region nodes.
    pub readers: Vec<String>,
}

impl NodePeers {
    fn known(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.own)
            .chain(&self.sequencer)
            .chain(&self.followers)
            .chain(&self.readers)
    }

    /// The zone of the node presenting certificate `der`: it must name exactly one known node.
    pub fn identify(&self, der: &[u8]) -> Result<String, NodeAccessError> {
        let named = certified_zones(der).map_err(NodeAccessError::Certificate)?;
        let mut matched: Vec<&String> = self
            .known()
            .filter(|zone| named.iter().any(|n| n.eq_ignore_ascii_case(zone)))
            .collect();
        matched.sort();
        matched.dedup();
        match matched.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(NodeAccessError::NotANode {
                known: self
                    .known()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
            several => Err(NodeAccessError::SeveralNodes(
                several
                    .iter()
                    .map(|z| z.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            )),
        }
    }

    /// Whether `zone` may send `message`: shipped changes only from the sequencer, forwarded commits only
    /// from a follower; reads and status from any known node.
    fn allow(&self, zone: &str, message: &Message) -> Result<(), NodeAccessError> {
        let refuse = |what| {
            Err(NodeAccessError::NotAllowed {
                zone: zone.to_string(),
                what,
            })
        };
        match message {
            Message::Apply(_) if self.sequencer.as_deref() != Some(zone) => {
                refuse("shipped changes (only its sequencer does)")
            }
            Message::Commit { .. } if !self.followers.iter().any(|f| f == zone) => {
                refuse("changes to commit (only a follower zone does)")
            }
            _ => Ok(()),
        }
    }
}

/// The TLS material of a node: its certificate (used both to serve and to connect) and the CA that issued
/// every node certificate.
#[derive(Clone)]
pub struct NodeTls {
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
}

impl NodeTls {
    /// Reads the node certificate chain, its key and the node CA bundle (PEM files).
    pub fn load(chain: &Path, key: &Path, ca: &Path) -> Result<NodeTls, TlsError> {
        NodeTls::load_with_crl(chain, key, ca, None)
    }

    /// [`NodeTls::load`] refusing peer node certificates that the CRL file `crl` lists (read again when it
    /// changes).
    pub fn load_with_crl(
        chain: &Path,
        key: &Path,
        ca: &Path,
        crl: Option<&Path>,
    ) -> Result<NodeTls, TlsError> {
        let chain = read_certificates(chain, "node certificate chain")?;
        let key = read_private_key(key)?;
        let cas = read_certificates(ca, "node CA bundle")?;
        let crl = crl.map(CrlFile::open).transpose()?;
        NodeTls::from_parts_with_crl(chain, key, &cas, ca, crl)
    }

    /// Builds both configurations from parsed material.
    pub fn from_parts(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        cas: &[CertificateDer<'static>],
        ca_origin: &Path,
    ) -> Result<NodeTls, TlsError> {
        NodeTls::from_parts_with_crl(chain, key, cas, ca_origin, None)
    }

    /// [`NodeTls::from_parts`] with a CRL file for the peers' certificates.
    pub fn from_parts_with_crl(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        cas: &[CertificateDer<'static>],
        ca_origin: &Path,
        crl: Option<CrlFile>,
    ) -> Result<NodeTls, TlsError> {
        let server =
            build_server_tls_config_with_crl(chain.clone(), key.clone_key(), cas, ca_origin, crl)?;
        let mut roots = rustls::RootCertStore::empty();
        for ca in cas {
            roots
                .add(ca.clone())
                .map_err(|source| TlsError::BadTrustAnchor {
                    path: ca_origin.to_owned(),
                    source,
                })?;
        }
        let client = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)?;
        Ok(NodeTls {
            server,
            client: Arc::new(client),
        })
    }
}

/// Limits of node-to-node traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLimits {
    /// Longest wait for a peer's answer (and for connecting); past it the peer counts as unreachable.
    pub timeout: Duration,
    /// Largest node message accepted.
    pub max_frame_bytes: usize,
    /// Most node connections served at once.
    pub max_connections: usize,
    /// Most changes per shipped batch.
    pub batch_max: u32,
    /// Most bytes of changes per shipped batch (and per `ChangesSince` answer): large objects must not make a
    /// batch outgrow `max_frame_bytes` and stall catch-up. A single larger change still travels alone.
    pub batch_max_bytes: usize,
    /// How many forwarded commits' outcomes the sequencer remembers by request id, so that a follower's
    /// repeat of one is answered instead of committed again ([`super::commit_ids`]).
    pub remembered_commits: usize,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            timeout: Duration::from_secs(2),
            max_frame_bytes: 64 << 20,
            max_connections: 64,
            batch_max: 1_000,
            batch_max_bytes: DEFAULT_BATCH_MAX_BYTES,
            remembered_commits: super::commit_ids::DEFAULT_REMEMBERED_COMMITS,
        }
    }
}

/// Default of [`NodeLimits::batch_max_bytes`]: a quarter of the default frame limit.
pub const DEFAULT_BATCH_MAX_BYTES: usize = 16 << 20;

/// Bytes a change takes in a node message (its fixed fields and lengths, its uid, payload and chain link).
fn change_bytes(change: &ChangeRecord) -> usize {
    8 + 8
        + 1
        + 4
        + change.uid.len()
        + 4
        + change.payload.len()
        + 1
        + change.hash.map_or(0, |h| h.len())
}

/// How many of `changes`, from the first, fit in one batch of at most `max_count` changes and `max_bytes`
/// bytes; at least one (a change larger than the budget travels alone) when there is any.
pub fn batch_len(changes: &[ChangeRecord], max_count: usize, max_bytes: usize) -> usize {
    let mut bytes = 0usize;
    let mut n = 0;
    for change in changes.iter().take(max_count.max(1)) {
        bytes = bytes.saturating_add(change_bytes(change));
        if n > 0 && bytes > max_bytes {
            break;
        }
        n += 1;
    }
    n
}

type ClientStream = StreamOwned<ClientConnection, TcpStream>;

/// How long a node connection may sit idle before the serving side closes it (the client reconnects).
const NODE_IDLE_LIMIT: Duration = Duration::from_secs(300);

/// A connection pool to one peer node; a failed exchange drops its connection and names the peer's zone.
pub struct NodeLink {
    zone: String,
    address: String,
    server_name: ServerName<'static>,
    tls: Arc<rustls::ClientConfig>,
    limits: NodeLimits,
    idle: Mutex<Vec<ClientStream>>,
}

impl NodeLink {
    /// A link to zone `zone` at `address` (host:port), whose certificate must name `server_name`.
    pub fn new(
        zone: &str,
        address: &str,
        server_name: &str,
        tls: &NodeTls,
        limits: NodeLimits,
    ) -> Result<NodeLink, StoreError> {
        let server_name = ServerName::try_from(server_name.to_string()).map_err(|_| {
            StoreError::ZoneUnavailable {
                zone: zone.to_string(),
                reason: format!("`{server_name}` is not a valid server name"),
            }
        })?;
        Ok(NodeLink {
            zone: zone.to_string(),
            address: address.to_string(),
            server_name,
            tls: tls.client.clone(),
            limits,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The peer's zone name.
    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// The peer's address.
    pub fn address(&self) -> &str {
        &self.address
    }

    fn unreachable(&self, what: impl std::fmt::Display) -> StoreError {
        StoreError::ZoneUnavailable {
            zone: self.zone.clone(),
            reason: format!("node {}: {what}", self.address),
        }
    }

    fn connect(&self) -> Result<ClientStream, StoreError> {
        let addr: SocketAddr = self
            .address
            .to_socket_addrs()
            .map_err(|e| self.unreachable(e))?
            .next()
            .ok_or_else(|| self.unreachable("address resolves to nothing"))?;
        let tcp = TcpStream::connect_timeout(&addr, self.limits.timeout)
            .map_err(|e| self.unreachable(e))?;
        tcp.set_read_timeout(Some(self.limits.timeout))
            .and_then(|()| tcp.set_write_timeout(Some(self.limits.timeout)))
            .and_then(|()| tcp.set_nodelay(true))
            .map_err(|e| self.unreachable(e))?;
        let mut conn = ClientConnection::new(self.tls.clone(), self.server_name.clone())
            .map_err(|e| self.unreachable(e))?;
        let mut tcp = tcp;
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp)
                .map_err(|e| self.unreachable(e))?;
        }
        self.check_peer(&conn)?;
        Ok(StreamOwned::new(conn, tcp))
    }

    /// The node reached must present the certificate of the zone this link is for, not just any node's.
    fn check_peer(&self, conn: &ClientConnection) -> Result<(), StoreError> {
        let der = conn
            .peer_certificates()
            .and_then(|c| c.first())
            .ok_or_else(|| self.unreachable("presented no certificate"))?;
        let named = certified_zones(der).map_err(|e| self.unreachable(e))?;
        if named.iter().any(|z| z.eq_ignore_ascii_case(&self.zone)) {
            Ok(())
        } else {
            Err(self.unreachable(format!(
                "presents a certificate that does not name {} (it names {})",
                node_name(&self.zone),
                if named.is_empty() {
                    "no node".to_string()
                } else {
                    named
                        .iter()
                        .map(|z| node_name(z))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )))
        }
    }

    /// Sends one message and reads the answer; an Error answer comes back as the error it names.
    ///
    /// A pooled connection the peer closed meanwhile (restart, idle limit) is retried once on a fresh one;
    /// every message is idempotent (shipped changes are skipped when held; a commit is sent again with the same
    /// request id, which the sequencer applies once and answers with the first outcome).
    pub fn call(&self, message: &Message) -> Result<Message, StoreError> {
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        if let Some(stream) = pooled {
            match self.exchange(stream, message) {
                Ok(answer) => return self.answered(answer),
                Err(e) => {
                    tracing::debug!(zone = %self.zone, error = %e, "pooled node connection failed; reconnecting")
                }
            }
        }
        let stream = self.connect()?;
        let answer = self.exchange(stream, message)?;
        self.answered(answer)
    }

    fn answered(&self, answer: Message) -> Result<Message, StoreError> {
        match answer {
            Message::Error { zone, message } if !zone.is_empty() => {
                Err(StoreError::ZoneUnavailable {
                    zone,
                    reason: message,
                })
            }
            Message::Error { message, .. } => Err(StoreError::GroupCommit(message)),
            Message::Conflict {
                uid,
                expected,
                found,
            } => Err(StoreError::VersionConflict {
                uid,
                expected,
                found,
            }),
            other => Ok(other),
        }
    }

    /// One request and its answer on `stream`, which goes back to the pool after a complete exchange.
    fn exchange(&self, mut stream: ClientStream, message: &Message) -> Result<Message, StoreError> {
        let frame = message.encode();
        let exchange = stream
            .write_all(&frame)
            .and_then(|()| stream.flush())
            .and_then(|()| wire::read_frame(&mut stream, self.limits.max_frame_bytes));
        wire::wipe(frame);
        let body = exchange.map_err(|e| self.unreachable(e))?;
        let answer = Message::decode(&body);
        wire::wipe(body);
        let answer = answer.map_err(|e| self.unreachable(e))?;
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(stream);
        Ok(answer)
    }

    /// The peer's last sequence number and the highest it acknowledged.
    pub fn seqs(&self) -> Result<(u64, u64), StoreError> {
        match self.call(&Message::LastSeq)? {
            Message::Seq { held, acked } => Ok((held, acked)),
            _ => Err(self.unreachable("unexpected answer to LastSeq")),
        }
    }

    /// The peer's status document.
    pub fn status(&self) -> Result<String, StoreError> {
        match self.call(&Message::Status)? {
            Message::Text(t) => Ok(t),
            _ => Err(self.unreachable("unexpected answer to Status")),
        }
    }
}

impl Replica for NodeLink {
    fn last_seq(&self) -> Result<u64, StoreError> {
        self.seqs().map(|(held, _)| held)
    }

    fn changes_since(&self, after: u64, max: usize) -> Result<Vec<ChangeRecord>, StoreError> {
        let max = u32::try_from(max)
            .unwrap_or(u32::MAX)
            .min(self.limits.batch_max);
        match self.call(&Message::ChangesSince { after, max })? {
            Message::Changes(c) => Ok(c),
            _ => Err(self.unreachable("unexpected answer to ChangesSince")),
        }
    }

    fn apply_changes(&self, changes: &[ChangeRecord]) -> Result<usize, StoreError> {
        let max_count = usize::try_from(self.limits.batch_max).unwrap_or(usize::MAX);
        let mut applied = 0;
        let mut rest = changes;
        while !rest.is_empty() {
            let (chunk, tail) =
                rest.split_at(batch_len(rest, max_count, self.limits.batch_max_bytes));
            match self.call(&Message::Apply(chunk.to_vec()))? {
                Message::Seq { .. } => applied += chunk.len(),
                _ => return Err(self.unreachable("unexpected answer to Apply")),
            }
            rest = tail;
        }
        Ok(applied)
    }
}

impl Forwarder for NodeLink {
    /// Forwards on behalf of `origin`, the client whose request made the change, so that the sequencer audits
    /// the change under the client's identity.
    fn commit(&self, origin: &Origin, mutations: Vec<Mutation>) -> Result<u64, StoreError> {
        let request_id: [u8; 16] =
            crate::crypto::random_array().map_err(|e| StoreError::Randomness(e.to_string()))?;
        let message = Message::Commit {
            request_id,
            origin: origin.clone(),
            mutations,
        };
        match self.call(&message)? {
            Message::Seq { held, .. } => Ok(held),
            _ => Err(self.unreachable("unexpected answer to Commit")),
        }
    }
}

/// The changes a remote-region node refuses: it holds a copy, it does not take changes.
pub struct RefuseChanges(pub String);

impl Forwarder for RefuseChanges {
    fn commit(&self, _: &Origin, _: Vec<Mutation>) -> Result<u64, StoreError> {
        Err(StoreError::ZoneUnavailable {
            zone: self.0.clone(),
            reason: "this is the remote-region copy; it takes no changes (promote it with `kmipd restore --from-remote`)".into(),
        })
    }
}

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

/// Where a remote-region copy stands, as the sequencer sees it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RemoteStatus {
    /// Its zone name.
    pub zone: String,
    /// Its address.
    pub address: String,
    /// Whether the last exchange succeeded.
    pub reachable: bool,
    /// The last sequence number it holds.
    pub last_seq: u64,
    /// Changes it lacks.
    pub lag_changes: u64,
    /// Age of the oldest change it lacks (0 when it lacks none), seconds.
    pub lag_seconds: f64,
    /// The last error, if any.
    pub error: Option<String>,
}

/// Ships the sequencer's stream to a remote-region node, asynchronously, forever (until the node stops).
pub struct RemoteShipper {
    link: Arc<NodeLink>,
    state: Mutex<RemoteStatus>,
}

impl RemoteShipper {
    /// Starts shipping to `link` every `interval` (and straight after each batch while behind).
    pub fn start(
        link: Arc<NodeLink>,
        store: Arc<ZonedStore>,
        interval: Duration,
        stop: Arc<AtomicBool>,
    ) -> Arc<RemoteShipper> {
        let shipper = Arc::new(RemoteShipper {
            state: Mutex::new(RemoteStatus {
                zone: link.zone().to_string(),
                address: link.address().to_string(),
                ..RemoteStatus::default()
            }),
            link,
        });
        // The change log is kept for this copy until it reports what it holds.
        store.track_copy(shipper.link.zone());
        let me = shipper.clone();
        let spawned = std::thread::Builder::new()
            .name("kmipd-remote".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let behind = me.ship_once(&store);
                    if !matches!(behind, Ok(true)) {
                        std::thread::sleep(interval);
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the remote-region shipper");
        }
        shipper
    }

    /// One round: asks the remote where it is, sends one batch, updates the lag. Ok(true) = more to send.
    fn ship_once(&self, store: &ZonedStore) -> Result<bool, StoreError> {
        let outcome = (|| {
            let held = self.link.last_seq()?;
            store.copy_holds(self.link.zone(), held);
            // Only what every zone holds leaves for the remote: never the sequencer's unshipped tail.
            let head = store.everywhere_seq();
            let mut batch = store.local_changes_since(held, 1_000)?;
            batch.retain(|c| c.seq <= head);
            if let Some(first) = batch.first().filter(|c| c.seq > held + 1) {
                // The changes it lacks were pruned: shipping on would skip them.
                return Err(StoreError::ChangesPruned {
                    copy: format!("remote {}", self.link.zone()),
                    held,
                    first: first.seq,
                });
            }
            let mut now_held = held;
            if let Some(last) = batch.last().map(|c| c.seq) {
                self.link.apply_changes(&batch)?;
                now_held = last;
                store.copy_holds(self.link.zone(), now_held);
            }
            let oldest_missing = store
                .local_changes_since(now_held, 1)?
                .into_iter()
                .find(|c| c.seq <= head);
            Ok::<_, StoreError>((now_held, head, oldest_missing.map(|c| c.time_ms)))
        })();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Ok((held, head, oldest)) => {
                state.reachable = true;
                state.error = None;
                state.last_seq = held;
                state.lag_changes = head.saturating_sub(held);
                state.lag_seconds = oldest.map_or(0.0, |t| age_of(t).as_secs_f64());
                Ok(state.lag_changes > 0)
            }
            Err(e) => {
                state.reachable = false;
                state.error = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// Where the remote copy stands.
    pub fn status(&self) -> RemoteStatus {
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if s.lag_changes == 0 {
            s.lag_seconds = 0.0;
        }
        s
    }
}

/// The node status document `kmipd status` prints.
#[derive(Clone, Debug, Serialize)]
pub struct NodeStatus {
    /// This node's zone.
    pub zone: String,
    /// Its role.
    pub role: NodeRole,
    /// The last sequence number its zone holds.
    pub last_seq: Option<u64>,
    /// The highest sequence number it acknowledged (sequencer).
    pub acked_seq: u64,
    /// The oldest change its zone's log still holds (`None` when it holds none): what pruning kept.
    pub first_retained_seq: Option<u64>,
    /// Change-log pruning passes run since it started.
    pub prune_passes: u64,
    /// Why it refuses reads, if it does.
    pub read_refusal: Option<String>,
    /// The zones (its own and the peer zone) and whether each is up.
    pub zones: Vec<ZoneReport>,
    /// Remote-region copies (sequencer).
    pub remotes: Vec<RemoteStatus>,
    /// Left for the backup helper: last backup and its age.
    pub backup: Option<serde_json::Value>,
}

/// One zone in a status document.
#[derive(Clone, Debug, Serialize)]
pub struct ZoneReport {
    /// Zone name.
    pub name: String,
    /// File or node address.
    pub location: String,
    /// Up (takes part in every change, reachable).
    pub up: bool,
    /// Last sequence number it holds.
    pub last_seq: Option<u64>,
    /// Why it is down.
    pub reason: Option<String>,
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
                    RemoteShipper::start(l.clone(), store.clone(), setup.interval, stop.clone())
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
    pub fn status(&self) -> NodeStatus {
        let zones = self.store.status();
        let mut reports: Vec<ZoneReport> = zones
            .iter()
            .map(|z| ZoneReport {
                name: z.name.clone(),
                location: z.path.display().to_string(),
                up: z.up,
                last_seq: z.last_seq,
                reason: z.reason.clone(),
            })
            .collect();
        if let Some(link) = &self.sequencer {
            let (up, last_seq, reason) = match link.seqs() {
                Ok((held, _)) => (true, Some(held), None),
                Err(e) => (false, None, Some(e.to_string())),
            };
            reports.push(ZoneReport {
                name: link.zone().to_string(),
                location: link.address().to_string(),
                up,
                last_seq,
                reason,
            });
        }
        NodeStatus {
            zone: self.zone.clone(),
            role: self.role,
            last_seq: self.store.local_last_seq().ok(),
            acked_seq: self.store.acked_seq(),
            first_retained_seq: self.store.local_first_retained_seq().ok().flatten(),
            prune_passes: self.store.prune_passes(),
            read_refusal: self.store.read_refusal(),
            zones: reports,
            remotes: self.remotes.iter().map(|r| r.status()).collect(),
            backup: None,
        }
    }

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

/// Rebuilds a zone from the remote-region copy: every change the remote holds is applied, in order, to the
/// (new, empty) store. Returns the last sequence number restored. The other zone then catches up from it.
pub fn restore_from_remote(link: &NodeLink, store: &Store) -> Result<u64, StoreError> {
    let mut held = store.last_seq()?;
    loop {
        let batch = link.changes_since(held, 1_000)?;
        let Some(last) = batch.last().map(|c| c.seq) else {
            return Ok(held);
        };
        store.apply_changes(&batch)?;
        held = last;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{CertificateAuthority, IssuedPair, KeyType};

    fn der(pair: &IssuedPair) -> Vec<u8> {
        use rustls::pki_types::pem::PemObject;
        CertificateDer::from_pem_slice(pair.certificate_pem.as_bytes())
            .unwrap()
            .to_vec()
    }

    fn sequencer_peers() -> NodePeers {
        NodePeers {
            own: "a".into(),
            sequencer: None,
            followers: vec!["b".into()],
            readers: vec!["r".into()],
        }
    }

    /// Runs a TLS handshake between `client` and `server` in memory (plus one application byte, so the
    /// server's verdict on a TLS 1.3 client certificate is seen); whether it succeeded.
    fn handshake(client: &NodeTls, server: &NodeTls) -> bool {
        use std::io::{Read, Write};
        let name = ServerName::try_from("localhost").unwrap();
        let mut c = rustls::ClientConnection::new(client.client.clone(), name).unwrap();
        let mut s = rustls::ServerConnection::new(server.server.clone()).unwrap();
        c.writer().write_all(b"x").unwrap();
        for _ in 0..20 {
            let mut buf = Vec::new();
            c.write_tls(&mut buf).unwrap();
            if s.read_tls(&mut buf.as_slice()).is_ok() && s.process_new_packets().is_err() {
                return false;
            }
            let mut back = Vec::new();
            s.write_tls(&mut back).unwrap();
            if c.read_tls(&mut back.as_slice()).is_ok() && c.process_new_packets().is_err() {
                return false;
            }
            let mut byte = [0u8; 1];
            if matches!(s.reader().read(&mut byte), Ok(1)) {
                return true;
            }
        }
        false
    }

    #[test]
    fn a_node_certificate_listed_in_the_node_crl_is_refused() {
        use rustls::pki_types::pem::PemObject;
        let (ca, ca_pair) =
            CertificateAuthority::generate("node CA", 30, KeyType::EcdsaP256).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cas = vec![CertificateDer::from_pem_slice(ca_pair.certificate_pem.as_bytes()).unwrap()];
        let node = |zone: &str| {
            let pair = ca
                .issue_node(zone, &["localhost".into()], &[], 30, KeyType::EcdsaP256)
                .unwrap();
            let chain =
                vec![CertificateDer::from_pem_slice(pair.certificate_pem.as_bytes()).unwrap()];
            let key = PrivateKeyDer::from_pem_slice(pair.private_key_pem.as_bytes()).unwrap();
            (pair, chain, key)
        };
        let (b_pair, b_chain, b_key) = node("b");
        let (_, r_chain, r_key) = node("r");
        let (_, a_chain, a_key) = node("a");
        let crl = dir.path().join("nodes.crl");
        std::fs::write(
            &crl,
            ca.revocation_list(&[&b_pair.certificate_pem], 1, 7)
                .unwrap(),
        )
        .unwrap();
        let origin = dir.path().join("node-ca.pem");
        let a = NodeTls::from_parts_with_crl(
            a_chain,
            a_key,
            &cas,
            &origin,
            Some(CrlFile::open(&crl).unwrap()),
        )
        .unwrap();
        let b = NodeTls::from_parts(b_chain, b_key, &cas, &origin).unwrap();
        let r = NodeTls::from_parts(r_chain, r_key, &cas, &origin).unwrap();
        assert!(handshake(&r, &a), "a node not in the list connects");
        assert!(!handshake(&b, &a), "the revoked node is refused");
    }

    #[test]
    fn a_peer_is_the_one_known_node_its_certificate_names() {
        let (ca, _) = CertificateAuthority::generate("node CA", 30, KeyType::EcdsaP256).unwrap();
        let node = |zone| {
            der(&ca
                .issue_node(zone, &[], &[], 30, KeyType::EcdsaP256)
                .unwrap())
        };
        let server = |names: &[&str]| {
            let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            der(&ca
                .issue_server(&names, &[], 30, KeyType::EcdsaP256)
                .unwrap())
        };
        let peers = sequencer_peers();
        assert_eq!(peers.identify(&node("b")).unwrap(), "b");
        assert_eq!(peers.identify(&node("a")).unwrap(), "a");
        // DNS names are case-insensitive.
        assert_eq!(peers.identify(&server(&["R.Node.Kmipd"])).unwrap(), "r");
        // Unknown nodes, client certificates (CN only), wildcards and look-alikes name no node.
        for der in [
            node("c"),
            der(&ca.issue_client("b", 30, KeyType::EcdsaP256).unwrap()),
            der(&ca
                .issue_client("b.node.kmipd", 30, KeyType::EcdsaP256)
                .unwrap()),
            server(&["*.node.kmipd"]),
            server(&["b.node.kmipd.example.com", "localhost"]),
        ] {
            assert!(matches!(
                peers.identify(&der),
                Err(NodeAccessError::NotANode { .. })
            ));
        }
        assert!(matches!(
            peers.identify(&server(&["a.node.kmipd", "b.node.kmipd"])),
            Err(NodeAccessError::SeveralNodes(_))
        ));
        assert!(matches!(
            peers.identify(b"not a certificate"),
            Err(NodeAccessError::Certificate(_))
        ));
    }

    #[test]
    fn each_role_sends_only_its_own_messages() {
        let commit = Message::Commit {
            request_id: [0; 16],
            origin: Origin::default(),
            mutations: Vec::new(),
        };
        let apply = Message::Apply(Vec::new());
        let sequencer = sequencer_peers();
        assert!(sequencer.allow("b", &commit).is_ok());
        assert!(sequencer.allow("r", &commit).is_err());
        assert!(sequencer.allow("a", &commit).is_err());
        for zone in ["a", "b", "r"] {
            assert!(sequencer.allow(zone, &apply).is_err());
            assert!(sequencer.allow(zone, &Message::LastSeq).is_ok());
        }
        let follower = NodePeers {
            own: "b".into(),
            sequencer: Some("a".into()),
            ..NodePeers::default()
        };
        assert!(follower.allow("a", &apply).is_ok());
        assert!(follower.allow("b", &apply).is_err());
        assert!(follower.allow("a", &commit).is_err());
        assert!(follower.allow("b", &Message::Status).is_ok());
    }

    #[test]
    fn shipped_batches_are_bounded_in_bytes_and_count() {
        let change = |seq, size| ChangeRecord {
            seq,
            time_ms: 0,
            kind: crate::store::ChangeKind::Put,
            uid: "u".into(),
            payload: vec![0; size],
            hash: Some([0; 32]),
        };
        let overhead = change_bytes(&change(0, 0));
        let small: Vec<_> = (1..=10).map(|s| change(s, 100)).collect();
        // Bytes bind: three changes of 100 payload bytes fit in 3 * (100 + overhead), not four.
        assert_eq!(batch_len(&small, 1_000, 3 * (100 + overhead)), 3);
        assert_eq!(batch_len(&small, 1_000, 4 * (100 + overhead) - 1), 3);
        // Count binds.
        assert_eq!(batch_len(&small, 2, usize::MAX), 2);
        assert_eq!(batch_len(&small, 1_000, usize::MAX), 10);
        // A change larger than the budget still travels, alone; nothing to send is an empty batch.
        let large = vec![change(1, 1 << 20), change(2, 10)];
        assert_eq!(batch_len(&large, 1_000, 4_096), 1);
        assert_eq!(batch_len(&large[1..], 1_000, 4_096), 1);
        assert_eq!(batch_len(&[], 1_000, 4_096), 0);
        // What a batch takes on the wire is what the budget counts.
        let frame = Message::Apply(small[..3].to_vec()).encode();
        assert_eq!(frame.len(), 4 + 1 + 4 + 3 * (100 + overhead));
    }

    #[test]
    fn zone_names_are_single_dns_labels() {
        for good in ["a", "zone-b", "eu1", "R"] {
            assert!(valid_zone_name(good), "{good}");
        }
        for bad in ["", "-a", "a-", "a.b", "a b", "a_b", &"x".repeat(64)] {
            assert!(!valid_zone_name(bad), "{bad}");
        }
        assert_eq!(node_name("b"), "b.node.kmipd");
    }
}
