//! The persistent store: managed objects and their attributes in one SQLite file, object bytes encrypted at
//! rest, and every change appended to an ordered log that a replica can replay. It knows nothing of KMIP
//! meaning — object types, states and attribute names are opaque numbers and strings chosen by `kmip`/`ops`.
//!
//! Keys: a master key (outside the database) wraps random data keys (RFC 3394); each object blob is
//! AES-256-GCM under the current data key with a random nonce and its uid and type as associated data.
//! Durability: WAL journal with `synchronous=FULL`; every [`Store::commit`] is one transaction that also
//! appends its change rows. `docs/store.md` gives the full argument.
//! File faults: the file is opened in exclusive locking mode with no memory-mapped I/O, so SQLite keeps its
//! WAL index in heap memory and maps nothing of the file: a failing disk, a read-only or immutable file is an
//! error code on a call (the zone goes down), never a signal that ends the process. One connection serves
//! writes and reads alike (no other connection can open an exclusively locked file).

mod changes;
mod crypto;
mod error;
mod locate;
mod master_key;
mod schema;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, mpsc};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

pub use changes::{CHAIN_HASH_LEN, ChangeKind};
use changes::{SealedBlob, StoredObject};
use crypto::DataKeyBytes;
pub use error::StoreError;
pub use locate::{Filter, LocateQuery};
#[cfg(unix)]
pub use master_key::take_env_text;
pub use master_key::{
    MASTER_KEY_ENV, MASTER_KEY_FILE_NAME, MASTER_KEY_LEN, MasterKey, MasterKeySource,
    parse_key_text, read_key_file,
};
pub use schema::SCHEMA_VERSION;

use crate::ttlv::SecretBytes;

/// File name of the database inside the data directory.
pub const DB_FILE_NAME: &str = "kmipd.sqlite";

pub use crate::kmip::attributes::SearchKey;

/// One attribute instance as stored. The caller must never put key material in `value` or `search`:
/// attributes are stored in clear so that Locate can use them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttributeRecord {
    /// The attribute's name as the model spells it for storage (e.g. "Standard:0x42000A", "x-Foo").
    pub name: String,
    /// The instance's index among instances of the same name.
    pub index: u32,
    /// The encoded value (binary TTLV of the value item).
    pub value: Vec<u8>,
    /// What Locate filters match against.
    pub search: SearchKey,
}

/// A managed object as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRecord {
    /// Unique Identifier (primary key).
    pub uid: String,
    /// Object Type enumeration value.
    pub object_type: u32,
    /// State enumeration value.
    pub state: u32,
    /// Archived (moved off-line by Archive; returned to on-line by Recover).
    pub archived: bool,
    /// Creation order: the sequence number of the change that first stored the uid. Assigned by the store
    /// (ignored on input to [`Store::commit`]); Locate returns objects in this order.
    pub created_seq: u64,
    /// Storage bytes of the managed object (encrypted at rest); `None` once destroyed.
    pub object: Option<SecretBytes>,
    /// Attribute instances, in the caller's order (preserved).
    pub attributes: Vec<AttributeRecord>,
    /// Read: the object's version, the sequence number of the change that last wrote it (never 0).
    /// Written ([`Mutation::Put`]): the version the write is based on, 0 for an object that must not exist
    /// yet. A write whose version is not the stored one is refused with [`StoreError::VersionConflict`]: a
    /// write based on a stale read never overwrites a newer change (a Destroy, say).
    pub version: u64,
}

impl ObjectRecord {
    /// A record with no object bytes and no attributes, live, creation order to be assigned.
    pub fn new(uid: impl Into<String>, object_type: u32, state: u32) -> Self {
        ObjectRecord {
            uid: uid.into(),
            object_type,
            state,
            archived: false,
            created_seq: 0,
            object: None,
            attributes: Vec::new(),
            version: 0,
        }
    }
}

/// One change within a [`Store::commit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// Create the record (its `version` 0), or replace it entirely (attributes included, `version` the one
    /// read), keeping its creation order.
    Put(ObjectRecord),
    /// Remove the record and its attributes.
    Delete {
        /// The record's uid.
        uid: String,
        /// The version read (0: absent, and nothing to do); another is refused like a Put's.
        version: u64,
    },
    /// Set an access-control entry (an object's owner, a grant): replicated like objects so that every zone
    /// decides alike. Keys and values are opaque to the store.
    SetAccess {
        /// The entry's key.
        key: String,
        /// Its value.
        value: Vec<u8>,
    },
    /// Remove an access-control entry (absent is not an error).
    ClearAccess {
        /// The entry's key.
        key: String,
    },
}

/// One entry of the ordered change log: what a replica applies, in `seq` order, with [`Store::apply_change`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeRecord {
    /// Gapless, increasing sequence number.
    pub seq: u64,
    /// When it was committed (milliseconds since the Unix epoch).
    pub time_ms: i64,
    /// What it did.
    pub kind: ChangeKind,
    /// The object's uid (for [`ChangeKind::DataKey`], the data key's id).
    pub uid: String,
    /// The after-image (object still encrypted) or wrapped data key; empty for deletes. Opaque to callers.
    pub payload: Vec<u8>,
    /// Its link in the hash chain over the log (`None` for a change logged before schema 3). A copy applies
    /// a change only when the link it computes over its own log is this one: a copy whose history differs
    /// anywhere before is refused, never merged.
    pub hash: Option<[u8; CHAIN_HASH_LEN]>,
}

/// Tunables of an open store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// How long a connection waits for a lock held by another process before failing.
    pub busy_timeout: Duration,
    /// Encryptions under one data key before a new one is generated (random 96-bit nonces: stay far below
    /// 2^32 per key).
    pub data_key_max_encryptions: u64,
    /// Locate lets a filter drive the query (read its index range, sort the candidates) when it matches
    /// fewer attribute rows than this; otherwise objects are walked in creation order.
    pub locate_driver_max: usize,
    /// Prepared statements the connection keeps for reuse: room for every statement the store runs (about
    /// fifty shapes), so a statement is parsed once per connection, not once per call.
    pub statement_cache: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            busy_timeout: Duration::from_secs(5),
            data_key_max_encryptions: 1 << 30,
            locate_driver_max: 2_000,
            statement_cache: 128,
        }
    }
}

