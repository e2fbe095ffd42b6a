//! The requests the load generator sends: for each operation, the setup it needs on the server (the key it
//! uses, the objects Locate searches, the objects Destroy removes), the request sent again and again, and the
//! check of each answer (Result Status Success and the field the operation must return).
//!
//! Requests are spelled in the chosen protocol version: 1.x Attributes inside Template-Attributes, or 2.x
//! attributes by their own tags inside Attributes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::LoadError;
use crate::kmip::ResultReason;
use crate::spec::enums::{
    block_cipher_mode, cryptographic_algorithm, cryptographic_usage_mask as usage, key_format_type,
    name_type, object_type, operation, padding_method, recommended_curve, result_status,
};
use crate::spec::tag;
use crate::ttlv::{self, Limits, SecretBytes, Tag, Ttlv, Value};

/// The operations the generator can drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    /// Get of an AES-256 key.
    Get,
    /// Encrypt of 64 bytes with AES-256-CBC (PKCS#5 padding, server-made IV).
    Encrypt,
    /// Decrypt of the 80 bytes an Encrypt of 64 bytes made.
    Decrypt,
    /// Sign of 64 bytes (ECDSA P-256 or Ed25519, see --sign-key).
    Sign,
    /// MAC (HMAC-SHA-256) of 64 bytes.
    Mac,
    /// Locate by Name in a store filled with --fill named keys.
    Locate,
    /// Locate by Object Type, Cryptographic Algorithm, Cryptographic Length and Object Group (groups of
    /// ten among the --fill keys).
    LocateAttrs,
    /// Create of an AES-256 key.
    Create,
    /// Register of an AES-256 key.
    Register,
    /// Destroy of keys created beforehand (--fill of them; the run ends early when they run out).
    Destroy,
    /// A Get request frame sent to an echo server (`kmipd bench echo-server`): the transport ceiling.
    Echo,
}

/// The name a report gives the operation (`sign-p256`, `locate-attrs`, ...).
pub fn op_name(op: Op, sign_key: SignKey) -> String {
    use clap::ValueEnum;
    let name = |v: Option<clap::builder::PossibleValue>| {
        v.map_or(String::new(), |v| v.get_name().to_string())
    };
    match op {
        Op::Sign => format!("sign-{}", name(sign_key.to_possible_value())),
        other => name(other.to_possible_value()),
    }
}

/// The key pair a Sign run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignKey {
    /// ECDSA on P-256 (SHA-256).
    P256,
    /// Ed25519.
    Ed25519,
}

/// A KMIP protocol version `major.minor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Version {
    /// Major.
    pub major: i32,
    /// Minor.
    pub minor: i32,
}

impl std::str::FromStr for Version {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (major, minor) = s
            .split_once('.')
            .ok_or_else(|| format!("`{s}`: give the version as MAJOR.MINOR, e.g. 1.4"))?;
        let parse = |p: &str| {
            p.parse::<i32>()
                .map_err(|_| format!("`{s}` is not a version"))
        };
        let version = Version {
            major: parse(major)?,
            minor: parse(minor)?,
        };
        if !crate::spec::VersionSet::ALL.contains(&(version.major, version.minor)) {
            return Err(format!("KMIP {s} is not a version (1.0-1.4, 2.0, 2.1)"));
        }
        Ok(version)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Keys created per Create request when filling the store (one batch).
pub const FILL_BATCH: usize = 50;
/// Objects per Object Group among the filled keys (what a LocateAttrs request finds).
pub const GROUP_SIZE: usize = 10;
/// The bytes Encrypt, Sign and MAC work on.
pub const MESSAGE: [u8; 64] = [0x5A; 64];
/// The AES-256 key material Register sends.
const REGISTERED_KEY: [u8; 32] = [0x42; 32];

fn text(t: Tag, v: &str) -> Ttlv {
    Ttlv::new(t, Value::TextString(v.to_string()))
}
fn enumeration(t: Tag, v: u32) -> Ttlv {
    Ttlv::new(t, Value::Enumeration(v))
}
fn int(t: Tag, v: i32) -> Ttlv {
    Ttlv::new(t, Value::Integer(v))
}
fn bytes(t: Tag, v: &[u8]) -> Ttlv {
    Ttlv::new(t, Value::ByteString(SecretBytes::new(v.to_vec())))
}

impl Version {
    fn v2(self) -> bool {
        self.major >= 2
    }

