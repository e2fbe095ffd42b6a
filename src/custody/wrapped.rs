//! A master key wrapped under a passphrase, so the file itself can sit on ordinary storage (a configuration
//! management secret, a systemd credential) and is useless without the passphrase.
//!
//! The passphrase is stretched with Argon2id (salt and cost stored in the file) into a 256-bit key that seals
//! the master key with AES-256-GCM; the format line and the cost parameters are the associated data, so a file
//! whose costs were lowered does not open. The file is one JSON object of ASCII text.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::store::{MASTER_KEY_LEN, MasterKey};

/// The value of the file's `format` field.
pub const WRAPPED_FORMAT: &str = "kmipd-wrapped-master-key-v1";

/// Largest wrapped key file read (a real one is about 300 bytes).
pub const MAX_WRAPPED_FILE_BYTES: usize = 4096;

/// Argon2id memory cost `kmipd master-key init` and `wrap` use unless told otherwise (KiB; OWASP's figure).
pub const DEFAULT_ARGON2_MEMORY_KIB: u32 = 19 * 1024;

/// Argon2id passes used unless told otherwise.
pub const DEFAULT_ARGON2_ITERATIONS: u32 = 2;

/// Most memory a wrapped file may ask Argon2id for (KiB): a file cannot make the server allocate more.
pub const MAX_ARGON2_MEMORY_KIB: u32 = 1024 * 1024;

/// Most Argon2id passes a wrapped file may ask for.
pub const MAX_ARGON2_ITERATIONS: u32 = 64;

/// Most Argon2id lanes a wrapped file may ask for.
pub const MAX_ARGON2_LANES: u32 = 16;

const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;

/// Why a wrapped key could not be made or opened. Never carries the passphrase or key bytes.
#[derive(Debug, Error)]
pub enum WrapError {
    /// The file is not a wrapped master key of this format.
    #[error("not a kmipd wrapped master key: {0}")]
    Format(String),
    /// Cost parameters beyond the named maxima, or refused by Argon2.
    #[error("wrapped master key: {0}")]
    Parameters(String),
    /// The passphrase is empty.
    #[error("the passphrase is empty")]
    EmptyPassphrase,
    /// The authentication tag did not verify.
    #[error("wrong passphrase (or the wrapped key file was altered)")]
    WrongPassphrase,
    /// The operating system's random number generator failed.
    #[error("no randomness: {0}")]
    Randomness(String),
}

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrapCost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub lanes: u32,
}

impl Default for WrapCost {
    fn default() -> Self {
        WrapCost {
            memory_kib: DEFAULT_ARGON2_MEMORY_KIB,
            iterations: DEFAULT_ARGON2_ITERATIONS,
            lanes: 1,
        }
    }
}

