//! Where the master key lives: the `[master_key]` section and `--master-key-file` choose a source, and
//! [`resolve`] turns it into the key the store opens with, once, at start.
//!
//! Sources: the embedded default (`KMIPD_MASTER_KEY` when set, else `master.key` generated in the data
//! directory); a key file kept apart from the data; an environment variable; a systemd credential
//! (`LoadCredential=`, read from `$CREDENTIALS_DIRECTORY`). A file or credential may hold the key itself or the
//! key wrapped under a passphrase ([`wrapped`]), the passphrase coming from an environment variable, a file or
//! a credential. With any source but the default the data directory must not hold a master key: a key kept
//! apart is only apart when no copy sits beside the databases.

pub mod wrapped;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::store::{
    MASTER_KEY_ENV, MASTER_KEY_FILE_NAME, MasterKey, MasterKeySource, StoreError, read_key_file,
};

/// Environment variable holding the passphrase of a wrapped master key unless `passphrase_env` names another.
pub const PASSPHRASE_ENV: &str = "KMIPD_MASTER_PASSPHRASE";

/// The credential name read from `$CREDENTIALS_DIRECTORY` unless `credential` names another.
pub const DEFAULT_CREDENTIAL: &str = "kmipd-master-key";

/// The directory systemd passes credentials in (`LoadCredential=`, `SetCredentialEncrypted=`).
pub const CREDENTIALS_DIRECTORY_ENV: &str = "CREDENTIALS_DIRECTORY";

/// Longest passphrase read from a file, a credential or the environment.
pub const MAX_PASSPHRASE_BYTES: usize = 1024;

/// Which kind of place the master key comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyLocation {
    /// `KMIPD_MASTER_KEY` when set, else `<data_dir>/master.key` (generated on first start).
    #[default]
    Default,
    /// A key file (`file`), plain or wrapped.
    File,
    /// An environment variable (`env`, default `KMIPD_MASTER_KEY`), removed from the environment once read.
    Env,
    /// A systemd credential (`credential`, default `kmipd-master-key`), plain or wrapped.
    SystemdCredential,
}

/// The `[master_key]` section.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MasterKeySettings {
    /// Where the key comes from.
    pub source: KeyLocation,
    /// The key file (`source = "file"`); must lie outside the data directory.
    pub file: Option<PathBuf>,
    /// The environment variable (`source = "env"`).
    pub env: Option<String>,
    /// The credential name (`source = "systemd-credential"`).
    pub credential: Option<String>,
    /// Environment variable holding the passphrase of a wrapped key (default `KMIPD_MASTER_PASSPHRASE`).
    pub passphrase_env: Option<String>,
    /// File holding the passphrase of a wrapped key (one line; a final newline is not part of it).
    pub passphrase_file: Option<PathBuf>,
    /// systemd credential holding the passphrase of a wrapped key.
    pub passphrase_credential: Option<String>,
}

/// Why the master key could not be taken from its source. Never carries key or passphrase bytes.
#[derive(Debug, Error)]
pub enum CustodyError {
    /// The settings contradict each other or the situation (a copy in the data directory, say).
    #[error("master key: {0}")]
    Refused(String),
    /// The key file or credential could not be read or parsed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The wrapped key could not be opened.
    #[error("master key {origin}: {source}")]
    Wrapped {
        /// The file or credential.
        origin: String,
        /// Why.
        source: wrapped::WrapError,
    },
}

impl MasterKeySettings {
    /// Refuses settings that name fields the chosen source does not use, or two passphrase sources.
    pub fn validate(&self) -> Result<(), String> {
        let unused = |field: &str, set: bool, wanted: KeyLocation| {
            if set && self.source != wanted {
                Err(format!(
                    "master_key.{field} is set but master_key.source is not {:?}",
                    wanted
                ))
            } else {
                Ok(())
            }
        };
        unused("file", self.file.is_some(), KeyLocation::File)?;
        unused("env", self.env.is_some(), KeyLocation::Env)?;
        unused(
            "credential",
            self.credential.is_some(),
            KeyLocation::SystemdCredential,
        )?;
        if self.source == KeyLocation::File && self.file.is_none() {
            return Err("master_key.source = \"file\" needs master_key.file".into());
        }
        let passphrases = [
            self.passphrase_env.is_some(),
            self.passphrase_file.is_some(),
            self.passphrase_credential.is_some(),
        ];
        if passphrases.iter().filter(|set| **set).count() > 1 {
            return Err(
                "give at most one of master_key.passphrase_env, passphrase_file and passphrase_credential"
                    .into(),
            );
        }
        for name in [&self.credential, &self.passphrase_credential]
            .into_iter()
            .flatten()
        {
            credential_name_ok(name)?;
        }
        Ok(())
    }

