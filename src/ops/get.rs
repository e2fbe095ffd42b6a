//! Get: the object itself, in the Key Format Type asked for where the key allows it (`kmip::key_format`),
//! wrapped under another managed key when a Key Wrapping Specification asks (`kmip::wrap`), and never in clear
//! when it is Sensitive or not Extractable. The first Get of an object clears its Fresh attribute.

use crate::kmip::attributes::Attributes;
use crate::kmip::object::ManagedObject;
use crate::kmip::quirks;
use crate::kmip::wrap::{self, KeyWrappingSpecification};
use crate::kmip::{KmipError, ResultReason, key_format};
use crate::spec::enums::key_wrap_type;
use crate::spec::tag;
use crate::store::{Mutation, StoreError};
use crate::ttlv::{Ttlv, Value};

use super::OpContext;
use super::gate::{self, Missing, Right};
use super::object::{self, Managed};
use super::usage::{self, Use};
use crate::access::policy::OpClass;

/// Runs Get.
pub(super) fn run(payload: &Ttlv, ctx: &mut OpContext<'_>) -> Result<Ttlv, KmipError> {
    let mut managed = object::load_named(ctx, payload)?;
    let Some(stored) = managed.object.clone() else {
        return Err(destroyed(ctx, &managed.uid));
    };
    if payload.child(tag::KEY_COMPRESSION_TYPE).is_some() {
        return Err(KmipError::new(
            ResultReason::KeyCompressionTypeNotSupported,
            "keys are returned uncompressed only",
        ));
    }
    let spec = payload
        .child(tag::KEY_WRAPPING_SPECIFICATION)
        .map(KeyWrappingSpecification::from_ttlv)
        .transpose()?;
    if managed.flag(tag::EXTRACTABLE) == Some(false) {
        return Err(KmipError::new(
            ResultReason::NotExtractable,
            "the object is not Extractable",
        ));
    }
    if spec.is_none() && managed.flag(tag::SENSITIVE) == Some(true) {
        return Err(KmipError::new(
            ResultReason::Sensitive,
            "the object is Sensitive: it is returned only wrapped",
        ));
    }
    // A key registered wrapped is returned as registered unless Key Wrap Type is Not Wrapped.
    let stored = match key_wrap_type(payload)? {
        Some(key_wrap_type::NOT_WRAPPED) if is_wrapped(&stored) => unwrapped(ctx, &stored)?,
        _ => stored,
    };
    let mut returned = match payload.child(tag::KEY_FORMAT_TYPE).map(|f| &f.value) {
        None => stored,
        Some(Value::Enumeration(format)) => key_format::convert(&stored, *format)?,
        Some(_) => {
            return Err(KmipError::invalid_message(
                "Key Format Type is not an Enumeration",
            ));
        }
    };
    if let Some(spec) = &spec {
        returned = wrap_for(ctx, &managed, &returned, spec)?;
    }
    let mut item = returned.to_ttlv(ctx.version);
    quirks::key_value_material_only(&mut item, ctx.version);
    if managed.flag(tag::FRESH) == Some(true) {
        managed.set(tag::FRESH, Value::Boolean(false));
        // A compare-and-set against the version loaded: it never writes back over a change made since.
        match object::commit(ctx, vec![Mutation::Put(managed.to_record())]) {
            Ok(_) => {}
            // Fresh is bookkeeping: with a zone down the key is still served (reads go on from the
            // surviving zone) and Fresh is cleared by the first Get after the zone returns.
            Err(StoreError::ZoneUnavailable { zone, .. }) => {
                tracing::warn!(uid = %managed.uid, %zone, "Fresh left set: a zone is down");
            }
            // Another request changed the object after it was loaded (a Destroy, another Get clearing
            // Fresh): nothing was written. Read it again: the key is served only if it still holds its
            // material; Fresh is then left to what that request wrote or to the next Get.
            Err(StoreError::VersionConflict { .. }) => {
                let again = object::load_named(ctx, payload)?;
                if again.object.is_none() {
                    return Err(destroyed(ctx, &again.uid));
                }
            }
            Err(e) => return Err(e.to_kmip()),
        }
    }
    Ok(Ttlv::structure(
        tag::RESPONSE_PAYLOAD,
        vec![
            Ttlv::new(tag::OBJECT_TYPE, Value::Enumeration(managed.object_type)),
            object::uid_item(&managed.uid),
            item,
        ],
    ))
}

