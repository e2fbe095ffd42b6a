//! What was acknowledged, kept across restarts for the embedded zones: a zone that starts alone (the other
//! cannot be opened) serves reads only if it holds at least the highest sequence number acknowledged before.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use super::Inner;

/// File in the data directory where the embedded zones record the highest sequence number acknowledged (every
/// `recheck_interval` and on shutdown): at start, a zone that is alone because the other cannot be opened
/// serves reads only if it holds at least this much.
pub const ACKED_FILE: &str = "zones-acked";

impl Inner {
    /// At start, after aligning the zones that opened. All up: they agree, and what they hold is what was
    /// acknowledged (written down, so a restore that rolled both back also resets it). A zone missing: the
    /// others serve reads only if they hold at least what was acknowledged before the restart (and are not
    /// empty); otherwise reads wait, refused, until the missing zone returns and they catch up from it.
    pub(super) fn check_alone_is_current(&self) {
        let Some(file) = &self.acked_file else { return };
        let down: Vec<&str> = self
            .zones
            .iter()
            .filter(|z| z.replica().is_none())
            .map(|z| z.spec.name.as_str())
            .collect();
        if down.is_empty() {
            self.persist_acked();
            return;
        }
        let held = self.acked.load(Ordering::SeqCst);
        let before = read_acked(file);
        let down = down.join(", ");
        let refusal = if held == 0 {
            Some(format!(
                "this zone is empty and zone {down} cannot be opened: reads wait until it returns"
            ))
        } else if held < before {
            Some(format!(
                "this zone holds sequence {held} but {before} was acknowledged before kmipd stopped, and \
                 zone {down}, which holds the rest, cannot be opened: reads wait until it returns"
            ))
        } else {
            None
        };
        if let Some(reason) = refusal {
            tracing::error!(%reason, "zones behind at start");
            self.refuse_reads(Some(reason));
        }
        self.acked.fetch_max(before, Ordering::SeqCst);
    }

    /// Writes `acked` to [`ACKED_FILE`] when it changed (new file, fsync, rename, directory fsync). A failure
    /// is logged: the file only sharpens the start-up check, it guards nothing acknowledged.
    pub(super) fn persist_acked(&self) {
        let Some(file) = &self.acked_file else { return };
        let acked = self.acked.load(Ordering::SeqCst);
        if self.acked_written.swap(acked, Ordering::SeqCst) == acked {
            return;
        }
        if let Err(e) = write_acked(file, acked) {
            self.acked_written.store(u64::MAX, Ordering::SeqCst);
            tracing::warn!(path = %file.display(), error = %e, "cannot record the acknowledged sequence");
        }
    }
}

/// The sequence number in [`ACKED_FILE`] (0 when there is none or it is unreadable).
pub(super) fn read_acked(path: &Path) -> u64 {
    match std::fs::read_to_string(path) {
        Ok(text) => text.trim().parse().unwrap_or_else(|_| {
            tracing::warn!(path = %path.display(), "ignoring a malformed acknowledged-sequence file");
            0
        }),
        Err(_) => 0,
    }
}

pub(super) fn write_acked(path: &Path, acked: u64) -> std::io::Result<()> {
    use std::io::Write;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp)?;
    writeln!(f, "{acked}")?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        crate::private_fs::sync_dir(dir)?;
    }
    Ok(())
}
