//! Payloads of the attribute operations: Get Attributes, Get Attribute List, Add, Modify, Set, Delete and
//! Adjust Attribute. The two shapes are decided here: 1.x names attributes by Attribute Name and carries
//! Attribute structures (with an index), 2.x uses Attribute Reference, New Attribute and Current Attribute
//! and answers one Attributes structure.

use crate::spec::tag;
use crate::ttlv::{Ttlv, Value};

use super::{Fields, ObjectRef, Request, Response, uid_item};
use crate::kmip::attributes::{Attribute, AttributeName};
use crate::kmip::error::{KmipError, ResultReason};
use crate::kmip::version::ProtocolVersion;

/// Get Attributes request.
#[derive(Clone, Debug, PartialEq)]
pub struct GetAttributesRequest {
    /// The object named.
    pub unique_identifier: Option<ObjectRef>,
    /// The attributes asked for (1.x Attribute Name, 2.x Attribute Reference); empty: all. A name the server
    /// does not know names nothing an object can have, so it is left out like any absent attribute.
    pub attribute_names: Vec<AttributeName>,
}

impl<'a> Request<'a> for GetAttributesRequest {
    fn decode(payload: &'a Ttlv, _version: ProtocolVersion) -> Result<Self, KmipError> {
        let fields = Fields::of(payload)?;
        let mut attribute_names = Vec::new();
        for item in payload.children() {
            if item.tag != tag::ATTRIBUTE_NAME && item.tag != tag::ATTRIBUTE_REFERENCE {
                continue;
            }
            match AttributeName::from_name_or_reference(item) {
                Ok(name) => attribute_names.push(name),
                Err(e) if e.reason == ResultReason::UnsupportedAttribute => {}
                Err(e) => return Err(e),
            }
        }
        Ok(GetAttributesRequest {
            unique_identifier: fields.object_ref()?,
            attribute_names,
        })
    }
}

/// Get Attributes response: the instances found, with their indexes.
#[derive(Clone, Debug, PartialEq)]
pub struct GetAttributesResponse {
    /// The object's Unique Identifier.
    pub unique_identifier: String,
    /// The attribute instances, each with its index among instances of its name.
    pub attributes: Vec<(Attribute, u32)>,
}

impl Response for GetAttributesResponse {
    /// 1.x: a list of Attribute structures; 2.x: one Attributes structure.
    fn encode(&self, version: ProtocolVersion) -> Ttlv {
        let items: Vec<Ttlv> = self
            .attributes
            .iter()
            .filter_map(|(a, i)| a.to_ttlv(version, *i))
            .collect();
        let mut out = vec![uid_item(&self.unique_identifier)];
        if version.is_2x() {
            out.push(Ttlv::structure(tag::ATTRIBUTES, items));
        } else {
            out.extend(items);
        }
        Ttlv::structure(tag::RESPONSE_PAYLOAD, out)
    }
}

/// Get Attribute List response.
#[derive(Clone, Debug, PartialEq)]
pub struct GetAttributeListResponse {
    /// The object's Unique Identifier.
    pub unique_identifier: String,
    /// The names of its attributes, each once.
    pub names: Vec<AttributeName>,
}

impl Response for GetAttributeListResponse {
    /// 1.x: Attribute Name items; 2.x: Attribute Reference items.
    fn encode(&self, version: ProtocolVersion) -> Ttlv {
        let mut out = vec![uid_item(&self.unique_identifier)];
        out.extend(self.names.iter().filter_map(|n| n.to_list_item(version)));
        Ttlv::structure(tag::RESPONSE_PAYLOAD, out)
    }
}

/// Add, Modify or Set Attribute request.
#[derive(Clone, Debug, PartialEq)]
pub struct AttributeChangeRequest {
    /// The object named.
    pub unique_identifier: Option<ObjectRef>,
    /// The attribute to write (1.x Attribute, 2.x New Attribute).
    pub new_attribute: Attribute,
    /// The instance a 1.x request names (Attribute Index).
    pub attribute_index: Option<u32>,
    /// The instance a 2.x Modify Attribute replaces (Current Attribute).
    pub current_attribute: Option<Attribute>,
}

impl<'a> Request<'a> for AttributeChangeRequest {
    fn decode(payload: &'a Ttlv, _version: ProtocolVersion) -> Result<Self, KmipError> {
        let fields = Fields::of(payload)?;
        let (new_attribute, attribute_index) = one_attribute(&fields, tag::NEW_ATTRIBUTE)?;
        Ok(AttributeChangeRequest {
            unique_identifier: fields.object_ref()?,
            new_attribute,
            attribute_index,
            current_attribute: current_attribute(&fields)?,
        })
    }
}

/// The one attribute a 1.x (`Attribute`) or 2.x (`container`, e.g. New Attribute) request carries, with the
/// index a 1.x request names.
fn one_attribute(
    fields: &Fields<'_>,
    container: u32,
) -> Result<(Attribute, Option<u32>), KmipError> {
    if let Some(item) = fields.get(tag::ATTRIBUTE) {
        return Attribute::from_1x(item);
    }
    let inner = fields
        .get(container)
        .and_then(|c| c.children().first())
        .ok_or_else(|| KmipError::invalid_message("the request carries no attribute"))?;
    Ok((Attribute::from_2x(inner)?, None))
}

