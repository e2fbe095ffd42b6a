//! Backups: a consistent snapshot of the store (SQLite's online backup API), encrypted as a whole under a key
//! derived from the master key, written with an authenticated manifest to every configured destination, pruned
//! after the retention period, and restored only after every check passed. `docs/backup.md` gives the format,
//! the key derivation and the recovery procedure.
//!
//! The interface to the store is narrow: [`Store::snapshot_to`] makes the consistent copy and
//! [`Store::inspect_snapshot`] checks a decrypted one; everything else here is files.

mod config;
mod container;
mod error;
mod lock;
mod manifest;
mod scheduler;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use config::{
    BackupConfig, DEFAULT_CHUNK_BYTES, DEFAULT_INTERVAL, DEFAULT_RETENTION, MIN_INTERVAL,
};
pub use container::{FILE_KEY_INFO, FORMAT_VERSION, MAGIC, MANIFEST_KEY_INFO};
pub use error::BackupError;
pub use lock::{DataDirLock, LOCK_FILE_NAME};
pub use manifest::Manifest;
pub use scheduler::{StoreSource, spawn as spawn_scheduler};

use container::{BackupKeys, Binding, SALT_LEN};

use crate::store::{DB_FILE_NAME, MasterKey, Store};

/// File name suffix of an encrypted backup.
pub const BACKUP_SUFFIX: &str = ".kmipd-backup";
/// File name suffix of a backup's manifest.
pub const MANIFEST_SUFFIX: &str = ".manifest.json";
/// Suffix of files being written (removed on failure, and by pruning if a crash left them behind).
const TEMP_SUFFIX: &str = ".tmp";

/// The backups of one store: where they go, how long they stay, how they are chunked.
#[derive(Debug, Clone)]
pub struct Backups {
    destinations: Vec<PathBuf>,
    retention: Duration,
    chunk_bytes: usize,
}

/// What [`Backups::create`] wrote.
#[derive(Debug)]
pub struct BackupMade {
    /// The new backup's manifest.
    pub manifest: Manifest,
    /// Destinations that hold a complete copy.
    pub copies: Vec<PathBuf>,
    /// Destinations that failed, with why (the backup exists as long as one copy does).
    pub failed: Vec<(PathBuf, String)>,
}

/// One backup as found in the destinations (manifest not authenticated: listing needs no key).
#[derive(Debug, Clone)]
pub struct BackupEntry {
    /// Its manifest (from the first destination holding it).
    pub manifest: Manifest,
    /// Destinations holding a manifest for it.
    pub copies: Vec<PathBuf>,
}

/// Everything found in the destinations.
#[derive(Debug, Default)]
pub struct Listing {
    /// Backups, oldest first.
    pub backups: Vec<BackupEntry>,
    /// Manifests that could not be read, with why.
    pub unreadable: Vec<(PathBuf, String)>,
}

/// The outcome of checking one copy of a backup.
#[derive(Debug)]
pub struct CopyCheck {
    /// The destination holding the copy.
    pub destination: PathBuf,
    /// The snapshot's last sequence number, or why the copy is refused.
    pub result: Result<u64, BackupError>,
}

/// What [`Backups::restore`] did.
#[derive(Debug)]
pub struct Restored {
    /// The backup restored.
    pub id: String,
    /// The last change sequence number of the restored store.
    pub last_seq: u64,
    /// The destination whose copy was used.
    pub from: PathBuf,
    /// The database files written, one per store directory.
    pub databases: Vec<PathBuf>,
    /// Where the databases they replaced were kept (each with its `-wal` file), for those that existed.
    pub previous: Vec<PathBuf>,
    /// Copies refused before the one used, with why.
    pub refused: Vec<String>,
}

/// The last backup and its age, for the status command and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupStatus {
    /// The newest backup's id, if any backup exists.
    pub last_id: Option<String>,
    /// Its store sequence number.
    pub last_seq: Option<u64>,
    /// When it was taken (milliseconds since the Unix epoch).
    pub last_created_unix_ms: Option<i64>,
    /// How long ago that was.
    pub age: Option<Duration>,
    /// How many backups exist.
    pub count: usize,
    /// The destinations looked at.
    pub destinations: Vec<PathBuf>,
}

