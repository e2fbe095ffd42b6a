//! KMIP messages: the one internal model of requests and responses, decoded from and encoded to the TTLV of every
//! protocol version 1.0-2.1. Version differences live here, at the edge, and nowhere below.

pub mod enums;
pub mod error;
pub mod message;
pub mod payloads;
pub mod quirks;
#[cfg(test)]
mod spec_check;
pub mod state;
pub mod version;

pub use enums::{Operation, QueryFunction, ResultStatus};
pub use error::{KmipError, ResultReason};
pub use message::{
    BatchItemError, RejectedRequest, RequestBatchItem, RequestHeader, RequestMessage,
    ResponseBatchItem, ResponseHeader, ResponseMessage,
};
pub use version::ProtocolVersion;