fn current_attribute(fields: &Fields<'_>) -> Result<Option<Attribute>, KmipError> {
    fields
        .get(tag::CURRENT_ATTRIBUTE)
        .and_then(|c| c.children().first())
        .map(Attribute::from_2x)
        .transpose()
}

/// Which instances a Delete Attribute request removes.
#[derive(Clone, Debug, PartialEq)]
pub enum DeleteTarget {
    /// 2.x: the instance equal to Current Attribute.
    Current(Attribute),
    /// 2.x: every instance of Attribute Reference.
    All(AttributeName),
    /// 1.x: instance Attribute Index (0 when absent) of Attribute Name.
    Instance(AttributeName, u32),
}

/// Delete Attribute request.
#[derive(Clone, Debug, PartialEq)]
pub struct DeleteAttributeRequest {
    /// The object named.
    pub unique_identifier: Option<ObjectRef>,
    /// What to delete.
    pub target: DeleteTarget,
}

impl<'a> Request<'a> for DeleteAttributeRequest {
    fn decode(payload: &'a Ttlv, _version: ProtocolVersion) -> Result<Self, KmipError> {
        let fields = Fields::of(payload)?;
        let target = if let Some(current) = current_attribute(&fields)? {
            DeleteTarget::Current(current)
        } else if let Some(reference) = fields.get(tag::ATTRIBUTE_REFERENCE) {
            DeleteTarget::All(AttributeName::from_name_or_reference(reference)?)
        } else {
            let name = fields
                .get(tag::ATTRIBUTE_NAME)
                .ok_or_else(|| KmipError::invalid_message("Delete Attribute names no attribute"))
                .and_then(AttributeName::from_name_or_reference)?;
            let index = match fields.integer(tag::ATTRIBUTE_INDEX)? {
                None => 0,
                Some(i) => u32::try_from(i)
                    .map_err(|_| KmipError::invalid_field("Attribute Index is negative"))?,
            };
            DeleteTarget::Instance(name, index)
        };
        Ok(DeleteAttributeRequest {
            unique_identifier: fields.object_ref()?,
            target,
        })
    }
}

/// Adjust Attribute request (2.x).
#[derive(Clone, Debug, PartialEq)]
pub struct AdjustAttributeRequest {
    /// The object named.
    pub unique_identifier: Option<ObjectRef>,
    /// The attribute adjusted.
    pub attribute: AttributeName,
    /// Adjustment Type (Increment, Decrement, Negate).
    pub adjustment_type: u32,
    /// Adjustment Value (0 when absent), whatever its numeric type.
    pub adjustment_value: i64,
}

impl<'a> Request<'a> for AdjustAttributeRequest {
    fn decode(payload: &'a Ttlv, _version: ProtocolVersion) -> Result<Self, KmipError> {
        let fields = Fields::of(payload)?;
        let attribute = fields
            .get(tag::ATTRIBUTE_REFERENCE)
            .ok_or_else(|| {
                KmipError::invalid_message("Adjust Attribute needs an Attribute Reference")
            })
            .and_then(AttributeName::from_name_or_reference)?;
        let adjustment_type = fields
            .enumeration(tag::ADJUSTMENT_TYPE)
            .ok()
            .flatten()
            .ok_or_else(|| {
                KmipError::invalid_message("Adjust Attribute needs an Adjustment Type")
            })?;
        let adjustment_value = match fields.get(tag::ADJUSTMENT_VALUE).map(|v| &v.value) {
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
        Ok(AdjustAttributeRequest {
            unique_identifier: fields.object_ref()?,
            attribute,
            adjustment_type,
            adjustment_value,
        })
    }
}

/// The response of Add, Modify, Set, Delete and Adjust Attribute: the object's identifier and, in 1.x, the
/// attribute written or deleted (Synology needs it); 2.x responses carry none.
#[derive(Clone, Debug, PartialEq)]
pub struct AttributeChangeResponse {
    /// The object's Unique Identifier.
    pub unique_identifier: String,
    /// The instances echoed to a 1.x client, with their indexes.
    pub echoed: Vec<(Attribute, u32)>,
}

impl Response for AttributeChangeResponse {
    fn encode(&self, version: ProtocolVersion) -> Ttlv {
        let mut out = vec![uid_item(&self.unique_identifier)];
        if !version.is_2x() {
            out.extend(
                self.echoed
                    .iter()
                    .filter_map(|(a, i)| a.to_ttlv(version, *i)),
            );
        }
        Ttlv::structure(tag::RESPONSE_PAYLOAD, out)
    }
}

/// The attribute an Add, Modify or Set Attribute request writes, for the gate (a Link target must be visible,
/// an Object Group needs the right to create in it); None when the request carries none readable.
pub fn changed_attribute(payload: &Ttlv) -> Option<Attribute> {
    let fields = Fields::of(payload).ok()?;
    one_attribute(&fields, tag::NEW_ATTRIBUTE)
        .ok()
        .map(|(a, _)| a)
}
