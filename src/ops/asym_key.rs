//! What Sign, Signature Verify and RSA Encrypt/Decrypt share about the key they use: its type and algorithm, its
//! own Cryptographic Parameters, its material in the one form `crypto::asymmetric` takes (PKCS#8 for private
//! keys, SubjectPublicKeyInfo for public keys), and how the crypto layer's errors become Result Reasons.

use crate::crypto::asymmetric::{AsymError, Hash};
use crate::kmip::crypto_params::CryptographicParameters;
use crate::kmip::enums::{HashingAlgorithm, ObjectType};
use crate::kmip::key_format;
use crate::kmip::{KmipError, ResultReason};
use crate::spec::enums::key_format_type as kft;
use crate::spec::tag;
use crate::ttlv::SecretBytes;

use super::object::Managed;

/// Refuses a key of another Object Type than the operation needs.
pub fn require_type(key: &Managed, wanted: ObjectType, operation: &str) -> Result<(), KmipError> {
    if key.object_type == wanted.0 {
        return Ok(());
    }
    Err(KmipError::new(
        ResultReason::InvalidObjectType,
        format!(
            "{operation} needs a {wanted}; object {} is a {}",
            key.uid,
            ObjectType(key.object_type)
        ),
    ))
}

/// The key's Cryptographic Algorithm (from its Key Block).
pub fn algorithm(key: &Managed) -> Option<u32> {
    key.object
        .as_ref()
        .and_then(|o| o.key_block())
        .and_then(|kb| kb.cryptographic_algorithm)
}

/// The request's Cryptographic Parameters with what it leaves out taken from the key's own attribute.
pub fn effective_params(
    key: &Managed,
    request: Option<&CryptographicParameters>,
) -> Result<CryptographicParameters, KmipError> {
    let own = match key.get(tag::CRYPTOGRAPHIC_PARAMETERS) {
        Some(item) => CryptographicParameters::from_ttlv(item)?,
        None => CryptographicParameters::default(),
    };
    Ok(match request {
        Some(r) => r.or(&own),
        None => own,
    })
}

/// A Hashing Algorithm the asymmetric operations implement.
pub fn hash(h: HashingAlgorithm) -> Result<Hash, KmipError> {
    match h {
        HashingAlgorithm::SHA_1 => Ok(Hash::Sha1),
        HashingAlgorithm::SHA_256 => Ok(Hash::Sha256),
        HashingAlgorithm::SHA_384 => Ok(Hash::Sha384),
        HashingAlgorithm::SHA_512 => Ok(Hash::Sha512),
        other => Err(KmipError::feature_not_supported(format!(
            "Hashing Algorithm {other} is not supported for asymmetric keys"
        ))),
    }
}

/// The key material converted to `target`, as bytes (zeroized on drop).
fn material(key: &Managed, target: u32) -> Result<SecretBytes, KmipError> {
    let object = key.object.as_ref().ok_or_else(|| {
        KmipError::new(
            ResultReason::WrongKeyLifecycleState,
            format!("object {} has no key material", key.uid),
        )
    })?;
    let converted = key_format::convert(object, target)?;
    converted
        .key_block()
        .and_then(|kb| kb.key_material())
        .and_then(|m| m.bytes())
        .cloned()
        .ok_or_else(|| {
            KmipError::new(
                ResultReason::CryptographicFailure,
                format!("the key material of object {} cannot be used", key.uid),
            )
        })
}

/// A Private Key's material as PKCS#8.
pub fn private_pkcs8(key: &Managed) -> Result<SecretBytes, KmipError> {
    material(key, kft::PKCS_8)
}

/// A Public Key's material as SubjectPublicKeyInfo.
pub fn public_spki(key: &Managed) -> Result<SecretBytes, KmipError> {
    material(key, kft::X_509)
}

/// The Result Reason for an error of the crypto layer (whose messages never contain key bytes).
pub fn to_kmip(e: AsymError) -> KmipError {
    let reason = match e {
        AsymError::BadKey(_) | AsymError::Failed(_) => ResultReason::CryptographicFailure,
        AsymError::Unsupported(_) => ResultReason::FeatureNotSupported,
        AsymError::BadInput(_) => ResultReason::InvalidField,
    };
    KmipError::new(reason, e.to_string())
}
