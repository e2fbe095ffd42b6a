//! The network edge over real TLS on 127.0.0.1: who may connect, how frames are read and answered, and how
//! limits, timeouts and shutdown end connections. Certificates are made fresh for each test.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kmipd::access::Caller;
use kmipd::pki::{CertificateAuthority, IssuedPair, KeyType, write_pair, write_public_file};
use kmipd::server::{
    ConnectionLimits, FrameHandler, Reply, ServerConfig, ServerError, TlsFiles, run_with_listener,
};
use kmipd::ttlv::{ItemType, TtlvError};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ProtocolVersion, SupportedProtocolVersion};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Upper bound of any single test.
const TEST_BOUND: Duration = Duration::from_secs(30);
/// Upper bound of one network wait inside a test.
const STEP: Duration = Duration::from_secs(5);
/// First body byte that makes the test handler ask for the connection to be closed after its reply.
const CLOSE_MARK: u8 = 0xCC;
/// What the test handler answers to a refused header.
const REJECTED: &[u8] = b"REJECTED";

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_BOUND, test)
        .await
        .expect("test exceeded its time bound")
}

async fn step<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, future).await {
        Ok(value) => value,
        Err(_) => panic!("{what} did not complete within {STEP:?}"),
    }
}

/// Echoes each frame back after `delay`; records callers and refusals.
#[derive(Default)]
struct EchoHandler {
    delay: Duration,
    /// Frames the handler has begun (before its delay).
    entered: AtomicUsize,
    /// Frames being handled now, and the most there ever were at once.
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    frames: AtomicUsize,
    identities: Mutex<Vec<String>>,
    rejections: Mutex<Vec<TtlvError>>,
}

impl FrameHandler for EchoHandler {
    fn handle_frame(&self, frame: &[u8], caller: &Caller) -> Reply {
        self.entered.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(self.delay);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.frames.fetch_add(1, Ordering::SeqCst);
        self.identities
            .lock()
            .unwrap()
            .push(caller.identity.clone());
        Reply {
            bytes: frame.to_vec(),
            close_after: frame.get(8) == Some(&CLOSE_MARK),
        }
    }

    fn reject_frame(&self, error: &TtlvError, _caller: &Caller) -> Option<Vec<u8>> {
        self.rejections.lock().unwrap().push(error.clone());
        Some(REJECTED.to_vec())
    }
}

/// A TTLV-shaped frame: a Structure header declaring `body_len` bytes, then a recognisable body.
fn frame(body_len: usize) -> Vec<u8> {
    let mut bytes = vec![0x42, 0x00, 0x78, 0x01];
    bytes.extend_from_slice(&u32::try_from(body_len).unwrap().to_be_bytes());
    bytes.extend((0..body_len).map(|i| (i % 251) as u8));
    bytes
}

/// The certificates of one test: the server's CA, and clients of several kinds.
struct Pki {
    ca: CertificateAuthority,
    ca_pair: IssuedPair,
    server: IssuedPair,
    alice: IssuedPair,
}

impl Pki {
    fn new() -> Pki {
        let (ca, ca_pair) =
            CertificateAuthority::generate("test CA", 30, KeyType::EcdsaP256).unwrap();
        let server = ca
            .issue_server(
                &["localhost".into()],
                &["127.0.0.1".parse().unwrap()],
                30,
                KeyType::EcdsaP256,
            )
            .unwrap();
        let alice = ca.issue_client("alice", 30, KeyType::EcdsaP256).unwrap();
        Pki {
            ca,
            ca_pair,
            server,
            alice,
        }
    }
}

fn test_limits() -> ConnectionLimits {
    ConnectionLimits {
        handshake_timeout: Duration::from_secs(3),
        shutdown_grace: Duration::from_secs(3),
        ..ConnectionLimits::default()
    }
}

struct TestServer {
    address: SocketAddr,
    handler: Arc<EchoHandler>,
    pki: Pki,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServerError>>,
    _dir: tempfile::TempDir,
}

async fn start(limits: ConnectionLimits, handler: EchoHandler) -> TestServer {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let (cert_chain, private_key) = write_pair(dir.path(), "server", &pki.server).unwrap();
    let client_ca = dir.path().join("client-ca.pem");
    write_public_file(&client_ca, pki.ca.certificate_pem()).unwrap();
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_owned(),
        tls: TlsFiles {
            cert_chain: Some(cert_chain),
            private_key: Some(private_key),
            client_ca: Some(client_ca),
            ..TlsFiles::default()
        },
        limits,
        ..ServerConfig::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let handler = Arc::new(handler);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(run_with_listener(
        listener,
        config,
        handler.clone(),
        async move {
            let _ = stopped.await;
        },
    ));
    TestServer {
        address,
        handler,
        pki,
        stop: Some(stop),
        task,
        _dir: dir,
    }
}

