//! ReKey: a replacement for a symmetric key — new key material of the same algorithm and length, the old key's
//! client attributes, lifecycle dates moved by Offset (2.1 section 6.1.42), and Replacement / Replaced Object
//! links between the two. Both objects are saved in one commit.

use crate::kmip::KmipError;
use crate::kmip::attribute_rules;
use crate::kmip::attributes::{Attribute, AttributeName, Attributes};
use crate::kmip::operations::IdResponse;
use crate::kmip::operations::derive::RekeyRequest;
use crate::spec::enums::link_type;
use crate::spec::enums::object_type;
use crate::spec::enums::unique_identifier as ue;
use crate::spec::tag;
use crate::ttlv::Value;

use super::OpContext;
use super::{create, new_object, object};

/// Attributes the replacement does not inherit: the server's own, the lifecycle dates (recomputed from Offset)
/// and the old key's links.
const NOT_INHERITED: &[u32] = &[
    tag::ACTIVATION_DATE,
    tag::DEACTIVATION_DATE,
    tag::PROCESS_START_DATE,
    tag::PROTECT_STOP_DATE,
    tag::LINK,
    tag::FRESH,
    tag::RANDOM_NUMBER_GENERATOR,
    tag::ORIGINAL_CREATION_DATE,
];

/// Runs ReKey.
pub(super) fn run(req: RekeyRequest, ctx: &mut OpContext<'_>) -> Result<IdResponse, KmipError> {
    let mut old = object::load_ref(ctx, req.unique_identifier.as_ref())?;
    if old.object_type != object_type::SYMMETRIC_KEY {
        return Err(KmipError::new(
            crate::kmip::ResultReason::InvalidObjectType,
            "ReKey replaces symmetric keys only",
        ));
    }
    if old.object.is_none() {
        return Err(KmipError::new(
            crate::kmip::ResultReason::ObjectDestroyed,
            "the key has been destroyed",
        ));
    }
    let offset = req.offset.map(i64::from);
    let mut inherited: Attributes = old
        .attrs
        .iter()
        .filter(|a| match &a.name {
            AttributeName::Standard(t) => {
                !NOT_INHERITED.contains(t) && attribute_rules::check_client_supply(&a.name).is_ok()
            }
            AttributeName::Custom(_) | AttributeName::Vendor { .. } => true,
        })
        .cloned()
        .collect();
    // Dates: the new key becomes active at now + Offset, and keeps the old key's spans after that.
    if let Some(offset) = offset {
        let start = ctx.now.saturating_add(offset);
        let old_activation = old.date(tag::ACTIVATION_DATE);
        inherited.set(Attribute::standard(
            tag::ACTIVATION_DATE,
            Value::DateTime(start),
        ));
        for t in [
            tag::PROCESS_START_DATE,
            tag::PROTECT_STOP_DATE,
            tag::DEACTIVATION_DATE,
        ] {
            if let (Some(base), Some(d)) = (old_activation, old.date(t)) {
                let moved = start.saturating_add(d.saturating_sub(base));
                inherited.set(Attribute::standard(t, Value::DateTime(moved)));
            }
        }
    }
    // The request's attributes override what was inherited.
    for attr in req.attributes.iter() {
        if attribute_rules::rule(&attr.name).multi_instance() {
            inherited.add(attr.clone());
        } else {
            inherited.set(attr.clone());
        }
    }
    let key = create::generate(&inherited)?;
    let mut new = new_object::build(ctx, key, inherited.clone())?;
    new_object::mark_generated(ctx, &mut new, &inherited)?;
    new_object::save_made_from(
        ctx,
        &mut old,
        link_type::REPLACEMENT_OBJECT_LINK,
        new,
        link_type::REPLACED_OBJECT_LINK,
        ue::RE_KEY,
    )
}
