//! The audit log: one JSON line per batch item (time, identity, source address, operation, object
//! identifiers, result status and reason, duration, for grants their subject, target and classes; never key
//! material), and one per refused connection (rate-limited, with a summary line for what was suppressed).
//!
//! Why it is built this way: a reader of the files must not be able to rewrite them unnoticed. Each line
//! therefore ends with `"mac"`, an HMAC-SHA-256 over the line's bytes before that field, under a key derived
//! from the store's master key with HKDF ([`KEY_INFO`]); the line's `"prev"` is the MAC of the line before it,
//! so the MACs form a chain across files and rotation. Editing, inserting, removing or reordering a line breaks
//! the chain at that line, and recomputing it needs the master key. Cutting the tail leaves a shorter valid
//! chain, so the writer stores periodic checkpoints (the last line's sequence number and MAC) outside the log,
//! in the replicated store under `audit-checkpoint:<name>` (every `checkpoint_every_lines` lines, every
//! `checkpoint_interval`, and at clean shutdown); [`verify`] compares the log with the newest checkpoint.
//!
//! Older logs (before lines carried a MAC) hold lines chained by SHA-256 only. They still verify as a chain,
//! but they are an unauthenticated legacy segment: [`verify`] refuses them unless told to accept them, and an
//! unauthenticated line after an authenticated one is always refused.
//!
//! Order of writing (the engine's side): a change (any operation that is not read-only) first writes an
//! `"intent"` line, after the access check and before the operation runs; if that line cannot be written the
//! item fails and nothing is committed. The outcome line follows; if it cannot be written the change stands
//! (its intent line is in the log) and the failure is logged. A read-only item writes its outcome line before
//! the answer is sent; if that line cannot be written the answer is replaced by a failure, so no key material
//! leaves the server unaudited.
//!
//! The current file is `audit.log`; when it reaches the size limit (or the age limit) it is renamed
//! `audit-<first seq>.log` and a new one begun, whose first line chains to the last line of the old one.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use thiserror::Error;
use zeroize::Zeroizing;

use super::sha256;
use crate::replication::ZonedStore;
use crate::replication::node::{ForwardedAudit, ForwardedChange};
use crate::store::{MasterKey, Mutation, Store};

/// Name of the file being written.
pub const CURRENT_FILE: &str = "audit.log";
/// The `prev` of the first line ever written.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// HKDF `info` of the key that authenticates audit lines (salt: none; input: the master key).
pub const KEY_INFO: &[u8] = b"kmipd audit v2 line authentication key (HMAC-SHA256)";
/// Prefix of the store's access entries that hold audit checkpoints; the log's name follows.
pub const CHECKPOINT_PREFIX: &str = "audit-checkpoint:";
/// The `operation` of a refused connection's line.
pub const REFUSED_OPERATION: &str = "(refused connection)";
/// The `operation` of the line that counts suppressed refusals.
pub const REFUSED_SUMMARY_OPERATION: &str = "(refused connections suppressed)";
/// The `status` of the line a change writes before it runs.
pub const INTENT: &str = "intent";
/// How often the checkpoint thread wakes to flush refusal summaries and look at the checkpoint's age.
const TICK: Duration = Duration::from_secs(1);

/// Where and how the audit log is kept.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Write the audit log at all.
    pub enabled: bool,
    /// Directory of the log files (default `<data_dir>/audit`; relative paths follow the configuration file).
    pub dir: Option<PathBuf>,
    /// Size at which the current file is rotated.
    pub max_file_bytes: u64,
    /// Age at which the current file is rotated whatever its size ("0s": never).
    #[serde(deserialize_with = "crate::settings_text::duration_text")]
    pub rotate_after: Duration,
    /// A checkpoint is stored after this many lines (at least 1).
    pub checkpoint_every_lines: u64,
    /// A checkpoint is stored when lines were written and the last one is this old ("0s": only by lines and
    /// at shutdown).
    #[serde(deserialize_with = "crate::settings_text::duration_text")]
    pub checkpoint_interval: Duration,
    /// Refused connections recorded per `refused_window`; the rest are counted per address and summarised.
    pub refused_lines_per_window: u32,
    /// The window `refused_lines_per_window` counts in.
    #[serde(deserialize_with = "crate::settings_text::duration_text")]
    pub refused_window: Duration,
    /// Addresses whose suppressed refusals are counted one by one in a window; beyond them, one count for all
    /// others (bounds the memory a flood from many addresses takes).
    pub refused_summary_addresses: usize,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            enabled: true,
            dir: None,
            max_file_bytes: 64 << 20,
            rotate_after: Duration::from_secs(24 * 3600),
            checkpoint_every_lines: 100,
            checkpoint_interval: Duration::from_secs(60),
            refused_lines_per_window: 60,
            refused_window: Duration::from_secs(60),
            refused_summary_addresses: 1024,
        }
    }
}

/// What one batch item did, as the audit log records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// Who (the principal's identity; the certificate identity when the request was refused before).
    pub identity: String,
    /// The TCP peer.
    pub source: String,
    /// The operation's name (or its number when unnamed).
    pub operation: String,
    /// Unique Identifiers the item named or returned.
    pub objects: Vec<String>,
    /// "success", "failure", or [`INTENT`] for the line a change writes before it runs.
    pub status: &'static str,
    /// The Result Reason of a failure (or why a connection was refused).
    pub reason: Option<String>,
    /// Time spent on the item.
    pub duration: Duration,
    /// What a grant or a grant revocation was about: its subject, target and classes (and identifier).
    pub detail: Option<serde_json::Value>,
}

impl ForwardedAudit for AuditLog {
    fn forwarded(&self, change: ForwardedChange) {
        let event = AuditEvent {
            identity: change.identity,
            source: change.source,
            operation: change.operation,
            objects: change.objects,
            status: if change.refused.is_none() {
                "success"
            } else {
                "failure"
            },
            reason: change.refused,
            duration: change.duration,
            detail: None,
        };
        if let Err(e) = self.record(&event) {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }
}

/// One line as written (field order is fixed by this struct; `mac` must stay last).
#[derive(Serialize, Deserialize)]
struct Line {
    seq: u64,
    time: String,
    identity: String,
    source: String,
    operation: String,
    objects: Vec<String>,
    status: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    reason: Option<String>,
    duration_us: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    detail: Option<serde_json::Value>,
    prev: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    mac: Option<String>,
}

/// The last line of the log as of a moment, stored outside the log so that a cut tail shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Sequence number of the line.
    pub seq: u64,
    /// Its MAC (hex).
    pub mac: String,
}

