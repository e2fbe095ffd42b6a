//! The status document of a node (`kmipd status`): its role, its zones and their sequence numbers, its
//! peers and remotes.

use serde::Serialize;

use super::*;

/// The node status document `kmipd status` prints.
#[derive(Clone, Debug, Serialize)]
pub struct NodeStatus {
    /// This node's zone.
    pub zone: String,
    /// Its role.
    pub role: NodeRole,
    /// The last sequence number its zone holds.
    pub last_seq: Option<u64>,
    /// The highest sequence number it acknowledged (sequencer).
    pub acked_seq: u64,
    /// The oldest change its zone's log still holds (`None` when it holds none): what pruning kept.
    pub first_retained_seq: Option<u64>,
    /// Change-log pruning passes run since it started.
    pub prune_passes: u64,
    /// Why it refuses reads, if it does.
    pub read_refusal: Option<String>,
    /// The zones (its own and the peer zone) and whether each is up.
    pub zones: Vec<ZoneReport>,
    /// Remote-region copies (sequencer).
    pub remotes: Vec<RemoteStatus>,
    /// Left for the backup helper: last backup and its age.
    pub backup: Option<serde_json::Value>,
}

/// One zone in a status document.
#[derive(Clone, Debug, Serialize)]
pub struct ZoneReport {
    /// Zone name.
    pub name: String,
    /// File or node address.
    pub location: String,
    /// Up (takes part in every change, reachable).
    pub up: bool,
    /// Last sequence number it holds.
    pub last_seq: Option<u64>,
    /// Why it is down.
    pub reason: Option<String>,
}

impl Node {
    pub fn status(&self) -> NodeStatus {
        let zones = self.store.status();
        let mut reports: Vec<ZoneReport> = zones
            .iter()
            .map(|z| ZoneReport {
                name: z.name.clone(),
                location: z.path.display().to_string(),
                up: z.up,
                last_seq: z.last_seq,
                reason: z.reason.clone(),
            })
            .collect();
        if let Some(link) = &self.sequencer {
            let (up, last_seq, reason) = match link.seqs() {
                Ok((held, _)) => (true, Some(held), None),
                Err(e) => (false, None, Some(e.to_string())),
            };
            reports.push(ZoneReport {
                name: link.zone().to_string(),
                location: link.address().to_string(),
                up,
                last_seq,
                reason,
            });
        }
        NodeStatus {
            zone: self.zone.clone(),
            role: self.role,
            last_seq: self.store.local_last_seq().ok(),
            acked_seq: self.store.acked_seq(),
            first_retained_seq: self.store.local_first_retained_seq().ok().flatten(),
            prune_passes: self.store.prune_passes(),
            read_refusal: self.store.read_refusal(),
            zones: reports,
            remotes: self.remotes.iter().map(|r| r.status()).collect(),
            backup: None,
        }
    }
}
