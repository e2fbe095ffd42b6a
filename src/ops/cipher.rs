//! Encrypt and Decrypt. With symmetric keys: AES in ECB, CBC (PKCS#5 padding or none), CTR, GCM and key wrap
//! (RFC 3394/5649) modes, Triple DES in ECB and CBC, ChaCha20 and ChaCha20-Poly1305, whole or streamed (2.x Init/Final Indicator and
//! Correlation Value). The key's own Cryptographic Parameters fill what the request leaves out; with neither,
//! AES is CBC with PKCS#5 padding. Where a mode needs an IV and the client gives none (or asks for Random IV),
//! the server generates it and returns it. Public and Private Keys (RSA OAEP and PKCS#1 v1.5) go to
//! `asym_cipher`, in one request; other object types are answered Invalid Object Type.

use zeroize::Zeroizing;

use crate::crypto::aead;
use crate::crypto::block::{self, CounterWidth, Padding};
use crate::kmip::crypto_params::CryptographicParameters;
use crate::kmip::enums::{BlockCipherMode, ObjectType, Operation, PaddingMethod};
use crate::kmip::operations::crypto::{CryptoRequest, CryptoResponse};
use crate::kmip::{KmipError, ResultReason};
use crate::spec::enums::cryptographic_algorithm as alg;
use crate::ttlv::SecretBytes;

use super::OpContext;
use super::asym_cipher;
use super::crypto_common::{crypto_error, effective_params, load_for, secret_bytes};
use super::gate::{self, Missing, Right};
use super::object::{self, Managed};
use super::streams::{Step, Stream, StreamState};
use super::usage::{self, Use};
use crate::access::policy::OpClass;

/// A cipher mode with what it needs besides the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// AES-ECB.
    Ecb(Padding),
    /// AES-CBC.
    Cbc(Padding),
    /// Triple-DES-ECB.
    TdesEcb(Padding),
    /// Triple-DES-CBC.
    TdesCbc(Padding),
    /// AES-CTR with this counter width.
    Ctr(CounterWidth),
    /// AES-GCM with a tag of this many bytes.
    Gcm {
        /// Tag length in bytes.
        tag_len: usize,
    },
    /// AES key wrap, RFC 5649 when `pad`, else RFC 3394.
    KeyWrap {
        /// With padding (RFC 5649).
        pad: bool,
    },
    /// ChaCha20 from this block counter.
    ChaCha20 {
        /// Initial block counter.
        counter: u32,
    },
    /// ChaCha20-Poly1305 with a tag of this many bytes.
    ChaCha20Poly1305 {
        /// Tag length in bytes.
        tag_len: usize,
    },
}

impl Mode {
    fn iv_len_to_generate(
        self,
        params: &CryptographicParameters,
    ) -> Result<Option<usize>, KmipError> {
        Ok(match self {
            Mode::Ecb(_) | Mode::TdesEcb(_) | Mode::KeyWrap { .. } => None,
            Mode::Cbc(_) | Mode::Ctr(_) => Some(block::AES_BLOCK),
            Mode::TdesCbc(_) => Some(block::TDES_BLOCK),
            Mode::Gcm { .. } => Some(match params.iv_length {
                None => 12,
                Some(bits) if bits % 8 == 0 => usize::try_from(bits / 8)
                    .map_err(|_| KmipError::invalid_field("IV Length is negative"))?,
                Some(_) => return Err(KmipError::invalid_field("IV Length is not whole bytes")),
            }),
            Mode::ChaCha20 { .. } | Mode::ChaCha20Poly1305 { .. } => Some(12),
        })
    }

    /// For the padded block modes, their padding and block size: a streamed prefix releases whole blocks only.
    fn padded_block(self) -> Option<(Padding, usize)> {
        match self {
            Mode::Ecb(p) | Mode::Cbc(p) => Some((p, block::AES_BLOCK)),
            Mode::TdesEcb(p) | Mode::TdesCbc(p) => Some((p, block::TDES_BLOCK)),
            _ => None,
        }
    }