/// The data key new objects are sealed under.
#[derive(Clone)]
struct CurrentKey {
    id: String,
    key: Arc<DataKeyBytes>,
    encryptions: u64,
}

/// A batch waiting for the writer, and where to send its outcome.
struct PendingCommit {
    mutations: Vec<Mutation>,
    reply: mpsc::Sender<Reply>,
}

/// What a waiting committer is told.
enum Reply {
    /// Its batch was committed (or failed).
    Done(Result<u64, StoreError>),
    /// It must lead the next group (its batch is in it).
    Lead,
}

/// Batches waiting to be committed, and whether some caller is currently leading a group.
#[derive(Default)]
struct CommitQueue {
    pending: Vec<PendingCommit>,
    leader_active: bool,
}

/// The single write connection and the state only writers touch.
struct Writer {
    conn: Connection,
    current: Option<CurrentKey>,
}

/// The encrypted object store. `Send + Sync`; share it in an `Arc`. Writes and reads are serialized through
/// its one connection (exclusive locking: see the module comment); a read never sees a commit in progress.
pub struct Store {
    path: PathBuf,
    master: MasterKey,
    options: StoreOptions,
    writer: Mutex<Writer>,
    queue: Mutex<CommitQueue>,
    keys: RwLock<HashMap<String, Arc<DataKeyBytes>>>,
    groups: GroupCounts,
}

/// How many group commits were written and how many batches they held: the evidence that group commit
/// batches concurrent callers (see [`Store::group_commit_counts`]).
#[derive(Default)]
struct GroupCounts {
    groups: std::sync::atomic::AtomicU64,
    batches: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// How often a snapshot retries a step that found the database locked by another process, and how long it
/// pauses between tries (bounded: about five seconds in all).
const SNAPSHOT_BUSY_RETRIES: u32 = 50;
const SNAPSHOT_BUSY_PAUSE: Duration = Duration::from_millis(100);

/// How many keys or uids one set-based read binds per statement: well under SQLite's bound-parameter limit, and
/// few enough that the cached statements stay a handful of shapes (a full chunk and one remainder).
const SET_READ_CHUNK: usize = 500;

/// `?, ?, ...` for `n` bound parameters.
fn placeholders(n: usize) -> String {
    let mut out = String::with_capacity(n * 3);
    for i in 0..n {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('?');
    }
    out
}

/// An object's attribute instances in the caller's order (every Get, every read of a record).
const READ_ATTRIBUTES_SQL: &str =
    "SELECT name, idx, value, int_key, text_key FROM attributes WHERE uid = ? ORDER BY pos";

const META_KEY_CHECK: &str = "key_check";
const META_CURRENT_DATA_KEY: &str = "current_data_key";
/// The hash chain link of the last change pruned from the log: the next change chains from it when the log
/// holds no older row.
const META_PRUNED_CHAIN: &str = "pruned_chain_head";

impl Store {
    /// Opens (creating or migrating) the database at `path` with default options.
    pub fn open(path: &Path, master: MasterKey) -> Result<Store, StoreError> {
        Store::open_with(path, master, StoreOptions::default())
    }

    /// Opens `<data_dir>/kmipd.sqlite` (creating the directory), taking the master key from `source`.
    pub fn open_in_dir(data_dir: &Path, source: &MasterKeySource) -> Result<Store, StoreError> {
        let master = source.load(data_dir)?;
        crate::private_fs::create_dir(data_dir).map_err(|source| StoreError::Io {
            action: "creating data directory",
            path: data_dir.to_path_buf(),
            source,
        })?;
        Store::open(&data_dir.join(DB_FILE_NAME), master)
    }

