//! From request bytes to response bytes: decode the TTLV, run the request, encode the response. Every failure
//! that still allows a response to be framed is answered with one (Operation Failed and a reason) rather than a
//! dropped connection; the connection is closed only after bytes that may not have been framed right.
//!
//! The [`FrameHandler`] implementation at the end is the adapter the transport calls; the pipeline itself names
//! no network type.

use crate::access::Caller;
use crate::kmip::{KmipError, ProtocolVersion, RejectedRequest, RequestMessage, ResponseMessage};
use crate::ttlv;
use crate::ttlv::TtlvError;

use super::Engine;
use super::handler::{FrameHandler, Reply};

impl Engine {
    /// Answers one request frame (header included). Bytes that are not TTLV are answered with a Codec Error
    /// (Invalid Message in 1.x) in the request's version when its first bytes show it, else in the newest.
    pub fn respond_to_frame(&self, frame: &[u8], caller: &Caller) -> Reply {
        match ttlv::decode(frame, &self.config().limits) {
            Ok(tree) => Reply {
                bytes: ttlv::encode(&self.handle_request_from(&tree, caller)),
                close_after: false,
            },
            Err(e) => {
                let version = RequestMessage::peek_version(frame)
                    .and_then(ProtocolVersion::negotiate)
                    .unwrap_or(ProtocolVersion::HIGHEST);
                let error =
                    KmipError::codec_error(format!("the request is not well-formed TTLV: {e}"));
                Reply {
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
        reply
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
