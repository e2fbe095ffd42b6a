//! The remote region: the sequencer ships its stream to a remote-region node asynchronously, and reports how
//! far behind it is.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;

use super::*;
use crate::replication::zones::{Replica, ZonedStore, age_of};
use crate::store::StoreError;

/// Where a remote-region copy stands, as the sequencer sees it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RemoteStatus {
    /// Its zone name.
    pub zone: String,
    /// Its address.
    pub address: String,
    /// Whether the last exchange succeeded.
    pub reachable: bool,
    /// The last sequence number it holds.
    pub last_seq: u64,
    /// Changes it lacks.
    pub lag_changes: u64,
    /// Age of the oldest change it lacks (0 when it lacks none), seconds.
    pub lag_seconds: f64,
    /// The last error, if any.
    pub error: Option<String>,
}

/// Ships the sequencer's stream to a remote-region node, asynchronously, forever (until the node stops).
pub struct RemoteShipper {
    link: Arc<NodeLink>,
    state: Mutex<RemoteStatus>,
}

impl RemoteShipper {
    /// Starts shipping to `link` every `interval` (and straight after each batch while behind).
    pub fn start(
        link: Arc<NodeLink>,
        store: Arc<ZonedStore>,
        interval: Duration,
        stop: Arc<AtomicBool>,
    ) -> Arc<RemoteShipper> {
        let shipper = Arc::new(RemoteShipper {
            state: Mutex::new(RemoteStatus {
                zone: link.zone().to_string(),
                address: link.address().to_string(),
                ..RemoteStatus::default()
            }),
            link,
        });
        // The change log is kept for this copy until it reports what it holds.
        store.track_copy(shipper.link.zone());
        let me = shipper.clone();
        let spawned = std::thread::Builder::new()
            .name("kmipd-remote".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let behind = me.ship_once(&store);
                    if !matches!(behind, Ok(true)) {
                        std::thread::sleep(interval);
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the remote-region shipper");
        }
        shipper
    }

    /// One round: asks the remote where it is, sends one batch, updates the lag. Ok(true) = more to send.
    pub(super) fn ship_once(&self, store: &ZonedStore) -> Result<bool, StoreError> {
        let outcome = (|| {
            let held = self.link.last_seq()?;
            store.copy_holds(self.link.zone(), held);
            // Only what every zone holds leaves for the remote: never the sequencer's unshipped tail.
            let head = store.everywhere_seq();
            let mut batch = store.local_changes_since(held, 1_000)?;
            batch.retain(|c| c.seq <= head);
            if let Some(first) = batch.first().filter(|c| c.seq > held + 1) {
                // The changes it lacks were pruned: shipping on would skip them.
                return Err(StoreError::ChangesPruned {
                    copy: format!("remote {}", self.link.zone()),
                    held,
                    first: first.seq,
                });
            }
            let mut now_held = held;
            if let Some(last) = batch.last().map(|c| c.seq) {
                self.link.apply_changes(&batch)?;
                now_held = last;
                store.copy_holds(self.link.zone(), now_held);
            }
            let oldest_missing = store
                .local_changes_since(now_held, 1)?
                .into_iter()
                .find(|c| c.seq <= head);
            Ok::<_, StoreError>((now_held, head, oldest_missing.map(|c| c.time_ms)))
        })();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Ok((held, head, oldest)) => {
                state.reachable = true;
                state.error = None;
                state.last_seq = held;
                state.lag_changes = head.saturating_sub(held);
                state.lag_seconds = oldest.map_or(0.0, |t| age_of(t).as_secs_f64());
                Ok(state.lag_changes > 0)
            }
            Err(e) => {
                state.reachable = false;
                state.error = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// Where the remote copy stands.
    pub fn status(&self) -> RemoteStatus {
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if s.lag_changes == 0 {
            s.lag_seconds = 0.0;
        }
        s
    }
}
