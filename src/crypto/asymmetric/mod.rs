//! Asymmetric cryptography with no KMIP in it: key pair generation, signatures and RSA encryption over aws-lc-rs,
//! whose private-key operations are constant-time (the `rsa` crate's decryption is not: RUSTSEC-2023-0071).
//! Private keys come in and go out as PKCS#8, public keys as SubjectPublicKeyInfo; the operations convert stored
//! keys to these forms with `kmip::key_format` first. Errors carry fixed texts only, never key bytes.

pub mod keys;
pub mod rsa_cipher;
pub mod signature;

#[cfg(test)]
mod tests;

/// Why an asymmetric operation could not be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AsymError {
    /// The key bytes do not hold a key the operation can use.
    #[error("the key is not a usable {0} key")]
    BadKey(&'static str),
    /// The algorithm or one of its parameters is not implemented.
    #[error("{0}")]
    Unsupported(String),
    /// The data given does not fit the operation (wrong digest length, too long for the modulus, ...).
    #[error("{0}")]
    BadInput(String),
    /// The primitive itself failed (a ciphertext that does not decrypt, the random source failing).
    #[error("the {0} operation failed")]
    Failed(&'static str),
}

/// The hash functions the signatures and OAEP use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    /// SHA-1 (OAEP and verification of old signatures only).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Hash {
    /// The digest's length in bytes.
    pub fn len(self) -> usize {
        self.algorithm().output_len()
    }

    /// Always false: a digest is never empty (for clippy's `len` rule).
    pub fn is_empty(self) -> bool {
        false
    }

    /// The aws-lc-rs digest algorithm.
    pub fn algorithm(self) -> &'static aws_lc_rs::digest::Algorithm {
        match self {
            Hash::Sha1 => &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            Hash::Sha256 => &aws_lc_rs::digest::SHA256,
            Hash::Sha384 => &aws_lc_rs::digest::SHA384,
            Hash::Sha512 => &aws_lc_rs::digest::SHA512,
        }
    }
}
