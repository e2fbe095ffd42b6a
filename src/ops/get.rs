//! Get: the object itself, in the Key Format Type asked for where the key allows it (`kmip::key_format`),
//! wrapped under another managed key when a Key Wrapping Specification asks (`kmip::wrap`), and never in clear
//! when it is Sensitive or not Extractable. The first Get of an object clears its Fresh attribute.

use crate::kmip::attributes::Attributes;
use crate::kmip::object::ManagedObject;
use crate::kmip::operations::get::{GetRequest, GetResponse};
use crate::kmip::wrap::{self, KeyWrappingSpecification};
use crate::kmip::{KmipError, ResultReason, key_format};
use crate::spec::enums::key_wrap_type;
use crate::spec::tag;
use crate::store::{Mutation, StoreError};
use crate::ttlv::Value;

use super::OpContext;
use super::gate::{self, Missing, Right};
use super::object::{self, Managed};
use super::usage::{self, Use};
use crate::access::policy::OpClass;

/// Runs Get.
pub(super) fn run(req: GetRequest, ctx: &mut OpContext<'_>) -> Result<GetResponse, KmipError> {
    let mut managed = object::load_ref(ctx, req.unique_identifier.as_ref())?;
    let Some(stored) = managed.object.clone() else {
        return Err(destroyed(ctx, &managed.uid));
    };
    if req.key_compression_type {
        return Err(KmipError::new(
            ResultReason::KeyCompressionTypeNotSupported,
            "keys are returned uncompressed only",
        ));
    }
    let spec = req.key_wrapping_specification;
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
    let stored = match req.key_wrap_type {
        Some(key_wrap_type::NOT_WRAPPED) if is_wrapped(&stored) => unwrapped(ctx, &stored)?,
        _ => stored,
    };
    let mut returned = match req.key_format_type {
        None => stored,
        Some(format) => key_format::convert(&stored, format)?,
    };
    if let Some(spec) = &spec {
        returned = wrap_for(ctx, &managed, &returned, spec)?;
    }
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
                let again = object::load_ref(ctx, req.unique_identifier.as_ref())?;
                if again.object.is_none() {
                    return Err(destroyed(ctx, &again.uid));
                }
            }
            Err(e) => return Err(e.to_kmip()),
        }
    }
    Ok(GetResponse {
        object_type: managed.object_type,
        unique_identifier: managed.uid,
        object: returned,
    })
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
