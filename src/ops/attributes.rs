//! The attribute operations: Get Attributes, Get Attribute List, Add, Modify and Delete Attribute (1.x and 2.x
//! forms), Set and Adjust Attribute (2.x). Each change is checked against the attribute rules, stamps Last
//! Change Date, and is saved in one commit.

use crate::kmip::attribute_rules::{
    self, check_client_add, check_client_delete, check_client_modify,
};
use crate::kmip::attributes::{Attribute, AttributeName, attribute_storage_name, search_key};
use crate::kmip::state::State;
use crate::kmip::{KmipError, ProtocolVersion, ResultReason};
use crate::spec::enums::adjustment_type;
use crate::spec::tag;
use crate::store::{Filter, LocateQuery};
use crate::ttlv::{Ttlv, Value};

use super::OpContext;
use super::object::{self, Managed};

fn response(uid: &str, rest: Vec<Ttlv>) -> Ttlv {
    let mut fields = vec![object::uid_item(uid)];
    fields.extend(rest);
    Ttlv::structure(tag::RESPONSE_PAYLOAD, fields)
}

/// The attribute instances a response of `version` carries: 1.x a list of Attribute structures, 2.x one
/// Attributes structure.
fn encode_all<'a>(
    instances: impl Iterator<Item = (&'a Attribute, u32)>,
    version: ProtocolVersion,
) -> Vec<Ttlv> {
    let items: Vec<Ttlv> = instances
        .filter_map(|(a, i)| a.to_ttlv(version, i))
        .collect();
    if version.is_2x() {
        vec![Ttlv::structure(tag::ATTRIBUTES, items)]
    } else {
        items
    }
}

/// The names a request asks for: 1.x Attribute Name items, 2.x Attribute Reference items. A name the server
/// does not know names nothing the object can have, so it is skipped like any absent attribute.
fn requested_names(payload: &Ttlv) -> Result<Vec<AttributeName>, KmipError> {
    let mut names = Vec::new();
    for item in payload.children() {
        if item.tag != tag::ATTRIBUTE_NAME && item.tag != tag::ATTRIBUTE_REFERENCE {
            continue;
        }
        match AttributeName::from_name_or_reference(item) {
            Ok(name) => names.push(name),
            Err(e) if e.reason == ResultReason::UnsupportedAttribute => {}
            Err(e) => return Err(e),
        }
    }
    Ok(names)
}

/// Runs Get Attributes: every attribute when no name is given; a name the object lacks (or the version does not
/// know) contributes nothing and is no error.
pub(super) fn get_attributes(payload: &Ttlv, ctx: &mut OpContext<'_>) -> Result<Ttlv, KmipError> {
    let managed = object::load_named(ctx, payload)?;
    let names = requested_names(payload)?;
    let names = if names.is_empty() {
        managed.attrs.names()
    } else {
        names
    };
    let mut picked: Vec<(&Attribute, u32)> = Vec::new();
    for name in &names {
        picked.extend(managed.attrs.get_all(name).zip(0u32..));
    }
    Ok(response(
        &managed.uid,
        encode_all(picked.into_iter(), ctx.version),
    ))
}

/// Runs Get Attribute List: the names of the attributes the object has, each once.
pub(super) fn get_attribute_list(
    payload: &Ttlv,
    ctx: &mut OpContext<'_>,
) -> Result<Ttlv, KmipError> {
    let managed = object::load_named(ctx, payload)?;
    let items = managed
        .attrs
        .names()
        .iter()
        .filter_map(|n| n.to_list_item(ctx.version))
        .collect();
    Ok(response(&managed.uid, items))
}

/// The one attribute a 1.x (`Attribute`) or 2.x (`container`, e.g. New Attribute) request carries, with the
/// index a 1.x request names.
pub(super) fn one_attribute(
    payload: &Ttlv,
    container: u32,
) -> Result<(Attribute, Option<u32>), KmipError> {
    if let Some(item) = payload.child(tag::ATTRIBUTE) {
        return Attribute::from_1x(item);
    }
    let inner = payload
        .child(container)
        .and_then(|c| c.children().first())
        .ok_or_else(|| KmipError::invalid_message("the request carries no attribute"))?;
    Ok((Attribute::from_2x(inner)?, None))
}

fn finish(ctx: &mut OpContext<'_>, managed: &mut Managed) -> Result<(), KmipError> {
    managed.track_sensitivity();
    managed.touch(ctx.now);
    managed.settle(ctx.now);
    object::save(ctx, &[managed])
}

/// A Name may belong to one object only: adding or setting one another object has is Non Unique Name Attribute.
fn ensure_unique_name(
    ctx: &OpContext<'_>,
    managed: &Managed,
    attr: &Attribute,
) -> Result<(), KmipError> {
    if attr.name != AttributeName::Standard(tag::NAME) {
        return Ok(());
    }
    let query = LocateQuery {
        filters: vec![Filter::Equals {
            name: attribute_storage_name(&attr.name),
            key: search_key(attr),
        }],
        // Destroyed objects keep their metadata but give up their names.
        state: Some(
            State::ALL
                .iter()
                .filter(|s| !s.is_destroyed())
                .map(|s| s.code())
                .collect(),
        ),
        max: Some(2),
        ..LocateQuery::default()
    };
    let holders = ctx.store.locate(&query).map_err(|e| e.to_kmip())?;
    if holders.iter().any(|u| *u != managed.uid) {
        return Err(KmipError::new(
            ResultReason::NonUniqueNameAttribute,
            "another object already has this Name",
        ));
    }
    Ok(())
}

