//! Payloads of Locate: the attribute filters in either version's form, paging (Maximum Items, Offset Items),
//! Storage Status Mask and Object Group Member, with the clients' quirks for them (`kmip::quirks`); and the
//! answer, whose Located Items depends on the version.

use crate::spec::enums::{object_group_member, storage_status_mask as ssm};
use crate::spec::tag;
use crate::ttlv::{Ttlv, Value};

use super::{Fields, Request, Response, uid_item};
use crate::kmip::attributes::{Attribute, Attributes};
use crate::kmip::error::KmipError;
use crate::kmip::quirks;
use crate::kmip::version::ProtocolVersion;

/// Locate request.
#[derive(Clone, Debug)]
pub struct LocateRequest {
    /// The attributes every object found must have: 1.x Attribute structures (also wrapped in a
    /// Template-Attribute, as FortiGate sends them), 2.x the Attributes structure.
    pub attributes: Attributes,
    /// Maximum Items.
    pub maximum_items: Option<usize>,
    /// Offset Items (read whatever the version: `quirks::OFFSET_ITEMS_IN_EVERY_VERSION`).
    pub offset_items: Option<usize>,
    /// Storage Status Mask (default On-line Storage), as `quirks::storage_status_mask` reads it.
    pub storage_status_mask: u32,
    /// Object Group Member is Group Member Fresh: only objects never returned by Get.
    pub fresh_only: bool,
}

impl<'a> Request<'a> for LocateRequest {
    fn decode(payload: &'a Ttlv, _version: ProtocolVersion) -> Result<Self, KmipError> {
        let fields = Fields::of(payload)?;
        let mut attributes = Attributes::from_request(payload)?;
        for item in fields.all(tag::ATTRIBUTE) {
            attributes.add(Attribute::from_1x(item)?.0);
        }
        let count = |t: u32| -> Result<Option<usize>, KmipError> {
            match fields.get(t).map(|m| &m.value) {
                None => Ok(None),
                Some(Value::Integer(n)) => usize::try_from(*n).map(Some).map_err(|_| {
                    KmipError::invalid_field("Maximum and Offset Items cannot be negative")
                }),
                Some(_) => Err(KmipError::invalid_message(
                    "Maximum or Offset Items is not an Integer",
                )),
            }
        };
        let maximum_items = count(tag::MAXIMUM_ITEMS)?;
        let offset_items = if quirks::OFFSET_ITEMS_IN_EVERY_VERSION {
            count(tag::OFFSET_ITEMS)?
        } else {
            None
        };
        let storage_status_mask = match fields.get(tag::STORAGE_STATUS_MASK) {
            Some(item) => quirks::storage_status_mask(item)?,
            None => ssm::ON_LINE_STORAGE,
        };
        let fresh_only = matches!(
            fields.get(tag::OBJECT_GROUP_MEMBER).map(|m| &m.value),
            Some(Value::Enumeration(object_group_member::GROUP_MEMBER_FRESH))
        );
        Ok(LocateRequest {
            attributes,
            maximum_items,
            offset_items,
            storage_status_mask,
            fresh_only,
        })
    }
}

impl LocateRequest {
    /// Whether the client asked for a page (Maximum Items or Offset Items).
    pub fn paged(&self) -> bool {
        self.maximum_items.is_some() || self.offset_items.is_some()
    }
}

/// Locate response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocateResponse {
    /// How many objects matched before paging, sent when the client asked for a page (the vectors' servers
    /// send it in no other case) and the version defines it (1.3 and later).
    pub located_items: Option<usize>,
    /// The page of identifiers found, most recently created first.
    pub unique_identifiers: Vec<String>,
}

impl Response for LocateResponse {
    fn encode(&self, version: ProtocolVersion) -> Ttlv {
        let mut fields = Vec::with_capacity(self.unique_identifiers.len() + 1);
        if let Some(located) = self.located_items
            && version >= ProtocolVersion::V1_3
        {
            fields.push(Ttlv::new(
                tag::LOCATED_ITEMS,
                Value::Integer(i32::try_from(located).unwrap_or(i32::MAX)),
            ));
        }
        fields.extend(self.unique_identifiers.iter().map(|u| uid_item(u)));
        Ttlv::structure(tag::RESPONSE_PAYLOAD, fields)
    }
}
