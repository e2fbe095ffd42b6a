//! How `kmipd serve` turns a `[node]` section into a running node: its zone, the links to its peers and the
//! node TLS material.

use std::path::PathBuf;
use std::sync::Arc;

use kmipd::replication::node::{
    NodeLimits, NodeLink, NodePeers, NodeRole, NodeSetup, NodeTls, valid_zone_name,
};
use kmipd::replication::{NodeZone, ZonesConfig};
use kmipd::server::ServerConfig;
use kmipd::server::config::NodeSettings;

/// The zones the engine commits through and what the node port needs.
pub struct Plan {
    pub zones: ZonesConfig,
    pub setup: NodeSetup,
}

fn tls(config: &ServerConfig, settings: &NodeSettings) -> Result<NodeTls, String> {
    let file = |p: &Option<PathBuf>, default: &str| {
        p.clone().unwrap_or_else(|| config.data_dir.join(default))
    };
    NodeTls::load_with_crl(
        &file(&settings.cert_chain, "node.pem"),
        &file(&settings.private_key, "node.key"),
        &file(&settings.ca, "node-ca.pem"),
        settings.crl.as_deref(),
    )
    .map_err(|e| format!("node TLS: {e}"))
}

fn limits(settings: &NodeSettings) -> NodeLimits {
    NodeLimits {
        timeout: settings.timeout,
        max_frame_bytes: settings.max_frame_bytes,
        max_connections: settings.max_connections,
        remembered_commits: settings.remembered_commits,
        batch_max_bytes: settings.batch_max_bytes,
        ..NodeLimits::default()
    }
}

/// Every zone name must fit in a node name (`<zone>.node.kmipd`), which node certificates carry.
fn check_zone_names(settings: &NodeSettings) -> Result<(), String> {
    let named = std::iter::once(&settings.zone).chain(
        settings
            .peers
            .iter()
            .chain(&settings.remotes)
            .map(|p| &p.zone),
    );
    for zone in named {
        if !valid_zone_name(zone) {
            return Err(format!(
                "zone name `{zone}`: a node's zone is one DNS label (letters, digits, inner hyphens), \
                 as its node certificate names it"
            ));
        }
    }
    Ok(())
}

/// Who may connect to this node's port, by role: a sequencer's followers forward changes and its remotes
/// read; a follower's or remote's sequencer (its first peer) ships changes.
fn node_peers(role: NodeRole, settings: &NodeSettings) -> Result<NodePeers, String> {
    let zones = |list: &[kmipd::server::config::PeerSettings]| {
        list.iter().map(|p| p.zone.clone()).collect::<Vec<_>>()
    };
    let mut peers = NodePeers {
        own: settings.zone.clone(),
        ..NodePeers::default()
    };
    match role {
        NodeRole::Sequencer => {
            peers.followers = zones(&settings.peers);
            peers.readers = zones(&settings.remotes);
        }
        NodeRole::Follower | NodeRole::Remote => {
            let sequencer = settings.peers.first().ok_or(
                "a follower or remote node needs its sequencer in [node].peers (the only node whose \
                 changes it applies)",
            )?;
            peers.sequencer = Some(sequencer.zone.clone());
        }
    }
    Ok(peers)
}

/// The zones and node setup a `[node]` section describes.
pub fn plan(config: &ServerConfig, settings: &NodeSettings) -> Result<Plan, String> {
    let role = settings.role;
    check_zone_names(settings)?;
    let peers = node_peers(role, settings)?;
    let tls = tls(config, settings)?;
    let limits = limits(settings);
    let link = |p: &kmipd::server::config::PeerSettings| {
        NodeLink::new(&p.zone, &p.address, &p.server_name, &tls, limits)
            .map(Arc::new)
            .map_err(|e| e.to_string())
    };
    let dir = settings
        .dir
        .clone()
        .unwrap_or_else(|| config.data_dir.join(format!("zone-{}", settings.zone)));
    let mut zones = ZonesConfig::one_local(&settings.zone, dir);
    zones.recheck_interval = settings.interval;
    let mut sequencer = None;
    match role {
        NodeRole::Sequencer => {
            for peer in &settings.peers {
                zones.nodes.push(NodeZone {
                    name: peer.zone.clone(),
                    address: peer.address.clone(),
                    replica: link(peer)?,
                });
            }
        }
        NodeRole::Follower => {
            let peer = settings
                .peers
                .first()
                .ok_or("a follower node needs its sequencer in [node].peers")?;
            sequencer = Some(link(peer)?);
        }
        NodeRole::Remote => {}
    }
    let remotes = settings
        .remotes
        .iter()
        .map(&link)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Plan {
        zones,
        setup: NodeSetup {
            role,
            zone: settings.zone.clone(),
            listen: settings.listen,
            tls,
            limits,
            sequencer,
            remotes,
            interval: settings.interval,
            remote_lag_alarm: settings.remote_lag_alarm,
            peers,
            audit: None,
        },
    })
}

/// A link to this node's own node port (for `kmipd status`), with its own node certificate.
pub fn own_link(config: &ServerConfig, settings: &NodeSettings) -> Result<NodeLink, String> {
    let mut address = settings.listen;
    if address.ip().is_unspecified() {
        address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    NodeLink::new(
        &settings.zone,
        &address.to_string(),
        "localhost",
        &tls(config, settings)?,
        limits(settings),
    )
    .map_err(|e| e.to_string())
}
