//! Streamed cryptographic operations (2.x Init Indicator, Final Indicator, Correlation Value): the server keeps
//! a bounded state per open stream between requests. Streams are few, short-lived and small by design: a named
//! limit caps how many are open (server-wide and per identity, so one identity cannot take every slot), how long
//! one may stay open, and how many bytes one may hold; a stream belongs to the caller that opened it and to its
//! key. The per-request response budget lives here too: it is checked before a batch runs.

use std::collections::HashMap;
use std::sync::Mutex;

use zeroize::Zeroizing;

use crate::crypto::digest::Hasher;
use crate::crypto::mac::MacState;
use crate::kmip::enums::Operation;
use crate::kmip::{KmipError, ResultReason};

use super::cipher::CipherSpec;

/// Bounds on the cryptographic services, so no request can make the server hold unbounded memory or time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CryptoLimits {
    /// Most streams open at once, server-wide.
    pub max_open_streams: usize,
    /// Seconds a stream may stay open after its Init request; older ones are dropped.
    pub stream_lifetime_secs: i64,
    /// Most bytes of data one Encrypt or Decrypt stream may carry in total (its input is kept until Final).
    pub max_stream_bytes: usize,
    /// Most bytes one RNG Retrieve returns.
    pub max_rng_bytes: usize,
    /// Most streams one identity may have open at once.
    pub max_open_streams_per_identity: usize,
    /// Largest response one request may build, in bytes: RNG Retrieve items are summed over the batch and
    /// refused before any byte is generated; any other response over it is answered Response Too Large.
    pub max_response_bytes: usize,
}

impl CryptoLimits {
    /// The defaults: 64 streams (8 per identity) of at most 16 MiB for 10 minutes; RNG Retrieve up to 64 KiB;
    /// responses up to 4 MiB.
    pub const DEFAULT: CryptoLimits = CryptoLimits {
        max_open_streams: 64,
        stream_lifetime_secs: 600,
        max_stream_bytes: 16 * 1024 * 1024,
        max_rng_bytes: 64 * 1024,
        max_open_streams_per_identity: 8,
        max_response_bytes: 4 * 1024 * 1024,
    };
}

/// What a batch commits the server to return before it runs: the RNG Retrieve Data Lengths summed over the
/// batch. Over `max_response_bytes`, the whole batch is refused (Response Too Large) before any work.
pub fn check_response_budget(
    request: &crate::kmip::RequestMessage,
    limits: &CryptoLimits,
) -> Result<(), KmipError> {
    let mut promised: u64 = 0;
    for item in request.items.iter().flatten() {
        if item.operation != Operation::RNG_RETRIEVE {
            continue;
        }
        let length = item
            .payload
            .as_ref()
            .and_then(|p| p.child(crate::spec::tag::DATA_LENGTH))
            .and_then(|l| match l.value {
                crate::ttlv::Value::Integer(n) => u64::try_from(n).ok(),
                _ => None,
            })
            .unwrap_or(0);
        promised = promised.saturating_add(length);
    }
    let budget = u64::try_from(limits.max_response_bytes).unwrap_or(u64::MAX);
    if promised > budget {
        return Err(KmipError::response_too_large(format!(
            "the batch asks RNG Retrieve for {promised} bytes; one response may carry at most {budget}"
        )));
    }
    Ok(())
}

impl Default for CryptoLimits {
    fn default() -> Self {
        CryptoLimits::DEFAULT
    }
}

/// What a stream carries between requests.
pub enum StreamState {
    /// Encrypt or Decrypt: the cipher chosen at Init, the input so far and how much output was already sent.
    Cipher {
        /// Mode, IV and additional data fixed at Init.
        spec: CipherSpec,
        /// Every input byte so far.
        input: Zeroizing<Vec<u8>>,
        /// Output bytes already returned.
        emitted: usize,
    },
    /// MAC or MAC Verify.
    Mac(Box<MacState>),
    /// Hash.
    Hash(Hasher),
}

/// One open stream.
pub struct Stream {
    /// The operation that opened it; only that operation may continue it.
    pub operation: Operation,
    /// The identity of the caller that opened it.
    pub owner: String,
    /// The key it runs under (empty for Hash).
    pub key_uid: String,
    /// When it was opened (seconds since the Unix epoch).
    pub opened: i64,
    /// Its state.
    pub state: StreamState,
}

/// The open streams, by Correlation Value.
#[derive(Default)]
pub struct Streams {
    open: Mutex<HashMap<Vec<u8>, Stream>>,
}

