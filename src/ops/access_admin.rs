//! The vendor operations that manage grants (see `access::client`): Grant, Revoke Grant and List Grants.
//! Administrators manage every grant; the owner of an object manages the grants on it. Grants on a whole Object
//! Group are for administrators. An object the caller cannot see answers as missing.

use serde::Deserialize;

use crate::access::client::{OP_GRANT, OP_LIST_GRANTS, OP_REVOKE_GRANT, payload, payload_json};
use crate::access::grants::{self, Grant, Target};
use crate::access::policy::{OpClass, Subject};
use crate::kmip::{KmipError, Operation, ResultReason};
use crate::spec::tag;
use crate::ttlv::Ttlv;

use super::OpContext;
use super::{authorize, object};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantRequest {
    subject: Subject,
    target: Target,
    classes: Vec<OpClass>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeRequest {
    id: String,
}

/// Grant: stores a grant.
pub(super) fn grant(request: &Ttlv, ctx: &mut OpContext<'_>) -> Result<Ttlv, KmipError> {
    run(OP_GRANT, request, ctx)
}

/// Revoke Grant: removes a grant by its identifier.
pub(super) fn revoke_grant(request: &Ttlv, ctx: &mut OpContext<'_>) -> Result<Ttlv, KmipError> {
    run(OP_REVOKE_GRANT, request, ctx)
}

/// List Grants: the grants the caller may manage.
pub(super) fn list_grants(request: &Ttlv, ctx: &mut OpContext<'_>) -> Result<Ttlv, KmipError> {
    run(OP_LIST_GRANTS, request, ctx)
}

/// Runs one of the grant operations.
fn run(operation: Operation, request: &Ttlv, ctx: &mut OpContext<'_>) -> Result<Ttlv, KmipError> {
    let json = payload_json(request).ok_or_else(|| {
        KmipError::invalid_message("the request payload lacks the access JSON text")
    })?;
    let bad = |e: serde_json::Error| KmipError::invalid_field(format!("access request: {e}"));
    let answer = match operation {
        OP_GRANT => {
            let req: GrantRequest = serde_json::from_str(json).map_err(bad)?;
            if req.classes.is_empty() {
                return Err(KmipError::invalid_field("a grant needs at least one class"));
            }
            may_manage(ctx, &req.target)?;
            let grant = Grant {
                id: ctx.store.new_uid().map_err(|e| e.to_kmip())?,
                subject: req.subject,
                target: req.target,
                classes: req.classes,
                granted_by: identity(ctx),
            };
            // Through the engine's commit, so that a batch with Undo takes the grant back.
            let stored = grants::put_mutation(&grant).map_err(|e| e.to_kmip())?;
            object::commit(ctx, vec![stored]).map_err(|e| e.to_kmip())?;
            tracing::info!(id = %grant.id, by = %grant.granted_by, subject = %grant.subject,
                target = %grant.target, "grant stored");
            serde_json::to_string(&grant)
        }
        OP_REVOKE_GRANT => {
            let req: RevokeRequest = serde_json::from_str(json).map_err(bad)?;
            let missing = || {
                KmipError::new(
                    ResultReason::ItemNotFound,
                    format!("no grant has identifier {:?}", req.id),
                )
            };
            let grant = grants::get(ctx.store, &req.id)
                .map_err(|e| e.to_kmip())?
                .ok_or_else(missing)?;
            // Administrators and the granter may always revoke (the object may be gone); the owner too.
            let administrator = ctx.principal.as_ref().is_none_or(|p| p.administrator);
            if !administrator
                && grant.granted_by != identity(ctx)
                && may_manage(ctx, &grant.target).is_err()
            {
                return Err(missing());
            }
            object::commit(ctx, vec![grants::remove_mutation(&grant.id)])
                .map_err(|e| e.to_kmip())?;
            tracing::info!(id = %grant.id, by = %identity(ctx), "grant revoked");
            // What was revoked, in full: the answer and its audit line name subject, target and classes.
            serde_json::to_string(&serde_json::json!({
                "revoked": grant.id,
                "subject": grant.subject,
                "target": grant.target,
                "classes": grant.classes,
            }))
        }
        OP_LIST_GRANTS => {
            let all = grants::all(ctx.store).map_err(|e| e.to_kmip())?;
            let mine: Vec<Grant> = all
                .into_iter()
                .filter(|g| may_manage(ctx, &g.target).is_ok() || g.granted_by == identity(ctx))
                .collect();
            serde_json::to_string(&serde_json::json!({ "grants": mine }))
        }
        other => {
            return Err(KmipError::operation_not_supported(format!(
                "operation {other} is not supported by this server"
            )));
        }
    }
    .map_err(|e| KmipError::general_failure(format!("cannot encode the answer: {e}")))?;
    Ok(payload(tag::RESPONSE_PAYLOAD, &answer))
}

/// Who is asking, for the record.
fn identity(ctx: &OpContext<'_>) -> String {
    ctx.principal
        .as_ref()
        .map_or(ctx.caller.identity.clone(), |p| p.identity.clone())
}

/// Whether the caller may grant and revoke on `target`.
fn may_manage(ctx: &OpContext<'_>, target: &Target) -> Result<(), KmipError> {
    let Some(principal) = &ctx.principal else {
        return Ok(());
    };
    let policy = &ctx.config.access.policy;
    match target {
        Target::ObjectGroup(group) => {
            if policy.may_administer(principal, None) {
                Ok(())
            } else {
                Err(KmipError::permission_denied(format!(
                    "only administrators grant on Object Group {group:?}"
                )))
            }
        }
        Target::Object(uid) => {
            let not_found = || {
                KmipError::new(
                    ResultReason::ObjectNotFound,
                    format!("no object has Unique Identifier {uid:?}"),
                )
            };
            if !ctx.store.exists(uid).map_err(|e| e.to_kmip())? {
                return Err(not_found());
            }
            let facts = authorize::facts(ctx, uid)?;
            if policy.may_administer(principal, Some(&facts)) {
                return Ok(());
            }
            // Visible but not owned: Permission Denied; otherwise as if it did not exist.
            let all = grants::all(ctx.store).map_err(|e| e.to_kmip())?;
            let visible = OpClass::ON_OBJECTS.iter().any(|c| {
                policy.decide(principal, &facts, *c, &all) == crate::access::policy::Decision::Allow
            });
            if visible {
                Err(KmipError::permission_denied(format!(
                    "only the owner of {uid:?} or an administrator may grant on it"
                )))
            } else {
                Err(not_found())
            }
        }
    }
}