    fn is_aead(self) -> bool {
        matches!(self, Mode::Gcm { .. } | Mode::ChaCha20Poly1305 { .. })
    }
}

/// Everything fixed at the start of an Encrypt or Decrypt besides the key: mode, IV and additional data.
#[derive(Clone, Debug)]
pub struct CipherSpec {
    /// The mode.
    pub mode: Mode,
    /// IV, counter block or nonce, when the mode has one.
    pub iv: Option<Vec<u8>>,
    /// Authenticated Encryption Additional Data.
    pub aad: Vec<u8>,
}

fn padding(params: Option<&CryptographicParameters>) -> Result<Padding, KmipError> {
    match params.and_then(|p| p.padding_method) {
        // Without any Cryptographic Parameters, AES is CBC with PKCS#5 padding.
        None if params.is_none() => Ok(Padding::Pkcs5),
        None | Some(PaddingMethod::NONE) => Ok(Padding::None),
        Some(PaddingMethod::PKCS5) => Ok(Padding::Pkcs5),
        Some(other) => Err(KmipError::new(
            ResultReason::InvalidField,
            format!("Padding Method {other} is not supported with a block cipher mode"),
        )),
    }
}

/// The Tag Length in force (16 bytes when none is given), if it is one of `allowed` for `mode`; any other is
/// General Failure, as the OASIS test cases CS-BC-M-GCM-1 and CS-BC-M-CHACHA20POLY1305-1 expect for Tag Lengths
/// 1 and 32, with a message naming the lengths that would do.
fn tag_len(
    params: &CryptographicParameters,
    allowed: &[usize],
    mode: &str,
) -> Result<usize, KmipError> {
    let Some(asked) = params.tag_length else {
        return Ok(16);
    };
    match usize::try_from(asked) {
        Ok(n) if allowed.contains(&n) => Ok(n),
        _ => Err(KmipError::new(
            ResultReason::GeneralFailure,
            format!(
                "invalid tag length: Tag Length {asked} bytes is not supported for {mode}: use {} to {} bytes",
                allowed.iter().min().unwrap_or(&16),
                allowed.iter().max().unwrap_or(&16)
            ),
        )),
    }
}

/// Chooses the mode from the key's algorithm and the parameters in force.
fn mode_for(
    algorithm: Option<u32>,
    params: Option<&CryptographicParameters>,
) -> Result<Mode, KmipError> {
    let p = params.cloned().unwrap_or_default();
    let algorithm = algorithm.or(p.cryptographic_algorithm.map(|a| a.0));
    match algorithm {
        Some(alg::AES) | None => {
            let mode = p.block_cipher_mode.unwrap_or(BlockCipherMode::CBC);
            Ok(match mode {
                BlockCipherMode::ECB => Mode::Ecb(padding(params)?),
                BlockCipherMode::CBC => Mode::Cbc(padding(params)?),
                BlockCipherMode::CTR => {
                    Mode::Ctr(CounterWidth::from_bits(p.counter_length).map_err(crypto_error)?)
                }
                BlockCipherMode::GCM => Mode::Gcm {
                    tag_len: tag_len(&p, aead::GCM_TAG_LENGTHS, "AES-GCM")?,
                },
                BlockCipherMode::NIST_KEY_WRAP => Mode::KeyWrap { pad: false },
                BlockCipherMode::AES_KEY_WRAP_PADDING => Mode::KeyWrap { pad: true },
                other => {
                    return Err(KmipError::new(
                        ResultReason::InvalidField,
                        format!("Block Cipher Mode {other} is not supported with AES"),
                    ));
                }
            })
        }
        Some(alg::DES3) => match p.block_cipher_mode.unwrap_or(BlockCipherMode::CBC) {
            BlockCipherMode::ECB => Ok(Mode::TdesEcb(padding(params)?)),
            BlockCipherMode::CBC => Ok(Mode::TdesCbc(padding(params)?)),
            other => Err(KmipError::new(
                ResultReason::InvalidField,
                format!(
                    "Block Cipher Mode {other} is not supported with Triple DES (ECB and CBC are)"
                ),
            )),
        },
        Some(alg::CHA_CHA20) => {
            let counter = u32::try_from(p.initial_counter_value.unwrap_or(0))
                .map_err(|_| KmipError::invalid_field("Initial Counter Value is negative"))?;
            Ok(Mode::ChaCha20 { counter })
        }
        Some(alg::CHA_CHA20_POLY1305) => {
            let tag_len = tag_len(&p, aead::CHACHA_TAG_LENGTHS, "ChaCha20-Poly1305")?;
            Ok(Mode::ChaCha20Poly1305 { tag_len })
        }
        Some(other) => Err(KmipError::new(
            ResultReason::InvalidField,
            format!("keys of Cryptographic Algorithm {other} cannot encrypt symmetrically"),
        )),
    }
}