    /// An attribute as this version spells it: a 1.x Attribute (name, value) or the 2.x item itself.
    fn attribute(self, name: &str, t: Tag, value: Value) -> Ttlv {
        if self.v2() {
            Ttlv::new(t, value)
        } else {
            Ttlv::structure(
                tag::ATTRIBUTE,
                vec![
                    text(tag::ATTRIBUTE_NAME, name),
                    Ttlv::new(tag::ATTRIBUTE_VALUE, value),
                ],
            )
        }
    }

    fn name(self, name: &str) -> Ttlv {
        self.attribute(
            "Name",
            tag::NAME,
            Value::Structure(vec![
                text(tag::NAME_VALUE, name),
                enumeration(tag::NAME_TYPE, name_type::UNINTERPRETED_TEXT_STRING),
            ]),
        )
    }

    fn algorithm(self, algorithm: u32) -> Ttlv {
        self.attribute(
            "Cryptographic Algorithm",
            tag::CRYPTOGRAPHIC_ALGORITHM,
            Value::Enumeration(algorithm),
        )
    }

    fn length(self, bits: i32) -> Ttlv {
        self.attribute(
            "Cryptographic Length",
            tag::CRYPTOGRAPHIC_LENGTH,
            Value::Integer(bits),
        )
    }

    fn usage(self, mask: u32) -> Ttlv {
        self.attribute(
            "Cryptographic Usage Mask",
            tag::CRYPTOGRAPHIC_USAGE_MASK,
            Value::Integer(mask.cast_signed()),
        )
    }

    fn group(self, group: &str) -> Ttlv {
        self.attribute(
            "Object Group",
            tag::OBJECT_GROUP,
            Value::TextString(group.to_string()),
        )
    }

    /// The attributes of a Create or Register: a 1.x Template-Attribute (`template`) or 2.x Attributes.
    fn attributes(self, template: Tag, v2: Tag, attributes: Vec<Ttlv>) -> Ttlv {
        Ttlv::structure(if self.v2() { v2 } else { template }, attributes)
    }

    /// A request message of `items` (operation, payload).
    pub fn request(self, items: Vec<(u32, Vec<Ttlv>)>) -> Ttlv {
        let count = i32::try_from(items.len()).unwrap_or(i32::MAX);
        let mut children = vec![Ttlv::structure(
            tag::REQUEST_HEADER,
            vec![
                Ttlv::structure(
                    tag::PROTOCOL_VERSION,
                    vec![
                        int(tag::PROTOCOL_VERSION_MAJOR, self.major),
                        int(tag::PROTOCOL_VERSION_MINOR, self.minor),
                    ],
                ),
                int(tag::BATCH_COUNT, count),
            ],
        )];
        for (op, payload) in items {
            children.push(Ttlv::structure(
                tag::BATCH_ITEM,
                vec![
                    enumeration(tag::OPERATION, op),
                    Ttlv::structure(tag::REQUEST_PAYLOAD, payload),
                ],
            ));
        }
        Ttlv::structure(tag::REQUEST_MESSAGE, children)
    }

    /// Create of an AES-256 key for Encrypt and Decrypt, with `extra` attributes.
    fn create_aes(self, extra: Vec<Ttlv>) -> (u32, Vec<Ttlv>) {
        let mut attributes = vec![
            self.algorithm(cryptographic_algorithm::AES),
            self.length(256),
            self.usage(usage::ENCRYPT | usage::DECRYPT),
        ];
        attributes.extend(extra);
        (
            operation::CREATE,
            vec![
                enumeration(tag::OBJECT_TYPE, object_type::SYMMETRIC_KEY),
                self.attributes(tag::TEMPLATE_ATTRIBUTE, tag::ATTRIBUTES, attributes),
            ],
        )
    }

