//! The attribute operations: Get Attributes, Get Attribute List, Add, Modify and Delete Attribute (1.x and 2.x
//! forms), Set and Adjust Attribute (2.x). Each change is checked against the attribute rules, stamps Last
//! Change Date, and is saved in one commit.

use crate::kmip::attribute_rules::{
    self, check_client_add, check_client_delete, check_client_modify,
};
use crate::kmip::attributes::{Attribute, attribute_storage_name, search_key};
use crate::kmip::operations::IdRequest;
use crate::kmip::operations::attributes::{
    AdjustAttributeRequest, AttributeChangeRequest, AttributeChangeResponse,
    DeleteAttributeRequest, DeleteTarget, GetAttributeListResponse, GetAttributesRequest,
    GetAttributesResponse,
};
use crate::kmip::state::State;
use crate::kmip::{KmipError, ResultReason};
use crate::spec::enums::adjustment_type;
use crate::store::{Filter, LocateQuery};
use crate::ttlv::Value;

use super::OpContext;
use super::object::{self, Managed};

/// Runs Get Attributes: every attribute when no name is given; a name the object lacks (or the version does not
/// know) contributes nothing and is no error.
pub(super) fn get_attributes(
    req: GetAttributesRequest,
    ctx: &mut OpContext<'_>,
) -> Result<GetAttributesResponse, KmipError> {
    let managed = object::load_ref(ctx, req.unique_identifier.as_ref())?;
    let names = if req.attribute_names.is_empty() {
        managed.attrs.names()
    } else {
        req.attribute_names
    };
    let mut attributes: Vec<(Attribute, u32)> = Vec::new();
    for name in &names {
        let mut shown = Vec::new();
        for attribute in managed.attrs.get_all(name) {
            if !hides_link(ctx, attribute)? {
                shown.push(attribute.clone());
            }
        }
        attributes.extend(shown.into_iter().zip(0u32..));
    }
    Ok(GetAttributesResponse {
        unique_identifier: managed.uid,
        attributes,
    })
}

/// True for a Link to an object the caller may not see: it is left out of what the caller reads, as if the
/// object did not exist (its identifier would tell the caller that it does). The Links left are numbered
/// without gaps, so no index betrays a hidden one.
fn hides_link(ctx: &mut OpContext<'_>, attribute: &Attribute) -> Result<bool, KmipError> {
    match attribute.linked_object() {
        Some(target) => Ok(!super::gate::sees(ctx, target)?),
        None => Ok(false),
    }
}

/// Runs Get Attribute List: the names of the attributes the object has, each once.
pub(super) fn get_attribute_list(
    req: IdRequest,
    ctx: &mut OpContext<'_>,
) -> Result<GetAttributeListResponse, KmipError> {
    let managed = object::load_ref(ctx, req.unique_identifier.as_ref())?;
    let mut names = Vec::new();
    for name in managed.attrs.names() {
        // A name whose every instance is a hidden Link is not listed.
        let mut shown = false;
        for attribute in managed.attrs.get_all(&name) {
            if !hides_link(ctx, attribute)? {
                shown = true;
                break;
            }
        }
        if shown {
            names.push(name);
        }
    }
    Ok(GetAttributeListResponse {
        names,
        unique_identifier: managed.uid,
    })
}

fn echo(managed: &Managed, echoed: Vec<(Attribute, u32)>) -> AttributeChangeResponse {
    AttributeChangeResponse {
        unique_identifier: managed.uid.clone(),
        echoed,
    }
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
    if !attr.name.is_name() {
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
pub(super) fn add(
    req: AttributeChangeRequest,
    ctx: &mut OpContext<'_>,
) -> Result<AttributeChangeResponse, KmipError> {
    let mut managed = object::load_ref(ctx, req.unique_identifier.as_ref())?;
    let attr = req.new_attribute;
    check_client_add(&attr.name, managed.state)?;
    ensure_unique_name(ctx, &managed, &attr)?;
    if attr.name.is_name() && managed.attrs.contains(&attr) {
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
    Ok(echo(&managed, vec![(attr, index)]))
}

/// Runs Modify Attribute: 1.x replaces instance Attribute Index (0 when absent); 2.x replaces the instance equal
/// to Current Attribute, or the first. The response carries the new attribute in 1.x (Synology needs it).
pub(super) fn modify(
    req: AttributeChangeRequest,
    ctx: &mut OpContext<'_>,
) -> Result<AttributeChangeResponse, KmipError> {
    let mut managed = object::load_ref(ctx, req.unique_identifier.as_ref())?;
    let (attr, index) = (req.new_attribute, req.attribute_index);
    check_client_modify(&attr.name, managed.state)?;
    ensure_unique_name(ctx, &managed, &attr)?;
    let index = match req.current_attribute {
        Some(current) => {
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
    Ok(echo(&managed, vec![(attr, index)]))
}

/// Runs Set Attribute (2.x): sets a single-instance attribute, adding it when absent.
pub(super) fn set(
    req: AttributeChangeRequest,
    ctx: &mut OpContext<'_>,
) -> Result<AttributeChangeResponse, KmipError> {
    let mut managed = object::load_ref(ctx, req.unique_identifier.as_ref())?;
    let attr = req.new_attribute;
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
    Ok(echo(&managed, Vec::new()))
}

/// Runs Delete Attribute: 1.x deletes instance Attribute Index (0 when absent) of Attribute Name; 2.x the
/// instance equal to Current Attribute, or every instance of Attribute Reference. The response carries the
/// deleted attribute in 1.x.
pub(super) fn delete(
    req: DeleteAttributeRequest,
    ctx: &mut OpContext<'_>,
) -> Result<AttributeChangeResponse, KmipError> {
    let mut managed = object::load_ref(ctx, req.unique_identifier.as_ref())?;
    let mut removed: Vec<(Attribute, u32)> = Vec::new();
    match req.target {
        DeleteTarget::Current(current) => {
            check_client_delete(&current.name)?;
            let index = managed.attrs.index_of(&current).ok_or_else(|| {
                KmipError::new(
                    ResultReason::AttributeInstanceNotFound,
                    "no instance has that value",
                )
            })?;
            if let Some(gone) = managed.attrs.remove_at(&current.name, index) {
                removed.push((gone, index));
            }
        }
        DeleteTarget::All(name) => {
            check_client_delete(&name)?;
            if managed.attrs.remove_all(&name) == 0 {
                return Err(KmipError::new(
                    ResultReason::AttributeNotFound,
                    format!("the object has no {name}"),
                ));
            }
        }
        DeleteTarget::Instance(name, index) => {
            check_client_delete(&name)?;
            let gone = managed.attrs.remove_at(&name, index).ok_or_else(|| {
                KmipError::new(
                    ResultReason::AttributeNotFound,
                    format!("the object has no instance {index} of {name}"),
                )
            })?;
            removed.push((gone, index));
        }
    }
    finish(ctx, &mut managed)?;
    Ok(echo(&managed, removed))
}

/// Runs Adjust Attribute (2.x): Increment or Decrement a number or date by Adjustment Value, or Negate a number
/// or Boolean.
pub(super) fn adjust(
    req: AdjustAttributeRequest,
    ctx: &mut OpContext<'_>,
) -> Result<AttributeChangeResponse, KmipError> {
    let mut managed = object::load_ref(ctx, req.unique_identifier.as_ref())?;
    let name = req.attribute;
    check_client_modify(&name, managed.state)?;
    let (kind, by) = (req.adjustment_type, req.adjustment_value);
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
    Ok(echo(&managed, Vec::new()))
}
