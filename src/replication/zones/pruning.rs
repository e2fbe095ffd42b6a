//! Pruning the change log: a change leaves once every zone and every remote copy holds it, it is older than the
//! retention and not among the newest kept; and re-seeding an empty zone from a snapshot once what it lacks is
//! no longer in the log (a copy holding some changes is refused instead, never skipped ahead).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard, PoisonError, Weak};
use std::time::{Duration, SystemTime};

#[cfg(test)]
use super::ZonesConfig;
use super::{Inner, Zone, ZoneState, ZonedStore};
use crate::store::{DB_FILE_NAME, Store, StoreError};

/// When changes leave the log. A change is pruned only once every zone and every remote copy holds it AND it
/// is older than `retention` AND it is not among the `keep_min` newest: a zone that returns or a remote that
/// lags catches up from the log; one that needs a pruned change is refused and re-seeded, never silently
/// skipped ahead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeLogPolicy {
    /// Changes younger than this are always kept (default 7 days).
    pub retention: Duration,
    /// The newest changes always kept, whatever their age (default 10,000; at least 1 is always kept, so a
    /// returning copy can be checked against the log's last change).
    pub keep_min: u64,
    /// How often `kmipd serve` prunes (default 10 minutes).
    pub interval: Duration,
    /// Most change rows removed from each zone in one pass (default 10,000): bounds how long the writer is
    /// held; a longer backlog goes over several passes.
    pub batch_max: usize,
}

impl Default for ChangeLogPolicy {
    fn default() -> Self {
        ChangeLogPolicy {
            retention: Duration::from_secs(7 * 24 * 3600),
            keep_min: 10_000,
            interval: Duration::from_secs(600),
            batch_max: 10_000,
        }
    }
}

/// What one pruning pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Change rows removed from each local zone (the same in every zone).
    pub removed: usize,
    /// The highest sequence number every zone and remote copy holds (what pruning may not go beyond).
    pub held_by_all: u64,
    /// Why nothing was pruned, when nothing could be (a zone down, a follower node).
    pub held_back: Option<String>,
}

impl ZonedStore {
    /// Declares a copy outside the zones (a remote region) that follows the stream: the change log is not
    /// pruned beyond what it holds. Until it reports (see [`ZonedStore::copy_holds`]) it counts as holding
    /// nothing, so a copy not reached since the start holds pruning back.
    pub fn track_copy(&self, name: &str) {
        self.copies().entry(name.to_string()).or_insert(0);
    }

    /// Records that copy `name` durably holds every change up to `seq`.
    pub fn copy_holds(&self, name: &str, seq: u64) {
        self.copies().insert(name.to_string(), seq);
    }

    fn copies(&self) -> MutexGuard<'_, HashMap<String, u64>> {
        self.inner
            .copies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// One pruning pass under [`ZonesConfig::change_log`]: removes, from every local zone's log, the oldest
    /// changes every zone and every tracked copy holds that are older than the retention and not among the
    /// newest kept; bounded to `batch_max` rows per zone. Nothing is pruned while a zone is down (it will
    /// catch up from the log when it returns) or on a follower node (the sequencer decides what copies hold).
    pub fn prune_change_log(&self) -> Result<PruneReport, StoreError> {
        self.inner.prune_change_log()
    }

    /// Prunes every `change_log.interval` on a thread of its own until the store is dropped (`kmipd serve`
    /// starts it once remote copies are tracked).
    pub fn start_pruning(&self) {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let interval = self.inner.config.change_log.interval;
        let spawned = std::thread::Builder::new()
            .name("kmipd-prune".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(interval);
                    let Some(inner) = weak.upgrade() else { return };
                    let pruned = inner.prune_change_log();
                    inner.prune_passes.fetch_add(1, Ordering::SeqCst);
                    match pruned {
                        Ok(report) if report.removed > 0 => {
                            tracing::info!(
                                removed = report.removed,
                                held_by_all = report.held_by_all,
                                "change log pruned"
                            );
                        }
                        Ok(report) => {
                            tracing::debug!(
                                held_back = report.held_back.as_deref(),
                                "nothing to prune"
                            );
                        }
                        Err(e) => tracing::warn!(error = %e, "pruning the change log failed"),
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start change-log pruning; the log grows until restart");
        }
    }
}

impl Inner {
    /// See [`ZonedStore::prune_change_log`]. Runs under the ship lock, so no zone goes down or catches up
    /// while the horizon is computed and applied.
    pub(super) fn prune_change_log(&self) -> Result<PruneReport, StoreError> {
        self.prune_by(&self.config.change_log)
    }

