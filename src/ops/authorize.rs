//! The engine's side of access control: before each batch item, gathers what the policy needs (the object the
//! item names, its owner, its Object Groups, the grants) and asks it; while the item runs, makes the caller the
//! owner of what it creates; for Locate, keeps only what the caller may see. An object the caller has no right
//! on at all is answered exactly as a missing one.

use std::collections::HashMap;

use crate::access::grants;
use crate::access::policy::{Decision, Need, ObjectFacts, OpClass, Principal, need_of};
use crate::kmip::{KmipError, Operation, RequestBatchItem, ResultReason};
use crate::spec::tag;
use crate::store::Mutation;
use crate::ttlv::{Ttlv, Value};

use super::OpContext;
use super::object::Managed;
use crate::kmip::attributes::{Attribute, AttributeName, attribute_storage_name};

/// Operations that make a new object out of one the request names: the new one gets that object's owner.
const DERIVING: [Operation; 5] = [
    Operation::REKEY,
    Operation::REKEY_KEY_PAIR,
    Operation::DERIVE_KEY,
    Operation::CERTIFY,
    Operation::RECERTIFY,
];

/// Checks that the principal may run `item`; on the way, names the objects it refers to (for the audit log)
/// and sets who will own what it creates.
pub(super) fn check(
    item: &RequestBatchItem,
    ctx: &mut OpContext<'_>,
    objects: &mut Vec<String>,
) -> Result<(), KmipError> {
    ctx.new_owner = None;
    let need = need_of(item.operation);
    let named = match (need, &item.payload) {
        (Need::Object(_), Some(payload)) => ctx
            .batch
            .resolve(payload.child(tag::UNIQUE_IDENTIFIER))
            .ok(),
        _ => None,
    };
    objects.extend(named.iter().cloned());
    let Some(principal) = ctx.principal.clone() else {
        // In-process callers are not subject to the policy and own nothing.
        return Ok(());
    };
    let denied = || {
        KmipError::permission_denied(format!(
            "{:?} may not use {} under the access policy",
            principal.identity, item.operation
        ))
    };
    if need != Need::Open && !principal.known {
        return Err(denied());
    }
    match need {
        Need::Open | Need::Known => Ok(()),
        Need::Administrator if principal.administrator => Ok(()),
        Need::Administrator => Err(denied()),
        Need::Create => {
            let groups = item
                .payload
                .as_ref()
                .map(requested_groups)
                .unwrap_or_default();
            if !ctx.config.access.policy.may_create(&principal, &groups) {
                return Err(KmipError::permission_denied(format!(
                    "{:?} may not create objects{}",
                    principal.identity,
                    if groups.is_empty() {
                        String::new()
                    } else {
                        format!(" in Object Group {}", groups.join(", "))
                    }
                )));
            }
            ctx.new_owner = Some(principal.identity.clone());
            Ok(())
        }
        Need::Object(class) => {
            let Some(uid) = named else {
                // The operation itself reports the missing or unresolvable identifier.
                return Ok(());
            };
            object_allowed(ctx, &principal, &uid, class)?;
            if let Some(payload) = &item.payload {
                // Keys the request uses on the side (a wrapping key, ...) need the right to use them.
                for other in nested_uids(payload) {
                    if other != uid {
                        object_allowed(ctx, &principal, &other, OpClass::Use)?;
                        objects.push(other);
                    }
                }
            }
            if DERIVING.contains(&item.operation) {
                ctx.new_owner = grants::owner(ctx.store, &uid)
                    .map_err(|e| e.to_kmip())?
                    .or_else(|| Some(principal.identity.clone()));
            }
            Ok(())
        }
    }
}

/// Whether `principal` may do `class` on `uid`: Ok, Permission Denied for a visible object, and for an
/// invisible one the very error a missing object gets.
fn object_allowed(
    ctx: &OpContext<'_>,
    principal: &Principal,
    uid: &str,
    class: OpClass,
) -> Result<(), KmipError> {
    if principal.administrator {
        return Ok(());
    }
    // A missing object is refused here too, before the operation looks at the rest of the payload, so that a
    // missing and a hidden object get the very same answer whatever else the request holds.
    if !ctx.store.exists(uid).map_err(|e| e.to_kmip())? {
        return Err(not_found(uid));
    }
    let all_grants = grants::all(ctx.store).map_err(|e| e.to_kmip())?;
    let facts = facts(ctx, uid)?;
    match ctx
        .config
        .access
        .policy
        .decide(principal, &facts, class, &all_grants)
    {
        Decision::Allow => Ok(()),
        Decision::Deny => Err(KmipError::permission_denied(format!(
            "{:?} may not {} object {uid:?}",
            principal.identity,
            class.name()
        ))),
        Decision::Hidden => Err(not_found(uid)),
    }
}