/// Runs Add Attribute: a new instance, at the next index.
pub(super) fn add(payload: &Ttlv, ctx: &mut OpContext<'_>) -> Result<Ttlv, KmipError> {
    let mut managed = object::load_named(ctx, payload)?;
    let (attr, _index) = one_attribute(payload, tag::NEW_ATTRIBUTE)?;
    check_client_add(&attr.name, managed.state)?;
    ensure_unique_name(ctx, &managed, &attr)?;
    if attr.name == AttributeName::Standard(tag::NAME) && managed.attrs.contains(&attr) {
        return Err(KmipError::new(
            ResultReason::NonUniqueNameAttribute,
            "the object already has this Name",
        ));
    }
    if managed.attrs.count(&attr.name) > 0 && !attribute_rules::rule(&attr.name).multi_instance() {
        return Err(KmipError::new(
            ResultReason::AttributeSingleValued,
            format!("{} already exists and has a single instance", attr.name),
        ));
    }
    let index = managed.attrs.add(attr.clone());
    finish(ctx, &mut managed)?;
    Ok(response(&managed.uid, echo_1x(&attr, index, ctx.version)))
}

/// The attribute a 1.x Add, Modify or Delete Attribute response carries; 2.x responses carry none.
fn echo_1x(attr: &Attribute, index: u32, version: ProtocolVersion) -> Vec<Ttlv> {
    if version.is_2x() {
        Vec::new()
    } else {
        attr.to_ttlv(version, index).into_iter().collect()
    }
}

/// Runs Modify Attribute: 1.x replaces instance Attribute Index (0 when absent); 2.x replaces the instance equal
/// to Current Attribute, or the first. The response carries the new attribute in 1.x (Synology needs it).
pub(super) fn modify(payload: &Ttlv, ctx: &mut OpContext<'_>) -> Result<Ttlv, KmipError> {
    let mut managed = object::load_named(ctx, payload)?;
    let (attr, index) = one_attribute(payload, tag::NEW_ATTRIBUTE)?;
    check_client_modify(&attr.name, managed.state)?;
    ensure_unique_name(ctx, &managed, &attr)?;
    let index = match payload
        .child(tag::CURRENT_ATTRIBUTE)
        .and_then(|c| c.children().first())
    {
        Some(current) => {
            let current = Attribute::from_2x(current)?;
            if current.name != attr.name {
                return Err(KmipError::invalid_field(format!(
                    "Current Attribute is {} but New Attribute is {}",
                    current.name, attr.name
                )));
            }
            managed.attrs.index_of(&current)
        }
        None => Some(index.unwrap_or(0)),
    };
    let replaced = index.and_then(|i| managed.attrs.replace_at(i, attr.clone()).map(|_| i));
    let Some(index) = replaced else {
        return Err(KmipError::new(
            ResultReason::AttributeNotFound,
            format!("{} has no such instance to modify", attr.name),
        ));
    };
    finish(ctx, &mut managed)?;
    Ok(response(&managed.uid, echo_1x(&attr, index, ctx.version)))
}

/// Runs Set Attribute (2.x): sets a single-instance attribute, adding it when absent.
pub(super) fn set(payload: &Ttlv, ctx: &mut OpContext<'_>) -> Result<Ttlv, KmipError> {
    let mut managed = object::load_named(ctx, payload)?;
    let (attr, _) = one_attribute(payload, tag::NEW_ATTRIBUTE)?;
    if managed.attrs.count(&attr.name) > 0 {
        check_client_modify(&attr.name, managed.state)?;
    } else {
        check_client_add(&attr.name, managed.state)?;
    }
    if attribute_rules::rule(&attr.name).multi_instance() {
        return Err(KmipError::new(
            ResultReason::MultiValuedAttribute,
            format!(
                "{} has several instances: use Add or Modify Attribute",
                attr.name
            ),
        ));
    }
    managed.attrs.set(attr);
    finish(ctx, &mut managed)?;
    Ok(response(&managed.uid, Vec::new()))
}