    /// Opens the database at `path`: migrates the schema, then checks the master key against the stored key
    /// check value (creating one in a new file) so a wrong key fails here with [`StoreError::WrongMasterKey`].
    pub fn open_with(
        path: &Path,
        master: MasterKey,
        options: StoreOptions,
    ) -> Result<Store, StoreError> {
        let mut conn = open_connection(path, &options)?;
        // Before WAL mode: SQLite gives the -wal and -shm files the database file's permissions.
        restrict_permissions(path)?;
        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        check_durable_settings(&conn, path)?;
        schema::migrate(&mut conn, schema::MIGRATIONS)?;
        check_master_key(&mut conn, &master)?;
        let current = load_current_key(&conn, &master)?;
        let mut keys = HashMap::new();
        if let Some(c) = &current {
            keys.insert(c.id.clone(), c.key.clone());
        }
        Ok(Store {
            path: path.to_path_buf(),
            master,
            options,
            writer: Mutex::new(Writer { conn, current }),
            queue: Mutex::new(CommitQueue::default()),
            keys: RwLock::new(keys),
            groups: GroupCounts::default(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The master key this store was opened with: to reopen a sibling zone under the same key, and to derive
    /// the keys that protect backups of it.
    pub(crate) fn master_key(&self) -> &MasterKey {
        &self.master
    }

    /// Writes a consistent copy of the whole database to `dest` (which must not exist) with SQLite's online
    /// backup API, copying every page in one step through the store's connection: commits wait meanwhile and
    /// the copy is exactly one committed state, never a copy of a file in
    /// use. The copy is switched to a
    /// rollback journal so that it is one self-contained file. Returns the copy's last sequence number.
    pub fn snapshot_to(&self, dest: &Path) -> Result<u64, StoreError> {
        if dest.exists() {
            return Err(StoreError::Snapshot {
                path: dest.to_path_buf(),
                reason: "the destination file already exists".into(),
            });
        }
        self.with_reader(|source| {
            let mut copy = Connection::open(dest)?;
            restrict_permissions(dest)?;
            {
                let backup = rusqlite::backup::Backup::new(source, &mut copy)?;
                let mut waited = 0;
                loop {
                    match backup.step(-1)? {
                        rusqlite::backup::StepResult::Done => break,
                        // A lock held by another process: wait a little, bounded.
                        _ if waited < SNAPSHOT_BUSY_RETRIES => {
                            waited += 1;
                            std::thread::sleep(SNAPSHOT_BUSY_PAUSE);
                        }
                        _ => {
                            return Err(StoreError::Snapshot {
                                path: dest.to_path_buf(),
                                reason: "the database stayed locked; try again".into(),
                            });
                        }
                    }
                }
            }
            let mode: String = copy.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("delete") {
                return Err(StoreError::Snapshot {
                    path: dest.to_path_buf(),
                    reason: format!("could not leave WAL mode (journal mode {mode})"),
                });
            }
            let seq = last_seq(&copy)?;
            copy.close().map_err(|(_, e)| StoreError::Database(e))?;
            Ok(seq)
        })
    }

    /// Checks a database file that no store has open (a snapshot about to be restored): SQLite's integrity
    /// check passes, its schema is one this build can open, and `master` unwraps its key check value.
    /// Returns its last sequence number. The file is not modified.
    pub fn inspect_snapshot(path: &Path, master: &MasterKey) -> Result<u64, StoreError> {
        let refuse = |reason: String| StoreError::Snapshot {
            path: path.to_path_buf(),
            reason,
        };
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        let mut stmt = conn.prepare("PRAGMA integrity_check")?;
        let problems = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        drop(stmt);
        if problems != ["ok"] {
            return Err(refuse(format!(
                "SQLite integrity check failed: {}",
                problems.join("; ")
            )));
        }
        let version: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        let check = get_meta(&conn, META_KEY_CHECK)?
            .ok_or_else(|| refuse("it holds no key check value: not a kmipd store".into()))?;
        crypto::unwrap(master, &check).map_err(|_| StoreError::WrongMasterKey)?;
        last_seq(&conn)
    }

    /// The tunables this store was opened with.
    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    /// A fresh Unique Identifier: a UUID v4 from OS randomness.
    pub fn new_uid(&self) -> Result<String, StoreError> {
        crypto::uuid_v4()
    }

    /// The record stored under `uid`, object decrypted and authenticated.
    pub fn get(&self, uid: &str) -> Result<Option<ObjectRecord>, StoreError> {
        self.with_reader(|conn| {
            let tx = conn.transaction()?;
            let record = read_record(&tx, uid, |id| self.data_key(&tx, id))?;
            tx.commit()?;
            Ok(record)
        })
    }

    /// Whether a record exists under `uid` (no decryption).
    pub fn exists(&self, uid: &str) -> Result<bool, StoreError> {
        self.with_reader(|conn| {
            Ok(conn
                .prepare_cached("SELECT 1 FROM objects WHERE uid = ?")?
                .exists([uid])?)
        })
    }

    /// The access-control entry stored under `key`.
    pub fn access_entry(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.with_reader(|conn| {
            Ok(conn
                .prepare_cached("SELECT value FROM access_entries WHERE key = ?")?
                .query_row([key], |r| r.get(0))
                .optional()?)
        })
    }

    /// Every access-control entry whose key starts with `prefix`, in key order.
    pub fn access_entries(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.with_reader(|conn| {
            // Keys are compared as text; `prefix || char(0x10FFFF)` bounds the range without LIKE escaping.
            let mut stmt = conn.prepare_cached(
                "SELECT key, value FROM access_entries WHERE key >= ?1 AND key < ?1 || char(1114111) ORDER BY key",
            )?;
            let rows = stmt.query_map([prefix], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// The text search keys of the instances of attribute `name` of object `uid` (no decryption): what the
    /// access layer needs to know an object's groups.
    pub fn attribute_texts(&self, uid: &str, name: &str) -> Result<Vec<String>, StoreError> {
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT text_key FROM attributes WHERE uid = ? AND name = ? AND text_key IS NOT NULL ORDER BY pos",
            )?;
            let rows = stmt.query_map([uid, name], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// The access-control entries stored under any of `keys` (absent keys are left out): lets the access layer
    /// read the owners of a whole Locate answer in a few set-based queries instead of one per object.
    pub fn access_entries_for(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, Vec<u8>>, StoreError> {
        self.with_reader(|conn| {
            let mut out = HashMap::with_capacity(keys.len());
            for chunk in keys.chunks(SET_READ_CHUNK) {
                let sql = format!(
                    "SELECT key, value FROM access_entries WHERE key IN ({})",
                    placeholders(chunk.len())
                );
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt.query_map(rusqlite::params_from_iter(chunk), |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
                })?;
                for row in rows {
                    let (key, value) = row?;
                    out.insert(key, value);
                }
            }
            Ok(out)
        })
    }

    /// The text search keys of attribute `name` for each of `uids` that has any, in instance order (no
    /// decryption): [`Store::attribute_texts`] for a whole Locate answer in a few set-based queries.
    pub fn attribute_texts_of(
        &self,
        uids: &[String],
        name: &str,
    ) -> Result<HashMap<String, Vec<String>>, StoreError> {
        self.with_reader(|conn| {
            let mut out: HashMap<String, Vec<String>> = HashMap::new();
            for chunk in uids.chunks(SET_READ_CHUNK) {
                let sql = format!(
                    "SELECT uid, text_key FROM attributes WHERE name = ? AND text_key IS NOT NULL \
                     AND uid IN ({}) ORDER BY uid, pos",
                    placeholders(chunk.len())
                );
                let mut stmt = conn.prepare_cached(&sql)?;
                let params = std::iter::once(name).chain(chunk.iter().map(String::as_str));
                let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })?;
                for row in rows {
                    let (uid, text) = row?;
                    out.entry(uid).or_default().push(text);
                }
            }
            Ok(out)
        })
    }

    /// Applies `mutations` in one durable transaction, appending one change row per mutation (plus one per
    /// data key generated); returns the last sequence number written (the current one when empty).
    ///
    /// Group commit: callers arriving while a group is being written queue up; one of them then leads and
    /// commits every queued batch in one transaction (one fsync), each batch inside its own savepoint so a
    /// failing batch fails alone. Each caller returns only once its own batch is durable.
    pub fn commit(&self, mutations: Vec<Mutation>) -> Result<u64, StoreError> {
        self.commit_then(mutations, &|_| Ok(()))
    }

    /// [`Store::commit`], calling `before_commit` with the group's change records after they are written and
    /// before the transaction commits (the connection stays locked meanwhile, so no read sees them yet). When
    /// it fails the whole group is rolled back and every caller in it gets its error: how the zones make a
    /// change visible only once every other zone durably holds it. Whichever caller leads a group runs its own
    /// `before_commit`, so every caller of one store must pass an equivalent one.
    pub fn commit_then(
        &self,
        mutations: Vec<Mutation>,
        before_commit: &dyn Fn(&[ChangeRecord]) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        let (reply, answer) = mpsc::channel();
        let lead = {
            let mut queue = self.lock_queue();
            queue.pending.push(PendingCommit { mutations, reply });
            !std::mem::replace(&mut queue.leader_active, true)
        };
        let mut leading = lead;
        loop {
            if leading {
                self.lead_one_group(before_commit);
            }
            match answer.recv() {
                Ok(Reply::Done(result)) => return result,
                Ok(Reply::Lead) => leading = true,
                Err(_) => return Err(StoreError::Internal("group commit dropped a batch")),
            }
        }
    }

    /// (groups committed, batches they held) since the store was opened: one durable transaction (one WAL
    /// fsync) per group, so `batches > groups` shows callers sharing fsyncs.
    pub fn group_commit_counts(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.groups.groups.load(Relaxed),
            self.groups.batches.load(Relaxed),
        )
    }

    /// As leader: commits everything queued as one group, then hands leadership to the first batch queued
    /// meanwhile (or gives it up when none is), so no caller serves others for longer than one group.
    fn lead_one_group(&self, before_commit: &dyn Fn(&[ChangeRecord]) -> Result<(), StoreError>) {
        let group = std::mem::take(&mut self.lock_queue().pending);
        {
            let mut writer = self.lock_writer();
            self.commit_group(&mut writer, group, before_commit);
        }
        let mut queue = self.lock_queue();
        match queue.pending.first() {
            Some(next) => {
                if next.reply.send(Reply::Lead).is_err() {
                    // Unreachable: a submitter waits for its answer. Give up leadership so the next
                    // arrival leads instead of everyone waiting.
                    queue.leader_active = false;
                }
            }
            None => queue.leader_active = false,
        }
    }

    fn lock_queue(&self) -> MutexGuard<'_, CommitQueue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Commits queued batches in one transaction and replies to each submitter.
    fn commit_group(
        &self,
        writer: &mut Writer,
        group: Vec<PendingCommit>,
        before_commit: &dyn Fn(&[ChangeRecord]) -> Result<(), StoreError>,
    ) {
        let mut replies = Vec::with_capacity(group.len());
        let outcome = (|| {
            let mut tx = writer
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let first_seq = last_seq(&tx)?;
            let mut seq = first_seq;
            let now = now_ms();
            let mut current = writer.current.clone();
            let mut results = Vec::with_capacity(group.len());
            for pending in group {
                replies.push(pending.reply);
                let (seq_before, current_before) = (seq, current.clone());
                let mut sp = tx.savepoint()?;
                match self.apply_mutations(&sp, pending.mutations, &mut seq, &mut current, now) {
                    Ok(()) => {
                        sp.commit()?;
                        results.push(Ok(seq));
                    }
                    Err(e) => {
                        if sp.rollback().is_err() {
                            // SQLite already rolled the whole transaction back (it does on SQLITE_FULL and
                            // some I/O errors): the group fails, with the batch's error, which says why.
                            return Err(e);
                        }
                        drop(sp);
                        seq = seq_before;
                        current = current_before;
                        results.push(Err(e));
                    }
                }
            }
            if seq > first_seq {
                let written = read_changes(&tx, first_seq, usize::MAX)?;
                before_commit(&written)?;
            }
            tx.commit()?;
            Ok::<_, StoreError>((results, current))
        })();
        match outcome {
            Ok((results, current)) => {
                writer.current = current;
                use std::sync::atomic::Ordering::Relaxed;
                self.groups.groups.fetch_add(1, Relaxed);
                self.groups.batches.fetch_add(results.len() as u64, Relaxed);
                for (reply, result) in replies.into_iter().zip(results) {
                    // A submitter that went away no longer needs its answer.
                    let _ = reply.send(Reply::Done(result));
                }
            }
            Err(e) => {
                for reply in &replies {
                    let _ = reply.send(Reply::Done(Err(e.duplicate())));
                }
            }
        }
    }

    /// Writes one batch's rows and change rows inside the open transaction.
    fn apply_mutations(
        &self,
        tx: &Connection,
        mutations: Vec<Mutation>,
        seq: &mut u64,
        current: &mut Option<CurrentKey>,
        now: i64,
    ) -> Result<(), StoreError> {
        for mutation in mutations {
            match mutation {
                Mutation::Put(record) => {
                    let created_seq = check_version(tx, &record.uid, record.version)?;
                    let blob = match &record.object {
                        None => None,
                        Some(plain) => {
                            let key = self.key_for_sealing(tx, current, seq, now)?;
                            let sealed =
                                crypto::seal(&key.key, &record.uid, record.object_type, plain)?;
                            tx.prepare_cached(
                                "UPDATE data_keys SET encryptions = encryptions + 1 WHERE id = ?",
                            )?
                            .execute([&key.id])?;
                            Some(SealedBlob {
                                data_key_id: key.id.clone(),
                                nonce: sealed.nonce.to_vec(),
                                ciphertext: sealed.ciphertext,
                            })
                        }
                    };
                    *seq += 1;
                    let created_seq = created_seq.unwrap_or(*seq);
                    let stored = StoredObject {
                        object_type: record.object_type,
                        state: record.state,
                        archived: record.archived,
                        created_seq,
                        blob,
                        attributes: record.attributes,
                    };
                    write_object(tx, &record.uid, &stored, *seq)?;
                    let payload = changes::encode_put(&stored);
                    insert_change(tx, *seq, now, ChangeKind::Put, &record.uid, &payload)?;
                }
                Mutation::Delete { uid, version } => {
                    check_version(tx, &uid, version)?;
                    delete_object(tx, &uid)?;
                    *seq += 1;
                    insert_change(tx, *seq, now, ChangeKind::Delete, &uid, &[])?;
                }
                Mutation::SetAccess { key, value } => {
                    set_access(tx, &key, &value)?;
                    *seq += 1;
                    insert_change(tx, *seq, now, ChangeKind::AccessSet, &key, &value)?;
                }
                Mutation::ClearAccess { key } => {
                    clear_access(tx, &key)?;
                    *seq += 1;
                    insert_change(tx, *seq, now, ChangeKind::AccessClear, &key, &[])?;
                }
            }
        }
        Ok(())
    }

    /// Uids of the records matching `query`, in creation order, after `offset`, at most `max`.
    pub fn locate(&self, query: &LocateQuery) -> Result<Vec<String>, StoreError> {
        self.with_reader(|conn| {
            let Some((sql, params)) = locate::plan(conn, query, self.options.locate_driver_max)?
            else {
                return Ok(Vec::new());
            };
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| {
                r.get::<_, String>(0)
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Up to `max` changes with sequence numbers above `after_seq`, in order.
    pub fn changes_since(
        &self,
        after_seq: u64,
        max: usize,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        self.with_reader(|conn| read_changes(conn, after_seq, max))
    }

    /// The sequence number of the last change committed (0 for a new store).
    pub fn last_seq(&self) -> Result<u64, StoreError> {
        self.with_reader(|conn| last_seq(conn))
    }

    /// Applies one change from another store's stream (a replica following a primary). Changes must come in
    /// order: a change at or below [`Store::last_seq`] already applied is skipped (`Ok(false)`), one that
    /// differs from what this store holds at that sequence is refused, and a gap is refused. The replica
    /// needs the same master key as the source (data keys travel wrapped under it).
    pub fn apply_change(&self, change: &ChangeRecord) -> Result<bool, StoreError> {
        let applied = self.apply_changes(std::slice::from_ref(change))?;
        Ok(applied > 0)
    }

    /// Applies a run of changes from another store's stream in ONE durable transaction (one fsync), with the
    /// rules of [`Store::apply_change`] for each; returns how many were new. Either every change is applied or
    /// none is, so a follower shipping batches never holds half a batch.
    pub fn apply_changes(&self, changes: &[ChangeRecord]) -> Result<usize, StoreError> {
        let mut guard = self.lock_writer();
        let writer = &mut *guard;
        let tx = writer
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut last = last_seq(&tx)?;
        let mut new_current = None;
        let mut applied = 0;
        for change in changes {
            if self.apply_one(&tx, change, last, &mut new_current)? {
                last = change.seq;
                applied += 1;
            }
        }
        tx.commit()?;
        if new_current.is_some() {
            writer.current = new_current;
        }
        Ok(applied)
    }

    /// One change of [`Store::apply_changes`] inside its transaction; `last` is the newest sequence held.
    fn apply_one(
        &self,
        tx: &Connection,
        change: &ChangeRecord,
        last: u64,
        new_current: &mut Option<CurrentKey>,
    ) -> Result<bool, StoreError> {
        let corrupt = |reason: String| StoreError::CorruptChange {
            seq: change.seq,
            reason,
        };
        if change.seq <= last {
            let held: Option<(Vec<u8>, Option<Vec<u8>>)> = tx
                .prepare_cached("SELECT payload, hash FROM changes WHERE seq = ?")?
                .query_row([to_i64(change.seq)?], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            return match held {
                Some((p, _)) if p != change.payload => Err(corrupt(
                    "differs from the change this store holds at that sequence".into(),
                )),
                Some((_, Some(h))) if change.hash.is_some_and(|c| c[..] != h[..]) => Err(corrupt(
                    "its hash chain link differs from this store's at that sequence: the histories \
                     before it disagree"
                        .into(),
                )),
                _ => Ok(false),
            };
        }
        if change.seq != last + 1 {
            return Err(StoreError::ChangeGap {
                expected: last + 1,
                got: change.seq,
            });
        }
        if let Some(theirs) = change.hash {
            let prev = prev_chain_hash(tx, change.seq)?;
            let mine = changes::chain_hash(
                &prev,
                change.seq,
                change.time_ms,
                change.kind,
                &change.uid,
                &change.payload,
            );
            if mine != theirs {
                return Err(corrupt(
                    "its hash chain link does not follow this store's log: the source's history differs \
                     from this copy's before this change; the copy is refused, never merged"
                        .into(),
                ));
            }
        }
        match change.kind {
            ChangeKind::Put => {
                let stored = changes::decode_put(&change.payload).map_err(corrupt)?;
                if let Some(blob) = &stored.blob {
                    self.data_key(tx, &blob.data_key_id)?;
                }
                // Its version is its change's sequence number, as where it was first committed.
                write_object(tx, &change.uid, &stored, change.seq)?;
            }
            ChangeKind::Delete => delete_object(tx, &change.uid)?,
            ChangeKind::AccessSet => set_access(tx, &change.uid, &change.payload)?,
            ChangeKind::AccessClear => clear_access(tx, &change.uid)?,
            ChangeKind::DataKey => {
                let (created_ms, wrapped) =
                    changes::decode_data_key(&change.payload).map_err(corrupt)?;
                let key = Arc::new(crypto::unwrap(&self.master, &wrapped)?);
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO data_keys (id, wrapped, created_ms) VALUES (?, ?, ?)",
                )?
                .execute(params![change.uid, wrapped, created_ms])?;
                set_meta(tx, META_CURRENT_DATA_KEY, change.uid.as_bytes())?;
                self.cache_key(&change.uid, key.clone());
                *new_current = Some(CurrentKey {
                    id: change.uid.clone(),
                    key,
                    encryptions: 0,
                });
            }
        }
        // The row as the source logged it, its chain link included (checked above; none before schema 3).
        tx.prepare_cached(
            "INSERT INTO changes (seq, time_ms, kind, uid, payload, hash) VALUES (?, ?, ?, ?, ?, ?)",
        )?
        .execute(params![
            to_i64(change.seq)?,
            change.time_ms,
            change.kind as u8,
            change.uid,
            change.payload,
            change.hash.as_ref().map(|h| &h[..])
        ])?;
        Ok(true)
    }

    /// Drops change rows up to and including `seq` (after every replica has them); sequence numbers are never
    /// reused. Returns how many rows were removed.
    pub fn prune_changes(&self, up_to_seq: u64) -> Result<usize, StoreError> {
        let mut guard = self.lock_writer();
        let tx = guard
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = prune_through(&tx, to_i64(up_to_seq)?)?;
        tx.commit()?;
        Ok(n)
    }

    /// Drops the oldest change rows that every copy already holds: those at or below `up_to_seq` committed at
    /// or before `cutoff_ms` (milliseconds since the Unix epoch), at most `max_rows` of them, stopping at the
    /// first newer one so the log stays a gapless run of the newest changes. Bounded work for a periodic
    /// task; returns how many rows were removed.
    pub fn prune_changes_older_than(
        &self,
        up_to_seq: u64,
        cutoff_ms: i64,
        max_rows: usize,
    ) -> Result<usize, StoreError> {
        let guard = self.lock_writer();
        let conn = &guard.conn;
        let limit = i64::try_from(max_rows).unwrap_or(i64::MAX);
        let mut last_old = None;
        {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, time_ms FROM changes WHERE seq <= ? ORDER BY seq LIMIT ?",
            )?;
            let mut rows = stmt.query(params![to_i64(up_to_seq)?, limit])?;
            while let Some(row) = rows.next()? {
                let (seq, time_ms): (i64, i64) = (row.get(0)?, row.get(1)?);
                if time_ms > cutoff_ms {
                    break;
                }
                last_old = Some(seq);
            }
        }
        let Some(last_old) = last_old else {
            return Ok(0);
        };
        prune_through(conn, last_old)
    }

    /// The oldest change the log still holds (`None` when it holds none). A copy that lacks an older change
    /// cannot catch up from this log: it must be re-seeded.
    pub fn first_retained_seq(&self) -> Result<Option<u64>, StoreError> {
        self.with_reader(|conn| {
            let seq: Option<i64> = conn
                .prepare_cached("SELECT MIN(seq) FROM changes")?
                .query_row([], |r| r.get(0))?;
            seq.map(to_u64).transpose()
        })
    }

    /// Caps the file at `max_pages` database pages (SQLite's `max_page_count` on the write connection), or
    /// lifts the cap (`None`). A write that needs more space fails exactly as on a full disk (`SQLITE_FULL`):
    /// a size quota, and the way the full-disk behaviour of the zones is rehearsed without a small file
    /// system. Returns the limit now in force. The cap lasts while this store is open.
    pub fn limit_pages(&self, max_pages: Option<u64>) -> Result<u64, StoreError> {
        /// SQLite's own ceiling for `max_page_count`: "no limit".
        const NO_PAGE_LIMIT: u64 = 4_294_967_294;
        let pages = max_pages.unwrap_or(NO_PAGE_LIMIT).min(NO_PAGE_LIMIT);
        let guard = self.lock_writer();
        let now: i64 =
            guard
                .conn
                .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
                    r.get(0)
                })?;
        to_u64(now)
    }

    /// How many pages the database file has now (for [`Store::limit_pages`]).
    pub fn page_count(&self) -> Result<u64, StoreError> {
        let guard = self.lock_writer();
        let n: i64 = guard
            .conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))?;
        to_u64(n)
    }

    fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        // A panic mid-transaction rolled it back (the Transaction's drop); the connection stays usable.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs a read on the store's one connection, between commits (never inside a group's transaction).
    fn with_reader<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        f(&mut self.lock_writer().conn)
    }

    fn cache_key(&self, id: &str, key: Arc<DataKeyBytes>) {
        self.keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_string(), key);
    }

    /// The unwrapped data key `id`, from the cache or the `data_keys` table.
    fn data_key(&self, conn: &Connection, id: &str) -> Result<Arc<DataKeyBytes>, StoreError> {
        if let Some(k) = self
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
        {
            return Ok(k.clone());
        }
        let wrapped: Vec<u8> = conn
            .prepare_cached("SELECT wrapped FROM data_keys WHERE id = ?")?
            .query_row([id], |r| r.get(0))
            .optional()?
            .ok_or_else(|| StoreError::DataKeyMissing { id: id.to_string() })?;
        let key = Arc::new(crypto::unwrap(&self.master, &wrapped)?);
        self.cache_key(id, key.clone());
        Ok(key)
    }

    /// The data key to seal with, generating one (and its change row) when none exists or the current one
    /// has reached its encryption budget.
    fn key_for_sealing(
        &self,
        tx: &Connection,
        current: &mut Option<CurrentKey>,
        seq: &mut u64,
        now: i64,
    ) -> Result<CurrentKey, StoreError> {
        if let Some(c) = current.as_mut()
            && c.encryptions < self.options.data_key_max_encryptions
        {
            c.encryptions += 1;
            return Ok(c.clone());
        }
        let key = crypto::generate_data_key()?;
        let wrapped = crypto::wrap(&self.master, &key)?;
        let id = hex::encode(crypto::random_array::<8>()?);
        tx.prepare_cached("INSERT INTO data_keys (id, wrapped, created_ms) VALUES (?, ?, ?)")?
            .execute(params![id, wrapped, now])?;
        set_meta(tx, META_CURRENT_DATA_KEY, id.as_bytes())?;
        *seq += 1;
        let payload = changes::encode_data_key(now, &wrapped);
        insert_change(tx, *seq, now, ChangeKind::DataKey, &id, &payload)?;
        let key = Arc::new(key);
        self.cache_key(&id, key.clone());
        let c = CurrentKey {
            id,
            key,
            encryptions: 1,
        };
        *current = Some(c.clone());
        Ok(c)
    }
}

/// Opens the file so that no file fault can become a signal: exclusive locking (set before the first read,
/// so that the WAL index lives in heap memory instead of a mapped `-shm` file) and no memory-mapped I/O.
fn open_connection(path: &Path, options: &StoreOptions) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(options.busy_timeout)?;
    conn.set_prepared_statement_cache_capacity(options.statement_cache);
    // Query planner stability: a statement's plan never depends on the values bound to it, so a cached
    // statement is not compiled again whenever a new value is bound (SQLite otherwise re-prepares statements
    // whose plan could use the value, such as the attribute read of every Get, on each call).
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    // Statement journals (a savepoint's undo pages: every commit group writes one per batch) and temporary
    // tables live in memory: they never outlive the connection, and a Create spilled about 135 page writes
    // into a temporary file. The database and its WAL are unaffected.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    let locking: String = conn.query_row("PRAGMA locking_mode = EXCLUSIVE", [], |r| r.get(0))?;
    let mmap: i64 = conn.query_row("PRAGMA mmap_size = 0", [], |r| r.get(0))?;
    if !locking.eq_ignore_ascii_case("exclusive") || mmap != 0 {
        return Err(StoreError::Internal(
            "SQLite refused exclusive locking without memory-mapped I/O",
        ));
    }
    Ok(conn)
}

/// Reads back what SQLite actually applied: the durability argument (`docs/store.md`) needs the WAL journal
/// with `synchronous=FULL` (the WAL is fsynced before each commit returns) or `EXTRA`. A file system that
/// refuses WAL, or a setting that did not take, is an error at open rather than weaker durability later.
fn check_durable_settings(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NotDurable {
            path: path.to_path_buf(),
            setting: "journal_mode",
            found: mode,
            needed: "WAL",
        });
    }
    // 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA.
    let sync: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
    if sync < 2 {
        return Err(StoreError::NotDurable {
            path: path.to_path_buf(),
            setting: "synchronous",
            found: match sync {
                0 => "OFF".to_string(),
                1 => "NORMAL".to_string(),
                other => other.to_string(),
            },
            needed: "FULL (or EXTRA)",
        });
    }
    Ok(())
}

/// The database and its WAL/shared-memory files hold only ciphertext and attributes, but still: owner only.
fn restrict_permissions(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
            |source| StoreError::Io {
                action: "restricting permissions of",
                path: path.to_path_buf(),
                source,
            },
        )?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Verifies the master key against the stored key check value (a random value wrapped under the master key;
/// RFC 3394's integrity check fails under any other key), creating it in a new store.
fn check_master_key(conn: &mut Connection, master: &MasterKey) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    match get_meta(&tx, META_KEY_CHECK)? {
        Some(wrapped) => {
            crypto::unwrap(master, &wrapped).map_err(|_| StoreError::WrongMasterKey)?;
        }
        None => {
            let check = crypto::generate_data_key()?;
            set_meta(&tx, META_KEY_CHECK, &crypto::wrap(master, &check)?)?;
        }
    }
    tx.commit()?;
    Ok(())
}

fn load_current_key(
    conn: &Connection,
    master: &MasterKey,
) -> Result<Option<CurrentKey>, StoreError> {
    let Some(id) = get_meta(conn, META_CURRENT_DATA_KEY)? else {
        return Ok(None);
    };
    let id =
        String::from_utf8(id).map_err(|_| StoreError::Crypto("current data key id is not text"))?;
    let row: Option<(Vec<u8>, i64)> = conn
        .query_row(
            "SELECT wrapped, encryptions FROM data_keys WHERE id = ?",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (wrapped, encryptions) =
        row.ok_or_else(|| StoreError::DataKeyMissing { id: id.clone() })?;
    Ok(Some(CurrentKey {
        id,
        key: Arc::new(crypto::unwrap(master, &wrapped)?),
        encryptions: to_u64(encryptions)?,
    }))
}

fn get_meta(conn: &Connection, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE name = ?")?
        .query_row([name], |r| r.get(0))
        .optional()?)
}

fn set_meta(conn: &Connection, name: &str, value: &[u8]) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)")?
        .execute(params![name, value])?;
    Ok(())
}