    /// The environment variable holding the key for the default and `env` sources.
    pub fn key_env(&self) -> &str {
        self.env.as_deref().unwrap_or(MASTER_KEY_ENV)
    }

    /// The environment variable holding a wrapped key's passphrase.
    pub fn passphrase_env(&self) -> &str {
        self.passphrase_env.as_deref().unwrap_or(PASSPHRASE_ENV)
    }
}

fn credential_name_ok(name: &str) -> Result<(), String> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(format!("`{name}` is not a credential name"));
    }
    Ok(())
}

/// What the process environment held for the master key, read once.
#[derive(Default)]
pub struct Environment {
    key: Option<Zeroizing<String>>,
    passphrase: Option<Zeroizing<String>>,
    credentials_dir: Option<PathBuf>,
}

impl Environment {
    /// Takes the key and passphrase variables out of the environment (overwritten and removed, so neither
    /// `/proc/<pid>/environ` nor a child sees them) and notes `$CREDENTIALS_DIRECTORY`.
    ///
    /// # Safety
    ///
    /// Call before the process starts any thread (see [`crate::store::take_env_text`]).
    #[cfg(unix)]
    pub unsafe fn take(settings: &MasterKeySettings) -> Environment {
        // SAFETY: forwarded contract (single-threaded).
        let (key, passphrase) = unsafe {
            (
                crate::store::take_env_text(settings.key_env()),
                crate::store::take_env_text(settings.passphrase_env()),
            )
        };
        Environment {
            key,
            passphrase,
            credentials_dir: std::env::var_os(CREDENTIALS_DIRECTORY_ENV).map(PathBuf::from),
        }
    }

    /// Reads the same variables without removing them (one-shot commands that start no server).
    pub fn read(settings: &MasterKeySettings) -> Environment {
        Environment {
            key: std::env::var(settings.key_env()).ok().map(Zeroizing::new),
            passphrase: std::env::var(settings.passphrase_env())
                .ok()
                .map(Zeroizing::new),
            credentials_dir: std::env::var_os(CREDENTIALS_DIRECTORY_ENV).map(PathBuf::from),
        }
    }

    /// True when the key variable was set.
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }
}

/// The master key source the store opens with, and a description of it for the log (no secret in it).
#[derive(Debug)]
pub struct Resolved {
    /// For the store, the audit key and backups.
    pub source: MasterKeySource,
    /// "file /etc/kmipd/master.key (wrapped, Argon2id)", say.
    pub description: String,
}

/// Resolves the master key: `cli_file` (`--master-key-file`) overrides the settings' source. Every source but
/// the default is loaded now (a wrapped key is opened once) and refused when `data_dir` holds `master.key`.
pub fn resolve(
    settings: &MasterKeySettings,
    cli_file: Option<&Path>,
    data_dir: &Path,
    env: &Environment,
) -> Result<Resolved, CustodyError> {
    let location = if cli_file.is_some() {
        KeyLocation::File
    } else {
        settings.source
    };
    let (key, description) = match location {
        KeyLocation::Default => return Ok(default_source(settings, data_dir, env)),
        KeyLocation::Env => {
            refuse_copy_in(data_dir)?;
            let text = env.key.as_ref().ok_or_else(|| {
                CustodyError::Refused(format!(
                    "master_key.source = \"env\" but {} is not set",
                    settings.key_env()
                ))
            })?;
            let origin = format!("environment variable {}", settings.key_env());
            (crate::store::parse_key_text(text.trim(), &origin)?, origin)
        }
        KeyLocation::File => {
            let path = cli_file
                .or(settings.file.as_deref())
                .ok_or_else(|| CustodyError::Refused("no key file given".into()))?;
            refuse_copy_in(data_dir)?;
            refuse_env_key(settings, env, "file")?;
            refuse_inside(path, data_dir)?;
            let origin = format!("file {}", path.display());
            open_file(path, &origin, settings, env)?
        }
        KeyLocation::SystemdCredential => {
            refuse_copy_in(data_dir)?;
            refuse_env_key(settings, env, "systemd credential")?;
            let name = settings.credential.as_deref().unwrap_or(DEFAULT_CREDENTIAL);
            let path = credential_path(env, name)?;
            let origin = format!("systemd credential {name}");
            open_file(&path, &origin, settings, env)?
        }
    };
    Ok(Resolved {
        source: MasterKeySource::Text {
            origin: description.clone(),
            text: Arc::new(key.to_hex()),
        },
        description,
    })
}

/// The embedded default: the key variable when set, else the data directory's key file.
fn default_source(settings: &MasterKeySettings, data_dir: &Path, env: &Environment) -> Resolved {
    match &env.key {
        Some(text) => {
            let origin = format!("environment variable {}", settings.key_env());
            Resolved {
                source: MasterKeySource::Text {
                    origin: origin.clone(),
                    text: Arc::new(text.clone()),
                },
                description: origin,
            }
        }
        None => Resolved {
            source: MasterKeySource::DataDir,
            description: format!("{}", data_dir.join(MASTER_KEY_FILE_NAME).display()),
        },
    }
}

