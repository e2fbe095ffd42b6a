//! Authenticated encryption: AES-GCM (NIST SP 800-38D) with the IV lengths clients send and tags truncated to
//! any length the specification allows, and ChaCha20-Poly1305 (RFC 8439). The tag travels apart from the
//! ciphertext, as KMIP carries it in its own field.

use aes::{Aes128, Aes192, Aes256};
use aes_gcm::AesGcm;
use aes_gcm::aead::array::ArraySize;
use aes_gcm::aead::consts::{U8, U12, U13, U14, U15, U16, U60};
use aes_gcm::aead::{AeadInOut, KeyInit, Nonce, Tag};
use chacha20poly1305::ChaCha20Poly1305;
use zeroize::Zeroizing;

use super::block::with_aes;
use super::{CryptoError, Secret};

/// GCM IV lengths accepted, in bytes: 96 bits is the recommended one; 64, 128 and 480 bits appear in the NIST
/// and KMIP test vectors.
pub const GCM_IV_LENGTHS: &[usize] = &[8, 12, 16, 60];

/// GCM tag lengths accepted, in bytes: 96 to 128 bits, every length the aes-gcm crate's `TagSize` takes
/// (NIST SP 800-38D section 5.2.1.2). The 32- and 64-bit tags it allows only under the limits of its appendix C
/// (bounded message lengths and invocations per key, which a key server cannot enforce on its clients) are
/// refused; the crate offers them only behind its `hazmat` feature, with none of those limits.
pub const GCM_TAG_LENGTHS: &[usize] = &[12, 13, 14, 15, 16];

/// Ciphertext and its authentication tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The ciphertext, as long as the plaintext.
    pub ciphertext: Vec<u8>,
    /// The tag, `tag_len` bytes.
    pub tag: Vec<u8>,
}

fn seal_with<A: AeadInOut + KeyInit>(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    data: &[u8],
) -> Result<(Vec<u8>, Tag<A>), CryptoError> {
    let cipher = A::new_from_slice(key).map_err(|_| CryptoError::KeyLength(key.len(), "AEAD"))?;
    let nonce =
        Nonce::<A>::try_from(nonce).map_err(|_| CryptoError::IvLength(nonce.len(), "AEAD"))?;
    let mut buf = data.to_vec();
    let tag = cipher
        .encrypt_inout_detached(&nonce, aad, buf.as_mut_slice().into())
        .map_err(|_| CryptoError::DataLength(data.len(), "AEAD"))?;
    Ok((buf, tag))
}

fn open_with<A: AeadInOut + KeyInit>(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    data: &[u8],
    tag: &[u8],
) -> Result<Secret, CryptoError> {
    let cipher = A::new_from_slice(key).map_err(|_| CryptoError::KeyLength(key.len(), "AEAD"))?;
    let nonce =
        Nonce::<A>::try_from(nonce).map_err(|_| CryptoError::IvLength(nonce.len(), "AEAD"))?;
    let tag = Tag::<A>::try_from(tag).map_err(|_| CryptoError::TagLength(tag.len(), "AEAD"))?;
    let mut buf = Zeroizing::new(data.to_vec());
    cipher
        .decrypt_inout_detached(&nonce, aad, buf.as_mut_slice().into(), &tag)
        .map_err(|_| CryptoError::Authentication)?;
    Ok(buf)
}

/// Runs `$body` with `$n` bound to the nonce size type for a GCM IV of `$len` bytes.
macro_rules! with_gcm_iv {
    ($len:expr, $n:ident => $body:expr) => {
        match $len {
            8 => {
                type $n = U8;
                $body
            }
            12 => {
                type $n = U12;
                $body
            }
            16 => {
                type $n = U16;
                $body
            }
            60 => {
                type $n = U60;
                $body
            }
            n => Err(CryptoError::IvLength(n, "AES-GCM")),
        }
    };
}

fn gcm_seal_n<C, N: ArraySize>(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    data: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), CryptoError>
where
    AesGcm<C, N>: AeadInOut + KeyInit,
{
    seal_with::<AesGcm<C, N>>(key, iv, aad, data).map(|(c, t)| (c, t.to_vec()))
}