    fn cbc_parameters(self) -> Ttlv {
        Ttlv::structure(
            tag::CRYPTOGRAPHIC_PARAMETERS,
            vec![
                enumeration(tag::BLOCK_CIPHER_MODE, block_cipher_mode::CBC),
                enumeration(tag::PADDING_METHOD, padding_method::PKCS5),
            ],
        )
    }
}

/// A request's answer: the Response Payload of each of its batch items, or why one failed.
pub fn check_response(frame: &[u8]) -> Result<Vec<Ttlv>, String> {
    let response =
        ttlv::decode(frame, &Limits::DEFAULT).map_err(|e| format!("undecodable: {e}"))?;
    if response.tag != tag::RESPONSE_MESSAGE {
        return Err("not a Response Message".into());
    }
    let mut payloads = Vec::new();
    for item in response.children_with(tag::BATCH_ITEM) {
        let status = item.child(tag::RESULT_STATUS).map(|s| &s.value);
        if status != Some(&Value::Enumeration(result_status::SUCCESS)) {
            let reason = match item.child(tag::RESULT_REASON).map(|r| &r.value) {
                Some(Value::Enumeration(r)) => ResultReason::from_code(*r)
                    .map_or(format!("reason {r:#x}"), |r| r.name().to_string()),
                _ => "no Result Reason".to_string(),
            };
            let message = match item.child(tag::RESULT_MESSAGE).map(|m| &m.value) {
                Some(Value::TextString(m)) => crate::log_text::escape_control(m).into_owned(),
                _ => String::new(),
            };
            return Err(format!("{reason}: {message}"));
        }
        payloads.push(
            item.child(tag::RESPONSE_PAYLOAD)
                .cloned()
                .unwrap_or_else(|| Ttlv::structure(tag::RESPONSE_PAYLOAD, Vec::new())),
        );
    }
    if payloads.is_empty() {
        return Err("a response without batch items".into());
    }
    Ok(payloads)
}

/// Sends one request on `stream` and returns its payloads (every batch item must have succeeded).
pub async fn call<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    request: &Ttlv,
) -> Result<Vec<Ttlv>, LoadError> {
    let setup = |e: &dyn std::fmt::Display| LoadError::Setup(e.to_string());
    stream
        .write_all(&ttlv::encode(request))
        .await
        .map_err(|e| setup(&e))?;
    stream.flush().await.map_err(|e| setup(&e))?;
    let mut frame = Vec::new();
    if !super::tls::read_frame(stream, &mut frame)
        .await
        .map_err(|e| setup(&e))?
    {
        return Err(setup(&"the server closed the connection"));
    }
    check_response(&frame).map_err(|e| setup(&e))
}

fn first(payloads: &[Ttlv]) -> Result<&Ttlv, LoadError> {
    payloads
        .first()
        .ok_or_else(|| LoadError::Setup("no payload".into()))
}

fn text_of(payload: &Ttlv, t: Tag, what: &str) -> Result<String, LoadError> {
    match payload.child(t).map(|c| &c.value) {
        Some(Value::TextString(s)) => Ok(s.clone()),
        _ => Err(LoadError::Setup(format!("the answer has no {what}"))),
    }
}

fn bytes_of(payload: &Ttlv, t: Tag, what: &str) -> Result<Vec<u8>, LoadError> {
    match payload.child(t).map(|c| &c.value) {
        Some(Value::ByteString(b)) => Ok(b.as_slice().to_vec()),
        _ => Err(LoadError::Setup(format!("the answer has no {what}"))),
    }
}

/// What a run sends: how each request is made and what its answer must hold.
pub struct Workload {
    op: Op,
    version: Version,
    /// The frame sent every time, for operations whose request does not change.
    fixed: Option<Vec<u8>>,
    /// Names (Locate) or groups (LocateAttrs) to pick from, or identifiers to destroy.
    items: Vec<String>,
    /// The next identifier Destroy takes.
    next: AtomicUsize,
}

/// How a run goes on after a request was made.
pub enum Next {
    /// Send these bytes.
    Send(Vec<u8>),
    /// Nothing left to send (Destroy ran out of objects).
    Exhausted,
}

impl Workload {
    /// The operation.
    pub fn op(&self) -> Op {
        self.op
    }

