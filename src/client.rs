//! The small blocking KMIP client the `kmipd` commands use against a running server: one mutual-TLS connection
//! per command, KMIP 1.4 requests built here, and the key operations an operator needs from a shell (create a
//! named key, fetch a key by name for a LUKS keyscript). It speaks the same wire as every other client, so the
//! server's access policy and audit log apply to it unchanged.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use thiserror::Error;

use crate::kmip::{Operation, ResultReason};
use crate::spec::{enums, tag};
use crate::ttlv::{self, Limits, SecretBytes, Tag, Ttlv, Value};

/// How long the client waits for the server's answer before giving up.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a command against the server failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// A certificate, key or CA file could not be read or parsed.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What was wrong with it.
        reason: String,
    },
    /// TLS could not be set up or the connection broke.
    #[error("talking to {server}: {reason}")]
    Connection {
        /// The server's address.
        server: SocketAddr,
        /// What went wrong.
        reason: String,
    },
    /// The server refused the operation.
    #[error("refused: {reason}: {message}")]
    Refused {
        /// The Result Reason's name.
        reason: String,
        /// The server's Result Message.
        message: String,
    },
    /// The answer was not the KMIP response expected.
    #[error("unexpected response: {0}")]
    Protocol(String),
    /// No object carries the name (or the caller may not see it).
    #[error("no key named {0:?} that this identity may see")]
    NotFound(String),
    /// More than one object carries the name.
    #[error("{count} objects are named {name:?}; give --id instead")]
    Ambiguous {
        /// The name.
        name: String,
        /// How many objects Locate returned (at most the two asked for).
        count: usize,
    },
    /// A key of that name exists already.
    #[error("an object named {0:?} exists already")]
    Exists(String),
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
    /// The client certificate (PEM): the identity the server's policy judges.
    pub certificate: &'a Path,
    /// Its private key (PEM).
    pub key: &'a Path,
}

/// Sends one request message over mutual TLS and returns the response message.
pub fn exchange(conn: &Connection<'_>, request: &Ttlv) -> Result<Ttlv, ClientError> {
    let file_error = |p: &Path, e: &dyn std::fmt::Display| ClientError::File {
        path: p.display().to_string(),
        reason: e.to_string(),
    };
    let read = |p: &Path| std::fs::read(p).map_err(|e| file_error(p, &e));
    let broken = |reason: &dyn std::fmt::Display| ClientError::Connection {
        server: conn.server,
        reason: reason.to_string(),
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&read(conn.ca)?) {
        let cert = cert.map_err(|e| file_error(conn.ca, &e))?;
        roots.add(cert).map_err(|e| file_error(conn.ca, &e))?;
    }
    let chain = CertificateDer::pem_slice_iter(&read(conn.certificate)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(conn.certificate, &e))?;
    let key =
        PrivateKeyDer::from_pem_slice(&read(conn.key)?).map_err(|e| file_error(conn.key, &e))?;
    let config = rustls::ClientConfig::builder_with_provider(crate::mtls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| broken(&e))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| file_error(conn.certificate, &e))?;
    let name = ServerName::try_from(conn.server_name.to_string())
        .map_err(|e| broken(&format!("server name {:?}: {e}", conn.server_name)))?;
    let tls = rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| broken(&e))?;
    let tcp = TcpStream::connect(conn.server).map_err(|e| broken(&e))?;
    tcp.set_read_timeout(Some(RESPONSE_TIMEOUT))
        .map_err(|e| broken(&e))?;
    let mut stream = rustls::StreamOwned::new(tls, tcp);
    stream
        .write_all(&ttlv::encode(request))
        .map_err(|e| broken(&e))?;
    stream.flush().map_err(|e| broken(&e))?;
    let mut header = [0u8; ttlv::HEADER_LEN];
    stream.read_exact(&mut header).map_err(|e| broken(&e))?;
    let limits = Limits::DEFAULT;
    let total = ttlv::frame_len(&header, &limits).map_err(|e| broken(&e))?;
    let mut frame = header.to_vec();
    frame.resize(total, 0);
    if let Some(body) = frame.get_mut(ttlv::HEADER_LEN..) {
        stream.read_exact(body).map_err(|e| broken(&e))?;
    }
    ttlv::decode(&frame, &limits).map_err(|e| ClientError::Protocol(e.to_string()))
}

