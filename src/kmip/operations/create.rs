//! Payloads of the operations that bring a client's or a new object into being: Create, Register and Create
//! Key Pair. The attribute containers of each version (1.x Template-Attribute and its Common/Private/Public
//! forms, 2.x Attributes and Common/Private/Public Key Attributes) are read here into [`Attributes`].

use crate::spec::enums::object_type as ot;
use crate::spec::tag;
use crate::ttlv::{Ttlv, Value};

use super::{Fields, Request, Response, uid_item};
use crate::kmip::attributes::Attributes;
use crate::kmip::error::{KmipError, ResultReason};
use crate::kmip::object::ManagedObject;
use crate::kmip::version::ProtocolVersion;

/// Each Object Type's structure tag.
pub const OBJECT_TAGS: &[(u32, u32)] = &[
    (ot::CERTIFICATE, tag::CERTIFICATE),
    (ot::SYMMETRIC_KEY, tag::SYMMETRIC_KEY),
    (ot::PUBLIC_KEY, tag::PUBLIC_KEY),
    (ot::PRIVATE_KEY, tag::PRIVATE_KEY),
    (ot::SPLIT_KEY, tag::SPLIT_KEY),
    (ot::SECRET_DATA, tag::SECRET_DATA),
    (ot::OPAQUE_OBJECT, tag::OPAQUE_OBJECT),
    (ot::PGP_KEY, tag::PGP_KEY),
];

/// The request's Object Type (an Enumeration), or `missing` as Invalid Message.
fn object_type(fields: &Fields<'_>, missing: &str) -> Result<u32, KmipError> {
    match fields.get(tag::OBJECT_TYPE).map(|t| &t.value) {
        Some(Value::Enumeration(t)) => Ok(*t),
        _ => Err(KmipError::invalid_message(missing)),
    }
}

/// Create request: the Object Type and the new object's attributes.
#[derive(Clone, Debug)]
pub struct CreateRequest {
    /// The Object Type asked for.
    pub object_type: u32,
    /// The client's attributes.
    pub attributes: Attributes,
}

impl<'a> Request<'a> for CreateRequest {
    fn decode(payload: &'a Ttlv, _version: ProtocolVersion) -> Result<Self, KmipError> {
        let fields = Fields::of(payload)?;
        Ok(CreateRequest {
            object_type: object_type(&fields, "Create needs an Object Type")?,
            attributes: Attributes::from_request(payload)?,
        })
    }
}

/// Create response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateResponse {
    /// The Object Type made.
    pub object_type: u32,
    /// The new object's Unique Identifier.
    pub unique_identifier: String,
}

impl Response for CreateResponse {
    fn encode(&self, _version: ProtocolVersion) -> Ttlv {
        Ttlv::structure(
            tag::RESPONSE_PAYLOAD,
            vec![
                Ttlv::new(tag::OBJECT_TYPE, Value::Enumeration(self.object_type)),
                uid_item(&self.unique_identifier),
            ],
        )
    }
}

/// Register request: the client's object, its attributes, and the Key Wrap Type it asks for.
#[derive(Clone, Debug)]
pub struct RegisterRequest {
    /// The object, read in the request's version.
    pub object: ManagedObject,
    /// The client's attributes.
    pub attributes: Attributes,
    /// Key Wrap Type (Not Wrapped: unwrap a wrapped key before storing it).
    pub key_wrap_type: Option<u32>,
}

impl<'a> Request<'a> for RegisterRequest {
    fn decode(payload: &'a Ttlv, version: ProtocolVersion) -> Result<Self, KmipError> {
        let fields = Fields::of(payload)?;
        let object_type = object_type(&fields, "Register needs an Object Type")?;
        let object_tag = OBJECT_TAGS
            .iter()
            .find(|(t, _)| *t == object_type)
            .map(|(_, tag)| *tag)
            .ok_or_else(|| {
                KmipError::new(
                    ResultReason::InvalidObjectType,
                    format!("objects of Object Type {object_type} cannot be registered"),
                )
            })?;
        let object = fields.get(object_tag).ok_or_else(|| {
            KmipError::invalid_message("Register's payload lacks the object its Object Type names")
        })?;
        let object = ManagedObject::from_ttlv(object, version)?;
        let attributes = Attributes::from_request(payload)?;
        Ok(RegisterRequest {
            object,
            attributes,
            key_wrap_type: fields.enumeration(tag::KEY_WRAP_TYPE)?,
        })
    }
}

/// Create Key Pair request: the attributes of both halves and of each.
#[derive(Clone, Debug)]
pub struct CreateKeyPairRequest {
    /// Common attributes (1.x Common Template-Attribute, 2.x Common Attributes).
    pub common: Attributes,
    /// The private key's own (1.x Private Key Template-Attribute, 2.x Private Key Attributes).
    pub private: Attributes,
    /// The public key's own (1.x Public Key Template-Attribute, 2.x Public Key Attributes).
    pub public: Attributes,
}

impl<'a> Request<'a> for CreateKeyPairRequest {
    fn decode(payload: &'a Ttlv, version: ProtocolVersion) -> Result<Self, KmipError> {
        let fields = Fields::of(payload)?;
        let (common, private, public, as_create) = if version.is_2x() {
            (
                tag::COMMON_ATTRIBUTES,
                tag::PRIVATE_KEY_ATTRIBUTES,
                tag::PUBLIC_KEY_ATTRIBUTES,
                tag::ATTRIBUTES,
            )
        } else {
            (
                tag::COMMON_TEMPLATE_ATTRIBUTE,
                tag::PRIVATE_KEY_TEMPLATE_ATTRIBUTE,
                tag::PUBLIC_KEY_TEMPLATE_ATTRIBUTE,
                tag::TEMPLATE_ATTRIBUTE,
            )
        };
        // Each container is read as Create reads its Template-Attribute or Attributes.
        let read = |container: u32| -> Result<Attributes, KmipError> {
            let Some(item) = fields.get(container) else {
                return Ok(Attributes::new());
            };
            let wrapped = Ttlv::structure(
                tag::REQUEST_PAYLOAD,
                vec![Ttlv::structure(as_create, item.children().to_vec())],
            );
            Attributes::from_request(&wrapped)
        };
        Ok(CreateKeyPairRequest {
            common: read(common)?,
            private: read(private)?,
            public: read(public)?,
        })
    }
}

/// Create Key Pair response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateKeyPairResponse {
    /// The private key's Unique Identifier.
    pub private_key_unique_identifier: String,
    /// The public key's Unique Identifier.
    pub public_key_unique_identifier: String,
}

impl Response for CreateKeyPairResponse {
    fn encode(&self, _version: ProtocolVersion) -> Ttlv {
        Ttlv::structure(
            tag::RESPONSE_PAYLOAD,
            vec![
                Ttlv::new(
                    tag::PRIVATE_KEY_UNIQUE_IDENTIFIER,
                    Value::TextString(self.private_key_unique_identifier.clone()),
                ),
                Ttlv::new(
                    tag::PUBLIC_KEY_UNIQUE_IDENTIFIER,
                    Value::TextString(self.public_key_unique_identifier.clone()),
                ),
            ],
        )
    }
}