/// Why the audit log could not be written or verified.
#[derive(Debug, Error)]
pub enum AuditError {
    /// A file operation failed.
    #[error("audit log {path}: {action}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The existing log cannot be continued (its last line is not an audit line).
    #[error("audit log {path} cannot be continued: {reason}")]
    Damaged { path: PathBuf, reason: String },
    /// The line authentication key could not be derived or used.
    #[error("audit log key: {0}")]
    Key(&'static str),
    /// A checkpoint could not be stored or read.
    #[error("audit checkpoint: {0}")]
    Checkpoint(String),
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> AuditError + 'a {
    move |source| AuditError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// The key that authenticates audit lines: HKDF-SHA-256 of the master key with [`KEY_INFO`]. Zeroized on drop.
pub struct AuditKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(<redacted>)")
    }
}

impl AuditKey {
    /// Derives the audit key from the store's master key.
    pub fn derive(master: &MasterKey) -> Result<AuditKey, AuditError> {
        let hk = Hkdf::<Sha256>::new(None, master.bytes());
        let mut key = Zeroizing::new([0u8; 32]);
        hk.expand(KEY_INFO, key.as_mut_slice())
            .map_err(|_| AuditError::Key("HKDF output length"))?;
        Ok(AuditKey(key))
    }

    fn hmac(&self, body: &[u8]) -> Result<Hmac<Sha256>, AuditError> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.0.as_slice())
            .map_err(|_| AuditError::Key("HMAC key length"))?;
        mac.update(body);
        Ok(mac)
    }

    /// The MAC of a line's body, as hex.
    fn tag(&self, body: &[u8]) -> Result<String, AuditError> {
        Ok(hex::encode(self.hmac(body)?.finalize().into_bytes()))
    }

    /// Whether `tag_hex` is the MAC of `body` (compared in constant time).
    fn check(&self, body: &[u8], tag_hex: &str) -> bool {
        let Ok(tag) = hex::decode(tag_hex) else {
            return false;
        };
        self.hmac(body).is_ok_and(|m| m.verify_slice(&tag).is_ok())
    }
}

/// The suffix a line with MAC `mac` ends with.
fn mac_suffix(mac: &str) -> String {
    format!(",\"mac\":\"{mac}\"}}")
}

/// The authenticated body of a line whose MAC is `mac`: its text without the `mac` field. None when the line
/// does not end with that field exactly.
fn body_of(raw: &str, mac: &str) -> Option<String> {
    let head = raw.strip_suffix(&mac_suffix(mac))?;
    Some(format!("{head}}}"))
}

struct Writer {
    file: File,
    size: u64,
    opened: Instant,
    /// Sequence number of the first line of the current file (its name once rotated).
    first_seq: Option<u64>,
    seq: u64,
    /// The chain value the next line carries as `prev`: the last line's MAC (or, after a legacy line, its
    /// SHA-256).
    prev: String,
    /// Whether the last line carries a MAC (only such a line can be checkpointed).
    authenticated: bool,
    /// Lines written since the last checkpoint.
    since_checkpoint: u64,
    /// When the last checkpoint was stored (or the log opened).
    checkpointed_at: Instant,
}

/// Where checkpoints go once the store is open.
struct CheckpointSink {
    store: Arc<ZonedStore>,
    name: String,
    wake: Mutex<Sender<()>>,
}

/// Refused connections in the current window.
#[derive(Default)]
struct Refusals {
    window_start: Option<Instant>,
    written: u32,
    suppressed: HashMap<IpAddr, u64>,
    others: u64,
}

/// An open audit log; `Send + Sync`, lines are appended under a lock so the chain stays in order.
pub struct AuditLog {
    dir: PathBuf,
    settings: AuditSettings,
    key: AuditKey,
    writer: Mutex<Writer>,
    refusals: Mutex<Refusals>,
    sink: OnceLock<CheckpointSink>,
    /// Sequence number of the newest stored checkpoint; held while one is stored, so they land in order.
    checkpointed: Mutex<u64>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").field("dir", &self.dir).finish()
    }
}

impl AuditLog {
    /// Opens the log in `dir` (created if missing, mode 0700), continuing the chain of what is already there;
    /// new lines are authenticated with `key`.
    pub fn open(
        dir: &Path,
        settings: AuditSettings,
        key: AuditKey,
    ) -> Result<AuditLog, AuditError> {
        crate::private_fs::create_owned_dir(dir).map_err(io("creating directory", dir))?;
        let current = dir.join(CURRENT_FILE);
        let mut file = open_current(&current)?;
        drop_partial_line(&mut file, &current)?;
        let size = file
            .metadata()
            .map_err(io("reading size of", &current))?
            .len();
        // The chain continues from the last line of the current file, or of the newest rotated one.
        let mut tail = last_line(&current)?;
        let mut tail_path = current.clone();
        let first_seq = first_line(&current)?.map(|l| l.seq);
        if tail.is_none()
            && let Some(newest) = rotated_files(dir)?.pop()
        {
            tail = last_line(&newest)?;
            tail_path = newest;
        }
        let (seq, prev, authenticated) = match tail {
            None => (0, GENESIS.to_string(), false),
            Some((raw, line)) => match &line.mac {
                Some(mac) => {
                    if !body_of(&raw, mac).is_some_and(|body| key.check(body.as_bytes(), mac)) {
                        // Chaining on goes on; verification will report this line.
                        tracing::error!(path = %tail_path.display(), seq = line.seq,
                            "the last audit line does not verify under this master key's audit key");
                    }
                    (line.seq, mac.clone(), true)
                }
                None => (line.seq, hex::encode(sha256(raw.as_bytes())), false),
            },
        };
        Ok(AuditLog {
            dir: dir.to_owned(),
            settings,
            key,
            writer: Mutex::new(Writer {
                file,
                size,
                opened: Instant::now(),
                first_seq,
                seq,
                prev,
                authenticated,
                since_checkpoint: 0,
                checkpointed_at: Instant::now(),
            }),
            refusals: Mutex::new(Refusals::default()),
            sink: OnceLock::new(),
            checkpointed: Mutex::new(0),
        })
    }