    /// The request for the `n`-th operation of a connection whose generator state is `seed`.
    pub fn request(&self, seed: &mut u64) -> Next {
        if let Some(frame) = &self.fixed {
            return Next::Send(frame.clone());
        }
        let v = self.version;
        let payload = match self.op {
            Op::Destroy => {
                let i = self.next.fetch_add(1, Ordering::Relaxed);
                let Some(uid) = self.items.get(i) else {
                    return Next::Exhausted;
                };
                (operation::DESTROY, vec![text(tag::UNIQUE_IDENTIFIER, uid)])
            }
            Op::Locate | Op::LocateAttrs => {
                let pick = xorshift(seed) as usize % self.items.len().max(1);
                let Some(value) = self.items.get(pick) else {
                    return Next::Exhausted;
                };
                let mut payload = if self.op == Op::Locate {
                    vec![int(tag::MAXIMUM_ITEMS, 2)]
                } else {
                    vec![int(
                        tag::MAXIMUM_ITEMS,
                        i32::try_from(GROUP_SIZE).unwrap_or(i32::MAX),
                    )]
                };
                let mut attributes = if self.op == Op::Locate {
                    vec![v.name(value)]
                } else {
                    vec![
                        v.attribute(
                            "Object Type",
                            tag::OBJECT_TYPE,
                            Value::Enumeration(object_type::SYMMETRIC_KEY),
                        ),
                        v.algorithm(cryptographic_algorithm::AES),
                        v.length(256),
                        v.group(value),
                    ]
                };
                if v.v2() {
                    payload.push(Ttlv::structure(tag::ATTRIBUTES, attributes));
                } else {
                    payload.append(&mut attributes);
                }
                (operation::LOCATE, payload)
            }
            _ => return Next::Exhausted,
        };
        Next::Send(ttlv::encode(&v.request(vec![payload])))
    }

    /// Whether `response` answers `request` as this operation must; the error's text otherwise.
    pub fn check(&self, request: &[u8], response: &[u8]) -> Result<(), String> {
        if self.op == Op::Echo {
            return if response == request {
                Ok(())
            } else {
                Err(format!(
                    "the echo differs from the request ({} bytes for {})",
                    response.len(),
                    request.len()
                ))
            };
        }
        let payloads = check_response(response)?;
        let payload = payloads.first().ok_or("no payload")?;
        let must = match self.op {
            Op::Get => tag::SYMMETRIC_KEY,
            Op::Encrypt | Op::Decrypt => tag::DATA,
            Op::Sign => tag::SIGNATURE_DATA,
            Op::Mac => tag::MAC_DATA,
            Op::Locate | Op::LocateAttrs | Op::Create | Op::Register | Op::Destroy | Op::Echo => {
                tag::UNIQUE_IDENTIFIER
            }
        };
        if payload.child(must).is_none() {
            return Err(match self.op {
                Op::Locate | Op::LocateAttrs => "Locate found no object".to_string(),
                _ => format!("the payload lacks tag {must:#08X}"),
            });
        }
        Ok(())
    }
}

