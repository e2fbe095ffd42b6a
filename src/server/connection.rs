//! One client connection: the TLS handshake, then a loop of reading a frame, answering it and writing the
//! reply, for as many requests as the client sends.
//!
//! Every wait is bounded: the handshake by `handshake_timeout`, the pause before a request by `idle_timeout`,
//! the rest of a frame once its first byte arrived by `read_timeout`, and each reply by `write_timeout`. Frame
//! and reply buffers may hold key material and are wiped once used.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, timeout, timeout_at};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, error, info, warn};
use zeroize::Zeroizing;

use crate::access::limits::IdentityLimits;
use crate::access::{Caller, IdentitySource};
use crate::ops::FrameHandler;
use crate::server::config::ConnectionLimits;
use crate::server::https::{self, HttpsSettings};
use crate::ttlv::{HEADER_LEN, TtlvError, frame_len};

/// How a connection's request loop ended.
#[derive(Debug)]
pub(crate) enum End {
    /// The client closed the connection between requests (with or without TLS close_notify).
    PeerClosed,
    /// No request started within the idle timeout.
    Idle,
    /// The server is shutting down and the connection was between requests.
    Shutdown,
    /// The handler asked for the connection to end after its reply.
    CloseRequested,
    /// The frame header was refused.
    Rejected(TtlvError),
    /// A frame was started but not completed within the read timeout.
    ReadTimeout,
    /// The connection ended in the middle of a frame.
    Truncated,
    /// A reply could not be written within the write timeout.
    WriteTimeout,
    /// The handler failed (panicked); the connection cannot go on.
    HandlerFailed,
    /// A transport error.
    Io(io::Error),
}

/// What a connection speaks once its TLS handshake is done.
#[derive(Clone, Debug)]
pub(crate) enum Protocol {
    /// KMIP frames back to back (the KMIP port).
    Kmip,
    /// KMIP messages POSTed over HTTP (the HTTPS listener).
    Https(Arc<HttpsSettings>),
}

/// How a connection's client is named and what each identity is held to.
#[derive(Clone, Debug)]
pub(crate) struct Admission {
    /// The certificate field that names the client.
    pub identity: IdentitySource,
    /// Connections and request rate per identity, shared by every connection.
    pub limits: IdentityLimits,
    /// Places on the blocking pool: requests beyond them wait their turn on the runtime (see
    /// [`handler_slots`]).
    pub handlers: Arc<Semaphore>,
}

/// Requests handled at once per core. Each request runs on a thread of the blocking pool and most of them
/// take the same store connection: with a thread per connection (sixteen connections, two cores) the
/// threads mostly wake each other on that lock, and throughput fell below what four connections reached.
/// A few per core keep every core busy and one waiting request ready behind each running one.
pub const HANDLERS_PER_CORE: usize = 2;
/// The fewest requests handled at once, whatever the core count: a request that waits long (a zone's slow
/// disk) leaves room for others.
pub const MIN_HANDLERS: usize = 4;

/// How many requests are handled at once on this machine.
pub fn handler_slots() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    cores.saturating_mul(HANDLERS_PER_CORE).max(MIN_HANDLERS)
}

/// Connections per source address whose TLS handshake has not completed, so that one address cannot fill every
/// connection slot with idle sockets before authenticating (`limits.max_pending_per_address`).
#[derive(Clone, Debug)]
pub(crate) struct PendingHandshakes {
    max: usize,
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection's place among its address's pending handshakes; released when dropped.
#[derive(Debug)]
pub(crate) struct PendingSlot {
    address: IpAddr,
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PendingHandshakes {
    /// At most `max` pending handshakes per address.
    pub(crate) fn new(max: usize) -> Self {
        PendingHandshakes {
            max,
            counts: Arc::default(),
        }
    }

    /// A place for one more pending handshake from `address`, or None when it already has the most allowed.
    pub(crate) fn enter(&self, address: IpAddr) -> Option<PendingSlot> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let n = counts.entry(address).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(PendingSlot {
            address,
            counts: self.counts.clone(),
        })
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = counts.get_mut(&self.address) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.address);
            }
        }
    }
}

