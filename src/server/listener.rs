//! Accepting connections: bind, hold every connection to the connection limit, and on shutdown stop accepting,
//! let in-flight requests finish within the grace period, then close what is left.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::{error, info, warn};

use crate::access::limits::IdentityLimits;
use crate::server::config::{ConfigError, ServerConfig};
use crate::server::connection::{self, Admission, PendingHandshakes};
use crate::server::handler::FrameHandler;
use crate::server::tls::{TlsError, server_tls_config};

/// Pause after a failed accept (such as running out of file descriptors) so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Why the server could not start.
#[derive(Debug, Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// Listens on `config.listen` and serves until `shutdown` completes and the connections have drained.
pub async fn run(
    config: ServerConfig,
    handler: Arc<dyn FrameHandler>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let address = config.listen;
    let listener = TcpListener::bind(address)
        .await
        .map_err(|source| ServerError::Bind { address, source })?;
    run_with_listener(listener, config, handler, shutdown).await
}

/// Serves on an already bound listener (`config.listen` is ignored): for tests and socket activation.
pub async fn run_with_listener(
    listener: TcpListener,
    config: ServerConfig,
    handler: Arc<dyn FrameHandler>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    config.validate()?;
    let acceptor = TlsAcceptor::from(server_tls_config(&config)?);
    let limits = config.limits;
    let allow = config.access.allow_list()?;
    let admission = Admission {
        identity: config.access.identity,
        limits: IdentityLimits::new(config.access.identity_limits()),
        handlers: Arc::new(Semaphore::new(connection::handler_slots())),
    };
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let pending = PendingHandshakes::new(limits.max_pending_per_address);
    let (stop_sender, stop_receiver) = watch::channel(false);
    let mut connections = JoinSet::new();
    match listener.local_addr() {
        Ok(address) => info!(%address, "listening for KMIP over TLS"),
        Err(e) => warn!(error = %e, "listening, address unknown"),
    }

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(finished) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = finished {
                    error!(error = %e, "connection task failed");
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    // Before any TLS byte: an address outside the allow-list is closed at once.
                    if !allow.permits(peer.ip()) {
                        warn!(%peer, "address not in the allow-list; closing before the handshake");
                        drop(tcp);
                        handler.refused(peer, None, "address not in the allow-list");
                        continue;
                    }
                    let Some(pending_slot) = pending.enter(peer.ip()) else {
                        warn!(%peer, limit = limits.max_pending_per_address, "too many handshakes pending from this address; closing");
                        drop(tcp);
                        continue;
                    };
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        warn!(%peer, limit = limits.max_connections, "connection limit reached; closing");
                        drop(tcp);
                        handler.refused(peer, None, "connection limit reached");
                        continue;
                    };
                    connections.spawn(connection::serve(
                        tcp,
                        peer,
                        acceptor.clone(),
                        handler.clone(),
                        limits,
                        admission.clone(),
                        stop_receiver.clone(),
                        permit,
                        pending_slot,
                    ));
                }
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
            },
        }
    }

    drop(listener);
    info!(
        open = connections.len(),
        "shutting down: no longer accepting, letting requests finish"
    );
    // Receivers only end their wait on a change, so a failed send (no receivers left) needs no handling.
    let _ = stop_sender.send(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(
            open = connections.len(),
            "shutdown grace period over; closing remaining connections"
        );
        connections.shutdown().await;
    }
    // The handler's last writes (the audit log's final checkpoint) may do file and database I/O.
    let stopping = handler.clone();
    if let Err(e) = tokio::task::spawn_blocking(move || stopping.stopped()).await {
        error!(error = %e, "the handler failed while stopping");
    }
    info!("server stopped");
    Ok(())
}