/// A KMIP 1.4 request message with one batch item of `operation` carrying `payload` (the Request Payload's
/// children).
pub fn request(operation: Operation, payload: Vec<Ttlv>) -> Ttlv {
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
                    Ttlv::structure(tag::REQUEST_PAYLOAD, payload),
                ],
            ),
        ],
    )
}

/// The Response Payload of the response's one batch item, or the server's refusal.
pub fn success_payload(response: &Ttlv) -> Result<&Ttlv, ClientError> {
    let item = response
        .child(tag::BATCH_ITEM)
        .ok_or_else(|| ClientError::Protocol("the response has no batch item".into()))?;
    let status = item.child(tag::RESULT_STATUS).map(|s| &s.value);
    if status != Some(&Value::Enumeration(enums::result_status::SUCCESS)) {
        let reason = match item.child(tag::RESULT_REASON).map(|r| &r.value) {
            Some(Value::Enumeration(r)) => {
                ResultReason::from_code(*r).map_or(format!("reason {r:#x}"), |r| r.name().into())
            }
            _ => "no reason".to_string(),
        };
        let message = match item.child(tag::RESULT_MESSAGE).map(|m| &m.value) {
            Some(Value::TextString(m)) => m.clone(),
            _ => String::new(),
        };
        return Err(ClientError::Refused { reason, message });
    }
    item.child(tag::RESPONSE_PAYLOAD)
        .ok_or_else(|| ClientError::Protocol("the response has no payload".into()))
}

/// Sends a one-item request and returns its Response Payload.
fn call(conn: &Connection<'_>, operation: u32, payload: Vec<Ttlv>) -> Result<Ttlv, ClientError> {
    let response = exchange(conn, &request(Operation(operation), payload))?;
    success_payload(&response).cloned()
}

fn text(t: Tag, v: &str) -> Ttlv {
    Ttlv::new(t, Value::TextString(v.to_string()))
}

/// A 1.x Attribute of `name` with `value`.
fn attribute(name: &str, value: Value) -> Ttlv {
    Ttlv::structure(
        tag::ATTRIBUTE,
        vec![
            text(tag::ATTRIBUTE_NAME, name),
            Ttlv::new(tag::ATTRIBUTE_VALUE, value),
        ],
    )
}

/// The 1.x Name attribute `name` (an uninterpreted text string, as clients name keys).
fn name_attribute(name: &str) -> Ttlv {
    attribute(
        "Name",
        Value::Structure(vec![
            text(tag::NAME_VALUE, name),
            Ttlv::new(
                tag::NAME_TYPE,
                Value::Enumeration(enums::name_type::UNINTERPRETED_TEXT_STRING),
            ),
        ]),
    )
}

fn uid_of(payload: &Ttlv) -> Result<String, ClientError> {
    match payload.child(tag::UNIQUE_IDENTIFIER).map(|u| &u.value) {
        Some(Value::TextString(uid)) => Ok(uid.clone()),
        _ => Err(ClientError::Protocol(
            "no Unique Identifier in the response".into(),
        )),
    }
}

/// The unique identifier of the one object named `name` the caller may see.
pub fn locate_by_name(conn: &Connection<'_>, name: &str) -> Result<String, ClientError> {
    // Two are enough to tell "exactly one" from "several".
    let payload = call(
        conn,
        enums::operation::LOCATE,
        vec![
            Ttlv::new(tag::MAXIMUM_ITEMS, Value::Integer(2)),
            name_attribute(name),
        ],
    )?;
    let found: Vec<String> = payload
        .children()
        .iter()
        .filter(|c| c.tag == tag::UNIQUE_IDENTIFIER)
        .filter_map(|c| match &c.value {
            Value::TextString(uid) => Some(uid.clone()),
            _ => None,
        })
        .collect();
    match found.as_slice() {
        [uid] => Ok(uid.clone()),
        [] => Err(ClientError::NotFound(name.to_string())),
        more => Err(ClientError::Ambiguous {
            name: name.to_string(),
            count: more.len(),
        }),
    }
}