/// A small fast generator for picking names: xorshift64.
pub fn xorshift(state: &mut u64) -> u64 {
    let mut x = (*state).max(1);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

/// What the setup is told.
pub struct SetupSettings {
    /// The operation.
    pub op: Op,
    /// The protocol version of every request.
    pub version: Version,
    /// Objects to create first (Locate, LocateAttrs, Destroy).
    pub fill: usize,
    /// Use this existing object instead of creating one (Get, Encrypt, Sign, MAC).
    pub uid: Option<String>,
    /// The key pair Sign uses.
    pub sign_key: SignKey,
    /// A prefix no earlier run used, for the names and groups of the filled objects.
    pub prefix: String,
}

/// Prepares the server for the run over the connections `streams` (fills use them all at once) and returns
/// the workload.
pub async fn setup<S: AsyncRead + AsyncWrite + Unpin + Send>(
    streams: &mut [S],
    settings: &SetupSettings,
) -> Result<Arc<Workload>, LoadError> {
    let v = settings.version;
    let stream = streams
        .first_mut()
        .ok_or_else(|| LoadError::Settings("at least one connection is needed".into()))?;
    let fixed_payload =
        |op: u32, payload: Vec<Ttlv>| Some(ttlv::encode(&v.request(vec![(op, payload)])));
    let uid_for = async |stream: &mut S, create: (u32, Vec<Ttlv>)| -> Result<String, LoadError> {
        if let Some(uid) = &settings.uid {
            return Ok(uid.clone());
        }
        let created = call(stream, &v.request(vec![create])).await?;
        let uid = text_of(
            first(&created)?,
            tag::UNIQUE_IDENTIFIER,
            "Unique Identifier",
        )?;
        activate(stream, v, &uid).await?;
        Ok(uid)
    };
    let mut items = Vec::new();
    let fixed = match settings.op {
        Op::Get | Op::Echo => {
            let uid = if settings.op == Op::Echo {
                "echo".to_string()
            } else {
                uid_for(stream, v.create_aes(Vec::new())).await?
            };
            fixed_payload(operation::GET, vec![text(tag::UNIQUE_IDENTIFIER, &uid)])
        }
        Op::Encrypt | Op::Decrypt => {
            let uid = uid_for(stream, v.create_aes(Vec::new())).await?;
            let encrypt = vec![
                text(tag::UNIQUE_IDENTIFIER, &uid),
                v.cbc_parameters(),
                bytes(tag::DATA, &MESSAGE),
            ];
            if settings.op == Op::Encrypt {
                fixed_payload(operation::ENCRYPT, encrypt)
            } else {
                let answer = call(stream, &v.request(vec![(operation::ENCRYPT, encrypt)])).await?;
                let payload = first(&answer)?;
                let data = bytes_of(payload, tag::DATA, "Data")?;
                let iv = bytes_of(payload, tag::IV_COUNTER_NONCE, "IV/Counter/Nonce")?;
                fixed_payload(
                    operation::DECRYPT,
                    vec![
                        text(tag::UNIQUE_IDENTIFIER, &uid),
                        v.cbc_parameters(),
                        bytes(tag::DATA, &data),
                        bytes(tag::IV_COUNTER_NONCE, &iv),
                    ],
                )
            }
        }
        Op::Sign => {
            let uid = match &settings.uid {
                Some(uid) => uid.clone(),
                None => create_signing_pair(stream, v, settings.sign_key).await?,
            };
            fixed_payload(
                operation::SIGN,
                vec![
                    text(tag::UNIQUE_IDENTIFIER, &uid),
                    bytes(tag::DATA, &MESSAGE),
                ],
            )
        }
        Op::Mac => {
            let create = (
                operation::CREATE,
                vec![
                    enumeration(tag::OBJECT_TYPE, object_type::SYMMETRIC_KEY),
                    v.attributes(
                        tag::TEMPLATE_ATTRIBUTE,
                        tag::ATTRIBUTES,
                        vec![
                            v.algorithm(cryptographic_algorithm::HMAC_SHA256),
                            v.length(256),
                            v.usage(usage::MAC_GENERATE | usage::MAC_VERIFY),
                        ],
                    ),
                ],
            );
            let uid = uid_for(stream, create).await?;
            fixed_payload(
                operation::MAC,
                vec![
                    text(tag::UNIQUE_IDENTIFIER, &uid),
                    Ttlv::structure(
                        tag::CRYPTOGRAPHIC_PARAMETERS,
                        vec![enumeration(
                            tag::CRYPTOGRAPHIC_ALGORITHM,
                            cryptographic_algorithm::HMAC_SHA256,
                        )],
                    ),
                    bytes(tag::DATA, &MESSAGE),
                ],
            )
        }
        Op::Create => {
            let (op, payload) = v.create_aes(Vec::new());
            fixed_payload(op, payload)
        }
        Op::Register => fixed_payload(
            operation::REGISTER,
            vec![
                enumeration(tag::OBJECT_TYPE, object_type::SYMMETRIC_KEY),
                v.attributes(
                    tag::TEMPLATE_ATTRIBUTE,
                    tag::ATTRIBUTES,
                    vec![v.usage(usage::ENCRYPT | usage::DECRYPT)],
                ),
                Ttlv::structure(
                    tag::SYMMETRIC_KEY,
                    vec![Ttlv::structure(
                        tag::KEY_BLOCK,
                        vec![
                            enumeration(tag::KEY_FORMAT_TYPE, key_format_type::RAW),
                            Ttlv::structure(
                                tag::KEY_VALUE,
                                vec![bytes(tag::KEY_MATERIAL, &REGISTERED_KEY)],
                            ),
                            enumeration(tag::CRYPTOGRAPHIC_ALGORITHM, cryptographic_algorithm::AES),
                            int(tag::CRYPTOGRAPHIC_LENGTH, 256),
                        ],
                    )],
                ),
            ],
        ),
        Op::Locate | Op::LocateAttrs | Op::Destroy => {
            if settings.fill == 0 {
                return Err(LoadError::Settings(
                    "--fill must be at least 1 for locate, locate-attrs and destroy".into(),
                ));
            }
            let created = fill(streams, v, settings.fill, &settings.prefix).await?;
            items = match settings.op {
                Op::Destroy => created,
                Op::Locate => (0..settings.fill)
                    .map(|i| format!("{}-{i}", settings.prefix))
                    .collect(),
                _ => (0..settings.fill.div_ceil(GROUP_SIZE))
                    .map(|g| format!("{}-g{g}", settings.prefix))
                    .collect(),
            };
            None
        }
    };
    Ok(Arc::new(Workload {
        op: settings.op,
        version: v,
        fixed,
        items,
        next: AtomicUsize::new(0),
    }))
}

async fn activate<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    v: Version,
    uid: &str,
) -> Result<(), LoadError> {
    call(
        stream,
        &v.request(vec![(
            operation::ACTIVATE,
            vec![text(tag::UNIQUE_IDENTIFIER, uid)],
        )]),
    )
    .await
    .map(|_| ())
}

