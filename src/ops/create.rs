//! Create: a new Symmetric Key generated from the operating system's random source — AES of 128, 192 or 256
//! bits, or an HMAC key — with the client's attributes and the server's.

use zeroize::Zeroizing;

use crate::kmip::attributes::{AttributeName, Attributes};
use crate::kmip::object::ManagedObject;
use crate::kmip::{KmipError, key_format};
use crate::spec::enums::unique_identifier as ue;
use crate::spec::enums::{cryptographic_algorithm as alg, object_type};
use crate::spec::tag;
use crate::ttlv::{SecretBytes, Value};

use crate::kmip::operations::create::{CreateRequest, CreateResponse};

use super::OpContext;
use super::{new_object, object};

/// Largest HMAC key generated, in bits.
pub const MAX_HMAC_KEY_BITS: i32 = 4096;

/// Runs Create.
pub(super) fn run(
    req: CreateRequest,
    ctx: &mut OpContext<'_>,
) -> Result<CreateResponse, KmipError> {
    let requested = req.object_type;
    if requested != object_type::SYMMETRIC_KEY {
        return Err(KmipError::new(
            crate::kmip::ResultReason::InvalidObjectType,
            format!("Create makes Symmetric Keys only, not Object Type {requested}"),
        ));
    }
    let attrs = req.attributes;
    let mut key = generate(&attrs)?;
    // A Key Format Type in the template is the format the client wants the key kept in (2.1 section 4.26).
    if let Some(Value::Enumeration(format)) = attrs.get_value(tag::KEY_FORMAT_TYPE) {
        key = key_format::convert(&key, *format)?;
    }
    let mut managed = new_object::build(ctx, key, attrs.clone())?;
    new_object::mark_generated(ctx, &mut managed, &attrs)?;
    object::save(ctx, &[&managed])?;
    ctx.batch.produced(ue::CREATE, &managed.uid);
    Ok(CreateResponse {
        object_type: requested,
        unique_identifier: managed.uid,
    })
}

/// The last instance's value: a single-instance attribute given twice counts with its later value.
fn integer(attrs: &Attributes, t: u32) -> Option<i64> {
    attrs
        .get_all(&AttributeName::Standard(t))
        .last()
        .and_then(|a| match a.value.value {
            Value::Integer(i) => Some(i64::from(i)),
            Value::Enumeration(e) => Some(i64::from(e)),
            _ => None,
        })
}

/// The shortest AES key that resists quantum search (Grover halves the effective strength).
pub const QUANTUM_SAFE_AES_BITS: i64 = 256;

/// Whether the client asked for a Quantum Safe key (2.1 attribute).
fn quantum_safe_asked(attrs: &Attributes) -> bool {
    attrs
        .get_all(&AttributeName::Standard(tag::QUANTUM_SAFE))
        .any(|a| a.value.value == Value::Boolean(true))
}

/// Generates the key the attributes describe, as a Symmetric Key in Raw format.
pub fn generate(attrs: &Attributes) -> Result<ManagedObject, KmipError> {
    let algorithm = integer(attrs, tag::CRYPTOGRAPHIC_ALGORITHM)
        .and_then(|a| u32::try_from(a).ok())
        .ok_or_else(|| KmipError::invalid_field("Create needs a Cryptographic Algorithm"))?;
    let length = integer(attrs, tag::CRYPTOGRAPHIC_LENGTH)
        .ok_or_else(|| KmipError::invalid_field("Create needs a Cryptographic Length"))?;
    let valid = symmetric_lengths(algorithm)
        .ok_or_else(|| {
            KmipError::invalid_field(format!(
                "Create cannot generate keys of Cryptographic Algorithm {algorithm}: it makes symmetric keys \
                 (Create Key Pair makes asymmetric ones)"
            ))
        })?
        .allows(length);
    if !valid {
        return Err(KmipError::invalid_field(format!(
            "Cryptographic Length {length} is not valid for Cryptographic Algorithm {algorithm}"
        )));
    }
    if algorithm == alg::AES && length < QUANTUM_SAFE_AES_BITS && quantum_safe_asked(attrs) {
        return Err(KmipError::general_failure(format!(
            "NOT_SAFE: a {length}-bit AES key is not quantum safe"
        )));
    }
    // DES and Triple DES keys carry a parity bit in every byte: 56 effective bits are 8 bytes, 112 are 16,
    // 168 are 24.
    let bits = match (algorithm, length) {
        (alg::DES, 56) => 64,
        (alg::DES3, 112) => 128,
        (alg::DES3, 168) => 192,
        _ => length,
    };
    let bytes = usize::try_from(bits / 8).map_err(|_| KmipError::invalid_field("bad length"))?;
    let mut material = Zeroizing::new(vec![0u8; bytes]);
    aws_lc_rs::rand::fill(&mut material)
        .map_err(|_| KmipError::general_failure("the random source failed"))?;
    if matches!(algorithm, alg::DES | alg::DES3) {
        set_odd_parity(&mut material);
    }
    let mut key = ManagedObject::symmetric_key(algorithm, SecretBytes::new(material.to_vec()));
    // The Key Block states the length asked for (168 for Triple DES, whose bytes carry parity bits).
    if let Some(block) = key.key_block_mut() {
        block.cryptographic_length = i32::try_from(length).ok();
    }
    Ok(key)
}

