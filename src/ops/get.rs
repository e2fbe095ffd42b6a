//! Get: the object itself, in the Key Format Type asked for where the key allows it, never in clear when it is
//! Sensitive or not Extractable. The first Get of an object clears its Fresh attribute.

use crate::kmip::quirks;
use crate::kmip::{KmipError, ResultReason};
use crate::spec::enums::key_format_type as kft;
use crate::spec::tag;
use crate::ttlv::{Ttlv, Value};

use super::OpContext;
use super::object;

/// Runs Get.
pub(super) fn run(payload: &Ttlv, ctx: &mut OpContext<'_>) -> Result<Ttlv, KmipError> {
    let mut managed = object::load_named(ctx, payload)?;
    let Some(stored) = managed.object.clone() else {
        return Err(KmipError::new(
            ResultReason::ObjectDestroyed,
            format!("the key material of {:?} has been destroyed", managed.uid),
        ));
    };
    if payload.child(tag::KEY_WRAPPING_SPECIFICATION).is_some() {
        return Err(KmipError::new(
            ResultReason::KeyWrapTypeNotSupported,
            "Get with a Key Wrapping Specification is not supported",
        ));
    }
    if managed.flag(tag::SENSITIVE) == Some(true) {
        return Err(KmipError::new(
            ResultReason::Sensitive,
            "the object is Sensitive: it is returned only wrapped",
        ));
    }
    if managed.flag(tag::EXTRACTABLE) == Some(false) {
        return Err(KmipError::new(
            ResultReason::NotExtractable,
            "the object is not Extractable",
        ));
    }
    if payload.child(tag::KEY_COMPRESSION_TYPE).is_some() {
        return Err(KmipError::new(
            ResultReason::KeyCompressionTypeNotSupported,
            "keys are returned uncompressed only",
        ));
    }
    let mut returned = match payload.child(tag::KEY_FORMAT_TYPE).map(|f| &f.value) {
        None => stored,
        Some(Value::Enumeration(format)) => convert(stored, *format)?,
        Some(_) => {
            return Err(KmipError::invalid_message(
                "Key Format Type is not an Enumeration",
            ));
        }
    };
    quirks::key_value_material_only(&mut returned, ctx.version);
    if managed.flag(tag::FRESH) == Some(true) {
        managed.set(tag::FRESH, Value::Boolean(false));
        object::save(ctx, &[&managed])?;
    }
    Ok(Ttlv::structure(
        tag::RESPONSE_PAYLOAD,
        vec![
            Ttlv::new(tag::OBJECT_TYPE, Value::Enumeration(managed.object_type)),
            object::uid_item(&managed.uid),
            returned,
        ],
    ))
}

fn unsupported(from: u32, to: u32) -> KmipError {
    KmipError::new(
        ResultReason::KeyFormatTypeNotSupported,
        format!("the key cannot be returned in Key Format Type {to} from {from}"),
    )
}

/// The object in another Key Format Type: the same format, or Raw and Transparent Symmetric Key into each
/// other; anything else is Key Format Type Not Supported.
fn convert(mut object: Ttlv, to: u32) -> Result<Ttlv, KmipError> {
    let Value::Structure(children) = &mut object.value else {
        return Err(unsupported(0, to));
    };
    let Some(block) = children.iter_mut().find(|c| c.tag == tag::KEY_BLOCK) else {
        return Err(unsupported(0, to));
    };
    let Value::Structure(fields) = &mut block.value else {
        return Err(unsupported(0, to));
    };
    let from = fields
        .iter()
        .find(|f| f.tag == tag::KEY_FORMAT_TYPE)
        .and_then(|f| match f.value {
            Value::Enumeration(e) => Some(e),
            _ => None,
        })
        .unwrap_or(0);
    if from == to {
        return Ok(object);
    }
    let symmetric = [kft::RAW, kft::TRANSPARENT_SYMMETRIC_KEY];
    if !(symmetric.contains(&from) && symmetric.contains(&to)) {
        return Err(unsupported(from, to));
    }
    for field in fields.iter_mut() {
        if field.tag == tag::KEY_FORMAT_TYPE {
            field.value = Value::Enumeration(to);
        }
        if field.tag != tag::KEY_VALUE {
            continue;
        }
        let Value::Structure(value_fields) = &mut field.value else {
            continue;
        };
        for material in value_fields
            .iter_mut()
            .filter(|m| m.tag == tag::KEY_MATERIAL)
        {
            let new = match (&material.value, to) {
                (Value::ByteString(b), kft::TRANSPARENT_SYMMETRIC_KEY) => {
                    Value::Structure(vec![Ttlv::new(tag::KEY, Value::ByteString(b.clone()))])
                }
                (Value::Structure(_), kft::RAW) => match material.child(tag::KEY) {
                    Some(Ttlv {
                        value: Value::ByteString(b),
                        ..
                    }) => Value::ByteString(b.clone()),
                    _ => return Err(unsupported(from, to)),
                },
                _ => return Err(unsupported(from, to)),
            };
            material.value = new;
        }
    }
    Ok(object)
}