/// Creates an active signing key pair; returns the private key's identifier.
async fn create_signing_pair<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    v: Version,
    key: SignKey,
) -> Result<String, LoadError> {
    let mut common = match key {
        SignKey::P256 => vec![
            v.algorithm(cryptographic_algorithm::EC),
            v.length(256),
            v.attribute(
                "Cryptographic Domain Parameters",
                tag::CRYPTOGRAPHIC_DOMAIN_PARAMETERS,
                Value::Structure(vec![enumeration(
                    tag::RECOMMENDED_CURVE,
                    recommended_curve::P_256,
                )]),
            ),
        ],
        SignKey::Ed25519 => vec![v.algorithm(cryptographic_algorithm::ED25519), v.length(256)],
    };
    let private = vec![v.usage(usage::SIGN)];
    let public = vec![v.usage(usage::VERIFY)];
    let (common_tag, private_tag, public_tag) = if v.v2() {
        (
            tag::COMMON_ATTRIBUTES,
            tag::PRIVATE_KEY_ATTRIBUTES,
            tag::PUBLIC_KEY_ATTRIBUTES,
        )
    } else {
        (
            tag::COMMON_TEMPLATE_ATTRIBUTE,
            tag::PRIVATE_KEY_TEMPLATE_ATTRIBUTE,
            tag::PUBLIC_KEY_TEMPLATE_ATTRIBUTE,
        )
    };
    let payload = vec![
        Ttlv::structure(common_tag, std::mem::take(&mut common)),
        Ttlv::structure(private_tag, private),
        Ttlv::structure(public_tag, public),
    ];
    let answer = call(
        stream,
        &v.request(vec![(operation::CREATE_KEY_PAIR, payload)]),
    )
    .await?;
    let uid = text_of(
        first(&answer)?,
        tag::PRIVATE_KEY_UNIQUE_IDENTIFIER,
        "Private Key Unique Identifier",
    )?;
    activate(stream, v, &uid).await?;
    Ok(uid)
}

/// Creates `count` AES-256 keys named `<prefix>-<i>`, in Object Group `<prefix>-g<i / GROUP_SIZE>`, in
/// batches of [`FILL_BATCH`] spread over every connection; returns their identifiers.
async fn fill<S: AsyncRead + AsyncWrite + Unpin + Send>(
    streams: &mut [S],
    v: Version,
    count: usize,
    prefix: &str,
) -> Result<Vec<String>, LoadError> {
    let batches: Vec<std::ops::Range<usize>> = (0..count)
        .step_by(FILL_BATCH)
        .map(|start| start..(start + FILL_BATCH).min(count))
        .collect();
    let lanes = streams.len().max(1);
    let work = streams.iter_mut().enumerate().map(|(lane, stream)| {
        let mine: Vec<std::ops::Range<usize>> =
            batches.iter().skip(lane).step_by(lanes).cloned().collect();
        async move {
            let mut uids = Vec::new();
            for range in mine {
                let items = range
                    .map(|i| {
                        v.create_aes(vec![
                            v.name(&format!("{prefix}-{i}")),
                            v.group(&format!("{prefix}-g{}", i / GROUP_SIZE)),
                        ])
                    })
                    .collect();
                for payload in call(stream, &v.request(items)).await? {
                    uids.push(text_of(
                        &payload,
                        tag::UNIQUE_IDENTIFIER,
                        "Unique Identifier",
                    )?);
                }
            }
            Ok::<_, LoadError>(uids)
        }
    });
    let mut uids = Vec::with_capacity(count);
    for lane in futures_join_all(work).await {
        uids.extend(lane?);
    }
    Ok(uids)
}

/// Runs the futures concurrently on the current task and returns their outputs in order.
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *output = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