/// Output of one cipher pass.
struct Output {
    data: Zeroizing<Vec<u8>>,
    tag: Option<Vec<u8>>,
}

/// Runs the mode over the whole of `data`. `final_block` false means "only whole blocks, no padding" (a
/// streamed prefix).
fn apply(
    spec: &CipherSpec,
    key: &[u8],
    encrypt: bool,
    data: &[u8],
    tag: Option<&[u8]>,
    final_block: bool,
) -> Result<Output, KmipError> {
    let iv = || {
        spec.iv.as_deref().ok_or_else(|| {
            KmipError::invalid_message("missing-iv: this mode needs an IV/Counter/Nonce")
        })
    };
    let unpadded = |p: Padding| if final_block { p } else { Padding::None };
    let plain = |v: Vec<u8>| Output {
        data: Zeroizing::new(v),
        tag: None,
    };
    let secret = |v: Zeroizing<Vec<u8>>| Output { data: v, tag: None };
    let out = match (spec.mode, encrypt) {
        (Mode::Ecb(p), true) => {
            plain(block::ecb_encrypt(key, data, unpadded(p)).map_err(crypto_error)?)
        }
        (Mode::Ecb(p), false) => {
            secret(block::ecb_decrypt(key, data, unpadded(p)).map_err(crypto_error)?)
        }
        (Mode::Cbc(p), true) => {
            plain(block::cbc_encrypt(key, iv()?, data, unpadded(p)).map_err(crypto_error)?)
        }
        (Mode::Cbc(p), false) => {
            secret(block::cbc_decrypt(key, iv()?, data, unpadded(p)).map_err(crypto_error)?)
        }
        (Mode::TdesEcb(p), true) => {
            plain(block::tdes_ecb_encrypt(key, data, unpadded(p)).map_err(crypto_error)?)
        }
        (Mode::TdesEcb(p), false) => {
            secret(block::tdes_ecb_decrypt(key, data, unpadded(p)).map_err(crypto_error)?)
        }
        (Mode::TdesCbc(p), true) => {
            plain(block::tdes_cbc_encrypt(key, iv()?, data, unpadded(p)).map_err(crypto_error)?)
        }
        (Mode::TdesCbc(p), false) => {
            secret(block::tdes_cbc_decrypt(key, iv()?, data, unpadded(p)).map_err(crypto_error)?)
        }
        (Mode::Ctr(w), _) => secret(block::ctr_apply(key, iv()?, w, data).map_err(crypto_error)?),
        (Mode::KeyWrap { pad }, true) => {
            plain(block::key_wrap(key, data, pad).map_err(crypto_error)?)
        }
        (Mode::KeyWrap { pad }, false) => {
            secret(block::key_unwrap(key, data, pad).map_err(crypto_error)?)
        }
        (Mode::ChaCha20 { counter }, _) => {
            secret(block::chacha20_apply(key, iv()?, counter, data).map_err(crypto_error)?)
        }
        (Mode::Gcm { tag_len }, true) => {
            let s = aead::gcm_seal(key, iv()?, &spec.aad, data, tag_len).map_err(crypto_error)?;
            Output {
                data: Zeroizing::new(s.ciphertext),
                tag: Some(s.tag),
            }
        }
        (Mode::ChaCha20Poly1305 { tag_len }, true) => {
            let s = aead::chacha20poly1305_seal(key, iv()?, &spec.aad, data, tag_len)
                .map_err(crypto_error)?;
            Output {
                data: Zeroizing::new(s.ciphertext),
                tag: Some(s.tag),
            }
        }
        (Mode::Gcm { tag_len }, false) => {
            let tag = aead_tag(tag)?;
            if tag.len() != tag_len {
                return Err(KmipError::new(
                    ResultReason::GeneralFailure,
                    format!(
                        "invalid tag length: the Authenticated Encryption Tag has {} bytes, the Tag Length says {tag_len}",
                        tag.len()
                    ),
                ));
            }
            secret(aead::gcm_open(key, iv()?, &spec.aad, data, tag).map_err(crypto_error)?)
        }
        (Mode::ChaCha20Poly1305 { .. }, false) => secret(
            aead::chacha20poly1305_open(key, iv()?, &spec.aad, data, aead_tag(tag)?)
                .map_err(crypto_error)?,
        ),
    };
    Ok(out)
}

