//! The attribute operations: Get Attributes, Get Attribute List, Add, Modify and Delete Attribute (1.x and 2.x
//! forms), Set and Adjust Attribute (2.x). Each change is checked against the attribute rules, stamps Last
//! Change Date, and is saved in one commit.

use crate::kmip::state::State;
use crate::kmip::{KmipError, ProtocolVersion, ResultReason};
use crate::spec::enums::adjustment_type;
use crate::spec::tag;
use crate::store::{Filter, LocateQuery};
use crate::ttlv::{Ttlv, Value};

use super::OpContext;
use super::attr_io::{self, Attr, AttrName};
use super::object::{self, Managed};
use super::rules;

fn response(uid: &str, rest: Vec<Ttlv>) -> Ttlv {
    let mut fields = vec![object::uid_item(uid)];
    fields.extend(rest);
    Ttlv::structure(tag::RESPONSE_PAYLOAD, fields)
}

/// The attribute instances of `managed` a response of `version` carries: 1.x a list of Attribute structures,
/// 2.x one Attributes structure.
fn encode_all<'a>(
    instances: impl Iterator<Item = (u32, &'a Attr)>,
    version: ProtocolVersion,
) -> Vec<Ttlv> {
    let items: Vec<Ttlv> = instances
        .filter_map(|(i, a)| attr_io::encode(a, i, version))
        .collect();
    if version.is_2x() {
        vec![Ttlv::structure(tag::ATTRIBUTES, items)]
    } else {
        items
    }
}

