//! Get: the object itself, in the Key Format Type asked for where the key allows it (`kmip::key_format`),
//! wrapped under another managed key when a Key Wrapping Specification asks (`kmip::wrap`), and never in clear
//! when it is Sensitive or not Extractable. The first Get of an object clears its Fresh attribute.

use crate::kmip::attributes::{Attribute, Attributes};
use crate::kmip::object::ManagedObject;
use crate::kmip::quirks;
use crate::kmip::wrap::{self, KeyWrappingSpecification};
use crate::kmip::{KmipError, ResultReason, key_format};
use crate::spec::tag;
use crate::store::{Mutation, StoreError};
use crate::ttlv::{Ttlv, Value};

use super::OpContext;
use super::attr_io;
use super::object::{self, Managed};

/// Runs Get.
pub(super) fn run(payload: &Ttlv, ctx: &mut OpContext<'_>) -> Result<Ttlv, KmipError> {
    let mut managed = object::load_named(ctx, payload)?;
    let Some(stored) = managed.object.clone() else {
        return Err(KmipError::new(
            ResultReason::ObjectDestroyed,
            format!("the key material of {:?} has been destroyed", managed.uid),
        ));
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
        match ctx.store.commit(vec![Mutation::Put(managed.to_record())]) {
            Ok(_) => {}
            // Fresh is bookkeeping: with a zone down the key is still served (reads go on from the
            // surviving zone) and Fresh is cleared by the first Get after the zone returns.
            Err(StoreError::ZoneUnavailable { zone, .. }) => {
                tracing::warn!(uid = %managed.uid, %zone, "Fresh left set: a zone is down");
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

/// The object wrapped under the key the specification names: that key must exist (Wrapping Object Not Found),
/// be on-line (Wrapping Object Archived) and still hold its material (Wrapping Object Destroyed).
fn wrap_for(
    ctx: &OpContext<'_>,
    managed: &Managed,
    object: &ManagedObject,
    spec: &KeyWrappingSpecification,
) -> Result<ManagedObject, KmipError> {
    let id = spec.wrapping_key_id().ok_or_else(|| {
        KmipError::missing_data("the Key Wrapping Specification names no wrapping key")
    })?;
    let wrapping = object::load_any(ctx, id).map_err(|e| match e.reason {
        ResultReason::ObjectNotFound => {
            KmipError::new(ResultReason::WrappingObjectNotFound, e.message)
        }
        _ => e,
    })?;
    if wrapping.archived {
        return Err(KmipError::new(
            ResultReason::WrappingObjectArchived,
            format!("wrapping key {id:?} is archived"),
        ));
    }
    let Some(wrapping_object) = &wrapping.object else {
        return Err(KmipError::new(
            ResultReason::WrappingObjectDestroyed,
            format!("wrapping key {id:?} has been destroyed"),
        ));
    };
    let mut attributes = Attributes::new();
    for name in &spec.attribute_names {
        let Some(one_x) = name.name_1x() else {
            continue;
        };
        let ours = attr_io::AttrName::from_1x(&one_x)?;
        for (index, attr) in managed.instances(&ours) {
            if let Some(item) = attr_io::encode(attr, index, ctx.version) {
                attributes.add(model_attribute(&item, ctx)?);
            }
        }
    }
    wrap::wrap(object, wrapping_object, spec, &attributes, ctx.version)
}

/// An attribute in the model's form, from its response form.
fn model_attribute(item: &Ttlv, ctx: &OpContext<'_>) -> Result<Attribute, KmipError> {
    if ctx.version.is_2x() {
        Attribute::from_2x(item)
    } else {
        Attribute::from_1x(item).map(|(a, _)| a)
    }
}