/// With a source kept apart, a `master.key` in the data directory is refused.
fn refuse_copy_in(data_dir: &Path) -> Result<(), CustodyError> {
    let in_data_dir = data_dir.join(MASTER_KEY_FILE_NAME);
    if in_data_dir.exists() {
        return Err(CustodyError::Refused(format!(
            "{} exists although the key is configured to come from elsewhere; a copy beside the databases \
             defeats keeping it apart: move it away (after checking it is the same key) and start again",
            in_data_dir.display()
        )));
    }
    Ok(())
}

/// The key variable set as well as a file or credential: which one is meant is unclear.
fn refuse_env_key(
    settings: &MasterKeySettings,
    env: &Environment,
    what: &str,
) -> Result<(), CustodyError> {
    if env.key.is_some() {
        return Err(CustodyError::Refused(format!(
            "{} is set but the key is configured to come from a {what}; unset one of them",
            settings.key_env()
        )));
    }
    Ok(())
}

/// Reads a key file given on a one-shot command's line (backup, restore, audit verify): plain or wrapped, the
/// passphrase taken as `serve` takes it. No data-directory checks: these commands read a key, they keep none.
pub fn load_file(
    path: &Path,
    settings: &MasterKeySettings,
    env: &Environment,
) -> Result<MasterKey, CustodyError> {
    open_file(path, &format!("file {}", path.display()), settings, env).map(|(key, _)| key)
}

/// Reads a key file or credential; a wrapped key is opened with the configured passphrase.
fn open_file(
    path: &Path,
    origin: &str,
    settings: &MasterKeySettings,
    env: &Environment,
) -> Result<(MasterKey, String), CustodyError> {
    let contents = read_key_file(path)?;
    if !wrapped::is_wrapped(&contents) {
        return Ok((MasterKey::from_contents(&contents, origin)?, origin.into()));
    }
    let passphrase = passphrase(settings, env, origin)?;
    let key = wrapped::unwrap(&contents, passphrase.as_bytes()).map_err(|source| {
        CustodyError::Wrapped {
            origin: origin.to_string(),
            source,
        }
    })?;
    Ok((
        key,
        format!("{origin} (wrapped under a passphrase, Argon2id)"),
    ))
}

/// The passphrase of a wrapped key, from the one configured place.
fn passphrase(
    settings: &MasterKeySettings,
    env: &Environment,
    origin: &str,
) -> Result<Zeroizing<String>, CustodyError> {
    let from_file = |path: &Path| -> Result<Zeroizing<String>, CustodyError> {
        let bytes = read_key_file(path)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            CustodyError::Refused(format!("passphrase file {} is not UTF-8", path.display()))
        })?;
        let line = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(text);
        Ok(Zeroizing::new(line.to_string()))
    };
    let text = if let Some(path) = &settings.passphrase_file {
        from_file(path)?
    } else if let Some(name) = &settings.passphrase_credential {
        from_file(&credential_path(env, name)?)?
    } else {
        env.passphrase.clone().ok_or_else(|| {
            CustodyError::Refused(format!(
                "the key in {origin} is wrapped under a passphrase: set {} (or master_key.passphrase_file \
                 or passphrase_credential)",
                settings.passphrase_env()
            ))
        })?
    };
    if text.len() > MAX_PASSPHRASE_BYTES {
        return Err(CustodyError::Refused(format!(
            "the passphrase is longer than {MAX_PASSPHRASE_BYTES} bytes"
        )));
    }
    Ok(text)
}

fn credential_path(env: &Environment, name: &str) -> Result<PathBuf, CustodyError> {
    credential_name_ok(name).map_err(CustodyError::Refused)?;
    let dir = env.credentials_dir.as_ref().ok_or_else(|| {
        CustodyError::Refused(format!(
            "credential {name}: {CREDENTIALS_DIRECTORY_ENV} is not set (run under systemd with \
             LoadCredential={name}:PATH)"
        ))
    })?;
    Ok(dir.join(name))
}

/// A key file inside the data directory is refused: it would travel with every copy of the data.
fn refuse_inside(file: &Path, data_dir: &Path) -> Result<(), CustodyError> {
    let (Ok(file), Ok(dir)) = (file.canonicalize(), data_dir.canonicalize()) else {
        // A missing file is reported when it is read; a missing data directory holds nothing yet.
        return Ok(());
    };
    if file.starts_with(&dir) {
        return Err(CustodyError::Refused(format!(
            "key file {} lies inside the data directory {}; keep it apart from the data (another disk, \
             a secret mount, a systemd credential)",
            file.display(),
            dir.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