fn last_seq(conn: &Connection) -> Result<u64, StoreError> {
    let seq: Option<i64> = conn
        .prepare_cached("SELECT seq FROM sqlite_sequence WHERE name = 'changes'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    to_u64(seq.unwrap_or(0))
}

/// Up to `max` change rows above `after_seq`, in order, as `conn` sees them (inside a transaction: its own
/// uncommitted rows too).
fn read_changes(
    conn: &Connection,
    after_seq: u64,
    max: usize,
) -> Result<Vec<ChangeRecord>, StoreError> {
    let after =
        i64::try_from(after_seq).map_err(|_| StoreError::OutOfRange { what: "after_seq" })?;
    let limit = i64::try_from(max).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(
        "SELECT seq, time_ms, kind, uid, payload, hash FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",
    )?;
    let rows = stmt.query_map(params![after, limit], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, Vec<u8>>(4)?,
            r.get::<_, Option<Vec<u8>>>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, time_ms, kind, uid, payload, hash) = row?;
        let seq = to_u64(seq)?;
        let kind = ChangeKind::from_code(kind).ok_or_else(|| StoreError::CorruptChange {
            seq,
            reason: format!("unknown kind {kind}"),
        })?;
        let hash = hash
            .map(|h| <[u8; CHAIN_HASH_LEN]>::try_from(h.as_slice()))
            .transpose()
            .map_err(|_| StoreError::CorruptChange {
                seq,
                reason: "its hash chain link is not 32 bytes".into(),
            })?;
        out.push(ChangeRecord {
            seq,
            time_ms,
            kind,
            uid,
            payload,
            hash,
        });
    }
    Ok(out)
}

