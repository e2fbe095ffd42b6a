//! Hash: the digest of the request's data under the Hashing Algorithm of its Cryptographic Parameters, whole or
//! streamed; and the random number services, RNG Retrieve (bounded by a named limit) and RNG Seed.

use crate::crypto::digest::Hasher;
use crate::kmip::enums::Operation;
use crate::kmip::operations::crypto::{
    CryptoRequest, CryptoResponse, RngRetrieveRequest, RngSeedRequest, RngSeedResponse,
};
use crate::kmip::{KmipError, ResultReason};
use crate::ttlv::SecretBytes;

use super::OpContext;
use super::crypto_common::{crypto_error, hash_alg};
use super::streams::{Step, Stream, StreamState};

/// Runs Hash.
pub(super) fn hash(
    req: CryptoRequest<'_>,
    ctx: &mut OpContext<'_>,
) -> Result<CryptoResponse, KmipError> {
    let data = req.data.unwrap_or_default();
    let limits = ctx.config.crypto;
    let step = req.step()?;
    // A continued stream keeps the time it was opened: its lifetime limit counts from Init, as for Encrypt,
    // Decrypt and MAC streams.
    let mut opened = ctx.now;
    let mut hasher = match &step {
        Step::Whole | Step::Init => {
            let params = req
                .cryptographic_parameters
                .ok_or_else(|| KmipError::invalid_message("Hash needs Cryptographic Parameters"))?;
            let h = params
                .hashing_algorithm
                .ok_or_else(|| KmipError::invalid_message("Hash needs a Hashing Algorithm"))?;
            Hasher::new(hash_alg(h)?)
        }
        Step::Continue(id) | Step::Final(id) => {
            let stream =
                ctx.streams
                    .take(&limits, ctx.now, id, &ctx.caller.identity, Operation::HASH)?;
            opened = stream.opened;
            match stream.state {
                StreamState::Hash(h) => h,
                _ => {
                    return Err(KmipError::new(
                        ResultReason::InvalidCorrelationValue,
                        "the Correlation Value names a stream of another operation",
                    ));
                }
            }
        }
    };
    hasher.update(data);
    let mut reply = CryptoResponse::default();
    match step {
        Step::Whole | Step::Final(_) => reply.data = Some(SecretBytes::new(hasher.finish())),
        Step::Init | Step::Continue(_) => {
            let stream = Stream {
                operation: Operation::HASH,
                owner: ctx.caller.identity.clone(),
                key_uid: String::new(),
                opened,
                state: StreamState::Hash(hasher),
            };
            let id = match step {
                Step::Continue(id) => {
                    ctx.streams.put_back(id.clone(), stream)?;
                    id
                }
                _ => ctx.streams.open(&limits, ctx.now, stream)?,
            };
            reply.correlation_value = Some(id);
        }
    }
    Ok(reply)
}

/// Runs RNG Retrieve: Data Length random bytes from the operating system's generator, at most the configured
/// limit.
pub(super) fn rng_retrieve(
    req: RngRetrieveRequest,
    ctx: &mut OpContext<'_>,
) -> Result<CryptoResponse, KmipError> {
    let len = req
        .data_length
        .ok_or_else(|| KmipError::invalid_message("RNG Retrieve needs a Data Length"))?;
    let max = ctx.config.crypto.max_rng_bytes;
    let len = usize::try_from(len)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| KmipError::invalid_field("Data Length must be positive"))?;
    if len > max {
        return Err(KmipError::new(
            ResultReason::ServerLimitExceeded,
            format!("RNG Retrieve returns at most {max} bytes"),
        ));
    }
    let bytes = crate::crypto::random(len).map_err(crypto_error)?;
    Ok(CryptoResponse {
        data: Some(SecretBytes::new(bytes.to_vec())),
        ..CryptoResponse::default()
    })
}

/// Runs RNG Seed. The server's generator is the operating system's, which reseeds itself and takes no outside
/// seed: the answer says honestly that none of the data was used (Data Length 0), which the specification
/// allows.
pub(super) fn rng_seed(
    req: RngSeedRequest<'_>,
    _ctx: &mut OpContext<'_>,
) -> Result<RngSeedResponse, KmipError> {
    req.data
        .ok_or_else(|| KmipError::invalid_message("RNG Seed needs Data"))?;
    Ok(RngSeedResponse { data_length: 0 })
}