    /// Tests: one pass under another policy.
    #[cfg(test)]
    pub(super) fn prune_with(zones: &ZonedStore, config: ZonesConfig) -> PruneReport {
        zones.inner.prune_by(&config.change_log).unwrap()
    }

    pub(super) fn prune_by(&self, policy: &ChangeLogPolicy) -> Result<PruneReport, StoreError> {
        let held_back = |reason: String| {
            Ok(PruneReport {
                held_back: Some(reason),
                ..PruneReport::default()
            })
        };
        if self
            .forward
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
        {
            return held_back("a follower node keeps its log; the sequencer prunes".into());
        }
        let _ship = self.lock_ship();
        let Some(sequencer) = self.zones.first().and_then(Zone::store) else {
            return held_back("the sequencer zone is down".into());
        };
        let last = sequencer.last_seq()?;
        let mut held_by_all = last;
        for zone in self.zones.iter().skip(1) {
            match &*zone.read() {
                ZoneState::Up { applied, .. } => held_by_all = held_by_all.min(*applied),
                ZoneState::Down { .. } => {
                    return held_back(format!(
                        "zone {} is down: its changes stay in the log until it returns",
                        zone.spec.name
                    ));
                }
            }
        }
        let copies = self
            .copies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for held in copies.values() {
            held_by_all = held_by_all.min(*held);
        }
        // Keep the last change every copy holds (a returning copy is checked against it) and the newest
        // `keep_min`.
        let up_to = held_by_all
            .saturating_sub(1)
            .min(last.saturating_sub(policy.keep_min.max(1)));
        let mut report = PruneReport {
            held_by_all,
            ..PruneReport::default()
        };
        if up_to == 0 {
            return Ok(report);
        }
        let retention_ms = i64::try_from(policy.retention.as_millis()).unwrap_or(i64::MAX);
        let now_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let cutoff_ms = now_ms.saturating_sub(retention_ms);
        for zone in &self.zones {
            let Some(store) = zone.store() else { continue };
            let removed = store
                .prune_changes_older_than(up_to, cutoff_ms, policy.batch_max.max(1))
                .map_err(|e| self.zone_error(zone, e))?;
            report.removed = report.removed.max(removed);
        }
        Ok(report)
    }

    /// Replaces the file of `zone` (down, closed) with a snapshot of `seed`, a zone that is up: how an empty
    /// zone returns once the changes it lacks were pruned from the log, and how a zone sheds changes it alone
    /// holds from a refused commit (`why` says which, for the log). The snapshot is written beside the file,
    /// then renamed over it and the directory fsynced. Must hold the ship lock.
    pub(super) fn reseed(
        &self,
        zone: &Zone,
        seed: &Store,
        seed_name: &str,
        why: &str,
    ) -> Result<u64, StoreError> {
        let io = |action: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io {
                action,
                path,
                source,
            }
        };
        let tmp = zone.spec.dir.join(format!("{DB_FILE_NAME}.reseed"));
        remove_if_present(&tmp).map_err(io("removing", &tmp))?;
        let seq = seed.snapshot_to(&tmp)?;
        for suffix in ["-wal", "-shm"] {
            let mut name = zone.path.clone().into_os_string();
            name.push(suffix);
            let side = PathBuf::from(name);
            remove_if_present(&side).map_err(io("removing", &side))?;
        }
        std::fs::rename(&tmp, &zone.path).map_err(io("renaming the snapshot to", &zone.path))?;
        crate::private_fs::sync_dir(&zone.spec.dir).map_err(io("syncing", &zone.spec.dir))?;
        tracing::warn!(zone = %zone.spec.name, from = %seed_name, last_seq = seq, %why,
            "zone re-seeded from a snapshot of the other zone");
        Ok(seq)
    }
}

/// Removes `path`; a file that is not there is fine.
pub(super) fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