/// Deletes the change rows up to `seq`, keeping the last deleted row's hash chain link so that the next
/// change still chains from it when the log is empty.
fn prune_through(conn: &Connection, seq: i64) -> Result<usize, StoreError> {
    let head: Option<Option<Vec<u8>>> = conn
        .prepare_cached("SELECT hash FROM changes WHERE seq <= ? ORDER BY seq DESC LIMIT 1")?
        .query_row([seq], |r| r.get(0))
        .optional()?;
    if let Some(Some(head)) = head {
        set_meta(conn, META_PRUNED_CHAIN, &head)?;
    }
    Ok(conn.execute("DELETE FROM changes WHERE seq <= ?", [seq])?)
}

/// The hash chain link the change `seq` follows: the previous row's (zeros before the first change, or when
/// that row predates the chain), or the last pruned one's when the log no longer holds the previous row.
fn prev_chain_hash(conn: &Connection, seq: u64) -> Result<[u8; CHAIN_HASH_LEN], StoreError> {
    if seq <= 1 {
        return Ok([0; CHAIN_HASH_LEN]);
    }
    let row: Option<Option<Vec<u8>>> = conn
        .prepare_cached("SELECT hash FROM changes WHERE seq = ?")?
        .query_row([to_i64(seq - 1)?], |r| r.get(0))
        .optional()?;
    let link = match row {
        Some(hash) => hash,
        None => get_meta(conn, META_PRUNED_CHAIN)?,
    };
    Ok(link
        .and_then(|h| <[u8; CHAIN_HASH_LEN]>::try_from(h.as_slice()).ok())
        .unwrap_or([0; CHAIN_HASH_LEN]))
}