/// The answer to a Get of an object whose key material is gone. 2.x names this Object Destroyed. 1.x has no
/// such reason, and its clients expect Item Not Found (the 1.x servers they were written against, PyKMIP's
/// among them, delete a destroyed object).
fn destroyed(ctx: &OpContext<'_>, uid: &str) -> KmipError {
    let reason = if ctx.version.is_2x() {
        ResultReason::ObjectDestroyed
    } else {
        ResultReason::ItemNotFound
    };
    KmipError::new(
        reason,
        format!("the key material of {uid:?} has been destroyed"),
    )
}

/// The object wrapped under the key the specification names.
fn wrap_for(
    ctx: &mut OpContext<'_>,
    managed: &Managed,
    object: &ManagedObject,
    spec: &KeyWrappingSpecification,
) -> Result<ManagedObject, KmipError> {
    let id = spec.wrapping_key_id().ok_or_else(|| {
        KmipError::missing_data("the Key Wrapping Specification names no wrapping key")
    })?;
    let wrapping_object = wrapping_key(ctx, id, Use::WrapKey)?;
    let mut attributes = Attributes::new();
    for name in &spec.attribute_names {
        for attr in managed.attrs.get_all(name) {
            if attr.name.known_in(ctx.version) {
                attributes.add(attr.clone());
            }
        }
    }
    wrap::wrap(object, &wrapping_object, spec, &attributes, ctx.version)
}

/// The key object that wraps or unwraps another: it must exist and the caller must be allowed to use it
/// (Wrapping Object Not Found, alike for a key that is missing and one the caller may not see), be on-line
/// (Wrapping Object Archived), still hold its material (Wrapping Object Destroyed), and be usable for
/// `purpose` now (`usage::check`: wrapping needs an Active key with the Wrap Key bit, unwrapping the Unwrap Key
/// bit and a state that may still process).
pub(super) fn wrapping_key(
    ctx: &mut OpContext<'_>,
    id: &str,
    purpose: Use,
) -> Result<ManagedObject, KmipError> {
    let wrapping =
        gate::load_reference(ctx, id, Right::Class(OpClass::Use), Missing::WrappingObject)?;
    if wrapping.archived {
        return Err(KmipError::new(
            ResultReason::WrappingObjectArchived,
            format!("wrapping key {id:?} is archived"),
        ));
    }
    let Some(object) = wrapping.object.clone() else {
        return Err(KmipError::new(
            ResultReason::WrappingObjectDestroyed,
            format!("wrapping key {id:?} has been destroyed"),
        ));
    };
    usage::check(&wrapping, purpose, ctx.now)?;
    Ok(object)
}

/// A key stored wrapped (registered so), unwrapped with the key that wrapped it: what a Get or Register with
/// Key Wrap Type Not Wrapped asks for.
pub(super) fn unwrapped(
    ctx: &mut OpContext<'_>,
    object: &ManagedObject,
) -> Result<ManagedObject, KmipError> {
    let id = object
        .key_block()
        .and_then(|kb| kb.key_wrapping_data.as_ref())
        .and_then(|d| d.encryption_key.as_ref())
        .map(|k| k.unique_identifier.clone())
        .ok_or_else(|| {
            KmipError::new(
                ResultReason::KeyWrapTypeNotSupported,
                "the key is not wrapped under an Encryption Key Information the server could use",
            )
        })?;
    let wrapping = wrapping_key(ctx, &id, Use::UnwrapKey)?;
    wrap::unwrap(object, &wrapping, ctx.version)
}

/// Whether the object's key value is wrapped.
pub(super) fn is_wrapped(object: &ManagedObject) -> bool {
    object
        .key_block()
        .is_some_and(|kb| kb.key_wrapping_data.is_some())
}

/// The Key Wrap Type a Get or Register payload asks for, if any.
pub(super) fn key_wrap_type(payload: &Ttlv) -> Result<Option<u32>, KmipError> {
    match payload.child(tag::KEY_WRAP_TYPE).map(|t| &t.value) {
        None => Ok(None),
        Some(Value::Enumeration(k)) => Ok(Some(*k)),
        Some(_) => Err(KmipError::invalid_message(
            "Key Wrap Type is not an Enumeration",
        )),
    }
}