    /// The directory the log is in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one line for `event`, rotating first when the current file is full or old.
    pub fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let due = {
            let mut w = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
            self.append(&mut w, event)?;
            w.since_checkpoint += 1;
            w.since_checkpoint >= self.settings.checkpoint_every_lines
        };
        if due && let Some(sink) = self.sink.get() {
            // The checkpoint thread stores it: a line is never held up by the store.
            let _ = sink
                .wake
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .send(());
        }
        Ok(())
    }

    fn append(&self, w: &mut Writer, event: &AuditEvent) -> Result<(), AuditError> {
        let mut line = Line {
            seq: w.seq + 1,
            time: now_text(),
            identity: event.identity.clone(),
            source: event.source.clone(),
            operation: event.operation.clone(),
            objects: event.objects.clone(),
            status: event.status.to_string(),
            reason: event.reason.clone(),
            duration_us: u64::try_from(event.duration.as_micros()).unwrap_or(u64::MAX),
            detail: event.detail.clone(),
            prev: w.prev.clone(),
            mac: None,
        };
        let body = serde_json::to_string(&line).map_err(|e| AuditError::Damaged {
            path: self.dir.clone(),
            reason: format!("cannot encode a line: {e}"),
        })?;
        let mac = self.key.tag(body.as_bytes())?;
        let head = body.strip_suffix('}').ok_or_else(|| AuditError::Damaged {
            path: self.dir.clone(),
            reason: "an encoded line is not a JSON object".into(),
        })?;
        let text = format!("{head}{}", mac_suffix(&mac));
        line.mac = Some(mac.clone());
        let len = text.len() as u64 + 1;
        let too_big = w.size > 0 && w.size + len > self.settings.max_file_bytes;
        let too_old = w.size > 0
            && !self.settings.rotate_after.is_zero()
            && w.opened.elapsed() >= self.settings.rotate_after;
        if too_big || too_old {
            self.rotate(w)?;
        }
        let current = self.dir.join(CURRENT_FILE);
        self.ensure_current(w, &current)?;
        let mut bytes = text.into_bytes();
        bytes.push(b'\n');
        w.file
            .write_all(&bytes)
            .and_then(|()| w.file.flush())
            .map_err(io("writing", &current))?;
        w.size += len;
        w.seq = line.seq;
        w.first_seq.get_or_insert(line.seq);
        w.prev = mac;
        w.authenticated = true;
        crate::metrics::audit_line_written();
        Ok(())
    }

    /// Lines written to a file that was removed or replaced would be lost: when the path no longer names the
    /// open file, it is opened again (and a directory or other non-file in its place fails the write).
    fn ensure_current(&self, w: &mut Writer, current: &Path) -> Result<(), AuditError> {
        let same = match (std::fs::symlink_metadata(current), w.file.metadata()) {
            (Ok(named), Ok(open)) => same_file(&named, &open),
            _ => false,
        };
        if same {
            return Ok(());
        }
        tracing::error!(path = %current.display(), "the audit file was removed or replaced while open; reopening it");
        w.file = open_current(current)?;
        w.size = w
            .file
            .metadata()
            .map_err(io("reading size of", current))?
            .len();
        w.opened = Instant::now();
        w.first_seq = first_line(current)?.map(|l| l.seq);
        Ok(())
    }

    /// Renames the current file after its first sequence number and starts an empty one.
    fn rotate(&self, w: &mut Writer) -> Result<(), AuditError> {
        let current = self.dir.join(CURRENT_FILE);
        let first = w.first_seq.unwrap_or(w.seq);
        let rotated = self.dir.join(format!("audit-{first:020}.log"));
        w.file.sync_all().map_err(io("syncing", &current))?;
        std::fs::rename(&current, &rotated).map_err(io("rotating", &current))?;
        w.file = open_current(&current)?;
        w.size = 0;
        w.opened = Instant::now();
        w.first_seq = None;
        Ok(())
    }

    /// Records a connection refused before any batch item exists (allow-list, connection limits, TLS
    /// handshake, unreadable frame). At most `refused_lines_per_window` such lines per window; the others are
    /// counted per address and written as "N more refused from ADDR" when the window ends.
    pub fn record_refusal(
        &self,
        peer: SocketAddr,
        identity: Option<&str>,
        reason: &str,
    ) -> Result<(), AuditError> {
        let (summaries, write) = {
            let mut r = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
            let summaries = self.end_window_if_over(&mut r, false);
            if r.written < self.settings.refused_lines_per_window {
                r.written += 1;
                (summaries, true)
            } else {
                let cap = self.settings.refused_summary_addresses;
                let ip = peer.ip();
                if r.suppressed.len() < cap || r.suppressed.contains_key(&ip) {
                    *r.suppressed.entry(ip).or_default() += 1;
                } else {
                    r.others += 1;
                }
                (summaries, false)
            }
        };
        self.write_summaries(summaries)?;
        if write {
            self.record(&AuditEvent {
                identity: identity.unwrap_or_default().to_string(),
                source: peer.to_string(),
                operation: REFUSED_OPERATION.to_string(),
                objects: Vec::new(),
                status: "failure",
                reason: Some(reason.to_string()),
                duration: Duration::ZERO,
                detail: None,
            })?;
        }
        Ok(())
    }

    /// Writes the summary lines of suppressed refusals when the window is over (or now, with `force`: at
    /// shutdown).
    pub fn flush_refusals(&self, force: bool) -> Result<(), AuditError> {
        let summaries = {
            let mut r = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
            self.end_window_if_over(&mut r, force)
        };
        self.write_summaries(summaries)
    }

    /// Starts a new window when the current one is over (or `force`), handing back what it suppressed.
    fn end_window_if_over(&self, r: &mut Refusals, force: bool) -> Vec<(String, u64)> {
        let over = r
            .window_start
            .is_none_or(|s| s.elapsed() >= self.settings.refused_window);
        if !over && !force {
            return Vec::new();
        }
        r.window_start = Some(Instant::now());
        r.written = 0;
        let mut out: Vec<(String, u64)> = r
            .suppressed
            .drain()
            .map(|(ip, n)| (ip.to_string(), n))
            .collect();
        out.sort();
        if r.others > 0 {
            out.push(("other addresses".to_string(), r.others));
            r.others = 0;
        }
        out
    }

    fn write_summaries(&self, summaries: Vec<(String, u64)>) -> Result<(), AuditError> {
        for (source, n) in summaries {
            self.record(&AuditEvent {
                reason: Some(format!("{n} more refused from {source}")),
                identity: String::new(),
                source,
                operation: REFUSED_SUMMARY_OPERATION.to_string(),
                objects: Vec::new(),
                status: "failure",
                duration: Duration::ZERO,
                detail: None,
            })?;
        }
        Ok(())
    }

    /// Stores checkpoints of this log, named `name`, in `store` from now on: a thread stores one when
    /// `checkpoint_every_lines` lines were written or `checkpoint_interval` passed, and writes refusal
    /// summaries when their window ends. It stops when the log is dropped. Call [`AuditLog::close`] at a clean
    /// shutdown for the final checkpoint.
    pub fn start_checkpoints(
        self: &Arc<Self>,
        store: Arc<ZonedStore>,
        name: &str,
    ) -> Result<(), AuditError> {
        let (wake, woken) = mpsc::channel();
        let sink = CheckpointSink {
            store,
            name: name.to_string(),
            wake: Mutex::new(wake),
        };
        if self.sink.set(sink).is_err() {
            return Err(AuditError::Checkpoint("checkpoints already started".into()));
        }
        let log = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("audit-checkpoints".into())
            .spawn(move || {
                loop {
                    let woken = match woken.recv_timeout(TICK) {
                        Ok(()) => true,
                        Err(RecvTimeoutError::Timeout) => false,
                        Err(RecvTimeoutError::Disconnected) => break,
                    };
                    let Some(log) = log.upgrade() else { break };
                    if let Err(e) = log.flush_refusals(false) {
                        tracing::error!(error = %e, "cannot write the audit log");
                    }
                    if (woken || log.checkpoint_is_old())
                        && let Err(e) = log.checkpoint()
                    {
                        tracing::error!(error = %e, "cannot store an audit checkpoint");
                    }
                }
            })
            .map_err(|e| AuditError::Checkpoint(format!("cannot start the thread: {e}")))?;
        Ok(())
    }

    fn checkpoint_is_old(&self) -> bool {
        let w = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        w.since_checkpoint > 0
            && !self.settings.checkpoint_interval.is_zero()
            && w.checkpointed_at.elapsed() >= self.settings.checkpoint_interval
    }

    /// Stores a checkpoint of the last line now, if checkpoints were started and lines were written since the
    /// last one. Returns what was stored.
    pub fn checkpoint(&self) -> Result<Option<Checkpoint>, AuditError> {
        let Some(sink) = self.sink.get() else {
            return Ok(None);
        };
        let mut stored = self
            .checkpointed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let checkpoint = {
            let mut w = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
            if !w.authenticated || w.seq <= *stored {
                w.since_checkpoint = 0;
                return Ok(None);
            }
            w.since_checkpoint = 0;
            w.checkpointed_at = Instant::now();
            Checkpoint {
                seq: w.seq,
                mac: w.prev.clone(),
            }
        };
        let value = serde_json::to_vec(&checkpoint)
            .map_err(|e| AuditError::Checkpoint(format!("cannot encode: {e}")))?;
        sink.store
            .commit(vec![Mutation::SetAccess {
                key: format!("{CHECKPOINT_PREFIX}{}", sink.name),
                value,
            }])
            .map_err(|e| AuditError::Checkpoint(e.to_string()))?;
        *stored = checkpoint.seq;
        Ok(Some(checkpoint))
    }

    /// A clean shutdown: writes the pending refusal summaries and stores the final checkpoint.
    pub fn close(&self) -> Result<Option<Checkpoint>, AuditError> {
        self.flush_refusals(true)?;
        self.checkpoint()
    }
}

