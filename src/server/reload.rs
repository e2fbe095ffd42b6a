//! What a running server can take anew without dropping a connection (SIGHUP, `systemctl reload`): the server
//! certificate and key, the client CA bundle, the CRL file and the allow-list. Each new connection is accepted
//! with the settings current at its arrival; connections already open keep the TLS session they have.
//!
//! A reload builds the complete new TLS configuration and allow-list first and swaps them in only when both
//! are valid: a certificate that does not match its key, an unreadable CA bundle or a bad allow-list entry
//! keeps the running settings and says why.

use std::sync::{PoisonError, RwLock};

use tokio_rustls::TlsAcceptor;

use crate::access::allow_list::AllowList;
use crate::server::config::ServerConfig;
use crate::server::listener::ServerError;
use crate::server::listener::server_tls_config;

/// The reloadable settings of a running server.
pub struct LiveSettings {
    current: RwLock<Current>,
}

#[derive(Clone)]
struct Current {
    acceptor: TlsAcceptor,
    allow: AllowList,
}

impl LiveSettings {
    /// Reads the settings from `config` (its TLS files and allow-list).
    pub fn load(config: &ServerConfig) -> Result<LiveSettings, ServerError> {
        Ok(LiveSettings {
            current: RwLock::new(build(config)?),
        })
    }

    /// Replaces the settings with those of `config` when they are all valid; otherwise keeps the running
    /// ones and returns why.
    pub fn reload(&self, config: &ServerConfig) -> Result<(), ServerError> {
        let fresh = build(config)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }

    /// The acceptor and allow-list a connection arriving now is held to.
    pub(crate) fn current(&self) -> (TlsAcceptor, AllowList) {
        let current = self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        (current.acceptor, current.allow)
    }
}

fn build(config: &ServerConfig) -> Result<Current, ServerError> {
    config.validate()?;
    let acceptor = TlsAcceptor::from(server_tls_config(config)?);
    let allow = config.access.allow_list()?;
    Ok(Current { acceptor, allow })
}

/// Where a reload reads its settings from: the configuration file again (with the command line's overrides),
/// or the same files as before for the embedded default.
pub type ConfigSource = Box<dyn Fn() -> Result<ServerConfig, String> + Send + Sync>;

/// Reloads `live` from `source` on every SIGHUP, in a task of the current runtime. The signal handler is in
/// place when this returns, so a SIGHUP can no longer end the process. Tells systemd RELOADING=1 and READY=1
/// around each reload.
#[cfg(unix)]
pub fn reload_on_sighup(
    live: std::sync::Arc<LiveSettings>,
    source: ConfigSource,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup())?;
    let source = std::sync::Arc::new(source);
    Ok(tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            crate::sd_notify::notify_logged(&crate::sd_notify::reloading_message());
            let (live, source) = (live.clone(), source.clone());
            let outcome = tokio::task::spawn_blocking(move || {
                let config = source()?;
                live.reload(&config).map_err(|e| e.to_string())
            })
            .await;
            match outcome {
                Ok(Ok(())) => tracing::info!(
                    "reloaded the server certificate and key, client CA bundle, CRL and allow-list; new \
                     connections use them, open ones go on"
                ),
                Ok(Err(error)) => tracing::error!(
                    %error,
                    "reload refused; the running certificate, CA bundle, CRL and allow-list stay in force"
                ),
                Err(error) => tracing::error!(%error, "reload failed"),
            }
            crate::sd_notify::notify_logged("READY=1");
        }
    }))
}
