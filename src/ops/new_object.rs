//! What Create, Register and ReKey share: a new object's attributes, the client's checked against the rules
//! and the server's added (Unique Identifier, Object Type, Digest, Initial Date, Last Change Date, State, Fresh,
//! a certificate's own attributes), and its first state (Pre-Active, or Active when the Activation Date has already passed).

use crate::kmip::attribute_rules;
use crate::kmip::attributes::{Attribute, AttributeName, Attributes};
use crate::kmip::certificate;
use crate::kmip::object::{ManagedObject, ObjectBody};
use crate::kmip::state::State;
use crate::kmip::{KmipError, ProtocolVersion};
use crate::spec::tag;
use crate::ttlv::Value;

use super::OpContext;
use super::object::Managed;

/// Builds a new object with a fresh Unique Identifier from the object's TTLV and the client's attributes.
pub fn build(
    ctx: &OpContext<'_>,
    object: ManagedObject,
    client: Attributes,
) -> Result<Managed, KmipError> {
    let object_type = object.object_type.0;
    let uid = ctx.store.new_uid().map_err(|e| e.to_kmip())?;
    let mut attrs = Attributes::new();
    attrs.add(Attribute::standard(
        tag::UNIQUE_IDENTIFIER,
        Value::TextString(uid.clone()),
    ));
    attrs.add(Attribute::standard(
        tag::OBJECT_TYPE,
        Value::Enumeration(object_type),
    ));
    for attr in client.iter() {
        if attr.name == AttributeName::Standard(tag::OBJECT_TYPE) {
            if attr.value.value != Value::Enumeration(object_type) {
                return Err(KmipError::invalid_field(
                    "the Object Type attribute contradicts the request's Object Type",
                ));
            }
            continue;
        }
        attribute_rules::check_client_supply(&attr.name)?;
        if attribute_rules::rule(&attr.name).multi_instance() {
            attrs.add(attr.clone());
        } else {
            // A single-instance attribute given twice: the later value stands.
            attrs.set(attr.clone());
        }
    }
    let mut managed = Managed {
        uid,
        object_type,
        state: State::PreActive,
        archived: false,
        object: None,
        attrs,
    };
    // Cryptographic Algorithm and Length mirror the Key Block when the client did not give them.
    let form = object.to_ttlv(ProtocolVersion::V2_1);
    if let Some(block) = form.child(tag::KEY_BLOCK) {
        for t in [tag::CRYPTOGRAPHIC_ALGORITHM, tag::CRYPTOGRAPHIC_LENGTH] {
            if let (None, Some(v)) = (managed.get(t), block.child(t)) {
                managed.set(t, v.value.clone());
            }
        }
    }
    // A certificate's own attributes come from the certificate; what the client stated of them gives way.
    if let ObjectBody::Certificate {
        certificate_type,
        value,
    } = &object.body
    {
        let derived = certificate::derived_attributes(*certificate_type, value.as_slice())?;
        for name in derived.names() {
            managed.attrs.remove_all(&name);
        }
        for attr in derived.iter() {
            managed.attrs.add(attr.clone());
        }
    }
    if let Some(digest) = object.digest() {
        managed.attrs.add(digest);
    }
    managed.set(tag::INITIAL_DATE, Value::DateTime(ctx.now));
    managed.set(tag::LAST_CHANGE_DATE, Value::DateTime(ctx.now));
    managed.set_state(State::PreActive);
    if managed.get(tag::FRESH).is_none() {
        managed.set(tag::FRESH, Value::Boolean(true));
    }
    // Sensitive defaults to False and Extractable to True (2.1 sections 4.55, 4.24); Always Sensitive and Never
    // Extractable start from them (4.4, 4.37).
    let sensitive = managed.flag(tag::SENSITIVE) == Some(true);
    let extractable = managed.flag(tag::EXTRACTABLE) != Some(false);
    managed.set(tag::SENSITIVE, Value::Boolean(sensitive));
    managed.set(tag::EXTRACTABLE, Value::Boolean(extractable));
    managed.set(tag::ALWAYS_SENSITIVE, Value::Boolean(sensitive));
    managed.set(tag::NEVER_EXTRACTABLE, Value::Boolean(!extractable));
    managed.settle(ctx.now);
    managed.object = Some(object);
    Ok(managed)
}