/// The last backup and its age for a server with this configuration and data directory (what `kmipd
/// status` shows). Reads the destinations only; needs no key.
pub fn status(config: &BackupConfig, data_dir: &Path) -> Result<BackupStatus, BackupError> {
    Backups::new(config, data_dir).status(SystemTime::now())
}

impl Backups {
    /// The backups of the server whose data directory is `data_dir` (default destinations derive from it).
    pub fn new(config: &BackupConfig, data_dir: &Path) -> Backups {
        Backups {
            destinations: config.destinations_for(data_dir),
            retention: config.retention,
            chunk_bytes: config.chunk_bytes,
        }
    }

    /// The same backups, looked for in `destinations` instead (e.g. a restore onto a new machine).
    pub fn with_destinations(mut self, destinations: Vec<PathBuf>) -> Backups {
        self.destinations = destinations;
        self
    }

    /// Where backups are written and looked for.
    pub fn destinations(&self) -> &[PathBuf] {
        &self.destinations
    }

    /// Takes a backup now.
    pub fn create(&self, store: &Store) -> Result<BackupMade, BackupError> {
        self.create_at(store, SystemTime::now())
    }

    /// Takes a backup stamped with `now` (tests use past instants to exercise pruning).
    pub fn create_at(&self, store: &Store, now: SystemTime) -> Result<BackupMade, BackupError> {
        let created_ms = unix_ms(now);
        let id = new_id(created_ms)?;
        let salt: [u8; SALT_LEN] = random_array()?;
        let keys = BackupKeys::derive(store.master_key(), &salt)?;

        // The plaintext snapshot lives briefly beside the database: it holds nothing the database does not.
        let scratch = store.path().parent().unwrap_or(Path::new("."));
        let snapshot = TempFile::new(scratch.join(format!(".backup-{id}.snapshot")));
        let last_seq = store.snapshot_to(snapshot.path())?;
        let mut plain = BufReader::new(
            File::open(snapshot.path())
                .map_err(BackupError::io("opening snapshot", snapshot.path()))?,
        );

        let data_name = format!("{id}{BACKUP_SUFFIX}");
        let mut outputs = Vec::new();
        let mut failed = Vec::new();
        for dest in &self.destinations {
            let temp = TempFile::new(dest.join(format!(".{data_name}{TEMP_SUFFIX}")));
            match create_private_dir(dest).and_then(|()| create_new_private(temp.path())) {
                Ok(file) => outputs.push((dest.clone(), temp, BufWriter::new(file))),
                Err(e) => failed.push((dest.clone(), e.to_string())),
            }
        }
        if outputs.is_empty() {
            return Err(no_copy(&failed));
        }
        let sums = {
            let mut tee = Tee {
                outputs: outputs
                    .iter_mut()
                    .map(|(d, _, w)| (d.as_path(), w))
                    .collect(),
            };
            let name = Path::new(&data_name);
            container::encrypt(
                &mut plain,
                snapshot.path(),
                &mut tee,
                name,
                &keys,
                &Binding {
                    id: &id,
                    salt: &salt,
                },
                self.chunk_bytes,
            )?
        };
        let manifest = Manifest::new(
            &id,
            created_ms,
            rfc3339(created_ms),
            last_seq,
            &sums,
            &salt,
            &keys,
        )?;
        let manifest_bytes = manifest.to_file_bytes()?;
        let mut copies = Vec::new();
        for (dest, temp, writer) in outputs {
            match finish_copy(&dest, temp, writer, &data_name, &id, &manifest_bytes) {
                Ok(()) => copies.push(dest),
                Err(e) => failed.push((dest, e.to_string())),
            }
        }
        if copies.is_empty() {
            return Err(no_copy(&failed));
        }
        Ok(BackupMade {
            manifest,
            copies,
            failed,
        })
    }

    /// Every backup found in the destinations, oldest first.
    pub fn list(&self) -> Result<Listing, BackupError> {
        let mut by_id: BTreeMap<String, BackupEntry> = BTreeMap::new();
        let mut unreadable = Vec::new();
        for dest in &self.destinations {
            for (path, read) in manifests_in(dest)? {
                match read {
                    Ok(m) => by_id
                        .entry(m.id.clone())
                        .or_insert_with(|| BackupEntry {
                            manifest: m,
                            copies: Vec::new(),
                        })
                        .copies
                        .push(dest.clone()),
                    Err(e) => unreadable.push((path, e.to_string())),
                }
            }
        }
        let mut backups: Vec<BackupEntry> = by_id.into_values().collect();
        backups.sort_by(|a, b| {
            (a.manifest.created_unix_ms, &a.manifest.id)
                .cmp(&(b.manifest.created_unix_ms, &b.manifest.id))
        });
        Ok(Listing {
            backups,
            unreadable,
        })
    }

