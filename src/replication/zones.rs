//! Two (or more) zones in one process: every change is numbered and written by the first zone (the sequencer),
//! applied durably, in the same order, to every other zone's file, and only then committed by the sequencer and
//! the caller told it succeeded; reads see it only after that, and a change refused because another zone failed
//! is rolled back, never read. A zone whose file fails (I/O error, full disk, file removed or replaced) is marked down: every
//! change is then refused naming it, while reads go on from a zone that is up. A monitor thread re-opens a
//! down zone, catches it up from the change stream and brings it back with no operator action.
//!
//! The engine sees the same calls as on a single [`Store`] (`get`, `commit`, `locate`, ...), so operations do
//! not know how many copies there are. `docs/replication.md` gives the argument for why nothing acknowledged is
//! lost.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant, SystemTime};

mod acked;
mod pruning;
#[cfg(test)]
mod tests;

pub use acked::ACKED_FILE;
pub use pruning::{ChangeLogPolicy, PruneReport};

use super::origin::Origin;
use crate::store::{
    ChangeRecord, DB_FILE_NAME, LocateQuery, MasterKey, MasterKeySource, Mutation, ObjectRecord,
    Store, StoreError, StoreOptions,
};

/// A copy of the change stream that can be read from and shipped to: a local zone file ([`Store`]) or a zone
/// node reached over mutual TLS.
pub trait Replica: Send + Sync {
    /// The last sequence number the copy durably holds.
    fn last_seq(&self) -> Result<u64, StoreError>;
    /// Up to `max` changes above `after`, in order.
    fn changes_since(&self, after: u64, max: usize) -> Result<Vec<ChangeRecord>, StoreError>;
    /// Applies a run of changes in one durable transaction; returns how many were new.
    fn apply_changes(&self, changes: &[ChangeRecord]) -> Result<usize, StoreError>;
}

impl Replica for Store {
    fn last_seq(&self) -> Result<u64, StoreError> {
        Store::last_seq(self)
    }
    fn changes_since(&self, after: u64, max: usize) -> Result<Vec<ChangeRecord>, StoreError> {
        Store::changes_since(self, after, max)
    }
    fn apply_changes(&self, changes: &[ChangeRecord]) -> Result<usize, StoreError> {
        Store::apply_changes(self, changes)
    }
}

/// Where a follower node sends changes it is asked to make: the sequencer node.
pub trait Forwarder: Send + Sync {
    /// Has the sequencer commit `mutations` (in every zone) on behalf of `origin`; returns the sequence number
    /// given.
    fn commit(&self, origin: &Origin, mutations: Vec<Mutation>) -> Result<u64, StoreError>;
}

/// Default directory names of the two zones inside the data directory.
pub const DEFAULT_ZONE_DIRS: [&str; 2] = ["zone-a", "zone-b"];

/// How a set of zones is laid out and watched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZonesConfig {
    /// Each zone's name and directory, the sequencer first. Put them on different disks in production.
    pub zones: Vec<ZoneSpec>,
    /// How often a down zone is retried (and an up zone's file checked) by the monitor.
    pub recheck_interval: Duration,
    /// Most changes shipped to a zone in one transaction while it catches up.
    pub ship_batch_max: usize,
    /// Zones held by other nodes (over mutual TLS), after the local ones: each must hold a change before it
    /// is acknowledged, exactly like a local zone.
    pub nodes: Vec<NodeZone>,
    /// How long the change log is kept for copies that fall behind, and how pruning paces itself.
    pub change_log: ChangeLogPolicy,
}

/// A zone that is another node.
#[derive(Clone)]
pub struct NodeZone {
    /// The zone's name.
    pub name: String,
    /// Where it is (for status and errors).
    pub address: String,
    /// The connection to it.
    pub replica: Arc<dyn Replica>,
}

impl std::fmt::Debug for NodeZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeZone")
            .field("name", &self.name)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl PartialEq for NodeZone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.address == other.address
    }
}

impl Eq for NodeZone {}

/// One zone: a name operators recognise and the directory of its SQLite file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneSpec {
    /// Shown in errors and status ("a", "b", "east-1"...).
    pub name: String,
    /// Directory holding `kmipd.sqlite` for this zone.
    pub dir: PathBuf,
}

impl ZonesConfig {
    /// The embedded default: zones `a` and `b` in `<data_dir>/zone-a` and `<data_dir>/zone-b`.
    pub fn default_in(data_dir: &Path) -> ZonesConfig {
        ZonesConfig {
            zones: DEFAULT_ZONE_DIRS
                .iter()
                .zip(["a", "b"])
                .map(|(dir, name)| ZoneSpec {
                    name: name.to_string(),
                    dir: data_dir.join(dir),
                })
                .collect(),
            recheck_interval: Duration::from_secs(1),
            ship_batch_max: 1_000,
            nodes: Vec::new(),
            change_log: ChangeLogPolicy::default(),
        }
    }

    /// One local zone only (a node of a multi-node deployment holds one zone; the others are `nodes`).
    pub fn one_local(name: &str, dir: PathBuf) -> ZonesConfig {
        ZonesConfig {
            zones: vec![ZoneSpec {
                name: name.to_string(),
                dir,
            }],
            recheck_interval: Duration::from_secs(1),
            ship_batch_max: 1_000,
            nodes: Vec::new(),
            change_log: ChangeLogPolicy::default(),
        }
    }
}