impl WrapCost {
    fn check(&self) -> Result<argon2::Params, WrapError> {
        if self.memory_kib > MAX_ARGON2_MEMORY_KIB
            || self.iterations > MAX_ARGON2_ITERATIONS
            || self.lanes > MAX_ARGON2_LANES
        {
            return Err(WrapError::Parameters(format!(
                "Argon2id cost m={} KiB t={} p={} beyond the limits m<={MAX_ARGON2_MEMORY_KIB} \
                 t<={MAX_ARGON2_ITERATIONS} p<={MAX_ARGON2_LANES}",
                self.memory_kib, self.iterations, self.lanes
            )));
        }
        argon2::Params::new(
            self.memory_kib,
            self.iterations,
            self.lanes,
            Some(MASTER_KEY_LEN),
        )
        .map_err(|e| WrapError::Parameters(format!("Argon2id refuses the cost: {e}")))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WrappedFile {
    format: String,
    kdf: String,
    memory_kib: u32,
    iterations: u32,
    lanes: u32,
    salt: String,
    nonce: String,
    ciphertext: String,
}

/// True when `contents` looks like a wrapped master key (a JSON object naming this format), so a key file of
/// either kind can be given in the same place.
pub fn is_wrapped(contents: &[u8]) -> bool {
    let text = String::from_utf8_lossy(contents);
    let text = text.trim_start();
    text.starts_with('{') && text.contains(WRAPPED_FORMAT)
}

/// Wraps `key` under `passphrase`: the JSON text of a wrapped key file.
pub fn wrap(key: &MasterKey, passphrase: &[u8], cost: WrapCost) -> Result<String, WrapError> {
    if passphrase.is_empty() {
        return Err(WrapError::EmptyPassphrase);
    }
    let salt: [u8; SALT_LEN] =
        crate::crypto::random_array().map_err(|e| WrapError::Randomness(e.to_string()))?;
    let nonce: [u8; NONCE_LEN] =
        crate::crypto::random_array().map_err(|e| WrapError::Randomness(e.to_string()))?;
    let kek = stretch(passphrase, &salt, cost)?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let salt_text = b64.encode(salt);
    let cipher =
        Aes256Gcm::new_from_slice(kek.as_slice()).map_err(|e| WrapError::Format(e.to_string()))?;
    let ciphertext = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: key.bytes(),
                aad: associated_data(cost, &salt_text).as_bytes(),
            },
        )
        .map_err(|_| WrapError::Format("AES-GCM sealing failed".into()))?;
    let file = WrappedFile {
        format: WRAPPED_FORMAT.to_string(),
        kdf: "argon2id".to_string(),
        memory_kib: cost.memory_kib,
        iterations: cost.iterations,
        lanes: cost.lanes,
        salt: salt_text,
        nonce: b64.encode(nonce),
        ciphertext: b64.encode(ciphertext),
    };
    let mut text =
        serde_json::to_string_pretty(&file).map_err(|e| WrapError::Format(e.to_string()))?;
    text.push('\n');
    Ok(text)
}

/// Opens a wrapped key file's contents with `passphrase`.
pub fn unwrap(contents: &[u8], passphrase: &[u8]) -> Result<MasterKey, WrapError> {
    if contents.len() > MAX_WRAPPED_FILE_BYTES {
        return Err(WrapError::Format(format!(
            "{} bytes, more than the {MAX_WRAPPED_FILE_BYTES} a wrapped key takes",
            contents.len()
        )));
    }
    if passphrase.is_empty() {
        return Err(WrapError::EmptyPassphrase);
    }
    let file: WrappedFile =
        serde_json::from_slice(contents).map_err(|e| WrapError::Format(e.to_string()))?;
    if file.format != WRAPPED_FORMAT || file.kdf != "argon2id" {
        return Err(WrapError::Format(format!(
            "format {:?} with kdf {:?}; expected {WRAPPED_FORMAT} with argon2id",
            file.format, file.kdf
        )));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let field = |name: &str, text: &str| {
        b64.decode(text)
            .map_err(|_| WrapError::Format(format!("{name} is not base64")))
    };
    let salt = field("salt", &file.salt)?;
    let nonce = <[u8; NONCE_LEN]>::try_from(field("nonce", &file.nonce)?.as_slice())
        .map_err(|_| WrapError::Format(format!("the nonce is not {NONCE_LEN} bytes")))?;
    let ciphertext = field("ciphertext", &file.ciphertext)?;
    let cost = WrapCost {
        memory_kib: file.memory_kib,
        iterations: file.iterations,
        lanes: file.lanes,
    };
    let kek = stretch(passphrase, &salt, cost)?;
    let cipher =
        Aes256Gcm::new_from_slice(kek.as_slice()).map_err(|e| WrapError::Format(e.to_string()))?;
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &ciphertext,
                    aad: associated_data(cost, &file.salt).as_bytes(),
                },
            )
            .map_err(|_| WrapError::WrongPassphrase)?,
    );
    let bytes = <[u8; MASTER_KEY_LEN]>::try_from(plain.as_slice())
        .map_err(|_| WrapError::Format("the sealed key is not 32 bytes".into()))?;
    Ok(MasterKey::from_bytes(bytes))
}

