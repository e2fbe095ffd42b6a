//! kmipd, a KMIP key-management server.
//!
//! A request travels down these modules, each with one job:
//! [`server`] accepts mutual-TLS connections and reads frames; [`ttlv`] turns frame bytes into an item tree;
//! [`kmip`] turns the tree into a typed request of any version 1.0-2.1 (and back); [`access`] names the caller;
//! [`ops`] runs each batch item; [`store`] keeps managed objects encrypted at rest in SQLite with an ordered
//! change log. [`spec`] holds the specification's tables that the codec and messages consult.
//!
//! Without the default `server` feature only `spec`, `ttlv` and `kmip` (less key-format conversion, key wrapping
//! and certificate parsing) are built: the codec alone, as the fuzz targets use it.

#[cfg(feature = "server")]
pub mod access;
#[cfg(feature = "server")]
pub mod backup;
#[cfg(feature = "server")]
pub mod client;
#[cfg(feature = "server")]
pub mod crypto;
#[cfg(feature = "server")]
pub mod custody;
#[doc(hidden)]
pub mod fuzz_checks;
pub mod kmip;
#[cfg(feature = "server")]
pub mod load;
#[cfg(feature = "server")]
pub mod log_json;
#[cfg(feature = "server")]
pub mod log_text;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod mtls;
#[cfg(feature = "server")]
pub mod ops;
#[cfg(feature = "server")]
pub mod pki;
#[cfg(feature = "server")]
pub mod private_fs;
#[cfg(feature = "server")]
pub mod replication;
#[cfg(all(feature = "server", unix))]
pub mod sd_notify;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod settings_text;
pub mod spec;
#[cfg(feature = "server")]
pub mod store;
pub mod ttlv;
