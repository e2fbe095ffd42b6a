//! Key derivation: HKDF (RFC 5869) and PBKDF2 with HMAC (RFC 8018; vectors RFC 6070 / RFC 7914).

use zeroize::Zeroizing;

use super::digest::HashAlg;
use super::{CryptoError, Secret};

/// The largest PBKDF2 iteration count accepted: enough for any policy, bounded so one request cannot hold a
/// core for minutes.
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// HKDF extract-and-expand to `len` bytes (at most 255 hash lengths).
pub fn hkdf(
    alg: HashAlg,
    ikm: &[u8],
    salt: Option<&[u8]>,
    info: &[u8],
    len: usize,
) -> Result<Secret, CryptoError> {
    if len == 0 || len > 255 * alg.output_len() {
        return Err(CryptoError::OutputLength(len, "HKDF"));
    }
    let mut okm = Zeroizing::new(vec![0u8; len]);
    let r = match alg {
        HashAlg::Sha1 => hkdf::Hkdf::<sha1::Sha1>::new(salt, ikm).expand(info, &mut okm),
        HashAlg::Sha224 => hkdf::Hkdf::<sha2::Sha224>::new(salt, ikm).expand(info, &mut okm),
        HashAlg::Sha256 => hkdf::Hkdf::<sha2::Sha256>::new(salt, ikm).expand(info, &mut okm),
        HashAlg::Sha384 => hkdf::Hkdf::<sha2::Sha384>::new(salt, ikm).expand(info, &mut okm),
        HashAlg::Sha512 => hkdf::Hkdf::<sha2::Sha512>::new(salt, ikm).expand(info, &mut okm),
    };
    r.map_err(|_| CryptoError::OutputLength(len, "HKDF"))?;
    Ok(okm)
}

/// PBKDF2-HMAC to `len` bytes.
pub fn pbkdf2(
    alg: HashAlg,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    len: usize,
) -> Result<Secret, CryptoError> {
    if iterations == 0 || iterations > MAX_PBKDF2_ITERATIONS {
        return Err(CryptoError::Parameter(
            "the PBKDF2 iteration count is out of range",
        ));
    }
    if len == 0 || len > 1024 {
        return Err(CryptoError::OutputLength(len, "PBKDF2"));
    }
    let mut out = Zeroizing::new(vec![0u8; len]);
    match alg {
        HashAlg::Sha1 => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, iterations, &mut out),
        HashAlg::Sha224 => {
            pbkdf2::pbkdf2_hmac::<sha2::Sha224>(password, salt, iterations, &mut out)
        }
        HashAlg::Sha256 => {
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, iterations, &mut out)
        }
        HashAlg::Sha384 => {
            pbkdf2::pbkdf2_hmac::<sha2::Sha384>(password, salt, iterations, &mut out)
        }
        HashAlg::Sha512 => {
            pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, salt, iterations, &mut out)
        }
    }
    Ok(out)
}
