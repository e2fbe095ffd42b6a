//! Signatures: ECDSA P-256 with SHA-256 (DER-encoded, as KMIP expects; `p256`, deterministic per RFC 6979),
//! Ed25519 (`ed25519-dalek`), and RSA PKCS#1 v1.5 and PSS with SHA-256/384/512 (aws-lc-rs). ECDSA and RSA also
//! sign and verify a digest computed by the client; Ed25519 signs the message itself and has no digested form.

use aws_lc_rs::digest::Digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self as sig, RsaEncoding, RsaParameters, RsaPssSaltLength, RsaSignatureEncoding,
    UnparsedPublicKey, VerificationAlgorithm,
};
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
use p256::ecdsa::signature::hazmat::{PrehashSigner as _, PrehashVerifier as _};
use p256::ecdsa::signature::{Signer as _, Verifier as _};

use super::{AsymError, Hash};

/// A signature scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// ECDSA on P-256 with SHA-256, DER (X9.62 Ecdsa-Sig-Value) signature.
    EcdsaP256Sha256,
    /// Ed25519 (pure).
    Ed25519,
    /// RSASSA-PKCS1-v1_5 with the hash.
    RsaPkcs1(Hash),
    /// RSASSA-PSS with the hash, MGF1 with the same hash, and the salt length in bytes (`None`: as long as the
    /// digest when signing; the digest length or the largest the key allows when verifying).
    RsaPss(Hash, Option<u16>),
}

/// What is signed or verified: the message, or a digest of it the client computed.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// The message; the scheme hashes it.
    Message(&'a [u8]),
    /// The digest of the message under the scheme's hash.
    Digest(&'a [u8]),
}

impl Scheme {
    /// The hash the scheme signs with, if it hashes at all (Ed25519 does internally, with no digested form).
    pub fn hash(self) -> Option<Hash> {
        match self {
            Scheme::EcdsaP256Sha256 => Some(Hash::Sha256),
            Scheme::Ed25519 => None,
            Scheme::RsaPkcs1(h) | Scheme::RsaPss(h, _) => Some(h),
        }
    }

    fn rsa_signing(self) -> Result<&'static dyn RsaEncoding, AsymError> {
        Ok(match self {
            Scheme::RsaPkcs1(Hash::Sha256) => &sig::RSA_PKCS1_SHA256,
            Scheme::RsaPkcs1(Hash::Sha384) => &sig::RSA_PKCS1_SHA384,
            Scheme::RsaPkcs1(Hash::Sha512) => &sig::RSA_PKCS1_SHA512,
            Scheme::RsaPss(hash, salt) => pss_signing(hash, salt.map_or(PSS_DIGEST, Some))?,
            other => return Err(unsupported(other)),
        })
    }

    fn rsa_verification(self) -> Result<&'static dyn VerificationAlgorithm, AsymError> {
        Ok(match self {
            Scheme::RsaPkcs1(Hash::Sha1) => &sig::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            Scheme::RsaPkcs1(Hash::Sha256) => &sig::RSA_PKCS1_2048_8192_SHA256,
            Scheme::RsaPkcs1(Hash::Sha384) => &sig::RSA_PKCS1_2048_8192_SHA384,
            Scheme::RsaPkcs1(Hash::Sha512) => &sig::RSA_PKCS1_2048_8192_SHA512,
            Scheme::RsaPss(hash, salt) => pss_verification(hash, salt.map_or(PSS_DIGEST, Some))?,
            other => return Err(unsupported(other)),
        })
    }
}

/// The salt-length key for "as long as the digest".
const PSS_DIGEST: Option<u16> = None;

/// PSS algorithms with a salt length other than the digest's are built once per (hash, length) and kept for
/// the life of the process: aws-lc-rs takes them by `'static` reference. Lengths are bounded by
/// [`MAX_PSS_SALT`], so the table is too.
type PssTable<T> = std::sync::Mutex<std::collections::HashMap<(u8, Option<u16>), &'static T>>;

/// Largest PSS salt accepted, in bytes: what a 4096-bit key allows with SHA-256 is 478.
pub const MAX_PSS_SALT: u16 = 512;

fn pss_hash_index(hash: Hash) -> Result<u8, AsymError> {
    match hash {
        Hash::Sha256 => Ok(0),
        Hash::Sha384 => Ok(1),
        Hash::Sha512 => Ok(2),
        Hash::Sha1 => Err(AsymError::Unsupported(
            "RSASSA-PSS is offered with SHA-256, SHA-384 or SHA-512".to_string(),
        )),
    }
}

