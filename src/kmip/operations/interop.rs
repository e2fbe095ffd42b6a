//! Payloads of Log and Interop (2.1 sections 6.1.26 and 6.1.29).

use crate::spec::tag;
use crate::ttlv::Ttlv;

use super::{Fields, Request};
use crate::kmip::error::KmipError;
use crate::kmip::version::ProtocolVersion;

/// Log request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRequest {
    /// The client's message; required.
    pub log_message: Option<String>,
}

impl<'a> Request<'a> for LogRequest {
    fn decode(payload: &'a Ttlv, _version: ProtocolVersion) -> Result<Self, KmipError> {
        Ok(LogRequest {
            log_message: Fields::of(payload)?.text(tag::LOG_MESSAGE)?,
        })
    }
}

/// Interop request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InteropRequest {
    /// Begin, End or Reset; required (a value of another type counts as absent).
    pub interop_function: Option<u32>,
    /// The test case; required.
    pub interop_identifier: Option<String>,
}

impl<'a> Request<'a> for InteropRequest {
    fn decode(payload: &'a Ttlv, _version: ProtocolVersion) -> Result<Self, KmipError> {
        let fields = Fields::of(payload)?;
        Ok(InteropRequest {
            interop_function: fields.enumeration(tag::INTEROP_FUNCTION).ok().flatten(),
            interop_identifier: fields.text(tag::INTEROP_IDENTIFIER)?,
        })
    }
}