/// The names a request asks for: 1.x Attribute Name items, 2.x Attribute Reference items. A 1.x name the server
/// does not know names nothing the object can have, so it is skipped like any absent attribute.
fn requested_names(payload: &Ttlv) -> Result<Vec<AttrName>, KmipError> {
    let mut names = Vec::new();
    for item in payload.children() {
        if item.tag != tag::ATTRIBUTE_NAME && item.tag != tag::ATTRIBUTE_REFERENCE {
            continue;
        }
        match attr_io::decode_reference(item) {
            Ok(name) => names.push(name),
            Err(e) if e.reason == ResultReason::InvalidAttribute => {}
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
    let mut picked: Vec<(u32, &Attr)> = Vec::new();
    if names.is_empty() {
        let mut seen: Vec<&AttrName> = Vec::new();
        for attr in &managed.attrs {
            if !seen.contains(&&attr.name) {
                seen.push(&attr.name);
                picked.extend(managed.instances(&attr.name));
            }
        }
    } else {
        for name in &names {
            picked.extend(managed.instances(name));
        }
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
    let mut names: Vec<&AttrName> = Vec::new();
    for attr in &managed.attrs {
        if !names.contains(&&attr.name) && attr.name.known_in(ctx.version) {
            names.push(&attr.name);
        }
    }
    let items = names
        .into_iter()
        .map(|n| attr_io::encode_name(n, ctx.version))
        .collect();
    Ok(response(&managed.uid, items))
}

/// The one attribute a 1.x (`Attribute`) or 2.x (`container`, e.g. New Attribute) request carries, with the
/// index a 1.x request names.
fn one_attribute(payload: &Ttlv, container: u32) -> Result<(Attr, Option<u32>), KmipError> {
    if let Some(item) = payload.child(tag::ATTRIBUTE) {
        return attr_io::decode_attribute_structure(item);
    }
    let inner = payload
        .child(container)
        .and_then(|c| c.children().first())
        .ok_or_else(|| KmipError::invalid_message("the request carries no attribute"))?;
    Ok((attr_io::decode_2x(inner)?, None))
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
    attr: &Attr,
) -> Result<(), KmipError> {
    if attr.name != AttrName::Standard(tag::NAME) {
        return Ok(());
    }
    let query = LocateQuery {
        filters: vec![Filter::Equals {
            name: attr.name.storage_key(),
            key: attr_io::search_key(attr),
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
    rules::check_client_modify(&attr.name, managed.state)?;
    ensure_unique_name(ctx, &managed, &attr)?;
    if attr.name == AttrName::Standard(tag::NAME) && managed.attrs.contains(&attr) {
        return Err(KmipError::new(
            ResultReason::NonUniqueNameAttribute,
            "the object already has this Name",
        ));
    }
    let count = managed.instances(&attr.name).count();
    if count > 0 && !rules::multi_instance(&attr.name) {
        return Err(KmipError::new(
            ResultReason::AttributeSingleValued,
            format!(
                "{} already exists and has a single instance",
                attr.name.to_1x()
            ),
        ));
    }
    let index = u32::try_from(count).unwrap_or(u32::MAX);
    managed.attrs.push(attr.clone());
    finish(ctx, &mut managed)?;
    let echo = if ctx.version.is_2x() {
        Vec::new()
    } else {
        attr_io::encode(&attr, index, ctx.version)
            .into_iter()
            .collect()
    };
    Ok(response(&managed.uid, echo))
}

/// Runs Modify Attribute: 1.x replaces instance Attribute Index (0 when absent); 2.x replaces the instance equal
/// to Current Attribute, or the first. The response carries the new attribute in 1.x (Synology needs it).
pub(super) fn modify(payload: &Ttlv, ctx: &mut OpContext<'_>) -> Result<Ttlv, KmipError> {
    let mut managed = object::load_named(ctx, payload)?;
    let (attr, index) = one_attribute(payload, tag::NEW_ATTRIBUTE)?;
    rules::check_client_modify(&attr.name, managed.state)?;
    ensure_unique_name(ctx, &managed, &attr)?;
    let position = match payload
        .child(tag::CURRENT_ATTRIBUTE)
        .and_then(|c| c.children().first())
    {
        Some(current) => {
            let current = attr_io::decode_2x(current)?;
            managed.attrs.iter().position(|a| *a == current)
        }
        None => managed.position(&attr.name, index.unwrap_or(0)),
    };
    let Some(position) = position else {
        return Err(KmipError::new(
            ResultReason::AttributeNotFound,
            format!("{} has no such instance to modify", attr.name.to_1x()),
        ));
    };
    let before = managed
        .attrs
        .iter()
        .take(position)
        .filter(|a| a.name == attr.name)
        .count();
    let index = u32::try_from(before).unwrap_or(u32::MAX);
    if let Some(slot) = managed.attrs.get_mut(position) {
        *slot = attr.clone();
    }
    finish(ctx, &mut managed)?;
    let echo = if ctx.version.is_2x() {
        Vec::new()
    } else {
        attr_io::encode(&attr, index, ctx.version)
            .into_iter()
            .collect()
    };
    Ok(response(&managed.uid, echo))
}

/// Runs Set Attribute (2.x): sets a single-instance attribute, adding it when absent.
pub(super) fn set(payload: &Ttlv, ctx: &mut OpContext<'_>) -> Result<Ttlv, KmipError> {
    let mut managed = object::load_named(ctx, payload)?;
    let (attr, _) = one_attribute(payload, tag::NEW_ATTRIBUTE)?;
    rules::check_client_modify(&attr.name, managed.state)?;
    if rules::multi_instance(&attr.name) {
        return Err(KmipError::new(
            ResultReason::MultiValuedAttribute,
            format!(
                "{} has several instances: use Add or Modify Attribute",
                attr.name.to_1x()
            ),
        ));
    }
    match managed.position(&attr.name, 0) {
        Some(p) => {
            if let Some(slot) = managed.attrs.get_mut(p) {
                *slot = attr;
            }
        }
        None => managed.attrs.push(attr),
    }
    finish(ctx, &mut managed)?;
    Ok(response(&managed.uid, Vec::new()))
}

/// Runs Delete Attribute: 1.x deletes instance Attribute Index (0 when absent) of Attribute Name; 2.x the
/// instance equal to Current Attribute, or every instance of Attribute Reference. The response carries the
/// deleted attribute in 1.x.
pub(super) fn delete(payload: &Ttlv, ctx: &mut OpContext<'_>) -> Result<Ttlv, KmipError> {
    let mut managed = object::load_named(ctx, payload)?;
    let mut removed: Vec<(u32, Attr)> = Vec::new();
    if let Some(current) = payload
        .child(tag::CURRENT_ATTRIBUTE)
        .and_then(|c| c.children().first())
    {
        let current = attr_io::decode_2x(current)?;
        rules::check_client_delete(&current.name)?;
        let position = managed
            .attrs
            .iter()
            .position(|a| *a == current)
            .ok_or_else(|| {
                KmipError::new(
                    ResultReason::AttributeInstanceNotFound,
                    "no instance has that value",
                )
            })?;
        removed.push((0, managed.attrs.remove(position)));
    } else if let Some(reference) = payload.child(tag::ATTRIBUTE_REFERENCE) {
        let name = attr_io::decode_reference(reference)?;
        rules::check_client_delete(&name)?;
        if managed.instances(&name).next().is_none() {
            return Err(KmipError::new(
                ResultReason::AttributeNotFound,
                format!("the object has no {}", name.to_1x()),
            ));
        }
        managed.attrs.retain(|a| a.name != name);
    } else {
        let name = payload
            .child(tag::ATTRIBUTE_NAME)
            .ok_or_else(|| KmipError::invalid_message("Delete Attribute names no attribute"))
            .and_then(attr_io::decode_reference)?;
        rules::check_client_delete(&name)?;
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
        let position = managed.position(&name, index).ok_or_else(|| {
            KmipError::new(
                ResultReason::AttributeNotFound,
                format!("the object has no instance {index} of {}", name.to_1x()),
            )
        })?;
        removed.push((index, managed.attrs.remove(position)));
    }
    finish(ctx, &mut managed)?;
    let echo = if ctx.version.is_2x() {
        Vec::new()
    } else {
        removed
            .iter()
            .filter_map(|(i, a)| attr_io::encode(a, *i, ctx.version))
            .collect()
    };
    Ok(response(&managed.uid, echo))
}

/// Runs Adjust Attribute (2.x): Increment or Decrement a number or date by Adjustment Value, or Negate a number
/// or Boolean.
pub(super) fn adjust(payload: &Ttlv, ctx: &mut OpContext<'_>) -> Result<Ttlv, KmipError> {
    let mut managed = object::load_named(ctx, payload)?;
    let name = payload
        .child(tag::ATTRIBUTE_REFERENCE)
        .ok_or_else(|| KmipError::invalid_message("Adjust Attribute needs an Attribute Reference"))
        .and_then(attr_io::decode_reference)?;
    rules::check_client_modify(&name, managed.state)?;
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
    let position = managed.position(&name, 0).ok_or_else(|| {
        KmipError::new(
            ResultReason::AttributeNotFound,
            format!("the object has no {}", name.to_1x()),
        )
    })?;
    let Some(slot) = managed.attrs.get_mut(position) else {
        return Err(KmipError::general_failure("attribute vanished"));
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
                format!("{} cannot be adjusted that way", name.to_1x()),
            ));
        }
    };
    finish(ctx, &mut managed)?;
    Ok(response(&managed.uid, Vec::new()))
}