fn salt_length(salt: Option<u16>) -> Result<RsaPssSaltLength, AsymError> {
    match salt {
        None => Ok(RsaPssSaltLength::Digest),
        Some(s) if s <= MAX_PSS_SALT => Ok(RsaPssSaltLength::Custom(s)),
        Some(s) => Err(AsymError::BadInput(format!(
            "a PSS salt of {s} bytes exceeds the {MAX_PSS_SALT}-byte limit"
        ))),
    }
}

fn pss_signing(hash: Hash, salt: Option<u16>) -> Result<&'static dyn RsaEncoding, AsymError> {
    static TABLE: std::sync::OnceLock<PssTable<RsaSignatureEncoding>> = std::sync::OnceLock::new();
    let index = pss_hash_index(hash)?;
    let length = salt_length(salt)?;
    let table = TABLE.get_or_init(Default::default);
    let mut table = table.lock().map_err(|_| AsymError::Failed("signing"))?;
    let entry = table.entry((index, salt)).or_insert_with(|| {
        let base = match index {
            0 => sig::RSA_PSS_SHA256,
            1 => sig::RSA_PSS_SHA384,
            _ => sig::RSA_PSS_SHA512,
        };
        Box::leak(Box::new(base.with_pss_salt_length(length)))
    });
    Ok(*entry)
}

fn pss_verification(
    hash: Hash,
    salt: Option<u16>,
) -> Result<&'static dyn VerificationAlgorithm, AsymError> {
    static TABLE: std::sync::OnceLock<PssTable<RsaParameters>> = std::sync::OnceLock::new();
    let index = pss_hash_index(hash)?;
    let length = salt_length(salt)?;
    let table = TABLE.get_or_init(Default::default);
    let mut table = table
        .lock()
        .map_err(|_| AsymError::Failed("verification"))?;
    let entry = table.entry((index, salt)).or_insert_with(|| {
        let base = match index {
            0 => sig::RSA_PSS_2048_8192_SHA256,
            1 => sig::RSA_PSS_2048_8192_SHA384,
            _ => sig::RSA_PSS_2048_8192_SHA512,
        };
        Box::leak(Box::new(base.with_pss_salt_length(length)))
    });
    Ok(*entry)
}

fn hash_len_u16(hash: Hash) -> u16 {
    u16::try_from(hash.len()).unwrap_or(u16::MAX)
}

fn unsupported(scheme: Scheme) -> AsymError {
    AsymError::Unsupported(format!("signature scheme {scheme:?} is not supported"))
}

/// The hash of a scheme the client's digest must come from, once its length is checked.
fn digest_hash(scheme: Scheme, bytes: &[u8]) -> Result<Hash, AsymError> {
    let hash = scheme.hash().ok_or_else(ed25519_digest)?;
    if bytes.len() != hash.len() {
        return Err(AsymError::BadInput(format!(
            "Digested Data must be {} bytes for {hash:?}, not {}",
            hash.len(),
            bytes.len()
        )));
    }
    Ok(hash)
}

/// The client's digest as an aws-lc-rs digest of the scheme's hash (for RSA), or why it cannot be one.
fn digest(scheme: Scheme, bytes: &[u8]) -> Result<Digest, AsymError> {
    let hash = digest_hash(scheme, bytes)?;
    Digest::import_less_safe(bytes, hash.algorithm())
        .map_err(|_| AsymError::BadInput("Digested Data is not a digest".to_string()))
}

fn ed25519_digest() -> AsymError {
    AsymError::Unsupported("Ed25519 signs the message itself, not a digest of it".to_string())
}

/// A P-256 public key from SubjectPublicKeyInfo or an uncompressed or compressed SEC 1 point.
fn p256_verifying_key(public_key: &[u8]) -> Result<p256::ecdsa::VerifyingKey, AsymError> {
    p256::ecdsa::VerifyingKey::from_public_key_der(public_key)
        .or_else(|_| p256::ecdsa::VerifyingKey::from_sec1_bytes(public_key))
        .map_err(|_| AsymError::BadKey("P-256"))
}

/// An Ed25519 public key from SubjectPublicKeyInfo or the raw 32 bytes.
fn ed25519_verifying_key(public_key: &[u8]) -> Result<ed25519_dalek::VerifyingKey, AsymError> {
    let bad = || AsymError::BadKey("Ed25519");
    match <&[u8; ed25519_dalek::PUBLIC_KEY_LENGTH]>::try_from(public_key) {
        Ok(raw) => ed25519_dalek::VerifyingKey::from_bytes(raw).map_err(|_| bad()),
        Err(_) => ed25519_dalek::VerifyingKey::from_public_key_der(public_key).map_err(|_| bad()),
    }
}