/// The key lengths, in bits, Create accepts for a symmetric algorithm; None for an algorithm that is not
/// symmetric (RSA, EC, DH, ...) or a hash without a key. Generating a key is drawing random bytes of a valid
/// length, so every symmetric algorithm of the specification is accepted, whether or not kmipd has its cipher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyLengths {
    /// Exactly these.
    OneOf(&'static [i64]),
    /// From `min` to `max` in steps of `step`.
    Range { min: i64, max: i64, step: i64 },
}

impl KeyLengths {
    /// Whether `length` bits is a valid key length.
    pub fn allows(self, length: i64) -> bool {
        match self {
            KeyLengths::OneOf(lengths) => lengths.contains(&length),
            KeyLengths::Range { min, max, step } => {
                (min..=max).contains(&length) && (length - min) % step == 0
            }
        }
    }
}

/// Largest key, in bits, generated for algorithms whose key length is the caller's choice (HMAC, RC4, One
/// Time Pad, ...).
pub const MAX_VARIABLE_KEY_BITS: i64 = MAX_HMAC_KEY_BITS as i64;

/// See [`KeyLengths`]; the lengths are those of each algorithm's own definition.
pub fn symmetric_lengths(algorithm: u32) -> Option<KeyLengths> {
    use KeyLengths::{OneOf, Range};
    let variable = Range {
        min: 8,
        max: MAX_VARIABLE_KEY_BITS,
        step: 8,
    };
    Some(match algorithm {
        alg::AES | alg::CAMELLIA | alg::TWOFISH | alg::ARIA => OneOf(&[128, 192, 256]),
        // 56 effective bits, or 64 counting the parity bits.
        alg::DES => OneOf(&[56, 64]),
        // Two-key (112) or three-key (168) Triple DES, 128 and 192 counting the parity bits.
        alg::DES3 => OneOf(&[112, 128, 168, 192]),
        alg::BLOWFISH => Range {
            min: 32,
            max: 448,
            step: 8,
        },
        alg::CAST5 => Range {
            min: 40,
            max: 128,
            step: 8,
        },
        alg::IDEA | alg::SEED | alg::SM4 => OneOf(&[128]),
        alg::MARS => Range {
            min: 128,
            max: 448,
            step: 32,
        },
        alg::RC2 => Range {
            min: 8,
            max: 1024,
            step: 8,
        },
        alg::RC4 => Range {
            min: 40,
            max: 2048,
            step: 8,
        },
        alg::RC5 => Range {
            min: 8,
            max: 2040,
            step: 8,
        },
        alg::SKIPJACK => OneOf(&[80]),
        alg::CHA_CHA20 | alg::POLY1305 | alg::CHA_CHA20_POLY1305 => OneOf(&[256]),
        alg::GOSTR34_13_2015 | alg::GOST28147_89 => OneOf(&[256]),
        alg::HMAC_SHA1
        | alg::HMAC_SHA224
        | alg::HMAC_SHA256
        | alg::HMAC_SHA384
        | alg::HMAC_SHA512
        | alg::HMAC_MD5
        | alg::HMAC_SHA3_224
        | alg::HMAC_SHA3_256
        | alg::HMAC_SHA3_384
        | alg::HMAC_SHA3_512
        | alg::ONE_TIME_PAD => variable,
        _ => return None,
    })
}

/// Sets the low bit of every byte so that each byte has an odd number of ones (DES key parity, FIPS 46-3).
fn set_odd_parity(key: &mut [u8]) {
    for byte in key {
        let high = *byte & 0xFE;
        *byte = high | u8::from(high.count_ones() % 2 == 0);
    }
}