/// Serves one accepted TCP connection until it ends; `permit` holds its place under the connection limit and
/// `pending` its place among its address's pending handshakes until the handshake is over.
// Each argument is one independent piece the accept loop hands over; bundling them would only rename them.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn serve(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    handler: Arc<dyn FrameHandler>,
    limits: ConnectionLimits,
    admission: Admission,
    mut shutdown: watch::Receiver<bool>,
    permit: OwnedSemaphorePermit,
    pending: PendingSlot,
    protocol: Protocol,
) {
    let _permit = permit;
    if let Err(e) = tcp.set_nodelay(true) {
        debug!(%peer, error = %e, "cannot disable Nagle's algorithm");
    }
    let handshake = tokio::select! {
        _ = shutdown_signalled(&mut shutdown) => {
            debug!(%peer, "shutdown during TLS handshake");
            return;
        }
        result = timeout(limits.handshake_timeout, acceptor.accept(tcp)) => result,
    };
    drop(pending);
    let mut stream = match handshake {
        Err(_) => {
            info!(%peer, "TLS handshake timed out");
            handler.refused(peer, None, "TLS handshake timed out");
            return;
        }
        Ok(Err(e)) => {
            info!(%peer, error = %e, "TLS handshake failed");
            handler.refused(peer, None, "TLS handshake failed");
            return;
        }
        Ok(Ok(stream)) => stream,
    };
    let Some(certificate) = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
    else {
        // The verifier makes a certificate mandatory; this is defence in depth.
        warn!(%peer, "TLS session without a client certificate; closing");
        handler.refused(peer, None, "no client certificate");
        return;
    };
    let caller = Caller::from_certificate_by(peer, certificate, admission.identity);
    let Some(_slot) = admission.limits.connect(&caller.identity) else {
        warn!(%peer, identity = %caller.identity, "per-identity connection limit reached; closing");
        handler.refused(
            peer,
            Some(&caller.identity),
            "per-identity connection limit reached",
        );
        let _ = timeout(limits.write_timeout, stream.shutdown()).await;
        return;
    };
    let _open = crate::metrics::connection_opened();
    info!(
        %peer,
        identity = %caller.identity,
        protocol = ?stream.get_ref().1.protocol_version(),
        "client connected"
    );

    let end = match &protocol {
        Protocol::Kmip => {
            serve_requests(
                &mut stream,
                &caller,
                &handler,
                &limits,
                &admission.limits,
                &admission.handlers,
                &mut shutdown,
            )
            .await
        }
        Protocol::Https(settings) => {
            https::serve_requests(
                &mut stream,
                &caller,
                &handler,
                &limits,
                &admission,
                settings,
                &mut shutdown,
            )
            .await
        }
    };
    match &end {
        End::PeerClosed | End::Shutdown | End::CloseRequested => {
            debug!(%peer, identity = %caller.identity, reason = ?end, "connection closed")
        }
        End::Idle => debug!(%peer, identity = %caller.identity, "idle connection closed"),
        End::Rejected(e) => {
            warn!(%peer, identity = %caller.identity, error = %e, "request frame refused; closing");
            handler.refused(peer, Some(&caller.identity), "request frame refused");
        }
        End::HandlerFailed => error!(%peer, identity = %caller.identity, "request handler failed"),
        End::ReadTimeout | End::Truncated | End::WriteTimeout => {
            info!(%peer, identity = %caller.identity, reason = ?end, "connection dropped");
            if !matches!(end, End::WriteTimeout) {
                handler.refused(peer, Some(&caller.identity), "request frame incomplete");
            }
        }
        End::Io(e) => info!(%peer, identity = %caller.identity, error = %e, "connection failed"),
    }
    if !matches!(end, End::Io(_) | End::WriteTimeout) {
        // Sends close_notify; a peer that already left makes this fail, which changes nothing.
        let _ = timeout(limits.write_timeout, stream.shutdown()).await;
    }
}

/// Answers requests one after the other until the connection has to end.
async fn serve_requests<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    caller: &Caller,
    handler: &Arc<dyn FrameHandler>,
    limits: &ConnectionLimits,
    identity_limits: &IdentityLimits,
    handlers: &Arc<Semaphore>,
    shutdown: &mut watch::Receiver<bool>,
) -> End {
    loop {
        let frame = match read_frame(stream, limits, shutdown).await {
            Ok(frame) => frame,
            Err(ReadEnd::Ended(end)) => return end,
            Err(ReadEnd::Refused(error)) => {
                if let Some(bytes) = handler.reject_frame(&error, caller) {
                    let bytes = Zeroizing::new(bytes);
                    if let Some(end) = write_reply(stream, &bytes, limits).await {
                        return end;
                    }
                }
                return End::Rejected(error);
            }
        };

        // Over its rate, an identity waits for its turn (its other connections too), not the others; the frame's
        // batch items and expensive operations are counted, not just the frame.
        let delay = identity_limits.request_delay(
            &caller.identity,
            crate::access::limits::request_cost(&frame),
        );
        if !delay.is_zero() {
            debug!(identity = %caller.identity, ?delay, "request rate limit: delaying");
            tokio::select! {
                _ = shutdown_signalled(shutdown) => return End::Shutdown,
                _ = tokio::time::sleep(delay) => {}
            }
        }
        // The semaphore is never closed; were it, the request would run without waiting its turn.
        let slot = handlers.clone().acquire_owned().await.ok();
        let worker = handler.clone();
        let worker_caller = caller.clone();
        let answered = tokio::task::spawn_blocking(move || {
            let reply = worker.handle_frame(&frame, &worker_caller);
            drop(frame);
            drop(slot);
            reply
        })
        .await;
        let Ok(reply) = answered else {
            return End::HandlerFailed;
        };
        let close_after = reply.close_after;
        let bytes = Zeroizing::new(reply.bytes);
        if let Some(end) = write_reply(stream, &bytes, limits).await {
            return end;
        }
        if close_after {
            return End::CloseRequested;
        }
    }
}