fn insert_change(
    conn: &Connection,
    seq: u64,
    time_ms: i64,
    kind: ChangeKind,
    uid: &str,
    payload: &[u8],
) -> Result<(), StoreError> {
    let prev = prev_chain_hash(conn, seq)?;
    let hash = changes::chain_hash(&prev, seq, time_ms, kind, uid, payload);
    conn.prepare_cached(
        "INSERT INTO changes (seq, time_ms, kind, uid, payload, hash) VALUES (?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        to_i64(seq)?,
        time_ms,
        kind as u8,
        uid,
        payload,
        &hash[..]
    ])?;
    Ok(())
}

/// The compare of a compare-and-set: `expected` must be the version stored under `uid` (0: no object).
/// Returns the stored object's creation order (`None` when there is none). Runs inside the writing
/// transaction, so nothing can come between this check and the write.
fn check_version(conn: &Connection, uid: &str, expected: u64) -> Result<Option<u64>, StoreError> {
    let row: Option<(i64, i64)> = conn
        .prepare_cached("SELECT created_seq, version FROM objects WHERE uid = ?")?
        .query_row([uid], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let found = row.map(|(_, v)| to_u64(v)).transpose()?;
    if found.unwrap_or(0) != expected {
        return Err(StoreError::VersionConflict {
            uid: uid.to_string(),
            expected,
            found,
        });
    }
    row.map(|(created, _)| to_u64(created)).transpose()
}

fn write_object(
    conn: &Connection,
    uid: &str,
    obj: &StoredObject,
    version: u64,
) -> Result<(), StoreError> {
    let (key_id, nonce, ciphertext) = match &obj.blob {
        Some(b) => (Some(&b.data_key_id), Some(&b.nonce), Some(&b.ciphertext)),
        None => (None, None, None),
    };
    conn.prepare_cached(
        "INSERT INTO objects (uid, object_type, state, archived, created_seq, data_key_id, nonce, ciphertext,
             version)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (uid) DO UPDATE SET object_type = excluded.object_type, state = excluded.state,
             archived = excluded.archived, data_key_id = excluded.data_key_id, nonce = excluded.nonce,
             ciphertext = excluded.ciphertext, version = excluded.version",
    )?
    .execute(params![
        uid,
        obj.object_type,
        obj.state,
        obj.archived,
        to_i64(obj.created_seq)?,
        key_id,
        nonce,
        ciphertext,
        to_i64(version)?
    ])?;
    conn.prepare_cached("DELETE FROM attributes WHERE uid = ?")?
        .execute([uid])?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO attributes (uid, name, idx, pos, value, int_key, text_key) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )?;
    for (pos, a) in obj.attributes.iter().enumerate() {
        let (int_key, text_key) = match &a.search {
            SearchKey::None => (None, None),
            SearchKey::Int(i) => (Some(*i), None),
            SearchKey::Text(t) => (None, Some(t.as_str())),
        };
        let pos = i64::try_from(pos).map_err(|_| StoreError::OutOfRange {
            what: "attribute position",
        })?;
        insert.execute(params![
            uid, a.name, a.index, pos, a.value, int_key, text_key
        ])?;
    }
    Ok(())
}