/// What Locate returns: only the objects the principal may see, in the given order.
pub(super) fn visible(ctx: &OpContext<'_>, uids: Vec<String>) -> Result<Vec<String>, KmipError> {
    let Some(principal) = &ctx.principal else {
        return Ok(uids);
    };
    if principal.administrator {
        return Ok(uids);
    }
    if !principal.known {
        return Ok(Vec::new());
    }
    let all_grants = grants::all(ctx.store).map_err(|e| e.to_kmip())?;
    let policy = &ctx.config.access.policy;
    // The owners (and, when some rule or grant of this caller turns on them, the Object Groups) of every
    // candidate, in a few set-based reads rather than two per object.
    let mut owners = grants::owners(ctx.store, &uids).map_err(|e| e.to_kmip())?;
    let mut groups = if policy.depends_on_groups(principal, &all_grants) {
        ctx.store
            .attribute_texts_of(&uids, &object_group_storage_name())
            .map_err(|e| e.to_kmip())?
    } else {
        HashMap::new()
    };
    let mut kept = Vec::with_capacity(uids.len());
    for uid in uids {
        let facts = ObjectFacts {
            owner: owners.remove(&uid),
            groups: groups.remove(&uid).unwrap_or_default(),
            uid,
        };
        // Any class will do: Locate reveals the object, not its contents.
        if OpClass::ALL
            .iter()
            .any(|c| policy.decide(principal, &facts, *c, &all_grants) == Decision::Allow)
        {
            kept.push(facts.uid);
        }
    }
    Ok(kept)
}

/// The owner mutations for objects `save` is about to store when the running item creates objects.
pub(super) fn ownership(
    ctx: &OpContext<'_>,
    objects: &[&Managed],
) -> Result<Vec<Mutation>, KmipError> {
    let Some(owner) = &ctx.new_owner else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for m in objects {
        if grants::owner(ctx.store, &m.uid)
            .map_err(|e| e.to_kmip())?
            .is_none()
        {
            out.push(grants::set_owner(&m.uid, owner));
        }
    }
    Ok(out)
}

/// The facts the policy decides on.
pub(super) fn facts(ctx: &OpContext<'_>, uid: &str) -> Result<ObjectFacts, KmipError> {
    let owner = grants::owner(ctx.store, uid).map_err(|e| e.to_kmip())?;
    let groups = ctx
        .store
        .attribute_texts(uid, &object_group_storage_name())
        .map_err(|e| e.to_kmip())?;
    Ok(ObjectFacts {
        uid: uid.to_string(),
        owner,
        groups,
    })
}

/// The name the store indexes Object Group under.
fn object_group_storage_name() -> String {
    attribute_storage_name(&AttributeName::Standard(tag::OBJECT_GROUP))
}

/// The error a missing object gets (as `object::load_any` words it).
fn not_found(uid: &str) -> KmipError {
    KmipError::new(
        ResultReason::ObjectNotFound,
        format!("no object has Unique Identifier {uid:?}"),
    )
}

/// The Object Groups a creating request asks for, wherever its templates or attribute lists carry them (2.x
/// Object Group items, 1.x Attribute structures named "Object Group").
fn requested_groups(payload: &Ttlv) -> Vec<String> {
    fn walk(item: &Ttlv, out: &mut Vec<String>) {
        if item.tag == tag::OBJECT_GROUP
            && let Value::TextString(g) = &item.value
        {
            out.push(g.clone());
        }
        if item.tag == tag::ATTRIBUTE
            && let Ok((attr, _)) = Attribute::from_1x(item)
            && attr.name == AttributeName::Standard(tag::OBJECT_GROUP)
            && let Value::TextString(g) = &attr.value.value
        {
            out.push(g.clone());
            return;
        }
        if let Value::Structure(children) = &item.value {
            for child in children {
                walk(child, out);
            }
        }
    }
    let mut groups = Vec::new();
    walk(payload, &mut groups);
    groups.sort();
    groups.dedup();
    groups
}

/// Unique Identifiers nested below the payload's top level (a wrapping key's, a MAC key's...).
fn nested_uids(payload: &Ttlv) -> Vec<String> {
    fn walk(item: &Ttlv, depth: usize, out: &mut Vec<String>) {
        if let Value::Structure(children) = &item.value {
            for child in children {
                if depth > 0
                    && child.tag == tag::UNIQUE_IDENTIFIER
                    && let Value::TextString(uid) = &child.value
                {
                    out.push(uid.clone());
                }
                walk(child, depth + 1, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(payload, 0, &mut out);
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_identifiers_are_found_below_the_top_level_only() {
        let uid = |u: &str| Ttlv::new(tag::UNIQUE_IDENTIFIER, Value::TextString(u.into()));
        let payload = Ttlv::structure(
            tag::REQUEST_PAYLOAD,
            vec![
                uid("target"),
                Ttlv::structure(
                    tag::KEY_WRAPPING_SPECIFICATION,
                    vec![Ttlv::structure(
                        tag::ENCRYPTION_KEY_INFORMATION,
                        vec![uid("wrapping-key")],
                    )],
                ),
            ],
        );
        assert_eq!(nested_uids(&payload), vec!["wrapping-key".to_string()]);
    }
}
