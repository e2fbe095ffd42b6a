//! MAC and MAC Verify: HMAC-SHA-1/224/256/384/512 and AES-CMAC, whole or streamed. The algorithm is the
//! request's (or the key's) Cryptographic Parameters' Cryptographic Algorithm when it names an HMAC, else the
//! key's own algorithm; an AES key without one computes AES-CMAC. MAC Verify answers Valid or Invalid, comparing
//! in constant time.

use zeroize::Zeroizing;

use crate::crypto::digest::HashAlg;
use crate::crypto::mac::{self, MacAlg, MacState};
use crate::kmip::enums::{BlockCipherMode, ObjectType, Operation};
use crate::kmip::operations::crypto::{CryptoRequest, CryptoResponse};
use crate::kmip::{KmipError, ResultReason};
use crate::spec::enums::{cryptographic_algorithm as alg, validity_indicator};

use super::OpContext;
use super::crypto_common::{crypto_error, effective_params, load_for, secret_bytes};
use super::gate::{self, Missing, Right};
use super::object::{self, Managed};
use super::streams::{Step, Stream, StreamState};
use super::usage::{self, Use};
use crate::access::policy::OpClass;

fn mac_alg(
    key_alg: Option<u32>,
    key: &Managed,
    req: &CryptoRequest<'_>,
) -> Result<MacAlg, KmipError> {
    let params = effective_params(req.cryptographic_parameters.as_ref(), key)?.unwrap_or_default();
    let hmac = |a: u32| match a {
        alg::HMAC_SHA1 => Some(HashAlg::Sha1),
        alg::HMAC_SHA224 => Some(HashAlg::Sha224),
        alg::HMAC_SHA256 => Some(HashAlg::Sha256),
        alg::HMAC_SHA384 => Some(HashAlg::Sha384),
        alg::HMAC_SHA512 => Some(HashAlg::Sha512),
        _ => None,
    };
    if let Some(h) = params.cryptographic_algorithm.and_then(|a| hmac(a.0)) {
        return Ok(MacAlg::Hmac(h));
    }
    match key_alg {
        Some(a) if hmac(a).is_some() => Ok(MacAlg::Hmac(hmac(a).unwrap_or(HashAlg::Sha256))),
        Some(alg::AES)
            if params
                .block_cipher_mode
                .is_none_or(|m| m == BlockCipherMode::CMAC) =>
        {
            Ok(MacAlg::AesCmac)
        }
        _ => Err(KmipError::new(
            ResultReason::InvalidField,
            format!(
                "object {:?} cannot compute a MAC with these Cryptographic Parameters",
                key.uid
            ),
        )),
    }
}

/// Runs MAC.
pub(super) fn mac(
    req: CryptoRequest<'_>,
    ctx: &mut OpContext<'_>,
) -> Result<CryptoResponse, KmipError> {
    let (uid, out) = run(&req, ctx, Use::MacGenerate)?;
    let mut reply = CryptoResponse::for_key(&uid);
    match out {
        Outcome::Done(m) => reply.mac_data = Some(m),
        Outcome::Open(id) => reply.correlation_value = Some(id),
    }
    Ok(reply)
}

/// Runs MAC Verify.
pub(super) fn mac_verify(
    req: CryptoRequest<'_>,
    ctx: &mut OpContext<'_>,
) -> Result<CryptoResponse, KmipError> {
    let expected = req.mac_data.map(<[u8]>::to_vec);
    let (uid, out) = run(&req, ctx, Use::MacVerify)?;
    let mut reply = CryptoResponse::for_key(&uid);
    match out {
        Outcome::Done(computed) => {
            let expected = expected
                .ok_or_else(|| KmipError::invalid_message("MAC Verify needs the MAC Data"))?;
            let valid = mac::verify(&expected, &computed).is_ok();
            reply.validity_indicator = Some(if valid {
                validity_indicator::VALID
            } else {
                validity_indicator::INVALID
            });
        }
        Outcome::Open(id) => reply.correlation_value = Some(id),
    }
    Ok(reply)
}

enum Outcome {
    /// The MAC of all the data.
    Done(Vec<u8>),
    /// The stream stays open under this Correlation Value.
    Open(Vec<u8>),
}

fn operation(purpose: Use) -> Operation {
    if purpose == Use::MacGenerate {
        Operation::MAC
    } else {
        Operation::MAC_VERIFY
    }
}

fn run(
    req: &CryptoRequest<'_>,
    ctx: &mut OpContext<'_>,
    purpose: Use,
) -> Result<(String, Outcome), KmipError> {
    let data = req.data.unwrap_or_default();
    let step = req.step()?;
    let op = operation(purpose);
    let limits = ctx.config.crypto;
    match step {
        Step::Whole | Step::Init => {
            let mut key = load_for(ctx, req.unique_identifier.as_ref(), purpose)?;
            usable(&key)?;
            usage::consume(ctx, &mut key, purpose, data.len())?;
            let (key_alg, bytes) = secret_bytes(&key)?;
            let bytes = Zeroizing::new(bytes.to_vec());
            let alg = mac_alg(key_alg, &key, req)?;
            let mut state = MacState::new(alg, &bytes).map_err(crypto_error)?;
            state.update(data);
            if step == Step::Whole {
                return Ok((key.uid, Outcome::Done(state.finish())));
            }
            let id = ctx.streams.open(
                &limits,
                ctx.now,
                Stream {
                    operation: op,
                    owner: ctx.caller.identity.clone(),
                    key_uid: key.uid.clone(),
                    opened: ctx.now,
                    state: StreamState::Mac(Box::new(state)),
                },
            )?;
            Ok((key.uid, Outcome::Open(id)))
        }
        Step::Continue(ref id) | Step::Final(ref id) => {
            let id = id.clone();
            let last = matches!(step, Step::Final(_));
            let mut stream = ctx
                .streams
                .take(&limits, ctx.now, &id, &ctx.caller.identity, op)?;
            // The key must still allow the use at every step.
            if let Err(e) = super::cipher::same_key(req, &stream.key_uid) {
                ctx.streams.put_back(id.clone(), stream)?;
                return Err(e);
            }
            // The stream's key is loaded through the gate: the right to use it is checked at every step.
            let mut key = object::on_line(gate::load_reference(
                ctx,
                &stream.key_uid,
                Right::Class(OpClass::Use),
                Missing::Object,
            )?)?;
            usage::check(&key, purpose, ctx.now)?;
            usage::consume(ctx, &mut key, purpose, data.len())?;
            let StreamState::Mac(state) = &mut stream.state else {
                return Err(KmipError::new(
                    ResultReason::InvalidCorrelationValue,
                    "the Correlation Value names a stream of another operation",
                ));
            };
            state.update(data);
            if last {
                let StreamState::Mac(state) = stream.state else {
                    return Err(KmipError::general_failure("stream state changed"));
                };
                return Ok((key.uid, Outcome::Done((*state).finish())));
            }
            ctx.streams.put_back(id.clone(), stream)?;
            Ok((key.uid, Outcome::Open(id)))
        }
    }
}

fn usable(key: &Managed) -> Result<(), KmipError> {
    match ObjectType(key.object_type) {
        ObjectType::SYMMETRIC_KEY | ObjectType::SECRET_DATA => Ok(()),
        other => Err(KmipError::new(
            ResultReason::InvalidObjectType,
            format!(
                "object {:?} is a {other}; MAC takes symmetric keys",
                key.uid
            ),
        )),
    }
}
