//! Derive Key: a new Symmetric Key or Secret Data computed from a managed base object by PBKDF2, HKDF, HMAC or
//! Encrypt, stored as a managed object with the client's attributes, and linked both ways (Derivation Base
//! Object Link on the new object, Derived Key Link on the base).

use zeroize::Zeroizing;

use crate::crypto::digest::HashAlg;
use crate::crypto::kdf;
use crate::crypto::mac::{self as mac_fn, MacAlg};
use crate::kmip::enums::ObjectType;
use crate::kmip::object::{KeyBlock, KeyMaterial, ManagedObject, ObjectBody};
use crate::kmip::operations::IdResponse;
use crate::kmip::operations::derive::DeriveKeyRequest;
use crate::kmip::{KmipError, ResultReason};
use crate::spec::enums::unique_identifier as ue;
use crate::spec::enums::{
    cryptographic_algorithm as alg, derivation_method, key_format_type, link_type, secret_data_type,
};
use crate::spec::tag;
use crate::ttlv::SecretBytes;

use super::OpContext;
use super::crypto_common::{crypto_error, hash_alg, secret_bytes};
use super::usage::{self, Use};
use super::{cipher, new_object, object};

/// The longest key Derive Key makes, in bits.
pub const MAX_DERIVED_BITS: i32 = 8192;

/// Runs Derive Key.
pub(super) fn run(
    req: DeriveKeyRequest<'_>,
    ctx: &mut OpContext<'_>,
) -> Result<IdResponse, KmipError> {
    let object_type = ObjectType(
        req.object_type
            .ok_or_else(|| KmipError::invalid_message("Derive Key needs an Object Type"))?,
    );
    if object_type != ObjectType::SYMMETRIC_KEY && object_type != ObjectType::SECRET_DATA {
        return Err(KmipError::new(
            ResultReason::InvalidObjectType,
            format!("Derive Key makes Symmetric Keys and Secret Data, not {object_type}"),
        ));
    }
    let method = req
        .derivation_method
        .ok_or_else(|| KmipError::invalid_message("Derive Key needs a Derivation Method"))?;
    let dp = req
        .derivation_parameters
        .ok_or_else(|| KmipError::invalid_message("Derive Key needs Derivation Parameters"))?;
    if req.unique_identifiers.len() > 1 {
        return Err(KmipError::feature_not_supported(
            "Derive Key takes one base object",
        ));
    }
    // The base is the object the request names, authorized (Use) before the operation runs.
    let mut base = object::load_ref(ctx, req.unique_identifiers.first())?;
    usage::check(&base, Use::DeriveKey, ctx.now)?;
    let attrs = req.attributes;
    let bits = new_object::number(&attrs, tag::CRYPTOGRAPHIC_LENGTH)
        .ok_or_else(|| KmipError::invalid_field("Derive Key needs a Cryptographic Length"))?;
    if bits <= 0 || bits % 8 != 0 || bits > i64::from(MAX_DERIVED_BITS) {
        return Err(KmipError::invalid_field(format!(
            "Cryptographic Length {bits} is not a whole number of bytes up to {MAX_DERIVED_BITS} bits"
        )));
    }
    let len = usize::try_from(bits / 8).map_err(|_| KmipError::invalid_field("bad length"))?;
    usage::consume(ctx, &mut base, Use::DeriveKey, len)?;
    let (base_alg, base_bytes) = secret_bytes(&base)?;
    let base_bytes = Zeroizing::new(base_bytes.to_vec());
    let params = dp.cryptographic_parameters;
    let hash = |default: HashAlg| -> Result<HashAlg, KmipError> {
        params
            .as_ref()
            .and_then(|p| p.hashing_algorithm)
            .map_or(Ok(default), hash_alg)
    };
    let data = dp.derivation_data;
    let salt = dp.salt;
    let derived: Zeroizing<Vec<u8>> = match method {
        derivation_method::PBKDF2 => {
            let salt = salt.ok_or_else(|| KmipError::invalid_message("PBKDF2 needs a Salt"))?;
            let iterations = dp
                .iteration_count
                .ok_or_else(|| KmipError::invalid_message("PBKDF2 needs an Iteration Count"))?;
            let iterations = u32::try_from(iterations)
                .map_err(|_| KmipError::invalid_field("Iteration Count is negative"))?;
            kdf::pbkdf2(hash(HashAlg::Sha256)?, &base_bytes, salt, iterations, len)
                .map_err(crypto_error)?
        }
        derivation_method::HKDF => kdf::hkdf(
            hash(HashAlg::Sha256)?,
            &base_bytes,
            salt,
            data.unwrap_or_default(),
            len,
        )
        .map_err(crypto_error)?,
        derivation_method::HMAC => {
            let default = match base_alg {
                Some(alg::HMAC_SHA1) => HashAlg::Sha1,
                Some(alg::HMAC_SHA224) => HashAlg::Sha224,
                Some(alg::HMAC_SHA384) => HashAlg::Sha384,
                Some(alg::HMAC_SHA512) => HashAlg::Sha512,
                _ => HashAlg::Sha256,
            };
            let data = data.ok_or_else(|| {
                KmipError::invalid_message("HMAC derivation needs Derivation Data")
            })?;
            let out = mac_fn::mac(MacAlg::Hmac(hash(default)?), &base_bytes, data)
                .map_err(crypto_error)?;
            take(Zeroizing::new(out), len, "the HMAC")?
        }
        derivation_method::ENCRYPT => {
            let data = data.ok_or_else(|| {
                KmipError::invalid_message("Encrypt derivation needs Derivation Data")
            })?;
            let iv = dp.initialization_vector;
            let out = cipher::encrypt_once(base_alg, params.as_ref(), &base_bytes, iv, data)?;
            take(out, len, "the encrypted Derivation Data")?
        }
        other => {
            return Err(KmipError::new(
                ResultReason::InvalidField,
                format!("Derivation Method {other} is not supported"),
            ));
        }
    };
    let new = match object_type {
        ObjectType::SECRET_DATA => ManagedObject {
            object_type,
            body: ObjectBody::SecretData {
                secret_data_type: secret_data_type::SEED,
                key_block: KeyBlock::plain(
                    key_format_type::OPAQUE,
                    KeyMaterial::Bytes(SecretBytes::new(derived.to_vec())),
                    None,
                    None,
                ),
            },
        },
        _ => {
            let algorithm = new_object::number(&attrs, tag::CRYPTOGRAPHIC_ALGORITHM)
                .and_then(|a| u32::try_from(a).ok())
                .ok_or_else(|| {
                    KmipError::invalid_field("Derive Key needs a Cryptographic Algorithm")
                })?;
            ManagedObject::symmetric_key(algorithm, SecretBytes::new(derived.to_vec()))
        }
    };
    let managed = new_object::build(ctx, new, attrs)?;
    new_object::save_made_from(
        ctx,
        &mut base,
        link_type::DERIVED_KEY_LINK,
        managed,
        link_type::DERIVATION_BASE_OBJECT_LINK,
        ue::DERIVE_KEY,
    )
}

/// The first `len` bytes of a derivation's output, which must be long enough.
fn take(
    mut out: Zeroizing<Vec<u8>>,
    len: usize,
    what: &str,
) -> Result<Zeroizing<Vec<u8>>, KmipError> {
    if out.len() < len {
        return Err(KmipError::invalid_field(format!(
            "{what} gives {} bytes, fewer than the {len} asked for",
            out.len()
        )));
    }
    out.truncate(len);
    Ok(out)
}
