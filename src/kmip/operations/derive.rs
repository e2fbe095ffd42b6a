//! Payloads of the operations that make a new key from an existing one: ReKey and Derive Key (both answer
//! the new object's identifier, an [`IdResponse`]).
//!
//! [`IdResponse`]: super::IdResponse

use crate::spec::tag;
use crate::ttlv::{Ttlv, Value};

use super::{Fields, ObjectRef, Request};
use crate::kmip::attributes::Attributes;
use crate::kmip::crypto_params::CryptographicParameters;
use crate::kmip::error::KmipError;
use crate::kmip::version::ProtocolVersion;

/// ReKey request.
#[derive(Clone, Debug)]
pub struct RekeyRequest {
    /// The key replaced.
    pub unique_identifier: Option<ObjectRef>,
    /// Offset: the replacement becomes active this many seconds from now.
    pub offset: Option<u32>,
    /// The client's attributes for the replacement.
    pub attributes: Attributes,
}

impl<'a> Request<'a> for RekeyRequest {
    fn decode(payload: &'a Ttlv, _version: ProtocolVersion) -> Result<Self, KmipError> {
        let fields = Fields::of(payload)?;
        Ok(RekeyRequest {
            unique_identifier: fields.object_ref()?,
            offset: fields.interval(tag::OFFSET)?,
            attributes: Attributes::from_request(payload)?,
        })
    }
}

/// Derivation Parameters (2.1 section 2.1.9).
#[derive(Clone, Debug, Default)]
pub struct DerivationParameters<'a> {
    /// Cryptographic Parameters (the hash of PBKDF2, HKDF and HMAC; the cipher of Encrypt).
    pub cryptographic_parameters: Option<CryptographicParameters>,
    /// Initialization Vector (Encrypt).
    pub initialization_vector: Option<&'a [u8]>,
    /// Derivation Data.
    pub derivation_data: Option<&'a [u8]>,
    /// Salt.
    pub salt: Option<&'a [u8]>,
    /// Iteration Count (PBKDF2).
    pub iteration_count: Option<i32>,
}

/// Derive Key request.
#[derive(Clone, Debug)]
pub struct DeriveKeyRequest<'a> {
    /// The Object Type to make; required.
    pub object_type: Option<u32>,
    /// The base objects named (absent: the ID Placeholder).
    pub unique_identifiers: Vec<ObjectRef>,
    /// The Derivation Method; required.
    pub derivation_method: Option<u32>,
    /// The Derivation Parameters; required.
    pub derivation_parameters: Option<DerivationParameters<'a>>,
    /// The new object's attributes.
    pub attributes: Attributes,
}

impl<'a> Request<'a> for DeriveKeyRequest<'a> {
    fn decode(payload: &'a Ttlv, _version: ProtocolVersion) -> Result<Self, KmipError> {
        let fields = Fields::of(payload)?;
        let enumeration = |t: u32| match fields.get(t).map(|f| &f.value) {
            Some(Value::Enumeration(e)) => Some(*e),
            _ => None,
        };
        let derivation_parameters = match fields.get(tag::DERIVATION_PARAMETERS) {
            None => None,
            Some(dp) => {
                let dp = Fields::of(dp)?;
                Some(DerivationParameters {
                    cryptographic_parameters: dp
                        .get(tag::CRYPTOGRAPHIC_PARAMETERS)
                        .map(CryptographicParameters::from_ttlv)
                        .transpose()?,
                    initialization_vector: dp.bytes(tag::INITIALIZATION_VECTOR)?,
                    derivation_data: dp.bytes(tag::DERIVATION_DATA)?,
                    salt: dp.bytes(tag::SALT)?,
                    iteration_count: dp.integer(tag::ITERATION_COUNT)?,
                })
            }
        };
        Ok(DeriveKeyRequest {
            object_type: enumeration(tag::OBJECT_TYPE),
            unique_identifiers: fields
                .all(tag::UNIQUE_IDENTIFIER)
                .map(ObjectRef::from_ttlv)
                .collect::<Result<_, _>>()?,
            derivation_method: enumeration(tag::DERIVATION_METHOD),
            derivation_parameters,
            attributes: Attributes::from_request(payload)?,
        })
    }
}
