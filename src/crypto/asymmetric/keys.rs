//! Key pair generation: P-256 with the `p256` crate, Ed25519 with `ed25519-dalek`, RSA of 2048, 3072 or 4096
//! bits with aws-lc-rs (constant-time; see the module above). Every secret comes from the one generator the
//! server names in the Random Number Generator attribute of what it generates: AWS-LC's CTR_DRBG (AES-256),
//! which aws-lc-rs seeds from the operating system.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::KeyPair as _;
use ed25519_dalek::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _};
use zeroize::Zeroizing;

use super::AsymError;

/// The RSA modulus lengths Create Key Pair generates, in bits.
pub const RSA_BITS: [i32; 3] = [2048, 3072, 4096];

/// What kind of key pair to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairKind {
    /// ECDSA / ECDH on NIST P-256.
    P256,
    /// Ed25519.
    Ed25519,
    /// RSA with a modulus of this many bits (one of [`RSA_BITS`]).
    Rsa(i32),
}

impl PairKind {
    /// The length the Cryptographic Length attribute states for keys of this kind.
    pub fn bits(self) -> i32 {
        match self {
            PairKind::P256 | PairKind::Ed25519 => 256,
            PairKind::Rsa(bits) => bits,
        }
    }
}

/// A generated key pair: the private key as PKCS#8 (zeroized on drop) and the public key as SubjectPublicKeyInfo.
pub struct GeneratedPair {
    /// PKCS#8 PrivateKeyInfo, DER.
    pub private_pkcs8: Zeroizing<Vec<u8>>,
    /// SubjectPublicKeyInfo, DER.
    pub public_spki: Vec<u8>,
}

impl std::fmt::Debug for GeneratedPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedPair").finish_non_exhaustive()
    }
}

/// Draws of 32 random bytes tried for a P-256 scalar: a draw fails (is 0 or at least the group order) with
/// probability about 2^-32, so failing this many times in a row means the generator is broken.
const P256_DRAWS: usize = 8;

/// A P-256 secret scalar by rejection sampling over the server's generator.
fn p256_secret() -> Option<p256::SecretKey> {
    for _ in 0..P256_DRAWS {
        let mut candidate = Zeroizing::new([0u8; 32]);
        aws_lc_rs::rand::fill(candidate.as_mut_slice()).ok()?;
        if let Ok(secret) = p256::SecretKey::from_slice(candidate.as_slice()) {
            return Some(secret);
        }
    }
    None
}

/// Generates a key pair of `kind`.
pub fn generate(kind: PairKind) -> Result<GeneratedPair, AsymError> {
    let failed = |()| AsymError::Failed("key pair generation");
    match kind {
        PairKind::P256 => {
            // The secret key zeroizes itself on drop, and so does the PKCS#8 document.
            let secret = p256_secret().ok_or(AsymError::Failed("key pair generation"))?;
            let pkcs8 = secret.to_pkcs8_der().map_err(|_| failed(()))?;
            let public = secret
                .public_key()
                .to_public_key_der()
                .map_err(|_| failed(()))?;
            Ok(GeneratedPair {
                private_pkcs8: Zeroizing::new(pkcs8.as_bytes().to_vec()),
                public_spki: public.as_bytes().to_vec(),
            })
        }
        PairKind::Ed25519 => {
            let mut seed = Zeroizing::new([0u8; ed25519_dalek::SECRET_KEY_LENGTH]);
            aws_lc_rs::rand::fill(seed.as_mut_slice()).map_err(|_| failed(()))?;
            let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
            // PKCS#8 v1 (the seed alone, RFC 8410), the form the Ed25519 key formats convert through.
            let pkcs8 = ed25519_dalek::pkcs8::KeypairBytes {
                secret_key: *seed,
                public_key: None,
            };
            let der = pkcs8.to_pkcs8_der().map_err(|_| failed(()))?;
            let public = signing
                .verifying_key()
                .to_public_key_der()
                .map_err(|_| failed(()))?;
            Ok(GeneratedPair {
                private_pkcs8: Zeroizing::new(der.as_bytes().to_vec()),
                public_spki: public.as_bytes().to_vec(),
            })
        }
        PairKind::Rsa(bits) => {
            let size = match bits {
                2048 => aws_lc_rs::rsa::KeySize::Rsa2048,
                3072 => aws_lc_rs::rsa::KeySize::Rsa3072,
                4096 => aws_lc_rs::rsa::KeySize::Rsa4096,
                other => {
                    return Err(AsymError::Unsupported(format!(
                        "RSA keys are generated with 2048, 3072 or 4096 bits, not {other}"
                    )));
                }
            };
            let pair = aws_lc_rs::rsa::KeyPair::generate(size).map_err(|_| failed(()))?;
            let pkcs8: aws_lc_rs::encoding::Pkcs8V1Der<'_> =
                pair.as_der().map_err(|_| failed(()))?;
            let public = pair.public_key().as_der().map_err(|_| failed(()))?;
            Ok(GeneratedPair {
                private_pkcs8: Zeroizing::new(pkcs8.as_ref().to_vec()),
                public_spki: public.as_ref().to_vec(),
            })
        }
    }
}
