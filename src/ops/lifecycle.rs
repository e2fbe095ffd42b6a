//! The operations that move an object through its life: Activate, Revoke and Destroy (through the state
//! table of `kmip::state`), Archive and Recover (storage status), and the usage checks Check, Obtain Lease and
//! Get Usage Allocation. Their requests and responses are typed (`kmip::operations`).

use crate::kmip::operations::lifecycle::{
    CheckRequest, GetUsageAllocationRequest, ObtainLeaseResponse, RevokeRequest, UsageCount,
};
use crate::kmip::operations::{IdRequest, IdResponse};
use crate::kmip::state::Event;
use crate::kmip::{KmipError, ResultReason};
use crate::spec::enums::revocation_reason_code as rrc;
use crate::spec::enums::unique_identifier as ue;
use crate::spec::tag;
use crate::ttlv::{Ttlv, Value};

use super::OpContext;
use super::object::{self, Managed};

/// The lease length, in seconds, when the configuration names none (`[lifecycle] lease_time`): the Lease
/// Time set on new objects and the longest lease Obtain Lease grants.
pub const DEFAULT_LEASE_SECONDS: u32 = 3600;

fn uid_only(managed: &Managed) -> IdResponse {
    IdResponse {
        unique_identifier: managed.uid.clone(),
    }
}

fn commit(ctx: &OpContext<'_>, managed: &mut Managed) -> Result<(), KmipError> {
    managed.touch(ctx.now);
    object::save(ctx, &[managed])
}

/// Runs Activate: Pre-Active to Active, Activation Date now.
pub(super) fn activate(req: IdRequest, ctx: &mut OpContext<'_>) -> Result<IdResponse, KmipError> {
    let mut managed = object::load_ref(ctx, req.unique_identifier.as_ref())?;
    managed.apply(Event::Activate)?;
    managed.set(tag::ACTIVATION_DATE, Value::DateTime(ctx.now));
    commit(ctx, &mut managed)?;
    Ok(uid_only(&managed))
}

/// Runs Revoke: a compromise (Key or CA Compromise) makes the object Compromised with Compromise Date now and
/// Compromise Occurrence Date as given (else the Initial Date); any other reason deactivates it with
/// Deactivation Date now. The Revocation Reason is kept as an attribute.
pub(super) fn revoke(req: RevokeRequest, ctx: &mut OpContext<'_>) -> Result<IdResponse, KmipError> {
    let mut managed = object::load_ref(ctx, req.unique_identifier.as_ref())?;
    let reason = req
        .revocation_reason
        .ok_or_else(|| KmipError::invalid_message("Revoke needs a Revocation Reason"))?;
    let code = req
        .revocation_reason_code
        .ok_or_else(|| KmipError::invalid_message("Revocation Reason lacks its code"))?;
    if !(rrc::UNSPECIFIED..=rrc::PRIVILEGE_WITHDRAWN).contains(&code) && code < 0x8000_0000 {
        return Err(KmipError::invalid_field(format!(
            "Revocation Reason Code {code} is not defined"
        )));
    }
    let compromise = matches!(code, rrc::KEY_COMPROMISE | rrc::CA_COMPROMISE);
    managed.apply(Event::Revoke { compromise })?;
    if compromise {
        let occurred = req
            .compromise_occurrence_date
            .or_else(|| managed.date(tag::INITIAL_DATE));
        managed.set(tag::COMPROMISE_DATE, Value::DateTime(ctx.now));
        if let Some(occurred) = occurred {
            managed.set(tag::COMPROMISE_OCCURRENCE_DATE, Value::DateTime(occurred));
        }
    } else {
        managed.set(tag::DEACTIVATION_DATE, Value::DateTime(ctx.now));
    }
    managed.set(tag::REVOCATION_REASON, reason.value);
    commit(ctx, &mut managed)?;
    Ok(uid_only(&managed))
}

/// Runs Destroy: the key material goes; the metadata stays, with Destroy Date now.
pub(super) fn destroy(req: IdRequest, ctx: &mut OpContext<'_>) -> Result<IdResponse, KmipError> {
    let mut managed = object::load_ref(ctx, req.unique_identifier.as_ref())?;
    managed.apply(Event::Destroy)?;
    managed.object = None;
    managed.set(tag::DESTROY_DATE, Value::DateTime(ctx.now));
    commit(ctx, &mut managed)?;
    Ok(uid_only(&managed))
}

/// Runs Archive: the object moves to archival storage, where only Recover reaches it.
pub(super) fn archive(req: IdRequest, ctx: &mut OpContext<'_>) -> Result<IdResponse, KmipError> {
    let mut managed = object::load_ref(ctx, req.unique_identifier.as_ref())?;
    managed.archived = true;
    managed.set(tag::ARCHIVE_DATE, Value::DateTime(ctx.now));
    commit(ctx, &mut managed)?;
    Ok(uid_only(&managed))
}