/// The checkpoint named `name` in one store file, if one was stored.
pub fn read_checkpoint(store: &Store, name: &str) -> Result<Option<Checkpoint>, AuditError> {
    let Some(value) = store
        .access_entry(&format!("{CHECKPOINT_PREFIX}{name}"))
        .map_err(|e| AuditError::Checkpoint(e.to_string()))?
    else {
        return Ok(None);
    };
    serde_json::from_slice(&value)
        .map(Some)
        .map_err(|e| AuditError::Checkpoint(format!("unreadable checkpoint {name:?}: {e}")))
}

/// The checkpoint named `name` in the zones' store, if one was stored.
pub fn stored_checkpoint(store: &ZonedStore, name: &str) -> Result<Option<Checkpoint>, AuditError> {
    let Some(value) = store
        .access_entry(&format!("{CHECKPOINT_PREFIX}{name}"))
        .map_err(|e| AuditError::Checkpoint(e.to_string()))?
    else {
        return Ok(None);
    };
    serde_json::from_slice(&value)
        .map(Some)
        .map_err(|e| AuditError::Checkpoint(format!("unreadable checkpoint {name:?}: {e}")))
}

/// Whether two metadata describe the same regular file.
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        a.is_file() && a.dev() == b.dev() && a.ino() == b.ino()
    }
    #[cfg(not(unix))]
    {
        a.is_file() && b.is_file()
    }
}

/// The rotated files of `dir`, oldest first.
fn rotated_files(dir: &Path) -> Result<Vec<PathBuf>, AuditError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io("listing", dir))? {
        let entry = entry.map_err(io("listing", dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("audit-") && name.ends_with(".log") {
            out.push(entry.path());
        }
    }
    // Zero-padded sequence numbers: name order is chain order.
    out.sort();
    Ok(out)
}

/// A crash in the middle of a write leaves a line without its newline: it was never part of the chain.
fn drop_partial_line(file: &mut File, path: &Path) -> Result<(), AuditError> {
    let len = file.metadata().map_err(io("reading size of", path))?.len();
    if len == 0 {
        return Ok(());
    }
    let mut text = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut text))
        .map_err(io("reading", path))?;
    if text.last() == Some(&b'\n') {
        return Ok(());
    }
    let keep = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    tracing::warn!(path = %path.display(), "audit log ends in a partial line; dropping it");
    file.set_len(keep as u64).map_err(io("truncating", path))?;
    Ok(())
}

fn first_line(path: &Path) -> Result<Option<Line>, AuditError> {
    let file = File::open(path).map_err(io("opening", path))?;
    let mut reader = BufReader::new(file);
    let mut raw = String::new();
    reader.read_line(&mut raw).map_err(io("reading", path))?;
    let raw = raw.trim_end_matches('\n');
    if raw.is_empty() {
        return Ok(None);
    }
    parse(raw, path).map(Some)
}

