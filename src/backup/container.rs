//! The encrypted backup file: the whole snapshot, encrypted as one stream in authenticated chunks so that
//! neither writing nor reading needs the snapshot in memory.
//!
//! Layout (integers big-endian):
//! `header = "KMIPDBAK" | version u16 | chunk_bytes u32 | salt [32] | id_len u16 | id`, then frames
//! `last u8 (0 or 1) | ct_len u32 | AES-256-GCM ciphertext+tag`. Frame `i` uses the nonce
//! `0 0 0 last | i as u64` and the whole header as associated data, so frames cannot be reordered, dropped,
//! moved to another backup, or the stream cut short without failing authentication (a file that ends before a
//! frame marked last is truncated; bytes after it are refused).
//!
//! The key is HKDF-SHA256(master key, salt = a random 32 bytes per backup, info = [`FILE_KEY_INFO`]); the
//! manifest's HMAC key uses the same salt with [`MANIFEST_KEY_INFO`]. A fresh key per backup makes the
//! counter nonces unique.

use std::io::{ErrorKind, Read, Write};
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::error::BackupError;
use crate::store::MasterKey;

/// First bytes of every backup file.
pub const MAGIC: &[u8; 8] = b"KMIPDBAK";
/// Version of the file layout and key derivation described above.
pub const FORMAT_VERSION: u16 = 1;
/// Length of the per-backup HKDF salt.
pub const SALT_LEN: usize = 32;
/// HKDF `info` of the file encryption key.
pub const FILE_KEY_INFO: &[u8] = b"kmipd backup v1 file encryption key (AES-256-GCM)";
/// HKDF `info` of the manifest authentication key.
pub const MANIFEST_KEY_INFO: &[u8] = b"kmipd backup v1 manifest authentication key (HMAC-SHA256)";
/// Largest chunk a reader accepts (a header cannot make it allocate more).
pub const MAX_CHUNK_BYTES: usize = 16 << 20;
/// Smallest chunk a writer may be configured with.
pub const MIN_CHUNK_BYTES: usize = 4 << 10;
/// AES-GCM tag length.
const TAG_LEN: usize = 16;
/// Longest backup id a header may carry.
const MAX_ID_LEN: usize = 128;

/// The two keys of one backup; zeroized on drop.
pub(crate) struct BackupKeys {
    file: Zeroizing<[u8; 32]>,
    pub(crate) manifest: Zeroizing<[u8; 32]>,
}

impl BackupKeys {
    /// Derives both keys of the backup whose salt is `salt` from the store's master key.
    pub(crate) fn derive(master: &MasterKey, salt: &[u8]) -> Result<Self, BackupError> {
        let hk = Hkdf::<Sha256>::new(Some(salt), master.bytes());
        let mut file = Zeroizing::new([0u8; 32]);
        let mut manifest = Zeroizing::new([0u8; 32]);
        hk.expand(FILE_KEY_INFO, file.as_mut_slice())
            .and_then(|()| hk.expand(MANIFEST_KEY_INFO, manifest.as_mut_slice()))
            .map_err(|_| BackupError::Crypto("HKDF output length"))?;
        Ok(BackupKeys { file, manifest })
    }

    fn cipher(&self) -> Result<Aes256Gcm, BackupError> {
        Aes256Gcm::new_from_slice(self.file.as_slice())
            .map_err(|_| BackupError::Crypto("file key length"))
    }
}

/// Lengths and SHA-256 digests of both sides of an encryption or decryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamSums {
    pub plaintext_bytes: u64,
    pub plaintext_sha256: [u8; 32],
    pub ciphertext_bytes: u64,
    pub ciphertext_sha256: [u8; 32],
}

fn header(id: &str, salt: &[u8; SALT_LEN], chunk_bytes: usize) -> Result<Vec<u8>, BackupError> {
    let chunk = u32::try_from(chunk_bytes).map_err(|_| BackupError::Crypto("chunk size"))?;
    let id_len = u16::try_from(id.len())
        .ok()
        .filter(|&n| usize::from(n) <= MAX_ID_LEN)
        .ok_or(BackupError::Crypto("backup id length"))?;
    let mut h = Vec::with_capacity(48 + id.len());
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    h.extend_from_slice(&chunk.to_be_bytes());
    h.extend_from_slice(salt);
    h.extend_from_slice(&id_len.to_be_bytes());
    h.extend_from_slice(id.as_bytes());
    Ok(h)
}

