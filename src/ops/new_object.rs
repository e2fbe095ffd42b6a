//! What Create, Register and ReKey share: a new object's attributes, the client's checked against the rules
//! and the server's added (Unique Identifier, Object Type, Digest, Initial Date, Last Change Date, State, Fresh),
//! and its first state (Pre-Active, or Active when the Activation Date has already passed).

use crate::kmip::object::ManagedObject;
use crate::kmip::state::State;
use crate::kmip::{KmipError, ProtocolVersion};
use crate::spec::tag;
use crate::ttlv::Value;

use super::OpContext;
use super::attr_io::{self, Attr, AttrName};
use super::object::Managed;
use super::rules;

/// Builds a new object with a fresh Unique Identifier from the object's TTLV and the client's attributes.
pub fn build(
    ctx: &OpContext<'_>,
    object: ManagedObject,
    client: Vec<Attr>,
) -> Result<Managed, KmipError> {
    let object_type = object.object_type.0;
    let uid = ctx.store.new_uid().map_err(|e| e.to_kmip())?;
    let mut attrs = vec![
        Attr::standard(tag::UNIQUE_IDENTIFIER, Value::TextString(uid.clone())),
        Attr::standard(tag::OBJECT_TYPE, Value::Enumeration(object_type)),
    ];
    for attr in client {
        if attr.name == AttrName::Standard(tag::OBJECT_TYPE) {
            if attr.value.value != Value::Enumeration(object_type) {
                return Err(KmipError::invalid_field(
                    "the Object Type attribute contradicts the request's Object Type",
                ));
            }
            continue;
        }
        rules::check_client_initial(&attr.name)?;
        let single = !rules::multi_instance(&attr.name);
        match attrs.iter_mut().find(|a| a.name == attr.name) {
            // A single-instance attribute given twice: the later value stands.
            Some(existing) if single => *existing = attr,
            _ => attrs.push(attr),
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
    if let Some(digest) = object.digest() {
        managed.attrs.push(attr_io::decode_2x(&digest.to_2x())?);
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
