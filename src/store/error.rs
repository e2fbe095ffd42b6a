//! Every way the store can fail, as one enum, and the single place that decides what a KMIP client is told
//! about each ([`StoreError::to_kmip`]). Messages name files, uids and sequence numbers, never key bytes.

use std::path::PathBuf;

use crate::kmip::{KmipError, ResultReason};

/// A store failure. Messages never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error (I/O, full disk, busy, corrupt file, constraint).
    #[error("store database: {0}")]
    Database(#[from] rusqlite::Error),

    /// A file next to the database (the master key file, the data directory) could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What the store was doing.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// The master key does not open this store: its key check value or a data key failed to unwrap.
    #[error("wrong master key: it does not unwrap this store's key check value")]
    WrongMasterKey,

    /// A master key given as a file or an environment variable could not be read as 32 bytes.
    #[error("master key {source_name}: {reason}")]
    MasterKeyFormat {
        /// The file path or environment variable name.
        source_name: String,
        /// Why it was refused (never the key itself).
        reason: String,
    },

    /// The master key file may be read by other users of the machine.
    #[error("master key file {path} has mode {mode:o}; others may access it (chmod 600 or 400)")]
    MasterKeyFileExposed {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },

    /// SQLite did not take the journal mode or synchronous setting the durability argument needs
    /// (`docs/store.md`, "Durability"): the file is refused rather than served with weaker guarantees.
    #[error("store {path}: PRAGMA {setting} is {found}, durability needs {needed}")]
    NotDurable {
        /// The database file.
        path: PathBuf,
        /// Which setting ("journal_mode", "synchronous").
        setting: &'static str,
        /// What SQLite reported back.
        found: String,
        /// What is required.
        needed: &'static str,
    },

    /// The file was written by a newer kmipd whose schema this build does not know.
    #[error(
        "store schema version {found} is newer than this build supports ({supported}); upgrade kmipd"
    )]
    SchemaTooNew {
        /// `PRAGMA user_version` of the file.
        found: u32,
        /// The newest version this build migrates to.
        supported: u32,
    },

    /// A stored object failed authenticated decryption: tampered, truncated or moved to another uid.
    #[error("stored object {uid} failed its integrity check: {reason}")]
    Integrity {
        /// The object's unique identifier.
        uid: String,
        /// What failed.
        reason: String,
    },

    /// A snapshot could not be taken, or a snapshot file failed its checks (integrity, schema, master key).
    #[error("store snapshot {path}: {reason}")]
    Snapshot {
        /// The snapshot file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },

    /// A row of the change log (or one being applied) could not be decoded.
    #[error("change {seq} is malformed: {reason}")]
    CorruptChange {
        /// Its sequence number.
        seq: u64,
        /// What is wrong.
        reason: String,
    },

    /// A replica was handed a change that does not directly follow its last one.
    #[error("change stream gap: expected sequence {expected}, got {got}")]
    ChangeGap {
        /// The next sequence number the replica can apply.
        expected: u64,
        /// The sequence number it was given.
        got: u64,
    },

    /// A stored object names a data key the store does not hold.
    #[error("data key {id} is missing from the store")]
    DataKeyMissing {
        /// The data key's identifier.
        id: String,
    },

    /// A value the store must write does not fit its column (a count or offset beyond i64).
    #[error("{what} is out of range")]
    OutOfRange {
        /// Which value.
        what: &'static str,
    },

    /// The operating system's random number generator failed.
    #[error("operating system randomness unavailable: {0}")]
    Randomness(String),

    /// A failure shared by every batch of a group commit, as its message (the first batch's cause).
    #[error("{0}")]
    GroupCommit(String),

    /// An internal invariant did not hold (reported instead of panicking).
    #[error("store internal error: {0}")]
    Internal(&'static str),

    /// A cryptographic primitive refused its input (a programming error, reported instead of panicking).
    #[error("store encryption: {0}")]
    Crypto(&'static str),

    /// A copy (a zone coming back, a remote) lacks changes that were already pruned from the log it would
    /// catch up from: replaying the log would skip them, so it is refused and must be re-seeded from a full
    /// copy (`docs/replication.md`, "Re-seeding a copy").
    #[error(
        "{copy} holds changes up to {held} but the change log it would catch up from starts at {first}: the \
         changes in between were pruned; it must be re-seeded from a full copy (see docs/replication.md, \
         \"Re-seeding a copy\")"
    )]
    ChangesPruned {
        /// The copy that is behind ("zone b", "remote r").
        copy: String,
        /// The last sequence number it holds.
        held: u64,
        /// The oldest change the source log still holds.
        first: u64,
    },

    /// A write named the version of the object it read, and the object has changed since (another request
    /// wrote it first): nothing was written. The caller reads the object again and decides afresh.
    #[error(
        "object {uid} was changed by another request after this one read it (read version {expected}, now \
         {}); nothing was written, send the request again",
        found.map_or_else(|| "absent".to_string(), |v| v.to_string())
    )]
    VersionConflict {
        /// The object's unique identifier.
        uid: String,
        /// The version the write was based on (0: the object must not exist yet).
        expected: u64,
        /// The version the store holds (`None`: no such object).
        found: Option<u64>,
    },

    /// A zone (its file, its disk or its node) is not reachable: changes need every zone, so they are refused
    /// until it returns; reads go on from the other zone.
    #[error("zone {zone} is unavailable ({reason}); changes are refused until it returns")]
    ZoneUnavailable {
        /// The zone's name.
        zone: String,
        /// What failed (file missing, I/O error, peer unreachable...).
        reason: String,
    },
}