fn aead_tag(tag: Option<&[u8]>) -> Result<&[u8], KmipError> {
    tag.ok_or_else(|| {
        KmipError::invalid_message(
            "authenticated decryption needs the Authenticated Encryption Tag",
        )
    })
}

/// Runs Encrypt.
pub(super) fn encrypt(
    req: CryptoRequest<'_>,
    ctx: &mut OpContext<'_>,
) -> Result<CryptoResponse, KmipError> {
    run(&req, ctx, true)
}

/// Runs Decrypt.
pub(super) fn decrypt(
    req: CryptoRequest<'_>,
    ctx: &mut OpContext<'_>,
) -> Result<CryptoResponse, KmipError> {
    run(&req, ctx, false)
}

fn purpose_of(encrypt: bool) -> Use {
    if encrypt { Use::Encrypt } else { Use::Decrypt }
}

fn operation(encrypt: bool) -> Operation {
    if encrypt {
        Operation::ENCRYPT
    } else {
        Operation::DECRYPT
    }
}

fn run(
    req: &CryptoRequest<'_>,
    ctx: &mut OpContext<'_>,
    encrypt: bool,
) -> Result<CryptoResponse, KmipError> {
    let purpose = purpose_of(encrypt);
    let step = req.step()?;
    let mut key = match &step {
        Step::Whole | Step::Init => load_for(ctx, req.unique_identifier.as_ref(), purpose)?,
        Step::Continue(_) | Step::Final(_) => {
            // The key is the stream's; a Unique Identifier in the request must name the same key.
            let stream_uid = stream_key(ctx, &step, encrypt)?;
            same_key(req, &stream_uid)?;
            // The stream's key is loaded through the gate: the right to use it is checked at every step.
            let managed = object::on_line(gate::load_reference(
                ctx,
                &stream_uid,
                Right::Class(OpClass::Use),
                Missing::Object,
            )?)?;
            usage::check(&managed, purpose, ctx.now)?;
            managed
        }
    };
    match ObjectType(key.object_type) {
        ObjectType::SYMMETRIC_KEY => symmetric(req, ctx, &mut key, encrypt, step),
        ObjectType::PUBLIC_KEY | ObjectType::PRIVATE_KEY => {
            if !matches!(step, Step::Whole) {
                return Err(KmipError::feature_not_supported(
                    "streamed Encrypt and Decrypt take Symmetric Keys; RSA data is sent in one request",
                ));
            }
            let request = asym_cipher::read_request(req)?;
            let params = request.params.unwrap_or_default();
            if encrypt {
                asym_cipher::encrypt(ctx, &key, &params, request.data)
            } else {
                asym_cipher::decrypt(ctx, &key, &params, request.data)
            }
        }
        other => Err(KmipError::new(
            ResultReason::InvalidObjectType,
            format!(
                "object {:?} is a {other}; Encrypt and Decrypt take Symmetric, Public and Private Keys",
                key.uid
            ),
        )),
    }
}

