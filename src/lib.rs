//! kmipd, a KMIP key-management server.
//!
//! A request travels down these modules, each with one job:
//! [`server`] accepts mutual-TLS connections and reads frames; [`ttlv`] turns frame bytes into an item tree;
//! [`kmip`] turns the tree into a typed request of any version 1.0-2.1 (and back); [`access`] names the caller;
//! [`ops`] runs each batch item; [`store`] keeps managed objects encrypted at rest in SQLite with an ordered
//! change log. [`spec`] holds the specification's tables that the codec and messages consult.

pub mod access;
pub mod backup;
pub mod crypto;
pub mod kmip;
pub mod ops;
pub mod replication;
pub mod server;
pub mod spec;
pub mod store;
pub mod ttlv;
