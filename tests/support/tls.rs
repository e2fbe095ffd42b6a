//! A real kmipd TLS listener on 127.0.0.1 for tests and benchmarks, and a blocking mutual-TLS KMIP client for it:
//! fresh certificates per server, binary TTLV frames on the wire, the same path a KMIP client takes.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use kmipd::pki::{CertificateAuthority, IssuedPair, KeyType, write_pair, write_public_file};
use kmipd::server::{ConnectionLimits, FrameHandler, ServerConfig, TlsFiles, run_with_listener};
use kmipd::ttlv::{self, Limits, Ttlv};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConnection, StreamOwned};

/// How long a client waits for one answer before the test fails.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A server certificate from `ca` for localhost and 127.0.0.1, valid 30 days: what a loopback server (KMIP
/// listener or zone node) presents.
pub fn localhost_server(ca: &CertificateAuthority) -> IssuedPair {
    ca.issue_server(
        &["localhost".into()],
        &["127.0.0.1".parse().unwrap()],
        30,
        KeyType::EcdsaP256,
    )
    .unwrap()
}

/// A listening server; stopped when dropped.
pub struct TlsServer {
    pub address: SocketAddr,
    ca: CertificateAuthority,
    ca_pem: String,
    client: IssuedPair,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
    _dir: tempfile::TempDir,
}

impl TlsServer {
    /// Starts serving `handler` (an `Arc<Engine>` in practice) on a free loopback port.
    pub fn start(handler: Arc<dyn FrameHandler>) -> TlsServer {
        TlsServer::start_with(handler, |_| {})
    }

    /// [`TlsServer::start`] with the server configuration adjusted by `adjust` (access settings, limits).
    pub fn start_with(
        handler: Arc<dyn FrameHandler>,
        adjust: impl FnOnce(&mut ServerConfig),
    ) -> TlsServer {
        TlsServer::start_with_ca(handler, |config, _| adjust(config))
    }

    /// [`TlsServer::start_with`] whose `adjust` also gets the CA the server trusts for clients (to write a
    /// CRL it signs, say).
    pub fn start_with_ca(
        handler: Arc<dyn FrameHandler>,
        adjust: impl FnOnce(&mut ServerConfig, &CertificateAuthority),
    ) -> TlsServer {
        let (ca, ca_pair) =
            CertificateAuthority::generate("test CA", 30, KeyType::EcdsaP256).unwrap();
        let server = localhost_server(&ca);
        let client = ca
            .issue_client("conformance", 30, KeyType::EcdsaP256)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (cert_chain, private_key) = write_pair(dir.path(), "server", &server).unwrap();
        let client_ca = dir.path().join("client-ca.pem");
        write_public_file(&client_ca, ca.certificate_pem()).unwrap();
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_owned(),
            tls: TlsFiles {
                cert_chain: Some(cert_chain),
                private_key: Some(private_key),
                client_ca: Some(client_ca),
                ..TlsFiles::default()
            },
            limits: ConnectionLimits {
                max_connections: 256,
                ..ConnectionLimits::default()
            },
            ..ServerConfig::default()
        };
        let mut config = config;
        adjust(&mut config, &ca);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        runtime.spawn(run_with_listener(listener, config, handler, async move {
            let _ = stopped.await;
        }));
        TlsServer {
            address,
            ca,
            ca_pem: ca_pair.certificate_pem,
            client,
            stop: Some(stop),
            runtime: Some(runtime),
            _dir: dir,
        }
    }

    /// A new connection with the server's default client certificate.
    pub fn connect(&self) -> KmipClient {
        KmipClient::connect(self.address, &self.ca_pem, &self.client)
    }

    /// The CA that issues the server's client certificates.
    pub fn ca(&self) -> &CertificateAuthority {
        &self.ca
    }

    /// The CA certificate (PEM) clients trust for the server.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A connection presenting `pair`, its handshake complete; an error when the server refuses it.
    pub fn try_connect_pair(&self, pair: &IssuedPair) -> std::io::Result<KmipClient> {
        KmipClient::connect_pem(
            self.address,
            &self.ca_pem,
            &pair.certificate_pem,
            &pair.private_key_pem,
        )
    }

    /// A new connection as another client identity (its certificate's CN).
    pub fn connect_as(&self, name: &str) -> KmipClient {
        let pair = self.ca.issue_client(name, 30, KeyType::EcdsaP256).unwrap();
        KmipClient::connect(self.address, &self.ca_pem, &pair)
    }

    /// Writes `<name>.pem`, `<name>.key` (a client certificate for `name`) and `ca.pem` into `dir`, for
    /// clients that read files (the `kmipd` commands); returns (ca, certificate, key).
    pub fn client_files(
        &self,
        name: &str,
        dir: &std::path::Path,
    ) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
        let pair = self.ca.issue_client(name, 30, KeyType::EcdsaP256).unwrap();
        let (certificate, key) = write_pair(dir, name, &pair).unwrap();
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, &self.ca_pem).unwrap();
        (ca, certificate, key)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

/// One mutual-TLS connection that sends binary TTLV requests and reads the responses.
pub struct KmipClient {
    stream: StreamOwned<ClientConnection, TcpStream>,
}

impl KmipClient {
    fn connect(address: SocketAddr, ca_pem: &str, client: &IssuedPair) -> KmipClient {
        KmipClient::open(
            address,
            ca_pem,
            &client.certificate_pem,
            &client.private_key_pem,
        )
        .unwrap()
    }