/// What status reports about one zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneStatus {
    /// The zone's name.
    pub name: String,
    /// Its database file.
    pub path: PathBuf,
    /// True when the zone takes part in every change and may serve reads.
    pub up: bool,
    /// The last sequence number it holds (`None` when its file cannot be read).
    pub last_seq: Option<u64>,
    /// Why it is down.
    pub reason: Option<String>,
    /// Whether this zone numbers the changes.
    pub sequencer: bool,
}

/// Identity of a file (device and inode): a file removed and re-created under the same name is another file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

fn file_id(path: &Path) -> std::io::Result<FileId> {
    let meta = std::fs::metadata(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Ok(FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Ok(FileId { dev: 0, ino: 0 })
    }
}

/// A zone's open store while it is up; the reason while it is down.
enum ZoneState {
    Up {
        replica: Arc<dyn Replica>,
        /// The local file (None for a node zone), for reads and the file check.
        local: Option<(Arc<Store>, FileId)>,
        /// The last sequence number this zone durably holds, as far as this process shipped it.
        applied: u64,
    },
    Down {
        reason: String,
        since: Instant,
    },
}

struct Zone {
    spec: ZoneSpec,
    /// The database file (local zones) or the node's address.
    path: PathBuf,
    /// Set for a zone held by another node.
    node: Option<Arc<dyn Replica>>,
    state: RwLock<ZoneState>,
    /// A cap on the zone file's size in pages, applied each time it is (re)opened ([`Store::limit_pages`]).
    page_limit: Mutex<Option<u64>>,
}

impl Zone {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, ZoneState> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, ZoneState> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The local store while the zone is up (reads are served from local zones only).
    fn store(&self) -> Option<Arc<Store>> {
        match &*self.read() {
            ZoneState::Up {
                local: Some((store, _)),
                ..
            } => Some(store.clone()),
            _ => None,
        }
    }

    /// The copy to ship to while the zone is up.
    fn replica(&self) -> Option<Arc<dyn Replica>> {
        match &*self.read() {
            ZoneState::Up { replica, .. } => Some(replica.clone()),
            ZoneState::Down { .. } => None,
        }
    }

    fn unavailable(&self) -> StoreError {
        let reason = match &*self.read() {
            ZoneState::Down { reason, .. } => reason.clone(),
            ZoneState::Up { .. } => "failed a moment ago".to_string(),
        };
        StoreError::ZoneUnavailable {
            zone: self.spec.name.clone(),
            reason,
        }
    }

    /// Marks the zone down (logging the transition once) and returns the error changes get.
    fn mark_down(&self, reason: String) -> StoreError {
        let mut state = self.write();
        if let ZoneState::Up { .. } = &*state {
            tracing::error!(zone = %self.spec.name, path = %self.path.display(), %reason,
                "zone down: changes are refused until it returns; reads go on from the other zone");
            *state = ZoneState::Down {
                reason: reason.clone(),
                since: Instant::now(),
            };
        }
        StoreError::ZoneUnavailable {
            zone: self.spec.name.clone(),
            reason,
        }
    }

    /// Whether the file the zone writes is still the file at its path (not removed or replaced).
    fn check_file(&self) -> Result<(), String> {
        let expected = match &*self.read() {
            ZoneState::Up {
                local: Some((_, file)),
                ..
            } => *file,
            ZoneState::Up { local: None, .. } => return Ok(()),
            ZoneState::Down { reason, .. } => return Err(reason.clone()),
        };
        match file_id(&self.path) {
            Ok(id) if id == expected => Ok(()),
            Ok(_) => Err(format!(
                "{} was replaced by another file",
                self.path.display()
            )),
            Err(e) => Err(format!("{}: {e}", self.path.display())),
        }
    }
}

/// True when a store error means the zone's file or disk is failing rather than the request being wrong.
fn is_zone_failure(e: &StoreError) -> bool {
    use rusqlite::ErrorCode;
    match e {
        StoreError::Database(rusqlite::Error::SqliteFailure(f, _)) => matches!(
            f.code,
            ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::CannotOpen
                | ErrorCode::ReadOnly
                | ErrorCode::DatabaseCorrupt
                | ErrorCode::NotADatabase
                | ErrorCode::PermissionDenied
                | ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
        ),
        StoreError::Io { .. } | StoreError::ZoneUnavailable { .. } => true,
        StoreError::GroupCommit(_) => true,
        _ => false,
    }
}

struct Inner {
    zones: Vec<Zone>,
    master: MasterKey,
    options: StoreOptions,
    config: ZonesConfig,
    /// Serialises shipping to followers and zone recovery: one order on every copy.
    ship: Mutex<()>,
    /// The highest sequence number acknowledged to a caller: a zone may only come back alone (with no zone
    /// up to catch up from) when it holds at least this much.
    acked: AtomicU64,
    /// The highest sequence number every zone is known to hold (shipped and fsynced in each): what may leave
    /// the zones for a remote copy. Unlike `acked` it never counts a change only the sequencer holds.
    everywhere: AtomicU64,
    /// Change-log pruning passes run so far (the pruning thread's progress, for status and tests).
    prune_passes: AtomicU64,
    /// Set on a follower node: changes go to the sequencer node, which ships them back here before answering.
    forward: RwLock<Option<Arc<dyn Forwarder>>>,
    /// Why reads are refused (a node not yet known to be current, the remote-region copy); None = served.
    read_refusal: RwLock<Option<String>>,
    /// Copies that follow the stream outside the zones (remote regions): name -> the last sequence number each
    /// reported holding (0 until it is reached). The log is not pruned beyond the lowest.
    copies: Mutex<HashMap<String, u64>>,
    /// Where `acked` is recorded across restarts ([`ACKED_FILE`]; the embedded zones only), and the value last
    /// written there.
    acked_file: Option<PathBuf>,
    acked_written: AtomicU64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.persist_acked();
    }
}

