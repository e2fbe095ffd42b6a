//! Grant management against a running server: three vendor-specific KMIP operations (KMIP lets vendors define
//! operations in the 0x8000_0000 range) whose request and response payloads carry one vendor Text String
//! holding JSON, and the blocking mutual-TLS client the `kmipd grant`/`revoke`/`grants list` commands use.
//! The server answers them only for administrators and, per object, its owner.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::kmip::Operation;
use crate::spec::{enums, tag};
use crate::ttlv::{self, Limits, Ttlv, Value};

/// Vendor operation: store a grant.
pub const OP_GRANT: Operation = Operation(0x8000_4B01);
/// Vendor operation: remove a grant by its identifier.
pub const OP_REVOKE_GRANT: Operation = Operation(0x8000_4B02);
/// Vendor operation: list the grants the caller may manage.
pub const OP_LIST_GRANTS: Operation = Operation(0x8000_4B03);
/// Vendor extension tag of the JSON text in the payloads.
pub const TAG_ACCESS_JSON: u32 = 0x54_4B01;

/// The operations of this module, for the engine's dispatch.
pub const ACCESS_OPERATIONS: [Operation; 3] = [OP_GRANT, OP_REVOKE_GRANT, OP_LIST_GRANTS];

/// A payload (request or response) carrying `json`.
pub fn payload(payload_tag: u32, json: &str) -> Ttlv {
    Ttlv::structure(
        payload_tag,
        vec![Ttlv::new(
            TAG_ACCESS_JSON,
            Value::TextString(json.to_string()),
        )],
    )
}

/// The JSON a payload carries.
pub fn payload_json(payload: &Ttlv) -> Option<&str> {
    match payload.child(TAG_ACCESS_JSON).map(|j| &j.value) {
        Some(Value::TextString(s)) => Some(s),
        _ => None,
    }
}

/// A KMIP 1.4 request message with one batch item of `operation` carrying `json`.
pub fn request(operation: Operation, json: &str) -> Ttlv {
    let int = |t, v| Ttlv::new(t, Value::Integer(v));
    Ttlv::structure(
        tag::REQUEST_MESSAGE,
        vec![
            Ttlv::structure(
                tag::REQUEST_HEADER,
                vec![
                    Ttlv::structure(
                        tag::PROTOCOL_VERSION,
                        vec![
                            int(tag::PROTOCOL_VERSION_MAJOR, 1),
                            int(tag::PROTOCOL_VERSION_MINOR, 4),
                        ],
                    ),
                    int(tag::BATCH_COUNT, 1),
                ],
            ),
            Ttlv::structure(
                tag::BATCH_ITEM,
                vec![
                    Ttlv::new(tag::OPERATION, Value::Enumeration(operation.0)),
                    payload(tag::REQUEST_PAYLOAD, json),
                ],
            ),
        ],
    )
}

/// The JSON of a successful response, or the failure's reason and message.
pub fn response_json(response: &Ttlv) -> Result<String, String> {
    let item = response
        .child(tag::BATCH_ITEM)
        .ok_or("the response has no batch item")?;
    let status = item.child(tag::RESULT_STATUS).map(|s| &s.value);
    if status != Some(&Value::Enumeration(enums::result_status::SUCCESS)) {
        let reason = match item.child(tag::RESULT_REASON).map(|r| &r.value) {
            Some(Value::Enumeration(r)) => crate::kmip::ResultReason::from_code(*r)
                .map_or(format!("reason {r:#x}"), |r| r.name().to_string()),
            _ => "no reason".to_string(),
        };
        let message = match item.child(tag::RESULT_MESSAGE).map(|m| &m.value) {
            Some(Value::TextString(m)) => m.clone(),
            _ => String::new(),
        };
        return Err(format!("refused: {reason}: {message}"));
    }
    item.child(tag::RESPONSE_PAYLOAD)
        .and_then(payload_json)
        .map(str::to_string)
        .ok_or_else(|| "the response carries no JSON".to_string())
}

/// How the commands reach the server.
#[derive(Clone, Debug)]
pub struct Connection<'a> {
    /// The server's address.
    pub server: SocketAddr,
    /// The name the server's certificate must carry.
    pub server_name: &'a str,
    /// PEM bundle of the CA that issued the server's certificate.
    pub ca: &'a Path,
    /// The client certificate (PEM), an administrator's or an owner's.
    pub certificate: &'a Path,
    /// Its private key (PEM).
    pub key: &'a Path,
}

/// Sends one vendor request over mutual TLS and returns the response's JSON.
pub fn call(conn: &Connection<'_>, operation: Operation, json: &str) -> Result<String, String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&read(conn.ca)?) {
        let cert = cert.map_err(|e| format!("{}: {e}", conn.ca.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("{}: {e}", conn.ca.display()))?;
    }
    let chain = CertificateDer::pem_slice_iter(&read(conn.certificate)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", conn.certificate.display()))?;
    let key = PrivateKeyDer::from_pem_slice(&read(conn.key)?)
        .map_err(|e| format!("{}: {e}", conn.key.display()))?;
    let config = rustls::ClientConfig::builder_with_provider(crate::server::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from(conn.server_name.to_string())
        .map_err(|e| format!("server name {:?}: {e}", conn.server_name))?;
    let tls = rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let tcp = TcpStream::connect(conn.server)
        .map_err(|e| format!("cannot connect to {}: {e}", conn.server))?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut stream = rustls::StreamOwned::new(tls, tcp);
    let io = |e: std::io::Error| format!("talking to {}: {e}", conn.server);
    stream
        .write_all(&ttlv::encode(&request(operation, json)))
        .map_err(io)?;
    stream.flush().map_err(io)?;
    let mut header = [0u8; ttlv::HEADER_LEN];
    stream.read_exact(&mut header).map_err(io)?;
    let limits = Limits::DEFAULT;
    let total = ttlv::frame_len(&header, &limits).map_err(|e| e.to_string())?;
    let mut frame = header.to_vec();
    frame.resize(total, 0);
    if let Some(body) = frame.get_mut(ttlv::HEADER_LEN..) {
        stream.read_exact(body).map_err(io)?;
    }
    let response = ttlv::decode(&frame, &limits).map_err(|e| e.to_string())?;
    response_json(&response)
}
