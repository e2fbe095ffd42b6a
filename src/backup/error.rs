//! Every way a backup, a check or a restore can fail. Messages name files and backup ids, never key bytes;
//! a refused backup always says which check it failed so an operator can pick another copy or backup.

use std::path::PathBuf;

use crate::store::StoreError;

/// A backup, verification or restore failure.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The store could not be opened or snapshotted, or a decrypted snapshot failed its store-level checks.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// A file or directory could not be read, written, renamed or synced.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// The backup settings cannot be used.
    #[error("backup configuration: {0}")]
    Config(String),

    /// No destination holds a backup with this id.
    #[error("no backup with id {id} in {searched}")]
    NotFound {
        /// The id asked for.
        id: String,
        /// The destinations searched, for the message.
        searched: String,
    },

    /// A backup id given by a user is not one kmipd makes (and so could name a file outside the destinations).
    #[error("`{0}` is not a backup id (expected e.g. 20261201T101500Z-1a2b3c4d)")]
    BadId(String),

    /// The manifest could not be read as a manifest of a known format.
    #[error("backup manifest {path} is unreadable: {reason}")]
    ManifestInvalid {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// The manifest's authentication code does not match its contents.
    #[error(
        "backup manifest {path} failed authentication: it was edited, or the master key is not the one that made the backup"
    )]
    ManifestAuthentication {
        /// The manifest file.
        path: PathBuf,
    },

    /// The backup file ends before its final chunk.
    #[error("backup file {path} is truncated: {reason}")]
    Truncated {
        /// The backup file.
        path: PathBuf,
        /// Where it ends.
        reason: String,
    },

    /// The backup file's contents do not match the manifest or fail authenticated decryption.
    #[error("backup file {path} is corrupt or tampered with: {reason}")]
    Tampered {
        /// The backup file.
        path: PathBuf,
        /// Which check failed.
        reason: String,
    },

    /// Every copy of a backup failed its checks; nothing was restored.
    #[error("no usable copy of backup {id}: {failures}")]
    NoValidCopy {
        /// The backup id.
        id: String,
        /// Each copy's failure, for the message.
        failures: String,
    },

    /// A server (or another restore) holds the data directory.
    #[error("data directory {path} is in use by a running kmipd; stop it before restoring")]
    DataDirInUse {
        /// The data directory.
        path: PathBuf,
    },

    /// The operating system's random number generator failed.
    #[error("operating system randomness unavailable: {0}")]
    Randomness(String),

    /// A cryptographic primitive refused its input (a programming error, reported instead of panicking).
    #[error("backup encryption: {0}")]
    Crypto(&'static str),
}

impl BackupError {
    /// An [`BackupError::Io`] builder for `map_err`.
    pub(crate) fn io(
        action: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| BackupError::Io {
            action,
            path,
            source,
        }
    }
}
