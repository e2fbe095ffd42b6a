//! The audit log: one JSON line per batch item (time, identity, source address, operation, object
//! identifiers, result status and reason, duration; never key material), each carrying the SHA-256 of the line
//! before it, so that an edited, removed or reordered line breaks the chain. The current file is `audit.log`;
//! when it reaches the size limit (or the age limit) it is renamed `audit-<first seq>.log` and a new one begun,
//! whose first line chains to the last line of the old one. [`verify`] checks a file or a whole directory.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::sha256;

/// Name of the file being written.
pub const CURRENT_FILE: &str = "audit.log";
/// The `prev` of the first line ever written.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

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
    #[serde(deserialize_with = "crate::server::config::duration_text")]
    pub rotate_after: Duration,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            enabled: true,
            dir: None,
            max_file_bytes: 64 << 20,
            rotate_after: Duration::from_secs(24 * 3600),
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
    /// "success" or "failure".
    pub status: &'static str,
    /// The Result Reason of a failure.
    pub reason: Option<String>,
    /// Time spent on the item.
    pub duration: Duration,
}

/// One line as written (field order is fixed by this struct).
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
    prev: String,
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
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> AuditError + 'a {
    move |source| AuditError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

struct Writer {
    file: File,
    size: u64,
    opened: Instant,
    /// Sequence number of the first line of the current file (its name once rotated).
    first_seq: Option<u64>,
    seq: u64,
    prev: String,
}

/// An open audit log; `Send + Sync`, lines are appended under a lock so the chain stays in order.
pub struct AuditLog {
    dir: PathBuf,
    settings: AuditSettings,
    writer: Mutex<Writer>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").field("dir", &self.dir).finish()
    }
}

impl AuditLog {
    /// Opens the log in `dir` (created if missing), continuing the chain of what is already there.
    pub fn open(dir: &Path, settings: AuditSettings) -> Result<AuditLog, AuditError> {
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
        let first_seq = first_line(&current)?.map(|l| l.seq);
        if tail.is_none()
            && let Some(newest) = rotated_files(dir)?.pop()
        {
            tail = last_line(&newest)?;
        }
        let (seq, prev) = match tail {
            None => (0, GENESIS.to_string()),
            Some((raw, line)) => (line.seq, hex::encode(sha256(raw.as_bytes()))),
        };
        Ok(AuditLog {
            dir: dir.to_owned(),
            settings,
            writer: Mutex::new(Writer {
                file,
                size,
                opened: Instant::now(),
                first_seq,
                seq,
                prev,
            }),
        })
    }

