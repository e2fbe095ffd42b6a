//! The backup task inside `kmipd serve`: one backup when the server starts and one every interval after,
//! each followed by pruning. Backups run one at a time on the blocking pool, so a slow disk delays the next
//! backup instead of piling them up; every outcome is logged.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::Backups;
use crate::store::Store;

/// Where each scheduled backup takes its snapshot from: called once per backup, it yields a store that is up
/// right now (with zones, the first zone that is up), or `None` when there is none (the backup is skipped and
/// logged). A closure keeps this module free of how the server arranges its stores.
pub type StoreSource = Box<dyn Fn() -> Option<Arc<Store>> + Send + Sync>;

/// Starts the scheduler on the current tokio runtime; abort the handle to stop it.
pub fn spawn(source: StoreSource, backups: Arc<Backups>, interval: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let Some(store) = source() else {
                tracing::error!("scheduled backup skipped: no store is up");
                continue;
            };
            let backups = backups.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                let made = backups.create(&store);
                let pruned = backups.prune(std::time::SystemTime::now());
                (made, pruned)
            })
            .await;
            match outcome {
                Ok((Ok(made), pruned)) => {
                    crate::metrics::backup_finished(true, made.failed.len());
                    tracing::info!(
                        id = %made.manifest.id,
                        last_seq = made.manifest.last_seq,
                        bytes = made.manifest.ciphertext_bytes,
                        copies = made.copies.len(),
                        "backup written"
                    );
                    for (dir, error) in &made.failed {
                        tracing::error!(destination = %dir.display(), %error, "backup destination failed");
                    }
                    match pruned {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(removed = n, "old backups pruned"),
                        Err(error) => tracing::error!(%error, "backup pruning failed"),
                    }
                }
                Ok((Err(error), _)) => {
                    crate::metrics::backup_finished(false, 0);
                    tracing::error!(%error, "scheduled backup failed")
                }
                Err(error) => {
                    crate::metrics::backup_finished(false, 0);
                    tracing::error!(%error, "scheduled backup task panicked")
                }
            }
        }
    })
}