/// Runs Recover: an archived object returns on-line (one that is not archived is left as it is).
pub(super) fn recover(req: IdRequest, ctx: &mut OpContext<'_>) -> Result<IdResponse, KmipError> {
    let mut managed = object::load_ref_any(ctx, req.unique_identifier.as_ref())?;
    if managed.archived {
        managed.archived = false;
        managed.remove(tag::ARCHIVE_DATE);
        commit(ctx, &mut managed)?;
    }
    ctx.batch.produced(ue::ID_PLACEHOLDER, &managed.uid);
    Ok(uid_only(&managed))
}

fn mask_of(item: Option<&Ttlv>) -> Option<i32> {
    match item.map(|i| &i.value) {
        Some(Value::Integer(m)) => Some(*m),
        _ => None,
    }
}

/// Runs Check: would the object allow this use? A Cryptographic Usage Mask the object's does not cover is
/// Incompatible Cryptographic Usage Mask; a Usage Limits Count beyond what is left is Usage Limit Exceeded; an
/// object not Active cannot be used (Wrong Key Lifecycle State).
pub(super) fn check(req: CheckRequest, ctx: &mut OpContext<'_>) -> Result<IdResponse, KmipError> {
    let managed = object::load_ref(ctx, req.unique_identifier.as_ref())?;
    if let Some(asked) = req.cryptographic_usage_mask {
        let allowed = mask_of(managed.get(tag::CRYPTOGRAPHIC_USAGE_MASK)).unwrap_or(0);
        if asked & !allowed != 0 {
            return Err(KmipError::new(
                ResultReason::IncompatibleCryptographicUsageMask,
                format!("usage {asked:#x} is not within the object's usage mask {allowed:#x}"),
            ));
        }
    }
    if let (Some(asked), Some(left)) = (req.usage_limits_count, usage_left(&managed))
        && asked > left
    {
        return Err(KmipError::new(
            ResultReason::UsageLimitExceeded,
            format!("{asked} units asked, {left} left"),
        ));
    }
    Ok(uid_only(&managed))
}

fn usage_left(managed: &Managed) -> Option<i64> {
    match managed
        .get(tag::USAGE_LIMITS)?
        .child(tag::USAGE_LIMITS_COUNT)?
        .value
    {
        Value::LongInteger(c) => Some(c),
        _ => None,
    }
}

/// Runs Obtain Lease: the object's Lease Time, never longer than the configured lease (so shortening
/// `lease_time` also shortens the leases of objects made before), and its Last Change Date. Only an Active
/// object may be leased.
pub(super) fn obtain_lease(
    req: IdRequest,
    ctx: &mut OpContext<'_>,
) -> Result<ObtainLeaseResponse, KmipError> {
    let managed = object::load_ref(ctx, req.unique_identifier.as_ref())?;
    if managed.state != crate::kmip::state::State::Active {
        return Err(KmipError::permission_denied(format!(
            "no lease is issued for an object in state {}",
            managed.state
        )));
    }
    let configured = ctx.config.lease_seconds;
    let lease = match managed.get(tag::LEASE_TIME).map(|l| &l.value) {
        Some(Value::Interval(l)) => (*l).min(configured),
        _ => configured,
    };
    Ok(ObtainLeaseResponse {
        last_change_date: managed.date(tag::LAST_CHANGE_DATE).unwrap_or(ctx.now),
        unique_identifier: managed.uid,
        lease_time: lease,
    })
}

/// Runs Get Usage Allocation: takes Usage Limits Count units from the object's Usage Limits.
pub(super) fn get_usage_allocation(
    req: GetUsageAllocationRequest,
    ctx: &mut OpContext<'_>,
) -> Result<IdResponse, KmipError> {
    let mut managed = object::load_ref(ctx, req.unique_identifier.as_ref())?;
    let asked = match req.usage_limits_count {
        UsageCount::Units(c) => c,
        UsageCount::Invalid => {
            return Err(KmipError::invalid_field(
                "Usage Limits Count must be positive",
            ));
        }
        UsageCount::Missing => {
            return Err(KmipError::invalid_message(
                "no Usage Limits Count is specified",
            ));
        }
    };
    let Some(limits) = managed.get(tag::USAGE_LIMITS).cloned() else {
        return Err(KmipError::new(
            ResultReason::IllegalObjectType,
            "the object has no Usage Limits",
        ));
    };
    let left = usage_left(&managed).unwrap_or(0);
    if asked > left {
        return Err(KmipError::permission_denied(format!(
            "{asked} units asked, {left} left"
        )));
    }
    let fields = limits
        .children()
        .iter()
        .map(|f| match f.tag {
            tag::USAGE_LIMITS_COUNT => Ttlv::new(f.tag, Value::LongInteger(left - asked)),
            _ => f.clone(),
        })
        .collect();
    managed.set(tag::USAGE_LIMITS, Value::Structure(fields));
    commit(ctx, &mut managed)?;
    Ok(uid_only(&managed))
}
