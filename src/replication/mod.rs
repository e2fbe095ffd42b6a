//! Keeping several copies of the store in step: two zones that must both hold a change before it is
//! acknowledged (in one process, [`zones`], or as nodes over mutual TLS, [`node`]), and the status that shows
//! where each copy stands.
//! `docs/replication.md` describes the protocol and its failure cases.

pub mod commit_ids;
pub mod node;
pub mod origin;
pub mod wire;
pub mod zones;

pub use zones::{NodeZone, Replica, ZoneSpec, ZoneStatus, ZonedStore, ZonesConfig};