impl std::fmt::Debug for Streams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Streams(..)")
    }
}

fn poisoned() -> KmipError {
    KmipError::general_failure("the stream table is unavailable")
}

impl Streams {
    /// Opens a stream and gives its new Correlation Value; refuses when the limit of open streams is reached
    /// (after dropping expired ones).
    pub fn open(
        &self,
        limits: &CryptoLimits,
        now: i64,
        stream: Stream,
    ) -> Result<Vec<u8>, KmipError> {
        let mut open = self.open.lock().map_err(|_| poisoned())?;
        open.retain(|_, s| now - s.opened < limits.stream_lifetime_secs);
        let own = open.values().filter(|s| s.owner == stream.owner).count();
        if own >= limits.max_open_streams_per_identity {
            return Err(KmipError::new(
                ResultReason::ServerLimitExceeded,
                format!(
                    "this identity has {own} streams open, the most one identity may keep; finish one first"
                ),
            ));
        }
        if open.len() >= limits.max_open_streams {
            return Err(KmipError::new(
                ResultReason::ServerLimitExceeded,
                format!(
                    "{} streams are open, the most this server keeps",
                    limits.max_open_streams
                ),
            ));
        }
        let id = crate::crypto::random(16)
            .map_err(super::crypto_common::crypto_error)?
            .to_vec();
        open.insert(id.clone(), stream);
        Ok(id)
    }

    /// Takes a stream out to continue it; it must exist, be within its lifetime and belong to the caller and
    /// operation. The caller puts it back with [`Streams::put_back`] unless this was the final request.
    pub fn take(
        &self,
        limits: &CryptoLimits,
        now: i64,
        id: &[u8],
        owner: &str,
        operation: Operation,
    ) -> Result<Stream, KmipError> {
        let mut open = self.open.lock().map_err(|_| poisoned())?;
        open.retain(|_, s| now - s.opened < limits.stream_lifetime_secs);
        let invalid = || {
            KmipError::new(
                ResultReason::InvalidCorrelationValue,
                "no open stream has this Correlation Value",
            )
        };
        let stream = open.get(id).ok_or_else(invalid)?;
        if stream.owner != owner || stream.operation != operation {
            return Err(invalid());
        }
        open.remove(id).ok_or_else(invalid)
    }

    /// Puts a continued stream back under its Correlation Value.
    pub fn put_back(&self, id: Vec<u8>, stream: Stream) -> Result<(), KmipError> {
        let mut open = self.open.lock().map_err(|_| poisoned())?;
        open.insert(id, stream);
        Ok(())
    }

    /// How many streams are open (for tests and metrics).
    pub fn len(&self) -> usize {
        self.open.lock().map_or(0, |o| o.len())
    }

    /// True when no stream is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub use crate::kmip::operations::crypto::Step;

/// Reads the stream fields of a request payload.
pub fn step(payload: &crate::ttlv::Ttlv) -> Result<Step, KmipError> {
    Step::of_payload(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_stream(owner: &str) -> Stream {
        Stream {
            operation: Operation::HASH,
            owner: owner.to_string(),
            key_uid: String::new(),
            opened: 0,
            state: StreamState::Hash(Hasher::new(crate::crypto::digest::HashAlg::Sha256)),
        }
    }

    #[test]
    fn one_identity_cannot_take_every_stream_slot() {
        let limits = CryptoLimits {
            max_open_streams: 5,
            max_open_streams_per_identity: 2,
            ..CryptoLimits::DEFAULT
        };
        let streams = Streams::default();
        let first = streams.open(&limits, 0, hash_stream("flood")).unwrap();
        streams.open(&limits, 0, hash_stream("flood")).unwrap();
        let refused = streams.open(&limits, 0, hash_stream("flood")).unwrap_err();
        assert_eq!(refused.reason, ResultReason::ServerLimitExceeded);
        // Another identity still opens its own, up to the server-wide cap.
        streams.open(&limits, 0, hash_stream("other")).unwrap();
        streams.open(&limits, 0, hash_stream("other")).unwrap();
        streams.open(&limits, 0, hash_stream("third")).unwrap();
        assert!(streams.open(&limits, 0, hash_stream("fourth")).is_err());
        // Finishing one gives the identity its slot back.
        streams
            .take(&limits, 0, &first, "flood", Operation::HASH)
            .unwrap();
        streams.open(&limits, 0, hash_stream("flood")).unwrap();
    }
}
