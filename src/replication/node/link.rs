//! The link to one peer node: a small pool of mutual-TLS connections that checks it reached the zone it meant
//! to, the batch and byte limits of what travels on it, and the link as a replica (the sequencer ships to
//! it), as a forwarder (a follower sends its clients' changes through it) and as the source of a restore.

use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};

use super::*;
use crate::replication::origin::Origin;
use crate::replication::wire::{self, Message};
use crate::replication::zones::{Forwarder, Replica};
use crate::store::{ChangeRecord, Mutation, Store, StoreError};

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
            remembered_commits: crate::replication::commit_ids::DEFAULT_REMEMBERED_COMMITS,
        }
    }
}

/// Default of [`NodeLimits::batch_max_bytes`]: a quarter of the default frame limit.
pub const DEFAULT_BATCH_MAX_BYTES: usize = 16 << 20;

/// Bytes a change takes in a node message (its fixed fields and lengths, its uid, payload and chain link).
pub(super) fn change_bytes(change: &ChangeRecord) -> usize {
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
pub(super) const NODE_IDLE_LIMIT: Duration = Duration::from_secs(300);

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

    pub(super) fn unreachable(&self, what: impl std::fmt::Display) -> StoreError {
        StoreError::ZoneUnavailable {
            zone: self.zone.clone(),
            reason: format!("node {}: {what}", self.address),
        }
    }

    pub(super) fn connect(&self) -> Result<ClientStream, StoreError> {
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
    pub(super) fn check_peer(&self, conn: &ClientConnection) -> Result<(), StoreError> {
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

    pub(super) fn answered(&self, answer: Message) -> Result<Message, StoreError> {
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
    pub(super) fn exchange(
        &self,
        mut stream: ClientStream,
        message: &Message,
    ) -> Result<Message, StoreError> {
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