    /// Fully checks every copy of backup `id` (the newest backup when `None`): manifest authentication,
    /// file length and SHA-256, authenticated decryption of every chunk, SQLite integrity, master key, and
    /// sequence number. The decrypted snapshot is written to a temporary file in `scratch_dir` and removed.
    pub fn verify(
        &self,
        id: Option<&str>,
        master: &MasterKey,
        scratch_dir: &Path,
    ) -> Result<(String, Vec<CopyCheck>), BackupError> {
        let id = match id {
            Some(id) => {
                validate_id(id)?;
                id.to_string()
            }
            None => self
                .list()?
                .backups
                .last()
                .ok_or_else(|| self.not_found("(any)"))?
                .manifest
                .id
                .clone(),
        };
        let mut checks = Vec::new();
        for dest in self.holding(&id) {
            let temp = TempFile::new(scratch_dir.join(format!(".verify-{id}{TEMP_SUFFIX}")));
            let result = check_copy(&dest, &id, master, temp.path());
            drop(temp);
            checks.push(CopyCheck {
                destination: dest,
                result,
            });
        }
        if checks.is_empty() {
            return Err(self.not_found(&id));
        }
        Ok((id, checks))
    }

    /// Restores backup `id` into `data_dir` itself (`<data_dir>/kmipd.sqlite`): [`Backups::restore_into`] with
    /// the data directory as the only store directory.
    pub fn restore(
        &self,
        id: &str,
        master: &MasterKey,
        data_dir: &Path,
    ) -> Result<Restored, BackupError> {
        self.restore_into(id, master, data_dir, &[data_dir.to_path_buf()])
    }

    /// Restores backup `id` into every directory of `store_dirs` (a server's zone directories, so its zones
    /// start in step), holding the lock of `data_dir`, which no server may be using. A copy is decrypted into a
    /// temporary file in `data_dir` and fully checked (as [`Backups::verify`]); only then is it copied beside
    /// each database and renamed over it, each database it replaces being kept as
    /// `kmipd.sqlite.before-restore-<id>`. When every copy fails, or a directory cannot take its copy, no
    /// database is changed.
    pub fn restore_into(
        &self,
        id: &str,
        master: &MasterKey,
        data_dir: &Path,
        store_dirs: &[PathBuf],
    ) -> Result<Restored, BackupError> {
        validate_id(id)?;
        if store_dirs.is_empty() {
            return Err(BackupError::Config(
                "no store directory to restore into".into(),
            ));
        }
        let _lock = DataDirLock::acquire(data_dir)?;
        let temp = TempFile::new(data_dir.join(format!(".restore-{id}{TEMP_SUFFIX}")));
        let mut refused = Vec::new();
        let mut chosen = None;
        for dest in self.holding(id) {
            remove_if_exists(temp.path())?;
            match check_copy(&dest, id, master, temp.path()) {
                Ok(seq) => {
                    chosen = Some((dest, seq));
                    break;
                }
                Err(e) => refused.push(format!("{}: {e}", dest.display())),
            }
        }
        let Some((from, last_seq)) = chosen else {
            remove_if_exists(temp.path())?;
            return Err(if refused.is_empty() {
                self.not_found(id)
            } else {
                BackupError::NoValidCopy {
                    id: id.to_string(),
                    failures: refused.join("; "),
                }
            });
        };
        // Every directory gets its own complete copy before any database is replaced.
        let mut staged = Vec::with_capacity(store_dirs.len());
        for dir in store_dirs {
            create_private_dir(dir)?;
            let copy = TempFile::new(dir.join(format!(".restore-{id}.copy{TEMP_SUFFIX}")));
            remove_if_exists(copy.path())?;
            copy_private(temp.path(), copy.path())?;
            staged.push((dir, copy));
        }
        let mut databases = Vec::with_capacity(staged.len());
        let mut previous = Vec::new();
        for (dir, copy) in staged {
            let database = dir.join(DB_FILE_NAME);
            if database.exists() {
                previous.push(set_aside(&database, id)?);
            }
            std::fs::rename(copy.path(), &database)
                .map_err(BackupError::io("renaming restored snapshot to", &database))?;
            copy.keep();
            sync_dir(dir)?;
            databases.push(database);
        }
        drop(temp);
        Ok(Restored {
            id: id.to_string(),
            last_seq,
            from,
            databases,
            previous,
            refused,
        })
    }

