//! The echo server of `kmipd bench echo-server`: mutual TLS exactly as kmipd sets it up (same provider, same
//! client-certificate verifier), and each TTLV frame answered with the same bytes and nothing else, so that
//! `kmipd bench --op echo` against it measures what the transport alone allows on this machine.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::LoadError;
use super::tls::{read_certificates, read_private_key};

/// The pause after a failed accept.
pub const ACCEPT_RETRY: std::time::Duration = std::time::Duration::from_millis(10);

/// The files the echo server's TLS needs.
pub struct EchoFiles<'a> {
    /// The server's certificate chain (PEM).
    pub cert: &'a Path,
    /// Its private key (PEM).
    pub key: &'a Path,
    /// The CA bundle client certificates must chain to (PEM).
    pub client_ca: &'a Path,
}

/// The echo server's TLS configuration: kmipd's own server configuration built from the files.
pub fn acceptor(files: &EchoFiles<'_>) -> Result<TlsAcceptor, LoadError> {
    let chain = read_certificates(files.cert)?;
    let key = read_private_key(files.key)?;
    let client_cas = read_certificates(files.client_ca)?;
    let config = crate::mtls::build_server_tls_config(chain, key, &client_cas, files.client_ca)
        .map_err(|e| LoadError::File {
            path: files.cert.to_owned(),
            reason: e.to_string(),
        })?;
    Ok(TlsAcceptor::from(config))
}

/// Binds `listen`; returns the listener and the address it got (port 0 picks a free one).
pub async fn bind(listen: SocketAddr) -> Result<(TcpListener, SocketAddr), LoadError> {
    let broken = |e: std::io::Error| LoadError::Connection {
        server: listen.to_string(),
        reason: e.to_string(),
    };
    let listener = TcpListener::bind(listen).await.map_err(broken)?;
    let local = listener.local_addr().map_err(broken)?;
    Ok((listener, local))
}

/// Accepts connections until the task is dropped, answering each frame with itself.
pub async fn serve(listener: TcpListener, acceptor: TlsAcceptor) {
    let acceptor = Arc::new(acceptor);
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _peer)) => tcp,
            Err(_) => {
                // Out of descriptors, say: wait a little instead of spinning.
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let Ok(mut stream) = acceptor.accept(tcp).await else {
                return;
            };
            let mut frame = Vec::new();
            while let Ok(true) = super::tls::read_frame(&mut stream, &mut frame).await {
                if stream.write_all(&frame).await.is_err() || stream.flush().await.is_err() {
                    return;
                }
            }
            let _ = stream.shutdown().await;
        });
    }
}
