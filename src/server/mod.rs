//! The network edge: configuration, the mutual-TLS listener, framing, connection limits and shutdown.
//!
//! [`run`] accepts connections, [`connection`] reads one frame at a time from each and hands it to a
//! [`FrameHandler`]; [`tls`] decides who may connect; [`bootstrap`] and [`pki`] make the development
//! certificates of the embedded default and issue real ones from an operator's CA.

pub mod bootstrap;
pub mod config;
mod connection;
pub mod handler;
mod listener;
pub mod pki;
pub mod tls;

pub use config::{AccessSettings, ConfigError, ConnectionLimits, ServerConfig, TlsFiles};
pub use connection::handler_slots;
pub use handler::{FrameHandler, Reply};
pub use listener::{ServerError, run, run_with_listener};