/// The zones as one store: the engine's view. `Send + Sync`; share it in an `Arc`.
pub struct ZonedStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ZonedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZonedStore")
            .field("zones", &self.inner.zones.len())
            .finish_non_exhaustive()
    }
}

impl ZonedStore {
    /// Opens every zone (creating directories and files), catches a zone that is behind up with the most
    /// advanced one, and starts the monitor. A zone that cannot be opened starts down (reads are served by the
    /// others); when none can be opened, the first zone's error is returned.
    pub fn open(
        config: ZonesConfig,
        data_dir: &Path,
        source: &MasterKeySource,
        options: StoreOptions,
    ) -> Result<ZonedStore, StoreError> {
        if config.zones.is_empty() {
            return Err(StoreError::Internal("no zone configured"));
        }
        let master = source.load(data_dir)?;
        let mut zones = Vec::with_capacity(config.zones.len());
        let mut first_error = None;
        for spec in &config.zones {
            let path = spec.dir.join(DB_FILE_NAME);
            let state = match open_zone(&spec.dir, &path, &master, &options, true) {
                Ok((store, file, applied)) => ZoneState::Up {
                    replica: store.clone(),
                    local: Some((store, file)),
                    applied,
                },
                Err(e) => {
                    tracing::error!(zone = %spec.name, path = %path.display(), error = %e, "zone cannot be opened");
                    let reason = e.to_string();
                    first_error.get_or_insert(e);
                    ZoneState::Down {
                        reason,
                        since: Instant::now(),
                    }
                }
            };
            zones.push(Zone {
                spec: spec.clone(),
                path,
                node: None,
                state: RwLock::new(state),
                page_limit: Mutex::new(None),
            });
        }
        for node in &config.nodes {
            zones.push(Zone {
                spec: ZoneSpec {
                    name: node.name.clone(),
                    dir: PathBuf::new(),
                },
                path: PathBuf::from(&node.address),
                node: Some(node.replica.clone()),
                state: RwLock::new(ZoneState::Down {
                    reason: format!("node {} not reached yet", node.address),
                    since: Instant::now(),
                }),
                page_limit: Mutex::new(None),
            });
        }
        // Several zones in this one process: nothing else keeps track of what was acknowledged.
        let config_is_embedded = config.nodes.is_empty() && config.zones.len() > 1;
        let inner = Arc::new(Inner {
            zones,
            master,
            options,
            config,
            ship: Mutex::new(()),
            acked: AtomicU64::new(0),
            everywhere: AtomicU64::new(0),
            prune_passes: AtomicU64::new(0),
            forward: RwLock::new(None),
            read_refusal: RwLock::new(None),
            copies: Mutex::new(HashMap::new()),
            acked_file: (config_is_embedded).then(|| data_dir.join(ACKED_FILE)),
            acked_written: AtomicU64::new(u64::MAX),
        });
        if inner.zones.iter().all(|z| z.store().is_none()) {
            return Err(first_error.unwrap_or(StoreError::Internal("no zone could be opened")));
        }
        inner.align_up_zones()?;
        if !inner.config.nodes.is_empty() {
            // A node that may have lost its file must not answer from it before comparing with its peers.
            if inner
                .zones
                .first()
                .and_then(Zone::store)
                .map(|s| s.last_seq())
                .transpose()?
                == Some(0)
            {
                inner.refuse_reads(Some(
                    "this node's zone is empty and has not caught up with the other zone yet"
                        .into(),
                ));
            }
        }
        inner.check_alone_is_current();
        // A zone that could not be aligned (e.g. an empty one while the log is pruned) gets its recovery now
        // rather than one monitor interval later.
        inner.recheck();
        start_monitor(&inner);
        Ok(ZonedStore { inner })
    }

    /// One zone over a store that is already open (tests, tools, benchmarks); no monitor, no second copy.
    pub fn single(store: Arc<Store>) -> Result<ZonedStore, StoreError> {
        let path = store.path().to_path_buf();
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let file = file_id(&path).map_err(|source| StoreError::Io {
            action: "reading the identity of",
            path: path.clone(),
            source,
        })?;
        let applied = store.last_seq()?;
        let master = store.master_key().duplicate();
        let options = store.options().clone();
        Ok(ZonedStore {
            inner: Arc::new(Inner {
                zones: vec![Zone {
                    spec: ZoneSpec {
                        name: "a".to_string(),
                        dir,
                    },
                    path,
                    node: None,
                    state: RwLock::new(ZoneState::Up {
                        replica: store.clone(),
                        local: Some((store, file)),
                        applied,
                    }),
                    page_limit: Mutex::new(None),
                }],
                master,
                options,
                config: ZonesConfig {
                    zones: Vec::new(),
                    recheck_interval: Duration::from_secs(1),
                    ship_batch_max: 1_000,
                    nodes: Vec::new(),
                    change_log: ChangeLogPolicy::default(),
                },
                ship: Mutex::new(()),
                acked: AtomicU64::new(applied),
                everywhere: AtomicU64::new(applied),
                prune_passes: AtomicU64::new(0),
                forward: RwLock::new(None),
                read_refusal: RwLock::new(None),
                copies: Mutex::new(HashMap::new()),
                acked_file: None,
                acked_written: AtomicU64::new(u64::MAX),
            }),
        })
    }