fn gcm_open_n<C, N: ArraySize>(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    data: &[u8],
    tag: &[u8],
) -> Result<Secret, CryptoError>
where
    AesGcm<C, N, U12>: AeadInOut + KeyInit,
    AesGcm<C, N, U13>: AeadInOut + KeyInit,
    AesGcm<C, N, U14>: AeadInOut + KeyInit,
    AesGcm<C, N, U15>: AeadInOut + KeyInit,
    AesGcm<C, N, U16>: AeadInOut + KeyInit,
{
    match tag.len() {
        12 => open_with::<AesGcm<C, N, U12>>(key, iv, aad, data, tag),
        13 => open_with::<AesGcm<C, N, U13>>(key, iv, aad, data, tag),
        14 => open_with::<AesGcm<C, N, U14>>(key, iv, aad, data, tag),
        15 => open_with::<AesGcm<C, N, U15>>(key, iv, aad, data, tag),
        16 => open_with::<AesGcm<C, N, U16>>(key, iv, aad, data, tag),
        n => Err(CryptoError::TagLength(n, "AES-GCM")),
    }
}

/// AES-GCM encryption; the tag is the first `tag_len` bytes of the full tag (SP 800-38D's MSB_t).
pub fn gcm_seal(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    data: &[u8],
    tag_len: usize,
) -> Result<Sealed, CryptoError> {
    if !GCM_TAG_LENGTHS.contains(&tag_len) {
        return Err(CryptoError::TagLength(tag_len, "AES-GCM"));
    }
    let (ciphertext, mut tag) = with_aes!(key, "AES", C => {
        with_gcm_iv!(iv.len(), N => gcm_seal_n::<C, N>(key, iv, aad, data))
    })?;
    tag.truncate(tag_len);
    Ok(Sealed { ciphertext, tag })
}

/// AES-GCM decryption and tag check; the tag's length is the tag length.
pub fn gcm_open(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    data: &[u8],
    tag: &[u8],
) -> Result<Secret, CryptoError> {
    with_aes!(key, "AES", C => {
        with_gcm_iv!(iv.len(), N => gcm_open_n::<C, N>(key, iv, aad, data, tag))
    })
}

fn chacha_checks(key: &[u8], nonce: &[u8]) -> Result<(), CryptoError> {
    if key.len() != 32 {
        return Err(CryptoError::KeyLength(key.len(), "ChaCha20-Poly1305"));
    }
    if nonce.len() != 12 {
        return Err(CryptoError::IvLength(nonce.len(), "ChaCha20-Poly1305"));
    }
    Ok(())
}

/// ChaCha20-Poly1305 tag lengths accepted, in bytes: the full 16, or truncated to no fewer than 12 (as for
/// GCM).
pub const CHACHA_TAG_LENGTHS: &[usize] = &[12, 13, 14, 15, 16];

/// ChaCha20-Poly1305 encryption (12-byte nonce); the tag is the first `tag_len` bytes of the full tag.
pub fn chacha20poly1305_seal(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    data: &[u8],
    tag_len: usize,
) -> Result<Sealed, CryptoError> {
    chacha_checks(key, nonce)?;
    if !CHACHA_TAG_LENGTHS.contains(&tag_len) {
        return Err(CryptoError::TagLength(tag_len, "ChaCha20-Poly1305"));
    }
    let (ciphertext, tag) = seal_with::<ChaCha20Poly1305>(key, nonce, aad, data)?;
    let mut tag = tag.to_vec();
    tag.truncate(tag_len);
    Ok(Sealed { ciphertext, tag })
}

/// ChaCha20-Poly1305 decryption and tag check. A truncated tag is checked by recomputing the full tag over
/// the candidate plaintext (RFC 8439: the cipher runs from block counter 1) and comparing the leading bytes in
/// constant time; the plaintext is released only when they match.
pub fn chacha20poly1305_open(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    data: &[u8],
    tag: &[u8],
) -> Result<Secret, CryptoError> {
    chacha_checks(key, nonce)?;
    if !CHACHA_TAG_LENGTHS.contains(&tag.len()) {
        return Err(CryptoError::TagLength(tag.len(), "ChaCha20-Poly1305"));
    }
    if tag.len() == 16 {
        return open_with::<ChaCha20Poly1305>(key, nonce, aad, data, tag);
    }
    let candidate = super::block::chacha20_apply(key, nonce, 1, data)?;
    let (_, full) = seal_with::<ChaCha20Poly1305>(key, nonce, aad, &candidate)?;
    super::mac::verify(tag, &full)?;
    Ok(candidate)
}
