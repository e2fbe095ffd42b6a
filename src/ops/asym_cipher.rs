//! RSA Encrypt and Decrypt: OAEP (SHA-1/256/384/512, MGF1 with the same hash, P Source as the label) and PKCS#1
//! v1.5, with a Public Key to encrypt and a Private Key to decrypt. `cipher.rs` hands Public and Private Key
//! objects here; the parameters are the request's, completed by the key's own Cryptographic Parameters.

use crate::crypto::asymmetric::Hash;
use crate::crypto::asymmetric::rsa_cipher::{self, Padding};
use crate::kmip::crypto_params::CryptographicParameters;
use crate::kmip::enums::{MaskGenerator, ObjectType, PaddingMethod};
use crate::kmip::operations::crypto::{CryptoRequest, CryptoResponse};
use crate::kmip::{KmipError, ResultReason};
use crate::spec::enums::cryptographic_algorithm as alg;
use crate::ttlv::SecretBytes;

use super::OpContext;
use super::asym_key;
use super::object::Managed;
use super::usage::{self, Use};

/// What an RSA Encrypt or Decrypt request carries besides its key.
pub(super) struct RsaRequest<'a> {
    /// The request's Cryptographic Parameters, if any.
    pub params: Option<CryptographicParameters>,
    /// The Data to encrypt or decrypt.
    pub data: &'a [u8],
}

/// Reads what an RSA Encrypt or Decrypt uses of its request: Cryptographic Parameters and Data; streaming, IVs
/// and authenticated-encryption fields have no meaning for RSA and are refused.
pub(super) fn read_request<'a>(req: &CryptoRequest<'a>) -> Result<RsaRequest<'a>, KmipError> {
    if let Some(field) = req.field_without_meaning_for_rsa() {
        return Err(KmipError::invalid_field(format!(
            "{field} has no meaning for RSA encryption"
        )));
    }
    let data = req
        .data
        .ok_or_else(|| KmipError::invalid_field("RSA Encrypt and Decrypt need Data"))?;
    Ok(RsaRequest {
        params: req.cryptographic_parameters.clone(),
        data,
    })
}

/// Encrypts `data` with an RSA Public Key; answers the Response Payload (Unique Identifier, Data).
pub(super) fn encrypt(
    ctx: &mut OpContext<'_>,
    key: &Managed,
    params: &CryptographicParameters,
    data: &[u8],
) -> Result<CryptoResponse, KmipError> {
    asym_key::require_type(key, ObjectType::PUBLIC_KEY, "RSA Encrypt")?;
    usage::check(key, Use::Encrypt, ctx.now)?;
    let params = asym_key::effective_params(key, Some(params))?;
    let padding = padding(key, &params)?;
    let spki = asym_key::public_spki(key)?;
    let out = rsa_cipher::encrypt(padding, &spki, data, params.p_source.as_deref())
        .map_err(asym_key::to_kmip)?;
    Ok(answer(key, SecretBytes::new(out)))
}

/// Decrypts `data` with an RSA Private Key; answers the Response Payload (Unique Identifier, Data).
pub(super) fn decrypt(
    ctx: &mut OpContext<'_>,
    key: &Managed,
    params: &CryptographicParameters,
    data: &[u8],
) -> Result<CryptoResponse, KmipError> {
    asym_key::require_type(key, ObjectType::PRIVATE_KEY, "RSA Decrypt")?;
    usage::check(key, Use::Decrypt, ctx.now)?;
    let params = asym_key::effective_params(key, Some(params))?;
    let padding = padding(key, &params)?;
    let pkcs8 = asym_key::private_pkcs8(key)?;
    let out = rsa_cipher::decrypt(padding, &pkcs8, data, params.p_source.as_deref())
        .map_err(asym_key::to_kmip)?;
    Ok(answer(key, SecretBytes::from(out.as_slice())))
}

fn answer(key: &Managed, data: SecretBytes) -> CryptoResponse {
    CryptoResponse {
        data: Some(data),
        ..CryptoResponse::for_key(&key.uid)
    }
}

/// The padding the parameters select for an RSA key: OAEP (hash default SHA-1, as RFC 8017 has it; MGF1 over
/// the same hash) or PKCS#1 v1.5. A Padding Method must be given, by the request or the key.
fn padding(key: &Managed, params: &CryptographicParameters) -> Result<Padding, KmipError> {
    if asym_key::algorithm(key) != Some(alg::RSA) {
        return Err(KmipError::new(
            ResultReason::InvalidField,
            format!(
                "object {} is not an RSA key; it cannot encrypt or decrypt",
                key.uid
            ),
        ));
    }
    match params.padding_method {
        Some(PaddingMethod::OAEP) => {
            let h = params
                .hashing_algorithm
                .map_or(Ok(Hash::Sha1), asym_key::hash)?;
            if params
                .mask_generator
                .is_some_and(|m| m != MaskGenerator::MGF1)
            {
                return Err(KmipError::feature_not_supported(
                    "OAEP is offered with the MGF1 mask generator only",
                ));
            }
            if let Some(m) = params.mask_generator_hashing_algorithm
                && asym_key::hash(m)? != h
            {
                return Err(KmipError::feature_not_supported(
                    "OAEP is offered with the MGF1 hash equal to the OAEP hash",
                ));
            }
            Ok(Padding::Oaep(h))
        }
        Some(PaddingMethod::PKCS1_V1_5) => Ok(Padding::Pkcs1v15),
        Some(other) => Err(KmipError::feature_not_supported(format!(
            "RSA encryption uses OAEP or PKCS1 v1.5 padding, not {other}"
        ))),
        None => Err(KmipError::invalid_field(
            "RSA encryption needs a Padding Method (OAEP or PKCS1 v1.5) in the request or the key's Cryptographic Parameters",
        )),
    }
}
