//! What Create, Register and ReKey share: a new object's attributes, the client's checked against the rules
//! and the server's added (Unique Identifier, Object Type, Digest, Initial Date, Last Change Date, State, Fresh,
//! a certificate's own attributes), and its first state (Pre-Active, or Active when the Activation Date has already passed).

use crate::kmip::attribute_rules;
use crate::kmip::attributes::{Attribute, AttributeName, Attributes};
use crate::kmip::certificate;
use crate::kmip::object::{ManagedObject, ObjectBody};
use crate::kmip::operations::IdResponse;
use crate::kmip::state::State;
use crate::kmip::{KmipError, ProtocolVersion};
use crate::spec::enums::{drbg_algorithm, protection_storage_mask, rng_algorithm};
use crate::spec::tag;
use crate::ttlv::{Ttlv, Value};

use super::OpContext;
use super::object::{self, Managed};

/// A Link attribute instance: how a new object and the one it came from or beside (a pair's other half, a
/// derivation base, the key it replaces) point at each other.
pub fn link(kind: u32, uid: &str) -> Attribute {
    Attribute::standard(
        tag::LINK,
        Value::Structure(vec![
            Ttlv::new(tag::LINK_TYPE, Value::Enumeration(kind)),
            Ttlv::new(
                tag::LINKED_OBJECT_IDENTIFIER,
                Value::TextString(uid.to_string()),
            ),
        ]),
    )
}

/// Saves an object made from `source` (derived from it, or replacing it) in one commit with `source`, each
/// linked to the other (`to_source` on the new object, `to_new` on the source), and answers the new object's
/// Unique Identifier, which the ID Placeholder names from now on (as `producer`).
pub fn save_made_from(
    ctx: &mut OpContext<'_>,
    source: &mut Managed,
    to_new: u32,
    mut new: Managed,
    to_source: u32,
    producer: u32,
) -> Result<IdResponse, KmipError> {
    new.attrs.add(link(to_source, &source.uid));
    source.attrs.add(link(to_new, &new.uid));
    source.touch(ctx.now);
    object::save(ctx, &[source, &new])?;
    ctx.batch.produced(producer, &new.uid);
    Ok(IdResponse {
        unique_identifier: new.uid,
    })
}

/// The last value of a single-valued standard attribute as a number (Integer or Enumeration alike): the
/// algorithm and length a new object's attributes ask for are read this way.
pub fn number(attrs: &Attributes, t: u32) -> Option<i64> {
    match attrs.get_value(t) {
        Some(Value::Integer(i)) => Some(i64::from(*i)),
        Some(Value::Enumeration(e)) => Some(i64::from(*e)),
        _ => None,
    }
}

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
        version: 0,
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
    if let Some(kb) = object.key_block() {
        managed.set(tag::KEY_FORMAT_TYPE, Value::Enumeration(kb.key_format_type));
    }
    // The longest lease the server grants (2.1 section 4.30: set on every new object, read-only to clients).
    managed.set(tag::LEASE_TIME, Value::Interval(ctx.config.lease_seconds));
    // SHA-256 of the Unique Identifier, as 2.1 section 4.56 recommends.
    let short = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, managed.uid.as_bytes());
    managed.set(
        tag::SHORT_UNIQUE_IDENTIFIER,
        Value::ByteString(short.as_ref().to_vec().into()),
    );
    // Objects live in the store's software-encrypted file (2.1 section 4.44).
    managed.set(
        tag::PROTECTION_STORAGE_MASK,
        Value::Integer(protection_storage_mask::SOFTWARE as i32),
    );
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

/// The AES key size of the server's CTR_DRBG.
pub const SERVER_RNG_AES_BITS: i32 = 256;

/// The generator the server's keys come from: AWS-LC's CTR_DRBG with AES-256, seeded from the operating system
/// (what `aws_lc_rs::rand` uses), as a Random Number Generator value (2.1 section 4.46, RNG Parameters 2.1
/// section 2.1.18).
pub fn server_rng() -> Attribute {
    Attribute::standard(
        tag::RANDOM_NUMBER_GENERATOR,
        Value::Structure(vec![
            Ttlv::new(tag::RNG_ALGORITHM, Value::Enumeration(rng_algorithm::DRBG)),
            Ttlv::new(
                tag::CRYPTOGRAPHIC_ALGORITHM,
                Value::Enumeration(crate::spec::enums::cryptographic_algorithm::AES),
            ),
            Ttlv::new(
                tag::CRYPTOGRAPHIC_LENGTH,
                Value::Integer(SERVER_RNG_AES_BITS),
            ),
            Ttlv::new(tag::DRBG_ALGORITHM, Value::Enumeration(drbg_algorithm::CTR)),
        ]),
    )
}

/// Whether a Random Number Generator a client asks for describes the server's: every field it gives must be
/// the server's, and RNG Algorithm Unspecified matches any generator.
fn rng_matches(requested: &Ttlv, ours: &Ttlv) -> bool {
    requested.children().iter().all(|field| {
        field.tag == tag::RNG_ALGORITHM
            && field.value == Value::Enumeration(rng_algorithm::UNSPECIFIED)
            || ours
                .child(field.tag)
                .is_some_and(|o| o.value == field.value)
    })
}

/// What the server sets on an object whose material it generated (Create, ReKey): Original Creation Date equal
/// to Initial Date (2.1 section 4.39) and the Random Number Generator used (4.46). A request naming
/// Random Number Generators must name the server's, or it fails: the server has no other to use.
pub fn mark_generated(
    ctx: &OpContext<'_>,
    managed: &mut Managed,
    requested: &Attributes,
) -> Result<(), KmipError> {
    let ours = server_rng();
    let asked: Vec<&Attribute> = requested
        .get_all(&AttributeName::Standard(tag::RANDOM_NUMBER_GENERATOR))
        .collect();
    if !asked.is_empty() && !asked.iter().any(|a| rng_matches(&a.value, &ours.value)) {
        return Err(KmipError::new(
            crate::kmip::ResultReason::InvalidAttributeValue,
            "the server generates keys with CTR_DRBG (AES-256) only; the Random Number Generator asked for \
             is not available",
        ));
    }
    managed.attrs.set(ours);
    managed.set(tag::ORIGINAL_CREATION_DATE, Value::DateTime(ctx.now));
    Ok(())
}
