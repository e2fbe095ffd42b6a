//! What Create, Register and ReKey share: a new object's attributes, the client's checked against the rules
//! and the server's added (Unique Identifier, Object Type, Digest, Initial Date, Last Change Date, State, Fresh),
//! and its first state (Pre-Active, or Active when the Activation Date has already passed).

use crate::kmip::KmipError;
use crate::kmip::state::State;
use crate::spec::enums::hashing_algorithm;
use crate::spec::tag;
use crate::ttlv::{Ttlv, Value};

use super::OpContext;
use super::attr_io::{Attr, AttrName};
use super::object::Managed;
use super::rules;

/// Builds a new object with a fresh Unique Identifier from the object's TTLV and the client's attributes.
pub fn build(
    ctx: &OpContext<'_>,
    object_type: u32,
    object: Ttlv,
    client: Vec<Attr>,
) -> Result<Managed, KmipError> {
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
    if let Some(block) = object
        .children()
        .first()
        .filter(|c| c.tag == tag::KEY_BLOCK)
    {
        for t in [tag::CRYPTOGRAPHIC_ALGORITHM, tag::CRYPTOGRAPHIC_LENGTH] {
            if let (None, Some(v)) = (managed.get(t), block.child(t)) {
                managed.set(t, v.value.clone());
            }
        }
    }
    if let Some(digest) = digest(&object) {
        managed.attrs.push(digest);
    }
    managed.set(tag::INITIAL_DATE, Value::DateTime(ctx.now));
    managed.set(tag::LAST_CHANGE_DATE, Value::DateTime(ctx.now));
    managed.set_state(State::PreActive);
    if managed.get(tag::FRESH).is_none() {
        managed.set(tag::FRESH, Value::Boolean(true));
    }
    managed.settle(ctx.now);
    managed.object = Some(object);
    Ok(managed)
}

/// The Digest attribute of an object: SHA-256 over its key material, certificate or opaque value as held (the
/// Key Format Type recorded with it), when that is a byte string.
pub fn digest(object: &Ttlv) -> Option<Attr> {
    let (bytes, format) = match object.children().first() {
        Some(block) if block.tag == tag::KEY_BLOCK => {
            let material = block.child(tag::KEY_VALUE)?.child(tag::KEY_MATERIAL)?;
            (material, block.child(tag::KEY_FORMAT_TYPE))
        }
        _ => (
            object
                .child(tag::CERTIFICATE_VALUE)
                .or_else(|| object.child(tag::OPAQUE_DATA_VALUE))?,
            None,
        ),
    };
    let Value::ByteString(bytes) = &bytes.value else {
        return None;
    };
    let sum = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes.as_slice());
    let mut fields = vec![
        Ttlv::new(
            tag::HASHING_ALGORITHM,
            Value::Enumeration(hashing_algorithm::SHA_256),
        ),
        Ttlv::new(tag::DIGEST_VALUE, Value::ByteString(sum.as_ref().into())),
    ];
    if let Some(format) = format {
        fields.push(format.clone());
    }
    Some(Attr {
        name: AttrName::Standard(tag::DIGEST),
        value: Ttlv::structure(tag::DIGEST, fields),
    })
}