    /// The sequencer zone's database file.
    pub fn path(&self) -> &Path {
        self.inner.zones.first().map_or(Path::new(""), |z| &z.path)
    }

    /// The open store of zone `index` (0 is the sequencer) while it is up: for backups and tools that need
    /// SQLite itself.
    pub fn zone_store(&self, index: usize) -> Option<Arc<Store>> {
        self.inner.zones.get(index).and_then(Zone::store)
    }

    /// A fresh Unique Identifier.
    pub fn new_uid(&self) -> Result<String, StoreError> {
        self.inner.read(|s| s.new_uid())
    }

    /// The record stored under `uid`, read from an up zone (the sequencer when it is up).
    pub fn get(&self, uid: &str) -> Result<Option<ObjectRecord>, StoreError> {
        self.inner.read(|s| s.get(uid))
    }

    /// The access-control entry under `key` (an owner, a grant), read from an up zone.
    pub fn access_entry(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.read(|s| s.access_entry(key))
    }

    /// The access-control entries whose key starts with `prefix`, in key order, read from an up zone.
    pub fn access_entries(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.inner.read(|s| s.access_entries(prefix))
    }

    /// The text search keys of attribute `name` of object `uid` (the access layer's Object Groups), read from an
    /// up zone.
    pub fn attribute_texts(&self, uid: &str, name: &str) -> Result<Vec<String>, StoreError> {
        self.inner.read(|s| s.attribute_texts(uid, name))
    }

