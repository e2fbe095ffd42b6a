//! Payloads of Get: the format, wrapping and compression asked for, and the object returned in the request's
//! version, with the clients' quirks for returned objects applied (`kmip::quirks`).

use crate::spec::tag;
use crate::ttlv::{Ttlv, Value};

use super::{Fields, ObjectRef, Request, Response, uid_item};
use crate::kmip::error::KmipError;
use crate::kmip::object::ManagedObject;
use crate::kmip::quirks;
use crate::kmip::version::ProtocolVersion;
use crate::kmip::wrap::KeyWrappingSpecification;

/// Get request.
#[derive(Clone, Debug)]
pub struct GetRequest {
    /// The object named.
    pub unique_identifier: Option<ObjectRef>,
    /// The Key Format Type asked for.
    pub key_format_type: Option<u32>,
    /// Whether a Key Compression Type is asked for (none is supported).
    pub key_compression_type: bool,
    /// The Key Wrap Type asked for (Not Wrapped: unwrap a key registered wrapped).
    pub key_wrap_type: Option<u32>,
    /// How to wrap the object returned.
    pub key_wrapping_specification: Option<KeyWrappingSpecification>,
}

impl<'a> Request<'a> for GetRequest {
    fn decode(payload: &'a Ttlv, _version: ProtocolVersion) -> Result<Self, KmipError> {
        let fields = Fields::of(payload)?;
        Ok(GetRequest {
            unique_identifier: fields.object_ref()?,
            key_format_type: fields.enumeration(tag::KEY_FORMAT_TYPE)?,
            key_compression_type: fields.get(tag::KEY_COMPRESSION_TYPE).is_some(),
            key_wrap_type: fields.enumeration(tag::KEY_WRAP_TYPE)?,
            key_wrapping_specification: fields
                .get(tag::KEY_WRAPPING_SPECIFICATION)
                .map(KeyWrappingSpecification::from_ttlv)
                .transpose()?,
        })
    }
}

/// The Key Wrap Type a Get or Register payload asks for, if any.
pub fn key_wrap_type(payload: &Ttlv) -> Result<Option<u32>, KmipError> {
    Fields::of(payload)?.enumeration(tag::KEY_WRAP_TYPE)
}

/// Get response.
#[derive(Clone, Debug)]
pub struct GetResponse {
    /// The Object Type.
    pub object_type: u32,
    /// The object's Unique Identifier.
    pub unique_identifier: String,
    /// The object, in the format and wrapping asked for.
    pub object: ManagedObject,
}

impl Response for GetResponse {
    fn encode(&self, version: ProtocolVersion) -> Ttlv {
        let mut item = self.object.to_ttlv(version);
        quirks::key_value_material_only(&mut item, version);
        Ttlv::structure(
            tag::RESPONSE_PAYLOAD,
            vec![
                Ttlv::new(tag::OBJECT_TYPE, Value::Enumeration(self.object_type)),
                uid_item(&self.unique_identifier),
                item,
            ],
        )
    }
}