fn nonce(index: u64, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[3] = u8::from(last);
    n[4..].copy_from_slice(&index.to_be_bytes());
    n
}

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
fn fill(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Encrypts everything `plain` yields into `out` as one backup file. `plain_path` and `out_path` only
/// name the files in errors. Holds at most two chunks of plaintext in memory.
pub(crate) fn encrypt(
    plain: &mut impl Read,
    plain_path: &Path,
    out: &mut impl Write,
    out_path: &Path,
    keys: &BackupKeys,
    binding: &Binding<'_>,
    chunk_bytes: usize,
) -> Result<StreamSums, BackupError> {
    if !(MIN_CHUNK_BYTES..=MAX_CHUNK_BYTES).contains(&chunk_bytes) {
        return Err(BackupError::Config(format!(
            "chunk size {chunk_bytes} is outside {MIN_CHUNK_BYTES}..={MAX_CHUNK_BYTES}"
        )));
    }
    let header = header(binding.id, binding.salt, chunk_bytes)?;
    let cipher = keys.cipher()?;
    let mut plain_hash = Sha256::new();
    let mut cipher_hash = Sha256::new();
    let mut plain_bytes = 0u64;
    let mut cipher_bytes = 0u64;
    let mut emit = |bytes: &[u8]| -> Result<(), BackupError> {
        out.write_all(bytes)
            .map_err(BackupError::io("writing backup file", out_path))?;
        cipher_hash.update(bytes);
        cipher_bytes += bytes.len() as u64;
        Ok(())
    };
    emit(&header)?;
    let read = |reader: &mut _, buf: &mut [u8]| {
        fill(reader, buf).map_err(BackupError::io("reading snapshot", plain_path))
    };
    let mut current = Zeroizing::new(vec![0u8; chunk_bytes]);
    let mut next = Zeroizing::new(vec![0u8; chunk_bytes]);
    let mut current_len = read(plain, &mut current)?;
    let mut index = 0u64;
    loop {
        // A full chunk is last only if nothing follows it: look one chunk ahead.
        let next_len = if current_len == chunk_bytes {
            read(plain, &mut next)?
        } else {
            0
        };
        let last = next_len == 0;
        let chunk = &current[..current_len];
        plain_hash.update(chunk);
        plain_bytes += chunk.len() as u64;
        let sealed = cipher
            .encrypt(
                &Nonce::from(nonce(index, last)),
                Payload {
                    msg: chunk,
                    aad: &header,
                },
            )
            .map_err(|_| BackupError::Crypto("AES-GCM encryption"))?;
        let len = u32::try_from(sealed.len()).map_err(|_| BackupError::Crypto("chunk size"))?;
        emit(&[u8::from(last)])?;
        emit(&len.to_be_bytes())?;
        emit(&sealed)?;
        if last {
            break;
        }
        std::mem::swap(&mut current, &mut next);
        current_len = next_len;
        index += 1;
    }
    Ok(StreamSums {
        plaintext_bytes: plain_bytes,
        plaintext_sha256: plain_hash.finalize().into(),
        ciphertext_bytes: cipher_bytes,
        ciphertext_sha256: cipher_hash.finalize().into(),
    })
}

/// A reader that hashes and counts what passes through it.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
    bytes: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(buf.get(..n).unwrap_or_default());
        self.bytes += n as u64;
        Ok(n)
    }
}

/// The backup a file belongs to: its id and salt, bound into the header (and so into every chunk).
pub(crate) struct Binding<'a> {
    pub id: &'a str,
    pub salt: &'a [u8; SALT_LEN],
}

