//! Register: a client's object (Symmetric Key, Secret Data, Opaque Object, Public Key, Private Key,
//! Certificate, Split Key, PGP Key) is stored as given, with the client's attributes and the server's; a wrapped
//! key is unwrapped first when the request's Key Wrap Type is Not Wrapped.

use crate::kmip::attributes::{Attribute, Attributes};
use crate::kmip::object::ManagedObject;
use crate::kmip::{KmipError, ResultReason};
use crate::spec::enums::object_type as ot;
use crate::spec::enums::unique_identifier as ue;
use crate::spec::enums::{key_wrap_type, link_type};
use crate::spec::tag;
use crate::ttlv::{Ttlv, Value};

use super::OpContext;
use super::{gate, get, new_object, object};

/// Each Object Type's structure tag.
pub const OBJECT_TAGS: &[(u32, u32)] = &[
    (ot::CERTIFICATE, tag::CERTIFICATE),
    (ot::SYMMETRIC_KEY, tag::SYMMETRIC_KEY),
    (ot::PUBLIC_KEY, tag::PUBLIC_KEY),
    (ot::PRIVATE_KEY, tag::PRIVATE_KEY),
    (ot::SPLIT_KEY, tag::SPLIT_KEY),
    (ot::SECRET_DATA, tag::SECRET_DATA),
    (ot::OPAQUE_OBJECT, tag::OPAQUE_OBJECT),
    (ot::PGP_KEY, tag::PGP_KEY),
];

/// Runs Register.
pub(super) fn run(payload: &Ttlv, ctx: &mut OpContext<'_>) -> Result<Ttlv, KmipError> {
    let object_type = match payload.child(tag::OBJECT_TYPE).map(|t| &t.value) {
        Some(Value::Enumeration(t)) => *t,
        _ => return Err(KmipError::invalid_message("Register needs an Object Type")),
    };
    let object_tag = OBJECT_TAGS
        .iter()
        .find(|(t, _)| *t == object_type)
        .map(|(_, tag)| *tag)
        .ok_or_else(|| {
            KmipError::new(
                ResultReason::InvalidObjectType,
                format!("objects of Object Type {object_type} cannot be registered"),
            )
        })?;
    let object = payload.child(object_tag).ok_or_else(|| {
        KmipError::invalid_message("Register's payload lacks the object its Object Type names")
    })?;
    let mut object = ManagedObject::from_ttlv(object, ctx.version)?;
    let attrs = Attributes::from_request(payload)?;
    // A wrapped key is unwrapped when Key Wrap Type says Not Wrapped (2.1 section 6.1.22, as for Import), and
    // is otherwise stored as provided, linked to the key that wrapped it (2.1 section 6.1.43).
    let mut wrapped_by = None;
    if get::is_wrapped(&object) {
        if crate::kmip::operations::get::key_wrap_type(payload)? == Some(key_wrap_type::NOT_WRAPPED)
        {
            object = get::unwrapped(ctx, &object)?;
        } else {
            wrapped_by = object
                .key_block()
                .and_then(|kb| kb.key_wrapping_data.as_ref())
                .and_then(|d| d.encryption_key.as_ref().or(d.mac_signature_key.as_ref()))
                .map(|k| k.unique_identifier.clone());
        }
    }
    // The link is made only to a key the caller may see: a missing key and one it may not see are alike (no
    // link), so the answer tells nothing about another owner's keys.
    if let Some(uid) = &wrapped_by
        && !gate::sees(ctx, uid)?
    {
        wrapped_by = None;
    }
    let mut managed = new_object::build(ctx, object, attrs)?;
    if let Some(wrapping) = wrapped_by {
        managed.attrs.add(Attribute::standard(
            tag::LINK,
            Value::Structure(vec![
                Ttlv::new(
                    tag::LINK_TYPE,
                    Value::Enumeration(link_type::WRAPPING_KEY_LINK),
                ),
                Ttlv::new(tag::LINKED_OBJECT_IDENTIFIER, Value::TextString(wrapping)),
            ]),
        ));
    }
    object::save(ctx, &[&managed])?;
    ctx.batch.produced(ue::REGISTER, &managed.uid);
    Ok(Ttlv::structure(
        tag::RESPONSE_PAYLOAD,
        vec![object::uid_item(&managed.uid)],
    ))
}
