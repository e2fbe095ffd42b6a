//! From request bytes to response bytes: decode the TTLV, run the request, encode the response. Every failure
//! that still allows a response to be framed is answered with one (Operation Failed and a reason) rather than a
//! dropped connection; the connection is closed only after bytes that may not have been framed right.
//!
//! The [`FrameHandler`] implementation at the end is the adapter the transport calls; the pipeline itself names
//! no network type.

use crate::access::Caller;
use crate::kmip::{KmipError, ProtocolVersion, RejectedRequest, RequestMessage, ResponseMessage};
use crate::server::{FrameHandler, Reply};
use crate::ttlv;
use crate::ttlv::TtlvError;

use super::Engine;

/// The encoded response to one frame, and whether the connection should end after it.
#[derive(Clone, PartialEq, Eq)]
pub struct FrameReply {
    /// The encoded Response Message.
    pub bytes: Vec<u8>,
    /// True when the request was not well-formed TTLV: where the next message starts cannot be trusted (2.1
    /// section 11.46, Codec Error).
    pub close_after: bool,
}

impl std::fmt::Debug for FrameReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameReply")
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .field("close_after", &self.close_after)
            .finish()
    }
}

impl Engine {
    /// Answers one request frame (header included). Bytes that are not TTLV are answered with a Codec Error
    /// (Invalid Message in 1.x) in the request's version when its first bytes show it, else in the newest.
    pub fn respond_to_frame(&self, frame: &[u8], caller: &Caller) -> FrameReply {
        match ttlv::decode(frame, &self.config().limits) {
            Ok(tree) => FrameReply {
                bytes: ttlv::encode(&self.handle_request_from(&tree, caller)),
                close_after: false,
            },
            Err(e) => {
                let version = RequestMessage::peek_version(frame)
                    .and_then(ProtocolVersion::negotiate)
                    .unwrap_or(ProtocolVersion::HIGHEST);
                let error =
                    KmipError::codec_error(format!("the request is not well-formed TTLV: {e}"));
                FrameReply {
                    bytes: self.rejection_bytes(version, error),
                    close_after: true,
                }
            }
        }
    }

    /// The response to a frame the transport refused before reading it (a header that is not a structure, or
    /// declares more bytes than allowed): a Codec Error in the newest version, since none can be read.
    pub fn respond_to_unread_frame(&self, problem: &str) -> Vec<u8> {
        let error = KmipError::codec_error(format!("the request frame was refused: {problem}"));
        self.rejection_bytes(ProtocolVersion::HIGHEST, error)
    }

    fn rejection_bytes(&self, version: ProtocolVersion, error: KmipError) -> Vec<u8> {
        let rejected = RejectedRequest { version, error };
        ttlv::encode(&ResponseMessage::rejection(&rejected, (self.config().clock)()).to_ttlv())
    }
}

impl FrameHandler for Engine {
    fn handle_frame(&self, frame: &[u8], caller: &Caller) -> Reply {
        let reply = self.respond_to_frame(frame, caller);
        if reply.close_after {
            tracing::info!(identity = %caller.identity, peer = %caller.peer, "request is not TTLV; closing");
        }
        Reply {
            bytes: reply.bytes,
            close_after: reply.close_after,
        }
    }

    fn reject_frame(&self, error: &TtlvError, caller: &Caller) -> Option<Vec<u8>> {
        tracing::info!(identity = %caller.identity, peer = %caller.peer, %error, "request frame refused");
        Some(self.respond_to_unread_frame(&error.to_string()))
    }

    fn refused(&self, peer: std::net::SocketAddr, identity: Option<&str>, reason: &'static str) {
        if let Some(log) = &self.config().access.audit
            && let Err(e) = log.record_refusal(peer, identity, reason)
        {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }

    fn stopped(&self) {
        if let Some(log) = &self.config().access.audit {
            match log.close() {
                Ok(Some(checkpoint)) => {
                    tracing::info!(seq = checkpoint.seq, "audit checkpoint stored at shutdown")
                }
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "cannot store the final audit checkpoint"),
            }
        }
    }
}