    /// Deletes backups taken before `now - retention` from every destination, except each destination's
    /// newest backup (a server that stopped backing up keeps its last one). Also removes files a crash left
    /// half-written for longer than the retention. Returns how many copies were removed (a backup counts
    /// once per destination).
    pub fn prune(&self, now: SystemTime) -> Result<usize, BackupError> {
        let retention_ms = i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
        let cutoff = unix_ms(now).saturating_sub(retention_ms);
        let mut removed = 0;
        for dest in &self.destinations {
            let mut manifests: Vec<Manifest> = manifests_in(dest)?
                .into_iter()
                .filter_map(|(_, m)| m.ok())
                .collect();
            manifests.sort_by(|a, b| (a.created_unix_ms, &a.id).cmp(&(b.created_unix_ms, &b.id)));
            let newest = manifests.pop();
            for m in manifests.iter().filter(|m| m.created_unix_ms < cutoff) {
                // Manifest first: a half-deleted backup is never listed as complete.
                remove_if_exists(&dest.join(format!("{}{MANIFEST_SUFFIX}", m.id)))?;
                remove_if_exists(&dest.join(format!("{}{BACKUP_SUFFIX}", m.id)))?;
                removed += 1;
            }
            drop(newest);
            remove_stale_temps(dest, now, self.retention)?;
        }
        Ok(removed)
    }

    /// The newest backup and its age as of `now`.
    pub fn status(&self, now: SystemTime) -> Result<BackupStatus, BackupError> {
        let listing = self.list()?;
        let last = listing.backups.last().map(|e| &e.manifest);
        Ok(BackupStatus {
            last_id: last.map(|m| m.id.clone()),
            last_seq: last.map(|m| m.last_seq),
            last_created_unix_ms: last.map(|m| m.created_unix_ms),
            age: last.map(|m| {
                let age_ms = unix_ms(now).saturating_sub(m.created_unix_ms).max(0);
                Duration::from_millis(u64::try_from(age_ms).unwrap_or(0))
            }),
            count: listing.backups.len(),
            destinations: self.destinations.clone(),
        })
    }

    /// Destinations holding any file of backup `id`.
    fn holding(&self, id: &str) -> Vec<PathBuf> {
        self.destinations
            .iter()
            .filter(|d| {
                d.join(format!("{id}{MANIFEST_SUFFIX}")).exists()
                    || d.join(format!("{id}{BACKUP_SUFFIX}")).exists()
            })
            .cloned()
            .collect()
    }

