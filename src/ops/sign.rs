//! Sign and Signature Verify with a Private Key / Public Key: ECDSA P-256 with SHA-256 (DER signatures), Ed25519,
//! RSA PKCS#1 v1.5 and PSS with SHA-256/384/512 (SHA-1 PKCS#1 v1.5 for verifying old signatures only). The scheme
//! comes from the request's Cryptographic Parameters, then the key's own, then the key's algorithm. Data is
//! signed as is; Digested Data (ECDSA and RSA) is a digest the client computed. A signature that does not verify
//! is a success with Validity Indicator Invalid, not an error.

use crate::crypto::asymmetric::Hash;
use crate::crypto::asymmetric::signature::{self, Input, Scheme};
use crate::kmip::crypto_params::CryptographicParameters;
use crate::kmip::enums::{DigitalSignatureAlgorithm as Dsa, ObjectType, PaddingMethod};
use crate::kmip::operations::crypto::{CryptoRequest, CryptoResponse};
use crate::kmip::{KmipError, ResultReason};
use crate::spec::enums::{cryptographic_algorithm as alg, validity_indicator};

use super::OpContext;
use super::asym_key;
use super::object::{self, Managed};
use super::usage::{self, Use};

/// Runs Sign.
pub(super) fn sign(
    req: CryptoRequest<'_>,
    ctx: &mut OpContext<'_>,
) -> Result<CryptoResponse, KmipError> {
    refuse_streaming(&req)?;
    let key = object::load_ref(ctx, req.unique_identifier.as_ref())?;
    asym_key::require_type(&key, ObjectType::PRIVATE_KEY, "Sign")?;
    usage::check(&key, Use::Sign, ctx.now)?;
    let scheme = scheme_for(&key, req.cryptographic_parameters.as_ref())?;
    let pkcs8 = asym_key::private_pkcs8(&key)?;
    let data = input(&req)?;
    let signature = signature::sign(scheme, &pkcs8, data).map_err(asym_key::to_kmip)?;
    Ok(CryptoResponse {
        signature_data: Some(signature),
        ..CryptoResponse::for_key(&key.uid)
    })
}

/// Runs Signature Verify.
pub(super) fn verify(
    req: CryptoRequest<'_>,
    ctx: &mut OpContext<'_>,
) -> Result<CryptoResponse, KmipError> {
    refuse_streaming(&req)?;
    let key = object::load_ref(ctx, req.unique_identifier.as_ref())?;
    asym_key::require_type(&key, ObjectType::PUBLIC_KEY, "Signature Verify")?;
    usage::check(&key, Use::Verify, ctx.now)?;
    let scheme = scheme_for(&key, req.cryptographic_parameters.as_ref())?;
    let spki = asym_key::public_spki(&key)?;
    let data = input(&req)?;
    let signature_data = req
        .signature_data
        .ok_or_else(|| KmipError::invalid_field("Signature Verify needs Signature Data"))?;
    let valid =
        signature::verify(scheme, &spki, data, signature_data).map_err(asym_key::to_kmip)?;
    let indicator = if valid {
        validity_indicator::VALID
    } else {
        validity_indicator::INVALID
    };
    Ok(CryptoResponse {
        validity_indicator: Some(indicator),
        ..CryptoResponse::for_key(&key.uid)
    })
}

fn refuse_streaming(req: &CryptoRequest<'_>) -> Result<(), KmipError> {
    if req.has_stream_fields() {
        return Err(KmipError::feature_not_supported(
            "streaming Sign and Signature Verify (Correlation Value, Init/Final Indicator) is not supported",
        ));
    }
    Ok(())
}

/// The Data or the Digested Data of the request (exactly one); its size is bounded by the request message
/// limit (`[limits]`), as streaming is not offered.
fn input<'a>(req: &CryptoRequest<'a>) -> Result<Input<'a>, KmipError> {
    match (req.data, req.digested_data) {
        (Some(d), None) => Ok(Input::Message(d)),
        (None, Some(d)) => Ok(Input::Digest(d)),
        (Some(_), Some(_)) => Err(KmipError::invalid_field(
            "give either Data or Digested Data, not both",
        )),
        (None, None) => Err(KmipError::invalid_field(
            "Data or Digested Data is required",
        )),
    }
}

