//! Encryption at rest, in one place: OS randomness, data keys wrapped under the master key with AES key wrap
//! (RFC 3394), and object blobs sealed with AES-256-GCM under a data key, a random 96-bit nonce, and
//! associated data binding the blob to its uid and object type (so a blob copied to another row fails).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::Zeroizing;

use super::error::StoreError;
use super::master_key::MasterKey;
use crate::crypto::{CryptoError, block};
use crate::ttlv::SecretBytes;

/// Data keys are AES-256 keys.
pub(crate) const DATA_KEY_LEN: usize = 32;
/// An RFC 3394 wrap adds one 8-byte semiblock.
pub(crate) const WRAPPED_DATA_KEY_LEN: usize = DATA_KEY_LEN + 8;
/// AES-GCM nonce length (96 bits, random per encryption).
pub(crate) const NONCE_LEN: usize = 12;
/// Version byte leading the associated data, so a future scheme cannot be confused with this one.
const AAD_VERSION: u8 = 1;

/// An unwrapped data key; zeroized on drop.
pub(crate) type DataKeyBytes = Zeroizing<[u8; DATA_KEY_LEN]>;

/// `N` bytes from the operating system's random number generator.
pub(crate) fn random_array<const N: usize>() -> Result<[u8; N], StoreError> {
    crate::crypto::random_array().map_err(|e| StoreError::Randomness(e.to_string()))
}

/// A new random data key.
pub(crate) fn generate_data_key() -> Result<DataKeyBytes, StoreError> {
    Ok(Zeroizing::new(random_array()?))
}

/// Wraps a data key (or the key check value) under the master key (RFC 3394, the one AES key wrap of
/// `crypto`).
pub(crate) fn wrap(master: &MasterKey, key: &[u8; DATA_KEY_LEN]) -> Result<Vec<u8>, StoreError> {
    block::key_wrap(master.bytes(), key, false).map_err(|_| StoreError::Crypto("key wrap"))
}

/// Unwraps a data key; an integrity failure means the master key is not the one that wrapped it.
pub(crate) fn unwrap(master: &MasterKey, wrapped: &[u8]) -> Result<DataKeyBytes, StoreError> {
    if wrapped.len() != WRAPPED_DATA_KEY_LEN {
        return Err(StoreError::Crypto("wrapped data key has the wrong length"));
    }
    let plain = block::key_unwrap(master.bytes(), wrapped, false).map_err(|e| match e {
        CryptoError::KeyLength(..) => StoreError::Crypto("master key length"),
        _ => StoreError::WrongMasterKey,
    })?;
    let mut out: DataKeyBytes = Zeroizing::new([0u8; DATA_KEY_LEN]);
    if plain.len() != DATA_KEY_LEN {
        return Err(StoreError::Crypto(
            "unwrapped data key has the wrong length",
        ));
    }
    out.copy_from_slice(&plain);
    Ok(out)
}

/// An object blob as stored: nonce and ciphertext (tag appended).
pub(crate) struct Sealed {
    pub nonce: [u8; NONCE_LEN],
    pub ciphertext: Vec<u8>,
}

fn aad(uid: &str, object_type: u32) -> Vec<u8> {
    let mut aad = Vec::with_capacity(5 + uid.len());
    aad.push(AAD_VERSION);
    aad.extend_from_slice(&object_type.to_be_bytes());
    aad.extend_from_slice(uid.as_bytes());
    aad
}

/// Encrypts an object's storage bytes for the row `uid`.
pub(crate) fn seal(
    key: &DataKeyBytes,
    uid: &str,
    object_type: u32,
    plaintext: &[u8],
) -> Result<Sealed, StoreError> {
    let cipher = Aes256Gcm::new_from_slice(key.as_slice())
        .map_err(|_| StoreError::Crypto("data key length"))?;
    let nonce: [u8; NONCE_LEN] = random_array()?;
    let aad = aad(uid, object_type);
    let ciphertext = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| StoreError::Crypto("AES-GCM encryption"))?;
    Ok(Sealed { nonce, ciphertext })
}

/// Decrypts and authenticates an object's blob; any mismatch is an integrity failure naming the uid.
pub(crate) fn open(
    key: &DataKeyBytes,
    uid: &str,
    object_type: u32,
    nonce: &[u8],
    ciphertext: &[u8],
) -> Result<SecretBytes, StoreError> {
    let integrity = |reason: &str| StoreError::Integrity {
        uid: uid.to_string(),
        reason: reason.to_string(),
    };
    let nonce =
        <[u8; NONCE_LEN]>::try_from(nonce).map_err(|_| integrity("nonce has the wrong length"))?;
    let cipher = Aes256Gcm::new_from_slice(key.as_slice())
        .map_err(|_| StoreError::Crypto("data key length"))?;
    let aad = aad(uid, object_type);
    let plaintext = cipher
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad: &aad,
            },
        )
        .map_err(|_| {
            integrity("authentication tag mismatch (tampered ciphertext, nonce, uid or type)")
        })?;
    Ok(SecretBytes::new(plaintext))
}

/// A UUID version 4 in its 36-character text form, from OS randomness.
pub(crate) fn uuid_v4() -> Result<String, StoreError> {
    let mut b: [u8; 16] = random_array()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}
