//! Message authentication codes: HMAC over the SHA family (RFC 2104, 4231) and AES-CMAC (RFC 4493, SP
//! 800-38B). Verification compares in constant time.

use hmac::{KeyInit, Mac};
use subtle::ConstantTimeEq;

use super::CryptoError;
use super::digest::HashAlg;

/// A MAC computation over data given in pieces, so MAC can stream.
#[derive(Clone)]
pub enum MacState {
    /// HMAC-SHA-1.
    HmacSha1(hmac::Hmac<sha1::Sha1>),
    /// HMAC-SHA-224.
    HmacSha224(hmac::Hmac<sha2::Sha224>),
    /// HMAC-SHA-256.
    HmacSha256(hmac::Hmac<sha2::Sha256>),
    /// HMAC-SHA-384.
    HmacSha384(hmac::Hmac<sha2::Sha384>),
    /// HMAC-SHA-512.
    HmacSha512(hmac::Hmac<sha2::Sha512>),
    /// AES-128-CMAC.
    Cmac128(cmac::Cmac<aes::Aes128>),
    /// AES-192-CMAC.
    Cmac192(cmac::Cmac<aes::Aes192>),
    /// AES-256-CMAC.
    Cmac256(cmac::Cmac<aes::Aes256>),
}

impl std::fmt::Debug for MacState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The state holds key-derived bytes: show only the kind.
        f.write_str("MacState(..)")
    }
}

/// Which MAC to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MacAlg {
    /// HMAC with the hash.
    Hmac(HashAlg),
    /// AES-CMAC (the key length selects AES-128/192/256).
    AesCmac,
}

impl MacState {
    /// Starts a MAC under `key`. HMAC takes keys of any length except empty.
    pub fn new(alg: MacAlg, key: &[u8]) -> Result<Self, CryptoError> {
        let bad = |_| CryptoError::KeyLength(key.len(), "the MAC");
        if key.is_empty() {
            return Err(CryptoError::KeyLength(0, "the MAC"));
        }
        Ok(match alg {
            MacAlg::Hmac(HashAlg::Sha1) => {
                MacState::HmacSha1(KeyInit::new_from_slice(key).map_err(bad)?)
            }
            MacAlg::Hmac(HashAlg::Sha224) => {
                MacState::HmacSha224(KeyInit::new_from_slice(key).map_err(bad)?)
            }
            MacAlg::Hmac(HashAlg::Sha256) => {
                MacState::HmacSha256(KeyInit::new_from_slice(key).map_err(bad)?)
            }
            MacAlg::Hmac(HashAlg::Sha384) => {
                MacState::HmacSha384(KeyInit::new_from_slice(key).map_err(bad)?)
            }
            MacAlg::Hmac(HashAlg::Sha512) => {
                MacState::HmacSha512(KeyInit::new_from_slice(key).map_err(bad)?)
            }
            MacAlg::AesCmac => match key.len() {
                16 => MacState::Cmac128(KeyInit::new_from_slice(key).map_err(bad)?),
                24 => MacState::Cmac192(KeyInit::new_from_slice(key).map_err(bad)?),
                32 => MacState::Cmac256(KeyInit::new_from_slice(key).map_err(bad)?),
                n => return Err(CryptoError::KeyLength(n, "AES-CMAC")),
            },
        })
    }

    /// Feeds more data.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            MacState::HmacSha1(m) => m.update(data),
            MacState::HmacSha224(m) => m.update(data),
            MacState::HmacSha256(m) => m.update(data),
            MacState::HmacSha384(m) => m.update(data),
            MacState::HmacSha512(m) => m.update(data),
            MacState::Cmac128(m) => m.update(data),
            MacState::Cmac192(m) => m.update(data),
            MacState::Cmac256(m) => m.update(data),
        }
    }

    /// The MAC of everything fed.
    pub fn finish(self) -> Vec<u8> {
        match self {
            MacState::HmacSha1(m) => m.finalize().into_bytes().to_vec(),
            MacState::HmacSha224(m) => m.finalize().into_bytes().to_vec(),
            MacState::HmacSha256(m) => m.finalize().into_bytes().to_vec(),
            MacState::HmacSha384(m) => m.finalize().into_bytes().to_vec(),
            MacState::HmacSha512(m) => m.finalize().into_bytes().to_vec(),
            MacState::Cmac128(m) => m.finalize().into_bytes().to_vec(),
            MacState::Cmac192(m) => m.finalize().into_bytes().to_vec(),
            MacState::Cmac256(m) => m.finalize().into_bytes().to_vec(),
        }
    }
}

/// The MAC of `data` under `key`.
pub fn mac(alg: MacAlg, key: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut m = MacState::new(alg, key)?;
    m.update(data);
    Ok(m.finish())
}

/// Checks `expected` against the MAC of `data` in constant time. A truncated MAC (at least 4 bytes) is
/// compared with the same number of leading bytes.
pub fn verify(expected: &[u8], computed: &[u8]) -> Result<(), CryptoError> {
    if expected.len() < 4 || expected.len() > computed.len() {
        return Err(CryptoError::Authentication);
    }
    let prefix = computed
        .get(..expected.len())
        .ok_or(CryptoError::Authentication)?;
    if bool::from(prefix.ct_eq(expected)) {
        Ok(())
    } else {
        Err(CryptoError::Authentication)
    }
}