/// Decrypts and authenticates a backup file from `input` into `out`, refusing a file of another backup, a
/// truncated one, a tampered one, and one with bytes after its final frame. On error `out` holds an
/// unauthenticated prefix: the caller must discard it.
pub(crate) fn decrypt(
    input: impl Read,
    path: &Path,
    out: &mut impl Write,
    out_path: &Path,
    keys: &BackupKeys,
    expected: &Binding<'_>,
) -> Result<StreamSums, BackupError> {
    let mut input = Hashing {
        inner: input,
        hash: Sha256::new(),
        bytes: 0,
    };
    let truncated = |reason: &str| BackupError::Truncated {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let tampered = |reason: String| BackupError::Tampered {
        path: path.to_path_buf(),
        reason,
    };
    let read_exact = |input: &mut Hashing<_>, buf: &mut [u8], what: &str| {
        let n = fill(input, buf).map_err(BackupError::io("reading backup file", path))?;
        if n < buf.len() {
            return Err(truncated(&format!("it ends inside {what}")));
        }
        Ok(())
    };
    let mut fixed = [0u8; 8 + 2 + 4 + SALT_LEN + 2];
    read_exact(&mut input, &mut fixed, "the header")?;
    let (magic, rest) = fixed.split_at(8);
    if magic != MAGIC {
        return Err(tampered(
            "it does not start with the kmipd backup magic".into(),
        ));
    }
    let (version, rest) = rest.split_at(2);
    let version = u16::from_be_bytes([version[0], version[1]]);
    if version != FORMAT_VERSION {
        return Err(tampered(format!("unknown format version {version}")));
    }
    let (chunk, rest) = rest.split_at(4);
    let chunk_bytes = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as usize;
    if !(1..=MAX_CHUNK_BYTES).contains(&chunk_bytes) {
        return Err(tampered(format!(
            "chunk size {chunk_bytes} is out of range"
        )));
    }
    let (salt, id_len) = rest.split_at(SALT_LEN);
    let id_len = usize::from(u16::from_be_bytes([id_len[0], id_len[1]]));
    if id_len > MAX_ID_LEN {
        return Err(tampered("the backup id in the header is too long".into()));
    }
    let mut id = vec![0u8; id_len];
    read_exact(&mut input, &mut id, "the header")?;
    if salt != expected.salt.as_slice() || id != expected.id.as_bytes() {
        return Err(tampered(
            "its header does not match the manifest (a file of another backup?)".into(),
        ));
    }
    let mut header = fixed.to_vec();
    header.extend_from_slice(&id);
    let cipher = keys.cipher()?;
    let mut plain_hash = Sha256::new();
    let mut plain_bytes = 0u64;
    let mut frame = vec![0u8; chunk_bytes + TAG_LEN];
    let mut index = 0u64;
    loop {
        let mut frame_head = [0u8; 5];
        let n = fill(&mut input, &mut frame_head)
            .map_err(BackupError::io("reading backup file", path))?;
        if n == 0 {
            return Err(truncated("it ends before its final chunk"));
        }
        if n < frame_head.len() {
            return Err(truncated("it ends inside a chunk header"));
        }
        let last = match frame_head[0] {
            0 => false,
            1 => true,
            other => return Err(tampered(format!("chunk {index} has flag {other}"))),
        };
        let len = u32::from_be_bytes([frame_head[1], frame_head[2], frame_head[3], frame_head[4]])
            as usize;
        if !(TAG_LEN..=chunk_bytes + TAG_LEN).contains(&len) {
            return Err(tampered(format!("chunk {index} has length {len}")));
        }
        let body = frame
            .get_mut(..len)
            .ok_or(BackupError::Crypto("chunk buffer"))?;
        read_exact(&mut input, body, "a chunk")?;
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    &Nonce::from(nonce(index, last)),
                    Payload {
                        msg: body,
                        aad: &header,
                    },
                )
                .map_err(|_| {
                    tampered(format!(
                        "chunk {index} failed authentication (altered bytes, or another master key)"
                    ))
                })?,
        );
        out.write_all(&plain)
            .map_err(BackupError::io("writing restored snapshot", out_path))?;
        plain_hash.update(&*plain);
        plain_bytes += plain.len() as u64;
        if last {
            break;
        }
        index += 1;
    }
    let mut probe = [0u8; 1];
    if fill(&mut input, &mut probe).map_err(BackupError::io("reading backup file", path))? != 0 {
        return Err(tampered("bytes follow its final chunk".into()));
    }
    Ok(StreamSums {
        plaintext_bytes: plain_bytes,
        plaintext_sha256: plain_hash.finalize().into(),
        ciphertext_bytes: input.bytes,
        ciphertext_sha256: input.hash.finalize().into(),
    })
}
