//! The master key: the one secret that protects everything at rest. It wraps the data keys (RFC 3394) and is
//! itself never stored in the database. It comes from a key file, an environment variable, or — for the
//! embedded default — a `master.key` file generated into the data directory with mode 0600.
//!
//! Key file rule: a file that others (the "other" permission class) may access is refused
//! ([`StoreError::MasterKeyFileExposed`]); a group-readable file is accepted with a warning, because secret
//! mounts commonly grant a service group read access.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use zeroize::Zeroizing;

use super::error::StoreError;

/// File name of the generated master key inside the data directory.
pub const MASTER_KEY_FILE_NAME: &str = "master.key";

/// Environment variable conventionally holding the master key (hex or base64 of 32 bytes).
pub const MASTER_KEY_ENV: &str = "KMIPD_MASTER_KEY";

/// Length of the master key in bytes (AES-256).
pub const MASTER_KEY_LEN: usize = 32;

/// The 256-bit key-encryption key of the store. Zeroized on drop; Debug prints no bytes.
pub struct MasterKey(Zeroizing<[u8; MASTER_KEY_LEN]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// A key from exactly 32 bytes held by the caller (tests, HSM-derived keys).
    pub fn from_bytes(bytes: [u8; MASTER_KEY_LEN]) -> Self {
        MasterKey(Zeroizing::new(bytes))
    }

    /// A second copy (zeroized on drop too), for a component that must reopen stores under the same key.
    pub fn duplicate(&self) -> MasterKey {
        MasterKey(Zeroizing::new(*self.0))
    }

    /// A fresh key from the operating system's random number generator.
    pub fn generate() -> Result<Self, StoreError> {
        Ok(MasterKey(Zeroizing::new(
            crate::crypto::random_array().map_err(|e| StoreError::Randomness(e.to_string()))?,
        )))
    }

    /// Reads a key file: exactly 32 raw bytes, or 64 hex digits, or base64 of 32 bytes (surrounding whitespace
    /// ignored). Refuses files accessible to others; warns on group-readable files.
    pub fn from_file(path: &Path) -> Result<Self, StoreError> {
        let contents = read_key_file(path)?;
        MasterKey::from_contents(&contents, &path.display().to_string())
    }

    /// Parses a key file's contents: exactly 32 raw bytes, or 64 hex digits, or base64 of 32 bytes
    /// (surrounding whitespace ignored); `name` names the source in errors.
    pub fn from_contents(contents: &[u8], name: &str) -> Result<Self, StoreError> {
        if let Ok(raw) = <[u8; MASTER_KEY_LEN]>::try_from(contents) {
            // 32 bytes that are all printable could also be a (short) text encoding; 32 raw bytes win.
            return Ok(MasterKey::from_bytes(raw));
        }
        let text = std::str::from_utf8(contents).map_err(|_| StoreError::MasterKeyFormat {
            source_name: name.to_string(),
            reason: "neither 32 raw bytes nor text (hex or base64)".into(),
        })?;
        parse_text(text.trim(), name)
    }

    /// The key as 64 hex digits (for handing a loaded key to [`MasterKeySource::Text`]); wiped when dropped.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.as_slice()))
    }

    /// Reads the key from an environment variable holding 64 hex digits or base64 of 32 bytes.
    pub fn from_env(var: &str) -> Result<Self, StoreError> {
        let value =
            Zeroizing::new(std::env::var(var).map_err(|e| StoreError::MasterKeyFormat {
                source_name: format!("environment variable {var}"),
                reason: e.to_string(),
            })?);
        parse_text(value.trim(), &format!("environment variable {var}"))
    }

    /// The embedded default: reads `<data_dir>/master.key`, or creates it (directory 0700, file 0600, hex text)
    /// from OS randomness when absent. The key lives beside the database, never inside it; back it up apart.
    pub fn load_or_generate(data_dir: &Path) -> Result<Self, StoreError> {
        create_private_dir(data_dir)?;
        let path = data_dir.join(MASTER_KEY_FILE_NAME);
        if path.exists() {
            return MasterKey::from_file(&path);
        }
        let key = MasterKey::generate()?;
        let io = |action, source| StoreError::Io {
            action,
            path: path.clone(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = match options.open(&path) {
            Ok(file) => file,
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return MasterKey::from_file(&path);
            }
            Err(e) => return Err(io("creating master key file", e)),
        };
        let mut text = Zeroizing::new(hex::encode(key.0.as_slice()));
        text.push('\n');
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| io("writing master key file", e))?;
        sync_dir(data_dir)?;
        tracing::info!(path = %path.display(), "generated a new store master key");
        Ok(key)
    }

    /// The key bytes, for wrapping and unwrapping data keys only.
    pub(crate) fn bytes(&self) -> &[u8; MASTER_KEY_LEN] {
        &self.0
    }
}

/// Where the server takes its master key from; configuration chooses one.
#[derive(Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    /// A key file (raw, hex or base64).
    File(PathBuf),
    /// An environment variable (hex or base64), usually [`MASTER_KEY_ENV`].
    Env(String),
    /// `master.key` in the data directory, generated on first start (the embedded default).
    DataDir,
    /// Key text already read from `origin` (an environment variable [`MasterKeySource::take_env`] removed).
    Text {
        /// Where the text came from, for error messages.
        origin: String,
        /// The text (hex or base64); wiped when the last copy is dropped.
        text: std::sync::Arc<Zeroizing<String>>,
    },
}

