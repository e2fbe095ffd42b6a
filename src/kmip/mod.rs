//! KMIP messages: the one internal model of requests and responses, decoded from and encoded to the TTLV of every
//! protocol version 1.0-2.1. Version differences live here, at the edge, and nowhere below.

pub mod attribute_rules;
pub mod attributes;
#[cfg(feature = "server")]
pub mod certificate;
pub mod crypto_params;
pub mod enums;
pub mod error;
#[cfg(feature = "server")]
pub mod key_format;
pub mod message;
pub mod object;
#[cfg(feature = "server")]
pub mod operations;
pub mod payloads;
pub mod quirks;
#[cfg(test)]
mod spec_check;
pub mod state;
#[cfg(test)]
mod vector_items;
pub mod version;
#[cfg(feature = "server")]
pub mod wrap;

pub use enums::{Operation, QueryFunction, ResultStatus};
pub use error::{KmipError, ResultReason};
pub use message::{
    BatchItemError, RejectedRequest, RequestBatchItem, RequestHeader, RequestMessage,
    ResponseBatchItem, ResponseHeader, ResponseMessage,
};
pub use version::ProtocolVersion;
