//! The cryptography the operations run, as pure functions over bytes: no KMIP types, no store, no logging.
//! Keeping it apart lets every algorithm be checked against its published test vectors on its own, and keeps
//! the KMIP layer to choosing parameters and mapping errors. Every primitive comes from the RustCrypto crates;
//! this module only selects and composes them. Secrets handed back are [`Zeroizing`] buffers.

pub mod aead;
pub mod asymmetric;
pub mod block;
pub mod digest;
pub mod kdf;
pub mod mac;

#[cfg(test)]
mod tests;

use zeroize::Zeroizing;

/// Bytes that may be secret (plaintext, derived keys): wiped when dropped.
pub type Secret = Zeroizing<Vec<u8>>;

/// Why a cryptographic function refused or failed. Messages name lengths and parameters, never bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The key has a length the algorithm does not take.
    #[error("a key of {0} bytes is not valid for {1}")]
    KeyLength(usize, &'static str),
    /// The IV, nonce or counter block has a length the mode does not take.
    #[error("an IV/nonce of {0} bytes is not valid for {1}")]
    IvLength(usize, &'static str),
    /// The authentication tag length is not one the mode allows.
    #[error("a tag of {0} bytes is not valid for {1}")]
    TagLength(usize, &'static str),
    /// The data length does not suit the mode (e.g. not whole blocks without padding).
    #[error("{0} bytes of data are not valid for {1}")]
    DataLength(usize, &'static str),
    /// The requested output length is out of the algorithm's range.
    #[error("an output of {0} bytes is out of range for {1}")]
    OutputLength(usize, &'static str),
    /// Authenticated decryption, key unwrapping or MAC verification failed.
    #[error("authentication failed")]
    Authentication,
    /// The padding of decrypted data is malformed.
    #[error("the decrypted data is not correctly padded")]
    Padding,
    /// A parameter (iteration count, counter length, ...) is out of range.
    #[error("{0}")]
    Parameter(&'static str),
    /// The operating system's random source failed.
    #[error("the random source failed")]
    Random,
}

/// `N` bytes from the operating system's random source (the one source every part of kmipd draws from: keys,
/// nonces, salts, identifiers).
pub fn random_array<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    aws_lc_rs::rand::fill(&mut out).map_err(|_| CryptoError::Random)?;
    Ok(out)
}

/// Fills a new buffer of `len` bytes from the operating system's random source.
pub fn random(len: usize) -> Result<Secret, CryptoError> {
    let mut out = Zeroizing::new(vec![0u8; len]);
    aws_lc_rs::rand::fill(&mut out).map_err(|_| CryptoError::Random)?;
    Ok(out)
}
