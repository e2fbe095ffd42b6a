//! Create: a new Symmetric Key generated from the operating system's random source — AES of 128, 192 or 256
//! bits, or an HMAC key — with the client's attributes and the server's.

use zeroize::Zeroizing;

use crate::kmip::attributes::{AttributeName, Attributes};
use crate::kmip::object::ManagedObject;
use crate::kmip::{KmipError, key_format};
use crate::spec::enums::unique_identifier as ue;
use crate::spec::enums::{cryptographic_algorithm as alg, object_type};
use crate::spec::tag;
use crate::ttlv::{SecretBytes, Ttlv, Value};

use super::OpContext;
use super::{new_object, object};

/// Largest HMAC key generated, in bits.
pub const MAX_HMAC_KEY_BITS: i32 = 4096;

/// Runs Create.
pub(super) fn run(payload: &Ttlv, ctx: &mut OpContext<'_>) -> Result<Ttlv, KmipError> {
    let requested = match payload.child(tag::OBJECT_TYPE).map(|t| &t.value) {
        Some(Value::Enumeration(t)) => *t,
        _ => return Err(KmipError::invalid_message("Create needs an Object Type")),
    };
    if requested != object_type::SYMMETRIC_KEY {
        return Err(KmipError::new(
            crate::kmip::ResultReason::InvalidObjectType,
            format!("Create makes Symmetric Keys only, not Object Type {requested}"),
        ));
    }
    let attrs = Attributes::from_request(payload)?;
    let mut key = generate(&attrs)?;
    // A Key Format Type in the template is the format the client wants the key kept in (2.1 section 4.26).
    if let Some(Value::Enumeration(format)) = attrs.get_value(tag::KEY_FORMAT_TYPE) {
        key = key_format::convert(&key, *format)?;
    }
    let mut managed = new_object::build(ctx, key, attrs.clone())?;
    new_object::mark_generated(ctx, &mut managed, &attrs)?;
    object::save(ctx, &[&managed])?;
    ctx.batch.produced(ue::CREATE, &managed.uid);
    Ok(Ttlv::structure(
        tag::RESPONSE_PAYLOAD,
        vec![
            Ttlv::new(tag::OBJECT_TYPE, Value::Enumeration(requested)),
            object::uid_item(&managed.uid),
        ],
    ))
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
    let valid = match algorithm {
        alg::AES => matches!(length, 128 | 192 | 256),
        alg::DES3 => matches!(length, 112 | 168 | 192),
        alg::HMAC_SHA1
        | alg::HMAC_SHA224
        | alg::HMAC_SHA256
        | alg::HMAC_SHA384
        | alg::HMAC_SHA512 => {
            length >= 8 && length <= i64::from(MAX_HMAC_KEY_BITS) && length % 8 == 0
        }
        other => {
            return Err(KmipError::invalid_field(format!(
                "Create cannot generate keys of Cryptographic Algorithm {other}"
            )));
        }
    };
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
    // Triple DES keys of 168 effective bits carry their parity bits: 24 bytes.
    let bits = if algorithm == alg::DES3 && length == 168 {
        192
    } else {
        length
    };
    let bytes = usize::try_from(bits / 8).map_err(|_| KmipError::invalid_field("bad length"))?;
    let mut material = Zeroizing::new(vec![0u8; bytes]);
    aws_lc_rs::rand::fill(&mut material)
        .map_err(|_| KmipError::general_failure("the random source failed"))?;
    let mut key = ManagedObject::symmetric_key(algorithm, SecretBytes::new(material.to_vec()));
    // The Key Block states the length asked for (168 for Triple DES, whose bytes carry parity bits).
    if let Some(block) = key.key_block_mut() {
        block.cryptographic_length = i32::try_from(length).ok();
    }
    Ok(key)
}
