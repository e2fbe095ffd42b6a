//! The manifest beside each backup file: what the backup holds (the store's last sequence number, when it was
//! taken, the SHA-256 of its ciphertext and plaintext) and an HMAC-SHA256 over all of it under a key derived
//! from the master key, so an edited manifest is refused rather than believed.

use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::container::{BackupKeys, FORMAT_VERSION, SALT_LEN, StreamSums};
use super::error::BackupError;

/// Largest manifest file read (a manifest is a few hundred bytes).
const MAX_MANIFEST_BYTES: u64 = 64 << 10;

/// The description of one backup, as written to `<id>.manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Layout version of the backup file and of this manifest.
    pub format_version: u16,
    /// The backup's id (also its file names).
    pub id: String,
    /// When the snapshot was taken, in milliseconds since the Unix epoch.
    pub created_unix_ms: i64,
    /// The same instant in RFC 3339, for people.
    pub created: String,
    /// The store's last committed change sequence number in the snapshot: every change up to it is in.
    pub last_seq: u64,
    /// Length of the decrypted snapshot (an SQLite file).
    pub plaintext_bytes: u64,
    /// SHA-256 of the decrypted snapshot, hex.
    pub plaintext_sha256: String,
    /// Length of the backup file.
    pub ciphertext_bytes: u64,
    /// SHA-256 of the backup file, hex.
    pub ciphertext_sha256: String,
    /// The per-backup HKDF salt, hex.
    pub salt: String,
    /// HMAC-SHA256 of every field above (see [`Manifest::mac_input`]), hex.
    pub mac: String,
}

impl Manifest {
    /// A manifest for a freshly written backup, authenticated under `keys`.
    pub(crate) fn new(
        id: &str,
        created_unix_ms: i64,
        created: String,
        last_seq: u64,
        sums: &StreamSums,
        salt: &[u8; SALT_LEN],
        keys: &BackupKeys,
    ) -> Result<Manifest, BackupError> {
        let mut m = Manifest {
            format_version: FORMAT_VERSION,
            id: id.to_string(),
            created_unix_ms,
            created,
            last_seq,
            plaintext_bytes: sums.plaintext_bytes,
            plaintext_sha256: hex::encode(sums.plaintext_sha256),
            ciphertext_bytes: sums.ciphertext_bytes,
            ciphertext_sha256: hex::encode(sums.ciphertext_sha256),
            salt: hex::encode(salt),
            mac: String::new(),
        };
        m.mac = hex::encode(m.hmac(keys)?.finalize().into_bytes());
        Ok(m)
    }

    /// The fields the MAC covers, one per line in a fixed order (independent of JSON formatting).
    fn mac_input(&self) -> String {
        format!(
            "kmipd backup manifest\nformat_version={}\nid={}\ncreated_unix_ms={}\ncreated={}\nlast_seq={}\n\
             plaintext_bytes={}\nplaintext_sha256={}\nciphertext_bytes={}\nciphertext_sha256={}\nsalt={}\n",
            self.format_version,
            self.id,
            self.created_unix_ms,
            self.created,
            self.last_seq,
            self.plaintext_bytes,
            self.plaintext_sha256,
            self.ciphertext_bytes,
            self.ciphertext_sha256,
            self.salt
        )
    }

    fn hmac(&self, keys: &BackupKeys) -> Result<Hmac<Sha256>, BackupError> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(keys.manifest.as_slice())
            .map_err(|_| BackupError::Crypto("manifest key length"))?;
        mac.update(self.mac_input().as_bytes());
        Ok(mac)
    }

    /// The salt, decoded.
    pub(crate) fn salt_bytes(&self, path: &Path) -> Result<[u8; SALT_LEN], BackupError> {
        hex::decode(&self.salt)
            .ok()
            .and_then(|b| <[u8; SALT_LEN]>::try_from(b).ok())
            .ok_or_else(|| BackupError::ManifestInvalid {
                path: path.to_path_buf(),
                reason: "salt is not 32 bytes of hex".into(),
            })
    }

    /// Checks the MAC (in constant time) under `keys`.
    pub(crate) fn authenticate(&self, keys: &BackupKeys, path: &Path) -> Result<(), BackupError> {
        let tag = hex::decode(&self.mac).map_err(|_| BackupError::ManifestAuthentication {
            path: path.to_path_buf(),
        })?;
        self.hmac(keys)?
            .verify_slice(&tag)
            .map_err(|_| BackupError::ManifestAuthentication {
                path: path.to_path_buf(),
            })
    }

    /// Reads and parses a manifest file (without authenticating it).
    pub fn read(path: &Path) -> Result<Manifest, BackupError> {
        let invalid = |reason: String| BackupError::ManifestInvalid {
            path: path.to_path_buf(),
            reason,
        };
        let len = std::fs::metadata(path)
            .map_err(BackupError::io("reading backup manifest", path))?
            .len();
        if len > MAX_MANIFEST_BYTES {
            return Err(invalid(format!("{len} bytes is too large for a manifest")));
        }
        let text = std::fs::read(path).map_err(BackupError::io("reading backup manifest", path))?;
        let manifest: Manifest =
            serde_json::from_slice(&text).map_err(|e| invalid(e.to_string()))?;
        if manifest.format_version != FORMAT_VERSION {
            return Err(invalid(format!(
                "format version {} is not one this build reads ({FORMAT_VERSION})",
                manifest.format_version
            )));
        }
        Ok(manifest)
    }

    /// The manifest as the file holds it (pretty JSON with a final newline).
    pub(crate) fn to_file_bytes(&self) -> Result<Vec<u8>, BackupError> {
        let mut bytes = serde_json::to_vec_pretty(self)
            .map_err(|_| BackupError::Crypto("manifest serialization"))?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}