    fn not_found(&self, id: &str) -> BackupError {
        BackupError::NotFound {
            id: id.to_string(),
            searched: self
                .destinations
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// Checks one copy completely, decrypting into `out_path` (created; left for the caller to use or remove).
fn check_copy(
    dest: &Path,
    id: &str,
    master: &MasterKey,
    out_path: &Path,
) -> Result<u64, BackupError> {
    let manifest_path = dest.join(format!("{id}{MANIFEST_SUFFIX}"));
    let manifest = Manifest::read(&manifest_path)?;
    if manifest.id != id {
        return Err(BackupError::ManifestInvalid {
            path: manifest_path,
            reason: format!("it describes backup {}", manifest.id),
        });
    }
    let salt = manifest.salt_bytes(&manifest_path)?;
    let keys = BackupKeys::derive(master, &salt)?;
    manifest.authenticate(&keys, &manifest_path)?;

    let data_path = dest.join(format!("{id}{BACKUP_SUFFIX}"));
    let file =
        File::open(&data_path).map_err(BackupError::io("opening backup file", &data_path))?;
    let len = file
        .metadata()
        .map_err(BackupError::io("reading backup file", &data_path))?
        .len();
    if len < manifest.ciphertext_bytes {
        return Err(BackupError::Truncated {
            path: data_path,
            reason: format!(
                "{len} bytes of the {} the manifest records",
                manifest.ciphertext_bytes
            ),
        });
    }
    let tampered = |reason: String| BackupError::Tampered {
        path: data_path.clone(),
        reason,
    };
    if len > manifest.ciphertext_bytes {
        return Err(tampered(format!(
            "{len} bytes, the manifest records {}",
            manifest.ciphertext_bytes
        )));
    }
    let out = create_new_private(out_path)?;
    let mut writer = BufWriter::new(out);
    let sums = container::decrypt(
        BufReader::new(file),
        &data_path,
        &mut writer,
        out_path,
        &keys,
        &Binding { id, salt: &salt },
    )?;
    let out = writer.into_inner().map_err(|e| BackupError::Io {
        action: "writing restored snapshot",
        path: out_path.to_path_buf(),
        source: e.into_error(),
    })?;
    out.sync_all()
        .map_err(BackupError::io("syncing restored snapshot", out_path))?;
    drop(out);
    if hex::encode(sums.ciphertext_sha256) != manifest.ciphertext_sha256
        || sums.ciphertext_bytes != manifest.ciphertext_bytes
    {
        return Err(tampered("its SHA-256 differs from the manifest's".into()));
    }
    if hex::encode(sums.plaintext_sha256) != manifest.plaintext_sha256
        || sums.plaintext_bytes != manifest.plaintext_bytes
    {
        return Err(tampered(
            "the decrypted snapshot's SHA-256 differs from the manifest's".into(),
        ));
    }
    let seq = Store::inspect_snapshot(out_path, master)?;
    if seq != manifest.last_seq {
        return Err(tampered(format!(
            "the snapshot ends at change {seq}, the manifest records {}",
            manifest.last_seq
        )));
    }
    Ok(seq)
}

/// Flushes, syncs and renames one destination's copy, then writes its manifest the same way.
fn finish_copy(
    dest: &Path,
    temp: TempFile,
    writer: BufWriter<File>,
    data_name: &str,
    id: &str,
    manifest_bytes: &[u8],
) -> Result<(), BackupError> {
    let file = writer.into_inner().map_err(|e| BackupError::Io {
        action: "writing backup file",
        path: temp.path().to_path_buf(),
        source: e.into_error(),
    })?;
    file.sync_all()
        .map_err(BackupError::io("syncing backup file", temp.path()))?;
    drop(file);
    let data_path = dest.join(data_name);
    std::fs::rename(temp.path(), &data_path)
        .map_err(BackupError::io("renaming backup file to", &data_path))?;
    temp.keep();
    let manifest_path = dest.join(format!("{id}{MANIFEST_SUFFIX}"));
    let manifest_temp = TempFile::new(dest.join(format!(".{id}{MANIFEST_SUFFIX}{TEMP_SUFFIX}")));
    let mut file = create_new_private(manifest_temp.path())?;
    file.write_all(manifest_bytes)
        .and_then(|()| file.sync_all())
        .map_err(BackupError::io(
            "writing backup manifest",
            manifest_temp.path(),
        ))?;
    drop(file);
    std::fs::rename(manifest_temp.path(), &manifest_path).map_err(BackupError::io(
        "renaming backup manifest to",
        &manifest_path,
    ))?;
    manifest_temp.keep();
    sync_dir(dest)
}

/// Keeps the database being replaced (and its WAL, which must not be applied to the restored file).
fn set_aside(database: &Path, id: &str) -> Result<PathBuf, BackupError> {
    let aside = database.with_file_name(format!("{DB_FILE_NAME}.before-restore-{id}"));
    let with_suffix = |p: &Path, s: &str| PathBuf::from(format!("{}{s}", p.display()));
    for p in [
        aside.clone(),
        with_suffix(&aside, "-wal"),
        with_suffix(&aside, "-shm"),
    ] {
        remove_if_exists(&p)?;
    }
    std::fs::hard_link(database, &aside)
        .map_err(BackupError::io("keeping the replaced database as", &aside))?;
    let wal = with_suffix(database, "-wal");
    if wal.exists() {
        let aside_wal = with_suffix(&aside, "-wal");
        std::fs::rename(&wal, &aside_wal).map_err(BackupError::io(
            "moving the replaced database's WAL to",
            &aside_wal,
        ))?;
    }
    remove_if_exists(&with_suffix(database, "-shm"))?;
    remove_if_exists(&with_suffix(database, "-journal"))?;
    Ok(aside)
}

/// Each readable and unreadable manifest in `dir` (a missing directory holds none).
/// A manifest file and what reading it gave.
type ManifestRead = (PathBuf, Result<Manifest, BackupError>);

fn manifests_in(dir: &Path) -> Result<Vec<ManifestRead>, BackupError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(BackupError::Io {
                action: "listing backup destination",
                path: dir.to_path_buf(),
                source: e,
            });
        }
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(BackupError::io("listing backup destination", dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_suffix(MANIFEST_SUFFIX) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let read = Manifest::read(&path).and_then(|m| {
            if m.id == id {
                Ok(m)
            } else {
                Err(BackupError::ManifestInvalid {
                    path: path.clone(),
                    reason: format!("it describes backup {}", m.id),
                })
            }
        });
        out.push((path, read));
    }
    Ok(out)
}

fn remove_stale_temps(dir: &Path, now: SystemTime, age: Duration) -> Result<(), BackupError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with('.') && name.ends_with(TEMP_SUFFIX)) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|d| d > age);
        if old {
            remove_if_exists(&entry.path())?;
        }
    }
    Ok(())
}