/// The key material of object `uid`: the bytes of a Raw, Opaque or encoded (PKCS#8, X.509, ...) key, or the
/// Key of a Transparent Symmetric Key.
pub fn key_bytes(conn: &Connection<'_>, uid: &str) -> Result<SecretBytes, ClientError> {
    let payload = call(
        conn,
        enums::operation::GET,
        vec![text(tag::UNIQUE_IDENTIFIER, uid)],
    )?;
    let object = payload
        .children()
        .iter()
        .find(|c| c.tag != tag::OBJECT_TYPE && c.tag != tag::UNIQUE_IDENTIFIER)
        .ok_or_else(|| ClientError::Protocol("Get returned no object".into()))?;
    let material = object
        .child(tag::KEY_BLOCK)
        .and_then(|b| b.child(tag::KEY_VALUE))
        .and_then(|v| v.child(tag::KEY_MATERIAL))
        .ok_or_else(|| {
            ClientError::Protocol("the object has no Key Material (wrapped or not a key)".into())
        })?;
    match &material.value {
        Value::ByteString(b) => Ok(b.clone()),
        Value::Structure(_) => match material.child(tag::KEY).map(|k| &k.value) {
            Some(Value::ByteString(b)) => Ok(b.clone()),
            _ => Err(ClientError::Protocol(
                "the Key Material is a structure without a Key: ask for a symmetric key or secret"
                    .into(),
            )),
        },
        _ => Err(ClientError::Protocol(
            "the Key Material is not a byte string".into(),
        )),
    }
}

/// Creates an Active AES key of `bits` named `name` for encryption and decryption, refusing when an object of
/// that name exists already (a keyscript fetching by name must find exactly one); returns its identifier.
pub fn create_named_aes_key(
    conn: &Connection<'_>,
    name: &str,
    bits: i32,
) -> Result<String, ClientError> {
    match locate_by_name(conn, name) {
        Err(ClientError::NotFound(_)) => {}
        Ok(_) | Err(ClientError::Ambiguous { .. }) => {
            return Err(ClientError::Exists(name.to_string()));
        }
        Err(other) => return Err(other),
    }
    let usage = enums::cryptographic_usage_mask::ENCRYPT | enums::cryptographic_usage_mask::DECRYPT;
    let payload = call(
        conn,
        enums::operation::CREATE,
        vec![
            Ttlv::new(
                tag::OBJECT_TYPE,
                Value::Enumeration(enums::object_type::SYMMETRIC_KEY),
            ),
            Ttlv::structure(
                tag::TEMPLATE_ATTRIBUTE,
                vec![
                    attribute(
                        "Cryptographic Algorithm",
                        Value::Enumeration(enums::cryptographic_algorithm::AES),
                    ),
                    attribute("Cryptographic Length", Value::Integer(bits)),
                    attribute(
                        "Cryptographic Usage Mask",
                        Value::Integer(usage.cast_signed()),
                    ),
                    name_attribute(name),
                ],
            ),
        ],
    )?;
    let uid = uid_of(&payload)?;
    call(
        conn,
        enums::operation::ACTIVATE,
        vec![text(tag::UNIQUE_IDENTIFIER, &uid)],
    )?;
    Ok(uid)
}

/// Grant management against a running server: the vendor operations of [`crate::access::client`] sent as
/// KMIP 1.4 requests, their JSON answers read back.
pub mod access_admin {
    pub use super::Connection;
    use crate::access::client::payload_json_item;
    pub use crate::access::client::{
        OP_GRANT, OP_LIST_GRANTS, OP_REVOKE_GRANT, TAG_ACCESS_JSON, payload, payload_json,
    };
    use crate::kmip::Operation;
    use crate::ttlv::Ttlv;

    /// A KMIP 1.4 request message with one batch item of `operation` carrying `json`.
    pub fn request(operation: Operation, json: &str) -> Ttlv {
        super::request(operation, vec![payload_json_item(json)])
    }

    /// The JSON of a successful response, or the failure's reason and message.
    pub fn response_json(response: &Ttlv) -> Result<String, String> {
        let payload = super::success_payload(response).map_err(|e| e.to_string())?;
        payload_json(payload)
            .map(str::to_string)
            .ok_or_else(|| "the response carries no JSON".to_string())
    }

    /// Sends one vendor request over mutual TLS and returns the response's JSON.
    pub fn call(conn: &Connection<'_>, operation: Operation, json: &str) -> Result<String, String> {
        let response =
            super::exchange(conn, &request(operation, json)).map_err(|e| e.to_string())?;
        response_json(&response)
    }
}