impl From<StoreError> for KmipError {
    /// A store failure answered to a client ([`StoreError::to_kmip`]), so operations can use `?`.
    fn from(error: StoreError) -> Self {
        error.to_kmip()
    }
}

impl StoreError {
    /// The failure as a KMIP client receives it: a full disk becomes Server Limit Exceeded, a failed integrity
    /// check a Cryptographic Failure, everything else General Failure; the message says what happened without
    /// key bytes or file contents.
    pub fn to_kmip(&self) -> KmipError {
        use rusqlite::ErrorCode;
        let reason = match self {
            StoreError::Database(rusqlite::Error::SqliteFailure(e, _)) => match e.code {
                ErrorCode::DiskFull => ResultReason::ServerLimitExceeded,
                _ => ResultReason::GeneralFailure,
            },
            StoreError::Integrity { .. } => ResultReason::CryptographicFailure,
            StoreError::OutOfRange { .. } => ResultReason::ServerLimitExceeded,
            _ => ResultReason::GeneralFailure,
        };
        KmipError::new(reason, self.to_string())
    }

    /// A copy for each batch of a failed group commit: SQLite failures keep their code (a full disk stays
    /// a full disk), others keep their message.
    pub(crate) fn duplicate(&self) -> StoreError {
        match self {
            StoreError::Database(rusqlite::Error::SqliteFailure(e, msg)) => {
                StoreError::Database(rusqlite::Error::SqliteFailure(*e, msg.clone()))
            }
            StoreError::WrongMasterKey => StoreError::WrongMasterKey,
            StoreError::VersionConflict {
                uid,
                expected,
                found,
            } => StoreError::VersionConflict {
                uid: uid.clone(),
                expected: *expected,
                found: *found,
            },
            StoreError::ZoneUnavailable { zone, reason } => StoreError::ZoneUnavailable {
                zone: zone.clone(),
                reason: reason.clone(),
            },
            other => StoreError::GroupCommit(other.to_string()),
        }
    }

    /// True when a write was refused because the object changed after it was read.
    pub fn is_version_conflict(&self) -> bool {
        matches!(self, StoreError::VersionConflict { .. })
    }

    /// True when the underlying cause is a full disk or file-size limit.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StoreError::Database(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::DiskFull)
    }

    /// True when another connection holds the file (every store holds its file exclusively while open).
    pub fn is_locked(&self) -> bool {
        matches!(self, StoreError::Database(rusqlite::Error::SqliteFailure(e, _))
            if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
    }
}
