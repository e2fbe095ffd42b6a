//! The network edge: configuration, the mutual-TLS listener, framing, connection limits and shutdown.
//!
//! [`Listeners::bind`] opens the KMIP port (and the HTTPS door), [`run_live`] accepts connections,
//! [`connection`] reads one frame at a time from each and hands it to a [`FrameHandler`]; [`crate::mtls`]
//! decides who may connect; [`bootstrap`] makes the development certificates of
//! the embedded default (with [`crate::pki`], which also issues real ones from an operator's CA).

pub mod activation;
pub mod bootstrap;
pub mod config;
mod connection;
pub mod health;
pub mod https;
mod listener;
pub mod reload;

pub use crate::ops::handler::{FrameHandler, Reply};
pub use config::{AccessSettings, ConfigError, ConnectionLimits, ServerConfig, TlsFiles};
pub use connection::handler_slots;
pub use listener::{Listeners, ServerError, run_live, run_with_listener};