fn set_access(conn: &Connection, key: &str, value: &[u8]) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT OR REPLACE INTO access_entries (key, value) VALUES (?, ?)")?
        .execute(params![key, value])?;
    Ok(())
}

fn clear_access(conn: &Connection, key: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM access_entries WHERE key = ?")?
        .execute([key])?;
    Ok(())
}

fn delete_object(conn: &Connection, uid: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM objects WHERE uid = ?")?
        .execute([uid])?;
    conn.prepare_cached("DELETE FROM attributes WHERE uid = ?")?
        .execute([uid])?;
    Ok(())
}

fn read_record(
    conn: &Connection,
    uid: &str,
    data_key: impl Fn(&str) -> Result<Arc<DataKeyBytes>, StoreError>,
) -> Result<Option<ObjectRecord>, StoreError> {
    type ObjectRow = (
        u32,
        u32,
        bool,
        i64,
        Option<String>,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        i64,
    );
    let row: Option<ObjectRow> = conn
        .prepare_cached(
            "SELECT object_type, state, archived, created_seq, data_key_id, nonce, ciphertext, version
             FROM objects WHERE uid = ?",
        )?
        .query_row([uid], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
        .optional()?;
    let Some((object_type, state, archived, created_seq, key_id, nonce, ciphertext, version)) = row
    else {
        return Ok(None);
    };
    let object = match (key_id, nonce, ciphertext) {
        (Some(id), Some(nonce), Some(ct)) => {
            let key = data_key(&id)?;
            Some(crypto::open(&key, uid, object_type, &nonce, &ct)?)
        }
        (None, None, None) => None,
        _ => {
            return Err(StoreError::Integrity {
                uid: uid.to_string(),
                reason: "object row has a partial key id / nonce / ciphertext".into(),
            });
        }
    };
    let mut stmt = conn.prepare_cached(READ_ATTRIBUTES_SQL)?;
    let rows = stmt.query_map([uid], |r| {
        let int_key: Option<i64> = r.get(3)?;
        let text_key: Option<String> = r.get(4)?;
        let search = match (int_key, text_key) {
            (Some(i), _) => SearchKey::Int(i),
            (None, Some(t)) => SearchKey::Text(t),
            (None, None) => SearchKey::None,
        };
        Ok(AttributeRecord {
            name: r.get(0)?,
            index: r.get(1)?,
            value: r.get(2)?,
            search,
        })
    })?;
    let attributes = rows.collect::<Result<Vec<_>, _>>()?;
    Ok(Some(ObjectRecord {
        uid: uid.to_string(),
        object_type,
        state,
        archived,
        created_seq: to_u64(created_seq)?,
        object,
        attributes,
        version: to_u64(version)?,
    }))
}

fn to_u64(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::OutOfRange {
        what: "stored sequence number",
    })
}

fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::OutOfRange {
        what: "sequence number",
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .unwrap_or(0)
}