    /// The access-control entries under any of `keys`, read from an up zone in a few set-based queries.
    pub fn access_entries_for(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, Vec<u8>>, StoreError> {
        self.inner.read(|s| s.access_entries_for(keys))
    }

    /// The text search keys of attribute `name` for each of `uids`, read from an up zone in a few set-based
    /// queries.
    pub fn attribute_texts_of(
        &self,
        uids: &[String],
        name: &str,
    ) -> Result<HashMap<String, Vec<String>>, StoreError> {
        self.inner.read(|s| s.attribute_texts_of(uids, name))
    }

    /// Whether a record exists under `uid`.
    pub fn exists(&self, uid: &str) -> Result<bool, StoreError> {
        self.inner.read(|s| s.exists(uid))
    }

    /// Uids matching `query`, in creation order.
    pub fn locate(&self, query: &LocateQuery) -> Result<Vec<String>, StoreError> {
        self.inner.read(|s| s.locate(query))
    }

    /// Changes above `after_seq`, in order, from an up zone.
    pub fn changes_since(
        &self,
        after_seq: u64,
        max: usize,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        self.inner.read(|s| s.changes_since(after_seq, max))
    }

    /// The last sequence number committed (read from an up zone).
    pub fn last_seq(&self) -> Result<u64, StoreError> {
        self.inner.read(|s| s.last_seq())
    }

    /// Commits `mutations` in the sequencer zone and ships them to every other zone; returns only once every
    /// zone holds them durably. When a zone is down the change is refused with
    /// [`StoreError::ZoneUnavailable`] naming it (before anything is written when the zone is already known to
    /// be down). The change is the server's own (no client asked for it); a client's goes through
    /// [`ZonedStore::commit_for`].
    pub fn commit(&self, mutations: Vec<Mutation>) -> Result<u64, StoreError> {
        self.commit_for(&Origin::default(), mutations)
    }

    /// [`ZonedStore::commit`] on behalf of the client `origin` names: a follower node forwards it with the
    /// change, so the sequencer's audit line names the client.
    pub fn commit_for(&self, origin: &Origin, mutations: Vec<Mutation>) -> Result<u64, StoreError> {
        let inner = &*self.inner;
        let forward = inner
            .forward
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(forward) = forward {
            return inner.commit_through(&*forward, origin, mutations);
        }
        for zone in &inner.zones {
            if zone.replica().is_none() {
                return Err(zone.unavailable());
            }
        }
        let sequencer = &inner.zones[..1];
        let Some(first) = sequencer.first() else {
            return Err(StoreError::Internal("no zone configured"));
        };
        let Some(store) = first.store() else {
            return Err(first.unavailable());
        };
        // Every other zone durably holds the group before the sequencer commits it: a change refused because a
        // zone failed is rolled back in the sequencer and was never readable anywhere.
        let seq = match store.commit_then(mutations, &|changes| inner.ship_group(changes)) {
            Ok(seq) => seq,
            Err(e) => return Err(inner.sequencer_failed(first, &store, e)),
        };
        if let Err(reason) = first.check_file() {
            // Committed into a file that is no longer zone a's: the other zones hold the change, so it holds.
            inner.acked.fetch_max(seq, Ordering::SeqCst);
            return Err(first.mark_down(format!(
                "its file changed as it committed (outcome: the change holds up to sequence {seq}): {reason}"
            )));
        }
        inner.acked.fetch_max(seq, Ordering::SeqCst);
        inner.everywhere.fetch_max(seq, Ordering::SeqCst);
        Ok(seq)
    }

    /// Makes this a follower node: changes are sent to `forward` (the sequencer node), which ships them back to
    /// this node's zone before answering.
    pub fn forward_changes_to(&self, forward: Arc<dyn Forwarder>) {
        *self
            .inner
            .forward
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(forward);
    }

    /// Refuses reads with `reason` (Some) or serves them again (None): a node that cannot tell whether it is
    /// current must not answer as if it were.
    pub fn refuse_reads(&self, reason: Option<String>) {
        self.inner.refuse_reads(reason);
    }

    /// Why reads are refused, if they are.
    pub fn read_refusal(&self) -> Option<String> {
        self.inner
            .read_refusal
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The first zone's last sequence number, whether or not reads are served (replication, status).
    pub fn local_last_seq(&self) -> Result<u64, StoreError> {
        self.local()?.last_seq()
    }

    /// Change-log pruning passes run so far (each `prune_interval`, whether or not it removed anything).
    pub fn prune_passes(&self) -> u64 {
        self.inner.prune_passes.load(Ordering::SeqCst)
    }

    /// The oldest change the first zone's log still holds, whether or not reads are served (status).
    pub fn local_first_retained_seq(&self) -> Result<Option<u64>, StoreError> {
        self.local()?.first_retained_seq()
    }

    /// The first zone's changes above `after`, whether or not reads are served (replication).
    pub fn local_changes_since(
        &self,
        after: u64,
        max: usize,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        self.local()?.changes_since(after, max)
    }

    /// The highest sequence number this process acknowledged (or found in every zone at start).
    pub fn acked_seq(&self) -> u64 {
        self.inner.acked.load(Ordering::SeqCst)
    }

    /// The highest sequence number every zone is known to hold: a remote copy is shipped no further, so it
    /// never receives a change only the sequencer holds (one that could be lost with it and never
    /// acknowledged), and its log stays a prefix of what every zone will hold.
    pub fn everywhere_seq(&self) -> u64 {
        self.inner.everywhere.load(Ordering::SeqCst)
    }

    fn local(&self) -> Result<Arc<Store>, StoreError> {
        let zone = self
            .inner
            .zones
            .first()
            .ok_or(StoreError::Internal("no zone configured"))?;
        zone.store().ok_or_else(|| zone.unavailable())
    }

    /// Applies changes shipped by the sequencer node to this node's (first) zone.
    pub fn apply_shipped(&self, changes: &[ChangeRecord]) -> Result<u64, StoreError> {
        let zone = self
            .inner
            .zones
            .first()
            .ok_or(StoreError::Internal("no zone configured"))?;
        let store = zone.store().ok_or_else(|| zone.unavailable())?;
        store
            .apply_changes(changes)
            .map_err(|e| self.inner.zone_error(zone, e))?;
        let last = store.last_seq()?;
        if let ZoneState::Up { applied, .. } = &mut *zone.write() {
            *applied = last;
        }
        Ok(last)
    }

    /// Every zone's role, state and last sequence number.
    pub fn status(&self) -> Vec<ZoneStatus> {
        self.inner
            .zones
            .iter()
            .enumerate()
            .map(|(i, z)| {
                let (up, reason, replica) = match &*z.read() {
                    ZoneState::Up { replica, .. } => (true, None, Some(replica.clone())),
                    ZoneState::Down { reason, .. } => (false, Some(reason.clone()), None),
                };
                let last_seq = match (replica, &z.node) {
                    (Some(r), _) => r.last_seq().ok(),
                    (None, None) => read_last_seq(&z.path),
                    (None, Some(_)) => None,
                };
                ZoneStatus {
                    name: z.spec.name.clone(),
                    path: z.path.clone(),
                    up,
                    last_seq,
                    reason,
                    sequencer: i == 0,
                }
            })
            .collect()
    }

    /// Runs one monitor pass now: checks up zones' files, retries down zones. The monitor thread does this
    /// every `recheck_interval`; tests call it to avoid waiting.
    pub fn recheck(&self) {
        self.inner.recheck();
    }

    /// Caps zone `zone`'s file at `max_pages` pages (`None` lifts the cap), now and each time the zone is
    /// re-opened: a quota, and how a full disk of one zone is rehearsed (a change that needs more room fails
    /// with `SQLITE_FULL`, the zone goes down, reads go on; lifting the cap lets it return and catch up).
    pub fn limit_zone_pages(&self, zone: &str, max_pages: Option<u64>) -> Result<(), StoreError> {
        let zone = self
            .inner
            .zones
            .iter()
            .find(|z| z.spec.name == zone)
            .ok_or(StoreError::Internal("no such zone"))?;
        *zone
            .page_limit
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = max_pages;
        if let Some(store) = zone.store() {
            store.limit_pages(max_pages)?;
        }
        Ok(())
    }
}

/// The last sequence number of a zone file opened read-only (for status while the zone is down).
pub fn read_last_seq(path: &Path) -> Option<u64> {
    use rusqlite::OptionalExtension;
    if !path.is_file() {
        return None;
    }
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    // A store with no change yet has no sequence row: 0. A file that is not a store fails here.
    let seq: Option<i64> = conn
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'changes'",
            [],
            |r| r.get(0),
        )
        .optional()
        .ok()?;
    u64::try_from(seq.unwrap_or(0)).ok()
}

/// Opens a zone's store; `create_dir` only at start-up (a recovering zone whose directory vanished, e.g. an
/// unmounted disk, must not be re-created elsewhere on the root file system).
fn open_zone(
    dir: &Path,
    path: &Path,
    master: &MasterKey,
    options: &StoreOptions,
    create_dir: bool,
) -> Result<(Arc<Store>, FileId, u64), StoreError> {
    if create_dir {
        crate::private_fs::create_owned_dir(dir).map_err(|source| StoreError::Io {
            action: "creating zone directory",
            path: dir.to_path_buf(),
            source,
        })?;
    } else if !dir.is_dir() {
        return Err(StoreError::Io {
            action: "finding zone directory",
            path: dir.to_path_buf(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    let store = Store::open_with(path, master.duplicate(), options.clone())?;
    let file = file_id(path).map_err(|source| StoreError::Io {
        action: "reading the identity of",
        path: path.to_path_buf(),
        source,
    })?;
    let applied = store.last_seq()?;
    Ok((Arc::new(store), file, applied))
}

impl Inner {
    fn lock_ship(&self) -> MutexGuard<'_, ()> {
        self.ship.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// When every zone is up, what they all hold is known: raises `everywhere` to the lowest a follower holds
    /// (followers take changes only from the sequencer, which holds at least as much), or, with no follower,
    /// to what the sequencer holds.
    fn note_everywhere(&self) {
        let Some((sequencer, followers)) = self.zones.split_first() else {
            return;
        };
        let Some(source) = sequencer.replica() else {
            return;
        };
        let mut lowest = match followers {
            [] => match source.last_seq() {
                Ok(held) => held,
                Err(_) => return,
            },
            _ => u64::MAX,
        };
        for zone in followers {
            match &*zone.read() {
                ZoneState::Up { applied, .. } => lowest = lowest.min(*applied),
                ZoneState::Down { .. } => return,
            }
        }
        self.everywhere.fetch_max(lowest, Ordering::SeqCst);
    }

    /// Runs a read on the first up zone; when it fails because the zone is failing, the zone is marked down
    /// and the next up zone answers.
    fn read<T>(&self, f: impl Fn(&Store) -> Result<T, StoreError>) -> Result<T, StoreError> {
        if let Some(reason) = self
            .read_refusal
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            let zone = self.zones.first().map_or("?", |z| z.spec.name.as_str());
            return Err(StoreError::ZoneUnavailable {
                zone: zone.to_string(),
                reason,
            });
        }
        let mut first_error = None;
        for zone in &self.zones {
            let Some(store) = zone.store() else { continue };
            match f(&store) {
                Ok(v) => return Ok(v),
                Err(e) => {
                    if is_zone_failure(&e) || zone.check_file().is_err() {
                        zone.mark_down(e.to_string());
                    }
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| {
            self.zones.first().map_or(
                StoreError::Internal("no zone configured"),
                Zone::unavailable,
            )
        }))
    }

    fn refuse_reads(&self, reason: Option<String>) {
        *self
            .read_refusal
            .write()
            .unwrap_or_else(PoisonError::into_inner) = reason;
    }

    /// A follower node's commit: the sequencer numbers the change and ships it to this node's zone before it
    /// answers, so once it answers the local zone already holds it (checked, never assumed).
    fn commit_through(
        &self,
        forward: &dyn Forwarder,
        origin: &Origin,
        mutations: Vec<Mutation>,
    ) -> Result<u64, StoreError> {
        let seq = forward.commit(origin, mutations)?;
        let zone = self
            .zones
            .first()
            .ok_or(StoreError::Internal("no zone configured"))?;
        let store = zone.store().ok_or_else(|| zone.unavailable())?;
        let held = store.last_seq()?;
        if held < seq {
            return Err(StoreError::ZoneUnavailable {
                zone: zone.spec.name.clone(),
                reason: format!("the sequencer acknowledged {seq} but this zone holds {held}"),
            });
        }
        Ok(seq)
    }

    /// The error a change gets when `zone` failed with `e`: a failing file marks the zone down and names it;
    /// an error of the request itself (a constraint) passes through.
    fn zone_error(&self, zone: &Zone, e: StoreError) -> StoreError {
        if let Err(reason) = zone.check_file() {
            return zone.mark_down(reason);
        }
        if is_zone_failure(&e) {
            return zone.mark_down(e.to_string());
        }
        e
    }

    /// Inside the sequencer's group commit, before it commits: checks that every zone's file is still the one
    /// written to (a removed file accepts writes into a deleted inode), applies the group's `changes` to every
    /// other zone (one durable transaction each), and checks the files again. An error rolls the group back in
    /// the sequencer; checking first keeps a group the sequencer's own lost file would refuse from reaching
    /// the other zones.
    /// Takes no ship lock (the sequencer's connection is held; recovery takes the ship lock, then reads the
    /// sequencer): while a zone is down no group commits, so a recovering zone catches up from a sequencer
    /// that does not move.
    fn ship_group(&self, changes: &[ChangeRecord]) -> Result<(), StoreError> {
        let Some(last) = changes.last().map(|c| c.seq) else {
            return Ok(());
        };
        self.check_files()?;
        for zone in self.zones.iter().skip(1) {
            let Some(target) = zone.replica() else {
                return Err(zone.unavailable());
            };
            if let Err(e) = target.apply_changes(changes) {
                // A follower refusing the stream (gap, divergent payload) is as unusable as a failing disk.
                return Err(zone.mark_down(e.to_string()));
            }
            if let ZoneState::Up { applied, .. } = &mut *zone.write() {
                *applied = last;
            }
        }
        self.check_files()
    }

    /// Every zone's file is still the one it writes; the first that is not goes down.
    fn check_files(&self) -> Result<(), StoreError> {
        for zone in &self.zones {
            if let Err(reason) = zone.check_file() {
                return Err(zone.mark_down(reason));
            }
        }
        Ok(())
    }

    /// The error a change gets when the sequencer's group commit failed with `e`. When another zone already
    /// holds changes the sequencer lacks (its own commit failed after [`Inner::ship_group`] succeeded), the
    /// sequencer goes down and the outcome is unknown to the client but already decided: the change holds,
    /// readable from the other zone at once, and the sequencer takes it when it returns
    /// (docs/replication.md, "what a failed change means").
    fn sequencer_failed(&self, sequencer: &Zone, store: &Store, e: StoreError) -> StoreError {
        if matches!(&e, StoreError::ZoneUnavailable { zone, .. } if *zone != sequencer.spec.name) {
            // Another zone refused the group: the sequencer rolled it back.
            return e;
        }
        // What the sequencer committed (when it cannot even be read: what was acknowledged, a lower bound).
        let held = store
            .last_seq()
            .unwrap_or_else(|_| self.acked.load(Ordering::SeqCst));
        let ahead = self
            .zones
            .iter()
            .skip(1)
            .filter_map(|z| match &*z.read() {
                ZoneState::Up { applied, .. } if *applied > held => Some(*applied),
                _ => None,
            })
            .max();
        let Some(ahead) = ahead else {
            return self.zone_error(sequencer, e);
        };
        // Reads may see it from now on: no zone may come back alone without it.
        self.acked.fetch_max(ahead, Ordering::SeqCst);
        sequencer.mark_down(format!(
            "its commit failed after the other zones held the change (outcome: the change holds up to \
             sequence {ahead}): {e}"
        ))
    }

    /// At start-up: brings every up zone to the most advanced one's sequence (catching up from its stream).
    fn align_up_zones(&self) -> Result<(), StoreError> {
        let _ship = self.lock_ship();
        let mut best: Option<(Arc<dyn Replica>, u64)> = None;
        for zone in &self.zones {
            if let ZoneState::Up {
                replica, applied, ..
            } = &*zone.read()
                && best.as_ref().is_none_or(|(_, b)| *applied > *b)
            {
                best = Some((replica.clone(), *applied));
            }
        }
        let Some((source, target)) = best else {
            return Ok(());
        };
        for zone in &self.zones {
            // A failure marks the zone down; the others go on.
            let _ = self.catch_up_zone(&*source, zone, target);
        }
        self.acked.fetch_max(target, Ordering::SeqCst);
        self.note_everywhere();
        Ok(())
    }

    /// Copies `source`'s changes into `store` (zone `name`) up to `target`, after checking the two agree on
    /// the store's last change (a zone that diverged is refused, never merged); returns the sequence it then
    /// holds. Must hold the ship lock.
    fn catch_up(
        &self,
        source: &dyn Replica,
        store: &dyn Replica,
        name: &str,
        target: u64,
    ) -> Result<u64, StoreError> {
        let mut applied = store.last_seq()?;
        // The source's first change at or after this zone's last one: the two must agree on it, and a source
        // whose log no longer reaches back to it cannot catch this zone up.
        let theirs = source.changes_since(applied.saturating_sub(1), 1)?;
        let pruned = |first: u64| StoreError::ChangesPruned {
            copy: format!("zone {name}"),
            held: applied,
            first,
        };
        match theirs.first() {
            Some(first) if applied == 0 && first.seq > 1 => return Err(pruned(first.seq)),
            Some(first) if applied > 0 && first.seq > applied => return Err(pruned(first.seq)),
            _ => {}
        }
        if applied > 0 {
            let mine = store.changes_since(applied - 1, 1)?;
            if mine != theirs {
                return Err(StoreError::CorruptChange {
                    seq: applied,
                    reason: format!("zone {name} diverges from the other zones at this sequence"),
                });
            }
        }
        while applied < target {
            let batch = source.changes_since(applied, self.config.ship_batch_max.max(1))?;
            let Some(last) = batch.last().map(|c| c.seq) else {
                break;
            };
            store.apply_changes(&batch)?;
            applied = last;
        }
        Ok(applied)
    }

    /// [`Inner::catch_up`] for a zone that is up, recording what it then holds; failure marks it down.
    fn catch_up_zone(
        &self,
        source: &dyn Replica,
        zone: &Zone,
        target: u64,
    ) -> Result<(), StoreError> {
        let Some(store) = zone.replica() else {
            return Err(zone.unavailable());
        };
        match self.catch_up(source, &*store, &zone.spec.name, target) {
            Ok(held) => {
                if let ZoneState::Up { applied, .. } = &mut *zone.write() {
                    *applied = held;
                }
                Ok(())
            }
            Err(e) => Err(zone.mark_down(e.to_string())),
        }
    }

    /// One monitor pass: an up zone whose file vanished goes down; a down zone is re-opened, caught up from
    /// an up zone (or, with none up, comes back alone only if it holds every acknowledged change), and goes up.
    fn recheck(&self) {
        self.persist_acked();
        for zone in &self.zones {
            if zone.replica().is_some() {
                if let Err(reason) = zone.check_file() {
                    zone.mark_down(reason);
                }
                continue;
            }
            if let Err(e) = self.recover(zone) {
                tracing::debug!(zone = %zone.spec.name, error = %e, "zone still down");
                if let ZoneState::Down { reason, .. } = &mut *zone.write() {
                    *reason = e.to_string();
                }
            }
        }
    }

    /// Opens a down zone's copy again: its node link, or its file (with its page cap, if any).
    #[allow(clippy::type_complexity)]
    fn open_for_recovery(
        &self,
        zone: &Zone,
    ) -> Result<(Arc<dyn Replica>, Option<(Arc<Store>, FileId)>), StoreError> {
        if let Some(node) = &zone.node {
            node.last_seq()?;
            return Ok((node.clone(), None));
        }
        let (store, file, _) = open_zone(
            &zone.spec.dir,
            &zone.path,
            &self.master,
            &self.options,
            false,
        )?;
        let limit = *zone
            .page_limit
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if limit.is_some() {
            store.limit_pages(limit)?;
        }
        Ok((store.clone(), Some((store, file))))
    }

    /// Re-opens a down zone, brings it level with the zones that are up (in whichever direction holds more),
    /// and only then marks it up, so it never answers a read from a state older than what was acknowledged.
    fn recover(&self, zone: &Zone) -> Result<(), StoreError> {
        let (mut replica, mut local) = self.open_for_recovery(zone)?;
        let _ship = self.lock_ship();
        let down_for = match &*zone.read() {
            ZoneState::Down { since, .. } => since.elapsed(),
            ZoneState::Up { .. } => return Ok(()),
        };
        let others: Vec<&Zone> = self
            .zones
            .iter()
            .filter(|z| !std::ptr::eq(*z, zone) && z.replica().is_some())
            .collect();
        // An empty local zone whose missing changes were pruned from the up zone's log takes a snapshot of it
        // instead (it holds nothing that could be lost). A zone holding some changes is never overwritten: it
        // is refused with ChangesPruned below and an operator decides (docs/replication.md).
        if local.is_some()
            && replica.last_seq()? == 0
            && let Some(seed_zone) = others.first()
            && let Some(seed) = seed_zone.store()
            && match seed.first_retained_seq()? {
                Some(first) => first > 1,
                None => seed.last_seq()? > 0,
            }
        {
            drop((replica, local));
            self.reseed(
                zone,
                &seed,
                &seed_zone.spec.name,
                "it was empty and the changes it lacked were pruned from the log",
            )?;
            (replica, local) = self.open_for_recovery(zone)?;
        }
        // A local zone holding more than an up local zone it can catch up from, and more than was ever
        // acknowledged or readable: the extra changes are from a group it failed to commit (an fsync error can
        // leave the written frames in its WAL) that the sequencer rolled back and its clients were told was
        // refused. They are shed, never passed on: the zone takes a snapshot of the up zone.
        if local.is_some()
            && let Some(seed_zone) = others.first()
            && let Some(seed) = seed_zone.store()
        {
            let held = replica.last_seq()?;
            let target = seed.last_seq()?;
            if held > target && held > self.acked.load(Ordering::SeqCst) {
                drop((replica, local));
                self.reseed(
                    zone,
                    &seed,
                    &seed_zone.spec.name,
                    &format!(
                        "it held refused changes {}..={held} that no other zone holds",
                        target + 1
                    ),
                )?;
                (replica, local) = self.open_for_recovery(zone)?;
            }
        }
        let store = &*replica;
        let held = store.last_seq()?;
        let held = match others.first().and_then(|z| z.replica()) {
            Some(source) => {
                let target = source.last_seq()?;
                if held > target {
                    // This zone holds changes the others lack (committed by the sequencer, never acknowledged):
                    // they take them from it, so no copy ever lacks a change another has.
                    for other in &others {
                        self.catch_up_zone(store, other, held)?;
                    }
                    held
                } else {
                    self.catch_up(&*source, store, &zone.spec.name, target)?
                }
            }
            None => {
                let acked = self.acked.load(Ordering::SeqCst);
                if held < acked {
                    return Err(StoreError::ZoneUnavailable {
                        zone: zone.spec.name.clone(),
                        reason: format!(
                            "holds sequence {held} but {acked} was acknowledged and no zone is up to catch up from"
                        ),
                    });
                }
                held
            }
        };
        *zone.write() = ZoneState::Up {
            replica: replica.clone(),
            local,
            applied: held,
        };
        // Every zone that is up now holds the same changes: this node is current.
        self.refuse_reads(None);
        self.note_everywhere();
        tracing::info!(zone = %zone.spec.name, down_for_ms = u64::try_from(down_for.as_millis()).unwrap_or(u64::MAX),
            last_seq = held, "zone back up and caught up");
        Ok(())
    }
}

fn start_monitor(inner: &Arc<Inner>) {
    let weak: Weak<Inner> = Arc::downgrade(inner);
    let interval = inner.config.recheck_interval;
    let spawned = std::thread::Builder::new()
        .name("kmipd-zones".into())
        .spawn(move || {
            loop {
                std::thread::sleep(interval);
                let Some(inner) = weak.upgrade() else { return };
                inner.recheck();
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the zone monitor; a down zone returns only on restart");
    }
}

/// Seconds since the Unix epoch of a change's time stamp, for lag reports.
pub fn age_of(time_ms: i64) -> Duration {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let then = u128::try_from(time_ms).unwrap_or(0);
    Duration::from_millis(u64::try_from(now.saturating_sub(then)).unwrap_or(u64::MAX))
}
