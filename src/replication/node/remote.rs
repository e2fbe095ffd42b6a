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
    /// The oldest change it lacks is older than the alarm threshold (`[node] remote_lag_alarm`).
    pub lag_alarm: bool,
}

/// Ships the sequencer's stream to a remote-region node, asynchronously, forever (until the node stops).
pub struct RemoteShipper {
    link: Arc<NodeLink>,
    state: Mutex<RemoteStatus>,
    /// The lag past which the alarm is raised.
    lag_alarm: Duration,
}

impl RemoteShipper {
    /// Starts shipping to `link` every `interval` (and straight after each batch while behind); raises the lag
    /// alarm when the oldest change the remote lacks is older than `lag_alarm`.
    pub fn start(
        link: Arc<NodeLink>,
        store: Arc<ZonedStore>,
        interval: Duration,
        lag_alarm: Duration,
        stop: Arc<AtomicBool>,
    ) -> Arc<RemoteShipper> {
        let shipper = Arc::new(RemoteShipper {
            state: Mutex::new(RemoteStatus {
                zone: link.zone().to_string(),
                address: link.address().to_string(),
                ..RemoteStatus::default()
            }),
            link,
            lag_alarm,
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
        let result = match outcome {
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
                // Unreachable, the remote still holds what it last reported: its lag grows from there.
                let head = store.everywhere_seq();
                state.lag_changes = head.saturating_sub(state.last_seq);
                if let Ok(missing) = store.local_changes_since(state.last_seq, 1) {
                    state.lag_seconds = missing
                        .first()
                        .filter(|c| c.seq <= head)
                        .map_or(0.0, |c| age_of(c.time_ms).as_secs_f64());
                }
                Err(e)
            }
        };
        self.sound_alarm(&mut state);
        result
    }

    /// Raises or clears the lag alarm, saying so in the log once per change.
    fn sound_alarm(&self, state: &mut RemoteStatus) {
        let lagging = state.lag_changes > 0 && state.lag_seconds > self.lag_alarm.as_secs_f64();
        if lagging && !state.lag_alarm {
            tracing::error!(
                remote = %state.zone,
                lag_seconds = state.lag_seconds,
                lag_changes = state.lag_changes,
                reachable = state.reachable,
                threshold = ?self.lag_alarm,
                "the remote-region copy lags beyond its alarm threshold"
            );
        } else if !lagging && state.lag_alarm {
            tracing::info!(remote = %state.zone, "the remote-region copy is within its lag threshold again");
        }
        state.lag_alarm = lagging;
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