/// Why no frame was read.
enum ReadEnd {
    /// The connection ended or must end.
    Ended(End),
    /// The header was refused; the handler may answer before the connection closes.
    Refused(TtlvError),
}

/// Reads one whole frame: waits (idle timeout, or shutdown) for its first byte, then reads the rest within the
/// read timeout, allocating only once the declared length has passed the size limit.
async fn read_frame<S: AsyncRead + Unpin>(
    stream: &mut S,
    limits: &ConnectionLimits,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Zeroizing<Vec<u8>>, ReadEnd> {
    let mut header = Zeroizing::new([0u8; HEADER_LEN]);
    let (first, rest) = header.split_at_mut(1);
    let waited = tokio::select! {
        biased;
        _ = shutdown_signalled(shutdown) => return Err(ReadEnd::Ended(End::Shutdown)),
        waited = timeout(limits.idle_timeout, stream.read(first)) => waited,
    };
    match waited {
        Err(_) => return Err(ReadEnd::Ended(End::Idle)),
        Ok(Ok(0)) => return Err(ReadEnd::Ended(End::PeerClosed)),
        // A client that closes TCP without TLS close_notify between requests has still closed cleanly.
        Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
            return Err(ReadEnd::Ended(End::PeerClosed));
        }
        Ok(Err(e)) => return Err(ReadEnd::Ended(End::Io(e))),
        Ok(Ok(_)) => {}
    }

    let deadline = Instant::now() + limits.read_timeout;
    read_exact_by(stream, rest, deadline).await?;
    let total = frame_len(&header[..], &limits.ttlv()).map_err(ReadEnd::Refused)?;

    let mut frame = Zeroizing::new(Vec::with_capacity(total));
    frame.extend_from_slice(&header[..]);
    frame.resize(total, 0);
    if let Some(body) = frame.get_mut(HEADER_LEN..) {
        read_exact_by(stream, body, deadline).await?;
    }
    Ok(frame)
}

/// Fills `buffer` from the stream before `deadline`.
async fn read_exact_by<S: AsyncRead + Unpin>(
    stream: &mut S,
    buffer: &mut [u8],
    deadline: Instant,
) -> Result<(), ReadEnd> {
    match timeout_at(deadline, stream.read_exact(buffer)).await {
        Err(_) => Err(ReadEnd::Ended(End::ReadTimeout)),
        Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Err(ReadEnd::Ended(End::Truncated))
        }
        Ok(Err(e)) => Err(ReadEnd::Ended(End::Io(e))),
        Ok(Ok(_)) => Ok(()),
    }
}

/// Writes one reply within the write timeout; `Some` says how the connection ended if it failed.
pub(crate) async fn write_reply<S: AsyncWrite + Unpin>(
    stream: &mut S,
    bytes: &[u8],
    limits: &ConnectionLimits,
) -> Option<End> {
    let written = timeout(limits.write_timeout, async {
        stream.write_all(bytes).await?;
        stream.flush().await
    })
    .await;
    match written {
        Err(_) => Some(End::WriteTimeout),
        Ok(Err(e)) => Some(End::Io(e)),
        Ok(Ok(())) => None,
    }
}

/// Completes once shutdown has been signalled (or the server that would signal it is gone).
pub(crate) async fn shutdown_signalled(shutdown: &mut watch::Receiver<bool>) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_slots_follow_the_cores_with_a_floor() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let slots = handler_slots();
        assert!(slots >= MIN_HANDLERS);
        assert_eq!(slots, (cores * HANDLERS_PER_CORE).max(MIN_HANDLERS));
    }
}
