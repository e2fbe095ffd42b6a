//! The TLS side of the load generator: the client configuration (CA bundle, client certificate and key read
//! from PEM), connecting one session, and the frame reader both the client and the echo server use.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::LoadError;
use crate::ttlv::{self, HEADER_LEN, Limits};

/// The largest frame the generator and the echo server read (the codec's default message limit).
pub const MAX_FRAME_BYTES: usize = Limits::DEFAULT.max_message_bytes;

fn file_error(path: &Path, reason: &dyn std::fmt::Display) -> LoadError {
    LoadError::File {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// Every certificate of a PEM file (at least one).
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, LoadError> {
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, &e))?;
    if certificates.is_empty() {
        return Err(file_error(path, &"no certificate in the file"));
    }
    Ok(certificates)
}

/// The first private key of a PEM file.
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, LoadError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| file_error(path, &e))
}

/// A mutual-TLS client configuration: servers whose certificate chains to `ca`, presenting `cert` and `key`.
pub fn client_config(
    ca: &Path,
    cert: &Path,
    key: &Path,
) -> Result<Arc<rustls::ClientConfig>, LoadError> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in read_certificates(ca)? {
        roots.add(certificate).map_err(|e| file_error(ca, &e))?;
    }
    let chain = read_certificates(cert)?;
    let key_der = read_private_key(key)?;
    let config = rustls::ClientConfig::builder_with_provider(crate::mtls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| file_error(ca, &e))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key_der)
        .map_err(|e| file_error(cert, &e))?;
    Ok(Arc::new(config))
}

/// Where and as whom the generator connects.
#[derive(Clone)]
pub struct Target {
    /// HOST:PORT of the server.
    pub server: String,
    /// The name the server's certificate must carry.
    pub server_name: ServerName<'static>,
    /// The client configuration.
    pub config: Arc<rustls::ClientConfig>,
}

impl Target {
    /// One TLS session with the handshake done (Nagle off: every request is one small write).
    pub async fn connect(&self) -> Result<TlsStream<TcpStream>, LoadError> {
        let broken = |reason: &dyn std::fmt::Display| LoadError::Connection {
            server: self.server.clone(),
            reason: reason.to_string(),
        };
        let tcp = TcpStream::connect(&self.server)
            .await
            .map_err(|e| broken(&e))?;
        tcp.set_nodelay(true).map_err(|e| broken(&e))?;
        TlsConnector::from(self.config.clone())
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| broken(&e))
    }
}

/// Reads one whole TTLV frame into `frame` (cleared first); `Ok(false)` when the peer closed before a frame
/// began.
pub async fn read_frame<S: AsyncRead + Unpin>(
    stream: &mut S,
    frame: &mut Vec<u8>,
) -> std::io::Result<bool> {
    let mut header = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        let rest = header.get_mut(got..).unwrap_or_default();
        match stream.read(rest).await {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if got == 0 && e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Ok(false);
            }
            Err(e) => return Err(e),
        }
    }
    let limits = Limits {
        max_message_bytes: MAX_FRAME_BYTES,
        ..Limits::DEFAULT
    };
    let total = ttlv::frame_len(&header, &limits)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    frame.clear();
    frame.extend_from_slice(&header);
    frame.resize(total, 0);
    if let Some(body) = frame.get_mut(HEADER_LEN..) {
        stream.read_exact(body).await?;
    }
    Ok(true)
}
