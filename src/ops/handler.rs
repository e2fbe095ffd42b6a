//! The seam between the network edge and the KMIP engine: the server hands over whole frames and writes back
//! whatever the handler answers, knowing nothing of what the bytes mean. The engine's side declares it, so the
//! server depends on this trait and never on the engine's insides.

use std::net::SocketAddr;

use crate::access::Caller;
use crate::ttlv::TtlvError;

/// What answers request frames; the KMIP engine implements it, tests implement simple echoes.
///
/// Calls run on tokio's blocking pool, so an implementation may do file or database I/O.
pub trait FrameHandler: Send + Sync + 'static {
    /// Answers one complete request frame (8-byte header + body), already checked against the frame size limit.
    fn handle_frame(&self, frame: &[u8], caller: &Caller) -> Reply;
    /// Answers a frame whose header declared more bytes than allowed (or was malformed); None = just close.
    /// Runs on the async runtime, not the blocking pool: it must only encode an error, without I/O.
    fn reject_frame(&self, error: &TtlvError, caller: &Caller) -> Option<Vec<u8>>;
    /// Records a connection refused before any request was answered (allow-list, connection limits, TLS
    /// handshake, a frame that cannot be read); `reason` is the server's own fixed text, never the client's.
    /// Runs on the async runtime: it must stay short (the audit log writes at most its rate limit of lines
    /// and only counts the rest). The default records nothing.
    fn refused(&self, peer: SocketAddr, identity: Option<&str>, reason: &'static str) {
        let _ = (peer, identity, reason);
    }
    /// The server stopped cleanly: the handler may write what it owes (the audit log's final checkpoint).
    fn stopped(&self) {}
}

/// The bytes to send back for one request, and whether the connection ends after them.
#[derive(Clone, PartialEq, Eq)]
pub struct Reply {
    /// The encoded response; may hold key material, so the server wipes it once written.
    pub bytes: Vec<u8>,
    /// Close the connection once the bytes are written: the request was not well-formed TTLV, so where the
    /// next message starts cannot be trusted (2.1 section 11.46, Codec Error).
    pub close_after: bool,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .field("close_after", &self.close_after)
            .finish()
    }
}