/// Signs with a private key given as PKCS#8.
pub fn sign(scheme: Scheme, private_pkcs8: &[u8], input: Input<'_>) -> Result<Vec<u8>, AsymError> {
    let failed = |()| AsymError::Failed("signing");
    match scheme {
        Scheme::EcdsaP256Sha256 => {
            // The signing key zeroizes its scalar on drop.
            let key = p256::ecdsa::SigningKey::from_pkcs8_der(private_pkcs8)
                .map_err(|_| AsymError::BadKey("P-256"))?;
            let signature: p256::ecdsa::Signature = match input {
                Input::Message(m) => key.try_sign(m).map_err(|_| failed(()))?,
                Input::Digest(d) => {
                    digest_hash(scheme, d)?;
                    key.sign_prehash(d).map_err(|_| failed(()))?
                }
            };
            Ok(signature.to_der().as_bytes().to_vec())
        }
        Scheme::Ed25519 => {
            // The signing key zeroizes its secret on drop.
            let key = ed25519_dalek::SigningKey::from_pkcs8_der(private_pkcs8)
                .map_err(|_| AsymError::BadKey("Ed25519"))?;
            match input {
                Input::Message(m) => Ok(key.sign(m).to_bytes().to_vec()),
                Input::Digest(_) => Err(ed25519_digest()),
            }
        }
        Scheme::RsaPkcs1(_) | Scheme::RsaPss(..) => {
            let encoding = scheme.rsa_signing()?;
            let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(private_pkcs8)
                .map_err(|_| AsymError::BadKey("RSA"))?;
            let mut out = vec![0u8; pair.public_modulus_len()];
            match input {
                Input::Message(m) => pair
                    .sign(encoding, &SystemRandom::new(), m, &mut out)
                    .map_err(|_| failed(()))?,
                Input::Digest(d) => pair
                    .sign_digest(encoding, &digest(scheme, d)?, &mut out)
                    .map_err(|_| failed(()))?,
            }
            Ok(out)
        }
    }
}

/// Verifies a signature with a public key given as SubjectPublicKeyInfo (or the scheme's raw public key form):
/// `Ok(false)` for a signature that does not verify, an error for a key or input that cannot be used.
pub fn verify(
    scheme: Scheme,
    public_key: &[u8],
    input: Input<'_>,
    signature: &[u8],
) -> Result<bool, AsymError> {
    if let Scheme::RsaPss(hash, None) = scheme {
        // No salt length given: accept the digest length or the largest the key allows, the two that signers use.
        if verify(
            Scheme::RsaPss(hash, Some(hash_len_u16(hash))),
            public_key,
            input,
            signature,
        )? {
            return Ok(true);
        }
        let modulus = aws_lc_rs::rsa::PublicEncryptingKey::from_der(public_key)
            .map(|k| k.key_size_bytes())
            .unwrap_or(0);
        let max = modulus.saturating_sub(hash.len()).saturating_sub(2);
        return match u16::try_from(max) {
            Ok(m) if m > 0 && m <= MAX_PSS_SALT => {
                verify(Scheme::RsaPss(hash, Some(m)), public_key, input, signature)
            }
            _ => Ok(false),
        };
    }
    // Each key is parsed first, so a key that cannot be used is an error rather than an "invalid signature".
    match scheme {
        Scheme::EcdsaP256Sha256 => {
            let key = p256_verifying_key(public_key)?;
            // A signature that is not DER or whose integers are out of range simply does not verify.
            let Ok(signature) = p256::ecdsa::Signature::from_der(signature) else {
                return Ok(false);
            };
            let outcome = match input {
                Input::Message(m) => key.verify(m, &signature),
                Input::Digest(d) => {
                    digest_hash(scheme, d)?;
                    key.verify_prehash(d, &signature)
                }
            };
            return Ok(outcome.is_ok());
        }
        Scheme::Ed25519 => {
            let key = ed25519_verifying_key(public_key)?;
            let Ok(signature) = ed25519_dalek::Signature::from_slice(signature) else {
                return Ok(false);
            };
            return match input {
                // Strict: no small-order public keys or non-canonical points (RFC 8032 section 5.1.7).
                Input::Message(m) => Ok(key.verify_strict(m, &signature).is_ok()),
                Input::Digest(_) => Err(ed25519_digest()),
            };
        }
        Scheme::RsaPkcs1(_) | Scheme::RsaPss(..) => {}
    }
    let algorithm = scheme.rsa_verification()?;
    let key = UnparsedPublicKey::new(algorithm, public_key);
    key.parse().map_err(|_| AsymError::BadKey("RSA"))?;
    let outcome = match input {
        Input::Message(m) => key.verify(m, signature),
        Input::Digest(d) => key.verify_digest(&digest(scheme, d)?, signature),
    };
    Ok(outcome.is_ok())
}