    /// A connection to any kmipd on `address` (a spawned `kmipd serve`, say) that trusts `ca_pem` for the
    /// server and presents the client certificate and key given as PEM, its handshake complete; an error when
    /// it cannot connect or the handshake fails.
    pub fn connect_pem(
        address: SocketAddr,
        ca_pem: &str,
        certificate_pem: &str,
        private_key_pem: &str,
    ) -> std::io::Result<KmipClient> {
        let mut client = KmipClient::open(address, ca_pem, certificate_pem, private_key_pem)?;
        let stream = &mut client.stream;
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(client)
    }

    /// A connection trusting `ca_pem`, presenting the PEM certificate and key given (another server's files).
    pub fn connect_with_pem(
        address: SocketAddr,
        ca_pem: &str,
        certificate_pem: &str,
        private_key_pem: &str,
    ) -> KmipClient {
        KmipClient::open(address, ca_pem, certificate_pem, private_key_pem).unwrap()
    }

    /// A client on an already connected TCP stream (one bound to another source address, say), presenting
    /// `client`; the handshake runs with the first request.
    pub fn over_tcp(
        tcp: TcpStream,
        ca_pem: &str,
        client: &IssuedPair,
    ) -> std::io::Result<KmipClient> {
        KmipClient::open_on(
            tcp,
            ca_pem,
            &client.certificate_pem,
            &client.private_key_pem,
        )
    }

    /// A TCP connection with a TLS client session on it; the handshake runs with the first request.
    fn open(
        address: SocketAddr,
        ca_pem: &str,
        certificate_pem: &str,
        private_key_pem: &str,
    ) -> std::io::Result<KmipClient> {
        KmipClient::open_on(
            TcpStream::connect(address)?,
            ca_pem,
            certificate_pem,
            private_key_pem,
        )
    }

    fn open_on(
        tcp: TcpStream,
        ca_pem: &str,
        certificate_pem: &str,
        private_key_pem: &str,
    ) -> std::io::Result<KmipClient> {
        let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(
                CertificateDer::from_pem_slice(ca_pem.as_bytes())
                    .map_err(|e| invalid(e.to_string()))?,
            )
            .map_err(|e| invalid(e.to_string()))?;
        let chain = vec![
            CertificateDer::from_pem_slice(certificate_pem.as_bytes())
                .map_err(|e| invalid(e.to_string()))?,
        ];
        let key = PrivateKeyDer::from_pem_slice(private_key_pem.as_bytes())
            .map_err(|e| invalid(e.to_string()))?;
        let config = rustls::ClientConfig::builder_with_provider(kmipd::mtls::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| invalid(e.to_string()))?;
        tcp.set_read_timeout(Some(READ_TIMEOUT))?;
        tcp.set_nodelay(true)?;
        let connection =
            ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap())
                .map_err(|e| invalid(e.to_string()))?;
        Ok(KmipClient {
            stream: StreamOwned::new(connection, tcp),
        })
    }

    /// The TLS stream itself, for a client library that speaks KMIP over any `Read + Write`.
    pub fn into_stream(self) -> StreamOwned<ClientConnection, TcpStream> {
        self.stream
    }

    /// [`KmipClient::send`] that reports a broken connection (a killed server, say) instead of panicking.
    pub fn try_send(&mut self, request: &Ttlv) -> std::io::Result<Ttlv> {
        self.stream.write_all(&ttlv::encode(request))?;
        self.stream.flush()?;
        let mut header = [0u8; ttlv::HEADER_LEN];
        self.stream.read_exact(&mut header)?;
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut frame = header.to_vec();
        frame.resize(ttlv::HEADER_LEN + len, 0);
        self.stream.read_exact(&mut frame[ttlv::HEADER_LEN..])?;
        let limits = Limits {
            max_message_bytes: 16 << 20,
            ..Limits::DEFAULT
        };
        ttlv::decode(&frame, &limits)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
    }

    /// Sends one encoded request frame and returns the response frame.
    pub fn send_bytes(&mut self, request: &[u8]) -> Vec<u8> {
        self.stream.write_all(request).unwrap();
        self.stream.flush().unwrap();
        let mut header = [0u8; ttlv::HEADER_LEN];
        self.stream.read_exact(&mut header).unwrap();
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut frame = header.to_vec();
        frame.resize(ttlv::HEADER_LEN + len, 0);
        self.stream
            .read_exact(&mut frame[ttlv::HEADER_LEN..])
            .unwrap();
        frame
    }

    /// Sends a request tree as binary TTLV and decodes the response.
    pub fn send(&mut self, request: &Ttlv) -> Ttlv {
        let answer = self.send_bytes(&ttlv::encode(request));
        let limits = Limits {
            max_message_bytes: 16 << 20,
            ..Limits::DEFAULT
        };
        ttlv::decode(&answer, &limits).unwrap()
    }
}

/// A TCP connection to `server` from the loopback address `source` (e.g. 127.0.0.2): a peer that a per-address
/// limit on 127.0.0.1 does not hold back. Blocking, like the connections `KmipClient` makes.
pub fn connect_from(source: std::net::IpAddr, server: SocketAddr) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tcp = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(source, 0)).unwrap();
        socket.connect(server).await.unwrap().into_std().unwrap()
    });
    tcp.set_nonblocking(false).unwrap();
    tcp
}

/// A loopback port free at the time of asking, for servers a test starts as separate processes.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