impl fmt::Debug for MasterKeySource {
    // The key text stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MasterKeySource::File(path) => f.debug_tuple("File").field(path).finish(),
            MasterKeySource::Env(var) => f.debug_tuple("Env").field(var).finish(),
            MasterKeySource::DataDir => f.write_str("DataDir"),
            MasterKeySource::Text { origin, .. } => f
                .debug_struct("Text")
                .field("origin", origin)
                .finish_non_exhaustive(),
        }
    }
}

impl MasterKeySource {
    /// Loads the key this source names; `data_dir` is used by [`MasterKeySource::DataDir`].
    pub fn load(&self, data_dir: &Path) -> Result<MasterKey, StoreError> {
        match self {
            MasterKeySource::File(path) => MasterKey::from_file(path),
            MasterKeySource::Env(var) => MasterKey::from_env(var),
            MasterKeySource::DataDir => MasterKey::load_or_generate(data_dir),
            MasterKeySource::Text { origin, text } => parse_text(text.trim(), origin),
        }
    }

    /// Takes the key text out of environment variable `var`: a copy is kept (wiped when dropped), the bytes
    /// of the process's environment block are overwritten (so `/proc/<pid>/environ` no longer shows them) and
    /// the variable is removed (no child process or later reader sees it). None when the variable is unset.
    ///
    /// # Safety
    ///
    /// The environment is process-global and unsynchronised with foreign code: call this before the process
    /// starts any thread (as `kmipd serve` does first thing).
    #[cfg(unix)]
    pub unsafe fn take_env(var: &str) -> Option<MasterKeySource> {
        // SAFETY: forwarded contract (single-threaded).
        let text = unsafe { take_env_text(var) }?;
        Some(MasterKeySource::Text {
            origin: format!("environment variable {var}"),
            text: std::sync::Arc::new(text),
        })
    }
}

/// Takes the value of environment variable `var` out of the process: a copy is returned (wiped when dropped),
/// the bytes of the environment block are overwritten (so `/proc/<pid>/environ` no longer shows them) and the
/// variable is removed (no child process or later reader sees it). None when the variable is unset or not
/// UTF-8. Used for the master key and for the passphrase of a wrapped one.
///
/// # Safety
///
/// The environment is process-global and unsynchronised with foreign code: call this before the process
/// starts any thread.
#[cfg(unix)]
pub unsafe fn take_env_text(var: &str) -> Option<Zeroizing<String>> {
    let text = Zeroizing::new(std::env::var(var).ok()?);
    if let Ok(name) = std::ffi::CString::new(var) {
        // SAFETY: single-threaded per this function's contract; getenv returns a pointer into the
        // environment block (or null), valid until the environment changes, and strlen bytes from it are
        // the value, which is overwritten in place before anything else touches the environment.
        unsafe {
            let value = libc::getenv(name.as_ptr());
            if !value.is_null() {
                std::ptr::write_bytes(value, 0, libc::strlen(value));
            }
        }
    }
    // SAFETY: single-threaded per this function's contract.
    unsafe { std::env::remove_var(var) };
    Some(text)
}

/// Parses key text (64 hex digits or base64 of 32 bytes); `source_name` names it in errors.
pub fn parse_key_text(text: &str, source_name: &str) -> Result<MasterKey, StoreError> {
    parse_text(text, source_name)
}

/// Reads a key file (of any kind) after the permission check of [`MasterKey::from_file`]; wiped when dropped.
pub fn read_key_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    check_permissions(path)?;
    Ok(Zeroizing::new(std::fs::read(path).map_err(|source| {
        StoreError::Io {
            action: "reading master key file",
            path: path.to_path_buf(),
            source,
        }
    })?))
}

fn parse_text(text: &str, source_name: &str) -> Result<MasterKey, StoreError> {
    let refuse = |reason: &str| StoreError::MasterKeyFormat {
        source_name: source_name.to_string(),
        reason: reason.to_string(),
    };
    let decoded = if text.len() == 2 * MASTER_KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit())
    {
        Zeroizing::new(hex::decode(text).map_err(|_| refuse("invalid hex"))?)
    } else {
        Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| refuse("expected 64 hex digits or base64 of 32 bytes"))?,
        )
    };
    let bytes = <[u8; MASTER_KEY_LEN]>::try_from(decoded.as_slice())
        .map_err(|_| refuse(&format!("decodes to {} bytes, expected 32", decoded.len())))?;
    Ok(MasterKey::from_bytes(bytes))
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|source| StoreError::Io {
        action: "reading master key file",
        path: path.to_path_buf(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o007 != 0 {
        return Err(StoreError::MasterKeyFileExposed {
            path: path.to_path_buf(),
            mode,
        });
    }
    if mode & 0o040 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "master key file is group-readable");
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    crate::private_fs::create_dir(dir).map_err(|source| StoreError::Io {
        action: "creating data directory",
        path: dir.to_path_buf(),
        source,
    })
}

/// Makes a new directory entry durable (the key file must survive a crash right after creation).
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    crate::private_fs::sync_dir(dir).map_err(|source| StoreError::Io {
        action: "syncing data directory",
        path: dir.to_path_buf(),
        source,
    })
}
