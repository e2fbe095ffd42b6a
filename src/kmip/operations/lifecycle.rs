//! Payloads of the operations that move an object through its life or check its use: Revoke, Check, Obtain
//! Lease and Get Usage Allocation (Activate, Destroy, Archive and Recover take an [`IdRequest`] and answer an
//! [`IdResponse`]).
//!
//! [`IdRequest`]: super::IdRequest
//! [`IdResponse`]: super::IdResponse

use crate::spec::tag;
use crate::ttlv::{Ttlv, Value};

use super::{Fields, ObjectRef, Request, Response, uid_item};
use crate::kmip::error::KmipError;
use crate::kmip::version::ProtocolVersion;

/// Revoke request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokeRequest {
    /// The object named.
    pub unique_identifier: Option<ObjectRef>,
    /// The Revocation Reason structure as sent (kept whole as the object's attribute); required.
    pub revocation_reason: Option<Ttlv>,
    /// Its Revocation Reason Code, when it has one.
    pub revocation_reason_code: Option<u32>,
    /// When the compromise occurred (for a compromise).
    pub compromise_occurrence_date: Option<i64>,
}

impl<'a> Request<'a> for RevokeRequest {
    fn decode(payload: &'a Ttlv, _version: ProtocolVersion) -> Result<Self, KmipError> {
        let fields = Fields::of(payload)?;
        let revocation_reason = fields.get(tag::REVOCATION_REASON).cloned();
        let revocation_reason_code = match revocation_reason
            .as_ref()
            .and_then(|r| r.child(tag::REVOCATION_REASON_CODE))
            .map(|c| &c.value)
        {
            Some(Value::Enumeration(c)) => Some(*c),
            _ => None,
        };
        Ok(RevokeRequest {
            unique_identifier: fields.object_ref()?,
            revocation_reason,
            revocation_reason_code,
            compromise_occurrence_date: fields.date_time(tag::COMPROMISE_OCCURRENCE_DATE)?,
        })
    }
}

/// Check request: the uses the client would make of the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckRequest {
    /// The object named.
    pub unique_identifier: Option<ObjectRef>,
    /// The usage wanted.
    pub cryptographic_usage_mask: Option<i32>,
    /// The units of use wanted.
    pub usage_limits_count: Option<i64>,
}

impl<'a> Request<'a> for CheckRequest {
    fn decode(payload: &'a Ttlv, _version: ProtocolVersion) -> Result<Self, KmipError> {
        let fields = Fields::of(payload)?;
        // A field of another type asks for nothing (as before: only a well-typed ask is checked).
        Ok(CheckRequest {
            unique_identifier: fields.object_ref()?,
            cryptographic_usage_mask: fields.integer(tag::CRYPTOGRAPHIC_USAGE_MASK).ok().flatten(),
            usage_limits_count: fields.long(tag::USAGE_LIMITS_COUNT).ok().flatten(),
        })
    }
}

/// Obtain Lease response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObtainLeaseResponse {
    /// The object's Unique Identifier.
    pub unique_identifier: String,
    /// The lease, in seconds.
    pub lease_time: u32,
    /// The object's Last Change Date.
    pub last_change_date: i64,
}

impl Response for ObtainLeaseResponse {
    fn encode(&self, _version: ProtocolVersion) -> Ttlv {
        Ttlv::structure(
            tag::RESPONSE_PAYLOAD,
            vec![
                uid_item(&self.unique_identifier),
                Ttlv::new(tag::LEASE_TIME, Value::Interval(self.lease_time)),
                Ttlv::new(
                    tag::LAST_CHANGE_DATE,
                    Value::DateTime(self.last_change_date),
                ),
            ],
        )
    }
}

/// Get Usage Allocation request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetUsageAllocationRequest {
    /// The object named.
    pub unique_identifier: Option<ObjectRef>,
    /// The units asked for: required, positive.
    pub usage_limits_count: UsageCount,
}

/// The Usage Limits Count of a Get Usage Allocation request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsageCount {
    /// Absent.
    Missing,
    /// Present but not a positive Long Integer.
    Invalid,
    /// The units asked for.
    Units(i64),
}

impl<'a> Request<'a> for GetUsageAllocationRequest {
    fn decode(payload: &'a Ttlv, _version: ProtocolVersion) -> Result<Self, KmipError> {
        let fields = Fields::of(payload)?;
        let usage_limits_count = match fields.get(tag::USAGE_LIMITS_COUNT).map(|c| &c.value) {
            None => UsageCount::Missing,
            Some(Value::LongInteger(c)) if *c > 0 => UsageCount::Units(*c),
            Some(_) => UsageCount::Invalid,
        };
        Ok(GetUsageAllocationRequest {
            unique_identifier: fields.object_ref()?,
            usage_limits_count,
        })
    }
}
