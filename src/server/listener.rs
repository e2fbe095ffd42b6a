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
use tracing::{error, info, warn};

use crate::access::limits::IdentityLimits;
use crate::mtls::{
    CrlFile, TlsError, build_server_tls_config_with_crl, read_certificates, read_private_key,
};
use crate::ops::FrameHandler;
use crate::server::config::{ConfigError, ServerConfig};
use crate::server::connection::{self, Admission, PendingHandshakes, Protocol};
use crate::server::reload::LiveSettings;

/// Pause after a failed accept (such as running out of file descriptors) so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Why the server could not start.
#[derive(Debug, Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Activation(#[from] crate::server::activation::ActivationError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// The sockets a server accepts on: the KMIP port and, when configured, the HTTPS listener.
#[derive(Debug)]
pub struct Listeners {
    /// The KMIP port.
    pub kmip: TcpListener,
    /// KMIP over HTTPS (`[https] listen`), if configured.
    pub https: Option<TcpListener>,
}

impl Listeners {
    /// The KMIP port as `config.listen` says, or the socket a service manager passed (see
    /// [`crate::server::activation`]); and the HTTPS listener when `[https] listen` is set.
    pub async fn bind(config: &ServerConfig) -> Result<Listeners, ServerError> {
        let address = config.listen;
        let kmip = match crate::server::activation::passed_listener()? {
            Some(passed) => {
                info!(
                    "using the listening socket the service manager passed (listen setting not used)"
                );
                TcpListener::from_std(passed)
                    .map_err(|source| ServerError::Bind { address, source })?
            }
            None => TcpListener::bind(address)
                .await
                .map_err(|source| ServerError::Bind { address, source })?,
        };
        let https = match config.https.listen {
            Some(address) => Some(
                TcpListener::bind(address)
                    .await
                    .map_err(|source| ServerError::Bind { address, source })?,
            ),
            None => None,
        };
        Ok(Listeners { kmip, https })
    }
}

/// Serves on an already bound listener (`config.listen` is ignored): for tests.
pub async fn run_with_listener(
    listener: TcpListener,
    config: ServerConfig,
    handler: Arc<dyn FrameHandler>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let live = Arc::new(LiveSettings::load(&config)?);
    let listeners = Listeners {
        kmip: listener,
        https: None,
    };
    run_live(listeners, live, config, handler, shutdown).await
}

/// Accepts the next connection on either listener, naming the protocol it speaks.
async fn accept_either(
    kmip: &TcpListener,
    https: Option<&TcpListener>,
    https_settings: &Arc<crate::server::https::HttpsSettings>,
) -> std::io::Result<(tokio::net::TcpStream, SocketAddr, Protocol)> {
    match https {
        None => kmip
            .accept()
            .await
            .map(|(tcp, peer)| (tcp, peer, Protocol::Kmip)),
        Some(https) => tokio::select! {
            accepted = kmip.accept() => accepted.map(|(tcp, peer)| (tcp, peer, Protocol::Kmip)),
            accepted = https.accept() => accepted
                .map(|(tcp, peer)| (tcp, peer, Protocol::Https(https_settings.clone()))),
        },
    }
}

/// Serves on bound listeners, accepting each connection with the TLS settings and allow-list `live` holds at
/// its arrival (a reload swaps them; see `reload`). Both doors share one TLS configuration, allow-list,
/// connection limit and per-identity limits.
pub async fn run_live(
    listeners: Listeners,
    live: Arc<LiveSettings>,
    config: ServerConfig,
    handler: Arc<dyn FrameHandler>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let Listeners {
        kmip: listener,
        https,
    } = listeners;
    let https_settings = Arc::new(config.https.clone());
    config.validate()?;
    let limits = config.limits;
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
    if let Some(https) = &https {
        match https.local_addr() {
            Ok(address) => {
                info!(%address, path = %https_settings.path, "listening for KMIP over HTTPS")
            }
            Err(e) => warn!(error = %e, "listening for HTTPS, address unknown"),
        }
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
            accepted = accept_either(&listener, https.as_ref(), &https_settings) => match accepted {
                Ok((tcp, peer, protocol)) => {
                    let (acceptor, allow) = live.current();
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
                        acceptor,
                        handler.clone(),
                        limits,
                        admission.clone(),
                        stop_receiver.clone(),
                        permit,
                        pending_slot,
                        protocol,
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
    drop(https);
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

/// Builds the rustls server configuration from the files named in `config`.
pub fn server_tls_config(config: &ServerConfig) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = read_certificates(&config.cert_chain_path(), "server certificate chain")?;
    let key = read_private_key(&config.private_key_path())?;
    let client_cas = read_certificates(&config.client_ca_path(), "client CA bundle")?;
    let crl = config
        .tls
        .client_crl
        .as_deref()
        .map(CrlFile::open)
        .transpose()?;
    build_server_tls_config_with_crl(chain, key, &client_cas, &config.client_ca_path(), crl)
}