/// Refuses a continuing request whose Unique Identifier names another key than its stream's.
pub(super) fn same_key(req: &CryptoRequest<'_>, stream_uid: &str) -> Result<(), KmipError> {
    match req.named_uid() {
        Some(named) if named != stream_uid => Err(KmipError::new(
            ResultReason::InvalidField,
            format!("the stream runs under key {stream_uid:?}, not {named:?}"),
        )),
        _ => Ok(()),
    }
}

/// The key uid of the stream a continuing request names (checked again when the stream is taken).
fn stream_key(ctx: &OpContext<'_>, step: &Step, encrypt: bool) -> Result<String, KmipError> {
    let (Step::Continue(id) | Step::Final(id)) = step else {
        return Err(KmipError::general_failure("not a continued stream"));
    };
    let stream = ctx.streams.take(
        &ctx.config.crypto,
        ctx.now,
        id,
        &ctx.caller.identity,
        operation(encrypt),
    )?;
    let uid = stream.key_uid.clone();
    ctx.streams.put_back(id.clone(), stream)?;
    Ok(uid)
}

fn symmetric(
    req: &CryptoRequest<'_>,
    ctx: &mut OpContext<'_>,
    key: &mut Managed,
    encrypt: bool,
    step: Step,
) -> Result<CryptoResponse, KmipError> {
    let data = req.data.unwrap_or_default();
    usage::consume(ctx, key, purpose_of(encrypt), data.len())?;
    let (algorithm, key_bytes) = secret_bytes(key)?;
    let key_bytes = Zeroizing::new(key_bytes.to_vec());
    let tag_in = req.authenticated_encryption_tag;
    let mut reply = CryptoResponse::for_key(&key.uid);
    match step {
        Step::Whole | Step::Init => {
            let params = effective_params(req.cryptographic_parameters.as_ref(), key)?;
            let mode = mode_for(algorithm, params.as_ref())?;
            let given_iv = req.iv_counter_nonce;
            let p = params.clone().unwrap_or_default();
            let mut generated = None;
            // An IV the client gives is used; without one (whether or not Random IV is set) Encrypt makes one.
            let iv = match given_iv {
                Some(iv) => Some(iv.to_vec()),
                None if encrypt => match mode.iv_len_to_generate(&p)? {
                    None => None,
                    Some(n) => {
                        let iv = crate::crypto::random(n).map_err(crypto_error)?.to_vec();
                        generated = Some(iv.clone());
                        Some(iv)
                    }
                },
                None => None,
            };
            let spec = CipherSpec {
                mode,
                iv,
                aad: req
                    .authenticated_encryption_additional_data
                    .unwrap_or_default()
                    .to_vec(),
            };
            if step == Step::Init {
                if matches!(mode, Mode::KeyWrap { .. }) {
                    return Err(KmipError::feature_not_supported(
                        "key wrap modes cannot be streamed",
                    ));
                }
                let state = StreamState::Cipher {
                    spec,
                    input: Zeroizing::new(Vec::new()),
                    emitted: 0,
                };
                let (out, state) = feed(ctx, state, &key_bytes, encrypt, data, None, false)?;
                let id = ctx.streams.open(
                    &ctx.config.crypto,
                    ctx.now,
                    Stream {
                        operation: operation(encrypt),
                        owner: ctx.caller.identity.clone(),
                        key_uid: key.uid.clone(),
                        opened: ctx.now,
                        state,
                    },
                )?;
                reply.data = Some(SecretBytes::from(out.data.as_slice()));
                reply.iv_counter_nonce = generated;
                reply.correlation_value = Some(id);
            } else {
                let out = apply(&spec, &key_bytes, encrypt, data, tag_in, true)?;
                reply.data = Some(SecretBytes::from(out.data.as_slice()));
                reply.iv_counter_nonce = generated;
                reply.authenticated_encryption_tag = out.tag;
            }
        }
        Step::Continue(ref id) | Step::Final(ref id) => {
            let id = id.clone();
            let last = matches!(step, Step::Final(_));
            let stream = ctx.streams.take(
                &ctx.config.crypto,
                ctx.now,
                &id,
                &ctx.caller.identity,
                operation(encrypt),
            )?;
            let opened = stream.opened;
            let owner = stream.owner.clone();
            let (out, state) = feed(ctx, stream.state, &key_bytes, encrypt, data, tag_in, last)?;
            reply.data = Some(SecretBytes::from(out.data.as_slice()));
            if last {
                reply.authenticated_encryption_tag = out.tag;
            } else {
                ctx.streams.put_back(
                    id.clone(),
                    Stream {
                        operation: operation(encrypt),
                        owner,
                        key_uid: key.uid.clone(),
                        opened,
                        state,
                    },
                )?;
                reply.correlation_value = Some(id);
            }
        }
    }
    Ok(reply)
}

