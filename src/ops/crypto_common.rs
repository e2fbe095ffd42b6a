//! What the cryptographic operations share: loading a key for a purpose (state, dates, usage mask, usage
//! limits), reading its bytes and its own Cryptographic Parameters, and
//! turning a [`CryptoError`] into the Result Reason the specification gives. No key bytes reach any message.

use crate::crypto::CryptoError;
use crate::crypto::digest::HashAlg;
use crate::kmip::crypto_params::CryptographicParameters;
use crate::kmip::enums::HashingAlgorithm;
use crate::kmip::object::ObjectBody;
use crate::kmip::operations::ObjectRef;
use crate::kmip::{KmipError, ResultReason};
use crate::spec::tag;
use crate::ttlv::Value;

use super::OpContext;
use super::object::{self, Managed};
use super::usage::{self, Use};

/// Loads the object the payload names and checks it may serve `purpose` now.
pub fn load_for(
    ctx: &OpContext<'_>,
    named: Option<&ObjectRef>,
    purpose: Use,
) -> Result<Managed, KmipError> {
    let managed = object::load_ref(ctx, named)?;
    usage::check(&managed, purpose, ctx.now)?;
    Ok(managed)
}

/// The clear bytes of a symmetric key or secret data object, with its Cryptographic Algorithm.
pub fn secret_bytes(managed: &Managed) -> Result<(Option<u32>, &[u8]), KmipError> {
    let Some(object) = &managed.object else {
        return Err(KmipError::new(
            ResultReason::ObjectDestroyed,
            format!("the key material of {:?} has been destroyed", managed.uid),
        ));
    };
    let block = match &object.body {
        ObjectBody::Key(b) => b,
        ObjectBody::SecretData { key_block, .. } => key_block,
        _ => {
            return Err(KmipError::new(
                ResultReason::InvalidObjectType,
                format!("object {:?} holds no key material", managed.uid),
            ));
        }
    };
    if block.key_wrapping_data.is_some() {
        return Err(KmipError::new(
            ResultReason::KeyValueNotPresent,
            format!("the key value of {:?} is wrapped", managed.uid),
        ));
    }
    let bytes = block
        .key_material()
        .and_then(|m| m.bytes())
        .ok_or_else(|| {
            KmipError::new(
                ResultReason::KeyFormatTypeNotSupported,
                format!("the key material of {:?} is not raw bytes", managed.uid),
            )
        })?;
    let algorithm = match managed.get(tag::CRYPTOGRAPHIC_ALGORITHM).map(|v| &v.value) {
        Some(Value::Enumeration(a)) => Some(*a),
        _ => block.cryptographic_algorithm,
    };
    Ok((algorithm, bytes.as_slice()))
}

/// The key's own Cryptographic Parameters attribute (the first instance), if it has one.
pub fn key_params(managed: &Managed) -> Result<Option<CryptographicParameters>, KmipError> {
    managed
        .get(tag::CRYPTOGRAPHIC_PARAMETERS)
        .map(CryptographicParameters::from_ttlv)
        .transpose()
}

/// The parameters in force: the request's, completed field by field by the key's; `None` when neither gives
/// any (the operation's defaults then apply).
pub fn effective_params(
    request: Option<&CryptographicParameters>,
    managed: &Managed,
) -> Result<Option<CryptographicParameters>, KmipError> {
    let request = request.cloned();
    let key = key_params(managed)?;
    Ok(match (request, key) {
        (None, None) => None,
        (Some(r), None) => Some(r),
        (None, Some(k)) => Some(k),
        (Some(r), Some(k)) => Some(r.or(&k)),
    })
}

/// The hash function for a KMIP Hashing Algorithm.
pub fn hash_alg(h: HashingAlgorithm) -> Result<HashAlg, KmipError> {
    match h {
        HashingAlgorithm::SHA_1 => Ok(HashAlg::Sha1),
        HashingAlgorithm::SHA_224 => Ok(HashAlg::Sha224),
        HashingAlgorithm::SHA_256 => Ok(HashAlg::Sha256),
        HashingAlgorithm::SHA_384 => Ok(HashAlg::Sha384),
        HashingAlgorithm::SHA_512 => Ok(HashAlg::Sha512),
        other => Err(KmipError::new(
            ResultReason::CryptographicFailure,
            format!("Hashing Algorithm {other} is not supported"),
        )),
    }
}

/// The Result Reason of a cryptographic failure: a failed authentication or padding check is a Cryptographic
/// Failure; a parameter the algorithm cannot take is Invalid Field.
pub fn crypto_error(e: CryptoError) -> KmipError {
    let reason = match e {
        CryptoError::Authentication | CryptoError::Padding | CryptoError::Random => {
            ResultReason::CryptographicFailure
        }
        CryptoError::TagLength(..) => ResultReason::GeneralFailure,
        CryptoError::KeyLength(..)
        | CryptoError::IvLength(..)
        | CryptoError::DataLength(..)
        | CryptoError::OutputLength(..)
        | CryptoError::Parameter(..) => ResultReason::InvalidField,
    };
    KmipError::new(reason, e.to_string())
}