fn last_line(path: &Path) -> Result<Option<(String, Line)>, AuditError> {
    let text = std::fs::read_to_string(path).map_err(io("reading", path))?;
    let Some(raw) = text.lines().rev().find(|l| !l.is_empty()) else {
        return Ok(None);
    };
    let line = parse(raw, path)?;
    Ok(Some((raw.to_string(), line)))
}

fn parse(raw: &str, path: &Path) -> Result<Line, AuditError> {
    serde_json::from_str(raw).map_err(|e| AuditError::Damaged {
        path: path.to_owned(),
        reason: format!("not an audit line: {e}"),
    })
}

/// Opens (creating it if missing) the file lines are appended to, readable by its owner only.
fn open_current(current: &Path) -> Result<File, AuditError> {
    let file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(current)
        .map_err(io("opening", current))?;
    restrict(current)?;
    Ok(file)
}

fn restrict(path: &Path) -> Result<(), AuditError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(io("restricting permissions of", path))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn now_text() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// What [`verify`] checks a log against.
#[derive(Clone, Copy, Debug)]
pub struct VerifyOptions<'a> {
    /// The key the lines were authenticated with (derived from the master key).
    pub key: &'a AuditKey,
    /// The newest checkpoint stored for this log; a directory's chain must reach it and agree with it.
    pub checkpoint: Option<&'a Checkpoint>,
    /// Accept lines written before lines carried a MAC (a SHA-256 chain only) instead of failing on them.
    pub accept_legacy: bool,
}

/// What [`verify`] found in an unbroken chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Files checked, in chain order.
    pub files: Vec<PathBuf>,
    /// Lines checked.
    pub lines: u64,
    /// Sequence number of the last line.
    pub last_seq: u64,
    /// Lines of the unauthenticated legacy segment (0 when every line carries a MAC).
    pub legacy_lines: u64,
    /// The sequence number of the checkpoint the log was found to agree with.
    pub checkpoint_seq: Option<u64>,
}

/// Where and how the chain breaks.
#[derive(Debug, Error)]
pub enum VerifyError {
    /// A file could not be read.
    #[error(transparent)]
    Read(#[from] AuditError),
    /// A line is not what the chain expects.
    #[error("{path}:{line}: {reason}")]
    Broken {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    /// There was nothing to verify.
    #[error("{0}: no audit log files")]
    Empty(PathBuf),
    /// The log ends before the checkpoint stored outside it.
    #[error(
        "the log was cut: it ends at sequence {last_seq} but the checkpoint stored outside it records sequence \
         {checkpoint_seq}"
    )]
    CutTail { last_seq: u64, checkpoint_seq: u64 },
    /// The line the checkpoint names is not the one in the log.
    #[error(
        "line {seq} is not the line the checkpoint stored outside the log records (its MAC differs)"
    )]
    CheckpointMismatch { seq: u64 },
    /// Lines without a MAC, and legacy lines were not accepted.
    #[error(
        "{lines} lines (sequence {first} to {last}) are an unauthenticated legacy segment: chained by SHA-256 \
         only, written before audit lines carried a MAC, so whoever can write the files could have rewritten \
         them; give --accept-legacy to accept them"
    )]
    Legacy { lines: u64, first: u64, last: u64 },
}

