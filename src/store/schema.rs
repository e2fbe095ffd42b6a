//! The database schema as an ordered list of migration steps, tracked by `PRAGMA user_version`. Opening a file
//! runs every step above its version, each in its own transaction; a file from a newer build is refused rather
//! than misread. To change the schema, append a step; never edit a released one.

use rusqlite::{Connection, TransactionBehavior};

use super::error::StoreError;

/// One schema step: the SQL that takes a file from `to_version - 1` to `to_version`.
pub(crate) struct Migration {
    /// The `user_version` after this step.
    pub to_version: u32,
    /// Statements run in one transaction.
    pub sql: &'static str,
}

/// Version 1: objects, their attributes (indexed for Locate), wrapped data keys, the change log, and metadata.
const V1: &str = "
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE data_keys (
    id          TEXT PRIMARY KEY,
    wrapped     BLOB NOT NULL,
    created_ms  INTEGER NOT NULL,
    encryptions INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE objects (
    uid         TEXT PRIMARY KEY,
    object_type INTEGER NOT NULL,
    state       INTEGER NOT NULL,
    archived    INTEGER NOT NULL DEFAULT 0,
    created_seq INTEGER NOT NULL UNIQUE,
    data_key_id TEXT,
    nonce       BLOB,
    ciphertext  BLOB
);
CREATE INDEX objects_by_type ON objects (object_type, created_seq);

CREATE TABLE attributes (
    uid      TEXT NOT NULL,
    name     TEXT NOT NULL,
    idx      INTEGER NOT NULL,
    pos      INTEGER NOT NULL,
    value    BLOB NOT NULL,
    int_key  INTEGER,
    text_key TEXT,
    PRIMARY KEY (uid, name, idx)
) WITHOUT ROWID;
CREATE INDEX attributes_by_int ON attributes (name, int_key, uid);
CREATE INDEX attributes_by_text ON attributes (name, text_key, uid);

CREATE TABLE changes (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ms INTEGER NOT NULL,
    kind    INTEGER NOT NULL,
    uid     TEXT NOT NULL,
    payload BLOB NOT NULL
);
";

/// Version 2: access-control entries (object owners, grants), opaque keys and values written by `access`.
const V2: &str = "
CREATE TABLE access_entries (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
";

/// Version 3: each object's version, the sequence number of the change that last wrote it: every write of an
/// object names the version it read and is refused when the object changed meanwhile (no lost updates). Rows
/// from before get their creation order (any non-zero value that later writes only raise will do). And each
/// change's link in the hash chain over the log (NULL for changes logged before).
const V3: &str = "
ALTER TABLE objects ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
UPDATE objects SET version = created_seq;
ALTER TABLE changes ADD COLUMN hash BLOB;
";

/// Every step, in order. The last one's `to_version` is [`SCHEMA_VERSION`].
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        to_version: 1,
        sql: V1,
    },
    Migration {
        to_version: 2,
        sql: V2,
    },
    Migration {
        to_version: 3,
        sql: V3,
    },
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = 3;

/// The file's `user_version`.
pub(crate) fn version(conn: &Connection) -> Result<u32, StoreError> {
    let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    u32::try_from(v).map_err(|_| StoreError::OutOfRange {
        what: "schema user_version",
    })
}

/// Brings the file up to the last step's version; returns the version reached.
pub(crate) fn migrate(conn: &mut Connection, steps: &[Migration]) -> Result<u32, StoreError> {
    let supported = steps.last().map_or(0, |s| s.to_version);
    let found = version(conn)?;
    if found > supported {
        return Err(StoreError::SchemaTooNew { found, supported });
    }
    for step in steps.iter().filter(|s| s.to_version > found) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have migrated between our read and our lock.
        if version(&tx)? >= step.to_version {
            continue;
        }
        tx.execute_batch(step.sql)?;
        tx.pragma_update(None, "user_version", step.to_version)?;
        tx.commit()?;
        tracing::info!(version = step.to_version, "store schema migrated");
    }
    version(conn)
}
