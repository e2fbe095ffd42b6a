//! The `[backup]` section of the configuration: how often, where, and for how long backups are kept.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::container::{MAX_CHUNK_BYTES, MIN_CHUNK_BYTES};
use super::error::BackupError;
use crate::settings_text::duration_text;

/// Default time between scheduled backups: the most a region loses when it and its remote copy are lost.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Default age after which backups are pruned.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// Default plaintext bytes per encrypted chunk (memory used is about two chunks).
pub const DEFAULT_CHUNK_BYTES: usize = 1 << 20;
/// Shortest interval accepted (a backup copies the whole store).
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Backup settings. Without destinations, backups go to two directories beside the data directory:
/// `<parent>/<name>-backups-1` and `<parent>/<name>-backups-2` for a data directory `<parent>/<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// Whether `kmipd serve` takes scheduled backups (the commands work either way).
    pub enabled: bool,
    /// Time between scheduled backups; the first is taken when the server starts.
    #[serde(deserialize_with = "duration_text")]
    pub interval: Duration,
    /// Backups older than this are deleted after each scheduled backup (the newest one is always kept).
    #[serde(deserialize_with = "duration_text")]
    pub retention: Duration,
    /// Directories each backup is written to (every one gets a full copy); none inside the data directory.
    pub destinations: Vec<PathBuf>,
    /// Plaintext bytes per encrypted chunk.
    pub chunk_bytes: usize,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            enabled: true,
            interval: DEFAULT_INTERVAL,
            retention: DEFAULT_RETENTION,
            destinations: Vec::new(),
            chunk_bytes: DEFAULT_CHUNK_BYTES,
        }
    }
}

impl BackupConfig {
    /// The destinations in force for a server whose data directory is `data_dir`.
    pub fn destinations_for(&self, data_dir: &Path) -> Vec<PathBuf> {
        if !self.destinations.is_empty() {
            return self.destinations.clone();
        }
        let absolute = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        let parent = absolute.parent().unwrap_or(Path::new("/"));
        let name = absolute
            .file_name()
            .map_or_else(|| "kmipd-data".into(), |n| n.to_string_lossy().into_owned());
        (1..=2)
            .map(|i| parent.join(format!("{name}-backups-{i}")))
            .collect()
    }

    /// Refuses settings that would make backups useless: a destination inside (or equal to) the data
    /// directory, the same destination twice, a zero retention, a sub-second interval, a chunk size out of range.
    pub fn validate(&self, data_dir: &Path) -> Result<(), BackupError> {
        let invalid = |m: String| Err(BackupError::Config(m));
        if self.interval < MIN_INTERVAL {
            return invalid("backup.interval must be at least 1s".into());
        }
        if self.retention.is_zero() {
            return invalid("backup.retention must be longer than 0".into());
        }
        if !(MIN_CHUNK_BYTES..=MAX_CHUNK_BYTES).contains(&self.chunk_bytes) {
            return invalid(format!(
                "backup.chunk_bytes must be within {MIN_CHUNK_BYTES}..={MAX_CHUNK_BYTES}"
            ));
        }
        let data = normalize(data_dir);
        let destinations: Vec<PathBuf> = self
            .destinations_for(data_dir)
            .iter()
            .map(|d| normalize(d))
            .collect();
        for (i, dest) in destinations.iter().enumerate() {
            if dest.starts_with(&data) {
                return invalid(format!(
                    "backup destination {} is inside the data directory {}; backups must survive its loss",
                    dest.display(),
                    data.display()
                ));
            }
            if destinations.iter().take(i).any(|d| d == dest) {
                return invalid(format!(
                    "backup destination {} is listed twice",
                    dest.display()
                ));
            }
        }
        Ok(())
    }

    /// Makes relative destinations relative to `base` (the configuration file's directory).
    pub fn resolve_relative_to(&mut self, base: &Path) {
        for d in &mut self.destinations {
            if d.is_relative() {
                *d = base.join(&*d);
            }
        }
    }
}

/// An absolute path with `.` and `..` resolved lexically (symbolic links followed where the path exists).
fn normalize(path: &Path) -> PathBuf {
    if let Ok(real) = path.canonicalize() {
        return real;
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for c in absolute.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