/// Adds a chunk to a cipher stream and gives the output that can be released now: whole blocks for ECB/CBC
/// (keeping back the last block of padded decryption), everything for stream modes and AEAD encryption, and
/// for AEAD decryption nothing before the tag has been checked at the end.
fn feed(
    ctx: &OpContext<'_>,
    state: StreamState,
    key: &[u8],
    encrypt: bool,
    data: &[u8],
    tag: Option<&[u8]>,
    last: bool,
) -> Result<(Output, StreamState), KmipError> {
    let StreamState::Cipher {
        spec,
        mut input,
        emitted,
    } = state
    else {
        return Err(KmipError::new(
            ResultReason::InvalidCorrelationValue,
            "the Correlation Value names a stream of another operation",
        ));
    };
    if input.len().saturating_add(data.len()) > ctx.config.crypto.max_stream_bytes {
        return Err(KmipError::new(
            ResultReason::ServerLimitExceeded,
            format!(
                "a stream may carry at most {} bytes",
                ctx.config.crypto.max_stream_bytes
            ),
        ));
    }
    input.extend_from_slice(data);
    let (full, releasable) = if last {
        let out = apply(&spec, key, encrypt, &input, tag, true)?;
        let len = out.data.len();
        (out, len)
    } else {
        let ready = match spec.mode.padded_block() {
            Some((p, size)) => {
                let whole = input.len() / size * size;
                if !encrypt && p == Padding::Pkcs5 && whole == input.len() {
                    whole.saturating_sub(size)
                } else {
                    whole
                }
            }
            None if spec.mode.is_aead() && !encrypt => 0,
            None => input.len(),
        };
        let prefix = input.get(..ready).unwrap_or_default();
        let out = if ready == 0 {
            Output {
                data: Zeroizing::new(Vec::new()),
                tag: None,
            }
        } else {
            apply(&spec, key, encrypt, prefix, None, false)?
        };
        let len = out.data.len();
        (out, len)
    };
    let released = Zeroizing::new(
        full.data
            .get(emitted.min(releasable)..releasable)
            .unwrap_or_default()
            .to_vec(),
    );
    let output = Output {
        data: released,
        tag: full.tag.filter(|_| last),
    };
    let state = StreamState::Cipher {
        spec,
        input,
        emitted: emitted.max(releasable),
    };
    Ok((output, state))
}

/// Encrypts `data` in one pass with a symmetric key, for Derive Key's Encrypt method. Modes that need an IV
/// take `iv` (none is generated: a derivation must be repeatable).
pub(super) fn encrypt_once(
    algorithm: Option<u32>,
    params: Option<&CryptographicParameters>,
    key: &[u8],
    iv: Option<&[u8]>,
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KmipError> {
    let spec = CipherSpec {
        mode: mode_for(algorithm, params)?,
        iv: iv.map(<[u8]>::to_vec),
        aad: Vec::new(),
    };
    Ok(apply(&spec, key, true, data, None, true)?.data)
}