    /// The directory the log is in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one line for `event`, rotating first when the current file is full or old.
    pub fn record(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let mut w = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let line = Line {
            seq: w.seq + 1,
            time: now_text(),
            identity: event.identity.clone(),
            source: event.source.clone(),
            operation: event.operation.clone(),
            objects: event.objects.clone(),
            status: event.status.to_string(),
            reason: event.reason.clone(),
            duration_us: u64::try_from(event.duration.as_micros()).unwrap_or(u64::MAX),
            prev: w.prev.clone(),
        };
        let text = serde_json::to_string(&line).map_err(|e| AuditError::Damaged {
            path: self.dir.clone(),
            reason: format!("cannot encode a line: {e}"),
        })?;
        let len = text.len() as u64 + 1;
        let too_big = w.size > 0 && w.size + len > self.settings.max_file_bytes;
        let too_old = w.size > 0
            && !self.settings.rotate_after.is_zero()
            && w.opened.elapsed() >= self.settings.rotate_after;
        if too_big || too_old {
            self.rotate(&mut w)?;
        }
        let current = self.dir.join(CURRENT_FILE);
        let mut bytes = text.clone().into_bytes();
        bytes.push(b'\n');
        w.file
            .write_all(&bytes)
            .and_then(|()| w.file.flush())
            .map_err(io("writing", &current))?;
        w.size += len;
        w.seq = line.seq;
        w.first_seq.get_or_insert(line.seq);
        w.prev = hex::encode(sha256(text.as_bytes()));
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

/// What [`verify`] found in an unbroken chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Files checked, in chain order.
    pub files: Vec<PathBuf>,
    /// Lines checked.
    pub lines: u64,
    /// Sequence number of the last line.
    pub last_seq: u64,
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
}

/// Verifies the chain of a directory (rotated files oldest first, then `audit.log`; the first line must follow
/// the genesis value) or of one file (its first line is taken as the start). Any edited, removed, inserted or
/// reordered line is reported with its position.
pub fn verify(path: &Path) -> Result<VerifyReport, VerifyError> {
    let (files, from_genesis) = if path.is_dir() {
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
        return Err(VerifyError::Empty(path.to_owned()));
    }
    let mut expected: Option<(u64, String)> = from_genesis.then(|| (1, GENESIS.to_string()));
    let mut lines = 0u64;
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
                        "hash of the previous line does not match (a line was edited, removed or reordered)"
                            .into(),
                    ));
                }
            }
            expected = Some((line.seq + 1, hex::encode(sha256(raw.as_bytes()))));
            lines += 1;
        }
    }
    Ok(VerifyReport {
        files,
        lines,
        last_seq: expected.map_or(0, |(next, _)| next - 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: usize) -> AuditEvent {
        AuditEvent {
            identity: format!("client-{n}"),
            source: "127.0.0.1:4000".into(),
            operation: "Get".into(),
            objects: vec![format!("uid-{n}")],
            status: "success",
            reason: None,
            duration: Duration::from_micros(12),
        }
    }

    fn small() -> AuditSettings {
        AuditSettings {
            max_file_bytes: 600,
            ..AuditSettings::default()
        }
    }

    #[test]
    fn the_chain_verifies_across_rotation_and_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path(), small()).unwrap();
        for n in 0..10 {
            log.record(&event(n)).unwrap();
        }
        drop(log);
        let log = AuditLog::open(dir.path(), small()).unwrap();
        for n in 10..20 {
            log.record(&event(n)).unwrap();
        }
        let report = verify(dir.path()).unwrap();
        assert_eq!(report.lines, 20);
        assert_eq!(report.last_seq, 20);
        assert!(report.files.len() > 3, "{:?}", report.files);
        for f in &report.files {
            assert!(std::fs::metadata(f).unwrap().len() <= 600);
        }
    }

    #[test]
    fn an_old_file_is_rotated_whatever_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let settings = AuditSettings {
            rotate_after: Duration::from_millis(20),
            ..AuditSettings::default()
        };
        let log = AuditLog::open(dir.path(), settings).unwrap();
        log.record(&event(0)).unwrap();
        log.record(&event(1)).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        log.record(&event(2)).unwrap();
        let report = verify(dir.path()).unwrap();
        // At least the pause rotated (a slow machine may rotate between the first two lines as well).
        assert!(report.files.len() >= 2, "{:?}", report.files);
        assert_eq!(report.lines, 3);
        assert!(report.files[0].ends_with("audit-00000000000000000001.log"));
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
        let log = AuditLog::open(dir.path(), AuditSettings::default()).unwrap();
        for i in 0..n {
            log.record(&event(i)).unwrap();
        }
        dir
    }

    #[test]
    fn edits_removals_and_reorders_are_detected() {
        type Tamper = (&'static str, fn(&mut Vec<String>));
        let tamper: [Tamper; 4] = [
            ("edit", |l| l[2] = l[2].replace("client-2", "client-9")),
            ("remove", |l| {
                l.remove(3);
            }),
            ("reorder", |l| l.swap(1, 2)),
            ("remove first", |l| {
                l.remove(0);
            }),
        ];
        for (what, change) in tamper {
            let dir = fresh_log(6);
            let current = dir.path().join(CURRENT_FILE);
            assert!(verify(dir.path()).is_ok());
            let mut lines = lines_of(&current);
            change(&mut lines);
            rewrite(&current, &lines);
            assert!(
                matches!(verify(dir.path()), Err(VerifyError::Broken { .. })),
                "{what} not detected"
            );
        }
    }

    #[test]
    fn a_removed_rotated_file_breaks_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path(), small()).unwrap();
        for n in 0..12 {
            log.record(&event(n)).unwrap();
        }
        let rotated = rotated_files(dir.path()).unwrap();
        assert!(rotated.len() >= 2);
        std::fs::remove_file(&rotated[1]).unwrap();
        assert!(verify(dir.path()).is_err());
    }

    #[test]
    fn a_partial_last_line_is_dropped_on_reopen() {
        let dir = fresh_log(3);
        let current = dir.path().join(CURRENT_FILE);
        let mut f = OpenOptions::new().append(true).open(&current).unwrap();
        f.write_all(b"{\"seq\":4,\"ti").unwrap();
        drop(f);
        let log = AuditLog::open(dir.path(), AuditSettings::default()).unwrap();
        log.record(&event(3)).unwrap();
        assert_eq!(verify(dir.path()).unwrap().lines, 4);
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
        ] {
            assert!(keys.contains(&k), "{k} missing from {line}");
        }
        assert_eq!(value["prev"], GENESIS);
    }
}