/// Runs Delete Attribute: 1.x deletes instance Attribute Index (0 when absent) of Attribute Name; 2.x the
/// instance equal to Current Attribute, or every instance of Attribute Reference. The response carries the
/// deleted attribute in 1.x.
pub(super) fn delete(payload: &Ttlv, ctx: &mut OpContext<'_>) -> Result<Ttlv, KmipError> {
    let mut managed = object::load_named(ctx, payload)?;
    let mut removed: Vec<(u32, Attribute)> = Vec::new();
    if let Some(current) = payload
        .child(tag::CURRENT_ATTRIBUTE)
        .and_then(|c| c.children().first())
    {
        let current = Attribute::from_2x(current)?;
        check_client_delete(&current.name)?;
        let index = managed.attrs.index_of(&current).ok_or_else(|| {
            KmipError::new(
                ResultReason::AttributeInstanceNotFound,
                "no instance has that value",
            )
        })?;
        if let Some(gone) = managed.attrs.remove_at(&current.name, index) {
            removed.push((index, gone));
        }
    } else if let Some(reference) = payload.child(tag::ATTRIBUTE_REFERENCE) {
        let name = AttributeName::from_name_or_reference(reference)?;
        check_client_delete(&name)?;
        if managed.attrs.remove_all(&name) == 0 {
            return Err(KmipError::new(
                ResultReason::AttributeNotFound,
                format!("the object has no {name}"),
            ));
        }
    } else {
        let name = payload
            .child(tag::ATTRIBUTE_NAME)
            .ok_or_else(|| KmipError::invalid_message("Delete Attribute names no attribute"))
            .and_then(AttributeName::from_name_or_reference)?;
        check_client_delete(&name)?;
        let index = match payload.child(tag::ATTRIBUTE_INDEX).map(|i| &i.value) {
            None => 0,
            Some(Value::Integer(i)) => u32::try_from(*i)
                .map_err(|_| KmipError::invalid_field("Attribute Index is negative"))?,
            Some(_) => {
                return Err(KmipError::invalid_message(
                    "Attribute Index is not an Integer",
                ));
            }
        };
        let gone = managed.attrs.remove_at(&name, index).ok_or_else(|| {
            KmipError::new(
                ResultReason::AttributeNotFound,
                format!("the object has no instance {index} of {name}"),
            )
        })?;
        removed.push((index, gone));
    }
    finish(ctx, &mut managed)?;
    let echo = removed
        .iter()
        .flat_map(|(i, a)| echo_1x(a, *i, ctx.version))
        .collect();
    Ok(response(&managed.uid, echo))
}

/// Runs Adjust Attribute (2.x): Increment or Decrement a number or date by Adjustment Value, or Negate a number
/// or Boolean.
pub(super) fn adjust(payload: &Ttlv, ctx: &mut OpContext<'_>) -> Result<Ttlv, KmipError> {
    let mut managed = object::load_named(ctx, payload)?;
    let name = payload
        .child(tag::ATTRIBUTE_REFERENCE)
        .ok_or_else(|| KmipError::invalid_message("Adjust Attribute needs an Attribute Reference"))
        .and_then(AttributeName::from_name_or_reference)?;
    check_client_modify(&name, managed.state)?;
    let kind = match payload.child(tag::ADJUSTMENT_TYPE).map(|t| &t.value) {
        Some(Value::Enumeration(k)) => *k,
        _ => {
            return Err(KmipError::invalid_message(
                "Adjust Attribute needs an Adjustment Type",
            ));
        }
    };
    let by = match payload.child(tag::ADJUSTMENT_VALUE).map(|v| &v.value) {
        None => 0,
        Some(Value::Integer(i)) => i64::from(*i),
        Some(Value::LongInteger(l) | Value::DateTime(l)) => *l,
        Some(Value::Interval(i)) => i64::from(*i),
        Some(_) => {
            return Err(KmipError::new(
                ResultReason::InvalidDataType,
                "Adjustment Value is not a number",
            ));
        }
    };
    let Some(slot) = managed.attrs.first_mut(&name) else {
        return Err(KmipError::new(
            ResultReason::AttributeNotFound,
            format!("the object has no {name}"),
        ));
    };
    let range = || {
        KmipError::new(
            ResultReason::NumericRange,
            "the adjusted value is out of range",
        )
    };
    let step = |v: i64| -> Result<i64, KmipError> {
        match kind {
            adjustment_type::INCREMENT => v.checked_add(by).ok_or_else(range),
            adjustment_type::DECREMENT => v.checked_sub(by).ok_or_else(range),
            adjustment_type::NEGATE => v.checked_neg().ok_or_else(range),
            other => Err(KmipError::invalid_field(format!(
                "Adjustment Type {other} is not defined"
            ))),
        }
    };
    slot.value.value = match &slot.value.value {
        Value::Integer(i) => {
            Value::Integer(i32::try_from(step(i64::from(*i))?).map_err(|_| range())?)
        }
        Value::LongInteger(l) => Value::LongInteger(step(*l)?),
        Value::DateTime(d) if kind != adjustment_type::NEGATE => Value::DateTime(step(*d)?),
        Value::Interval(i) if kind != adjustment_type::NEGATE => {
            Value::Interval(u32::try_from(step(i64::from(*i))?).map_err(|_| range())?)
        }
        Value::Boolean(b) if kind == adjustment_type::NEGATE => Value::Boolean(!b),
        _ => {
            return Err(KmipError::new(
                ResultReason::InvalidDataType,
                format!("{name} cannot be adjusted that way"),
            ));
        }
    };
    finish(ctx, &mut managed)?;
    Ok(response(&managed.uid, Vec::new()))
}