/// A backup id: the UTC time of the snapshot to the second, and 32 random bits so two backups in one second
/// differ. Sorts by time.
fn new_id(created_ms: i64) -> Result<String, BackupError> {
    let stamp = time::OffsetDateTime::from_unix_timestamp(created_ms.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .ok()
        })
        .ok_or(BackupError::Crypto("backup time out of range"))?;
    Ok(format!("{stamp}-{}", hex::encode(random_array::<4>()?)))
}

/// Refuses an id that kmipd could not have made (it becomes part of file names).
fn validate_id(id: &str) -> Result<(), BackupError> {
    let ok = (8..=64).contains(&id.len())
        && !id.starts_with('-')
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(BackupError::BadId(id.to_string()))
    }
}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn unix_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

fn random_array<const N: usize>() -> Result<[u8; N], BackupError> {
    crate::crypto::random_array().map_err(|e| BackupError::Randomness(e.to_string()))
}

fn no_copy(failed: &[(PathBuf, String)]) -> BackupError {
    BackupError::Config(format!(
        "no backup destination could be written: {}",
        failed
            .iter()
            .map(|(d, e)| format!("{}: {e}", d.display()))
            .collect::<Vec<_>>()
            .join("; ")
    ))
}

/// Writes every byte to each destination's file.
struct Tee<'a> {
    outputs: Vec<(&'a Path, &'a mut BufWriter<File>)>,
}

impl Write for Tee<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for (dest, w) in &mut self.outputs {
            w.write_all(buf)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dest.display())))?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        for (_, w) in &mut self.outputs {
            w.flush()?;
        }
        Ok(())
    }
}

/// A file removed when dropped unless kept: no half-written file survives a failed step.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl TempFile {
    fn new(path: PathBuf) -> TempFile {
        TempFile { path, keep: false }
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
            // A snapshot's SQLite side files, if a failure left any.
            let _ = std::fs::remove_file(format!("{}-journal", self.path.display()));
        }
    }
}

fn create_new_private(path: &Path) -> Result<File, BackupError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .map_err(BackupError::io("creating", path))
}

pub(crate) fn create_private_dir(dir: &Path) -> Result<(), BackupError> {
    crate::private_fs::create_dir(dir).map_err(BackupError::io("creating directory", dir))
}

/// Copies `from` into a new 0600 file `to` and syncs it.
fn copy_private(from: &Path, to: &Path) -> Result<(), BackupError> {
    let mut out = create_new_private(to)?;
    let mut input = File::open(from).map_err(BackupError::io("opening restored snapshot", from))?;
    std::io::copy(&mut input, &mut out)
        .and_then(|_| out.sync_all())
        .map_err(BackupError::io("copying restored snapshot to", to))
}

fn remove_if_exists(path: &Path) -> Result<(), BackupError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(BackupError::Io {
            action: "removing",
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// Makes renames and new entries in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    crate::private_fs::sync_dir(dir).map_err(BackupError::io("syncing directory", dir))
}