fn associated_data(cost: WrapCost, salt: &str) -> String {
    format!(
        "{WRAPPED_FORMAT} argon2id m={} t={} p={} salt={salt}",
        cost.memory_kib, cost.iterations, cost.lanes
    )
}

fn stretch(
    passphrase: &[u8],
    salt: &[u8],
    cost: WrapCost,
) -> Result<Zeroizing<[u8; MASTER_KEY_LEN]>, WrapError> {
    let params = cost.check()?;
    let mut kek = Zeroizing::new([0u8; MASTER_KEY_LEN]);
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password_into(passphrase, salt, kek.as_mut_slice())
        .map_err(|e| WrapError::Parameters(format!("Argon2id: {e}")))?;
    Ok(kek)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cheap costs: the tests check the format, not the strength.
    const CHEAP: WrapCost = WrapCost {
        memory_kib: 64,
        iterations: 1,
        lanes: 1,
    };

    #[test]
    fn wraps_and_unwraps_with_the_passphrase_only() {
        let key = MasterKey::from_bytes([7; MASTER_KEY_LEN]);
        let text = wrap(&key, b"correct horse", CHEAP).unwrap();
        assert!(is_wrapped(text.as_bytes()));
        assert!(!text.contains(&hex::encode([7u8; MASTER_KEY_LEN])));
        let back = unwrap(text.as_bytes(), b"correct horse").unwrap();
        assert_eq!(back.bytes(), key.bytes());
        assert!(matches!(
            unwrap(text.as_bytes(), b"wrong horse"),
            Err(WrapError::WrongPassphrase)
        ));
        assert!(matches!(
            unwrap(text.as_bytes(), b""),
            Err(WrapError::EmptyPassphrase)
        ));
        assert!(matches!(
            wrap(&key, b"", CHEAP),
            Err(WrapError::EmptyPassphrase)
        ));
    }

    #[test]
    fn lowered_costs_do_not_open_and_excessive_costs_are_refused() {
        let key = MasterKey::from_bytes([9; MASTER_KEY_LEN]);
        let text = wrap(&key, b"pass", CHEAP).unwrap();
        let lowered = text.replace("\"memory_kib\": 64", "\"memory_kib\": 32");
        assert_ne!(lowered, text);
        assert!(matches!(
            unwrap(lowered.as_bytes(), b"pass"),
            Err(WrapError::WrongPassphrase)
        ));
        let huge = text.replace(
            "\"memory_kib\": 64",
            &format!("\"memory_kib\": {}", MAX_ARGON2_MEMORY_KIB + 1),
        );
        assert!(matches!(
            unwrap(huge.as_bytes(), b"pass"),
            Err(WrapError::Parameters(_))
        ));
        let many = text.replace(
            "\"iterations\": 1",
            &format!("\"iterations\": {}", MAX_ARGON2_ITERATIONS + 1),
        );
        assert!(matches!(
            unwrap(many.as_bytes(), b"pass"),
            Err(WrapError::Parameters(_))
        ));
    }

    #[test]
    fn oversized_or_foreign_files_are_not_wrapped_keys() {
        let big = vec![b' '; MAX_WRAPPED_FILE_BYTES + 1];
        assert!(matches!(unwrap(&big, b"p"), Err(WrapError::Format(_))));
        assert!(!is_wrapped(&[0x11; 32]));
        assert!(!is_wrapped(hex::encode([1u8; 32]).as_bytes()));
        let other = br#"{"format":"something-else","kdf":"argon2id","memory_kib":64,"iterations":1,"lanes":1,"salt":"","nonce":"","ciphertext":""}"#;
        assert!(matches!(unwrap(other, b"p"), Err(WrapError::Format(_))));
    }
}