impl TestServer {
    async fn connect(&self, client: Option<&IssuedPair>) -> io::Result<TlsStream<TcpStream>> {
        self.connect_with(&rustls::version::TLS13, client).await
    }

    async fn connect_with(
        &self,
        version: &'static SupportedProtocolVersion,
        client: Option<&IssuedPair>,
    ) -> io::Result<TlsStream<TcpStream>> {
        connect(
            self.address,
            version,
            self.pki.ca_pair.certificate_pem.as_str(),
            client,
        )
        .await
    }

    /// Stops the server and waits for `run` to return.
    async fn stop(mut self) -> Result<(), ServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        step("server shutdown", &mut self.task).await.unwrap()
    }
}

/// Waits until the handler has begun `n` frames: the request is in flight on the server.
async fn handler_entered(handler: &EchoHandler, n: usize) {
    step("the request reaches the handler", async {
        while handler.entered.load(Ordering::SeqCst) < n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
}

async fn connect(
    address: SocketAddr,
    version: &'static SupportedProtocolVersion,
    trusted_ca_pem: &str,
    client: Option<&IssuedPair>,
) -> io::Result<TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(trusted_ca_pem.as_bytes()).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(kmipd::mtls::provider())
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some(pair) => {
            let chain =
                vec![CertificateDer::from_pem_slice(pair.certificate_pem.as_bytes()).unwrap()];
            let key = PrivateKeyDer::from_pem_slice(pair.private_key_pem.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    let tcp = TcpStream::connect(address).await?;
    let name = ServerName::try_from("localhost").unwrap();
    step(
        "TLS connect",
        TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
}

/// Sends one frame and reads back as many bytes.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    request: &[u8],
) -> io::Result<Vec<u8>> {
    stream.write_all(request).await?;
    stream.flush().await?;
    let mut answer = vec![0u8; request.len()];
    step("reply", stream.read_exact(&mut answer)).await?;
    Ok(answer)
}

/// Reads until the peer closes; an error after some bytes (no close_notify) also ends the read.
async fn read_to_close<S: AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match step("connection close", stream.read(&mut buffer)).await {
            Ok(0) | Err(_) => return received,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

/// True when the server refused the client: the handshake failed or, in TLS 1.3 where the client finishes
/// before the server has checked its certificate, the first request gets no answer.
async fn is_refused(connected: io::Result<TlsStream<TcpStream>>) -> bool {
    let Ok(mut stream) = connected else {
        return true;
    };
    exchange(&mut stream, &frame(16)).await.is_err()
}

#[tokio::test]
async fn mutual_tls_with_a_tls12_client() {
    bounded(async {
        let server = start(test_limits(), EchoHandler::default()).await;
        let mut stream = server
            .connect_with(&rustls::version::TLS12, Some(&server.pki.alice))
            .await
            .unwrap();
        assert_eq!(
            stream.get_ref().1.protocol_version(),
            Some(ProtocolVersion::TLSv1_2)
        );
        let request = frame(100);
        assert_eq!(exchange(&mut stream, &request).await.unwrap(), request);
        assert_eq!(
            *server.handler.identities.lock().unwrap(),
            vec!["alice".to_string()]
        );
        drop(stream);
        server.stop().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn mutual_tls_with_a_tls13_client() {
    bounded(async {
        let server = start(test_limits(), EchoHandler::default()).await;
        let mut stream = server
            .connect_with(&rustls::version::TLS13, Some(&server.pki.alice))
            .await
            .unwrap();
        assert_eq!(
            stream.get_ref().1.protocol_version(),
            Some(ProtocolVersion::TLSv1_3)
        );
        let request = frame(100);
        assert_eq!(exchange(&mut stream, &request).await.unwrap(), request);
        assert_eq!(
            *server.handler.identities.lock().unwrap(),
            vec!["alice".to_string()]
        );
        drop(stream);
        server.stop().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn many_requests_on_one_connection() {
    bounded(async {
        let server = start(test_limits(), EchoHandler::default()).await;
        let mut stream = server.connect(Some(&server.pki.alice)).await.unwrap();
        for size in [0usize, 1, 7, 8, 1000, 65_536, 300_000, 16]
            .into_iter()
            .cycle()
            .take(40)
        {
            let request = frame(size);
            assert_eq!(
                exchange(&mut stream, &request).await.unwrap(),
                request,
                "frame of {size}"
            );
        }
        assert_eq!(server.handler.frames.load(Ordering::SeqCst), 40);
        stream.shutdown().await.unwrap();
        server.stop().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn one_connection_per_request_with_and_without_close_notify() {
    bounded(async {
        let server = start(test_limits(), EchoHandler::default()).await;
        for i in 0..12 {
            let mut stream = server.connect(Some(&server.pki.alice)).await.unwrap();
            let request = frame(i * 10);
            assert_eq!(exchange(&mut stream, &request).await.unwrap(), request);
            if i % 2 == 0 {
                stream.shutdown().await.unwrap();
            } else {
                // Close the TCP connection without TLS close_notify, as some KMIP clients do.
                let (tcp, _) = stream.into_inner();
                drop(tcp);
            }
        }
        assert_eq!(server.handler.frames.load(Ordering::SeqCst), 12);
        server.stop().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn the_handler_can_close_the_connection_after_its_reply() {
    bounded(async {
        let server = start(test_limits(), EchoHandler::default()).await;
        let mut stream = server.connect(Some(&server.pki.alice)).await.unwrap();
        let mut request = frame(4);
        request[8] = CLOSE_MARK;
        assert_eq!(exchange(&mut stream, &request).await.unwrap(), request);
        assert!(read_to_close(&mut stream).await.is_empty());
        server.stop().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn a_client_certificate_without_client_auth_usage_is_accepted_but_a_server_certificate_is_not()
 {
    bounded(async {
        let server = start(test_limits(), EchoHandler::default()).await;
        // No extended key usage at all, as some clients' certificates carry.
        let no_usage = server
            .pki
            .ca
            .issue_client_for("vcenter.example", 30, KeyType::EcdsaP256, &[])
            .unwrap();
        // A server certificate's extended key usage is serverAuth only.
        let server_auth_only = server
            .pki
            .ca
            .issue_server(&["web.example".into()], &[], 30, KeyType::EcdsaP256)
            .unwrap();
        for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
            let mut stream = server.connect_with(version, Some(&no_usage)).await.unwrap();
            let request = frame(32);
            assert_eq!(exchange(&mut stream, &request).await.unwrap(), request);
            // Refused in the handshake (TLS 1.2) or right after it, before any request is answered (TLS 1.3).
            if let Ok(mut stream) = server.connect_with(version, Some(&server_auth_only)).await {
                assert!(exchange(&mut stream, &request).await.is_err());
            }
        }
        let identities = server.handler.identities.lock().unwrap().clone();
        assert!(
            identities.iter().all(|i| i == "vcenter.example"),
            "{identities:?}"
        );
        server.stop().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn an_rsa_client_certificate_is_accepted() {
    bounded(async {
        let server = start(test_limits(), EchoHandler::default()).await;
        let rsa = server
            .pki
            .ca
            .issue_client("rsa-client", 30, KeyType::Rsa2048)
            .unwrap();
        let mut stream = server
            .connect_with(&rustls::version::TLS12, Some(&rsa))
            .await
            .unwrap();
        let request = frame(32);
        assert_eq!(exchange(&mut stream, &request).await.unwrap(), request);
        server.stop().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused() {
    bounded(async {
        let server = start(test_limits(), EchoHandler::default()).await;
        let (other_ca, _) =
            CertificateAuthority::generate("other CA", 30, KeyType::EcdsaP256).unwrap();
        let mallory = other_ca
            .issue_client("mallory", 30, KeyType::EcdsaP256)
            .unwrap();
        for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
            assert!(is_refused(server.connect_with(version, Some(&mallory)).await).await);
        }
        assert_eq!(server.handler.frames.load(Ordering::SeqCst), 0);
        server.stop().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn an_expired_client_certificate_is_refused() {
    bounded(async {
        let server = start(test_limits(), EchoHandler::default()).await;
        let ca_key = rcgen::KeyPair::from_pem(&server.pki.ca_pair.private_key_pem).unwrap();
        let issuer =
            rcgen::Issuer::from_ca_cert_pem(&server.pki.ca_pair.certificate_pem, ca_key).unwrap();
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "expired");
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        let key = rcgen::KeyPair::generate().unwrap();
        let certificate = params.signed_by(&key, &issuer).unwrap();
        let expired = IssuedPair {
            certificate_pem: certificate.pem(),
            private_key_pem: key.serialize_pem().into(),
        };
        for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
            assert!(is_refused(server.connect_with(version, Some(&expired)).await).await);
        }
        assert_eq!(server.handler.frames.load(Ordering::SeqCst), 0);
        server.stop().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn a_client_without_a_certificate_is_refused() {
    bounded(async {
        let server = start(test_limits(), EchoHandler::default()).await;
        for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
            assert!(is_refused(server.connect_with(version, None).await).await);
        }
        assert_eq!(server.handler.frames.load(Ordering::SeqCst), 0);
        server.stop().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn plaintext_ttlv_gets_no_kmip_answer() {
    bounded(async {
        let server = start(test_limits(), EchoHandler::default()).await;
        let mut tcp = TcpStream::connect(server.address).await.unwrap();
        let request = frame(64);
        tcp.write_all(&request).await.unwrap();
        let answer = read_to_close(&mut tcp).await;
        // At most a TLS alert record (content type 21), never a TTLV message.
        assert!(
            answer.is_empty() || answer[0] == 0x15,
            "unexpected answer {answer:02x?}"
        );
        assert_eq!(server.handler.frames.load(Ordering::SeqCst), 0);
        server.stop().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn a_four_gibibyte_header_is_rejected_and_the_connection_closed() {
    bounded(async {
        let server = start(test_limits(), EchoHandler::default()).await;
        let mut stream = server.connect(Some(&server.pki.alice)).await.unwrap();
        stream
            .write_all(&[0x42, 0x00, 0x78, 0x01, 0xFF, 0xFF, 0xFF, 0xFF])
            .await
            .unwrap();
        stream.flush().await.unwrap();
        assert_eq!(read_to_close(&mut stream).await, REJECTED);
        assert_eq!(
            *server.handler.rejections.lock().unwrap(),
            vec![TtlvError::MessageTooLarge {
                declared: 0xFFFF_FFFF + 8,
                limit: 1 << 20
            }]
        );
        assert_eq!(server.handler.frames.load(Ordering::SeqCst), 0);
        server.stop().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn a_header_that_is_not_a_structure_is_rejected() {
    bounded(async {
        let server = start(test_limits(), EchoHandler::default()).await;
        let mut stream = server.connect(Some(&server.pki.alice)).await.unwrap();
        stream
            .write_all(&[0x42, 0x00, 0x78, 0x07, 0x00, 0x00, 0x00, 0x00])
            .await
            .unwrap();
        stream.flush().await.unwrap();
        assert_eq!(read_to_close(&mut stream).await, REJECTED);
        assert_eq!(
            *server.handler.rejections.lock().unwrap(),
            vec![TtlvError::NotAStructure {
                offset: 0,
                found: ItemType::TextString
            }]
        );
        server.stop().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn an_idle_connection_is_closed() {
    bounded(async {
        let limits = ConnectionLimits {
            idle_timeout: Duration::from_millis(200),
            ..test_limits()
        };
        let server = start(limits, EchoHandler::default()).await;
        let mut stream = server.connect(Some(&server.pki.alice)).await.unwrap();
        let request = frame(8);
        assert_eq!(exchange(&mut stream, &request).await.unwrap(), request);
        let waited = Instant::now();
        assert!(read_to_close(&mut stream).await.is_empty());
        let elapsed = waited.elapsed();
        assert!(
            elapsed >= Duration::from_millis(150),
            "closed after {elapsed:?}"
        );
        assert!(elapsed < Duration::from_secs(2), "closed after {elapsed:?}");
        server.stop().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn a_frame_that_stalls_is_cut_by_the_read_timeout() {
    bounded(async {
        let limits = ConnectionLimits {
            idle_timeout: Duration::from_secs(20),
            read_timeout: Duration::from_millis(200),
            ..test_limits()
        };
        let server = start(limits, EchoHandler::default()).await;
        let mut stream = server.connect(Some(&server.pki.alice)).await.unwrap();
        let request = frame(100);
        // Half a header, then nothing.
        stream.write_all(&request[..4]).await.unwrap();
        stream.flush().await.unwrap();
        let waited = Instant::now();
        assert!(read_to_close(&mut stream).await.is_empty());
        assert!(
            waited.elapsed() < Duration::from_secs(2),
            "closed after {:?}",
            waited.elapsed()
        );

        // A body that stops halfway is cut the same way.
        let mut stream = server.connect(Some(&server.pki.alice)).await.unwrap();
        stream.write_all(&request[..50]).await.unwrap();
        stream.flush().await.unwrap();
        let waited = Instant::now();
        assert!(read_to_close(&mut stream).await.is_empty());
        assert!(
            waited.elapsed() < Duration::from_secs(2),
            "closed after {:?}",
            waited.elapsed()
        );
        assert_eq!(server.handler.frames.load(Ordering::SeqCst), 0);
        server.stop().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed() {
    bounded(async {
        let limits = ConnectionLimits {
            max_connections: 2,
            ..test_limits()
        };
        let server = start(limits, EchoHandler::default()).await;
        let mut first = server.connect(Some(&server.pki.alice)).await.unwrap();
        let mut second = server.connect(Some(&server.pki.alice)).await.unwrap();
        let request = frame(10);
        assert_eq!(exchange(&mut first, &request).await.unwrap(), request);
        assert_eq!(exchange(&mut second, &request).await.unwrap(), request);

        assert!(is_refused(server.connect(Some(&server.pki.alice)).await).await);

        // Both admitted connections still work, and a freed place admits a new connection.
        assert_eq!(exchange(&mut first, &request).await.unwrap(), request);
        second.shutdown().await.unwrap();
        drop(second);
        let deadline = Instant::now() + STEP;
        loop {
            let connected = server.connect(Some(&server.pki.alice)).await;
            if let Ok(mut third) = connected
                && exchange(&mut third, &request).await.is_ok()
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the freed place was never reused"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server.stop().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn requests_are_handled_at_most_handler_slots_at_once() {
    bounded(async {
        let slots = kmipd::server::handler_slots();
        let handler = EchoHandler {
            delay: Duration::from_millis(200),
            ..EchoHandler::default()
        };
        let server = start(test_limits(), handler).await;
        let mut clients = Vec::new();
        for _ in 0..(2 * slots + 1) {
            let mut stream = server.connect(Some(&server.pki.alice)).await.unwrap();
            clients.push(tokio::spawn(async move {
                let request = frame(20);
                stream.write_all(&request).await.unwrap();
                stream.flush().await.unwrap();
                let mut answer = vec![0u8; request.len()];
                stream.read_exact(&mut answer).await.unwrap();
                assert_eq!(answer, request);
            }));
        }
        for client in clients {
            step("an answer", client).await.unwrap();
        }
        let most = server.handler.max_in_flight.load(Ordering::SeqCst);
        assert!(most <= slots, "{most} requests at once, above {slots}");
        assert!(most >= 2, "requests never ran side by side");
        server.stop().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn shutdown_lets_the_request_in_flight_finish() {
    bounded(async {
        let handler = EchoHandler {
            delay: Duration::from_millis(300),
            ..EchoHandler::default()
        };
        let server = start(test_limits(), handler).await;
        let mut stream = server.connect(Some(&server.pki.alice)).await.unwrap();
        let request = frame(20);
        stream.write_all(&request).await.unwrap();
        stream.flush().await.unwrap();
        handler_entered(&server.handler, 1).await;
        let address = server.address;
        let stopping = tokio::spawn(server.stop());

        let mut answer = vec![0u8; request.len()];
        step("reply during shutdown", stream.read_exact(&mut answer))
            .await
            .unwrap();
        assert_eq!(answer, request);
        assert!(read_to_close(&mut stream).await.is_empty());
        step("run to return", stopping).await.unwrap().unwrap();
        assert!(
            TcpStream::connect(address).await.is_err(),
            "still accepting after shutdown"
        );
    })
    .await
}

#[tokio::test]
async fn shutdown_does_not_wait_beyond_the_grace_period() {
    bounded(async {
        let limits = ConnectionLimits {
            shutdown_grace: Duration::from_millis(200),
            ..test_limits()
        };
        let handler = EchoHandler {
            delay: Duration::from_secs(3),
            ..EchoHandler::default()
        };
        let server = start(limits, handler).await;
        let mut stream = server.connect(Some(&server.pki.alice)).await.unwrap();
        stream.write_all(&frame(20)).await.unwrap();
        stream.flush().await.unwrap();
        handler_entered(&server.handler, 1).await;
        let handler = server.handler.clone();
        server.stop().await.unwrap();
        // The stop returned while the request was still in the handler: it did not wait for it.
        assert_eq!(
            handler.frames.load(Ordering::SeqCst),
            0,
            "shutdown waited for the request beyond the grace period"
        );
        assert!(read_to_close(&mut stream).await.is_empty());
    })
    .await
}

#[tokio::test]
async fn missing_certificate_files_stop_the_server_from_starting() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let config = ServerConfig {
            data_dir: dir.path().to_owned(),
            ..ServerConfig::default()
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let handler: Arc<dyn FrameHandler> = Arc::new(EchoHandler::default());
        let result = run_with_listener(listener, config, handler, std::future::pending()).await;
        assert!(matches!(result, Err(ServerError::Tls(_))), "{result:?}");
    })
    .await
}