/// Verifies the chain of a directory (rotated files oldest first, then `audit.log`; the first line must follow
/// the genesis value) or of one file (its first line is taken as the start): every line's MAC under the key and
/// its link to the line before. Any edited, removed, inserted or reordered line is reported with its position.
/// For a directory, the checkpoint (if given) must be reached and match: a cut tail is reported.
pub fn verify(path: &Path, options: VerifyOptions<'_>) -> Result<VerifyReport, VerifyError> {
    let (files, whole) = if path.is_dir() {
        let mut files = rotated_files(path)?;
        let current = path.join(CURRENT_FILE);
        if current.exists() {
            files.push(current);
        }
        (files, true)
    } else {
        (vec![path.to_owned()], false)
    };
    if files.is_empty() {
        return match options.checkpoint {
            Some(c) if whole => Err(VerifyError::CutTail {
                last_seq: 0,
                checkpoint_seq: c.seq,
            }),
            _ => Err(VerifyError::Empty(path.to_owned())),
        };
    }
    let mut expected: Option<(u64, String)> = whole.then(|| (1, GENESIS.to_string()));
    let mut lines = 0u64;
    let mut legacy: Option<(u64, u64)> = None;
    let mut authenticated_seen = false;
    let mut checkpoint_seen = false;
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|source| AuditError::Io {
            action: "reading",
            path: file.clone(),
            source,
        })?;
        for (index, raw) in text.lines().enumerate() {
            let broken = |reason: String| VerifyError::Broken {
                path: file.clone(),
                line: index + 1,
                reason,
            };
            let line: Line =
                serde_json::from_str(raw).map_err(|e| broken(format!("not an audit line: {e}")))?;
            if let Some((seq, prev)) = &expected {
                if line.seq != *seq {
                    return Err(broken(format!(
                        "sequence {} where {seq} was expected (a line was removed, inserted or reordered)",
                        line.seq
                    )));
                }
                if line.prev != *prev {
                    return Err(broken(
                        "its link to the previous line does not match (a line was edited, removed or reordered)"
                            .into(),
                    ));
                }
            }
            let link = match &line.mac {
                Some(mac) => {
                    let body = body_of(raw, mac)
                        .ok_or_else(|| broken("the MAC is not the line's last field".into()))?;
                    if !options.key.check(body.as_bytes(), mac) {
                        return Err(broken(
                            "its MAC does not verify (the line was edited, or written under another master key)"
                                .into(),
                        ));
                    }
                    authenticated_seen = true;
                    if let Some(c) = options.checkpoint
                        && whole
                        && c.seq == line.seq
                    {
                        if c.mac != *mac {
                            return Err(VerifyError::CheckpointMismatch { seq: c.seq });
                        }
                        checkpoint_seen = true;
                    }
                    mac.clone()
                }
                None => {
                    if authenticated_seen {
                        return Err(broken(
                            "a line without a MAC after authenticated lines (lines were replaced)"
                                .into(),
                        ));
                    }
                    legacy =
                        Some(legacy.map_or((line.seq, line.seq), |(first, _)| (first, line.seq)));
                    hex::encode(sha256(raw.as_bytes()))
                }
            };
            expected = Some((line.seq.saturating_add(1), link));
            lines += 1;
        }
    }
    let last_seq = expected.map_or(0, |(next, _)| next.saturating_sub(1));
    if let Some(c) = options.checkpoint
        && whole
        && !checkpoint_seen
    {
        if last_seq < c.seq {
            return Err(VerifyError::CutTail {
                last_seq,
                checkpoint_seq: c.seq,
            });
        }
        // The log reaches past the checkpoint, yet its line was not authenticated: it was replaced.
        return Err(VerifyError::CheckpointMismatch { seq: c.seq });
    }
    let legacy_lines = legacy.map_or(0, |(first, last)| last - first + 1);
    if let Some((first, last)) = legacy
        && !options.accept_legacy
    {
        return Err(VerifyError::Legacy {
            lines: legacy_lines,
            first,
            last,
        });
    }
    Ok(VerifyReport {
        files,
        lines,
        last_seq,
        legacy_lines,
        checkpoint_seq: options.checkpoint.filter(|_| whole).map(|c| c.seq),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AuditKey {
        AuditKey::derive(&MasterKey::from_bytes([7; 32])).unwrap()
    }

    fn options(key: &AuditKey) -> VerifyOptions<'_> {
        VerifyOptions {
            key,
            checkpoint: None,
            accept_legacy: false,
        }
    }

    fn event(n: usize) -> AuditEvent {
        AuditEvent {
            identity: format!("client-{n}"),
            source: "127.0.0.1:4000".into(),
            operation: "Get".into(),
            objects: vec![format!("uid-{n}")],
            status: "success",
            reason: None,
            duration: Duration::from_micros(12),
            detail: None,
        }
    }

    fn small() -> AuditSettings {
        AuditSettings {
            max_file_bytes: 800,
            ..AuditSettings::default()
        }
    }

    fn lines_of(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn rewrite(path: &Path, lines: &[String]) {
        let mut text = lines.join("\n");
        text.push('\n');
        std::fs::write(path, text).unwrap();
    }

    fn fresh_log(n: usize) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path(), AuditSettings::default(), key()).unwrap();
        for i in 0..n {
            log.record(&event(i)).unwrap();
        }
        dir
    }

    /// The old, unauthenticated form of a line: no MAC, `prev` the SHA-256 of the line before.
    fn as_legacy(lines: &[String]) -> Vec<String> {
        let mut prev = GENESIS.to_string();
        lines
            .iter()
            .map(|raw| {
                let mut v: serde_json::Value = serde_json::from_str(raw).unwrap();
                let o = v.as_object_mut().unwrap();
                o.remove("mac");
                o.insert("prev".into(), prev.clone().into());
                let text = serde_json::to_string(&v).unwrap();
                prev = hex::encode(sha256(text.as_bytes()));
                text
            })
            .collect()
    }

    #[test]
    fn the_chain_verifies_across_rotation_and_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path(), small(), key()).unwrap();
        for n in 0..10 {
            log.record(&event(n)).unwrap();
        }
        drop(log);
        let log = AuditLog::open(dir.path(), small(), key()).unwrap();
        for n in 10..20 {
            log.record(&event(n)).unwrap();
        }
        let k = key();
        let report = verify(dir.path(), options(&k)).unwrap();
        assert_eq!(report.lines, 20);
        assert_eq!(report.last_seq, 20);
        assert_eq!(report.legacy_lines, 0);
        assert!(report.files.len() > 3, "{:?}", report.files);
        for f in &report.files {
            assert!(std::fs::metadata(f).unwrap().len() <= 800);
        }
        // Across each rotation boundary the first line links to the MAC of the last line before it.
        for pair in report.files.windows(2) {
            let last: serde_json::Value =
                serde_json::from_str(lines_of(&pair[0]).last().unwrap()).unwrap();
            let first: serde_json::Value = serde_json::from_str(&lines_of(&pair[1])[0]).unwrap();
            assert_eq!(first["prev"], last["mac"]);
        }
    }

    #[test]
    fn an_old_file_is_rotated_whatever_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let settings = AuditSettings {
            rotate_after: Duration::from_millis(20),
            ..AuditSettings::default()
        };
        let log = AuditLog::open(dir.path(), settings, key()).unwrap();
        log.record(&event(0)).unwrap();
        log.record(&event(1)).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        log.record(&event(2)).unwrap();
        let k = key();
        let report = verify(dir.path(), options(&k)).unwrap();
        // At least the pause rotated (a slow machine may rotate between the first two lines as well).
        assert!(report.files.len() >= 2, "{:?}", report.files);
        assert_eq!(report.lines, 3);
        assert!(report.files[0].ends_with("audit-00000000000000000001.log"));
    }

    #[test]
    fn edits_insertions_removals_and_reorders_are_detected() {
        type Tamper = (&'static str, fn(&mut Vec<String>));
        let tamper: [Tamper; 6] = [
            ("edit", |l| l[2] = l[2].replace("client-2", "client-9")),
            ("remove", |l| {
                l.remove(3);
            }),
            ("reorder", |l| l.swap(1, 2)),
            ("remove first", |l| {
                l.remove(0);
            }),
            ("insert a copy", |l| {
                let copy = l[1].clone();
                l.insert(2, copy);
            }),
            ("whitespace in the body", |l| {
                l[4] = l[4].replacen("{\"seq\"", "{ \"seq\"", 1)
            }),
        ];
        let k = key();
        for (what, change) in tamper {
            let dir = fresh_log(6);
            let current = dir.path().join(CURRENT_FILE);
            assert!(verify(dir.path(), options(&k)).is_ok());
            let mut lines = lines_of(&current);
            change(&mut lines);
            rewrite(&current, &lines);
            assert!(
                matches!(
                    verify(dir.path(), options(&k)),
                    Err(VerifyError::Broken { .. })
                ),
                "{what} not detected"
            );
        }
    }

    #[test]
    fn an_edited_identity_with_recomputed_hashes_does_not_verify() {
        let k = key();
        let dir = fresh_log(6);
        let current = dir.path().join(CURRENT_FILE);
        let original = lines_of(&current);

        // The attack on a SHA-256 chain: edit line 3's identity, recompute every later link.
        let mut edited = original.clone();
        edited[2] = edited[2].replace("client-2", "mallory");
        let mut tail = as_legacy(&edited);
        // Keep the authenticated prefix, relink the forged tail onto it.
        let mut forged: Vec<String> = original[..2].to_vec();
        let mut prev = serde_json::from_str::<serde_json::Value>(&original[1]).unwrap()["mac"]
            .as_str()
            .unwrap()
            .to_string();
        for raw in tail.drain(2..) {
            let mut v: serde_json::Value = serde_json::from_str(&raw).unwrap();
            v["prev"] = prev.clone().into();
            let text = serde_json::to_string(&v).unwrap();
            prev = hex::encode(sha256(text.as_bytes()));
            forged.push(text);
        }
        rewrite(&current, &forged);
        let err = verify(dir.path(), options(&k)).unwrap_err();
        assert!(
            err.to_string()
                .contains("without a MAC after authenticated"),
            "{err}"
        );

        // Rewritten whole as a legacy chain: refused as unauthenticated unless accepted, and then the
        // checkpoint kept outside the log gives it away.
        rewrite(&current, &as_legacy(&edited));
        let err = verify(dir.path(), options(&k)).unwrap_err();
        assert!(matches!(err, VerifyError::Legacy { lines: 6, .. }), "{err}");
        let checkpoint = Checkpoint {
            seq: 6,
            mac: serde_json::from_str::<serde_json::Value>(&original[5]).unwrap()["mac"]
                .as_str()
                .unwrap()
                .to_string(),
        };
        let accepting = VerifyOptions {
            key: &k,
            checkpoint: Some(&checkpoint),
            accept_legacy: true,
        };
        assert!(matches!(
            verify(dir.path(), accepting),
            Err(VerifyError::CheckpointMismatch { seq: 6 })
        ));

        // MACs recomputed under another key (another master key) do not verify either.
        let other = AuditKey::derive(&MasterKey::from_bytes([8; 32])).unwrap();
        let dir2 = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir2.path(), AuditSettings::default(), other).unwrap();
        for i in 0..3 {
            log.record(&event(i)).unwrap();
        }
        let err = verify(dir2.path(), options(&k)).unwrap_err();
        assert!(err.to_string().contains("MAC does not verify"), "{err}");
    }

    #[test]
    fn a_removed_rotated_file_or_a_line_at_the_boundary_breaks_the_chain() {
        let k = key();
        let make = || {
            let dir = tempfile::tempdir().unwrap();
            let log = AuditLog::open(dir.path(), small(), key()).unwrap();
            for n in 0..12 {
                log.record(&event(n)).unwrap();
            }
            dir
        };
        let dir = make();
        let rotated = rotated_files(dir.path()).unwrap();
        assert!(rotated.len() >= 2);
        std::fs::remove_file(&rotated[1]).unwrap();
        assert!(verify(dir.path(), options(&k)).is_err());

        // The last line of a rotated file removed: the next file's first line no longer links.
        let dir = make();
        let rotated = rotated_files(dir.path()).unwrap();
        let mut lines = lines_of(&rotated[0]);
        lines.pop();
        rewrite(&rotated[0], &lines);
        let err = verify(dir.path(), options(&k)).unwrap_err();
        match err {
            VerifyError::Broken { path, line, .. } => {
                assert_eq!(path, rotated[1]);
                assert_eq!(line, 1);
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn a_cut_tail_is_reported_against_the_checkpoint() {
        let k = key();
        let dir = fresh_log(8);
        let current = dir.path().join(CURRENT_FILE);
        let lines = lines_of(&current);
        let last: serde_json::Value = serde_json::from_str(&lines[7]).unwrap();
        let checkpoint = Checkpoint {
            seq: 8,
            mac: last["mac"].as_str().unwrap().to_string(),
        };
        let with = VerifyOptions {
            key: &k,
            checkpoint: Some(&checkpoint),
            accept_legacy: false,
        };
        assert_eq!(verify(dir.path(), with).unwrap().checkpoint_seq, Some(8));
        // Without the checkpoint the shorter chain is valid; with it, the cut shows.
        rewrite(&current, &lines[..5]);
        assert!(verify(dir.path(), options(&k)).is_ok());
        let err = verify(dir.path(), with).unwrap_err();
        assert!(
            matches!(
                err,
                VerifyError::CutTail {
                    last_seq: 5,
                    checkpoint_seq: 8
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("cut"), "{err}");
        // Everything removed.
        std::fs::remove_file(&current).unwrap();
        assert!(matches!(
            verify(dir.path(), with),
            Err(VerifyError::CutTail { last_seq: 0, .. })
        ));
    }

    #[test]
    fn checkpoints_are_stored_in_the_store_by_lines_and_at_close() {
        let store_dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            ZonedStore::single(Arc::new(
                Store::open(
                    &store_dir.path().join("s.sqlite"),
                    MasterKey::from_bytes([7; 32]),
                )
                .unwrap(),
            ))
            .unwrap(),
        );
        let dir = tempfile::tempdir().unwrap();
        let settings = AuditSettings {
            checkpoint_every_lines: 3,
            checkpoint_interval: Duration::ZERO,
            ..AuditSettings::default()
        };
        let log = Arc::new(AuditLog::open(dir.path(), settings, key()).unwrap());
        log.start_checkpoints(store.clone(), "local").unwrap();
        for n in 0..4 {
            log.record(&event(n)).unwrap();
        }
        // The third line woke the checkpoint thread.
        let deadline = Instant::now() + Duration::from_secs(20);
        let stored = loop {
            if let Some(c) = stored_checkpoint(&store, "local").unwrap() {
                break c;
            }
            assert!(Instant::now() < deadline, "no checkpoint stored");
            std::thread::yield_now();
        };
        assert!(stored.seq >= 3, "{stored:?}");
        log.record(&event(4)).unwrap();
        // Close stores the last line's checkpoint, unless the checkpoint thread (woken by the lines above) has
        // just stored that very one: either way the last line is checkpointed.
        let closed = match log.close().unwrap() {
            Some(closed) => closed,
            None => stored_checkpoint(&store, "local").unwrap().unwrap(),
        };
        assert_eq!(closed.seq, 5);
        assert_eq!(
            stored_checkpoint(&store, "local").unwrap(),
            Some(closed.clone())
        );
        let k = key();
        let with = VerifyOptions {
            key: &k,
            checkpoint: Some(&closed),
            accept_legacy: false,
        };
        assert_eq!(verify(dir.path(), with).unwrap().checkpoint_seq, Some(5));
        // Nothing new: no second checkpoint.
        assert_eq!(log.close().unwrap(), None);
    }

    #[test]
    fn a_legacy_log_is_continued_and_reported_as_unauthenticated() {
        let k = key();
        let dir = fresh_log(3);
        let current = dir.path().join(CURRENT_FILE);
        rewrite(&current, &as_legacy(&lines_of(&current)));
        let log = AuditLog::open(dir.path(), AuditSettings::default(), key()).unwrap();
        log.record(&event(3)).unwrap();
        let err = verify(dir.path(), options(&k)).unwrap_err();
        assert!(
            matches!(
                err,
                VerifyError::Legacy {
                    lines: 3,
                    first: 1,
                    last: 3
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("unauthenticated legacy segment"));
        let accepting = VerifyOptions {
            accept_legacy: true,
            ..options(&k)
        };
        let report = verify(dir.path(), accepting).unwrap();
        assert_eq!((report.lines, report.legacy_lines), (4, 3));
    }

    #[test]
    fn refused_connections_are_rate_limited_and_summarised() {
        let dir = tempfile::tempdir().unwrap();
        let settings = AuditSettings {
            refused_lines_per_window: 2,
            refused_window: Duration::from_secs(3600),
            refused_summary_addresses: 1,
            ..AuditSettings::default()
        };
        let log = AuditLog::open(dir.path(), settings, key()).unwrap();
        let a: SocketAddr = "10.0.0.1:1000".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:1000".parse().unwrap();
        for _ in 0..5 {
            log.record_refusal(a, None, "address not in the allow-list")
                .unwrap();
        }
        log.record_refusal(b, Some("bob"), "TLS handshake failed")
            .unwrap();
        let lines = lines_of(&dir.path().join(CURRENT_FILE));
        assert_eq!(lines.len(), 2, "{lines:?}");
        log.flush_refusals(true).unwrap();
        let lines: Vec<serde_json::Value> = lines_of(&dir.path().join(CURRENT_FILE))
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0]["operation"], REFUSED_OPERATION);
        assert_eq!(lines[0]["reason"], "address not in the allow-list");
        assert_eq!(lines[2]["operation"], REFUSED_SUMMARY_OPERATION);
        assert_eq!(lines[2]["reason"], "3 more refused from 10.0.0.1");
        // Beyond the counted addresses, one count for the rest.
        assert_eq!(lines[3]["reason"], "1 more refused from other addresses");
        let k = key();
        assert_eq!(verify(dir.path(), options(&k)).unwrap().lines, 4);
    }

    #[test]
    fn a_replaced_file_is_noticed_and_a_directory_in_its_place_fails_the_write() {
        let dir = fresh_log(2);
        let log = AuditLog::open(dir.path(), AuditSettings::default(), key()).unwrap();
        let current = dir.path().join(CURRENT_FILE);
        std::fs::rename(&current, dir.path().join("moved")).unwrap();
        std::fs::create_dir(&current).unwrap();
        assert!(matches!(log.record(&event(2)), Err(AuditError::Io { .. })));
        // Back in place: the writer reopens it and goes on.
        std::fs::remove_dir(&current).unwrap();
        std::fs::rename(dir.path().join("moved"), &current).unwrap();
        log.record(&event(2)).unwrap();
        let k = key();
        assert_eq!(verify(dir.path(), options(&k)).unwrap().lines, 3);
    }

    #[test]
    fn a_partial_last_line_is_dropped_on_reopen() {
        let dir = fresh_log(3);
        let current = dir.path().join(CURRENT_FILE);
        let mut f = OpenOptions::new().append(true).open(&current).unwrap();
        f.write_all(b"{\"seq\":4,\"ti").unwrap();
        drop(f);
        let log = AuditLog::open(dir.path(), AuditSettings::default(), key()).unwrap();
        log.record(&event(3)).unwrap();
        let k = key();
        assert_eq!(verify(dir.path(), options(&k)).unwrap().lines, 4);
    }

    #[test]
    fn lines_carry_no_more_than_the_event() {
        let dir = fresh_log(1);
        let line = lines_of(&dir.path().join(CURRENT_FILE)).remove(0);
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        for k in [
            "seq",
            "time",
            "identity",
            "source",
            "operation",
            "objects",
            "status",
            "duration_us",
            "prev",
            "mac",
        ] {
            assert!(keys.contains(&k), "{k} missing from {line}");
        }
        assert_eq!(value["prev"], GENESIS);
        assert!(line.ends_with(&mac_suffix(value["mac"].as_str().unwrap())));
    }

    #[test]
    fn checkpoints_are_stored_by_time_when_few_lines_are_written() {
        let store_dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            ZonedStore::single(Arc::new(
                Store::open(
                    &store_dir.path().join("s.sqlite"),
                    MasterKey::from_bytes([7; 32]),
                )
                .unwrap(),
            ))
            .unwrap(),
        );
        let dir = tempfile::tempdir().unwrap();
        let settings = AuditSettings {
            checkpoint_every_lines: 1_000_000,
            checkpoint_interval: Duration::from_millis(1),
            ..AuditSettings::default()
        };
        let log = Arc::new(AuditLog::open(dir.path(), settings, key()).unwrap());
        log.start_checkpoints(store.clone(), "timed").unwrap();
        log.record(&event(0)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while stored_checkpoint(&store, "timed").unwrap().is_none() {
            assert!(Instant::now() < deadline, "no checkpoint stored by time");
            std::thread::yield_now();
        }
        assert_eq!(stored_checkpoint(&store, "timed").unwrap().unwrap().seq, 1);
    }

    #[test]
    fn the_key_is_hkdf_of_the_master_key_with_the_documented_label() {
        assert_eq!(
            KEY_INFO,
            b"kmipd audit v2 line authentication key (HMAC-SHA256)"
        );
        let master = MasterKey::from_bytes([7; 32]);
        let mut expected = [0u8; 32];
        Hkdf::<Sha256>::new(None, &[7; 32])
            .expand(KEY_INFO, &mut expected)
            .unwrap();
        assert_eq!(AuditKey::derive(&master).unwrap().0.as_slice(), &expected);
    }

    #[test]
    fn the_key_is_derived_with_its_own_label() {
        let master = MasterKey::from_bytes([7; 32]);
        let a = AuditKey::derive(&master).unwrap();
        let b = AuditKey::derive(&MasterKey::from_bytes([8; 32])).unwrap();
        assert_ne!(a.0.as_slice(), b.0.as_slice());
        assert_ne!(a.0.as_slice(), master.bytes().as_slice());
        assert_eq!(format!("{a:?}"), "AuditKey(<redacted>)");
    }
}
