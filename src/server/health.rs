//! What the metrics endpoint and `/readyz` report about this server: its zones, its remote-region copies and
//! its backups, read at the moment a scrape asks. The metrics module declares what it needs
//! ([`crate::metrics::StateSource`]); this is the server's answer, which knows the layers below.

use std::path::PathBuf;
use std::sync::Arc;

use crate::backup::BackupConfig;
use crate::metrics::{BackupReport, RemoteReport, Report, StateSource, ZoneReport};
use crate::replication::ZonedStore;
use crate::replication::node::Node;

/// The parts of a running server a report reads.
pub struct ServerState {
    /// The server's zones.
    pub zones: Arc<ZonedStore>,
    /// The backup configuration.
    pub backup: BackupConfig,
    /// The data directory (default backup destinations derive from it).
    pub data_dir: PathBuf,
    /// This process's node in a multi-node deployment (its remote-region copies' lag).
    pub node: Option<Arc<Node>>,
}

impl StateSource for ServerState {
    fn report(&self) -> Report {
        let zones: Vec<ZoneReport> = self
            .zones
            .status()
            .into_iter()
            .map(|z| ZoneReport {
                name: z.name,
                up: z.up,
                sequencer: z.sequencer,
                last_seq: z.last_seq,
                reason: z.reason,
            })
            .collect();
        let backup = crate::backup::status(&self.backup, &self.data_dir)
            .map(|s| BackupReport {
                last_id: s.last_id,
                age_secs: s.age.map(|a| a.as_secs()),
                count: s.count,
            })
            .map_err(|e| e.to_string());
        let remotes = self
            .node
            .as_ref()
            .map(|node| node.status().remotes)
            .unwrap_or_default()
            .into_iter()
            .map(|r| RemoteReport {
                zone: r.zone,
                reachable: r.reachable,
                last_seq: r.last_seq,
                lag_changes: r.lag_changes,
                lag_seconds: r.lag_seconds,
                lag_alarm: r.lag_alarm,
            })
            .collect();
        Report {
            ready: zones.iter().all(|z| z.up),
            zones,
            acked_seq: self.zones.acked_seq(),
            everywhere_seq: self.zones.everywhere_seq(),
            remotes,
            backup,
        }
    }
}
