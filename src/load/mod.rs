//! `kmipd bench`: a load generator that drives any KMIP server over mutual TLS (N persistent connections, P
//! requests outstanding on each, every response's Result Status checked) and prints ops/s and latency
//! percentiles; and an echo server that answers each TTLV frame with the same frame, so the same client run
//! against it gives the transport ceiling of the machine. See docs/performance.md.

pub mod cli;
pub mod driver;
pub mod echo;
pub mod requests;
pub mod stats;
pub mod tls;

use std::path::PathBuf;

use thiserror::Error;

/// Why a load run or the echo server could not go on.
#[derive(Debug, Error)]
pub enum LoadError {
    /// A certificate, key or CA file could not be read or used.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// The server could not be reached, or the TLS session failed.
    #[error("connection to {server}: {reason}")]
    Connection {
        /// The server's address as given.
        server: String,
        /// What went wrong.
        reason: String,
    },
    /// A setup request (creating the keys the operation needs) was refused or answered wrongly.
    #[error("setup: {0}")]
    Setup(String),
    /// A setting cannot be used.
    #[error("{0}")]
    Settings(String),
}
