//! Keeping several copies of the store in step: two zones that must both hold a change before it is
//! acknowledged (in one process, [`zones`]), and the monitoring that shows where each copy stands.
//! `docs/replication.md` describes the protocol and its failure cases.

pub mod zones;

pub use zones::{ZoneSpec, ZoneStatus, ZonedStore, ZonesConfig};