/// The signature scheme the parameters and the key's algorithm select, refused when they do not fit the key.
pub fn scheme_for(
    key: &Managed,
    request: Option<&CryptographicParameters>,
) -> Result<Scheme, KmipError> {
    let params = asym_key::effective_params(key, request)?;
    let key_alg = asym_key::algorithm(key)
        .ok_or_else(|| KmipError::invalid_field("the key has no Cryptographic Algorithm"))?;
    let family = match key_alg {
        alg::RSA => Family::Rsa,
        alg::EC | alg::ECDSA => Family::Ec,
        alg::ED25519 => Family::Ed25519,
        other => {
            return Err(incompatible(format!(
                "keys of Cryptographic Algorithm {} do not sign",
                crate::kmip::enums::CryptographicAlgorithm(other)
            )));
        }
    };
    let hash_or = |default: Hash| -> Result<Hash, KmipError> {
        params.hashing_algorithm.map_or(Ok(default), asym_key::hash)
    };
    let scheme = match params.digital_signature_algorithm {
        Some(Dsa::SHA1_WITH_RSA) => Scheme::RsaPkcs1(Hash::Sha1),
        Some(Dsa::SHA256_WITH_RSA) => Scheme::RsaPkcs1(Hash::Sha256),
        Some(Dsa::SHA384_WITH_RSA) => Scheme::RsaPkcs1(Hash::Sha384),
        Some(Dsa::SHA512_WITH_RSA) => Scheme::RsaPkcs1(Hash::Sha512),
        Some(Dsa::RSASSA_PSS) => Scheme::RsaPss(hash_or(Hash::Sha256)?, salt(&params)?),
        Some(Dsa::ECDSA_WITH_SHA256) => Scheme::EcdsaP256Sha256,
        Some(other) => {
            return Err(KmipError::feature_not_supported(format!(
                "Digital Signature Algorithm {other} is not supported"
            )));
        }
        None => match family {
            Family::Ed25519 => Scheme::Ed25519,
            Family::Ec => match hash_or(Hash::Sha256)? {
                Hash::Sha256 => Scheme::EcdsaP256Sha256,
                other => {
                    return Err(KmipError::feature_not_supported(format!(
                        "ECDSA is offered with SHA-256 only, not {other:?}"
                    )));
                }
            },
            Family::Rsa => match params.padding_method {
                Some(PaddingMethod::PSS) => Scheme::RsaPss(hash_or(Hash::Sha256)?, salt(&params)?),
                None | Some(PaddingMethod::PKCS1_V1_5) => Scheme::RsaPkcs1(hash_or(Hash::Sha256)?),
                Some(other) => {
                    return Err(KmipError::feature_not_supported(format!(
                        "RSA signatures use PSS or PKCS1 v1.5 padding, not {other}"
                    )));
                }
            },
        },
    };
    let fits = matches!(
        (family, scheme),
        (Family::Rsa, Scheme::RsaPkcs1(_) | Scheme::RsaPss(..))
            | (Family::Ec, Scheme::EcdsaP256Sha256)
            | (Family::Ed25519, Scheme::Ed25519)
    );
    if !fits {
        return Err(incompatible(format!(
            "the signature scheme {scheme:?} does not fit the key's algorithm"
        )));
    }
    if let Scheme::RsaPss(h, _) = scheme {
        check_pss(&params, h)?;
    }
    Ok(scheme)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Rsa,
    Ec,
    Ed25519,
}

/// The PSS Salt Length the parameters give, in bytes.
fn salt(params: &CryptographicParameters) -> Result<Option<u16>, KmipError> {
    params
        .salt_length
        .map(|s| {
            u16::try_from(s)
                .map_err(|_| KmipError::invalid_field(format!("Salt Length {s} is not valid")))
        })
        .transpose()
}

/// PSS is offered with MGF1 over the same hash.
fn check_pss(params: &CryptographicParameters, h: Hash) -> Result<(), KmipError> {
    if let Some(m) = params.mask_generator_hashing_algorithm
        && asym_key::hash(m)? != h
    {
        return Err(KmipError::feature_not_supported(
            "PSS is offered with the MGF1 hash equal to the signature hash",
        ));
    }
    Ok(())
}

fn incompatible(message: String) -> KmipError {
    KmipError::new(ResultReason::InvalidField, message)
}
